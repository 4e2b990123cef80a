package hibernator

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/marmot-project/marmot/policy"
)

// App states as /status and marmot_hibernator_apps show them.
const (
	StateAwake   = "awake"
	StateAsleep  = "asleep"
	StateWaking  = "waking"  // woken (state labels gone), not every instance running yet
	StateSkipped = "skipped" // labels that do not parse; the hibernator leaves the app alone
)

// Why an app was woken (label values of marmot_hibernator_wakes_total): a request reached the activator,
// or the planner's wake reasons.
const (
	WakeReasonRequest = "request"
)

// Outcomes of a hibernation the planner decided (marmot_hibernator_hibernations_total).
const (
	HibernationDone    = "done"
	HibernationAborted = "aborted" // the re-check just before the PUT found a reason not to
	HibernationFailed  = "failed"  // Marathon refused or failed the PUT
	HibernationDryRun  = "dry_run" // --dry-run: decided, not done
)

// Why a re-check aborted a hibernation, beyond the planner's own reasons
// (marmot_hibernator_hibernations_aborted_total).
const (
	AbortAppChanged   = "app_changed"   // the app's instances, labels or version changed since the decision
	AbortRereadFailed = "reread_failed" // the app could not be read again
	AbortGroupMember  = "group_member"  // another app of its group was aborted
)

// SkewSourceMarathon is the source label of marmot_hibernator_clock_skew_seconds for the times Marathon
// reports (apps' scalings, tasks' starts, state labels); traffic sources go by their names.
const SkewSourceMarathon = "marathon"

// LoopMetrics are the hibernation loop's and the waker's Prometheus series.
type LoopMetrics struct {
	apps          *prometheus.GaugeVec
	decisions     *prometheus.GaugeVec
	hibernations  *prometheus.CounterVec
	aborted       *prometheus.CounterVec
	wakes         *prometheus.CounterVec
	wakeFailures  *prometheus.CounterVec
	freedCPUs     prometheus.Gauge
	freedMem      prometheus.Gauge
	asleepCPUh    prometheus.Gauge
	asleepMemh    prometheus.Gauge
	freedCPUh     prometheus.Counter
	freedMemh     prometheus.Counter
	reconciles    *prometheus.CounterVec
	reconcileTime prometheus.Histogram
	lastObserved  prometheus.Gauge
	sourceStale   *prometheus.GaugeVec
	conflicts     prometheus.Gauge
	policyReloads *prometheus.CounterVec
	futureStamps  *prometheus.CounterVec
	clockSkew     *prometheus.GaugeVec
}

// NewLoopMetrics makes the series and registers them on reg (nil: not registered). Every label value
// known in advance starts at zero.
func NewLoopMetrics(reg prometheus.Registerer) *LoopMetrics {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "marmot_hibernator_" + name, Help: help})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "marmot_hibernator_" + name, Help: help})
	}
	m := &LoopMetrics{
		apps: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "marmot_hibernator_apps", Help: "Apps that opted in (or sleep), by state: awake, asleep, waking, skipped (labels that do not parse).",
		}, []string{"state"}),
		decisions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "marmot_hibernator_app_decisions", Help: "Apps by the reason of the last plan's decision about them.",
		}, []string{"reason"}),
		hibernations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_hibernations_total", Help: "Hibernations the planner decided, by result: done, aborted (by the re-check), failed, dry_run.",
		}, []string{"result"}),
		aborted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_hibernations_aborted_total", Help: "Hibernations the re-check just before the PUT called off, by reason.",
		}, []string{"reason"}),
		wakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_wakes_total", Help: "Apps woken (one PUT each), by reason: request (the activator) or the planner's wake reasons.",
		}, []string{"reason"}),
		wakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_wake_failures_total", Help: "Wake attempts that did not wake the app, by reason: request or the planner's wake reasons.",
		}, []string{"reason"}),
		freedCPUs:  gauge("freed_cpus", "CPUs the sleeping apps would hold now (remembered instances × cpus)."),
		freedMem:   gauge("freed_memory_bytes", "Memory the sleeping apps would hold now (remembered instances × mem)."),
		asleepCPUh: gauge("asleep_cpu_hours", "CPU-hours freed so far by the apps asleep now, since each went to sleep (from marmot.hibernated.at)."),
		asleepMemh: gauge("asleep_memory_gib_hours", "GiB-hours of memory freed so far by the apps asleep now, since each went to sleep."),
		freedCPUh:  counter("freed_cpu_hours_total", "CPU-hours freed by sleeps that ended: counted when this hibernator wakes an app, from its state labels."),
		freedMemh:  counter("freed_memory_gib_hours_total", "GiB-hours of memory freed by sleeps that ended, counted at wake."),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_reconciles_total", Help: "Reconcile rounds, by result: ok, or error (Marathon could not be read; nothing was decided).",
		}, []string{"result"}),
		reconcileTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "marmot_hibernator_reconcile_duration_seconds", Help: "How long one reconcile round took, re-checks and PUTs included.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		lastObserved: gauge("last_observed_timestamp_seconds", "When Marathon and the traffic sources were last observed in full."),
		sourceStale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "marmot_hibernator_traffic_source_stale", Help: "1 when a traffic source's data is missing or older than traffic.max_age (then no app is idle).",
		}, []string{"source"}),
		conflicts: gauge("host_conflicts", "Host names claimed by more than one opted-in app (they get no route)."),
		policyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_policy_reloads_total", Help: "Policy reloads (SIGHUP), by result: ok, or error (the last good policy stays).",
		}, []string{"result"}),
		futureStamps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_future_timestamps_total",
			Help: "Times from outside that were ahead of the hibernator's clock when first seen (read as that moment), by kind: app_scaled, task_started, hibernated_at, request.",
		}, []string{"kind"}),
		clockSkew: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "marmot_hibernator_clock_skew_seconds",
			Help: "How far ahead of the hibernator's clock a time from outside was when first seen: the most among Marathon's times it still relies on (source=\"marathon\"), the latest read per traffic source. 0 when none was ahead.",
		}, []string{"source"}),
	}
	for _, s := range []string{StateAwake, StateAsleep, StateWaking, StateSkipped} {
		m.apps.WithLabelValues(s)
	}
	for _, r := range policy.HibernationReasons() {
		m.decisions.WithLabelValues(r.String())
	}
	for _, r := range []string{HibernationDone, HibernationAborted, HibernationFailed, HibernationDryRun} {
		m.hibernations.WithLabelValues(r)
	}
	for _, r := range []string{AbortAppChanged, AbortRereadFailed, AbortGroupMember} {
		m.aborted.WithLabelValues(r)
	}
	for _, r := range policy.HibernationReasons() {
		if r != policy.Hibernate {
			m.aborted.WithLabelValues(r.String()) // the re-check's own verdict
		}
	}
	for _, r := range []string{WakeReasonRequest, policy.WakeNotOptedIn.String(), policy.WakeNeverSleep.String()} {
		m.wakes.WithLabelValues(r)
		m.wakeFailures.WithLabelValues(r)
	}
	m.reconciles.WithLabelValues("ok")
	m.reconciles.WithLabelValues("error")
	for _, k := range []string{StampScaled, StampStarted, StampHibernatedAt, StampRequest} {
		m.futureStamps.WithLabelValues(k)
	}
	m.clockSkew.WithLabelValues(SkewSourceMarathon)
	m.policyReloads.WithLabelValues("ok")
	m.policyReloads.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(m.apps, m.decisions, m.hibernations, m.aborted, m.wakes, m.wakeFailures, m.freedCPUs, m.freedMem,
			m.asleepCPUh, m.asleepMemh, m.freedCPUh, m.freedMemh, m.reconciles, m.reconcileTime, m.lastObserved,
			m.sourceStale, m.conflicts, m.policyReloads, m.futureStamps, m.clockSkew)
	}
	return m
}

// PolicyReloaded counts a policy reload; cmd/hibernator calls it on SIGHUP.
func (m *LoopMetrics) PolicyReloaded(ok bool) {
	if ok {
		m.policyReloads.WithLabelValues("ok").Inc()
	} else {
		m.policyReloads.WithLabelValues("error").Inc()
	}
}
