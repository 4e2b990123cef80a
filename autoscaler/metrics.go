package autoscaler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/policy"
)

// metrics are the loop's Prometheus series, marmot_autoscaler_*, on the registry the caller injects.
// Label values are the planner's typed reasons. Every series a pool or a call can have starts at zero
// when the pool (or the loop) appears, so that rate() and absent() work from the first scrape;
// series of groups start when the group is first seen.
type metrics struct {
	agents           *prometheus.GaugeVec // pool, state
	agentsByReason   *prometheus.GaugeVec // pool, reason
	groupDesired     *prometheus.GaugeVec // pool, group
	groupMin         *prometheus.GaugeVec // pool, group
	groupMax         *prometheus.GaugeVec // pool, group
	groupBackoff     *prometheus.GaugeVec // pool, group
	capacity         *prometheus.GaugeVec // pool, resource, unit
	allocated        *prometheus.GaugeVec // pool, resource, unit
	utilization      *prometheus.GaugeVec // pool, resource
	waiting          *prometheus.GaugeVec // pool, reason
	frozen           *prometheus.GaugeVec // pool, reason
	drainsInProgress *prometheus.GaugeVec // pool
	scaleUps         *prometheus.CounterVec
	scaleDowns       *prometheus.CounterVec
	drainsStarted    *prometheus.CounterVec
	drainsAborted    *prometheus.CounterVec
	drainDuration    *prometheus.HistogramVec // pool, outcome
	actions          *prometheus.CounterVec   // pool, action, result

	reconciles        *prometheus.CounterVec   // trigger, result
	reconcileDuration *prometheus.HistogramVec // trigger
	lastSuccess       prometheus.Gauge
	ready             prometheus.Gauge
	sourceErrors      *prometheus.CounterVec   // source
	cloudDuration     *prometheus.HistogramVec // call
	cloudErrors       *prometheus.CounterVec   // call, reason
	policyReloads     *prometheus.CounterVec   // result
	policyOK          prometheus.Gauge
	notices           *prometheus.CounterVec // kind
	futureTimes       *prometheus.CounterVec // kind
	reclaimsPending   prometheus.Gauge
}

// Agent states, the state label of marmot_autoscaler_agents.
const (
	agentAvailable    = "available"    // takes tasks
	agentDraining     = "draining"     // Marmot is draining it
	agentMaintenance  = "maintenance"  // in someone else's maintenance window
	agentDeactivated  = "deactivated"  // deactivated or drained by someone else
	agentDisconnected = "disconnected" // registered but not connected
)

var agentStates = []string{agentAvailable, agentDraining, agentMaintenance, agentDeactivated, agentDisconnected}

// The resources of the capacity, allocation and utilization series, with their units.
var resources = []struct {
	name, unit string
	of         func(policy.Resources) float64
}{
	{"cpus", "cores", func(r policy.Resources) float64 { return r.CPUs }},
	{"mem", "megabytes", func(r policy.Resources) float64 { return r.Mem }},
	{"disk", "megabytes", func(r policy.Resources) float64 { return r.Disk }},
	{"gpus", "gpus", func(r policy.Resources) float64 { return r.GPUs }},
}

// The reasons of the counters whose reasons are a subset of a kind.
var (
	scaleDownReasons  = []policy.Reason{policy.DrainComplete, policy.DrainAgentGone, policy.DrainDeadlineTerminate, policy.DrainReclaimDeadline, policy.InstanceNotJoined}
	drainStartReasons = []policy.Reason{policy.ScaleDownEmpty, policy.ScaleDownUnneeded, policy.SpotInterruption}
	drainAbortReasons = []policy.Reason{policy.DrainDeadlineAbort, policy.DrainAbortProtected, policy.DrainAbortDemand, policy.DrainAbortGroupMinSize}
	frozenReasons     = []policy.Reason{policy.FrozenStaleData, policy.FrozenMissingAgents}
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "marmot", "autoscaler"
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help, Buckets: buckets}, labels)
	}
	single := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &metrics{
		agents:           gauge("agents", "Mesos agents of the pool by state: available, draining (by Marmot), maintenance, deactivated, disconnected.", "pool", "state"),
		agentsByReason:   gauge("agents_by_reason", "Agents of the pool by the reason of the last plan: why each is drained or kept.", "pool", "reason"),
		groupDesired:     gauge("group_desired_instances", "Desired capacity of the Auto Scaling group.", "pool", "group"),
		groupMin:         gauge("group_min_instances", "Min size of the Auto Scaling group.", "pool", "group"),
		groupMax:         gauge("group_max_instances", "Max size of the Auto Scaling group.", "pool", "group"),
		groupBackoff:     gauge("group_backoff", "1 while the group backs off after a failed launch.", "pool", "group"),
		capacity:         gauge("capacity", "Resources the pool's agents offer Mesos, in the unit of the unit label.", "pool", "resource", "unit"),
		allocated:        gauge("allocated", "Resources allocated on the pool's agents, in the unit of the unit label.", "pool", "resource", "unit"),
		utilization:      gauge("utilization_ratio", "Allocated share of the pool's capacity per resource; resource=\"dominant\" is the largest.", "pool", "resource"),
		waiting:          gauge("waiting_instances", "Marathon instances waiting to launch in the pool, by whether and why they count as demand.", "pool", "reason"),
		frozen:           gauge("frozen", "1 while the health gate freezes the pool, by reason.", "pool", "reason"),
		drainsInProgress: gauge("drains_in_progress", "Drains in progress in the pool.", "pool"),
		scaleUps:         counter("scale_ups_total", "Agents added to the pool (desired capacity raised), by reason.", "pool", "reason"),
		scaleDowns:       counter("scale_downs_total", "Instances of the pool terminated, by reason.", "pool", "reason"),
		drainsStarted:    counter("drains_started_total", "Drains started, by reason.", "pool", "reason"),
		drainsAborted:    counter("drains_aborted_total", "Drains aborted (agent given back to the pool), by reason.", "pool", "reason"),
		drainDuration: histogram("drain_duration_seconds", "From the start of a drain to its instance's termination or its abort.",
			[]float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200}, "pool", "outcome"),
		actions: counter("actions_total", "Actions of the actuator, by kind and result (done, failed, dry_run, unconfirmed).", "pool", "action", "result"),

		reconciles: counter("reconciles_total", "Reconciles by trigger and result (ok, error: a source failed and older data was used, not_planned).", "trigger", "result"),
		reconcileDuration: histogram("reconcile_duration_seconds", "Duration of one reconcile: observe, plan, re-check and act, for every pool.",
			[]float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}, "trigger"),
		lastSuccess:     single("last_successful_reconcile_timestamp_seconds", "When the last reconcile with every source fresh ended (Unix time)."),
		ready:           single("ready", "1 once the first full snapshot was read."),
		sourceErrors:    counter("source_errors_total", "Failed reads of a source.", "source"),
		cloudDuration:   histogram("cloud_call_duration_seconds", "Duration of cloud calls, retries included.", prometheus.DefBuckets, "call"),
		cloudErrors:     counter("cloud_call_errors_total", "Failed cloud calls, by kind of failure.", "call", "reason"),
		policyReloads:   counter("policy_reloads_total", "Policy reloads (SIGHUP) by result; on error the last good policy stays in force.", "result"),
		policyOK:        single("policy_last_reload_ok", "1 when the last policy reload succeeded (or none was tried)."),
		notices:         counter("notices_total", "Notices read from the notice queue, by kind (each event once, however often the queue delivers it).", "kind"),
		futureTimes:     counter("future_timestamps_total", "Times from another clock (an agent's registration, an instance's launch, a failed launch) found ahead of the autoscaler's own clock, each counted once; they are read as the moment first seen.", "kind"),
		reclaimsPending: single("reclaims_pending", "Instances the cloud has announced it reclaims (spot interruption notices) whose drain is not past its termination yet."),
	}
	for _, c := range []prometheus.Collector{
		m.agents, m.agentsByReason, m.groupDesired, m.groupMin, m.groupMax, m.groupBackoff, m.capacity, m.allocated,
		m.utilization, m.waiting, m.frozen, m.drainsInProgress, m.scaleUps, m.scaleDowns, m.drainsStarted, m.drainsAborted,
		m.drainDuration, m.actions, m.reconciles, m.reconcileDuration, m.lastSuccess, m.ready, m.sourceErrors,
		m.cloudDuration, m.cloudErrors, m.policyReloads, m.policyOK, m.notices, m.futureTimes, m.reclaimsPending,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, t := range Triggers() {
		for _, r := range []string{"ok", "error", "not_planned"} {
			m.reconciles.WithLabelValues(string(t), r)
		}
		m.reconcileDuration.WithLabelValues(string(t))
	}
	for _, s := range []string{"mesos", "marathon queue", "marathon apps", "notices"} {
		m.sourceErrors.WithLabelValues(s)
	}
	for _, k := range cloud.NoticeKinds() {
		m.notices.WithLabelValues(string(k))
	}
	for _, k := range aheadKinds {
		m.futureTimes.WithLabelValues(k)
	}
	for _, c := range cloud.Calls() {
		m.cloudDuration.WithLabelValues(c)
		for _, r := range cloud.Reasons() {
			m.cloudErrors.WithLabelValues(c, r)
		}
	}
	for _, r := range []string{"ok", "error"} {
		m.policyReloads.WithLabelValues(r)
	}
	return m, nil
}

// initPools starts every series of the policy's pools at zero and drops those of pools the old
// policy had and the new one has not.
func (m *metrics) initPools(pol, old *policy.AutoscalerPolicy) {
	if old != nil {
		for _, pp := range old.Pools {
			if pol.Pool(pp.Name) == nil {
				m.dropPool(pp.Name)
			}
		}
	}
	for _, pp := range pol.Pools {
		p := pp.Name
		m.sourceErrors.WithLabelValues("cloud " + p)
		for _, s := range agentStates {
			m.agents.WithLabelValues(p, s)
		}
		for _, r := range policy.ReasonsOf(policy.KindAgent) {
			m.agentsByReason.WithLabelValues(p, r.String())
		}
		for _, r := range policy.ReasonsOf(policy.KindWaiting) {
			m.waiting.WithLabelValues(p, r.String())
		}
		for _, r := range policy.ReasonsOf(policy.KindScaleUp) {
			m.scaleUps.WithLabelValues(p, r.String())
		}
		for _, res := range resources {
			m.capacity.WithLabelValues(p, res.name, res.unit)
			m.allocated.WithLabelValues(p, res.name, res.unit)
			m.utilization.WithLabelValues(p, res.name)
		}
		m.utilization.WithLabelValues(p, "dominant")
		counters := []struct {
			vec     *prometheus.CounterVec
			reasons []policy.Reason
		}{{m.scaleDowns, scaleDownReasons}, {m.drainsStarted, drainStartReasons}, {m.drainsAborted, drainAbortReasons}}
		for _, c := range counters {
			for _, r := range c.reasons {
				c.vec.WithLabelValues(p, r.String())
			}
		}
		for _, r := range frozenReasons {
			m.frozen.WithLabelValues(p, r.String())
		}
		m.drainsInProgress.WithLabelValues(p)
		for _, o := range []string{"terminated", "aborted"} {
			m.drainDuration.WithLabelValues(p, o)
		}
		for _, k := range ActionKinds() {
			for _, r := range ActionResults() {
				m.actions.WithLabelValues(p, string(k), string(r))
			}
		}
	}
}

func (m *metrics) dropPool(pool string) {
	l := prometheus.Labels{"pool": pool}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.agents, m.agentsByReason, m.groupDesired, m.groupMin, m.groupMax, m.groupBackoff, m.capacity, m.allocated,
		m.utilization, m.waiting, m.frozen, m.drainsInProgress, m.scaleUps, m.scaleDowns, m.drainsStarted,
		m.drainsAborted, m.drainDuration, m.actions,
	} {
		v.DeletePartialMatch(l)
	}
	m.sourceErrors.DeleteLabelValues("cloud " + pool)
}

// observeCloudCall is the cloud.Instrument callback.
func (m *metrics) observeCloudCall(call string, d time.Duration, err error) {
	m.cloudDuration.WithLabelValues(call).Observe(d.Seconds())
	if err != nil {
		m.cloudErrors.WithLabelValues(call, cloud.Reason(err)).Inc()
	}
}

// observePool sets the pool's gauges from the snapshot and plan of the last reconcile.
func (m *metrics) observePool(pool string, pv *poolView, plan *policy.PoolPlan, actions []Action, now time.Time) {
	draining := map[string]bool{}
	for _, d := range plan.Agents {
		if d.Reason == policy.AgentDraining {
			draining[d.ID] = true
		}
	}
	states := map[string]float64{}
	var total, alloc policy.Resources
	for _, a := range pv.snap.Agents {
		states[agentState(&a, draining[a.ID])]++
		total, alloc = total.Add(a.Total), alloc.Add(a.Allocated)
	}
	for _, s := range agentStates {
		m.agents.WithLabelValues(pool, s).Set(states[s])
	}
	for _, res := range resources {
		m.capacity.WithLabelValues(pool, res.name, res.unit).Set(res.of(total))
		m.allocated.WithLabelValues(pool, res.name, res.unit).Set(res.of(alloc))
		u := 0.0
		if t := res.of(total); t > 0 {
			u = res.of(alloc) / t
		}
		m.utilization.WithLabelValues(pool, res.name).Set(u)
	}
	m.utilization.WithLabelValues(pool, "dominant").Set(alloc.Share(total))

	kept := plan.KeptByReason()
	for _, r := range policy.ReasonsOf(policy.KindAgent) {
		m.agentsByReason.WithLabelValues(pool, r.String()).Set(float64(kept[r]))
	}
	waiting := map[policy.Reason]int{}
	for _, w := range plan.Waiting {
		waiting[w.Reason] += w.Count
	}
	for _, r := range policy.ReasonsOf(policy.KindWaiting) {
		m.waiting.WithLabelValues(pool, r.String()).Set(float64(waiting[r]))
	}
	for _, r := range frozenReasons {
		m.frozen.WithLabelValues(pool, r.String()).Set(boolGauge(plan.Frozen == r))
	}
	m.drainsInProgress.WithLabelValues(pool).Set(float64(len(plan.Next.Drains)))
	for _, g := range plan.Groups {
		m.groupDesired.WithLabelValues(pool, g.Name).Set(float64(g.Desired))
		m.groupMin.WithLabelValues(pool, g.Name).Set(float64(g.Min))
		m.groupMax.WithLabelValues(pool, g.Name).Set(float64(g.Max))
		m.groupBackoff.WithLabelValues(pool, g.Name).Set(boolGauge(g.BackoffUntil.After(now)))
	}
	for _, a := range actions {
		if a.Kind == ActionScaleUp && a.Result == ResultDone {
			m.groupDesired.WithLabelValues(pool, a.Group).Set(float64(a.Desired))
		}
	}
}

// agentState is an agent's state label.
func agentState(a *policy.Agent, ours bool) string {
	switch {
	case ours:
		return agentDraining
	case a.Maintenance == policy.MaintenanceDraining || a.Maintenance == policy.MaintenanceDown:
		return agentMaintenance
	case a.Deactivated || a.Drain != "":
		return agentDeactivated
	case !a.Active:
		return agentDisconnected
	}
	return agentAvailable
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
