package daemon

import (
	"context"
	"net/http"
	"time"

	"github.com/marmot-project/marmot/webui"
)

// PageTick is how often a dashboard page's sampler looks for a new round; CostRefresh is the longest
// it leaves the cost figures without an update (the _total counters integrate between updates).
const (
	// PageResolution and PageCapacity keep twelve hours of samples, one per 10 s.
	PageResolution = 10 * time.Second
	PageCapacity   = 12 * 360
	PageTick       = time.Second
	CostRefresh    = 30 * time.Second
)

// Page serves the dashboard page (webui) titled title at /, with /assets/ and /api/series, in front
// of h, which keeps /metrics, /status, /healthz and /readyz. The UI is where the sampler records.
func Page(title string, h http.Handler) (*webui.UI, http.Handler) {
	ui := webui.New(webui.Config{Title: title, StatusPath: "status", Resolution: PageResolution, Capacity: PageCapacity})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	ui.Mount(mux)
	return ui, mux
}

// EveryTick calls f every PageTick until ctx ends.
func EveryTick(ctx context.Context, f func()) {
	tick := time.NewTicker(PageTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f()
	}
}
