package cost

import (
	"cmp"
	"slices"
	"time"
)

// DefaultTeamLabel is the Marathon app label that names the team an app's cost is charged to.
const DefaultTeamLabel = "marmot.team"

// NoTeam is the chargeback line of apps without a team label.
const NoTeam = "(no team)"

// DefaultPeakWindow is the trailing window over which the static pool the autoscaling savings are
// measured against is sized: a week covers the weekly rhythm of most services.
const DefaultPeakWindow = 7 * 24 * time.Hour

// State is the cluster at one moment, as far as cost is concerned: the instances paid for, the
// resources apps hold, and the apps asleep. Every Since is when that thing started (an instance's
// launch time, a task's start, the hibernated-at label); zero means "at least since the previous
// state the ledger saw".
type State struct {
	At        time.Time  `json:"at"`
	Instances []Instance `json:"instances,omitempty"`
	Usage     []Usage    `json:"usage,omitempty"`
	Sleeping  []Sleeping `json:"sleeping,omitempty"`
}

// Instance is an EC2 instance of a pool.
type Instance struct {
	ID    string    `json:"id"`
	Pool  string    `json:"pool"`
	Type  string    `json:"type"`
	Spot  bool      `json:"spot,omitempty"`
	AZ    string    `json:"az,omitempty"`
	Since time.Time `json:"since,omitzero"`
	// Offers is what the instance's Mesos agent offers; zero while the instance is not an agent
	// (booting, shutting down, never joined): its whole price is then idle.
	Offers Resources `json:"offers"`
}

// Usage is resources an app holds in a pool: one task, or all of an app's tasks in the pool.
type Usage struct {
	App string `json:"app"`
	// Team is the team charged; when empty, the team label is read from Labels.
	Team      string            `json:"team,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Pool      string            `json:"pool"`
	Resources Resources         `json:"resources"`
	Since     time.Time         `json:"since,omitzero"`
}

// Sleeping is an app the hibernator put to sleep: Freed is what its instances held (instance count
// × per-instance resources), Pool where they ran.
type Sleeping struct {
	App    string            `json:"app"`
	Labels map[string]string `json:"labels,omitempty"`
	Pool   string            `json:"pool"`
	Freed  Resources         `json:"freed"`
	Since  time.Time         `json:"since,omitzero"`
}

// LedgerConfig configures a Ledger.
type LedgerConfig struct {
	Prices *Prices
	// TeamLabel is the app label that names the team; DefaultTeamLabel when empty.
	TeamLabel string
	// PeakWindow is the trailing window of the static pool the autoscaling savings compare against;
	// DefaultPeakWindow when zero.
	PeakWindow time.Duration
	// Origin is the start of the period the ledger covers. Things that started earlier count from
	// Origin; the first state fed in counts everything alive back to its Since (or to Origin).
	Origin time.Time
}

// Ledger integrates the cost figures over the states it is fed: each state's figures hold from the
// previous state (or each thing's Since, if later) up to the state's time. It is not safe for
// concurrent use.
//
// After a restart, a new Ledger with the same Origin, fed a first State whose Since fields come from
// the cluster (launch times from the cloud, task start times from Mesos, marmot.hibernated.at from
// Marathon), recomputes every figure for what is still alive; only what ended before the restart, and
// the trailing peak (unless SeedPeak is given it), is not recomputed, so the figures err low, never
// high.
type Ledger struct {
	cfg   LedgerConfig
	last  time.Time
	fed   bool
	pools map[string]*poolAcc
	teams map[string]*Line
	apps  map[string]*Line
	idle  Line
	hib   hibernationAcc
	cost  float64
	hours hoursAcc

	unpriced map[string]bool
	// prices holds the last state's instance prices by index: an on-demand instance in the same place
	// with the same type costs the same, without a lookup.
	prices []instancePrice
	slots  []usageSlot // by usage index: where the previous state's lines went
	// poolList holds the pools sorted by name: sums run in one order, so that a replay gives the
	// same figures to the last digit every time.
	poolList []*poolAcc
}

type hoursAcc struct{ instance, agent float64 }

type poolAcc struct {
	PoolReport
	peak      trailingPeak
	lastPrice float64 // mean hourly price of the pool's instances when it last had any
	scratch   poolScratch
}

// poolScratch is what one state adds up per pool before it is integrated.
type poolScratch struct {
	count      int     // instances
	prices     float64 // their hourly prices
	registered float64 // what the agents among them cost over the span
	charged    float64 // what usage was charged over the span
	priced     bool    // Rate is this state's
	rates      rateSums
}

type instancePrice struct {
	typ   string
	price float64
	src   PriceSource
}

type hibernationAcc struct {
	Line
	byApp map[string]*Line
}

// NewLedger returns an empty ledger.
func NewLedger(cfg LedgerConfig) *Ledger {
	if cfg.TeamLabel == "" {
		cfg.TeamLabel = DefaultTeamLabel
	}
	if cfg.PeakWindow <= 0 {
		cfg.PeakWindow = DefaultPeakWindow
	}
	if cfg.Prices == nil {
		cfg.Prices = NewPrices("", nil)
	}
	return &Ledger{
		cfg: cfg, pools: map[string]*poolAcc{}, teams: map[string]*Line{}, apps: map[string]*Line{},
		hib: hibernationAcc{Line: Line{Name: "hibernation"}, byApp: map[string]*Line{}}, idle: Line{Name: "idle"},
		unpriced: map[string]bool{},
	}
}

// SeedPeak tells the ledger that a pool ran count instances at time at, before the first state: a
// restarted daemon feeds it the pool's recent sizes (from the Auto Scaling activity history, say) so
// that the trailing peak does not start from nothing. Times must increase and precede every state.
func (l *Ledger) SeedPeak(pool string, at time.Time, count int) {
	l.pool(pool).peak.add(at, count)
}

// Observe integrates one state. States must come in time order; one at or before the previous is
// ignored. A caller that feeds states every minute for a month should list usage in the same order
// each time: the ledger then finds each line where it was, without a lookup.
func (l *Ledger) Observe(s State) {
	from := l.cfg.Origin
	if l.fed {
		if !s.At.After(l.last) {
			return
		}
		from = l.last
	}
	l.fed, l.last = true, s.At
	for _, p := range l.poolList {
		p.scratch = poolScratch{}
	}
	span := hoursBetween(from, s.At)
	l.observeInstances(s, from, span)
	for i := range s.Usage {
		u := &s.Usage[i]
		h := spanSince(from, u.Since, s.At, span)
		if h <= 0 {
			continue
		}
		slot := l.slot(i, u)
		p := slot.pool
		dollars := p.Rate.Of(u.Resources) * h
		if !p.scratch.priced {
			l.unpriced["pool "+u.Pool] = true
			dollars = 0
		}
		p.scratch.charged += dollars
		p.charge(u.Resources, h)
		slot.app.add(u.Resources, h, dollars)
		slot.team.add(u.Resources, h, dollars)
	}
	for _, p := range l.poolList {
		l.idle.Cost += p.scratch.registered - p.scratch.charged
	}
	l.observeSleeping(s, from, span)
	l.observePeaks(s, span)
}

// spanSince is how long something that started at since counts in a state at time at whose span
// starts at from: the whole span unless it started later. The common case (started earlier) costs a
// comparison, not a subtraction: a month of minutes over thousands of usage lines adds up.
func spanSince(from, since, at time.Time, span float64) float64 {
	if !since.After(from) {
		return span
	}
	return hoursBetween(since, at)
}

// usageSlot is where one usage line of the previous state went: its app's and team's lines and its
// pool.
type usageSlot struct {
	app, team, pool string
	appLine         *Line
	teamLine        *Line
	poolAcc         *poolAcc
}

// slotOf is a usage's lines and pool, as found.
type slotOf struct {
	app, team *Line
	pool      *poolAcc
}

// slot returns the lines and pool of the i-th usage: the slot of the same index when it is the same
// app, team and pool as last time (string equality of the same strings costs a pointer comparison),
// else found in the maps.
func (l *Ledger) slot(i int, u *Usage) slotOf {
	team := u.Team
	if team == "" {
		team = l.team(u.Labels)
	}
	if i < len(l.slots) {
		if sl := &l.slots[i]; sl.app == u.App && sl.team == team && sl.pool == u.Pool {
			return slotOf{sl.appLine, sl.teamLine, sl.poolAcc}
		}
	}
	sl := usageSlot{app: u.App, team: team, pool: u.Pool, appLine: line(l.apps, u.App), teamLine: line(l.teams, team), poolAcc: l.pool(u.Pool)}
	switch {
	case i < len(l.slots):
		l.slots[i] = sl
	case i == len(l.slots):
		l.slots = append(l.slots, sl)
	}
	return slotOf{sl.appLine, sl.teamLine, sl.poolAcc}
}

// observeInstances adds what the instances cost and offer, and sets each pool's rate for this state.
func (l *Ledger) observeInstances(s State, from time.Time, span float64) {
	var p *poolAcc
	for i := range s.Instances {
		in := &s.Instances[i]
		price, src := l.price(i, in, s.At)
		if p == nil || p.Pool != in.Pool { // instances usually come pool by pool
			p = l.pool(in.Pool)
		}
		p.scratch.count++
		p.scratch.prices += price
		p.scratch.rates.add(price, src, in.Offers)
		h := spanSince(from, in.Since, s.At, span)
		if h <= 0 {
			continue
		}
		dollars := price * h
		l.cost += dollars
		p.Cost += dollars
		l.hours.instance += h
		p.InstanceHours += h
		if in.Offers == (Resources{}) {
			p.NotInMesos += dollars
			l.idle.Cost += dollars
			continue
		}
		l.hours.agent += h
		p.AgentHours += h
		p.CPUHours += in.Offers.CPUs * h
		p.GiBHours += in.Offers.GiB() * h
		p.scratch.registered += dollars
	}
	l.prices = l.prices[:len(s.Instances)]
	for _, p := range l.poolList {
		if r, ok := p.scratch.rates.rate(); ok {
			p.Rate, p.scratch.priced = r, true
		}
	}
}

// price returns the i-th instance's hourly price, from last state's when it is the same on-demand type.
func (l *Ledger) price(i int, in *Instance, at time.Time) (float64, PriceSource) {
	if i < len(l.prices) && !in.Spot && l.prices[i].typ == in.Type && l.prices[i].src != PriceSpot &&
		l.prices[i].src != PriceSpotOtherZone && l.prices[i].src != PriceSpotAsOnDemand {
		return l.prices[i].price, l.prices[i].src
	}
	price, src := l.cfg.Prices.Hourly(in.Type, in.Spot, in.AZ, at)
	if src == PriceUnknown {
		l.unpriced[in.Type] = true
	}
	ip := instancePrice{in.Type, price, src}
	if i < len(l.prices) {
		l.prices[i] = ip
	} else {
		l.prices = append(l.prices, ip)
	}
	return price, src
}

// observeSleeping adds what sleeping apps freed, at their pool's rate (or the cluster's average rate
// when their pool has no priced agent left: a pool the hibernation emptied is the best case).
func (l *Ledger) observeSleeping(s State, from time.Time, span float64) {
	for _, sl := range s.Sleeping {
		h := spanSince(from, sl.Since, s.At, span)
		if h <= 0 {
			continue
		}
		rate := l.averageRate()
		if p := l.pools[sl.Pool]; p != nil && p.scratch.priced {
			rate = p.Rate
		}
		dollars := rate.Of(sl.Freed) * h
		l.hib.add(sl.Freed, h, dollars)
		line(l.hib.byApp, sl.App).add(sl.Freed, h, dollars)
	}
}

// observePeaks adds, per pool, the instance-hours a static pool sized for the trailing peak would have
// run over this state's span, and what the difference to the actual count cost.
func (l *Ledger) observePeaks(s State, span float64) {
	for _, p := range l.poolList {
		n := p.scratch.count
		if n > 0 {
			p.lastPrice = p.scratch.prices / float64(n)
		}
		peak := p.peak.add(s.At, n)
		p.StaticPeakInstanceHours += float64(peak) * span
		saved := float64(peak-n) * span
		p.SavedInstanceHours += saved
		p.Saved += saved * p.lastPrice
	}
}

func (l *Ledger) pool(name string) *poolAcc {
	p := l.pools[name]
	if p == nil {
		p = &poolAcc{PoolReport: PoolReport{Pool: name}, peak: trailingPeak{window: l.cfg.PeakWindow}}
		l.pools[name] = p
		i, _ := slices.BinarySearchFunc(l.poolList, name, func(a *poolAcc, n string) int { return cmp.Compare(a.Pool, n) })
		l.poolList = slices.Insert(l.poolList, i, p)
	}
	return p
}

func (p *poolAcc) charge(r Resources, h float64) {
	p.AllocatedCPUHours += r.CPUs * h
	p.AllocatedGiBHours += r.GiB() * h
}

// line returns the named line of a chargeback, made on first use.
func line(lines map[string]*Line, name string) *Line {
	l := lines[name]
	if l == nil {
		l = &Line{Name: name}
		lines[name] = l
	}
	return l
}

func (l *Ledger) team(labels map[string]string) string {
	if t := labels[l.cfg.TeamLabel]; t != "" {
		return t
	}
	return NoTeam
}

func (line *Line) add(r Resources, h, dollars float64) {
	line.Cost += dollars
	line.CPUHours += r.CPUs * h
	line.GiBHours += r.GiB() * h
}

// averageRate is the rate over every pool's priced agents in this state.
func (l *Ledger) averageRate() Rate {
	var all rateSums
	for _, p := range l.poolList {
		r := &p.scratch.rates
		all.cpuCost, all.memCost, all.cpus, all.gib = all.cpuCost+r.cpuCost, all.memCost+r.memCost, all.cpus+r.cpus, all.gib+r.gib
	}
	rate, _ := all.rate()
	return rate
}

func hoursBetween(from, to time.Time) float64 { return to.Sub(from).Hours() }

// Report is what a ledger has integrated so far. Dollar figures are USD.
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Cost is what every instance cost, agents or not.
	Cost          float64 `json:"cost"`
	InstanceHours float64 `json:"instance_hours"`
	// AgentHours counts the hours instances were Mesos agents.
	AgentHours float64      `json:"agent_hours"`
	Pools      []PoolReport `json:"pools"`
	// Teams and Apps are the chargeback: allocated resource-hours × the pool's rate, most expensive
	// first. Idle is what nobody allocated: free capacity of agents and instances that are no agent.
	// Teams (or Apps) plus Idle add up to Cost.
	Teams []Line `json:"teams"`
	Apps  []Line `json:"apps"`
	Idle  Line   `json:"idle"`
	// Savings are what autoscaling and hibernation saved.
	Savings Savings `json:"savings"`
	// Unpriced names instance types with no known price and pools whose usage had no rate: their
	// cost is missing from the figures, not zero.
	Unpriced []string `json:"unpriced,omitempty"`
}

// Line is one line of a chargeback: what an app, a team or idle capacity held and cost.
type Line struct {
	Name     string  `json:"name"`
	Cost     float64 `json:"cost"`
	CPUHours float64 `json:"cpu_hours"`
	GiBHours float64 `json:"gib_hours"`
}

// PoolReport is what one pool offered, allocated and cost.
type PoolReport struct {
	Pool          string  `json:"pool"`
	Cost          float64 `json:"cost"`
	InstanceHours float64 `json:"instance_hours"`
	AgentHours    float64 `json:"agent_hours"`
	// CPUHours and GiBHours are what the pool's agents offered; the Allocated ones what tasks held.
	CPUHours          float64 `json:"cpu_hours"`
	GiBHours          float64 `json:"gib_hours"`
	AllocatedCPUHours float64 `json:"allocated_cpu_hours"`
	AllocatedGiBHours float64 `json:"allocated_gib_hours"`
	// NotInMesos is what instances that were no agent cost (booting, shutting down, never joined).
	NotInMesos float64 `json:"not_in_mesos"`
	// Rate is the pool's price per cpu-hour and GiB-hour at the last state.
	Rate Rate `json:"rate"`
	// StaticPeakInstanceHours is what a static pool sized for the trailing peak would have run;
	// SavedInstanceHours the difference to what ran, Saved its price.
	StaticPeakInstanceHours float64 `json:"static_peak_instance_hours"`
	SavedInstanceHours      float64 `json:"saved_instance_hours"`
	Saved                   float64 `json:"saved"`
}

// Savings are the figures of what Marmot saved.
type Savings struct {
	// Autoscaling is the sum of the pools' Saved; AutoscalingInstanceHours of their SavedInstanceHours.
	Autoscaling              float64 `json:"autoscaling"`
	AutoscalingInstanceHours float64 `json:"autoscaling_instance_hours"`
	// Hibernation is what the resources sleeping apps freed would have cost at their pool's rate.
	Hibernation Line `json:"hibernation"`
	// HibernationByApp breaks Hibernation down by app, most first.
	HibernationByApp []Line `json:"hibernation_by_app,omitempty"`
}

// Cost returns what every instance cost so far (Report's Cost), without building a report.
func (l *Ledger) Cost() float64 { return l.cost }

// Report returns the figures so far.
func (l *Ledger) Report() Report {
	r := Report{From: l.cfg.Origin, To: l.last, Cost: l.cost, InstanceHours: l.hours.instance, AgentHours: l.hours.agent, Idle: l.idle}
	for _, p := range l.poolList {
		r.Pools = append(r.Pools, p.PoolReport)
		r.Idle.CPUHours += p.CPUHours - p.AllocatedCPUHours
		r.Idle.GiBHours += p.GiBHours - p.AllocatedGiBHours
		r.Savings.Autoscaling += p.Saved
		r.Savings.AutoscalingInstanceHours += p.SavedInstanceHours
	}
	r.Teams, r.Apps = sortedLines(l.teams), sortedLines(l.apps)
	r.Savings.Hibernation = l.hib.Line
	r.Savings.HibernationByApp = sortedLines(l.hib.byApp)
	for name := range l.unpriced {
		r.Unpriced = append(r.Unpriced, name)
	}
	slices.Sort(r.Unpriced)
	return r
}

// sortedLines lists the lines most expensive first, ties by name, so reports are stable.
func sortedLines(m map[string]*Line) []Line {
	if len(m) == 0 {
		return nil // as JSON gives it back
	}
	out := make([]Line, 0, len(m))
	for _, line := range m {
		out = append(out, *line)
	}
	slices.SortFunc(out, func(a, b Line) int {
		return cmp.Or(cmp.Compare(b.Cost, a.Cost), cmp.Compare(a.Name, b.Name))
	})
	return out
}
