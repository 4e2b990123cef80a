// Package realtask turns simulated Marathon tasks into real HTTP listeners (simulate serve
// --real-tasks): every task in TASK_RUNNING listens on the host:port Marathon reports for it, so that a
// request routed by a real load balancer, or by the hibernator's activator, reaches a task that the
// simulated Marathon started.
//
// The scenario must use loopback addressing (simulate.Options{Loopback: true}): agents then have
// addresses in 127.1.0.0/16, which Linux routes to the loopback interface, so every agent's port range
// can be bound on one machine without clashes.
package realtask

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/simulate"
)

// DefaultHealthPath is answered by tasks of apps without an HTTP health check.
const DefaultHealthPath = "/health"

// maxEchoBody bounds how much of a request body a task echoes back.
const maxEchoBody = 64 << 10

// Runner keeps exactly one set of listeners per running task. A task's ports open when the model says
// it is running (after its app's start delay) and close when it ends, like a real process.
type Runner struct {
	world  *simulate.World
	log    *zap.Logger
	resync time.Duration

	mu    sync.Mutex
	tasks map[string]*task
}

// NewRunner makes a runner for w. resync is how often it reconciles even without events (the safety
// net; events make it prompt).
func NewRunner(w *simulate.World, log *zap.Logger, resync time.Duration) *Runner {
	if log == nil {
		log = zap.NewNop()
	}
	if resync <= 0 {
		resync = 200 * time.Millisecond
	}
	return &Runner{world: w, log: log, resync: resync, tasks: map[string]*task{}}
}

// Run reconciles listeners until ctx ends, then closes them all. It returns nil on cancellation.
func (r *Runner) Run(ctx context.Context) error {
	defer r.closeAll()
	ticker := time.NewTicker(r.resync)
	defer ticker.Stop()
	for {
		sub := r.world.SubscribeTaskEvents(4096)
		r.Reconcile()
		for open := true; open; {
			select {
			case <-ctx.Done():
				sub.Close()
				return nil
			case _, ok := <-sub.C:
				open = ok
				drain(sub.C)
				r.Reconcile()
			case <-ticker.C:
				r.Reconcile()
			}
		}
		sub.Close() // fell behind: subscribe again and resynchronise from a fresh view
	}
}

func drain(c <-chan simulate.MesosEvent) {
	for {
		select {
		case _, ok := <-c:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// Reconcile opens listeners for running tasks that lack them and closes those of tasks that ended.
func (r *Runner) Reconcile() {
	var running []simulate.RunningTask
	r.world.View(func(v *simulate.View) { running = v.RunningTasks() })
	want := make(map[string]simulate.RunningTask, len(running))
	for _, t := range running {
		want[t.ID] = t
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, t := range r.tasks {
		if _, ok := want[id]; !ok {
			t.close()
			delete(r.tasks, id)
		}
	}
	for id, rt := range want {
		if _, ok := r.tasks[id]; ok {
			continue
		}
		t, err := startTask(rt)
		if err != nil {
			// The port may still be held by a task that just ended on the same agent; the next pass retries.
			r.log.Warn("task listener not started", zap.String("task", id), zap.Error(err))
			continue
		}
		r.tasks[id] = t
	}
}

// Listening returns the number of tasks with open listeners.
func (r *Runner) Listening() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tasks)
}

func (r *Runner) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, t := range r.tasks {
		t.close()
		delete(r.tasks, id)
	}
}

type task struct {
	servers []*http.Server
}

func startTask(rt simulate.RunningTask) (*task, error) {
	t := &task{}
	for _, port := range rt.Ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(rt.IP, strconv.FormatUint(port, 10)))
		if err != nil {
			t.close()
			return nil, err
		}
		srv := &http.Server{Handler: Handler(rt, port), ReadHeaderTimeout: 10 * time.Second}
		t.servers = append(t.servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				_ = ln.Close()
			}
		}()
	}
	return t, nil
}

func (t *task) close() {
	for _, s := range t.servers {
		_ = s.Close()
	}
}

// Reply is what a task answers to any request other than its health check: enough for a test to tell
// which app and task served it and that the request arrived whole.
type Reply struct {
	App    string `json:"app"`
	Task   string `json:"task"`
	Host   string `json:"host"`
	Port   uint64 `json:"port"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query,omitempty"`
	// RequestHost is the Host header the request carried (which app the client asked for).
	RequestHost string `json:"request_host"`
	Body        string `json:"body,omitempty"`
	BodyBytes   int64  `json:"body_bytes"`
}

// Handler is the tiny app every real task runs.
func Handler(rt simulate.RunningTask, port uint64) http.Handler {
	health := rt.HealthPath
	if health == "" {
		health = DefaultHealthPath
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("X-Marmot-App", rt.AppID)
		w.Header().Set("X-Marmot-Task", rt.ID)
		if req.URL.Path == health {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "OK\n")
			return
		}
		body, _ := io.ReadAll(io.LimitReader(req.Body, maxEchoBody))
		n, _ := io.Copy(io.Discard, req.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Reply{
			App: rt.AppID, Task: rt.ID, Host: rt.IP, Port: port, Method: req.Method, Path: req.URL.Path,
			Query: req.URL.RawQuery, RequestHost: req.Host, Body: string(body), BodyBytes: int64(len(body)) + n,
		})
	})
}
