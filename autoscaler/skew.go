package autoscaler

import "time"

// Times from other clocks. An agent's registration time comes from the Mesos master's clock, an
// instance's launch time and a failed launch's time from AWS's; the planner compares them with the
// loop's own clock (min_agent_age, boot_timeout, backoff). A master whose clock runs ahead would make
// every agent look "registered in the future", too young to drain for as long as the skew lasts, and
// the pool would never shrink. Such a time is read as the moment the loop first saw it, which the
// loop remembers while the source reports the same time: a clamp to "now" repeated every reconcile
// would keep the agent young for ever.

// aheadSeen is a time from another clock that was ahead of the loop's, and when the loop first saw it.
type aheadSeen struct {
	reported, seen time.Time
}

// onOurClock returns t as the loop should read it: t itself when it is not ahead of now, else the
// moment the loop first saw t under key. Keys seen this round are marked in live, so that the
// memory of gone agents and instances is dropped (forgetAhead).
func (c *sourceCache) onOurClock(key string, t, now time.Time, live map[string]bool) time.Time {
	if !t.After(now) {
		return t
	}
	live[key] = true
	if s, ok := c.ahead[key]; ok && s.reported.Equal(t) {
		return s.seen
	}
	c.ahead[key] = aheadSeen{reported: t, seen: now}
	return now
}

// forgetAhead drops what no longer needs remembering: times of agents and instances not seen ahead
// this round.
func (c *sourceCache) forgetAhead(live map[string]bool) {
	for k := range c.ahead {
		if !live[k] {
			delete(c.ahead, k)
		}
	}
}
