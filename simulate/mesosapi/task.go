package mesosapi

import (
	"encoding/binary"
	"sort"
	"strings"

	"github.com/marmot-project/marmot/simulate"
)

// appFacts is what a Mesos task shows of the Marathon app it belongs to, computed once per app and
// reply: GET_STATE shows thousands of tasks of the same apps.
type appFacts struct {
	name   string // TaskInfo.name
	labels []byte // the app's labels as an encoded [{key, value}…] list; nil when none (or the app is gone)

	// The encoded scalar resources of the app's tasks on resources of one role; tasks of the same
	// app nearly always hold the same amounts.
	scalars     []byte
	scalarsOf   simulate.Resources
	scalarsRole string
}

// scalarItems returns the encoded SCALAR elements of a task's resource list.
func (f *appFacts) scalarItems(r simulate.Resources, role string) []byte {
	if f.scalars == nil || f.scalarsOf != r || f.scalarsRole != role {
		tw := &jsonWriter{}
		tw.resourceItems(resourceShape{scalars: r, role: role})
		f.scalars, f.scalarsOf, f.scalarsRole = tw.b, r, role
	}
	return f.scalars
}

type apps struct {
	v    *simulate.View
	seen map[string]*appFacts
}

func newApps(v *simulate.View) *apps { return &apps{v: v, seen: map[string]*appFacts{}} }

func (x *apps) facts(appID string) *appFacts {
	if f, ok := x.seen[appID]; ok {
		return f
	}
	f := &appFacts{name: taskName(appID)}
	if app, ok := x.v.App(appID); ok {
		f.labels = encodeLabels(app.Labels)
	}
	x.seen[appID] = f
	return f
}

// taskName is the name Marathon gives a Mesos task: the app id read as a host name, so
// "/web/frontend" becomes "frontend.web" (PathId.toHostname).
func taskName(appID string) string {
	parts := strings.Split(strings.Trim(appID, "/"), "/")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".")
}

// encodeLabels encodes the labels Marathon copies from an app onto its tasks as a JSON list of
// {key, value}, sorted by key so that replies are stable. v1 wraps the list in a Labels message; v0
// shows it bare.
func encodeLabels(labels map[string]string) []byte {
	if len(labels) == 0 {
		return nil
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	j := &jsonWriter{}
	j.beginArray()
	for _, k := range keys {
		j.beginObject()
		j.field("key", k)
		j.field("value", labels[k])
		j.endObject()
	}
	j.endArray()
	return j.b
}

// taskFacts is what rendering a task needs besides the task. The ids that many tasks share come
// encoded, as {"value":"…"}.
type taskFacts struct {
	framework []byte // the framework id
	agent     []byte // the id of the task's agent
	role      string // the role of the agent's resources the task holds
	app       *appFacts
}

// idValue encodes an id message, {"value":"…"}.
func idValue(id string) []byte { return appendIDValue(nil, id) }

func appendIDValue(b []byte, id string) []byte {
	b = append(b, `{"value":`...)
	b = appendString(b, id)
	return append(b, '}')
}

// task writes a Task. Marathon launches command tasks, so the task has no executor_id; the statuses
// the command executor sends carry its id, which is the task id.
func (j *jsonWriter) task(t *simulate.Task, f taskFacts) {
	j.idbuf = appendIDValue(j.idbuf[:0], t.ID)
	id := j.idbuf
	j.beginObject()
	j.field("name", f.app.name)
	j.rawField("task_id", id)
	j.rawField("framework_id", f.framework)
	j.rawField("agent_id", f.agent)
	j.field("state", string(t.State))
	j.array("resources")
	if items := f.app.scalarItems(t.Resources, f.role); len(items) > 0 {
		j.raw(items)
	}
	j.resourceItems(resourceShape{ports: j.sortedPorts(t.Ports), role: f.role})
	j.endArray()
	j.array("statuses")
	h := taskHash(t.ID)
	last := -1
	for i, st := range t.Statuses {
		// Mesos generates no status update for TASK_STAGING: the master sets that state itself.
		if st.State == simulate.TaskStaging {
			continue
		}
		j.taskStatus(t, i, h, id, f.agent)
		last = i
	}
	j.endArray()
	if last >= 0 {
		j.field("status_update_state", string(t.Statuses[last].State))
		uuid := statusUUID(h, last)
		j.bytesField("status_update_uuid", uuid[:])
	}
	if f.app.labels != nil {
		j.object("labels")
		j.key("labels")
		j.raw(f.app.labels)
		j.endObject()
	}
	j.endObject()
}

// taskStatus writes status i of t as a TaskStatus; h is taskHash(t.ID), id and agent the encoded ids
// of the task and its agent.
func (j *jsonWriter) taskStatus(t *simulate.Task, i int, h uint64, id, agent []byte) {
	st := t.Statuses[i]
	source, reason := statusSource(st.State)
	j.beginObject()
	j.rawField("task_id", id)
	j.field("state", string(st.State))
	j.rawField("agent_id", agent)
	if source == "SOURCE_EXECUTOR" {
		j.rawField("executor_id", id)
	}
	j.field("source", source)
	if reason != "" {
		j.field("reason", reason)
	}
	j.key("timestamp")
	j.seconds(st.Timestamp)
	uuid := statusUUID(h, i)
	j.bytesField("uuid", uuid[:])
	if st.Healthy != nil {
		j.boolField("healthy", *st.Healthy)
	}
	j.containerStatus(t, st)
	j.endObject()
}

// containerStatus writes the container_status of a running task. Command tasks share the agent's
// network; Marathon reads the task's address from here.
func (j *jsonWriter) containerStatus(t *simulate.Task, st simulate.TaskStatus) {
	if st.State != simulate.TaskRunning || t.IP == "" {
		return
	}
	j.object("container_status")
	j.array("network_infos")
	j.beginObject()
	j.array("ip_addresses")
	j.beginObject()
	j.field("ip_address", t.IP)
	j.endObject()
	j.endArray()
	j.endObject()
	j.endArray()
	j.endObject()
}

// statusSource says who sends a status update in that state: the master for the tasks of a removed
// agent, the (command) executor otherwise.
func statusSource(s simulate.TaskState) (source, reason string) {
	switch s {
	case simulate.TaskLost:
		return "SOURCE_MASTER", "REASON_AGENT_REMOVED"
	case simulate.TaskGone:
		return "SOURCE_MASTER", "REASON_AGENT_REMOVED_BY_OPERATOR"
	}
	return "SOURCE_EXECUTOR", ""
}

// statusUUID is the uuid of status i of a task whose id hashes to h: random-looking, as Mesos'
// UUID::random, but derived from the task so that every reply shows the same one.
func statusUUID(h uint64, i int) [16]byte {
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], mix(h+uint64(2*i)))
	binary.BigEndian.PutUint64(u[8:], mix(h+uint64(2*i+1)))
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// taskHash is FNV-1a of a task id.
func taskHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for k := 0; k < len(id); k++ {
		h ^= uint64(id[k])
		h *= 1099511628211
	}
	return h
}

// mix is splitmix64's finaliser: it spreads a counter over all 64 bits.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
