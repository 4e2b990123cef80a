package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// t0 is a Monday at noon, UTC.
var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// m5xlarge is what an m5.xlarge agent offers Mesos.
var m5xlarge = Resources{CPUs: 4, Mem: 16000, Disk: 100000}

// world builds a pool snapshot, a policy and a state for one scenario: one group "asg-a" of m5.xlarge
// (min 0, max 20) whose agents are old enough to go and whose data is fresh.
type world struct {
	snap  PoolSnapshot
	pol   PoolPolicy
	state PoolState
	now   time.Time
	ips   int
}

func newWorld() *world {
	pol := DefaultPoolPolicy()
	pol.Name = "default"
	w := &world{pol: pol, now: t0, state: PoolState{
		UnneededSince: map[string]time.Time{}, MissingSince: map[string]time.Time{},
		Groups: map[string]GroupState{}, Drains: map[string]Drain{},
	}}
	w.snap = PoolSnapshot{Pool: "default", Observed: Observed{Mesos: t0, Marathon: t0, Cloud: t0}, Apps: map[string]App{}}
	w.group("asg-a", m5xlarge, 0, 20)
	return w
}

func (w *world) plan() PoolPlan { return PlanPool(w.snap, w.pol, w.state, w.now) }

// group adds an empty group.
func (w *world) group(name string, shape Resources, minSize, maxSize int) {
	w.snap.Groups = append(w.snap.Groups, Group{Name: name, Min: minSize, Max: maxSize, InstanceType: "m5.xlarge", Shape: shape})
}

func (w *world) groupNamed(name string) *Group {
	for i := range w.snap.Groups {
		if w.snap.Groups[i].Name == name {
			return &w.snap.Groups[i]
		}
	}
	panic("no group " + name)
}

// instance adds an InService instance to a group, launched two hours ago, and returns its IP.
func (w *world) instance(group, id string) string {
	w.ips++
	ip := fmt.Sprintf("10.0.%d.%d", w.ips/250, w.ips%250+1)
	g := w.groupNamed(group)
	g.Instances = append(g.Instances, Instance{ID: id, PrivateIP: ip, Lifecycle: LifecycleInService, LaunchTime: w.now.Add(-2 * time.Hour)})
	g.Desired++
	return ip
}

// agent adds an agent on a new instance i-<id> of asg-a running tasks.
func (w *world) agent(id string, tasks ...Task) { w.agentIn("asg-a", id, tasks...) }

func (w *world) agentIn(group, id string, tasks ...Task) {
	ip := w.instance(group, "i-"+id)
	shape := w.groupNamed(group).Shape
	if shape.IsZero() {
		shape = m5xlarge
	}
	w.addAgent(Agent{ID: id, Hostname: id + ".example", IP: ip, Total: shape}, tasks)
}

// staticAgent adds an agent that is no instance of any group.
func (w *world) staticAgent(id string, tasks ...Task) {
	w.ips++
	w.addAgent(Agent{ID: id, Hostname: id + ".example", IP: fmt.Sprintf("10.9.0.%d", w.ips), Total: m5xlarge}, tasks)
}

func (w *world) addAgent(a Agent, tasks []Task) {
	a.Pool, a.Active, a.RegisteredAt, a.Tasks = "default", true, w.now.Add(-2*time.Hour), tasks
	for _, t := range tasks {
		a.Allocated = a.Allocated.Add(t.Resources)
	}
	w.snap.Agents = append(w.snap.Agents, a)
}

// agents adds n agents a01, a02, ... each running the tasks.
func (w *world) agents(n int, tasks ...Task) {
	for i := 1; i <= n; i++ {
		w.agent(fmt.Sprintf("a%02d", i), tasks...)
	}
}

func (w *world) edit(id string, f func(a *Agent)) {
	for i := range w.snap.Agents {
		if w.snap.Agents[i].ID == id {
			f(&w.snap.Agents[i])
			return
		}
	}
	panic("no agent " + id)
}

func (w *world) editInstance(id string, f func(in *Instance)) {
	for gi := range w.snap.Groups {
		for ii := range w.snap.Groups[gi].Instances {
			if in := &w.snap.Groups[gi].Instances[ii]; in.ID == id {
				f(in)
				return
			}
		}
	}
	panic("no instance " + id)
}

// unneeded says every listed agent has been unneeded for d.
func (w *world) unneeded(d time.Duration, ids ...string) {
	for _, id := range ids {
		w.state.UnneededSince[id] = w.now.Add(-d)
	}
}

// allUnneeded says every agent has been unneeded for d.
func (w *world) allUnneeded(d time.Duration) {
	for _, a := range w.snap.Agents {
		w.state.UnneededSince[a.ID] = w.now.Add(-d)
	}
}

// wait adds a queue entry of count instances declined for the given reasons ("InsufficientCpus").
func (w *world) wait(app string, count int, need Resources, reasons ...string) {
	e := QueueEntry{AppID: app, Count: count, Resources: need, Since: w.now.Add(-time.Minute)}
	for _, r := range reasons {
		e.Rejections = append(e.Rejections, Rejection{Reason: r, Declined: 3})
	}
	w.snap.Waiting = append(w.snap.Waiting, e)
}

// drain records a drain of agent id started ago.
func (w *world) drain(id string, ago time.Duration) {
	for _, a := range w.snap.Agents {
		if a.ID != id {
			continue
		}
		g := "asg-a"
		w.state.Drains["i-"+id] = Drain{
			AgentID: id, Hostname: a.Hostname, IP: a.IP, InstanceID: "i-" + id, Group: g,
			Started: w.now.Add(-ago), Deadline: w.now.Add(-ago).Add(w.pol.ScaleDown.DrainDeadline.D),
		}
		return
	}
	panic("no agent " + id)
}

func tk(app string, cpus, mem float64) Task {
	return Task{AppID: app, Resources: Resources{CPUs: cpus, Mem: mem}}
}

func cpus(n float64) Resources { return Resources{CPUs: n, Mem: 128} }

// facts lists what a plan decided, one line per choice, so that a scenario can name the choices it is
// about while its golden file pins the rest.
func facts(p PoolPlan) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if p.Frozen != ReasonNone {
		add("frozen %s", p.Frozen)
	}
	for _, l := range p.ScaleUp.Limits {
		add("limit %s", l)
	}
	for _, g := range p.Groups {
		add("group %s +%d %s", g.Name, g.Add, g.Reason)
		if !g.BackoffUntil.IsZero() {
			add("backoff %s %s", g.Name, g.BackoffUntil.Sub(p.At))
		}
	}
	for _, wd := range p.Waiting {
		add("waiting %s %s", wd.AppID, wd.Reason)
	}
	for _, d := range p.Drains {
		add("drain %s %s %s", d.Drain.InstanceID, d.Action, d.Reason)
	}
	for _, in := range p.Instances {
		s := fmt.Sprintf("instance %s %s", in.ID, in.Reason)
		if in.Terminate {
			s += " terminate"
		}
		out = append(out, s)
	}
	for _, a := range p.Agents {
		add("agent %s %s", a.ID, a.Reason)
	}
	return out
}

// missingFacts returns the wanted facts the plan does not have.
func missingFacts(p PoolPlan, want []string) []string {
	have := facts(p)
	var missing []string
	for _, f := range want {
		if !slices.Contains(have, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		missing = append(missing, "have:\n\t"+strings.Join(have, "\n\t"))
	}
	return missing
}

// lineDiff shows where two texts first differ, with a few lines of context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	from := max(0, i-3)
	var b strings.Builder
	for j := from; j < i+5; j++ {
		if j < len(w) {
			fmt.Fprintf(&b, "-%4d %s\n", j+1, w[j])
		}
		if j < len(g) {
			fmt.Fprintf(&b, "+%4d %s\n", j+1, g[j])
		}
	}
	return b.String()
}
