package mesosapi

import (
	"strconv"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// readCall writes the fields of a GET_* reply's body (the object under "get_x") from the model.
type readCall func(s *server, j *jsonWriter, v *simulate.View)

// readCalls are the synchronous calls the simulator answers with data.
var readCalls = map[string]readCall{
	"GET_HEALTH":               (*server).getHealth,
	"GET_FLAGS":                (*server).getFlags,
	"GET_VERSION":              (*server).getVersion,
	"GET_METRICS":              (*server).getMetrics,
	"GET_STATE":                (*server).getState,
	"GET_AGENTS":               (*server).getAgents,
	"GET_FRAMEWORKS":           (*server).getFrameworks,
	"GET_EXECUTORS":            (*server).getExecutors,
	"GET_TASKS":                (*server).getTasks,
	"GET_MASTER":               (*server).getMaster,
	"GET_MAINTENANCE_STATUS":   (*server).getMaintenanceStatus,
	"GET_MAINTENANCE_SCHEDULE": (*server).getMaintenanceSchedule,
}

// The simulated Marathon framework. Marathon registers as user root with a one-week failover timeout
// and these capabilities.
const (
	frameworkName            = "marathon"
	frameworkFailoverTimeout = 604800
)

var frameworkCapabilities = []string{"TASK_KILLING_STATE", "PARTITION_AWARE", "REGION_AWARE"}

// buildTime is the build the simulated masters report (GET_VERSION, v0 state).
var buildTime = time.Date(2020, 5, 15, 0, 0, 0, 0, time.UTC)

func (s *server) getHealth(j *jsonWriter, _ *simulate.View) { j.boolField("healthy", true) }

func (s *server) getFlags(j *jsonWriter, v *simulate.View) {
	j.array("flags")
	for _, f := range s.flags(v) {
		j.beginObject()
		j.field("name", f[0])
		j.field("value", f[1])
		j.endObject()
	}
	j.endArray()
}

func (s *server) getVersion(j *jsonWriter, _ *simulate.View) {
	j.object("version_info")
	j.field("version", s.version)
	j.field("build_date", buildTime.Format("2006-01-02 15:04:05"))
	j.numField("build_time", float64(buildTime.Unix()))
	j.field("build_user", "marmot")
	j.endObject()
}

func (s *server) getMetrics(j *jsonWriter, v *simulate.View) {
	j.array("metrics")
	for _, m := range s.metrics(v) {
		j.beginObject()
		j.field("name", m.name)
		j.numField("value", m.value)
		j.endObject()
	}
	j.endArray()
}

func (s *server) getState(j *jsonWriter, v *simulate.View) {
	j.object("get_tasks")
	s.getTasks(j, v)
	j.endObject()
	j.object("get_executors")
	s.getExecutors(j, v)
	j.endObject()
	j.object("get_frameworks")
	s.getFrameworks(j, v)
	j.endObject()
	j.object("get_agents")
	s.getAgents(j, v)
	j.endObject()
}

func (s *server) getAgents(j *jsonWriter, v *simulate.View) {
	starts := drainStarts(v.Schedule())
	j.array("agents")
	for _, a := range v.Agents() {
		j.agent(a, agentFacts{drainAPI: s.drainAPI, drainStart: agentDrainStart(a, starts)})
	}
	j.endArray()
	j.emptyArray("recovered_agents")
}

func (s *server) getTasks(j *jsonWriter, v *simulate.View) {
	pass := s.tasks.begin(v)
	defer pass.end()
	j.array("tasks")
	for _, a := range v.Agents() {
		f := taskFacts{framework: s.frameworkJSON, agent: idValue(a.ID), role: agentRole(a)}
		for _, t := range a.Tasks() {
			pass.write(j, t, f)
		}
	}
	j.endArray()
	j.array("completed_tasks")
	for _, t := range v.CompletedTasks() {
		f := taskFacts{framework: s.frameworkJSON, agent: idValue(t.AgentID), role: "*"}
		if a, ok := v.Agent(t.AgentID); ok {
			f.role = agentRole(a)
		}
		pass.write(j, t, f)
	}
	j.endArray()
}

// getExecutors is empty: Marathon's apps run under the command executor, which the master does not
// track as a framework executor.
func (s *server) getExecutors(j *jsonWriter, _ *simulate.View) {
	j.emptyArray("executors")
}

func (s *server) getFrameworks(j *jsonWriter, v *simulate.View) {
	_, since, _ := v.MesosLeader()
	// The framework is connected while a Marathon instance leads; it re-registers with every newly
	// elected master, hence registered_time is the leader's election.
	connected := v.MarathonLeader() >= 0
	j.array("frameworks")
	j.beginObject()
	s.frameworkInfo(j)
	j.boolField("active", connected)
	j.boolField("connected", connected)
	j.boolField("recovered", false)
	j.timeField("registered_time", since)
	j.timeField("reregistered_time", since)
	j.emptyArray("offers")
	j.emptyArray("inverse_offers")
	j.array("allocated_resources")
	for _, r := range allocatedByRole(v) {
		j.resourceItems(r)
	}
	j.endArray()
	j.emptyArray("offered_resources")
	j.endObject()
	j.endArray()
	j.emptyArray("completed_frameworks")
}

func (s *server) frameworkInfo(j *jsonWriter) {
	host, _, _ := s.hostIP()
	j.object("framework_info")
	j.field("user", "root")
	j.field("name", frameworkName)
	j.idField("id", s.frameworkID)
	j.numField("failover_timeout", frameworkFailoverTimeout)
	j.boolField("checkpoint", true)
	j.field("role", "*")
	// Marathon usually runs beside the masters; the model does not place it anywhere.
	j.field("hostname", host)
	j.field("principal", frameworkName)
	j.array("capabilities")
	for _, c := range frameworkCapabilities {
		j.beginObject()
		j.field("type", c)
		j.endObject()
	}
	j.endArray()
	j.endObject()
}

// allocatedByRole sums the resources allocated on every agent, per role of the agents' resources,
// in a stable order.
func allocatedByRole(v *simulate.View) []resourceShape {
	var out []resourceShape
	index := map[string]int{}
	for _, a := range v.Agents() {
		role := agentRole(a)
		i, ok := index[role]
		if !ok {
			i = len(out)
			index[role] = i
			out = append(out, resourceShape{role: role})
		}
		out[i].scalars = out[i].scalars.Add(a.Allocated)
	}
	return out
}

func (s *server) getMaster(j *jsonWriter, v *simulate.View) {
	idx, since, ok := v.MesosLeader()
	j.key("master_info")
	s.masterInfo(j)
	j.numField("start_time", seconds(s.startedAt))
	if ok && idx == s.index {
		j.numField("elected_time", seconds(since))
	}
}

// masterInfo writes this master's MasterInfo.
func (s *server) masterInfo(j *jsonWriter) {
	host, ip, port := s.hostIP()
	j.beginObject()
	j.field("id", s.masterID)
	j.intField("ip", int64(packIPv4(ip)))
	j.intField("port", int64(port))
	j.field("pid", "master@"+ip+":"+strconv.Itoa(port))
	j.field("hostname", host)
	j.field("version", s.version)
	j.object("address")
	j.field("hostname", host)
	j.field("ip", ip)
	j.intField("port", int64(port))
	j.endObject()
	j.endObject()
}

// packIPv4 packs an IPv4 address as MasterInfo.ip does: the address bytes in network order read as a
// little-endian integer (127.0.1.1 is 16842879).
func packIPv4(ip string) uint32 {
	var out uint32
	shift := 0
	part := 0
	for i := 0; i <= len(ip); i++ {
		if i == len(ip) || ip[i] == '.' {
			out |= uint32(part&0xff) << shift
			shift += 8
			part = 0
			continue
		}
		part = part*10 + int(ip[i]-'0')
	}
	return out
}

func (s *server) getMaintenanceSchedule(j *jsonWriter, v *simulate.View) {
	j.key("schedule")
	j.schedule(v.Schedule())
}

func (s *server) getMaintenanceStatus(j *jsonWriter, v *simulate.View) {
	j.key("status")
	j.clusterStatus(v.DrainingMachines(), v.DownMachines())
}

// flags are the master flags GET_FLAGS and /master/state report: the ones whose values the model
// follows (agent removal after 5 × 15 s, 1,000 completed tasks kept) and the usual identity flags.
func (s *server) flags(v *simulate.View) [][2]string {
	host, ip, port := s.hostIP()
	return [][2]string{
		{"agent_ping_timeout", "15secs"},
		{"agent_reregister_timeout", "10mins"},
		{"allocation_interval", "1secs"},
		{"allocator", "hierarchical"},
		{"authenticate_agents", "false"},
		{"authenticate_frameworks", "false"},
		{"authenticate_http_readonly", "false"},
		{"authenticate_http_readwrite", "false"},
		{"cluster", "marmot"},
		{"framework_sorter", "drf"},
		{"hostname", host},
		{"hostname_lookup", "true"},
		{"ip", ip},
		{"log_dir", "/var/log/mesos"},
		{"logging_level", "INFO"},
		{"max_agent_ping_timeouts", "5"},
		{"max_completed_frameworks", "50"},
		{"max_completed_tasks_per_framework", "1000"},
		{"port", strconv.Itoa(port)},
		{"quorum", strconv.Itoa(v.Masters()/2 + 1)},
		{"recovery_agent_removal_limit", "100%"},
		{"registry", "replicated_log"},
		{"registry_strict", "false"},
		{"user_sorter", "drf"},
		{"version", "false"},
		{"work_dir", "/var/lib/mesos"},
		{"zk_session_timeout", "10secs"},
	}
}
