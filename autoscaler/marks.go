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
	// TagDrainMachine is the private IP of the drained agent's machine. EC2 shows a terminated
	// instance without its address, so this tag is what ties a machine left in the maintenance
	// schedule to the instance it was once (findLeftovers).
	TagDrainMachine = "marmot:drain-machine"
)

// DrainTagKeys returns the keys of every drain tag: the ones a mark clears, and the only ones the
// autoscaler's IAM policy lets it write.
func DrainTagKeys() []string { return []string{TagDrain, TagDrainStarted, TagDrainMachine} }

// drainTags returns the tags that mark drain d in phase.
func drainTags(phase policy.DrainPhase, d policy.Drain) map[string]string {
	tags := map[string]string{TagDrain: string(phase), TagDrainStarted: d.Started.UTC().Format(time.RFC3339)}
	if d.IP != "" {
		tags[TagDrainMachine] = d.IP
	}
	return tags
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
