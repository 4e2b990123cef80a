package mesos

import (
	"context"
	"time"

	gogotypes "github.com/gogo/protobuf/types"
	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"
)

// The operator calls. Every one blocks until the leading master answered or ctx ended, follows the
// leader (see roundTrip), and returns ctx.Err() when ctx ends first, otherwise an *Error.

// Version returns the leading master's version, e.g. "1.10.0" (GET_VERSION). Read-only.
func (c *Client) Version(ctx context.Context) (string, error) {
	r, err := c.get(ctx, calls.GetVersion())
	if err != nil {
		return "", err
	}
	v := r.GetGetVersion().GetVersionInfo()
	return v.GetVersion(), nil
}

// Agents returns the registered agents (GET_AGENTS); agents that are not registered (removed, gone,
// DOWN for maintenance) are not listed. Read-only.
func (c *Client) Agents(ctx context.Context) ([]Agent, error) {
	r, err := c.get(ctx, calls.GetAgents())
	if err != nil {
		return nil, err
	}
	return agentsFromProto(r.GetGetAgents()), nil
}

// Tasks returns the live tasks (GET_TASKS), including those on unreachable agents; completed tasks are
// left out. Read-only.
func (c *Client) Tasks(ctx context.Context) ([]Task, error) {
	r, err := c.get(ctx, calls.GetTasks())
	if err != nil {
		return nil, err
	}
	return tasksFromProto(r.GetGetTasks()), nil
}

// State returns agents, tasks and frameworks in one consistent snapshot (GET_STATE): the autoscaler's
// observe step. Read-only.
func (c *Client) State(ctx context.Context) (*State, error) {
	r, err := c.get(ctx, calls.GetState())
	if err != nil {
		return nil, err
	}
	return stateFromProto(r.GetGetState()), nil
}

// MaintenanceSchedule returns the maintenance windows (GET_MAINTENANCE_SCHEDULE); none when the
// schedule is empty. Read-only.
func (c *Client) MaintenanceSchedule(ctx context.Context) ([]Window, error) {
	r, err := c.get(ctx, calls.GetMaintenanceSchedule())
	if err != nil {
		return nil, err
	}
	return windowsFromProto(&r.GetGetMaintenanceSchedule().Schedule), nil
}

// MaintenanceStatus returns the machines in DRAINING and DOWN mode (GET_MAINTENANCE_STATUS). Read-only.
func (c *Client) MaintenanceStatus(ctx context.Context) (MaintenanceStatus, error) {
	r, err := c.get(ctx, calls.GetMaintenanceStatus())
	if err != nil {
		return MaintenanceStatus{}, err
	}
	return maintenanceStatusFromProto(&r.GetGetMaintenanceStatus().Status), nil
}

// UpdateMaintenanceSchedule REPLACES the whole schedule with windows (UPDATE_MAINTENANCE_SCHEDULE), so
// callers read, modify and write it back. Machines new to the schedule go DRAINING at once, machines
// left out go back UP. Idempotent. ErrBadRequest when a window has no machine, a machine appears twice,
// or a DOWN machine would be dropped (wire-facts §1.5).
func (c *Client) UpdateMaintenanceSchedule(ctx context.Context, windows []Window) error {
	return c.post(ctx, calls.UpdateMaintenanceSchedule(windowsToProto(windows)))
}

// StartMaintenance brings DRAINING machines DOWN (START_MAINTENANCE): the master shuts their agents
// down and removes them, and their tasks are LOST. ErrBadRequest when a machine is not in the schedule
// or not DRAINING (so a repeat of a successful call fails: not idempotent).
func (c *Client) StartMaintenance(ctx context.Context, machines []MachineID) error {
	return c.post(ctx, calls.StartMaintenance(machinesToProto(machines)...))
}

// StopMaintenance brings DOWN machines back UP and drops them from the schedule (STOP_MAINTENANCE).
// ErrBadRequest when a machine is not DOWN (so a repeat fails: not idempotent).
func (c *Client) StopMaintenance(ctx context.Context, machines []MachineID) error {
	return c.post(ctx, calls.StopMaintenance(machinesToProto(machines)...))
}

// DrainAgent starts draining an agent (DRAIN_AGENT, Mesos 1.9+, see SupportsDrainAgent): the master
// deactivates it and kills its tasks, each after at most maxGrace (a negative maxGrace leaves each task's
// own kill grace period); once no task is left the drain is DRAINED and, with markGone, the agent is
// removed for good. It does not wait for the drain. ErrBadRequest for an unknown agent, an agent in the
// maintenance schedule or without the AGENT_DRAINING capability (or a pre-1.9 master); ErrConflict while
// the agent is being marked gone. Not documented as idempotent: check Agent.Drain before repeating it.
func (c *Client) DrainAgent(ctx context.Context, agentID string, maxGrace time.Duration, markGone bool) error {
	call := calls.DrainAgent(mesoslib.AgentID{Value: agentID}, func(d *master.Call_DrainAgent) {
		// In the call max_grace_period is a google.protobuf.Duration ({"seconds","nanos"}), unlike the
		// DurationInfo that GET_AGENTS reports back (wire-facts §1.4).
		if maxGrace >= 0 {
			d.MaxGracePeriod = gogotypes.DurationProto(maxGrace)
		}
		gone := markGone
		d.MarkGone = &gone
	})
	return c.post(ctx, call)
}

// DeactivateAgent stops offers from an agent; its tasks keep running (DEACTIVATE_AGENT, Mesos 1.9+).
// Idempotent. ErrBadRequest for an unknown agent.
func (c *Client) DeactivateAgent(ctx context.Context, agentID string) error {
	return c.post(ctx, calls.DeactivateAgent(mesoslib.AgentID{Value: agentID}))
}

// ReactivateAgent resumes offers from a deactivated or DRAINED agent (REACTIVATE_AGENT, Mesos 1.9+).
// ErrBadRequest when the agent is unknown, not deactivated (so a repeat fails) or still DRAINING;
// ErrConflict when it was removed meanwhile.
func (c *Client) ReactivateAgent(ctx context.Context, agentID string) error {
	return c.post(ctx, calls.ReactivateAgent(mesoslib.AgentID{Value: agentID}))
}

// MarkAgentGone removes an agent for good (MARK_AGENT_GONE, Mesos 1.5+); its tasks end as
// TASK_GONE_BY_OPERATOR. Idempotent: an agent already gone succeeds. ErrNotFound for an agent the
// master never knew; ErrUnavailable while another removal of it is in progress.
func (c *Client) MarkAgentGone(ctx context.Context, agentID string) error {
	return c.post(ctx, calls.MarkAgentGone(mesoslib.AgentID{Value: agentID}))
}
