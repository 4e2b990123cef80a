package policy

import (
	"maps"
	"slices"
	"time"
)

// adoptDrainMarks takes over the drains that instance tags show but the state does not know (after a
// restart, the state is empty), and ties every drain to its agent.
func (p *planner) adoptDrainMarks() {
	for gi := range p.groups {
		g := p.groups[gi].g
		for ii := range g.Instances {
			in := &g.Instances[ii]
			if _, known := p.next.Drains[in.ID]; known || in.DrainMark.Phase == "" {
				continue
			}
			d := Drain{
				InstanceID: in.ID, Group: g.Name, IP: in.PrivateIP, Started: in.DrainMark.Since,
				Deadline:    in.DrainMark.Since.Add(p.pol.ScaleDown.DrainDeadline.D),
				Terminating: in.DrainMark.Phase == DrainPhaseTerminating,
			}
			if ai := p.agentOf(in); ai >= 0 {
				d.AgentID, d.Hostname = p.agents[ai].a.ID, p.agents[ai].a.Hostname
			}
			p.next.Drains[in.ID] = d
		}
	}
	for id, d := range p.next.Drains {
		if ai := p.drainAgent(d); ai >= 0 {
			p.agents[ai].drain, p.agents[ai].available = id, false
		}
	}
}

// drainAgent returns the index of a drain's agent, or -1 when it left Mesos.
func (p *planner) drainAgent(d Drain) int {
	ai, ok := p.agentByIP[d.IP]
	if !ok || d.AgentID != "" && p.agents[ai].a.ID != d.AgentID {
		return -1
	}
	return ai
}

// instance returns an instance by id with its group, or nil.
func (p *planner) instance(id string) (*Instance, *groupView) {
	ref, ok := p.instByID[id]
	if !ok {
		return nil, nil
	}
	return &p.groups[ref.group].g.Instances[ref.inst], &p.groups[ref.group]
}

// progressDrains decides the next step of every drain in progress. Before anything destructive it
// checks again that the drain is still right: a protected task, a raised min size or a closed health
// gate stop it.
func (p *planner) progressDrains() {
	for _, id := range slices.Sorted(maps.Keys(p.next.Drains)) {
		d := p.next.Drains[id]
		in, gv := p.instance(id)
		if in == nil || in.Lifecycle == LifecycleTerminated {
			delete(p.next.Drains, id)
			p.plan.Drains = append(p.plan.Drains, DrainDecision{Action: DrainForget, Reason: DrainFinished, Drain: d})
			continue
		}
		if in.Lifecycle.leaving() {
			p.plan.Drains = append(p.plan.Drains, DrainDecision{Action: DrainWait, Reason: DrainTerminating, Drain: d})
			continue
		}
		ai := p.drainAgent(d)
		action, reason := p.drainStep(d, ai, gv)
		dd := DrainDecision{Action: action, Reason: reason, Drain: d}
		switch action {
		case DrainTerminate:
			dd.DecrementDesired = p.canDecrement(gv)
			p.terminated(gv, dd.DecrementDesired)
			gv.draining--
			d.Terminating = true
			dd.Drain = d
			p.next.Drains[id] = d
		case DrainAbort:
			p.abortDrain(id, ai)
		}
		p.plan.Drains = append(p.plan.Drains, dd)
	}
}

// drainStep decides what happens to a drain whose instance is live; ai is its agent or -1.
func (p *planner) drainStep(d Drain, ai int, gv *groupView) (DrainAction, Reason) {
	var v *agentView
	if ai >= 0 {
		v = &p.agents[ai]
	}
	// A drain whose instance the cloud reclaims is never given back: the instance goes anyway.
	reclaim := !d.ReclaimAt.IsZero()
	action, reason := DrainWait, DrainWaiting
	switch {
	case v == nil || v.a.Maintenance == MaintenanceDown:
		action, reason = DrainTerminate, DrainAgentGone
	case p.protection(v) != "" && !reclaim:
		return DrainAbort, DrainAbortProtected
	case len(v.a.Tasks) == 0 || v.a.Drain == DrainStateDrained:
		action, reason = DrainTerminate, DrainComplete
	case reclaim && !p.now.Before(d.Deadline):
		action, reason = DrainTerminate, DrainReclaimDeadline
	case !p.now.Before(d.Deadline) && p.pol.ScaleDown.AtDeadline == AtDeadlineAbort:
		return DrainAbort, DrainDeadlineAbort
	case !p.now.Before(d.Deadline):
		action, reason = DrainTerminate, DrainDeadlineTerminate
	}
	switch {
	case action != DrainTerminate:
	case reclaim:
		// Interruptions come in waves that make agents go missing and close the health gate, just
		// when acting matters; at the group's min size the instance is replaced.
	case p.plan.Frozen != ReasonNone:
		return DrainWait, p.plan.Frozen
	case reason != DrainAgentGone && !p.canDecrement(gv):
		// Someone raised the group's min size since the drain started: AWS would replace the instance,
		// so the agent is worth more back in the pool.
		return DrainAbort, DrainAbortGroupMinSize
	}
	return action, reason
}

// abortDrain forgets a drain and gives its agent back to the pool for this plan; the agent must be
// unneeded for the whole unneeded_for again before it is drained again.
func (p *planner) abortDrain(id string, ai int) {
	delete(p.next.Drains, id)
	if _, gv := p.instance(id); gv != nil {
		gv.draining--
	}
	if ai < 0 {
		return
	}
	v := &p.agents[ai]
	v.drain, v.available = "", !v.a.disconnected()
	p.restartTimer[v.a.ID] = true
	p.fullness = nil
}

// abortDrainsForDemand aborts the drains still waiting for tasks to leave, because waiting instances
// need more room than the available agents have: taking an agent back is faster and cheaper than
// launching one. It returns the agents given back. An agent the cloud reclaims is not given back.
func (p *planner) abortDrainsForDemand() []int {
	var back []int
	for i := range p.plan.Drains {
		dd := &p.plan.Drains[i]
		ai := p.drainAgent(dd.Drain)
		if dd.Action != DrainWait || ai < 0 || dd.Reason != DrainWaiting || !p.next.Drains[dd.Drain.InstanceID].ReclaimAt.IsZero() {
			continue
		}
		dd.Action, dd.Reason = DrainAbort, DrainAbortDemand
		p.abortDrain(dd.Drain.InstanceID, ai)
		back = append(back, ai)
	}
	return back
}

// startDrain records a new drain of agent v, chosen for the given reason.
func (p *planner) startDrain(v *agentView, reason Reason) {
	gv := &p.groups[v.group]
	d := Drain{
		AgentID: v.a.ID, Hostname: v.a.Hostname, IP: v.a.IP, InstanceID: v.inst.ID, Group: gv.g.Name,
		Started: p.now, Deadline: p.now.Add(p.pol.ScaleDown.DrainDeadline.D),
	}
	if reason == SpotInterruption {
		p.reclaimDeadline(&d, v.inst.ReclaimAt)
	} else {
		p.next.LastScaleDown = p.now
	}
	p.next.Drains[d.InstanceID] = d
	gv.draining++
	v.drain, v.available, v.reason = d.InstanceID, false, reason
	p.fullness = nil
	p.plan.Drains = append(p.plan.Drains, DrainDecision{Action: DrainStart, Reason: reason, Drain: d})
}

// drainsInProgress counts the drains that still hold an agent out of the pool, for the budget. The
// drains of reclaimed instances are not Marmot's choice and take none of it.
func (p *planner) drainsInProgress() int {
	n := 0
	for _, d := range p.next.Drains {
		if !d.Terminating && d.ReclaimAt.IsZero() {
			n++
		}
	}
	return n
}

// hurryReclaimedDrains gives the drains in progress whose instance the cloud reclaims (a scale-down
// drain that a spot interruption overtook, or one adopted from its mark after a restart) the
// reclaim's deadline.
func (p *planner) hurryReclaimedDrains() {
	if !p.pol.SpotInterruption.Enabled {
		return
	}
	for id, d := range p.next.Drains {
		if in, _ := p.instance(id); in != nil && !in.ReclaimAt.IsZero() && d.ReclaimAt.IsZero() {
			p.reclaimDeadline(&d, in.ReclaimAt)
			p.next.Drains[id] = d
		}
	}
}

// reclaimDeadline marks d as reclaimed at at, with a deadline spot_interruption.down_before earlier
// unless it had an earlier one.
func (p *planner) reclaimDeadline(d *Drain, at time.Time) {
	d.ReclaimAt = at
	if dl := at.Add(-p.pol.SpotInterruption.DownBefore.D); d.Deadline.IsZero() || dl.Before(d.Deadline) {
		d.Deadline = dl
	}
}

// drainReclaimed drains, at once and outside every scale-down rule, each agent whose instance the cloud
// reclaims: the instance goes anyway. The tasks of those agents count as demand, and their
// allocation no longer as used (see reclaimedAgent), so that scale-up finds them room now, on new
// agents if need be, while the instance still runs, rather than after Mesos reports them lost.
func (p *planner) drainReclaimed() {
	if !p.pol.SpotInterruption.Enabled {
		return
	}
	for i := range p.agents {
		v := &p.agents[i]
		if v.inst == nil || v.inst.ReclaimAt.IsZero() || !v.inst.Lifecycle.live() {
			continue
		}
		if v.drain == "" {
			if !v.available {
				continue // disconnected, or in someone else's maintenance: nothing Marmot can drain
			}
			p.startDrain(v, SpotInterruption)
		}
		if !p.reclaimedAgent(v) {
			continue
		}
		for _, t := range v.a.Tasks {
			p.demand = append(p.demand, demandItem{app: t.AppID, need: t.Resources, count: 1, reason: ScaleUpReclaim})
			p.plan.ScaleUp.Reclaimed++
		}
	}
}

// reclaimedAgent tells whether the agent drains because the cloud reclaims its instance and its tasks
// have not been killed yet: they are demand, not capacity in use.
func (p *planner) reclaimedAgent(v *agentView) bool {
	if v.drain == "" {
		return false
	}
	d := p.next.Drains[v.drain]
	return !d.ReclaimAt.IsZero() && !d.Terminating
}
