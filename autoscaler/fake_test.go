package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/marmot-project/marmot/policy"
)

// callLog is one ordered record of the calls made to every fake, so that tests can check the order
// across Mesos and the cloud.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (c *callLog) add(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, fmt.Sprintf(format, args...))
}

func (c *callLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

func (c *callLog) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

// fakeMesos is a stateful Mesos master: agents, the maintenance schedule with Mesos's rules for it,
// DRAIN_AGENT, reactivation and removal. It records every call in log and injects errors.
type fakeMesos struct {
	mu       sync.Mutex
	log      *callLog
	now      func() time.Time
	version  string
	agents   []policy.Agent
	canDrain map[string]bool
	windows  []Window
	down     map[string]bool // machineKey → DOWN
	fail     map[string][]error
	// onState runs before every State call, with the lock held: tests change the world between the
	// first look and the re-check with it.
	onState func(f *fakeMesos, fresh bool)
}

var _ Mesos = (*fakeMesos)(nil)

func newFakeMesos(log *callLog, now func() time.Time) *fakeMesos {
	return &fakeMesos{log: log, now: now, version: "1.10.0", canDrain: map[string]bool{}, down: map[string]bool{}, fail: map[string][]error{}}
}

// failNext makes the next calls named call return errs in turn.
func (f *fakeMesos) failNext(call string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[call] = append(f.fail[call], errs...)
}

func (f *fakeMesos) injected(call string) error {
	if q := f.fail[call]; len(q) > 0 {
		f.fail[call] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeMesos) agentIndex(id string) int {
	return slices.IndexFunc(f.agents, func(a policy.Agent) bool { return a.ID == id })
}

// agent returns a copy of the agent with this id.
func (f *fakeMesos) agent(id string) (policy.Agent, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.agentIndex(id); i >= 0 {
		return f.agents[i], true
	}
	return policy.Agent{}, false
}

// setTasks replaces an agent's tasks and its allocation with theirs.
func (f *fakeMesos) setTasks(id string, tasks ...policy.Task) {
	f.mu.Lock()
	defer f.mu.Unlock()
	setTasks(&f.agents[f.agentIndex(id)], tasks)
}

func setTasks(a *policy.Agent, tasks []policy.Task) {
	a.Tasks = tasks
	a.Allocated = policy.Resources{}
	for _, t := range tasks {
		a.Allocated = a.Allocated.Add(t.Resources)
	}
	if len(tasks) == 0 && a.Drain == policy.DrainStateDraining {
		a.Drain = policy.DrainStateDrained
	}
}

// mode returns a machine's maintenance mode.
func (f *fakeMesos) mode(m Machine) policy.MaintenanceMode {
	if f.down[machineKey(m)] {
		return policy.MaintenanceDown
	}
	if scheduledMachines(f.windows)[machineKey(m)] {
		return policy.MaintenanceDraining
	}
	return policy.MaintenanceUp
}

// schedule returns the machines in the schedule.
func (f *fakeMesos) schedule() []MachineMode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.machinesLocked()
}

func (f *fakeMesos) machinesLocked() []MachineMode {
	var out []MachineMode
	for _, w := range f.windows {
		for _, m := range w.Machines {
			out = append(out, MachineMode{Machine: m, Mode: f.mode(m)})
		}
	}
	return out
}

func (f *fakeMesos) State(ctx context.Context, fresh bool) (MesosState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.onState != nil {
		f.onState(f, fresh)
	}
	f.log.add("mesos.State")
	if err := f.injected("State"); err != nil {
		return MesosState{}, err
	}
	st := MesosState{CanDrain: map[string]bool{}, Observed: f.now(), Machines: f.machinesLocked()}
	for _, a := range f.agents {
		a.Tasks = slices.Clone(a.Tasks)
		a.Maintenance = f.mode(Machine{Hostname: a.Hostname, IP: a.IP})
		st.Agents = append(st.Agents, a)
		st.CanDrain[a.ID] = f.canDrain[a.ID]
	}
	return st, nil
}

func (f *fakeMesos) Version(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("mesos.Version")
	return f.version, f.injected("Version")
}

func (f *fakeMesos) MaintenanceSchedule(ctx context.Context) ([]Window, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("mesos.MaintenanceSchedule")
	out := make([]Window, len(f.windows))
	for i, w := range f.windows {
		w.Machines = slices.Clone(w.Machines)
		out[i] = w
	}
	return out, f.injected("MaintenanceSchedule")
}

func (f *fakeMesos) UpdateMaintenanceSchedule(ctx context.Context, windows []Window) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, w := range windows {
		for _, m := range w.Machines {
			names = append(names, m.Hostname+"/"+m.IP)
		}
	}
	f.log.add("mesos.UpdateMaintenanceSchedule %s", strings.Join(names, ","))
	if err := f.injected("UpdateMaintenanceSchedule"); err != nil {
		return err
	}
	in := scheduledMachines(windows)
	for _, w := range windows {
		if len(w.Machines) == 0 {
			return errors.New("400: window has no machine")
		}
	}
	for key := range f.down {
		if !in[key] {
			return errors.New("400: a DOWN machine cannot leave the schedule")
		}
	}
	f.windows = windows
	return nil
}

func (f *fakeMesos) StartMaintenance(ctx context.Context, machines []Machine) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("mesos.StartMaintenance %s/%s", machines[0].Hostname, machines[0].IP)
	if err := f.injected("StartMaintenance"); err != nil {
		return err
	}
	for _, m := range machines {
		if f.mode(m) != policy.MaintenanceDraining {
			return fmt.Errorf("400: machine %s is not in DRAINING mode", machineKey(m))
		}
	}
	for _, m := range machines {
		f.down[machineKey(m)] = true
		f.agents = slices.DeleteFunc(f.agents, func(a policy.Agent) bool { return machineKey(Machine{a.Hostname, a.IP}) == machineKey(m) })
	}
	return nil
}

func (f *fakeMesos) StopMaintenance(ctx context.Context, machines []Machine) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("mesos.StopMaintenance %s/%s", machines[0].Hostname, machines[0].IP)
	if err := f.injected("StopMaintenance"); err != nil {
		return err
	}
	for _, m := range machines {
		if !f.down[machineKey(m)] {
			return fmt.Errorf("400: machine %s is not DOWN", machineKey(m))
		}
	}
	for _, m := range machines {
		delete(f.down, machineKey(m))
		for i := range f.windows {
			f.windows[i].Machines = slices.DeleteFunc(f.windows[i].Machines, func(w Machine) bool { return machineKey(w) == machineKey(m) })
		}
		f.windows = slices.DeleteFunc(f.windows, func(w Window) bool { return len(w.Machines) == 0 })
	}
	return nil
}

func (f *fakeMesos) DrainAgent(ctx context.Context, agentID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("mesos.DrainAgent %s", agentID)
	if err := f.injected("DrainAgent"); err != nil {
		return err
	}
	i := f.agentIndex(agentID)
	switch {
	case i < 0:
		return errors.New("400: unknown agent")
	case !f.canDrain[agentID]:
		return errors.New("400: agent lacks AGENT_DRAINING")
	case f.mode(Machine{f.agents[i].Hostname, f.agents[i].IP}) != policy.MaintenanceUp:
		return errors.New("400: agent is in the maintenance schedule")
	case f.agents[i].Drain != "":
		return errors.New("400: agent is already draining")
	}
	a := &f.agents[i]
	a.Active, a.Deactivated, a.Drain = false, true, policy.DrainStateDraining
	if len(a.Tasks) == 0 {
		a.Drain = policy.DrainStateDrained
	}
	return nil
}

func (f *fakeMesos) ReactivateAgent(ctx context.Context, agentID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("mesos.ReactivateAgent %s", agentID)
	if err := f.injected("ReactivateAgent"); err != nil {
		return err
	}
	i := f.agentIndex(agentID)
	switch {
	case i < 0:
		return errors.New("409: agent removed")
	case !f.agents[i].Deactivated:
		return errors.New("400: agent is not deactivated")
	case f.agents[i].Drain == policy.DrainStateDraining:
		return errors.New("400: agent is still in the DRAINING state")
	}
	a := &f.agents[i]
	a.Active, a.Deactivated, a.Drain = true, false, ""
	return nil
}

func (f *fakeMesos) MarkAgentGone(ctx context.Context, agentID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("mesos.MarkAgentGone %s", agentID)
	if err := f.injected("MarkAgentGone"); err != nil {
		return err
	}
	f.agents = slices.DeleteFunc(f.agents, func(a policy.Agent) bool { return a.ID == agentID })
	return nil
}

func (f *fakeMesos) Watch(ctx context.Context, changed func()) error {
	<-ctx.Done()
	return ctx.Err()
}

// fakeMarathon serves a queue and apps.
type fakeMarathon struct {
	mu      sync.Mutex
	log     *callLog
	queue   []Waiting
	apps    []App
	fail    map[string][]error
	watches chan func() // receives each Watch's changed callback
}

var _ Marathon = (*fakeMarathon)(nil)

func newFakeMarathon(log *callLog) *fakeMarathon {
	return &fakeMarathon{log: log, fail: map[string][]error{}, watches: make(chan func(), 4)}
}

func (f *fakeMarathon) setQueue(q ...Waiting) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = q
}

func (f *fakeMarathon) Queue(ctx context.Context) ([]Waiting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("marathon.Queue")
	if q := f.fail["Queue"]; len(q) > 0 {
		f.fail["Queue"] = q[1:]
		return nil, q[0]
	}
	return slices.Clone(f.queue), nil
}

func (f *fakeMarathon) Apps(ctx context.Context) ([]App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("marathon.Apps")
	return slices.Clone(f.apps), nil
}

func (f *fakeMarathon) Watch(ctx context.Context, changed func()) error {
	select {
	case f.watches <- changed:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
