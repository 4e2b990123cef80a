package hibernator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/policy"
)

// ErrWakeRefused is returned for apps that cannot be woken however often one tries: unknown to
// Marathon, at zero instances without the state labels (someone else scaled it down, so there is no
// count to restore), malformed state labels, or a dry run. The activator stops retrying on it and
// answers the held requests at once.
var ErrWakeRefused = errors.New("the app cannot be woken")

// WakerConfig configures a MarathonWaker.
type WakerConfig struct {
	// DryRun: say what would be woken, change nothing.
	DryRun bool
	// Now is the hibernator's clock (time.Now by default).
	Now func() time.Time
	// Policy returns the policy in force (DefaultHibernationPolicy by default); it bounds nothing here
	// but is needed to read the labels.
	Policy func() *policy.HibernationPolicy
}

// MarathonWaker wakes apps through Marathon: the activator's Waker, and what the loop uses for the
// planner's wake decisions. It keeps no state: whether an app sleeps, and how many instances it had,
// is read from the app's labels every time, so any number of wakers (activator replicas, the loop)
// may wake the same app at once and it is scaled up once.
type MarathonWaker struct {
	cfg      WakerConfig
	marathon Marathon
	metrics  *LoopMetrics
	log      *zap.Logger
}

var _ Waker = (*MarathonWaker)(nil)

// NewMarathonWaker makes a waker. metrics may be nil.
func NewMarathonWaker(cfg WakerConfig, m Marathon, metrics *LoopMetrics, log *zap.Logger) *MarathonWaker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Policy == nil {
		def := policy.DefaultHibernationPolicy()
		cfg.Policy = func() *policy.HibernationPolicy { return def }
	}
	if metrics == nil {
		metrics = NewLoopMetrics(nil)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &MarathonWaker{cfg: cfg, marathon: m, metrics: metrics, log: log}
}

// Wake implements Waker: if the app sleeps, one PUT restores its remembered instance count and removes
// the state labels; if it is awake or already waking it does nothing. See ErrWakeRefused.
func (w *MarathonWaker) Wake(ctx context.Context, app string) error {
	_, err := w.wake(ctx, app, WakeReasonRequest)
	return err
}

// wake wakes app for reason; woke says whether this call's PUT did it.
func (w *MarathonWaker) wake(ctx context.Context, id, reason string) (woke bool, err error) {
	defer func() {
		if err != nil && !w.cfg.DryRun {
			w.metrics.wakeFailures.WithLabelValues(reason).Inc()
		}
	}()
	log := w.log.With(zap.String("app", id), zap.String("reason", reason))
	app, err := w.marathon.App(ctx, id)
	if errors.Is(err, ErrAppNotFound) {
		return false, fmt.Errorf("%w: %w", ErrWakeRefused, err)
	}
	if err != nil {
		return false, err
	}
	state, err := w.sleepState(app)
	if err != nil || state == nil {
		return false, err
	}
	if w.cfg.DryRun {
		log.Info("dry run: would wake app", zap.Int("instances", state.Instances))
		return false, fmt.Errorf("%w: the hibernator runs with --dry-run", ErrWakeRefused)
	}
	n := state.Instances
	err = w.marathon.Update(ctx, id, AppUpdate{Instances: &n, Labels: withoutState(app.Labels)})
	if errors.Is(err, ErrAppLocked) {
		// Another waker (an activator replica, the loop) may have won: then the state labels are gone
		// and the app is waking, which is all this call wanted. Otherwise a deployment that is not a
		// wake holds the app (our own scale-down still killing tasks, an operator's deploy); forcing
		// would cancel it, so the caller tries again later.
		again, rerr := w.marathon.App(ctx, id)
		if rerr == nil {
			if s, serr := w.sleepState(again); serr == nil && s == nil {
				return false, nil
			}
		}
		return false, err
	}
	if err != nil {
		return false, err
	}
	w.countFreed(app, state)
	w.metrics.wakes.WithLabelValues(reason).Inc()
	log.Info("woke app", zap.Int("instances", n), zap.Duration("asleep_for", w.cfg.Now().Sub(state.At)))
	return true, nil
}

// sleepState reads the state labels of an app that sleeps. nil (and no error) means there is nothing
// to wake: the app runs, or is waking. An app at zero instances without state labels, or with state
// labels that do not parse, cannot be woken.
func (w *MarathonWaker) sleepState(app App) (*policy.HibernatedState, error) {
	l, err := policy.ParseHibernationLabels(app.Labels, w.cfg.Policy())
	_, hasN := app.Labels[policy.LabelHibernatedInstances]
	_, hasAt := app.Labels[policy.LabelHibernatedAt]
	switch {
	case l.Asleep == nil && (hasN || hasAt):
		return nil, fmt.Errorf("%w: %w", ErrWakeRefused, err)
	case l.Asleep == nil && app.Instances == 0:
		return nil, fmt.Errorf("%w: it has zero instances but no %s label: something else scaled it down, so there is no instance count to restore",
			ErrWakeRefused, policy.LabelHibernatedInstances)
	case l.Asleep != nil && app.Instances > 0:
		// Scaled up by hand while asleep: it runs. Removing the stale labels would restart its tasks.
		return nil, nil
	}
	return l.Asleep, nil
}

// countFreed adds a sleep that ends to the resource-hours freed.
func (w *MarathonWaker) countFreed(app App, s *policy.HibernatedState) {
	hours := w.cfg.Now().Sub(s.At).Hours()
	if hours <= 0 {
		return
	}
	w.metrics.freedCPUh.Add(hours * app.CPUs * float64(s.Instances))
	w.metrics.freedMemh.Add(hours * app.Mem / 1024 * float64(s.Instances))
}

// Endpoints implements Waker: the host:port of each task on the port its host names are served on
// (the n of HAPROXY_{n}_VHOST), and the app's health-check path when the check is on that port.
func (w *MarathonWaker) Endpoints(ctx context.Context, id string) ([]string, string, error) {
	app, err := w.marathon.App(ctx, id)
	if err != nil {
		return nil, "", err
	}
	port := servedPortIndex(app, w.cfg.Policy())
	var addrs []string
	for _, t := range app.Tasks {
		if port < len(t.Ports) && t.Host != "" {
			addrs = append(addrs, t.Host+":"+strconv.Itoa(t.Ports[port]))
		}
	}
	path := "/"
	if app.HealthPath != "" && app.HealthPortIndex == port {
		path = app.HealthPath
	}
	return addrs, path, nil
}

// servedPortIndex is the lowest port index the app's host names are served on; 0 without any.
func servedPortIndex(app App, p *policy.HibernationPolicy) int {
	l, _ := policy.ParseHibernationLabels(app.Labels, p) // the hosts parse whatever else is wrong
	idx := -1
	for _, h := range l.Hosts {
		if idx < 0 || h.PortIndex < idx {
			idx = h.PortIndex
		}
	}
	return max(idx, 0)
}

// withoutState copies labels without the hibernator's state labels.
func withoutState(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	delete(out, policy.LabelHibernatedInstances)
	delete(out, policy.LabelHibernatedAt)
	return out
}

// withState copies labels and adds the state labels of an app that goes to sleep with instances.
func withState(labels map[string]string, instances int, at time.Time) map[string]string {
	out := withoutState(labels)
	out[policy.LabelHibernatedInstances] = strconv.Itoa(instances)
	out[policy.LabelHibernatedAt] = at.UTC().Format(time.RFC3339)
	return out
}
