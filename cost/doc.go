// Package cost puts dollar figures on a Mesos cluster on AWS: what each pool costs, what each team's
// and app's allocations cost (chargeback), what nobody allocated (idle), and what autoscaling and
// hibernation saved.
//
// It knows nothing of Mesos, Marathon or AWS clients: callers describe the cluster as a State (the
// instances paid for, the resources apps hold, the apps asleep) at a moment, and a Ledger integrates
// the states it is fed over time. Prices come from a built-in on-demand table (DefaultOnDemand),
// overrides the policy gives, and spot prices the caller feeds in (Prices). Every figure is derived
// from things the cluster itself records (launch times, task start times, the hibernated-at label), so
// a daemon that restarts recomputes its figures from the cluster instead of starting from zero; see
// Ledger and docs/cost.md.
package cost
