package main

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/webui"
	"github.com/marmot-project/marmot/webui/fromstatus"
)

// pageTick is how often the page's sampler looks for a new reconcile; costRefresh is the longest it
// leaves the cost figures without an update when no reconcile came (the _total counters integrate
// between updates).
const (
	// pageResolution and pageCapacity keep twelve hours of samples, one per 10 s.
	pageResolution = 10 * time.Second
	pageCapacity   = 12 * 360
	pageTick       = time.Second
	costRefresh    = 30 * time.Second
)

// withPage serves the dashboard page (webui) at /, with /assets/ and /api/series, in front of h (which
// keeps /metrics, /status, /healthz and /readyz), and registers the marmot_cost_* series. Until ctx
// ends it updates the cost figures and records a page sample after each reconcile.
func (d *daemon) withPage(ctx context.Context, h http.Handler) http.Handler {
	ui := webui.New(webui.Config{Title: "marmot autoscaler", StatusPath: "status", Resolution: pageResolution, Capacity: pageCapacity})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	ui.Mount(mux)
	costs, err := autoscaler.NewCost(autoscaler.CostConfig{Loop: d.loop, Registry: d.reg, Region: d.cfg.aws.Region, Log: d.log.Named("cost")})
	if err != nil {
		d.log.Error("no cost figures", zap.Error(err))
		return mux
	}
	go samplePage(ctx, d.loop, costs, ui)
	return mux
}

// samplePage updates the cost figures and records a sample whenever the loop planned again, and at
// least every costRefresh.
func samplePage(ctx context.Context, loop *autoscaler.Loop, costs *autoscaler.Cost, ui *webui.UI) {
	tick := time.NewTicker(pageTick)
	defer tick.Stop()
	var planned, updated time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st := loop.Status()
		if st.LastPlanned.IsZero() || (st.LastPlanned.Equal(planned) && time.Since(updated) < costRefresh) {
			continue
		}
		if st.LastReconcile == nil || time.Since(st.LastReconcile.At) > stale(st) {
			continue // the loop stopped (leadership lost): its last observation no longer describes the cluster
		}
		planned, updated = st.LastPlanned, time.Now()
		f, ok := costs.Update(ctx)
		if !ok {
			continue
		}
		s := webui.Sample{At: f.At}
		s.Pools, s.Agents = fromstatus.Autoscaler(st)
		s.Cost = &webui.Cost{PerHour: f.PerHour, Total: f.Totals.Cost, SavedAutoscaling: f.Totals.SavedAutoscaling}
		ui.Record(s)
	}
}

// stale is how old the last reconcile may be for its observation to count as the cluster now: two
// periodic reconciles and a margin.
func stale(st autoscaler.Status) time.Duration {
	interval := costRefresh
	if st.Policy != nil && st.Policy.ReconcileInterval.D > 0 {
		interval = st.Policy.ReconcileInterval.D
	}
	return 2*interval + costRefresh
}
