package main

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/hibernator"
	marmotd "github.com/marmot-project/marmot/internal/daemon"
	"github.com/marmot-project/marmot/webui"
	"github.com/marmot-project/marmot/webui/fromstatus"
)

// withPage serves the dashboard page (webui) at /, with /assets/ and /api/series, in front of h (which
// keeps /metrics, /status, /healthz and /readyz; the loop's own HTML status page at / is shadowed by
// it, its content is on the dashboard page below the charts), and registers the marmot_cost_* series.
// Until ctx ends it updates the hibernation savings and records a page sample after each round.
//
// Prices: the hibernator does not see the cloud, so it prices freed resources at the rate of its cost
// flags (docs/cost.md, "The hibernator's prices"). It knows what hibernation saves, not what the
// cluster costs: the page shows the savings and no cost.
func (d *daemon) withPage(ctx context.Context, h http.Handler) http.Handler {
	ui, page := marmotd.Page("marmot hibernator", h)
	costs := hibernator.NewCost(hibernator.CostConfig{Registry: d.reg, Rate: d.cfg.costRate})
	go d.samplePage(ctx, costs, ui)
	return page
}

// samplePage updates the savings and records a sample whenever the loop observed again, and at least
// every marmotd.CostRefresh while the loop is ready. A follower's loop never runs: it exports no
// savings, so that a dashboard summing over replicas counts them once.
func (d *daemon) samplePage(ctx context.Context, costs *hibernator.Cost, ui *webui.UI) {
	var observed, updated time.Time
	marmotd.EveryTick(ctx, func() {
		st := d.loop.Status()
		if !st.Ready || st.ObservedAt.IsZero() || (st.ObservedAt.Equal(observed) && time.Since(updated) < marmotd.CostRefresh) {
			return
		}
		if d.env.now().Sub(st.ObservedAt) > 2*d.cfg.interval+marmotd.CostRefresh {
			return // the loop stopped (leadership lost) or cannot read Marathon: nothing current to add up
		}
		observed, updated = st.ObservedAt, time.Now()
		hc, err := costs.Update(ctx, d.glue, d.current.Load(), d.env.now())
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("cannot read the sleeping apps for the savings", zap.Error(err))
			}
			return
		}
		perInstance := map[string][2]float64{}
		for _, a := range hc.Apps {
			if a.Instances > 0 {
				n := float64(a.Instances)
				perInstance[a.App] = [2]float64{a.Freed.CPUs / n, a.Freed.MemMiB / n}
			}
		}
		s := webui.Sample{At: hc.At}
		s.Apps, s.SleepingApps = fromstatus.Hibernator(st, func(app string) (float64, float64) {
			r := perInstance[app]
			return r[0], r[1]
		})
		s.HibernationSavings = &webui.HibernationSavings{PerHour: hc.PerHour, Total: hc.Total}
		ui.Record(s)
	})
}
