package autoscaler

import (
	"context"
	"maps"
	"slices"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/policy"
)

// How the notice queue is read.
const (
	// noticeWait is the long poll of one receive: SQS's longest, so an idle queue costs three
	// requests a minute.
	noticeWait = 20 * time.Second
	// noticeVisible is how long a received notice stays hidden. A spot interruption notice is kept in
	// the queue until its drain is past the point of no return (see settleNotices), so it comes back
	// this often; a leader that dies with it undeleted hands it to the next one within this time,
	// well inside the two minutes of notice.
	noticeVisible = 15 * time.Second
	// reclaimForget is how long after its Reclaim time a notice is dropped whatever became of its
	// instance: EC2 has taken it back by then.
	reclaimForget = 10 * time.Minute
)

// Reclaim is a spot interruption notice the loop holds: the instance, when the cloud takes it back,
// and the latest delivery of each of its messages (their receipts delete them).
type Reclaim struct {
	InstanceID string    `json:"instance_id"`
	At         time.Time `json:"reclaim_at"`
	// Seen is when the first notice arrived (the loop's clock).
	Seen       time.Time               `json:"seen"`
	deliveries map[string]cloud.Notice // by event id
}

// readNotices receives notices until ctx ends. Errors are counted and retried with a backoff: the
// loop goes on without notices meanwhile, as it would without a queue.
func (l *Loop) readNotices(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		notices, err := l.notices.Receive(ctx, noticeWait, noticeVisible)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			l.metrics.sourceErrors.WithLabelValues("notices").Inc()
			l.log.Warn("cannot read the notice queue", zap.Int("failures", failures), zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryDelay(failures)):
			}
			continue
		}
		failures = 0
		l.takeNotices(ctx, notices)
	}
}

// takeNotices records the spot interruption notices and deletes the rest once logged: they ask
// for nothing that must survive a restart. A state change pokes the loop, which then sees the
// instance go sooner than the periodic reconcile would.
func (l *Loop) takeNotices(ctx context.Context, notices []cloud.Notice) {
	var done []cloud.Notice
	poke := false
	now := l.now()
	l.noticeMu.Lock()
	for _, n := range notices {
		first := n.Received <= 1
		if first {
			l.metrics.notices.WithLabelValues(string(n.Kind)).Inc()
		}
		log := l.log.With(zap.String("kind", string(n.Kind)), zap.String("instance", n.InstanceID), zap.String("event", n.ID))
		switch n.Kind {
		case cloud.NoticeSpotInterruption:
			r, held := l.reclaims[n.InstanceID]
			if !held {
				at := reclaimTime(n, now)
				r = &Reclaim{InstanceID: n.InstanceID, At: at, Seen: now, deliveries: map[string]cloud.Notice{}}
				l.reclaims[n.InstanceID] = r
				log.Info("spot interruption notice: draining the agent", zap.Time("reclaim_at", at),
					zap.Time("event_time", n.Time), zap.String("action", n.Action))
				poke = true
			}
			r.deliveries[n.ID] = n
		case cloud.NoticeUnreadable:
			log.Warn("unreadable message in the notice queue: deleted", zap.String("problem", n.Problem))
			done = append(done, n)
		case cloud.NoticeStateChange:
			// The rule forwards every instance of the region; only the pools' own are worth a look.
			_, ours := l.poolInstances[n.InstanceID]
			log.Debug("instance state change", zap.String("state", string(n.State)), zap.Bool("pool_instance", ours))
			poke = poke || ours
			done = append(done, n)
		case cloud.NoticeRebalance:
			// EC2 only says the risk rose; Karpenter too merely reports it. Draining on it would
			// churn agents that may run for hours yet.
			log.Info("rebalance recommendation: noted, nothing done")
			done = append(done, n)
		default:
			log.Debug("notice of no interest: deleted", zap.String("event_type", n.Problem))
			done = append(done, n)
		}
	}
	l.metrics.reclaimsPending.Set(float64(len(l.reclaims)))
	l.noticeMu.Unlock()
	l.deleteNotices(ctx, done)
	if poke {
		l.Poke()
	}
}

// reclaimTime is when the loop counts on the instance being gone, on its own clock: the notice's
// deadline, but no later than a full notice from now (a cloud clock ahead of ours would otherwise
// leave the agent up past the real reclaim), and no earlier than now (a notice that waited in the
// queue, or a cloud clock behind ours: the instance may go any moment, so it goes down at once).
func reclaimTime(n cloud.Notice, now time.Time) time.Time {
	switch latest := now.Add(cloud.SpotNotice); {
	case n.Deadline.Before(now):
		return now
	case n.Deadline.After(latest):
		return latest
	}
	return n.Deadline
}

// deleteNotices deletes notices from the queue, except in a dry run: a dry-run autoscaler acts on
// nothing, so it leaves every notice to whoever does (it should have a queue of its own).
func (l *Loop) deleteNotices(ctx context.Context, notices []cloud.Notice) {
	if len(notices) == 0 || l.dryRun {
		return
	}
	if err := l.notices.Delete(ctx, notices); err != nil && ctx.Err() == nil {
		// They come back after their visibility timeout and are handled again: harmless.
		l.log.Warn("cannot delete notices from the queue", zap.Int("notices", len(notices)), zap.Error(err))
	}
}

// reclaimTimes returns when the cloud reclaims each instance a held notice names, by instance id;
// nil when none is held (a lookup in it then finds the zero time).
func (l *Loop) reclaimTimes() map[string]time.Time {
	l.noticeMu.Lock()
	defer l.noticeMu.Unlock()
	if len(l.reclaims) == 0 {
		return nil
	}
	out := make(map[string]time.Time, len(l.reclaims))
	for id, r := range l.reclaims {
		out[id] = r.At
	}
	return out
}

// settleNotices deletes the spot interruption notices that no restart needs any more: their
// instance is terminating or gone (or was never one of the pools' groups), or its Reclaim is long
// past. A notice of an instance still draining stays in the queue, so that a new leader hears of
// it again and keeps the Reclaim's deadline rather than the drain's own, much later one.
func (l *Loop) settleNotices(ctx context.Context, obs *observation) {
	if l.notices == nil {
		return
	}
	live := map[string]bool{}
	for _, pv := range obs.pools {
		for _, g := range pv.groups {
			for _, in := range g.Instances {
				live[in.ID] = !in.Lifecycle.Leaving() && in.Tags[TagDrain] != string(policy.DrainPhaseTerminating)
			}
		}
	}
	now := l.now()
	var done []cloud.Notice
	l.noticeMu.Lock()
	l.poolInstances = live
	for _, id := range slices.Sorted(maps.Keys(l.reclaims)) {
		r := l.reclaims[id]
		if live[id] && now.Before(r.At.Add(reclaimForget)) {
			continue
		}
		for _, n := range r.deliveries {
			done = append(done, n)
		}
		delete(l.reclaims, id)
	}
	l.metrics.reclaimsPending.Set(float64(len(l.reclaims)))
	l.noticeMu.Unlock()
	sort.Slice(done, func(i, j int) bool { return done[i].ID < done[j].ID })
	l.deleteNotices(ctx, done)
}

// heldReclaims returns the notices held, for /status, by instance.
func (l *Loop) heldReclaims() []Reclaim {
	l.noticeMu.Lock()
	defer l.noticeMu.Unlock()
	out := make([]Reclaim, 0, len(l.reclaims))
	for _, r := range l.reclaims {
		out = append(out, Reclaim{InstanceID: r.InstanceID, At: r.At, Seen: r.Seen})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].InstanceID < out[j].InstanceID })
	return out
}
