package autoscaler

import (
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/policy"
)

// A Mesos master whose clock runs an hour ahead: its agents look registered in the future. They are
// read as registered when the loop first saw them, so min_agent_age passes on the loop's clock and
// the empty agent is drained, rather than kept too young for the hour the skew lasts.
func TestAgentRegisteredAheadOfOurClockAgesFromWhenFirstSeen(t *testing.T) {
	pol := strings.Replace(basePolicy, "min_agent_age: 0s", "min_agent_age: 3m", 1)
	w := newWorld(t, pol, [][]policy.Task{{task("/web", 3)}, {task("/web", 0.5)}, {}})
	for i := range w.mesos.agents {
		w.mesos.agents[i].RegisteredAt = w.clock.Now().Add(time.Hour)
	}
	rep := w.reconcile()
	if got := agentReason(rep, "agent-3"); got != policy.KeptNotUnneededLongEnough {
		t.Fatalf("agent-3 at first: %s, want kept_not_unneeded_long_enough", got)
	}
	w.clock.Advance(2 * time.Minute)
	if got := agentReason(w.reconcile(), "agent-3"); got != policy.KeptTooYoung {
		t.Fatalf("agent-3 two minutes after it was first seen: %s, want kept_too_young", got)
	}
	w.clock.Advance(90 * time.Second)
	if d, _ := drainOf(w.reconcile(), "i-3"); d.Action != policy.DrainStart {
		t.Errorf("agent-3 three and a half minutes after it was first seen: %+v, want a drain start", d)
	}
	// Each agent's time is counted once, however many reconciles see it.
	if v, _ := w.metricValue("marmot_autoscaler_future_timestamps_total", map[string]string{"kind": "agent_registered"}); v != 3 {
		t.Errorf("future_timestamps_total{kind=agent_registered} = %g, want 3", v)
	}
}

func agentReason(rep Report, agentID string) policy.Reason {
	for _, p := range rep.Pools {
		for _, a := range p.Plan.Agents {
			if a.ID == agentID {
				return a.Reason
			}
		}
	}
	return policy.ReasonNone
}
