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

// run replays the whole duration, a minute at a time: observe, measure the minute that ended, apply
// the instance series, hibernate and wake, decide capacity, advance the clock.
//
// The cost ledger works on copies of the minutes' cost states, on a goroutine of its own, a batch of
// minutes at a time: it is a tenth of a month's replay, and a batch costs one hand-off where a minute
// would cost a wake-up as long as the work (which is also why the pools' plans, about 100 µs each,
// run one after the other).
func (r *replay) run(ctx context.Context) error {
	minutes := int(r.study.cfg.Duration / step)
	series := r.study.cfg.Instances
	next := 0
	costs := newCostStream(r)
	defer costs.close()
	for m := 0; ; m++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var obs *observation
		r.world.View(func(v *simulate.View) { obs = r.observer.observe(v, r.study.cfg.Prices) })
		r.sleep.account(obs)
		r.pending.observe(obs)
		costs.add(obs, r.sleep.asleep())
		if m == minutes {
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

// costStream feeds the ledger, the series and the demand record from copies of the observations, in
// batches, on one goroutine that close waits for. Two batches take turns: one filled while the other
// is measured.
type costStream struct {
	r     *replay
	batch *costBatch
	work  chan *costBatch
	free  chan *costBatch
	done  chan struct{}
}

// costBatch is a run of minutes; its slices are kept from one use to the next.
type costBatch struct {
	minutes []costMinute
	n       int
}

// costMinute is what the ledger and the series need of one observation.
type costMinute struct {
	state   cost.State
	pools   []poolMinute
	waiting int
	asleep  int
}

type poolMinute struct {
	name    string
	agents  int
	offered policy.Resources
	point   demandPoint
}

const costBatchMinutes = 30

func newCostStream(r *replay) *costStream {
	s := &costStream{r: r, work: make(chan *costBatch, 1), free: make(chan *costBatch, 1), done: make(chan struct{})}
	s.free <- &costBatch{minutes: make([]costMinute, costBatchMinutes)}
	s.batch = &costBatch{minutes: make([]costMinute, costBatchMinutes)}
	go s.loop()
	return s
}

// add copies what the ledger needs of an observation (whose slices are the observer's buffers,
// rewritten next minute), and hands a full batch over.
func (s *costStream) add(obs *observation, asleep int) {
	c := &s.batch.minutes[s.batch.n]
	s.batch.n++
	c.state.At = obs.at
	c.state.Instances = append(c.state.Instances[:0], obs.cost.Instances...)
	c.state.Usage = append(c.state.Usage[:0], obs.cost.Usage...)
	c.state.Sleeping = append(c.state.Sleeping[:0], obs.cost.Sleeping...)
	c.pools = c.pools[:0]
	for _, name := range sortedKeys(obs.pools) {
		po := obs.pools[name]
		c.pools = append(c.pools, poolMinute{name: name, agents: po.agents, offered: po.offered,
			point: demandPoint{used: po.used, shape: po.shape, price: po.price}})
	}
	c.waiting = 0
	for _, n := range obs.waiting {
		c.waiting += n
	}
	c.asleep = asleep
	if s.batch.n == len(s.batch.minutes) {
		s.flush()
	}
}

func (s *costStream) flush() {
	s.work <- s.batch
	s.batch = <-s.free
	s.batch.n = 0
}

// close measures what is left and waits for the ledger to be done.
func (s *costStream) close() {
	if s.batch.n > 0 {
		s.flush()
	}
	close(s.work)
	<-s.done
}

func (s *costStream) loop() {
	defer close(s.done)
	for b := range s.work {
		for i := range b.minutes[:b.n] {
			s.r.measure(&b.minutes[i])
		}
		s.free <- b
	}
}

// measure feeds one minute to the ledger, the series and, when a baseline needs it, the demand
// record.
func (r *replay) measure(c *costMinute) {
	costBefore := r.ledger.Cost()
	r.ledger.Observe(c.state)
	var agents, capacity, demand float64
	for _, p := range c.pools {
		agents += float64(p.agents)
		capacity += p.offered.CPUs
		demand += p.point.used.CPUs
		if r.keepDemand {
			r.demand[p.name] = append(r.demand[p.name], p.point)
		}
	}
	costPerHour := 0.0
	if len(r.series.rows) > 0 {
		costPerHour = (r.ledger.Cost() - costBefore) / step.Hours()
	}
	r.series.add([7]float64{agents, float64(len(c.state.Instances)), capacity, demand, costPerHour, float64(c.waiting), float64(c.asleep)})
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
