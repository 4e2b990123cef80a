package hibernator

// Outside timestamps come from other hosts' clocks: Marathon's lastScalingAt and a task's startedAt
// (Marathon's and the Mesos agents' clocks), marmot.hibernated.at (whichever hibernator replica wrote
// it), an access log line (the load balancer's). When such a clock runs ahead of the hibernator's, or
// the simulator's model clock runs ahead of the wall clock, a time arrives that has not happened yet.
// Taken as it is, a task that "starts" in an hour keeps its app awake for an hour plus its idle period,
// and a model clock that runs faster than the wall clock keeps it awake for ever.
//
// A time ahead of the hibernator's clock is read as the moment the hibernator first saw it: nothing
// can have happened later than the moment one learned of it, and nothing tells how much earlier. So an
// app seen starting (in the future) still stays awake for its whole idle period from that moment, never
// "since long ago". The first sighting is remembered for as long as Marathon reports the same time,
// since reading it as "now" at every round would push the idle clock forward for ever.

import (
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Kinds of outside timestamps (label values of marmot_hibernator_future_timestamps_total).
const (
	StampScaled       = "app_scaled"    // Marathon's lastScalingAt of an app
	StampStarted      = "task_started"  // the start of an app's oldest running task (Marathon, Mesos)
	StampHibernatedAt = "hibernated_at" // marmot.hibernated.at, written by a hibernator replica
	StampRequest      = "request"       // a request's time in an access log (the load balancer's clock)
)

// stampRetention is how long a remembered first sighting outlives its last use. Marathon's times are
// read at every reconcile; a task's start only at re-checks, which may be hours apart. Forgetting one
// too early is safe: it is seen again for the first time, later.
const stampRetention = 24 * time.Hour

type stampKey struct{ app, kind string }

// stampSeen is the first sighting of an outside time that was ahead of the hibernator's clock.
type stampSeen struct {
	raw       time.Time // as the outside clock wrote it
	firstSeen time.Time // the hibernator's clock when it first saw raw; before raw
	lastUsed  time.Time
}

// futureStamps reads outside times onto the hibernator's clock, remembers the first sightings of those
// ahead of it, and counts and logs them. It is safe for concurrent use.
type futureStamps struct {
	metrics *LoopMetrics
	log     *zap.Logger

	mu     sync.Mutex
	seen   map[stampKey]stampSeen
	logged map[string]bool // apps and traffic sources whose skew was logged
	// sourceFuture is the count of future request times each traffic source has reported so far.
	sourceFuture map[string]uint64
}

func newFutureStamps(metrics *LoopMetrics, log *zap.Logger) *futureStamps {
	return &futureStamps{metrics: metrics, log: log, seen: map[stampKey]stampSeen{}, logged: map[string]bool{}, sourceFuture: map[string]uint64{}}
}

// read returns the outside time t of an app as the hibernator's clock at now may use it: t itself
// unless it was ahead of the clock when first seen, then the moment it was first seen. The zero time
// stays zero.
//
// A task's start first seen ahead of the clock is read through the app's lastScalingAt when that was
// ahead too: the task started t − lastScalingAt after the scaling on the same outside clock, so at
// the first sighting of the scaling plus that much (never later than now). The loop sees a scaling at
// every reconcile but a task's start only at the re-check before a hibernation; reading that start as
// "now" would call off every first hibernation of a skewed app and put it off by a whole idle period.
func (f *futureStamps) read(app, kind string, t, now time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := stampKey{app, kind}
	prev, tracked := f.seen[k]
	if tracked && prev.raw.Equal(t) {
		prev.lastUsed = now
		f.seen[k] = prev
		return prev.firstSeen
	}
	if !t.After(now) {
		delete(f.seen, k) // the app moved on to a time that is not ahead
		return t
	}
	at := now
	if s, ok := f.seen[stampKey{app, StampScaled}]; ok && kind == StampStarted {
		if inferred := s.firstSeen.Add(t.Sub(s.raw)); inferred.Before(at) {
			at = inferred
		}
	}
	f.seen[k] = stampSeen{raw: t, firstSeen: at, lastUsed: now}
	ahead := t.Sub(now)
	f.metrics.futureStamps.WithLabelValues(kind).Inc()
	if !f.logged[app] {
		f.logged[app] = true
		f.log.Warn("a time from outside is ahead of the hibernator's clock: it is read as the moment it was first seen; check the clocks (NTP) of Marathon, the Mesos agents and the hibernator",
			zap.String("app", app), zap.String("kind", kind), zap.Time("time", t), zap.Duration("ahead", ahead), zap.Time("read_as", at))
	}
	return at
}

// keep forgets the sightings of apps not among apps and those unused for stampRetention, and sets
// marmot_hibernator_clock_skew_seconds{source="marathon"} to the most a remembered time was ahead
// when first seen.
func (f *futureStamps) keep(apps []App, now time.Time) {
	ids := make(map[string]bool, len(apps))
	for _, a := range apps {
		ids[a.ID] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var skew time.Duration
	for k, s := range f.seen {
		if !ids[k.app] || now.Sub(s.lastUsed) > stampRetention {
			delete(f.seen, k)
			continue
		}
		skew = max(skew, s.raw.Sub(s.firstSeen))
	}
	for app := range f.logged {
		if !ids[app] && !isSourceKey(app) {
			delete(f.logged, app)
		}
	}
	f.metrics.clockSkew.WithLabelValues(SkewSourceMarathon).Set(skew.Seconds())
}

// noteSource counts and logs the request times a traffic source read ahead of the hibernator's clock
// (the source has already read them as the moment it read them; see TrafficReport.Future).
func (f *futureStamps) noteSource(s SourceStatus) {
	r := s.Report
	f.mu.Lock()
	defer f.mu.Unlock()
	if prev := f.sourceFuture[s.Name]; r.Future > prev {
		f.metrics.futureStamps.WithLabelValues(StampRequest).Add(float64(r.Future - prev))
		f.sourceFuture[s.Name] = r.Future
		if key := sourceKey(s.Name); !f.logged[key] {
			f.logged[key] = true
			f.log.Warn("request times in a traffic source are ahead of the hibernator's clock: they count as made when they were read; check the clocks (NTP) of the load balancer and the hibernator",
				zap.String("source", s.Name), zap.Duration("ahead", r.Ahead))
		}
	}
	if r.Future > 0 {
		f.metrics.clockSkew.WithLabelValues(s.Name).Set(r.Ahead.Seconds())
	}
}

// Traffic sources share the logged map with apps under a prefix no app id has (ids start with "/").
const sourcePrefix = "source "

func sourceKey(name string) string { return sourcePrefix + name }
func isSourceKey(k string) bool    { return strings.HasPrefix(k, sourcePrefix) }
