package policy

import (
	"fmt"
	"testing"
	"time"
)

// toyCluster closes the loop around PlanPool: launched instances join Mesos at once, Marathon places
// waiting tasks first fit, a drain moves an agent's tasks away at once, and a terminated instance is
// gone at the next minute. It checks the planner's promises over many plans rather than one.
type toyCluster struct {
	t       *testing.T
	w       *world
	waiting []Task
	added   int // agents added by scale-ups
	drained int // drains started
	lost    int // tasks a drain could not place elsewhere
	n       int
}

func (c *toyCluster) minute() PoolPlan {
	w := c.w
	w.snap.Observed = Observed{Mesos: w.now, Marathon: w.now, Cloud: w.now}
	w.snap.Waiting = nil
	for _, tsk := range c.waiting {
		w.wait(tsk.AppID, 1, tsk.Resources, "InsufficientCpus")
	}
	plan := w.plan()
	w.state = plan.Next
	for _, g := range plan.Groups {
		for range g.Add {
			c.n++
			w.agentIn(g.Name, fmt.Sprintf("n%03d", c.n))
			w.edit(fmt.Sprintf("n%03d", c.n), func(a *Agent) { a.RegisteredAt = w.now })
			c.added++
		}
	}
	for _, d := range plan.Drains {
		switch d.Action {
		case DrainStart:
			c.drained++
			var tasks []Task
			w.edit(d.Drain.AgentID, func(a *Agent) {
				tasks, a.Tasks, a.Allocated, a.Maintenance = a.Tasks, nil, Resources{}, MaintenanceDraining
			})
			c.lost += len(c.place(tasks))
		case DrainTerminate:
			c.remove(d.Drain.AgentID, d.Drain.InstanceID)
		}
	}
	c.waiting = c.place(c.waiting)
	w.now = w.now.Add(time.Minute)
	return plan
}

// place puts tasks first fit on the agents that take tasks and returns those that fit nowhere.
func (c *toyCluster) place(tasks []Task) []Task {
	var left []Task
	for _, tsk := range tasks {
		placed := false
		for i := range c.w.snap.Agents {
			a := &c.w.snap.Agents[i]
			if a.available() && a.Total.Sub(a.Allocated).Fits(tsk.Resources) {
				a.Tasks, a.Allocated = append(a.Tasks, tsk), a.Allocated.Add(tsk.Resources)
				placed = true
				break
			}
		}
		if !placed {
			left = append(left, tsk)
		}
	}
	return left
}

func (c *toyCluster) remove(agentID, instanceID string) {
	w := c.w
	for i, a := range w.snap.Agents {
		if a.ID == agentID {
			w.snap.Agents = append(w.snap.Agents[:i], w.snap.Agents[i+1:]...)
			break
		}
	}
	g := &w.snap.Groups[0]
	for i, in := range g.Instances {
		if in.ID == instanceID {
			g.Instances = append(g.Instances[:i], g.Instances[i+1:]...)
			g.Desired--
			break
		}
	}
}

// stop kills the tasks of an app.
func (c *toyCluster) stop(app string) {
	for i := range c.w.snap.Agents {
		a := &c.w.snap.Agents[i]
		kept := a.Tasks[:0]
		a.Allocated = Resources{}
		for _, tsk := range a.Tasks {
			if tsk.AppID != app {
				kept = append(kept, tsk)
				a.Allocated = a.Allocated.Add(tsk.Resources)
			}
		}
		a.Tasks = kept
	}
}

// TestLoopGrowsThenShrinksWithoutChurn runs a burst and its end through two simulated hours: the pool
// grows until nothing waits, then shrinks without ever growing again and without a drain whose tasks
// could not be placed elsewhere.
func TestLoopGrowsThenShrinksWithoutChurn(t *testing.T) {
	w := newWorld()
	w.pol.MinAgents = 2
	w.groupNamed("asg-a").Max = 100
	w.agents(4, tk("/base", 1, 512))
	c := &toyCluster{t: t, w: w}
	for i := range 60 {
		c.waiting = append(c.waiting, tk(fmt.Sprintf("/burst-%d", i%3), 1.5, 1024))
	}
	for range 5 {
		c.minute()
	}
	if len(c.waiting) != 0 || c.added == 0 {
		t.Fatalf("after the burst: %d tasks still waiting, %d agents added", len(c.waiting), c.added)
	}
	// 60 tasks of 1.5 cpus: 8 fit the free space of the 4 agents, the 52 others two per new agent.
	peak := len(w.snap.Agents)
	if peak != 4+26 {
		t.Errorf("the burst took %d agents, want 30", peak)
	}
	// The burst ends.
	c.stop("/burst-0")
	c.stop("/burst-1")
	addedAtPeak := c.added
	var last PoolPlan
	for range 120 {
		last = c.minute()
	}
	if c.added != addedAtPeak {
		t.Errorf("the pool grew again by %d agents while shrinking", c.added-addedAtPeak)
	}
	if c.lost != 0 {
		t.Errorf("%d tasks of drained agents found no room", c.lost)
	}
	final := len(w.snap.Agents)
	if final >= peak || c.drained == 0 {
		t.Errorf("the pool did not shrink: %d agents at the peak, %d at the end", peak, final)
	}
	used := last.ScaleUp.Used.Share(last.ScaleUp.Capacity)
	if used > w.pol.TargetUtilization+1e-9 {
		t.Errorf("ended above target utilization: %.2f", used)
	}
	t.Logf("peak %d agents, end %d agents (utilization %.2f), %d drains", peak, final, used, c.drained)
}
