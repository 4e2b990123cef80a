package policy

import "testing"

// An app pinned to a pool by a constraint is declined by every other pool's agents for that
// constraint. When its own pool is empty (scaled to zero) or full, a new agent of the pool is what it
// needs; a constraint no new agent can meet must still never grow the pool.
func TestPinnedWaitingGrowsItsPoolOnlyWhenANewAgentWouldTakeIt(t *testing.T) {
	need := Resources{CPUs: 2, Mem: 8000}
	cases := []struct {
		name        string
		agents      map[string]string // attributes every agent of the pool carries; nil: the pool is empty
		constraints [][]string
		reasons     []string
		grows       bool
	}{
		{"empty pool, pinned by pool attribute", nil, [][]string{{"pool", "CLUSTER", "default"}}, []string{"UnfulfilledConstraint"}, true},
		{"empty pool, no offers at all", nil, [][]string{{"pool", "LIKE", "def.*"}}, nil, true},
		{"full pool, hostname UNIQUE", map[string]string{"rack": "r1"}, [][]string{{"hostname", "UNIQUE"}}, []string{"UnfulfilledConstraint"}, true},
		{"rack every agent shares", map[string]string{"rack": "r1"}, [][]string{{"rack", "CLUSTER", "r1"}, {"pool", "CLUSTER", "default"}}, []string{"UnfulfilledConstraint"}, true},
		{"rack no agent of the pool has", map[string]string{"rack": "r1"}, [][]string{{"rack", "CLUSTER", "r9"}}, []string{"UnfulfilledConstraint"}, false},
		{"attribute unknown in an empty pool", nil, [][]string{{"rack", "CLUSTER", "r1"}}, []string{"UnfulfilledConstraint"}, false},
		{"pinned to another pool", nil, [][]string{{"pool", "CLUSTER", "batch"}}, []string{"UnfulfilledConstraint"}, false},
		{"new hostname cannot be predicted", nil, [][]string{{"hostname", "CLUSTER", "a01.example"}}, []string{"UnfulfilledConstraint"}, false},
		{"no constraints and no offers", nil, nil, nil, false},
		{"role, not constraint", nil, [][]string{{"pool", "CLUSTER", "default"}}, []string{"UnfulfilledRole"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld()
			if c.agents != nil {
				w.agents(2, Task{AppID: "/web/x", Resources: Resources{CPUs: 4, Mem: 16000}})
				for _, a := range []string{"a01", "a02"} {
					w.edit(a, func(ag *Agent) { ag.Attributes = map[string]string{"pool": "default", "zone": ag.ID} })
					for k, v := range c.agents {
						w.edit(a, func(ag *Agent) { ag.Attributes[k] = v })
					}
				}
			}
			// What the pool adds anyway (full agents are over the target utilization) is the baseline.
			baseline := w.plan().ScaleUp.NewAgents
			w.wait("/batch/nightly", 3, need, c.reasons...)
			w.snap.Waiting[0].Constraints = c.constraints
			plan := w.plan()
			added, reason := plan.ScaleUp.NewAgents, plan.Waiting[0].Reason
			if c.grows && (added <= baseline || reason != WaitingCapacityShort) {
				t.Fatalf("pool did not grow for the wait: %d new agents (baseline %d), reason %s", added, baseline, reason)
			}
			if !c.grows && (added != baseline || reason == WaitingCapacityShort) {
				t.Fatalf("pool grew for a wait no new agent can serve: %d new agents (baseline %d), reason %s", added, baseline, reason)
			}
		})
	}
}

func FuzzNewAgentSatisfies(f *testing.F) {
	f.Add("rack", "LIKE", "r[0-9]+", "r1")
	f.Add("hostname", "UNIQUE", "", "")
	f.Add("pool", "CLUSTER", "", "x")
	f.Add("x", "MAX_PER", "(", "y")
	f.Fuzz(func(t *testing.T, field, op, arg, value string) {
		_ = newAgentSatisfies([][]string{{field, op, arg}, {field}}, map[string]string{field: value})
	})
}
