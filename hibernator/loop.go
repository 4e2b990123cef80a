package hibernator

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/policy"
)

// The hibernation loop: one reconcile observes Marathon and every traffic source, plans with the pure
// policy.PlanHibernation, keeps the activator's host map in step with the labels, and acts on the
// plan: hibernations after a wait and a re-check with fresh data, wakes at once. Events from Marathon
// make it prompt; a periodic reconcile makes it correct. It keeps no state that Marathon does not
// have: whether an app sleeps and with how many instances lives in the app's labels, the rate limit
// reads marmot.hibernated.at back, and the idle clock restarts with the traffic sources, so a restarted
// hibernator carries on where the last one stopped.

// RouteSink receives the activator's host map; *Activator is one.
type RouteSink interface {
	SetRoutes(map[string]Route)
}

// FallbackCheck says whether the load balancers' fallbacks reach an activator; *LBProber is one.
type FallbackCheck interface {
	// Unverified returns the load balancers whose fallback has not recently been seen to reach an
	// activator; while any is returned no app goes to sleep. It never blocks on the network.
	Unverified() []string
	// Status returns every load balancer's probe state, for /status.
	Status() []LBProbeStatus
}

// LoopConfig tunes a Loop. Zero values take the defaults noted.
type LoopConfig struct {
	// Interval is the periodic reconcile (default 30 s).
	Interval time.Duration
	// TrafficInterval is how often the traffic sources are read between reconciles (default 5 s):
	// marathon-lb reloads HAProxy on every app change, which restarts its counters, so stats are read
	// often to keep the requests a reload hides few.
	TrafficInterval time.Duration
	// RecheckAfter is the wait between deciding to hibernate and re-checking (default 5 s), so that
	// requests in flight at the decision reach the traffic sources first.
	RecheckAfter time.Duration
	// MinGap is the least time between two reconciles that events trigger (default 1 s): a burst of
	// events makes one reconcile.
	MinGap time.Duration
	// DryRun plans and reports but changes nothing in Marathon.
	DryRun bool
	// Now is the clock (time.Now by default). Traffic sources, state labels and the idle clock all
	// read it.
	Now func() time.Time
}

func (c *LoopConfig) defaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Interval, 30*time.Second)
	def(&c.TrafficInterval, 5*time.Second)
	def(&c.RecheckAfter, 5*time.Second)
	def(&c.MinGap, time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// LoopDeps are what a Loop works with.
type LoopDeps struct {
	Marathon Marathon
	// Waker wakes the apps the planner says to wake; the activator uses the same one.
	Waker *MarathonWaker
	// Sources are every load balancer's traffic source and the activator's.
	Sources []TrafficSource
	// Routes receives the host map (the activator); nil: nobody.
	Routes RouteSink
	// Fallback holds every hibernation while a load balancer's fallback is unverified; nil: none is
	// checked.
	Fallback FallbackCheck
	Metrics  *LoopMetrics
	Log      *zap.Logger
}

// Loop is the hibernation loop. Run drives it; Handler serves its status.
type Loop struct {
	cfg     LoopConfig
	deps    LoopDeps
	log     *zap.Logger
	metrics *LoopMetrics
	policy  atomic.Pointer[policy.HibernationPolicy]
	trigger chan struct{}
	stamps  *futureStamps

	status      atomic.Pointer[Status]
	ready       atomic.Bool
	lastAttempt atomic.Int64 // unix nanoseconds of the last reconcile attempt, for /healthz

	mu      sync.Mutex
	actions map[string]ActionRecord // the last action per app, for /status
}

// NewLoop makes a loop under policy p (validated).
func NewLoop(cfg LoopConfig, deps LoopDeps, p *policy.HibernationPolicy) *Loop {
	cfg.defaults()
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	if deps.Metrics == nil {
		deps.Metrics = NewLoopMetrics(nil)
	}
	if deps.Routes == nil {
		deps.Routes = nopRoutes{}
	}
	l := &Loop{cfg: cfg, deps: deps, log: deps.Log, metrics: deps.Metrics, trigger: make(chan struct{}, 1), actions: map[string]ActionRecord{},
		stamps: newFutureStamps(deps.Metrics, deps.Log)}
	l.policy.Store(p)
	return l
}

type nopRoutes struct{}

func (nopRoutes) SetRoutes(map[string]Route) {}

// Policy returns the policy in force.
func (l *Loop) Policy() *policy.HibernationPolicy { return l.policy.Load() }

// SetPolicy puts a new (validated) policy in force and reconciles with it soon.
func (l *Loop) SetPolicy(p *policy.HibernationPolicy) {
	l.policy.Store(p)
	l.Trigger()
}

// Trigger asks for a reconcile soon. It never blocks.
func (l *Loop) Trigger() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// Ready reports whether a full observation has been made, so that /status and the host map are real.
func (l *Loop) Ready() bool { return l.ready.Load() }

// Run reconciles until ctx ends: at once, then on every Marathon event (at most one per MinGap) and
// every Interval, and again at once after a round that changed something. It follows Marathon's event
// stream and reads the traffic sources every TrafficInterval meanwhile. It returns nil when ctx ends,
// after every goroutine it started has stopped.
func (l *Loop) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { l.watch(ctx) })
	wg.Go(func() { l.pollTraffic(ctx) })

	tick := time.NewTicker(l.cfg.Interval)
	defer tick.Stop()
	for {
		acted := l.Reconcile(ctx)
		if acted {
			l.Trigger()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-l.trigger:
			// Let a burst of events settle into one reconcile.
			if !sleepCtx(ctx, l.cfg.MinGap) {
				return nil
			}
			select {
			case <-l.trigger:
			default:
			}
		}
	}
}

// watch follows Marathon's events: any event may change an app's labels, instances or deployments.
func (l *Loop) watch(ctx context.Context) {
	for ctx.Err() == nil {
		err := l.deps.Marathon.Watch(ctx, func(string) { l.Trigger() })
		if ctx.Err() == nil {
			l.log.Warn("marathon event stream stopped; the periodic reconcile goes on", zap.Error(err))
			sleepCtx(ctx, l.cfg.Interval)
		}
	}
}

// pollTraffic reads the traffic sources between reconciles (see LoopConfig.TrafficInterval); reports
// are cumulative, so a reconcile reading them again loses nothing.
func (l *Loop) pollTraffic(ctx context.Context) {
	t := time.NewTicker(l.cfg.TrafficInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.noteSources(l.gatherTraffic(ctx, l.cfg.Now()))
		}
	}
}

func (l *Loop) gatherTraffic(ctx context.Context, now time.Time) TrafficSnapshot {
	return GatherTraffic(ctx, now, l.Policy().Traffic.MaxAge.D, l.deps.Sources)
}

func (l *Loop) noteSources(snap TrafficSnapshot) {
	for _, s := range snap.Sources {
		v := 0.0
		if s.Stale() {
			v = 1
		}
		l.metrics.sourceStale.WithLabelValues(s.Name).Set(v)
		l.stamps.noteSource(s)
	}
}

// Reconcile runs one round: observe, plan, route, act. It reports whether it changed anything in
// Marathon. On a partial observation it decides nothing and keeps the last host map.
func (l *Loop) Reconcile(ctx context.Context) (acted bool) {
	start := time.Now() // the round's own duration is wall time, whatever the loop's clock says
	defer func() { l.metrics.reconcileTime.Observe(time.Since(start).Seconds()) }()
	now := l.cfg.Now()
	l.lastAttempt.Store(time.Now().UnixNano())
	pol := l.Policy()

	obs, err := l.observe(ctx, pol, now)
	if err != nil {
		if ctx.Err() == nil {
			l.metrics.reconciles.WithLabelValues("error").Inc()
			l.log.Warn("cannot observe marathon; deciding nothing this round", zap.Error(err))
			l.setError(err)
		}
		return false
	}
	l.metrics.reconciles.WithLabelValues("ok").Inc()
	l.metrics.lastObserved.Set(float64(now.UnixNano()) / 1e9)
	l.noteSources(obs.traffic)

	plan := policy.PlanHibernation(obs.input(pol, now))
	l.stamps.keep(obs.apps, now)
	// The host map goes to the activator before anything sleeps: an app must never be at zero
	// instances with nobody answering for its hosts.
	routes, conflicts := BuildRoutes(obs.apps, pol)
	l.deps.Routes.SetRoutes(routes)
	for _, c := range conflicts {
		l.log.Warn("host claimed by several apps gets no route", zap.String("host", c.Host), zap.Strings("apps", c.Apps))
	}
	l.publish(obs, plan, routes, conflicts)
	l.ready.Store(true)

	acted = l.act(ctx, obs, plan)
	l.publishActions()
	return acted
}

// sleepCtx waits d, or less if ctx ends first; it reports whether the full wait passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
