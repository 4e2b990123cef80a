package policy

import (
	"encoding/json"
	"testing"
	"time"
)

// TestBackoffProgression follows one group through failed launches: the backoff doubles from
// initial up to max, the same failure seen again is not counted twice, a launch that joins Mesos
// clears it, and reset_after without a failure starts it over.
func TestBackoffProgression(t *testing.T) {
	w := newWorld()
	w.agents(2, tk("/web", 2, 100))
	g := w.groupNamed("asg-a")
	step := func(at time.Duration, failure time.Duration) GroupState {
		t.Helper()
		w.now = t0.Add(at)
		w.snap.Observed = Observed{Mesos: w.now, Marathon: w.now, Cloud: w.now}
		if failure >= 0 {
			g.LastLaunchFailure = LaunchFailure{At: t0.Add(failure), Cause: "InsufficientInstanceCapacity"}
		}
		plan := w.plan()
		w.state = plan.Next
		return plan.Next.Groups["asg-a"]
	}
	for _, tc := range []struct {
		at, failure time.Duration // when the plan runs; when the newest failure happened (-1: none new)
		failures    int
		backoff     time.Duration // BackoffUntil - failure time
	}{
		{0, 0, 1, 5 * time.Minute},
		{time.Minute, 0, 1, 5 * time.Minute}, // the same failure again
		{6 * time.Minute, 6 * time.Minute, 2, 10 * time.Minute},
		{17 * time.Minute, 17 * time.Minute, 3, 20 * time.Minute},
		{40 * time.Minute, 40 * time.Minute, 4, 30 * time.Minute},
		{80 * time.Minute, 80 * time.Minute, 5, 30 * time.Minute},
	} {
		st := step(tc.at, tc.failure)
		if st.Failures != tc.failures || st.BackoffUntil.Sub(st.LastFailure) != tc.backoff {
			t.Errorf("at %s: failures %d, backoff %s; want %d, %s", tc.at, st.Failures, st.BackoffUntil.Sub(st.LastFailure), tc.failures, tc.backoff)
		}
	}
	// An instance launched after the last failure joins Mesos: the group is usable again at once.
	w.agent("joined")
	w.editInstance("i-joined", func(in *Instance) { in.LaunchTime = t0.Add(85 * time.Minute) })
	if st := step(90*time.Minute, -1); st.Failures != 0 || !st.BackoffUntil.IsZero() {
		t.Errorf("after a successful launch: %+v", st)
	}
	if st := step(95*time.Minute, 95*time.Minute); st.Failures != 1 || st.BackoffUntil.Sub(st.LastFailure) != 5*time.Minute {
		t.Errorf("first failure after a success: %+v", st)
	}
	// Three quiet hours forget the failures even without a launch.
	w.snap.Agents = w.snap.Agents[:2]
	if st := step(95*time.Minute+3*time.Hour, -1); st.Failures != 0 {
		t.Errorf("after reset_after: %+v", st)
	}
	if st := step(4*time.Hour+40*time.Minute, 4*time.Hour+40*time.Minute); st.Failures != 1 {
		t.Errorf("failure after a reset counts as the first: %+v", st)
	}
}

// TestNotJoinedBacksOffOnce checks that an instance that never joins is terminated and backs its
// group off once, however many plans see it before it is gone.
func TestNotJoinedBacksOffOnce(t *testing.T) {
	w := newWorld()
	w.agents(3, tk("/web", 2, 100))
	w.instance("asg-a", "i-stuck")
	var plan PoolPlan
	for minute := 0; minute <= 14; minute++ {
		w.now = t0.Add(time.Duration(minute) * time.Minute)
		w.snap.Observed = Observed{Mesos: w.now, Marathon: w.now, Cloud: w.now}
		plan = w.plan()
		w.state = plan.Next
		terminate := len(plan.Instances) == 1 && plan.Instances[0].Terminate
		if terminate != (minute >= 10) {
			t.Fatalf("minute %d: instances %+v", minute, plan.Instances)
		}
	}
	if st := w.state.Groups["asg-a"]; st.Failures != 1 || !st.LastFailure.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("group state %+v", st)
	}
}

// TestPlanPoolIsPure runs every scenario twice and checks that the inputs are unchanged and that the
// plans are the same.
func TestPlanPoolIsPure(t *testing.T) {
	for _, sc := range planScenarios {
		w := newWorld()
		sc.setup(w)
		before := mustJSON(t, w.snap, w.state, w.pol)
		first := mustJSON(t, w.plan())
		second := mustJSON(t, w.plan())
		if after := mustJSON(t, w.snap, w.state, w.pol); after != before {
			t.Errorf("%s: PlanPool changed its inputs", sc.name)
		}
		if first != second {
			t.Errorf("%s: two plans of the same inputs differ", sc.name)
		}
	}
}

func mustJSON(t *testing.T, vs ...any) string {
	t.Helper()
	b, err := json.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
