package mesosapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"
)

// events reads a SUBSCRIBE stream with mesos-go's decoder.
type events struct {
	t    *testing.T
	resp mesos.Response
	seen []master.Event_Type
}

func (e *events) next() (master.Event, error) {
	var ev master.Event
	err := e.resp.Decode(&ev)
	if err == nil {
		e.seen = append(e.seen, ev.GetType())
	}
	return ev, err
}

// until reads events until one satisfies match, and returns it.
func (e *events) until(what string, match func(master.Event) bool) master.Event {
	e.t.Helper()
	for {
		ev, err := e.next()
		if err != nil {
			e.t.Fatalf("waiting for %s: %v (seen %v)", what, err, e.seen)
		}
		if match(ev) {
			return ev
		}
	}
}

func ofType(typ master.Event_Type) func(master.Event) bool {
	return func(ev master.Event) bool { return ev.GetType() == typ }
}

// TestSubscribe follows a SUBSCRIBE stream with mesos-go in both codecs: SUBSCRIBED with the whole
// state, an immediate HEARTBEAT and periodic ones, then AGENT_ADDED, TASK_UPDATED, TASK_ADDED and
// AGENT_REMOVED as the world changes, and the end of the stream when leadership moves.
func TestSubscribe(t *testing.T) {
	for _, cc := range codecsUnderTest {
		t.Run(cc.name, func(t *testing.T) {
			c := newCluster(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			resp, err := c.sender(0, cc.codec).Send(ctx, calls.NonStreaming(calls.Subscribe()))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()
			e := &events{t: t, resp: resp}

			first, err := e.next()
			if err != nil || first.GetType() != master.Event_SUBSCRIBED {
				t.Fatalf("first event %v, %v; want SUBSCRIBED", first.GetType(), err)
			}
			sub := first.GetSubscribed()
			if got := sub.GetHeartbeatIntervalSeconds(); got != testHeartbeat.Seconds() {
				t.Errorf("heartbeat_interval_seconds %v, want %v", got, testHeartbeat.Seconds())
			}
			state := sub.GetGetState()
			if agents, tasks, _ := c.size(); len(state.GetGetAgents().Agents) != agents || len(state.GetGetTasks().Tasks) != tasks {
				t.Errorf("SUBSCRIBED state: %d agents, %d tasks; want %d and %d", len(state.GetGetAgents().Agents), len(state.GetGetTasks().Tasks), agents, tasks)
			}
			if ev, err := e.next(); err != nil || ev.GetType() != master.Event_HEARTBEAT {
				t.Fatalf("second event %v, %v; want the immediate HEARTBEAT", ev.GetType(), err)
			}
			e.until("a periodic HEARTBEAT", ofType(master.Event_HEARTBEAT))

			added := growPool(t, c, e)
			replaceTask(t, c, e, labelledTask(t, state.GetGetTasks().Tasks))
			bringDown(t, c, e, added)

			if err := c.world.SetMesosLeader(1); err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := e.next(); err != nil {
					if !errors.Is(err, io.EOF) {
						t.Errorf("stream ended with %v, want EOF", err)
					}
					break
				}
			}
		})
	}
}

// growPool raises the group's desired capacity and waits for the new agent's AGENT_ADDED.
func growPool(t *testing.T, c *cluster, e *events) master.Response_GetAgents_Agent {
	t.Helper()
	if err := c.world.SetDesiredCapacity("marmot-default", 4, false); err != nil {
		t.Fatal(err)
	}
	c.advance(2 * time.Minute)
	ev := e.until("AGENT_ADDED", ofType(master.Event_AGENT_ADDED))
	a := ev.GetAgentAdded().Agent
	if !a.Active || !strings.HasPrefix(a.GetPID(), "slave(1)@") || scalar(a.TotalResources, "cpus") != 4 {
		t.Errorf("AGENT_ADDED agent: active %v pid %q resources %v", a.Active, a.GetPID(), a.TotalResources)
	}
	return a
}

// replaceTask kills a task through Marathon and follows it, in whichever order the events come:
// TASK_UPDATED in the real shape (framework_id, status, state), and TASK_ADDED for the replacement, with
// the app's labels.
func replaceTask(t *testing.T, c *cluster, e *events, victim mesos.Task) {
	t.Helper()
	if _, err := c.world.KillTasks([]string{victim.TaskID.Value}, false); err != nil {
		t.Fatal(err)
	}
	c.advance(10 * time.Second)
	var killed *master.Event_TaskUpdated
	var added *master.Event_TaskAdded
	e.until("the killed task's TASK_UPDATED and its replacement's TASK_ADDED", func(ev master.Event) bool {
		if u := ev.GetTaskUpdated(); u != nil && u.Status.TaskID.Value == victim.TaskID.Value && u.GetState() == mesos.TASK_KILLED {
			killed = u
		}
		if a := ev.GetTaskAdded(); a != nil && a.Task.Name == victim.Name {
			added = a
		}
		return killed != nil && added != nil
	})
	if killed.FrameworkID.Value != victim.FrameworkID.Value || killed.Status.AgentID.GetValue() != victim.AgentID.Value || killed.Status.GetTimestamp() == 0 {
		t.Errorf("TASK_UPDATED %+v", killed)
	}
	if got, want := len(added.Task.GetLabels().Labels), len(victim.GetLabels().Labels); got != want || want == 0 {
		t.Errorf("replacement has %d labels, want %d", got, want)
	}
}

// labelledTask picks a task whose app has labels.
func labelledTask(t *testing.T, tasks []mesos.Task) mesos.Task {
	t.Helper()
	for _, task := range tasks {
		if len(task.GetLabels().Labels) > 0 {
			return task
		}
	}
	t.Fatal("no task has labels")
	return mesos.Task{}
}

// bringDown takes agent a's machine down for maintenance and waits for AGENT_REMOVED.
func bringDown(t *testing.T, c *cluster, e *events, a master.Response_GetAgents_Agent) {
	t.Helper()
	m := machineOf(a)
	c.mustDo(calls.UpdateMaintenanceSchedule(maintenance.Schedule{Windows: []maintenance.Window{{
		MachineIDs:     []mesos.MachineID{m},
		Unavailability: mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: c.world.Now().UnixNano()}},
	}}}))
	c.mustDo(calls.StartMaintenance(m))
	ev := e.until("AGENT_REMOVED", ofType(master.Event_AGENT_REMOVED))
	if got := ev.GetAgentRemoved().AgentID.Value; got != a.AgentInfo.ID.Value {
		t.Errorf("AGENT_REMOVED %s, want %s", got, a.AgentInfo.ID.Value)
	}
}

// TestSubscribeWire checks the stream's HTTP framing byte by byte: chunked with no Content-Length,
// Content-Type application/json, RecordIO records; and that the stream and its subscription end when
// the client goes away.
func TestSubscribeWire(t *testing.T) {
	c := newCluster(t)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		c.servers[0].Config.Handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	req.Header.Set("Content-Type", mediaJSON)
	req.Header.Set("Accept", mediaJSON)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != mediaJSON || resp.ContentLength != -1 ||
		len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("status %d content-type %q length %d transfer-encoding %v", resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength, resp.TransferEncoding)
	}
	r := bufio.NewReader(resp.Body)
	var subscribed struct {
		Type       string `json:"type"`
		Subscribed struct {
			GetState                 map[string]json.RawMessage `json:"get_state"`
			HeartbeatIntervalSeconds float64                    `json:"heartbeat_interval_seconds"`
		} `json:"subscribed"`
	}
	readRecord(t, r, &subscribed)
	if subscribed.Type != "SUBSCRIBED" || len(subscribed.Subscribed.GetState) != 4 || subscribed.Subscribed.HeartbeatIntervalSeconds != testHeartbeat.Seconds() {
		t.Errorf("first record %+v", subscribed)
	}
	var hb map[string]any
	readRecord(t, r, &hb)
	if len(hb) != 1 || hb["type"] != "HEARTBEAT" {
		t.Errorf("second record %v, want exactly {\"type\":\"HEARTBEAT\"}", hb)
	}
	cancel()
	<-done // the handler returns (and closes its subscription) once the client is gone
}

// readRecord reads one RecordIO record, "<length>\n<bytes>", and decodes it.
func readRecord(t *testing.T, r *bufio.Reader, v any) {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(line, "\n"))
	if err != nil {
		t.Fatalf("record length %q: %v", line, err)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf, v); err != nil {
		t.Fatalf("record %q: %v", buf, err)
	}
}

// TestSubscribeRecordIO asks for the stream as application/recordio with JSON records, as mesos-go's
// ResponseClassStreaming does.
func TestSubscribeRecordIO(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.servers[0].URL+"/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	req.Header.Set("Content-Type", mediaJSON)
	req.Header.Set("Accept", mediaRecordIO)
	req.Header.Set("Message-Accept", mediaJSON)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != mediaRecordIO || resp.Header.Get("Message-Content-Type") != mediaJSON {
		t.Fatalf("content-type %q message-content-type %q", resp.Header.Get("Content-Type"), resp.Header.Get("Message-Content-Type"))
	}
	var first struct{ Type string }
	readRecord(t, bufio.NewReader(resp.Body), &first)
	if first.Type != "SUBSCRIBED" {
		t.Errorf("first record %q", first.Type)
	}
}
