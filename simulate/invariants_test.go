package simulate_test

import (
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// TestDiurnalDayKeepsTheModelConsistent runs the diurnal scenario for a simulated day at one-minute
// steps, with the operations that remove agents mixed in, and checks after every step what any client
// of the simulator relies on.
func TestDiurnalDayKeepsTheModelConsistent(t *testing.T) {
	sc, err := simulate.LoadScenario("diurnal")
	mustOK(t, err)
	c := newClusterFrom(t, sc)
	start := sc.StartTime()

	// Churn at fixed times: each removes or adds agents while tasks run on them.
	churn := map[time.Duration]func(){
		2 * time.Hour: func() { // drain the busiest agent and mark it gone
			mustOK(t, c.w.DrainAgent(busiest(c).ID, ptr(30*time.Second), true))
		},
		3 * time.Hour: func() { // the nightly job is running now: its low-demand hour
			mustOK(t, c.w.SetDesiredCapacity("marmot-web-ondemand", 6, false))
		},
		5 * time.Hour: func() { // maintenance: schedule, bring down, bring back
			a := busiest(c)
			mustOK(t, c.w.UpdateMaintenanceSchedule(window(c.clock.Now(), a.Machine())))
			mustOK(t, c.w.StartMaintenance([]simulate.MachineID{a.Machine()}))
			mustOK(t, c.w.StopMaintenance([]simulate.MachineID{a.Machine()}))
		},
		9 * time.Hour:  func() { _, err := c.w.SpotInterruption("", "marmot-web-spot"); mustOK(t, err) },
		11 * time.Hour: func() { mustOK(t, c.w.SetDesiredCapacity("marmot-web-ondemand", 24, false)) },
		20 * time.Hour: func() {
			_, err := c.w.TerminateInstanceInGroup(c.members("marmot-web-spot")[0].ID, true)
			mustOK(t, err)
		},
		22 * time.Hour: func() { mustOK(t, c.w.SetDesiredCapacity("marmot-web-ondemand", 8, false)) },
	}
	for m := time.Duration(0); m <= 24*time.Hour; m += time.Minute {
		c.clock.Set(start.Add(m))
		if f := churn[m]; f != nil {
			f()
		}
		c.view(func(v *simulate.View) { checkInvariants(t, m, v) })
		if t.Failed() {
			t.Fatalf("invariant broken at %s", m)
		}
		// At night demand is low and the pools are big enough: nothing may wait.
		if m == 3*time.Hour+30*time.Minute {
			c.view(func(v *simulate.View) {
				for _, e := range v.Queue() {
					t.Errorf("at %s %s waits (%d) although capacity suffices", m, e.App.ID, e.Count)
				}
			})
		}
	}
	s := c.w.Stats()
	if s.AgentsRemoved < 3 || s.InstancesTerminated < 10 || s.TasksLost == 0 {
		t.Errorf("the churn did not happen: %+v", s)
	}
}

// checkInvariants checks the model's bookkeeping: agents hold exactly their tasks' resources and
// ports, within their total; every live task sits on a registered agent and is counted by its app;
// nothing waits in the queue while some agent could take it.
func checkInvariants(t *testing.T, at time.Duration, v *simulate.View) {
	t.Helper()
	onAgents := 0
	for _, a := range v.Agents() {
		var sum simulate.Resources
		ports := map[uint64]bool{}
		for _, task := range a.Tasks() {
			onAgents++
			sum = sum.Add(task.Resources)
			if task.AgentID != a.ID {
				t.Errorf("%s: task %s listed on %s says agent %s", at, task.ID, a.ID, task.AgentID)
			}
			if live, ok := v.Task(task.ID); !ok || live != task {
				t.Errorf("%s: task %s on agent %s is not a live task", at, task.ID, a.ID)
			}
			for _, p := range task.Ports {
				if ports[p] {
					t.Errorf("%s: port %d used twice on %s", at, p, a.ID)
				}
				ports[p] = true
			}
		}
		if over(a.Allocated, a.Total) {
			t.Errorf("%s: agent %s allocates %+v of %+v", at, a.ID, a.Allocated, a.Total)
		}
		if d := a.Allocated.Sub(sum); abs(d.CPUs) > 1e-9 || abs(d.Mem) > 1e-9 {
			t.Errorf("%s: agent %s allocates %+v, its tasks hold %+v", at, a.ID, a.Allocated, sum)
		}
	}
	inApps := 0
	for _, app := range v.Apps() {
		for _, task := range app.Tasks() {
			inApps++
			if _, ok := v.Agent(task.AgentID); !ok {
				t.Errorf("%s: task %s of %s is on agent %s, which is not registered", at, task.ID, app.ID, task.AgentID)
			}
		}
	}
	if inApps != onAgents {
		t.Errorf("%s: apps count %d tasks, agents %d", at, inApps, onAgents)
	}
	for _, e := range v.Queue() {
		if e.Overdue && e.Summary.Processed != e.Summary.Unused {
			t.Errorf("%s: %s waits for %d although %d offers fit it", at, e.App.ID, e.Count, e.Summary.Processed-e.Summary.Unused)
		}
	}
}

func over(r, total simulate.Resources) bool {
	return r.CPUs > total.CPUs || r.Mem > total.Mem || r.Disk > total.Disk || r.GPUs > total.GPUs
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
