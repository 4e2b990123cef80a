package autoscaler

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/policy"
)

// Config is what a Loop needs. Mesos, Marathon, Cloud, Policy and Registry are required.
type Config struct {
	Policy   *policy.AutoscalerPolicy
	Mesos    Mesos
	Marathon Marathon
	// Cloud is wrapped with cloud.Instrument, so that every call is timed and counted.
	Cloud cloud.Provider
	// Notices is the queue of the cloud's notices about instances (spot interruptions); nil means
	// none, and instances the cloud reclaims are noticed only once they are gone.
	Notices cloud.NoticeQueue
	// Registry receives the loop's metrics (marmot_autoscaler_*); no global registry is used.
	Registry prometheus.Registerer
	// Log gets JSON-friendly structured logs; nil means none.
	Log *zap.Logger
	// Now is the clock the planner reads; nil means time.Now. The simulator passes its own.
	Now func() time.Time
	// DryRun plans and reports every action but calls nothing that changes Mesos or the cloud.
	DryRun bool
	// MinGap is the least time between the end of one reconcile and an event-triggered start of the
	// next, so that a burst of events costs one reconcile (default 200 ms).
	MinGap time.Duration
}

// DefaultMinGap is Config.MinGap's default: short enough that a reconcile follows an event well within
// a second, long enough that a burst of task events does not keep the loop reading all the time.
const DefaultMinGap = 200 * time.Millisecond

// Loop is the autoscaler: one reconcile per trigger (observe → plan → act for every pool), driven by
// Run. It is safe for concurrent use: reconciles run one at a time, and Status, the HTTP handler and
// policy reloads may be called from any goroutine.
type Loop struct {
	mesos    Mesos
	marathon Marathon
	cloud    cloud.Provider
	notices  cloud.NoticeQueue
	log      *zap.Logger
	now      func() time.Time
	dryRun   bool
	minGap   time.Duration
	metrics  *metrics

	trigger       chan struct{} // an event asks for a reconcile; buffered, so a burst coalesces
	policyChanged chan struct{}

	polMu sync.Mutex
	pol   *policy.AutoscalerPolicy

	recMu   sync.Mutex // one reconcile at a time; guards the fields below
	cache   *sourceCache
	states  map[string]policy.PoolState // by pool: what the planner remembers
	version string                      // the master's version, for drain_mode auto
	recent  map[string][]Action         // by pool: the latest actions, for /status

	noticeMu      sync.Mutex          // guards reclaims and poolInstances
	reclaims      map[string]*Reclaim // spot interruption notices held, by instance id
	poolInstances map[string]bool     // the pools' instances at the last reconcile, by id

	ready     atomic.Bool
	statusMu  sync.Mutex
	status    Status
	reloadErr string
}

// New checks cfg, listing every problem, and returns a Loop that has not read anything yet.
func New(cfg Config) (*Loop, error) {
	var errs []error
	need := func(ok bool, what string) {
		if !ok {
			errs = append(errs, errors.New("autoscaler: "+what+" is required"))
		}
	}
	need(cfg.Mesos != nil, "Config.Mesos")
	need(cfg.Marathon != nil, "Config.Marathon")
	need(cfg.Cloud != nil, "Config.Cloud")
	need(cfg.Registry != nil, "Config.Registry")
	need(cfg.Policy != nil, "Config.Policy")
	if cfg.Policy != nil {
		if err := cfg.Policy.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.MinGap < 0 {
		errs = append(errs, errors.New("autoscaler: Config.MinGap must not be negative"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinGap == 0 {
		cfg.MinGap = DefaultMinGap
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	l := &Loop{
		mesos: cfg.Mesos, marathon: cfg.Marathon, notices: cfg.Notices, log: cfg.Log, now: cfg.Now, dryRun: cfg.DryRun,
		minGap: cfg.MinGap, metrics: m, pol: cfg.Policy,
		trigger: make(chan struct{}, 1), policyChanged: make(chan struct{}, 1),
	}
	l.cloud = cloud.Instrument(cfg.Cloud, m.observeCloudCall)
	l.metrics.initPools(cfg.Policy, nil)
	m.policyOK.Set(1)
	l.reset()
	return l, nil
}

// reset forgets everything learned, as after a restart: the next reconcile starts from what Mesos,
// Marathon and the cloud show, and drains are picked up from their marks.
func (l *Loop) reset() {
	l.recMu.Lock()
	defer l.recMu.Unlock()
	l.cache = newSourceCache()
	l.states = map[string]policy.PoolState{}
	l.recent = map[string][]Action{}
	l.version = ""
	l.noticeMu.Lock()
	l.reclaims = map[string]*Reclaim{} // the queue delivers the undeleted ones again
	l.noticeMu.Unlock()
	l.ready.Store(false)
	l.metrics.ready.Set(0)
}

// Trigger says why a reconcile runs.
type Trigger string

// Triggers.
const (
	TriggerStart    Trigger = "start"    // the first reconcile of Run
	TriggerPeriodic Trigger = "periodic" // the safety net: every reconcile_interval
	TriggerEvent    Trigger = "event"    // Mesos or Marathon reported a change
	TriggerAgain    Trigger = "again"    // the last reconcile changed something: look again at once
	TriggerPolicy   Trigger = "policy"   // a new policy was loaded
	TriggerOnce     Trigger = "once"     // a single reconcile on request (--once, tests)
)

// Triggers lists every trigger, so that metric series start at zero.
func Triggers() []Trigger {
	return []Trigger{TriggerStart, TriggerPeriodic, TriggerEvent, TriggerAgain, TriggerPolicy, TriggerOnce}
}

// fresh reports whether the reconcile reads every source anew. Event-triggered ones may use the
// Mesos event cache and a recent cloud read: they must be fast, and the periodic reconcile, and the
// re-check before anything destructive, read everything fresh anyway.
func (t Trigger) fresh() bool { return t != TriggerEvent && t != TriggerAgain }

// maxAgain bounds how many reconciles in a row run at once after productive work.
const maxAgain = 5

// Run drives the loop until ctx ends, and returns nil then. It starts from nothing (as after a
// restart), follows the Mesos and Marathon event streams, reconciles within MinGap of an event, after
// every reconcile_interval whatever happens, and again at once after a reconcile that changed
// something. It returns only after every goroutine it started has ended, so a leader-election
// wrapper may call it on gaining leadership and cancel ctx on losing it, any number of times.
func (l *Loop) Run(ctx context.Context) error {
	l.reset()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { l.follow(ctx, "mesos", l.mesos.Watch) })
	wg.Go(func() { l.follow(ctx, "marathon", l.marathon.Watch) })
	if l.notices != nil {
		wg.Go(func() { l.readNotices(ctx) })
	}

	trigger, again, failures := TriggerStart, 0, 0
	nextFull := time.Now()
	for {
		if trigger.fresh() {
			nextFull = time.Now().Add(l.policy().ReconcileInterval.D)
		}
		rep := l.Reconcile(ctx, trigger)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case !rep.Planned:
			// No full snapshot yet, or the sources failed: retry soon, backing off, but never later
			// than the periodic reconcile.
			failures++
			nextFull = time.Now().Add(min(retryDelay(failures), l.policy().ReconcileInterval.D))
		case rep.Productive && again < maxAgain:
			failures, again = 0, again+1
			trigger = TriggerAgain
			continue
		default:
			failures, again = 0, 0
		}
		var ok bool
		if trigger, ok = l.await(ctx, nextFull, !rep.Planned); !ok {
			return nil
		}
	}
}

// retryDelay is the wait before the n-th retry of a reconcile that could not plan: 1 s, doubling.
func retryDelay(n int) time.Duration {
	return time.Second << min(n-1, 6)
}

// await waits for the next reason to reconcile: an event (after MinGap), a new policy, or the time
// of the next full reconcile. While retrying (nothing could be planned yet) every reconcile reads
// everything. It reports false when ctx ended.
func (l *Loop) await(ctx context.Context, full time.Time, retrying bool) (Trigger, bool) {
	ended := time.Now()
	timer := time.NewTimer(time.Until(full))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return "", false
	case <-timer.C:
		if retrying {
			return TriggerStart, true
		}
		return TriggerPeriodic, true
	case <-l.policyChanged:
		return TriggerPolicy, true
	case <-l.trigger:
	}
	if retrying {
		return TriggerStart, true
	}
	// Let a burst of events settle: they coalesce into the one reconcile that follows.
	gap := time.NewTimer(max(0, l.minGap-time.Since(ended)))
	defer gap.Stop()
	select {
	case <-ctx.Done():
		return "", false
	case <-gap.C:
		return TriggerEvent, true
	}
}

// follow runs a source's event stream until ctx ends; every change it reports pokes the loop.
func (l *Loop) follow(ctx context.Context, source string, watch func(context.Context, func()) error) {
	err := watch(ctx, l.Poke)
	if ctx.Err() == nil {
		// Watch returns only when ctx ends; the periodic reconcile still runs without it.
		l.log.Error("event stream stopped", zap.String("source", source), zap.Error(err))
	}
}

// Poke asks for a reconcile soon; it never blocks, and pokes that arrive while one is pending
// coalesce into it.
func (l *Loop) Poke() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// policy returns the policy in force.
func (l *Loop) policy() *policy.AutoscalerPolicy {
	l.polMu.Lock()
	defer l.polMu.Unlock()
	return l.pol
}

// SetPolicy puts a validated policy in force from the next reconcile on, which runs soon. It returns
// the validation error, and keeps the policy in force, when pol is not valid.
func (l *Loop) SetPolicy(pol *policy.AutoscalerPolicy) error {
	if err := pol.Validate(); err != nil {
		return err
	}
	l.polMu.Lock()
	old := l.pol
	l.pol = pol
	l.polMu.Unlock()
	l.metrics.initPools(pol, old)
	select {
	case l.policyChanged <- struct{}{}:
	default:
	}
	return nil
}

// ReloadPolicy puts the policy load returns in force (load reads and validates a policy file, for
// example). When load fails the last good policy stays in force: the error (every problem with its
// field path) is counted in marmot_autoscaler_policy_reloads_total{result="error"}, shown in /status,
// and returned for the caller to log.
func (l *Loop) ReloadPolicy(load func() (*policy.AutoscalerPolicy, error)) error {
	pol, err := load()
	if err == nil {
		err = l.SetPolicy(pol)
	}
	l.statusMu.Lock()
	l.reloadErr = ""
	if err != nil {
		l.reloadErr = err.Error()
	}
	l.statusMu.Unlock()
	if err != nil {
		l.metrics.policyReloads.WithLabelValues("error").Inc()
		l.metrics.policyOK.Set(0)
		return err
	}
	l.metrics.policyReloads.WithLabelValues("ok").Inc()
	l.metrics.policyOK.Set(1)
	return nil
}

// Ready reports whether the loop has seen a full snapshot since it started.
func (l *Loop) Ready() bool { return l.ready.Load() }
