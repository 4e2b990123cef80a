package mesosapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// benchWorld is a synthetic cluster of 1,000 agents running 20,000 tasks: 2,000 apps of ten
// instances, at half the synthetic shapes' cpus so that they fit (about 60% of the cpus allocated).
// The diurnal workload is dropped so that the task count stays put.
func benchWorld(b *testing.B) *simulate.World {
	b.Helper()
	sc := simulate.Synthetic(1000, 2000)
	sc.Workload = nil
	for i := range sc.Apps {
		sc.Apps[i].Instances = 10
		sc.Apps[i].CPUs /= 2
	}
	w, err := simulate.New(sc, simulate.NewVirtualClock(sc.StartTime()), simulate.Options{})
	if err != nil {
		b.Fatal(err)
	}
	agents, tasks := 0, 0
	w.View(func(v *simulate.View) {
		for _, a := range v.Agents() {
			agents++
			tasks += len(a.Tasks())
		}
	})
	if agents != 1000 || tasks != 20000 {
		b.Fatalf("%d agents and %d tasks, want 1000 and 20000", agents, tasks)
	}
	return w
}

// discard is a ResponseWriter that keeps only the status and the size, so that the benchmark measures
// the handler rather than a recorder's copying.
type discard struct {
	h      http.Header
	status int
	n      int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(status int)      { d.status = status }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

func benchCall(b *testing.B, call string, cached bool) {
	h := New(benchWorld(b), 0, []string{"127.0.0.1:5050"})
	body := `{"type":"` + call + `"}`
	serve := func() int {
		req := httptest.NewRequest(http.MethodPost, "/api/v1", strings.NewReader(body))
		req.Header.Set("Content-Type", mediaJSON)
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
		return w.n
	}
	// The first reply of a kind grows its buffer; later ones are allocated at the size it had.
	serve()
	b.ReportAllocs()
	cpu := processCPU()
	b.ResetTimer()
	var size int
	for i := 0; i < b.N; i++ {
		if !cached {
			h.(*server).tasks = taskCache{}
		}
		size = serve()
	}
	b.StopTimer()
	b.ReportMetric(float64(size)/1e6, "MB/reply")
	// CPU time per call, garbage collection included: on a shared machine it says more than ns/op.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
}

// processCPU is the CPU time the process has used so far (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGetState is GET_STATE on 1,000 agents and 20,000 tasks, repeated on a steady cluster as a
// polling autoscaler does: the tasks' JSON comes from the cache. The target is under 100 ms per call on
// a two-core machine.
func BenchmarkGetState(b *testing.B) { benchCall(b, "GET_STATE", true) }

// BenchmarkGetStateUncached encodes every task on every call: the first GET_STATE after start, or one
// after every task changed.
func BenchmarkGetStateUncached(b *testing.B) { benchCall(b, "GET_STATE", false) }

// BenchmarkGetAgents is GET_AGENTS on the same cluster, the autoscaler's most frequent call.
func BenchmarkGetAgents(b *testing.B) { benchCall(b, "GET_AGENTS", true) }
