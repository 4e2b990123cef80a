package policy

import "time"

// trackBackoff brings each group's backoff up to date: a failed launch the cloud reports backs the
// group off; an instance launched after the last failure that joined Mesos, or a quiet reset_after,
// clears the failures. A group gone from the snapshot is forgotten.
func (p *planner) trackBackoff() {
	for name := range p.next.Groups {
		if _, ok := p.groupNamed(name); !ok {
			delete(p.next.Groups, name)
		}
	}
	for gi := range p.groups {
		gv := &p.groups[gi]
		if f := gv.g.LastLaunchFailure; !f.At.IsZero() {
			p.next.LaunchFailed(gv.g.Name, f.At, p.pol.Backoff)
		}
		st := p.next.Groups[gv.g.Name]
		switch {
		case st.Failures == 0:
		case p.joinedSince(gv, st):
			st.Failures, st.BackoffUntil = 0, time.Time{} // a launch after the failure worked
		case p.now.Sub(st.LastFailure) >= p.pol.Backoff.ResetAfter.D:
			st.Failures = 0
		}
		if st != (GroupState{}) {
			p.next.Groups[gv.g.Name] = st
		}
		gv.backoff = st.BackoffUntil.After(p.now)
	}
}

// joinedSince reports whether an instance the group launched after its last failure has joined Mesos.
func (p *planner) joinedSince(gv *groupView, st GroupState) bool {
	for ii := range gv.g.Instances {
		in := &gv.g.Instances[ii]
		if in.LaunchTime.After(st.LastFailure) && p.agentOf(in) >= 0 {
			return true
		}
	}
	return false
}

// findMissing finds the live instances that have no Mesos agent: booting within boot_timeout, or
// missing past it. Instances of Marmot's drains are left to the drain.
func (p *planner) findMissing() {
	draining := map[string]bool{}
	for id := range p.next.Drains {
		draining[id] = true
	}
	for gi := range p.groups {
		gv := &p.groups[gi]
		for ii := range gv.g.Instances {
			in := &gv.g.Instances[ii]
			if !in.Lifecycle.live() {
				continue
			}
			if draining[in.ID] {
				gv.draining++
				continue
			}
			if p.agentOf(in) >= 0 {
				continue
			}
			since, ok := p.prev.MissingSince[in.ID]
			if !ok {
				since = p.now
			}
			p.next.MissingSince[in.ID] = since
			if p.now.Sub(since) < p.pol.BootTimeout.D {
				gv.booting++
				p.plan.Instances = append(p.plan.Instances, InstanceDecision{
					ID: in.ID, Group: gv.g.Name, PrivateIP: in.PrivateIP, MissingSince: since, Reason: InstanceBooting,
				})
				continue
			}
			p.missing = append(p.missing, instRef{gi, ii})
		}
	}
}

// healthGate closes when more agents are missing than ok_missing_agents and than max_missing_share of
// the agents expected: then nothing is drained or terminated, as in cluster-autoscaler's unready gate.
// Otherwise the instances missing past boot_timeout are terminated and their groups back off.
func (p *planner) healthGate() {
	missing := len(p.missing)
	for i := range p.agents {
		if p.agents[i].a.disconnected() {
			missing++
		}
	}
	expected := len(p.agents) + len(p.missing)
	h := p.pol.Health
	if missing > h.OKMissingAgents && float64(missing) > h.MaxMissingShare*float64(expected) {
		p.plan.Frozen = FrozenMissingAgents
	}
	for _, ref := range p.missing {
		gv := &p.groups[ref.group]
		in := &gv.g.Instances[ref.inst]
		since := p.next.MissingSince[in.ID]
		d := InstanceDecision{ID: in.ID, Group: gv.g.Name, PrivateIP: in.PrivateIP, MissingSince: since, Reason: InstanceNotJoined}
		if p.plan.Frozen != ReasonNone {
			d.Reason = p.plan.Frozen // kept: it is live but neither capacity nor coming
		} else {
			d.Terminate, d.DecrementDesired = true, p.canDecrement(gv)
			p.terminated(gv, d.DecrementDesired)
			// The failure happened when the boot timeout ran out, so a later plan that sees the same
			// instance again does not count it twice.
			p.next.LaunchFailed(gv.g.Name, since.Add(p.pol.BootTimeout.D), p.pol.Backoff)
			gv.backoff = p.next.Groups[gv.g.Name].BackoffUntil.After(p.now)
		}
		p.plan.Instances = append(p.plan.Instances, d)
	}
}

// canDecrement reports whether terminating one more instance of the group may lower its desired
// capacity: AWS refuses to take a group below its min size.
func (p *planner) canDecrement(gv *groupView) bool {
	return gv.desired-gv.decrements-1 >= gv.g.Min
}

// terminated records that this plan terminates one live instance of the group.
func (p *planner) terminated(gv *groupView, decrement bool) {
	gv.live--
	if decrement {
		gv.decrements++
	}
}
