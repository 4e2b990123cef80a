package autoscaler

import (
	"errors"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/policy"
)

// Three agents: two used (at and above utilization_below), one empty (10.0.0.3, i-3): the empty one
// is drained.
var threeAgents = [][]policy.Task{{task("/web", 3)}, {task("/web", 2)}, nil}

const drained = "IP-10-0-0-3.ec2.internal/10.0.0.3"

func TestMaintenanceDrainRunsInOrderAndCleansUp(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)

	w.reconcile() // the empty agent becomes unneeded; every instance is protected from scale-in
	w.wantCalls("cloud.set_instance_protection")
	if !w.instance("i-2").ProtectedFromScaleIn {
		t.Error("instances are not protected from scale-in")
	}

	w.clock.Advance(2 * time.Minute)
	rep := w.reconcile()
	if d, _ := drainOf(rep, "i-3"); d.Action != policy.DrainStart || d.Reason != policy.ScaleDownEmpty {
		t.Fatalf("drain of i-3: %+v, want start for scale_down_empty", d)
	}
	// Mark first, then the maintenance window, for the machine exactly as the agent advertised it.
	w.wantCalls("cloud.set_instance_tags", "mesos.UpdateMaintenanceSchedule "+drained)
	if tags := w.instance("i-3").Tags; tags[TagDrain] != "draining" || tags[TagDrainStarted] != "2026-03-02T12:02:00Z" || tags[TagDrainMachine] != "10.0.0.3" {
		t.Errorf("drain mark: %v", tags)
	}

	w.clock.Advance(10 * time.Second)
	rep = w.reconcile() // no task left: terminate, after a re-check
	if d, _ := drainOf(rep, "i-3"); d.Action != policy.DrainTerminate || !d.DecrementDesired {
		t.Fatalf("drain of i-3: %+v, want terminate with decrement", d)
	}
	w.wantCalls("mesos.StartMaintenance "+drained, "cloud.set_instance_tags", "cloud.terminate_instance")
	if term := w.cloud.CallsTo(cloud.CallTerminateInstance); len(term) != 1 || term[0].InstanceIDs[0] != "i-3" || !term[0].Decrement {
		t.Fatalf("terminations: %+v", term)
	}
	if w.desired() != 2 || w.instance("i-3").Tags[TagDrain] != "terminating" {
		t.Errorf("desired %d, mark %q", w.desired(), w.instance("i-3").Tags[TagDrain])
	}
	if got := w.mesos.schedule(); len(got) != 1 || got[0].Mode != policy.MaintenanceDown {
		t.Errorf("schedule while terminating: %+v, want the machine DOWN", got)
	}

	w.cloud.Settle() // the instance is gone
	w.clock.Advance(10 * time.Second)
	rep = w.reconcile()
	if d, _ := drainOf(rep, "i-3"); d.Action != policy.DrainForget {
		t.Fatalf("drain of i-3: %+v, want forget", d)
	}
	w.wantCalls("mesos.StopMaintenance " + drained)
	if got := w.mesos.schedule(); len(got) != 0 {
		t.Errorf("schedule after the drain: %+v, want empty", got)
	}
	w.reconcile()
	w.wantCalls()
}

func TestTerminationIsReCheckedAgainstAFreshSnapshot(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.reconcile()
	w.clock.Advance(2 * time.Minute)
	w.reconcile() // drain of i-3 started
	w.log.reset()

	// Between the first look and the re-check a protected app's task lands on the agent.
	calls := 0
	w.mesos.onState = func(f *fakeMesos, fresh bool) {
		if calls++; calls == 2 {
			i := f.agentIndex("agent-3")
			setTasks(&f.agents[i], []policy.Task{{AppID: "/db", Resources: policy.Resources{CPUs: 1}, Protected: true}})
		}
	}
	w.clock.Advance(10 * time.Second)
	rep := w.reconcile()
	if calls != 2 {
		t.Fatalf("mesos read %d times, want 2 (the look and the re-check)", calls)
	}
	if d, _ := drainOf(rep, "i-3"); d.Action != policy.DrainAbort || d.Reason != policy.DrainAbortProtected {
		t.Fatalf("after the re-check: %+v, want abort for drain_abort_protected", d)
	}
	// Nothing terminated; the window is gone and so is the mark.
	w.wantCalls("mesos.UpdateMaintenanceSchedule ", "cloud.delete_instance_tags")
	if _, marked := w.instance("i-3").Tags[TagDrain]; marked || len(w.mesos.schedule()) != 0 {
		t.Errorf("after abort: tags %v, schedule %+v", w.instance("i-3").Tags, w.mesos.schedule())
	}
}

func TestFailedReCheckTerminatesNothing(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.reconcile()
	w.clock.Advance(2 * time.Minute)
	w.reconcile() // drain of i-3 started
	w.log.reset()
	calls := 0
	w.mesos.onState = func(f *fakeMesos, fresh bool) {
		if calls++; calls == 2 {
			f.fail["State"] = append(f.fail["State"], errors.New("503: no leader"))
		}
	}
	rep := w.reconcile()
	if got := actionsOf(rep, ActionDrainTerminate); len(got) != 1 || got[0].Result != ResultUnconfirmed {
		t.Fatalf("terminate actions: %+v, want one unconfirmed", got)
	}
	w.wantCalls()
	if d := w.loop.states["default"].Drains["i-3"]; d.Terminating {
		t.Error("an unconfirmed termination is remembered as done")
	}
	rep = w.reconcile()
	if got := actionsOf(rep, ActionDrainTerminate); len(got) != 1 || got[0].Result != ResultDone {
		t.Fatalf("terminate actions once the re-check reads: %+v, want one done", got)
	}
}

func TestRestartResumesADrainFromTheScheduleAndTheMark(t *testing.T) {
	w := newWorld(t, basePolicy, [][]policy.Task{{task("/web", 3)}, nil, {task("/web", 2)}})
	w.reconcile()
	w.clock.Advance(2 * time.Minute)
	w.reconcile()
	if w.instance("i-2").Tags[TagDrain] != "draining" {
		t.Fatalf("drain of the empty i-2 not started: %v", w.instance("i-2").Tags)
	}

	w.restart() // a new process: it remembers nothing
	w.log.reset()
	w.mesos.setTasks("agent-2", task("/web", 0.5)) // a task that has not left yet: the drain waits
	rep := w.reconcile()
	if d, ok := drainOf(rep, "i-2"); !ok || d.Action != policy.DrainWait || d.Drain.AgentID != "agent-2" {
		t.Fatalf("after restart: %+v, want the drain of i-2 adopted and waiting", d)
	}
	if got := actionsOf(rep, ActionDrainStart); len(got) != 0 {
		t.Errorf("a restarted loop started drains %+v; the budget is taken by the adopted one", got)
	}
	w.wantCalls()

	w.mesos.setTasks("agent-2")
	w.reconcile()
	w.wantCalls("mesos.StartMaintenance IP-10-0-0-2.ec2.internal/10.0.0.2", "cloud.set_instance_tags", "cloud.terminate_instance")
}

func TestRestartAfterTheMachineWentDownTerminatesAndCleansUp(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.reconcile()
	w.clock.Advance(2 * time.Minute)
	w.reconcile() // drain of i-3 started
	// The process stops right after START_MAINTENANCE: the machine is DOWN, the agent gone, the
	// instance still in service and marked "draining".
	m := Machine{Hostname: "IP-10-0-0-3.ec2.internal", IP: "10.0.0.3"}
	if err := w.mesos.StartMaintenance(t.Context(), []Machine{m}); err != nil {
		t.Fatal(err)
	}
	w.restart()
	w.log.reset()
	rep := w.reconcile()
	if d, _ := drainOf(rep, "i-3"); d.Action != policy.DrainTerminate || d.Reason != policy.DrainAgentGone {
		t.Fatalf("after restart: %+v, want terminate for drain_agent_gone", d)
	}
	w.wantCalls("cloud.set_instance_tags", "cloud.terminate_instance") // the machine is DOWN already
}

func TestRestartAfterTheTerminationCleansTheLeftoverWindow(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.reconcile()
	w.clock.Advance(2 * time.Minute)
	w.reconcile() // drain of i-3 started
	w.reconcile() // terminated
	if w.instance("i-3").Lifecycle != cloud.LifecycleTerminating {
		t.Fatalf("i-3 is %s", w.instance("i-3").Lifecycle)
	}
	// The process stops before the cleanup; the instance leaves its group meanwhile, so no group
	// shows the drain any more: only the DOWN machine and the terminated instance's mark are left,
	// and EC2 no longer shows the instance's IP: the mark's machine tag is what finds it.
	w.cloud.Settle()
	w.restart()
	w.log.reset()
	rep := w.reconcile()
	if d, _ := drainOf(rep, "i-3"); d.Action != policy.DrainForget {
		t.Fatalf("after restart: %+v, want the leftover drain forgotten", d)
	}
	w.wantCalls("mesos.StopMaintenance " + drained)
	if got := w.mesos.schedule(); len(got) != 0 {
		t.Errorf("schedule: %+v, want empty", got)
	}
	// Someone else's window on a machine that is no instance of ours stays, and is looked up once.
	w.mesos.windows = append(w.mesos.windows, Window{Machines: []Machine{{Hostname: "db-1", IP: "10.9.0.1"}}})
	w.reconcile()
	w.reconcile()
	w.wantCalls()
	if n := len(w.cloud.CallsTo(cloud.CallInstances)); n != 2 {
		t.Errorf("DescribeInstances called %d times, want 2 (the leftover, then db-1 once)", n)
	}
}

func TestRestartBetweenMarkAndMaintenanceResumesTheDrain(t *testing.T) {
	w := newWorld(t, basePolicy, [][]policy.Task{{task("/web", 3)}, {task("/web", 0.5)}, {task("/web", 0.5)}})
	w.reconcile()
	// A previous process marked i-3 and stopped before scheduling its machine.
	tags := drainTags(policy.DrainPhaseDraining, policy.Drain{Started: w.clock.Now().Add(-time.Minute)})
	if err := w.cloud.SetInstanceTags(t.Context(), "i-3", tags); err != nil {
		t.Fatal(err)
	}
	w.restart()
	w.log.reset()
	rep := w.reconcile()
	if got := actionsOf(rep, ActionDrainResume); len(got) != 1 || got[0].Result != ResultDone {
		t.Fatalf("resume actions: %+v", got)
	}
	w.wantCalls("mesos.UpdateMaintenanceSchedule " + drained)
}

func TestAbortForDemandGivesTheAgentBack(t *testing.T) {
	w := newWorld(t, basePolicy, [][]policy.Task{{task("/web", 3)}, {task("/web", 1)}, {task("/web", 1)}})
	w.reconcile()
	w.clock.Advance(2 * time.Minute)
	w.reconcile()
	var id string
	for _, in := range []string{"i-2", "i-3"} {
		if w.instance(in).Tags[TagDrain] != "" {
			id = in
		}
	}
	if id == "" {
		t.Fatal("no drain started")
	}
	w.log.reset()
	// Two 3-cpu instances wait: the other agents hold one, the draining agent the other.
	w.marathon.setQueue(waiting("/batch", 2, 3))
	rep := w.reconcile()
	if d, _ := drainOf(rep, id); d.Action != policy.DrainAbort || d.Reason != policy.DrainAbortDemand {
		t.Fatalf("drain of %s: %+v, want abort for demand", id, d)
	}
	// The pool is still above target utilization with both instances placed: it grows too.
	w.wantCalls("mesos.UpdateMaintenanceSchedule ", "cloud.delete_instance_tags", "cloud.set_desired_capacity")
	if len(w.mesos.schedule()) != 0 || w.instance(id).Tags[TagDrain] != "" {
		t.Errorf("after abort: schedule %+v, tags %v", w.mesos.schedule(), w.instance(id).Tags)
	}
}

const drainAgentPolicy = `
reconcile_interval: 30s
drain_mode: auto
pools:
  - name: default
    min_agents: 1
    scale_up: {cooldown: 0s}
    scale_down: {unneeded_for: 1m, delay_after_scale_up: 0s, min_agent_age: 0s, max_draining: 1, drain_deadline: 10m}
    health: {max_data_age: 10m}
`

func TestDrainAgentOnMesos19AndLater(t *testing.T) {
	w := newWorld(t, drainAgentPolicy, threeAgents)
	w.reconcile()
	w.log.reset()
	w.clock.Advance(2 * time.Minute)
	w.reconcile()
	w.wantCalls("cloud.set_instance_tags", "mesos.DrainAgent agent-3")
	w.reconcile() // DRAINED: mark it gone, then terminate
	w.wantCalls("mesos.MarkAgentGone agent-3", "cloud.set_instance_tags", "cloud.terminate_instance")
	w.cloud.Settle()
	w.reconcile()
	w.wantCalls()
}

func TestDrainModeAutoFallsBackToMaintenanceBefore19(t *testing.T) {
	w := newWorld(t, drainAgentPolicy, threeAgents)
	w.mesos.version = "1.8.1"
	w.reconcile()
	w.log.reset()
	w.clock.Advance(2 * time.Minute)
	w.reconcile()
	w.wantCalls("cloud.set_instance_tags", "mesos.UpdateMaintenanceSchedule "+drained)
}

func TestAbortedDrainAgentIsReactivated(t *testing.T) {
	w := newWorld(t, drainAgentPolicy, threeAgents, withGroupMin(2))
	w.reconcile()
	w.clock.Advance(2 * time.Minute)
	w.reconcile() // i-3 drained through DRAIN_AGENT
	// Someone terminates another instance, lowering desired capacity to the group's min: AWS would
	// refuse to terminate i-3 with a decrement now.
	if _, err := w.cloud.TerminateInstance(t.Context(), "i-1", true); err != nil {
		t.Fatal(err)
	}
	w.log.reset()
	rep := w.reconcile()
	if d, _ := drainOf(rep, "i-3"); d.Action != policy.DrainAbort || d.Reason != policy.DrainAbortGroupMinSize {
		t.Fatalf("drain of i-3: %+v, want abort for the group's min size", d)
	}
	w.wantCalls("mesos.ReactivateAgent agent-3", "cloud.delete_instance_tags")
	if a, _ := w.mesos.agent("agent-3"); a.Deactivated || !a.Active {
		t.Errorf("agent-3 after abort: %+v", a)
	}
}

func TestFailedStartIsRolledBackAndRetried(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.reconcile()
	w.log.reset()
	w.clock.Advance(2 * time.Minute)
	w.mesos.failNext("UpdateMaintenanceSchedule", errors.New("503: no leader"))
	rep := w.reconcile()
	if got := actionsOf(rep, ActionDrainStart); len(got) != 1 || got[0].Result != ResultFailed {
		t.Fatalf("start actions: %+v, want one failed", got)
	}
	w.wantCalls("cloud.set_instance_tags", "mesos.UpdateMaintenanceSchedule "+drained, "cloud.delete_instance_tags")
	if _, marked := w.instance("i-3").Tags[TagDrain]; marked {
		t.Error("the mark of a drain that did not start stays")
	}
	rep = w.reconcile() // the planner did not believe it started: it starts it again
	if got := actionsOf(rep, ActionDrainStart); len(got) != 1 || got[0].Result != ResultDone {
		t.Fatalf("start actions on retry: %+v, want one done", got)
	}
}

func TestScaleUpForWaitingInstances(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.marathon.setQueue(waiting("/batch", 4, 3.5))
	rep := w.reconcile()
	up := actionsOf(rep, ActionScaleUp)
	// One 3.5-cpu instance fits the empty agent; three need new agents.
	if len(up) != 1 || up[0].Desired != 6 || up[0].Result != ResultDone || up[0].Reason != policy.ScaleUpPendingDemand {
		t.Fatalf("scale-ups: %+v, want asg-a to 6 for pending demand", up)
	}
	if w.desired() != 6 {
		t.Errorf("desired %d, want 6", w.desired())
	}
}

func TestFailedDecrementRaisesTheScaleUpToMatch(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.reconcile()
	w.clock.Advance(2 * time.Minute)
	w.reconcile() // drain of i-3 started
	w.cloud.Fail(cloud.CallTerminateInstance, &cloud.Error{Kind: cloud.ErrScalingInProgress, Op: "TerminateInstanceInAutoScalingGroup"})
	// The terminate decrements to 2 and the scale-up adds one more: 3 in the plan. Since the
	// termination fails, desired must go to 4, or AWS would pick an instance to remove itself.
	w.marathon.setQueue(waiting("/batch", 3, 3.5))
	rep := w.reconcile()
	if got := actionsOf(rep, ActionDrainTerminate); len(got) != 1 || got[0].Result != ResultFailed {
		t.Fatalf("terminate actions: %+v, want one failed", got)
	}
	up := actionsOf(rep, ActionScaleUp)
	if len(up) != 1 || up[0].Desired != w.desired() {
		t.Fatalf("scale-ups %+v, group desired %d", up, w.desired())
	}
	var pd policy.GroupDecision
	for _, g := range rep.Pools[0].Plan.Groups {
		pd = g
	}
	if up[0].Desired != pd.NewDesired+1 {
		t.Errorf("scale-up to %d, want the plan's %d plus the failed decrement", up[0].Desired, pd.NewDesired)
	}
}

func TestInstanceThatNeverJoinsIsTerminated(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.reconcile()
	w.marathon.setQueue(waiting("/batch", 1, 3.9))
	w.mesos.setTasks("agent-3", task("/web", 2))
	w.reconcile() // one more instance
	w.cloud.Settle()
	w.marathon.setQueue()
	w.reconcile() // the new instance has no agent: booting
	w.clock.Advance(6 * time.Minute)
	w.log.reset()
	rep := w.reconcile()
	var gone []policy.InstanceDecision
	for _, in := range rep.Pools[0].Plan.Instances {
		if in.Terminate {
			gone = append(gone, in)
		}
	}
	if len(gone) != 1 || gone[0].Reason != policy.InstanceNotJoined || !gone[0].DecrementDesired {
		t.Fatalf("instances to terminate: %+v", gone)
	}
	w.wantCalls("cloud.terminate_instance")
	if st := rep.Pools[0].Plan.Next.Groups["asg-a"]; st.Failures != 1 || !st.BackoffUntil.After(w.clock.Now()) {
		t.Errorf("group state %+v, want one failure and a backoff", st)
	}
}

func TestDryRunCallsNothingThatChanges(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents, withDryRun)
	w.reconcile()
	w.clock.Advance(2 * time.Minute)
	rep := w.reconcile()
	if got := actionsOf(rep, ActionDrainStart); len(got) != 1 || got[0].Result != ResultDryRun {
		t.Fatalf("drain starts: %+v, want one not taken", got)
	}
	w.marathon.setQueue(waiting("/batch", 4, 3.5))
	rep = w.reconcile()
	if got := actionsOf(rep, ActionScaleUp); len(got) != 1 || got[0].Result != ResultDryRun || got[0].Desired != 6 {
		t.Fatalf("scale-ups: %+v, want one to 6, not taken", got)
	}
	w.wantCalls()
	if w.desired() != 3 {
		t.Errorf("desired %d after a dry run", w.desired())
	}
	// Nothing is believed done: the next plan decides the same again.
	rep = w.reconcile()
	if got := actionsOf(rep, ActionScaleUp); len(got) != 1 || got[0].Desired != 6 {
		t.Fatalf("scale-ups on the next dry run: %+v", got)
	}
}

func TestNoPlanBeforeEverySourceAnswered(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.marathon.setQueue(waiting("/batch", 4, 3.5))
	w.mesos.failNext("State", errors.New("503: no leader"))
	rep := w.loop.Reconcile(t.Context(), TriggerOnce)
	if rep.Planned || w.loop.Ready() || len(rep.Pools) != 0 {
		t.Fatalf("planned on a partial snapshot: %+v", rep)
	}
	w.wantCalls()
	w.reconcile()
	if !w.loop.Ready() || w.desired() != 6 {
		t.Errorf("ready %v, desired %d", w.loop.Ready(), w.desired())
	}
}

func TestStaleSourceFreezesThePool(t *testing.T) {
	w := newWorld(t, basePolicy, threeAgents)
	w.reconcile()
	w.clock.Advance(11 * time.Minute) // past max_data_age, with Marathon failing
	w.marathon.fail["Queue"] = []error{errors.New("down")}
	w.log.reset()
	rep := w.reconcile()
	if rep.Pools[0].Plan.Frozen != policy.FrozenStaleData || rep.Error == "" {
		t.Fatalf("plan frozen %v, error %q", rep.Pools[0].Plan.Frozen, rep.Error)
	}
	w.wantCalls()
}

const twoPools = `
drain_mode: maintenance
pools:
  - name: default
    scale_up: {cooldown: 0s}
    health: {max_data_age: 10m}
  - name: batch
    scale_up: {cooldown: 0s}
    health: {max_data_age: 10m}
`

func TestPoolsArePlannedApart(t *testing.T) {
	w := newWorld(t, twoPools, threeAgents)
	w.cloud.AddGroup(cloud.Group{Name: "asg-batch", Pool: "batch", Min: 0, Max: 5, Desired: 1, InstanceType: "m5.xlarge",
		Instances: []cloud.Instance{{ID: "i-b1", PrivateIP: "10.1.0.1", Tags: map[string]string{}}}})
	w.mesos.agents = append(w.mesos.agents, policy.Agent{ID: "agent-b1", Hostname: "b1", IP: "10.1.0.1", Pool: "batch", Total: m5xlarge, Active: true})
	// The app is pinned to the batch pool: only batch grows for it, by one agent for the instance the
	// empty batch agent cannot hold and one more to stay under the target utilization.
	job := waiting("/batch/job", 2, 3.5)
	job.Constraints = [][]string{{"pool", "CLUSTER", "batch"}}
	w.marathon.setQueue(job)
	rep := w.reconcile()
	if len(rep.Pools) != 2 {
		t.Fatalf("%d pools planned", len(rep.Pools))
	}
	for _, p := range rep.Pools {
		ups := actionsOf(Report{Pools: []PoolReport{p}}, ActionScaleUp)
		switch p.Pool {
		case "default":
			if len(ups) != 0 || len(p.Plan.Agents) != 3 {
				t.Errorf("default: scale-ups %+v, %d agents", ups, len(p.Plan.Agents))
			}
		case "batch":
			if len(ups) != 1 || ups[0].Group != "asg-batch" || ups[0].Desired != 3 || len(p.Plan.Agents) != 1 {
				t.Errorf("batch: scale-ups %+v, %d agents", ups, len(p.Plan.Agents))
			}
		}
	}
}

func TestGroupScaledToZeroGrowsFromItsInstanceType(t *testing.T) {
	w := newWorld(t, twoPools, threeAgents)
	w.cloud.AddGroup(cloud.Group{Name: "asg-batch", Pool: "batch", Min: 0, Max: 5, Desired: 0, InstanceType: "c5.2xlarge"})
	w.cloud.AddInstanceTypes(cloud.InstanceType{Name: "c5.2xlarge", CPUs: 8, MemMiB: 16384})
	job := waiting("/batch/job", 3, 3.5)
	job.Constraints = [][]string{{"pool", "CLUSTER", "batch"}}
	w.marathon.setQueue(job)
	rep := w.reconcile()
	var batch PoolReport
	for _, p := range rep.Pools {
		if p.Pool == "batch" {
			batch = p
		}
	}
	// Two 3.5-cpu instances fit an 8-cpu agent: two agents for three, and one more for the target.
	if ups := actionsOf(Report{Pools: []PoolReport{batch}}, ActionScaleUp); len(ups) != 1 || ups[0].Desired < 2 {
		t.Fatalf("batch scale-ups %+v; groups %+v", ups, batch.Plan.Groups)
	}
	if n := len(w.cloud.CallsTo(cloud.CallInstanceTypes)); n != 1 {
		t.Errorf("instance types read %d times, want once", n)
	}
	w.reconcile()
	if n := len(w.cloud.CallsTo(cloud.CallInstanceTypes)); n != 1 {
		t.Errorf("instance types read %d times after a second reconcile, want once", n)
	}
}

// A termination that the plan decided frees a place under max_draining for a new drain in the same
// plan; when the termination does not happen (its re-check fails, or the call fails) the drain is
// still there, and starting the new one would exceed max_draining.
func TestTerminationNotDoneStartsNoNewDrain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(w *world)
		result ActionResult
	}{
		{"recheck fails", func(w *world) {
			calls := 0
			w.mesos.onState = func(f *fakeMesos, fresh bool) {
				if calls++; calls == 2 {
					f.fail["State"] = append(f.fail["State"], errors.New("503: no leader"))
				}
			}
		}, ResultUnconfirmed},
		{"terminate fails", func(w *world) {
			w.cloud.Fail(cloud.CallTerminateInstance, &cloud.Error{Kind: cloud.ErrScalingInProgress, Op: "TerminateInstanceInAutoScalingGroup"})
		}, ResultFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Two used agents and two empty ones (i-3, i-4); max_draining is 1.
			w := newWorld(t, basePolicy, [][]policy.Task{{task("/web", 3)}, {task("/web", 2)}, nil, nil})
			w.reconcile()
			w.clock.Advance(2 * time.Minute)
			w.reconcile()
			marked := func() []string {
				var out []string
				for _, id := range []string{"i-1", "i-2", "i-3", "i-4"} {
					if w.instance(id).Tags[TagDrain] != "" {
						out = append(out, id)
					}
				}
				return out
			}
			if got := marked(); len(got) != 1 {
				t.Fatalf("instances marked after the first drain: %v, want one", got)
			}
			first := marked()[0]

			tc.inject(w)
			w.clock.Advance(10 * time.Second)
			rep := w.reconcile()
			if got := actionsOf(rep, ActionDrainTerminate); len(got) != 1 || got[0].Result != tc.result || got[0].InstanceID != first {
				t.Fatalf("terminate actions: %+v, want one %s of %s", got, tc.result, first)
			}
			for _, a := range actionsOf(rep, ActionDrainStart) {
				if a.Result == ResultDone {
					t.Errorf("drain of %s started while the termination of %s did not happen", a.InstanceID, first)
				}
			}
			if got := marked(); len(got) != 1 {
				t.Errorf("instances marked for drain: %v, want only %s (max_draining: 1)", got, first)
			}
			if d := w.loop.states["default"].Drains; len(d) != 1 {
				t.Errorf("drains remembered: %v, want only %s", d, first)
			}

			// Once the termination happens, the next drain starts.
			w.mesos.onState = nil
			started := func(rep Report) bool {
				got := actionsOf(rep, ActionDrainStart)
				return len(got) == 1 && got[0].Result == ResultDone
			}
			for i := 0; i < 4 && !started(rep); i++ {
				w.clock.Advance(10 * time.Second)
				w.cloud.Settle()
				rep = w.reconcile()
			}
			if !started(rep) {
				t.Fatalf("drain starts once the termination is done: %+v, want one done", actionsOf(rep, ActionDrainStart))
			}
		})
	}
}
