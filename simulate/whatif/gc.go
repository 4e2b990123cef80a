package whatif

import (
	"os"
	"runtime/debug"
)

// BatchGC sets the garbage collector for a replay that runs as a batch job, and returns a function
// that restores the previous settings. The planners build their indexes afresh for every plan — 14 GB
// over a month of a 1,000-agent cluster — around a live heap of under 100 MB, so with the default
// GOGC=100 the collector runs thousands of times and takes a tenth of the replay. It sets GOGC=1000
// under a soft memory limit of 1 GiB (the collector runs more often as the heap nears it), unless GOGC
// or GOMEMLIMIT is set in the environment, which then decides. `simulate whatif` and
// BenchmarkThirtyDays call it; docs/whatif.md gives the figures.
func BatchGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	percent := debug.SetGCPercent(1000)
	limit := debug.SetMemoryLimit(1 << 30)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}
