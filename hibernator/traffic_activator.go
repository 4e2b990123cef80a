package hibernator

import (
	"context"
	"sync"
	"time"
)

// ActivatorTraffic is the TrafficSource the activator feeds: the requests it held and forwarded while
// an app woke, and the connections it still proxies. The load balancers do not see those (they sent
// the request to the activator because the app had no backend), and right after a wake a request may
// have reached the app only through the activator.
//
// It lives in the hibernator's memory and is always current; after a restart it starts empty, which
// Since says.
type ActivatorTraffic struct {
	mu    sync.Mutex
	since time.Time
	apps  map[string]TrafficSeen
}

// NewActivatorTraffic returns an empty source that has watched since now.
func NewActivatorTraffic(now time.Time) *ActivatorTraffic {
	return &ActivatorTraffic{since: now, apps: map[string]TrafficSeen{}}
}

// Name implements TrafficSource.
func (a *ActivatorTraffic) Name() string { return "activator" }

// Record counts one request for the app at the time given.
func (a *ActivatorTraffic) Record(appID string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.apps[appID]
	s.merge(TrafficSeen{Last: at, Requests: 1})
	a.apps[appID] = s
}

// Begin counts a request that stays open (a proxied request, a websocket) from at until done is called
// with the time it ended. While it is open the app counts as in use; done may be called more than once,
// only the first call counts.
func (a *ActivatorTraffic) Begin(appID string, at time.Time) (done func(end time.Time)) {
	a.mu.Lock()
	s := a.apps[appID]
	s.merge(TrafficSeen{Last: at, Requests: 1, Open: 1})
	a.apps[appID] = s
	a.mu.Unlock()
	var once sync.Once
	return func(end time.Time) {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			s := a.apps[appID]
			s.Open--
			if end.After(s.Last) {
				s.Last = end
			}
			a.apps[appID] = s
		})
	}
}

// Traffic implements TrafficSource. It never fails and its data is always current.
func (a *ActivatorTraffic) Traffic(_ context.Context, now time.Time) (TrafficReport, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := TrafficReport{AsOf: now, Since: a.since, Apps: make(map[string]TrafficSeen, len(a.apps))}
	for id, s := range a.apps {
		r.Apps[id] = s
	}
	return r, nil
}

var (
	_ TrafficSource = (*ActivatorTraffic)(nil)
	_ TrafficSource = (*HAProxyStats)(nil)
	_ TrafficSource = (*NginxAccessLog)(nil)
)
