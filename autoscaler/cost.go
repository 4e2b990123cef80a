package autoscaler

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
)

// CostConfig configures a Cost. Loop and Registry are required.
type CostConfig struct {
	Loop *Loop
	// Registry receives the marmot_cost_* series; no global registry is used.
	Registry prometheus.Registerer
	// Prices are the on-demand prices and overrides; nil means cost.NewPrices(Region, nil), the
	// built-in table of the region. Spot prices are read from the loop's cloud and added to them.
	Prices *cost.Prices
	Region string
	// TeamLabel is the app label that names the team charged; cost.DefaultTeamLabel when empty.
	TeamLabel string
	// PeakWindow is the trailing window of the static pool the autoscaling savings compare against;
	// cost.DefaultPeakWindow when zero.
	PeakWindow time.Duration
	// SpotRefresh is how often spot prices are read again (default 10 minutes); an instance of a
	// type and zone not seen before makes the next update read them at once.
	SpotRefresh time.Duration
	// MaxGap bounds the time one update integrates into the _total counters (default 5 minutes): the
	// cluster between two updates further apart than that is unknown, so it is not counted.
	MaxGap time.Duration
	// Now is the clock; nil means the loop's.
	Now func() time.Time
	Log *zap.Logger
}

// Defaults of CostConfig.
const (
	DefaultSpotRefresh = 10 * time.Minute
	DefaultCostMaxGap  = 5 * time.Minute
)

// Cost puts dollar figures on the pools the loop manages: what each costs per hour, its price per
// cpu-hour and GiB-hour, the chargeback per team and app, the idle capacity, and what autoscaling
// saves against a static pool sized for the trailing peak. Update computes them from the loop's
// latest observation of Mesos, Marathon and the cloud and exports them as marmot_cost_* series.
//
// The per-hour figures are derived from the current state only, so a restarted daemon shows the same
// values at its first update. The _total counters integrate the per-hour figures over time from the
// daemon's start: they restart from zero with the process, which Prometheus' increase() and rate()
// treat as a counter reset, so increase(...[30d]) stays right across restarts (less the time the
// daemon was down). The trailing peak is the one figure that needs history: the daemon keeps it in
// memory, and rebuilds it after a restart from the groups' scaling activities over the window (AWS
// keeps six weeks of them); a pool whose activities cannot be read starts at its current size, and
// its savings err low until the window has filled again. docs/cost.md says more.
//
// It is safe for concurrent use; updates run one at a time.
type Cost struct {
	cfg    CostConfig
	loop   *Loop
	log    *zap.Logger
	now    func() time.Time
	m      *costMetrics
	mu     sync.Mutex
	prices *cost.Prices

	spotSeen map[string]bool // type/zone pairs whose spot prices were read
	spotAt   time.Time

	peaks    map[string]*peakWindow // by pool
	lastMean map[string]float64     // by pool: mean instance price when it last had priced instances
	last     *CostFigures
	totals   CostTotals
	teams    map[string]bool
	apps     map[[2]string]bool
	pools    map[string]bool
}

// CostFigures is the cost of the pools at one moment, in USD per hour, with the totals so far.
type CostFigures struct {
	At time.Time `json:"at"`
	// PerHour is what every instance of the managed pools costs per hour (priced ones; see Unpriced).
	PerHour float64    `json:"per_hour"`
	Pools   []PoolCost `json:"pools"`
	// Teams and Apps are the chargeback: allocated resources × the pool's rate, per hour, most
	// expensive first. Idle is what nobody allocated. Teams (or Apps) plus Idle add up to PerHour.
	Teams []Charge `json:"teams"`
	Apps  []Charge `json:"apps"`
	Idle  float64  `json:"idle"`
	// SavedPerHour is what autoscaling saves per hour now, against static pools sized for their
	// trailing peak.
	SavedPerHour float64    `json:"saved_per_hour"`
	Totals       CostTotals `json:"totals"`
}

// CostTotals are the per-hour figures integrated since the Cost began (the _total counters).
type CostTotals struct {
	Cost             float64 `json:"cost"`
	SavedAutoscaling float64 `json:"saved_autoscaling"`
}

// Charge is one line of the chargeback: a team, or an app of a team, with what its tasks hold now and
// what that costs per hour.
type Charge struct {
	Name    string  `json:"name"`
	Team    string  `json:"team,omitempty"` // of an app
	PerHour float64 `json:"per_hour"`
	CPUs    float64 `json:"cpus"`
	GiB     float64 `json:"gib"`
}

// PoolCost is one pool's figures. Cost lines carry dollars per hour, not dollars.
type PoolCost struct {
	Pool      string    `json:"pool"`
	Instances int       `json:"instances"`
	Unpriced  int       `json:"unpriced"`
	PerHour   float64   `json:"per_hour"`
	Rate      cost.Rate `json:"rate"`
	Priced    bool      `json:"priced"` // Rate is known: the pool has a priced agent
	Charged   float64   `json:"charged"`
	Idle      float64   `json:"idle"`
	// Peak is the most instances the pool ran over the trailing window; SavedPerHour what the
	// instances below it save per hour, at the pool's mean instance price.
	Peak         int     `json:"peak"`
	SavedPerHour float64 `json:"saved_per_hour"`
}

// NewCost registers the marmot_cost_* series (every series of the policy's pools at zero) and returns
// a Cost that has computed nothing yet.
func NewCost(cfg CostConfig) (*Cost, error) {
	if cfg.Loop == nil || cfg.Registry == nil {
		return nil, errors.New("autoscaler: CostConfig.Loop and CostConfig.Registry are required")
	}
	if cfg.Prices == nil {
		cfg.Prices = cost.NewPrices(cfg.Region, nil)
	}
	if cfg.TeamLabel == "" {
		cfg.TeamLabel = cost.DefaultTeamLabel
	}
	if cfg.PeakWindow <= 0 {
		cfg.PeakWindow = cost.DefaultPeakWindow
	}
	if cfg.SpotRefresh <= 0 {
		cfg.SpotRefresh = DefaultSpotRefresh
	}
	if cfg.MaxGap <= 0 {
		cfg.MaxGap = DefaultCostMaxGap
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Loop.now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	m, err := newCostMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	c := &Cost{
		cfg: cfg, loop: cfg.Loop, log: cfg.Log, now: cfg.Now, m: m, prices: cfg.Prices,
		spotSeen: map[string]bool{}, peaks: map[string]*peakWindow{}, lastMean: map[string]float64{},
		teams: map[string]bool{}, apps: map[[2]string]bool{}, pools: map[string]bool{},
	}
	c.syncPools(cfg.Loop.policy())
	return c, nil
}

// Latest returns the figures of the last update; ok is false before the first.
func (c *Cost) Latest() (CostFigures, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return CostFigures{}, false
	}
	return *c.last, true
}

// Update computes the figures from the loop's latest observation and exports them. It reports false
// (and changes nothing) while the loop has no full observation yet. Call it after each reconcile.
func (c *Cost) Update(ctx context.Context) (CostFigures, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pol := c.loop.policy()
	c.syncPools(pol)
	in, ok := c.loop.costInput(pol, c.cfg.TeamLabel)
	if !ok {
		return CostFigures{}, false
	}
	now := c.now()
	c.readSpot(ctx, in, now)
	c.seedPeaks(ctx, in, now)
	f := c.figures(now, in)
	c.export(&f)
	return f, true
}

// costInput is what the cost figures are computed from: each managed pool's instances (with what
// their agents offer) and the tasks on those agents.
type costInput struct {
	pools []costPool
}

type costPool struct {
	name      string
	groups    []string
	instances []cost.Instance
	// usage holds the tasks on each instance's agent, by instance index.
	usage [][]cost.Usage
}

// costInput reads the loop's latest observation: instances from the cloud (groups' members that
// are not gone), agents and tasks from Mesos, teams from Marathon's (or the tasks') labels.
func (l *Loop) costInput(pol *policy.AutoscalerPolicy, teamLabel string) (costInput, bool) {
	l.recMu.Lock()
	defer l.recMu.Unlock()
	if !l.cache.ready(pol) {
		return costInput{}, false
	}
	obs := observation{mesos: l.cache.mesos, apps: l.cache.apps}
	agentAt := map[string]*policy.Agent{}
	for i := range obs.mesos.Agents {
		if a := &obs.mesos.Agents[i]; a.IP != "" {
			agentAt[a.IP] = a
		}
	}
	var in costInput
	for _, pp := range pol.Pools {
		cp := costPool{name: pp.Name}
		for _, g := range l.cache.groups[pp.Name].groups {
			cp.groups = append(cp.groups, g.Name)
			for _, inst := range g.Instances {
				if inst.Lifecycle == cloud.LifecycleTerminated || inst.Lifecycle == cloud.LifecycleDetached {
					continue // no longer billed to the pool
				}
				typ := inst.Type
				if typ == "" {
					typ = g.InstanceType
				}
				ci := cost.Instance{ID: inst.ID, Pool: pp.Name, Type: typ, Spot: inst.Spot, AZ: inst.Zone, Since: inst.LaunchTime}
				var usage []cost.Usage
				if a := agentAt[inst.PrivateIP]; a != nil && inst.PrivateIP != "" {
					ci.Offers = cost.Resources{CPUs: a.Total.CPUs, MemMiB: a.Total.Mem}
					for _, t := range a.Tasks {
						team := obs.labelsOf(t.AppID)[teamLabel]
						if team == "" {
							team = cost.NoTeam
						}
						usage = append(usage, cost.Usage{App: t.AppID, Team: team, Pool: pp.Name,
							Resources: cost.Resources{CPUs: t.Resources.CPUs, MemMiB: t.Resources.Mem}})
					}
				}
				cp.instances = append(cp.instances, ci)
				cp.usage = append(cp.usage, usage)
			}
		}
		in.pools = append(in.pools, cp)
	}
	return in, true
}

// readSpot reads the spot prices of the spot instances' types and zones: all of them every
// SpotRefresh, and at once when a type and zone appear that were not read yet. A failed read is
// logged; the instances then keep their last price, or on-demand (cost.PriceSpotAsOnDemand).
func (c *Cost) readSpot(ctx context.Context, in costInput, now time.Time) {
	types, zones, fresh := map[string]bool{}, map[string]bool{}, false
	for _, p := range in.pools {
		for _, inst := range p.instances {
			if !inst.Spot || inst.Type == "" {
				continue
			}
			types[inst.Type], zones[inst.AZ] = true, true
			fresh = fresh || !c.spotSeen[inst.Type+"/"+inst.AZ]
		}
	}
	if len(types) == 0 || (!fresh && now.Sub(c.spotAt) < c.cfg.SpotRefresh) {
		return
	}
	q := cloud.SpotPriceQuery{InstanceTypes: sortedKeys(types)}
	if !zones[""] {
		q.Zones = sortedKeys(zones)
	}
	points, err := c.loop.cloud.SpotPrices(ctx, q)
	if err != nil {
		c.log.Warn("cannot read spot prices: spot instances keep their last price, or on-demand", zap.Error(err))
		return
	}
	c.spotAt = now
	for _, p := range in.pools {
		for _, inst := range p.instances {
			if inst.Spot {
				c.spotSeen[inst.Type+"/"+inst.AZ] = true
			}
		}
	}
	out := make([]cost.SpotPrice, 0, len(points))
	for _, pt := range points {
		out = append(out, cost.SpotPrice{InstanceType: pt.InstanceType, AZ: pt.Zone, Price: pt.PerHour, Timestamp: pt.Time})
	}
	c.prices.AddSpot(out...)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// figures prices the input at time now, moves the trailing peaks on, and adds the time since the
// last update to the totals.
func (c *Cost) figures(now time.Time, in costInput) CostFigures {
	f := CostFigures{At: now}
	teams, apps := map[[2]string]*Charge{}, map[[2]string]*Charge{}
	for _, p := range in.pools {
		pc := PoolCost{Pool: p.name, Instances: len(p.instances)}
		priced := make([]cost.PricedInstance, len(p.instances))
		pricedCount := 0
		for i, inst := range p.instances {
			price, src := c.prices.Hourly(inst.Type, inst.Spot, inst.AZ, now)
			priced[i] = cost.PricedInstance{Instance: inst, Hourly: price, Source: src}
			if src == cost.PriceUnknown {
				pc.Unpriced++
				continue
			}
			pricedCount++
			pc.PerHour += price
		}
		pc.Rate, pc.Priced = cost.PoolRates(priced)[p.name]
		for i, usage := range p.usage {
			if !pc.Priced || priced[i].Source == cost.PriceUnknown {
				continue // an unpriced agent's tasks are not charged: its cost is not in PerHour either
			}
			for _, u := range usage {
				dollars := pc.Rate.Of(u.Resources)
				pc.Charged += dollars
				addCharge(teams, u.Team, "", u.Resources, dollars)
				addCharge(apps, u.App, u.Team, u.Resources, dollars)
			}
		}
		pc.Idle = pc.PerHour - pc.Charged
		if pricedCount > 0 {
			c.lastMean[p.name] = pc.PerHour / float64(pricedCount)
		}
		pw := c.peaks[p.name]
		if pw == nil {
			pw = &peakWindow{window: c.cfg.PeakWindow}
			c.peaks[p.name] = pw
		}
		pc.Peak = pw.add(now, len(p.instances))
		pc.SavedPerHour = float64(pc.Peak-len(p.instances)) * c.lastMean[p.name]
		f.Pools = append(f.Pools, pc)
		f.PerHour += pc.PerHour
		f.Idle += pc.Idle
		f.SavedPerHour += pc.SavedPerHour
	}
	f.Teams, f.Apps = sortCharges(teams), sortCharges(apps)
	if c.last != nil {
		if dt := now.Sub(c.last.At); dt > 0 && dt <= c.cfg.MaxGap {
			h := dt.Hours()
			c.totals.Cost += c.last.PerHour * h
			c.totals.SavedAutoscaling += c.last.SavedPerHour * h
		}
	}
	f.Totals = c.totals
	return f
}

func addCharge(m map[[2]string]*Charge, name, team string, r cost.Resources, dollars float64) {
	c := m[[2]string{name, team}]
	if c == nil {
		c = &Charge{Name: name, Team: team}
		m[[2]string{name, team}] = c
	}
	c.PerHour += dollars
	c.CPUs += r.CPUs
	c.GiB += r.GiB()
}

// sortCharges lists the lines most expensive first, ties by name and team.
func sortCharges(m map[[2]string]*Charge) []Charge {
	out := make([]Charge, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Charge) int {
		return cmp.Or(cmp.Compare(b.PerHour, a.PerHour), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Team, b.Team))
	})
	return out
}

// seedPeaks gives each pool met for the first time its trailing peak, rebuilt from its groups'
// scaling activities over the window: walking back from the current count, a launch (from its start:
// a pending instance is billed) adds one and a finished termination (from its end: a terminating
// instance is still billed) removes one. A restarted daemon then compares with the pool's real peak
// rather than its current size. When the activities cannot be read the peak starts at the current
// size, as it would without them.
func (c *Cost) seedPeaks(ctx context.Context, in costInput, now time.Time) {
	from := now.Add(-c.cfg.PeakWindow)
	for _, p := range in.pools {
		if c.peaks[p.name] != nil {
			continue
		}
		pw := &peakWindow{window: c.cfg.PeakWindow}
		c.peaks[p.name] = pw
		var changes []countChange
		for _, g := range p.groups {
			acts, err := c.loop.cloud.Activities(ctx, g, from)
			if err != nil {
				c.log.Warn("cannot read scaling activities: the trailing peak starts at the pool's current size",
					zap.String("pool", p.name), zap.String("group", g), zap.Error(err))
				changes = nil
				break
			}
			changes = append(changes, countChanges(acts)...)
		}
		pw.seed(changes, len(p.instances), from, now)
	}
}

// countChange is a change of a pool's instance count at a time.
type countChange struct {
	at    time.Time
	delta int
}

// countChanges reads the launches and terminations of scaling activities as changes of the count.
// Failed and cancelled launches launched nothing; a termination still going has not removed its
// instance from the count yet.
func countChanges(acts []cloud.Activity) []countChange {
	var out []countChange
	for _, a := range acts {
		switch {
		case a.Kind == cloud.ActivityLaunch && a.InstanceID != "" && a.Err() == nil:
			out = append(out, countChange{a.Start, +1})
		case a.Kind == cloud.ActivityTerminate && a.Status == cloud.ActivitySuccessful && !a.End.IsZero():
			out = append(out, countChange{a.End, -1})
		}
	}
	return out
}

// seed fills an empty window from the changes of the count over (from, now], given the count now.
// Times outside the window (another clock's) are brought into it; a count the history makes negative
// (activities older than the cloud keeps) is read as zero.
func (p *peakWindow) seed(changes []countChange, current int, from, now time.Time) {
	for i := range changes {
		switch at := changes[i].at; {
		case at.Before(from):
			changes[i].at = from
		case at.After(now):
			changes[i].at = now
		}
	}
	slices.SortStableFunc(changes, func(a, b countChange) int { return a.at.Compare(b.at) })
	count := current
	for _, ch := range changes {
		count -= ch.delta
	}
	p.add(from, max(count, 0))
	for _, ch := range changes {
		count += ch.delta
		p.add(ch.at, max(count, 0))
	}
}

// peakWindow is the largest instance count over a trailing window, kept as a monotonic queue (counts
// strictly decreasing from the head), so each sample is added and dropped once.
type peakWindow struct {
	window time.Duration
	q      []peakSample
}

type peakSample struct {
	at    time.Time
	count int
}

// add records count at time at and returns the peak over (at − window, at].
func (p *peakWindow) add(at time.Time, count int) int {
	for len(p.q) > 0 && p.q[len(p.q)-1].count <= count {
		p.q = p.q[:len(p.q)-1]
	}
	p.q = append(p.q, peakSample{at, count})
	cutoff := at.Add(-p.window)
	drop := 0
	for drop < len(p.q)-1 && !p.q[drop].at.After(cutoff) {
		drop++
	}
	if drop > 0 {
		p.q = append(p.q[:0], p.q[drop:]...)
	}
	return p.q[0].count
}

// costMetrics are the marmot_cost_* series of the autoscaler.
type costMetrics struct {
	poolPerHour  *prometheus.GaugeVec // pool
	cpuPrice     *prometheus.GaugeVec // pool
	memPrice     *prometheus.GaugeVec // pool
	instances    *prometheus.GaugeVec // pool, priced
	idle         *prometheus.GaugeVec // pool
	peak         *prometheus.GaugeVec // pool
	savedPerHour *prometheus.GaugeVec // pool
	team         *prometheus.GaugeVec // team
	app          *prometheus.GaugeVec // app, team
	poolTotal    *prometheus.CounterVec
	savedTotal   *prometheus.CounterVec
}

func newCostMetrics(reg prometheus.Registerer) (*costMetrics, error) {
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "marmot", Subsystem: "cost", Name: name, Help: help}, labels)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "marmot", Subsystem: "cost", Name: name, Help: help}, labels)
	}
	m := &costMetrics{
		poolPerHour:  gauge("pool_dollars_per_hour", "What the pool's instances cost per hour now (USD), agents or not; instances of unknown price are left out (see marmot_cost_instances).", "pool"),
		cpuPrice:     gauge("cpu_price_dollars_per_core_hour", "The pool's price of one cpu for an hour (USD): its agents' prices split between cpus and memory by the OpenCost ratio method (docs/cost.md).", "pool"),
		memPrice:     gauge("memory_price_dollars_per_gib_hour", "The pool's price of one GiB of memory for an hour (USD), by the same split.", "pool"),
		instances:    gauge("instances", "Instances of the pool paid for now, by whether their price is known (priced=\"false\": unknown instance type, cost missing from the figures).", "pool", "priced"),
		idle:         gauge("idle_dollars_per_hour", "What the pool's capacity that no task holds costs per hour (USD): free resources of agents plus instances that are no agent.", "pool"),
		peak:         gauge("static_peak_instances", "Most instances the pool ran over the trailing peak window: the size of the static pool the autoscaling savings compare against.", "pool"),
		savedPerHour: gauge("autoscaling_savings_dollars_per_hour", "What autoscaling saves per hour now (USD): the instances below the trailing peak × the pool's mean instance price.", "pool"),
		team:         gauge("team_dollars_per_hour", "Chargeback: what the resources the team's tasks hold cost per hour (USD), at their pool's rates. Teams plus idle add up to the pools' cost.", "team"),
		app:          gauge("app_dollars_per_hour", "Chargeback per app: what the resources the app's tasks hold cost per hour (USD).", "app", "team"),
		poolTotal:    counter("pool_dollars_total", "What the pool's instances cost since the daemon started (USD): marmot_cost_pool_dollars_per_hour integrated over time. Use increase().", "pool"),
		savedTotal:   counter("autoscaling_savings_dollars_total", "What autoscaling saved since the daemon started (USD): the savings per hour integrated over time. Use increase().", "pool"),
	}
	for _, col := range []prometheus.Collector{m.poolPerHour, m.cpuPrice, m.memPrice, m.instances, m.idle, m.peak, m.savedPerHour,
		m.team, m.app, m.poolTotal, m.savedTotal} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	m.team.WithLabelValues(cost.NoTeam)
	return m, nil
}

// syncPools starts the series of the policy's pools at zero and drops those of pools it no longer has.
func (c *Cost) syncPools(pol *policy.AutoscalerPolicy) {
	want := map[string]bool{}
	for _, pp := range pol.Pools {
		want[pp.Name] = true
		if c.pools[pp.Name] {
			continue
		}
		c.pools[pp.Name] = true
		m := c.m
		for _, v := range []*prometheus.GaugeVec{m.poolPerHour, m.cpuPrice, m.memPrice, m.idle, m.peak, m.savedPerHour} {
			v.WithLabelValues(pp.Name)
		}
		m.instances.WithLabelValues(pp.Name, "true")
		m.instances.WithLabelValues(pp.Name, "false")
		m.poolTotal.WithLabelValues(pp.Name)
		m.savedTotal.WithLabelValues(pp.Name)
	}
	for p := range c.pools {
		if !want[p] {
			delete(c.pools, p)
			delete(c.peaks, p)
			delete(c.lastMean, p)
			l := prometheus.Labels{"pool": p}
			for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
				c.m.poolPerHour, c.m.cpuPrice, c.m.memPrice, c.m.instances, c.m.idle, c.m.peak, c.m.savedPerHour, c.m.poolTotal, c.m.savedTotal,
			} {
				v.DeletePartialMatch(l)
			}
		}
	}
}

// export sets the series from f, adds the time since the last update to the counters, and keeps f.
func (c *Cost) export(f *CostFigures) {
	m := c.m
	var prev map[string]PoolCost
	var h float64
	if c.last != nil {
		if dt := f.At.Sub(c.last.At); dt > 0 && dt <= c.cfg.MaxGap {
			h = dt.Hours()
		}
		prev = map[string]PoolCost{}
		for _, p := range c.last.Pools {
			prev[p.Pool] = p
		}
	}
	for _, p := range f.Pools {
		m.poolPerHour.WithLabelValues(p.Pool).Set(p.PerHour)
		m.cpuPrice.WithLabelValues(p.Pool).Set(p.Rate.CPUHour)
		m.memPrice.WithLabelValues(p.Pool).Set(p.Rate.GiBHour)
		m.instances.WithLabelValues(p.Pool, "true").Set(float64(p.Instances - p.Unpriced))
		m.instances.WithLabelValues(p.Pool, "false").Set(float64(p.Unpriced))
		m.idle.WithLabelValues(p.Pool).Set(p.Idle)
		m.peak.WithLabelValues(p.Pool).Set(float64(p.Peak))
		m.savedPerHour.WithLabelValues(p.Pool).Set(p.SavedPerHour)
		if was, ok := prev[p.Pool]; ok && h > 0 {
			// The figures of the last update held until now.
			m.poolTotal.WithLabelValues(p.Pool).Add(was.PerHour * h)
			m.savedTotal.WithLabelValues(p.Pool).Add(was.SavedPerHour * h)
		}
	}
	teams := map[string]bool{}
	for _, t := range f.Teams {
		teams[t.Name] = true
		m.team.WithLabelValues(t.Name).Set(t.PerHour)
	}
	if !teams[cost.NoTeam] {
		m.team.WithLabelValues(cost.NoTeam).Set(0) // always there, so that absent() means no data
	}
	for t := range c.teams {
		if !teams[t] && t != cost.NoTeam {
			m.team.DeleteLabelValues(t)
		}
	}
	c.teams = teams
	apps := map[[2]string]bool{}
	for _, a := range f.Apps {
		apps[[2]string{a.Name, a.Team}] = true
		m.app.WithLabelValues(a.Name, a.Team).Set(a.PerHour)
	}
	for k := range c.apps {
		if !apps[k] {
			m.app.DeleteLabelValues(k[0], k[1])
		}
	}
	c.apps = apps
	c.last = f
}
