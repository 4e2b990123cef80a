package autoscaler

import (
	"context"
	"time"

	"github.com/marmot-project/marmot/policy"
)

// The loop's view of Mesos and Marathon: two small interfaces declared here, where they are used, and
// satisfied by adapters over the mesos and marathon clients (cmd/autoscaler) or by the simulator.
// Every method blocks until it has an answer or ctx ends, and then returns an error matching ctx.Err().

// Mesos is the part of the leading Mesos master the loop observes and drains agents through.
type Mesos interface {
	// State returns every registered agent of every pool, with its tasks, maintenance mode and drain
	// state, and every machine in the maintenance schedule. With fresh set it reads the leading master
	// now; otherwise it may answer from a cache that the master's event stream keeps current, as of
	// MesosState.Observed. Read-only.
	State(ctx context.Context, fresh bool) (MesosState, error)

	// Version returns the leading master's version, e.g. "1.10.0". Read-only.
	Version(ctx context.Context) (string, error)

	// MaintenanceSchedule returns the maintenance windows; none when the schedule is empty. Read-only.
	MaintenanceSchedule(ctx context.Context) ([]Window, error)

	// UpdateMaintenanceSchedule replaces the whole schedule with windows: callers read, modify and
	// write back. Machines new to the schedule go DRAINING at once, machines left out go back UP.
	// Idempotent. Fails when a window has no machine, a machine appears twice, or a DOWN machine would
	// be left out.
	UpdateMaintenanceSchedule(ctx context.Context, windows []Window) error

	// StartMaintenance brings DRAINING machines DOWN: the master shuts their agents down and removes
	// them, and their tasks are lost. Fails for a machine that is not DRAINING, so it is not
	// idempotent.
	StartMaintenance(ctx context.Context, machines []Machine) error

	// StopMaintenance brings DOWN machines UP and drops them from the schedule. Fails for a machine
	// that is not DOWN, so it is not idempotent.
	StopMaintenance(ctx context.Context, machines []Machine) error

	// DrainAgent starts a DRAIN_AGENT drain (Mesos 1.9+): the master deactivates the agent and kills
	// its tasks, each within its own kill grace period; the drain is DRAINED once none is left. The
	// agent is not marked gone, so that the drain can still be undone with ReactivateAgent. Fails for
	// an unknown agent, an agent in the maintenance schedule or one without the AGENT_DRAINING
	// capability. Not idempotent: check the agent's drain state first.
	DrainAgent(ctx context.Context, agentID string) error

	// ReactivateAgent resumes offers from a deactivated or DRAINED agent. Fails while the agent is
	// still DRAINING, and for an agent that is not deactivated (so a repeat fails).
	ReactivateAgent(ctx context.Context, agentID string) error

	// MarkAgentGone removes an agent for good; its tasks end as gone. Idempotent: an agent already
	// gone, or unknown, succeeds.
	MarkAgentGone(ctx context.Context, agentID string) error

	// Watch follows the master's event stream until ctx ends, calling changed (quickly, on Watch's
	// goroutine) whenever the master reports something a reconcile should look at: agents that come
	// or go, tasks that end, a new subscription. It reconnects by itself and returns only when ctx
	// ends.
	Watch(ctx context.Context, changed func()) error
}

// MesosState is what the loop reads of Mesos.
type MesosState struct {
	// Agents are the registered agents of every pool. Pool, Maintenance, Drain and the tasks' AppID
	// are filled in: a Marathon task's AppID is its app's id.
	Agents []policy.Agent
	// CanDrain holds the ids of the agents that advertise the AGENT_DRAINING capability.
	CanDrain map[string]bool
	// Machines are the machines in the maintenance schedule (DRAINING or DOWN), with or without an
	// agent; DOWN machines have none.
	Machines []MachineMode
	// AppLabels are the labels Mesos shows on each app's tasks (Marathon copies an app's labels onto
	// its tasks), by app id, for apps that Marathon's app list does not cover.
	AppLabels map[string]map[string]string
	// Observed is when this state was current.
	Observed time.Time
}

// Machine names a machine for maintenance. Mesos matches both fields against what the agent
// advertised, so they are always taken from Mesos itself, never from the cloud.
type Machine struct {
	Hostname string `json:"hostname"`
	IP       string `json:"ip"`
}

// MachineMode is a machine in the maintenance schedule and its mode.
type MachineMode struct {
	Machine
	Mode policy.MaintenanceMode `json:"mode"`
}

// Window is one maintenance window: the machines expected to be unavailable from Start for Duration.
type Window struct {
	Machines []Machine
	Start    time.Time
	// Duration is the window's length; a negative one means none was set (an open-ended window).
	Duration time.Duration
}

// Marathon is the part of Marathon the loop observes.
type Marathon interface {
	// Queue returns the apps with instances waiting to be launched, each with the offer rejection
	// summary and the app's constraints. Pods are left out. Read-only.
	Queue(ctx context.Context) ([]Waiting, error)

	// Apps returns every app with its labels. Read-only.
	Apps(ctx context.Context) ([]App, error)

	// Watch follows Marathon's event stream until ctx ends, calling changed (quickly, on Watch's
	// goroutine) whenever an event may have changed the launch queue: an app changed, a deployment
	// moved, a task ended, or the stream reconnected (events may have been missed). It reconnects by
	// itself and returns only when ctx ends.
	Watch(ctx context.Context, changed func()) error
}

// Waiting is a Marathon queue entry with what decides its pool.
type Waiting struct {
	policy.QueueEntry
	// Constraints are the app's Marathon constraints, e.g. [["pool","CLUSTER","batch"]].
	Constraints [][]string
}

// App is a Marathon app as the loop needs it: its id and labels.
type App struct {
	ID     string
	Labels map[string]string
}
