package realtask_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/realtask"
)

func newWorld(t *testing.T) (*simulate.World, *simulate.VirtualClock) {
	t.Helper()
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	clock := simulate.NewVirtualClock(sc.StartTime())
	// Agents on a loopback network of this test's own: other packages' simulators (run by go test at
	// the same time) and a demo would put a task on the same host:port.
	network, release, err := simulate.ClaimLoopbackNetwork()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	sc.Network = network
	w, err := simulate.New(sc, clock, simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return w, clock
}

type endpoint struct {
	task, app, url, health string
}

func endpoints(w *simulate.World, app string) []endpoint {
	var out []endpoint
	w.View(func(v *simulate.View) {
		a, ok := v.App(app)
		if !ok {
			return
		}
		for _, t := range a.Tasks() {
			e := endpoint{task: t.ID, app: a.ID, url: fmt.Sprintf("http://%s:%d", t.Host, t.Ports[0])}
			if len(a.HealthChecks) > 0 {
				e.health = a.HealthChecks[0].Path
			}
			out = append(out, e)
		}
	})
	return out
}

var client = &http.Client{Timeout: 5 * time.Second}

func TestTasksAnswerAtTheHostPortMarathonReports(t *testing.T) {
	w, _ := newWorld(t)
	r := realtask.NewRunner(w, nil, time.Hour)
	r.Reconcile()
	t.Cleanup(func() { stop(r) })

	eps := endpoints(w, "/web/frontend")
	if len(eps) != 2 {
		t.Fatalf("want 2 frontend tasks, got %d", len(eps))
	}
	for _, ep := range eps {
		if !strings.HasPrefix(ep.url, "http://127.") {
			t.Fatalf("task address %s is not in the loopback agent network", ep.url)
		}
		resp, err := client.Post(ep.url+"/orders?x=1", "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatalf("request to task %s: %v", ep.task, err)
		}
		var reply realtask.Reply
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if reply.App != "/web/frontend" || reply.Task != ep.task || reply.Path != "/orders" || reply.Body != "hello" || reply.Query != "x=1" {
			t.Fatalf("reply %+v does not name app, task and request", reply)
		}
		hr, err := client.Get(ep.url + ep.health)
		if err != nil || hr.StatusCode != 200 {
			t.Fatalf("health check %s%s: %v %v", ep.url, ep.health, err, hr)
		}
		hr.Body.Close()
	}
}

func TestListenersFollowTaskLifecycle(t *testing.T) {
	w, clock := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := realtask.NewRunner(w, nil, 20*time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	before := endpoints(w, "/web/docs")
	if len(before) != 1 {
		t.Fatalf("want 1 docs task, got %d", len(before))
	}
	waitFor(t, func() bool { return get(before[0].url) == nil })

	zero := 0
	if _, _, err := w.UpdateApp("/web/docs", simulate.AppUpdate{Instances: &zero}, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return get(before[0].url) != nil })

	one := 1
	if _, _, err := w.UpdateApp("/web/docs", simulate.AppUpdate{Instances: &one}, true); err != nil {
		t.Fatal(err)
	}
	staged := endpoints(w, "/web/docs")
	if len(staged) != 1 {
		t.Fatalf("want the new task staged, got %d", len(staged))
	}
	// Staging: the app has not started, so its port must still be closed.
	r.Reconcile()
	if err := get(staged[0].url); err == nil {
		t.Fatal("a staging task already answers; it must only listen once running")
	}
	clock.Advance(10 * time.Second) // past the app's start delay
	w.Step()
	waitFor(t, func() bool { return get(staged[0].url) == nil })
}

func get(url string) error {
	resp, err := client.Get(url + "/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// waitFor polls cond; the bound is generous because the machine is shared, and no assertion depends
// on how fast it is.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stop(r *realtask.Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = r.Run(ctx)
}
