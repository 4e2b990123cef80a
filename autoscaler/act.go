package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/policy"
)

// ActionKind names one thing the actuator does.
type ActionKind string

// The actions, in the order a plan is carried out.
const (
	// ActionDrainAbort gives a draining agent back to the pool: out of the maintenance schedule or
	// reactivated, and its instance's drain mark cleared.
	ActionDrainAbort ActionKind = "drain_abort"
	// ActionDrainCleanup cleans up after a drain whose instance is gone: the machine leaves the
	// maintenance schedule (STOP_MAINTENANCE when DOWN), a left-behind agent is marked gone.
	ActionDrainCleanup ActionKind = "drain_cleanup"
	// ActionDrainTerminate takes a drained agent out of Mesos (START_MAINTENANCE, or MARK_AGENT_GONE
	// after DRAIN_AGENT) and terminates its instance.
	ActionDrainTerminate ActionKind = "drain_terminate"
	// ActionTerminateInstance terminates an instance that never joined Mesos.
	ActionTerminateInstance ActionKind = "terminate_instance"
	// ActionScaleUp sets a group's desired capacity.
	ActionScaleUp ActionKind = "scale_up"
	// ActionDrainStart marks an instance, protects it from scale-in and starts draining its agent.
	ActionDrainStart ActionKind = "drain_start"
	// ActionDrainResume puts back what a drain in progress lacks, its Mesos drain or its mark: a
	// restart between the two steps of a start leaves one without the other.
	ActionDrainResume ActionKind = "drain_resume"
	// ActionProtect protects a group's in-service instances from scale-in, so that only Marmot
	// chooses which instances leave.
	ActionProtect ActionKind = "protect"
)

// ActionKinds lists every kind, so that metric series start at zero.
func ActionKinds() []ActionKind {
	return []ActionKind{ActionDrainAbort, ActionDrainCleanup, ActionDrainTerminate, ActionTerminateInstance,
		ActionScaleUp, ActionDrainStart, ActionDrainResume, ActionProtect}
}

// ActionResult is how an action ended.
type ActionResult string

// Results.
const (
	ResultDone        ActionResult = "done"
	ResultFailed      ActionResult = "failed"
	ResultDryRun      ActionResult = "dry_run"     // nothing was called: --dry-run
	ResultUnconfirmed ActionResult = "unconfirmed" // the re-check did not decide it again, or (a drain start) a termination it made room after did not happen
)

// ActionResults lists every result, so that metric series start at zero.
func ActionResults() []ActionResult {
	return []ActionResult{ResultDone, ResultFailed, ResultDryRun, ResultUnconfirmed}
}

// Action is one thing the actuator did or would have done, with the calls it made.
type Action struct {
	Kind        ActionKind    `json:"kind"`
	Reason      policy.Reason `json:"reason,omitzero"`
	Group       string        `json:"group,omitempty"`
	InstanceID  string        `json:"instance_id,omitempty"`
	InstanceIDs []string      `json:"instance_ids,omitempty"`
	AgentID     string        `json:"agent_id,omitempty"`
	Hostname    string        `json:"hostname,omitempty"`
	Desired     int           `json:"desired,omitempty"`
	Decrement   bool          `json:"decrement,omitempty"`
	// Mechanism is how the agent is drained: "maintenance" or "drain_agent".
	Mechanism string `json:"mechanism,omitempty"`
	// Calls are the changing calls made, in order.
	Calls  []string     `json:"calls,omitempty"`
	Result ActionResult `json:"result"`
	Error  string       `json:"error,omitempty"`
}

// changed reports whether the action changed what the next plan decides on, so that the loop looks
// again at once.
func (a Action) changed() bool {
	switch a.Kind {
	case ActionScaleUp, ActionDrainStart, ActionDrainTerminate, ActionDrainAbort, ActionTerminateInstance:
		return a.Result == ResultDone
	}
	return false
}

// The drain mechanisms.
const (
	mechMaintenance = "maintenance" // a maintenance window (DRAINING), then START_MAINTENANCE (DOWN)
	mechDrainAgent  = "drain_agent" // DRAIN_AGENT, then MARK_AGENT_GONE
)

// actuator carries out one pool's plan.
type actuator struct {
	ctx         context.Context
	l           *Loop
	pol         *policy.AutoscalerPolicy
	pp          *policy.PoolPolicy
	pv          *poolView
	obs         *observation
	log         *zap.Logger
	unconfirmed map[string]bool
	agents      map[string]*policy.Agent  // by id
	agentAt     map[string]*policy.Agent  // by IP
	machines    map[string]MachineMode    // machines in maintenance, by IP
	instances   map[string]cloud.Instance // the pool's instances, by id
	// undecremented counts, per group, the terminations that were to lower desired capacity and did
	// not happen: a scale-up adds them back, or it would make AWS pick victims of its own.
	undecremented map[string]int
	cloudChanged  bool
	actions       []Action
}

func newActuator(ctx context.Context, l *Loop, pol *policy.AutoscalerPolicy, pp *policy.PoolPolicy, obs *observation, unconfirmed map[string]bool) *actuator {
	a := &actuator{
		ctx: ctx, l: l, pol: pol, pp: pp, pv: obs.pools[pp.Name], obs: obs, unconfirmed: unconfirmed,
		log:    l.log.With(zap.String("pool", pp.Name)),
		agents: map[string]*policy.Agent{}, agentAt: map[string]*policy.Agent{}, machines: map[string]MachineMode{},
		instances: map[string]cloud.Instance{}, undecremented: map[string]int{},
	}
	for i := range obs.mesos.Agents {
		ag := &obs.mesos.Agents[i]
		a.agents[ag.ID], a.agentAt[ag.IP] = ag, ag
	}
	for _, m := range obs.mesos.Machines {
		a.machines[m.IP] = m
	}
	for _, g := range a.pv.groups {
		for _, in := range g.Instances {
			a.instances[in.ID] = in
		}
	}
	return a
}

// run carries out the plan in its order: drains to abort, drains to clean up, terminations (drains
// that are done, instances that never joined), scale-ups (whose desired capacity already counts the
// terminations that decrement), drains to start, drains to resume, and scale-in protection.
//
// The planner stops counting a drain against max_draining once it decides to terminate it; when that
// termination does not happen (unconfirmed or failed), the drain goes on, so no drain starts in this
// reconcile: the next plan, which counts that drain again, decides them.
func (a *actuator) run(plan *policy.PoolPlan) {
	for _, d := range drainsDoing(plan, policy.DrainAbort) {
		a.abort(d)
	}
	for _, d := range drainsDoing(plan, policy.DrainForget) {
		a.cleanup(d)
	}
	var notTerminated []string
	for _, d := range drainsDoing(plan, policy.DrainTerminate) {
		if !a.terminateDrain(d) {
			notTerminated = append(notTerminated, d.Drain.InstanceID)
		}
	}
	for _, in := range plan.Instances {
		if in.Terminate {
			a.terminateInstance(in)
		}
	}
	for _, g := range plan.Groups {
		if g.Add > 0 {
			a.scaleUp(g)
		}
	}
	if starts := drainsDoing(plan, policy.DrainStart); len(notTerminated) == 0 {
		a.startDrains(starts)
	} else {
		a.holdDrains(starts, notTerminated)
	}
	for _, d := range drainsDoing(plan, policy.DrainWait) {
		if d.Reason == policy.DrainWaiting {
			a.resume(d)
		}
	}
	a.protect(plan)
	if a.cloudChanged {
		a.l.cache.staleGroups(a.pp.Name) // read our own changes back, not a read from before them
	}
}

func drainsDoing(plan *policy.PoolPlan, action policy.DrainAction) []policy.DrainDecision {
	var out []policy.DrainDecision
	for _, d := range plan.Drains {
		if d.Action == action {
			out = append(out, d)
		}
	}
	return out
}

// do runs an action's steps, unless the run is dry, and records how it ended.
func (a *actuator) do(act Action, steps func(*Action) error) Action {
	if a.l.dryRun {
		act.Result = ResultDryRun
		return a.record(act)
	}
	if err := steps(&act); err != nil {
		act.Result, act.Error = ResultFailed, err.Error()
	} else {
		act.Result = ResultDone
	}
	return a.record(act)
}

func (a *actuator) record(act Action) Action {
	a.actions = append(a.actions, act)
	a.l.metrics.actions.WithLabelValues(a.pp.Name, string(act.Kind), string(act.Result)).Inc()
	fields := []zap.Field{zap.String("action", string(act.Kind)), zap.String("result", string(act.Result))}
	for _, f := range [][2]string{{"group", act.Group}, {"instance", act.InstanceID}, {"agent", act.AgentID}, {"hostname", act.Hostname}, {"mechanism", act.Mechanism}} {
		if f[1] != "" {
			fields = append(fields, zap.String(f[0], f[1]))
		}
	}
	if act.Reason != policy.ReasonNone {
		fields = append(fields, zap.Stringer("reason", act.Reason))
	}
	if act.Kind == ActionScaleUp {
		fields = append(fields, zap.Int("desired", act.Desired))
	}
	if len(act.Calls) > 0 {
		fields = append(fields, zap.Strings("calls", act.Calls))
	}
	switch {
	case act.Result == ResultFailed:
		a.log.Warn("action failed", append(fields, zap.String("error", act.Error))...)
	case act.Result == ResultDone:
		a.log.Info("action done", fields...)
	case act.Kind == ActionProtect:
		a.log.Debug("action not taken", fields...) // a dry run would repeat it every reconcile
	default:
		a.log.Info("action not taken", fields...)
	}
	return act
}

// call makes one changing call of an action, noting it.
func (a *actuator) call(act *Action, name string, fn func(context.Context) error) error {
	act.Calls = append(act.Calls, name)
	if err := fn(a.ctx); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// cloudCall is call for the calls that change the cloud.
func (a *actuator) cloudCall(act *Action, name string, fn func(context.Context) error) error {
	a.cloudChanged = true
	return a.call(act, name, fn)
}

func drainAction(kind ActionKind, dd policy.DrainDecision) Action {
	d := dd.Drain
	return Action{Kind: kind, Reason: dd.Reason, Group: d.Group, InstanceID: d.InstanceID, AgentID: d.AgentID, Hostname: d.Hostname}
}

// agentOf returns a drain's agent, or nil when it left Mesos. An agent at the drain's IP with another
// id is a new agent on a reused address, not the drain's.
func (a *actuator) agentOf(d policy.Drain) *policy.Agent {
	ag := a.agentAt[d.IP]
	if ag == nil || d.AgentID != "" && ag.ID != d.AgentID {
		return nil
	}
	return ag
}

// drainedByAgentCall reports whether DRAIN_AGENT (or someone's DEACTIVATE_AGENT) is in force on ag.
func drainedByAgentCall(ag *policy.Agent) bool { return ag.Deactivated || ag.Drain != "" }

// abort gives a draining agent back: the Mesos side is undone first and the mark cleared last, so that
// a failure leaves a drain that the next plan takes up again rather than an agent nobody reactivates.
// A DRAIN_AGENT drain cannot be undone while the master is still killing its tasks: the mark stays,
// and the next plan decides again once it is DRAINED.
func (a *actuator) abort(dd policy.DrainDecision) {
	d := dd.Drain
	act := a.do(drainAction(ActionDrainAbort, dd), func(act *Action) error {
		if m, ok := a.machines[d.IP]; ok {
			act.Mechanism = mechMaintenance
			if m.Mode == policy.MaintenanceDown {
				return errors.New("the machine is already down")
			}
			if err := a.call(act, "update_maintenance_schedule", func(ctx context.Context) error {
				return a.unschedule(ctx, m.Machine)
			}); err != nil {
				return err
			}
		}
		if ag := a.agentOf(d); ag != nil && drainedByAgentCall(ag) {
			act.Mechanism = mechDrainAgent
			if err := a.call(act, "reactivate_agent", func(ctx context.Context) error {
				return a.l.mesos.ReactivateAgent(ctx, ag.ID)
			}); err != nil {
				return err
			}
		}
		return a.unmark(act, d.InstanceID)
	})
	if act.Result == ResultDone {
		a.l.metrics.drainsAborted.WithLabelValues(a.pp.Name, dd.Reason.String()).Inc()
		a.l.metrics.drainDuration.WithLabelValues(a.pp.Name, "aborted").Observe(a.l.now().Sub(d.Started).Seconds())
	}
}

// unmark clears an instance's drain mark; an instance that is gone has none left to clear.
func (a *actuator) unmark(act *Action, instanceID string) error {
	err := a.cloudCall(act, "delete_instance_tags", func(ctx context.Context) error {
		return a.l.cloud.DeleteInstanceTags(ctx, instanceID, DrainTagKeys())
	})
	if errors.Is(err, cloud.ErrNotFound) {
		return nil
	}
	return err
}

// cleanup finishes a drain whose instance is gone: its machine leaves the maintenance schedule (a DOWN
// machine through STOP_MAINTENANCE, which Mesos requires) and an agent left behind is marked gone.
// This is also how the leftovers of an autoscaler stopped after a termination are cleaned.
func (a *actuator) cleanup(dd policy.DrainDecision) {
	d := dd.Drain
	m, scheduled := a.machines[d.IP]
	var ag *policy.Agent
	if d.AgentID != "" {
		ag = a.agents[d.AgentID]
	}
	if _, reused := a.agentAt[d.IP]; scheduled && reused && (ag == nil || a.agentAt[d.IP] != ag) {
		scheduled = false // the address belongs to a new agent now: its maintenance is not ours
	}
	if !scheduled && ag == nil {
		return
	}
	a.do(drainAction(ActionDrainCleanup, dd), func(act *Action) error {
		if scheduled {
			act.Mechanism = mechMaintenance
			var err error
			if m.Mode == policy.MaintenanceDown {
				err = a.call(act, "stop_maintenance", func(ctx context.Context) error {
					return a.l.mesos.StopMaintenance(ctx, []Machine{m.Machine})
				})
			} else {
				err = a.call(act, "update_maintenance_schedule", func(ctx context.Context) error {
					return a.unschedule(ctx, m.Machine)
				})
			}
			if err != nil {
				return err
			}
		}
		if ag != nil {
			return a.call(act, "mark_agent_gone", func(ctx context.Context) error { return a.l.mesos.MarkAgentGone(ctx, ag.ID) })
		}
		return nil
	})
}

// terminateDrain ends a drain: the agent leaves Mesos first, so that nothing is placed on it while
// its instance goes; the mark says "terminating" (a restart then waits for the instance to go
// rather than draining again); then the instance is terminated, lowering desired capacity when the
// plan says so. The schedule is cleaned once the instance is gone (cleanup). It reports false when
// the termination did not happen (unconfirmed or failed); a dry run counts as done.
func (a *actuator) terminateDrain(dd policy.DrainDecision) bool {
	d := dd.Drain
	act := drainAction(ActionDrainTerminate, dd)
	act.Decrement = dd.DecrementDesired
	if a.unconfirmed[d.InstanceID] {
		act.Result = ResultUnconfirmed
		a.record(act)
		a.notDecremented(d.Group, dd.DecrementDesired)
		return false
	}
	act = a.do(act, func(act *Action) error {
		if err := a.bringDown(act, d); err != nil {
			return err
		}
		if err := a.cloudCall(act, "set_instance_tags", func(ctx context.Context) error {
			return a.l.cloud.SetInstanceTags(ctx, d.InstanceID, drainTags(policy.DrainPhaseTerminating, d))
		}); err != nil {
			return err
		}
		return a.terminate(act, d.InstanceID, dd.DecrementDesired)
	})
	if act.Result == ResultDryRun {
		return true
	}
	if act.Result != ResultDone {
		a.notDecremented(d.Group, dd.DecrementDesired)
		return false
	}
	a.l.metrics.scaleDowns.WithLabelValues(a.pp.Name, dd.Reason.String()).Inc()
	a.l.metrics.drainDuration.WithLabelValues(a.pp.Name, "terminated").Observe(a.l.now().Sub(d.Started).Seconds())
	return true
}

// bringDown takes a drain's agent out of Mesos: START_MAINTENANCE for a machine in the schedule,
// MARK_AGENT_GONE after DRAIN_AGENT. A drain whose Mesos side never got in place is taken out the
// way a new drain would be.
func (a *actuator) bringDown(act *Action, d policy.Drain) error {
	if m, ok := a.machines[d.IP]; ok {
		act.Mechanism = mechMaintenance
		if m.Mode == policy.MaintenanceDown {
			return nil
		}
		return a.call(act, "start_maintenance", func(ctx context.Context) error {
			return a.l.mesos.StartMaintenance(ctx, []Machine{m.Machine})
		})
	}
	ag := a.agentOf(d)
	if ag == nil {
		return nil // the agent left Mesos already
	}
	act.Mechanism = mechDrainAgent
	if !drainedByAgentCall(ag) {
		act.Mechanism = a.mechanismFor(ag, d)
	}
	if act.Mechanism == mechDrainAgent {
		return a.call(act, "mark_agent_gone", func(ctx context.Context) error { return a.l.mesos.MarkAgentGone(ctx, ag.ID) })
	}
	m := Machine{Hostname: ag.Hostname, IP: ag.IP}
	if err := a.call(act, "update_maintenance_schedule", func(ctx context.Context) error {
		return a.schedule(ctx, []Machine{m}, d)
	}); err != nil {
		return err
	}
	return a.call(act, "start_maintenance", func(ctx context.Context) error {
		return a.l.mesos.StartMaintenance(ctx, []Machine{m})
	})
}

// terminate terminates an instance; one that is gone already is as good as terminated.
func (a *actuator) terminate(act *Action, instanceID string, decrement bool) error {
	err := a.cloudCall(act, "terminate_instance", func(ctx context.Context) error {
		_, err := a.l.cloud.TerminateInstance(ctx, instanceID, decrement)
		return err
	})
	if errors.Is(err, cloud.ErrNotFound) {
		return nil
	}
	return err
}

func (a *actuator) notDecremented(group string, decrement bool) {
	if decrement {
		a.undecremented[group]++
	}
}

// terminateInstance terminates an instance that never joined Mesos.
func (a *actuator) terminateInstance(in policy.InstanceDecision) {
	act := Action{Kind: ActionTerminateInstance, Reason: in.Reason, Group: in.Group, InstanceID: in.ID, Decrement: in.DecrementDesired}
	if a.unconfirmed[in.ID] {
		act.Result = ResultUnconfirmed
		a.record(act)
		a.notDecremented(in.Group, in.DecrementDesired)
		return
	}
	act = a.do(act, func(act *Action) error { return a.terminate(act, in.ID, in.DecrementDesired) })
	if act.Result != ResultDone {
		a.notDecremented(in.Group, in.DecrementDesired)
		return
	}
	a.l.metrics.scaleDowns.WithLabelValues(a.pp.Name, in.Reason.String()).Inc()
}

// scaleUp sets a group's desired capacity to the plan's, plus the decrements that did not happen.
func (a *actuator) scaleUp(g policy.GroupDecision) {
	desired := min(max(g.NewDesired+a.undecremented[g.Name], g.Min), g.Max)
	act := a.do(Action{Kind: ActionScaleUp, Reason: g.Reason, Group: g.Name, Desired: desired}, func(act *Action) error {
		return a.cloudCall(act, "set_desired_capacity", func(ctx context.Context) error {
			return a.l.cloud.SetDesiredCapacity(ctx, g.Name, desired)
		})
	})
	if act.Result == ResultDone {
		a.l.metrics.scaleUps.WithLabelValues(a.pp.Name, g.Reason.String()).Add(float64(g.Add))
	}
}

// startDrains starts the plan's new drains. Each instance is marked first and protected from
// scale-in, then its agent is drained: a restart that finds a mark without a Mesos drain resumes it,
// while a Mesos drain without a mark would be nobody's. Drains through the maintenance schedule share
// one read-modify-write of it. A drain that cannot start is rolled back (its mark cleared).
func (a *actuator) startDrains(starts []policy.DrainDecision) {
	type pending struct {
		act Action
		d   policy.Drain
		m   Machine
	}
	var batch []pending
	for _, dd := range starts {
		d := dd.Drain
		act := drainAction(ActionDrainStart, dd)
		if a.l.dryRun {
			act.Result = ResultDryRun
			a.record(act)
			continue
		}
		ag := a.agents[d.AgentID]
		var err error
		if ag == nil {
			err = errors.New("the agent left Mesos")
		} else {
			act.Mechanism = a.mechanismFor(ag, d)
			err = a.mark(&act, d)
		}
		if err == nil && act.Mechanism == mechDrainAgent {
			err = a.call(&act, "drain_agent", func(ctx context.Context) error { return a.l.mesos.DrainAgent(ctx, ag.ID) })
		}
		if err == nil && act.Mechanism == mechMaintenance {
			batch = append(batch, pending{act, d, Machine{Hostname: ag.Hostname, IP: ag.IP}})
			continue
		}
		a.started(act, d, err)
	}
	if len(batch) == 0 {
		return
	}
	machines := make([]Machine, len(batch))
	for i, p := range batch {
		machines[i] = p.m
	}
	err := a.schedule(a.ctx, machines, batch[0].d)
	if err != nil {
		err = fmt.Errorf("update_maintenance_schedule: %w", err)
	}
	for _, p := range batch {
		p.act.Calls = append(p.act.Calls, "update_maintenance_schedule")
		a.started(p.act, p.d, err)
	}
}

// holdDrains records the plan's new drains as not started, because terminations of the same plan did
// not happen: their drains still count against max_draining. Nothing is called; the state forgets
// the starts (settle), so the next plan decides them again.
func (a *actuator) holdDrains(starts []policy.DrainDecision, notTerminated []string) {
	for _, dd := range starts {
		act := drainAction(ActionDrainStart, dd)
		act.Result = ResultUnconfirmed
		act.Error = "not started: the termination of " + strings.Join(notTerminated, ", ") +
			" did not happen and its drain still counts against max_draining"
		a.record(act)
	}
}

// mark writes an instance's drain mark and protects it from scale-in.
func (a *actuator) mark(act *Action, d policy.Drain) error {
	if err := a.cloudCall(act, "set_instance_tags", func(ctx context.Context) error {
		return a.l.cloud.SetInstanceTags(ctx, d.InstanceID, drainTags(policy.DrainPhaseDraining, d))
	}); err != nil {
		return err
	}
	if a.instances[d.InstanceID].ProtectedFromScaleIn {
		return nil
	}
	return a.cloudCall(act, "set_instance_protection", func(ctx context.Context) error {
		return a.l.cloud.SetInstanceProtection(ctx, d.Group, []string{d.InstanceID}, true)
	})
}

// started records a drain start, rolling it back when it failed.
func (a *actuator) started(act Action, d policy.Drain, err error) {
	if err != nil {
		act.Result, act.Error = ResultFailed, err.Error()
		if len(act.Calls) > 0 {
			if uerr := a.unmark(&act, d.InstanceID); uerr != nil {
				// The mark stays: the next plan adopts the drain and resumes it, which is safe too.
				act.Error += "; rollback: " + uerr.Error()
			}
		}
	} else {
		act.Result = ResultDone
		a.l.metrics.drainsStarted.WithLabelValues(a.pp.Name, act.Reason.String()).Inc()
	}
	a.record(act)
}

// resume puts back what a drain in progress lacks: its mark, or its Mesos drain.
func (a *actuator) resume(dd policy.DrainDecision) {
	d := dd.Drain
	ag := a.agentOf(d)
	if ag == nil {
		return
	}
	_, scheduled := a.machines[d.IP]
	inMesos := scheduled || drainedByAgentCall(ag)
	marked := a.instances[d.InstanceID].Tags[TagDrain] != ""
	if inMesos && marked {
		return
	}
	a.do(drainAction(ActionDrainResume, dd), func(act *Action) error {
		if !marked {
			if err := a.mark(act, d); err != nil {
				return err
			}
		}
		if inMesos {
			return nil
		}
		act.Mechanism = a.mechanismFor(ag, d)
		if act.Mechanism == mechDrainAgent {
			return a.call(act, "drain_agent", func(ctx context.Context) error { return a.l.mesos.DrainAgent(ctx, ag.ID) })
		}
		return a.call(act, "update_maintenance_schedule", func(ctx context.Context) error {
			return a.schedule(ctx, []Machine{{Hostname: ag.Hostname, IP: ag.IP}}, d)
		})
	})
}

// protect protects every in-service instance of the pool's groups from scale-in, except those this
// plan terminates: desired capacity then never drops by AWS's choice, only by Marmot naming an
// instance (TerminateInstanceInAutoScalingGroup ignores the protection).
func (a *actuator) protect(plan *policy.PoolPlan) {
	leaving := map[string]bool{}
	for _, d := range plan.Drains {
		leaving[d.Drain.InstanceID] = d.Action == policy.DrainTerminate
	}
	for _, in := range plan.Instances {
		leaving[in.ID] = leaving[in.ID] || in.Terminate
	}
	for _, g := range a.pv.groups {
		var ids []string
		for _, in := range g.Instances {
			if !in.ProtectedFromScaleIn && in.Lifecycle == cloud.LifecycleInService && !leaving[in.ID] {
				ids = append(ids, in.ID)
			}
		}
		if len(ids) == 0 {
			continue
		}
		a.do(Action{Kind: ActionProtect, Group: g.Name, InstanceIDs: ids}, func(act *Action) error {
			return a.cloudCall(act, "set_instance_protection", func(ctx context.Context) error {
				return a.l.cloud.SetInstanceProtection(ctx, g.Name, ids, true)
			})
		})
	}
}

// mechanismFor chooses how a new drain d empties an agent: the policy's drain_mode, where auto means
// DRAIN_AGENT when the master is 1.9 or later and the agent can be drained that way, else the
// maintenance schedule, which every 1.x master has. Under auto, the agent of an instance the cloud
// reclaims goes through the maintenance schedule whatever the master: DRAIN_AGENT would kill its
// tasks at once, while DRAINING keeps them serving until the agent goes down (down_before the
// reclaim) and its replacement boots meanwhile.
func (a *actuator) mechanismFor(ag *policy.Agent, d policy.Drain) string {
	if a.pol.DrainMode == policy.DrainAuto && !d.ReclaimAt.IsZero() {
		return mechMaintenance
	}
	switch a.pol.DrainMode {
	case policy.DrainMaintenance:
		return mechMaintenance
	case policy.DrainAgent:
		return mechDrainAgent
	}
	if a.obs.mesos.CanDrain[ag.ID] && versionAtLeast(a.l.masterVersion(a.ctx), 1, 9) {
		return mechDrainAgent
	}
	return mechMaintenance
}

// masterVersion returns the leading master's version, read once per Run; "" when it cannot be read
// (the drain then goes through the maintenance schedule).
func (l *Loop) masterVersion(ctx context.Context) string {
	if l.version == "" {
		v, err := l.mesos.Version(ctx)
		if err != nil {
			l.log.Warn("cannot read the mesos version: draining through the maintenance schedule", zap.Error(err))
			return ""
		}
		l.version = v
	}
	return l.version
}

// versionAtLeast reports whether a version such as "1.10.0" is at least major.minor; an unreadable
// one is not.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.SplitN(parts[1], "-", 2)[0])
	return err1 == nil && err2 == nil && (ma > major || ma == major && mi >= minor)
}

// schedule adds machines to the maintenance schedule, read-modify-write, in one window that starts
// when the drain did and lasts its deadline. Machines already scheduled are left as they are.
func (a *actuator) schedule(ctx context.Context, machines []Machine, d policy.Drain) error {
	windows, err := a.l.mesos.MaintenanceSchedule(ctx)
	if err != nil {
		return err
	}
	in := scheduledMachines(windows)
	var add []Machine
	for _, m := range machines {
		if !in[machineKey(m)] {
			add = append(add, m)
			in[machineKey(m)] = true
		}
	}
	if len(add) == 0 {
		return nil
	}
	windows = append(windows, Window{Machines: add, Start: d.Started, Duration: a.pp.ScaleDown.DrainDeadline.D})
	return a.l.mesos.UpdateMaintenanceSchedule(ctx, windows)
}

// unschedule removes a machine from the maintenance schedule, read-modify-write, dropping windows
// left empty (Mesos refuses them).
func (a *actuator) unschedule(ctx context.Context, m Machine) error {
	windows, err := a.l.mesos.MaintenanceSchedule(ctx)
	if err != nil {
		return err
	}
	out := windows[:0:0]
	changed := false
	for _, w := range windows {
		var keep []Machine
		for _, wm := range w.Machines {
			if machineKey(wm) == machineKey(m) {
				changed = true
				continue
			}
			keep = append(keep, wm)
		}
		if len(keep) > 0 {
			w.Machines = keep
			out = append(out, w)
		}
	}
	if !changed {
		return nil
	}
	return a.l.mesos.UpdateMaintenanceSchedule(ctx, out)
}

func scheduledMachines(windows []Window) map[string]bool {
	out := map[string]bool{}
	for _, w := range windows {
		for _, m := range w.Machines {
			out[machineKey(m)] = true
		}
	}
	return out
}

// machineKey identifies a machine as Mesos does: hostname without regard to case, and IP.
func machineKey(m Machine) string { return strings.ToLower(m.Hostname) + "|" + m.IP }
