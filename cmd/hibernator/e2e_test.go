package main

// End to end: the small scenario served by the simulator with real task listeners; a real HAProxy and
// a real nginx in front of it, configured as marathon-lb and nixy would configure them (e2e_lb_test.go);
// and the hibernator itself, run in-process through run() with its flags, on a clock the test moves
// forward so that minutes of idleness pass at once. The simulator runs on the same clock, so task start
// times, deployments and the state labels all agree. Skipped with -short or without haproxy or nginx.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/hibernator/daemontest"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
)

// skewClock is the wall clock plus an offset that only grows: time the test fast-forwards.
type skewClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *skewClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *skewClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// hibernatorProcess is one run of the hibernator, as a process would be.
type hibernatorProcess struct {
	cancel context.CancelFunc
	done   chan int
}

// cluster is the whole setup.
type cluster struct {
	t           *testing.T
	clock       *skewClock
	world       *simulate.World
	marathon    []string
	lb          *balancers
	listen, act string
	logs        *daemontest.Buffer
	puts        *putCounter
	client      *http.Client
}

// putCounter counts the PUTs (api_post_event) Marathon received, per app.
type putCounter struct {
	mu     sync.Mutex
	n      map[string]int
	closed bool
}

func (p *putCounter) get(app string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		panic("the simulator dropped the event subscription: PUTs can no longer be counted")
	}
	return p.n[app]
}

func newCluster(t *testing.T) *cluster {
	daemontest.Binary(t, "haproxy")
	daemontest.Binary(t, "nginx")
	c := &cluster{t: t, clock: &skewClock{}, logs: &daemontest.Buffer{}, listen: daemontest.Addr(t), act: daemontest.Addr(t),
		puts: &putCounter{n: map[string]int{}}}
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	sc.Start = c.clock.Now().UTC().Format(time.RFC3339)
	// Agents on a loopback network of this test's own: other simulators on the machine (other tests
	// and packages run at the same time, a demo) would put a task on the same host:port.
	network, release, err := simulate.ClaimLoopbackNetwork()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	sc.Network = network
	if c.world, err = simulate.New(sc, c.clock, simulate.Options{}); err != nil {
		t.Fatal(err)
	}
	sub := c.world.SubscribeMarathon(1 << 16)
	go func() {
		for e := range sub.C {
			if e.Type == simulate.EventAPIPost {
				c.puts.mu.Lock()
				c.puts.n[e.AppID]++
				c.puts.mu.Unlock()
			}
		}
		c.puts.mu.Lock()
		c.puts.closed = true
		c.puts.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	sim, err := serve.Start(ctx, c.world, serve.Config{RealTasks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sub.Close()
		cancel()
		sim.Wait()
		if t.Failed() {
			t.Logf("hibernator logs:\n%s", c.logs)
			if resp, err := http.Get("http://" + c.listen + "/status"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Logf("/status:\n%s", b)
			}
		}
	})
	c.marathon = sim.MarathonURL
	c.lb = startBalancers(t, sim.MarathonURL[0], c.act, c.listen)
	// 500 concurrent requests need as many connections.
	c.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000, Proxy: nil}, Timeout: time.Minute}
	return c
}

// startHibernator runs the hibernator with the flags an operator would give it, until stopped.
func (c *cluster) startHibernator() *hibernatorProcess {
	c.t.Helper()
	args := []string{
		"--marathon-url", strings.Join(c.marathon, ","),
		"--policy", "../../docs/examples/hibernator-small.yaml",
		"--listen", c.listen, "--activator-listen", c.act,
		"--haproxy-stats-url", c.lb.statsURL(),
		"--nginx-access-log", c.lb.logPath,
		// Nothing sleeps unless a probe through each balancer's fallback reaches the activator.
		"--lb-probe-url", "http://" + c.lb.httpAddr + ",http://" + c.lb.nginxAddr,
		"--interval", "500ms", "--traffic-interval", "200ms", "--recheck-after", "100ms",
		"--log-level", "debug",
	}
	for {
		ctx, cancel := context.WithCancel(context.Background())
		p := &hibernatorProcess{cancel: cancel, done: make(chan int, 1)}
		go func() { p.done <- run(ctx, args, io.Discard, c.logs, env{now: c.clock.Now}) }()
		ready := func() error {
			select {
			case code := <-p.done:
				p.done <- code
				return fmt.Errorf("exited with %d", code)
			default:
			}
			resp, err := http.Get("http://" + c.listen + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return errors.New(resp.Status)
			}
			return nil
		}
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
			if err = ready(); err == nil || strings.HasPrefix(err.Error(), "exited") {
				break
			}
		}
		if err == nil {
			return p
		}
		cancel()
		// A hibernator that is still draining may hold the ports a moment longer: try again.
		if !strings.Contains(c.logs.String(), "address already in use") {
			c.t.Fatalf("hibernator not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends a hibernator as SIGTERM would and waits for it.
func (p *hibernatorProcess) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case code := <-p.done:
		if code != 0 {
			t.Fatalf("hibernator exited with %d", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("hibernator did not stop")
	}
}

// app reads an app from the simulated Marathon.
func (c *cluster) app(id string) simulate.App {
	var a simulate.App
	c.world.View(func(v *simulate.View) {
		if app, ok := v.App(id); ok {
			a = *app
			a.Labels = maps.Clone(app.Labels)
		}
	})
	return a
}

// asleep waits until the hibernator has put app to sleep with the instance count given.
func (c *cluster) asleep(app string, instances int) {
	c.t.Helper()
	daemontest.Eventually(c.t, app+" asleep", func() error {
		a := c.app(app)
		if a.Instances != 0 || a.Labels[policy.LabelHibernatedInstances] != fmt.Sprint(instances) || a.Labels[policy.LabelHibernatedAt] == "" {
			return fmt.Errorf("instances %d, labels %v", a.Instances, a.Labels)
		}
		return nil
	})
	c.lb.waitBackend(app, false)
}

// sleepAgain lets app's idle period pass and waits for it to sleep.
func (c *cluster) sleepAgain(app string, idle time.Duration, instances int) {
	c.t.Helper()
	// Awake as the load balancers see it, and the traffic sources saw the last requests before time
	// jumps: a source dates what it finds at the time it reads it.
	c.lb.waitBackend(app, true)
	now := c.clock.Now()
	daemontest.Eventually(c.t, "a reconcile after the last request", func() error { return c.statusObservedAfter(now) })
	c.clock.Advance(idle + time.Minute)
	c.asleep(app, instances)
}

// awake checks that app runs its remembered instance count, without state labels.
func (c *cluster) awake(app string, instances int) {
	c.t.Helper()
	daemontest.Eventually(c.t, app+" awake", func() error {
		a := c.app(app)
		if a.Instances != instances || a.Labels[policy.LabelHibernatedInstances] != "" || a.Labels[policy.LabelHibernatedAt] != "" {
			return fmt.Errorf("instances %d, labels %v", a.Instances, a.Labels)
		}
		return nil
	})
}

// lbRoutes lists the running tasks the load balancers would serve app on.
func (c *cluster) lbRoutes(app string) []string {
	routes, _ := c.lb.routes()
	for _, r := range routes {
		if r.App == app {
			return r.Servers
		}
	}
	return nil
}

// get sends a request for host through a load balancer and returns the status, the app named in the
// answer (a simulated task answers with JSON naming its app) and the response.
func (c *cluster) get(lb, host, path string) (int, string, *http.Response) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+lb+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Host = host
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var answer struct {
		App  string `json:"app"`
		Path string `json:"path"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Path != path {
		return resp.StatusCode, strings.TrimSpace(string(body)), resp
	}
	return resp.StatusCode, answer.App, resp
}

// wantApp checks that a request through lb reached app itself.
func (c *cluster) wantApp(lb, host, path, app string) *http.Response {
	c.t.Helper()
	code, got, resp := c.get(lb, host, path)
	if code != http.StatusOK || got != app {
		c.t.Fatalf("GET %s%s via %s: %d %q, want 200 from %s", host, path, lb, code, got, app)
	}
	return resp
}

func TestEndToEnd(t *testing.T) {
	c := newCluster(t)
	haproxy, nginx := c.lb.httpAddr, c.lb.nginxAddr
	const docs, frontend = "/web/docs", "/web/frontend"
	docsIdle := 5 * time.Minute
	frontendBefore := c.app(frontend)
	// Two instances, so that a wake restoring "the remembered count" is not the same as scaling to 1.
	const instances = 2
	if _, _, err := c.world.UpdateApp(docs, simulate.AppUpdate{Instances: new(instances)}, false); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "two docs tasks", func() error {
		if a := c.app(docs); a.Instances != instances || len(c.lbRoutes(docs)) != instances {
			return fmt.Errorf("instances %d, servers %v", a.Instances, c.lbRoutes(docs))
		}
		return nil
	})
	h := c.startHibernator()

	t.Run("probes through both load balancers' fallbacks reach the activator", func(t *testing.T) {
		daemontest.Eventually(t, "lb probes ok", func() error {
			var st hibernator.Status
			if err := getJSON("http://"+c.listen+"/status", &st); err != nil {
				return err
			}
			if len(st.LBProbes) != 2 {
				return fmt.Errorf("lb_probes %+v", st.LBProbes)
			}
			for _, p := range st.LBProbes {
				if !p.OK {
					return fmt.Errorf("%s: %s", p.URL, p.LastError)
				}
			}
			return nil
		})
		m := metricsOf(t, c.listen)
		for _, lb := range []string{haproxy, nginx} {
			if line := fmt.Sprintf(`marmot_hibernator_lb_probe_ok{url="http://%s"} 1`, lb); !strings.Contains(m, line) {
				t.Errorf("/metrics lacks %s", line)
			}
		}
	})

	// Traffic flows to awake apps through both load balancers.
	c.wantApp(haproxy, "docs.example.com", "/hello", docs)
	c.wantApp(nginx, "frontend.example.com", "/hello", frontend)

	t.Run("an idle opted-in app goes to zero instances", func(t *testing.T) {
		before := c.puts.get(docs)
		c.sleepAgain(docs, docsIdle, instances)
		if n := c.puts.get(docs) - before; n != 1 {
			t.Fatalf("%d PUTs to %s, want the one hibernation", n, docs)
		}
	})

	t.Run("a request through HAProxy wakes it and gets the app's own answer", func(t *testing.T) {
		resp := c.wantApp(haproxy, "docs.example.com", "/via-haproxy", docs)
		if resp.Header.Get("X-Marmot-Cold-Start") != "true" || resp.Header.Get("X-Marmot-Wake-Duration") == "" {
			t.Errorf("cold-start headers missing: %v", resp.Header)
		}
		c.awake(docs, instances)
	})

	t.Run("a request through nginx wakes it", func(t *testing.T) {
		c.sleepAgain(docs, docsIdle, instances)
		c.wantApp(nginx, "docs.example.com", "/via-nginx", docs)
		c.awake(docs, instances)
	})

	t.Run("500 concurrent requests to a sleeping app make one scale-up and all get the app", func(t *testing.T) {
		c.sleepAgain(docs, docsIdle, instances)
		before := c.puts.get(docs)
		const n = 500
		var wg sync.WaitGroup
		errs := make(chan string, n)
		c.burst(&wg, errs, "burst", n)
		wg.Wait()
		close(errs)
		failed := 0
		for e := range errs {
			if failed++; failed <= 5 {
				t.Error(e)
			}
		}
		if failed > 0 {
			t.Fatalf("%d of %d requests did not get the app's answer", failed, n)
		}
		if puts := c.puts.get(docs) - before; puts != 1 {
			t.Fatalf("%d PUTs for %d concurrent requests, want exactly one scale-up", puts, n)
		}
		c.awake(docs, instances)
	})

	t.Run("an unknown host gets 404", func(t *testing.T) {
		for _, lb := range []string{haproxy, nginx} {
			if code, body, _ := c.get(lb, "unknown.example.com", "/"); code != http.StatusNotFound {
				t.Errorf("via %s: %d %q", lb, code, body)
			}
		}
	})

	t.Run("a restart while the app sleeps loses nothing", func(t *testing.T) {
		c.sleepAgain(docs, docsIdle, instances)
		h.stop(t)
		h = c.startHibernator()
		before := c.puts.get(docs)
		c.wantApp(haproxy, "docs.example.com", "/after-restart", docs)
		c.awake(docs, instances)
		if n := c.puts.get(docs) - before; n != 1 {
			t.Fatalf("%d PUTs to wake after the restart", n)
		}
	})

	t.Run("a restart while the app wakes loses nothing", func(t *testing.T) {
		c.sleepAgain(docs, docsIdle, instances)
		before := c.puts.get(docs)
		const n = 20
		var wg sync.WaitGroup
		errs := make(chan string, 2*n)
		c.burst(&wg, errs, "held", n)
		// The wake's PUT is done and the tasks are starting (the app takes 2 s): restart now.
		daemontest.Eventually(t, "the wake under way", func() error {
			if a := c.app(docs); a.Instances != instances {
				return fmt.Errorf("instances %d", a.Instances)
			}
			return nil
		})
		h.stop(t) // returns once the held requests were answered
		h = c.startHibernator()
		c.burst(&wg, errs, "after", n)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		c.awake(docs, instances)
		if n := c.puts.get(docs) - before; n != 1 {
			t.Fatalf("%d PUTs, want the one wake", n)
		}
		// The new hibernator does not put the app back to sleep: it was just used.
		for range 3 {
			time.Sleep(600 * time.Millisecond) // more than one --interval
			c.awake(docs, instances)
		}
	})

	t.Run("an app without the label is never touched", func(t *testing.T) {
		c.clock.Advance(time.Hour)
		now := c.clock.Now()
		daemontest.Eventually(t, "a reconcile after the hour", func() error { return c.statusObservedAfter(now) })
		after := c.app(frontend)
		if n := c.puts.get(frontend); n != 0 || after.Instances != frontendBefore.Instances || !maps.Equal(after.Labels, frontendBefore.Labels) {
			t.Fatalf("%s: %d PUTs, instances %d→%d, labels %v→%v", frontend, n, frontendBefore.Instances, after.Instances, frontendBefore.Labels, after.Labels)
		}
		c.wantApp(haproxy, "frontend.example.com", "/still-here", frontend)
	})

	t.Run("metrics and status", func(t *testing.T) {
		metrics := c.fetch("/metrics")
		for _, want := range []string{
			`marmot_hibernator_hibernations_total{result="done"}`,
			`marmot_hibernator_wakes_total{reason="request"}`,
			`marmot_hibernator_wake_duration_seconds_count`,
			`marmot_hibernator_apps{state="asleep"}`,
			`marmot_hibernator_traffic_source_stale{source="haproxy:` + c.lb.statsAddr + `"} 0`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		var st struct {
			Apps []struct {
				App, State string
			}
		}
		if err := json.Unmarshal([]byte(c.fetch("/status")), &st); err != nil || len(st.Apps) != 2 {
			t.Fatalf("/status: %v %+v", err, st)
		}
	})
	h.stop(t)
}

// burst sends n requests for docs.example.com through HAProxy at once, each on wg, and reports on
// errs those that did not get /web/docs's own answer.
func (c *cluster) burst(wg *sync.WaitGroup, errs chan<- string, tag string, n int) {
	for i := range n {
		wg.Go(func() {
			path := fmt.Sprintf("/%s/%d", tag, i)
			if code, got, _ := c.get(c.lb.httpAddr, "docs.example.com", path); code != http.StatusOK || got != "/web/docs" {
				errs <- fmt.Sprintf("%s: %d %q", path, code, got)
			}
		})
	}
}

func (c *cluster) fetch(path string) string {
	c.t.Helper()
	resp, err := http.Get("http://" + c.listen + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// statusObservedAfter succeeds once the hibernator has observed everything after t.
func (c *cluster) statusObservedAfter(t time.Time) error {
	var st struct {
		ObservedAt time.Time `json:"observed_at"`
	}
	if err := json.Unmarshal([]byte(c.fetch("/status")), &st); err != nil {
		return err
	}
	if !st.ObservedAt.After(t) {
		return fmt.Errorf("observed at %s", st.ObservedAt)
	}
	return nil
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
