package hibernator

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/marmot-project/marmot/policy"
)

// fakeTrafficSource is a TrafficSource that returns a fixed report, stamped with now unless AsOf is set.
type fakeTrafficSource struct {
	name   string
	report TrafficReport
	err    error
	calls  int
	mu     sync.Mutex
}

func (f *fakeTrafficSource) Name() string { return f.name }

func (f *fakeTrafficSource) Traffic(_ context.Context, now time.Time) (TrafficReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	r := f.report
	if r.AsOf.IsZero() && f.err == nil {
		r.AsOf = now
	}
	return r, f.err
}

var trafficNow = time.Date(2026, 8, 21, 12, 0, 0, 0, time.UTC)

func trafficAgo(d time.Duration) time.Time { return trafficNow.Add(-d) }

func TestGatherTrafficForApp(t *testing.T) {
	lb1 := &fakeTrafficSource{name: "haproxy:lb-1", report: TrafficReport{
		Since: trafficAgo(24 * time.Hour),
		Backends: map[string]TrafficSeen{
			"web_frontend_10000": {Last: trafficAgo(time.Hour), Requests: 10},
			"web_frontend_10001": {Last: trafficAgo(10 * time.Minute), Requests: 2, Open: 1},
			"other_10002":        {Last: trafficAgo(time.Second), Requests: 99, Open: 7},
		},
	}}
	lb2 := &fakeTrafficSource{name: "haproxy:lb-2", report: TrafficReport{
		Since:    trafficAgo(2 * time.Hour),
		Backends: map[string]TrafficSeen{"web_frontend_10000": {Last: trafficAgo(30 * time.Minute), Requests: 1}},
	}}
	nginx := &fakeTrafficSource{name: "nginx:/var/log/nginx/marmot.log", report: TrafficReport{
		Since: trafficAgo(3 * time.Hour),
		Hosts: map[string]TrafficSeen{"web.example.com": {Last: trafficAgo(5 * time.Minute), Requests: 3}, "www.web.example.com": {Last: trafficAgo(4 * time.Minute)}},
	}}
	act := &fakeTrafficSource{name: "activator", report: TrafficReport{
		Since: trafficAgo(time.Hour),
		Apps:  map[string]TrafficSeen{"/web/frontend": {Last: trafficAgo(50 * time.Minute), Requests: 1}},
	}}
	snap := GatherTraffic(context.Background(), trafficNow, 2*time.Minute, []TrafficSource{lb1, lb2, nginx, act})

	got := snap.For(TrafficTarget{AppID: "/web/frontend", ServicePorts: []int{10000, 10001}, Hosts: []string{"web.example.com", "www.web.example.com"}})
	want := policy.AppTraffic{
		LastRequest: map[string]time.Time{
			"haproxy:lb-1":                    trafficAgo(10 * time.Minute), // the later of its two backends
			"haproxy:lb-2":                    trafficAgo(30 * time.Minute),
			"nginx:/var/log/nginx/marmot.log": trafficAgo(4 * time.Minute),
			"activator":                       trafficAgo(50 * time.Minute),
		},
		ObservedSince:   trafficAgo(time.Hour), // the source that started last
		Fresh:           true,
		OpenConnections: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got.Last() != trafficAgo(4*time.Minute) {
		t.Errorf("latest %s", got.Last())
	}

	// An app no source saw: fresh, observed, no requests.
	quiet := snap.For(TrafficTarget{AppID: "/quiet", ServicePorts: []int{10009}, Hosts: []string{"quiet.example.com"}})
	if !quiet.Fresh || len(quiet.LastRequest) != 0 || !quiet.ObservedSince.Equal(trafficAgo(time.Hour)) {
		t.Errorf("quiet app: %+v", quiet)
	}
}

func TestGatherTrafficStaleness(t *testing.T) {
	fresh := func() *fakeTrafficSource {
		return &fakeTrafficSource{name: "fresh", report: TrafficReport{Since: trafficAgo(time.Hour), Hosts: map[string]TrafficSeen{"a.example.com": {Last: trafficAgo(time.Minute)}}}}
	}
	cases := []struct {
		name      string
		other     *fakeTrafficSource
		wantStale bool
	}{
		{"all fresh", &fakeTrafficSource{name: "other", report: TrafficReport{Since: trafficAgo(time.Hour)}}, false},
		{"a failing source", &fakeTrafficSource{name: "other", err: errors.New("connection refused"), report: TrafficReport{AsOf: trafficAgo(time.Minute), Since: trafficAgo(time.Hour)}}, true},
		{"old data", &fakeTrafficSource{name: "other", report: TrafficReport{AsOf: trafficAgo(3 * time.Minute), Since: trafficAgo(time.Hour)}}, true},
		{"just within the age", &fakeTrafficSource{name: "other", report: TrafficReport{AsOf: trafficAgo(2 * time.Minute), Since: trafficAgo(time.Hour)}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := GatherTraffic(context.Background(), trafficNow, 2*time.Minute, []TrafficSource{fresh(), c.other})
			// The stale source never reported this app: it is stale all the same.
			got := snap.For(TrafficTarget{AppID: "/a", Hosts: []string{"a.example.com"}})
			if got.Fresh == c.wantStale {
				t.Errorf("fresh = %v, want %v (%+v)", got.Fresh, !c.wantStale, snap.Sources)
			}
			if c.wantStale && (len(got.StaleSources) != 1 || got.StaleSources[0] != "other") {
				t.Errorf("stale sources %v", got.StaleSources)
			}
			if !got.LastRequest["fresh"].Equal(trafficAgo(time.Minute)) {
				t.Errorf("the fresh source's data is lost: %+v", got)
			}
		})
	}
}

func TestGatherTrafficUnobserved(t *testing.T) {
	// A source that has never read anything (its log is missing) has no Since: nobody knows the app was
	// quiet, so the planner must not count idle time.
	never := &fakeTrafficSource{name: "nginx", err: errors.New("missing")}
	ok := &fakeTrafficSource{name: "lb", report: TrafficReport{Since: trafficAgo(time.Hour)}}
	got := GatherTraffic(context.Background(), trafficNow, time.Minute, []TrafficSource{ok, never}).For(TrafficTarget{AppID: "/a"})
	if !got.ObservedSince.IsZero() || got.Fresh {
		t.Errorf("%+v", got)
	}
	if got := (TrafficSnapshot{Now: trafficNow}).For(TrafficTarget{AppID: "/a"}); !got.ObservedSince.IsZero() {
		t.Errorf("no sources at all: %+v", got)
	}
	var se *TrafficStaleError
	snap := GatherTraffic(context.Background(), trafficNow, time.Minute, []TrafficSource{&fakeTrafficSource{name: "x", report: TrafficReport{AsOf: trafficAgo(time.Hour)}}})
	if !errors.As(snap.Sources[0].Err, &se) || se.MaxAge != time.Minute {
		t.Errorf("error %v", snap.Sources[0].Err)
	}
}

func TestActivatorTraffic(t *testing.T) {
	a := NewActivatorTraffic(trafficAgo(time.Hour))
	a.Record("/web", trafficAgo(30*time.Minute))
	a.Record("/web", trafficAgo(40*time.Minute)) // out of order: the latest wins
	done := a.Begin("/ws", trafficAgo(20*time.Minute))
	r, err := a.Traffic(context.Background(), trafficNow)
	if err != nil || !r.AsOf.Equal(trafficNow) || !r.Since.Equal(trafficAgo(time.Hour)) {
		t.Fatalf("report %+v, %v", r, err)
	}
	if got, want := r.Apps["/web"], (TrafficSeen{Last: trafficAgo(30 * time.Minute), Requests: 2}); got != want {
		t.Errorf("/web %+v, want %+v", got, want)
	}
	if got, want := r.Apps["/ws"], (TrafficSeen{Last: trafficAgo(20 * time.Minute), Requests: 1, Open: 1}); got != want {
		t.Errorf("/ws %+v, want %+v", got, want)
	}
	done(trafficAgo(time.Minute))
	done(trafficNow) // only the first call counts
	r, _ = a.Traffic(context.Background(), trafficNow)
	if got, want := r.Apps["/ws"], (TrafficSeen{Last: trafficAgo(time.Minute), Requests: 1}); got != want {
		t.Errorf("/ws after done %+v, want %+v", got, want)
	}
}

func TestActivatorTrafficConcurrent(t *testing.T) {
	a := NewActivatorTraffic(trafficNow)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			done := a.Begin("/app", trafficNow.Add(time.Duration(i)*time.Millisecond))
			a.Record("/app", trafficNow)
			done(trafficNow.Add(time.Second))
		})
	}
	wg.Go(func() { _, _ = a.Traffic(context.Background(), trafficNow) })
	wg.Wait()
	r, _ := a.Traffic(context.Background(), trafficNow)
	if got := r.Apps["/app"]; got.Requests != 200 || got.Open != 0 || !got.Last.Equal(trafficNow.Add(time.Second)) {
		t.Errorf("%+v", got)
	}
}

// The whole path: sources → snapshot → planner.
func TestTrafficFeedsThePlanner(t *testing.T) {
	p := policy.DefaultHibernationPolicy()
	lb := &fakeTrafficSource{name: "lb", report: TrafficReport{Since: trafficAgo(48 * time.Hour), Backends: map[string]TrafficSeen{
		"busy_10000": {Last: trafficAgo(time.Minute)},
		"idle_10001": {Last: trafficAgo(3 * time.Hour)},
	}}}
	snap := GatherTraffic(context.Background(), trafficNow, p.Traffic.MaxAge.D, []TrafficSource{lb})
	app := func(id string, port int) policy.HibernationApp {
		return policy.HibernationApp{
			ID: id, Instances: 1, TasksRunning: 1, AwakeSince: trafficAgo(72 * time.Hour),
			Labels:  map[string]string{policy.LabelHibernate: "true", "HAPROXY_0_VHOST": id[1:] + ".example.com"},
			Traffic: snap.For(TrafficTarget{AppID: id, ServicePorts: []int{port}}),
		}
	}
	plan := policy.PlanHibernation(policy.HibernationInput{
		Apps: []policy.HibernationApp{app("/busy", 10000), app("/idle", 10001)}, Policy: p, Now: trafficNow,
	})
	if plan.Decisions[0].Reason != policy.KeepAwakeRecentTraffic || plan.Decisions[1].Reason != policy.Hibernate {
		t.Errorf("%+v", plan.Decisions)
	}
}
