package mesosapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/marmot-project/marmot/simulate"
)

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != mediaJSON {
		t.Fatalf("%s: %d %q", resp.Request.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsSnapshot checks the capacity metrics' semantics (wire-facts §1.7): totals include
// deactivated agents, used is what tasks hold, slaves_active excludes deactivated agents, and a
// standby reports master/elected 0.
func TestMetricsSnapshot(t *testing.T) {
	c := newCluster(t)
	var id string
	var used simulate.Resources
	c.world.View(func(v *simulate.View) {
		id = v.Agents()[0].ID
		for _, a := range v.Agents() {
			for _, task := range a.Tasks() {
				used = used.Add(task.Resources)
			}
		}
	})
	if err := c.world.DeactivateAgent(id); err != nil {
		t.Fatal(err)
	}
	var m map[string]float64
	decodeJSON(t, c.getURL(0, "/metrics/snapshot"), &m)
	agents, tasks, _ := c.size()
	total := float64(agents) * 4 // m5.xlarge
	want := map[string]float64{
		"master/elected": 1, "master/cpus_total": total, "master/cpus_used": used.CPUs, "master/cpus_percent": used.CPUs / total,
		"master/mem_used": used.Mem, "master/slaves_active": float64(agents - 1), "master/slaves_inactive": 1,
		"master/slaves_connected": float64(agents), "master/tasks_running": float64(tasks), "master/frameworks_active": 1,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	// Every capacity key wire-facts §1.7 lists is there.
	for _, r := range []string{"cpus", "mem", "disk", "gpus"} {
		for _, s := range []string{"_total", "_used", "_percent", "_revocable_total", "_revocable_used", "_revocable_percent"} {
			if _, ok := m["master/"+r+s]; !ok {
				t.Errorf("no master/%s%s", r, s)
			}
		}
	}
	for _, k := range []string{"slaves_disconnected", "slaves_unreachable", "tasks_staging", "tasks_starting", "tasks_lost", "uptime_secs", "outstanding_offers"} {
		if _, ok := m["master/"+k]; !ok {
			t.Errorf("no master/%s", k)
		}
	}
	if _, ok := m["allocator/mesos/resources/cpus/offered_or_allocated"]; !ok {
		t.Error("no allocator/mesos/resources/cpus/offered_or_allocated")
	}

	var standby map[string]float64
	decodeJSON(t, c.getURL(1, "/metrics/snapshot"), &standby)
	if standby["master/elected"] != 0 || standby["master/cpus_total"] != 0 || len(standby) != len(m) {
		t.Errorf("standby: elected %v cpus_total %v, %d metrics (leader %d)", standby["master/elected"], standby["master/cpus_total"], len(standby), len(m))
	}
}

type v0Slave struct {
	ID            string                  `json:"id"`
	PID           string                  `json:"pid"`
	Attributes    map[string]any          `json:"attributes"`
	Resources     map[string]any          `json:"resources"`
	UsedResources map[string]any          `json:"used_resources"`
	Active        bool                    `json:"active"`
	Deactivated   bool                    `json:"deactivated"`
	DrainInfo     *struct{ State string } `json:"drain_info"`
	Full          []map[string]any        `json:"unreserved_resources_full"`
}

// TestV0State checks /master/state and its aliases, and /master/slaves.
func TestV0State(t *testing.T) {
	c := newCluster(t)
	agents, tasks, _ := c.size()
	for _, path := range []string{"/master/state", "/state.json", "/master/state.json", "/state"} {
		var st struct {
			Leader     string    `json:"leader"`
			Slaves     []v0Slave `json:"slaves"`
			Frameworks []struct {
				Name  string `json:"name"`
				Tasks []struct {
					ID        string            `json:"id"`
					SlaveID   string            `json:"slave_id"`
					State     string            `json:"state"`
					Resources map[string]any    `json:"resources"`
					Labels    []json.RawMessage `json:"labels"`
				} `json:"tasks"`
			} `json:"frameworks"`
		}
		decodeJSON(t, c.getURL(0, path), &st)
		if st.Leader != "master@"+c.addrs[0] || len(st.Slaves) != agents || len(st.Frameworks) != 1 || st.Frameworks[0].Name != "marathon" || len(st.Frameworks[0].Tasks) != tasks {
			t.Fatalf("%s: leader %q, %d slaves, frameworks %+v", path, st.Leader, len(st.Slaves), st.Frameworks)
		}
		for _, task := range st.Frameworks[0].Tasks {
			if task.State != "TASK_RUNNING" || task.SlaveID == "" || task.Resources["cpus"] == nil {
				t.Errorf("%s: task %+v", path, task)
			}
		}
	}

	var all, one struct {
		Slaves []v0Slave `json:"slaves"`
	}
	decodeJSON(t, c.getURL(0, "/master/slaves"), &all)
	if len(all.Slaves) != agents {
		t.Fatalf("/master/slaves: %d slaves", len(all.Slaves))
	}
	for _, s := range all.Slaves {
		if s.Attributes["pool"] != "default" || s.Resources["ports"] != "[31000-32000]" || s.Resources["cpus"] != 4.0 || !s.Active {
			t.Errorf("slave %s: attributes %v resources %v active %v", s.ID, s.Attributes, s.Resources, s.Active)
		}
		if len(s.Full) != 4 {
			t.Errorf("slave %s: unreserved_resources_full %v, want cpus, mem, disk, ports", s.ID, s.Full)
		}
	}
	decodeJSON(t, c.getURL(0, "/master/slaves?slave_id="+all.Slaves[1].ID), &one)
	if len(one.Slaves) != 1 || one.Slaves[0].ID != all.Slaves[1].ID {
		t.Errorf("?slave_id: %+v", one.Slaves)
	}
}

// TestV0Maintenance drives a machine UP → DRAINING → DOWN → UP through the v0 endpoints, first with the
// Mesos docs' own example bodies.
func TestV0Maintenance(t *testing.T) {
	c := newCluster(t)
	docsSchedule := readFixture(t, "v0/maintenance_schedule.docs-example.json")
	docsDown := readFixture(t, "v0/machine_down.request.docs-example.json")
	for _, step := range []struct{ path, body string }{
		{"/master/maintenance/schedule", docsSchedule},
		{"/master/machine/down", docsDown},
		{"/master/machine/up", docsDown},
		{"/master/maintenance/schedule", `{}`},
	} {
		if resp := c.post(0, step.path, mediaJSON, step.body); resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d %q", step.path, resp.StatusCode, body(t, resp))
		}
	}

	var agent simulate.MachineID
	var id string
	c.world.View(func(v *simulate.View) { a := v.Agents()[0]; agent, id = a.Machine(), a.ID })
	machine := fmt.Sprintf(`{"hostname":%q,"ip":%q}`, agent.Hostname, agent.IP)
	schedule := `{"windows":[{"machine_ids":[` + machine + `],"unavailability":{"start":{"nanoseconds":1}}}]}`
	if resp := c.post(0, "/master/maintenance/schedule", mediaJSON, schedule); resp.StatusCode != 200 {
		t.Fatalf("POST schedule: %d %q", resp.StatusCode, body(t, resp))
	}
	var got map[string]any
	decodeJSON(t, c.getURL(0, "/master/maintenance/schedule"), &got)
	if b, _ := json.Marshal(got); !strings.Contains(string(b), agent.IP) {
		t.Errorf("GET schedule %s lacks the machine", b)
	}
	var status struct {
		Draining []struct{ ID struct{ Hostname, IP string } } `json:"draining_machines"`
		Down     []struct{ Hostname, IP string }              `json:"down_machines"`
	}
	decodeJSON(t, c.getURL(0, "/master/maintenance/status"), &status)
	if len(status.Draining) != 1 || status.Draining[0].ID.IP != agent.IP {
		t.Fatalf("status %+v, want the machine draining", status)
	}
	if resp := c.post(0, "/master/machine/down", mediaJSON, "["+machine+"]"); resp.StatusCode != 200 {
		t.Fatalf("machine/down: %d %q", resp.StatusCode, body(t, resp))
	}
	c.world.View(func(v *simulate.View) {
		if _, ok := v.Agent(id); ok {
			t.Error("agent still registered after machine/down")
		}
	})
	status.Draining, status.Down = nil, nil
	decodeJSON(t, c.getURL(0, "/master/maintenance/status"), &status)
	if len(status.Down) != 1 || len(status.Draining) != 0 {
		t.Errorf("status %+v, want the machine down", status)
	}
	if resp := c.post(0, "/master/machine/up", mediaJSON, "["+machine+"]"); resp.StatusCode != 200 {
		t.Fatalf("machine/up: %d %q", resp.StatusCode, body(t, resp))
	}
	if b := body(t, c.getURL(0, "/master/maintenance/schedule")); b != "{}" {
		t.Errorf("schedule after machine/up: %q, want {}", b)
	}
}

// TestV0Errors checks the v0 endpoints' refusals.
func TestV0Errors(t *testing.T) {
	c := newCluster(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/master/machine/down", "", 405},
		{"DELETE", "/master/maintenance/schedule", "", 405},
		{"POST", "/master/maintenance/status", "", 405},
		{"POST", "/master/machine/down", `{}`, 400},
		{"POST", "/master/machine/down", `[]`, 400},
		{"POST", "/master/machine/down", `null`, 400},
		{"POST", "/master/machine/down", `[{"hostname":"nowhere","ip":"10.9.9.9"}]`, 400},
		{"POST", "/master/machine/up", `[{"hostname":"a","ip":"1.2.3"}]`, 400},
		{"POST", "/master/maintenance/schedule", `{"windows":[{"machine_ids":[{"hostname":"a"}]}]}`, 400},
		{"POST", "/master/maintenance/schedule", `{"windows":[{"machine_ids":[],"unavailability":{"start":{"nanoseconds":1}}}]}`, 400},
		{"POST", "/master/maintenance/schedule", `"windows"`, 400},
	} {
		req, _ := http.NewRequest(tc.method, c.servers[0].URL+tc.path, strings.NewReader(tc.body))
		resp := c.roundTrip(req)
		if b := body(t, resp); resp.StatusCode != tc.status {
			t.Errorf("%s %s %s: %d %q, want %d", tc.method, tc.path, tc.body, resp.StatusCode, b, tc.status)
		}
	}
}

// fixtures is where the shared upstream fixtures live: shared/ sits beside the repository.
const fixtures = "../../../shared/fixtures/mesos/"

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(fixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
