package mesosapi

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// The v1 shapes of agents, tasks, resources and maintenance objects (master.proto, mesos.proto), with
// the field names and nesting of the upstream examples in fixtures/mesos/operator-v1 and derived/.

// scalarValue rounds a scalar resource the way Mesos stores it: fixed point with three decimals, so
// float drift from many adds and subtracts never shows (0.30000000000000004 is 0.3).
func scalarValue(f float64) float64 { return math.Round(f*1000) / 1000 }

// resourceShape is what a resource list shows of an agent's or a task's resources.
type resourceShape struct {
	scalars simulate.Resources
	ranges  []simulate.PortRange // an agent's port ranges
	ports   []uint64             // single ports that tasks hold, in ascending order
	role    string               // "*" unless the agent's resources are reserved for a role
}

func (r resourceShape) hasPorts() bool { return len(r.ranges)+len(r.ports) > 0 }

// eachRange calls fn for every port range of r, merging neighbouring single ports.
func (r resourceShape) eachRange(fn func(begin, end uint64)) {
	for _, p := range r.ranges {
		fn(p.Begin, p.End)
	}
	for i := 0; i < len(r.ports); {
		begin, end := r.ports[i], r.ports[i]
		for i++; i < len(r.ports) && r.ports[i] <= end+1; i++ {
			end = max(end, r.ports[i])
		}
		fn(begin, end)
	}
}

// resources writes a Resource list: cpus, mem, disk, gpus as SCALAR (zero amounts are left out, as
// Mesos never keeps empty resources) and ports as RANGES.
func (j *jsonWriter) resources(k string, r resourceShape) {
	j.array(k)
	j.resourceItems(r)
	j.endArray()
}

// resourceItems writes the elements of a Resource list, inside an array the caller opened.
func (j *jsonWriter) resourceItems(r resourceShape) {
	j.scalarResource("cpus", r.scalars.CPUs, r.role)
	j.scalarResource("mem", r.scalars.Mem, r.role)
	j.scalarResource("disk", r.scalars.Disk, r.role)
	j.scalarResource("gpus", r.scalars.GPUs, r.role)
	if r.hasPorts() {
		j.beginObject()
		j.field("name", "ports")
		j.field("type", "RANGES")
		j.object("ranges")
		j.array("range")
		r.eachRange(func(begin, end uint64) {
			j.beginObject()
			j.intField("begin", int64(begin))
			j.intField("end", int64(end))
			j.endObject()
		})
		j.endArray()
		j.endObject()
		j.role(r.role)
		j.endObject()
	}
}

func (j *jsonWriter) scalarResource(name string, amount float64, role string) {
	amount = scalarValue(amount)
	if amount <= 0 {
		return
	}
	j.beginObject()
	j.field("name", name)
	j.field("type", "SCALAR")
	j.object("scalar")
	j.numField("value", amount)
	j.endObject()
	j.role(role)
	j.endObject()
}

// role writes the (deprecated but still reported) role of a resource and, for reserved resources, the
// reservation that Mesos ≥1.4 adds.
func (j *jsonWriter) role(role string) {
	j.field("role", role)
	if role == "*" {
		return
	}
	j.array("reservations")
	j.beginObject()
	j.field("type", "STATIC")
	j.field("role", role)
	j.endObject()
	j.endArray()
}

func agentRole(a *simulate.Agent) string {
	if a.Role == "" {
		return "*"
	}
	return a.Role
}

// sortedPorts returns ports in ascending order; when they need sorting, the result lives in the
// writer's scratch space and is valid until the next call that uses it.
func (j *jsonWriter) sortedPorts(ports []uint64) []uint64 {
	if slices.IsSorted(ports) {
		return ports
	}
	j.scratch = append(j.scratch[:0], ports...)
	slices.Sort(j.scratch)
	return j.scratch
}

// heldPorts returns the ports a set of tasks hold, sorted, in the writer's scratch space (valid until
// the next call that uses it).
func (j *jsonWriter) heldPorts(tasks []*simulate.Task) []uint64 {
	j.scratch = j.scratch[:0]
	for _, t := range tasks {
		j.scratch = append(j.scratch, t.Ports...)
	}
	slices.Sort(j.scratch)
	return j.scratch
}

// agentFacts is what rendering an agent needs besides the agent.
type agentFacts struct {
	drainAPI bool // Mesos ≥1.9 reports deactivated, drain_info and estimated_drain_start_time
	// drainStart is estimated_drain_start_time: the start of the agent's maintenance window, or when
	// DRAIN_AGENT began. Zero when neither applies. (How Mesos estimates it is our inference.)
	drainStart time.Time
}

// agent writes a GetAgents.Agent.
func (j *jsonWriter) agent(a *simulate.Agent, f agentFacts) {
	role := agentRole(a)
	j.beginObject()
	j.object("agent_info")
	j.field("hostname", a.Hostname)
	j.intField("port", int64(a.Port))
	j.idField("id", a.ID)
	j.resources("resources", resourceShape{scalars: a.Total, ranges: a.Ports, role: role})
	j.attributes(a.Attributes)
	j.endObject()
	j.boolField("active", a.Active)
	if f.drainAPI {
		j.boolField("deactivated", a.Deactivated)
	}
	j.field("version", a.Version)
	j.field("pid", a.PID())
	j.timeField("registered_time", a.RegisteredAt)
	j.resources("total_resources", resourceShape{scalars: a.Total, ranges: a.Ports, role: role})
	j.resources("allocated_resources", resourceShape{scalars: a.Allocated, ports: j.heldPorts(a.Tasks()), role: role})
	j.emptyArray("offered_resources")
	j.array("capabilities")
	for _, c := range a.Capabilities {
		j.beginObject()
		j.field("type", c)
		j.endObject()
	}
	j.endArray()
	if f.drainAPI && a.Drain != nil {
		j.drainInfo(a.Drain)
	}
	if f.drainAPI && !f.drainStart.IsZero() {
		j.timeField("estimated_drain_start_time", f.drainStart)
	}
	j.endObject()
}

// drainInfo writes drain_info. max_grace_period is a DurationInfo here ({nanoseconds}), although the
// DRAIN_AGENT request carried a google.protobuf.Duration.
func (j *jsonWriter) drainInfo(d *simulate.DrainInfo) {
	j.object("drain_info")
	j.field("state", string(d.State))
	j.object("config")
	if d.MaxGracePeriod != nil {
		j.nanosField("max_grace_period", int64(*d.MaxGracePeriod))
	}
	j.boolField("mark_gone", d.MarkGone)
	j.endObject()
	j.endObject()
}

// attributes writes agent attributes: TEXT, or SCALAR for numeric values (Mesos parses `pool:1` as
// the number 1).
func (j *jsonWriter) attributes(attrs []simulate.Attribute) {
	j.array("attributes")
	for _, a := range attrs {
		j.beginObject()
		j.field("name", a.Name)
		if a.Scalar != nil {
			j.field("type", "SCALAR")
			j.object("scalar")
			j.numField("value", *a.Scalar)
		} else {
			j.field("type", "TEXT")
			j.object("text")
			j.field("value", a.Text)
		}
		j.endObject()
		j.endObject()
	}
	j.endArray()
}

// machine writes a MachineID, leaving out the half that was not given.
func (j *jsonWriter) machine(m simulate.MachineID) {
	j.beginObject()
	if m.Hostname != "" {
		j.field("hostname", m.Hostname)
	}
	if m.IP != "" {
		j.field("ip", m.IP)
	}
	j.endObject()
}

// schedule writes a maintenance.Schedule: {} when empty, as Mesos does.
func (j *jsonWriter) schedule(windows []simulate.MaintenanceWindow) {
	j.beginObject()
	if len(windows) > 0 {
		j.array("windows")
		for _, w := range windows {
			j.beginObject()
			j.array("machine_ids")
			for _, m := range w.Machines {
				j.machine(m)
			}
			j.endArray()
			j.object("unavailability")
			j.timeField("start", w.Start)
			if w.Duration > 0 {
				j.nanosField("duration", int64(w.Duration))
			}
			j.endObject()
			j.endObject()
		}
		j.endArray()
	}
	j.endObject()
}

// clusterStatus writes a maintenance.ClusterStatus. Marathon does not answer inverse offers, so a
// draining machine carries no statuses.
func (j *jsonWriter) clusterStatus(draining, down []simulate.MachineID) {
	j.beginObject()
	if len(draining) > 0 {
		j.array("draining_machines")
		for _, m := range draining {
			j.beginObject()
			j.key("id")
			j.machine(m)
			j.endObject()
		}
		j.endArray()
	}
	if len(down) > 0 {
		j.array("down_machines")
		for _, m := range down {
			j.machine(m)
		}
		j.endArray()
	}
	j.endObject()
}

// drainStarts maps each scheduled machine to the start of its maintenance window.
func drainStarts(windows []simulate.MaintenanceWindow) map[simulate.MachineID]time.Time {
	if len(windows) == 0 {
		return nil
	}
	out := map[simulate.MachineID]time.Time{}
	for _, w := range windows {
		for _, m := range w.Machines {
			out[machineKey(m)] = w.Start
		}
	}
	return out
}

// machineKey is how Mesos matches machines: hostname case-insensitively, IP exactly.
func machineKey(m simulate.MachineID) simulate.MachineID {
	return simulate.MachineID{Hostname: strings.ToLower(m.Hostname), IP: m.IP}
}

// agentDrainStart is an agent's estimated_drain_start_time (zero when none).
func agentDrainStart(a *simulate.Agent, starts map[simulate.MachineID]time.Time) time.Time {
	if a.Drain != nil && a.Drain.State == simulate.DrainDraining {
		return a.Drain.StartedAt
	}
	if start, ok := starts[machineKey(a.Machine())]; ok {
		return start
	}
	return time.Time{}
}
