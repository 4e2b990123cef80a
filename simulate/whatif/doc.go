// Package whatif replays a scenario, a trace or an app instance series in virtual time through
// Marmot's real planners, and through baselines, each on its own simulated cluster built from the same
// scenario and seed, and reports what each costs and how it served the apps.
//
// Every simulated minute a replay observes its World the way the daemons observe Mesos, Marathon and
// AWS (a policy.PoolSnapshot per pool, a policy.HibernationInput over the opted-in apps), runs the
// planners (policy.PlanPool, policy.PlanHibernation), and carries their plans out on the World in the
// daemons' order: SetDesiredCapacity, drains through Mesos maintenance or DRAIN_AGENT, termination with
// a decrement; hibernation as one app update to zero instances with the state labels, and a wake on
// the next request. Requests come from each app's request rate (a Poisson draw per minute) or from a
// per-minute invocation trace. A cost.Ledger prices every minute.
//
// The baselines (Variants): a static pool sized for the peak, the ideal lower bound, a
// cluster-autoscaler-like and a Clusterman-like policy; for hibernation, never sleeping and fixed
// keep-alives of 10 and 20 minutes (the baselines of "Serverless in the Wild", Shahrad et al. 2020).
// docs/whatif.md describes each, the inputs and the report.
package whatif
