package policy

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Validate checks every field of the policy and compiles its scale-down windows. The error is Errors
// listing every problem with its field path, or nil. LoadAutoscalerPolicy calls it; call it yourself
// on a policy built in Go.
func (p *AutoscalerPolicy) Validate() error { return p.validate().Err() }

func (p *AutoscalerPolicy) validate() Errors {
	var errs Errors
	atLeast(&errs, "reconcile_interval", p.ReconcileInterval, time.Second)
	switch p.DrainMode {
	case DrainAuto, DrainMaintenance, DrainAgent:
	default:
		errs.Addf("drain_mode", "%q is not a drain mode: use auto, maintenance or drain_agent", p.DrainMode)
	}
	if len(p.Pools) == 0 {
		errs.Addf("pools", "is required: at least one pool, e.g. [{name: default, min_agents: 1}]")
	}
	poolAt := map[string]string{} // pool name → path of the pool that has it
	groupAt := map[string]string{}
	for i := range p.Pools {
		pool := &p.Pools[i]
		at := fmt.Sprintf("pools[%d]", i)
		pool.validate(&errs, at)
		if first, dup := poolAt[pool.Name]; dup && pool.Name != "" {
			errs.Addf(at+".name", "%q is already the name of %s", pool.Name, first)
		} else {
			poolAt[pool.Name] = at
		}
		for j, g := range pool.ASGs {
			gat := fmt.Sprintf("%s.asgs[%d]", at, j)
			if first, dup := groupAt[g]; dup && g != "" {
				errs.Addf(gat, "%q is already listed at %s: a group serves one pool", g, first)
			} else {
				groupAt[g] = gat
			}
		}
	}
	return errs
}

func (p *PoolPolicy) validate(errs *Errors, at string) {
	switch {
	case p.Name == "":
		errs.Addf(at+".name", "is required: the value of the agents' pool attribute, e.g. default")
	case strings.ContainsAny(p.Name, " \t\n,;:"):
		errs.Addf(at+".name", "%q must not contain spaces, commas, colons or semicolons (Mesos attribute syntax)", p.Name)
	}
	for j, g := range p.ASGs {
		if strings.TrimSpace(g) == "" {
			errs.Addf(fmt.Sprintf("%s.asgs[%d]", at, j), "must not be empty: an Auto Scaling group name")
		}
	}
	nonNegative(errs, at+".min_agents", float64(p.MinAgents))
	nonNegative(errs, at+".max_agents", float64(p.MaxAgents))
	if p.MaxAgents > 0 && p.MaxAgents < p.MinAgents {
		errs.Addf(at+".max_agents", "%d is less than min_agents (%d); use 0 for no limit", p.MaxAgents, p.MinAgents)
	}
	if !(p.TargetUtilization > 0 && p.TargetUtilization <= 1) {
		errs.Addf(at+".target_utilization", "%g must be more than 0 and at most 1, e.g. 0.8", p.TargetUtilization)
	}
	p.Headroom.validate(errs, at+".headroom")
	if p.ScaleUp.MaxStep < 1 {
		errs.Addf(at+".scale_up.max_step", "%d must be at least 1", p.ScaleUp.MaxStep)
	}
	atLeast(errs, at+".scale_up.cooldown", p.ScaleUp.Cooldown, 0)
	p.ScaleDown.validate(errs, at+".scale_down", p.TargetUtilization)
	p.Protection.validate(errs, at+".protection")
	p.Health.validate(errs, at+".health")
	p.Backoff.validate(errs, at+".backoff")
	atLeast(errs, at+".boot_timeout", p.BootTimeout, time.Second)
	atLeast(errs, at+".spot_interruption.down_before", p.SpotInterruption.DownBefore, 0)
	if d := p.SpotInterruption.DownBefore; !d.bad && d.D > spotNotice {
		errs.Addf(at+".spot_interruption.down_before", "%s is more than the %s of notice EC2 gives, e.g. 60s", p.SpotInterruption.DownBefore.D, spotNotice)
	}
}

func (h Headroom) validate(errs *Errors, at string) {
	nonNegative(errs, at+".cpus", h.CPUs)
	nonNegative(errs, at+".mem", h.Mem)
	nonNegative(errs, at+".disk", h.Disk)
	nonNegative(errs, at+".gpus", h.GPUs)
	nonNegative(errs, at+".agents", float64(h.Agents))
}

func (s *ScaleDownPolicy) validate(errs *Errors, at string, target float64) {
	u := s.UtilizationBelow
	switch {
	case !(u >= 0 && u < 1):
		errs.Addf(at+".utilization_below", "%g must be at least 0 and less than 1, e.g. 0.5", u)
	case u >= target && target > 0:
		errs.Addf(at+".utilization_below", "%g must be below target_utilization (%g): an agent that is "+
			"unneeded at that level would be needed again as soon as it left", u, target)
	}
	atLeast(errs, at+".unneeded_for", s.UnneededFor, 0)
	atLeast(errs, at+".delay_after_scale_up", s.DelayAfterScaleUp, 0)
	s.MaxDraining.Check(errs, at+".max_draining")
	s.compiled = s.compileWindows(errs, at)
	atLeast(errs, at+".drain_deadline", s.DrainDeadline, time.Second)
	switch s.AtDeadline {
	case AtDeadlineTerminate, AtDeadlineAbort:
	default:
		errs.Addf(at+".at_deadline", "%q is not allowed: use terminate or abort", s.AtDeadline)
	}
	atLeast(errs, at+".min_agent_age", s.MinAgentAge, 0)
}

func (p ProtectionPolicy) validate(errs *Errors, at string) {
	for i, l := range p.Labels {
		key, _, _ := strings.Cut(l, "=")
		if strings.TrimSpace(key) == "" || key != strings.TrimSpace(key) {
			errs.Addf(fmt.Sprintf("%s.labels[%d]", at, i), "%q is not a label: write \"key\" or \"key=value\"", l)
		}
	}
	for i, pat := range p.Apps {
		// Unlike never_sleep, protection accepts "**" before the last segment (it matches as "*"):
		// policies that load today must keep loading.
		if f := idPatternFaultsOf(pat); f.relative || f.malformed {
			errs.Addf(fmt.Sprintf("%s.apps[%d]", at, i), "%q is not an app id pattern: an absolute id where \"*\" "+
				"matches within a segment and a trailing \"/**\" a whole group, e.g. \"/infra/**\"", pat)
		}
	}
}

func (h HealthGate) validate(errs *Errors, at string) {
	if !(h.MaxMissingShare >= 0 && h.MaxMissingShare <= 1) {
		errs.Addf(at+".max_missing_share", "%g must be between 0 and 1, e.g. 0.45", h.MaxMissingShare)
	}
	nonNegative(errs, at+".ok_missing_agents", float64(h.OKMissingAgents))
	atLeast(errs, at+".max_data_age", h.MaxDataAge, time.Second)
}

func (b BackoffPolicy) validate(errs *Errors, at string) {
	atLeast(errs, at+".initial", b.Initial, time.Second)
	atLeast(errs, at+".max", b.Max, time.Second)
	if !b.Initial.bad && !b.Max.bad && b.Max.D < b.Initial.D && b.Max.D > 0 {
		errs.Addf(at+".max", "%s is less than initial (%s)", b.Max.D, b.Initial.D)
	}
	atLeast(errs, at+".reset_after", b.ResetAfter, time.Second)
}

// atLeast checks that d is a well-formed duration of at least least.
func atLeast(errs *Errors, at string, d Duration, least time.Duration) {
	n := len(*errs)
	d.Check(errs, at)
	if len(*errs) == n && d.D < least {
		errs.Addf(at, "%s must be at least %s", d.D, least)
	}
}

func nonNegative(errs *Errors, at string, v float64) {
	if !(v >= 0) || math.IsInf(v, 1) {
		errs.Addf(at, "%g must be a number of at least 0", v)
	}
}
