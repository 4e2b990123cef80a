package simulate_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// BenchmarkThirtyDays replays 30 days of a 1,000-agent, 2,000-app cluster at one-minute resolution:
// every minute the diurnal workload rescales the apps whose wave moved and Marathon places and kills
// their tasks. One op is the whole month.
//
//	go test -run '^$' -bench ThirtyDays -benchtime 1x -benchmem ./simulate/
//
// Besides ns/op it reports the simulated month's work (task launches and kills per day) and the peak
// heap in use, sampled every simulated day.
func BenchmarkThirtyDays(b *testing.B) {
	const days = 30
	for b.Loop() {
		sc := simulate.Synthetic(1000, 2000)
		clock := simulate.NewVirtualClock(sc.StartTime())
		w, err := simulate.New(sc, clock, simulate.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var peak uint64
		var ms runtime.MemStats
		for day := range days {
			for range 24 * 60 {
				clock.Advance(time.Minute)
				w.Step()
			}
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			checkMonthDay(b, w, day)
		}
		s := w.Stats()
		launches, kills := float64(s.TasksLaunched)/days, float64(s.TasksKilled)/days
		// Each app's wave goes 1 → 5 → 1 once a day: 4 launches and 4 kills for each of the 2,000
		// apps, so about 8,000 of each per day (plus the 2,000 initial launches spread over the month).
		if launches < 7000 || launches > 9500 || kills < 7000 || kills > 9000 {
			b.Fatalf("%.0f launches and %.0f kills per day, want about 8,000 of each", launches, kills)
		}
		if s.AgentsRegistered != 1000 || s.TasksLost != 0 {
			b.Fatalf("stats %+v: want 1,000 agents and nothing lost", s)
		}
		b.ReportMetric(launches, "launches/day")
		b.ReportMetric(kills, "kills/day")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	}
}

// checkMonthDay checks at the end of a simulated day that the replay did real work: every app runs
// exactly its instance count (so placement kept up) and nothing waits, as the synthetic cluster is
// sized to about 60% at the peak.
func checkMonthDay(b *testing.B, w *simulate.World, day int) {
	w.View(func(v *simulate.View) {
		if q := v.Queue(); len(q) > 0 {
			b.Fatalf("day %d: %d apps waiting, e.g. %s (%d)", day, len(q), q[0].App.ID, q[0].Count)
		}
		tasks, want := 0, 0
		for _, app := range v.Apps() {
			want += app.Instances
			for _, t := range app.Tasks() {
				if t.State == simulate.TaskRunning {
					tasks++
				}
			}
		}
		if tasks != want {
			b.Fatalf("day %d: %d tasks running for %d instances", day, tasks, want)
		}
	})
}
