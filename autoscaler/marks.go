package autoscaler

import (
	"time"

	"github.com/marmot-project/marmot/policy"
)

// The instance tags that carry a drain's progress. They are what makes a drain survive a restart:
// with the Mesos maintenance schedule (or the agent's drain state) they say everything needed to
// finish or undo it (STYLE 8; Nomad Autoscaler #410 and #628 lost drains this way).
const (
	// TagDrain is the drain phase: "draining" or "terminating" (policy.DrainPhase).
	TagDrain = "marmot:drain"
	// TagDrainStarted is when the drain started (RFC 3339); the deadline counts from it.
	TagDrainStarted = "marmot:drain-started"
)

// drainTags returns the tags that mark a drain in phase started at since.
func drainTags(phase policy.DrainPhase, since time.Time) map[string]string {
	return map[string]string{TagDrain: string(phase), TagDrainStarted: since.UTC().Format(time.RFC3339)}
}

// drainMarkOf reads a drain mark from instance tags. A mark whose start is missing or unreadable
// (someone edited the tag) starts now: the drain then waits a whole deadline again rather than
// killing tasks early. ok is false when the instance carries no mark.
func drainMarkOf(tags map[string]string, now time.Time) (mark policy.DrainMark, ok bool) {
	phase := policy.DrainPhase(tags[TagDrain])
	switch phase {
	case policy.DrainPhaseDraining, policy.DrainPhaseDown, policy.DrainPhaseTerminating:
	case "":
		return policy.DrainMark{}, false
	default:
		phase = policy.DrainPhaseDraining // an unknown phase: the safest reading
	}
	since, err := time.Parse(time.RFC3339, tags[TagDrainStarted])
	if err != nil {
		since = now
	}
	return policy.DrainMark{Phase: phase, Since: since}, true
}
