package hibernator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/marmot-project/marmot/policy"
)

func TestActivatorAnswersTheLoadBalancerProbe(t *testing.T) {
	metrics := NewActivatorMetrics(nil)
	a := NewActivator(ActivatorConfig{ID: "replica-a"}, nil, metrics, nil, nil)
	// Even an app that claims the probe host does not get the probe, nor count it as use.
	a.SetRoutes(map[string]Route{"docs.example.com": {App: "/web/docs"}, ProbeHost: {App: "/web/greedy"}})
	clock := newTestClock()
	traffic := NewActivatorTraffic(clock.Now())
	srv := httptest.NewServer(CountUse(a, traffic, clock.Now))
	defer srv.Close()

	for _, host := range []string{ProbeHost, "Marmot-Activator-Probe.INVALID:80", ProbeHost + "."} {
		resp := request(t, srv, host, "/", "", nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderActivator) != "replica-a" {
			t.Errorf("probe with Host %s: %s, %s %q", host, resp.Status, HeaderActivator, resp.Header.Get(HeaderActivator))
		}
	}
	if got := metricValue(t, metrics.rejected.WithLabelValues(RejectUnknownHost)); got != 0 {
		t.Errorf("probes counted as unknown hosts: %v", got)
	}
	report, _ := traffic.Traffic(context.Background(), clock.Now())
	if len(report.Apps) != 0 {
		t.Errorf("probes counted as traffic: %+v", report.Apps)
	}
	if id := NewActivator(ActivatorConfig{}, nil, nil, nil, nil).cfg.ID; id != "1" {
		t.Errorf("default replica id %q", id)
	}
}

// fakeLB is a load balancer whose fallback a test switches: to an activator, to its own 503, or to
// something that answers 200 but is no activator.
type fakeLB struct {
	srv      *httptest.Server
	fallback atomic.Pointer[http.Handler]
}

func newFakeLB(t *testing.T) *fakeLB {
	lb := &fakeLB{}
	lb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*lb.fallback.Load()).ServeHTTP(w, r) }))
	t.Cleanup(lb.srv.Close)
	lb.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "503 Service Unavailable: no server is available", http.StatusServiceUnavailable)
	}))
	return lb
}

func (lb *fakeLB) set(h http.Handler) { lb.fallback.Store(&h) }

// toActivator makes the load balancer's fallback an activator behind it, as marathon-lb's
// default_backend is: the Host goes along.
func (lb *fakeLB) toActivator(t *testing.T) {
	act := httptest.NewServer(NewActivator(ActivatorConfig{}, nil, nil, nil, nil))
	t.Cleanup(act.Close)
	target, _ := url.Parse(act.URL)
	lb.set(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
	}})
}

func (lb *fakeLB) unavailable() {
	lb.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no server is available", http.StatusServiceUnavailable)
	}))
}

func TestLBProberVerifiesTheFallbackAndLogsOnlyChanges(t *testing.T) {
	good, bad := newFakeLB(t), newFakeLB(t)
	good.toActivator(t)
	clock := newTestClock()
	core, logs := observer.New(zapcore.InfoLevel)
	p := NewLBProber(LBProberConfig{URLs: []string{good.srv.URL, bad.srv.URL}, Interval: 10 * time.Second, Timeout: 5 * time.Second, Now: clock.Now}, nil, zap.New(core))
	ctx := context.Background()

	if got := p.Unverified(); !slices.Equal(got, []string{good.srv.URL, bad.srv.URL}) {
		t.Fatalf("before any probe, unverified %v: every URL must be", got)
	}
	p.ProbeAll(ctx)
	if got := p.Unverified(); !slices.Equal(got, []string{bad.srv.URL}) {
		t.Fatalf("unverified %v, want only the load balancer answering 503", got)
	}
	st := p.Status()
	if !st[0].OK || !st[0].LastSuccess.Equal(clock.Now()) || st[0].LastError != "" || st[1].OK || !strings.Contains(st[1].LastError, "503") {
		t.Fatalf("status %+v", st)
	}
	if metricValue(t, p.ok.WithLabelValues(good.srv.URL)) != 1 || metricValue(t, p.ok.WithLabelValues(bad.srv.URL)) != 0 ||
		metricValue(t, p.failed.WithLabelValues(bad.srv.URL)) != 1 {
		t.Fatal("lb_probe_ok or lb_probe_failures_total wrong")
	}
	p.ProbeAll(ctx)
	p.ProbeAll(ctx)
	if n := logs.Len(); n != 2 {
		t.Fatalf("%d log lines after three rounds, want one per URL: %v", n, logs.All())
	}

	// One failed probe does not unverify a fallback seen working within MaxAge; no success for longer does.
	good.unavailable()
	clock.Advance(10 * time.Second)
	p.ProbeAll(ctx)
	if got := p.Unverified(); !slices.Equal(got, []string{bad.srv.URL}) {
		t.Fatalf("unverified %v after one failure", got)
	}
	for range 3 {
		clock.Advance(10 * time.Second)
		p.ProbeAll(ctx)
	}
	if got := p.Unverified(); !slices.Equal(got, []string{good.srv.URL, bad.srv.URL}) {
		t.Fatalf("unverified %v after 40 s of failures", got)
	}
	if metricValue(t, p.ok.WithLabelValues(good.srv.URL)) != 0 {
		t.Fatal("lb_probe_ok still 1")
	}
	if warn := logs.FilterLevelExact(zapcore.WarnLevel).FilterField(zap.String("url", good.srv.URL)).Len(); warn != 1 {
		t.Fatalf("%d warnings for the failed load balancer, want 1", warn)
	}

	// Recovery: one success verifies it again, with one line.
	good.toActivator(t)
	bad.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("a catch-all page")) }))
	p.ProbeAll(ctx)
	if got := p.Unverified(); !slices.Equal(got, []string{bad.srv.URL}) {
		t.Fatalf("unverified %v after recovery", got)
	}
	if st := p.Status(); !strings.Contains(st[1].LastError, HeaderActivator) {
		t.Fatalf("a 200 from something else than an activator: %q", st[1].LastError)
	}
	if ok := logs.FilterLevelExact(zapcore.InfoLevel).FilterField(zap.String("url", good.srv.URL)).Len(); ok != 2 {
		t.Fatalf("%d recovery lines, want 2 (first success, recovery)", ok)
	}
}

func TestLBProberTimesOut(t *testing.T) {
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stuck)
	p := NewLBProber(LBProberConfig{URLs: []string{srv.URL}, Timeout: 50 * time.Millisecond}, nil, nil)
	p.ProbeAll(context.Background())
	if st := p.Status(); st[0].OK || st[0].LastError == "" || st[0].LastProbe.IsZero() {
		t.Fatalf("a load balancer that does not answer: %+v", st)
	}
}

func TestUnverifiedLoadBalancerFallbackMeansNoHibernation(t *testing.T) {
	lb := newFakeLB(t)
	f := &loopFixture{clock: newTestClock()}
	f.marathon = newFakeMarathon(f.clock, idleDocs())
	prober := NewLBProber(LBProberConfig{URLs: []string{lb.srv.URL}, Now: f.clock.Now}, nil, nil)
	f.fallback = prober
	f.start(LoopConfig{}, nil, f.clock.Now().Add(-24*time.Hour))
	f.source.seen("/web/docs", f.clock.Now().Add(-time.Hour))
	ctx := context.Background()

	prober.ProbeAll(ctx)
	f.loop.Reconcile(ctx)
	if puts := f.marathon.recordedPuts(); len(puts) != 0 {
		t.Fatalf("hibernated behind a load balancer without a fallback: %+v", puts)
	}
	if st := f.appStatus(t, "/web/docs"); st.Reason != policy.KeepAwakeLBFallbackUnverified || !strings.Contains(st.Detail, lb.srv.URL) {
		t.Fatalf("reason %s (%s), want keep_awake_lb_fallback_unverified", st.Reason, st.Detail)
	}
	if probes := f.loop.Status().LBProbes; len(probes) != 1 || probes[0].OK || !strings.Contains(probes[0].LastError, "503") {
		t.Fatalf("/status lb_probes %+v", probes)
	}
	if got := metricValue(t, f.metrics.decisions.WithLabelValues(policy.KeepAwakeLBFallbackUnverified.String())); got != 1 {
		t.Fatalf("app_decisions{keep_awake_lb_fallback_unverified} = %v", got)
	}

	// The fallback is fixed: the next probe verifies it and the app sleeps.
	lb.toActivator(t)
	prober.ProbeAll(ctx)
	f.loop.Reconcile(ctx)
	if puts := f.marathon.recordedPuts(); len(puts) != 1 {
		t.Fatalf("%d PUTs once the fallback reaches an activator, want the hibernation", len(puts))
	}
	if probes := f.loop.Status().LBProbes; len(probes) != 1 || !probes[0].OK {
		t.Fatalf("/status lb_probes %+v", probes)
	}
}
