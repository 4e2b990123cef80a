package hibernator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// The activator is where load balancers send requests for hosts that have no backend: apps asleep at
// zero instances (marathon-lb's default_backend, nixy's default server). It maps the Host header to an
// opted-in app and nothing else (unknown host → 404: the upstream is never taken from the request, so
// the activator cannot be used as an open proxy), starts one wake per app however many requests
// arrive, holds the requests in bounded queues, probes the new task directly and forwards the held
// requests to it the moment it answers — not through the load balancer, whose config lags behind
// Marathon (marathon-lb regenerates HAProxy config asynchronously and skips unhealthy apps).

// Route says where the activator may send a host's requests.
type Route struct {
	App string
	// Wake lists the apps to wake together (marmot.hibernate.group); it includes App.
	Wake        []string
	HoldTimeout time.Duration
}

// Waker is what the activator needs of Marathon.
type Waker interface {
	// Wake makes sure the app will run: if it sleeps it restores the remembered instance count and
	// clears the state labels in one PUT; if it is already awake or waking it does nothing. It is
	// idempotent, safe to call from several activators at once, and returns once Marathon accepted the
	// change (not when the app is up).
	Wake(ctx context.Context, app string) error
	// Endpoints returns the host:port of each of the app's tasks (whatever their state) and the path to
	// probe them on. An unknown app returns an error.
	Endpoints(ctx context.Context, app string) (addrs []string, probePath string, err error)
}

// ActivatorConfig holds the activator's limits. Zero values take the defaults noted.
type ActivatorConfig struct {
	MaxHeldPerApp      int           // requests held per app (default 1000)
	MaxHeldTotal       int           // requests held in all (default 10000)
	MaxBodyBytes       int64         // a held request's body (default 1 MiB; negative: no body); larger → 413
	MaxHeldBodyBytes   int64         // the bodies held in all (default 256 MiB); more → 503
	DefaultHoldTimeout time.Duration // when the route sets none (default 60 s)
	WakeTimeout        time.Duration // give up a wake after this (default 10 min)
	ProbeInterval      time.Duration // how often tasks are probed while waking (default 25 ms)
	ProbeTimeout       time.Duration // one probe (default 1 s)
	EndpointsInterval  time.Duration // how often Marathon is asked for task addresses (default 500 ms)
	ReadyTTL           time.Duration // how long a task that answered is trusted (default 30 s)
	WaitingPage        bool          // answer browsers (Accept: text/html) with a self-refreshing page
	ID                 string        // this replica in HeaderActivator, the answer to a load balancer's probe (default "1")
}

func (c *ActivatorConfig) defaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.MaxHeldPerApp <= 0 {
		c.MaxHeldPerApp = 1000
	}
	if c.MaxHeldTotal <= 0 {
		c.MaxHeldTotal = 10000
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxHeldBodyBytes <= 0 {
		c.MaxHeldBodyBytes = 256 << 20
	}
	def(&c.DefaultHoldTimeout, 60*time.Second)
	def(&c.WakeTimeout, 10*time.Minute)
	def(&c.ProbeInterval, 25*time.Millisecond)
	def(&c.ProbeTimeout, time.Second)
	def(&c.EndpointsInterval, 500*time.Millisecond)
	def(&c.ReadyTTL, 30*time.Second)
	if c.ID == "" {
		c.ID = "1"
	}
}

// Response headers that tell a client its request met a cold start.
const (
	HeaderColdStart = "X-Marmot-Cold-Start"
	HeaderWakeTime  = "X-Marmot-Wake-Duration"
)

// Activator is an http.Handler. Run must be running for wakes to make progress.
type Activator struct {
	cfg     ActivatorConfig
	waker   Waker
	log     *zap.Logger
	metrics *ActivatorMetrics
	routes  atomic.Pointer[map[string]Route]
	proxy   *httputil.ReverseProxy
	probe   *http.Client
	held    atomic.Int64

	mu       sync.Mutex
	wakes    map[string]*wake // by app id
	heldBody int64            // bytes of the bodies held
	ctx      context.Context  // Run's context; wakes end with it
	wg       sync.WaitGroup
	seen     func(app string, at time.Time)
}

// NewActivator makes an activator. seen is told of every request an app receives (the activator is one
// of the hibernator's traffic sources); it may be nil.
func NewActivator(cfg ActivatorConfig, waker Waker, metrics *ActivatorMetrics, log *zap.Logger, seen func(app string, at time.Time)) *Activator {
	cfg.defaults()
	if log == nil {
		log = zap.NewNop()
	}
	if metrics == nil {
		metrics = NewActivatorMetrics(nil)
	}
	if seen == nil {
		seen = func(string, time.Time) {}
	}
	transport := &http.Transport{
		Proxy:               nil, // never send app traffic through an environment proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	a := &Activator{cfg: cfg, waker: waker, log: log, metrics: metrics, wakes: map[string]*wake{}, ctx: context.Background(), seen: seen}
	a.routes.Store(&map[string]Route{})
	a.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(targetKey{}).(*target)
			pr.SetURL(&url.URL{Scheme: "http", Host: t.addr})
			pr.Out.Host = pr.In.Host // the app sees the host the client asked for
			pr.SetXForwarded()
		},
		Transport:    transport,
		ErrorHandler: proxyError,
		BufferPool:   bufferPool{},
	}
	a.probe = &http.Client{Transport: transport, Timeout: cfg.ProbeTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return a
}

// SetRoutes replaces the host map. Hosts must already be normalised (lowercase, no port).
func (a *Activator) SetRoutes(routes map[string]Route) {
	m := make(map[string]Route, len(routes))
	for h, r := range routes {
		m[h] = r
	}
	a.routes.Store(&m)
}

// Route returns the route of a host, if any.
func (a *Activator) Route(host string) (Route, bool) {
	r, ok := (*a.routes.Load())[host]
	return r, ok
}

// Run lets wakes proceed until ctx ends, then waits for them to stop. Requests still held get 503.
func (a *Activator) Run(ctx context.Context) error {
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
	<-ctx.Done()
	a.wg.Wait()
	return nil
}

// Held is the number of requests held now.
func (a *Activator) Held() int64 { return a.held.Load() }

type targetKey struct{}

type target struct {
	addr    string
	dialErr bool // set by the proxy when the backend refused the connection: nothing was sent
}

func proxyError(w http.ResponseWriter, r *http.Request, err error) {
	t := r.Context().Value(targetKey{}).(*target)
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		t.dialErr = true // the caller holds the request and retries it on a fresh wake
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	http.Error(w, "marmot activator: upstream error", http.StatusBadGateway)
}

// hostOf normalises a Host header: lowercase, port and trailing dot removed.
func hostOf(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// ServeHTTP implements http.Handler.
func (a *Activator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	host := hostOf(r.Host)
	if host == ProbeHost {
		answerProbe(w, a.cfg.ID)
		return
	}
	route, ok := a.Route(host)
	if !ok {
		a.metrics.rejected.WithLabelValues(RejectUnknownHost).Inc()
		http.Error(w, "marmot activator: unknown host", http.StatusNotFound)
		return
	}
	a.seen(route.App, arrived)
	body, err := a.bufferBody(w, r)
	if err != nil {
		a.metrics.rejected.WithLabelValues(RejectBodyTooLarge).Inc()
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	if addr, ok := a.readyBackend(route.App); ok {
		if a.forward(w, r, body, addr) {
			a.metrics.forwarded.WithLabelValues("warm").Inc()
			return
		}
		a.forget(route.App, addr) // refused: the app went back to sleep, or its task moved
	}
	a.hold(w, r, body, route, arrived)
}

// answerProbe tells a load balancer's probe (LBProber) that its fallback reached this activator.
func answerProbe(w http.ResponseWriter, id string) {
	w.Header().Set(HeaderActivator, id)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "marmot activator\n")
}

// bufferBody reads the body (up to the limit) so that a held or retried request can be replayed.
func (a *Activator) bufferBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > a.cfg.MaxBodyBytes {
		return nil, fmt.Errorf("marmot activator: request body over %d bytes", a.cfg.MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	if err != nil {
		return nil, fmt.Errorf("marmot activator: request body over %d bytes", a.cfg.MaxBodyBytes)
	}
	return body, nil
}

// forward proxies the request to addr; false means the backend refused the connection and nothing was
// written, so the request can be tried again elsewhere.
func (a *Activator) forward(w http.ResponseWriter, r *http.Request, body []byte, addr string) bool {
	t := &target{addr: addr}
	out := r.WithContext(context.WithValue(r.Context(), targetKey{}, t))
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
	}
	a.proxy.ServeHTTP(w, out)
	return !t.dialErr
}

func (a *Activator) hold(w http.ResponseWriter, r *http.Request, body []byte, route Route, arrived time.Time) {
	timeout := route.HoldTimeout
	if timeout <= 0 {
		timeout = a.cfg.DefaultHoldTimeout
	}
	retryAfter := strconv.Itoa(int(math.Ceil(timeout.Seconds())))
	wk, ok := a.admit(route, int64(len(body)))
	if !ok {
		a.metrics.rejected.WithLabelValues(RejectQueueFull).Inc()
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, "marmot activator: too many requests waiting for the app to wake", http.StatusServiceUnavailable)
		return
	}
	defer a.release(wk, int64(len(body)))
	if a.cfg.WaitingPage && r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
		// The wake has started; the browser comes back by itself instead of holding a connection.
		a.metrics.rejected.WithLabelValues(RejectWaitingPage).Inc()
		waitingPage(w, route.App)
		return
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for attempt := 0; attempt < 3; attempt++ {
		select {
		case <-r.Context().Done():
			a.metrics.rejected.WithLabelValues(RejectClientGone).Inc()
			return
		case <-timer.C:
			a.metrics.rejected.WithLabelValues(RejectTimeout).Inc()
			w.Header().Set("Retry-After", retryAfter)
			http.Error(w, "marmot activator: the app did not wake in time", http.StatusServiceUnavailable)
			return
		case <-wk.ready:
		}
		if wk.err != nil {
			a.metrics.rejected.WithLabelValues(RejectWakeFailed).Inc()
			w.Header().Set("Retry-After", retryAfter)
			http.Error(w, "marmot activator: waking the app failed: "+wk.err.Error(), http.StatusServiceUnavailable)
			return
		}
		waited := time.Since(arrived)
		kind := "warm"
		if wk.cold {
			kind = "cold"
			w.Header().Set(HeaderColdStart, "true")
			w.Header().Set(HeaderWakeTime, waited.Round(time.Millisecond).String())
		}
		if a.forward(w, r, body, wk.backend) {
			a.metrics.forwarded.WithLabelValues(kind).Inc()
			if wk.cold {
				a.metrics.wakeLatency.Observe(waited.Seconds())
			}
			return
		}
		a.forget(route.App, wk.backend)
		w.Header().Del(HeaderColdStart)
		w.Header().Del(HeaderWakeTime)
		next, _ := a.admitWake(route)
		a.moveHeld(wk, next)
		wk = next
	}
	w.Header().Set("Retry-After", retryAfter)
	http.Error(w, "marmot activator: the app's tasks refused the connection", http.StatusServiceUnavailable)
}

func waitingPage(w http.ResponseWriter, app string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Retry-After", "2")
	w.Header().Set("Refresh", "2")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>Waking up</title></head>`+
		`<body style="font-family:sans-serif;text-align:center;margin-top:15vh"><h1>Waking up %s</h1><p>This app was asleep to save resources. This page reloads by itself.</p></body></html>`,
		htmlEscape(app))
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

type bufferPool struct{}

var proxyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *proxyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { proxyBuffers.Put(&b) }
