// Package marathon is Marmot's Marathon client: the few calls the autoscaler and the hibernator need,
// with contexts, timeouts, failover across Marathon instances and typed errors, on top of go-marathon.
//
// go-marathon (dormant since 2020) has no contexts and takes a host out of rotation after a single
// transport error or 5xx, leaving a goroutine pinging it every 5 s (wire-facts §4). We therefore build a
// go-marathon client per call over a transport that binds the call's context and turns every failure
// into a sentinel response, so the library never marks a host down; failover is ours.
package marathon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomarathon "github.com/gambol99/go-marathon"
	"go.uber.org/zap"
)

// Config says how to reach Marathon.
type Config struct {
	// URLs are the Marathon instances (any of them: a standby proxies to the leader).
	URLs []string
	// Timeout bounds each call (default 10 s).
	Timeout time.Duration
	// BasicAuthUser and BasicAuthPassword set HTTP basic authentication.
	BasicAuthUser     string
	BasicAuthPassword string
	// Token is a DC/OS-style ACS token, sent as "Authorization: token=<Token>".
	Token string
	// HTTPClient carries TLS settings (CA file, client certificates); its Timeout is ignored.
	HTTPClient *http.Client
}

// Validate lists every problem of the configuration.
func (c Config) Validate() error {
	var errs []string
	if len(c.URLs) == 0 {
		errs = append(errs, "marathon urls: at least one is required, e.g. http://marathon.mesos:8080")
	}
	for i, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Sprintf("marathon urls[%d]: %q is not an http(s) URL", i, u))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, "marathon timeout: must not be negative")
	}
	if c.Token != "" && c.BasicAuthUser != "" {
		errs = append(errs, "marathon auth: set either a token or basic auth, not both")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// Client talks to Marathon. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base http.RoundTripper
	log  *zap.Logger

	mu        sync.Mutex
	preferred int // index of the URL that answered last
}

// New makes a client; it does not contact Marathon.
func New(cfg Config, log *zap.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	base := http.DefaultTransport
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		base = cfg.HTTPClient.Transport
	}
	for i := range cfg.URLs {
		cfg.URLs[i] = strings.TrimRight(cfg.URLs[i], "/")
	}
	return &Client{cfg: cfg, base: base, log: log}, nil
}

// sentinelStatus is what the call transport answers instead of a failure, so that go-marathon returns
// an *APIError rather than marking the host down; the real outcome travels in headers.
const (
	sentinelStatus      = 499
	sentinelCauseHeader = "X-Marmot-Failure"
	sentinelCodeHeader  = "X-Marmot-Status"
	// sentinelPrefix marks the message of a sentinel answer; go-marathon's APIError keeps only the
	// message, so this is how classify recognises it.
	sentinelPrefix = "marmot-unavailable: "
)

type callTransport struct {
	ctx  context.Context
	base http.RoundTripper
	auth func(*http.Request)
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.WithContext(t.ctx)
	t.auth(req)
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return sentinel(req, 0, err.Error()), nil
	}
	if resp.StatusCode >= 500 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return sentinel(req, resp.StatusCode, strings.TrimSpace(string(body))), nil
	}
	return resp, nil
}

func sentinel(req *http.Request, status int, cause string) *http.Response {
	h := http.Header{}
	h.Set(sentinelCauseHeader, oneLine(cause))
	h.Set(sentinelCodeHeader, strconv.Itoa(status))
	return &http.Response{
		StatusCode: sentinelStatus, Status: "499 marmot: marathon unavailable", Header: h,
		Body: io.NopCloser(strings.NewReader(`{"message":"` + sentinelPrefix + jsonEscape(fmt.Sprintf("status %d: %s", status, oneLine(cause))) + `"}`)), Request: req,
		ProtoMajor: 1, ProtoMinor: 1,
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

func jsonEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return r.Replace(s)
}

func (c *Client) authorize(req *http.Request) {
	switch {
	case c.cfg.Token != "":
		req.Header.Set("Authorization", "token="+c.cfg.Token)
	case c.cfg.BasicAuthUser != "":
		req.SetBasicAuth(c.cfg.BasicAuthUser, c.cfg.BasicAuthPassword)
	}
}

// do runs fn against each Marathon instance in turn, starting with the one that answered last, until
// one answers (any answer but "unavailable").
func (c *Client) do(ctx context.Context, fn func(m gomarathon.Marathon) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	c.mu.Lock()
	start := c.preferred
	c.mu.Unlock()
	var last error
	for i := 0; i < len(c.cfg.URLs); i++ {
		idx := (start + i) % len(c.cfg.URLs)
		m, err := gomarathon.NewClient(gomarathon.Config{
			URL:        c.cfg.URLs[idx],
			HTTPClient: &http.Client{Transport: &callTransport{ctx: ctx, base: c.base, auth: c.authorize}},
			LogOutput:  io.Discard,
		})
		if err != nil {
			return fmt.Errorf("marathon %s: %w", c.cfg.URLs[idx], err)
		}
		err = classify(fn(m))
		if !errors.Is(err, ErrUnavailable) {
			c.mu.Lock()
			c.preferred = idx
			c.mu.Unlock()
			return err
		}
		last = fmt.Errorf("%s: %w", c.cfg.URLs[idx], err)
		if ctx.Err() != nil {
			break
		}
	}
	return last
}
