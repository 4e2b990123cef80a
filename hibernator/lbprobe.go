package hibernator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// A sleeping app has no backend in a load balancer's config, so its requests reach an activator only
// through the balancer's fallback (marathon-lb's default_backend, nixy's default server). A balancer
// without that fallback answers 503 or 404 itself and every request to a sleeping app is lost. The
// LBProber proves the fallback the way a request would take it: it asks each balancer's frontend for
// ProbeHost, a host no app can own (.invalid is reserved, RFC 2606), so only the fallback can route
// it, and only an activator answers it with HeaderActivator.

// ProbeHost is the Host of the load-balancer probe. The activator answers it with 200 and
// HeaderActivator; it is never traffic and never an unknown-host rejection.
const ProbeHost = "marmot-activator-probe.invalid"

// HeaderActivator names the activator replica that answered a probe.
const HeaderActivator = "X-Marmot-Activator"

// LBProberConfig tunes an LBProber. Zero values take the defaults noted.
type LBProberConfig struct {
	// URLs are the load balancers' frontend URLs, e.g. http://marathon-lb.marathon.mesos:80.
	URLs []string
	// Interval is the time between two probes of each URL (default 10 s).
	Interval time.Duration
	// Timeout bounds one probe (default 2 s).
	Timeout time.Duration
	// MaxAge is how long a URL's last success verifies it (default 3 intervals plus the timeout).
	MaxAge time.Duration
	// Now is the prober's clock (time.Now by default). Probes are real network requests, so it is the
	// wall clock in the daemon, whatever clock the loop runs on.
	Now func() time.Time
	// Client makes the probes (default: a client without proxy from the environment).
	Client *http.Client
}

func (c *LBProberConfig) defaults() {
	if c.Interval <= 0 {
		c.Interval = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 3*c.Interval + c.Timeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2}}
	}
}

// LBProbeStatus is one probe URL in /status.
type LBProbeStatus struct {
	URL string `json:"url"`
	// OK is true when the URL's last success is within the prober's MaxAge.
	OK          bool      `json:"ok"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastProbe   time.Time `json:"last_probe,omitzero"`
	// LastError is why the last probe failed; empty after a success.
	LastError string `json:"last_error,omitempty"`
}

// LBProber probes every load balancer's fallback and says which are unverified. It is safe for
// concurrent use.
type LBProber struct {
	cfg     LBProberConfig
	log     *zap.Logger
	ok      *prometheus.GaugeVec
	failed  *prometheus.CounterVec
	mu      sync.Mutex
	state   map[string]*LBProbeStatus
	verdict map[string]bool // the verdict last logged per URL: a log line per change, not per probe
}

// NewLBProber makes a prober and registers its metrics on reg (nil: not registered). Every URL starts
// unverified.
func NewLBProber(cfg LBProberConfig, reg prometheus.Registerer, log *zap.Logger) *LBProber {
	cfg.defaults()
	if log == nil {
		log = zap.NewNop()
	}
	p := &LBProber{cfg: cfg, log: log, state: map[string]*LBProbeStatus{}, verdict: map[string]bool{},
		ok: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "marmot_hibernator_lb_probe_ok",
			Help: "1 when a probe through the load balancer's fallback (--lb-probe-url) reached an activator recently; while any is 0 nothing goes to sleep.",
		}, []string{"url"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_lb_probe_failures_total",
			Help: "Probes through a load balancer's fallback (--lb-probe-url) that no activator answered.",
		}, []string{"url"}),
	}
	for _, u := range cfg.URLs {
		p.state[u] = &LBProbeStatus{URL: u}
		p.ok.WithLabelValues(u).Set(0)
		p.failed.WithLabelValues(u)
	}
	if reg != nil {
		reg.MustRegister(p.ok, p.failed)
	}
	return p
}

// Run probes every URL at once and then every Interval until ctx ends.
func (p *LBProber) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.ProbeAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ProbeAll probes every URL once, in parallel, and returns when all have answered or timed out.
func (p *LBProber) ProbeAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, u := range p.cfg.URLs {
		wg.Go(func() {
			at := p.cfg.Now()
			err := p.probe(ctx, u)
			if ctx.Err() != nil {
				return // stopping: not the balancer's fault
			}
			p.note(u, at, err)
		})
	}
	wg.Wait()
}

// probe asks one load balancer for ProbeHost; nil means an activator answered.
func (p *LBProber) probe(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Host = ProbeHost
	req.Header.Set("User-Agent", "marmot-hibernator-lb-probe")
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s answered %s: its fallback does not reach an activator", u, resp.Status)
	case resp.Header.Get(HeaderActivator) == "":
		return errors.New(u + " answered 200 without " + HeaderActivator + ": its fallback reaches something else than an activator")
	}
	return nil
}

func (p *LBProber) note(u string, at time.Time, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state[u]
	s.LastProbe = at
	if err != nil {
		s.LastError = err.Error()
		p.failed.WithLabelValues(u).Inc()
	} else {
		s.LastError, s.LastSuccess = "", at
	}
	p.refresh(u, at)
}

// refresh sets a URL's gauge and logs when its verdict changed; p.mu is held.
func (p *LBProber) refresh(u string, now time.Time) bool {
	s := p.state[u]
	ok := !s.LastSuccess.IsZero() && now.Sub(s.LastSuccess) <= p.cfg.MaxAge
	v := 0.0
	if ok {
		v = 1
	}
	p.ok.WithLabelValues(u).Set(v)
	if s.LastProbe.IsZero() {
		return ok // not probed yet: nothing to tell
	}
	if was, seen := p.verdict[u]; !seen || was != ok {
		p.verdict[u] = ok
		if ok {
			p.log.Info("load balancer fallback reaches an activator", zap.String("url", u))
		} else {
			p.log.Warn("load balancer fallback unverified: no app goes to sleep until a probe through it reaches an activator",
				zap.String("url", u), zap.String("error", s.LastError), zap.Time("last_success", s.LastSuccess))
		}
	}
	return ok
}

// Unverified returns the URLs whose last success is older than MaxAge, or that never succeeded, in
// the order given; implements FallbackCheck.
func (p *LBProber) Unverified() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	var out []string
	for _, u := range p.cfg.URLs {
		if !p.refresh(u, now) {
			out = append(out, u)
		}
	}
	return out
}

// Status returns every URL's state, in the order given; implements FallbackCheck.
func (p *LBProber) Status() []LBProbeStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	out := make([]LBProbeStatus, 0, len(p.cfg.URLs))
	for _, u := range p.cfg.URLs {
		s := *p.state[u]
		s.OK = p.refresh(u, now)
		out = append(out, s)
	}
	return out
}
