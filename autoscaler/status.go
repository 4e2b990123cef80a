package autoscaler

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/marmot-project/marmot/policy"
)

// Status is what /status shows: per pool the last plan with every reason (each agent and why it is
// kept, each group and why it grows or not, each waiting app and whether it counts), the drains in
// progress, the groups backing off, and the latest actions.
type Status struct {
	Ready  bool `json:"ready"`
	DryRun bool `json:"dry_run"`
	// Policy is the policy in force; PolicyError says why the last reload was refused.
	Policy      *policy.AutoscalerPolicy `json:"policy"`
	PolicyError string                   `json:"policy_error,omitempty"`
	// LastReconcile is the last reconcile, planned or not; LastPlanned the last one that planned.
	LastReconcile *Report      `json:"last_reconcile,omitempty"`
	LastPlanned   time.Time    `json:"last_planned,omitzero"`
	Pools         []PoolStatus `json:"pools"`
	// Reclaims are the spot interruption notices held: instances the cloud takes back, whose drains
	// the pools' plans show.
	Reclaims []Reclaim `json:"reclaims"`
}

// PoolStatus is one pool in /status.
type PoolStatus struct {
	Pool     string          `json:"pool"`
	Plan     policy.PoolPlan `json:"plan"`
	Drains   []policy.Drain  `json:"drains"`
	Backoffs []Backoff       `json:"backoffs"`
	// Kept counts the agents by the reason of the last plan.
	Kept map[policy.Reason]int `json:"agents_by_reason"`
	// Actions are the latest actions (at most maxRecent), oldest first.
	Actions []Action `json:"recent_actions"`
}

// Backoff is a group backing off after failed launches.
type Backoff struct {
	Group    string    `json:"group"`
	Failures int       `json:"failures"`
	Until    time.Time `json:"until"`
}

// maxRecent is how many actions /status keeps per pool.
const maxRecent = 50

// keepRecent appends the actions worth showing to recent, keeping the last maxRecent; it returns nil
// when there is nothing new.
func keepRecent(recent, actions []Action) []Action {
	n := len(recent)
	for _, a := range actions {
		if a.Kind == ActionProtect && a.Result == ResultDryRun {
			continue // a dry run would repeat it every reconcile
		}
		recent = append(recent, a)
	}
	if len(recent) == n {
		return nil
	}
	if len(recent) > maxRecent {
		recent = append([]Action(nil), recent[len(recent)-maxRecent:]...)
	}
	return recent
}

// recordStatus keeps what /status shows after a reconcile. Called with recMu held.
func (l *Loop) recordStatus(rep *Report) {
	l.statusMu.Lock()
	defer l.statusMu.Unlock()
	rc := *rep
	rc.Pools = nil // the pools are shown below, with more
	l.status.LastReconcile = &rc
	l.status.Ready = l.ready.Load()
	l.status.DryRun = l.dryRun
	if !rep.Planned {
		return
	}
	l.status.LastPlanned = rep.At
	l.status.Pools = l.status.Pools[:0:0]
	for _, pr := range rep.Pools {
		ps := PoolStatus{Pool: pr.Pool, Plan: pr.Plan, Kept: pr.Plan.KeptByReason(), Actions: l.recent[pr.Pool]}
		state := l.states[pr.Pool]
		for _, d := range state.Drains {
			ps.Drains = append(ps.Drains, d)
		}
		sort.Slice(ps.Drains, func(i, j int) bool { return ps.Drains[i].InstanceID < ps.Drains[j].InstanceID })
		for name, g := range state.Groups {
			if g.BackoffUntil.After(rep.At) {
				ps.Backoffs = append(ps.Backoffs, Backoff{Group: name, Failures: g.Failures, Until: g.BackoffUntil})
			}
		}
		sort.Slice(ps.Backoffs, func(i, j int) bool { return ps.Backoffs[i].Group < ps.Backoffs[j].Group })
		l.status.Pools = append(l.status.Pools, ps)
	}
}

// Status returns what /status shows.
func (l *Loop) Status() Status {
	pol := l.policy()
	l.statusMu.Lock()
	defer l.statusMu.Unlock()
	s := l.status
	s.Ready = l.ready.Load()
	s.Policy, s.PolicyError = pol, l.reloadErr
	s.Reclaims = l.heldReclaims()
	return s
}

// Handler serves /status (JSON), /healthz (the process is alive) and /readyz (200 once the first full
// snapshot was read, 503 before). /metrics is served from the registry by the caller.
func (l *Loop) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(l.Status())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !l.Ready() {
			http.Error(w, "waiting for the first full snapshot of mesos, marathon and the cloud", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}
