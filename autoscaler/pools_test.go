package autoscaler

import (
	"testing"
	"time"

	"github.com/marmot-project/marmot/policy"
)

func TestPoolOfWaiting(t *testing.T) {
	managed := []string{"default", "batch", "gpu"}
	for _, c := range []struct {
		name        string
		constraints [][]string
		running     map[string]int
		want        string
	}{
		{"no constraint, runs nowhere: the default pool", nil, nil, "default"},
		{"no constraint: where most of its tasks run", nil, map[string]int{"batch": 3, "default": 1}, "batch"},
		{"ties go to the pool listed first", nil, map[string]int{"gpu": 2, "batch": 2}, "batch"},
		{"CLUSTER names the pool", [][]string{{"pool", "CLUSTER", "gpu"}}, map[string]int{"default": 5}, "gpu"},
		{"IS names the pool", [][]string{{"pool", "IS", "batch"}}, nil, "batch"},
		{"an unmanaged pool is none of ours", [][]string{{"pool", "CLUSTER", "web"}}, nil, ""},
		{"CLUSTER without a value follows the tasks", [][]string{{"pool", "CLUSTER"}}, map[string]int{"gpu": 1}, "gpu"},
		{"LIKE matches whole names", [][]string{{"pool", "LIKE", "b.*"}}, nil, "batch"},
		{"LIKE with several matches and no tasks", [][]string{{"pool", "LIKE", "(batch|gpu)"}}, nil, ""},
		{"UNLIKE leaves the others", [][]string{{"pool", "UNLIKE", "default|gpu"}}, nil, "batch"},
		{"UNLIKE default, runs nowhere", [][]string{{"pool", "UNLIKE", "default"}}, nil, ""},
		{"other attributes do not choose the pool", [][]string{{"rack", "CLUSTER", "r9"}}, nil, "default"},
		{"an invalid regular expression is ignored", [][]string{{"pool", "LIKE", "("}}, nil, "default"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := Waiting{Constraints: c.constraints}
			if got := poolOfWaiting(w, managed, c.running); got != c.want {
				t.Errorf("pool %q, want %q", got, c.want)
			}
		})
	}
	if got := poolOfWaiting(Waiting{}, []string{"web"}, nil); got != "" {
		t.Errorf("without a managed default pool an app that runs nowhere went to %q", got)
	}
}

func TestDrainMarks(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	since := now.Add(-5 * time.Minute)
	for _, c := range []struct {
		name string
		tags map[string]string
		want policy.DrainMark
		ok   bool
	}{
		{"no mark", map[string]string{"team": "a"}, policy.DrainMark{}, false},
		{"draining", drainTags(policy.DrainPhaseDraining, policy.Drain{Started: since}), policy.DrainMark{Phase: policy.DrainPhaseDraining, Since: since}, true},
		{"terminating", drainTags(policy.DrainPhaseTerminating, policy.Drain{Started: since, IP: "10.0.0.9"}), policy.DrainMark{Phase: policy.DrainPhaseTerminating, Since: since}, true},
		{"an unreadable start starts now", map[string]string{TagDrain: "draining", TagDrainStarted: "yesterday"}, policy.DrainMark{Phase: policy.DrainPhaseDraining, Since: now}, true},
		{"an unknown phase reads as draining", map[string]string{TagDrain: "half-done", TagDrainStarted: since.Format(time.RFC3339)}, policy.DrainMark{Phase: policy.DrainPhaseDraining, Since: since}, true},
	} {
		got, ok := drainMarkOf(c.tags, now)
		if ok != c.ok || !got.Since.Equal(c.want.Since) || got.Phase != c.want.Phase {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	for v, want := range map[string]bool{"1.9.0": true, "1.10.0": true, "2.0.0": true, "1.8.1": false, "v1.11.0-rc1": true, "": false, "nonsense": false} {
		if got := versionAtLeast(v, 1, 9); got != want {
			t.Errorf("versionAtLeast(%q, 1, 9) = %v", v, got)
		}
	}
}
