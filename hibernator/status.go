package hibernator

import (
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/marmot-project/marmot/policy"
)

// Status is what /status shows: the last full observation, the plan made from it, and why every app
// that opted in (or sleeps) is where it is.
type Status struct {
	// Ready is false until Marathon and the traffic sources have been observed in full once.
	Ready  bool `json:"ready"`
	DryRun bool `json:"dry_run"`
	// ObservedAt is when the plan below was made.
	ObservedAt time.Time `json:"observed_at,omitzero"`
	// LastError is why the last reconcile, if it failed, decided nothing; cleared by the next success.
	LastError   string       `json:"last_error,omitempty"`
	LastErrorAt time.Time    `json:"last_error_at,omitzero"`
	Sources     []SourceInfo `json:"sources"`
	// LBProbes are the probes through each load balancer's fallback (--lb-probe-url); absent without.
	LBProbes      []LBProbeStatus `json:"lb_probes,omitempty"`
	Apps          []AppStatus     `json:"apps"`
	HostConflicts []HostConflict  `json:"host_conflicts,omitempty"`
}

// SourceInfo is one traffic source in /status.
type SourceInfo struct {
	Name  string    `json:"name"`
	Fresh bool      `json:"fresh"`
	AsOf  time.Time `json:"as_of,omitzero"`
	Since time.Time `json:"since,omitzero"`
	Error string    `json:"error,omitempty"`
}

// AppStatus is one app in /status.
type AppStatus struct {
	App    string                   `json:"app"`
	State  string                   `json:"state"`
	Reason policy.HibernationReason `json:"reason"`
	Detail string                   `json:"detail,omitempty"`
	Group  string                   `json:"group,omitempty"`
	// Hosts are the host names the activator answers for on the app's behalf.
	Hosts     []string `json:"hosts,omitempty"`
	Instances int      `json:"instances"`
	// Idle is the app's idle period, e.g. "30m0s".
	Idle string `json:"idle,omitempty"`
	// LastTraffic is the last request each traffic source saw.
	LastTraffic     map[string]time.Time `json:"last_traffic,omitempty"`
	OpenConnections int                  `json:"open_connections,omitempty"`
	IdleSince       time.Time            `json:"idle_since,omitzero"`
	SleepsAt        time.Time            `json:"sleeps_at,omitzero"`
	AsleepSince     time.Time            `json:"asleep_since,omitzero"`
	LastAction      *ActionRecord        `json:"last_action,omitempty"`
}

// Status returns the latest status.
func (l *Loop) Status() Status {
	if s := l.status.Load(); s != nil {
		return *s
	}
	return Status{DryRun: l.cfg.DryRun, Sources: []SourceInfo{}, Apps: []AppStatus{}}
}

// publish turns an observation and its plan into the status and the app metrics.
func (l *Loop) publish(obs *observation, plan policy.HibernationPlan, routes map[string]Route, conflicts []HostConflict) {
	st := &Status{Ready: true, DryRun: l.cfg.DryRun, ObservedAt: obs.at, HostConflicts: conflicts, Apps: []AppStatus{}}
	if l.deps.Fallback != nil {
		st.LBProbes = l.deps.Fallback.Status()
	}
	for _, s := range obs.traffic.Sources {
		info := SourceInfo{Name: s.Name, Fresh: !s.Stale(), AsOf: s.Report.AsOf, Since: s.Report.Since}
		if s.Err != nil {
			info.Error = s.Err.Error()
		}
		st.Sources = append(st.Sources, info)
	}

	states := map[string]int{}
	reasons := map[policy.HibernationReason]int{}
	var cpus, mem, cpuHours, memHours float64
	l.mu.Lock()
	defer l.mu.Unlock()
	pol := l.Policy()
	for _, d := range plan.Decisions {
		reasons[d.Reason]++
		if d.Reason == policy.KeepAwakeNotOptedIn {
			continue // marmot.hibernate=false: not ours to show
		}
		a, _ := obs.app(d.App)
		t := obs.traffic.For(trafficTarget(a, pol, obs.traffic))
		as := AppStatus{
			App: d.App, State: appState(a, d), Reason: d.Reason, Detail: d.Detail, Group: d.Group,
			Hosts: routedHosts(routes, d.App), Instances: d.Instances, Idle: durationText(d.Idle.D),
			LastTraffic: t.LastRequest, OpenConnections: t.OpenConnections,
			IdleSince: d.IdleSince, SleepsAt: d.SleepsAt, AsleepSince: d.AsleepSince,
		}
		if r, ok := l.actions[d.App]; ok {
			as.LastAction = &r
		}
		states[as.State]++
		if as.State == StateAsleep {
			n := float64(d.Instances)
			cpus += n * a.CPUs
			mem += n * a.Mem
			if h := obs.at.Sub(d.AsleepSince).Hours(); h > 0 {
				cpuHours += h * n * a.CPUs
				memHours += h * n * a.Mem / 1024
			}
		}
		st.Apps = append(st.Apps, as)
	}
	for app := range l.actions {
		if _, ok := obs.app(app); !ok {
			delete(l.actions, app) // the app is gone, or no longer ours
		}
	}
	l.status.Store(st)

	for _, s := range []string{StateAwake, StateAsleep, StateWaking, StateSkipped} {
		l.metrics.apps.WithLabelValues(s).Set(float64(states[s]))
	}
	for _, r := range policy.HibernationReasons() {
		l.metrics.decisions.WithLabelValues(r.String()).Set(float64(reasons[r]))
	}
	l.metrics.freedCPUs.Set(cpus)
	l.metrics.freedMem.Set(mem * 1024 * 1024)
	l.metrics.asleepCPUh.Set(cpuHours)
	l.metrics.asleepMemh.Set(memHours)
	l.metrics.conflicts.Set(float64(len(conflicts)))
}

// publishActions shows in the status what this round did.
func (l *Loop) publishActions() {
	st := l.Status()
	st.Apps = slices.Clone(st.Apps)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, a := range st.Apps {
		if r, ok := l.actions[a.App]; ok {
			st.Apps[i].LastAction = &r
		}
	}
	l.status.Store(&st)
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// appState is the state /status and marmot_hibernator_apps give an app.
func appState(a App, d policy.HibernationDecision) string {
	switch {
	case d.Reason == policy.SkippedBadLabel:
		return StateSkipped
	case d.Asleep:
		return StateAsleep
	case a.Instances > 0 && a.TasksRunning < a.Instances:
		return StateWaking
	}
	return StateAwake
}

func (l *Loop) setError(err error) {
	st := l.Status()
	st.DryRun = l.cfg.DryRun
	st.LastError, st.LastErrorAt = err.Error(), l.cfg.Now()
	l.status.Store(&st)
}

// Handler serves the hibernator's own endpoints (never the activator's):
//
//	/metrics  Prometheus metrics from gatherer
//	/status   Status as JSON
//	/healthz  200 while the loop runs rounds
//	/readyz   200 once Marathon and the traffic sources were observed in full
//	/         a page showing /status for people
func (l *Loop) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(l.Status())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// A round can take the re-check wait plus Marathon's timeouts; five intervals without one
		// means the loop is stuck, which a restart may cure. A Marathon outage is not: rounds go on.
		last := time.Unix(0, l.lastAttempt.Load())
		if l.lastAttempt.Load() != 0 && time.Since(last) > 5*l.cfg.Interval+l.cfg.RecheckAfter+time.Minute {
			http.Error(w, "the reconcile loop has not run since "+last.UTC().Format(time.RFC3339), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !l.Ready() {
			http.Error(w, "not ready: Marathon and the traffic sources have not been observed in full yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		st := l.Status()
		slices.SortFunc(st.Apps, func(a, b AppStatus) int { return compareState(a.State, b.State) })
		_ = statusPage.Execute(w, st)
	})
	return mux
}

// compareState orders the page: what needs attention first.
func compareState(a, b string) int {
	rank := map[string]int{StateSkipped: 0, StateWaking: 1, StateAsleep: 2, StateAwake: 3}
	return rank[a] - rank[b]
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
}).Parse(`<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>marmot hibernator</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}
.asleep{color:#36c}.skipped{color:#c33}.waking{color:#c80}</style></head><body>
<h1>marmot hibernator</h1>
<p>{{if .Ready}}Observed {{when .ObservedAt}}{{else}}Not ready yet{{end}}{{if .DryRun}} — <b>dry run</b>: nothing is changed{{end}}.
{{if .LastError}}<br><b>Last round failed</b> ({{when .LastErrorAt}}): {{.LastError}}{{end}}</p>
<h2>Apps</h2>
<table><tr><th>app</th><th>state</th><th>reason</th><th>hosts</th><th>instances</th><th>idle since</th><th>sleeps at</th><th>asleep since</th></tr>
{{range .Apps}}<tr class="{{.State}}"><td>{{.App}}</td><td>{{.State}}</td><td>{{.Reason}}{{if .Detail}}: {{.Detail}}{{end}}</td>
<td>{{range $i, $h := .Hosts}}{{if $i}}, {{end}}{{$h}}{{end}}</td><td>{{.Instances}}</td><td>{{when .IdleSince}}</td><td>{{when .SleepsAt}}</td><td>{{when .AsleepSince}}</td></tr>
{{end}}</table>
<h2>Traffic sources</h2>
<table><tr><th>source</th><th>fresh</th><th>as of</th><th>watching since</th><th>error</th></tr>
{{range .Sources}}<tr><td>{{.Name}}</td><td>{{.Fresh}}</td><td>{{when .AsOf}}</td><td>{{when .Since}}</td><td>{{.Error}}</td></tr>
{{end}}</table>
{{if .LBProbes}}<h2>Load balancer fallbacks</h2>
<table><tr><th>probe URL</th><th>reaches an activator</th><th>last success</th><th>last probe</th><th>error</th></tr>
{{range .LBProbes}}<tr{{if not .OK}} class="skipped"{{end}}><td>{{.URL}}</td><td>{{.OK}}</td><td>{{when .LastSuccess}}</td><td>{{when .LastProbe}}</td><td>{{.LastError}}</td></tr>
{{end}}</table>{{end}}
{{range .HostConflicts}}<p class="skipped">Host {{.Host}} is claimed by {{range $i, $a := .Apps}}{{if $i}}, {{end}}{{$a}}{{end}}: it has no route.</p>{{end}}
<p><a href="/status">/status</a> · <a href="/metrics">/metrics</a></p>
</body></html>
`))
