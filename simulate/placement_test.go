package simulate_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// timing keeps the machinery's delays short and fixed so that tests can name exact instants.
const timing = `
timing:
  boot_delay: {value: 60s}
  instance_pending: 10s
  termination: 20s
  task_start: 5s
`

// staticPools is a scenario of static agents only: "xl" has three m5.xlarge (4 cpus, 14848 MB each)
// with rack r1.
const staticPools = timing + `
pools:
  - name: xl
    attributes: {rack: r1}
    static_agents: 3
    static_type: m5.xlarge
`

func TestPlacementAndQueueReasons(t *testing.T) {
	onePool := timing + `
pools:
  - name: solo
    static_agents: 1
    static_type: m5.xlarge
`
	mixed := timing + `
pools:
  - name: ads
    role: ads
    static_agents: 1
    static_type: m5.xlarge
  - name: small
    static_agents: 2
    static_type: m5.large
`
	twoAgents := timing + `
pools:
  - name: pair
    static_agents: 2
    static_type: m5.xlarge
`
	type row = [2]int // declined, processed
	cases := []struct {
		name     string
		scenario string
		app      simulate.AppUpdate
		// maintenance lists agents (by registration index) put in the maintenance schedule first.
		maintenance []int
		running     int
		waiting     int
		// rows are the funnel rows expected; every other row must have declined 0.
		rows map[string]row
		// avoid lists agents (by index) that must receive no task.
		avoid []int
		// spread requires every task on a different agent.
		spread bool
	}{
		{
			name: "apps that fit are placed", scenario: staticPools,
			app:     simulate.AppUpdate{Instances: ptr(3), CPUs: ptr(1.0), Mem: ptr(1024.0)},
			running: 3,
		},
		{
			name: "too many cpus for any agent", scenario: staticPools,
			app:     simulate.AppUpdate{Instances: ptr(2), CPUs: ptr(8.0), Mem: ptr(128.0)},
			waiting: 2,
			rows: map[string]row{
				simulate.ReasonUnfulfilledRole: {0, 3}, simulate.ReasonUnfulfilledConstraint: {0, 3},
				simulate.ReasonAgentMaintenance: {0, 3}, simulate.ReasonInsufficientCpus: {3, 3},
				simulate.ReasonInsufficientMemory: {0, 0},
			},
		},
		{
			name: "too much memory for any agent", scenario: staticPools,
			app:     simulate.AppUpdate{Instances: ptr(1), CPUs: ptr(1.0), Mem: ptr(20000.0)},
			waiting: 1,
			rows: map[string]row{
				simulate.ReasonInsufficientCpus: {0, 3}, simulate.ReasonInsufficientMemory: {3, 3},
				simulate.ReasonInsufficientDisk: {0, 0},
			},
		},
		{
			name: "a constraint no agent satisfies", scenario: staticPools,
			app:     simulate.AppUpdate{Instances: ptr(1), CPUs: ptr(0.5), Constraints: &[][]string{{"rack", "CLUSTER", "r9"}}},
			waiting: 1,
			rows:    map[string]row{simulate.ReasonUnfulfilledConstraint: {3, 3}, simulate.ReasonAgentMaintenance: {0, 0}},
		},
		{
			name: "UNIQUE hostname spreads tasks and queues the one too many", scenario: staticPools,
			app:     simulate.AppUpdate{Instances: ptr(4), CPUs: ptr(0.5), Constraints: &[][]string{{"hostname", "UNIQUE"}}},
			running: 3, waiting: 1, spread: true,
			rows: map[string]row{simulate.ReasonUnfulfilledConstraint: {3, 3}},
		},
		{
			name: "an agent reserved for another role", scenario: mixed,
			app:     simulate.AppUpdate{Instances: ptr(1), CPUs: ptr(3.0)},
			waiting: 1,
			// The ads agent fails the role first; the two m5.large (2 cpus) then fail on cpus.
			rows: map[string]row{simulate.ReasonUnfulfilledRole: {1, 3}, simulate.ReasonUnfulfilledConstraint: {0, 2}, simulate.ReasonInsufficientCpus: {2, 2}},
		},
		{
			name: "acceptedResourceRoles matching the agent's role", scenario: mixed,
			app:     simulate.AppUpdate{Instances: ptr(1), CPUs: ptr(3.0), AcceptedResourceRoles: &[]string{"ads"}},
			running: 1,
		},
		{
			name: "an agent in the maintenance schedule gets no new task", scenario: twoAgents,
			app:         simulate.AppUpdate{Instances: ptr(3), CPUs: ptr(1.0)},
			maintenance: []int{0}, running: 3, avoid: []int{0},
		},
		{
			name: "the only agent is in maintenance", scenario: onePool,
			app:         simulate.AppUpdate{Instances: ptr(1), CPUs: ptr(1.0)},
			maintenance: []int{0}, waiting: 1,
			rows: map[string]row{simulate.ReasonAgentMaintenance: {1, 1}, simulate.ReasonInsufficientCpus: {0, 0}},
		},
		{
			name: "ports run out before cpus and memory", scenario: onePool,
			// 31000-32000 is 1001 ports: fifteen tasks of 64 ports fit, the sixteenth does not.
			app:     simulate.AppUpdate{Instances: ptr(16), CPUs: ptr(0.1), Mem: ptr(16.0), Ports: ptr(64)},
			running: 15, waiting: 1,
			rows: map[string]row{simulate.ReasonInsufficientGpus: {0, 1}, simulate.ReasonInsufficientPorts: {1, 1}},
		},
		{
			name: "each offer counts once, for its first failing reason", scenario: mixed,
			// All three agents lack cpus; the ads agent fails on role first and small-0 on maintenance.
			app:         simulate.AppUpdate{Instances: ptr(1), CPUs: ptr(6.0)},
			maintenance: []int{1}, waiting: 1,
			rows: map[string]row{
				simulate.ReasonUnfulfilledRole: {1, 3}, simulate.ReasonUnfulfilledConstraint: {0, 2},
				simulate.ReasonNoReservation: {0, 2}, simulate.ReasonAgentMaintenance: {1, 2},
				simulate.ReasonInsufficientCpus: {1, 1}, simulate.ReasonInsufficientMemory: {0, 0},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, tc.scenario)
			agents := c.agents()
			var machines []simulate.MachineID
			for _, i := range tc.maintenance {
				machines = append(machines, agents[i].Machine())
			}
			if len(machines) > 0 {
				mustOK(t, c.w.UpdateMaintenanceSchedule([]simulate.MaintenanceWindow{{Machines: machines, Start: c.clock.Now(), Duration: time.Hour}}))
			}
			_, _, err := c.w.UpdateApp("/probe", tc.app, false)
			mustOK(t, err)
			c.advance(10 * time.Second)

			tasks := c.tasks("/probe")
			if got := running(tasks); got != tc.running {
				t.Errorf("running tasks = %d, want %d", got, tc.running)
			}
			e, queued := c.queue("/probe")
			if tc.waiting == 0 {
				if queued {
					t.Fatalf("app is queued (%d), want nothing waiting", e.Count)
				}
			} else {
				if !queued || e.Count != tc.waiting {
					t.Fatalf("queue count = %d (queued %v), want %d", e.Count, queued, tc.waiting)
				}
				checkFunnel(t, e, tc.rows)
			}
			hosts := map[string]bool{}
			for _, task := range tasks {
				for _, i := range tc.avoid {
					if task.AgentID == agents[i].ID {
						t.Errorf("task %s placed on agent %d, which is in maintenance", task.ID, i)
					}
				}
				if tc.spread && hosts[task.Host] {
					t.Errorf("two tasks on %s despite UNIQUE hostname", task.Host)
				}
				hosts[task.Host] = true
			}
		})
	}
}

// checkFunnel checks the rows a test names and the funnel's own laws: rows in Marathon's order,
// processed decreasing by exactly what the row above declined, and declines adding up to the unused
// offers.
func checkFunnel(t *testing.T, e simulate.QueueEntry, want map[string][2]int) {
	t.Helper()
	got := reasons(e)
	for r, w := range want {
		if got[r] != w {
			t.Errorf("%s (declined, processed) = %v, want %v", r, got[r], w)
		}
	}
	rows := e.Summary.Reasons
	if len(rows) != len(simulate.Reasons) {
		t.Fatalf("%d rows, want %d", len(rows), len(simulate.Reasons))
	}
	declined := 0
	for i, r := range rows {
		if r.Reason != simulate.Reasons[i] {
			t.Errorf("row %d is %s, want %s", i, r.Reason, simulate.Reasons[i])
		}
		if _, named := want[r.Reason]; !named && r.Declined != 0 {
			t.Errorf("%s declined %d offers, want 0", r.Reason, r.Declined)
		}
		if i > 0 && r.Processed != rows[i-1].Processed-rows[i-1].Declined {
			t.Errorf("%s processed %d, want %d (previous row minus its declines)", r.Reason, r.Processed, rows[i-1].Processed-rows[i-1].Declined)
		}
		declined += r.Declined
	}
	if rows[0].Processed != e.Summary.Processed || declined != e.Summary.Unused {
		t.Errorf("first row processed %d of %d offers; declines %d of %d unused", rows[0].Processed, e.Summary.Processed, declined, e.Summary.Unused)
	}
}

func TestConstraintOperators(t *testing.T) {
	// Three pools of one agent each, told apart by attributes.
	sc := timing + `
pools:
  - name: a
    attributes: {rack: r1, tier: gold}
    static_agents: 1
    static_type: m5.xlarge
  - name: b
    attributes: {rack: r1, tier: silver}
    static_agents: 1
    static_type: m5.xlarge
  - name: c
    attributes: {rack: r2, tier: bronze}
    static_agents: 1
    static_type: m5.xlarge
`
	cases := []struct {
		name       string
		constraint []string
		instances  int
		by         string         // the attribute the tasks are counted by
		want       map[string]int // tasks per value of that attribute; the rest wait
	}{
		{"CLUSTER with a value", []string{"rack", "CLUSTER", "r2"}, 2, "pool", map[string]int{"c": 2}},
		{"IS", []string{"tier", "IS", "silver"}, 1, "pool", map[string]int{"b": 1}},
		{"LIKE matches the whole value", []string{"tier", "LIKE", "g.*"}, 2, "pool", map[string]int{"a": 2}},
		{"LIKE is not a substring search", []string{"tier", "LIKE", "ol"}, 1, "pool", map[string]int{}},
		{"UNLIKE", []string{"rack", "UNLIKE", "r1"}, 1, "pool", map[string]int{"c": 1}},
		{"MAX_PER", []string{"rack", "MAX_PER", "1"}, 3, "rack", map[string]int{"r1": 1, "r2": 1}},
		{"GROUP_BY with the number of groups spreads evenly", []string{"pool", "GROUP_BY", "3"}, 6, "pool", map[string]int{"a": 2, "b": 2, "c": 2}},
		{"GROUP_BY waits for the asked number of groups", []string{"rack", "GROUP_BY", "3"}, 3, "rack", map[string]int{"r1": 1, "r2": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, sc)
			value := map[string]string{}
			for _, a := range c.agents() {
				for _, at := range a.Attributes {
					if at.Name == tc.by {
						value[a.ID] = at.Value()
					}
				}
			}
			_, _, err := c.w.UpdateApp("/probe", simulate.AppUpdate{Instances: ptr(tc.instances), CPUs: ptr(0.1), Constraints: &[][]string{tc.constraint}}, false)
			mustOK(t, err)
			c.advance(10 * time.Second)
			got := map[string]int{}
			for _, task := range c.tasks("/probe") {
				got[value[task.AgentID]]++
			}
			placed := 0
			for v, n := range tc.want {
				placed += n
				if got[v] != n {
					t.Errorf("%s=%s has %d tasks, want %d (all: %v)", tc.by, v, got[v], n, got)
				}
			}
			if n := len(c.tasks("/probe")); n != placed {
				t.Errorf("%d tasks placed, want %d (all: %v)", n, placed, got)
			}
			if e, ok := c.queue("/probe"); tc.instances > placed && (!ok || e.Count != tc.instances-placed) {
				t.Errorf("queue count = %d, want %d", e.Count, tc.instances-placed)
			}
		})
	}
}

func TestInvalidConstraintIsRejected(t *testing.T) {
	c := newCluster(t, staticPools)
	_, _, err := c.w.UpdateApp("/bad", simulate.AppUpdate{Constraints: &[][]string{{"rack", "NEAR", "r1"}}}, false)
	wantKind(t, err, simulate.KindInvalid)
	var e *simulate.Error
	errors.As(err, &e)
	if !strings.Contains(e.Code, "/constraints(0)") {
		t.Errorf("details %q do not name the constraint", e.Code)
	}
	if _, ok := c.app("/bad"); ok {
		t.Error("an invalid app was created")
	}
}

func TestAllocationStaysOnTheMesosGrid(t *testing.T) {
	// 0.1 cpu is not exact in binary: thousands of launches and kills would otherwise drift.
	c := newCluster(t, staticPools)
	for i := 0; i < 200; i++ {
		n := 37
		if i%2 == 1 {
			n = 3
		}
		_, _, err := c.w.UpdateApp("/tiny", simulate.AppUpdate{Instances: ptr(n), CPUs: ptr(0.1), Mem: ptr(10.1)}, true)
		mustOK(t, err)
		c.advance(10 * time.Second)
	}
	_, _, err := c.w.UpdateApp("/tiny", simulate.AppUpdate{Instances: ptr(0)}, true)
	mustOK(t, err)
	c.advance(10 * time.Second)
	for _, a := range c.agents() {
		if a.Allocated != (simulate.Resources{}) {
			t.Errorf("agent %s allocates %+v with no task", a.ID, a.Allocated)
		}
	}
}

func TestTasksWithoutStartDelayRunAtOnce(t *testing.T) {
	c := newCluster(t, staticPools)
	_, _, err := c.w.UpdateApp("/instant", simulate.AppUpdate{Instances: ptr(2), CPUs: ptr(0.1), StartDelay: ptr(time.Duration(0))}, false)
	mustOK(t, err)
	// No clock movement: the very next look must find the tasks placed and running, with nothing
	// overdue left in the timeline.
	if got := running(c.tasks("/instant")); got != 2 {
		t.Errorf("%d tasks running, want 2", got)
	}
	if d := c.deployments(); len(d) != 0 {
		t.Errorf("deployment still running: %+v", d)
	}
	if next, ok := c.w.NextEvent(); ok && !next.After(c.clock.Now()) {
		t.Errorf("an event at %s is overdue at %s", next, c.clock.Now())
	}
}

func TestAgentsComeInRegistrationOrder(t *testing.T) {
	c := newCluster(t, timing+`
pools:
  - name: many
    static_agents: 12
    static_type: m5.large
`)
	agents := c.agents()
	for i, a := range agents {
		if want := "-S" + strconv.Itoa(i); !strings.HasSuffix(a.ID, want) {
			t.Errorf("agent %d is %s, want the one ending in %s", i, a.ID, want)
		}
	}
}
