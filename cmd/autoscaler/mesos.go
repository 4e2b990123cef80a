package main

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/mesos"
	"github.com/marmot-project/marmot/policy"
)

// mesosSource adapts the mesos client to autoscaler.Mesos. It keeps the cluster (agents and tasks)
// current from the master's SUBSCRIBE stream, so that a reconcile triggered by an event need not
// read GET_STATE: at a thousand agents that is megabytes to decode, more than the second a scale-up
// may take. Reads asked for fresh, and any read while the stream is quiet, go to the master.
type mesosSource struct {
	c   *mesos.Client
	log *zap.Logger
	now func() time.Time

	mu    sync.Mutex
	cache *cluster // nil until the first full snapshot
}

var _ autoscaler.Mesos = (*mesosSource)(nil)

// streamTrustedFor is how long the cache is trusted after the stream last delivered a record. The
// master sends a heartbeat every 15 s (wire-facts §1.6), so a quieter stream has ended, and events
// may be lost until it resubscribes.
const streamTrustedFor = 20 * time.Second

func newMesosSource(c *mesos.Client, log *zap.Logger, now func() time.Time) *mesosSource {
	return &mesosSource{c: c, log: log, now: now}
}

// cluster is the cached state: agents and live tasks by id.
type cluster struct {
	agents map[string]mesos.Agent
	tasks  map[string]mesos.Task
	// overhead is, per agent, what is allocated beyond its tasks (executors): taken from the last
	// full view of the agent, so that allocation follows task events without losing it.
	overhead map[string]mesos.Resources
	seen     time.Time // when the stream last delivered a record, or the full read was made
	stream   bool      // seen counts: a subscription delivered the snapshot
}

func newCluster(st *mesos.State, at time.Time) *cluster {
	c := &cluster{agents: map[string]mesos.Agent{}, tasks: map[string]mesos.Task{}, overhead: map[string]mesos.Resources{}, seen: at}
	for _, t := range st.Tasks {
		if !terminal(t.State) {
			c.tasks[t.ID] = t
		}
	}
	for _, a := range st.Agents {
		c.putAgent(a)
	}
	return c
}

// putAgent adds or replaces an agent, with its allocation beyond its known tasks as overhead.
func (c *cluster) putAgent(a mesos.Agent) {
	c.agents[a.ID] = a
	var tasks mesos.Resources
	for _, t := range c.tasks {
		if t.AgentID == a.ID {
			tasks = tasks.Add(t.Resources)
		}
	}
	c.overhead[a.ID] = mesos.Resources{
		CPUs: max(0, a.Allocated.CPUs-tasks.CPUs), Mem: max(0, a.Allocated.Mem-tasks.Mem),
		Disk: max(0, a.Allocated.Disk-tasks.Disk), GPUs: max(0, a.Allocated.GPUs-tasks.GPUs),
	}
}

// apply folds one event into the cache and reports whether it deserves a reconcile: agents come and
// go, tasks end (a drain progresses, capacity frees, Marathon queues a replacement), a new
// subscription (events may have been missed).
func (s *mesosSource) apply(e mesos.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if e.Type == mesos.EventResync {
		s.cache = newCluster(e.State, now)
		s.cache.stream = true
		return true
	}
	c := s.cache
	if c == nil {
		return false
	}
	c.seen = now
	switch e.Type {
	case mesos.EventTaskAdded:
		if !terminal(e.Task.State) {
			c.tasks[e.Task.ID] = *e.Task
		}
	case mesos.EventTaskUpdated:
		t, known := c.tasks[e.Task.ID]
		if terminal(e.Task.State) {
			delete(c.tasks, e.Task.ID)
			return known
		}
		if known {
			t.State = e.Task.State
			c.tasks[t.ID] = t
		}
	case mesos.EventAgentAdded:
		c.putAgent(*e.Agent)
		return true
	case mesos.EventAgentRemoved:
		delete(c.agents, e.AgentID)
		for id, t := range c.tasks {
			if t.AgentID == e.AgentID {
				delete(c.tasks, id)
			}
		}
		return true
	}
	return false
}

// terminal reports whether a task state is final (TASK_UNREACHABLE is not: the task may come back).
func terminal(state string) bool {
	switch state {
	case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE",
		"TASK_GONE_BY_OPERATOR":
		return true
	}
	return false
}

// Watch implements autoscaler.Mesos.
func (s *mesosSource) Watch(ctx context.Context, changed func()) error {
	return s.c.Watch(ctx, func(e mesos.Event) {
		if s.apply(e) {
			changed()
		}
	})
}

// State implements autoscaler.Mesos: the cluster from the cache when the stream is live and fresh
// is not asked for, else from GET_STATE; the maintenance modes always from GET_MAINTENANCE_STATUS,
// which is small.
func (s *mesosSource) State(ctx context.Context, fresh bool) (autoscaler.MesosState, error) {
	if fresh || !s.streaming() {
		at := s.now()
		st, err := s.c.State(ctx)
		if err != nil {
			return autoscaler.MesosState{}, err
		}
		s.mu.Lock()
		stream := s.cache != nil && s.cache.stream
		s.cache = newCluster(st, at)
		s.cache.stream = stream
		s.mu.Unlock()
	}
	status, err := s.c.MaintenanceStatus(ctx)
	if err != nil {
		return autoscaler.MesosState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache.view(status), nil
}

// view turns the cache and the maintenance status into the loop's state.
func (c *cluster) view(status mesos.MaintenanceStatus) autoscaler.MesosState {
	modes := map[string]policy.MaintenanceMode{}
	st := autoscaler.MesosState{CanDrain: map[string]bool{}, AppLabels: map[string]map[string]string{}, Observed: c.seen}
	for _, m := range status.Draining {
		modes[machineKey(m.Machine)] = policy.MaintenanceDraining
		st.Machines = append(st.Machines, autoscaler.MachineMode{Machine: machine(m.Machine), Mode: policy.MaintenanceDraining})
	}
	for _, m := range status.Down {
		modes[machineKey(m)] = policy.MaintenanceDown
		st.Machines = append(st.Machines, autoscaler.MachineMode{Machine: machine(m), Mode: policy.MaintenanceDown})
	}
	byAgent := map[string][]policy.Task{}
	used := map[string]mesos.Resources{}
	// In id order, so that equal clusters give equal snapshots, and equal plans.
	for _, id := range slices.Sorted(maps.Keys(c.tasks)) {
		t := c.tasks[id]
		app := marathonAppID(t.ID)
		byAgent[t.AgentID] = append(byAgent[t.AgentID], policy.Task{AppID: app, Resources: resources(t.Resources)})
		used[t.AgentID] = used[t.AgentID].Add(t.Resources)
		if _, ok := st.AppLabels[app]; !ok && len(t.Labels) > 0 {
			st.AppLabels[app] = t.Labels
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.agents)) {
		a := c.agents[id]
		pa := policy.Agent{
			ID: a.ID, Hostname: a.Hostname, IP: a.IP, Pool: a.Pool, Total: resources(a.Total),
			Allocated: resources(c.overhead[a.ID].Add(used[a.ID])), Active: a.Active, Deactivated: a.Deactivated,
			Maintenance: modes[machineKey(a.Machine())], RegisteredAt: a.RegisteredAt, Tasks: byAgent[a.ID],
			Attributes: a.Attributes,
		}
		if a.Drain != nil {
			pa.Drain = policy.DrainState(a.Drain.State)
		}
		st.Agents = append(st.Agents, pa)
		st.CanDrain[a.ID] = a.CanDrain()
	}
	return st
}

func resources(r mesos.Resources) policy.Resources {
	return policy.Resources{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
}

func machine(m mesos.MachineID) autoscaler.Machine {
	return autoscaler.Machine{Hostname: m.Hostname, IP: m.IP}
}

func machines(ms []autoscaler.Machine) []mesos.MachineID {
	out := make([]mesos.MachineID, len(ms))
	for i, m := range ms {
		out[i] = mesos.MachineID{Hostname: m.Hostname, IP: m.IP}
	}
	return out
}

// machineKey identifies a machine as the master does: hostname in any case, and IP.
func machineKey(m mesos.MachineID) string { return strings.ToLower(m.Hostname) + "|" + m.IP }

// marathonAppID returns the Marathon app id of a task id: Marathon names tasks after their app, with
// '/' turned into '_' (app ids cannot contain '_'), then ".<uuid>", or ".instance-<uuid>._app.<n>"
// since Marathon 1.5. "data_etl.4f1c…" is "/data/etl". Tasks of other frameworks come out as
// whatever their ids say; they match no Marathon app and keep their Mesos labels.
func marathonAppID(taskID string) string {
	base, _, found := strings.Cut(taskID, ".instance-")
	if !found {
		if i := strings.LastIndexByte(taskID, '.'); i > 0 {
			base = taskID[:i]
		}
	}
	return "/" + strings.ReplaceAll(base, "_", "/")
}

// streaming reports whether the event stream keeps the cache current, so that reads need not go to
// the master.
func (s *mesosSource) streaming() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache != nil && s.cache.stream && s.now().Sub(s.cache.seen) < streamTrustedFor
}

// Version implements autoscaler.Mesos.
func (s *mesosSource) Version(ctx context.Context) (string, error) { return s.c.Version(ctx) }

// MaintenanceSchedule implements autoscaler.Mesos.
func (s *mesosSource) MaintenanceSchedule(ctx context.Context) ([]autoscaler.Window, error) {
	ws, err := s.c.MaintenanceSchedule(ctx)
	out := make([]autoscaler.Window, len(ws))
	for i, w := range ws {
		out[i] = autoscaler.Window{Start: w.Start, Duration: w.Duration}
		for _, m := range w.Machines {
			out[i].Machines = append(out[i].Machines, machine(m))
		}
	}
	return out, err
}

// UpdateMaintenanceSchedule implements autoscaler.Mesos.
func (s *mesosSource) UpdateMaintenanceSchedule(ctx context.Context, windows []autoscaler.Window) error {
	ws := make([]mesos.Window, len(windows))
	for i, w := range windows {
		ws[i] = mesos.Window{Machines: machines(w.Machines), Start: w.Start, Duration: w.Duration}
	}
	return s.c.UpdateMaintenanceSchedule(ctx, ws)
}

// StartMaintenance implements autoscaler.Mesos.
func (s *mesosSource) StartMaintenance(ctx context.Context, ms []autoscaler.Machine) error {
	return s.c.StartMaintenance(ctx, machines(ms))
}

// StopMaintenance implements autoscaler.Mesos.
func (s *mesosSource) StopMaintenance(ctx context.Context, ms []autoscaler.Machine) error {
	return s.c.StopMaintenance(ctx, machines(ms))
}

// DrainAgent implements autoscaler.Mesos. The event stream does not report drain states, so the
// cache learns this one from the call: the next reconcile must not drain the agent a second time.
func (s *mesosSource) DrainAgent(ctx context.Context, agentID string) error {
	// A negative grace leaves each task its own kill grace period; mark_gone stays off so that the
	// drain can be undone once DRAINED (wire-facts §1.5).
	if err := s.c.DrainAgent(ctx, agentID, -1, false); err != nil {
		return err
	}
	s.patchAgent(agentID, func(a *mesos.Agent) {
		a.Active, a.Deactivated, a.Drain = false, true, &mesos.Drain{State: mesos.DrainDraining}
	})
	return nil
}

// ReactivateAgent implements autoscaler.Mesos, and updates the cache as DrainAgent does.
func (s *mesosSource) ReactivateAgent(ctx context.Context, agentID string) error {
	if err := s.c.ReactivateAgent(ctx, agentID); err != nil {
		return err
	}
	s.patchAgent(agentID, func(a *mesos.Agent) { a.Active, a.Deactivated, a.Drain = true, false, nil })
	return nil
}

// MarkAgentGone implements autoscaler.Mesos; an agent the master does not know is gone already.
func (s *mesosSource) MarkAgentGone(ctx context.Context, agentID string) error {
	err := s.c.MarkAgentGone(ctx, agentID)
	if errors.Is(err, mesos.ErrNotFound) {
		err = nil
	}
	return err
}

func (s *mesosSource) patchAgent(id string, fn func(*mesos.Agent)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		return
	}
	if a, ok := s.cache.agents[id]; ok {
		fn(&a)
		s.cache.agents[id] = a
	}
}
