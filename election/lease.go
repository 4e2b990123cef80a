package election

import "time"

// lease is the fencing rule as arithmetic. ZooKeeper expires a session no sooner than the session timeout
// after it last received something from the client. When ZooKeeper answers a request we sent at t, it
// received it after t, so the session (and the leader's znode, and with it every follower's wait) lasts
// at least until t + SessionTimeout. The leader acts only until t + Lease for the newest such t, which
// leaves SessionTimeout − Lease for its callback to stop before a follower could possibly be elected.
//
// Measuring from the last answer rather than from the client's Disconnected event matters: over a
// silent network the client only declares the connection lost 2/3 of the session timeout after the last
// byte it read, too late to leave the callback any time.
type lease struct {
	length      time.Duration
	confirmedAt time.Time // send time of the newest request ZooKeeper answered in this session
}

// confirm records that ZooKeeper answered a request sent at sentAt. Answers may arrive out of order.
func (l *lease) confirm(sentAt time.Time) {
	if sentAt.After(l.confirmedAt) {
		l.confirmedAt = sentAt
	}
}

// deadline is the moment the leader must have stopped acting, unless ZooKeeper answers again.
func (l lease) deadline() time.Time { return l.confirmedAt.Add(l.length) }

// valid says whether the leader may act at now.
func (l lease) valid(now time.Time) bool {
	return !l.confirmedAt.IsZero() && now.Before(l.deadline())
}

// leaseFor scales the configured lease when ZooKeeper negotiated a shorter session than we asked for
// (its maxSessionTimeout is below ours): the safety margin must shrink with the session, never the other
// way round. A longer negotiated session (minSessionTimeout above ours) is safe as it is; it only
// lengthens takeover. negotiated is 0 when unknown.
func leaseFor(configured, requested, negotiated time.Duration) time.Duration {
	if negotiated <= 0 || negotiated >= requested {
		return configured
	}
	// In floating point: nanoseconds times nanoseconds overflows int64 from about 3 s × 3 s.
	return time.Duration(float64(configured) * float64(negotiated) / float64(requested))
}

// renewEvery is how often a replica asks ZooKeeper for a fresh answer: four times a lease, so that a slow
// answer or two does not cost the leadership.
func renewEvery(lease time.Duration) time.Duration { return lease / 4 }
