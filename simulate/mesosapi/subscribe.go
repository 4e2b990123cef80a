package mesosapi

import (
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/simulate"
)

// maxBatch bounds how many queued events one write carries before the stream flushes.
const maxBatch = 256

// stream is one SUBSCRIBE connection.
type stream struct {
	s   *server
	w   http.ResponseWriter
	rc  *http.ResponseController
	out format
	j   *jsonWriter
	buf []byte // the RecordIO frames of one flush
}

// subscribe serves SUBSCRIBE (wire-facts §1.6): 200 with the negotiated Content-Type, a chunked body
// (no Content-Length: mesos-go's ResponseClassAuto decodes RecordIO only when the length is unknown),
// records "<length>\n<message>". First SUBSCRIBED with the whole state, then at once a HEARTBEAT, then
// the world's events and a HEARTBEAT every interval. The world takes the snapshot and opens the
// subscription under one lock, so no event falls between them. The stream ends when the world closes
// the subscription (this master lost leadership, or the client fell too far behind) or the client
// goes away.
func (s *server) subscribe(w http.ResponseWriter, r *http.Request, out format) {
	st := &stream{s: s, w: w, rc: http.NewResponseController(w), out: out, j: &jsonWriter{}}
	sub, err := s.world.SubscribeMesos(s.index, s.buffer, func(v *simulate.View) { st.subscribed(v) })
	if err != nil {
		s.writeError(w, err)
		return
	}
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", out.media)
	if out.media == mediaRecordIO {
		h.Set("Message-Content-Type", out.message)
	}
	w.WriteHeader(http.StatusOK)
	log := s.log.With(zap.String("remote", r.RemoteAddr))
	log.Info("subscriber attached")
	if err := st.push(st.j.b); err != nil {
		log.Info("subscriber detached", zap.Error(err))
		return
	}
	reason := st.serve(r, sub)
	log.Info("subscriber detached", zap.String("reason", reason))
}

// serve forwards events and heartbeats until the stream ends, and says why it ended.
func (st *stream) serve(r *http.Request, sub *simulate.Subscription[simulate.MesosEvent]) string {
	if err := st.heartbeat(); err != nil {
		return err.Error()
	}
	ticker := time.NewTicker(st.s.heartbeat)
	defer ticker.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return "client gone"
		case <-ticker.C:
			err = st.heartbeat()
		case ev, open := <-sub.C:
			if !open {
				return "subscription closed by the master"
			}
			err = st.events(ev, sub.C)
		}
		if err != nil {
			return err.Error()
		}
	}
}

// subscribed renders the SUBSCRIBED event into st.j; it runs under the world lock.
func (st *stream) subscribed(v *simulate.View) {
	j := st.j
	j.reset()
	j.beginObject()
	j.field("type", "SUBSCRIBED")
	j.object("subscribed")
	j.object("get_state")
	st.s.getState(j, v)
	j.endObject()
	j.numField("heartbeat_interval_seconds", st.s.heartbeat.Seconds())
	j.endObject()
	j.endObject()
}

func (st *stream) heartbeat() error {
	return st.push([]byte(`{"type":"HEARTBEAT"}`))
}

// events writes ev and whatever else is already queued, then flushes once.
func (st *stream) events(ev simulate.MesosEvent, c <-chan simulate.MesosEvent) error {
	batch := []simulate.MesosEvent{ev}
drain:
	for len(batch) < maxBatch {
		select {
		case more, open := <-c:
			if !open {
				break drain
			}
			batch = append(batch, more)
		default:
			break drain
		}
	}
	facts := st.taskFacts(batch)
	st.buf = st.buf[:0]
	for i, ev := range batch {
		st.j.reset()
		if !st.j.event(ev, facts[i], st.s.frameworkID, st.s.drainAPI) {
			continue
		}
		if err := st.frame(st.j.b); err != nil {
			return err
		}
	}
	return st.flush()
}

// taskFacts looks up, in one view of the world, what the TASK_ADDED events of a batch show of their
// apps and agents. Events carry copies of tasks, but not the labels of the task's app.
func (st *stream) taskFacts(batch []simulate.MesosEvent) []taskFacts {
	facts := make([]taskFacts, len(batch))
	need := false
	for _, ev := range batch {
		need = need || ev.Type == simulate.MesosTaskAdded
	}
	if !need {
		return facts
	}
	st.s.world.View(func(v *simulate.View) {
		known := newApps(v)
		for i, ev := range batch {
			if ev.Type != simulate.MesosTaskAdded {
				continue
			}
			facts[i] = taskFacts{framework: st.s.frameworkJSON, agent: idValue(ev.Task.AgentID), role: "*", app: known.facts(ev.Task.AppID)}
			if a, ok := v.Agent(ev.Task.AgentID); ok {
				facts[i].role = agentRole(a)
			}
		}
	})
	return facts
}

// push writes one record and flushes it.
func (st *stream) push(msg []byte) error {
	st.buf = st.buf[:0]
	if err := st.frame(msg); err != nil {
		return err
	}
	return st.flush()
}

// frame appends one RecordIO record, encoded as negotiated, to the pending output.
func (st *stream) frame(msg []byte) error {
	body, err := st.out.event(msg)
	if err != nil {
		return err
	}
	st.buf = strconv.AppendInt(st.buf, int64(len(body)), 10)
	st.buf = append(st.buf, '\n')
	st.buf = append(st.buf, body...)
	return nil
}

func (st *stream) flush() error {
	if _, err := st.w.Write(st.buf); err != nil {
		return err
	}
	return st.rc.Flush()
}

// event writes one model event as a master::Event; it reports false for events the API has no
// counterpart for.
func (j *jsonWriter) event(ev simulate.MesosEvent, f taskFacts, frameworkID string, drainAPI bool) bool {
	j.beginObject()
	j.field("type", string(ev.Type))
	switch ev.Type {
	case simulate.MesosTaskAdded:
		j.object("task_added")
		j.key("task")
		j.task(&ev.Task, f)
	case simulate.MesosTaskUpdated:
		j.taskUpdated(&ev.Task, frameworkID)
	case simulate.MesosAgentAdded:
		j.object("agent_added")
		j.key("agent")
		j.agent(&ev.Agent, agentFacts{drainAPI: drainAPI})
	case simulate.MesosAgentRemoved:
		j.object("agent_removed")
		j.idField("agent_id", ev.AgentID)
	default:
		return false
	}
	j.endObject()
	j.endObject()
	return true
}

// taskUpdated writes the body of TASK_UPDATED as the master sends it (protobuf_utils.cpp
// createTaskUpdated): {framework_id, status, state}. The Mesos docs' example, with task_id and agent_id
// at the top, is wrong.
func (j *jsonWriter) taskUpdated(t *simulate.Task, frameworkID string) {
	j.object("task_updated")
	j.idField("framework_id", frameworkID)
	if n := len(t.Statuses); n > 0 {
		j.key("status")
		j.taskStatus(t, n-1, taskHash(t.ID), idValue(t.ID), idValue(t.AgentID))
	}
	j.field("state", string(t.State))
}
