package policy

import "fmt"

// Reason says why the planner made a choice: why a group grew or did not, why a waiting instance did or
// did not count as demand, why an agent was drained or kept, what happened to a drain. Its String is a
// snake_case word, used as is in logs, Prometheus label values, /status JSON and golden files.
type Reason uint8

// ReasonKind is the kind of choice a Reason explains; metrics initialise one series per reason of a kind.
type ReasonKind uint8

// Reason kinds.
const (
	KindNone     ReasonKind = iota
	KindFrozen              // the health gate closed
	KindScaleUp             // why a group grows, or does not
	KindWaiting             // whether a queue entry counts as demand
	KindAgent               // why an agent is drained or kept
	KindDrain               // what happens to a drain in progress
	KindInstance            // what happens to an instance that did not join Mesos
)

// Reasons.
const (
	ReasonNone Reason = iota

	FrozenStaleData     // a snapshot source is older than health.max_data_age: nothing is decided
	FrozenMissingAgents // too many agents are missing: nothing is drained or terminated

	ScaleUpPendingDemand // waiting instances do not fit the free space of the pool
	ScaleUpMinSize       // the pool is below min_agents
	ScaleUpUtilization   // the dominant resource is above target_utilization
	ScaleUpHeadroom      // less free capacity (or fewer empty agents) than the headroom
	NoScaleUpNeeded      // the group's capacity covers the demand
	ScaleUpCooldown      // the pool grew less than scale_up.cooldown ago
	ScaleUpMaxStep       // the plan already adds scale_up.max_step agents
	PoolAtMax            // the pool is at max_agents
	GroupAtMax           // the group is at its max size
	GroupBackoff         // the group is backing off after a failed launch
	GroupUnknownShape    // the group's instance shape is unknown and none of its agents shows it
	NoShapeFits          // some waiting instances fit no group's instance shape
	ScaleUpReclaim       // the tasks of agents the cloud reclaims do not fit the free space of the pool

	WaitingCapacityShort     // counted: offers were declined for lack of cpus, mem, disk, gpus or ports
	WaitingConstraint        // not counted: only placement constraints declined offers
	WaitingRole              // not counted: only the role declined offers
	WaitingReservation       // not counted: no matching reservation
	WaitingAgentMaintenance  // not counted: only agents in maintenance declined offers
	WaitingScarceResources   // not counted: declined to keep GPU agents for GPU tasks
	WaitingLaunchBackoff     // not counted: Marathon delays the app after failed launches
	WaitingNoOffers          // not counted: no offer was processed yet
	WaitingOtherRejection    // not counted: offers were declined for a reason that new agents do not cure
	WaitingTooLargeForShapes // counted but not placeable: larger than every agent shape of the pool

	ScaleDownEmpty            // drained: the agent runs no task
	ScaleDownUnneeded         // drained: under utilization_below for unneeded_for, and its tasks fit elsewhere
	AgentDraining             // a drain is in progress on the agent
	KeptNotActive             // disconnected, deactivated or in maintenance by someone else
	KeptNoInstance            // not an instance of the pool's groups (a static agent, or an unknown IP)
	KeptNotInService          // its instance is not InService (e.g. Standby)
	KeptProtected             // runs a task of a protected app
	KeptUtilized              // at or above utilization_below
	KeptNotUnneededLongEnough // unneeded for less than unneeded_for
	KeptTooYoung              // younger than min_agent_age
	KeptScaleDownDisabled     // scale_down.enabled is false
	KeptPendingDemand         // instances are waiting for capacity in the pool
	KeptScalingUp             // the pool is growing in this plan
	KeptCooldown              // the pool grew less than delay_after_scale_up ago
	KeptOutsideWindow         // outside every scale-down window
	KeptBudget                // max_draining agents are already draining or chosen
	KeptMinSize               // the pool would drop below min_agents
	KeptGroupMinSize          // the group is at its min size: AWS would refuse to terminate
	KeptCapacityNeeded        // without it the pool would exceed target_utilization or lose its headroom
	KeptReceivesTasks         // the tasks of an agent drained in this plan would move onto it
	KeptTasksDoNotFit         // its tasks do not fit the free space of the other agents
	SpotInterruption          // drained at once: the cloud reclaims its instance (a spot interruption notice)

	DrainWaiting           // the tasks have not all left yet
	DrainComplete          // no task is left: terminate the instance
	DrainAgentGone         // the agent left Mesos (DOWN or removed): terminate the instance
	DrainDeadlineTerminate // the deadline passed and at_deadline is terminate
	DrainDeadlineAbort     // the deadline passed and at_deadline is abort: reactivate the agent
	DrainAbortProtected    // a protected task runs on the agent: reactivate it
	DrainAbortDemand       // waiting instances need the room: reactivate the agent
	DrainAbortGroupMinSize // the group's min size rose: AWS would refuse to terminate
	DrainTerminating       // termination was requested; waiting for the instance to go
	DrainFinished          // the instance is gone: the drain is forgotten
	DrainReclaimDeadline   // the cloud reclaims the instance within spot_interruption.down_before: terminate it now

	InstanceBooting   // launched, not yet in Mesos, within boot_timeout
	InstanceNotJoined // no agent after boot_timeout: terminate it and back off the group

	reasonCount
)

var reasonInfo = [reasonCount]struct {
	name string
	kind ReasonKind
}{
	ReasonNone:                {"none", KindNone},
	FrozenStaleData:           {"frozen_stale_data", KindFrozen},
	FrozenMissingAgents:       {"frozen_missing_agents", KindFrozen},
	ScaleUpPendingDemand:      {"scale_up_pending_demand", KindScaleUp},
	ScaleUpMinSize:            {"scale_up_min_size", KindScaleUp},
	ScaleUpUtilization:        {"scale_up_utilization", KindScaleUp},
	ScaleUpHeadroom:           {"scale_up_headroom", KindScaleUp},
	NoScaleUpNeeded:           {"no_scale_up_needed", KindScaleUp},
	ScaleUpCooldown:           {"scale_up_cooldown", KindScaleUp},
	ScaleUpMaxStep:            {"scale_up_max_step", KindScaleUp},
	PoolAtMax:                 {"pool_at_max", KindScaleUp},
	GroupAtMax:                {"group_at_max", KindScaleUp},
	GroupBackoff:              {"group_backoff", KindScaleUp},
	GroupUnknownShape:         {"group_unknown_shape", KindScaleUp},
	NoShapeFits:               {"no_shape_fits", KindScaleUp},
	ScaleUpReclaim:            {"scale_up_spot_interruption", KindScaleUp},
	WaitingCapacityShort:      {"waiting_capacity_short", KindWaiting},
	WaitingConstraint:         {"waiting_constraint", KindWaiting},
	WaitingRole:               {"waiting_role", KindWaiting},
	WaitingReservation:        {"waiting_reservation", KindWaiting},
	WaitingAgentMaintenance:   {"waiting_agent_maintenance", KindWaiting},
	WaitingScarceResources:    {"waiting_scarce_resources", KindWaiting},
	WaitingLaunchBackoff:      {"waiting_launch_backoff", KindWaiting},
	WaitingNoOffers:           {"waiting_no_offers", KindWaiting},
	WaitingOtherRejection:     {"waiting_other_rejection", KindWaiting},
	WaitingTooLargeForShapes:  {"waiting_too_large_for_shapes", KindWaiting},
	ScaleDownEmpty:            {"scale_down_empty", KindAgent},
	ScaleDownUnneeded:         {"scale_down_unneeded", KindAgent},
	AgentDraining:             {"agent_draining", KindAgent},
	KeptNotActive:             {"kept_not_active", KindAgent},
	KeptNoInstance:            {"kept_no_instance", KindAgent},
	KeptNotInService:          {"kept_not_in_service", KindAgent},
	KeptProtected:             {"kept_protected", KindAgent},
	KeptUtilized:              {"kept_utilized", KindAgent},
	KeptNotUnneededLongEnough: {"kept_not_unneeded_long_enough", KindAgent},
	KeptTooYoung:              {"kept_too_young", KindAgent},
	KeptScaleDownDisabled:     {"kept_scale_down_disabled", KindAgent},
	KeptPendingDemand:         {"kept_pending_demand", KindAgent},
	KeptScalingUp:             {"kept_scaling_up", KindAgent},
	KeptCooldown:              {"kept_cooldown", KindAgent},
	KeptOutsideWindow:         {"kept_outside_window", KindAgent},
	KeptBudget:                {"kept_budget", KindAgent},
	KeptMinSize:               {"kept_min_size", KindAgent},
	KeptGroupMinSize:          {"kept_group_min_size", KindAgent},
	KeptCapacityNeeded:        {"kept_capacity_needed", KindAgent},
	KeptReceivesTasks:         {"kept_receives_tasks", KindAgent},
	KeptTasksDoNotFit:         {"kept_tasks_do_not_fit", KindAgent},
	SpotInterruption:          {"spot_interruption", KindAgent},
	DrainWaiting:              {"drain_waiting", KindDrain},
	DrainComplete:             {"drain_complete", KindDrain},
	DrainAgentGone:            {"drain_agent_gone", KindDrain},
	DrainDeadlineTerminate:    {"drain_deadline_terminate", KindDrain},
	DrainDeadlineAbort:        {"drain_deadline_abort", KindDrain},
	DrainAbortProtected:       {"drain_abort_protected", KindDrain},
	DrainAbortDemand:          {"drain_abort_demand", KindDrain},
	DrainAbortGroupMinSize:    {"drain_abort_group_min_size", KindDrain},
	DrainTerminating:          {"drain_terminating", KindDrain},
	DrainFinished:             {"drain_finished", KindDrain},
	DrainReclaimDeadline:      {"drain_reclaim_deadline", KindDrain},
	InstanceBooting:           {"instance_booting", KindInstance},
	InstanceNotJoined:         {"instance_not_joined", KindInstance},
}

// String returns the reason's snake_case name.
func (r Reason) String() string {
	if r >= reasonCount {
		return fmt.Sprintf("reason_%d", uint8(r))
	}
	return reasonInfo[r].name
}

// Kind returns the kind of choice the reason explains.
func (r Reason) Kind() ReasonKind {
	if r >= reasonCount {
		return KindNone
	}
	return reasonInfo[r].kind
}

// MarshalText implements encoding.TextMarshaler, so reasons are strings in JSON, also as map keys.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Reason) UnmarshalText(b []byte) error {
	for i := range reasonCount {
		if reasonInfo[i].name == string(b) {
			*r = i
			return nil
		}
	}
	return fmt.Errorf("unknown reason %q", b)
}

// ReasonsOf returns every reason of a kind, for initialising metric series at zero.
func ReasonsOf(kind ReasonKind) []Reason {
	var out []Reason
	for i := range reasonCount {
		if reasonInfo[i].kind == kind {
			out = append(out, i)
		}
	}
	return out
}
