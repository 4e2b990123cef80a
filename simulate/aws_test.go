package simulate_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// groupScenario is one pool served by one Auto Scaling group; boot is the boot_delay YAML.
func groupScenario(boot string, min, desired, max int) string {
	return `
timing:
  boot_delay: ` + boot + `
  instance_pending: 20s
  termination: 30s
  task_start: 5s
pools:
  - name: default
    groups:
      - name: asg
        instance_type: m5.xlarge
        min: ` + strconv.Itoa(min) + `
        max: ` + strconv.Itoa(max) + `
        desired: ` + strconv.Itoa(desired) + `
        cooldown: 300s
`
}

// newInstances returns the members launched at or after start (the scenario's own instances are
// dated an hour before it begins).
func newInstances(c *cluster, group string, start time.Time) []simulate.Instance {
	var out []simulate.Instance
	for _, i := range c.members(group) {
		if !i.LaunchTime.Before(start) {
			out = append(out, i)
		}
	}
	return out
}

func TestBootDelayFixed(t *testing.T) {
	c := newCluster(t, groupScenario("{distribution: fixed, value: 90s}", 0, 1, 5))
	start := c.clock.Now()
	mustOK(t, c.w.SetDesiredCapacity("asg", 3, false))
	launched := newInstances(c, "asg", start)
	if len(launched) != 2 {
		t.Fatalf("%d instances launched, want 2", len(launched))
	}
	agentsBefore := len(c.agents())

	steps := []struct {
		at        time.Duration
		lifecycle simulate.LifecycleState
		state     simulate.InstanceState
		joined    bool
	}{
		{0, simulate.LifecyclePending, simulate.InstancePending, false},
		{19 * time.Second, simulate.LifecyclePending, simulate.InstancePending, false},
		{20 * time.Second, simulate.LifecycleInService, simulate.InstanceRunning, false},
		{89 * time.Second, simulate.LifecycleInService, simulate.InstanceRunning, false},
		{90 * time.Second, simulate.LifecycleInService, simulate.InstanceRunning, true},
	}
	for _, s := range steps {
		c.clock.Set(start.Add(s.at))
		for _, i := range launched {
			got := c.instance(i.ID)
			if got.Lifecycle != s.lifecycle || got.State != s.state {
				t.Errorf("at %s: %s is %s/%s, want %s/%s", s.at, i.ID, got.Lifecycle, got.State, s.lifecycle, s.state)
			}
			if (got.AgentID != "") != s.joined {
				t.Errorf("at %s: %s has agent %q, want joined=%v", s.at, i.ID, got.AgentID, s.joined)
			}
		}
	}
	agents := c.agents()
	if len(agents) != agentsBefore+2 {
		t.Fatalf("%d agents, want %d", len(agents), agentsBefore+2)
	}
	for _, a := range agents[agentsBefore:] {
		inst := c.instance(a.InstanceID)
		if a.IP != inst.PrivateIP || a.Hostname != inst.PrivateDNS || a.Pool != "default" {
			t.Errorf("agent %s (%s %s pool %s) does not match instance %s (%s %s)", a.ID, a.Hostname, a.IP, a.Pool, inst.ID, inst.PrivateDNS, inst.PrivateIP)
		}
		if a.Total.CPUs != 4 || a.Total.Mem != 14848 {
			t.Errorf("agent %s offers %+v, want an m5.xlarge", a.ID, a.Total)
		}
	}
}

func TestBootDelayUniform(t *testing.T) {
	c := newCluster(t, groupScenario("{distribution: uniform, min: 30s, max: 60s}", 0, 0, 40))
	start := c.clock.Now()
	mustOK(t, c.w.SetDesiredCapacity("asg", 40, false))
	c.advance(10 * time.Minute)
	agents := c.agents()
	if len(agents) != 40 {
		t.Fatalf("%d agents registered, want 40", len(agents))
	}
	lo, hi := time.Hour, time.Duration(0)
	for _, a := range agents {
		d := a.RegisteredAt.Sub(start)
		if d < 30*time.Second || d >= 60*time.Second {
			t.Errorf("agent %s registered after %s, outside [30s, 60s)", a.ID, d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if hi-lo < 15*time.Second {
		t.Errorf("boot delays span only %s..%s: not drawn from the distribution", lo, hi)
	}
}

func TestWaitingTasksLandOnNewAgents(t *testing.T) {
	c := newCluster(t, groupScenario("{value: 60s}", 0, 1, 5))
	// Two instances of 3 cpus: only one fits on each 4-cpu agent.
	_, _, err := c.w.UpdateApp("/big", simulate.AppUpdate{Instances: ptr(2), CPUs: ptr(3.0), Mem: ptr(1024.0)}, false)
	mustOK(t, err)
	c.advance(10 * time.Second)
	if e, ok := c.queue("/big"); !ok || e.Count != 1 || reasons(e)[simulate.ReasonInsufficientCpus][0] != 1 {
		t.Fatalf("want one instance waiting on InsufficientCpus, got %+v (queued %v)", e.Summary.Reasons, ok)
	}
	mustOK(t, c.w.SetDesiredCapacity("asg", 2, false))
	c.advance(59 * time.Second)
	if _, ok := c.queue("/big"); !ok {
		t.Fatal("placed before the new agent booted")
	}
	c.advance(time.Second)
	c.advance(5 * time.Second)
	if _, ok := c.queue("/big"); ok {
		t.Fatal("still waiting after the new agent registered")
	}
	tasks := c.tasks("/big")
	if running(tasks) != 2 || tasks[0].AgentID == tasks[1].AgentID {
		t.Fatalf("want two running tasks on two agents, got %+v", tasks)
	}
}

func TestTermination(t *testing.T) {
	cases := []struct {
		name        string
		decrement   bool
		min         int
		wantDesired int
		replacement bool
	}{
		{"without decrement the group launches a replacement", false, 0, 3, true},
		{"with decrement the desired capacity drops", true, 0, 2, false},
		{"without decrement at min size", false, 3, 3, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, groupScenario("{value: 60s}", tc.min, 3, 5))
			_, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(3), CPUs: ptr(1.0), Constraints: &[][]string{{"hostname", "UNIQUE"}}}, false)
			mustOK(t, err)
			c.advance(10 * time.Second)
			victim := c.members("asg")[0]
			victimTasks := c.agentTasks(victim.AgentID)
			if len(victimTasks) != 1 {
				t.Fatalf("victim agent runs %d tasks, want 1", len(victimTasks))
			}
			start := c.clock.Now()

			act, err := c.w.TerminateInstanceInGroup(victim.ID, tc.decrement)
			mustOK(t, err)
			if act.StatusCode != "InProgress" || !strings.Contains(act.Description, victim.ID) {
				t.Errorf("activity %+v", act)
			}
			if got := c.group("asg").Desired; got != tc.wantDesired {
				t.Errorf("desired = %d, want %d", got, tc.wantDesired)
			}
			if i := c.instance(victim.ID); i.Lifecycle != simulate.LifecycleTerminating || i.State != simulate.InstanceShuttingDown {
				t.Errorf("victim is %s/%s, want Terminating/shutting-down", i.Lifecycle, i.State)
			}
			// The agent stops answering at once; the master removes it only after the ping timeout.
			if a, ok := c.agent(victim.AgentID); !ok || a.Active || a.Connected() {
				t.Errorf("agent right after termination: present %v active %v connected %v; want present, inactive, disconnected", ok, a.Active, a.Connected())
			}

			c.clock.Set(start.Add(30 * time.Second))
			if i := c.instance(victim.ID); i.Lifecycle != simulate.LifecycleTerminated || i.State != simulate.InstanceTerminated {
				t.Errorf("victim after 30s is %s/%s, want Terminated", i.Lifecycle, i.State)
			}
			for _, m := range c.members("asg") {
				if m.ID == victim.ID {
					t.Error("terminated instance still a group member")
				}
			}
			if got := len(newInstances(c, "asg", start)); (got == 1) != tc.replacement {
				t.Errorf("%d replacement instances, want replacement=%v", got, tc.replacement)
			}

			c.clock.Set(start.Add(74 * time.Second))
			if _, ok := c.agent(victim.AgentID); !ok {
				t.Fatal("agent removed before the ping timeout")
			}
			c.clock.Set(start.Add(75 * time.Second))
			if _, ok := c.agent(victim.AgentID); ok {
				t.Fatal("agent still registered after the ping timeout")
			}
			var unreachable bool
			c.view(func(v *simulate.View) { unreachable = v.AgentUnreachable(victim.AgentID) })
			if !unreachable {
				t.Error("removed agent is not reported unreachable")
			}
			if c.w.Stats().TasksLost != 1 {
				t.Errorf("tasks lost = %d, want 1", c.w.Stats().TasksLost)
			}
			// Marathon replaces the lost task, on an agent that is left (or on the replacement).
			c.advance(3 * time.Minute)
			tasks := c.tasks("/web")
			wantRunning := 3
			if !tc.replacement {
				wantRunning = 2 // UNIQUE hostname on two agents
			}
			if running(tasks) != wantRunning {
				t.Errorf("%d tasks running after the replacement, want %d", running(tasks), wantRunning)
			}
			for _, task := range tasks {
				if task.AgentID == victim.AgentID {
					t.Errorf("task %s still on the removed agent", task.ID)
				}
			}
		})
	}
}

func TestTerminateErrors(t *testing.T) {
	c := newCluster(t, groupScenario("{value: 60s}", 2, 2, 5))
	victim := c.members("asg")[0]
	_, err := c.w.TerminateInstanceInGroup(victim.ID, true)
	wantKind(t, err, simulate.KindBadRequest, "ValidationError", "min")
	if i := c.instance(victim.ID); i.Lifecycle != simulate.LifecycleInService {
		t.Errorf("refused termination still moved the instance to %s", i.Lifecycle)
	}
	_, err = c.w.TerminateInstanceInGroup("i-doesnotexist", false)
	wantKind(t, err, simulate.KindBadRequest, "ValidationError")

	// A second request for an instance already terminating returns the same activity.
	a1, err := c.w.TerminateInstanceInGroup(victim.ID, false)
	mustOK(t, err)
	a2, err := c.w.TerminateInstanceInGroup(victim.ID, false)
	mustOK(t, err)
	if a1.ID != a2.ID {
		t.Errorf("second termination made activity %s, want %s again", a2.ID, a1.ID)
	}
}

func TestScaleInSkipsProtectedInstances(t *testing.T) {
	c := newCluster(t, groupScenario("{value: 60s}", 0, 5, 10))
	members := c.members("asg")
	protected := map[string]bool{members[0].ID: true, members[2].ID: true, members[4].ID: true}
	mustOK(t, c.w.SetInstanceProtection("asg", []string{members[0].ID, members[2].ID, members[4].ID}, true))

	mustOK(t, c.w.SetDesiredCapacity("asg", 3, false))
	for _, m := range c.members("asg") {
		if m.Lifecycle == simulate.LifecycleTerminating && protected[m.ID] {
			t.Errorf("protected instance %s is terminating", m.ID)
		}
	}
	// Only the two unprotected ones can go; asking for fewer still leaves the protected ones running.
	mustOK(t, c.w.SetDesiredCapacity("asg", 0, false))
	c.advance(time.Minute)
	left := c.members("asg")
	if len(left) != 3 {
		t.Fatalf("%d members left, want the 3 protected", len(left))
	}
	for _, m := range left {
		if !protected[m.ID] || m.Lifecycle != simulate.LifecycleInService {
			t.Errorf("member %s (%s) left, want only protected InService ones", m.ID, m.Lifecycle)
		}
	}
	err := c.w.SetInstanceProtection("asg", []string{"i-nope"}, true)
	wantKind(t, err, simulate.KindBadRequest, "not part of")
}

func TestSetDesiredCapacity(t *testing.T) {
	cases := []struct {
		name     string
		desired  int
		honor    bool
		wait     time.Duration // since the previous scaling activity
		wantErr  simulate.ErrorKind
		wantText string
	}{
		{"within bounds", 4, false, 0, 0, ""},
		{"above max", 11, false, 0, simulate.KindBadRequest, "New SetDesiredCapacity value 11 is above max value 10"},
		{"below min", 0, false, 0, simulate.KindBadRequest, "below min value 1"},
		{"HonorCooldown inside the cooldown", 4, true, 299 * time.Second, simulate.KindScalingInProgress, "ScalingActivityInProgress"},
		{"HonorCooldown after the cooldown", 4, true, 300 * time.Second, 0, ""},
		{"without HonorCooldown the cooldown does not matter", 4, false, time.Second, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, groupScenario("{value: 60s}", 1, 2, 10))
			mustOK(t, c.w.SetDesiredCapacity("asg", 3, false)) // the previous scaling activity
			c.advance(tc.wait)
			err := c.w.SetDesiredCapacity("asg", tc.desired, tc.honor)
			if tc.wantErr != 0 {
				wantKind(t, err, tc.wantErr, tc.wantText)
				if g := c.group("asg"); g.Desired != 3 {
					t.Errorf("refused call changed desired to %d", g.Desired)
				}
				return
			}
			mustOK(t, err)
			g := c.group("asg")
			live := 0
			for _, i := range g.Instances() {
				if i.Lifecycle == simulate.LifecyclePending || i.Lifecycle == simulate.LifecycleInService {
					live++
				}
			}
			if g.Desired != tc.desired || live != tc.desired {
				t.Errorf("desired %d with %d live members, want %d", g.Desired, live, tc.desired)
			}
		})
	}
	c := newCluster(t, groupScenario("{value: 60s}", 1, 2, 10))
	wantKind(t, c.w.SetDesiredCapacity("nope", 1, false), simulate.KindBadRequest, "not found")
}

func TestActivitiesRecordLaunchesAndTerminations(t *testing.T) {
	c := newCluster(t, groupScenario("{value: 60s}", 0, 1, 5))
	mustOK(t, c.w.SetDesiredCapacity("asg", 2, false))
	g := c.group("asg")
	acts := g.Activities()
	if len(acts) == 0 || !strings.HasPrefix(acts[0].Description, "Launching a new EC2 instance") || acts[0].StatusCode != "PreInService" {
		t.Fatalf("newest activity %+v, want a launch in PreInService", acts[0])
	}
	c.advance(20 * time.Second)
	g = c.group("asg")
	if a := g.Activities()[0]; a.StatusCode != "Successful" || a.Progress != 100 {
		t.Errorf("launch activity after InService: %s %d", a.StatusCode, a.Progress)
	}
}
