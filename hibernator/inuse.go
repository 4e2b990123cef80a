package hibernator

import (
	"net/http"
	"time"
)

// CountUse wraps the activator so that every request it takes for an app counts as use of that app for
// as long as it is open: while it is held during the wake, and while it is proxied afterwards. A
// websocket or a long download that reached the app through the activator (the load balancer's config
// still lagged the wake) keeps the app awake until it ends, which an access log, written at the end,
// could not tell. Requests for unknown hosts count for nothing. now is the hibernator's clock.
//
// Use it instead of NewActivator's seen callback, not with it: each request would count twice.
func CountUse(a *Activator, traffic *ActivatorTraffic, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOf(r.Host)
		route, ok := a.Route(host)
		if !ok || host == ProbeHost { // a load balancer's probe is not use, whoever claims its host
			a.ServeHTTP(w, r)
			return
		}
		done := traffic.Begin(route.App, now())
		defer func() { done(now()) }()
		a.ServeHTTP(w, r)
	})
}
