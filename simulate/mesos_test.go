package simulate_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// spreadApp runs instances tasks of /web (0.5 cpu each) on the cluster's agents.
func spreadApp(t *testing.T, c *cluster, instances int) {
	t.Helper()
	_, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(instances), CPUs: ptr(0.5), Mem: ptr(256.0)}, false)
	mustOK(t, err)
	c.advance(10 * time.Second)
	if got := running(c.tasks("/web")); got != instances {
		t.Fatalf("%d tasks running, want %d", got, instances)
	}
}

// busiest returns the agent that runs the most tasks.
func busiest(c *cluster) simulate.Agent {
	var best simulate.Agent
	n := -1
	for _, a := range c.agents() {
		if k := len(c.agentTasks(a.ID)); k > n {
			best, n = a, k
		}
	}
	return best
}

func window(start time.Time, machines ...simulate.MachineID) []simulate.MaintenanceWindow {
	return []simulate.MaintenanceWindow{{Machines: machines, Start: start, Duration: time.Hour}}
}

func TestMaintenanceLifecycle(t *testing.T) {
	c := newCluster(t, staticPools)
	spreadApp(t, c, 6)
	target := busiest(c)
	// Mesos matches hostnames case-insensitively, IPs exactly.
	scheduled := simulate.MachineID{Hostname: strings.ToUpper(target.Hostname), IP: target.IP}
	onTarget := c.agentTasks(target.ID)
	if len(onTarget) == 0 {
		t.Fatal("no task on the target agent to begin with")
	}
	mode := func(m simulate.MachineID) (out simulate.MachineMode) {
		c.view(func(v *simulate.View) { out = v.MachineMode(m) })
		return out
	}

	mustOK(t, c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), scheduled)))
	if got := mode(target.Machine()); got != simulate.ModeDraining {
		t.Fatalf("mode after scheduling = %s, want DRAINING", got)
	}
	var draining []simulate.MachineID
	c.view(func(v *simulate.View) { draining = v.DrainingMachines() })
	if len(draining) != 1 {
		t.Errorf("draining machines %v, want the scheduled one", draining)
	}
	// Draining means "no new tasks here"; the running ones stay until the machine goes down.
	if got := c.agentTasks(target.ID); !slices.Equal(got, onTarget) {
		t.Errorf("tasks on the draining agent changed: %v → %v", onTarget, got)
	}
	_, _, err := c.w.UpdateApp("/more", simulate.AppUpdate{Instances: ptr(6), CPUs: ptr(0.5)}, false)
	mustOK(t, err)
	c.advance(10 * time.Second)
	for _, task := range c.tasks("/more") {
		if task.AgentID == target.ID {
			t.Errorf("new task %s placed on a DRAINING machine", task.ID)
		}
	}

	mustOK(t, c.w.StartMaintenance([]simulate.MachineID{scheduled}))
	if got := mode(target.Machine()); got != simulate.ModeDown {
		t.Fatalf("mode after START_MAINTENANCE = %s, want DOWN", got)
	}
	if _, ok := c.agent(target.ID); ok {
		t.Fatal("agent of a DOWN machine still registered")
	}
	var lost int
	c.view(func(v *simulate.View) {
		for _, task := range v.CompletedTasks() {
			if slices.Contains(onTarget, task.ID) && task.State == simulate.TaskLost {
				lost++
			}
		}
	})
	if lost != len(onTarget) {
		t.Errorf("%d of the %d tasks on the DOWN machine ended LOST", lost, len(onTarget))
	}
	c.advance(10 * time.Second)
	web := c.tasks("/web")
	if running(web) != 6 {
		t.Errorf("/web runs %d tasks after the machine went down, want its 6 replaced elsewhere", running(web))
	}
	for _, task := range web {
		if task.AgentID == target.ID {
			t.Errorf("task %s on the DOWN agent", task.ID)
		}
	}

	mustOK(t, c.w.StopMaintenance([]simulate.MachineID{target.Machine()}))
	if got := mode(target.Machine()); got != simulate.ModeUp {
		t.Errorf("mode after STOP_MAINTENANCE = %s, want UP", got)
	}
	c.view(func(v *simulate.View) {
		if len(v.Schedule()) != 0 {
			t.Errorf("schedule after STOP_MAINTENANCE: %+v, want empty", v.Schedule())
		}
	})
}

func TestMaintenanceMatchesHostnameAndIP(t *testing.T) {
	c := newCluster(t, staticPools)
	a := c.agents()[0]
	// The right hostname with another IP is another machine: the agent stays UP and gets tasks.
	other := simulate.MachineID{Hostname: a.Hostname, IP: "10.9.9.9"}
	mustOK(t, c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), other)))
	c.view(func(v *simulate.View) {
		if m := v.MachineMode(a.Machine()); m != simulate.ModeUp {
			t.Errorf("agent's machine is %s, want UP", m)
		}
	})
	_, _, err := c.w.UpdateApp("/fill", simulate.AppUpdate{Instances: ptr(3), CPUs: ptr(1.0), Constraints: &[][]string{{"hostname", "UNIQUE"}}}, false)
	mustOK(t, err)
	c.advance(10 * time.Second)
	if len(c.agentTasks(a.ID)) != 1 {
		t.Error("the agent got no task although its IP is not in the schedule")
	}
	// A machine that is not registered may be scheduled and brought down.
	mustOK(t, c.w.StartMaintenance([]simulate.MachineID{other}))
	if _, ok := c.agent(a.ID); !ok {
		t.Error("bringing down another IP removed the agent")
	}
}

func TestMaintenanceErrors(t *testing.T) {
	type step func(c *cluster, m []simulate.MachineID) error
	schedule := func(ms ...simulate.MachineID) step {
		return func(c *cluster, _ []simulate.MachineID) error {
			return c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), ms...))
		}
	}
	_ = schedule
	cases := []struct {
		name  string
		setup func(c *cluster, m []simulate.MachineID) // machines m[0..2] are the three agents'
		call  func(c *cluster, m []simulate.MachineID) error
		want  string
	}{
		{
			name: "a window without machines",
			call: func(c *cluster, m []simulate.MachineID) error {
				return c.w.UpdateMaintenanceSchedule([]simulate.MaintenanceWindow{{Start: c.clock.Now(), Duration: time.Hour}})
			},
			want: "is empty",
		},
		{
			name: "a negative duration",
			call: func(c *cluster, m []simulate.MachineID) error {
				return c.w.UpdateMaintenanceSchedule([]simulate.MaintenanceWindow{{Machines: m[:1], Start: c.clock.Now(), Duration: -time.Second}})
			},
			want: "negative",
		},
		{
			name: "a machine twice (hostnames compare case-insensitively)",
			call: func(c *cluster, m []simulate.MachineID) error {
				dup := simulate.MachineID{Hostname: strings.ToUpper(m[0].Hostname), IP: m[0].IP}
				return c.w.UpdateMaintenanceSchedule([]simulate.MaintenanceWindow{
					{Machines: m[:1], Start: c.clock.Now(), Duration: time.Hour},
					{Machines: []simulate.MachineID{dup}, Start: c.clock.Now(), Duration: time.Hour},
				})
			},
			want: "appears more than once",
		},
		{
			name: "a machine with neither hostname nor IP",
			call: func(c *cluster, m []simulate.MachineID) error {
				return c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), simulate.MachineID{}))
			},
			want: "are empty",
		},
		{
			name: "an IP that is not IPv4",
			call: func(c *cluster, m []simulate.MachineID) error {
				return c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), simulate.MachineID{Hostname: "x", IP: "10.0.0.300"}))
			},
			want: "Invalid IP",
		},
		{
			name: "dropping a DOWN machine from the schedule",
			setup: func(c *cluster, m []simulate.MachineID) {
				mustOK(c.t, c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), m[0], m[1])))
				mustOK(c.t, c.w.StartMaintenance(m[:1]))
			},
			call: func(c *cluster, m []simulate.MachineID) error {
				return c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), m[1]))
			},
			want: "cannot be removed",
		},
		{
			name: "START_MAINTENANCE on a machine outside the schedule",
			call: func(c *cluster, m []simulate.MachineID) error { return c.w.StartMaintenance(m[:1]) },
			want: "is not part of a maintenance schedule",
		},
		{
			name: "START_MAINTENANCE on a machine already DOWN",
			setup: func(c *cluster, m []simulate.MachineID) {
				mustOK(c.t, c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), m[0])))
				mustOK(c.t, c.w.StartMaintenance(m[:1]))
			},
			call: func(c *cluster, m []simulate.MachineID) error { return c.w.StartMaintenance(m[:1]) },
			want: "is not in DRAINING mode",
		},
		{
			name: "STOP_MAINTENANCE on a DRAINING machine",
			setup: func(c *cluster, m []simulate.MachineID) {
				mustOK(c.t, c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), m[0])))
			},
			call: func(c *cluster, m []simulate.MachineID) error { return c.w.StopMaintenance(m[:1]) },
			want: "is not in DOWN mode",
		},
		{
			name: "STOP_MAINTENANCE on an UP machine",
			call: func(c *cluster, m []simulate.MachineID) error { return c.w.StopMaintenance(m[:1]) },
			want: "is not in DOWN mode",
		},
		{
			name: "START_MAINTENANCE is all or nothing",
			setup: func(c *cluster, m []simulate.MachineID) {
				mustOK(c.t, c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), m[0])))
			},
			call: func(c *cluster, m []simulate.MachineID) error {
				err := c.w.StartMaintenance(m[:2])
				if _, ok := c.agent(c.agents()[0].ID); !ok {
					c.t.Error("a refused START_MAINTENANCE still took the first machine down")
				}
				return err
			},
			want: "is not part of a maintenance schedule",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, staticPools)
			var ms []simulate.MachineID
			for _, a := range c.agents() {
				ms = append(ms, a.Machine())
			}
			if tc.setup != nil {
				tc.setup(c, ms)
			}
			var before []simulate.MaintenanceWindow
			c.view(func(v *simulate.View) { before = slices.Clone(v.Schedule()) })
			wantKind(t, tc.call(c, ms), simulate.KindBadRequest, tc.want)
			c.view(func(v *simulate.View) {
				if len(v.Schedule()) != len(before) {
					t.Errorf("a refused call changed the schedule: %v → %v", before, v.Schedule())
				}
			})
		})
	}
}

func TestDrainAgent(t *testing.T) {
	cases := []struct {
		name     string
		grace    *time.Duration
		markGone bool
		// killedAt is when the drained tasks reach TASK_KILLED.
		killedAt time.Duration
	}{
		{"default kill grace", nil, false, 3 * time.Second},
		{"max_grace_period shorter than the kill grace", ptr(time.Second), false, time.Second},
		{"max_grace_period zero kills at once", ptr(time.Duration(0)), false, 0},
		{"mark_gone removes the drained agent", ptr(10 * time.Second), true, 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, staticPools)
			spreadApp(t, c, 9)
			target := busiest(c)
			onTarget := c.agentTasks(target.ID)
			if len(onTarget) < 2 {
				t.Fatalf("want several tasks on the drained agent, got %d", len(onTarget))
			}
			var events []simulate.MesosEvent
			sub, err := c.w.SubscribeMesos(0, 1000, func(*simulate.View) {})
			mustOK(t, err)
			defer sub.Close()
			start := c.clock.Now()

			mustOK(t, c.w.DrainAgent(target.ID, tc.grace, tc.markGone))
			a, _ := c.agent(target.ID)
			if a.Active || !a.Deactivated || a.Drain == nil || a.Drain.MarkGone != tc.markGone {
				t.Fatalf("agent after DRAIN_AGENT: active %v deactivated %v drain %+v", a.Active, a.Deactivated, a.Drain)
			}
			if tc.killedAt > 0 {
				if a.Drain.State != simulate.DrainDraining {
					t.Errorf("drain state %s, want DRAINING while tasks are being killed", a.Drain.State)
				}
				c.clock.Set(start.Add(tc.killedAt - time.Millisecond))
				if got := len(c.agentTasks(target.ID)); got != len(onTarget) {
					t.Errorf("%d tasks left before the grace period ended, want %d", got, len(onTarget))
				}
			}
			c.clock.Set(start.Add(tc.killedAt))
			if got := c.agentTasks(target.ID); len(got) != 0 {
				t.Fatalf("tasks %v still on the agent after the grace period", got)
			}
			a, stillThere := c.agent(target.ID)
			var gone bool
			c.view(func(v *simulate.View) { gone = v.AgentGone(target.ID) })
			if tc.markGone {
				if stillThere || !gone {
					t.Errorf("drained agent with mark_gone: registered %v, gone %v", stillThere, gone)
				}
				mustOK(t, c.w.MarkAgentGone(target.ID)) // idempotent
			} else if !stillThere || a.Drain.State != simulate.DrainDrained || a.Active {
				t.Errorf("drained agent: registered %v, drain %+v, active %v; want DRAINED and inactive", stillThere, a.Drain, a.Active)
			}
			c.advance(10 * time.Second)
			web := c.tasks("/web")
			if running(web) != 9 {
				t.Errorf("%d tasks running after the drain, want all 9 relaunched", running(web))
			}
			for _, task := range web {
				if task.AgentID == target.ID {
					t.Errorf("task %s relaunched on the drained agent", task.ID)
				}
			}
			events, _ = drain(sub)
			killed := 0
			for _, e := range events {
				if e.Type == simulate.MesosTaskUpdated && e.Task.State == simulate.TaskKilled && slices.Contains(onTarget, e.Task.ID) {
					killed++
				}
			}
			if killed != len(onTarget) {
				t.Errorf("%d TASK_KILLED updates for the %d drained tasks", killed, len(onTarget))
			}
		})
	}
}

func TestDrainAndAgentCallErrors(t *testing.T) {
	old := strings.Replace(staticPools, "pools:", "mesos: {version: 1.8.3}\npools:", 1)
	cases := []struct {
		name     string
		scenario string
		setup    func(c *cluster, id string)
		call     func(c *cluster, id string) error
		kind     simulate.ErrorKind
		want     string
	}{
		{"DRAIN_AGENT for an unknown agent", staticPools, nil,
			func(c *cluster, _ string) error { return c.w.DrainAgent("S-nope", nil, false) }, simulate.KindBadRequest, "Unknown agent"},
		{"DRAIN_AGENT for an agent in the maintenance schedule", staticPools,
			func(c *cluster, id string) {
				a, _ := c.agent(id)
				mustOK(c.t, c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), a.Machine())))
			},
			func(c *cluster, id string) error { return c.w.DrainAgent(id, nil, false) }, simulate.KindBadRequest, "maintenance schedule"},
		{"DRAIN_AGENT before Mesos 1.9", old, nil,
			func(c *cluster, id string) error { return c.w.DrainAgent(id, nil, false) }, simulate.KindBadRequest, "1.8.3"},
		{"DEACTIVATE_AGENT before Mesos 1.9", old, nil,
			func(c *cluster, id string) error { return c.w.DeactivateAgent(id) }, simulate.KindBadRequest, "1.8.3"},
		{"REACTIVATE_AGENT before Mesos 1.9", old, nil,
			func(c *cluster, id string) error { return c.w.ReactivateAgent(id) }, simulate.KindBadRequest, "1.8.3"},
		{"DEACTIVATE_AGENT for an unknown agent", staticPools, nil,
			func(c *cluster, _ string) error { return c.w.DeactivateAgent("S-nope") }, simulate.KindBadRequest, "Unknown agent"},
		{"REACTIVATE_AGENT for an active agent", staticPools, nil,
			func(c *cluster, id string) error { return c.w.ReactivateAgent(id) }, simulate.KindBadRequest, "not deactivated"},
		{"REACTIVATE_AGENT while DRAINING", staticPools,
			func(c *cluster, id string) { mustOK(c.t, c.w.DrainAgent(id, ptr(time.Minute), false)) },
			func(c *cluster, id string) error { return c.w.ReactivateAgent(id) }, simulate.KindBadRequest, "DRAINING"},
		{"REACTIVATE_AGENT after the agent was marked gone", staticPools,
			func(c *cluster, id string) { mustOK(c.t, c.w.MarkAgentGone(id)) },
			func(c *cluster, id string) error { return c.w.ReactivateAgent(id) }, simulate.KindConflict, "removed"},
		{"MARK_AGENT_GONE for an unknown agent", staticPools, nil,
			func(c *cluster, _ string) error { return c.w.MarkAgentGone("S-nope") }, simulate.KindNotFound, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, tc.scenario)
			spreadApp(t, c, 3)
			id := busiest(c).ID
			if tc.setup != nil {
				tc.setup(c, id)
			}
			wantKind(t, tc.call(c, id), tc.kind, tc.want)
		})
	}
}

func TestDeactivateReactivateAndGone(t *testing.T) {
	c := newCluster(t, staticPools)
	spreadApp(t, c, 3)
	target := busiest(c)
	tasks := c.agentTasks(target.ID)

	mustOK(t, c.w.DeactivateAgent(target.ID))
	a, _ := c.agent(target.ID)
	if a.Active || !a.Deactivated {
		t.Fatalf("deactivated agent: active %v deactivated %v", a.Active, a.Deactivated)
	}
	if got := c.agentTasks(target.ID); !slices.Equal(got, tasks) {
		t.Errorf("DEACTIVATE_AGENT changed the agent's tasks: %v → %v", tasks, got)
	}
	_, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(12)}, true)
	mustOK(t, err)
	c.advance(10 * time.Second)
	if got := c.agentTasks(target.ID); !slices.Equal(got, tasks) {
		t.Errorf("a deactivated agent received new tasks: %v → %v", tasks, got)
	}

	mustOK(t, c.w.ReactivateAgent(target.ID))
	_, _, err = c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(30)}, true)
	mustOK(t, err)
	c.advance(10 * time.Second)
	if got := c.agentTasks(target.ID); len(got) <= len(tasks) {
		t.Errorf("a reactivated agent received no new task")
	}

	mustOK(t, c.w.MarkAgentGone(target.ID))
	if _, ok := c.agent(target.ID); ok {
		t.Fatal("agent marked gone is still registered")
	}
	mustOK(t, c.w.MarkAgentGone(target.ID)) // idempotent
	var gone []simulate.TaskState
	c.view(func(v *simulate.View) {
		for _, task := range v.CompletedTasks() {
			if task.AgentID == target.ID {
				gone = append(gone, task.State)
			}
		}
	})
	for _, s := range gone {
		if s != simulate.TaskGone {
			t.Errorf("task on the gone agent ended %s, want TASK_GONE_BY_OPERATOR", s)
		}
	}
	if len(gone) == 0 {
		t.Error("no task ended with the gone agent")
	}
}

func TestMarkGoneAfterInstanceTermination(t *testing.T) {
	// The clean-up after terminating an instance: its agent is unreachable, and MARK_AGENT_GONE works.
	c := newCluster(t, groupScenario("{value: 60s}", 0, 2, 5))
	victim := c.members("asg")[0]
	_, err := c.w.TerminateInstanceInGroup(victim.ID, true)
	mustOK(t, err)
	c.advance(2 * time.Minute)
	mustOK(t, c.w.MarkAgentGone(victim.AgentID))
	mustOK(t, c.w.MarkAgentGone(victim.AgentID))
	c.view(func(v *simulate.View) {
		if !v.AgentGone(victim.AgentID) || v.AgentUnreachable(victim.AgentID) {
			t.Errorf("gone %v unreachable %v, want gone only", v.AgentGone(victim.AgentID), v.AgentUnreachable(victim.AgentID))
		}
	})
}

func TestMesosLeaderChangeEndsSubscriptions(t *testing.T) {
	sc := strings.Replace(staticPools, "pools:", "mesos: {masters: 3}\npools:", 1)
	c := newCluster(t, sc)
	var snapshot int
	sub, err := c.w.SubscribeMesos(0, 100, func(v *simulate.View) { snapshot = len(v.Agents()) })
	mustOK(t, err)
	if snapshot != 3 {
		t.Errorf("SUBSCRIBED snapshot has %d agents, want 3", snapshot)
	}
	_, err = c.w.SubscribeMesos(1, 100, func(*simulate.View) {})
	wantKind(t, err, simulate.KindUnavailable, "not the leading master")

	spreadApp(t, c, 1)
	events, closed := drain(sub)
	if closed || len(events) == 0 || events[0].Type != simulate.MesosTaskAdded {
		t.Fatalf("events before failover: %d, closed %v; want TASK_ADDED first", len(events), closed)
	}

	mustOK(t, c.w.SetMesosLeader(2))
	if _, closed := drain(sub); !closed {
		t.Error("the old leader's stream is still open after failover")
	}
	c.view(func(v *simulate.View) {
		if i, since, ok := v.MesosLeader(); !ok || i != 2 || !since.Equal(c.clock.Now()) {
			t.Errorf("leader %d since %s (ok %v), want 2 since now", i, since, ok)
		}
	})
	sub2, err := c.w.SubscribeMesos(2, 100, func(*simulate.View) {})
	mustOK(t, err)
	defer sub2.Close()

	mustOK(t, c.w.SetMesosLeader(-1))
	if _, closed := drain(sub2); !closed {
		t.Error("stream still open with no leader elected")
	}
	c.view(func(v *simulate.View) {
		if _, _, ok := v.MesosLeader(); ok {
			t.Error("a leader is reported while none is elected")
		}
	})
	wantKind(t, c.w.SetMesosLeader(3), simulate.KindBadRequest, "out of range")
}

func TestMarathonLeaderChangeEndsEventStreams(t *testing.T) {
	sc := strings.Replace(staticPools, "pools:", "marathon: {instances: 2}\npools:", 1)
	c := newCluster(t, sc)
	sub := c.w.SubscribeMarathon(100)
	mustOK(t, c.w.SetMarathonLeader(1))
	if _, closed := drain(sub); !closed {
		t.Error("event stream still open after the Marathon leader changed")
	}
	c.view(func(v *simulate.View) {
		if v.MarathonLeader() != 1 {
			t.Errorf("Marathon leader %d, want 1", v.MarathonLeader())
		}
	})
	mustOK(t, c.w.SetMarathonLeader(-1))
	c.view(func(v *simulate.View) {
		if v.MarathonLeader() != -1 {
			t.Errorf("Marathon leader %d, want -1", v.MarathonLeader())
		}
	})
	wantKind(t, c.w.SetMarathonLeader(2), simulate.KindBadRequest, "out of range")
}
