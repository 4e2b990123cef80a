package marathonapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	marathon "github.com/gambol99/go-marathon"

	"github.com/marmot-project/marmot/simulate"
)

// fixtures is the shared upstream material, from this package's directory.
const fixtures = "../../../shared/fixtures/marathon/"

// testCluster is the `small` scenario in virtual time, with one httptest server per Marathon instance
// running this package's handler: the same constructor the simulator uses.
type testCluster struct {
	t       *testing.T
	clock   *simulate.VirtualClock
	world   *simulate.World
	servers []*httptest.Server
	addrs   []string // host:port by instance
	urls    []string // http://host:port by instance
}

func newTestCluster(t *testing.T, opts ...Option) *testCluster {
	t.Helper()
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	clock := simulate.NewVirtualClock(sc.StartTime())
	w, err := simulate.New(sc, clock, simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, clock: clock, world: w}
	var n int
	w.View(func(v *simulate.View) { n = v.MarathonInstances() })
	for range n {
		srv := httptest.NewUnstartedServer(nil)
		c.servers = append(c.servers, srv)
		c.addrs = append(c.addrs, srv.Listener.Addr().String())
		c.urls = append(c.urls, "http://"+srv.Listener.Addr().String())
	}
	for i, srv := range c.servers {
		srv.Config.Handler = New(w, i, c.addrs, opts...)
		srv.Start()
	}
	t.Cleanup(func() {
		for _, srv := range c.servers {
			closeServer(srv)
		}
	})
	return c
}

// closeServer stops srv with its event streams, which never end by themselves: httptest's Close waits
// for active requests, and go-marathon reconnects a closed stream at once, so connections are closed
// until Close returns.
func closeServer(srv *httptest.Server) {
	_ = srv.Listener.Close()
	done := make(chan struct{})
	go func() {
		srv.Close()
		close(done)
	}()
	for {
		srv.CloseClientConnections()
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// advance moves virtual time on and lets the model catch up.
func (c *testCluster) advance(d time.Duration) {
	c.clock.Advance(d)
	c.world.Step()
}

// settle advances virtual time in steps of a few seconds until cond holds (or a virtual hour passes).
func (c *testCluster) settle(cond func(v *simulate.View) bool) {
	c.t.Helper()
	for range 720 {
		ok := false
		c.world.View(func(v *simulate.View) { ok = cond(v) })
		if ok {
			return
		}
		c.advance(5 * time.Second)
	}
	c.t.Fatal("the model did not reach the expected state within a virtual hour")
}

// client returns a go-marathon client for the given instances (all when none given).
func (c *testCluster) client(sse bool, instances ...int) marathon.Marathon {
	c.t.Helper()
	if len(instances) == 0 {
		for i := range c.urls {
			instances = append(instances, i)
		}
	}
	var urls []string
	for _, i := range instances {
		urls = append(urls, c.urls[i])
	}
	cfg := marathon.NewDefaultConfig()
	cfg.URL = strings.Join(urls, ",")
	cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	cfg.HTTPSSEClient = &http.Client{}
	cfg.PollingWaitTime = 5 * time.Millisecond
	if sse {
		cfg.EventsTransport = marathon.EventsTransportSSE
	}
	m, err := marathon.NewClient(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// response is a raw HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.body)
	}
	return v
}

func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	m, ok := r.json(t).(map[string]any)
	if !ok {
		t.Fatalf("response is not a JSON object: %s", r.body)
	}
	return m
}

// do sends a raw request to instance i, as go-marathon would (JSON both ways).
func (c *testCluster) do(i int, method, uri string, body any, header ...string) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.urls[i]+uri, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for j := 0; j+1 < len(header); j += 2 {
		req.Header.Add(header[j], header[j+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, uri, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// expect fails unless r has the status.
func expect(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// app reads one app from the model (a copy of the fields tests look at).
func (c *testCluster) app(id string) (a simulate.App, tasks []simulate.Task, ok bool) {
	c.world.View(func(v *simulate.View) {
		p, found := v.App(id)
		if !found {
			return
		}
		a, ok = *p, true
		for _, t := range p.Tasks() {
			tasks = append(tasks, *t)
		}
	})
	return a, tasks, ok
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(fixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
