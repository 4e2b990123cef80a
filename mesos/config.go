package mesos

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Defaults for the Config fields left zero.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultReconnectMin = 500 * time.Millisecond
	DefaultReconnectMax = 30 * time.Second
)

// maxRedirects bounds how many 307 leader redirects one call follows. One is normal (a standby points
// at the leader); more mean leadership is moving, and the caller should retry later.
const maxRedirects = 3

// apiPath is the v1 operator API endpoint on every master.
const apiPath = "/api/v1"

// Config configures a Client.
type Config struct {
	// URLs are the masters, e.g. "http://m1:5050" (a trailing "/api/v1" is accepted). One is enough when
	// it is a standby: the client follows the leader from there.
	URLs []string
	// Timeout bounds each request to one master (connect, answer and body); 0 means DefaultTimeout. A
	// call tries each master at most once, plus up to 3 redirects. For Watch it bounds the time to the
	// SUBSCRIBED event.
	Timeout time.Duration
	// HTTPClient is used for every request when set; the client works on a copy without Timeout (which
	// would cut the SUBSCRIBE stream) and without redirect following (it follows 307s itself).
	HTTPClient *http.Client
	// TLS configures the default transport (CA, client certificates). Not allowed with HTTPClient.
	TLS *tls.Config
	// Principal and Secret send HTTP basic authentication with every request.
	Principal string
	Secret    string
	// Token sends "Authorization: token=<Token>" (DC/OS style) with every request. Not allowed with
	// Principal.
	Token string
	// ReconnectMin and ReconnectMax bound Watch's jittered exponential backoff between subscription
	// attempts; 0 means DefaultReconnectMin and DefaultReconnectMax.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
}

// Client talks to the leading Mesos master. It is safe for concurrent use.
type Client struct {
	log     *zap.Logger
	http    *http.Client
	auth    string // the Authorization header value, "" for none; never logged
	timeout time.Duration
	masters []*url.URL
	backoff backoff

	mu     sync.Mutex
	leader *url.URL // the master that answered last; tried first
}

// New validates cfg and returns a Client. It does not contact any master. Every problem in cfg is
// reported, each naming its field.
func New(cfg Config, log *zap.Logger) (*Client, error) {
	masters, errs := cfg.validate()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Client{
		log:     log,
		http:    cfg.httpClient(),
		auth:    cfg.authorization(),
		timeout: orDefault(cfg.Timeout, DefaultTimeout),
		masters: masters,
		backoff: backoff{min: orDefault(cfg.ReconnectMin, DefaultReconnectMin), max: orDefault(cfg.ReconnectMax, DefaultReconnectMax)},
		leader:  masters[0],
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (cfg Config) validate() ([]*url.URL, []error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("mesos: config %s: "+format, append([]any{field}, args...)...))
	}
	if len(cfg.URLs) == 0 {
		bad("URLs", "at least one master URL is required, e.g. http://m1:5050")
	}
	var masters []*url.URL
	for i, raw := range cfg.URLs {
		u, err := parseMaster(raw)
		if err != nil {
			bad(fmt.Sprintf("URLs[%d]", i), "%q: %v", raw, err)
			continue
		}
		masters = append(masters, u)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"Timeout", cfg.Timeout}, {"ReconnectMin", cfg.ReconnectMin}, {"ReconnectMax", cfg.ReconnectMax}} {
		if f.d < 0 {
			bad(f.name, "%v is negative", f.d)
		}
	}
	if lo, hi := orDefault(cfg.ReconnectMin, DefaultReconnectMin), orDefault(cfg.ReconnectMax, DefaultReconnectMax); lo > hi {
		bad("ReconnectMin", "%v is above ReconnectMax %v", lo, hi)
	}
	if cfg.HTTPClient != nil && cfg.TLS != nil {
		bad("TLS", "set the TLS config on HTTPClient's transport instead when HTTPClient is given")
	}
	if cfg.Secret != "" && cfg.Principal == "" {
		bad("Secret", "is set without Principal")
	}
	if cfg.Token != "" && cfg.Principal != "" {
		bad("Token", "is set together with Principal; choose basic authentication or a token")
	}
	return masters, errs
}

// parseMaster turns "http://m1:5050" or "http://m1:5050/api/v1" into the master's base URL.
func parseMaster(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" {
		return nil, fmt.Errorf("host is missing")
	}
	return masterBase(u), nil
}

// masterBase strips the API path, query and fragment: what remains names the master.
func masterBase(u *url.URL) *url.URL {
	b := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), apiPath)}
	b.Path = strings.TrimSuffix(b.Path, "/")
	return b
}

func (cfg Config) httpClient() *http.Client {
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = cfg.TLS
		hc.Transport = t
	}
	// mesos-go relies on the client not following redirects, so that a 307 reaches it (wire-facts §1.2);
	// the Client follows them itself to learn and remember the leader.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// Calls are bounded by their contexts; a client-wide timeout would also end every SUBSCRIBE stream.
	hc.Timeout = 0
	return &hc
}

func (cfg Config) authorization() string {
	switch {
	case cfg.Token != "":
		return "token=" + cfg.Token
	case cfg.Principal != "":
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(cfg.Principal, cfg.Secret)
		return r.Header.Get("Authorization")
	default:
		return ""
	}
}

// Leader returns the base URL of the master the client currently sends calls to: the one that
// answered last, or the first configured master before any call. It does not block.
func (c *Client) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader.String()
}
