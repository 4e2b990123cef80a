package policy

import (
	"time"
)

// AutoscalerPolicy is what a platform team writes to size its Mesos agent pools: global settings and
// one PoolPolicy per pool. LoadAutoscalerPolicy reads it from YAML; docs/autoscaler-policy.md is the
// reference of every field.
type AutoscalerPolicy struct {
	// ReconcileInterval is the period of the full reconcile that runs even when no event arrives.
	ReconcileInterval Duration `yaml:"reconcile_interval" json:"reconcile_interval"`
	// DrainMode is how agents are drained before their instance is terminated.
	DrainMode DrainMode `yaml:"drain_mode" json:"drain_mode"`
	// Pools is one policy per agent pool; a pool not listed is never scaled.
	Pools []PoolPolicy `yaml:"pools" json:"pools"`
}

// DrainMode selects the Mesos mechanism that empties an agent before its instance is terminated.
type DrainMode string

// Drain modes.
const (
	// DrainAuto uses DRAIN_AGENT when the master is Mesos 1.9 or later, maintenance otherwise.
	DrainAuto DrainMode = "auto"
	// DrainMaintenance schedules a maintenance window (DRAINING), then START_MAINTENANCE (DOWN).
	DrainMaintenance DrainMode = "maintenance"
	// DrainAgent uses the DRAIN_AGENT call of Mesos 1.9+, which kills the agent's tasks itself.
	DrainAgent DrainMode = "drain_agent"
)

// PoolPolicy is the policy of one agent pool: which Auto Scaling groups serve it, its size limits, and
// when it grows and shrinks.
type PoolPolicy struct {
	// Name is the pool: the value of the agents' `pool` attribute and of the groups' `marmot:pool` tag.
	Name string `yaml:"name" json:"name"`
	// ASGs names the pool's Auto Scaling groups; when empty, every group tagged marmot:pool=<Name>.
	ASGs []string `yaml:"asgs" json:"asgs,omitempty"`
	// MinAgents is the fewest agents the pool keeps, whatever the demand.
	MinAgents int `yaml:"min_agents" json:"min_agents"`
	// MaxAgents is the most agents the pool grows to; 0 means no pool-wide limit (the groups' own max
	// sizes still apply).
	MaxAgents int `yaml:"max_agents" json:"max_agents"`
	// TargetUtilization is the share of the dominant resource (the most allocated of cpus, mem, disk and
	// gpus) the pool may allocate before it grows: 0.8 keeps a fifth of every resource free.
	TargetUtilization float64 `yaml:"target_utilization" json:"target_utilization"`
	// Headroom is capacity kept free on top of the demand, for bursts.
	Headroom Headroom `yaml:"headroom" json:"headroom"`
	// ScaleUp limits growth.
	ScaleUp ScaleUpPolicy `yaml:"scale_up" json:"scale_up"`
	// ScaleDown says when agents are removed, how many at once, and how they are drained.
	ScaleDown ScaleDownPolicy `yaml:"scale_down" json:"scale_down"`
	// Protection says which apps' tasks keep their agent from ever being removed.
	Protection ProtectionPolicy `yaml:"protection" json:"protection"`
	// Health is the gate that freezes the pool when the data cannot be trusted.
	Health HealthGate `yaml:"health" json:"health"`
	// Backoff is how long a group is left alone after a failed launch.
	Backoff BackoffPolicy `yaml:"backoff" json:"backoff"`
	// BootTimeout is how long a launched instance may take to join Mesos; after it the instance is
	// terminated and its group backs off.
	BootTimeout Duration `yaml:"boot_timeout" json:"boot_timeout"`
	// SpotInterruption says what happens when the cloud announces that it reclaims an instance.
	SpotInterruption SpotInterruptionPolicy `yaml:"spot_interruption" json:"spot_interruption"`
}

// SpotInterruptionPolicy says what happens to an agent whose instance the cloud reclaims (EC2 warns
// two minutes ahead). The agent is drained at once, whatever the scale-down settings, its budget, its
// windows or protected tasks (the instance goes anyway), and the pool plans its capacity without it,
// so that its tasks find room elsewhere, on new agents if need be, before the instance is gone.
type SpotInterruptionPolicy struct {
	// Enabled turns the handling on; the autoscaler needs a notice queue (--notice-queue) to hear of
	// interruptions at all.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// DownBefore is how long before the reclaim the agent is taken out of Mesos and its instance
	// terminated, at the latest: time for Mesos to kill the tasks gracefully and for Marathon to start
	// them elsewhere, rather than finding them lost after the instance disappeared (Mesos notices an
	// agent gone only after its ping timeout, 75 s by default). An agent whose tasks have all left
	// goes earlier.
	DownBefore Duration `yaml:"down_before" json:"down_before"`
}

// spotNotice is how long EC2 warns before it reclaims a spot instance; DownBefore cannot exceed it.
const spotNotice = 2 * time.Minute

// Headroom is free capacity the pool keeps on top of what is allocated and waiting, so that a burst
// starts at once instead of waiting for an instance to boot.
type Headroom struct {
	CPUs float64 `yaml:"cpus" json:"cpus"`
	Mem  float64 `yaml:"mem" json:"mem"`   // MB
	Disk float64 `yaml:"disk" json:"disk"` // MB
	GPUs float64 `yaml:"gpus" json:"gpus"`
	// Agents is how many whole agents stay empty (no task at all), e.g. for one large task.
	Agents int `yaml:"agents" json:"agents"`
}

// Resources returns the resource part of the headroom.
func (h Headroom) Resources() Resources {
	return Resources{CPUs: h.CPUs, Mem: h.Mem, Disk: h.Disk, GPUs: h.GPUs}
}

// ScaleUpPolicy limits how fast a pool grows.
type ScaleUpPolicy struct {
	// MaxStep is the most agents one plan adds to the pool, over all its groups.
	MaxStep int `yaml:"max_step" json:"max_step"`
	// Cooldown is the least time between two scale-ups of the pool; with MaxStep it bounds the rate.
	Cooldown Duration `yaml:"cooldown" json:"cooldown"`
}

// ScaleDownPolicy says when an agent is unneeded, when the pool may shrink, and how agents leave.
type ScaleDownPolicy struct {
	// Enabled turns scale-down on; when false the pool only grows.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// UtilizationBelow is the share of its dominant resource under which an agent is unneeded. An agent
	// with nothing allocated is always unneeded.
	UtilizationBelow float64 `yaml:"utilization_below" json:"utilization_below"`
	// UnneededFor is how long an agent must stay unneeded before it is drained.
	UnneededFor Duration `yaml:"unneeded_for" json:"unneeded_for"`
	// DelayAfterScaleUp is how long after a scale-up nothing is drained, so that a burst is not
	// followed by a drain of the agents it just paid for.
	DelayAfterScaleUp Duration `yaml:"delay_after_scale_up" json:"delay_after_scale_up"`
	// MaxDraining is how many agents may drain at once: a count ("2") or a share of the pool ("10%",
	// rounded up).
	MaxDraining Budget `yaml:"max_draining" json:"max_draining"`
	// Windows are the times when drains may start; always when empty.
	Windows []ScaleDownWindow `yaml:"windows" json:"windows,omitempty"`
	// DrainDeadline is how long a drain may take before AtDeadline applies.
	DrainDeadline Duration `yaml:"drain_deadline" json:"drain_deadline"`
	// AtDeadline is what happens to an agent whose tasks have not left by the deadline.
	AtDeadline DeadlineAction `yaml:"at_deadline" json:"at_deadline"`
	// MinAgentAge keeps agents younger than this, so a fresh agent is not drained before work lands.
	MinAgentAge Duration `yaml:"min_agent_age" json:"min_agent_age"`

	compiled []openHours // Windows, compiled by Validate
}

// DeadlineAction is what happens to a drain that has not finished by its deadline.
type DeadlineAction string

// Deadline actions.
const (
	// AtDeadlineTerminate terminates the instance anyway; its remaining tasks are killed.
	AtDeadlineTerminate DeadlineAction = "terminate"
	// AtDeadlineAbort gives up: the agent is reactivated and stays in the pool.
	AtDeadlineAbort DeadlineAction = "abort"
)

// ProtectLabel is the app label that always protects an app's agents from scale-down.
const ProtectLabel = "marmot.protect"

// ProtectionPolicy says which apps keep their agents: an agent that runs one of their tasks is never
// drained. Apps labelled marmot.protect=true are always protected.
type ProtectionPolicy struct {
	// Labels are more app labels that protect: "key" (any value but "false") or "key=value".
	Labels []string `yaml:"labels" json:"labels,omitempty"`
	// Apps are app id patterns: "*" matches within one path segment, a trailing "/**" matches a whole
	// subtree ("/infra/**").
	Apps []string `yaml:"apps" json:"apps,omitempty"`
}

// HealthGate freezes the pool when its data cannot be trusted. With stale data nothing is decided at
// all; with too many agents missing, nothing is drained or terminated but the pool may still grow.
type HealthGate struct {
	// MaxMissingShare is the share of expected agents that may be missing (an instance with no agent
	// past the boot timeout, or a disconnected agent) before the gate closes.
	MaxMissingShare float64 `yaml:"max_missing_share" json:"max_missing_share"`
	// OKMissingAgents is how many agents may be missing whatever the share, so that one lost agent
	// does not freeze a small pool.
	OKMissingAgents int `yaml:"ok_missing_agents" json:"ok_missing_agents"`
	// MaxDataAge is the oldest a snapshot source (Mesos, Marathon, the cloud) may be.
	MaxDataAge Duration `yaml:"max_data_age" json:"max_data_age"`
}

// BackoffPolicy is the exponential backoff of a group after a failed launch (a failed scaling
// activity, or an instance that never joined Mesos): Initial, doubled per failure up to Max.
type BackoffPolicy struct {
	Initial Duration `yaml:"initial" json:"initial"`
	Max     Duration `yaml:"max" json:"max"`
	// ResetAfter forgets past failures when none happened for this long.
	ResetAfter Duration `yaml:"reset_after" json:"reset_after"`
}

// Defaults of the autoscaler policy; docs/autoscaler-policy.md explains each choice.
const (
	DefaultReconcileInterval = 30 * time.Second
	DefaultTargetUtilization = 0.8
	DefaultScaleUpMaxStep    = 50
	DefaultScaleUpCooldown   = 30 * time.Second
	DefaultUtilizationBelow  = 0.5
	DefaultUnneededFor       = 10 * time.Minute
	DefaultDelayAfterScaleUp = 10 * time.Minute
	DefaultMaxDrainingPct    = 10
	DefaultDrainDeadline     = 15 * time.Minute
	DefaultMinAgentAge       = 15 * time.Minute
	DefaultMaxMissingShare   = 0.45
	DefaultOKMissingAgents   = 3
	DefaultMaxDataAge        = 2 * time.Minute
	DefaultBackoffInitial    = 5 * time.Minute
	DefaultBackoffMax        = 30 * time.Minute
	DefaultBackoffResetAfter = 3 * time.Hour
	DefaultBootTimeout       = 10 * time.Minute
	DefaultSpotDownBefore    = 60 * time.Second
)

// DefaultAutoscalerPolicy returns the global settings at their defaults, with no pools.
func DefaultAutoscalerPolicy() AutoscalerPolicy {
	return AutoscalerPolicy{
		ReconcileInterval: Dur(DefaultReconcileInterval),
		DrainMode:         DrainAuto,
	}
}

// DefaultPoolPolicy returns a pool policy with every field at its default and no name.
func DefaultPoolPolicy() PoolPolicy {
	return PoolPolicy{
		TargetUtilization: DefaultTargetUtilization,
		ScaleUp:           ScaleUpPolicy{MaxStep: DefaultScaleUpMaxStep, Cooldown: Dur(DefaultScaleUpCooldown)},
		ScaleDown: ScaleDownPolicy{
			Enabled:           true,
			UtilizationBelow:  DefaultUtilizationBelow,
			UnneededFor:       Dur(DefaultUnneededFor),
			DelayAfterScaleUp: Dur(DefaultDelayAfterScaleUp),
			MaxDraining:       Percent(DefaultMaxDrainingPct),
			DrainDeadline:     Dur(DefaultDrainDeadline),
			AtDeadline:        AtDeadlineTerminate,
			MinAgentAge:       Dur(DefaultMinAgentAge),
		},
		Health: HealthGate{
			MaxMissingShare: DefaultMaxMissingShare,
			OKMissingAgents: DefaultOKMissingAgents,
			MaxDataAge:      Dur(DefaultMaxDataAge),
		},
		Backoff: BackoffPolicy{
			Initial:    Dur(DefaultBackoffInitial),
			Max:        Dur(DefaultBackoffMax),
			ResetAfter: Dur(DefaultBackoffResetAfter),
		},
		BootTimeout:      Dur(DefaultBootTimeout),
		SpotInterruption: SpotInterruptionPolicy{Enabled: true, DownBefore: Dur(DefaultSpotDownBefore)},
	}
}

// Pool returns the policy of the named pool, or nil.
func (p *AutoscalerPolicy) Pool(name string) *PoolPolicy {
	for i := range p.Pools {
		if p.Pools[i].Name == name {
			return &p.Pools[i]
		}
	}
	return nil
}
