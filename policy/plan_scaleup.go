package policy

import (
	"cmp"
	"math"
	"slices"
)

// capacity is the pool as scale-up sees it: the free space of every agent that takes tasks, of every
// instance on its way, and of the agents this plan adds, with what is used and what is offered.
type capacity struct {
	bins     *binTree
	newFrom  int    // bins from here on are agents added by this plan
	wasEmpty []bool // by bin: empty before this plan placed anything
	touched  []bool // by bin: received waiting instances in this plan
	used     Resources
	total    Resources
	empties  int // bins with nothing on them
	agents   int // agents of the pool, coming ones included, against min_agents and max_agents
}

// scaleUp decides how many agents each group adds: first for the waiting instances that do not fit the
// free space (packed task by task, largest first), then for min_agents, target_utilization and the
// headroom; within max_step, max_agents, each group's max size and backoff, and the cooldown.
func (p *planner) scaleUp() {
	c := p.newCapacity()
	left := p.placeDemand(p.demand)
	if countOf(left) > 0 {
		for _, ai := range p.abortDrainsForDemand() {
			p.addAgentBin(ai)
		}
		left = p.placeDemand(left)
	}
	c.newFrom = c.bins.n
	p.openAgentsFor(left)
	p.growForShortfall()
	p.applyCooldown()
	p.settleGroups()
	s := &p.plan.ScaleUp
	s.Used, s.Capacity = roundResources(c.used), roundResources(c.total)
}

func (p *planner) newCapacity() *capacity {
	c := &capacity{bins: newBinTree(len(p.agents) + 64), newFrom: math.MaxInt}
	p.room = c
	for i := range p.agents {
		v := &p.agents[i]
		// Tasks on agents out of reach for another reason (disconnected, an operator's maintenance)
		// are left out: if they are lost, Marathon queues them again and they count as waiting.
		if (v.available || v.drain != "") && !p.reclaimedAgent(v) {
			c.used = c.used.Add(v.a.Allocated)
		}
		if v.drain == "" {
			c.agents++
		}
	}
	for _, ai := range p.availableByFullness() {
		p.addAgentBin(ai)
	}
	for gi := range p.groups {
		gv := &p.groups[gi]
		n := gv.coming()
		c.agents += n
		for range n {
			if !gv.shape.IsZero() {
				c.push(gv.shape, gv.shape, true)
			}
		}
	}
	return c
}

// push adds a bin of an agent of the given size with the given free space.
func (c *capacity) push(total, free Resources, empty bool) {
	c.wasEmpty = append(c.wasEmpty, empty)
	c.touched = append(c.touched, false)
	if empty {
		c.empties++
	}
	c.total = c.total.Add(total)
	c.bins.push(free)
}

func (p *planner) addAgentBin(ai int) {
	v := &p.agents[ai]
	p.room.push(v.a.Total, v.a.Total.Sub(v.a.Allocated), v.empty())
}

// availableByFullness returns the agents that take tasks, fullest first (ties in snapshot order):
// first fit then fills the agents that are already busy and leaves the emptiest ones free to go.
func (p *planner) availableByFullness() []int {
	if p.fullness != nil {
		return p.fullness
	}
	type key struct {
		util  float64
		agent int
	}
	keys := make([]key, 0, len(p.agents))
	for i := range p.agents {
		if p.agents[i].available {
			keys = append(keys, key{p.agents[i].util, i})
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(b.util, a.util); c != 0 {
			return c
		}
		return a.agent - b.agent
	})
	p.fullness = make([]int, len(keys))
	for i, k := range keys {
		p.fullness[i] = k.agent
	}
	return p.fullness
}

// placeDemand packs waiting instances into the bins, largest first, and returns what did not fit.
func (p *planner) placeDemand(items []demandItem) []demandItem {
	c := p.room
	sortForPacking(items, p.ref)
	var left []demandItem
	for _, it := range items {
		n := c.bins.place(it.need, it.count, p.placed)
		c.used = c.used.Add(it.need.Scale(float64(n)))
		if it.count > n {
			it.count -= n
			left = append(left, it)
		}
	}
	return left
}

// placed records that n waiting instances went into bin.
func (p *planner) placed(bin, n int) {
	c := p.room
	if c.wasEmpty[bin] && !c.touched[bin] {
		c.empties--
	}
	c.touched[bin] = true
	if bin >= c.newFrom {
		p.plan.ScaleUp.PlacedOnNewAgents += n
	} else {
		p.plan.ScaleUp.PlacedOnFreeSpace += n
	}
}

// openAgentsFor adds agents for the waiting instances that fit no free space, trying the agents it
// already added before adding another.
func (p *planner) openAgentsFor(left []demandItem) {
	c := p.room
	for _, it := range left {
		for rem := it.count; ; {
			n := c.bins.place(it.need, rem, p.placed)
			c.used = c.used.Add(it.need.Scale(float64(n)))
			if rem -= n; rem == 0 {
				break
			}
			gi, limit := p.pickGroup(it.need)
			if gi < 0 {
				p.plan.ScaleUp.Unplaced += rem
				p.limit(limit)
				break
			}
			p.addAgent(gi, it.reason)
		}
	}
}

// growForShortfall adds agents until the pool meets min_agents, target_utilization and the headroom.
func (p *planner) growForShortfall() {
	for {
		reason, need := p.shortfall()
		if reason == ReasonNone {
			return
		}
		gi, limit := p.pickGroup(need)
		if gi < 0 {
			p.limit(limit)
			return
		}
		p.addAgent(gi, reason)
	}
}

// shortfall returns why the pool needs one more agent, and in which resources (a group whose shape
// lacks them cannot help), or ReasonNone.
func (p *planner) shortfall() (Reason, Resources) {
	c := p.room
	switch {
	case c.agents < p.pol.MinAgents:
		return ScaleUpMinSize, Resources{}
	case !overTarget(c.used, c.total, p.pol.TargetUtilization).IsZero():
		return ScaleUpUtilization, overTarget(c.used, c.total, p.pol.TargetUtilization)
	case !underHeadroom(c.used, c.total, p.pol.Headroom.Resources()).IsZero():
		return ScaleUpHeadroom, underHeadroom(c.used, c.total, p.pol.Headroom.Resources())
	case c.empties < p.pol.Headroom.Agents:
		return ScaleUpHeadroom, Resources{}
	}
	return ReasonNone, Resources{}
}

// shortMark is the amount a shape must have of a resource the pool is short of: the smallest
// amount Mesos can express.
const shortMark = 0.001

// overTarget returns, per resource, shortMark where used is above target of total, else zero.
func overTarget(used, total Resources, target float64) Resources {
	return shortWhere(used, total.Scale(target))
}

// underHeadroom returns, per resource, shortMark where the free space is less than the headroom.
func underHeadroom(used, total, headroom Resources) Resources {
	return shortWhere(used.Add(headroom), total)
}

func shortWhere(want, have Resources) Resources {
	mark := func(w, h float64) float64 {
		if w > h+fitEpsilon {
			return shortMark
		}
		return 0
	}
	return Resources{mark(want.CPUs, have.CPUs), mark(want.Mem, have.Mem), mark(want.Disk, have.Disk), mark(want.GPUs, have.GPUs)}
}

// pickGroup chooses the group that grows by one agent for a task of size need: among the groups whose
// shape holds it, not backing off and below their max size, the smallest, so that growth spreads over
// the groups (and their zones). Without one, it returns -1 and the limit that held growth back.
func (p *planner) pickGroup(need Resources) (int, Reason) {
	if p.pol.MaxAgents > 0 && p.room.agents >= p.pol.MaxAgents {
		return -1, PoolAtMax
	}
	if p.plan.ScaleUp.NewAgents >= p.pol.ScaleUp.MaxStep {
		return -1, ScaleUpMaxStep
	}
	best, why := -1, NoShapeFits
	for gi := range p.groups {
		g := &p.groups[gi]
		switch {
		case g.shape.IsZero():
			why = moreTelling(why, GroupUnknownShape)
		case !g.shape.Fits(need):
		case g.backoff:
			why = moreTelling(why, GroupBackoff)
		case g.size() >= g.g.Max:
			why = moreTelling(why, GroupAtMax)
		case best < 0 || g.size() < p.groups[best].size():
			best = gi
		}
	}
	return best, why
}

// moreTelling returns the limit that explains more to an operator: a group that would fit but is
// backing off or full says more than a group whose shape is unknown or too small.
func moreTelling(a, b Reason) Reason {
	rank := func(r Reason) int {
		switch r {
		case GroupBackoff:
			return 3
		case GroupAtMax:
			return 2
		case GroupUnknownShape:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// size is the group's desired capacity after this plan.
func (g *groupView) size() int { return g.desired - g.decrements + g.add }

// addAgent grows a group by one agent for a reason, and adds the agent's space to the pool.
func (p *planner) addAgent(gi int, reason Reason) {
	g := &p.groups[gi]
	g.add++
	if g.addReason == ReasonNone {
		g.addReason = reason
	}
	s := &p.plan.ScaleUp
	s.NewAgents++
	if s.ByReason == nil {
		s.ByReason = map[Reason]int{}
	}
	s.ByReason[reason]++
	p.room.agents++
	p.room.push(g.shape, g.shape, true)
}

func (p *planner) limit(r Reason) {
	for _, l := range p.plan.ScaleUp.Limits {
		if l == r {
			return
		}
	}
	p.plan.ScaleUp.Limits = append(p.plan.ScaleUp.Limits, r)
}

// applyCooldown defers the growth when the pool grew less than scale_up.cooldown ago.
func (p *planner) applyCooldown() {
	s := &p.plan.ScaleUp
	p.scalingUp = s.NewAgents > 0
	last := p.prev.LastScaleUp
	if s.NewAgents == 0 || last.IsZero() || p.now.Sub(last) >= p.pol.ScaleUp.Cooldown.D {
		return
	}
	s.Deferred, s.NewAgents, s.ByReason = s.NewAgents, 0, nil
	p.limit(ScaleUpCooldown)
	for gi := range p.groups {
		if g := &p.groups[gi]; g.add > 0 {
			g.add, g.addReason = 0, ScaleUpCooldown
		}
	}
}

// settleGroups gives every group its reason and records the requests in the next state.
func (p *planner) settleGroups() {
	if p.plan.ScaleUp.NewAgents > 0 {
		p.next.LastScaleUp = p.now
	}
	for gi := range p.groups {
		g := &p.groups[gi]
		switch {
		case g.add > 0:
			st := p.next.Groups[g.g.Name]
			st.Requested, st.RequestedAt = g.size(), p.now
			p.next.Groups[g.g.Name] = st
		case g.addReason != ReasonNone:
		case g.backoff:
			g.addReason = GroupBackoff
		case g.shape.IsZero():
			g.addReason = GroupUnknownShape
		case g.size() >= g.g.Max:
			g.addReason = GroupAtMax
		case len(p.plan.ScaleUp.Limits) > 0:
			g.addReason = p.plan.ScaleUp.Limits[0] // the pool wants more, but a limit holds it back
		default:
			g.addReason = NoScaleUpNeeded
		}
	}
}

func countOf(items []demandItem) int {
	n := 0
	for _, it := range items {
		n += it.count
	}
	return n
}

func roundResources(r Resources) Resources {
	round := func(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
	return Resources{round(r.CPUs), round(r.Mem), round(r.Disk), round(r.GPUs)}
}
