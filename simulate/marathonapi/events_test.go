package marathonapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	marathon "github.com/gambol99/go-marathon"
)

// rawStream is an open GET /v2/events read byte for byte, so that framing, heartbeats and the absence
// of chunking can be checked.
type rawStream struct {
	resp *http.Response
	head string // the status line and headers as they came
	conn net.Conn
	mu   sync.Mutex
	buf  strings.Builder
	done chan struct{}
}

// openStream sends GET uri to instance i over a bare TCP connection with the given Accept headers.
func (c *testCluster) openStream(i int, uri string, accept ...string) *rawStream {
	c.t.Helper()
	conn, err := net.Dial("tcp", c.addrs[i])
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	req := "GET " + uri + " HTTP/1.1\r\nHost: " + c.addrs[i] + "\r\nCache-Control: no-cache\r\n"
	for _, a := range accept {
		req += "Accept: " + a + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		c.t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var head strings.Builder
	for !strings.HasSuffix(head.String(), "\r\n\r\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading the response head %q: %v", head.String(), err)
		}
		head.WriteString(line)
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(head.String()), br)), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	s := &rawStream{resp: resp, head: head.String(), conn: conn, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		b := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *rawStream) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor moves virtual time on until the stream's text satisfies cond.
func (s *rawStream) waitFor(c *testCluster, what string, cond func(string) bool) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if text := s.text(); cond(text) {
			return text
		}
		time.Sleep(2 * time.Millisecond)
		c.advance(time.Second)
	}
	c.t.Fatalf("stream never showed %s; got %q", what, s.text())
	return ""
}

type frame struct {
	event string
	data  map[string]any
}

// frames parses the CRLF framing: "event: X\r\ndata: {…}\r\n\r\n"; the heartbeat's bare "\r\n" is an
// empty line and ends nothing.
func frames(t *testing.T, text string) []frame {
	t.Helper()
	var out []frame
	var cur frame
	var data string
	lines := strings.Split(text, "\r\n")
	for _, line := range lines[:len(lines)-1] { // the last piece may be an unfinished line
		switch {
		case line == "":
			if cur.event != "" {
				if err := json.Unmarshal([]byte(data), &cur.data); err != nil {
					t.Fatalf("frame %q: data is not JSON: %v", cur.event, err)
				}
				out = append(out, cur)
			}
			cur, data = frame{}, ""
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	return out
}

func hasFrame(t *testing.T, text string, match func(frame) bool) bool {
	for _, f := range frames(t, text) {
		if match(f) {
			return true
		}
	}
	return false
}

func TestEventStreamWire(t *testing.T) {
	c := newTestCluster(t, WithHeartbeat(5*time.Millisecond))
	s := c.openStream(0, "/v2/events", "text/event-stream")
	if s.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", s.resp.StatusCode)
	}
	if ct := s.resp.Header.Get("Content-Type"); ct != "text/event-stream;charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	// Jetty's stream: Connection: close, no chunking, no length; the body ends when the connection does.
	if !strings.Contains(s.head, "\r\nConnection: close\r\n") || strings.Contains(s.head, "Transfer-Encoding") ||
		strings.Contains(s.head, "Content-Length") {
		t.Errorf("response head %q", s.head)
	}
	if s.resp.Header.Get(headerLeader) != c.urls[0] {
		t.Errorf("leader header %q", s.resp.Header.Get(headerLeader))
	}
	// event_stream_attached comes first, and the heartbeat's "\r\n" follows while nothing happens.
	text := s.waitFor(c, "a heartbeat", func(s string) bool { return strings.Contains(s, "}\r\n\r\n\r\n") })
	if !strings.HasPrefix(text, "event: event_stream_attached\r\ndata: {") {
		t.Fatalf("stream starts %q", text)
	}
	first := frames(t, text)[0]
	if first.data["eventType"] != "event_stream_attached" || first.data["remoteAddress"] != "127.0.0.1" || first.data["timestamp"] == nil {
		t.Errorf("attached event %v", first.data)
	}

	if r := c.do(0, "PUT", "/v2/apps/web/frontend", map[string]any{"instances": 3}); r.status != http.StatusOK {
		t.Fatalf("scale: %d %s", r.status, r.body)
	}
	text = s.waitFor(c, "deployment_success", func(s string) bool { return strings.Contains(s, "event: deployment_success") })
	if strings.Count(text, "\n") != strings.Count(text, "\r\n") {
		t.Error("every line must end in CRLF")
	}
	seen := map[string]bool{}
	for _, f := range frames(t, text) {
		seen[f.event] = true
		if f.data["eventType"] != f.event {
			t.Errorf("frame %q carries eventType %v", f.event, f.data["eventType"])
		}
		ts, _ := f.data["timestamp"].(string)
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", ts); err != nil {
			t.Errorf("frame %q timestamp %q is not ISO-8601 with millis and Z", f.event, ts)
		}
	}
	for _, want := range []string{"api_post_event", "group_change_success", "deployment_info", "status_update_event",
		"instance_changed_event", "health_status_changed_event", "instance_health_changed_event", "deployment_step_success", "deployment_success"} {
		if !seen[want] {
			t.Errorf("no %s after a scale-up; saw %v", want, seen)
		}
	}
}

func TestEventStreamFilter(t *testing.T) {
	c := newTestCluster(t)
	s := c.openStream(0, "/v2/events?event_type=deployment_info&event_type=deployment_success", "text/event-stream")
	if s.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", s.resp.StatusCode)
	}
	if r := c.do(0, "PUT", "/v2/apps/web/frontend", map[string]any{"instances": 3}); r.status != http.StatusOK {
		t.Fatalf("scale: %d %s", r.status, r.body)
	}
	text := s.waitFor(c, "deployment_success", func(s string) bool { return strings.Contains(s, "event: deployment_success") })
	fs := frames(t, text)
	if fs[0].event != "deployment_info" {
		t.Errorf("first frame %q: the filter applies to event_stream_attached too", fs[0].event)
	}
	for _, f := range fs {
		if f.event != "deployment_info" && f.event != "deployment_success" {
			t.Errorf("filtered stream carried %q", f.event)
		}
	}
}

func TestEventStreamAccept(t *testing.T) {
	c := newTestCluster(t)
	// Jetty compares each Accept value with equals: anything but exactly text/event-stream is a 405.
	for _, accept := range [][]string{nil, {"application/json"}, {"text/event-stream, */*"}, {"text/event-stream;charset=UTF-8"}} {
		s := c.openStream(0, "/v2/events", accept...)
		if s.resp.StatusCode != http.StatusMethodNotAllowed || !strings.HasPrefix(s.resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("Accept %q: status %d, Content-Type %q", accept, s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
		}
	}
	// One exact value among several Accept headers is enough (go-marathon's redirects repeat headers).
	s := c.openStream(0, "/v2/events", "application/json", "text/event-stream")
	if s.resp.StatusCode != http.StatusOK {
		t.Errorf("two Accept headers: status %d", s.resp.StatusCode)
	}
}

// TestEventStreamEndsOnLeaderChange: Marathon ends the streams of an instance that loses leadership; the
// client reconnects (to the new leader).
func TestEventStreamEndsOnLeaderChange(t *testing.T) {
	c := newTestCluster(t)
	s := c.openStream(0, "/v2/events", "text/event-stream")
	s.waitFor(c, "event_stream_attached", func(s string) bool { return strings.Contains(s, "\r\n\r\n") })
	if err := c.world.SetMarathonLeader(1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its instance's leadership")
	}
}

// eventCollector gathers what a go-marathon listener receives while virtual time moves on.
type eventCollector struct {
	c  *testCluster
	ch marathon.EventsChannel
}

// until advances virtual time until match has accepted an event, and returns that event.
func (e eventCollector) until(what string, match func(*marathon.Event) bool) *marathon.Event {
	e.c.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if match(ev) {
				return ev
			}
		case <-time.After(2 * time.Millisecond):
			e.c.advance(time.Second)
		case <-deadline:
			e.c.t.Fatalf("no %s arrived", what)
			return nil
		}
	}
}

// all advances virtual time until every matcher has accepted some event.
func (e eventCollector) all(want map[string]func(*marathon.Event) bool) {
	e.c.t.Helper()
	missing := maps.Clone(want)
	e.until(fmt.Sprintf("all of %d events", len(want)), func(ev *marathon.Event) bool {
		for name, match := range missing {
			if match(ev) {
				delete(missing, name)
			}
		}
		return len(missing) == 0
	})
}

func (c *testCluster) listen(m marathon.Marathon, filter int) eventCollector {
	c.t.Helper()
	ch, err := m.AddEventsListener(filter | marathon.EventIDStreamAttached)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { m.RemoveEventsListener(ch) })
	e := eventCollector{c: c, ch: ch}
	e.until("event_stream_attached", func(ev *marathon.Event) bool { return ev.ID == marathon.EventIDStreamAttached })
	return e
}

func TestClientEvents(t *testing.T) {
	c := newTestCluster(t)
	m := c.client(true)
	events := c.listen(m, marathon.EventIDApplications|marathon.EventIDAPIRequest|marathon.EventIDDeploymentInfo|
		marathon.EventIDDeploymentSuccess|marathon.EventIDDeploymentFailed|marathon.EventIDDeploymentStepSuccess)

	dep, err := m.ScaleApplicationInstances("/web/frontend", 3, false)
	if err != nil {
		t.Fatal(err)
	}
	// go-marathon hands each event to the listener in its own goroutine, so order is not checked.
	want := map[string]func(*marathon.Event) bool{
		"api_post_event": func(ev *marathon.Event) bool {
			e, ok := ev.Event.(*marathon.EventAPIRequest)
			return ok && e.AppDefinition != nil && e.AppDefinition.ID == "/web/frontend" && *e.AppDefinition.Instances == 3
		},
		"deployment_info": func(ev *marathon.Event) bool {
			e, ok := ev.Event.(*marathon.EventDeploymentInfo)
			// The plan's target is the root group with the app nested in its group "/web".
			return ok && e.Plan.ID == dep.DeploymentID && len(e.CurrentStep.Actions) == 1 &&
				e.CurrentStep.Actions[0].Action == "ScaleApplication" && e.CurrentStep.Actions[0].App == "/web/frontend" &&
				e.Plan.Target != nil && e.Plan.Target.ID == "/" && len(e.Plan.Target.Groups) == 1 && e.Plan.Target.Groups[0].ID == "/web" &&
				len(e.Plan.Target.Groups[0].Apps) == 1 && e.Plan.Target.Groups[0].Apps[0].ID == "/web/frontend"
		},
		"status_update_event TASK_RUNNING": func(ev *marathon.Event) bool {
			e, ok := ev.Event.(*marathon.EventStatusUpdate)
			return ok && e.AppID == "/web/frontend" && e.TaskStatus == "TASK_RUNNING" && e.SlaveID != "" && len(e.Ports) == 1 && len(e.IPAddresses) == 1
		},
		"health_status_changed_event": func(ev *marathon.Event) bool {
			// Marathon ≥1.4 sends instanceId, so go-marathon's TaskID stays empty (wire-facts §4).
			e, ok := ev.Event.(*marathon.EventHealthCheckChanged)
			return ok && e.AppID == "/web/frontend" && e.Alive && e.TaskID == ""
		},
		"deployment_step_success": func(ev *marathon.Event) bool {
			e, ok := ev.Event.(*marathon.EventDeploymentStepSuccess)
			return ok && e.Plan.ID == dep.DeploymentID
		},
		"deployment_success": func(ev *marathon.Event) bool {
			e, ok := ev.Event.(*marathon.EventDeploymentSuccess)
			return ok && e.ID == dep.DeploymentID && e.Plan != nil && len(e.Plan.Steps) == 1
		},
	}
	events.all(want)

	// A forced change cancels the running deployment, which fails with a deployment_failed event.
	locked, err := m.ScaleApplicationInstances("/data/etl", 20, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ScaleApplicationInstances("/data/etl", 1, true); err != nil {
		t.Fatal(err)
	}
	events.until("deployment_failed", func(ev *marathon.Event) bool {
		e, ok := ev.Event.(*marathon.EventDeploymentFailed)
		return ok && e.ID == locked.DeploymentID
	})

	// Deleting an app ends with app_terminated_event; scaling to 0 (above, for etl) never sends one.
	if _, err := m.DeleteApplication("/tools/wiki", false); err != nil {
		t.Fatal(err)
	}
	events.until("app_terminated_event", func(ev *marathon.Event) bool {
		e, ok := ev.Event.(*marathon.EventAppTerminated)
		if ok && e.AppID != "/tools/wiki" {
			t.Errorf("app_terminated_event for %s", e.AppID)
		}
		return ok
	})
}

// TestClientEventsThroughStandby: a client that knows only a standby follows the 302 to the leader, and
// after a leader change reconnects and goes on receiving events.
func TestClientEventsThroughStandby(t *testing.T) {
	c := newTestCluster(t)
	m := c.client(true, 1)
	events := c.listen(m, marathon.EventIDDeploymentSuccess)

	dep, err := m.ScaleApplicationInstances("/web/frontend", 3, false)
	if err != nil {
		t.Fatal(err)
	}
	events.until("deployment_success", func(ev *marathon.Event) bool {
		e, ok := ev.Event.(*marathon.EventDeploymentSuccess)
		return ok && e.ID == dep.DeploymentID
	})

	if err := c.world.SetMarathonLeader(1); err != nil {
		t.Fatal(err)
	}
	events.until("event_stream_attached after the leader change", func(ev *marathon.Event) bool {
		return ev.ID == marathon.EventIDStreamAttached
	})
	dep, err = m.ScaleApplicationInstances("/web/frontend", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	events.until("deployment_success from the new leader", func(ev *marathon.Event) bool {
		e, ok := ev.Event.(*marathon.EventDeploymentSuccess)
		return ok && e.ID == dep.DeploymentID
	})
	if leader, err := m.Leader(); err != nil || leader != c.addrs[1] {
		t.Errorf("leader %q, %v; want %s", leader, err, c.addrs[1])
	}
}
