package hibernator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/policy"
)

// fakeMarathon is a recording Marathon: apps in memory, every PUT kept, errors injected per call. An
// update takes effect at once, as a deployment that finished: tasks run from the moment of the PUT.
type fakeMarathon struct {
	mu    sync.Mutex
	clock *testClock
	apps  map[string]*App
	puts  []recordedPut
	reads map[string]int // App calls per app
	// putErrs are returned by the next PUTs, in order, instead of applying them.
	putErrs []error
	// beforeRead runs (unlocked) before App answers; tests change the world there.
	beforeRead func(id string, n int)
	// beforePut runs (unlocked) before a PUT is applied.
	beforePut func(id string)
	// events are delivered by Watch.
	events chan string
}

type recordedPut struct {
	App       string
	Instances *int
	Labels    map[string]string
}

func newFakeMarathon(clock *testClock, apps ...App) *fakeMarathon {
	f := &fakeMarathon{clock: clock, apps: map[string]*App{}, reads: map[string]int{}, events: make(chan string)}
	for _, a := range apps {
		f.add(a)
	}
	return f
}

func (f *fakeMarathon) add(a App) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a.Labels = maps.Clone(a.Labels)
	if a.Version.IsZero() {
		a.Version = f.clock.Now().Add(-48 * time.Hour)
	}
	if a.Tasks == nil {
		a.Tasks = runningTasks(a.Instances, f.clock.Now().Add(-24*time.Hour))
		a.TasksRunning = a.Instances
		a.LastScalingAt = f.clock.Now().Add(-24 * time.Hour)
	}
	f.apps[a.ID] = &a
}

func runningTasks(n int, started time.Time) []Task {
	tasks := []Task{}
	for i := range n {
		tasks = append(tasks, Task{Host: "127.0.0.1", Ports: []int{31000 + i}, Running: true, StartedAt: started})
	}
	return tasks
}

func (f *fakeMarathon) copyOf(a *App) App {
	c := *a
	c.Labels = maps.Clone(a.Labels)
	c.Tasks = slices.Clone(a.Tasks)
	return c
}

func (f *fakeMarathon) Apps(_ context.Context, label string) ([]App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []App
	for _, id := range slices.Sorted(maps.Keys(f.apps)) {
		if _, ok := f.apps[id].Labels[label]; ok {
			c := f.copyOf(f.apps[id])
			c.Tasks = nil // the list does not embed tasks
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeMarathon) App(_ context.Context, id string) (App, error) {
	f.mu.Lock()
	f.reads[id]++
	n, hook := f.reads[id], f.beforeRead
	f.mu.Unlock()
	if hook != nil {
		hook(id, n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[id]
	if !ok {
		return App{}, fmt.Errorf("app %s: %w", id, ErrAppNotFound)
	}
	return f.copyOf(a), nil
}

func (f *fakeMarathon) Update(_ context.Context, id string, u AppUpdate) error {
	if f.beforePut != nil {
		f.beforePut(id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	put := recordedPut{App: id, Labels: maps.Clone(u.Labels)}
	if u.Instances != nil {
		n := *u.Instances
		put.Instances = &n
	}
	f.puts = append(f.puts, put)
	if len(f.putErrs) > 0 {
		err := f.putErrs[0]
		f.putErrs = f.putErrs[1:]
		if err != nil {
			return err
		}
	}
	a, ok := f.apps[id]
	if !ok {
		return ErrAppNotFound
	}
	now := f.clock.Now()
	a.Version = now
	if u.Labels != nil {
		a.Labels = maps.Clone(u.Labels)
	}
	if u.Instances != nil && *u.Instances != a.Instances {
		a.Instances = *u.Instances
		a.LastScalingAt = now
		a.Tasks = runningTasks(a.Instances, now)
		a.TasksRunning = a.Instances
	}
	return nil
}

func (f *fakeMarathon) Deployments(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, a := range f.apps {
		if a.Deployments > 0 {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (f *fakeMarathon) Watch(ctx context.Context, changed func(string)) error {
	changed("")
	for {
		select {
		case <-ctx.Done():
			return nil
		case app := <-f.events:
			changed(app)
		}
	}
}

func (f *fakeMarathon) recordedPuts() []recordedPut {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.puts)
}

func (f *fakeMarathon) app(id string) App {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.copyOf(f.apps[id])
}

func (f *fakeMarathon) update(id string, fn func(a *App)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.apps[id])
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 8, 21, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeSource is a traffic source whose report a test sets; it has watched since its creation.
type fakeSource struct {
	mu    sync.Mutex
	name  string
	since time.Time
	apps  map[string]TrafficSeen
	err   error
	calls int
	// future and ahead are reported as TrafficReport.Future and Ahead.
	future uint64
	ahead  time.Duration
	// onCall runs before each report, with the call's number (from 1).
	onCall func(n int, s *fakeSource)
}

func newFakeSource(name string, since time.Time) *fakeSource {
	return &fakeSource{name: name, since: since, apps: map[string]TrafficSeen{}}
}

func (s *fakeSource) Name() string { return s.name }

func (s *fakeSource) Traffic(_ context.Context, now time.Time) (TrafficReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.onCall != nil {
		s.onCall(s.calls, s)
	}
	return TrafficReport{AsOf: now, Since: s.since, Apps: maps.Clone(s.apps), Future: s.future, Ahead: s.ahead}, s.err
}

func (s *fakeSource) seen(app string, at time.Time) {
	s.apps[app] = TrafficSeen{Last: at, Requests: 1}
}

// docsLabels are the labels of an opted-in app like the small scenario's /web/docs.
func docsLabels() map[string]string {
	return map[string]string{
		policy.LabelHibernate:     "true",
		policy.LabelHibernateIdle: "5m",
		"HAPROXY_GROUP":           "external",
		"HAPROXY_0_VHOST":         "docs.example.com",
		"marmot.team":             "web",
	}
}

// recordingRoutes keeps the last host map the loop sent.
type recordingRoutes struct {
	mu     sync.Mutex
	routes map[string]Route
}

func (r *recordingRoutes) SetRoutes(m map[string]Route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = maps.Clone(m)
}

func (r *recordingRoutes) get() map[string]Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.routes)
}

// loopFixture is a loop over a fake Marathon, one fake traffic source and a test clock.
type loopFixture struct {
	clock    *testClock
	marathon *fakeMarathon
	source   *fakeSource
	routes   *recordingRoutes
	metrics  *LoopMetrics
	loop     *Loop
	log      *zap.Logger   // the loop's; nil: none
	fallback FallbackCheck // the loop's; nil: none
}

func newLoopFixture(t *testing.T, cfg LoopConfig, p *policy.HibernationPolicy, apps ...App) *loopFixture {
	t.Helper()
	clock := newTestClock()
	f := &loopFixture{clock: clock, marathon: newFakeMarathon(clock, apps...)}
	f.start(cfg, p, clock.Now().Add(-24*time.Hour))
	return f
}

// start makes a new loop over the fixture's Marathon and clock, with a traffic source that has
// watched since the time given: a restart of the hibernator.
func (f *loopFixture) start(cfg LoopConfig, p *policy.HibernationPolicy, since time.Time) {
	f.source = newFakeSource("lb", since)
	f.routes = &recordingRoutes{}
	f.metrics = NewLoopMetrics(nil)
	if p == nil {
		p = policy.DefaultHibernationPolicy()
	}
	cfg.Now = f.clock.Now
	if cfg.RecheckAfter == 0 {
		cfg.RecheckAfter = time.Millisecond
	}
	waker := NewMarathonWaker(WakerConfig{DryRun: cfg.DryRun, Now: f.clock.Now}, f.marathon, f.metrics, nil)
	f.loop = NewLoop(cfg, LoopDeps{Marathon: f.marathon, Waker: waker, Sources: []TrafficSource{f.source}, Routes: f.routes, Fallback: f.fallback, Metrics: f.metrics, Log: f.log}, p)
}

func (f *loopFixture) appStatus(t *testing.T, id string) AppStatus {
	t.Helper()
	for _, a := range f.loop.Status().Apps {
		if a.App == id {
			return a
		}
	}
	t.Fatalf("%s not in /status: %+v", id, f.loop.Status().Apps)
	return AppStatus{}
}
