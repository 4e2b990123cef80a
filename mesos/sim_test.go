package mesos

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/mesosapi"
	"go.uber.org/zap/zaptest"
)

// These tests run the client against the simulator's Mesos face: several masters, each an httptest
// server with mesosapi.New over one world of the "small" scenario (3 agents, one ASG), in virtual time.

type simCluster struct {
	t     *testing.T
	world *simulate.World
	clock *simulate.VirtualClock
	urls  []string // master i's base URL
}

func newSimCluster(t *testing.T, masters int, opts ...mesosapi.Option) *simCluster {
	t.Helper()
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	sc.Mesos.Masters = masters
	clock := simulate.NewVirtualClock(sc.StartTime())
	w, err := simulate.New(sc, clock, simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The masters' addresses must be known before their handlers are made: each names the others in
	// its redirects.
	servers := make([]*httptest.Server, masters)
	hosts := make([]string, masters)
	for i := range servers {
		servers[i] = httptest.NewUnstartedServer(nil)
		hosts[i] = servers[i].Listener.Addr().String()
	}
	c := &simCluster{t: t, world: w, clock: clock}
	opts = append([]mesosapi.Option{mesosapi.WithLogger(zaptest.NewLogger(t).Named("sim"))}, opts...)
	for i, s := range servers {
		s.Config.Handler = mesosapi.New(w, i, hosts, opts...)
		s.Start()
		t.Cleanup(s.Close)
		c.urls = append(c.urls, s.URL)
	}
	return c
}

// advance moves virtual time on by d and lets the world catch up.
func (c *simCluster) advance(d time.Duration) {
	c.clock.Advance(d)
	c.world.Step()
}

func (c *simCluster) setLeader(i int) {
	c.t.Helper()
	if err := c.world.SetMesosLeader(i); err != nil {
		c.t.Fatal(err)
	}
}

// modelAgents is what the world itself says about its agents, by ID.
func (c *simCluster) modelAgents() map[string]simulate.Agent {
	out := map[string]simulate.Agent{}
	c.world.View(func(v *simulate.View) {
		for _, a := range v.Agents() {
			out[a.ID] = *a
		}
	})
	return out
}

func (c *simCluster) modelTasks() map[string]simulate.Task {
	out := map[string]simulate.Task{}
	c.world.View(func(v *simulate.View) {
		for _, a := range v.Agents() {
			for _, t := range a.Tasks() {
				out[t.ID] = *t
			}
		}
	})
	return out
}

func sameResources(a Resources, b simulate.Resources) bool {
	return a == Resources{CPUs: b.CPUs, Mem: b.Mem, Disk: b.Disk, GPUs: b.GPUs}
}

func TestSimEveryReadCall(t *testing.T) {
	sim := newSimCluster(t, 2)
	c := newTestClient(t, Config{URLs: sim.urls})
	ctx := context.Background()

	v, err := c.Version(ctx)
	if err != nil || v != "1.10.0" || !SupportsDrainAgent(v) {
		t.Fatalf("Version = %q, %v", v, err)
	}

	agents, err := c.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	model := sim.modelAgents()
	if len(agents) != len(model) || len(agents) != 3 {
		t.Fatalf("%d agents, the model has %d", len(agents), len(model))
	}
	for _, a := range agents {
		m, ok := model[a.ID]
		if !ok {
			t.Fatalf("agent %s is not in the model", a.ID)
		}
		if a.Hostname != m.Hostname || a.IP != m.IP || a.Port != m.Port || a.Pool != "default" || a.Attributes["rack"] != "r1" ||
			!sameResources(a.Total, m.Total) || !sameResources(a.Allocated, m.Allocated) || !a.Active || a.Deactivated || a.Drain != nil ||
			!a.RegisteredAt.Equal(m.RegisteredAt) || a.Version != m.Version || !a.CanDrain() {
			t.Errorf("agent %s:\n got %+v\nmodel %+v", a.ID, a, m)
		}
	}

	tasks, err := c.Tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertTasksMatchModel(t, tasks, sim.modelTasks())

	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Agents) != 3 || len(st.Frameworks) != 1 || !strings.EqualFold(st.Frameworks[0].Name, "marathon") {
		t.Errorf("State: %d agents, frameworks %+v", len(st.Agents), st.Frameworks)
	}
	assertTasksMatchModel(t, st.Tasks, sim.modelTasks())

	if w, err := c.MaintenanceSchedule(ctx); err != nil || len(w) != 0 {
		t.Errorf("MaintenanceSchedule = %+v, %v", w, err)
	}
	if s, err := c.MaintenanceStatus(ctx); err != nil || len(s.Draining)+len(s.Down) != 0 {
		t.Errorf("MaintenanceStatus = %+v, %v", s, err)
	}
}

func assertTasksMatchModel(t *testing.T, tasks []Task, model map[string]simulate.Task) {
	t.Helper()
	if len(tasks) != len(model) || len(tasks) == 0 {
		t.Fatalf("%d tasks, the model has %d", len(tasks), len(model))
	}
	for _, task := range tasks {
		m, ok := model[task.ID]
		if !ok {
			t.Errorf("task %s is not in the model", task.ID)
			continue
		}
		if task.AgentID != m.AgentID || task.State != string(m.State) || !sameResources(task.Resources, m.Resources) || task.FrameworkID == "" {
			t.Errorf("task %s:\n got %+v\nmodel %+v", task.ID, task, m)
		}
	}
}

func TestSimFollowsTheLeader(t *testing.T) {
	sim := newSimCluster(t, 3)
	// Configured with master 0 only: the others are found through redirects.
	c := newTestClient(t, Config{URLs: sim.urls[:1]})
	ctx := context.Background()
	if _, err := c.Agents(ctx); err != nil || c.Leader() != sim.urls[0] {
		t.Fatalf("Agents = %v, leader %s", err, c.Leader())
	}

	sim.setLeader(1)
	if _, err := c.Agents(ctx); err != nil {
		t.Fatalf("Agents after the leader moved to master 1: %v", err)
	}
	if c.Leader() != sim.urls[1] {
		t.Errorf("Leader() = %s, want master 1 %s", c.Leader(), sim.urls[1])
	}

	// Mutating calls follow too: master 1 is remembered, and when leadership moves on, the old
	// leader's redirect leads to master 2.
	sim.setLeader(2)
	if err := c.DeactivateAgent(ctx, firstAgentID(t, sim)); err != nil {
		t.Fatalf("DeactivateAgent after the leader moved to master 2: %v", err)
	}
	if c.Leader() != sim.urls[2] {
		t.Errorf("Leader() = %s, want master 2 %s", c.Leader(), sim.urls[2])
	}

	sim.setLeader(-1)
	_, err := c.State(ctx)
	var e *Error
	if !errors.Is(err, ErrNoLeader) || !errors.As(err, &e) || e.Message != "No leader elected" {
		t.Fatalf("State without a leader = %v, want ErrNoLeader", err)
	}

	// A client configured with every master finds the new leader whichever it remembered.
	all := newTestClient(t, Config{URLs: sim.urls})
	sim.setLeader(1)
	if _, err := all.Version(ctx); err != nil || all.Leader() != sim.urls[1] {
		t.Errorf("Version = %v, leader %s", err, all.Leader())
	}
}

func firstAgentID(t *testing.T, sim *simCluster) string {
	t.Helper()
	ids := make([]string, 0, 3)
	for id := range sim.modelAgents() {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids[0]
}

// leastLoaded returns the agent with the fewest tasks.
func leastLoaded(t *testing.T, c *Client, tasks []Task) Agent {
	t.Helper()
	agents, err := c.Agents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, task := range tasks {
		n[task.AgentID]++
	}
	sort.Slice(agents, func(i, j int) bool { return n[agents[i].ID] < n[agents[j].ID] })
	return agents[0]
}

func mostLoaded(t *testing.T, c *Client) (Agent, int) {
	t.Helper()
	st, err := c.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, task := range st.Tasks {
		n[task.AgentID]++
	}
	sort.Slice(st.Agents, func(i, j int) bool { return n[st.Agents[i].ID] > n[st.Agents[j].ID] })
	return st.Agents[0], n[st.Agents[0].ID]
}

func TestSimMaintenanceFlow(t *testing.T) {
	sim := newSimCluster(t, 2)
	c := newTestClient(t, Config{URLs: sim.urls})
	ctx := context.Background()
	tasks, err := c.Tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := leastLoaded(t, c, tasks)
	machine := victim.Machine()

	// Bringing down a machine that is not scheduled is refused, with the master's reason.
	err = c.StartMaintenance(ctx, []MachineID{machine})
	var e *Error
	if !errors.Is(err, ErrBadRequest) || !errors.As(err, &e) || !strings.Contains(e.Message, "not part of a maintenance schedule") {
		t.Fatalf("StartMaintenance unscheduled = %v", err)
	}

	// Schedule (read-modify-write of the whole schedule): the machine goes DRAINING at once.
	start := sim.world.Now()
	window := Window{Machines: []MachineID{machine}, Start: start, Duration: time.Hour}
	if err := c.UpdateMaintenanceSchedule(ctx, []Window{window}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateMaintenanceSchedule(ctx, []Window{window}); err != nil {
		t.Fatalf("UpdateMaintenanceSchedule is idempotent: %v", err)
	}
	windows, err := c.MaintenanceSchedule(ctx)
	if err != nil || len(windows) != 1 || windows[0].Machines[0] != machine || !windows[0].Start.Equal(start) || windows[0].Duration != time.Hour {
		t.Fatalf("MaintenanceSchedule = %+v, %v", windows, err)
	}
	status, err := c.MaintenanceStatus(ctx)
	if err != nil || len(status.Draining) != 1 || status.Draining[0].Machine != machine || len(status.Down) != 0 {
		t.Fatalf("MaintenanceStatus while draining = %+v, %v", status, err)
	}
	// STOP_MAINTENANCE wants a DOWN machine.
	if err := c.StopMaintenance(ctx, []MachineID{machine}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("StopMaintenance of a DRAINING machine = %v", err)
	}

	// Down: the agent is removed from the cluster.
	if err := c.StartMaintenance(ctx, []MachineID{machine}); err != nil {
		t.Fatal(err)
	}
	status, err = c.MaintenanceStatus(ctx)
	if err != nil || len(status.Down) != 1 || status.Down[0] != machine || len(status.Draining) != 0 {
		t.Fatalf("MaintenanceStatus when down = %+v, %v", status, err)
	}
	agents, err := c.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		if a.ID == victim.ID {
			t.Fatalf("agent %s still registered after START_MAINTENANCE", a.ID)
		}
	}
	// A DOWN machine cannot be dropped from the schedule.
	if err := c.UpdateMaintenanceSchedule(ctx, nil); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("dropping a DOWN machine = %v", err)
	}

	// Up again, and out of the schedule.
	if err := c.StopMaintenance(ctx, []MachineID{machine}); err != nil {
		t.Fatal(err)
	}
	if windows, err := c.MaintenanceSchedule(ctx); err != nil || len(windows) != 0 {
		t.Fatalf("schedule after STOP_MAINTENANCE = %+v, %v", windows, err)
	}
	if status, err := c.MaintenanceStatus(ctx); err != nil || len(status.Draining)+len(status.Down) != 0 {
		t.Fatalf("status after STOP_MAINTENANCE = %+v, %v", status, err)
	}
}

func TestSimDrainAgentFlow(t *testing.T) {
	sim := newSimCluster(t, 2)
	c := newTestClient(t, Config{URLs: sim.urls})
	ctx := context.Background()
	victim, ntasks := mostLoaded(t, c)
	if ntasks == 0 {
		t.Fatal("no agent runs a task")
	}

	if err := c.DrainAgent(ctx, victim.ID, 10*time.Second, false); err != nil {
		t.Fatal(err)
	}
	a := agentByID(t, c, victim.ID)
	if a.Active || !a.Deactivated || a.Drain == nil || a.Drain.State != DrainDraining || a.Drain.MarkGone ||
		a.Drain.MaxGracePeriod == nil || *a.Drain.MaxGracePeriod != 10*time.Second {
		t.Fatalf("agent after DRAIN_AGENT: %+v drain %+v", a, a.Drain)
	}
	// Still draining: it cannot be reactivated yet.
	if err := c.ReactivateAgent(ctx, victim.ID); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("ReactivateAgent while DRAINING = %v", err)
	}

	// The kills take their grace period in model time; then the agent is DRAINED with no task left.
	for i := 0; i < 60 && agentByID(t, c, victim.ID).Drain.State != DrainDrained; i++ {
		sim.advance(time.Second)
	}
	a = agentByID(t, c, victim.ID)
	if a.Drain.State != DrainDrained {
		t.Fatalf("agent not DRAINED after a minute of model time: %+v", a.Drain)
	}
	tasks, err := c.Tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.AgentID == victim.ID {
			t.Errorf("task %s still on the drained agent", task.ID)
		}
	}

	// Back in service.
	if err := c.ReactivateAgent(ctx, victim.ID); err != nil {
		t.Fatal(err)
	}
	if a := agentByID(t, c, victim.ID); !a.Active || a.Deactivated || a.Drain != nil {
		t.Fatalf("agent after REACTIVATE_AGENT: %+v", a)
	}
	if err := c.ReactivateAgent(ctx, victim.ID); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("second ReactivateAgent = %v, want ErrBadRequest (not deactivated)", err)
	}

	// Deactivate and reactivate: tasks stay.
	if err := c.DeactivateAgent(ctx, victim.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeactivateAgent(ctx, victim.ID); err != nil {
		t.Fatalf("DeactivateAgent is idempotent: %v", err)
	}
	if a := agentByID(t, c, victim.ID); a.Active || !a.Deactivated || a.Drain != nil {
		t.Fatalf("agent after DEACTIVATE_AGENT: %+v", a)
	}
	if err := c.ReactivateAgent(ctx, victim.ID); err != nil {
		t.Fatal(err)
	}

	// Drain with mark_gone: the agent is removed once drained.
	if err := c.DrainAgent(ctx, victim.ID, 0, true); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60 && hasAgent(t, c, victim.ID); i++ {
		sim.advance(time.Second)
	}
	if hasAgent(t, c, victim.ID) {
		t.Fatal("agent drained with mark_gone is still registered")
	}
	if err := c.MarkAgentGone(ctx, victim.ID); err != nil {
		t.Fatalf("MarkAgentGone of a gone agent is idempotent: %v", err)
	}
	if err := c.ReactivateAgent(ctx, victim.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("ReactivateAgent of a removed agent = %v, want ErrConflict", err)
	}

	// Unknown agents.
	if err := c.DrainAgent(ctx, "no-such-agent", time.Second, false); !errors.Is(err, ErrBadRequest) {
		t.Errorf("DrainAgent unknown = %v", err)
	}
	if err := c.MarkAgentGone(ctx, "no-such-agent"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkAgentGone unknown = %v", err)
	}
	var e *Error
	if err := c.DeactivateAgent(ctx, "no-such-agent"); !errors.As(err, &e) || e.Message != "Unknown agent" {
		t.Errorf("DeactivateAgent unknown = %v", err)
	}
}

func agentByID(t *testing.T, c *Client, id string) Agent {
	t.Helper()
	agents, err := c.Agents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("agent %s not registered", id)
	return Agent{}
}

func hasAgent(t *testing.T, c *Client, id string) bool {
	t.Helper()
	agents, err := c.Agents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		if a.ID == id {
			return true
		}
	}
	return false
}

func TestSimWatchResyncsGrowsAndFollowsTheLeader(t *testing.T) {
	sim := newSimCluster(t, 2, mesosapi.WithHeartbeat(50*time.Millisecond))
	c := newTestClient(t, fastReconnect(sim.urls[0]))
	log := runWatch(t, c)

	evs := log.waitFor(t, "the first resync", func(evs []Event) bool { return count(evs, EventResync) == 1 })
	first := evs[0]
	if first.Type != EventResync || first.Master != sim.urls[0] || len(first.State.Agents) != 3 || len(first.State.Tasks) == 0 ||
		first.HeartbeatInterval != 50*time.Millisecond {
		t.Fatalf("first event = %+v", first)
	}

	// Grow the group by one: once the instance has booted (virtual time), its agent registers.
	if err := sim.world.SetDesiredCapacity("marmot-default", 4, false); err != nil {
		t.Fatal(err)
	}
	sim.advance(5 * time.Minute)
	evs = log.waitFor(t, "AGENT_ADDED", func(evs []Event) bool { return count(evs, EventAgentAdded) == 1 })
	var added Event
	for _, e := range evs {
		if e.Type == EventAgentAdded {
			added = e
		}
	}
	if added.Agent == nil || added.Agent.Pool != "default" || added.Agent.IP == "" || !added.Agent.Active || added.AgentID != added.Agent.ID {
		t.Fatalf("AGENT_ADDED = %+v", added.Agent)
	}
	if _, ok := sim.modelAgents()[added.AgentID]; !ok {
		t.Errorf("added agent %s is not in the model", added.AgentID)
	}

	// Leader change: master 0's stream ends; the client resubscribes, is redirected to master 1, and
	// starts again from a fresh snapshot that has the new agent.
	sim.setLeader(1)
	evs = log.waitFor(t, "a resync from master 1", func(evs []Event) bool {
		last := evs[len(evs)-1]
		return count(evs, EventResync) >= 2 && (last.Type != EventResync || last.Master == sim.urls[1])
	})
	var resync Event
	for _, e := range evs {
		if e.Type == EventResync {
			resync = e
		}
	}
	if resync.Master != sim.urls[1] || len(resync.State.Agents) != 4 {
		t.Fatalf("resync after the leader change: master %s, %d agents", resync.Master, len(resync.State.Agents))
	}
	if c.Leader() != sim.urls[1] {
		t.Errorf("Leader() = %s, want %s", c.Leader(), sim.urls[1])
	}
	log.waitFor(t, "heartbeats from master 1", func(evs []Event) bool {
		return evs[len(evs)-1].Type == EventHeartbeat && evs[len(evs)-1].Master == sim.urls[1]
	})
}

// The simulator must answer mesos-go's exact media types; this guards the assumption every test
// above rests on.
func TestSimAnswersJSON(t *testing.T) {
	sim := newSimCluster(t, 1)
	resp, err := http.Post(sim.urls[0]+apiPath, "application/json", strings.NewReader(`{"type":"GET_VERSION"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}
