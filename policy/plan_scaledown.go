package policy

import (
	"sort"
	"time"
)

// scaleDown gives every agent its reason and starts the drains. An agent is a candidate when it is
// available, an InService instance of a group, runs no protected task, has been unneeded for
// unneeded_for and is older than min_agent_age. Candidates go empty first, then least allocated, and
// each must pass the pool's gates, the budget, the min sizes, the capacity the pool needs, and a
// simulation that its tasks fit on the other agents.
func (p *planner) scaleDown() {
	var candidates []int
	for i := range p.agents {
		v := &p.agents[i]
		v.reason = p.agentReason(v)
		if v.reason == ReasonNone {
			candidates = append(candidates, i)
		}
	}
	if gate := p.scaleDownGate(); gate != ReasonNone {
		for _, i := range candidates {
			p.agents[i].reason = gate
		}
		return
	}
	sort.Slice(candidates, func(i, j int) bool {
		a, b := &p.agents[candidates[i]], &p.agents[candidates[j]]
		if a.empty() != b.empty() {
			return a.empty()
		}
		if a.util != b.util {
			return a.util < b.util
		}
		return a.a.ID < b.a.ID
	})
	p.chooseDrains(candidates)
}

// agentReason returns why an agent is kept for reasons of its own, or ReasonNone for a candidate. It
// also keeps the agent's unneeded timer.
func (p *planner) agentReason(v *agentView) Reason {
	if v.drain != "" {
		if !p.next.Drains[v.drain].ReclaimAt.IsZero() {
			return SpotInterruption
		}
		return AgentDraining
	}
	unneeded := v.empty() || v.util < p.pol.ScaleDown.UtilizationBelow
	var since time.Time
	if unneeded && v.available {
		since = p.now
		if t, ok := p.prev.UnneededSince[v.a.ID]; ok && !p.restartTimer[v.a.ID] {
			since = t
		}
		p.next.UnneededSince[v.a.ID] = since
	}
	sd := &p.pol.ScaleDown
	switch {
	case !v.available:
		return KeptNotActive
	case v.inst == nil:
		return KeptNoInstance
	case v.inst.Lifecycle != LifecycleInService:
		return KeptNotInService
	case !unneeded:
		return KeptUtilized
	case p.protection(v) != "":
		return KeptProtected
	case p.now.Sub(since) < sd.UnneededFor.D || p.restartTimer[v.a.ID]:
		return KeptNotUnneededLongEnough
	case p.now.Sub(agentBorn(v)) < sd.MinAgentAge.D:
		return KeptTooYoung
	}
	return ReasonNone
}

// agentBorn is when the agent registered, or else when its instance launched.
func agentBorn(v *agentView) time.Time {
	if !v.a.RegisteredAt.IsZero() || v.inst == nil {
		return v.a.RegisteredAt
	}
	return v.inst.LaunchTime
}

// scaleDownGate returns why no agent of the pool may be drained now, or ReasonNone.
func (p *planner) scaleDownGate() Reason {
	sd := &p.pol.ScaleDown
	last := p.prev.LastScaleUp
	switch {
	case p.plan.Frozen != ReasonNone:
		return p.plan.Frozen
	case !sd.Enabled:
		return KeptScaleDownDisabled
	case p.plan.ScaleUp.Counted > 0 || p.plan.ScaleUp.Reclaimed > 0:
		return KeptPendingDemand
	case p.scalingUp:
		return KeptScalingUp
	case !last.IsZero() && p.now.Sub(last) < sd.DelayAfterScaleUp.D:
		return KeptCooldown
	case !sd.windowsOpen(p.now):
		return KeptOutsideWindow
	}
	return ReasonNone
}

// chooseDrains walks the candidates in order and starts the drains the limits allow.
func (p *planner) chooseDrains(candidates []int) {
	if len(candidates) == 0 {
		return
	}
	budget := p.pol.ScaleDown.MaxDraining.Of(len(p.agents)) - p.drainsInProgress()
	remaining := 0 // agents that stay in the pool; booting ones may never join, so they do not count
	for i := range p.agents {
		remaining += boolInt(p.agents[i].drain == "")
	}
	moves := p.newMoves()
	total, empties := p.availableTotal()
	for _, ai := range candidates {
		v := &p.agents[ai]
		gv := &p.groups[v.group]
		switch {
		case budget <= 0:
			v.reason = KeptBudget
		case remaining <= p.pol.MinAgents:
			v.reason = KeptMinSize
		case gv.desired-gv.decrements-gv.draining-1 < gv.g.Min:
			v.reason = KeptGroupMinSize
		case moves.received(ai):
			v.reason = KeptReceivesTasks
		case !p.enoughWithout(total.Sub(v.a.Total), empties-boolInt(v.empty())):
			v.reason = KeptCapacityNeeded
		case !moves.moveOff(ai):
			v.reason = KeptTasksDoNotFit
		default:
			reason := ScaleDownUnneeded
			if v.empty() {
				reason = ScaleDownEmpty
			}
			p.startDrain(v, reason)
			budget--
			remaining--
			total, empties = total.Sub(v.a.Total), empties-boolInt(v.empty())
		}
	}
}

// availableTotal returns what the available agents offer and how many of them are empty. Scale-down
// does not count instances still booting: they may never join.
func (p *planner) availableTotal() (Resources, int) {
	var total Resources
	empties := 0
	for i := range p.agents {
		if v := &p.agents[i]; v.available {
			total = total.Add(v.a.Total)
			empties += boolInt(v.empty())
		}
	}
	return total, empties
}

// enoughWithout reports whether the pool still meets target_utilization and its headroom with only
// total offered and empties empty agents: removing an agent the next plan would add back is churn.
func (p *planner) enoughWithout(total Resources, empties int) bool {
	used := p.room.used
	return overTarget(used, total, p.pol.TargetUtilization).IsZero() &&
		underHeadroom(used, total, p.pol.Headroom.Resources()).IsZero() &&
		empties >= p.pol.Headroom.Agents
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// moves simulates moving the tasks of drained agents onto the other available agents, first fit
// decreasing onto the fullest agents first, so that a drain is only started when Marathon can place
// every task elsewhere.
type moves struct {
	p       *planner
	bins    *binTree
	binOf   []int  // by agent index: its bin, or -1
	touched []bool // by bin: receives tasks in the simulation
}

func (p *planner) newMoves() *moves {
	order := p.availableByFullness()
	m := &moves{p: p, bins: newBinTree(len(order)), binOf: make([]int, len(p.agents)), touched: make([]bool, len(order))}
	for i := range m.binOf {
		m.binOf[i] = -1
	}
	for _, ai := range order {
		v := &p.agents[ai]
		m.binOf[ai] = m.bins.push(v.a.Total.Sub(v.a.Allocated))
	}
	return m
}

// received reports whether the simulation already moved tasks onto the agent: draining it too would
// move those tasks twice.
func (m *moves) received(ai int) bool {
	bin := m.binOf[ai]
	return bin >= 0 && m.touched[bin]
}

// moveOff places the agent's tasks elsewhere and takes the agent out of the simulation; when a task
// does not fit, it undoes everything and reports false.
func (m *moves) moveOff(ai int) bool {
	self := m.binOf[ai]
	own := m.bins.free(self)
	m.bins.set(self, noRoom)
	tasks := append([]Task(nil), m.p.agents[ai].a.Tasks...)
	sort.SliceStable(tasks, func(i, j int) bool {
		return tasks[i].Resources.Share(m.p.ref) > tasks[j].Resources.Share(m.p.ref)
	})
	type undo struct {
		bin  int
		free Resources
	}
	var done []undo
	for _, t := range tasks {
		bin := m.bins.firstFit(t.Resources, 0)
		if bin < 0 {
			for i := len(done) - 1; i >= 0; i-- {
				m.bins.set(done[i].bin, done[i].free)
			}
			m.bins.set(self, own)
			return false
		}
		done = append(done, undo{bin, m.bins.free(bin)})
		m.bins.set(bin, m.bins.free(bin).Sub(t.Resources))
	}
	for _, u := range done {
		m.touched[u.bin] = true
	}
	return true
}
