package hibernator

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MarathonLBBackend returns the HAProxy backend name marathon-lb gives an app's service port: the app id
// without its leading slash, slashes replaced by underscores, then "_" and the port ("/web/frontend" on
// 10000 is "web_frontend_10000"; marathon_lb.py: appId[1:].replace('/', '_') + '_' + str(servicePort)).
// The mapping is not one to one ("/a/b" and "/a_b" share names), so backends are looked up from the apps,
// never parsed back into app ids; two apps that share a backend share its traffic, which can only keep
// them awake.
func MarathonLBBackend(appID string, servicePort int) string {
	return strings.ReplaceAll(strings.TrimPrefix(appID, "/"), "/", "_") + "_" + strconv.Itoa(servicePort)
}

// HAProxyRow is one line of HAProxy's CSV statistics, with the columns Marmot reads.
type HAProxyRow struct {
	Proxy   string // pxname
	Service string // svname: "FRONTEND", "BACKEND", or a server's name
	// CurrentSessions is scur: sessions open now.
	CurrentSessions int64
	// TotalSessions is stot: sessions since the process started.
	TotalSessions uint64
	// TotalRequests is req_tot: HTTP requests since the process started (several per keep-alive
	// session); HasRequests is false where HAProxy leaves it empty (TCP proxies, old versions).
	TotalRequests uint64
	HasRequests   bool
	// LastSession is lastsess: seconds since the last session was assigned, or -1 when there was none
	// (or the column is absent or empty).
	LastSession int64
}

// IsBackend reports whether the row is a backend's total (not a frontend or a single server).
func (r HAProxyRow) IsBackend() bool { return r.Service == "BACKEND" }

// haproxyColumns are the columns Marmot reads, and whether a CSV without them is unusable.
var haproxyColumns = []struct {
	name     string
	required bool
}{
	{"pxname", true}, {"svname", true}, {"scur", true}, {"stot", true}, {"req_tot", false}, {"lastsess", false},
}

// ParseHAProxyCSV parses the output of HAProxy's "show stat" in CSV, as the stats page serves it at
// ";csv" ("# pxname,svname,qcur,...", one line per frontend, backend and server). Columns are found by
// name in the header, so every HAProxy version since 1.5 (lastsess) works; req_tot and lastsess may be
// missing. Every line must have the header's number of fields: a short line means the body was cut
// off, and a cut-off body could hide a backend's traffic, so it is an error, not a partial result.
func ParseHAProxyCSV(r io.Reader) ([]HAProxyRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked below, with a better message
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("haproxy stats: empty response, expected a CSV header \"# pxname,svname,...\"")
		}
		return nil, fmt.Errorf("haproxy stats: header: %w", err)
	}
	if len(header) == 0 || !strings.HasPrefix(header[0], "# ") {
		return nil, fmt.Errorf("haproxy stats: the first line does not start with \"# pxname\": is the URL the stats page with \";csv\"?")
	}
	header[0] = strings.TrimPrefix(header[0], "# ")
	width := len(header)
	col := map[string]int{}
	for i, name := range header {
		if _, dup := col[name]; !dup {
			col[name] = i
		}
	}
	var missing []string
	for _, c := range haproxyColumns {
		if _, ok := col[c.name]; !ok && c.required {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("haproxy stats: the header lacks the columns %s", strings.Join(missing, ", "))
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return rec[i]
		}
		return ""
	}

	var rows []HAProxyRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("haproxy stats: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != width {
			return nil, fmt.Errorf("haproxy stats: line %d has %d fields, the header %d: truncated response?", line, len(rec), width)
		}
		row := HAProxyRow{Proxy: field(rec, "pxname"), Service: field(rec, "svname"), LastSession: -1}
		var perr error
		num := func(name string, dst *int64) bool {
			s := field(rec, name)
			if s == "" || perr != nil {
				return false
			}
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				perr = fmt.Errorf("haproxy stats: line %d: %s=%q is not a number", line, name, s)
				return false
			}
			*dst = v
			return true
		}
		var stot, reqTot int64
		num("scur", &row.CurrentSessions)
		num("stot", &stot)
		row.HasRequests = num("req_tot", &reqTot)
		num("lastsess", &row.LastSession)
		if perr != nil {
			return nil, perr
		}
		if row.CurrentSessions < 0 || stot < 0 || reqTot < 0 {
			return nil, fmt.Errorf("haproxy stats: line %d: negative counter", line)
		}
		row.TotalSessions, row.TotalRequests = uint64(stot), uint64(reqTot)
		rows = append(rows, row)
	}
}

// HAProxyStatsConfig configures an HAProxyStats source.
type HAProxyStatsConfig struct {
	// URL is the stats page's CSV, as marathon-lb serves it: "http://lb-1:9090/haproxy?stats;csv".
	URL string
	// Name identifies the source; "haproxy:" and the URL's host by default.
	Name string
	// Username and Password, when set, are sent as HTTP basic auth ("stats auth" in haproxy.cfg).
	Username, Password string
	// Timeout bounds one fetch; 5s by default.
	Timeout time.Duration
	// Client makes the requests; a client of its own by default.
	Client *http.Client
}

// maxStatsBytes bounds a stats response: a few hundred bytes per server line, so 64 MiB is a cluster far
// larger than any marathon-lb serves.
const maxStatsBytes = 64 << 20

// backendRetention is how long a backend that left the stats (its app went to sleep, say) is still
// reported with its last request.
const backendRetention = 7 * 24 * time.Hour

// HAProxyStats is a TrafficSource that reads one HAProxy's statistics, as marathon-lb exposes them. It
// reports per backend (see MarathonLBBackend) the last request, the requests counted, and the open
// sessions.
//
// HAProxy gives totals since its process started and the seconds since the last session (lastsess); the
// source keeps the previous totals to see new sessions between fetches. marathon-lb reloads HAProxy on
// every change to the apps it serves, which restarts the totals. Treating each reload as traffic would
// keep every app awake in a busy cluster, so a reload is taken as traffic only for backends that had
// sessions open at the previous fetch (they may live on in the old process, unseen); what else
// happened between the previous fetch and the reload is not seen. Fetch often (every few seconds) to
// keep that blind spot small; docs/hibernation-policy.md explains it.
type HAProxyStats struct {
	cfg HAProxyStatsConfig

	mu       sync.Mutex
	since    time.Time // first good fetch
	asOf     time.Time // last good fetch
	backends map[string]*backendState
	resets   uint64
}

// backendState is what the source remembers of one backend between fetches.
type backendState struct {
	stot, reqTot uint64
	scur         int64
	seen         TrafficSeen
	present      time.Time // last fetch that listed the backend
}

// NewHAProxyStats returns a source for the stats at cfg.URL. It does not fetch yet.
func NewHAProxyStats(cfg HAProxyStatsConfig) (*HAProxyStats, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("haproxy stats: URL %q is not an http(s) URL, e.g. http://lb-1:9090/haproxy?stats;csv", cfg.URL)
	}
	if cfg.Name == "" {
		cfg.Name = "haproxy:" + u.Host
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	return &HAProxyStats{cfg: cfg, backends: map[string]*backendState{}}, nil
}

// Name implements TrafficSource.
func (h *HAProxyStats) Name() string { return h.cfg.Name }

// Resets returns how many counter restarts (HAProxy reloads) the source has seen, per backend.
func (h *HAProxyStats) Resets() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.resets
}

// Traffic implements TrafficSource: it fetches the stats and folds them into what it saw before. Calls
// are serialised, fetch included, so that an older fetch is never folded in after a newer one (its
// lower counters would look like a reload).
func (h *HAProxyStats) Traffic(ctx context.Context, now time.Time) (TrafficReport, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rows, err := h.fetch(ctx)
	if err == nil {
		h.observe(rows, now)
	}
	return h.report(), err
}

func (h *HAProxyStats) fetch(ctx context.Context) ([]HAProxyRow, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.cfg.URL, nil)
	if err != nil {
		return nil, err
	}
	if h.cfg.Username != "" || h.cfg.Password != "" {
		req.SetBasicAuth(h.cfg.Username, h.cfg.Password)
	}
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("haproxy stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("haproxy stats: %s answered %s", h.cfg.URL, resp.Status)
	}
	body := &limitedReader{r: resp.Body, n: maxStatsBytes}
	rows, err := ParseHAProxyCSV(body)
	if body.over {
		return nil, fmt.Errorf("haproxy stats: response larger than %d bytes", maxStatsBytes)
	}
	return rows, err
}

// observe folds one fetch into the backends' state. Callers hold h.mu.
func (h *HAProxyStats) observe(rows []HAProxyRow, now time.Time) {
	prevFetch := h.asOf
	for _, r := range rows {
		if !r.IsBackend() {
			continue
		}
		b := h.backends[r.Proxy]
		if b == nil {
			b = &backendState{stot: r.TotalSessions, reqTot: r.TotalRequests}
			h.backends[r.Proxy] = b
			// HAProxy reports lastsess 0 for its own stats backend, which counts no sessions.
			if r.LastSession >= 0 && r.TotalSessions > 0 {
				b.seen.Last = now.Add(-time.Duration(r.LastSession) * time.Second)
			}
		}
		h.observeBackend(b, r, now, prevFetch)
		b.present = now
	}
	for name, b := range h.backends {
		if b.present != now {
			b.seen.Open, b.scur = 0, 0
			if now.Sub(b.present) > backendRetention {
				delete(h.backends, name)
			}
		}
	}
	if h.since.IsZero() {
		h.since = now
	}
	h.asOf = now
}

func (h *HAProxyStats) observeBackend(b *backendState, r HAProxyRow, now, prevFetch time.Time) {
	var last time.Time
	switch {
	case r.TotalSessions < b.stot || r.TotalRequests < b.reqTot:
		// The process restarted (a reload). Sessions open before may live on in the old process.
		h.resets++
		if b.scur > 0 {
			last = now
		}
		b.seen.Requests += max(r.TotalRequests, r.TotalSessions)
		if r.TotalSessions > 0 && r.LastSession >= 0 {
			last = latestTime(last, now.Add(-time.Duration(r.LastSession)*time.Second))
		}
	case r.TotalSessions > b.stot || r.TotalRequests > b.reqTot:
		// New sessions or requests since the previous fetch: lastsess says when the last session began;
		// requests on a kept-alive session do not move it, and then all that is known is "by now".
		last = now
		if r.TotalSessions > b.stot && r.TotalRequests-b.reqTot <= r.TotalSessions-b.stot && r.LastSession >= 0 {
			last = latestTime(now.Add(-time.Duration(r.LastSession)*time.Second), prevFetch)
		}
		if r.HasRequests {
			b.seen.Requests += r.TotalRequests - b.reqTot
		} else {
			b.seen.Requests += r.TotalSessions - b.stot
		}
	}
	if r.CurrentSessions > 0 {
		// In use now: the idle clock starts again when the last session closes.
		last = now
	}
	b.seen.Last = latestTime(b.seen.Last, last)
	b.seen.Open = int(min(r.CurrentSessions, 1<<31-1))
	b.stot, b.reqTot, b.scur = r.TotalSessions, r.TotalRequests, r.CurrentSessions
}

// report is a copy of what the source knows. Callers hold h.mu.
func (h *HAProxyStats) report() TrafficReport {
	r := TrafficReport{AsOf: h.asOf, Since: h.since, Backends: make(map[string]TrafficSeen, len(h.backends))}
	for name, b := range h.backends {
		r.Backends[name] = b.seen
	}
	return r
}

// limitedReader reads at most n bytes and remembers whether there was more.
type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if k, _ := l.r.Read(one[:]); k > 0 {
			l.over = true
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

func latestTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
