package main

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/webui"
	"github.com/marmot-project/marmot/webui/fromstatus"
)

// pageTick is how often the page's sampler looks for a new round; costRefresh is the longest it
// leaves the cost figures without an update while this replica leads (the _total counter integrates
// between updates).
const (
	// pageResolution and pageCapacity keep twelve hours of samples, one per 10 s.
	pageResolution = 10 * time.Second
	pageCapacity   = 12 * 360
	pageTick       = time.Second
	costRefresh    = 30 * time.Second
)

// withPage serves the dashboard page (webui) at /, with /assets/ and /api/series, in front of h (which
// keeps /metrics, /status, /healthz and /readyz; the loop's own HTML status page at / is shadowed by
// it, its content is on the dashboard page below the charts), and registers the marmot_cost_* series.
// Until ctx ends it updates the hibernation savings and records a page sample after each round.
//
// Prices: the hibernator does not see the cloud, so it prices freed resources at
// hibernator.DefaultCostRate (docs/cost.md, "The hibernator's prices").
func (d *daemon) withPage(ctx context.Context, h http.Handler) http.Handler {
	ui := webui.New(webui.Config{Title: "marmot hibernator", StatusPath: "status", Resolution: pageResolution, Capacity: pageCapacity})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	ui.Mount(mux)
	costs := hibernator.NewCost(hibernator.CostConfig{Registry: d.reg})
	go d.samplePage(ctx, costs, ui)
	return mux
}

// samplePage updates the savings and records a sample whenever the loop observed again, and at least
// every costRefresh while the loop is ready. A follower's loop never runs: it exports no savings, so
// that a dashboard summing over replicas counts them once.
func (d *daemon) samplePage(ctx context.Context, costs *hibernator.Cost, ui *webui.UI) {
	tick := time.NewTicker(pageTick)
	defer tick.Stop()
	var observed, updated time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st := d.loop.Status()
		if !st.Ready || st.ObservedAt.IsZero() || (st.ObservedAt.Equal(observed) && time.Since(updated) < costRefresh) {
			continue
		}
		if d.env.now().Sub(st.ObservedAt) > 2*d.cfg.interval+costRefresh {
			continue // the loop stopped (leadership lost) or cannot read Marathon: nothing current to add up
		}
		observed, updated = st.ObservedAt, time.Now()
		hc, err := costs.Update(ctx, d.glue, d.current.Load(), d.env.now())
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("cannot read the sleeping apps for the savings", zap.Error(err))
			}
			continue
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
		s.Cost = &webui.Cost{SavedHibernation: hc.Total}
		ui.Record(s)
	}
}
