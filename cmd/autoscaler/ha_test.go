package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marmot-project/marmot/election"
	"github.com/marmot-project/marmot/internal/daemon/zktest"
)

// mutations counts the mutating calls both replicas send: DRAIN_AGENT to Mesos per agent, and AWS
// calls per action and instance, through recording proxies.
type mutations struct {
	mu         sync.Mutex
	drains     map[string]int // agent ID -> DRAIN_AGENT calls
	terminates map[string]int // instance ID -> TerminateInstanceInAutoScalingGroup calls
	desired    []string       // SetDesiredCapacity values, in order
}

func newMutations() *mutations {
	return &mutations{drains: map[string]int{}, terminates: map[string]int{}}
}

// proxy puts a recording reverse proxy in front of target; note sees each POST's body.
func (m *mutations) proxy(t *testing.T, target string, note func(r *http.Request, body []byte)) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // SUBSCRIBE is a stream
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			note(r, body)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (m *mutations) mesos(_ *http.Request, body []byte) {
	var c struct {
		Type       string
		DrainAgent struct {
			AgentID struct{ Value string } `json:"agent_id"`
		} `json:"drain_agent"`
	}
	if json.Unmarshal(body, &c) == nil && c.Type == "DRAIN_AGENT" {
		m.mu.Lock()
		m.drains[c.DrainAgent.AgentID.Value]++
		m.mu.Unlock()
	}
}

func (m *mutations) aws(_ *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch form.Get("Action") {
	case "TerminateInstanceInAutoScalingGroup":
		m.terminates[form.Get("InstanceId")]++
	case "SetDesiredCapacity":
		m.desired = append(m.desired, form.Get("DesiredCapacity"))
	}
}

func (m *mutations) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("drains %v, terminations %v, desired capacities set %v", m.drains, m.terminates, m.desired)
}

// election reads the election block of a replica's /status.
func (p *process) election() election.Status {
	p.t.Helper()
	var doc struct {
		Election election.Status `json:"election"`
	}
	_, body := p.get("/status")
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		p.t.Fatalf("/status: %v\n%s", err, body)
	}
	return doc.Election
}

// TestLeaderKilledMidDrainFollowerTakesOver: two autoscaler replicas share a ZooKeeper election. Only
// the leader acts; the follower serves /status with the election block, and /healthz and /readyz
// answer 200. The leader is killed (SIGKILL) in the middle of shrinking the pool; the follower leads
// within 15 s and finishes the job, and nothing is done twice: no agent drained twice, no instance
// terminated twice, the pool ends at its size.
func TestLeaderKilledMidDrainFollowerTakesOver(t *testing.T) {
	zk := zktest.Start(t)
	s := startSim(t, 4, "")
	m := newMutations()
	mesosURL := m.proxy(t, s.LeaderMesosURL(), m.mesos)
	awsURL := m.proxy(t, s.AWSURL, m.aws)
	policyFile := writePolicy(t, fmt.Sprintf(e2ePolicy, "auto", 1, "30s"))
	ha := []string{"--zk", "zk://" + zk + "/marmot/autoscaler/leader", "--zk-session-timeout", "10s"}
	a := startAutoscalerWith(t, s, policyFile, awsURL, ha, mesosURL)
	b := startAutoscalerWith(t, s, policyFile, awsURL, ha, mesosURL)

	var leader, follower *process
	waitFor(t, 60*time.Second, "one replica to lead", func() (bool, string) {
		ea, eb := a.election(), b.election()
		switch {
		case ea.Leading && !eb.Leading:
			leader, follower = a, b
		case eb.Leading && !ea.Leading:
			leader, follower = b, a
		default:
			return false, fmt.Sprintf("a %+v, b %+v", ea, eb)
		}
		return eb.Leader == ea.Leader && ea.Candidates == 2, fmt.Sprintf("a %+v, b %+v", ea, eb)
	})
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, body := follower.get(path); code != http.StatusOK {
			t.Errorf("follower %s: %d %s", path, code, body)
		}
	}
	if _, metrics := follower.get("/metrics"); !strings.Contains(metrics, "marmot_autoscaler_leader 0") {
		t.Errorf("the follower's metrics do not say it follows")
	}

	waitFor(t, 90*time.Second, "the leader to drain an agent", func() (bool, string) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.drains) > 0, "no DRAIN_AGENT yet"
	})
	if st := follower.status(); len(st.Pools) > 0 && len(st.Pools[0].Actions) > 0 {
		t.Errorf("the follower acted: %+v", st.Pools[0].Actions)
	}
	leader.kill()
	killed := time.Now()
	waitFor(t, 30*time.Second, "the follower to lead", func() (bool, string) {
		e := follower.election()
		return e.Leading, fmt.Sprintf("%+v", e)
	})
	took := time.Since(killed)
	t.Logf("the follower led %s after the leader was killed", took.Round(10*time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("takeover took %s, more than 15s", took)
	}

	waitFor(t, 150*time.Second, "the pool to shrink to one agent", func() (bool, string) {
		desired, live := s.group()
		return desired == 1 && len(live) == 1, fmt.Sprintf("desired %d, live %v; %s", desired, live, m)
	})
	time.Sleep(3 * time.Second) // a late duplicate would come now
	t.Logf("%s", m)
	m.mu.Lock()
	defer m.mu.Unlock()
	for agent, n := range m.drains {
		if n > 1 {
			t.Errorf("agent %s drained %d times", agent, n)
		}
	}
	for in, n := range m.terminates {
		if n > 1 {
			t.Errorf("instance %s terminated %d times", in, n)
		}
	}
	if len(m.drains) != 3 {
		t.Errorf("%d agents drained, want 3 (4 shrunk to 1)", len(m.drains))
	}
}

// TestVersionFlag: --version prints the version and exits, with no other flag needed; the binary
// built with -ldflags -X prints the version given.
func TestVersionFlag(t *testing.T) {
	var out strings.Builder
	if code := run(t.Context(), []string{"--version"}, &out, io.Discard, env{}); code != 0 || !strings.HasPrefix(out.String(), "autoscaler ") {
		t.Fatalf("--version: %d %q", code, out.String())
	}
	if testing.Short() {
		t.Skip("-short: builds the binary")
	}
	bin := t.TempDir() + "/autoscaler"
	if b, err := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/marmot-project/marmot/internal/daemon.version=1.2.3-test", ".").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if b, err := exec.Command(bin, "--version").Output(); err != nil || !strings.HasPrefix(string(b), "autoscaler 1.2.3-test (go") {
		t.Fatalf("%v %q", err, b)
	}
}
