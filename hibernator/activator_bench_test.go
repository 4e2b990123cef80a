//go:build unix

package hibernator

// Benchmarks of the activator (docs/PERFORMANCE.md):
//
//	go test -run XXX -bench BenchmarkActivator -benchtime 20000x ./hibernator/
//	go test -run XXX -bench BenchmarkWakeOverhead -benchtime 200x ./hibernator/
//
// BenchmarkActivatorWarm compares a request sent straight to a task with one sent through the
// activator to a task that already answers (the load balancer still sends the app's requests to the
// activator because its config lags the wake). Everything runs on one core (GOMAXPROCS=1): the client,
// the activator and the task share it, so req/s is a floor for the activator alone. cpu-µs/op is the
// process's CPU time per request (not the wall time other processes on a shared machine take); the
// difference between the two paths is what the activator itself costs, and activator-req/s is how many
// requests one core can forward at that cost.
// BenchmarkWakeOverhead measures, for a held request, the time from the moment the woken task can
// answer to the moment the request reaches it: the activator's own share of a cold start.

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

var benchBody = []byte(`{"app":"/web/docs","task":"web_docs.1","path":"/"}`)

func BenchmarkActivatorWarm(b *testing.B) {
	task := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(benchBody)
	}))
	defer task.Close()
	a := NewActivator(ActivatorConfig{}, upTask{task.Listener.Addr().String()}, nil, nil, nil)
	a.SetRoutes(map[string]Route{"docs.example.com": {App: "/web/docs"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	front := httptest.NewServer(a)
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	get := func(url, host string) {
		req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	get(front.URL, "docs.example.com") // the first request finds the task answering: warm from now on

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	run := func(b *testing.B, url, host string) ([]time.Duration, time.Duration) {
		lat := make([]time.Duration, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		start, cpu := time.Now(), processCPU()
		for i := range b.N {
			t0 := time.Now()
			get(url, host)
			lat[i] = time.Since(t0)
		}
		elapsed, cpu := time.Since(start), processCPU()-cpu
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
		b.ReportMetric(micros(percentile(lat, 0.50)), "p50-µs")
		b.ReportMetric(micros(percentile(lat, 0.99)), "p99-µs")
		b.ReportMetric(micros(cpu)/float64(b.N), "cpu-µs/op")
		return lat, cpu / time.Duration(b.N)
	}
	var direct []time.Duration
	var directCPU time.Duration
	b.Run("direct", func(b *testing.B) { direct, directCPU = run(b, task.URL, "") })
	b.Run("activator", func(b *testing.B) {
		via, viaCPU := run(b, front.URL, "docs.example.com")
		if len(direct) > 0 {
			b.ReportMetric(micros(percentile(via, 0.50)-percentile(direct, 0.50)), "added-p50-µs")
			b.ReportMetric(micros(percentile(via, 0.99)-percentile(direct, 0.99)), "added-p99-µs")
			if own := viaCPU - directCPU; own > 0 {
				b.ReportMetric(float64(time.Second)/float64(own), "activator-req/s")
			}
		}
	})
}

// processCPU is the CPU time this process has used, every thread, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkWakeOverhead(b *testing.B) {
	for _, interval := range []time.Duration{25 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond} {
		b.Run("probe-"+interval.String(), func(b *testing.B) {
			overhead := make([]time.Duration, b.N)
			for i := range b.N {
				overhead[i] = wakeOnce(b, interval, time.Duration(i%10)*interval/10)
			}
			slices.Sort(overhead)
			b.ReportMetric(millis(percentile(overhead, 0.50)), "p50-ms")
			b.ReportMetric(millis(percentile(overhead, 0.99)), "p99-ms")
		})
	}
}

// startingTask is an app asleep until woken; its task starts listening a while after the wake, and
// records when it could first answer and when the held request reached it.
type startingTask struct {
	addr  string
	delay time.Duration
	srv   *http.Server

	mu        sync.Mutex
	woken     bool
	upAt, hit time.Time
}

func (s *startingTask) Wake(context.Context, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.woken {
		return nil
	}
	s.woken = true
	time.AfterFunc(s.delay, func() {
		l, err := net.Listen("tcp", s.addr)
		if err != nil {
			panic(err)
		}
		s.mu.Lock()
		s.upAt = time.Now()
		s.mu.Unlock()
		go func() { _ = s.srv.Serve(l) }()
	})
	return nil
}

func (s *startingTask) Endpoints(context.Context, string) ([]string, string, error) {
	return []string{s.addr}, "/health", nil
}

func (s *startingTask) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/request" {
		s.mu.Lock()
		s.hit = time.Now()
		s.mu.Unlock()
	}
	_, _ = w.Write(benchBody)
}

// wakeOnce holds one request while a task starts after 10 ms plus offset, and returns the time from
// the task being able to answer to the request reaching it.
func wakeOnce(b *testing.B, interval, offset time.Duration) time.Duration {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	task := &startingTask{addr: l.Addr().String(), delay: 10*time.Millisecond + offset}
	l.Close()
	task.srv = &http.Server{Handler: task}
	defer task.srv.Close()
	a := NewActivator(ActivatorConfig{ProbeInterval: interval}, task, nil, nil, nil)
	a.SetRoutes(map[string]Route{"docs.example.com": {App: "/web/docs", HoldTimeout: 10 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://docs.example.com/request", nil)
	a.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("held request: %d %s", rec.Code, rec.Body)
	}
	task.mu.Lock()
	defer task.mu.Unlock()
	return task.hit.Sub(task.upAt)
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
