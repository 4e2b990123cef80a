package autoscaler

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/policy"
)

// receive takes what the notice queue delivers now, as the loop's reader would.
func (w *world) receive() {
	w.t.Helper()
	notices, err := w.notices.Receive(w.t.Context(), noticeWait, noticeVisible)
	if err != nil {
		w.t.Fatal(err)
	}
	w.loop.takeNotices(w.t.Context(), notices)
}

// interruption is EC2's two-minute warning for an instance, sent now.
func (w *world) interruption(instanceID string) cloud.Notice {
	now := w.clock.Now()
	return cloud.Notice{Kind: cloud.NoticeSpotInterruption, ID: "ev-" + instanceID, InstanceID: instanceID,
		Time: now, Deadline: now.Add(cloud.SpotNotice), Action: "terminate"}
}

// pendingIDs returns the event ids still in the queue.
func (w *world) pendingIDs() []string {
	var out []string
	for _, n := range w.notices.Pending() {
		out = append(out, n.ID)
	}
	return out
}

// busy is three agents too busy to be unneeded: only a notice drains one of them.
var busy = [][]policy.Task{{task("/web", 3)}, {task("/web", 3)}, {task("/api", 2)}}

func TestSpotInterruptionDrainsAtOnceAndTerminatesBeforeTheReclaim(t *testing.T) {
	w := newWorld(t, basePolicy, busy, withNotices)
	w.reconcile()
	w.log.reset()

	w.notices.Push(w.interruption("i-3"))
	w.receive()
	rep := w.reconcile()
	d, _ := drainOf(rep, "i-3")
	if d.Action != policy.DrainStart || d.Reason != policy.SpotInterruption {
		t.Fatalf("drain of i-3: %+v, want start for spot_interruption", d)
	}
	if want := w.clock.Now().Add(cloud.SpotNotice - time.Minute); !d.Drain.Deadline.Equal(want) {
		t.Errorf("deadline %s, want %s (down_before 60s ahead of the reclaim)", d.Drain.Deadline, want)
	}
	// The 2-cpu /api task fits nowhere else (3 of 4 cpus used on the others): a replacement is
	// launched now, while i-3 still runs.
	if g := rep.Pools[0].Plan.Groups[0]; g.Reason != policy.ScaleUpReclaim || g.Add != 1 {
		t.Errorf("group: %+v, want +1 for scale_up_spot_interruption", g)
	}
	w.wantCalls("cloud.set_desired_capacity", "cloud.set_instance_tags",
		"mesos.UpdateMaintenanceSchedule IP-10-0-0-3.ec2.internal/10.0.0.3")
	if got := w.pendingIDs(); !slices.Equal(got, []string{"ev-i-3"}) {
		t.Errorf("queue holds %v; the notice stays until the drain is past its termination", got)
	}
	if st := w.loop.Status(); len(st.Reclaims) != 1 || st.Reclaims[0].InstanceID != "i-3" {
		t.Errorf("/status reclaims: %+v", st.Reclaims)
	}

	// The tasks stay (maintenance does not move them); 60 s before the reclaim the agent goes down
	// and the instance is terminated, tasks or not.
	w.clock.Advance(59 * time.Second)
	if d, _ := drainOf(w.reconcile(), "i-3"); d.Action != policy.DrainWait {
		t.Fatalf("61 s before the reclaim: %+v, want wait", d)
	}
	w.clock.Advance(time.Second)
	rep = w.reconcile()
	if d, _ := drainOf(rep, "i-3"); d.Action != policy.DrainTerminate || d.Reason != policy.DrainReclaimDeadline {
		t.Fatalf("60 s before the reclaim: %+v, want terminate for drain_reclaim_deadline", d)
	}
	w.wantCalls("mesos.StartMaintenance IP-10-0-0-3.ec2.internal/10.0.0.3", "cloud.set_instance_tags", "cloud.terminate_instance")
	if got := w.desired(); got != 3 {
		t.Errorf("desired capacity %d after the termination, want 3: the replacement launched ahead, and no second one", got)
	}
	w.reconcile()
	if got := w.pendingIDs(); len(got) != 0 {
		t.Errorf("queue holds %v after the termination, want nothing", got)
	}
	if v, _ := w.metricValue("marmot_autoscaler_drains_started_total", map[string]string{"pool": "default", "reason": "spot_interruption"}); v != 1 {
		t.Errorf("drains started for spot_interruption: %g, want 1", v)
	}
	if v, _ := w.metricValue("marmot_autoscaler_notices_total", map[string]string{"kind": "spot_interruption"}); v != 1 {
		t.Errorf("spot interruption notices counted: %g, want 1", v)
	}
}

func TestRestartedLoopHearsTheInterruptionAgain(t *testing.T) {
	w := newWorld(t, basePolicy, busy, withNotices)
	w.reconcile()
	w.notices.Push(w.interruption("i-3"))
	w.receive()
	w.reconcile() // drain started, with the reclaim's deadline
	w.restart()   // the new process knows the drain from its mark, with the policy's 10m deadline

	w.clock.Advance(noticeVisible) // the undeleted notice comes back
	w.receive()
	w.clock.Advance(45 * time.Second)
	w.log.reset()
	rep := w.reconcile()
	if d, _ := drainOf(rep, "i-3"); d.Action != policy.DrainTerminate || d.Reason != policy.DrainReclaimDeadline {
		t.Fatalf("after the restart, 60 s before the reclaim: %+v, want terminate for drain_reclaim_deadline", d)
	}
}

func TestNoticesOfNoInterestAreDeletedAtOnce(t *testing.T) {
	w := newWorld(t, basePolicy, busy, withNotices)
	w.reconcile()
	now := w.clock.Now()
	w.notices.Push(
		cloud.Notice{Kind: cloud.NoticeRebalance, ID: "rebalance", InstanceID: "i-1", Time: now},
		cloud.Notice{Kind: cloud.NoticeStateChange, ID: "state", InstanceID: "i-2", Time: now, State: cloud.StateStopping},
		cloud.Notice{Kind: cloud.NoticeOther, ID: "other", Problem: "EC2 Instance Launch Successful"},
		cloud.Notice{Kind: cloud.NoticeUnreadable, Problem: "not JSON"},
		w.interruption("i-9"), // no instance of the pool's groups
	)
	w.receive()
	if got := w.pendingIDs(); !slices.Equal(got, []string{"ev-i-9"}) {
		t.Errorf("queue after receiving: %v, want only the interruption", got)
	}
	rep := w.reconcile()
	if got := w.pendingIDs(); len(got) != 0 {
		t.Errorf("queue after a reconcile: %v; an interruption of no instance of ours is deleted", got)
	}
	if n := len(rep.Pools[0].Plan.Drains); n != 0 {
		t.Errorf("drains: %+v, want none", rep.Pools[0].Plan.Drains)
	}
	for _, kind := range cloud.NoticeKinds() {
		if v, _ := w.metricValue("marmot_autoscaler_notices_total", map[string]string{"kind": string(kind)}); v != 1 {
			t.Errorf("notices_total{kind=%q} = %g, want 1", kind, v)
		}
	}
}

func TestDryRunLeavesTheNoticesInTheQueue(t *testing.T) {
	w := newWorld(t, basePolicy, busy, withNotices, withDryRun)
	w.reconcile()
	w.notices.Push(w.interruption("i-3"), cloud.Notice{Kind: cloud.NoticeUnreadable, Problem: "not JSON"})
	w.receive()
	rep := w.reconcile()
	if d, _ := drainOf(rep, "i-3"); d.Action != policy.DrainStart {
		t.Errorf("dry run plan for i-3: %+v, want a drain start", d)
	}
	w.wantCalls()
	if n := len(w.notices.CallsTo("delete")); n != 0 {
		t.Errorf("a dry run deleted notices %d times", n)
	}
}

// The reclaim is counted on the loop's clock: never more than a full notice ahead (a cloud clock
// ahead of ours), never in the past (a late notice, or a cloud clock behind ours: down at once).
func TestReclaimTimeOnTheLoopsClock(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		deadline time.Time
		want     time.Time
	}{
		{"in step", now.Add(90 * time.Second), now.Add(90 * time.Second)},
		{"cloud clock an hour ahead", now.Add(time.Hour), now.Add(cloud.SpotNotice)},
		{"cloud clock an hour behind", now.Add(-time.Hour), now},
	} {
		if got := reclaimTime(cloud.Notice{Deadline: tc.deadline}, now); !got.Equal(tc.want) {
			t.Errorf("%s: reclaim at %s, want %s", tc.name, got, tc.want)
		}
	}
}

// slowQueue is a notice queue that, once empty, waits out the receive as SQS's long poll does, so
// that the reader does not spin.
type slowQueue struct{ cloud.NoticeQueue }

func (q slowQueue) Receive(ctx context.Context, wait, visible time.Duration) ([]cloud.Notice, error) {
	n, err := q.NoticeQueue.Receive(ctx, wait, visible)
	if err == nil && len(n) == 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return n, err
}

// The reader counts a failed receive, tries again after a backoff, and then takes the notice.
func TestReaderRetriesAFailedReceive(t *testing.T) {
	w := newWorld(t, basePolicy, busy, withNotices)
	w.notices.Fail("receive", &cloud.Error{Kind: cloud.ErrUnavailable, Op: "ReceiveMessage", Message: "503"})
	w.notices.Push(w.interruption("i-3"))
	w.loop.notices = slowQueue{w.notices}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.loop.readNotices(ctx)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for w.loop.reclaimTimes()["i-3"].IsZero() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if w.loop.reclaimTimes()["i-3"].IsZero() {
		t.Fatal("the notice was never taken after the failed receive")
	}
	if v, _ := w.metricValue("marmot_autoscaler_source_errors_total", map[string]string{"source": "notices"}); v != 1 {
		t.Errorf("source_errors_total{source=notices} = %g, want 1", v)
	}
}

// The rule forwards the state changes of every instance in the region: only the pools' own start a
// reconcile.
func TestStateChangesOfThePoolsInstancesStartAReconcile(t *testing.T) {
	w := newWorld(t, basePolicy, busy, withNotices)
	w.reconcile()
	poked := func() bool {
		select {
		case <-w.loop.trigger:
			return true
		default:
			return false
		}
	}
	poked()
	w.notices.Push(cloud.Notice{Kind: cloud.NoticeStateChange, ID: "theirs", InstanceID: "i-0123456789abcdef0", State: cloud.StateTerminated})
	w.receive()
	if poked() {
		t.Error("another team's instance starting a reconcile")
	}
	w.notices.Push(cloud.Notice{Kind: cloud.NoticeStateChange, ID: "ours", InstanceID: "i-2", State: cloud.StateShuttingDown})
	w.receive()
	if !poked() {
		t.Error("the pool's instance shutting down did not start a reconcile")
	}
}

// Under drain_mode auto on Mesos 1.9+, a reclaimed agent is drained through the maintenance schedule,
// not DRAIN_AGENT: its tasks keep serving until it goes down, while the replacement boots.
func TestReclaimedAgentKeepsItsTasksUntilItGoesDown(t *testing.T) {
	w := newWorld(t, drainAgentPolicy, busy, withNotices)
	w.reconcile()
	w.log.reset()
	w.notices.Push(w.interruption("i-3"))
	w.receive()
	w.reconcile()
	w.wantCalls("cloud.set_desired_capacity", "cloud.set_instance_tags",
		"mesos.UpdateMaintenanceSchedule IP-10-0-0-3.ec2.internal/10.0.0.3")
	w.clock.Advance(time.Minute)
	w.reconcile()
	w.wantCalls("mesos.StartMaintenance IP-10-0-0-3.ec2.internal/10.0.0.3", "cloud.set_instance_tags", "cloud.terminate_instance")
}
