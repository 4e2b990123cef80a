package election

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// takeoverBound is the promise: a follower takes over within 15 s of the leader's death.
const takeoverBound = 15 * time.Second

// startThree starts replicas a, b and c one after the other, so that a leads, b follows a and c follows b.
func startThree(t *testing.T, path string, led *ledger, tweak func(*Config)) []*replica {
	t.Helper()
	log := testLogger(t)
	var rs []*replica
	for _, name := range []string{"a", "b", "c"} {
		cfg := config(zkAddr, path, name, log)
		if tweak != nil {
			tweak(&cfg)
		}
		r := startReplica(t, cfg, led.lead(name))
		waitFor(t, 30*time.Second, name+" stands", func() bool { return r.e.Status().Candidates == len(rs)+1 })
		rs = append(rs, r)
	}
	return rs
}

func TestOneLeaderAmongThree(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	led := newLedger()
	rs := startThree(t, testPath(t), led, nil)
	s := startSampler(t, func() []*replica { return rs })
	leader := waitOneLeader(t, rs, 30*time.Second)
	if leader.name != "a" {
		t.Errorf("leader = %s, want a (the lowest sequence)", leader.name)
	}
	time.Sleep(2 * time.Second)
	for _, r := range rs {
		st := r.e.Status()
		if st.Leader != "a" || !st.LeaderKnown || st.Candidates != 3 || st.Leading != (r == leader) {
			t.Errorf("%s: status %+v, want leader a known, 3 candidates, leading=%v", r.name, st, r == leader)
		}
		if got := value(t, r.e.metrics.leader); got != b2f(r == leader) {
			t.Errorf("%s: leader gauge %v", r.name, got)
		}
		if got := value(t, r.e.metrics.connected); got != 1 {
			t.Errorf("%s: connected gauge %v", r.name, got)
		}
		if got := value(t, r.e.metrics.candidates); got != 3 {
			t.Errorf("%s: candidates gauge %v", r.name, got)
		}
	}
	if got := value(t, leader.e.metrics.transitions.WithLabelValues(string(Elected))); got != 1 {
		t.Errorf("elected transitions = %v, want 1", got)
	}
	s.check(t)
	led.check(t)
}

// Cancelling the leader's context resigns: it deletes its znode and the next replica leads at once.
func TestResignHandsOver(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	led := newLedger()
	rs := startThree(t, testPath(t), led, nil)
	s := startSampler(t, func() []*replica { return rs })
	var figures []string
	live := rs
	for len(live) > 1 {
		old := waitOneLeader(t, live, 30*time.Second)
		time.Sleep(200 * time.Millisecond) // let it do some jobs
		killed := time.Now()
		if err := old.stop(t); err != nil {
			t.Fatalf("%s: Run returned %v after resigning, want nil", old.name, err)
		}
		if got := value(t, old.e.metrics.transitions.WithLabelValues(string(Resigned))); got != 1 {
			t.Errorf("%s: resigned transitions = %v", old.name, got)
		}
		live = without(live, old)
		next := waitOneLeader(t, live, takeoverBound)
		m := led.waitStart(t, killed, takeoverBound)
		if m.who != next.name {
			t.Fatalf("%s's callback started, but %s leads", m.who, next.name)
		}
		took := m.at.Sub(killed)
		figures = append(figures, fmt.Sprintf("%s→%s %s", old.name, next.name, took.Round(time.Millisecond)))
		if took >= takeoverBound {
			t.Errorf("takeover after resignation took %s", took)
		}
	}
	t.Logf("takeover after resignation (cancel → next callback running): %s", strings.Join(figures, ", "))
	s.check(t)
	led.check(t)
}

func without(rs []*replica, x *replica) []*replica {
	var out []*replica
	for _, r := range rs {
		if r != x {
			out = append(out, r)
		}
	}
	return out
}

// A leader that vanishes without resigning keeps its znode until ZooKeeper expires its session: a
// crash (the connection closes) or a silent partition (nothing arrives either way). With the default
// 10 s session and 5 s lease, the old leader must stop first, and a follower must lead within 15 s.
func TestVanishedLeader(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		cut  func(*netSwitch)
	}{
		{"crash", (*netSwitch).crash},
		{"silent partition", (*netSwitch).isolate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			led := newLedger()
			rs := startThree(t, testPath(t), led, nil)
			s := startSampler(t, func() []*replica { return rs })
			old := waitOneLeader(t, rs, 30*time.Second)
			time.Sleep(500 * time.Millisecond)
			cutAt := time.Now()
			tc.cut(old.sw)
			next := waitOneLeader(t, without(rs, old), 2*takeoverBound)
			m := led.waitStart(t, cutAt, takeoverBound)
			stopped, ok := led.endOf(old.name, cutAt)
			if !ok {
				t.Fatalf("%s's callback never returned, yet %s leads", old.name, next.name)
			}
			took := m.at.Sub(cutAt)
			t.Logf("%s: old leader stopped %s after the cut; %s led %s after the cut (gap %s)", tc.name,
				stopped.Sub(cutAt).Round(time.Millisecond), next.name, took.Round(time.Millisecond),
				m.at.Sub(stopped).Round(time.Millisecond))
			if !stopped.Before(m.at) {
				t.Errorf("the old leader stopped at +%s, after the new one started at +%s", stopped.Sub(cutAt), took)
			}
			if stopped.Sub(cutAt) > old.e.cfg.Lease+time.Second {
				t.Errorf("the old leader acted %s after the cut, more than its %s lease", stopped.Sub(cutAt), old.e.cfg.Lease)
			}
			if took >= takeoverBound {
				t.Errorf("takeover took %s, want < %s", took, takeoverBound)
			}
			if got := value(t, old.e.metrics.transitions.WithLabelValues(string(LeaseLapsed))); got != 1 {
				t.Errorf("lease_lapsed transitions of the old leader = %v, want 1", got)
			}
			// Back on the network, the old leader stands again, behind the others.
			old.sw.heal()
			waitFor(t, 60*time.Second, "the old leader stands again", func() bool { return old.e.Status().Candidates == 3 })
			time.Sleep(time.Second)
			if ls := leaders(rs); len(ls) != 1 || ls[0] != next {
				t.Errorf("after healing, leaders = %d, want only %s", len(ls), next.name)
			}
			s.check(t)
			led.check(t)
		})
	}
}

// TestHelperReplica is not a test: it is the replica process TestKilledLeaderProcess starts and kills.
func TestHelperReplica(t *testing.T) {
	env := os.Getenv(helperEnv)
	if env == "" {
		t.Skip("the replica process of TestKilledLeaderProcess")
	}
	addr, path, _ := strings.Cut(env, "|")
	e, err := New(Config{Servers: []string{addr}, Path: path, ID: "child"})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Run(context.Background(), func(ctx context.Context) error {
		fmt.Println("LEADING")
		<-ctx.Done()
		return nil
	})
}

// The leader's process is killed with SIGKILL: nothing resigns, the kernel closes the connection, and the
// session must expire. A follower leads within 15 s.
func TestKilledLeaderProcess(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	path := testPath(t)
	child := runHelperChild(t, zkAddr, path)
	led := newLedger()
	log := testLogger(t)
	var rs []*replica
	for _, name := range []string{"b", "c"} {
		r := startReplica(t, config(zkAddr, path, name, log), led.lead(name))
		waitFor(t, 30*time.Second, name+" stands", func() bool { return r.e.Status().Candidates == len(rs)+2 })
		rs = append(rs, r)
	}
	if ls := leaders(rs); len(ls) != 0 {
		t.Fatalf("%s leads while the child does", ls[0].name)
	}
	if id, ok := rs[0].e.Leader(); id != "child" || !ok {
		t.Errorf("b sees leader %q (%v), want child", id, ok)
	}
	killed := time.Now()
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	next := waitOneLeader(t, rs, 2*takeoverBound)
	m := led.waitStart(t, killed, takeoverBound)
	took := m.at.Sub(killed)
	t.Logf("leader process killed: %s led %s later", next.name, took.Round(time.Millisecond))
	if took >= takeoverBound {
		t.Errorf("takeover took %s, want < %s", took, takeoverBound)
	}
	time.Sleep(100 * time.Millisecond) // some jobs for the ledger
	led.check(t)
}

// Deleting the leader's znode by hand (an operator forcing a failover) stops it at once.
func TestZnodeDeleted(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	path := testPath(t)
	led := newLedger()
	rs := startThree(t, path, led, nil)
	s := startSampler(t, func() []*replica { return rs })
	old := waitOneLeader(t, rs, 30*time.Second)
	old.e.mu.Lock()
	node := old.e.node
	old.e.mu.Unlock()
	deleted := time.Now()
	if err := adminConn(t, zkAddr).Delete(node, -1); err != nil {
		t.Fatal(err)
	}
	next := waitOneLeader(t, without(rs, old), takeoverBound)
	m := led.waitStart(t, deleted, takeoverBound)
	t.Logf("znode deleted: %s led %s later", next.name, m.at.Sub(deleted).Round(time.Millisecond))
	if got := value(t, old.e.metrics.transitions.WithLabelValues(string(ZnodeDeleted))); got != 1 {
		t.Errorf("znode_deleted transitions = %v, want 1", got)
	}
	waitFor(t, 30*time.Second, "the old leader stands again", func() bool { return old.e.Status().Candidates == 3 })
	s.check(t)
	led.check(t)
}

// Each follower watches its predecessor's znode and nothing else; the leader watches only its own.
// ZooKeeper's "wchc" command lists the watches of every session.
func TestPredecessorWatchesOnly(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	path := testPath(t)
	led := newLedger()
	log := testLogger(t)
	var rs []*replica
	for i := range 4 {
		name := string(rune('a' + i))
		r := startReplica(t, config(zkAddr, path, name, log), led.lead(name))
		waitFor(t, 30*time.Second, name+" stands", func() bool { return r.e.Status().Candidates == i+1 })
		rs = append(rs, r)
	}
	waitOneLeader(t, rs, 30*time.Second)
	want := map[string][]string{} // session → the paths it should watch
	for i, r := range rs {
		r.e.mu.Lock()
		sess, node := fmt.Sprintf("0x%x", r.e.sessionID), r.e.node
		r.e.mu.Unlock()
		if i == 0 {
			want[sess] = []string{node}
			continue
		}
		rs[i-1].e.mu.Lock()
		want[sess] = []string{rs[i-1].e.node}
		rs[i-1].e.mu.Unlock()
	}
	var got map[string][]string
	waitFor(t, 10*time.Second, "watches as expected", func() bool {
		got = watchesBySession(fourLetter(t, zkAddr, "wchc"))
		for sess, paths := range want {
			if strings.Join(got[sess], ",") != strings.Join(paths, ",") {
				return false
			}
		}
		return true
	})
	for sess := range want {
		t.Logf("session %s watches %v", sess, got[sess])
	}
	led.check(t)
}

// watchesBySession parses "wchc": a session id line, then one tab-indented line per watched path.
func watchesBySession(out string) map[string][]string {
	m := map[string][]string{}
	var sess string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "0x"):
			sess = strings.TrimSpace(line)
		case strings.HasPrefix(line, "\t") && sess != "":
			m[sess] = append(m[sess], strings.TrimSpace(line))
		}
	}
	return m
}

// A callback that returns by itself ends Run with its error, and the replica resigns.
func TestLeaderCallbackReturns(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	path := testPath(t)
	log := testLogger(t)
	boom := errors.New("boom")
	quit := make(chan error, 1)
	a := startReplica(t, config(zkAddr, path, "a", log), func(ctx context.Context) error {
		select {
		case err := <-quit:
			return err
		case <-ctx.Done():
			return nil
		}
	})
	waitOneLeader(t, []*replica{a}, 30*time.Second)
	led := newLedger()
	b := startReplica(t, config(zkAddr, path, "b", log), led.lead("b"))
	waitFor(t, 30*time.Second, "b stands", func() bool { return b.e.Status().Candidates == 2 })
	returned := time.Now()
	quit <- boom
	select {
	case err := <-a.done:
		close(a.done)
		if !errors.Is(err, boom) {
			t.Errorf("Run returned %v, want boom", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the callback did")
	}
	waitOneLeader(t, []*replica{a, b}, takeoverBound)
	m := led.waitStart(t, returned, takeoverBound)
	t.Logf("callback returned: b led %s later", m.at.Sub(returned).Round(time.Millisecond))
	if got := value(t, a.e.metrics.transitions.WithLabelValues(string(CallbackReturned))); got != 1 {
		t.Errorf("callback_returned transitions = %v", got)
	}

	// nil from the callback is ErrLeadReturned.
	c := startReplica(t, config(zkAddr, testPath(t), "c", log), func(context.Context) error { return nil })
	select {
	case err := <-c.done:
		close(c.done)
		if !errors.Is(err, ErrLeadReturned) {
			t.Errorf("Run returned %v, want ErrLeadReturned", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the callback did")
	}
}

// ZooKeeper itself goes down and comes back (its own server, not the shared one). While it is down the
// leader stops within its lease and nobody leads; afterwards exactly one leads again.
func TestZooKeeperRestart(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	srv, err := startZooKeeper(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.stop() })
	led := newLedger()
	path := testPath(t)
	log := testLogger(t)
	var rs []*replica
	for _, name := range []string{"a", "b", "c"} {
		r := startReplica(t, config(srv.addr, path, name, log), led.lead(name))
		waitFor(t, 30*time.Second, name+" stands", func() bool { return r.e.Status().Candidates == len(rs)+1 })
		rs = append(rs, r)
	}
	s := startSampler(t, func() []*replica { return rs })
	old := waitOneLeader(t, rs, 30*time.Second)
	down := time.Now()
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, old.e.cfg.Lease+2*time.Second, "the leader stops without ZooKeeper", func() bool { return len(leaders(rs)) == 0 })
	stopped, _ := led.endOf(old.name, down)
	time.Sleep(3 * time.Second)
	if ls := leaders(rs); len(ls) != 0 {
		t.Fatalf("%s leads while ZooKeeper is down", ls[0].name)
	}
	up := time.Now()
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	next := waitOneLeader(t, rs, 60*time.Second)
	m := led.waitStart(t, up, 60*time.Second)
	t.Logf("ZooKeeper restart: leader %s stopped %s after ZooKeeper went down; down for %s; %s led %s after it was back",
		old.name, stopped.Sub(down).Round(time.Millisecond), up.Sub(down).Round(time.Millisecond), next.name,
		m.at.Sub(up).Round(time.Millisecond))
	waitFor(t, 60*time.Second, "all three stand again", func() bool {
		for _, r := range rs {
			if r.e.Status().Candidates != 3 {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	if ls := leaders(rs); len(ls) != 1 {
		t.Errorf("%d leaders after the restart settled", len(ls))
	}
	s.check(t)
	led.check(t)
}

// With digest auth, the election's znodes are the user's: anyone may read them, but a replica with the
// wrong password (or none) cannot stand, so it can never lead.
func TestDigestAuth(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	path := testPath(t)
	log := testLogger(t)
	led := newLedger()
	good := config(zkAddr, path, "good", log)
	good.Auth = "marmot:s3cret"
	a := startReplica(t, good, led.lead("good"))
	waitOneLeader(t, []*replica{a}, 30*time.Second)

	admin := adminConn(t, zkAddr)
	acl, _, err := admin.GetACL(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(acl) != 2 || acl[0].Scheme != "digest" || !strings.HasPrefix(acl[0].ID, "marmot:") || acl[0].Perms != zk.PermAll ||
		acl[1].Scheme != "world" || acl[1].Perms != zk.PermRead {
		t.Errorf("ACL of %s = %+v, want digest marmot all + world read", path, acl)
	}
	if kids, _, err := admin.Children(path); err != nil || len(kids) != 1 {
		t.Errorf("anyone reads the candidates: %v, %v", kids, err)
	}

	bad := config(zkAddr, path, "bad", log)
	bad.Auth = "marmot:wrong"
	none := config(zkAddr, path, "none", log)
	b := startReplica(t, bad, led.lead("bad"))
	c := startReplica(t, none, led.lead("none"))
	time.Sleep(2 * time.Second)
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if ls := leaders([]*replica{b, c}); len(ls) != 0 {
		t.Errorf("%s leads without the right credentials", ls[0].name)
	}
	if kids, _, _ := admin.Children(path); len(kids) != 0 {
		t.Errorf("candidates without credentials: %v", kids)
	}
	led.check(t)
}

// ZooKeeper grants a session timeout within [2, 20] ticks; when it grants less than we asked for, the
// lease shrinks in proportion. The shared server's tick is 2 s, so 60 s becomes 40 s.
func TestNegotiatedSessionTimeout(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	cfg := config(zkAddr, testPath(t), "a", testLogger(t))
	cfg.SessionTimeout, cfg.Lease = time.Minute, 30*time.Second
	a := startReplica(t, cfg, newLedger().lead("a"))
	waitOneLeader(t, []*replica{a}, 30*time.Second)
	a.e.mu.Lock()
	got := a.e.leaseLen
	a.e.mu.Unlock()
	if got != 20*time.Second {
		t.Errorf("lease = %s, want 20s (30s × 40s granted / 60s asked)", got)
	}
}

// Run refuses to run twice at once, and returns promptly when cancelled while ZooKeeper is unreachable.
func TestRunTwiceAndCancelWithoutZooKeeper(t *testing.T) {
	t.Parallel()
	port, err := freePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Servers: []string{fmt.Sprintf("127.0.0.1:%d", port)}, Path: "/marmot/x/leader", ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var first error
	wg.Add(1)
	go func() { defer wg.Done(); first = e.Run(ctx, func(context.Context) error { return nil }) }()
	waitFor(t, 5*time.Second, "Run is running", e.running.Load)
	if err := e.Run(ctx, nil); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	if id, ok := e.Leader(); ok || id != "" || e.IsLeader() {
		t.Errorf("Leader() = %q, %v without ZooKeeper", id, ok)
	}
	start := time.Now()
	cancel()
	wg.Wait()
	if first != nil {
		t.Errorf("Run = %v after cancel, want nil", first)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %s to return after cancel", took)
	}
}

// value reads one gauge or counter (the client library's testutil would add a module to go.mod).
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	case d.Counter != nil:
		return d.Counter.GetValue()
	}
	t.Fatalf("%v is neither a gauge nor a counter", m.Desc())
	return 0
}

// A create whose answer is lost (the connection drops after ZooKeeper made the znode) is recovered by
// the guid in the znode's name, instead of leaving an orphan candidate that would block the others.
func TestFindOwnZnodeByGUID(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	e, err := New(config(zkAddr, testPath(t), "a", testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.openSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.await(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.prepare(); err != nil {
		t.Fatal(err)
	}
	g, _ := newGUID()
	made, err := s.conn.Create(e.cfg.Path+"/"+nodePrefix(g), nil, zk.FlagEphemeral|zk.FlagSequence, e.acl)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.findOwn(g); !ok || got != made {
		t.Errorf("findOwn = %q, %v; want %q", got, ok, made)
	}
	other, _ := newGUID()
	if got, ok := s.findOwn(other); ok {
		t.Errorf("findOwn(another guid) = %q", got)
	}
}

// A callback slow to stop keeps leadership held, by Run, until it has returned: the next replica starts
// only afterwards, on resignation as after a lost lease.
func TestSlowCallbackKeepsOthersOut(t *testing.T) {
	needZooKeeper(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		lose func(*replica)
	}{
		{"resign", func(r *replica) { r.cancel() }},
		{"lease lapsed", func(r *replica) { r.sw.crash() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := testPath(t)
			log := testLogger(t)
			led := newLedger()
			slow := func(who string) func(context.Context) error {
				inner := led.lead(who)
				return func(ctx context.Context) error {
					// Ignores its context for 2 s after cancellation (less than SessionTimeout − Lease).
					stopped := make(chan struct{})
					wctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					go func() { <-ctx.Done(); time.Sleep(2 * time.Second); cancel(); close(stopped) }()
					err := inner(wctx)
					<-stopped
					return err
				}
			}
			a := startReplica(t, config(zkAddr, path, "a", log), slow("a"))
			waitOneLeader(t, []*replica{a}, 30*time.Second)
			b := startReplica(t, config(zkAddr, path, "b", log), led.lead("b"))
			waitFor(t, 30*time.Second, "b stands", func() bool { return b.e.Status().Candidates == 2 })
			lost := time.Now()
			tc.lose(a)
			m := led.waitStart(t, lost, takeoverBound)
			stopped, ok := led.endOf("a", lost)
			if !ok || !stopped.Before(m.at) {
				t.Fatalf("b started at +%s before a's callback returned (%v, +%s)", m.at.Sub(lost), ok, stopped.Sub(lost))
			}
			t.Logf("%s: a's callback returned +%s, b started +%s", tc.name, stopped.Sub(lost).Round(time.Millisecond),
				m.at.Sub(lost).Round(time.Millisecond))
			time.Sleep(100 * time.Millisecond)
			led.check(t)
		})
	}
}
