package hibernator

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// wake is one single-flight wake of an app: every request held for the app waits on ready.
type wake struct {
	app   string
	apps  []string
	since time.Time
	ready chan struct{} // closed when backend is set or err is

	// Set before ready is closed; read only after.
	backend string
	err     error
	// cold is false when a task answered at the first probe: the app was awake and only the load
	// balancer's config lagged, so the client did not meet a cold start.
	cold bool

	// Guarded by Activator.mu.
	done    bool
	readyAt time.Time
	held    int
}

// admit counts a request (with a body of that many bytes) as held for route's app, starting a wake if
// none is under way. It refuses when the per-app, the total or the body bound is reached.
func (a *Activator) admit(route Route, body int64) (*wake, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if int(a.held.Load()) >= a.cfg.MaxHeldTotal || (body > 0 && a.heldBody+body > a.cfg.MaxHeldBodyBytes) {
		return nil, false
	}
	wk := a.currentWake(route)
	if wk.held >= a.cfg.MaxHeldPerApp {
		return nil, false
	}
	wk.held++
	a.heldBody += body
	a.metrics.held.Set(float64(a.held.Add(1)))
	return wk, true
}

// admitWake returns the wake a request already counted as held should wait on now.
func (a *Activator) admitWake(route Route) (*wake, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.currentWake(route), true
}

// currentWake returns the app's wake, starting a new one when there is none or the last one failed or
// grew stale. It must be called with a.mu held.
func (a *Activator) currentWake(route Route) *wake {
	wk := a.wakes[route.App]
	if wk != nil && (!wk.done || (wk.err == nil && time.Since(wk.readyAt) < a.cfg.ReadyTTL)) {
		return wk
	}
	apps := route.Wake
	if len(apps) == 0 {
		apps = []string{route.App}
	}
	wk = &wake{app: route.App, apps: apps, since: time.Now(), ready: make(chan struct{})}
	a.wakes[route.App] = wk
	a.wg.Add(1)
	go func(ctx context.Context) {
		defer a.wg.Done()
		a.runWake(ctx, wk)
	}(a.ctx)
	return wk
}

func (a *Activator) release(wk *wake, body int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	wk.held--
	a.heldBody -= body
	a.metrics.held.Set(float64(a.held.Add(-1)))
}

func (a *Activator) moveHeld(from, to *wake) {
	a.mu.Lock()
	defer a.mu.Unlock()
	from.held--
	to.held++
}

// readyBackend returns a task of app that answered recently, for requests the load balancer still
// sends here (its config lags the wake).
func (a *Activator) readyBackend(app string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	wk := a.wakes[app]
	if wk == nil || !wk.done || wk.err != nil || time.Since(wk.readyAt) >= a.cfg.ReadyTTL {
		return "", false
	}
	return wk.backend, true
}

// forget drops a backend that refused a connection, so the next request wakes the app again.
func (a *Activator) forget(app, addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if wk := a.wakes[app]; wk != nil && wk.done && wk.backend == addr {
		delete(a.wakes, app)
	}
}

// runWake asks Marathon to wake the app (and its group), then probes its tasks directly until one
// answers, and releases the held requests.
func (a *Activator) runWake(ctx context.Context, wk *wake) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.WakeTimeout)
	defer cancel()
	log := a.log.With(zap.String("app", wk.app))
	backend, cold, err := a.wakeAndProbe(ctx, wk, log)
	wk.cold = cold
	a.mu.Lock()
	wk.backend, wk.err, wk.done, wk.readyAt = backend, err, true, time.Now()
	if err != nil && a.wakes[wk.app] == wk {
		delete(a.wakes, wk.app) // the next request starts afresh
	}
	a.mu.Unlock()
	close(wk.ready)
	if err != nil {
		a.metrics.wakes.WithLabelValues("failed").Inc()
		log.Warn("wake failed", zap.Error(err), zap.Duration("after", time.Since(wk.since)))
		return
	}
	a.metrics.wakes.WithLabelValues("ok").Inc()
	log.Info("app answered", zap.String("task_addr", backend), zap.Duration("wake", time.Since(wk.since)))
}

func (a *Activator) wakeAndProbe(ctx context.Context, wk *wake, log *zap.Logger) (addr string, cold bool, err error) {
	for _, app := range wk.apps {
		if err := retry(ctx, func() error { return a.waker.Wake(ctx, app) }); err != nil {
			return "", true, err
		}
	}
	var addrs []string
	var path string
	var nextLookup time.Time
	tick := time.NewTicker(a.cfg.ProbeInterval)
	defer tick.Stop()
	for {
		if now := time.Now(); !now.Before(nextLookup) {
			got, p, err := a.waker.Endpoints(ctx, wk.app)
			if err != nil {
				log.Debug("task addresses not known yet", zap.Error(err))
			} else {
				addrs, path = got, p
			}
			nextLookup = now.Add(a.cfg.EndpointsInterval)
		}
		for _, addr := range addrs {
			if a.answers(ctx, addr, path) {
				return addr, cold, nil
			}
		}
		cold = true
		select {
		case <-ctx.Done():
			return "", true, errors.New("no task answered before the wake timeout")
		case <-tick.C:
		}
	}
}

// answers probes a task directly: any HTTP answer below 500 on its health path means it serves.
func (a *Activator) answers(ctx context.Context, addr, path string) bool {
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "marmot-activator-probe")
	resp, err := a.probe.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 500
}

// retry runs fn until it succeeds, fails with ErrWakeRefused (trying again cannot help), or ctx ends,
// with capped exponential backoff.
func retry(ctx context.Context, fn func() error) error {
	backoff := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || errors.Is(err, ErrWakeRefused) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 2*time.Second {
			backoff = 2 * time.Second
		}
	}
}
