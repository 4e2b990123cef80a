package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
)

// The hibernator's part of the fault suite (docs/RELIABILITY.md). What a user checks: a request gets
// an answer within the hold timeout (the app's, or 503), never hangs; no app stays asleep once
// Marathon is back; a wake is one PUT, never two; nothing sleeps on missing traffic data.

// docsApp is an opted-in app with a health check; its tasks take 20 model seconds (2 s) to start, so
// that a wake has a moment between its PUT and the task's first answer.
const docsApp = "  - id: /web/docs\n    instances: 1\n    cpus: 0.25\n    mem: 256\n    start_delay: 20s\n" +
	"    labels: {marmot.hibernate: \"true\", marmot.hibernate.idle: 1m, HAPROXY_GROUP: external, HAPROXY_0_VHOST: docs.example.com}\n" +
	"    health_check: {path: /health}\n"

// faultHoldTimeout is how long the activator holds a request in the fault suite.
const faultHoldTimeout = 5 * time.Second

var faultHibernatorPolicy = fmt.Sprintf(`
idle: {default: 10m, minimum: 1m}
traffic: {max_age: 30s, ignore_paths: [/health]}
max_hibernations_per_minute: 60
hold: {timeout: %s, max_requests_per_app: 100, max_requests_total: 500}
waiting_page: false
wake: {probe_interval: 50ms, probe_timeout: 1s}
`, faultHoldTimeout)

// answer is what one request through the activator got.
type answer struct {
	status int
	app    string // the app that answered (the simulator's tasks name it), or the body
	took   time.Duration
	err    error
}

// request sends one request for host to the activator, as a load balancer's fallback would.
func request(activator, host, path string) answer {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, "http://"+activator+path, nil)
	req.Host = host
	resp, err := activatorClient.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, took: time.Since(start), app: strings.TrimSpace(string(body))}
	var task struct {
		App string `json:"app"`
	}
	if json.Unmarshal(body, &task) == nil && task.App != "" {
		a.app = task.App
	}
	return a
}

// requests sends n requests at once and returns their answers.
func requests(activator, host string, n int) []answer {
	out := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = request(activator, host, fmt.Sprintf("/held-%d", i)) })
	}
	wg.Wait()
	return out
}

// hibernatorApp returns one app's entry of the hibernator's /status.
func hibernatorApp(base, app string) (hibernator.AppStatus, error) {
	var s hibernator.Status
	if err := getJSON(base+"/status", &s); err != nil {
		return hibernator.AppStatus{}, err
	}
	for _, a := range s.Apps {
		if a.App == app {
			return a, nil
		}
	}
	return hibernator.AppStatus{}, fmt.Errorf("%s not in /status", app)
}

// waitAsleepRouted waits until the hibernator reports the app asleep, i.e. its hosts are routed.
func waitAsleepRouted(t *testing.T, base, app string) {
	t.Helper()
	eventually(t, time.Minute, app+" asleep in /status", func() error {
		a, err := hibernatorApp(base, app)
		if err == nil && a.State != "asleep" {
			err = fmt.Errorf("state %s (%s)", a.State, a.Reason)
		}
		return err
	})
}

// TestFaultMarathonUnreachableDuringWake: requests arrive for a sleeping app while Marathon answers
// 503 to everything, then while it answers nothing for longer than the hibernator's Marathon timeout.
// Every held request gets 503 within the hold timeout (plus slack for a loaded machine), none hangs,
// and nothing is half written: the app still sleeps with its labels. Once Marathon is back, the next
// request wakes it with exactly one PUT and gets the app's own answer.
func TestFaultMarathonUnreachableDuringWake(t *testing.T) {
	daemonsOrSkip(t)
	const app = "/web/docs"
	f := startFaultSim(t, simOptions{agents: 2, apps: docsApp, modelAhead: true})
	f.sleepApp(app, 1)
	_, base, activator := f.startHibernator(faultHibernatorPolicy)
	waitAsleepRouted(t, base, app)
	before := f.putsTo(app)

	bound := faultHoldTimeout + 10*time.Second
	for _, fl := range []simulate.Fault{
		{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMarathon},
		{Kind: simulate.FaultSlowResponse, Service: simulate.ServiceMarathon, Delay: time.Minute},
	} {
		f.fault(fl)
		for _, a := range requests(activator, "docs.example.com", 10) {
			if a.err != nil || a.status != http.StatusServiceUnavailable || a.took > bound {
				t.Errorf("%s: got %d %q after %s (%v), want 503 within %s", fl.Kind, a.status, a.app, a.took.Round(time.Millisecond), a.err, bound)
			}
		}
		f.fault(simulate.Fault{Kind: simulate.FaultClear})
		if n, asleep := f.appState(app); n != 0 || !asleep {
			t.Fatalf("after %s: %d instances, asleep %v: want it still asleep, untouched", fl.Kind, n, asleep)
		}
	}
	if n := f.putsTo(app) - before; n != 0 {
		t.Fatalf("%d PUTs while Marathon was unreachable", n)
	}

	// A wake that began during the outage may still be backing off when Marathon comes back, and a
	// request that joins it late can run out of its hold timeout: the user retries, as Retry-After says.
	eventually(t, time.Minute, "a request to get the app once Marathon is back", func() error {
		if a := request(activator, "docs.example.com", "/after"); a.err != nil || a.status != http.StatusOK || a.app != app {
			return fmt.Errorf("%d %q (%v)", a.status, a.app, a.err)
		}
		return nil
	})
	if n, asleep := f.appState(app); n != 1 || asleep {
		t.Errorf("after the wake: %d instances, asleep %v", n, asleep)
	}
	if n := f.putsTo(app) - before; n != 1 {
		t.Errorf("%d PUTs for the wake, want 1", n)
	}
}

// TestFaultLoadBalancerStatsUnavailable: the only load balancer's stats answer 503 from the start.
// Past the apps' idle period nothing has gone to sleep, and /status says why
// (keep_awake_traffic_stale): missing data never looks like idleness.
func TestFaultLoadBalancerStatsUnavailable(t *testing.T) {
	daemonsOrSkip(t)
	t.Parallel() // it mostly watches for 80 s; the other long waits run beside it
	const app = "/web/docs"
	stats := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "stats unavailable", http.StatusServiceUnavailable)
	}))
	defer stats.Close()
	f := startFaultSim(t, simOptions{agents: 2, apps: docsApp, modelAhead: true})
	_, base, _ := f.startHibernator(faultHibernatorPolicy, "--haproxy-stats-url", stats.URL+"/haproxy?stats;csv")

	// The idle period is 1 minute (the policy's floor); watch for 20 s more.
	end := time.Now().Add(80 * time.Second)
	for time.Now().Before(end) {
		if n, asleep := f.appState(app); n != 1 || asleep {
			t.Fatalf("%s has %d instances, asleep %v, while a traffic source is unavailable", app, n, asleep)
		}
		time.Sleep(time.Second)
	}
	a, err := hibernatorApp(base, app)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != "awake" || a.Reason != policy.KeepAwakeTrafficStale {
		t.Errorf("%s: state %s, reason %s; want awake, %s", app, a.State, a.Reason, policy.KeepAwakeTrafficStale)
	}
	metrics, err := get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^marmot_hibernator_traffic_source_stale\{source="haproxy[^"]*"\} 1$`).Match(metrics) {
		t.Error("/metrics does not say the HAProxy source is stale")
	}
}

// TestFaultHibernatorKilledAtEveryStep: the hibernator is killed (SIGKILL) at each step of a wake
// that can be told apart from outside, and started again:
//   - requests held, the wake's read of Marathon in flight (Marathon slowed down): nothing was
//     written, the app still sleeps, and the next request wakes it;
//   - the wake's PUT done, the tasks not yet answering: the new hibernator does not write again and
//     does not put the app back to sleep; requests get the app.
//
// In both, the app wakes with its remembered count and exactly one PUT. (Sleeping is one PUT after a
// re-check: a kill before it leaves the app awake, after it asleep; TestEndToEnd in cmd/hibernator
// restarts the hibernator while the app sleeps and mid-wake, and the unit tests cover the re-check.)
func TestFaultHibernatorKilledAtEveryStep(t *testing.T) {
	daemonsOrSkip(t)
	const app, host = "/web/docs", "docs.example.com"
	f := startFaultSim(t, simOptions{agents: 2, apps: docsApp, modelAhead: true})
	f.sleepApp(app, 2)
	h, base, activator := f.startHibernator(faultHibernatorPolicy)
	waitAsleepRouted(t, base, app)

	t.Run("held, the wake's Marathon call in flight", func(t *testing.T) {
		before := f.putsTo(app)
		f.fault(simulate.Fault{Kind: simulate.FaultSlowResponse, Service: simulate.ServiceMarathon, Delay: 1500 * time.Millisecond})
		held := make(chan []answer, 1)
		go func() { held <- requests(activator, host, 5) }()
		time.Sleep(time.Second)
		h.kill()
		for _, a := range <-held { // a killed activator drops its connections: an error, not a hang
			if a.err == nil && a.status == http.StatusOK {
				t.Errorf("a held request got the app before the wake could finish: %q", a.app)
			}
		}
		f.fault(simulate.Fault{Kind: simulate.FaultClear})
		if n, asleep := f.appState(app); n != 0 || !asleep {
			t.Fatalf("after the kill: %d instances, asleep %v; want it still asleep", n, asleep)
		}
		h.start()
		f.ready(base)
		for _, a := range requests(activator, host, 5) {
			if a.err != nil || a.status != http.StatusOK || a.app != app {
				t.Errorf("after the restart: %d %q (%v), want 200 from %s", a.status, a.app, a.err, app)
			}
		}
		if n, asleep := f.appState(app); n != 2 || asleep {
			t.Errorf("after the wake: %d instances, asleep %v; want 2, awake", n, asleep)
		}
		if n := f.putsTo(app) - before; n != 1 {
			t.Errorf("%d PUTs, want the one wake", n)
		}
	})

	t.Run("the wake's PUT done, the tasks starting", func(t *testing.T) {
		f.sleepApp(app, 2)
		waitAsleepRouted(t, base, app)
		before := f.putsTo(app)
		held := make(chan []answer, 1)
		go func() { held <- requests(activator, host, 5) }()
		eventually(t, time.Minute, "the wake's PUT", func() error {
			if f.putsTo(app) == before {
				return fmt.Errorf("no PUT yet")
			}
			return nil
		})
		h.kill()
		<-held
		if running, _ := f.tasks(app); running == 2 {
			t.Log("the tasks were already up when the hibernator died: this run tests a restart after the wake")
		}
		h.start()
		f.ready(base)
		for _, a := range requests(activator, host, 5) {
			if a.err != nil || a.status != http.StatusOK || a.app != app {
				t.Errorf("after the restart: %d %q (%v), want 200 from %s", a.status, a.app, a.err, app)
			}
		}
		for range 3 { // the new hibernator does not put it back to sleep: it was just used
			time.Sleep(time.Second)
			if n, asleep := f.appState(app); n != 2 || asleep {
				t.Fatalf("after the restart: %d instances, asleep %v; want 2, awake", n, asleep)
			}
		}
		if n := f.putsTo(app) - before; n != 1 {
			t.Errorf("%d PUTs, want the one wake", n)
		}
	})
}

// TestHibernatorClockBehindMarathon: the model's clock starts an hour ahead of the wall clock and runs
// ten times faster, so every scaling and task start Marathon reports lies "in the future" for the
// hibernator, further ahead each minute. The app nobody uses still sleeps after its idle period (1
// minute), wakes on a request, stays awake for the idle period after it, and sleeps again; /metrics
// shows the skew. Read as they are, those times would keep the app awake for ever.
func TestHibernatorClockBehindMarathon(t *testing.T) {
	daemonsOrSkip(t)
	t.Parallel() // it waits out idle periods; the other long waits run beside it
	const app, host = "/web/docs", "docs.example.com"
	f := startFaultSim(t, simOptions{agents: 2, apps: docsApp, modelAhead: true})
	eventually(t, time.Minute, app+" running", func() error {
		if running, _ := f.tasks(app); running != 1 {
			return fmt.Errorf("%d tasks running", running)
		}
		return nil
	})
	_, base, activator := f.startHibernator(faultHibernatorPolicy)
	asleep := func() error {
		if n, asleep := f.appState(app); n != 0 || !asleep {
			a, _ := hibernatorApp(base, app)
			return fmt.Errorf("%d instances, asleep %v; /status: %s %s, idle since %s", n, asleep, a.State, a.Reason, a.IdleSince)
		}
		return nil
	}
	eventually(t, 2*time.Minute, app+" asleep after its idle period", asleep)

	if a := request(activator, host, "/wake"); a.err != nil || a.status != http.StatusOK || a.app != app {
		t.Fatalf("wake: %d %q (%v)", a.status, a.app, a.err)
	}
	woken := time.Now()
	eventually(t, 2*time.Minute, app+" asleep again after its idle period", asleep)
	if slept := time.Since(woken); slept < time.Minute {
		t.Errorf("asleep again %s after the request: before its idle period of a minute was over", slept.Round(time.Millisecond))
	}

	metrics, err := get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	skew := regexp.MustCompile(`(?m)^marmot_hibernator_clock_skew_seconds\{source="marathon"\} ([0-9.e+]+)$`).FindSubmatch(metrics)
	if skew == nil {
		t.Fatal("/metrics has no marmot_hibernator_clock_skew_seconds{source=\"marathon\"}")
	}
	if v, err := strconv.ParseFloat(string(skew[1]), 64); err != nil || v < 3000 {
		t.Errorf("clock skew %s s, want over 3000 (the model runs an hour and more ahead)", skew[1])
	}
	if !regexp.MustCompile(`(?m)^marmot_hibernator_future_timestamps_total\{kind="app_scaled"\} [1-9]`).Match(metrics) {
		t.Error("/metrics counts no scaling ahead of the hibernator's clock")
	}
}
