package mesosapi

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/marmot-project/marmot/simulate"
)

// metric is one master metric, as GET_METRICS lists it and /metrics/snapshot maps it.
type metric struct {
	name  string
	value float64
}

// metrics computes this master's metrics (wire-facts §1.7, master.cpp _resources_total/_used):
//   - *_total sums the resources of every registered agent, deactivated and draining ones included;
//   - *_used is what tasks hold (offers are not modelled, so nothing is offered);
//   - slaves_active counts registered and active agents, so a drained or deactivated one is inactive;
//   - a standby master knows no agents and reports master/elected 0.
//
// The result is sorted by name.
func (s *server) metrics(v *simulate.View) []metric {
	idx, _, ok := v.MesosLeader()
	var c clusterCounts
	if ok && idx == s.index {
		c = countCluster(v)
	}
	g := map[string]float64{
		"master/elected":                 c.elected,
		"master/uptime_secs":             v.Now().Sub(s.startedAt).Seconds(),
		"master/slaves_active":           float64(c.active),
		"master/slaves_inactive":         float64(c.inactive),
		"master/slaves_connected":        float64(c.active + c.inactive),
		"master/tasks_lost":              float64(c.stats.TasksLost),
		"master/tasks_killed":            float64(c.stats.TasksKilled),
		"master/slave_registrations":     float64(c.stats.AgentsRegistered),
		"master/slave_removals":          float64(c.stats.AgentsRemoved),
		"master/frameworks_active":       c.frameworks,
		"master/frameworks_connected":    c.frameworks,
		"master/frameworks_inactive":     c.elected - c.frameworks,
		"master/frameworks_disconnected": c.elected - c.frameworks,
	}
	for _, name := range []string{"slaves_disconnected", "slaves_unreachable", "outstanding_offers", "tasks_unreachable",
		"tasks_finished", "tasks_failed", "tasks_error", "tasks_dropped", "tasks_gone", "tasks_gone_by_operator"} {
		g["master/"+name] = 0
	}
	for _, st := range []simulate.TaskState{simulate.TaskStaging, simulate.TaskStarting, simulate.TaskRunning, simulate.TaskKilling} {
		g["master/"+taskStateMetric(st)] = float64(c.states[st])
	}
	resourceMetrics(g, c.total, c.used)
	out := make([]metric, 0, len(g))
	for name, val := range g {
		out = append(out, metric{name, val})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// clusterCounts is what the leading master knows; a standby knows none of it (all zero).
type clusterCounts struct {
	elected, frameworks float64
	total, used         simulate.Resources
	active, inactive    int
	states              map[simulate.TaskState]int
	stats               simulate.Stats
}

func countCluster(v *simulate.View) clusterCounts {
	c := clusterCounts{elected: 1, states: map[simulate.TaskState]int{}, stats: v.Stats()}
	if v.MarathonLeader() >= 0 {
		c.frameworks = 1
	}
	for _, a := range v.Agents() {
		c.total, c.used = c.total.Add(a.Total), c.used.Add(a.Allocated)
		if a.Active {
			c.active++
		} else {
			c.inactive++
		}
		for _, t := range a.Tasks() {
			c.states[t.State]++
		}
	}
	return c
}

// resourceMetrics adds master/<r>_{total,used,percent} and their revocable twins (always 0: the
// simulator has no revocable resources), and the allocator's view of the same.
func resourceMetrics(g map[string]float64, total, used simulate.Resources) {
	for _, r := range []struct {
		name        string
		total, used float64
	}{{"cpus", total.CPUs, used.CPUs}, {"mem", total.Mem, used.Mem}, {"disk", total.Disk, used.Disk}, {"gpus", total.GPUs, used.GPUs}} {
		t, u := scalarValue(r.total), scalarValue(r.used)
		pct := 0.0
		if t > 0 {
			pct = u / t
		}
		g["master/"+r.name+"_total"] = t
		g["master/"+r.name+"_used"] = u
		g["master/"+r.name+"_percent"] = pct
		for _, k := range []string{"_revocable_total", "_revocable_used", "_revocable_percent"} {
			g["master/"+r.name+k] = 0
		}
		g["allocator/mesos/resources/"+r.name+"/total"] = t
		g["allocator/mesos/resources/"+r.name+"/offered_or_allocated"] = u
	}
}

// taskStateMetric names the gauge of a task state: TASK_RUNNING → tasks_running.
func taskStateMetric(s simulate.TaskState) string {
	name := string(s)
	if len(name) > len("TASK_") {
		name = name[len("TASK_"):]
	}
	out := []byte("tasks_")
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}

// metricsSnapshot is /metrics/snapshot: a flat JSON object of every metric. It is served by every
// master, leading or not.
func (s *server) metricsSnapshot(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeText(w, http.StatusMethodNotAllowed, "Expecting one of { 'GET', 'POST' }, but received '"+r.Method+"'")
		return
	}
	j := getWriter(0)
	defer putWriter(j)
	s.world.View(func(v *simulate.View) {
		j.beginObject()
		for _, m := range s.metrics(v) {
			j.numField(m.name, m.value)
		}
		j.endObject()
	})
	writeJSON(w, mediaJSON, j.b)
}

// writeJSON answers 200 with a body whose length is known: Content-Type exactly as given (mesos-go
// compares it byte for byte) and a Content-Length.
func writeJSON(w http.ResponseWriter, mediaType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", mediaType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
