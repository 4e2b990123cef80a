package hibernator

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/marmot-project/marmot/policy"
)

// newSkewFixture is a loop over a Marathon whose clock (the second result) runs ahead of the
// hibernator's by ahead; the loop logs into the third.
func newSkewFixture(t *testing.T, ahead time.Duration, p *policy.HibernationPolicy, apps ...func(remote *testClock) App) (*loopFixture, *testClock, *observer.ObservedLogs) {
	t.Helper()
	local := newTestClock()
	remote := &testClock{now: local.Now().Add(ahead)}
	m := newFakeMarathon(remote)
	for _, a := range apps {
		m.add(a(remote))
	}
	core, logs := observer.New(zapcore.WarnLevel)
	f := &loopFixture{clock: local, marathon: m, log: zap.New(core)}
	f.start(LoopConfig{}, p, local.Now().Add(-24*time.Hour))
	return f, remote, logs
}

// justScaledDocs is /web/docs (idle 5m) scaled to 2 instances just now by Marathon's clock, its tasks
// started offset later.
func justScaledDocs(offset time.Duration) func(remote *testClock) App {
	return func(remote *testClock) App {
		a := idleDocs()
		a.LastScalingAt = remote.Now()
		a.Tasks, a.TasksRunning = runningTasks(2, remote.Now().Add(offset)), 2
		return a
	}
}

// Marathon's clock an hour ahead: the app started "in an hour". It sleeps its idle period (5 minutes)
// after the hibernator first saw it, neither an hour later nor at once. Then Marathon's clock runs
// ten times faster (a sped-up simulator): woken again, the app sleeps again 5 minutes after.
func TestAnAppThatStartedAheadOfTheClockSleepsItsIdlePeriodAfterItWasSeen(t *testing.T) {
	f, remote, logs := newSkewFixture(t, time.Hour, nil, justScaledDocs(0))
	ctx := context.Background()
	t0 := f.clock.Now()
	advance := func(d time.Duration) {
		f.clock.Advance(d)
		remote.Advance(10 * d)
	}

	f.loop.Reconcile(ctx)
	st := f.appStatus(t, "/web/docs")
	if st.Reason != policy.KeepAwakeRecentTraffic || !st.IdleSince.Equal(t0) || !st.SleepsAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("first sight: %s, idle since %s, sleeps at %s; want idle since %s (first seen), sleeps at +5m", st.Reason, st.IdleSince, st.SleepsAt, t0)
	}
	advance(5*time.Minute - time.Second)
	f.loop.Reconcile(ctx)
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("slept before its idle period was over: %+v", puts)
	}
	advance(2 * time.Second)
	if !f.loop.Reconcile(ctx) {
		t.Fatalf("not asleep 5m1s after it was first seen: %+v", f.appStatus(t, "/web/docs"))
	}

	// Woken by a request (the activator's PUT, at Marathon's now: even further ahead).
	if err := f.loop.deps.Waker.Wake(ctx, "/web/docs"); err != nil {
		t.Fatal(err)
	}
	wokeAt := remote.Now()
	advance(time.Second)
	woken := f.clock.Now()
	f.loop.Reconcile(ctx)
	if st := f.appStatus(t, "/web/docs"); st.State != StateAwake || !st.IdleSince.Equal(woken) {
		t.Fatalf("woken: %s %s, idle since %s; want awake since %s", st.State, st.Reason, st.IdleSince, woken)
	}
	advance(5*time.Minute - time.Second)
	f.loop.Reconcile(ctx)
	if n := len(f.marathon.recordedPuts()); n != 2 {
		t.Fatalf("%d PUTs before the second idle period was over, want the sleep and the wake", n)
	}
	advance(2 * time.Second)
	if !f.loop.Reconcile(ctx) {
		t.Fatalf("not asleep again: %+v", f.appStatus(t, "/web/docs"))
	}

	// Each time ahead counted once, however many rounds read it; the skew is that of the wake, the
	// latest scaling, when first seen.
	for kind, want := range map[string]float64{StampScaled: 2, StampStarted: 2, StampHibernatedAt: 0} {
		if got := metricValue(t, f.metrics.futureStamps.WithLabelValues(kind)); got != want {
			t.Errorf("future_timestamps_total{kind=%s} = %v, want %v", kind, got, want)
		}
	}
	if got, want := metricValue(t, f.metrics.clockSkew.WithLabelValues(SkewSourceMarathon)), wokeAt.Sub(woken).Seconds(); got != want || got < 3600 {
		t.Errorf("clock_skew_seconds{source=marathon} = %v, want %v", got, want)
	}
	if n := logs.FilterField(zap.String("app", "/web/docs")).Len(); n != 1 {
		t.Errorf("%d warnings about the app's clock, want 1: %v", n, logs.All())
	}
}

// Marathon's clock an hour ahead and the tasks started 30 s after the scaling: the re-check, which
// is the first to read the tasks, reads their start through the scaling's first sighting (30 s after
// it), not as "now", which would put the sleep off by a whole idle period.
func TestATaskStartFirstSeenAtTheRecheckIsReadThroughTheScaling(t *testing.T) {
	f, _, _ := newSkewFixture(t, time.Hour, nil, justScaledDocs(30*time.Second))
	ctx := context.Background()
	t0 := f.clock.Now()
	f.loop.Reconcile(ctx)
	f.clock.Advance(5 * time.Minute)
	if f.loop.Reconcile(ctx) {
		t.Fatal("slept although its tasks started 30 s after the scaling")
	}
	if got := metricValue(t, f.metrics.aborted.WithLabelValues(policy.KeepAwakeRecentTraffic.String())); got != 1 {
		t.Fatalf("aborted{keep_awake_recent_traffic} = %v, want the re-check to call it off", got)
	}
	f.clock.Advance(30 * time.Second)
	if !f.loop.Reconcile(ctx) {
		t.Fatalf("not asleep 5 minutes after its tasks started (%s): %+v", t0.Add(30*time.Second), f.appStatus(t, "/web/docs"))
	}
}

// A hibernation another replica stamped ahead of our clock counts toward the rate limit from when it
// was first seen; ignored as "in the future", it would let a second one through at once.
func TestAHibernationStampedAheadOfTheClockCountsForTheRateLimit(t *testing.T) {
	p, err := policy.LoadHibernationPolicy([]byte("max_hibernations_per_minute: 1"))
	if err != nil {
		t.Fatal(err)
	}
	wiki := func(remote *testClock) App {
		a := asleepDocs(remote, "1")
		a.ID = "/tools/wiki"
		a.Labels["HAPROXY_0_VHOST"] = "wiki.example.com"
		a.Labels[policy.LabelHibernatedAt] = remote.Now().Format(time.RFC3339)
		return a
	}
	docs := func(remote *testClock) App {
		a := idleDocs()
		a.LastScalingAt = remote.Now().Add(-48 * time.Hour)
		a.Tasks, a.TasksRunning = runningTasks(2, a.LastScalingAt), 2
		return a
	}
	f, _, _ := newSkewFixture(t, 10*time.Minute, p, docs, wiki)
	f.loop.Reconcile(context.Background())
	if st := f.appStatus(t, "/web/docs"); st.Reason != policy.KeepAwakeRateLimited {
		t.Fatalf("reason %s, want %s: the hibernation 10 minutes ahead happened just now", st.Reason, policy.KeepAwakeRateLimited)
	}
	f.clock.Advance(time.Minute + time.Second)
	if !f.loop.Reconcile(context.Background()) {
		t.Fatalf("a minute after: %+v", f.appStatus(t, "/web/docs"))
	}
	if got := metricValue(t, f.metrics.futureStamps.WithLabelValues(StampHibernatedAt)); got != 1 {
		t.Errorf("future_timestamps_total{kind=hibernated_at} = %v", got)
	}
}

// Request times a traffic source read ahead of the clock are counted (by the difference of its running
// count) and give the source's skew.
func TestFutureRequestTimesOfASourceAreCountedAndLoggedOnce(t *testing.T) {
	f, _, logs := newSkewFixture(t, 0, nil, func(*testClock) App { return idleDocs() })
	f.source.seen("/web/docs", f.clock.Now())
	f.source.future, f.source.ahead = 3, 2*time.Second
	f.loop.Reconcile(context.Background())
	f.source.future, f.source.ahead = 5, time.Second
	f.loop.Reconcile(context.Background())
	f.loop.Reconcile(context.Background())
	if got := metricValue(t, f.metrics.futureStamps.WithLabelValues(StampRequest)); got != 5 {
		t.Errorf("future_timestamps_total{kind=request} = %v, want 5", got)
	}
	if got := metricValue(t, f.metrics.clockSkew.WithLabelValues("lb")); got != 1 {
		t.Errorf("clock_skew_seconds{source=lb} = %v, want the latest, 1", got)
	}
	if n := logs.FilterField(zap.String("source", "lb")).Len(); n != 1 {
		t.Errorf("%d warnings about the source's clock, want 1", n)
	}
	if got := metricValue(t, f.metrics.clockSkew.WithLabelValues(SkewSourceMarathon)); got != 0 {
		t.Errorf("clock_skew_seconds{source=marathon} = %v with Marathon on time", got)
	}
}

func TestFutureStampsRead(t *testing.T) {
	now := newTestClock().Now()
	s := newFutureStamps(NewLoopMetrics(nil), zap.NewNop())
	if got := s.read("/a", StampScaled, time.Time{}, now); !got.IsZero() {
		t.Errorf("zero read as %s", got)
	}
	if past := now.Add(-time.Minute); !s.read("/a", StampScaled, past, now).Equal(past) {
		t.Error("a time in the past is not read as it is")
	}
	ahead := now.Add(time.Hour)
	if got := s.read("/a", StampScaled, ahead, now); !got.Equal(now) {
		t.Errorf("first sight of a time ahead: %s, want now", got)
	}
	later := now.Add(2 * time.Hour)
	if got := s.read("/a", StampScaled, ahead, later); !got.Equal(now) {
		t.Errorf("the same time, once passed: %s, want its first sighting %s", got, now)
	}
	// A task's start first seen later, still ahead, is read through the scaling, never after now.
	soon := now.Add(10 * time.Minute)
	if got := s.read("/a", StampStarted, ahead.Add(time.Minute), soon); !got.Equal(now.Add(time.Minute)) {
		t.Errorf("task start a minute after the scaling: %s, want %s", got, now.Add(time.Minute))
	}
	if got := s.read("/a", StampStarted, later.Add(3*time.Hour), soon); !got.Equal(soon) {
		t.Errorf("task start far ahead: %s, want now", got)
	}
	// Other apps, and apps gone, do not share sightings.
	if got := s.read("/b", StampStarted, ahead.Add(time.Minute), now); !got.Equal(now) {
		t.Errorf("another app: %s", got)
	}
	s.keep([]App{{ID: "/b"}}, later)
	if got := s.read("/a", StampScaled, ahead, now.Add(10*time.Minute)); !got.Equal(now.Add(10 * time.Minute)) {
		t.Errorf("a forgotten app's time: %s, want seen anew", got)
	}
}
