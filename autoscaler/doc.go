// Package autoscaler is Marmot's cluster autoscaler: a closed loop that sizes each Mesos agent pool's
// Auto Scaling groups. One reconcile observes Mesos, Marathon and the cloud, plans every pool with the
// pure planner in package policy, re-checks anything destructive against a fresh observation, and
// acts in the plan's order; Run drives reconciles from the Mesos and Marathon event streams and a
// periodic tick.
//
// Scale-down is a drain state machine whose progress lives outside the process, in the Mesos
// maintenance schedule (or the agent's DRAIN_AGENT state) and in instance tags (TagDrain,
// TagDrainStarted):
//
//	start      mark the instance, protect it from scale-in, then drain its agent: a maintenance window
//	           (the machine goes DRAINING) or DRAIN_AGENT on Mesos 1.9+
//	wait       until its tasks are gone or the deadline passes (the plan decides); anything a restart
//	           left half done (a mark without a Mesos drain) is put back
//	terminate  after a fresh re-check: START_MAINTENANCE (DOWN) or MARK_AGENT_GONE, the mark says
//	           "terminating", TerminateInstanceInAutoScalingGroup, decrementing desired capacity
//	clean up   once the instance is gone: STOP_MAINTENANCE, the machine leaves the schedule
//	abort      the machine leaves the schedule or the agent is reactivated, then the mark is cleared
//
// A restarted loop adopts drains from the marks (the planner does) and finds machines left in the
// schedule by a termination it did not clean up, through the terminated instance's mark (EC2 lists
// terminated instances for about an hour), so that no maintenance window and no instance leaks.
//
// The package depends on policy, cloud and its own small interfaces (Mesos, Marathon), never on the
// clients: cmd/autoscaler adapts the mesos and marathon packages to them, and the simulator can too.
package autoscaler
