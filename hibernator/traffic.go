package hibernator

// Traffic sources tell the hibernator when each app last received a request. Idle means no request
// reached the app through any load balancer for its idle period, so every load balancer in front of the
// cluster is a source (HAProxy stats from each marathon-lb, an access log from each nginx), and so is the
// activator, which sees the requests that wake sleeping apps. Missing or stale data from any source
// means no app is idle.

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/marmot-project/marmot/policy"
)

// TrafficSource reports the requests one load balancer (or the activator) has seen.
type TrafficSource interface {
	// Name identifies the source in /status, logs and metric labels ("haproxy:lb-1:9090",
	// "nginx:/var/log/nginx/marmot.log", "activator"). It does not change.
	Name() string

	// Traffic returns what the source has seen up to now. It may block on I/O (a fetch, a file read),
	// bounded by ctx and the source's own timeouts. now is the caller's clock: sources never read the
	// wall clock, they stamp the report with now and turn relative ages (HAProxy's lastsess) into times
	// with it.
	//
	// Reports are cumulative: Last is the latest request ever seen, so calling more or less often loses
	// nothing. Each call advances the source's view (it reads new log lines, takes new counter
	// baselines), so it is not idempotent, but it is safe for concurrent use.
	//
	// An error means the source cannot vouch for its data now (the fetch failed, the log is unreadable or
	// does not parse); the report may still carry what it saw before, and AsOf says how old that is.
	// Callers treat such a source as stale, and then no app counts as idle.
	Traffic(ctx context.Context, now time.Time) (TrafficReport, error)
}

// TrafficReport is what one source has seen. A source fills in the map of the keys it knows apps by;
// TrafficSnapshot.For maps them to apps.
type TrafficReport struct {
	// AsOf is when the data was last known to be current: the last successful fetch or log read.
	AsOf time.Time
	// Since is when the source started watching without a gap. What happened before is unknown, so no
	// app's idle clock starts earlier.
	Since time.Time
	// Apps is keyed by Marathon app id (the activator).
	Apps map[string]TrafficSeen
	// Hosts is keyed by normalised host name (access logs).
	Hosts map[string]TrafficSeen
	// Backends is keyed by HAProxy backend name (marathon-lb; see MarathonLBBackend).
	Backends map[string]TrafficSeen
	// Future counts the request times the source read ahead of the caller's clock since it started (a
	// load balancer whose clock runs ahead); it reports each such request as made when it read it.
	// Ahead is how far ahead the latest of them was. Sources that turn relative ages into times
	// (HAProxy's lastsess) and the activator never see one.
	Future uint64
	Ahead  time.Duration
}

// TrafficSeen is what a source saw for one key.
type TrafficSeen struct {
	// Last is the last counted request; zero when none was seen since the report's Since.
	Last time.Time `json:"last,omitzero"`
	// Requests is how many requests were counted since Since.
	Requests uint64 `json:"requests"`
	// Open is how many connections are open now; 0 when the source cannot tell.
	Open int `json:"open"`
}

// merge folds another sighting of the same key into s: the latest request wins, counts add up.
func (s *TrafficSeen) merge(o TrafficSeen) {
	if o.Last.After(s.Last) {
		s.Last = o.Last
	}
	s.Requests += o.Requests
	s.Open += o.Open
}

// TrafficTarget is how the traffic sources may name one app.
type TrafficTarget struct {
	AppID string
	// ServicePorts are the ports marathon-lb serves the app on (portDefinitions[].port, or the
	// HAPROXY_{n}_PORT label where set); each gives one backend name.
	ServicePorts []int
	// Hosts are the app's normalised host names (policy.HibernationLabels.Hosts).
	Hosts []string
}

// SourceStatus is one source's part of a snapshot.
type SourceStatus struct {
	Name   string
	Report TrafficReport
	// Err is why the source is stale, or nil when it is fresh.
	Err error
}

// Stale reports whether the source's data cannot be trusted for this snapshot.
func (s SourceStatus) Stale() bool { return s.Err != nil }

// TrafficSnapshot is what every source reported at one time.
type TrafficSnapshot struct {
	Now     time.Time
	Sources []SourceStatus
}

// TrafficStaleError is the error of a source whose last good data is older than the allowed age.
type TrafficStaleError struct {
	AsOf   time.Time
	MaxAge time.Duration
}

func (e *TrafficStaleError) Error() string {
	if e.AsOf.IsZero() {
		return "no traffic data yet"
	}
	return "traffic data from " + e.AsOf.UTC().Format(time.RFC3339) + " is older than " + e.MaxAge.String()
}

// GatherTraffic asks every source at once and waits for all of them. A source that fails, or whose
// data is older than maxAge (traffic.max_age), is stale.
func GatherTraffic(ctx context.Context, now time.Time, maxAge time.Duration, sources []TrafficSource) TrafficSnapshot {
	snap := TrafficSnapshot{Now: now, Sources: make([]SourceStatus, len(sources))}
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Go(func() {
			r, err := src.Traffic(ctx, now)
			if err == nil && (r.AsOf.IsZero() || now.Sub(r.AsOf) > maxAge) {
				err = &TrafficStaleError{AsOf: r.AsOf, MaxAge: maxAge}
			}
			snap.Sources[i] = SourceStatus{Name: src.Name(), Report: r, Err: err}
		})
	}
	wg.Wait()
	return snap
}

// For gathers what the sources saw of one app, as the hibernation planner takes it: the latest request
// per source, open connections added up, and fresh only if every source is. A stale source makes every
// app stale, not only the apps it reported: an app absent from a stale report may have had requests that
// the source could not tell about.
func (s TrafficSnapshot) For(t TrafficTarget) policy.AppTraffic {
	out := policy.AppTraffic{LastRequest: map[string]time.Time{}, Fresh: true}
	backends := make([]string, len(t.ServicePorts))
	for i, port := range t.ServicePorts {
		backends[i] = MarathonLBBackend(t.AppID, port)
	}
	observed := len(s.Sources) > 0
	for _, src := range s.Sources {
		if src.Stale() {
			out.Fresh = false
			out.StaleSources = append(out.StaleSources, src.Name)
		}
		if src.Report.Since.IsZero() {
			observed = false
		} else if src.Report.Since.After(out.ObservedSince) {
			out.ObservedSince = src.Report.Since
		}
		var seen TrafficSeen
		if v, ok := src.Report.Apps[t.AppID]; ok {
			seen.merge(v)
		}
		for _, h := range t.Hosts {
			if v, ok := src.Report.Hosts[h]; ok {
				seen.merge(v)
			}
		}
		for _, b := range backends {
			if v, ok := src.Report.Backends[b]; ok {
				seen.merge(v)
			}
		}
		if !seen.Last.IsZero() {
			out.LastRequest[src.Name] = seen.Last
		}
		out.OpenConnections += seen.Open
	}
	if !observed {
		// Until every source has watched, nobody knows the app was quiet.
		out.ObservedSince = time.Time{}
	}
	slices.Sort(out.StaleSources)
	return out
}
