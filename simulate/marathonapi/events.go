package marathonapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/simulate"
)

// eventBuffer is how far a stream may fall behind the model before the model drops it; the client then
// reconnects and resynchronises, as after a real Marathon drops a slow stream.
const eventBuffer = 4096

// notAcceptable405 is the page Jetty answers when the Accept header is not text/event-stream
// (events.raml).
const notAcceptable405 = `<html>
<head>
<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>
<title>Error 405 </title>
</head>
<body>
<h2>HTTP ERROR: 405</h2>
<p>Problem accessing /v2/events. Reason:
<pre>    HTTP method GET is not supported by this URL</pre></p>
<hr /><a href="http://eclipse.org/jetty">Powered by Jetty:// 9.3.z-SNAPSHOT</a><hr/>
</body>
</html>
`

// events is GET /v2/events, the SSE stream, byte for byte as Marathon's Jetty EventSourceServlet writes
// it (wire-facts §3.4): exact Accept match, CRLF frames, event_stream_attached first, a "\r" then "\n"
// heartbeat, the event_type filter, and a close-delimited body.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	if !acceptsEventStream(r.Header) {
		w.Header().Set("Content-Type", "text/html;charset=ISO-8859-1")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = io.WriteString(w, notAcceptable405)
		return
	}
	wanted := query(r.URL.Query()).set("event_type")
	// Subscribe before the 200 goes out, so that nothing that happens after the client sees the stream
	// open is missed.
	sub := s.world.SubscribeMarathon(eventBuffer)
	defer sub.Close()
	if s.leader() != s.index {
		// Leadership moved between routing and subscribing, so the leader change may not have ended
		// this subscription: route again, which redirects to the new leader.
		sub.Close()
		s.route(w, r)
		return
	}

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives any server write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream;charset=UTF-8")
	h.Set("Connection", "close")
	// With "identity" net/http neither chunks nor keeps the connection: the body ends when the
	// connection closes, as Jetty's does (the server drops this header before writing).
	h.Set("Transfer-Encoding", "identity")
	w.WriteHeader(http.StatusOK)
	out := &sseWriter{w: w, rc: rc, wanted: wanted}
	out.flush()

	out.send(sseEvent{typ: "event_stream_attached", data: map[string]any{
		"remoteAddress": remoteHost(r.RemoteAddr),
		"timestamp":     timestamp(s.world.Now()),
	}})
	out.flush()
	heartbeat := time.NewTicker(s.heartbeat)
	defer heartbeat.Stop()
	for out.err == nil {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-sub.C:
			if !ok {
				// A leadership change or a stream that fell behind: end it; the client reconnects.
				s.log.Debug("event stream closed by the model", zap.String("remote", r.RemoteAddr))
				return
			}
			for _, e := range wireEvents(ev) {
				out.send(e)
			}
			out.flush()
		case <-heartbeat.C:
			// Jetty writes and flushes the two bytes separately.
			out.write("\r")
			out.flush()
			out.write("\n")
			out.flush()
		}
	}
}

// acceptsEventStream applies Jetty's test: some Accept header value must equal "text/event-stream"
// exactly, so "text/event-stream, */*" or "text/event-stream;q=1" do not do.
func acceptsEventStream(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		if v == "text/event-stream" {
			return true
		}
	}
	return false
}

type sseEvent struct {
	typ  string
	data map[string]any
}

// sseWriter writes frames until the first error, after which it does nothing.
type sseWriter struct {
	w      io.Writer
	rc     *http.ResponseController
	wanted map[string]bool // the event_type filter; empty: everything
	err    error
}

func (o *sseWriter) write(s string) {
	if o.err == nil {
		_, o.err = io.WriteString(o.w, s)
	}
}

func (o *sseWriter) flush() {
	if o.err == nil {
		o.err = o.rc.Flush()
	}
}

func (o *sseWriter) send(e sseEvent) {
	if len(o.wanted) > 0 && !o.wanted[e.typ] {
		return
	}
	e.data["eventType"] = e.typ
	body, err := json.Marshal(e.data)
	if err != nil {
		o.err = err
		return
	}
	o.write("event: " + e.typ + "\r\ndata: " + string(body) + "\r\n\r\n")
}

// wireEvents turns one model event into what Marathon puts on the bus for it (Events.scala, Formats).
func wireEvents(ev simulate.MarathonEvent) []sseEvent {
	at := timestamp(ev.Time)
	one := func(typ string, data map[string]any) []sseEvent {
		data["timestamp"] = at
		return []sseEvent{{typ: typ, data: data}}
	}
	t := &ev.Task
	switch ev.Type {
	case simulate.EventStatusUpdate:
		ports := t.Ports
		if ports == nil {
			ports = []uint64{}
		}
		return one(ev.Type, map[string]any{
			"slaveId":     t.AgentID,
			"taskId":      t.ID,
			"taskStatus":  string(t.State),
			"message":     "",
			"appId":       t.AppID,
			"host":        t.Host,
			"ipAddresses": ipAddresses(t),
			"ports":       ports,
			"version":     timestamp(t.Version),
		})
	case simulate.EventInstanceChanged:
		return one(ev.Type, map[string]any{
			"instanceId":     t.ID,
			"condition":      condition(t.State),
			"runSpecId":      t.AppID,
			"agentId":        t.AgentID,
			"host":           t.Host,
			"runSpecVersion": timestamp(t.Version),
		})
	case simulate.EventHealthChanged:
		// Marathon ≥1.4 publishes both; the first names the instance, not the task (wire-facts §3.4).
		return []sseEvent{
			{typ: ev.Type, data: map[string]any{"appId": ev.AppID, "instanceId": t.ID,
				"version": timestamp(t.Version), "alive": ev.Alive, "timestamp": at}},
			{typ: "instance_health_changed_event", data: map[string]any{"instanceId": t.ID, "runSpecId": ev.AppID,
				"runSpecVersion": timestamp(t.Version), "healthy": ev.Alive, "timestamp": at}},
		}
	case simulate.EventDeploymentInfo, simulate.EventDeploymentStepOK:
		return one(ev.Type, map[string]any{
			"plan":        plan(&ev.Deployment, &ev.App),
			"currentStep": map[string]any{"actions": []map[string]any{deploymentAction(&ev.Deployment)}},
		})
	case simulate.EventDeploymentSuccess:
		return one(ev.Type, map[string]any{"id": ev.Deployment.ID, "plan": plan(&ev.Deployment, &ev.App)})
	case simulate.EventDeploymentFailed:
		return one(ev.Type, map[string]any{"id": ev.Deployment.ID, "plan": plan(&ev.Deployment, &ev.App), "reason": ev.Reason})
	case simulate.EventAPIPost:
		// The model does not record who asked; Marathon reports the client's address and the request URI.
		return one(ev.Type, map[string]any{
			"clientIp":      "127.0.0.1",
			"uri":           "/v2/apps" + ev.AppID,
			"appDefinition": appDefinition(&ev.App),
		})
	case simulate.EventAppTerminated:
		return one(ev.Type, map[string]any{"appId": ev.AppID})
	case simulate.EventGroupChangeSuccess:
		// An app change is a change of the root group, whose id Marathon reports.
		return one(ev.Type, map[string]any{"groupId": "/", "version": timestamp(ev.App.Version)})
	}
	return one(ev.Type, map[string]any{"appId": ev.AppID})
}

// plan is a deployment plan as the deployment events carry it (Formats.DeploymentPlanWrites): id,
// version, steps, and the root group before ("original") and after ("target") the change.
func plan(d *simulate.Deployment, app *simulate.App) map[string]any {
	var before, after *simulate.App
	if app.ID != "" {
		before, after = app, app
	}
	switch d.Action {
	case "StartApplication":
		before = nil
	case "StopApplication":
		after = nil
	}
	return map[string]any{
		"id":       d.ID,
		"version":  timestamp(d.Version),
		"steps":    deploymentSteps(d),
		"original": rootGroup(before, d.Version),
		"target":   rootGroup(after, d.Version),
	}
}

// rootGroup is the root group as a plan shows it, holding the affected app nested in its parent groups
// as Marathon nests apps by id ("/web/frontend" in group "/web"). Marathon's plan carries the whole
// tree; the model keeps no version history, so only the affected app, in its current definition,
// appears (the same in original and target, except for a start or a stop).
func rootGroup(app *simulate.App, version time.Time) map[string]any {
	group := func(id string) map[string]any {
		return map[string]any{"id": id, "apps": []any{}, "groups": []any{}, "pods": []any{},
			"dependencies": []string{}, "version": timestamp(version)}
	}
	root := group("/")
	if app == nil {
		return root
	}
	parent := root
	segments := strings.Split(strings.Trim(app.ID, "/"), "/")
	for i := range segments[:len(segments)-1] {
		g := group("/" + strings.Join(segments[:i+1], "/"))
		parent["groups"] = []any{g}
		parent = g
	}
	parent["apps"] = []any{appDefinition(app)}
	return root
}

// condition is Marathon's instance condition for a task state (instance_changed_event).
func condition(s simulate.TaskState) string {
	switch s {
	case simulate.TaskStaging:
		return "Staging"
	case simulate.TaskStarting:
		return "Starting"
	case simulate.TaskRunning:
		return "Running"
	case simulate.TaskKilling:
		return "Killing"
	case simulate.TaskKilled:
		return "Killed"
	case simulate.TaskFailed:
		return "Failed"
	case simulate.TaskFinished:
		return "Finished"
	case simulate.TaskLost:
		return "Unreachable"
	case simulate.TaskGone:
		return "Gone"
	}
	return "Unknown"
}
