package whatif

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
)

// Config is one what-if study: what to replay, for how long, under which policies, against which
// baselines.
type Config struct {
	// Scenario is the cluster and its workload (simulate.LoadScenario, simulate.Synthetic).
	Scenario *simulate.Scenario
	// Duration is how much model time to replay; a day when zero.
	Duration time.Duration
	// Trace adds one Marathon app per function, opted in to hibernation, driven by its invocations.
	Trace *Trace
	// Instances changes apps' instance counts at given minutes.
	Instances []InstancePoint
	// Autoscaler is Marmot's autoscaler policy; nil gives every pool of the scenario the default pool
	// policy. As in the daemon, a pool the policy does not list is never scaled.
	Autoscaler *policy.AutoscalerPolicy
	// Hibernation is Marmot's hibernation policy; nil is the default policy.
	Hibernation *policy.HibernationPolicy
	// Variants names what to run (VariantNames); all when empty.
	Variants []string
	// Prices prices the instances; nil is the built-in table of the scenario's region, overridden by
	// the prices the scenario's instance types carry.
	Prices *cost.Prices
	// TeamLabel is the chargeback label; cost.DefaultTeamLabel when empty.
	TeamLabel string
	// Parallel is how many variants replay at once; 1 when zero.
	Parallel int
	// SeriesPoints bounds the points of each time series in the report (charts); 720 when zero.
	SeriesPoints int

	// planEveryMinute plans every pool every minute, even when nothing it depends on changed: the
	// tests compare it with the default, which must give the same replay.
	planEveryMinute bool
}

// The variants. Each names how capacity is decided and how apps sleep; all but the ideal bound run
// on a World of their own, built from the same scenario and seed.
const (
	// Marmot: Marmot's autoscaler (policy.PlanPool) and hibernator (policy.PlanHibernation), under the
	// given policies.
	VariantMarmot = "marmot"
	// StaticPeak: no autoscaler; every pool stays at the size its peak demand needs at the Marmot
	// policy's target utilization (from the Marmot replay's demand). Marmot's hibernation.
	VariantStaticPeak = "static-peak"
	// Ideal: the lower bound. Capacity equals demand (allocated plus waiting for room, in whole agents
	// of the pool's largest shape) every minute, and each added agent is paid for from launch, its
	// shortest boot delay ahead. Computed from the Marmot replay's demand; no World of its own.
	VariantIdeal = "ideal"
	// ClusterAutoscaler: cluster-autoscaler's defaults as a pool policy: grow only for waiting tasks,
	// an agent below 50% utilization for 10 minutes is removed, nothing is removed for 10 minutes after
	// a scale-up. Marmot's hibernation.
	VariantClusterAutoscaler = "cluster-autoscaler"
	// Clusterman: Yelp Clusterman's setpoint: every 10 minutes the pool is resized to allocated/0.7 of
	// its agents, unless that is within 10% of the current target; agents leave through maintenance
	// (90 s drain). Marmot's hibernation.
	VariantClusterman = "clusterman"
	// NeverSleep: Marmot's autoscaler, no hibernation.
	VariantNeverSleep = "never-sleep"
	// KeepAlive10 and KeepAlive20: Marmot's autoscaler; every app that opts in sleeps after a fixed
	// 10 (AWS Lambda) or 20 (Azure Functions) minutes without a request, whatever its labels say.
	VariantKeepAlive10 = "keep-alive-10m"
	VariantKeepAlive20 = "keep-alive-20m"
)

// VariantNames lists every variant, in report order.
func VariantNames() []string {
	return []string{VariantMarmot, VariantStaticPeak, VariantIdeal, VariantClusterAutoscaler, VariantClusterman,
		VariantNeverSleep, VariantKeepAlive10, VariantKeepAlive20}
}

// capacityKind and sleepKind are the two halves of a variant.
type capacityKind int

const (
	capacityPlanner capacityKind = iota // policy.PlanPool under a pool policy
	capacityStatic
	capacityIdeal
	capacitySetpoint
)

type sleepKind int

const (
	sleepPlanner   sleepKind = iota // policy.PlanHibernation under Marmot's policy
	sleepNever                      // no hibernation
	sleepKeepAlive                  // policy.PlanHibernation with a fixed idle period for every app
)

type variant struct {
	name      string
	capacity  capacityKind
	pools     []policy.PoolPolicy // for capacityPlanner
	drainMode policy.DrainMode
	sleep     sleepKind
	keepAlive time.Duration
	// Labels for the report.
	capacityLabel, sleepLabel string
}

// Cluster-autoscaler's defaults (FAQ, "What are the parameters to CA?"), and Clusterman's example
// configuration (docs/source, autoscaling: setpoint 0.7, target_capacity_margin 0.1, period 10 min;
// drain_termination_timeout_seconds 90).
const (
	caUtilizationThreshold = 0.5
	caUnneededTime         = 10 * time.Minute
	caDelayAfterAdd        = 10 * time.Minute
	caMaxGracefulTerm      = 10 * time.Minute
	caMaxParallelDrains    = 10

	clustermanSetpoint     = 0.7
	clustermanMargin       = 0.1
	clustermanPeriod       = 10 * time.Minute
	clustermanDrainTimeout = 90 * time.Second
)

// variants resolves the names asked for; the Marmot replay comes first when a baseline needs its
// demand (static-peak, ideal).
func (c *Config) variants() ([]variant, error) {
	names := c.Variants
	if len(names) == 0 {
		names = VariantNames()
	}
	var unknown []string
	for _, n := range names {
		if !slices.Contains(VariantNames(), n) {
			unknown = append(unknown, fmt.Sprintf("%q", n))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown variant %s: use %s", strings.Join(unknown, ", "), strings.Join(VariantNames(), ", "))
	}
	marmot := c.Autoscaler.Pools
	ca, err := clusterAutoscalerPools(c.Autoscaler)
	if err != nil {
		return nil, err
	}
	mode := c.Autoscaler.DrainMode
	planned := func(name, sleepLabel string, s sleepKind, keep time.Duration) variant {
		return variant{name: name, capacity: capacityPlanner, pools: marmot, drainMode: mode, sleep: s, keepAlive: keep,
			capacityLabel: "marmot", sleepLabel: sleepLabel}
	}
	all := map[string]variant{
		VariantMarmot:            planned(VariantMarmot, "marmot", sleepPlanner, 0),
		VariantStaticPeak:        {name: VariantStaticPeak, capacity: capacityStatic, capacityLabel: "static peak", sleepLabel: "marmot"},
		VariantIdeal:             {name: VariantIdeal, capacity: capacityIdeal, capacityLabel: "ideal bound", sleepLabel: "marmot"},
		VariantClusterAutoscaler: {name: VariantClusterAutoscaler, capacity: capacityPlanner, pools: ca, drainMode: mode, capacityLabel: "cluster-autoscaler-like", sleepLabel: "marmot"},
		VariantClusterman:        {name: VariantClusterman, capacity: capacitySetpoint, drainMode: policy.DrainMaintenance, capacityLabel: "clusterman-like", sleepLabel: "marmot"},
		VariantNeverSleep:        planned(VariantNeverSleep, "never", sleepNever, 0),
		VariantKeepAlive10:       planned(VariantKeepAlive10, "keep-alive 10m", sleepKeepAlive, 10*time.Minute),
		VariantKeepAlive20:       planned(VariantKeepAlive20, "keep-alive 20m", sleepKeepAlive, 20*time.Minute),
	}
	var out []variant
	if !slices.Contains(names, VariantMarmot) && (slices.Contains(names, VariantStaticPeak) || slices.Contains(names, VariantIdeal)) {
		names = append([]string{VariantMarmot}, names...) // their demand comes from the Marmot replay
	}
	for _, n := range VariantNames() {
		if slices.Contains(names, n) {
			out = append(out, all[n])
		}
	}
	return out, nil
}

// clusterAutoscalerPools expresses cluster-autoscaler's defaults as pool policies: the same pools and
// groups as Marmot's policy, growing only for tasks that wait for room (no utilization target, no
// headroom), with CA's scale-down rules.
func clusterAutoscalerPools(p *policy.AutoscalerPolicy) ([]policy.PoolPolicy, error) {
	out := make([]policy.PoolPolicy, len(p.Pools))
	for i, mine := range p.Pools {
		pp := policy.DefaultPoolPolicy()
		pp.Name, pp.ASGs, pp.MinAgents, pp.MaxAgents, pp.BootTimeout = mine.Name, mine.ASGs, mine.MinAgents, mine.MaxAgents, mine.BootTimeout
		pp.Protection = mine.Protection
		pp.TargetUtilization = 1
		pp.ScaleUp = policy.ScaleUpPolicy{MaxStep: 1000, Cooldown: policy.Dur(0)}
		pp.ScaleDown.UtilizationBelow = caUtilizationThreshold
		pp.ScaleDown.UnneededFor = policy.Dur(caUnneededTime)
		pp.ScaleDown.DelayAfterScaleUp = policy.Dur(caDelayAfterAdd)
		pp.ScaleDown.DrainDeadline = policy.Dur(caMaxGracefulTerm)
		pp.ScaleDown.MaxDraining = policy.Count(caMaxParallelDrains)
		pp.ScaleDown.MinAgentAge = policy.Dur(0)
		out[i] = pp
	}
	check := policy.AutoscalerPolicy{ReconcileInterval: p.ReconcileInterval, DrainMode: p.DrainMode, Pools: out}
	if err := check.Validate(); err != nil {
		return nil, fmt.Errorf("the cluster-autoscaler baseline's policy: %w", err)
	}
	return out, nil
}

// withDefaults fills in what the caller left out and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Scenario == nil {
		return c, errors.New("whatif: no scenario")
	}
	if c.Duration == 0 {
		c.Duration = 24 * time.Hour
	}
	if c.Duration < time.Minute {
		return c, fmt.Errorf("whatif: duration %s is shorter than a minute", c.Duration)
	}
	if c.Autoscaler == nil {
		c.Autoscaler = defaultAutoscalerPolicy(c.Scenario)
	}
	if c.Hibernation == nil {
		c.Hibernation = policy.DefaultHibernationPolicy()
	}
	if c.Prices == nil {
		over := map[string]float64{}
		for _, t := range c.Scenario.InstanceTypes {
			if t.Price > 0 {
				over[t.Name] = t.Price
			}
		}
		c.Prices = cost.NewPrices(c.Scenario.Region, over)
	}
	if c.Parallel < 1 {
		c.Parallel = 1
	}
	if c.SeriesPoints <= 0 {
		c.SeriesPoints = 720
	}
	return c, nil
}

// defaultAutoscalerPolicy manages every pool of the scenario with the default pool policy, its min
// and max taken from the pool's groups.
func defaultAutoscalerPolicy(sc *simulate.Scenario) *policy.AutoscalerPolicy {
	p := policy.DefaultAutoscalerPolicy()
	for _, ps := range sc.Pools {
		if len(ps.Groups) == 0 {
			continue
		}
		pp := policy.DefaultPoolPolicy()
		pp.Name = ps.Name
		p.Pools = append(p.Pools, pp)
	}
	return &p
}
