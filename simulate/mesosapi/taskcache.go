package mesosapi

import (
	"sync"

	"github.com/marmot-project/marmot/simulate"
)

// taskCache keeps the JSON of each task between replies. A task's JSON changes only when the task gets
// a status update (statuses are only appended, and every change of state appends one), so a GET_STATE
// of a steady cluster copies most of its tasks instead of encoding them again: encoding 20,000 tasks
// is memory-bound work of tens of milliseconds, copying them a few.
//
// A task keeps the labels it was first shown with, as a Mesos task keeps the labels of the TaskInfo it
// was launched with (Marathon restarts tasks to change their labels).
type taskCache struct {
	mu      sync.Mutex
	pass    uint64
	entries map[string]*cachedTask
}

type cachedTask struct {
	statuses int
	state    simulate.TaskState
	pass     uint64 // the last pass that showed the task
	json     []byte
}

// taskPass is one reply's walk over every task; tasks it does not show are dropped at its end.
type taskPass struct {
	c     *taskCache
	known *apps
}

func (c *taskCache) begin(v *simulate.View) *taskPass {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*cachedTask{}
	}
	c.pass++
	return &taskPass{c: c, known: newApps(v)}
}

// end drops the tasks this pass did not show (they ended long ago or their agent is gone) and
// releases the cache.
func (p *taskPass) end() {
	for id, e := range p.c.entries {
		if e.pass != p.c.pass {
			delete(p.c.entries, id)
		}
	}
	p.c.mu.Unlock()
}

// write appends t's JSON, from the cache when t has not changed since it was encoded. f lacks the
// app's facts, which only encoding needs.
func (p *taskPass) write(j *jsonWriter, t *simulate.Task, f taskFacts) {
	e := p.c.entries[t.ID]
	if e != nil && e.statuses == len(t.Statuses) && e.state == t.State {
		e.pass = p.c.pass
		j.raw(e.json)
		return
	}
	if e == nil {
		e = &cachedTask{}
		p.c.entries[t.ID] = e
	}
	j.sep()
	start := len(j.b)
	f.app = p.known.facts(t.AppID)
	j.task(t, f)
	e.statuses, e.state, e.pass = len(t.Statuses), t.State, p.c.pass
	e.json = append(e.json[:0], j.b[start:]...)
}
