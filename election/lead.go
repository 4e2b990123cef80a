package election

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/zap"
)

// lostError ends a term in which this replica led and then lost leadership.
type lostError struct{ reason Reason }

func (l *lostError) Error() string { return "leadership lost: " + string(l.reason) }

// lead runs the callback while this replica holds leadership, and tears leadership down in the order the
// fencing rule needs: cancel the callback's context, flip IsLeader, wait for the callback to return, and
// only then release the znode (resign) or the session (close, in term).
func (s *session) lead(ctx context.Context, lead func(context.Context) error) error {
	s.mu.Lock()
	node := s.node
	s.mu.Unlock()
	// Watching our own znode turns its deletion into an immediate loss instead of one noticed at the
	// next renewal.
	ok, _, own, err := s.conn.ExistsW(node)
	if err != nil {
		return fmt.Errorf("zookeeper watch own znode: %w", err)
	}
	if !ok {
		return errNodeGone
	}
	if r, lost := s.check(); lost {
		return &lostError{r}
	}
	if ctx.Err() != nil {
		s.resign()
		return nil
	}
	leaderCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	s.e.setLeading(true, Elected)
	s.log.Info("leading")
	go func() { done <- lead(leaderCtx) }()

	reason, leadErr, returned := s.hold(ctx, done, own)
	cancel()
	s.e.setLeading(false, reason)
	if !returned {
		leadErr = s.awaitReturn(done, reason)
	}
	s.log.Info("stopped leading", zap.String("reason", string(reason)), zap.NamedError("callback_error", leadErr))
	switch reason {
	case Resigned:
		s.resign()
		return nil
	case CallbackReturned:
		s.resign()
		if leadErr == nil {
			leadErr = ErrLeadReturned
		}
		return &leadReturned{leadErr}
	}
	return &lostError{reason}
}

// hold blocks while this replica may lead and says why it may not any more. returned says whether the
// callback has returned (with leadErr).
func (s *session) hold(ctx context.Context, done <-chan error, own <-chan zk.Event) (r Reason, leadErr error, returned bool) {
	timer := time.NewTimer(s.untilDeadline())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return Resigned, nil, false
		case err := <-done:
			return CallbackReturned, err, true
		case ev := <-own:
			switch {
			case ev.Type == zk.EventNodeDeleted:
				return ZnodeDeleted, nil, false
			case ev.Type == zk.EventNotWatching && (errors.Is(ev.Err, zk.ErrSessionExpired) || s.expired.Load()):
				return SessionExpired, nil, false
			}
			// Any other event ends the watch; the renewer still notices a deletion within a quarter lease.
			own = nil
		case <-s.notify:
		case <-timer.C:
		}
		if r, lost := s.check(); lost {
			return r, nil, false
		}
		timer.Reset(s.untilDeadline())
	}
}

// check says whether leadership is lost, and why.
func (s *session) check() (Reason, bool) {
	if s.expired.Load() {
		return SessionExpired, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.gone:
		return ZnodeDeleted, true
	case !s.lease.valid(s.e.now()):
		return LeaseLapsed, true
	}
	return "", false
}

func (s *session) untilDeadline() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.lease.deadline().Sub(s.e.now()), 0)
}

// awaitReturn waits for the callback after its context was cancelled, however long it takes: releasing
// leadership before it returns could let two replicas act at once. It says so while it waits.
func (s *session) awaitReturn(done <-chan error, r Reason) error {
	start := s.e.now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			s.log.Warn("leader callback has not returned since leadership was lost", zap.String("reason", string(r)),
				zap.Duration("waited", s.e.now().Sub(start)))
		}
	}
}
