package hibernator

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
)

// DefaultCostRate is the price the hibernator puts on the resources sleeping apps free when it is
// given none: cost.BaseRate, the marginal rates of AWS's m5 and r5 families in us-east-1 on demand
// (docs/cost.md). The hibernator does not see the cloud: CostConfig.Rate takes another region's
// (cost.RegionRate) or the pool's real rate, the autoscaler's
// marmot_cost_cpu_price_dollars_per_core_hour and marmot_cost_memory_price_dollars_per_gib_hour
// (cmd/hibernator's --cost-region, --cost-cpu-price and --cost-memory-price).
var DefaultCostRate = cost.BaseRate

// CostConfig configures a Cost.
type CostConfig struct {
	// Registry receives the marmot_cost_hibernation_* series; nil: not registered.
	Registry prometheus.Registerer
	// Rate prices what sleeping apps free; the zero Rate means DefaultCostRate.
	Rate cost.Rate
	// MaxGap bounds the time one update integrates into the _total counter (default 5 minutes).
	MaxGap time.Duration
}

// Cost puts a dollar figure on hibernation: what the apps asleep free per hour (their remembered
// instance count × per-instance cpus and memory, at the configured rate), and what their sleeps so
// far saved. Both are derived from Marathon's state labels (marmot.hibernated.instances and
// marmot.hibernated.at), so a restarted hibernator exports the same values at its first update. The
// _total counter integrates the per-hour figure from the process's start (increase() takes a restart
// as a counter reset). It is safe for concurrent use.
type Cost struct {
	cfg CostConfig
	m   *costMetrics

	mu    sync.Mutex
	last  *HibernationCost
	total float64
	apps  map[string]bool
}

// HibernationCost is what hibernation saves at one moment.
type HibernationCost struct {
	At time.Time `json:"at"`
	// PerHour is what the resources the apps asleep free cost per hour (USD).
	PerHour float64 `json:"per_hour"`
	// Asleep is what the sleeps in progress saved since each began (from marmot.hibernated.at).
	Asleep float64 `json:"asleep"`
	// Total is PerHour integrated since this Cost began.
	Total float64    `json:"total"`
	Apps  []AppSaved `json:"apps"`
}

// AppSaved is one sleeping app's part.
type AppSaved struct {
	App string `json:"app"`
	// Instances is the count the app wakes to; Freed what they would hold.
	Instances int            `json:"instances"`
	Freed     cost.Resources `json:"freed"`
	Since     time.Time      `json:"since"`
	PerHour   float64        `json:"per_hour"`
	Saved     float64        `json:"saved"`
}

type costMetrics struct {
	perHour, asleep, cpuPrice, memPrice prometheus.Gauge
	total                               prometheus.Counter
	app                                 *prometheus.GaugeVec
}

// NewCost makes the series (at zero) and registers them on cfg.Registry.
func NewCost(cfg CostConfig) *Cost {
	if cfg.Rate == (cost.Rate{}) {
		cfg.Rate = DefaultCostRate
	}
	if cfg.MaxGap <= 0 {
		cfg.MaxGap = 5 * time.Minute
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "marmot", Subsystem: "cost", Name: name, Help: help})
	}
	m := &costMetrics{
		perHour:  gauge("hibernation_savings_dollars_per_hour", "What the resources the apps asleep free cost per hour (USD): remembered instances × per-instance cpus and memory, at the hibernator's rates."),
		asleep:   gauge("hibernation_asleep_savings_dollars", "What the sleeps in progress saved since each began (USD), from marmot.hibernated.at: survives a restart of the hibernator."),
		cpuPrice: gauge("hibernation_cpu_price_dollars_per_core_hour", "The price per cpu-hour the hibernator puts on freed cpus (USD)."),
		memPrice: gauge("hibernation_memory_price_dollars_per_gib_hour", "The price per GiB-hour the hibernator puts on freed memory (USD)."),
		total: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "marmot", Subsystem: "cost", Name: "hibernation_savings_dollars_total",
			Help: "What hibernation saved since the hibernator started (USD): the savings per hour integrated over time. Use increase()."}),
		app: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "marmot", Subsystem: "cost", Name: "hibernation_app_savings_dollars_per_hour",
			Help: "What one sleeping app frees per hour (USD); only apps asleep have a series."}, []string{"app"}),
	}
	m.cpuPrice.Set(cfg.Rate.CPUHour)
	m.memPrice.Set(cfg.Rate.GiBHour)
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(m.perHour, m.asleep, m.cpuPrice, m.memPrice, m.total, m.app)
	}
	return &Cost{cfg: cfg, m: m, apps: map[string]bool{}}
}

// Rate is the rate the figures use.
func (c *Cost) Rate() cost.Rate { return c.cfg.Rate }

// Update reads the apps that carry the state labels from Marathon and observes them.
func (c *Cost) Update(ctx context.Context, m Marathon, pol *policy.HibernationPolicy, now time.Time) (HibernationCost, error) {
	apps, err := m.Apps(ctx, policy.LabelHibernatedInstances)
	if err != nil {
		return HibernationCost{}, err
	}
	return c.Observe(now, apps, pol), nil
}

// Observe computes the figures from apps (those that carry the state labels; others are ignored)
// and exports them. An app is asleep while it has its state labels and no instance.
func (c *Cost) Observe(now time.Time, apps []App, pol *policy.HibernationPolicy) HibernationCost {
	c.mu.Lock()
	defer c.mu.Unlock()
	hc := HibernationCost{At: now, Apps: []AppSaved{}}
	for _, a := range apps {
		// A label that does not parse leaves Asleep nil: the planner skips such an app, and so does this.
		labels, _ := policy.ParseHibernationLabels(a.Labels, pol)
		if labels.Asleep == nil || a.Instances > 0 {
			continue
		}
		n := float64(labels.Asleep.Instances)
		s := AppSaved{App: a.ID, Instances: labels.Asleep.Instances, Freed: cost.Resources{CPUs: n * a.CPUs, MemMiB: n * a.Mem}, Since: labels.Asleep.At}
		s.PerHour = c.cfg.Rate.Of(s.Freed)
		if h := now.Sub(s.Since).Hours(); h > 0 {
			s.Saved = s.PerHour * h
		}
		hc.PerHour += s.PerHour
		hc.Asleep += s.Saved
		hc.Apps = append(hc.Apps, s)
	}
	slices.SortFunc(hc.Apps, func(a, b AppSaved) int {
		switch {
		case a.App < b.App:
			return -1
		case a.App > b.App:
			return 1
		}
		return 0
	})
	if c.last != nil {
		if dt := now.Sub(c.last.At); dt > 0 && dt <= c.cfg.MaxGap {
			add := c.last.PerHour * dt.Hours()
			c.total += add
			c.m.total.Add(add)
		}
	}
	hc.Total = c.total
	c.m.perHour.Set(hc.PerHour)
	c.m.asleep.Set(hc.Asleep)
	seen := map[string]bool{}
	for _, s := range hc.Apps {
		seen[s.App] = true
		c.m.app.WithLabelValues(s.App).Set(s.PerHour)
	}
	for app := range c.apps {
		if !seen[app] {
			c.m.app.DeleteLabelValues(app)
		}
	}
	c.apps = seen
	last := hc
	c.last = &last
	return hc
}

// Latest returns the figures of the last update; ok is false before the first.
func (c *Cost) Latest() (HibernationCost, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return HibernationCost{}, false
	}
	return *c.last, true
}
