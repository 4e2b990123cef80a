package marathonapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// Leadership and proxying as Marathon's LeaderProxyFilter and RequestForwarder do them (wire-facts §3.1).

func TestLeaderAnswersAndStandbyProxies(t *testing.T) {
	c := newTestCluster(t)

	r := c.do(0, "GET", "/v2/apps", nil)
	expect(t, r, http.StatusOK)
	if r.header.Get(headerLeader) != c.urls[0] || r.header.Get(headerVia) != "" {
		t.Errorf("leader answer: %s %q, %s %q", headerLeader, r.header.Get(headerLeader), headerVia, r.header.Get(headerVia))
	}

	r = c.do(1, "GET", "/v2/apps", nil)
	expect(t, r, http.StatusOK)
	if r.header.Get(headerLeader) != c.urls[0] || r.header.Get(headerVia) != "1.1 "+c.addrs[1] {
		t.Errorf("proxied answer: %s %q, %s %q", headerLeader, r.header.Get(headerLeader), headerVia, r.header.Get(headerVia))
	}
	if len(r.object(t)["apps"].([]any)) != 5 {
		t.Errorf("proxied body: %s", r.body)
	}

	// A write through the standby reaches the leader with its body.
	r = c.do(1, "POST", "/v2/apps", map[string]any{"id": "/via/standby", "cpus": 0.1, "mem": 32})
	expect(t, r, http.StatusCreated)
	if _, _, ok := c.app("/via/standby"); !ok {
		t.Error("the app posted through the standby does not exist")
	}
	if r.header.Get(headerDeploymentID) == "" || r.header.Get("Location") != "/v2/apps/via/standby" {
		t.Errorf("proxied 201 lost headers: %v", r.header)
	}

	// /ping is proxied too (Marathon's "forward ping" test); it answers "pong\n" as text.
	r = c.do(1, "GET", "/ping", nil)
	expect(t, r, http.StatusOK)
	if string(r.body) != "pong\n" || r.header.Get(headerVia) == "" {
		t.Errorf("ping via standby: %q, via %q", r.body, r.header.Get(headerVia))
	}
}

func TestStandbyRedirectsEvents(t *testing.T) {
	c := newTestCluster(t)
	r := c.do(1, "GET", "/v2/events?event_type=deployment_info", nil, "Accept", "text/event-stream")
	expect(t, r, http.StatusFound)
	if loc := r.header.Get("Location"); loc != c.urls[0]+"/v2/events?event_type=deployment_info" {
		t.Errorf("Location %q", loc)
	}
	if err := c.world.SetMarathonLeader(1); err != nil {
		t.Fatal(err)
	}
	r = c.do(0, "GET", "/v2/events", nil, "Accept", "text/event-stream")
	expect(t, r, http.StatusFound)
	if loc := r.header.Get("Location"); loc != c.urls[1]+"/v2/events" {
		t.Errorf("after the leader change, Location %q", loc)
	}
	r = c.do(0, "GET", "/v2/leader", nil)
	expect(t, r, http.StatusOK)
	if r.object(t)["leader"] != c.addrs[1] || r.header.Get(headerLeader) != c.urls[1] || r.header.Get(headerVia) != "1.1 "+c.addrs[0] {
		t.Errorf("leader after the change: %s, headers %v", r.body, r.header)
	}
}

func TestProxyLoopDetected(t *testing.T) {
	c := newTestCluster(t)
	// A request that already passed through this standby must not be forwarded again.
	r := c.do(1, "GET", "/v2/apps", nil, headerVia, "1.1 "+c.addrs[1])
	expect(t, r, http.StatusBadGateway)
	if r.object(t)["message"] != "Detected proxying loop." {
		t.Errorf("body %s", r.body)
	}
}

func TestNoLeader(t *testing.T) {
	c := newTestCluster(t, WithLeaderWait(0))
	if err := c.world.SetMarathonLeader(-1); err != nil {
		t.Fatal(err)
	}
	for i := range c.urls {
		r := c.do(i, "GET", "/v2/apps", nil)
		expect(t, r, http.StatusServiceUnavailable)
		if r.object(t)["message"] != "Could not determine the current leader" {
			t.Errorf("instance %d: %s", i, r.body)
		}
	}
}

// TestLeaderElectedWhileWaiting: a request held during an election is served once a leader appears.
func TestLeaderElectedWhileWaiting(t *testing.T) {
	c := newTestCluster(t, WithLeaderWait(time.Minute))
	if err := c.world.SetMarathonLeader(-1); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = c.world.SetMarathonLeader(1)
	}()
	r := c.do(0, "GET", "/v2/apps", nil)
	expect(t, r, http.StatusOK)
	if r.header.Get(headerLeader) != c.urls[1] {
		t.Errorf("served by %q, want the new leader", r.header.Get(headerLeader))
	}
}

func TestAbdicate(t *testing.T) {
	c := newTestCluster(t)
	r := c.do(1, "DELETE", "/v2/leader", nil)
	expect(t, r, http.StatusOK)
	if r.object(t)["message"] != "Leadership abdicated" {
		t.Errorf("body %s", r.body)
	}
	var leader int
	c.world.View(func(v *simulate.View) { leader = v.MarathonLeader() })
	if leader != 1 {
		t.Errorf("leader after abdication: %d, want 1", leader)
	}
}

func TestFaults(t *testing.T) {
	c := newTestCluster(t)
	if err := c.world.InjectFault(simulate.Fault{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMarathon, Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	// A request a sibling forwarded already went through fault injection there: it does not consume
	// the counted fault a second time.
	r := c.do(0, "GET", "/v2/apps", nil, headerVia, "1.1 "+c.addrs[1])
	expect(t, r, http.StatusOK)
	r = c.do(1, "GET", "/v2/apps", nil)
	expect(t, r, http.StatusServiceUnavailable)
	if r.object(t)["message"] != "Service Unavailable" {
		t.Errorf("fault body %s", r.body)
	}
	expect(t, c.do(1, "GET", "/v2/apps", nil), http.StatusOK)
}

// TestSlowResponseHonoursCancel: a slow-response fault sleeps, but not past the client's departure.
func TestSlowResponseHonoursCancel(t *testing.T) {
	c := newTestCluster(t)
	var active atomic.Int32
	h := New(c.world, 0, c.addrs)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	if err := c.world.InjectFault(simulate.Fault{Kind: simulate.FaultSlowResponse, Service: simulate.ServiceMarathon, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v2/apps", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a request delayed by an hour answered")
	}
	deadline := time.Now().Add(10 * time.Second)
	for active.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the handler kept sleeping after the client left")
		}
		time.Sleep(time.Millisecond)
	}
}
