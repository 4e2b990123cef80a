package election

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// The tests run a real ZooKeeper (the Debian package) on loopback: one server for the package, started
// by TestMain, plus one of its own for the test that restarts it.
var (
	zkAddr string // 127.0.0.1:port of the shared server; "" when ZooKeeper tests skip
	zkSkip string // why they skip
)

const script = "../scripts/zookeeper.sh"

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(helperEnv) != "" {
		// A child process of TestKilledLeaderProcess: it uses the parent's server.
		os.Exit(m.Run())
	}
	os.Exit(runWithZooKeeper(m))
}

func runWithZooKeeper(m *testing.M) int {
	if testing.Short() {
		zkSkip = "-short: the tests against a real ZooKeeper are skipped"
		return m.Run()
	}
	if err := exec.Command(script, "check").Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			zkSkip = "ZooKeeper is not installed: apt-get install zookeeper (it brings default-jre)"
			return m.Run()
		}
		fmt.Fprintln(os.Stderr, "zookeeper.sh check:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "marmot-election-zk-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := startZooKeeper(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.stop()
	zkAddr = srv.addr
	if err := createTestRoot(zkAddr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// testRoot is the parent of every test's election path. It is created open to all before any test
// runs: the tests run in parallel, and TestDigestAuth, creating it first, would give it an ACL that
// keeps every test without the password from creating its own path under it.
const testRoot = "/marmot-test"

func createTestRoot(addr string) error {
	c, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(quiet{}))
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Create(testRoot, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("creating %s: %w", testRoot, err)
	}
	return nil
}

// zkServer is a ZooKeeper started by scripts/zookeeper.sh.
type zkServer struct {
	dir  string
	port int
	addr string
}

// startZooKeeper starts a server with its data in dir on a free loopback port.
func startZooKeeper(dir string) (*zkServer, error) {
	var last error
	for range 3 { // the free port may be taken between our probe and the JVM's bind
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		z := &zkServer{dir: dir, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		if last = z.start(); last == nil {
			return z, nil
		}
	}
	return nil, last
}

func (z *zkServer) start() error {
	cmd := exec.Command(script, "start", z.dir, strconv.Itoa(z.port))
	cmd.Env = append(os.Environ(), "ZK_WATCH_PID="+strconv.Itoa(os.Getpid()))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("zookeeper.sh start: %v\n%s", err, out)
	}
	return nil
}

func (z *zkServer) stop() error {
	out, err := exec.Command(script, "stop", z.dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("zookeeper.sh stop: %v\n%s", err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func needZooKeeper(t *testing.T) {
	t.Helper()
	if zkAddr == "" {
		t.Skip(zkSkip)
	}
}

var unsafePath = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// testPath is an election path of its own for each test.
func testPath(t *testing.T) string {
	g, err := newGUID()
	if err != nil {
		t.Fatal(err)
	}
	return testRoot + "/" + unsafePath.ReplaceAllString(t.Name(), "_") + "-" + g[:8] + "/leader"
}

// adminConn is a plain client for looking at and meddling with the election from outside.
func adminConn(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	c, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// fourLetter sends one of ZooKeeper's four-letter commands and returns the answer.
func fourLetter(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, cmd); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// netSwitch stands between one replica and ZooKeeper, to crash or partition that replica's network
// without touching anyone else's.
type netSwitch struct {
	mu    sync.Mutex
	down  bool // new connections fail
	conns []*switchConn
}

func (n *netSwitch) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return nil, errors.New("test: this replica's network is down")
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	sc := &switchConn{Conn: c}
	n.conns = append(n.conns, sc)
	return sc, nil
}

// crash closes the replica's connections and refuses new ones, as when its process dies: ZooKeeper sees
// the connection close but keeps the session until it expires.
func (n *netSwitch) crash() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = true
	for _, c := range n.conns {
		_ = c.Close()
	}
	n.conns = nil
}

// isolate silently drops everything both ways on the open connections and refuses new ones: a network
// partition, which neither side notices until its timeouts.
func (n *netSwitch) isolate() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = true
	for _, c := range n.conns {
		c.silent.Store(true)
	}
}

// heal lets new connections through again (silenced ones stay silent until the client drops them).
func (n *netSwitch) heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = false
}

type switchConn struct {
	net.Conn
	silent atomic.Bool
}

func (c *switchConn) Write(b []byte) (int, error) {
	if c.silent.Load() {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *switchConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if err != nil || !c.silent.Load() {
			return n, err
		}
		// Swallowed: the reader waits on until its deadline, as over a dead network.
	}
}

// ledger records what leader callbacks do, to prove that no two ever ran at once and no job was done
// twice.
type ledger struct {
	mu       sync.Mutex
	active   map[string]bool
	overlaps []string
	starts   []mark
	ends     []mark
	nextJob  int
	jobs     map[int]string
	dups     []string
}

type mark struct {
	who string
	at  time.Time
}

func newLedger() *ledger { return &ledger{active: map[string]bool{}, jobs: map[int]string{}} }

// lead is a leader callback for replica who: it does a job every 5 ms until its context ends. A job
// reads the next job number, works, then records it, the way a reconcile reads state and then acts;
// two leaders at once would do some job twice.
func (l *ledger) lead(who string) func(context.Context) error {
	return func(ctx context.Context) error {
		l.begin(who)
		defer l.end(who)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				l.job(who)
			}
		}
	}
}

func (l *ledger) begin(who string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for other, on := range l.active {
		if on {
			l.overlaps = append(l.overlaps, fmt.Sprintf("%s started while %s led", who, other))
		}
	}
	l.active[who] = true
	l.starts = append(l.starts, mark{who, time.Now()})
}

func (l *ledger) end(who string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active[who] = false
	l.ends = append(l.ends, mark{who, time.Now()})
}

func (l *ledger) job(who string) {
	l.mu.Lock()
	n := l.nextJob
	l.mu.Unlock()
	time.Sleep(time.Millisecond) // the work between reading the state and acting on it
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, done := l.jobs[n]; done {
		l.dups = append(l.dups, fmt.Sprintf("job %d done by %s and %s", n, prev, who))
	}
	l.jobs[n] = who
	l.nextJob = n + 1
}

// waitStart waits for the first callback start after since and returns it.
func (l *ledger) waitStart(t *testing.T, since time.Time, within time.Duration) mark {
	t.Helper()
	var m mark
	waitFor(t, within, "a leader callback starts", func() bool {
		var ok bool
		m, ok = l.startAfter(since)
		return ok
	})
	return m
}

// startAfter returns the first callback start after since.
func (l *ledger) startAfter(since time.Time) (mark, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.starts {
		if m.at.After(since) {
			return m, true
		}
	}
	return mark{}, false
}

func (l *ledger) endOf(who string, after time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.ends {
		if m.who == who && !m.at.Before(after) {
			return m.at, true
		}
	}
	return time.Time{}, false
}

// check fails the test if two callbacks ever overlapped or a job was done twice.
func (l *ledger) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.overlaps {
		t.Errorf("overlap: %s", o)
	}
	for _, d := range l.dups {
		t.Errorf("done twice: %s", d)
	}
	if len(l.jobs) == 0 {
		t.Errorf("no leader ever did a job")
	}
}

// replica is one Elector running in the test process.
type replica struct {
	name   string
	e      *Elector
	sw     *netSwitch
	cancel context.CancelFunc
	done   chan error
}

// config is a test configuration; tests change what they need.
func config(addr, path, name string, log *zap.Logger) Config {
	return Config{Servers: []string{addr}, Path: path, ID: name, Logger: log.With(zap.String("test_replica", name)),
		Metrics: NewMetrics("test", prometheus.NewRegistry())}
}

// startReplica runs e.Run in a goroutine the test waits for at cleanup.
func startReplica(t *testing.T, cfg Config, lead func(context.Context) error) *replica {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{name: cfg.ID, e: e, sw: &netSwitch{}, done: make(chan error, 1)}
	e.dial = r.sw.dial
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- e.Run(ctx, lead) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it; it returns Run's error. Calling it again is harmless.
func (r *replica) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: Run did not return 30s after its context was cancelled", r.name)
		return nil
	}
}

// leaders returns the replicas that lead now.
func leaders(rs []*replica) []*replica {
	var out []*replica
	for _, r := range rs {
		if r.e.IsLeader() {
			out = append(out, r)
		}
	}
	return out
}

// waitOneLeader waits until exactly one of rs leads and returns it.
func waitOneLeader(t *testing.T, rs []*replica, within time.Duration) *replica {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if ls := leaders(rs); len(ls) == 1 {
			return ls[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no single leader among %d replicas within %s", len(rs), within)
	return nil
}

// waitFor polls cond every 10 ms until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sampler checks every 2 ms, in the background, that at most one replica says it leads.
type sampler struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples int
	double  []string
}

func startSampler(t *testing.T, rs func() []*replica) *sampler {
	s := &sampler{stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			ls := leaders(rs())
			s.mu.Lock()
			s.samples++
			if len(ls) > 1 {
				names := make([]string, len(ls))
				for i, r := range ls {
					names[i] = r.name
				}
				s.double = append(s.double, strings.Join(names, "+"))
			}
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.finish)
	return s
}

func (s *sampler) finish() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
}

func (s *sampler) check(t *testing.T) {
	t.Helper()
	s.finish()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.double) > 0 {
		t.Errorf("%d of %d samples saw more than one leader: %v", len(s.double), s.samples, s.double[:min(5, len(s.double))])
	}
	t.Logf("%d samples of IsLeader, never two leaders at once: %v", s.samples, len(s.double) == 0)
}

// testLogger logs to the test at info level (debug shows every client reconnect).
func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
}

// helperEnv, when set, makes this test binary a replica for TestKilledLeaderProcess.
const helperEnv = "MARMOT_ELECTION_HELPER"

// runHelperChild starts this test binary as a replica process and waits until it leads.
func runHelperChild(t *testing.T, addr, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperReplica$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+addr+"|"+path)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	leading := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "LEADING" {
				close(leading)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case <-leading:
	case <-time.After(60 * time.Second):
		t.Fatal("the child replica did not lead within 60s")
	}
	return cmd
}
