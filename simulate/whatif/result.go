package whatif

import (
	"math"
	"time"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
)

// Report is a what-if study: what was replayed, and one Result per variant in VariantNames order.
type Report struct {
	Scenario string    `json:"scenario"`
	Start    time.Time `json:"start"`
	// Minutes is how much model time was replayed, one plan per pool and minute.
	Minutes int `json:"minutes"`
	// TraceFunctions and InstancePoints count the extra inputs.
	TraceFunctions int `json:"trace_functions,omitempty"`
	InstancePoints int `json:"instance_points,omitempty"`
	// Notes say what the replay assumed beyond the inputs.
	Notes   []string `json:"notes,omitempty"`
	Results []Result `json:"results"`
}

// Result is one variant's figures over the whole replay.
type Result struct {
	Variant     string `json:"variant"`
	Capacity    string `json:"capacity"`
	Hibernation string `json:"hibernation"`
	// Bound is set for the ideal lower bound, which is computed, not replayed.
	Bound bool `json:"bound,omitempty"`
	// Cost is what the instances cost, USD.
	Cost float64 `json:"cost"`
	// AgentHours are hours of instances registered as Mesos agents; InstanceHours all paid hours.
	AgentHours    float64 `json:"agent_hours"`
	InstanceHours float64 `json:"instance_hours"`
	// CPUUtilization and MemUtilization are allocated over offered resource-hours of the agents.
	CPUUtilization float64 `json:"cpu_utilization"`
	MemUtilization float64 `json:"mem_utilization"`
	// PendingP50 and PendingP99 are percentiles of how long launched tasks waited for a place, in
	// seconds, at the replay's one-minute resolution (a task placed within its minute waited 0).
	PendingP50 float64 `json:"pending_p50_seconds"`
	PendingP99 float64 `json:"pending_p99_seconds"`
	Launches   int     `json:"launches"`
	// Requests reached the apps opted in to hibernation; ColdStarts of them found no running task
	// (asleep or waking). ColdStartShare is their ratio over all those apps, ColdStartShareP75 the
	// 75th percentile of the apps' own ratios (apps with requests), the paper's "3rd-quartile
	// application cold-start percentage".
	Requests          float64 `json:"requests"`
	ColdStarts        float64 `json:"cold_starts"`
	ColdStartShare    float64 `json:"cold_start_share"`
	ColdStartShareP75 float64 `json:"cold_start_share_p75_app"`
	// AwakeCPUHours and AwakeGiBHours are what the opted-in apps' tasks held: the resource-time
	// hibernation can save.
	AwakeCPUHours float64     `json:"awake_cpu_hours"`
	AwakeGiBHours float64     `json:"awake_gib_hours"`
	Apps          []AppResult `json:"apps,omitempty"`
	// StaticSizes are the pool sizes of the static-peak variant.
	StaticSizes map[string]int `json:"static_sizes,omitempty"`
	Actions     Actions        `json:"actions"`
	Plans       PlanCounts     `json:"plans"`
	// Errors counts the calls the cluster refused, by call and error.
	Errors map[string]int `json:"errors,omitempty"`
	// Chargeback is the cost ledger's report: pools, teams, apps, idle, savings.
	Chargeback *cost.Report `json:"chargeback,omitempty"`
	Series     Series       `json:"series"`
}

// AppResult is one opted-in app's requests, cold starts and awake time.
type AppResult struct {
	App            string  `json:"app"`
	Requests       float64 `json:"requests"`
	ColdStarts     float64 `json:"cold_starts"`
	ColdStartShare float64 `json:"cold_start_share"`
	AwakeCPUHours  float64 `json:"awake_cpu_hours"`
	AwakeGiBHours  float64 `json:"awake_gib_hours"`
	Hibernations   int     `json:"hibernations"`
	Wakes          int     `json:"wakes"`
}

// result gathers a finished replay's figures.
func (r *replay) result(points int) Result {
	rep := r.ledger.Report()
	res := Result{
		Variant: r.v.name, Capacity: r.v.capacityLabel, Hibernation: r.v.sleepLabel,
		Cost: rep.Cost, AgentHours: rep.AgentHours, InstanceHours: rep.InstanceHours,
		PendingP50: r.pending.percentile(0.5), PendingP99: r.pending.percentile(0.99),
		Launches: r.pending.zero + len(r.pending.waits), Actions: r.act.counts, Chargeback: &rep,
		Series: r.series.series(points), StaticSizes: r.staticSizes,
	}
	var offered, allocated cost.Resources
	for _, p := range rep.Pools {
		offered = offered.Add(cost.Resources{CPUs: p.CPUHours, MemMiB: p.GiBHours})
		allocated = allocated.Add(cost.Resources{CPUs: p.AllocatedCPUHours, MemMiB: p.AllocatedGiBHours})
	}
	res.CPUUtilization, res.MemUtilization = ratio(allocated.CPUs, offered.CPUs), ratio(allocated.MemMiB, offered.MemMiB)
	if d, ok := r.capacity.(*plannerDecider); ok {
		res.Plans = d.plans
	}
	if len(r.act.errs) > 0 {
		res.Errors = r.act.errs
	}
	r.sleepFigures(&res)
	return res
}

// sleepFigures adds the opted-in apps' requests, cold starts and awake time.
func (r *replay) sleepFigures(res *Result) {
	var shares []float64
	for _, id := range r.sleep.ids {
		a := r.sleep.apps[id]
		ar := AppResult{
			App: id, Requests: a.requests, ColdStarts: round3(a.cold), ColdStartShare: ratio(a.cold, a.requests),
			AwakeCPUHours: round3(a.awake.CPUs), AwakeGiBHours: round3(a.awake.GiB()), Hibernations: a.sleeps, Wakes: a.wakes,
		}
		res.Apps = append(res.Apps, ar)
		res.Requests += a.requests
		res.ColdStarts += a.cold
		res.AwakeCPUHours += a.awake.CPUs
		res.AwakeGiBHours += a.awake.GiB()
		if a.requests > 0 {
			shares = append(shares, ar.ColdStartShare)
		}
	}
	res.ColdStarts = round3(res.ColdStarts)
	res.ColdStartShare = ratio(res.ColdStarts, res.Requests)
	res.ColdStartShareP75 = quantile(shares, 0.75)
	res.AwakeCPUHours, res.AwakeGiBHours = round3(res.AwakeCPUHours), round3(res.AwakeGiBHours)
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return math.Round(a/b*1e6) / 1e6
}

// idealResult is the lower bound: every minute, each pool has exactly the whole agents of its largest
// shape that its demand (allocated plus waiting for room, as the Marmot replay saw it) needs, and each
// agent it adds was launched its shortest boot delay earlier, paid for at the cheapest of the pool's
// groups. Hibernation figures are the Marmot replay's, whose hibernation it shares.
func idealResult(marmot *replay, mres *Result, boot time.Duration, points int) Result {
	res := Result{
		Variant: VariantIdeal, Capacity: "ideal bound", Hibernation: mres.Hibernation, Bound: true,
		Requests: mres.Requests, ColdStarts: mres.ColdStarts, ColdStartShare: mres.ColdStartShare,
		ColdStartShareP75: mres.ColdStartShareP75, AwakeCPUHours: mres.AwakeCPUHours, AwakeGiBHours: mres.AwakeGiBHours,
		Apps: mres.Apps,
	}
	var rec seriesRecorder
	minutes := 0
	for _, pts := range marmot.demand {
		minutes = max(minutes, len(pts))
	}
	prev := map[string]int{}
	var used, offered policy.Resources
	for m := range minutes {
		var row [7]float64
		for _, pool := range sortedKeys(marmot.demand) {
			pts := marmot.demand[pool]
			if m >= len(pts) {
				continue
			}
			p := pts[m]
			need := agentsFor(p.used, p.shape, 1)
			if m > 0 { // the first minute is a point in time: nothing was run before it
				res.AgentHours += float64(need) * step.Hours()
				res.Cost += float64(need) * p.price * step.Hours()
				used, offered = used.Add(p.used), offered.Add(p.shape.Scale(float64(need)))
			}
			if added := need - prev[pool]; added > 0 && m > 0 {
				res.InstanceHours += float64(added) * boot.Hours()
				res.Cost += float64(added) * p.price * boot.Hours()
			}
			prev[pool] = need
			row[0] += float64(need)
			row[1] += float64(need)
			row[2] += float64(need) * p.shape.CPUs
			row[3] += p.used.CPUs
			row[4] += float64(need) * p.price
		}
		if m < len(marmot.series.rows) {
			row[6] = marmot.series.rows[m][6]
		}
		rec.add(row)
	}
	res.InstanceHours += res.AgentHours
	res.CPUUtilization, res.MemUtilization = ratio(used.CPUs, offered.CPUs), ratio(used.Mem, offered.Mem)
	res.Series = rec.series(points)
	return res
}

// agentsFor is how many agents of a shape hold what is used at the given utilization: the most
// demanding resource decides.
func agentsFor(used, shape policy.Resources, utilization float64) int {
	if shape.IsZero() || used.IsZero() {
		return 0
	}
	return int(math.Ceil(used.Share(shape.Scale(utilization)) - 1e-9))
}

// staticSizes sizes each pool Marmot's policy manages for its peak demand at the policy's target
// utilization: what an operator without an autoscaler provisions, sized with the autoscaler's own
// yardstick. Never below the groups' min sizes.
func staticSizes(marmot *replay, pools []policy.PoolPolicy) map[string]int {
	out := map[string]int{}
	for _, pp := range pools {
		peak := 0
		for _, p := range marmot.demand[pp.Name] {
			peak = max(peak, agentsFor(p.used, p.shape, pp.TargetUtilization))
		}
		out[pp.Name] = max(peak, pp.MinAgents)
	}
	return out
}

// shortestBoot is the least time from launch to a registered agent the scenario allows.
func shortestBoot(t simulate.TimingSpec) time.Duration {
	d := t.BootDelay
	var least time.Duration
	switch {
	case d.Value.Set():
		least = d.Value.D()
	case d.Min.Set():
		least = d.Min.D()
	}
	return max(least, t.InstancePending.D())
}
