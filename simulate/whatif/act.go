package whatif

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
)

// actuator carries decisions out on a World with the calls the autoscaler makes on Mesos and AWS:
// SetDesiredCapacity, drains through the maintenance schedule or DRAIN_AGENT, and termination of a
// named instance with a decrement of its group's desired capacity.
type actuator struct {
	w *simulate.World
	// maintenance is true when drains go through the maintenance schedule (the drain mode, or a Mesos
	// older than 1.9); false for DRAIN_AGENT.
	maintenance bool
	window      time.Duration // the maintenance window's length: the drain deadline
	counts      Actions
	errs        map[string]int // by call and error, for the report
}

// Actions counts what a replay asked of the cluster.
type Actions struct {
	ScaleUps     int `json:"scale_ups"`
	AgentsAdded  int `json:"agents_added"`
	DrainsStart  int `json:"drains_started"`
	DrainsAbort  int `json:"drains_aborted"`
	Terminations int `json:"terminations"`
	Hibernations int `json:"hibernations"`
	Wakes        int `json:"wakes"`
}

func newActuator(w *simulate.World, mode policy.DrainMode, deadline time.Duration) *actuator {
	maintenance := mode == policy.DrainMaintenance
	if mode == policy.DrainAuto || mode == "" {
		w.View(func(v *simulate.View) { maintenance = !simulate.VersionAtLeast(v.MesosVersion(), 1, 9) })
	}
	return &actuator{w: w, maintenance: maintenance, window: deadline, errs: map[string]int{}}
}

// note counts a failed call; the replay goes on, as the daemon's next reconcile would.
func (a *actuator) note(call string, err error) {
	if err == nil {
		return
	}
	a.errs[call+": "+errorClass(err)]++
}

// errorClass names an error without the ids in its message, so that the report counts alike errors
// together.
func errorClass(err error) string {
	var se *simulate.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	if se.Code != "" {
		return se.Code
	}
	names := map[simulate.ErrorKind]string{
		simulate.KindBadRequest: "bad request", simulate.KindNotFound: "not found", simulate.KindConflict: "conflict",
		simulate.KindLocked: "locked by a deployment", simulate.KindInvalid: "invalid", simulate.KindUnavailable: "unavailable",
		simulate.KindThrottled: "throttled", simulate.KindScalingInProgress: "scaling in progress",
	}
	if n, ok := names[se.Kind]; ok {
		return n
	}
	return fmt.Sprintf("kind %d", se.Kind)
}

// carryOut carries out a pool plan in the order PoolPlan documents: drains to abort, instances to
// terminate (drains that are done, instances that never joined) and drains to forget, groups that
// grow, drains to start.
func (a *actuator) carryOut(p *policy.PoolPlan) {
	for _, d := range p.Drains {
		if d.Action == policy.DrainAbort {
			a.abort(d.Drain)
		}
	}
	for _, d := range p.Drains {
		switch d.Action {
		case policy.DrainTerminate:
			a.terminate(d.Drain, d.DecrementDesired)
		case policy.DrainForget:
			a.forget(d.Drain)
		}
	}
	for _, in := range p.Instances {
		if in.Terminate {
			_, err := a.w.TerminateInstanceInGroup(in.ID, in.DecrementDesired)
			a.note("TerminateInstanceInAutoScalingGroup", err)
			a.counts.Terminations++
		}
	}
	for _, g := range p.Groups {
		if g.Add > 0 {
			a.setDesired(g.Name, g.NewDesired, g.Add)
		}
	}
	var starts []policy.Drain
	for _, d := range p.Drains {
		if d.Action == policy.DrainStart {
			starts = append(starts, d.Drain)
		}
	}
	a.start(starts)
}

func (a *actuator) setDesired(group string, desired, added int) {
	err := a.w.SetDesiredCapacity(group, desired, false)
	a.note("SetDesiredCapacity", err)
	if err == nil {
		a.counts.ScaleUps++
		a.counts.AgentsAdded += added
	}
}

func machine(d policy.Drain) simulate.MachineID {
	return simulate.MachineID{Hostname: d.Hostname, IP: d.IP}
}

// start begins draining agents: one schedule update for all of them, or one DRAIN_AGENT each.
func (a *actuator) start(drains []policy.Drain) {
	if len(drains) == 0 {
		return
	}
	a.counts.DrainsStart += len(drains)
	if !a.maintenance {
		for _, d := range drains {
			a.note("DRAIN_AGENT", a.w.DrainAgent(d.AgentID, nil, false))
		}
		return
	}
	var schedule []simulate.MaintenanceWindow
	a.w.View(func(v *simulate.View) { schedule = cloneSchedule(v.Schedule()) })
	win := simulate.MaintenanceWindow{Start: drains[0].Started, Duration: a.window}
	for _, d := range drains {
		win.Machines = append(win.Machines, machine(d))
	}
	a.note("UPDATE_MAINTENANCE_SCHEDULE", a.w.UpdateMaintenanceSchedule(append(schedule, win)))
}

// abort gives a drained agent back: out of the schedule, or reactivated.
func (a *actuator) abort(d policy.Drain) {
	a.counts.DrainsAbort++
	if !a.maintenance {
		a.note("REACTIVATE_AGENT", a.w.ReactivateAgent(d.AgentID))
		return
	}
	a.unschedule(machine(d))
}

// terminate brings a drained machine down (maintenance) and terminates its instance.
func (a *actuator) terminate(d policy.Drain, decrement bool) {
	if a.maintenance {
		var mode simulate.MachineMode
		a.w.View(func(v *simulate.View) { mode = v.MachineMode(machine(d)) })
		if mode == simulate.ModeDraining {
			a.note("START_MAINTENANCE", a.w.StartMaintenance([]simulate.MachineID{machine(d)}))
		}
	}
	_, err := a.w.TerminateInstanceInGroup(d.InstanceID, decrement)
	a.note("TerminateInstanceInAutoScalingGroup", err)
	a.counts.Terminations++
}

// forget cleans up after an instance that is gone: its machine leaves the schedule, or its agent is
// marked gone.
func (a *actuator) forget(d policy.Drain) {
	if !a.maintenance {
		if d.AgentID != "" {
			a.note("MARK_AGENT_GONE", a.w.MarkAgentGone(d.AgentID))
		}
		return
	}
	var mode simulate.MachineMode
	a.w.View(func(v *simulate.View) { mode = v.MachineMode(machine(d)) })
	switch mode {
	case simulate.ModeDown:
		a.note("STOP_MAINTENANCE", a.w.StopMaintenance([]simulate.MachineID{machine(d)}))
	case simulate.ModeDraining:
		a.unschedule(machine(d))
	}
}

// unschedule drops a machine from the maintenance schedule.
func (a *actuator) unschedule(m simulate.MachineID) {
	var schedule []simulate.MaintenanceWindow
	a.w.View(func(v *simulate.View) { schedule = cloneSchedule(v.Schedule()) })
	var kept []simulate.MaintenanceWindow
	for _, win := range schedule {
		win.Machines = slices.DeleteFunc(win.Machines, func(x simulate.MachineID) bool { return sameMachine(x, m) })
		if len(win.Machines) > 0 {
			kept = append(kept, win)
		}
	}
	a.note("UPDATE_MAINTENANCE_SCHEDULE", a.w.UpdateMaintenanceSchedule(kept))
}

func sameMachine(a, b simulate.MachineID) bool {
	return a.IP == b.IP && strings.EqualFold(a.Hostname, b.Hostname)
}

func cloneSchedule(in []simulate.MaintenanceWindow) []simulate.MaintenanceWindow {
	out := make([]simulate.MaintenanceWindow, len(in))
	for i, w := range in {
		out[i] = simulate.MaintenanceWindow{Machines: slices.Clone(w.Machines), Start: w.Start, Duration: w.Duration}
	}
	return out
}
