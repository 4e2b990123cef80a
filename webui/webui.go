// Package webui is Marmot's built-in dashboard page: pools, agents, sleeping apps, and cost and
// savings over time as charts, served by the daemon it is mounted in. The page and its chart library
// (uPlot) are embedded, so it needs nothing from outside the daemon: no CDN, no external URL.
//
// The daemon owns the figures: after each reconcile it calls Record with a Sample, and the UI keeps
// the samples in a ring buffer that the page reads from api/series. The page may also show the
// daemon's own JSON status (Config.StatusPath) as it is.
//
//	ui := webui.New(webui.Config{Title: "marmot autoscaler", StatusPath: "status"})
//	ui.Mount(mux)                     // GET /, /assets/, /api/series
//	...
//	ui.Record(webui.Sample{At: now, Pools: ..., Cost: ...})
package webui

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// assets are served under /assets/ as they are; page.html is the template of the page itself.
//
//go:embed assets page.html
var assets embed.FS

// ChartLibrary returns the embedded uPlot build (JavaScript and CSS), for other pages of Marmot that
// draw charts (the what-if report) so that the project ships one chart library, not two.
func ChartLibrary() (js, css []byte) {
	js, _ = assets.ReadFile("assets/uPlot.iife.min.js")
	css, _ = assets.ReadFile("assets/uPlot.min.css")
	return js, css
}

// Config configures the page.
type Config struct {
	// Title heads the page, e.g. "marmot autoscaler".
	Title string
	// StatusPath is where the daemon serves its JSON status, relative to the page (e.g. "status" for
	// a page at / and status at /status); empty: the page shows no status.
	StatusPath string
	// Capacity is how many samples the ring buffer keeps (default 1440).
	Capacity int
	// Resolution is the least time between two kept samples: a sample closer than that to the start
	// of the newest slot replaces it, so the buffer spans at least Capacity × Resolution while the
	// newest point is always current (default 30 s; the autoscaler reconciles on every burst of events).
	Resolution time.Duration
	// Refresh is how often the page asks for new samples (default 5 s).
	Refresh time.Duration
}

// Defaults of Config.
const (
	DefaultCapacity   = 1440
	DefaultResolution = 30 * time.Second
	DefaultRefresh    = 5 * time.Second
)

// Sample is the cluster at one moment as the page shows it. Every part is optional: a daemon fills what
// it knows (the autoscaler has no apps, the hibernator no agents), and the page leaves out the charts
// and tables it has no data for.
type Sample struct {
	At    time.Time `json:"at"`
	Pools []Pool    `json:"pools,omitempty"`
	Apps  *Apps     `json:"apps,omitempty"`
	Cost  *Cost     `json:"cost,omitempty"`
	// HibernationSavings is for a daemon that knows what hibernation saves but not what the cluster
	// costs (the hibernator sees no instance): the page shows the savings and, without Cost, no cost.
	HibernationSavings *HibernationSavings `json:"hibernation_savings,omitempty"`

	// Agents and SleepingApps are tables of the moment: only the newest sample's are kept and shown.
	Agents       []Agent       `json:"agents,omitempty"`
	SleepingApps []SleepingApp `json:"sleeping_apps,omitempty"`
}

// Pool is one agent pool.
type Pool struct {
	Name string `json:"name"`
	// Agents are the pool's Mesos agents; Desired the sum of its Auto Scaling groups' desired capacity.
	Agents  int `json:"agents"`
	Desired int `json:"desired"`
	// CPUs the agents offer and CPUsAllocated to tasks; Waiting the Marathon instances waiting for room.
	CPUs          float64 `json:"cpus"`
	CPUsAllocated float64 `json:"cpus_allocated"`
	Waiting       int     `json:"waiting"`
}

// Apps counts the apps that opted in to hibernation, by state.
type Apps struct {
	Awake  int `json:"awake"`
	Asleep int `json:"asleep"`
	Waking int `json:"waking"`
}

// Cost is the money side, in USD: what the cluster costs now, what it cost since the daemon's ledger
// began, and what autoscaling and hibernation saved over the same period (cost.Report). Only a daemon
// that knows what the instances cost gives it: a $0 there would be a claim.
type Cost struct {
	PerHour          float64 `json:"per_hour"`
	Total            float64 `json:"total"`
	SavedAutoscaling float64 `json:"saved_autoscaling"`
	// SavedHibernation is nil for a daemon that cannot tell (the autoscaler does not see what the
	// hibernator saves): the page then shows no hibernation figure rather than $0.
	SavedHibernation *float64 `json:"saved_hibernation,omitempty"`
}

// HibernationSavings is what hibernation saves, in USD at the daemon's prices (hibernator.Cost).
type HibernationSavings struct {
	// PerHour is what the resources the apps asleep now would cost per hour.
	PerHour float64 `json:"per_hour"`
	// Total is PerHour integrated since the daemon started.
	Total float64 `json:"total"`
}

// Agent is one row of the agents table.
type Agent struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname,omitempty"`
	Pool     string `json:"pool"`
	// State is the agent's state (available, draining, ...); Reason why the last plan keeps or drains it.
	State  string `json:"state,omitempty"`
	Reason string `json:"reason,omitempty"`
	Tasks  int    `json:"tasks"`
}

// SleepingApp is one row of the sleeping apps table.
type SleepingApp struct {
	App   string    `json:"app"`
	Since time.Time `json:"since,omitzero"`
	// Instances is the count the app wakes to; CPUs and MemMB what they would hold.
	Instances int     `json:"instances"`
	CPUs      float64 `json:"cpus"`
	MemMB     float64 `json:"mem_mb"`
}

// UI serves the page. It is safe for concurrent use: Record is called by the daemon's loop while
// the page is served.
type UI struct {
	cfg   Config
	index []byte
	files http.Handler

	mu     sync.Mutex
	ring   []Sample // ring[(head+i)%len] for i < n, oldest first
	head   int
	n      int
	slot   time.Time // start of the newest slot, see Config.Resolution
	latest *Sample
}

// New returns a UI with no samples yet.
func New(cfg Config) *UI {
	if cfg.Capacity <= 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.Resolution <= 0 {
		cfg.Resolution = DefaultResolution
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Title == "" {
		cfg.Title = "marmot"
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	u := &UI{cfg: cfg, ring: make([]Sample, cfg.Capacity), files: http.StripPrefix("/assets/", http.FileServerFS(sub))}
	var buf bytes.Buffer
	if err := indexPage.Execute(&buf, map[string]any{
		"Title": cfg.Title, "StatusPath": cfg.StatusPath, "RefreshMillis": cfg.Refresh.Milliseconds(),
	}); err != nil {
		panic(err) // the template and its data are fixed at build time
	}
	u.index = buf.Bytes()
	return u
}

// Record adds a sample. Samples must come in time order: one at or before the newest is ignored.
func (u *UI) Record(s Sample) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.latest != nil && !s.At.After(u.latest.At) {
		return
	}
	latest := s
	u.latest = &latest
	s.Agents, s.SleepingApps = nil, nil // tables of the moment: only the newest's are kept
	if u.n > 0 && s.At.Sub(u.slot) < u.cfg.Resolution {
		u.ring[(u.head+u.n-1)%len(u.ring)] = s
		return
	}
	u.slot = s.At
	if u.n < len(u.ring) {
		u.ring[(u.head+u.n)%len(u.ring)] = s
		u.n++
		return
	}
	u.ring[u.head] = s
	u.head = (u.head + 1) % len(u.ring)
}

// Series is what api/series answers.
type Series struct {
	Title      string `json:"title"`
	StatusPath string `json:"status_path,omitempty"`
	Capacity   int    `json:"capacity"`
	// Samples are oldest first, without their tables.
	Samples []Sample `json:"samples"`
	// Latest is the newest sample, tables included; nil before the first Record.
	Latest *Sample `json:"latest"`
}

// series returns the samples at or after since (all of them when since is zero).
func (u *UI) series(since time.Time) Series {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := Series{Title: u.cfg.Title, StatusPath: u.cfg.StatusPath, Capacity: len(u.ring), Samples: []Sample{}}
	for i := 0; i < u.n; i++ {
		s := u.ring[(u.head+i)%len(u.ring)]
		if !s.At.Before(since) {
			out.Samples = append(out.Samples, s)
		}
	}
	if u.latest != nil {
		l := *u.latest
		out.Latest = &l
	}
	return out
}

// Mount registers the page's routes on mux: GET /, GET /assets/ and GET /api/series. They are more
// specific than a daemon's catch-all "/", so the daemon's other endpoints keep working.
func (u *UI) Mount(mux *http.ServeMux) {
	mux.Handle("GET /{$}", u)
	mux.Handle("GET /assets/", u)
	mux.Handle("GET /api/series", u)
}

// ServeHTTP serves the page at /, its assets under /assets/ and the samples at /api/series
// (?since=UNIX_MILLIS for the samples from then on). Mount it at the root of a mux, or under a
// prefix with http.StripPrefix: every URL the page uses is relative.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// The page must never load anything from elsewhere, and no other site may frame it.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	switch {
	case r.URL.Path == "/" || r.URL.Path == "":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(u.index)
	case r.URL.Path == "/api/series":
		var since time.Time
		if v := r.URL.Query().Get("since"); v != "" {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				http.Error(w, "since: "+strconv.Quote(v)+" is not a Unix time in milliseconds", http.StatusBadRequest)
				return
			}
			since = time.UnixMilli(ms)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(u.series(since))
	case len(r.URL.Path) > len("/assets/") && r.URL.Path[:len("/assets/")] == "/assets/":
		u.files.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

var indexPage = template.Must(template.ParseFS(assets, "page.html"))
