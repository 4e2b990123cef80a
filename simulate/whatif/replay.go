package whatif

import (
	"context"
	"maps"
	"strconv"
	"time"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
)

// step is the replay's resolution: the daemons reconcile more often (every event and every 30 s),
// but the scenario workload and traces move by the minute, so a plan per minute sees every change.
const step = time.Minute

// replay is one variant on its own World.
type replay struct {
	study    *study
	v        variant
	clock    *simulate.VirtualClock
	world    *simulate.World
	observer *observer
	act      *actuator
	capacity capacityDecider
	sleep    *sleeper
	pending  *pendingTimes
	ledger   *cost.Ledger
	series   seriesRecorder
	// demand is what each pool needed every minute, kept when a baseline is computed from it.
	demand     map[string][]demandPoint
	keepDemand bool
	// staticSizes are the pool sizes of the static-peak variant.
	staticSizes map[string]int
}

// demandPoint is one minute of a pool: what it used (allocated plus waiting for room), the largest
// agent shape, and the hourly price of its cheapest group.
type demandPoint struct {
	used  policy.Resources
	shape policy.Resources
	price float64
}

func newReplay(s *study, v variant, staticSizes map[string]int) (*replay, error) {
	sc := s.scenario
	clock := simulate.NewVirtualClock(sc.StartTime())
	w, err := simulate.New(sc, clock, simulate.Options{})
	if err != nil {
		return nil, err
	}
	r := &replay{study: s, v: v, clock: clock, world: w, pending: newPendingTimes(), demand: map[string][]demandPoint{}, staticSizes: staticSizes}
	var types []simulate.InstanceType
	w.View(func(view *simulate.View) { types = view.InstanceTypes() })
	r.observer = newObserver(s.candidates, s.cfg.TeamLabel, types, v.pools)
	deadline := policy.DefaultDrainDeadline
	if len(v.pools) > 0 {
		deadline = v.pools[0].ScaleDown.DrainDeadline.D
	}
	r.act = newActuator(w, v.drainMode, deadline)
	switch v.capacity {
	case capacityPlanner:
		d := newPlannerDecider(r.act, v.pools)
		d.everyMinute = s.cfg.planEveryMinute
		r.capacity = d
	case capacityStatic:
		r.capacity = &staticDecider{act: r.act, sizes: staticSizes}
	case capacitySetpoint:
		r.capacity = newSetpointDecider(r.act)
	}
	r.sleep = newSleeper(w, r.act, s.hibernationPolicy(v), v.sleep == sleepKeepAlive, sc.StartTime())
	for _, id := range sortedKeys(s.candidates) {
		r.sleep.add(id, newRequests(sc.Seed, id, s.functions[id]))
	}
	r.ledger = cost.NewLedger(cost.LedgerConfig{Prices: s.cfg.Prices, TeamLabel: s.cfg.TeamLabel, Origin: sc.StartTime()})
	return r, nil
}

// hibernationPolicy is the policy a variant's hibernator plans with: Marmot's, none, or a fixed idle
// period for every app.
func (s *study) hibernationPolicy(v variant) *policy.HibernationPolicy {
	switch v.sleep {
	case sleepNever:
		return nil
	case sleepKeepAlive:
		p := policy.DefaultHibernationPolicy()
		p.Idle.Default = policy.Dur(v.keepAlive)
		p.Idle.Minimum = policy.Dur(min(v.keepAlive, policy.DefaultMinimumIdle))
		if err := p.Validate(); err != nil {
			panic("whatif: the keep-alive policy is invalid: " + err.Error())
		}
		return p
	}
	return s.cfg.Hibernation
}

// run replays the whole duration, a minute at a time: observe, account for the minute that ended,
// apply the instance series, hibernate and wake, decide capacity, advance the clock. The cost ledger
// and the other counters take each observation on a goroutine of their own while the planners run:
// they only read it, and the next observation waits for them.
func (r *replay) run(ctx context.Context) error {
	minutes := int(r.study.cfg.Duration / step)
	series := r.study.cfg.Instances
	next := 0
	measured := make(chan struct{}, 1)
	measured <- struct{}{}
	for m := 0; ; m++ {
		if err := ctx.Err(); err != nil {
			<-measured
			return err
		}
		var obs *observation
		<-measured
		r.world.View(func(v *simulate.View) { obs = r.observer.observe(v, r.study.cfg.Prices) })
		r.sleep.account(obs)
		asleep := r.sleep.asleep()
		go func() {
			r.measure(obs, asleep)
			measured <- struct{}{}
		}()
		if m == minutes {
			<-measured
			return nil
		}
		for ; next < len(series) && series[next].Minute <= m; next++ {
			r.setInstances(series[next], obs)
		}
		r.sleep.plan(obs)
		r.sleep.arrive(obs, m)
		if r.capacity != nil {
			r.capacity.decide(obs)
		}
		r.clock.Advance(step)
	}
}

// measure feeds one observation to the ledger and the counters. It reads obs only.
func (r *replay) measure(obs *observation, asleep int) {
	costBefore := r.ledger.Cost()
	r.ledger.Observe(obs.cost)
	r.pending.observe(obs)
	var agents, capacity, demand, waiting float64
	for _, name := range sortedKeys(obs.pools) {
		po := obs.pools[name]
		agents += float64(po.agents)
		capacity += po.offered.CPUs
		demand += po.used.CPUs
		if r.keepDemand {
			r.demand[name] = append(r.demand[name], demandPoint{used: po.used, shape: po.shape, price: po.price})
		}
	}
	for _, n := range obs.waiting {
		waiting += float64(n)
	}
	costPerHour := 0.0
	if len(r.series.rows) > 0 {
		costPerHour = (r.ledger.Cost() - costBefore) / step.Hours()
	}
	r.series.add([7]float64{agents, float64(len(obs.cost.Instances)), capacity, demand, costPerHour, waiting, float64(asleep)})
}

// setInstances applies one point of the instance series, as an operator's forced scale. A sleeping
// app keeps sleeping: the count becomes the one its wake restores.
func (r *replay) setInstances(p InstancePoint, obs *observation) {
	if a := r.sleep.apps[p.App]; a != nil && a.asleep {
		labels := maps.Clone(obs.apps[p.App].labels)
		labels[policy.LabelHibernatedInstances] = strconv.Itoa(p.Instances)
		_, _, err := r.world.UpdateApp(p.App, simulate.AppUpdate{Labels: &labels}, true)
		r.act.note("instance series PUT /v2/apps", err)
		obs.apps[p.App].labels = labels
		return
	}
	n := p.Instances
	_, _, err := r.world.UpdateApp(p.App, simulate.AppUpdate{Instances: &n}, true)
	r.act.note("instance series PUT /v2/apps", err)
	if ao := obs.apps[p.App]; ao != nil {
		ao.instances = n
	}
}
