package mesosapi

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/simulate"
)

// The v0 JSON endpoints (wire-facts §1.7). They redirect like the v1 API on a non-leading master; the
// ServeHTTP router checks that before calling them.

type v0Endpoint func(s *server, w http.ResponseWriter, r *http.Request)

// v0Endpoints maps each endpoint, without its "/master" prefix, to its handler.
var v0Endpoints = map[string]v0Endpoint{
	"/state":                (*server).stateEndpoint,
	"/state.json":           (*server).stateEndpoint,
	"/slaves":               (*server).slavesEndpoint,
	"/maintenance/schedule": (*server).scheduleEndpoint,
	"/maintenance/status":   (*server).statusEndpoint,
	"/machine/down":         (*server).machineDownEndpoint,
	"/machine/up":           (*server).machineUpEndpoint,
}

// allow answers 405 unless the request uses one of the methods; it reports whether to go on.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeText(w, http.StatusMethodNotAllowed,
		"Expecting one of { '"+strings.Join(methods, "', '")+"' }, but received '"+r.Method+"'")
	return false
}

// replyV0 renders a v0 JSON reply under the world lock; kind names the endpoint for its size hint.
func (s *server) replyV0(w http.ResponseWriter, kind string, render func(j *jsonWriter, v *simulate.View)) {
	j := getWriter(s.sizes.get(kind))
	defer putWriter(j)
	s.world.View(func(v *simulate.View) { render(j, v) })
	s.sizes.set(kind, len(j.b))
	writeJSON(w, mediaJSON, j.b)
}

func (s *server) stateEndpoint(w http.ResponseWriter, r *http.Request) {
	if allow(w, r, http.MethodGet, http.MethodPost) {
		s.replyV0(w, "state", s.state)
	}
}

func (s *server) slavesEndpoint(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	only := r.URL.Query().Get("slave_id")
	s.replyV0(w, "slaves", func(j *jsonWriter, v *simulate.View) {
		j.beginObject()
		s.slaves(j, v, only)
		j.emptyArray("recovered_slaves")
		j.endObject()
	})
}

// scheduleEndpoint is /maintenance/schedule: GET reads the schedule, POST replaces it.
func (s *server) scheduleEndpoint(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	if r.Method == http.MethodGet {
		s.replyV0(w, "schedule", func(j *jsonWriter, v *simulate.View) { j.schedule(v.Schedule()) })
		return
	}
	s.applyBody(w, r, "update maintenance schedule", func(body []byte) error {
		sch, err := parseSchedule(body)
		if err != nil {
			return err
		}
		return s.world.UpdateMaintenanceSchedule(sch.windows())
	})
}

func (s *server) statusEndpoint(w http.ResponseWriter, r *http.Request) {
	if allow(w, r, http.MethodGet) {
		s.replyV0(w, "status", func(j *jsonWriter, v *simulate.View) { j.clusterStatus(v.DrainingMachines(), v.DownMachines()) })
	}
}

func (s *server) machineDownEndpoint(w http.ResponseWriter, r *http.Request) {
	s.machineEndpoint(w, r, "machine down", s.startMaintenance)
}

func (s *server) machineUpEndpoint(w http.ResponseWriter, r *http.Request) {
	s.machineEndpoint(w, r, "machine up", s.stopMaintenance)
}

// machineEndpoint is /machine/down and /machine/up: POST a JSON array of MachineIDs; the same rules as
// START_MAINTENANCE and STOP_MAINTENANCE.
func (s *server) machineEndpoint(w http.ResponseWriter, r *http.Request, what string, apply func([]machineID) error) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	s.applyBody(w, r, what, func(body []byte) error {
		list, err := parseMachines(body)
		if err != nil {
			return err
		}
		return apply(list)
	})
}

// applyBody reads a request body and applies it to the world: 200 with no body, or the error.
func (s *server) applyBody(w http.ResponseWriter, r *http.Request, what string, apply func([]byte) error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxCallBytes))
	if err == nil {
		err = apply(body)
	} else {
		err = fail(http.StatusBadRequest, "Failed to read the request body: "+err.Error())
	}
	if err != nil {
		s.log.Info("call refused", zap.String("call", what), zap.Error(err))
		s.writeError(w, err)
		return
	}
	s.log.Info("call applied", zap.String("call", what))
	writeOK(w)
}

// state writes /master/state.
func (s *server) state(j *jsonWriter, v *simulate.View) {
	host, ip, port := s.hostIP()
	_, since, _ := v.MesosLeader()
	pid := "master@" + ip + ":" + strconv.Itoa(port)
	active := 0
	for _, a := range v.Agents() {
		if a.Active {
			active++
		}
	}
	j.beginObject()
	j.field("version", s.version)
	j.field("git_sha", "0000000000000000000000000000000000000000")
	j.field("git_branch", "refs/heads/"+s.version)
	j.field("git_tag", s.version)
	j.field("build_date", buildTime.Format("2006-01-02 15:04:05"))
	j.numField("build_time", float64(buildTime.Unix()))
	j.field("build_user", "marmot")
	j.numField("start_time", seconds(s.startedAt))
	j.numField("elected_time", seconds(since))
	j.field("id", s.masterID)
	j.field("pid", pid)
	j.field("hostname", host)
	j.intField("activated_slaves", int64(active))
	j.intField("deactivated_slaves", int64(len(v.Agents())-active))
	j.intField("unreachable_slaves", 0)
	j.field("cluster", "marmot")
	j.field("leader", pid)
	j.key("leader_info")
	s.masterInfo(j)
	j.field("log_dir", "/var/log/mesos")
	j.object("flags")
	for _, f := range s.flags(v) {
		j.field(f[0], f[1])
	}
	j.endObject()
	s.slaves(j, v, "")
	j.array("frameworks")
	s.frameworkV0(j, v)
	j.endArray()
	for _, k := range []string{"completed_frameworks", "orphan_tasks", "unregistered_frameworks"} {
		j.emptyArray(k)
	}
	j.endObject()
}

// slaves writes "slaves":[…], only the agent with id only when it is set.
func (s *server) slaves(j *jsonWriter, v *simulate.View, only string) {
	starts := drainStarts(v.Schedule())
	j.array("slaves")
	for _, a := range v.Agents() {
		if only == "" || a.ID == only {
			j.slaveV0(a, agentFacts{drainAPI: s.drainAPI, drainStart: agentDrainStart(a, starts)})
		}
	}
	j.endArray()
}

// slaveV0 writes an agent as /master/slaves shows it: attributes as a map, resources as maps with the
// ports as a range string, times as float seconds, and the v1 resource lists as *_full (1.4+).
func (j *jsonWriter) slaveV0(a *simulate.Agent, f agentFacts) {
	role := agentRole(a)
	total := resourceShape{scalars: a.Total, ranges: a.Ports, role: role}
	// used holds the writer's scratch space: nothing below may use it again.
	used := resourceShape{scalars: a.Allocated, ports: j.heldPorts(a.Tasks()), role: role}
	unreserved, reserved := total, resourceShape{role: role}
	if role != "*" {
		unreserved, reserved = resourceShape{role: "*"}, total
	}
	j.beginObject()
	j.field("id", a.ID)
	j.field("hostname", a.Hostname)
	j.intField("port", int64(a.Port))
	j.attributesV0(a.Attributes)
	j.field("pid", a.PID())
	j.numField("registered_time", seconds(a.RegisteredAt))
	j.resourceMap("resources", total)
	j.resourceMap("used_resources", used)
	j.resourceMap("offered_resources", resourceShape{})
	j.object("reserved_resources")
	if role != "*" {
		j.userKey(role)
		j.resourceMapValue(reserved)
	}
	j.endObject()
	j.resourceMap("unreserved_resources", unreserved)
	j.boolField("active", a.Active)
	if f.drainAPI {
		j.boolField("deactivated", a.Deactivated)
	}
	j.field("version", a.Version)
	j.array("capabilities")
	for _, c := range a.Capabilities {
		j.str(c)
	}
	j.endArray()
	j.object("reserved_resources_full")
	if role != "*" {
		j.userKey(role)
		j.beginArray()
		j.resourceItems(reserved)
		j.endArray()
	}
	j.endObject()
	j.resources("unreserved_resources_full", unreserved)
	j.resources("used_resources_full", used)
	j.emptyArray("offered_resources_full")
	if f.drainAPI && a.Drain != nil {
		j.drainInfo(a.Drain)
	}
	if f.drainAPI && !f.drainStart.IsZero() {
		j.numField("estimated_drain_start_time_seconds", seconds(f.drainStart))
	}
	j.endObject()
}

// attributesV0 writes attributes as a map: text as a string, scalars as numbers.
func (j *jsonWriter) attributesV0(attrs []simulate.Attribute) {
	j.object("attributes")
	for _, a := range attrs {
		j.userKey(a.Name)
		if a.Scalar != nil {
			j.num(*a.Scalar)
		} else {
			j.str(a.Text)
		}
	}
	j.endObject()
}

func (j *jsonWriter) resourceMap(k string, r resourceShape) {
	j.key(k)
	j.resourceMapValue(r)
}

// resourceMapValue writes v0 resources: every scalar (zero included) and the ports as "[a-b, c-d]".
func (j *jsonWriter) resourceMapValue(r resourceShape) {
	j.beginObject()
	j.numField("disk", scalarValue(r.scalars.Disk))
	j.numField("mem", scalarValue(r.scalars.Mem))
	j.numField("gpus", scalarValue(r.scalars.GPUs))
	j.numField("cpus", scalarValue(r.scalars.CPUs))
	if r.hasPorts() {
		j.field("ports", rangesString(r))
	}
	j.endObject()
}

// rangesString formats port ranges as Mesos' Value::Ranges stringification: "[31000-31005, 31010-31010]".
func rangesString(r resourceShape) string {
	b := []byte{'['}
	r.eachRange(func(begin, end uint64) {
		if len(b) > 1 {
			b = append(b, ", "...)
		}
		b = strconv.AppendUint(b, begin, 10)
		b = append(b, '-')
		b = strconv.AppendUint(b, end, 10)
	})
	return string(append(b, ']'))
}

// frameworkV0 writes Marathon as a /master/state framework, with its tasks.
func (s *server) frameworkV0(j *jsonWriter, v *simulate.View) {
	host, _, _ := s.hostIP()
	_, since, _ := v.MesosLeader()
	connected := v.MarathonLeader() >= 0
	var used simulate.Resources
	for _, r := range allocatedByRole(v) {
		used = used.Add(r.scalars)
	}
	j.beginObject()
	j.field("id", s.frameworkID)
	j.field("name", frameworkName)
	j.field("hostname", host)
	j.field("user", "root")
	j.field("role", "*")
	j.field("principal", frameworkName)
	j.numField("failover_timeout", frameworkFailoverTimeout)
	j.boolField("checkpoint", true)
	j.boolField("active", connected)
	j.boolField("connected", connected)
	j.boolField("recovered", false)
	j.numField("registered_time", seconds(since))
	j.numField("reregistered_time", seconds(since))
	j.numField("unregistered_time", 0)
	j.array("capabilities")
	for _, c := range frameworkCapabilities {
		j.str(c)
	}
	j.endArray()
	j.resourceMap("resources", resourceShape{scalars: used})
	j.resourceMap("used_resources", resourceShape{scalars: used})
	j.resourceMap("offered_resources", resourceShape{})
	s.tasksV0(j, v)
	for _, k := range []string{"unreachable_tasks", "offers", "executors", "completed_executors"} {
		j.emptyArray(k)
	}
	j.endObject()
}

// tasksV0 writes a framework's "tasks" and "completed_tasks".
func (s *server) tasksV0(j *jsonWriter, v *simulate.View) {
	known := newApps(v)
	j.array("tasks")
	for _, a := range v.Agents() {
		for _, t := range a.Tasks() {
			j.taskV0(t, s.frameworkID, known.facts(t.AppID))
		}
	}
	j.endArray()
	j.array("completed_tasks")
	for _, t := range v.CompletedTasks() {
		j.taskV0(t, s.frameworkID, known.facts(t.AppID))
	}
	j.endArray()
}

// taskV0 writes a task as /master/state shows it: ids as strings, resources as a map, labels as a
// bare list.
func (j *jsonWriter) taskV0(t *simulate.Task, frameworkID string, app *appFacts) {
	j.beginObject()
	j.field("id", t.ID)
	j.field("name", app.name)
	j.field("framework_id", frameworkID)
	j.field("executor_id", "")
	j.field("slave_id", t.AgentID)
	j.field("state", string(t.State))
	j.resourceMap("resources", resourceShape{scalars: t.Resources, ports: j.sortedPorts(t.Ports)})
	j.array("statuses")
	for _, st := range t.Statuses {
		if st.State == simulate.TaskStaging {
			continue
		}
		j.beginObject()
		j.field("state", string(st.State))
		j.key("timestamp")
		j.seconds(st.Timestamp)
		if st.Healthy != nil {
			j.boolField("healthy", *st.Healthy)
		}
		j.containerStatus(t, st)
		j.endObject()
	}
	j.endArray()
	if app.labels != nil {
		j.key("labels")
		j.raw(app.labels)
	}
	j.endObject()
}
