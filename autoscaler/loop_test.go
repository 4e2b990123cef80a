package autoscaler

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/marmot-project/marmot/policy"
)

// metricValue returns the value of the series name{labels}, and whether it exists.
func (w *world) metricValue(name string, labels map[string]string) (float64, bool) {
	w.t.Helper()
	families, err := w.reg.Gather()
	if err != nil {
		w.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m, labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue(), true
				case m.Gauge != nil:
					return m.Gauge.GetValue(), true
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount()), true
				}
			}
		}
	}
	return 0, false
}

func matches(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := labels[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}

// eventually polls cond until it holds, failing the test after a generous bound (a hang guard, not
// a speed assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunReconcilesOnEventsCoalescesThemAndStops(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.loop.Run(ctx) }()
	eventually(t, "the first full snapshot", w.loop.Ready)
	changed := <-w.marathon.watches // Run follows Marathon's event stream

	events := func() float64 {
		n, _ := w.metricValue("marmot_autoscaler_reconciles_total", map[string]string{"trigger": "event", "result": "ok"})
		return n
	}
	before := events()
	w.marathon.setQueue(waiting("/batch", 4, 3.5))
	for range 100 {
		changed()
	}
	eventually(t, "the scale-up an event triggers", func() bool { return w.desired() == 6 })
	time.Sleep(3 * DefaultMinGap)
	if n := events() - before; n < 1 || n > 5 {
		t.Errorf("%v reconciles for a burst of 100 events, want a few", n)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestRunRetriesUntilEverySourceAnswered(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.mesos.failNext("State", errors.New("503: no leader"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.loop.Run(ctx) }()
	eventually(t, "a planned reconcile after the failed one", w.loop.Ready)
	if n, _ := w.metricValue("marmot_autoscaler_reconciles_total", map[string]string{"trigger": "start", "result": "not_planned"}); n != 1 {
		t.Errorf("%v reconciles not planned, want 1", n)
	}
	cancel()
	<-done
}

func TestRunStartsFromScratchEachTime(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.reconcile()
	if !w.loop.Ready() {
		t.Fatal("not ready after a planned reconcile")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.loop.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// A leader-election wrapper restarts Run on regaining leadership: what the loop learned while
	// another replica led may be stale, so it starts over from what the world shows.
	if w.loop.Ready() || len(w.loop.states) != 0 {
		t.Errorf("Run kept what it had learned: ready %v, states %v", w.loop.Ready(), w.loop.states)
	}
}

func TestMetricsStartAtZero(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"marmot_autoscaler_scale_ups_total", map[string]string{"pool": "default", "reason": "scale_up_pending_demand"}},
		{"marmot_autoscaler_scale_downs_total", map[string]string{"pool": "default", "reason": "instance_not_joined"}},
		{"marmot_autoscaler_drains_started_total", map[string]string{"pool": "default", "reason": "scale_down_empty"}},
		{"marmot_autoscaler_drains_aborted_total", map[string]string{"pool": "default", "reason": "drain_abort_demand"}},
		{"marmot_autoscaler_agents_by_reason", map[string]string{"pool": "default", "reason": "kept_protected"}},
		{"marmot_autoscaler_agents", map[string]string{"pool": "default", "state": "draining"}},
		{"marmot_autoscaler_waiting_instances", map[string]string{"pool": "default", "reason": "waiting_constraint"}},
		{"marmot_autoscaler_capacity", map[string]string{"pool": "default", "resource": "mem", "unit": "megabytes"}},
		{"marmot_autoscaler_utilization_ratio", map[string]string{"pool": "default", "resource": "dominant"}},
		{"marmot_autoscaler_frozen", map[string]string{"pool": "default", "reason": "frozen_stale_data"}},
		{"marmot_autoscaler_drains_in_progress", map[string]string{"pool": "default"}},
		{"marmot_autoscaler_drain_duration_seconds", map[string]string{"pool": "default", "outcome": "terminated"}},
		{"marmot_autoscaler_actions_total", map[string]string{"pool": "default", "action": "drain_terminate", "result": "failed"}},
		{"marmot_autoscaler_reconciles_total", map[string]string{"trigger": "event", "result": "error"}},
		{"marmot_autoscaler_reconcile_duration_seconds", map[string]string{"trigger": "periodic"}},
		{"marmot_autoscaler_cloud_call_errors_total", map[string]string{"call": "terminate_instance", "reason": "throttled"}},
		{"marmot_autoscaler_cloud_call_duration_seconds", map[string]string{"call": "set_desired_capacity"}},
		{"marmot_autoscaler_policy_reloads_total", map[string]string{"result": "error"}},
		{"marmot_autoscaler_last_successful_reconcile_timestamp_seconds", nil},
		{"marmot_autoscaler_ready", nil},
	} {
		if v, ok := w.metricValue(c.name, c.labels); !ok || v != 0 {
			t.Errorf("%s%v = %v (exists %v), want a series at 0", c.name, c.labels, v, ok)
		}
	}
	w.reconcile()
	for name, labels := range map[string]map[string]string{
		"marmot_autoscaler_group_desired_instances":                     {"pool": "default", "group": "asg-a"},
		"marmot_autoscaler_group_max_instances":                         {"pool": "default", "group": "asg-a"},
		"marmot_autoscaler_last_successful_reconcile_timestamp_seconds": nil,
		"marmot_autoscaler_ready":                                       nil,
	} {
		if v, ok := w.metricValue(name, labels); !ok || v == 0 {
			t.Errorf("%s%v = %v after a reconcile", name, labels, v)
		}
	}
	if v, _ := w.metricValue("marmot_autoscaler_agents", map[string]string{"pool": "default", "state": "available"}); v != 3 {
		t.Errorf("%v available agents, want 3", v)
	}
	if v, _ := w.metricValue("marmot_autoscaler_capacity", map[string]string{"pool": "default", "resource": "cpus", "unit": "cores"}); v != 12 {
		t.Errorf("capacity %v cpus, want 12", v)
	}
}

func TestReloadKeepsTheLastGoodPolicyAndFollowsPools(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	bad := policy.Errors{{Path: "pools[0].min_agents", Message: "-1 must not be negative"}}
	if err := w.loop.ReloadPolicy(func() (*policy.AutoscalerPolicy, error) { return nil, bad }); err == nil {
		t.Fatal("a bad policy was accepted")
	}
	if st := w.loop.Status(); st.PolicyError == "" || st.Policy != w.pol {
		t.Errorf("after a bad reload: error %q, policy changed %v", st.PolicyError, st.Policy != w.pol)
	}
	if v, _ := w.metricValue("marmot_autoscaler_policy_last_reload_ok", nil); v != 0 {
		t.Error("a refused reload is not shown in the metrics")
	}

	next, err := policy.LoadAutoscalerPolicy([]byte("pools: [{name: batch}]"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.loop.ReloadPolicy(func() (*policy.AutoscalerPolicy, error) { return next, nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.metricValue("marmot_autoscaler_scale_ups_total", map[string]string{"pool": "batch", "reason": "scale_up_min_size"}); !ok {
		t.Error("the new pool's series do not start at zero")
	}
	if _, ok := w.metricValue("marmot_autoscaler_scale_ups_total", map[string]string{"pool": "default", "reason": "scale_up_min_size"}); ok {
		t.Error("the series of a pool no longer in the policy stay")
	}
	if st := w.loop.Status(); st.PolicyError != "" || st.Policy != next {
		t.Errorf("after a good reload: error %q", st.PolicyError)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	srv := httptest.NewServer(w.loop.Handler())
	defer srv.Close()
	get := func(path string) (int, []byte) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d", code)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the first snapshot: %d", code)
	}
	w.reconcile()
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the first snapshot: %d", code)
	}
	code, body := get("/status")
	var st struct {
		Ready bool
		Pools []struct {
			Pool string
			Plan struct {
				Agents []struct {
					ID     string
					Reason string
				}
			}
			Kept map[string]int `json:"agents_by_reason"`
		}
	}
	if err := json.Unmarshal(body, &st); err != nil || code != http.StatusOK {
		t.Fatalf("/status %d: %v\n%s", code, err, body)
	}
	if !st.Ready || len(st.Pools) != 1 || len(st.Pools[0].Plan.Agents) != 3 || st.Pools[0].Kept["kept_utilized"] != 2 {
		t.Errorf("/status: %s", body)
	}
	for _, a := range st.Pools[0].Plan.Agents {
		if a.Reason == "" || a.Reason == "none" {
			t.Errorf("agent %s has no reason in /status", a.ID)
		}
	}
}
