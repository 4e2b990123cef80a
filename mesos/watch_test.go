package mesos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recordio frames one record as the master does: "<decimal length>\n<message>" (wire-facts §1.6).
func recordio(msg []byte) []byte {
	return append([]byte(fmt.Sprintf("%d\n", len(msg))), msg...)
}

// subscribedRecord is a SUBSCRIBED event carrying the GET_STATE fixture.
func subscribedRecord(t *testing.T, heartbeat time.Duration) []byte {
	var r struct {
		GetState json.RawMessage `json:"get_state"`
	}
	if err := json.Unmarshal(fixture(t, "operator-v1/get_state.response.json"), &r); err != nil {
		t.Fatal(err)
	}
	return []byte(fmt.Sprintf(`{"type":"SUBSCRIBED","subscribed":{"get_state":%s,"heartbeat_interval_seconds":%g}}`, r.GetState, heartbeat.Seconds()))
}

// streamAnswer answers SUBSCRIBE with the records connection n (counted from 0) gets; after them the
// stream stays open (silent) when hold is true, or ends.
func streamAnswer(records func(n int) (msgs [][]byte, hold bool)) func(w http.ResponseWriter, r *http.Request, call string) {
	var conns atomic.Int32
	return func(w http.ResponseWriter, r *http.Request, call string) {
		if call != "SUBSCRIBE" {
			http.Error(w, "unexpected call", http.StatusBadRequest)
			return
		}
		msgs, hold := records(int(conns.Add(1) - 1))
		// No Content-Length and a flush per record: a chunked body, which mesos-go needs to pick
		// RecordIO framing.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		for _, m := range msgs {
			_, _ = w.Write(recordio(m))
			w.(http.Flusher).Flush()
		}
		if hold {
			<-r.Context().Done()
		}
	}
}

// eventLog collects what Watch delivers and lets a test wait for a condition on it.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	change chan struct{}
}

func newEventLog() *eventLog { return &eventLog{change: make(chan struct{}, 1)} }

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	select {
	case l.change <- struct{}{}:
	default:
	}
}

func (l *eventLog) snapshot() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// waitFor blocks until cond holds on the events so far, or fails the test after a generous bound
// (a hang guard, not a speed assertion).
func (l *eventLog) waitFor(t *testing.T, what string, cond func([]Event) bool) []Event {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		if evs := l.snapshot(); cond(evs) {
			return evs
		}
		select {
		case <-l.change:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; events: %v", what, types(l.snapshot()))
		}
	}
}

func types(evs []Event) []EventType {
	out := make([]EventType, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func count(evs []Event, typ EventType) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// runWatch runs c.Watch in a goroutine owned by the test: it is cancelled and waited for at cleanup,
// and must then have returned ctx.Err().
func runWatch(t *testing.T, c *Client) *eventLog {
	t.Helper()
	log := newEventLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, log.add) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", err)
		}
	})
	return log
}

func fastReconnect(urls ...string) Config {
	return Config{URLs: urls, ReconnectMin: time.Millisecond, ReconnectMax: 10 * time.Millisecond}
}

func TestWatchDecodesEventsAndResyncsAfterTheStreamEnds(t *testing.T) {
	events := [][]byte{
		fixture(t, "events/heartbeat.doc.json"),
		fixture(t, "derived/task_updated.event.from-master-proto.json"),
		fixture(t, "events/agent_added.doc.json"),
		fixture(t, "events/framework_added.doc.json"), // not delivered
		fixture(t, "events/agent_removed.doc.json"),
		fixture(t, "events/task_added.doc.json"),
	}
	m := newFakeMaster(t, streamAnswer(func(n int) ([][]byte, bool) {
		if n == 0 {
			return append([][]byte{subscribedRecord(t, 15*time.Second)}, events...), false
		}
		return [][]byte{subscribedRecord(t, 15*time.Second)}, true
	}))
	c := newTestClient(t, fastReconnect(m.URL()))
	log := runWatch(t, c)
	evs := log.waitFor(t, "a second resync", func(evs []Event) bool { return count(evs, EventResync) == 2 })

	want := []EventType{EventResync, EventHeartbeat, EventTaskUpdated, EventAgentAdded, EventAgentRemoved, EventTaskAdded, EventResync}
	if got := types(evs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	resync := evs[0]
	if resync.State == nil || len(resync.State.Agents) != 1 || resync.HeartbeatInterval != 15*time.Second || resync.Master != m.URL() {
		t.Errorf("resync = %+v", resync)
	}
	if u := evs[2].Task; u.ID != "eb5cb680-a998-4605-8811-e79db8734c02" || u.State != "TASK_RUNNING" ||
		u.AgentID != "628984d0-4213-4140-bcb0-99d7ef46b1df-S0" || u.FrameworkID != "628984d0-4213-4140-bcb0-99d7ef46b1df-0000" {
		t.Errorf("task update = %+v", u)
	}
	if a := evs[3].Agent; a.ID != "c3946a13-75b4-4d3c-9d0e-fc10038dca85-S3" || a.IP != "172.31.2.24" || a.Pool != DefaultPool || evs[3].AgentID != a.ID {
		t.Errorf("agent added = %+v", a)
	}
	if evs[4].AgentID != "c3946a13-75b4-4d3c-9d0e-fc10038dca85-S3" {
		t.Errorf("agent removed = %+v", evs[4])
	}
	if task := evs[5].Task; task.Name != "dummy-task" || task.AgentID != "f1c9cdc5-195e-41a7-a0d7-adaa9af07f81" {
		t.Errorf("task added = %+v", task)
	}
}

func TestWatchResubscribesWhenTheStreamGoesSilent(t *testing.T) {
	// SUBSCRIBED promises a heartbeat every 20ms, then nothing comes: after 5 intervals the client must
	// give up on the stream and subscribe again.
	m := newFakeMaster(t, streamAnswer(func(int) ([][]byte, bool) {
		return [][]byte{subscribedRecord(t, 20*time.Millisecond)}, true
	}))
	c := newTestClient(t, fastReconnect(m.URL()))
	log := runWatch(t, c)
	log.waitFor(t, "three resyncs", func(evs []Event) bool { return count(evs, EventResync) >= 3 })
}

func TestWatchKeepsAStreamWithHeartbeats(t *testing.T) {
	// Heartbeats keep the stream: it is never resubscribed while they flow. The stream promises one
	// a second (silence after 5 s) and sends one every 10ms, so that only a stalled machine could
	// let the stream go silent.
	beats := make(chan struct{})
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(recordio(subscribedRecord(t, time.Second)))
		w.(http.Flusher).Flush()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-beats:
				return
			case <-tick.C:
				_, _ = w.Write(recordio([]byte(`{"type":"HEARTBEAT"}`)))
				w.(http.Flusher).Flush()
			}
		}
	})
	c := newTestClient(t, fastReconnect(m.URL()))
	log := runWatch(t, c)
	evs := log.waitFor(t, "50 heartbeats", func(evs []Event) bool { return count(evs, EventHeartbeat) >= 50 })
	defer close(beats)
	if n := count(evs, EventResync); n != 1 {
		t.Errorf("%d resyncs while heartbeats flowed, want 1", n)
	}
	if n := len(m.received()); n != 1 {
		t.Errorf("%d subscriptions while heartbeats flowed, want 1", n)
	}
}

func TestWatchRetriesWhileNoMasterAnswersAndStopsOnCancel(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	subscribe := streamAnswer(func(int) ([][]byte, bool) { return [][]byte{subscribedRecord(t, time.Second)}, true })
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string) {
		if fail.Load() {
			plainStatus(http.StatusServiceUnavailable, "No leader elected")(w, r, call)
			return
		}
		subscribe(w, r, call)
	})
	c := newTestClient(t, fastReconnect(m.URL()))
	log := runWatch(t, c)
	for len(m.received()) < 3 {
		time.Sleep(time.Millisecond)
	}
	if n := len(log.snapshot()); n != 0 {
		t.Fatalf("%d events without a leader", n)
	}
	fail.Store(false)
	log.waitFor(t, "a resync once a leader answers", func(evs []Event) bool { return count(evs, EventResync) == 1 })
}

func TestWatchReturnsAtOnceOnCancelledContext(t *testing.T) {
	c := newTestClient(t, Config{URLs: []string{"http://127.0.0.1:1"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Watch(ctx, func(Event) { t.Error("event on a cancelled watch") }); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch = %v", err)
	}
}

func TestBackoffGrowsWithJitterAndIsBounded(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	d := b.min
	for i := 0; i < 10; i++ {
		j := b.jitter(d)
		if j < d/2 || j >= d {
			t.Fatalf("jitter(%v) = %v, want in [%v, %v)", d, j, d/2, d)
		}
		d = b.next(d)
	}
	if d != b.max {
		t.Errorf("backoff reached %v, want the max %v", d, b.max)
	}
}
