package marathon_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/marmot-project/marmot/marathon"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/marathonapi"
)

// cluster serves the small scenario's Marathon over HTTP (two instances, 0 leads).
func cluster(t *testing.T) (*simulate.World, *simulate.VirtualClock, []string) {
	t.Helper()
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	clock := simulate.NewVirtualClock(sc.StartTime())
	w, err := simulate.New(sc, clock, simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ls []net.Listener
	var hosts []string
	for i := 0; i < 2; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		hosts = append(hosts, l.Addr().String())
	}
	var urls []string
	for i, l := range ls {
		srv := httptest.NewUnstartedServer(marathonapi.New(w, i, hosts, marathonapi.WithHeartbeat(50*time.Millisecond), marathonapi.WithLeaderWait(50*time.Millisecond)))
		srv.Listener.Close()
		srv.Listener = l
		srv.Start()
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	return w, clock, urls
}

func client(t *testing.T, urls ...string) *marathon.Client {
	t.Helper()
	c, err := marathon.New(marathon.Config{URLs: urls, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAppsSelectorUpdateAndLock(t *testing.T) {
	w, clock, urls := cluster(t)
	c := client(t, urls...)
	ctx := context.Background()

	opted, err := c.Apps(ctx, "marmot.hibernate==true")
	if err != nil {
		t.Fatal(err)
	}
	if len(opted) != 2 || opted[0].ID != "/tools/wiki" && opted[0].ID != "/web/docs" {
		t.Fatalf("opted-in apps: %+v", opted)
	}
	docs, err := c.App(ctx, "/web/docs")
	if err != nil || len(docs.Tasks) != 1 || docs.HealthPath != "/health" {
		t.Fatalf("app /web/docs: %+v %v", docs, err)
	}

	// Scale to zero and write the state labels in one PUT, as the hibernator does.
	labels := map[string]string{}
	for k, v := range docs.Labels {
		labels[k] = v
	}
	labels["marmot.hibernated.instances"] = "1"
	zero := 0
	dep, err := c.Update(ctx, "/web/docs", marathon.Update{Instances: &zero, Labels: labels}, false)
	if err != nil || dep == "" {
		t.Fatalf("update: %q %v", dep, err)
	}
	var got *simulate.App
	w.View(func(v *simulate.View) {
		a, _ := v.App("/web/docs")
		c := *a
		got = &c
	})
	if got.Instances != 0 || got.Labels["marmot.hibernated.instances"] != "1" || got.Labels["marmot.team"] != "web" {
		t.Fatalf("after update: instances %d labels %v", got.Instances, got.Labels)
	}

	// An app that cannot be placed keeps its deployment: a second PUT without force is locked.
	many := 50
	if _, err := c.Update(ctx, "/data/etl", marathon.Update{Instances: &many}, false); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	w.Step()
	_, err = c.Update(ctx, "/data/etl", marathon.Update{Instances: &many}, false)
	var locked *marathon.LockedError
	if !errors.Is(err, marathon.ErrLocked) || !errors.As(err, &locked) || len(locked.Deployments) != 1 {
		t.Fatalf("second PUT: %v, want a lock naming the deployment", err)
	}
	q, err := c.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var etl *marathon.QueueEntry
	for i := range q {
		if q[i].AppID == "/data/etl" {
			etl = &q[i]
		}
	}
	if etl == nil || etl.Count == 0 || etl.Declined["InsufficientCpus"] == 0 || etl.CPUs != 2 {
		t.Fatalf("queue entry for /data/etl: %+v", etl)
	}
	if _, err := c.App(ctx, "/no/such/app"); !errors.Is(err, marathon.ErrNotFound) {
		t.Fatalf("missing app: %v", err)
	}
}

func TestA5xxDoesNotTakeMarathonOutOfRotation(t *testing.T) {
	w, _, urls := cluster(t)
	c := client(t, urls[0])
	ctx := context.Background()
	if err := w.InjectFault(simulate.Fault{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMarathon, Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apps(ctx, ""); !errors.Is(err, marathon.ErrUnavailable) {
		t.Fatalf("during the fault: %v, want ErrUnavailable", err)
	}
	// go-marathon alone would now refuse every call for 5 s ("all the Marathon hosts are presently down").
	if _, err := c.Apps(ctx, ""); err != nil {
		t.Fatalf("right after a single 503: %v", err)
	}
}

func TestFailoverToTheNextInstance(t *testing.T) {
	_, _, urls := cluster(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // connection refused from now on
	c := client(t, dead.URL, urls[1])
	if _, err := c.Apps(context.Background(), ""); err != nil {
		t.Fatalf("with the first URL dead: %v", err)
	}
}

func TestWatchDeliversResyncThenEvents(t *testing.T) {
	w, _, urls := cluster(t)
	c := client(t, urls...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var events []marathon.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Watch(ctx, marathon.WatchOptions{Idle: 5 * time.Second}, func(e marathon.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		})
	}()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(events) > 0 })
	two := 2
	if _, _, err := w.UpdateApp("/web/docs", simulate.AppUpdate{Instances: &two}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if e.Type == "deployment_info" && contains(e.AffectedApps, "/web/docs") {
				return true
			}
		}
		return false
	})
	mu.Lock()
	first := events[0].Type
	mu.Unlock()
	if first != marathon.EventResync {
		t.Fatalf("first event %q, want resync", first)
	}
	// A leader change ends the stream; the watcher reconnects and says so with another resync.
	if err := w.SetMarathonLeader(1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, e := range events {
			if e.Type == marathon.EventResync {
				n++
			}
		}
		return n >= 2
	})
	cancel()
	<-done
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
