package policy

import "fmt"

// HibernationReason says why the hibernation planner decided what it did for one app. Its String is a
// stable snake_case name for logs, Prometheus label values, /status JSON and tests.
type HibernationReason int

// The reasons, grouped by what the hibernator does with the app.
const (
	// Hibernate: the app has been idle for its idle period and nothing keeps it awake.
	Hibernate HibernationReason = iota

	// KeepAwakeRecentTraffic: a request reached the app within its idle period.
	KeepAwakeRecentTraffic
	// KeepAwakeOpenConnections: a load balancer holds open connections to the app (a long download, a
	// websocket): it is in use even if no new request arrived.
	KeepAwakeOpenConnections
	// KeepAwakeDeploymentRunning: a Marathon deployment of the app is in flight; hibernating would fight it.
	KeepAwakeDeploymentRunning
	// KeepAwakeNoRunningTasks: the app should run but no task does, so requests cannot reach it and their
	// absence proves nothing (a crash loop is not idleness).
	KeepAwakeNoRunningTasks
	// KeepAwakeWindow: a keep-awake window of the policy covers the app now.
	KeepAwakeWindow
	// KeepAwakeNeverSleep: the app matches the policy's never_sleep patterns.
	KeepAwakeNeverSleep
	// KeepAwakeTrafficStale: some traffic source's data is missing or older than traffic.max_age, or no
	// source has watched the app yet. Missing data means not idle.
	KeepAwakeTrafficStale
	// KeepAwakeRateLimited: the app is idle, but max_hibernations_per_minute is used up.
	KeepAwakeRateLimited
	// KeepAwakeLBFallbackUnverified: the app is idle, but some load balancer has not recently proved
	// that its fallback reaches an activator (the hibernator's --lb-probe-url): a sleeping app's
	// requests could be lost there.
	KeepAwakeLBFallbackUnverified
	// KeepAwakeGroupAwake: the app is idle, but another awake app of its marmot.hibernate.group is not;
	// a group sleeps together.
	KeepAwakeGroupAwake
	// KeepAwakeNoHost: the app's group has no host name, so no request could wake it.
	KeepAwakeNoHost
	// KeepAwakeNotOptedIn: the app has no marmot.hibernate=true label. Such apps are never touched.
	KeepAwakeNotOptedIn

	// AlreadyAsleep: the app sleeps (state labels written, zero instances).
	AlreadyAsleep
	// WakeNotOptedIn: the app sleeps but no longer opts in; nothing else would ever wake it, because the
	// activator answers only for opted-in apps.
	WakeNotOptedIn
	// WakeNeverSleep: the app sleeps but now matches the policy's never_sleep patterns.
	WakeNeverSleep

	// SkippedBadLabel: a hibernation label is malformed; the decision's Detail says which and why.
	SkippedBadLabel
	// SkippedScaledToZero: the app has zero instances but no state labels: someone else scaled it
	// down, so there is nothing to hibernate and no instance count to restore.
	SkippedScaledToZero

	numHibernationReasons
)

var hibernationReasonNames = [numHibernationReasons]string{
	Hibernate:                     "hibernate",
	KeepAwakeRecentTraffic:        "keep_awake_recent_traffic",
	KeepAwakeOpenConnections:      "keep_awake_open_connections",
	KeepAwakeDeploymentRunning:    "keep_awake_deployment_running",
	KeepAwakeNoRunningTasks:       "keep_awake_no_running_tasks",
	KeepAwakeWindow:               "keep_awake_window",
	KeepAwakeNeverSleep:           "keep_awake_never_sleep",
	KeepAwakeTrafficStale:         "keep_awake_traffic_stale",
	KeepAwakeRateLimited:          "keep_awake_rate_limited",
	KeepAwakeLBFallbackUnverified: "keep_awake_lb_fallback_unverified",
	KeepAwakeGroupAwake:           "keep_awake_group_awake",
	KeepAwakeNoHost:               "keep_awake_no_host",
	KeepAwakeNotOptedIn:           "keep_awake_not_opted_in",
	AlreadyAsleep:                 "already_asleep",
	WakeNotOptedIn:                "wake_not_opted_in",
	WakeNeverSleep:                "wake_never_sleep",
	SkippedBadLabel:               "skipped_bad_label",
	SkippedScaledToZero:           "skipped_scaled_to_zero",
}

// HibernationReasons lists every reason, for initialising metric series at zero.
func HibernationReasons() []HibernationReason {
	out := make([]HibernationReason, numHibernationReasons)
	for i := range out {
		out[i] = HibernationReason(i)
	}
	return out
}

func (r HibernationReason) String() string {
	if r >= 0 && r < numHibernationReasons {
		return hibernationReasonNames[r]
	}
	return fmt.Sprintf("hibernation_reason_%d", int(r))
}

// MarshalText renders the reason's name, so JSON carries "keep_awake_window", not a number.
func (r HibernationReason) MarshalText() ([]byte, error) {
	if r < 0 || r >= numHibernationReasons {
		return nil, fmt.Errorf("policy: unknown hibernation reason %d", int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText parses a reason's name.
func (r *HibernationReason) UnmarshalText(b []byte) error {
	for i, n := range hibernationReasonNames {
		if n == string(b) {
			*r = HibernationReason(i)
			return nil
		}
	}
	return fmt.Errorf("policy: unknown hibernation reason %q", b)
}

// HibernationAction is what the hibernator does about a decision.
type HibernationAction int

const (
	// ActionNone leaves the app as it is.
	ActionNone HibernationAction = iota
	// ActionHibernate scales the app to zero and writes the state labels, after re-checking.
	ActionHibernate
	// ActionWake restores the remembered instance count and clears the state labels.
	ActionWake
)

// Action returns what the hibernator does for a decision with this reason.
func (r HibernationReason) Action() HibernationAction {
	switch r {
	case Hibernate:
		return ActionHibernate
	case WakeNotOptedIn, WakeNeverSleep:
		return ActionWake
	default:
		return ActionNone
	}
}

func (a HibernationAction) String() string {
	switch a {
	case ActionHibernate:
		return "hibernate"
	case ActionWake:
		return "wake"
	default:
		return "none"
	}
}
