package autoscaler

import (
	"time"

	"go.uber.org/zap"
)

// Times from other clocks. An agent's registration time comes from the Mesos master's clock, an
// instance's launch time and a failed launch's time from AWS's; the planner compares them with the
// loop's own clock (min_agent_age, boot_timeout, backoff). A master whose clock runs ahead would make
// every agent look "registered in the future", too young to drain for as long as the skew lasts, and
// the pool would never shrink. Such a time is read as the moment the loop first saw it, which the
// loop remembers while the source reports the same time: a clamp to "now" repeated every reconcile
// would keep the agent young for ever.

// Kinds of outside times (label values of marmot_autoscaler_future_timestamps_total).
const (
	aheadAgentRegistered = "agent_registered"
	aheadInstanceLaunch  = "instance_launched"
	aheadLaunchFailure   = "launch_failure"
)

var aheadKinds = []string{aheadAgentRegistered, aheadInstanceLaunch, aheadLaunchFailure}

// aheadKey names one outside time: its kind and the agent, instance or group it belongs to.
type aheadKey struct{ kind, id string }

// aheadSeen is a time from another clock that was ahead of the loop's, and when the loop first saw it.
type aheadSeen struct {
	reported, seen time.Time
}

// onOurClock returns t as the loop should read it: t itself when it is not ahead of now (the common
// case, which costs a comparison), else the moment the loop first saw t. Keys seen ahead this round
// are marked in live, so that the memory of gone agents and instances is dropped (forgetAhead). A
// time first seen ahead is counted and logged once, so that operators see the skew.
func (l *Loop) onOurClock(kind, id string, t, now time.Time, live map[aheadKey]bool) time.Time {
	if !t.After(now) {
		return t
	}
	key := aheadKey{kind, id}
	live[key] = true
	c := l.cache
	if s, ok := c.ahead[key]; ok && s.reported.Equal(t) {
		return s.seen
	}
	c.ahead[key] = aheadSeen{reported: t, seen: now}
	l.metrics.futureTimes.WithLabelValues(kind).Inc()
	l.log.Info("a time from another clock is ahead of ours: read as now", zap.String("kind", kind), zap.String("of", id),
		zap.Time("reported", t), zap.Duration("ahead_by", t.Sub(now)))
	return now
}

// forgetAhead drops what no longer needs remembering: times of agents and instances not seen ahead
// this round.
func (c *sourceCache) forgetAhead(live map[aheadKey]bool) {
	for k := range c.ahead {
		if !live[k] {
			delete(c.ahead, k)
		}
	}
}
