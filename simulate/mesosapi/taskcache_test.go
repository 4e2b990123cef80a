package mesosapi

import (
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// TestTaskCache checks that replies built from the task cache are byte for byte what encoding every
// task afresh gives, as tasks change state, end and are replaced, and that ended tasks leave the cache
// once no reply shows them.
func TestTaskCache(t *testing.T) {
	c := newCluster(t)
	cached := New(c.world, 0, c.addrs).(*server)
	get := func(h *server) string {
		var j jsonWriter
		c.world.View(func(v *simulate.View) { h.getState(&j, v) })
		return string(j.b)
	}
	check := func(when string) {
		t.Helper()
		got, want := get(cached), get(New(c.world, 0, c.addrs).(*server))
		if got != want {
			t.Fatalf("%s: the cached GET_STATE differs from a fresh one", when)
		}
	}
	check("at start")
	var victim string
	c.world.View(func(v *simulate.View) { victim = v.Apps()[0].Tasks()[0].ID })
	if _, err := c.world.KillTasks([]string{victim}, false); err != nil {
		t.Fatal(err)
	}
	check("while a task is killed")
	c.advance(time.Second)
	check("after the kill")
	c.advance(30 * time.Second)
	check("after the replacement started")

	var live, completed int
	c.world.View(func(v *simulate.View) {
		for _, a := range v.Agents() {
			live += len(a.Tasks())
		}
		completed = len(v.CompletedTasks())
	})
	if n := len(cached.tasks.entries); n != live+completed {
		t.Errorf("%d cached tasks, want the %d shown", n, live+completed)
	}
	cached.tasks.entries["ended-long-ago"] = &cachedTask{}
	get(cached)
	if _, ok := cached.tasks.entries["ended-long-ago"]; ok {
		t.Error("a task no reply shows stays in the cache")
	}
}
