package simulate_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// cluster is a world on a virtual clock, as a test drives it.
type cluster struct {
	t     testing.TB
	w     *simulate.World
	clock *simulate.VirtualClock
}

// newCluster builds a world from a YAML scenario; the scenario must be valid.
func newCluster(t testing.TB, scenario string) *cluster {
	t.Helper()
	sc, err := simulate.ParseScenario([]byte(scenario))
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	return newClusterFrom(t, sc)
}

func newClusterFrom(t testing.TB, sc *simulate.Scenario) *cluster {
	t.Helper()
	clock := simulate.NewVirtualClock(sc.StartTime())
	w, err := simulate.New(sc, clock, simulate.Options{})
	if err != nil {
		t.Fatalf("new world: %v", err)
	}
	return &cluster{t: t, w: w, clock: clock}
}

// advance moves model time forward and runs everything due.
func (c *cluster) advance(d time.Duration) {
	c.clock.Advance(d)
	c.w.Step()
}

// view runs fn on an up-to-date view.
func (c *cluster) view(fn func(v *simulate.View)) { c.w.View(fn) }

// agents returns copies of the registered agents, in registration order.
func (c *cluster) agents() []simulate.Agent {
	var out []simulate.Agent
	c.view(func(v *simulate.View) {
		for _, a := range v.Agents() {
			out = append(out, *a)
		}
	})
	return out
}

func (c *cluster) agent(id string) (simulate.Agent, bool) {
	var a simulate.Agent
	var ok bool
	c.view(func(v *simulate.View) {
		if p, found := v.Agent(id); found {
			a, ok = *p, true
		}
	})
	return a, ok
}

// tasks returns copies of an app's live tasks.
func (c *cluster) tasks(app string) []simulate.Task {
	var out []simulate.Task
	c.view(func(v *simulate.View) {
		if a, ok := v.App(app); ok {
			for _, t := range a.Tasks() {
				out = append(out, *t)
			}
		}
	})
	return out
}

// agentTasks returns the ids of the live tasks on an agent.
func (c *cluster) agentTasks(id string) []string {
	var out []string
	c.view(func(v *simulate.View) {
		if a, ok := v.Agent(id); ok {
			for _, t := range a.Tasks() {
				out = append(out, t.ID)
			}
		}
	})
	return out
}

func (c *cluster) app(id string) (simulate.App, bool) {
	var out simulate.App
	var ok bool
	c.view(func(v *simulate.View) {
		if a, found := v.App(id); found {
			out, ok = *a, true
		}
	})
	return out, ok
}

func (c *cluster) queue(app string) (simulate.QueueEntry, bool) {
	var out simulate.QueueEntry
	var ok bool
	c.view(func(v *simulate.View) {
		for _, e := range v.Queue() {
			if e.App.ID == app {
				out, ok = e, true
			}
		}
	})
	return out, ok
}

func (c *cluster) group(name string) simulate.Group {
	var g simulate.Group
	c.view(func(v *simulate.View) {
		p, ok := v.Group(name)
		if !ok {
			c.t.Fatalf("no group %s", name)
		}
		g = *p
	})
	return g
}

// members returns copies of a group's member instances.
func (c *cluster) members(group string) []simulate.Instance {
	var out []simulate.Instance
	c.view(func(v *simulate.View) {
		g, _ := v.Group(group)
		for _, i := range g.Instances() {
			out = append(out, *i)
		}
	})
	return out
}

func (c *cluster) instance(id string) simulate.Instance {
	var out simulate.Instance
	c.view(func(v *simulate.View) {
		i, ok := v.Instance(id)
		if !ok {
			c.t.Fatalf("no instance %s", id)
		}
		out = *i
	})
	return out
}

func (c *cluster) deployments() []simulate.Deployment {
	var out []simulate.Deployment
	c.view(func(v *simulate.View) {
		for _, d := range v.Deployments() {
			out = append(out, *d)
		}
	})
	return out
}

// running counts an app's tasks in TASK_RUNNING.
func running(tasks []simulate.Task) int {
	n := 0
	for _, t := range tasks {
		if t.State == simulate.TaskRunning {
			n++
		}
	}
	return n
}

func taskIDs(tasks []simulate.Task) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	slices.Sort(out)
	return out
}

// reasons maps each funnel reason of a queue entry to its (declined, processed) pair.
func reasons(e simulate.QueueEntry) map[string][2]int {
	out := map[string][2]int{}
	for _, r := range e.Summary.Reasons {
		out[r.Reason] = [2]int{r.Declined, r.Processed}
	}
	return out
}

// wantKind fails unless err is a model error of the given kind whose text contains every part.
func wantKind(t testing.TB, err error, kind simulate.ErrorKind, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %d %q", kind, parts)
	}
	var e *simulate.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want *simulate.Error", err, err)
	}
	if e.Kind != kind {
		t.Fatalf("got kind %d (%v), want %d", e.Kind, err, kind)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// drain collects what a subscription delivered so far, without waiting.
func drain[E any](s *simulate.Subscription[E]) (out []E, closed bool) {
	for {
		select {
		case e, ok := <-s.C:
			if !ok {
				return out, true
			}
			out = append(out, e)
		default:
			return out, false
		}
	}
}
