package policy

import (
	"maps"
	"time"
)

// PoolState is what the planner remembers of a pool between two plans. PlanPool returns the next state
// in its plan; the loop keeps it and passes it to the next call. Everything in it can be lost: timers
// restart, backoff starts over, and drains are picked up again from the instances' drain marks.
type PoolState struct {
	// UnneededSince is when each agent (by id) last became unneeded.
	UnneededSince map[string]time.Time `json:"unneeded_since,omitempty"`
	// MissingSince is when each live instance (by id) was first seen without a Mesos agent.
	MissingSince  map[string]time.Time `json:"missing_since,omitempty"`
	LastScaleUp   time.Time            `json:"last_scale_up,omitzero"`
	LastScaleDown time.Time            `json:"last_scale_down,omitzero"`
	// Groups is the backoff and the last requested size of each group, by name.
	Groups map[string]GroupState `json:"groups,omitempty"`
	// Drains are the drains in progress, by instance id.
	Drains map[string]Drain `json:"drains,omitempty"`
}

// GroupState is what the planner remembers of a group.
type GroupState struct {
	// Failures is the number of failed launches since the backoff last reset.
	Failures     int       `json:"failures,omitempty"`
	LastFailure  time.Time `json:"last_failure,omitzero"`
	BackoffUntil time.Time `json:"backoff_until,omitzero"`
	// Requested is the desired capacity the last scale-up asked for, at RequestedAt. A snapshot of the
	// cloud older than the request still shows the old size; the planner trusts the request then.
	Requested   int       `json:"requested,omitempty"`
	RequestedAt time.Time `json:"requested_at,omitzero"`
}

// Drain is a drain in progress.
type Drain struct {
	AgentID    string    `json:"agent_id"`
	Hostname   string    `json:"hostname"`
	IP         string    `json:"ip"`
	InstanceID string    `json:"instance_id"`
	Group      string    `json:"group"`
	Started    time.Time `json:"started"`
	Deadline   time.Time `json:"deadline,omitzero"`
	// Terminating is set once the plan asked for the instance to be terminated.
	Terminating bool `json:"terminating,omitempty"`
	// ReclaimAt is when the cloud reclaims the instance, for a drain that a spot interruption notice
	// started or hurried; its Deadline is then spot_interruption.down_before earlier, at the latest.
	ReclaimAt time.Time `json:"reclaim_at,omitzero"`
}

// LaunchFailed records a failed launch of a group at the given time and backs the group off:
// Initial after the first failure, doubling with each one up to Max. A failure at or before the last
// one recorded is not counted again. The loop calls it when a
// scale-up it carried out fails; the planner calls it for failures the snapshot shows.
func (s *PoolState) LaunchFailed(group string, at time.Time, b BackoffPolicy) {
	if s.Groups == nil {
		s.Groups = map[string]GroupState{}
	}
	g := s.Groups[group]
	if !at.After(g.LastFailure) {
		return // already counted: the same failure is seen again in every snapshot until it ages out
	}
	if !g.LastFailure.IsZero() && at.Sub(g.LastFailure) >= b.ResetAfter.D {
		g.Failures = 0
	}
	g.Failures++
	g.LastFailure = at
	g.BackoffUntil = at.Add(backoffFor(g.Failures, b))
	s.Groups[group] = g
}

// backoffFor returns the backoff after the n-th failure in a row: Initial × 2^(n-1), at most Max.
func backoffFor(n int, b BackoffPolicy) time.Duration {
	d := b.Initial.D
	for i := 1; i < n && d < b.Max.D; i++ {
		d *= 2
	}
	return min(d, b.Max.D)
}

// clone returns a deep copy, so that a plan never changes the state it was given.
func (s PoolState) clone() PoolState {
	s.UnneededSince = maps.Clone(s.UnneededSince)
	s.MissingSince = maps.Clone(s.MissingSince)
	s.Groups = maps.Clone(s.Groups)
	s.Drains = maps.Clone(s.Drains)
	return s
}
