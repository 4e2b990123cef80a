package mesosapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// The golden tests compare the structure of what the simulator sends with the upstream examples in
// ../shared/fixtures/mesos: every key of an example must be in our reply, holding the same kind of JSON
// value, recursively; every element of an example's array must have the shape of one of our elements.
// Values are not compared, and we may send more fields than an example shows.

// shapeDiff lists where got lacks the structure of want. Paths name array elements "[]"; a path in
// skip is not compared (the map's value says why).
func shapeDiff(path string, want, got any, skip map[string]string) []string {
	if _, ok := skip[path]; ok {
		return nil
	}
	if kindOf(want) != kindOf(got) {
		return []string{fmt.Sprintf("%s: %s, want %s", path, kindOf(got), kindOf(want))}
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		var diffs []string
		for _, k := range sortedKeys(w) {
			p := strings.TrimPrefix(path+"."+k, ".")
			if _, ok := skip[p]; ok {
				continue
			}
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, p+": missing")
				continue
			}
			diffs = append(diffs, shapeDiff(p, w[k], gv, skip)...)
		}
		return diffs
	case []any:
		return arrayDiff(path, w, got.([]any), skip)
	}
	return nil
}

func arrayDiff(path string, want, got []any, skip map[string]string) []string {
	if len(want) == 0 {
		return nil
	}
	if len(got) == 0 {
		return []string{path + ": empty, want elements like the example's"}
	}
	var diffs []string
	for i, we := range want {
		var closest []string
		for _, ge := range got {
			d := shapeDiff(path+"[]", we, ge, skip)
			if len(d) == 0 {
				closest = nil
				break
			}
			if closest == nil || len(d) < len(closest) {
				closest = d
			}
		}
		if closest != nil {
			diffs = append(diffs, fmt.Sprintf("%s[%d]: no element of ours has its shape; closest lacks %v", path, i, closest))
		}
	}
	return diffs
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func parseAny(t *testing.T, name string, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// Where our replies lawfully differ from the upstream examples.
var goldenSkips = map[string]string{
	"get_tasks.tasks[].executor_id":                     "Marathon launches command tasks; the master reports no executor_id for them",
	"get_state.get_tasks.completed_tasks[].executor_id": "Marathon launches command tasks; the master reports no executor_id for them",
	"get_executors.executors":                           "the master does not track command executors as framework executors",
	"get_state.get_executors.executors":                 "the master does not track command executors as framework executors",
	"subscribed.get_state.get_tasks.completed_tasks":    "the stream is read before any task ended",
	"subscribed.get_state.get_executors.executors":      "the master does not track command executors as framework executors",
	"task_added.task.command":                           "Task has no command field in master.proto; the docs' example shows TaskInfo's",
	"agent_added.agent.reregistered_time":               "set when an agent re-registers after a master failover; the model registers agents once",
	"external_log_file":                                 "only present when --external_log_file is set",
	"flags":                                             "the 0.28 example's flag set; later versions renamed flags, and we report the ones the model follows",
}

func checkShape(t *testing.T, name string, want, got []byte) {
	t.Helper()
	for _, d := range shapeDiff("", parseAny(t, name, want), parseAny(t, "our reply to "+name, got), goldenSkips) {
		t.Errorf("%s: %s", name, d)
	}
}

// goldenCluster is the small scenario with a numeric attribute (rack:3 is SCALAR, as in the derived
// 1.9 example), a finished task, a machine scheduled for maintenance and an agent draining, so that
// every part of the examples has a counterpart.
func goldenCluster(t *testing.T) *cluster {
	t.Helper()
	c := newClusterWith(t, func(sc *simulate.Scenario) { sc.Pools[0].Attributes = map[string]string{"rack": "3"} })
	w := c.world
	var victim, draining string
	var scheduled simulate.MachineID
	w.View(func(v *simulate.View) {
		for _, a := range v.Agents() {
			switch {
			case len(a.Tasks()) > 0 && victim == "":
				victim = a.Tasks()[0].ID
			case len(a.Tasks()) > 0 && draining == "":
				draining = a.ID
			default:
				scheduled = a.Machine()
			}
		}
	})
	if _, err := w.KillTasks([]string{victim}, false); err != nil {
		t.Fatal(err)
	}
	c.advance(30 * time.Second)
	if err := w.UpdateMaintenanceSchedule([]simulate.MaintenanceWindow{{Machines: []simulate.MachineID{scheduled}, Start: w.Now(), Duration: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	grace := 10 * time.Minute
	if err := w.DrainAgent(draining, &grace, true); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoldenResponses sends the Mesos docs' request for every GET_* call and compares our reply with
// the docs' response; GET_AGENTS also against the 1.9 draining agent derived from master.proto.
func TestGoldenResponses(t *testing.T) {
	c := goldenCluster(t)
	files, _ := filepath.Glob(fixtures + "operator-v1/*.response.json")
	if len(files) < 10 {
		t.Fatalf("only %d response fixtures under %s", len(files), fixtures)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".response.json")
		t.Run(name, func(t *testing.T) {
			resp := c.post(0, "/api/v1", mediaJSON, readFixture(t, "operator-v1/"+name+".request.json"))
			got := body(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %q", resp.StatusCode, got)
			}
			checkShape(t, name, []byte(readFixture(t, "operator-v1/"+name+".response.json")), []byte(got))
		})
	}
	resp := c.post(0, "/api/v1", mediaJSON, `{"type":"GET_AGENTS"}`)
	got := body(t, resp)
	checkShape(t, "derived draining agent", []byte(readFixture(t, "derived/get_agents.agent-1.9-draining.from-master-proto.json")), []byte(got))
	if !strings.Contains(got, `"drain_info":{"state":"DRAINING","config":{"max_grace_period":{"nanoseconds":600000000000},"mark_gone":true}}`) {
		t.Errorf("GET_AGENTS lacks the draining agent's drain_info: %.2000s", got)
	}
}

// TestGoldenEvents reads a raw SUBSCRIBE stream while the world changes and compares each event type's
// first record with the docs' example (TASK_UPDATED with the shape derived from master.proto, since
// the docs' example is wrong; SUBSCRIBED's state with the GET_STATE example).
func TestGoldenEvents(t *testing.T) {
	c := goldenCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.servers[0].URL+"/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	req.Header.Set("Content-Type", mediaJSON)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	first := map[string][]byte{}
	next := func() {
		var raw json.RawMessage
		readRecord(t, r, &raw)
		var head struct{ Type string }
		_ = json.Unmarshal(raw, &head)
		if first[head.Type] == nil {
			first[head.Type] = raw
		}
	}
	next() // SUBSCRIBED
	next() // HEARTBEAT
	if err := c.world.SetDesiredCapacity("marmot-default", 4, false); err != nil {
		t.Fatal(err)
	}
	c.advance(2 * time.Minute) // AGENT_ADDED; the draining agent's tasks end (TASK_UPDATED), their replacements start (TASK_ADDED) and it is removed (AGENT_REMOVED)
	for _, typ := range []string{"AGENT_ADDED", "TASK_ADDED", "TASK_UPDATED", "AGENT_REMOVED"} {
		for first[typ] == nil {
			next()
		}
	}

	var state map[string]json.RawMessage
	_ = json.Unmarshal([]byte(readFixture(t, "operator-v1/get_state.response.json")), &state)
	checkShape(t, "SUBSCRIBED", []byte(`{"type":"SUBSCRIBED","subscribed":{"get_state":`+string(state["get_state"])+`,"heartbeat_interval_seconds":15}}`), first["SUBSCRIBED"])
	for typ, fixture := range map[string]string{
		"HEARTBEAT":     "events/heartbeat.doc.json",
		"AGENT_ADDED":   "events/agent_added.doc.json",
		"AGENT_REMOVED": "events/agent_removed.doc.json",
		"TASK_ADDED":    "events/task_added.doc.json",
		"TASK_UPDATED":  "derived/task_updated.event.from-master-proto.json",
	} {
		checkShape(t, typ, []byte(readFixture(t, fixture)), first[typ])
	}
	// The docs' TASK_UPDATED puts task_id, agent_id and executor_id at the top: the master never does.
	var updated struct {
		TaskUpdated map[string]any `json:"task_updated"`
	}
	_ = json.Unmarshal(first["TASK_UPDATED"], &updated)
	for _, k := range []string{"task_id", "agent_id", "executor_id"} {
		if _, ok := updated.TaskUpdated[k]; ok {
			t.Errorf("TASK_UPDATED has the docs' wrong top-level %s: %s", k, first["TASK_UPDATED"])
		}
	}
}

// TestGoldenV0 compares /master/slaves with a real Mesos 1.4 capture, /master/state with the endpoint
// help's example, and /metrics/snapshot with a production capture's master gauges.
func TestGoldenV0(t *testing.T) {
	c := goldenCluster(t)
	checkShape(t, "master_slaves", []byte(readFixture(t, "v0/master_slaves.mesos-1.4.0.capture.json")), []byte(body(t, c.getURL(0, "/master/slaves"))))
	checkShape(t, "master_state", []byte(readFixture(t, "v0/master_state.endpoint-help-example.json")), []byte(body(t, c.getURL(0, "/master/state"))))
	checkShape(t, "maintenance schedule", []byte(readFixture(t, "v0/maintenance_schedule.docs-example.json")), []byte(body(t, c.getURL(0, "/master/maintenance/schedule"))))

	var capture, ours map[string]any
	_ = json.Unmarshal([]byte(readFixture(t, "v0/metrics_snapshot.master.capture.json")), &capture)
	_ = json.Unmarshal([]byte(body(t, c.getURL(0, "/metrics/snapshot"))), &ours)
	// Counters of libprocess messages, event queues and per-reason task ends have no counterpart in
	// the model.
	unmodelled := []string{"master/messages_", "master/event_queue_", "master/valid_", "master/invalid_", "master/dropped_messages",
		"master/task_", "master/recovery_slave_removals", "master/slave_reregistrations", "master/slave_shutdowns_"}
	for _, k := range sortedKeys(capture) {
		if !strings.HasPrefix(k, "master/") || hasAnyPrefix(k, unmodelled) {
			continue
		}
		if _, ok := ours[k].(float64); !ok {
			t.Errorf("/metrics/snapshot lacks %s", k)
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// TestFixtureRequestsParse checks that every request of the docs and every request mesos-go was seen
// sending parses and validates.
func TestFixtureRequestsParse(t *testing.T) {
	files, _ := filepath.Glob(fixtures + "operator-v1/*.request.json")
	wire, _ := filepath.Glob(fixtures + "mesos-go-wire/*.request.json")
	files = append(files, wire...)
	if len(files) < 20 {
		t.Fatalf("only %d request fixtures", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(fixtures, f)
		c, err := parseJSONCall([]byte(readFixture(t, rel)))
		if err == nil {
			err = c.validate()
		}
		if err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
}

// TestMesosGoWireRequests replays the exact bytes mesos-go sends, with the fixture's agent id and
// machine replaced by real ones, and expects each to succeed.
func TestMesosGoWireRequests(t *testing.T) {
	c := newCluster(t)
	var agentID string
	var machine simulate.MachineID
	c.world.View(func(v *simulate.View) {
		agents := v.Agents()
		agentID, machine = agents[0].ID, agents[1].Machine()
	})
	replacer := strings.NewReplacer(`"S0"`, `"`+agentID+`"`, `"h1"`, `"`+machine.Hostname+`"`, `"10.0.0.1"`, `"`+machine.IP+`"`)
	for _, name := range []string{"get_agents", "deactivate_agent", "update_maintenance_schedule", "start_maintenance", "drain_agent", "mark_agent_gone"} {
		req := replacer.Replace(readFixture(t, "mesos-go-wire/"+name+".request.json"))
		resp := c.post(0, "/api/v1", mediaJSON, req, "Accept", mediaJSON)
		if b := body(t, resp); resp.StatusCode != 200 {
			t.Errorf("%s: %d %q", name, resp.StatusCode, b)
		}
	}
	c.world.View(func(v *simulate.View) {
		if _, ok := v.Agent(agentID); ok || !v.AgentGone(agentID) {
			t.Error("the drained and gone agent is still registered")
		}
		if v.MachineMode(machine) != simulate.ModeDown {
			t.Errorf("machine %v is %s, want DOWN", machine, v.MachineMode(machine))
		}
	})
}
