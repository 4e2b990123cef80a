// Package election makes one replica of a Marmot daemon the leader, through ZooKeeper, which every Mesos
// cluster already runs.
//
// It is ZooKeeper's classic recipe. Each replica creates an ephemeral sequential znode under Config.Path,
// holding its ID; the lowest sequence leads; every other replica watches only the znode just before its
// own, so a departure wakes one replica, not all (no herd effect). A ZooKeeper session ends with its
// replica's process, network or explicit resignation, and its znode goes with it.
//
// The fencing rule: a replica acts as leader only while ZooKeeper has answered it within Config.Lease,
// and its callback's context is cancelled the moment that stops being true, the session expires or its
// znode is deleted. Since ZooKeeper keeps a silent session for the whole session timeout, the old leader
// has stopped at least SessionTimeout − Lease before anyone else can be elected. See lease.go and
// docs/ha.md.
//
// Daemons use it like this:
//
//	e, err := election.New(election.Config{Servers: servers, Path: "/marmot/autoscaler/leader", ID: id,
//		Logger: log, Metrics: election.NewMetrics("autoscaler", reg)})
//	...
//	err = e.Run(ctx, func(leaderCtx context.Context) error { return loop.Run(leaderCtx) })
//
// and serve e.Status() in /status and IsLeader in /readyz or wherever a replica must say whether it acts.
package election

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/zap"
)

// ErrLeadReturned is what Run returns when the leader callback returned nil by itself while still leading.
var ErrLeadReturned = errors.New("election: the leader callback returned while this replica still led")

// ErrRunning is what Run returns when Run is already running on the same Elector.
var ErrRunning = errors.New("election: Run is already running on this elector")

// Elector campaigns for one replica. Its methods are safe for concurrent use.
type Elector struct {
	cfg     Config
	acl     []zk.ACL
	log     *zap.Logger
	metrics *Metrics
	now     func() time.Time
	// dial opens connections to ZooKeeper; tests replace it to cut or silence the network of one replica.
	dial zk.Dialer

	running atomic.Bool
	leading atomic.Bool

	mu         sync.Mutex
	view       view
	sessionID  int64  // the current session, 0 without one (tests)
	node       string // this replica's znode, "" without one (tests)
	leaseLen   time.Duration
	leaderSeen time.Time // when ZooKeeper last confirmed view.leaderID
}

// view is what this replica last learnt about the election.
type view struct {
	leaderNode string
	leaderID   string
	candidates int
}

// New checks cfg, fills its defaults and returns an Elector. It does not contact ZooKeeper.
func New(cfg Config) (*Elector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.ID == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("election: no id given and no host name: %w", err)
		}
		cfg.ID = host
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Elector{
		cfg:      cfg,
		acl:      cfg.acl(),
		log:      log.With(zap.String("election_path", cfg.Path), zap.String("replica", cfg.ID)),
		metrics:  cfg.Metrics,
		now:      time.Now,
		dial:     netDialer,
		leaseLen: cfg.Lease,
	}, nil
}

// Run campaigns until ctx ends and calls lead each time this replica becomes the leader. It blocks.
//
// lead runs in a goroutine of its own with leaderCtx, which is cancelled the moment leadership is lost:
// the session expired, ZooKeeper did not answer within the lease, the znode was deleted, or ctx ended.
// lead must stop acting and return promptly once leaderCtx is done; it has SessionTimeout − Lease (5 s
// by default) before another replica could be elected. Run never calls lead again before the previous
// call returned, and never releases its znode (which would let a follower in at once) before lead
// returned. After losing leadership Run starts over with a new session and a new znode, at the back of
// the line.
//
// Run returns nil when ctx ends, after resigning: lead's context is cancelled, lead has returned, and the
// znode is deleted, so a follower takes over without waiting for the session to expire. If lead returns
// by itself while still leading, Run resigns the same way and returns lead's error (ErrLeadReturned if
// it was nil): a leader that stopped working must not keep the others out. Trouble with ZooKeeper is not
// returned: Run logs it and starts over after a backoff. It returns ErrRunning if already running.
func (e *Elector) Run(ctx context.Context, lead func(leaderCtx context.Context) error) error {
	if !e.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer e.running.Store(false)
	var b backoff
	for {
		stood, err := e.term(ctx, lead)
		var lr *leadReturned
		switch {
		case errors.As(err, &lr):
			return lr.err
		case ctx.Err() != nil:
			return nil
		case err != nil:
			e.log.Warn("election session ended, starting over", zap.Error(err))
		}
		if stood {
			b.reset()
		}
		if !sleep(ctx, b.next()) {
			return nil
		}
	}
}

// IsLeader says whether this replica leads now, that is whether a leader callback's context is live.
// It turns false the moment leadership is lost, possibly before the callback has returned.
func (e *Elector) IsLeader() bool { return e.leading.Load() }

// Leader returns the ID of the leader as this replica last saw it, and whether that is current: true
// when this replica leads, or when ZooKeeper confirmed the leader within the lease. ("", false) before
// the first look.
func (e *Elector) Leader() (id string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading.Load() {
		return e.cfg.ID, true
	}
	fresh := !e.leaderSeen.IsZero() && e.now().Sub(e.leaderSeen) < e.leaseLen
	return e.view.leaderID, fresh && e.view.leaderID != ""
}

// Status is the election part of a daemon's /status.
type Status struct {
	// ID is this replica.
	ID string `json:"id"`
	// Leading says whether this replica leads.
	Leading bool `json:"leading"`
	// Leader is the leader's ID as this replica last saw it; LeaderKnown says whether that is current.
	Leader      string `json:"leader,omitempty"`
	LeaderKnown bool   `json:"leader_known"`
	// Candidates is the number of replicas standing for election, this one included, as last seen.
	Candidates int `json:"candidates"`
	// Path is the election's znode.
	Path string `json:"path"`
}

// Status returns a snapshot for /status. It does not contact ZooKeeper.
func (e *Elector) Status() Status {
	leader, known := e.Leader()
	e.mu.Lock()
	n := e.view.candidates
	e.mu.Unlock()
	return Status{ID: e.cfg.ID, Leading: e.IsLeader(), Leader: leader, LeaderKnown: known, Candidates: n, Path: e.cfg.Path}
}

// setLeading flips IsLeader and the leader gauge, counting the transition.
func (e *Elector) setLeading(leading bool, r Reason) {
	e.leading.Store(leading)
	e.metrics.setLeader(leading, r)
}

// leadReturned carries the callback's own return out of a term.
type leadReturned struct{ err error }

func (l *leadReturned) Error() string { return fmt.Sprintf("leader callback returned: %v", l.err) }

// backoff spaces sessions after failures: 250 ms doubling to 8 s, reset once a session got as far as
// standing for election. Fixed steps keep tests predictable; replicas desynchronise anyway because
// they fail at different moments.
type backoff struct{ n int }

func (b *backoff) next() time.Duration {
	d := 250 * time.Millisecond << min(b.n, 5)
	b.n++
	return d
}

func (b *backoff) reset() { b.n = 0 }

// sleep waits d or until ctx ends; it reports whether the full d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
