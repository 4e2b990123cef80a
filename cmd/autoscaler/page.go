package main

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/autoscaler"
	marmotd "github.com/marmot-project/marmot/internal/daemon"
	"github.com/marmot-project/marmot/webui"
	"github.com/marmot-project/marmot/webui/fromstatus"
)

// withPage serves the dashboard page (webui) at /, with /assets/ and /api/series, in front of h (which
// keeps /metrics, /status, /healthz and /readyz), and registers the marmot_cost_* series. Until ctx
// ends it updates the cost figures and records a page sample after each reconcile.
func (d *daemon) withPage(ctx context.Context, h http.Handler) http.Handler {
	ui, page := marmotd.Page("marmot autoscaler", h)
	costs, err := autoscaler.NewCost(autoscaler.CostConfig{Loop: d.loop, Registry: d.reg, Region: d.cfg.aws.Region, Log: d.log.Named("cost")})
	if err != nil {
		d.log.Error("no cost figures", zap.Error(err))
		return page
	}
	go samplePage(ctx, d.loop, costs, ui)
	return page
}

// samplePage updates the cost figures and records a sample whenever the loop planned again, and at
// least every marmotd.CostRefresh.
func samplePage(ctx context.Context, loop *autoscaler.Loop, costs *autoscaler.Cost, ui *webui.UI) {
	var planned, updated time.Time
	marmotd.EveryTick(ctx, func() {
		st := loop.Status()
		if st.LastPlanned.IsZero() || (st.LastPlanned.Equal(planned) && time.Since(updated) < marmotd.CostRefresh) {
			return
		}
		if st.LastReconcile == nil || time.Since(st.LastReconcile.At) > stale(st) {
			return // the loop stopped (leadership lost): its last observation no longer describes the cluster
		}
		planned, updated = st.LastPlanned, time.Now()
		f, ok := costs.Update(ctx)
		if !ok {
			return
		}
		s := webui.Sample{At: f.At}
		s.Pools, s.Agents = fromstatus.Autoscaler(st)
		s.Cost = &webui.Cost{PerHour: f.PerHour, Total: f.Totals.Cost, SavedAutoscaling: f.Totals.SavedAutoscaling}
		ui.Record(s)
	})
}

// stale is how old the last reconcile may be for its observation to count as the cluster now: two
// periodic reconciles and a margin.
func stale(st autoscaler.Status) time.Duration {
	interval := marmotd.CostRefresh
	if st.Policy != nil && st.Policy.ReconcileInterval.D > 0 {
		interval = st.Policy.ReconcileInterval.D
	}
	return 2*interval + marmotd.CostRefresh
}
