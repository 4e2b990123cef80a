package policy

import (
	"regexp"
	"sort"
	"strings"
)

// demandItem is a run of identical waiting instances of one app that count as demand.
type demandItem struct {
	app    string
	need   Resources
	count  int
	reason Reason // why it needs room: ScaleUpPendingDemand, or ScaleUpReclaim
}

// classifyWaiting decides, entry by entry, whether Marathon's waiting instances justify capacity.
// Only entries whose offers were declined for lack of resources do: a constraint, a role, a launch
// backoff or agents in maintenance are not cured by a new agent.
func (p *planner) classifyWaiting() {
	shapes := p.knownShapes()
	p.ref = largest(shapes)
	var fresh map[string]string
	for _, e := range p.snap.Waiting {
		if e.Count <= 0 {
			continue
		}
		r := waitingReason(e)
		if r == WaitingConstraint || r == WaitingNoOffers {
			// Offers were declined for constraints (or none came): if the constraints pin the app to
			// this pool and the pool has no room — an empty pool scaled to zero, or a full one whose
			// agents Mesos no longer offers — a new agent of the pool is exactly what it waits for.
			if fresh == nil {
				fresh = p.newAgentAttributes()
			}
			if len(e.Constraints) > 0 && newAgentSatisfies(e.Constraints, fresh) {
				r = WaitingCapacityShort
			}
		}
		if r == WaitingCapacityShort && !anyFits(shapes, e.Resources) {
			r = WaitingTooLargeForShapes
		}
		p.plan.Waiting = append(p.plan.Waiting, WaitingDecision{AppID: e.AppID, Count: e.Count, Reason: r})
		if r == WaitingCapacityShort {
			p.demand = append(p.demand, demandItem{app: e.AppID, need: e.Resources, count: e.Count, reason: ScaleUpPendingDemand})
			p.plan.ScaleUp.Counted += e.Count
		}
	}
	sort.SliceStable(p.plan.Waiting, func(i, j int) bool { return p.plan.Waiting[i].AppID < p.plan.Waiting[j].AppID })
}

// newAgentAttributes is what the planner knows a new agent of the pool will carry: the pool attribute,
// and every attribute on which all the pool's current agents agree (a rack or instance type the
// pool's machines share, not a zone that varies).
func (p *planner) newAgentAttributes() map[string]string {
	attrs := map[string]string{}
	for i, a := range p.snap.Agents {
		if i == 0 {
			for k, v := range a.Attributes {
				attrs[k] = v
			}
			continue
		}
		for k, v := range attrs {
			if a.Attributes[k] != v {
				delete(attrs, k)
			}
		}
	}
	attrs["pool"] = p.snap.Pool
	return attrs
}

// newAgentSatisfies tells whether an agent with attrs (and a hostname no task has used) would pass
// every Marathon constraint. Whatever cannot be known ahead — the value of an attribute the pool's
// agents do not share, the new hostname for CLUSTER/LIKE/IS — counts as not satisfied, so that an app
// that waits only for a constraint no new agent can meet never grows the pool.
func newAgentSatisfies(constraints [][]string, attrs map[string]string) bool {
	for _, c := range constraints {
		if len(c) < 2 {
			return false
		}
		field, op, arg := c[0], strings.ToUpper(c[1]), ""
		if len(c) > 2 {
			arg = c[2]
		}
		if field == "hostname" {
			switch op {
			case "UNIQUE", "MAX_PER", "GROUP_BY", "UNLIKE":
				continue // a new machine has a hostname none of the app's tasks use
			}
			return false
		}
		v, known := attrs[field]
		switch op {
		case "CLUSTER", "IS":
			if !known || (arg != "" && v != arg) || (arg == "" && op == "IS") {
				return false
			}
		case "LIKE":
			if !known || !fullMatch(arg, v) {
				return false
			}
		case "UNLIKE":
			if known && fullMatch(arg, v) {
				return false
			}
		case "MAX_PER", "GROUP_BY":
			if !known {
				return false
			}
		default: // UNIQUE on an attribute the pool shares, or an unknown operator
			return false
		}
	}
	return true
}

// fullMatch reports whether value matches pattern as a whole, as Marathon's LIKE does; an invalid
// pattern matches nothing.
func fullMatch(pattern, value string) bool {
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	return err == nil && re.MatchString(value)
}

// waitingReason reads a queue entry's rejection summary. Marathon counts each declined offer under
// the first reason that failed, in the funnel order role, constraint, reservation, maintenance,
// resources; so any Insufficient* count means agents that pass the constraints lack room.
func waitingReason(e QueueEntry) Reason {
	if e.Delayed {
		return WaitingLaunchBackoff
	}
	top, topCount := "", 0
	for _, r := range e.Rejections {
		switch {
		case r.Declined <= 0:
		case strings.HasPrefix(r.Reason, "Insufficient"):
			return WaitingCapacityShort
		case r.Declined > topCount:
			top, topCount = r.Reason, r.Declined
		}
	}
	switch top {
	case "":
		return WaitingNoOffers
	case "UnfulfilledConstraint":
		return WaitingConstraint
	case "UnfulfilledRole":
		return WaitingRole
	case "NoCorrespondingReservationFound":
		return WaitingReservation
	case "AgentMaintenance":
		return WaitingAgentMaintenance
	case "DeclinedScarceResources":
		return WaitingScarceResources
	}
	return WaitingOtherRejection
}

// knownShapes returns the distinct agent shapes of the pool: its groups' and its agents'.
func (p *planner) knownShapes() []Resources {
	seen := map[Resources]bool{}
	var out []Resources
	add := func(r Resources) {
		// Most agents have the shape of the one before: skip the map for them.
		if !r.IsZero() && (len(out) == 0 || r != out[len(out)-1]) && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for i := range p.groups {
		add(p.groups[i].shape)
	}
	for i := range p.agents {
		add(p.agents[i].a.Total)
	}
	return out
}

func anyFits(shapes []Resources, need Resources) bool {
	for _, s := range shapes {
		if s.Fits(need) {
			return true
		}
	}
	return false
}

// sortForPacking orders demand largest first (first-fit decreasing), by the dominant share of each
// item in the largest shape; ties by app id, so that plans are deterministic.
func sortForPacking(items []demandItem, ref Resources) {
	sort.SliceStable(items, func(i, j int) bool {
		si, sj := items[i].need.Share(ref), items[j].need.Share(ref)
		if si != sj {
			return si > sj
		}
		return items[i].app < items[j].app
	})
}

// largest returns the component-wise maximum of the shapes.
func largest(shapes []Resources) Resources {
	var m Resources
	for _, s := range shapes {
		m = Resources{max(m.CPUs, s.CPUs), max(m.Mem, s.Mem), max(m.Disk, s.Disk), max(m.GPUs, s.GPUs)}
	}
	return m
}
