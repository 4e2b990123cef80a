package whatif

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/marmot-project/marmot/policy"
)

// capacityDecider decides each minute how big each pool is, and acts on the World.
type capacityDecider interface {
	decide(obs *observation)
}

// plannerDecider is the autoscaler's reconcile on the in-memory face: a snapshot per pool, PlanPool,
// and the plan carried out. A pool is planned again only when its snapshot changed or a time the last
// plan's decisions depend on has come (a timer, a cooldown, a drain deadline): with the same snapshot
// and no such time passed, PlanPool would return the same plan.
type plannerDecider struct {
	act         *actuator
	pools       []policy.PoolPolicy
	state       map[string]*poolPlanState
	plans       PlanCounts
	everyMinute bool
}

type poolPlanState struct {
	state policy.PoolState
	hash  uint64
	next  time.Time // replan by then even if nothing changed; zero: at the next minute
}

// PlanCounts says how often the planner ran, and how often a pool was not planned again because
// nothing its plan depends on had changed.
type PlanCounts struct {
	Plans   int `json:"plans"`
	Skipped int `json:"skipped_unchanged"`
}

func newPlannerDecider(act *actuator, pools []policy.PoolPolicy) *plannerDecider {
	d := &plannerDecider{act: act, pools: pools, state: map[string]*poolPlanState{}}
	for _, pp := range pools {
		d.state[pp.Name] = &poolPlanState{}
	}
	return d
}

func (d *plannerDecider) decide(obs *observation) {
	type job struct {
		pp   *policy.PoolPolicy
		st   *poolPlanState
		hash uint64
		snap policy.PoolSnapshot
		plan policy.PoolPlan
	}
	var jobs []*job
	for i := range d.pools {
		pp := &d.pools[i]
		po, st := obs.pools[pp.Name], d.state[pp.Name]
		if po == nil {
			continue
		}
		if !d.everyMinute && po.hash == st.hash && !st.next.IsZero() && obs.at.Before(st.next) && len(pp.ScaleDown.Windows) == 0 {
			d.plans.Skipped++
			continue
		}
		snap := po.snap
		if len(pp.ASGs) > 0 {
			snap.Groups = slices.DeleteFunc(slices.Clone(snap.Groups), func(g policy.Group) bool { return !slices.Contains(pp.ASGs, g.Name) })
		}
		jobs = append(jobs, &job{pp: pp, st: st, hash: po.hash, snap: snap})
	}
	// Pools are planned one after the other. PlanPool is pure and could run in parallel, but a plan
	// takes about 100 µs: handing it to another core costs a wake-up as long, and measured on two
	// cores, a month's replay ran no faster that way.
	for _, j := range jobs {
		j.plan = policy.PlanPool(j.snap, *j.pp, j.st.state, obs.at)
	}
	for _, j := range jobs {
		d.plans.Plans++
		j.st.state, j.st.hash = j.plan.Next, j.hash
		j.st.next = time.Time{}
		if !acts(&j.plan) {
			j.st.next = replanBy(&j.plan, &j.snap, j.pp, obs.at)
		}
		d.act.carryOut(&j.plan)
	}
}

// acts reports whether carrying the plan out changes anything.
func acts(p *policy.PoolPlan) bool {
	for _, g := range p.Groups {
		if g.Add > 0 {
			return true
		}
	}
	for _, d := range p.Drains {
		if d.Action != policy.DrainWait {
			return true
		}
	}
	for _, in := range p.Instances {
		if in.Terminate {
			return true
		}
	}
	return false
}

// replanBy returns the first time after now at which the plan's decisions can change while the
// snapshot stays the same: every duration the planner compares with now, measured from the times in
// the plan's next state and the snapshot. A zero time means "never" (an unchanged pool with no timer
// running needs no new plan).
func replanBy(p *policy.PoolPlan, snap *policy.PoolSnapshot, pp *policy.PoolPolicy, now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	s := &p.Next
	for _, since := range s.UnneededSince {
		consider(since.Add(pp.ScaleDown.UnneededFor.D))
	}
	for _, since := range s.MissingSince {
		consider(since.Add(pp.BootTimeout.D))
	}
	for _, a := range snap.Agents {
		consider(a.RegisteredAt.Add(pp.ScaleDown.MinAgentAge.D))
	}
	for _, in := range p.Drains {
		consider(in.Drain.Deadline)
	}
	if !s.LastScaleUp.IsZero() {
		consider(s.LastScaleUp.Add(pp.ScaleDown.DelayAfterScaleUp.D))
		consider(s.LastScaleUp.Add(pp.ScaleUp.Cooldown.D))
	}
	for _, g := range s.Groups {
		consider(g.BackoffUntil)
		if g.Failures > 0 {
			consider(g.LastFailure.Add(pp.Backoff.ResetAfter.D))
		}
	}
	if next.IsZero() {
		return now.Add(100 * 365 * 24 * time.Hour)
	}
	return next
}

// staticDecider sets every pool to a fixed size at the start and never changes it.
type staticDecider struct {
	act   *actuator
	sizes map[string]int
	done  bool
}

func (d *staticDecider) decide(obs *observation) {
	if d.done {
		return
	}
	d.done = true
	for _, pool := range sortedKeys(d.sizes) {
		po := obs.pools[pool]
		if po == nil {
			continue
		}
		sizes := spread(po.snap.Groups, d.sizes[pool])
		for _, g := range po.snap.Groups {
			d.act.setDesired(g.Name, sizes[g.Name], 0)
		}
	}
}

// spread divides a pool size over its groups as the planner grows them: each group's min first, then
// one agent at a time to the smallest group below its max.
func spread(groups []policy.Group, total int) map[string]int {
	out := map[string]int{}
	left := total
	for _, g := range groups {
		out[g.Name] = g.Min
		left -= g.Min
	}
	for ; left > 0; left-- {
		best := ""
		for _, g := range groups {
			if out[g.Name] < g.Max && (best == "" || out[g.Name] < out[best]) {
				best = g.Name
			}
		}
		if best == "" {
			break
		}
		out[best]++
	}
	return out
}

// setpointDecider is Clusterman's autoscaler (clusterman/autoscaler/autoscaler.py): every period it
// sizes each pool so that its most allocated resource sits at the setpoint — new = agents ×
// allocated/offered ÷ setpoint — unless that is within the margin of the current target. It sees only
// what Mesos has allocated, not Marathon's queue. Agents leave through the maintenance schedule: the
// idle and least loaded first, DOWN and terminated after the drain timeout.
type setpointDecider struct {
	act     *actuator
	lastRun map[string]time.Time
	drains  map[string]setpointDrain // by instance id
}

type setpointDrain struct {
	drain      policy.Drain
	terminated bool
}

func newSetpointDecider(act *actuator) *setpointDecider {
	return &setpointDecider{act: act, lastRun: map[string]time.Time{}, drains: map[string]setpointDrain{}}
}

func (d *setpointDecider) decide(obs *observation) {
	d.progressDrains(obs)
	for _, pool := range sortedKeys(obs.pools) {
		po := obs.pools[pool]
		if len(po.snap.Groups) == 0 {
			continue
		}
		if last, ok := d.lastRun[pool]; ok && obs.at.Sub(last) < clustermanPeriod {
			continue
		}
		d.lastRun[pool] = obs.at
		d.resize(po, obs.at)
	}
}

func (d *setpointDecider) resize(po *poolObs, now time.Time) {
	var offered, allocated policy.Resources
	fulfilled := 0
	for _, a := range po.snap.Agents {
		if a.Active && a.Maintenance == "" && a.Drain == "" {
			fulfilled++
			offered, allocated = offered.Add(a.Total), allocated.Add(a.Allocated)
		}
	}
	current, lo, hi := 0, 0, 0
	for _, g := range po.snap.Groups {
		current, lo, hi = current+g.Desired, lo+g.Min, hi+g.Max
	}
	if fulfilled == 0 {
		return // Clusterman waits for agents to join before it trusts the signal
	}
	want := int(math.Ceil(float64(fulfilled)*allocated.Share(offered)/clustermanSetpoint - 1e-9))
	if current > 0 && math.Abs(float64(want-current))/float64(current) < clustermanMargin {
		return
	}
	want = min(max(want, lo), hi)
	switch {
	case want > current:
		sizes := spread(po.snap.Groups, want)
		for _, g := range po.snap.Groups {
			if n := sizes[g.Name]; n > g.Desired {
				d.act.setDesired(g.Name, n, n-g.Desired)
			}
		}
	case want < current:
		d.prune(po, current-want, now)
	}
}

// prune starts draining n agents: empty ones first, then those with the fewest tasks, oldest
// registration first among equals, never one already draining.
func (d *setpointDecider) prune(po *poolObs, n int, now time.Time) {
	inst := map[string]string{} // IP → instance id
	for _, g := range po.snap.Groups {
		for _, in := range g.Instances {
			if in.Lifecycle == policy.LifecycleInService {
				inst[in.PrivateIP] = in.ID
			}
		}
	}
	var cands []policy.Agent
	for _, a := range po.snap.Agents {
		if _, ok := inst[a.IP]; ok && a.Active && a.Maintenance == "" && a.Drain == "" {
			cands = append(cands, a)
		}
	}
	slices.SortStableFunc(cands, func(a, b policy.Agent) int {
		return cmp.Or(cmp.Compare(len(a.Tasks), len(b.Tasks)), a.RegisteredAt.Compare(b.RegisteredAt))
	})
	var starts []policy.Drain
	for _, a := range cands[:min(n, len(cands))] {
		dr := policy.Drain{AgentID: a.ID, Hostname: a.Hostname, IP: a.IP, InstanceID: inst[a.IP], Started: now}
		d.drains[dr.InstanceID] = setpointDrain{drain: dr}
		starts = append(starts, dr)
	}
	d.act.start(starts)
}

// progressDrains terminates the instances whose drain timeout has passed (bringing their machines
// DOWN first), and takes the machines of terminated instances out of the schedule.
func (d *setpointDecider) progressDrains(obs *observation) {
	live := map[string]bool{}
	for _, po := range obs.pools {
		for _, g := range po.snap.Groups {
			for _, in := range g.Instances {
				live[in.ID] = true
			}
		}
	}
	for _, id := range sortedKeys(d.drains) {
		sd := d.drains[id]
		switch {
		case sd.terminated && !live[id]:
			d.act.forget(sd.drain)
			delete(d.drains, id)
		case !sd.terminated && obs.at.Sub(sd.drain.Started) >= clustermanDrainTimeout:
			d.act.terminate(sd.drain, true)
			sd.terminated = true
			d.drains[id] = sd
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
