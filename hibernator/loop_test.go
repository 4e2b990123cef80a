package hibernator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/marmot-project/marmot/policy"
)

// metricValue reads one series of a collector (a counter or gauge, or one child of a vector).
func metricValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("not a counter or gauge: %v", &m)
	return 0
}

func idleDocs() App {
	return App{ID: "/web/docs", Instances: 2, CPUs: 0.25, Mem: 256, Labels: docsLabels()}
}

func TestHibernateIsOnePutWithZeroInstancesStateLabelsAndEveryLabel(t *testing.T) {
	f := newLoopFixture(t, LoopConfig{}, nil, idleDocs())
	f.source.seen("/web/docs", f.clock.Now().Add(-time.Hour))
	if acted := f.loop.Reconcile(context.Background()); !acted {
		t.Fatal("an idle opted-in app was not hibernated")
	}
	puts := f.marathon.recordedPuts()
	if len(puts) != 1 {
		t.Fatalf("%d PUTs, want exactly 1: %+v", len(puts), puts)
	}
	want := docsLabels()
	want[policy.LabelHibernatedInstances] = "2"
	want[policy.LabelHibernatedAt] = f.clock.Now().UTC().Format(time.RFC3339)
	if p := puts[0]; p.App != "/web/docs" || p.Instances == nil || *p.Instances != 0 || !maps.Equal(p.Labels, want) {
		t.Fatalf("PUT %s instances=%v labels=%v\nwant instances 0 and labels %v", p.App, p.Instances, p.Labels, want)
	}
	if got := metricValue(t, f.metrics.hibernations.WithLabelValues(HibernationDone)); got != 1 {
		t.Fatalf("hibernations done = %v", got)
	}

	// The next round sees it asleep, counts what it frees and leaves it alone.
	f.clock.Advance(30 * time.Minute)
	f.loop.Reconcile(context.Background())
	if n := len(f.marathon.recordedPuts()); n != 1 {
		t.Fatalf("a sleeping app got another PUT (%d in all)", n)
	}
	st := f.appStatus(t, "/web/docs")
	if st.State != StateAsleep || st.Reason != policy.AlreadyAsleep || st.Instances != 2 || st.LastAction == nil || st.LastAction.Result != HibernationDone {
		t.Fatalf("status %+v", st)
	}
	if got := metricValue(t, f.metrics.freedCPUs); got != 0.5 {
		t.Fatalf("freed cpus = %v, want 2 × 0.25", got)
	}
	if got := metricValue(t, f.metrics.asleepCPUh); got != 0.25 {
		t.Fatalf("asleep cpu-hours = %v, want 0.5 cpu × 30 min", got)
	}
	if got := metricValue(t, f.metrics.apps.WithLabelValues(StateAsleep)); got != 1 {
		t.Fatalf("apps asleep = %v", got)
	}
}

func TestRecheckCallsOffTheHibernationWhenARequestArrives(t *testing.T) {
	f := newLoopFixture(t, LoopConfig{}, nil, idleDocs())
	f.source.seen("/web/docs", f.clock.Now().Add(-time.Hour))
	// A request reaches the load balancer between the decision and the re-check.
	f.source.onCall = func(n int, s *fakeSource) {
		if n == 2 {
			s.seen("/web/docs", f.clock.Now())
		}
	}
	f.loop.Reconcile(context.Background())
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("hibernated an app that just got a request: %+v", puts)
	}
	if got := metricValue(t, f.metrics.aborted.WithLabelValues(policy.KeepAwakeRecentTraffic.String())); got != 1 {
		t.Fatalf("aborted{keep_awake_recent_traffic} = %v", got)
	}
	if st := f.appStatus(t, "/web/docs"); st.LastAction == nil || st.LastAction.Result != HibernationAborted {
		t.Fatalf("status does not show the aborted hibernation: %+v", st)
	}
}

func TestRecheckCallsOffTheHibernationWhenTheAppChanged(t *testing.T) {
	for name, change := range map[string]func(a *App){
		"labels":     func(a *App) { a.Labels["marmot.team"] = "docs" },
		"instances":  func(a *App) { a.Instances = 3 },
		"deployment": func(a *App) { a.Deployments = 1 },
	} {
		t.Run(name, func(t *testing.T) {
			f := newLoopFixture(t, LoopConfig{}, nil, idleDocs())
			f.source.seen("/web/docs", f.clock.Now().Add(-time.Hour))
			f.marathon.beforeRead = func(id string, n int) { f.marathon.update(id, change) }
			f.loop.Reconcile(context.Background())
			if puts := f.marathon.recordedPuts(); len(puts) != 0 {
				t.Fatalf("hibernated an app that changed under the decision: %+v", puts)
			}
		})
	}
}

func TestStaleTrafficMeansNoHibernation(t *testing.T) {
	f := newLoopFixture(t, LoopConfig{}, nil, idleDocs())
	f.source.err = errors.New("stats unreachable")
	f.loop.Reconcile(context.Background())
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("hibernated on stale traffic: %+v", puts)
	}
	if st := f.appStatus(t, "/web/docs"); st.Reason != policy.KeepAwakeTrafficStale {
		t.Fatalf("reason %s, want keep_awake_traffic_stale", st.Reason)
	}
	if got := metricValue(t, f.metrics.sourceStale.WithLabelValues("lb")); got != 1 {
		t.Fatalf("source stale = %v", got)
	}
}

func TestFailedHibernationIsRetriedNextRound(t *testing.T) {
	f := newLoopFixture(t, LoopConfig{}, nil, idleDocs())
	f.marathon.putErrs = []error{errors.New("marathon: unavailable: 503"), ErrAppLocked}
	for range 2 {
		f.loop.Reconcile(context.Background())
	}
	if got := metricValue(t, f.metrics.hibernations.WithLabelValues(HibernationFailed)); got != 2 {
		t.Fatalf("failed hibernations = %v, want 2", got)
	}
	if a := f.marathon.app("/web/docs"); a.Instances != 2 || a.Labels[policy.LabelHibernatedInstances] != "" {
		t.Fatalf("a failed PUT left %+v", a)
	}
	f.loop.Reconcile(context.Background())
	if a := f.marathon.app("/web/docs"); a.Instances != 0 || a.Labels[policy.LabelHibernatedInstances] != "2" {
		t.Fatalf("third round: %+v", a)
	}
}

func asleepDocs(clock *testClock, instances string) App {
	l := docsLabels()
	l[policy.LabelHibernatedInstances] = instances
	l[policy.LabelHibernatedAt] = clock.Now().Add(-2 * time.Hour).Format(time.RFC3339)
	return App{ID: "/web/docs", Instances: 0, CPUs: 0.25, Mem: 256, Labels: l, Tasks: []Task{}}
}

func TestWakeRestoresTheCountAndClearsTheStateInOnePut(t *testing.T) {
	clock := newTestClock()
	m := newFakeMarathon(clock, asleepDocs(clock, "3"))
	metrics := NewLoopMetrics(nil)
	w := NewMarathonWaker(WakerConfig{Now: clock.Now}, m, metrics, nil)
	if err := w.Wake(context.Background(), "/web/docs"); err != nil {
		t.Fatal(err)
	}
	puts := m.recordedPuts()
	if len(puts) != 1 || *puts[0].Instances != 3 || !maps.Equal(puts[0].Labels, docsLabels()) {
		t.Fatalf("PUTs %+v, want one with instances 3 and the labels without state", puts)
	}
	// Awake now: waking again is a no-op.
	if err := w.Wake(context.Background(), "/web/docs"); err != nil || len(m.recordedPuts()) != 1 {
		t.Fatalf("second wake: %v, %d PUTs", err, len(m.recordedPuts()))
	}
	if got := metricValue(t, metrics.freedCPUh); got != 1.5 {
		t.Fatalf("freed cpu-hours = %v, want 3 × 0.25 cpu × 2 h", got)
	}
	if got := metricValue(t, metrics.wakes.WithLabelValues(WakeReasonRequest)); got != 1 {
		t.Fatalf("wakes{request} = %v", got)
	}
}

func TestWakeOnALockedAppRereadsIt(t *testing.T) {
	clock := newTestClock()
	t.Run("another waker won", func(t *testing.T) {
		m := newFakeMarathon(clock, asleepDocs(clock, "2"))
		// Another replica's wake lands first; ours meets its deployment.
		m.putErrs = []error{ErrAppLocked}
		m.beforePut = func(id string) {
			m.update(id, func(a *App) {
				a.Instances, a.Labels, a.Deployments = 2, docsLabels(), 1
			})
		}
		w := NewMarathonWaker(WakerConfig{Now: clock.Now}, m, nil, nil)
		if err := w.Wake(context.Background(), "/web/docs"); err != nil {
			t.Fatalf("wake after another waker won: %v", err)
		}
		if n := m.reads["/web/docs"]; n != 2 {
			t.Fatalf("%d reads, want the first and one after the 409", n)
		}
	})
	t.Run("still asleep", func(t *testing.T) {
		m := newFakeMarathon(clock, asleepDocs(clock, "2"))
		m.putErrs = []error{ErrAppLocked} // our own scale-down still running
		w := NewMarathonWaker(WakerConfig{Now: clock.Now}, m, nil, nil)
		err := w.Wake(context.Background(), "/web/docs")
		if !errors.Is(err, ErrAppLocked) || errors.Is(err, ErrWakeRefused) {
			t.Fatalf("err %v, want ErrAppLocked to retry", err)
		}
		if err := w.Wake(context.Background(), "/web/docs"); err != nil {
			t.Fatal(err)
		}
		if a := m.app("/web/docs"); a.Instances != 2 || a.Labels[policy.LabelHibernatedAt] != "" {
			t.Fatalf("after the retry: %+v", a)
		}
	})
}

func TestWakeRefusesWhatCannotBeWoken(t *testing.T) {
	clock := newTestClock()
	scaledByHand := idleDocs()
	scaledByHand.Instances = 0
	bad := asleepDocs(clock, "lots")
	bad.ID = "/web/bad"
	m := newFakeMarathon(clock, scaledByHand, bad)
	w := NewMarathonWaker(WakerConfig{Now: clock.Now}, m, nil, nil)
	for _, id := range []string{"/web/docs", "/web/bad", "/nope"} {
		if err := w.Wake(context.Background(), id); !errors.Is(err, ErrWakeRefused) {
			t.Errorf("%s: %v, want ErrWakeRefused", id, err)
		}
	}
	if puts := m.recordedPuts(); len(puts) != 0 {
		t.Fatalf("PUTs %+v", puts)
	}
	dry := NewMarathonWaker(WakerConfig{Now: clock.Now, DryRun: true}, newFakeMarathon(clock, asleepDocs(clock, "2")), nil, nil)
	if err := dry.Wake(context.Background(), "/web/docs"); !errors.Is(err, ErrWakeRefused) {
		t.Fatalf("dry run: %v", err)
	}
}

func TestMalformedLabelSkipsTheAppWithTheReason(t *testing.T) {
	bad := idleDocs()
	bad.Labels[policy.LabelHibernateIdle] = "soon"
	f := newLoopFixture(t, LoopConfig{}, nil, bad)
	f.loop.Reconcile(context.Background())
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("PUTs %+v", puts)
	}
	st := f.appStatus(t, "/web/docs")
	if st.State != StateSkipped || st.Reason != policy.SkippedBadLabel || !strings.Contains(st.Detail, "marmot.hibernate.idle") {
		t.Fatalf("status %+v", st)
	}
	if got := metricValue(t, f.metrics.apps.WithLabelValues(StateSkipped)); got != 1 {
		t.Fatalf("apps skipped = %v", got)
	}
	if got := metricValue(t, f.metrics.decisions.WithLabelValues(policy.SkippedBadLabel.String())); got != 1 {
		t.Fatalf("decisions skipped_bad_label = %v", got)
	}
	if r := f.routes.get(); len(r) != 0 {
		t.Fatalf("an app with a bad label got routes: %v", r)
	}
}

func TestAppsWithoutTheLabelAreNeverTouched(t *testing.T) {
	optedOut := idleDocs()
	optedOut.ID = "/web/optout"
	optedOut.Labels[policy.LabelHibernate] = "false"
	plain := App{ID: "/web/frontend", Instances: 2, Labels: map[string]string{"HAPROXY_0_VHOST": "frontend.example.com"}}
	f := newLoopFixture(t, LoopConfig{}, nil, optedOut, plain)
	for range 3 {
		f.clock.Advance(time.Hour)
		f.loop.Reconcile(context.Background())
	}
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("PUTs %+v", puts)
	}
	if f.marathon.reads["/web/frontend"] != 0 {
		t.Fatal("an unlabelled app was read")
	}
	if r := f.routes.get(); len(r) != 0 {
		t.Fatalf("routes %v", r)
	}
	if apps := f.loop.Status().Apps; len(apps) != 0 {
		t.Fatalf("/status lists apps that did not opt in: %+v", apps)
	}
}

func TestTheLoopWakesAnAppThatOptedOutWhileAsleep(t *testing.T) {
	clock := newTestClock()
	a := asleepDocs(clock, "2")
	a.Labels[policy.LabelHibernate] = "false"
	f := newLoopFixture(t, LoopConfig{}, nil, a)
	f.loop.Reconcile(context.Background())
	puts := f.marathon.recordedPuts()
	if len(puts) != 1 || *puts[0].Instances != 2 || puts[0].Labels[policy.LabelHibernatedAt] != "" {
		t.Fatalf("PUTs %+v, want one wake", puts)
	}
	if got := metricValue(t, f.metrics.wakes.WithLabelValues(policy.WakeNotOptedIn.String())); got != 1 {
		t.Fatalf("wakes{wake_not_opted_in} = %v", got)
	}
}

func TestDryRunDecidesAndReportsButChangesNothing(t *testing.T) {
	f := newLoopFixture(t, LoopConfig{DryRun: true}, nil, idleDocs())
	f.loop.Reconcile(context.Background())
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("dry run PUTs %+v", puts)
	}
	if got := metricValue(t, f.metrics.hibernations.WithLabelValues(HibernationDryRun)); got != 1 {
		t.Fatalf("dry-run hibernations = %v", got)
	}
	if st := f.loop.Status(); !st.DryRun || st.Apps[0].LastAction.Result != HibernationDryRun {
		t.Fatalf("status %+v", st)
	}
}

func TestTheRateLimitReadsRecentHibernationsFromMarathon(t *testing.T) {
	p, err := policy.LoadHibernationPolicy([]byte("max_hibernations_per_minute: 1"))
	if err != nil {
		t.Fatal(err)
	}
	clock := newTestClock()
	wiki := asleepDocs(clock, "1")
	wiki.ID = "/tools/wiki"
	wiki.Labels["HAPROXY_0_VHOST"] = "wiki.example.com"
	wiki.Labels[policy.LabelHibernatedAt] = clock.Now().Add(-10 * time.Second).Format(time.RFC3339)
	// A fresh loop (a restart) knows of no hibernation but the one in wiki's labels.
	f := newLoopFixture(t, LoopConfig{}, p, idleDocs(), wiki)
	f.loop.Reconcile(context.Background())
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("PUTs %+v despite the rate limit", puts)
	}
	if st := f.appStatus(t, "/web/docs"); st.Reason != policy.KeepAwakeRateLimited {
		t.Fatalf("reason %s", st.Reason)
	}
}

func TestRestartWhileAsleepOrWakingLosesNothing(t *testing.T) {
	// Asleep: a new loop routes the app's host, plans nothing, and the wake restores the count.
	clock := newTestClock()
	f := newLoopFixture(t, LoopConfig{}, nil, asleepDocs(clock, "2"))
	f.loop.Reconcile(context.Background())
	if r := f.routes.get()["docs.example.com"]; r.App != "/web/docs" {
		t.Fatalf("route %+v", r)
	}
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("PUTs %+v", puts)
	}

	// Woken but not up (deployment running, no task running): the new loop keeps it awake, and once
	// its task runs its idle clock starts then, not at the last request before the sleep.
	f.marathon.update("/web/docs", func(a *App) {
		a.Instances, a.Labels, a.Tasks, a.TasksRunning, a.Deployments = 2, docsLabels(), []Task{}, 0, 1
		a.LastScalingAt = f.clock.Now()
	})
	f.start(LoopConfig{}, nil, f.clock.Now().Add(-24*time.Hour)) // restarted; its LB saw nothing for a day
	f.loop.Reconcile(context.Background())
	if st := f.appStatus(t, "/web/docs"); st.Reason != policy.KeepAwakeDeploymentRunning {
		t.Fatalf("waking app: %s", st.Reason)
	}
	f.marathon.update("/web/docs", func(a *App) {
		a.Tasks, a.TasksRunning, a.Deployments = runningTasks(2, f.clock.Now()), 2, 0
	})
	f.clock.Advance(time.Minute)
	f.loop.Reconcile(context.Background())
	st := f.appStatus(t, "/web/docs")
	if st.Reason != policy.KeepAwakeRecentTraffic || !st.SleepsAt.Equal(f.clock.Now().Add(4*time.Minute)) {
		t.Fatalf("woken app: %s, sleeps at %s", st.Reason, st.SleepsAt)
	}
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("PUTs %+v", puts)
	}
}

func TestGroupsWakeTogetherAndSleepTogether(t *testing.T) {
	web := idleDocs()
	web.Labels[policy.LabelHibernateGroup] = "docs"
	api := App{ID: "/web/docs-api", Instances: 1, Labels: map[string]string{
		policy.LabelHibernate: "true", policy.LabelHibernateGroup: "docs", policy.LabelHibernateIdle: "5m",
	}}
	f := newLoopFixture(t, LoopConfig{}, nil, web, api)
	f.source.seen("/web/docs", f.clock.Now().Add(-time.Hour))
	// The API is called between decision and re-check: neither may sleep.
	f.source.onCall = func(n int, s *fakeSource) {
		if n == 2 {
			s.seen("/web/docs-api", f.clock.Now())
		}
	}
	f.loop.Reconcile(context.Background())
	if r := f.routes.get()["docs.example.com"]; r.App != "/web/docs" || strings.Join(r.Wake, ",") != "/web/docs,/web/docs-api" {
		t.Fatalf("route %+v", r)
	}
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("PUTs %+v", puts)
	}
	// The API is called off for its traffic, the site because its group is awake.
	for _, r := range []policy.HibernationReason{policy.KeepAwakeRecentTraffic, policy.KeepAwakeGroupAwake} {
		if got := metricValue(t, f.metrics.aborted.WithLabelValues(r.String())); got != 1 {
			t.Errorf("aborted{%s} = %v", r, got)
		}
	}
}

func TestStatusEndpoints(t *testing.T) {
	f := newLoopFixture(t, LoopConfig{}, nil, idleDocs())
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(f.loop.Handler(reg))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz before the first observation: %d", code)
	}
	f.source.seen("/web/docs", f.clock.Now().Add(-time.Minute))
	f.loop.Reconcile(context.Background())
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz after: %d", code)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	code, body := get("/status")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("/status %d %v: %s", code, err, body)
	}
	a := st.Apps[0]
	if a.App != "/web/docs" || a.State != StateAwake || a.Reason != policy.KeepAwakeRecentTraffic || a.Hosts[0] != "docs.example.com" ||
		!a.LastTraffic["lb"].Equal(f.clock.Now().Add(-time.Minute)) || !a.SleepsAt.Equal(f.clock.Now().Add(4*time.Minute)) {
		t.Fatalf("/status app %+v", a)
	}
	if !strings.Contains(body, `"reason": "keep_awake_recent_traffic"`) || !strings.Contains(body, `"idle": "5m0s"`) {
		t.Fatalf("/status JSON: %s", body)
	}
	if code, page := get("/"); code != 200 || !strings.Contains(page, "/web/docs") {
		t.Fatalf("page %d %s", code, page)
	}
}

func TestRunReconcilesOnMarathonEventsAndStopsCleanly(t *testing.T) {
	busy := idleDocs()
	f := newLoopFixture(t, LoopConfig{Interval: time.Hour, MinGap: time.Millisecond}, nil, busy)
	f.source.seen("/web/docs", f.clock.Now()) // in use: the first round keeps it awake
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.loop.Run(ctx) }()
	// The first round, then the one the stream's connection asks for (events may have been missed).
	waitUntil(t, func() bool { return metricValue(t, f.metrics.reconciles.WithLabelValues("ok")) >= 2 })
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("PUTs %+v", puts)
	}
	// An hour later nothing has happened by the clock (the interval is an hour of wall time), but an
	// event from Marathon makes the loop look again.
	f.clock.Advance(time.Hour)
	f.marathon.events <- "/web/docs"
	waitUntil(t, func() bool { return len(f.marathon.recordedPuts()) == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context ended")
	}
}
