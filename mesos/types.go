package mesos

import (
	"strconv"
	"strings"
	"time"
)

// DefaultPool is the pool of an agent without a `pool` attribute (DESIGN.md "Names on the outside").
const DefaultPool = "default"

// PoolAttribute is the agent attribute that names an agent's pool.
const PoolAttribute = "pool"

// Resources are the scalar resources Marmot plans with. Mem and Disk are in MB, as Mesos counts them.
type Resources struct {
	CPUs float64
	Mem  float64
	Disk float64
	GPUs float64
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{CPUs: r.CPUs + o.CPUs, Mem: r.Mem + o.Mem, Disk: r.Disk + o.Disk, GPUs: r.GPUs + o.GPUs}
}

// DrainState is the state of a DRAIN_AGENT drain (Mesos 1.9+).
type DrainState string

// Drain states as the master reports them in drain_info.state.
const (
	DrainDraining DrainState = "DRAINING"
	DrainDrained  DrainState = "DRAINED"
)

// Drain is an agent's drain_info: how far a DRAIN_AGENT has come and how it was asked for.
type Drain struct {
	State DrainState
	// MaxGracePeriod caps each task's kill grace period; nil when the drain set none.
	MaxGracePeriod *time.Duration
	// MarkGone means the master removes the agent for good once it is DRAINED.
	MarkGone bool
}

// Agent is a registered Mesos agent as GET_AGENTS reports it.
type Agent struct {
	ID       string
	Hostname string
	// IP is taken from the agent's libprocess pid ("slave(1)@10.0.0.5:5051"), the address the agent really
	// advertises: maintenance MachineIDs must carry it, and Marmot maps agents to EC2 instances by it
	// (wire-facts §1.8). Empty when the master reported no pid.
	IP   string
	Port int
	// Attributes holds every attribute formatted as the v0 endpoints print it: TEXT as is, SCALAR as a
	// number ("1", "2.5"), RANGES as "[a-b,c-d]", SET as "{x,y}". Mesos turns `pool:1` into a SCALAR
	// (wire-facts §1.4), so a numeric pool name still reads "1" here.
	Attributes map[string]string
	// Pool is the `pool` attribute, DefaultPool when there is none.
	Pool      string
	Total     Resources
	Allocated Resources
	// Active is false while the agent is deactivated, draining or disconnected.
	Active      bool
	Deactivated bool
	// Drain is nil unless a DRAIN_AGENT is in progress or done.
	Drain        *Drain
	RegisteredAt time.Time
	Version      string
	Capabilities []string
}

// Machine is the maintenance MachineID of the agent's machine.
func (a Agent) Machine() MachineID { return MachineID{Hostname: a.Hostname, IP: a.IP} }

// HasCapability reports whether the agent advertised capability c (e.g. "AGENT_DRAINING").
func (a Agent) HasCapability(c string) bool {
	for _, x := range a.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// CanDrain reports whether DRAIN_AGENT can be used on this agent: the master answers 400 for agents
// without the AGENT_DRAINING capability (wire-facts §1.5).
func (a Agent) CanDrain() bool { return a.HasCapability("AGENT_DRAINING") }

// Task is a Mesos task.
type Task struct {
	ID          string
	Name        string
	FrameworkID string
	AgentID     string
	// State is the Mesos task state name, e.g. "TASK_RUNNING".
	State     string
	Resources Resources
	Labels    map[string]string
}

// Framework is a framework registered with the master.
type Framework struct {
	ID        string
	Name      string
	Roles     []string
	Active    bool
	Connected bool
}

// State is one consistent snapshot of the cluster as GET_STATE (or a SUBSCRIBED event) reports it.
type State struct {
	Agents []Agent
	// Tasks are the live tasks, including those on unreachable agents (state TASK_UNREACHABLE);
	// completed tasks are left out.
	Tasks      []Task
	Frameworks []Framework
}

// MachineID names a machine for maintenance. The master matches both fields against what the agent
// advertised (hostname case-insensitively), so use Agent.Machine (wire-facts §1.5).
type MachineID struct {
	Hostname string
	IP       string
}

// Window is one maintenance window: the machines expected to be unavailable from Start for Duration.
type Window struct {
	Machines []MachineID
	Start    time.Time
	// Duration is the length of the window; a negative Duration means none was set, which Mesos reads
	// as an open-ended window.
	Duration time.Duration
}

// InverseOfferStatus is a framework's latest answer to an inverse offer for a draining machine.
type InverseOfferStatus struct {
	FrameworkID string
	// Status is "UNKNOWN", "ACCEPT" or "DECLINE".
	Status string
	At     time.Time
}

// DrainingMachine is a machine in maintenance mode DRAINING.
type DrainingMachine struct {
	Machine  MachineID
	Statuses []InverseOfferStatus
}

// MaintenanceStatus lists the machines in maintenance: DRAINING ones (scheduled, still running) and
// DOWN ones (START_MAINTENANCE brought them down). Machines not listed are UP.
type MaintenanceStatus struct {
	Draining []DrainingMachine
	Down     []MachineID
}

// SupportsDrainAgent reports whether a master of this version ("1.10.0") has DRAIN_AGENT,
// DEACTIVATE_AGENT and REACTIVATE_AGENT, which arrived in Mesos 1.9.0 (wire-facts §1.3). An unparsable
// version reports false, so that callers fall back to the maintenance primitives every 1.x master has.
func SupportsDrainAgent(version string) bool {
	major, minor, ok := majorMinor(version)
	return ok && (major > 1 || (major == 1 && minor >= 9))
}

func majorMinor(version string) (major, minor int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(strings.TrimSpace(version), "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.SplitN(parts[1], "-", 2)[0])
	return major, minor, err1 == nil && err2 == nil && major >= 0 && minor >= 0
}
