package election

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/zap"
)

var (
	errExpired  = errors.New("zookeeper expired the session")
	errNodeGone = errors.New("this replica's znode is gone")
)

// netDialer is how production replicas reach ZooKeeper.
var netDialer zk.Dialer = net.DialTimeout

// session is one ZooKeeper session and this replica's candidacy in it. A lost session is never resumed:
// the next term makes a new session and a new znode, so no state from the old one can leak into it.
type session struct {
	e      *Elector
	log    *zap.Logger
	conn   *zk.Conn
	notify chan struct{} // capacity 1: the session state changed or the renewer learnt something

	id         atomic.Int64 // the session's id once established
	expired    atomic.Bool
	closed     atomic.Bool  // close has begun: late events of this connection must not touch the metrics
	negotiated atomic.Int64 // the session timeout ZooKeeper granted, in ms; 0 until known

	mu    sync.Mutex
	lease lease
	gone  bool   // the renewer saw this replica's znode missing
	node  string // this replica's znode (full path)

	stopRenew context.CancelFunc
	wg        sync.WaitGroup
}

// term is one session from connection to its end: connect, stand for election, follow or lead, resign
// or lose. stood says whether it got as far as creating a znode.
func (e *Elector) term(ctx context.Context, lead func(context.Context) error) (stood bool, err error) {
	s, err := e.openSession()
	if err != nil {
		return false, err
	}
	defer s.close()
	if err := s.await(ctx); err != nil {
		return false, err
	}
	if err := s.prepare(); err != nil {
		return false, err
	}
	if err := s.stand(); err != nil {
		return false, err
	}
	s.startRenewer()
	return true, s.campaign(ctx, lead)
}

func (e *Elector) openSession() (*session, error) {
	s := &session{e: e, log: e.log, notify: make(chan struct{}, 1)}
	s.lease.length = e.cfg.Lease
	// The event channel Connect returns is ignored: the library drops events when nobody reads it, and the
	// callback sees every session event without the risk of missing one to a full buffer.
	conn, _, err := zk.Connect(e.cfg.Servers, e.cfg.SessionTimeout,
		zk.WithDialer(e.dial), zk.WithLogger(zkLog{s}), zk.WithEventCallback(s.onEvent))
	if err != nil {
		return nil, fmt.Errorf("zookeeper connect: %w", err)
	}
	s.conn = conn
	return s, nil
}

// onEvent runs on the client library's goroutines and must not block.
func (s *session) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession || s.closed.Load() {
		return
	}
	if ev.State == zk.StateExpired {
		// Sticky: the library carries on with a brand-new session on the same connection, which must
		// never be mistaken for ours.
		s.expired.Store(true)
	}
	s.e.metrics.setConnected(ev.State == zk.StateHasSession && !s.expired.Load())
	s.poke()
}

func (s *session) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// await blocks until the session is established or ctx ends. The client retries the servers by itself.
func (s *session) await(ctx context.Context) error {
	for {
		if s.expired.Load() {
			return errExpired
		}
		if s.conn.State() == zk.StateHasSession {
			s.id.Store(s.conn.SessionID())
			s.log = s.log.With(zap.String("session", fmt.Sprintf("0x%x", s.id.Load())))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.notify:
		}
	}
}

// prepare authenticates and makes sure the election path exists.
func (s *session) prepare() error {
	if a := s.e.cfg.Auth; a != "" {
		if err := s.conn.AddAuth("digest", []byte(a)); err != nil {
			return fmt.Errorf("zookeeper digest auth: %w", err)
		}
	}
	p := s.e.cfg.Path
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		// Exists first: a parent we may not create under (its ACL) but that exists is fine.
		ok, _, err := s.conn.Exists(p[:i])
		if err != nil {
			return fmt.Errorf("zookeeper exists %s: %w", p[:i], err)
		}
		if ok {
			continue
		}
		if _, err := s.conn.Create(p[:i], nil, 0, s.e.acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("zookeeper create %s: %w", p[:i], err)
		}
	}
	s.checkNegotiated()
	return nil
}

// checkNegotiated adjusts the lease to the session timeout ZooKeeper granted (known once a request has
// been answered) and says when that timeout breaks what the configuration promised.
func (s *session) checkNegotiated() {
	got := time.Duration(s.negotiated.Load()) * time.Millisecond
	want := s.e.cfg.SessionTimeout
	if got == 0 || got == want {
		return
	}
	l := leaseFor(s.e.cfg.Lease, want, got)
	s.log.Warn("zookeeper granted a different session timeout", zap.Duration("asked", want),
		zap.Duration("granted", got), zap.Duration("lease", l))
	s.mu.Lock()
	s.lease.length = l
	s.mu.Unlock()
	s.e.mu.Lock()
	s.e.leaseLen = l
	s.e.mu.Unlock()
}

// stand creates this replica's ephemeral sequential znode.
func (s *session) stand() error {
	guid, err := newGUID()
	if err != nil {
		return fmt.Errorf("znode guid: %w", err)
	}
	name, err := s.conn.Create(s.e.cfg.Path+"/"+nodePrefix(guid), []byte(s.e.cfg.ID), zk.FlagEphemeral|zk.FlagSequence, s.e.acl)
	if errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) {
		// ZooKeeper may have created it before the connection dropped: look for the guid. If it is not
		// there, or we cannot look, the term ends; closing the session removes any znode of ours.
		if found, ok := s.findOwn(guid); ok {
			name, err = found, nil
		}
	}
	if err != nil {
		return fmt.Errorf("zookeeper create candidate: %w", err)
	}
	s.mu.Lock()
	s.node = name
	s.mu.Unlock()
	s.e.mu.Lock()
	s.e.sessionID, s.e.node = s.id.Load(), name
	s.e.mu.Unlock()
	s.log = s.log.With(zap.String("znode", name))
	s.log.Info("standing for election")
	return nil
}

// findOwn looks for the znode with the given guid among the candidates.
func (s *session) findOwn(guid string) (string, bool) {
	kids, _, err := s.conn.Children(s.e.cfg.Path)
	if err != nil {
		return "", false
	}
	for _, k := range kids {
		if g, ok := guidOf(k); ok && g == guid {
			return s.e.cfg.Path + "/" + k, true
		}
	}
	return "", false
}

// startRenewer starts the goroutine that keeps asking ZooKeeper for the candidates: each answer renews
// the lease and refreshes what /status shows; close stops it and waits for it.
func (s *session) startRenewer() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopRenew = cancel
	s.mu.Lock()
	every := renewEvery(s.lease.length)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Errors need no handling here: without answers the lease lapses by itself.
			_, _, _ = s.look()
		}
	}()
}

// close ends the session: on the server too when it is reachable, which deletes this replica's znode.
// It unblocks and waits for the renewer. The leader callback has returned before close is called.
func (s *session) close() {
	s.closed.Store(true)
	if s.stopRenew != nil {
		s.stopRenew()
	}
	s.conn.Close()
	s.wg.Wait()
	s.e.metrics.setConnected(false)
	s.e.mu.Lock()
	s.e.sessionID, s.e.node = 0, ""
	s.e.mu.Unlock()
}

// look lists the candidates and says where this replica stands (-1: its znode is gone). An answer
// renews the lease and the view of the leader.
func (s *session) look() ([]candidate, int, error) {
	sentAt := s.e.now()
	kids, _, err := s.conn.Children(s.e.cfg.Path)
	if err != nil {
		return nil, -1, fmt.Errorf("zookeeper list candidates: %w", err)
	}
	cs := candidates(kids)
	s.mu.Lock()
	pos := position(cs, nodeName(s.node))
	// An answer counts only in our own session: after an expiry the library quietly opens a new one.
	if !s.expired.Load() && s.conn.SessionID() == s.id.Load() {
		if pos < 0 {
			s.gone = true
		} else {
			s.lease.confirm(sentAt)
		}
	}
	s.mu.Unlock()
	s.e.observe(s, cs, sentAt)
	s.poke()
	return cs, pos, nil
}

func nodeName(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}

// observe records the leader and the number of candidates from one listing sent at sentAt.
func (e *Elector) observe(s *session, cs []candidate, sentAt time.Time) {
	e.metrics.setCandidates(len(cs))
	e.mu.Lock()
	e.view.candidates = len(cs)
	known := len(cs) > 0 && e.view.leaderNode == cs[0].name
	if len(cs) == 0 {
		e.view.leaderNode, e.view.leaderID = "", ""
	}
	if known {
		e.leaderSeen = sentAt
	}
	e.mu.Unlock()
	if len(cs) == 0 || known {
		return
	}
	data, _, err := s.conn.Get(e.cfg.Path + "/" + cs[0].name)
	if err != nil {
		return // the next look tries again
	}
	e.mu.Lock()
	changed := e.view.leaderID != string(data)
	e.view.leaderNode, e.view.leaderID, e.leaderSeen = cs[0].name, string(data), sentAt
	e.mu.Unlock()
	if changed {
		s.log.Info("leader", zap.String("leader", string(data)), zap.String("leader_znode", cs[0].name))
	}
}

// campaign looks, then leads or waits for its predecessor, until leadership ends, the session is lost or
// ctx ends (then it resigns and returns nil).
func (s *session) campaign(ctx context.Context, lead func(context.Context) error) error {
	for {
		if ctx.Err() != nil {
			s.resign()
			return nil
		}
		cs, pos, err := s.look()
		switch {
		case err != nil:
			return err
		case pos < 0:
			return errNodeGone
		case pos == 0:
			return s.lead(ctx, lead)
		}
		if err := s.follow(ctx, cs[pos-1]); err != nil {
			return err
		}
	}
}

// follow waits until the candidate just before this one may be gone; it watches that znode only.
func (s *session) follow(ctx context.Context, pred candidate) error {
	ok, _, w, err := s.conn.ExistsW(s.e.cfg.Path + "/" + pred.name)
	if err != nil {
		return fmt.Errorf("zookeeper watch predecessor: %w", err)
	}
	if !ok {
		return nil
	}
	s.log.Debug("following", zap.String("predecessor", pred.name))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w:
			// Deleted, changed, or the watch is lost with the session: the next look tells which.
			return nil
		case <-s.notify:
			if s.expired.Load() {
				return errExpired
			}
			if s.isGone() {
				return errNodeGone
			}
		}
	}
}

func (s *session) isGone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gone
}

// resign deletes this replica's znode, so that its successor moves up at once.
func (s *session) resign() {
	s.mu.Lock()
	node := s.node
	s.mu.Unlock()
	if err := s.conn.Delete(node, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		// close still ends the session, which removes the znode when ZooKeeper hears it; otherwise the
		// session expires.
		s.log.Warn("resign: delete znode failed; it goes when the session ends", zap.Error(err))
	}
}

// zkLog sends the client library's log to zap at debug level, and learns from it the session timeout
// ZooKeeper granted, which the library logs but does not expose. The library prints that line before it
// starts sending requests, so once any request is answered the value is known.
type zkLog struct{ s *session }

func (l zkLog) Printf(format string, args ...any) {
	if format == "authenticated: id=%d, timeout=%d" && len(args) == 2 {
		if ms, ok := args[1].(int32); ok {
			l.s.negotiated.Store(int64(ms))
		}
	}
	l.s.e.log.Debug("zookeeper client", zap.String("detail", fmt.Sprintf(format, args...)))
}
