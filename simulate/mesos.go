package simulate

import (
	"slices"
	"strings"
	"time"
)

// The Mesos half of the model: agents, the maintenance state machine, DRAIN_AGENT and friends, and the
// master's leadership. Semantics and error texts follow wire-facts.md §1.5.

// agentRemovalDelay is how long the master takes to notice that an agent's machine went away
// (agent_ping_timeout 15 s × max_agent_ping_timeouts 5).
const agentRemovalDelay = 75 * time.Second

// completedTaskLimit bounds the completed_tasks list, as the master bounds it
// (--max_completed_tasks_per_framework).
const completedTaskLimit = 1000

// registerAgent adds an agent for a machine that has finished booting.
func (w *World) registerAgent(hostname, ip, pool string, attrs []Attribute, role string, total Resources, ports []PortRange, instanceID string) *Agent {
	a := &Agent{
		ID:           w.masterID + "-S" + itoa(w.nextAgent),
		Hostname:     hostname,
		IP:           ip,
		Port:         5051,
		Pool:         pool,
		Attributes:   attrs,
		Role:         role,
		Total:        total,
		Ports:        ports,
		Active:       true,
		RegisteredAt: w.now,
		Version:      w.mesosVersion,
		Capabilities: agentCapabilities(w.mesosVersion),
		InstanceID:   instanceID,
		usedPorts:    map[uint64]bool{},
		appTasks:     map[string]int{},
		seq:          w.nextAgent,
	}
	w.nextAgent++
	a.index = len(w.agentList)
	w.agentList = append(w.agentList, a)
	w.agents[a.ID] = a
	w.agentByIP[ip] = a
	w.stats.AgentsRegistered++
	w.freed()
	w.mesosEvents.publish(MesosEvent{Type: MesosAgentAdded, Time: w.now, Agent: agentCopy(a), AgentID: a.ID})
	return a
}

func agentCapabilities(version string) []string {
	caps := []string{"MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "RESOURCE_PROVIDER"}
	if VersionAtLeast(version, 1, 9) {
		caps = append(caps, "AGENT_OPERATION_FEEDBACK", "AGENT_DRAINING")
	}
	return caps
}

func agentCopy(a *Agent) Agent {
	c := *a
	c.tasks = nil
	c.usedPorts = nil
	c.appTasks = nil
	return c
}

// removeAgent takes an agent out of the cluster; its tasks end in state (LOST when the machine died,
// GONE_BY_OPERATOR when an operator marked it gone).
func (w *World) removeAgent(a *Agent, state TaskState) {
	if _, ok := w.agents[a.ID]; !ok {
		return
	}
	// Unlink the agent first so that ending its tasks below cannot reach it again (a drain finishing).
	last := len(w.agentList) - 1
	w.agentList[a.index] = w.agentList[last]
	w.agentList[a.index].index = a.index
	w.agentList = w.agentList[:last]
	delete(w.agents, a.ID)
	if w.agentByIP[a.IP] == a {
		delete(w.agentByIP, a.IP)
	}
	tasks := a.tasks
	a.tasks = nil
	a.Allocated = Resources{}
	for _, t := range tasks {
		w.endTask(t, state, "agent removed")
	}
	w.stats.AgentsRemoved++
	w.mesosEvents.publish(MesosEvent{Type: MesosAgentRemoved, Time: w.now, AgentID: a.ID})
}

// VersionAtLeast reports whether a Mesos version string "X.Y.Z" is at least major.minor.
func VersionAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, mi := atoiOr(parts[0], -1), atoiOr(parts[1], -1)
	return ma > major || (ma == major && mi >= minor)
}

func atoiOr(s string, def int) int {
	n := 0
	if s == "" {
		return def
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return def
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func (w *World) mode(m MachineID) MachineMode {
	if mode, ok := w.modes[m.key()]; ok {
		return mode
	}
	return ModeUp
}

func (w *World) machinesIn(mode MachineMode) []MachineID {
	var out []MachineID
	for _, win := range w.schedule {
		for _, m := range win.Machines {
			if w.mode(m) == mode {
				out = append(out, m)
			}
		}
	}
	return out
}

func (w *World) agentOn(m MachineID) *Agent {
	for _, a := range w.agentList {
		if strings.EqualFold(a.Hostname, m.Hostname) && a.IP == m.IP {
			return a
		}
	}
	return nil
}

// inSchedule reports whether an agent's machine is part of the maintenance schedule.
func (w *World) inSchedule(a *Agent) bool {
	k := a.Machine().key()
	for _, win := range w.schedule {
		for _, m := range win.Machines {
			if m.key() == k {
				return true
			}
		}
	}
	return false
}

func validateMachine(m MachineID) *Error {
	if m.Hostname == "" && m.IP == "" {
		return errorf(KindBadRequest, "", "Failed to validate master::Call: Both 'hostname' and 'ip' for a machine are empty")
	}
	if m.IP != "" && !isIPv4(m.IP) {
		return errorf(KindBadRequest, "", "Failed to validate master::Call: Invalid IP address '%s'", m.IP)
	}
	return nil
}

func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		n := atoiOr(p, -1)
		if n < 0 || n > 255 || len(p) > 3 {
			return false
		}
	}
	return true
}

// UpdateMaintenanceSchedule replaces the whole maintenance schedule (UPDATE_MAINTENANCE_SCHEDULE).
// Machines newly in the schedule go UP→DRAINING at once; machines dropped from it go back UP. A DOWN
// machine may not be dropped.
func (w *World) UpdateMaintenanceSchedule(windows []MaintenanceWindow) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	seen := map[MachineID]bool{}
	for _, win := range windows {
		if len(win.Machines) == 0 {
			return errorf(KindBadRequest, "", "Failed to validate master::Call: List of machines in the maintenance window is empty")
		}
		if win.Duration < 0 {
			return errorf(KindBadRequest, "", "Failed to validate master::Call: Unavailability 'duration' is negative")
		}
		for _, m := range win.Machines {
			if err := validateMachine(m); err != nil {
				return err
			}
			if seen[m.key()] {
				return errorf(KindBadRequest, "", "Failed to validate master::Call: Machine '%s' appears more than once in the schedule", machineString(m))
			}
			seen[m.key()] = true
		}
	}
	for k, mode := range w.modes {
		if mode == ModeDown && !seen[k] {
			return errorf(KindBadRequest, "", "Machine '%s' is deactivated and cannot be removed from the schedule", machineString(k))
		}
	}
	for k := range w.modes {
		if !seen[k] {
			delete(w.modes, k)
		}
	}
	for k := range seen {
		if _, ok := w.modes[k]; !ok {
			w.modes[k] = ModeDraining
		}
	}
	w.schedule = cloneWindows(windows)
	w.freed()
	return nil
}

func cloneWindows(in []MaintenanceWindow) []MaintenanceWindow {
	out := make([]MaintenanceWindow, len(in))
	for i, win := range in {
		out[i] = MaintenanceWindow{Machines: append([]MachineID(nil), win.Machines...), Start: win.Start, Duration: win.Duration}
	}
	return out
}

func machineString(m MachineID) string { return m.Hostname + " (" + m.IP + ")" }

// StartMaintenance brings DRAINING machines DOWN (START_MAINTENANCE): their agents are shut down and
// removed, their tasks are LOST and Marathon replaces them elsewhere.
func (w *World) StartMaintenance(machines []MachineID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	for _, m := range machines {
		if err := validateMachine(m); err != nil {
			return err
		}
		mode, ok := w.modes[m.key()]
		if !ok {
			return errorf(KindBadRequest, "", "Machine '%s' is not part of a maintenance schedule", machineString(m))
		}
		if mode != ModeDraining {
			return errorf(KindBadRequest, "", "Machine '%s' is not in DRAINING mode and cannot be brought down", machineString(m))
		}
	}
	for _, m := range machines {
		w.modes[m.key()] = ModeDown
		if a := w.agentOn(m); a != nil {
			w.removeAgent(a, TaskLost)
		}
	}
	return nil
}

// StopMaintenance brings DOWN machines back UP and drops them from the schedule (STOP_MAINTENANCE).
func (w *World) StopMaintenance(machines []MachineID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	for _, m := range machines {
		if err := validateMachine(m); err != nil {
			return err
		}
		if w.modes[m.key()] != ModeDown {
			return errorf(KindBadRequest, "", "Machine '%s' is not in DOWN mode and cannot be brought up", machineString(m))
		}
	}
	drop := map[MachineID]bool{}
	for _, m := range machines {
		delete(w.modes, m.key())
		drop[m.key()] = true
	}
	var kept []MaintenanceWindow
	for _, win := range w.schedule {
		var ms []MachineID
		for _, m := range win.Machines {
			if !drop[m.key()] {
				ms = append(ms, m)
			}
		}
		if len(ms) > 0 {
			win.Machines = ms
			kept = append(kept, win)
		}
	}
	w.schedule = kept
	return nil
}

func (w *World) requireDrainAPI() *Error {
	if !VersionAtLeast(w.mesosVersion, 1, 9) {
		return errorf(KindBadRequest, "", "Failed to convert JSON into Call protobuf: unknown call type for Mesos %s", w.mesosVersion)
	}
	return nil
}

// DrainAgent starts draining an agent (DRAIN_AGENT, Mesos 1.9+): the agent is deactivated, its tasks are
// killed (after at most the grace period) and Marathon relaunches them elsewhere; when no task is left
// the drain is DRAINED, and with markGone the agent is then removed for good.
func (w *World) DrainAgent(agentID string, maxGrace *time.Duration, markGone bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	if err := w.requireDrainAPI(); err != nil {
		return err
	}
	a, ok := w.agents[agentID]
	if !ok && w.unreachable[agentID] {
		// Mesos records the drain of an unreachable agent and applies it if the agent comes back; a
		// simulated machine that went away never does.
		return nil
	}
	if !ok {
		return errorf(KindBadRequest, "", "Unknown agent")
	}
	if w.inSchedule(a) {
		return errorf(KindBadRequest, "", "Agent '%s' is part of a maintenance schedule and cannot be drained", agentID)
	}
	if !hasCapability(a, "AGENT_DRAINING") {
		return errorf(KindBadRequest, "", "Agent '%s' does not have the AGENT_DRAINING capability", agentID)
	}
	if w.goneAgents[agentID] {
		return errorf(KindConflict, "", "Agent '%s' is currently being marked gone", agentID)
	}
	a.Active = false
	a.Deactivated = true
	a.Drain = &DrainInfo{State: DrainDraining, MaxGracePeriod: maxGrace, MarkGone: markGone, StartedAt: w.now}
	// Mesos sends the kills at once; each task gets its kill grace period (capped by max_grace_period)
	// before it is TASK_KILLED. Marathon then launches replacements on other agents.
	grace := 3 * time.Second
	if maxGrace != nil && *maxGrace < grace {
		grace = *maxGrace
	}
	// Copy: a kill without grace ends the task at once, which takes it out of a.tasks mid-loop.
	for _, t := range slices.Clone(a.tasks) {
		w.killTask(t, "drain", grace)
	}
	w.checkDrain(a)
	return nil
}

func hasCapability(a *Agent, c string) bool {
	for _, x := range a.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// checkDrain moves a DRAINING agent with no task left to DRAINED (and removes it when marked gone).
func (w *World) checkDrain(a *Agent) {
	if _, ok := w.agents[a.ID]; !ok || a.Drain == nil || a.Drain.State != DrainDraining || len(a.tasks) > 0 {
		return
	}
	a.Drain.State = DrainDrained
	if a.Drain.MarkGone {
		w.goneAgents[a.ID] = true
		w.removeAgent(a, TaskGone)
	}
}

// DeactivateAgent stops offers from an agent (DEACTIVATE_AGENT); its tasks keep running.
func (w *World) DeactivateAgent(agentID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	if err := w.requireDrainAPI(); err != nil {
		return err
	}
	a, ok := w.agents[agentID]
	if !ok {
		return errorf(KindBadRequest, "", "Unknown agent")
	}
	a.Active = false
	a.Deactivated = true
	return nil
}

// ReactivateAgent resumes offers from a deactivated agent (REACTIVATE_AGENT).
func (w *World) ReactivateAgent(agentID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	if err := w.requireDrainAPI(); err != nil {
		return err
	}
	a, ok := w.agents[agentID]
	if !ok {
		if w.goneAgents[agentID] {
			return errorf(KindConflict, "", "Agent '%s' was removed", agentID)
		}
		return errorf(KindBadRequest, "", "Unknown agent")
	}
	if !a.Deactivated {
		return errorf(KindBadRequest, "", "Agent is not deactivated")
	}
	if a.Drain != nil && a.Drain.State == DrainDraining {
		return errorf(KindBadRequest, "", "Agent is still in the DRAINING state")
	}
	a.Active = true
	a.Deactivated = false
	a.Drain = nil
	w.freed()
	return nil
}

// MarkAgentGone removes an agent for good (MARK_AGENT_GONE); its tasks end as TASK_GONE_BY_OPERATOR.
// It is idempotent.
func (w *World) MarkAgentGone(agentID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	if w.goneAgents[agentID] {
		return nil
	}
	if w.unreachable[agentID] {
		delete(w.unreachable, agentID)
		w.goneAgents[agentID] = true
		return nil
	}
	a, ok := w.agents[agentID]
	if !ok {
		return errorf(KindNotFound, "", "Agent '%s' not found", agentID)
	}
	w.goneAgents[agentID] = true
	w.removeAgent(a, TaskGone)
	return nil
}

// markUnreachable removes an agent whose machine stopped answering, as the master does after the ping
// timeout. Unlike an agent removed by maintenance, it stays known as unreachable, so MARK_AGENT_GONE
// (the clean-up after terminating its instance) still succeeds for it.
func (w *World) markUnreachable(a *Agent) {
	if _, ok := w.agents[a.ID]; !ok {
		return
	}
	w.unreachable[a.ID] = true
	w.removeAgent(a, TaskLost)
}

// AgentUnreachable reports whether an agent was removed because its machine went away (and was not
// marked gone since).
func (v *View) AgentUnreachable(id string) bool { return v.w.unreachable[id] }

// AgentGone reports whether an agent id was marked gone.
func (v *View) AgentGone(id string) bool { return v.w.goneAgents[id] }

// SubscribeMesos opens a SUBSCRIBE stream on master index master: fn runs under the lock with the
// snapshot the SUBSCRIBED event carries, then every later event reaches the subscription, with nothing
// missed in between. The stream ends (C closes) when that master loses leadership.
func (w *World) SubscribeMesos(master, buffer int, fn func(v *View)) (*Subscription[MesosEvent], error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	if w.mesosLeader != master {
		return nil, errorf(KindUnavailable, "", "not the leading master")
	}
	fn(&View{w: w})
	// Forget the streams that ended since (their clients closed them); otherwise only a leader change
	// would, and a master whose clients reconnect often would keep every stream it ever served.
	for old := range w.mesosSubscribed {
		if _, open := w.mesosEvents.subs[old]; !open {
			delete(w.mesosSubscribed, old)
		}
	}
	s := w.mesosEvents.add(buffer, &w.mu)
	w.mesosSubscribed[s] = master
	return s, nil
}

// SetMesosLeader makes master index leader the leading master (-1: none elected). Streams subscribed on
// the old leader end, and the master metrics restart, as on a real failover.
func (w *World) SetMesosLeader(leader int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	return w.setMesosLeader(leader)
}

func (w *World) setMesosLeader(leader int) error {
	if leader < -1 || leader >= w.masters {
		return errorf(KindBadRequest, "", "master index %d out of range [0,%d)", leader, w.masters)
	}
	if leader == w.mesosLeader {
		return nil
	}
	w.mesosLeader = leader
	w.mesosLeaderAt = w.now
	for s := range w.mesosSubscribed {
		delete(w.mesosSubscribed, s)
		w.mesosEvents.drop(s)
	}
	return nil
}

// Masters is the number of simulated Mesos masters.
func (v *View) Masters() int { return v.w.masters }

// MarathonInstances is the number of simulated Marathon instances.
func (v *View) MarathonInstances() int { return v.w.marathons }

// SetMarathonLeader makes instance index leader the leading Marathon (-1: none).
func (w *World) SetMarathonLeader(leader int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	return w.setMarathonLeader(leader)
}

func (w *World) setMarathonLeader(leader int) error {
	if leader < -1 || leader >= w.marathons {
		return errorf(KindBadRequest, "", "marathon index %d out of range [0,%d)", leader, w.marathons)
	}
	if leader != w.marathonLeader {
		w.marathonLeader = leader
		// Event streams are per instance; a leader change ends them (clients reconnect to the leader).
		w.marathonEvents.closeAll()
	}
	return nil
}

// SubscribeMarathon opens an event-bus subscription.
func (w *World) SubscribeMarathon(buffer int) *Subscription[MarathonEvent] {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.marathonEvents.add(buffer, &w.mu)
}
