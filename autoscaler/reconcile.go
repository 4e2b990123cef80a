package autoscaler

import (
	"context"
	"errors"
	"maps"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/policy"
)

// Report is what one reconcile saw, decided and did.
type Report struct {
	At      time.Time `json:"at"`
	Trigger Trigger   `json:"trigger"`
	DryRun  bool      `json:"dry_run"`
	// Duration is how long the reconcile took, in seconds.
	Duration float64 `json:"duration_seconds"`
	// Planned is false when nothing could be planned: no full snapshot yet, or the sources failed.
	Planned bool `json:"planned"`
	// Productive is set when an action changed Mesos or the cloud.
	Productive bool `json:"productive"`
	// Error says what went wrong: a source that could not be read, an action that failed.
	Error string       `json:"error,omitempty"`
	Pools []PoolReport `json:"pools,omitempty"`
}

// PoolReport is one pool's plan and what the actuator did with it.
type PoolReport struct {
	Pool    string          `json:"pool"`
	Plan    policy.PoolPlan `json:"plan"`
	Actions []Action        `json:"actions,omitempty"`
}

// reconcileTimeout bounds one reconcile: reads, the re-check and every action with the cloud's own
// retries. A reconcile that hangs on one master must not stop the next one forever.
const reconcileTimeout = 2 * time.Minute

// Reconcile runs one iteration for every pool of the policy: observe, plan, re-check what is
// destructive against a fresh observation, act in the plan's order, and remember the planner's state.
// It never plans before every source has answered once. Reconciles run one at a time.
func (l *Loop) Reconcile(ctx context.Context, trigger Trigger) Report {
	l.recMu.Lock()
	defer l.recMu.Unlock()
	pol := l.policy()
	ctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
	defer cancel()
	start := l.now()
	rep := Report{At: start, Trigger: trigger, DryRun: l.dryRun}
	defer func() { l.finishReport(&rep, start) }()

	obs, err := l.observe(ctx, pol, readMode{fresh: trigger.fresh()})
	if obs == nil {
		rep.Error = err.Error()
		if !errors.Is(err, errNotReady) || ctx.Err() != nil {
			l.log.Warn("cannot observe", zap.String("trigger", string(trigger)), zap.Error(err))
		}
		return rep
	}
	if err != nil {
		rep.Error = err.Error()
		l.log.Warn("planning with older data from a source that failed", zap.Error(err))
	}
	if !l.ready.Swap(true) {
		l.metrics.ready.Set(1)
		l.log.Info("first full snapshot: planning")
	}
	rep.Planned = true
	plans := l.planAll(pol, obs)
	unconfirmed := l.recheck(ctx, pol, &obs, &plans)
	for pool := range l.states {
		if pol.Pool(pool) == nil {
			delete(l.states, pool) // the pool left the policy
			delete(l.recent, pool)
		}
	}
	for i := range pol.Pools {
		pp := &pol.Pools[i]
		pr := l.actOn(ctx, pol, pp, obs, plans[pp.Name], unconfirmed)
		rep.Pools = append(rep.Pools, pr)
		for _, a := range pr.Actions {
			rep.Productive = rep.Productive || a.changed()
		}
	}
	l.settleNotices(ctx, obs)
	return rep
}

// planned is a pool's plan with the state it was made from.
type planned struct {
	plan policy.PoolPlan
	prev policy.PoolState
}

// planAll plans every pool. Drains found only through their leftover maintenance window are handed
// to the planner as drains it knows, so that it forgets them and the actuator cleans up.
func (l *Loop) planAll(pol *policy.AutoscalerPolicy, obs *observation) map[string]planned {
	now := l.now()
	out := make(map[string]planned, len(pol.Pools))
	for _, pp := range pol.Pools {
		pv := obs.pools[pp.Name]
		prev := cloneState(l.states[pp.Name])
		for _, d := range pv.leftovers {
			if _, known := prev.Drains[d.InstanceID]; !known {
				prev.Drains[d.InstanceID] = d
			}
		}
		out[pp.Name] = planned{plan: policy.PlanPool(pv.snap, pp, prev, now), prev: prev}
	}
	return out
}

// recheck is "decide, wait, re-check, then act" for the destructive steps: when a plan terminates an
// instance, the world is observed again, fresh from every source, and planned again from the same
// state; only the terminations both plans decide go ahead (the returned set holds the others). The
// fresh observation and plans replace the first ones. A re-check that cannot read every source
// confirms nothing. In a dry run nothing is terminated anyway, so nothing is re-read.
func (l *Loop) recheck(ctx context.Context, pol *policy.AutoscalerPolicy, obs **observation, plans *map[string]planned) map[string]bool {
	first := terminations(*plans)
	if len(first) == 0 || l.dryRun {
		return nil
	}
	unconfirmed := map[string]bool{}
	fresh, err := l.observe(ctx, pol, readMode{fresh: true, strict: true})
	if err != nil {
		l.log.Warn("re-check before terminating failed: terminating nothing", zap.Error(err))
		for id := range first {
			unconfirmed[id] = true
		}
		return unconfirmed
	}
	again := l.planAll(pol, fresh)
	for id := range terminations(again) {
		if !first[id] {
			unconfirmed[id] = true
		}
	}
	*obs, *plans = fresh, again
	return unconfirmed
}

// terminations returns the instances the plans terminate.
func terminations(plans map[string]planned) map[string]bool {
	out := map[string]bool{}
	for _, p := range plans {
		for _, d := range p.plan.Drains {
			if d.Action == policy.DrainTerminate {
				out[d.Drain.InstanceID] = true
			}
		}
		for _, in := range p.plan.Instances {
			if in.Terminate {
				out[in.ID] = true
			}
		}
	}
	return out
}

// actOn carries out one pool's plan and keeps the state the planner returned, minus the effects of
// the actions that did not happen.
func (l *Loop) actOn(ctx context.Context, pol *policy.AutoscalerPolicy, pp *policy.PoolPolicy, obs *observation, p planned, unconfirmed map[string]bool) PoolReport {
	a := newActuator(ctx, l, pol, pp, obs, unconfirmed)
	l.log.Debug("planned", zap.String("pool", pp.Name), zap.Stringer("frozen", p.plan.Frozen),
		zap.Int("new_agents", p.plan.ScaleUp.NewAgents), zap.Int("waiting_counted", p.plan.ScaleUp.Counted),
		zap.Int("drains", len(p.plan.Drains)), zap.Int("agents", len(p.plan.Agents)))
	a.run(&p.plan)
	l.states[pp.Name] = settle(p.prev, p.plan, a.actions)
	l.metrics.observePool(pp.Name, obs.pools[pp.Name], &p.plan, a.actions, l.now())
	if kept := keepRecent(l.recent[pp.Name], a.actions); kept != nil {
		l.recent[pp.Name] = kept
	}
	return PoolReport{Pool: pp.Name, Plan: p.plan, Actions: a.actions}
}

// settle returns the state to keep after a plan was carried out: the planner's next state, with the
// effects of actions that did not happen (failed, skipped in a dry run, or not confirmed) undone, so
// that the next plan decides them again rather than believing them done.
func settle(prev policy.PoolState, plan policy.PoolPlan, actions []Action) policy.PoolState {
	next := cloneState(plan.Next)
	var scaled, started, anyScale, anyStart bool
	for _, a := range actions {
		done := a.Result == ResultDone
		switch a.Kind {
		case ActionScaleUp:
			anyScale, scaled = true, scaled || done
			if !done {
				g := next.Groups[a.Group]
				was := prev.Groups[a.Group]
				g.Requested, g.RequestedAt = was.Requested, was.RequestedAt
				next.Groups[a.Group] = g
			}
		case ActionDrainStart:
			anyStart, started = true, started || done
			if !done {
				delete(next.Drains, a.InstanceID)
			}
		case ActionDrainTerminate:
			if d, ok := next.Drains[a.InstanceID]; ok && !done {
				d.Terminating = false
				next.Drains[a.InstanceID] = d
			}
		}
	}
	if anyScale && !scaled {
		next.LastScaleUp = prev.LastScaleUp
	}
	if anyStart && !started {
		next.LastScaleDown = prev.LastScaleDown
	}
	return next
}

// cloneState returns a deep copy of s with every map made, so that the planner's inputs and the plans
// kept for /status never share a map with the state that is changed next.
func cloneState(s policy.PoolState) policy.PoolState {
	s.UnneededSince = cloneMap(s.UnneededSince)
	s.MissingSince = cloneMap(s.MissingSince)
	s.Groups = cloneMap(s.Groups)
	s.Drains = cloneMap(s.Drains)
	return s
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return maps.Clone(m)
}

// finishReport records a reconcile in the metrics and /status.
func (l *Loop) finishReport(rep *Report, start time.Time) {
	end := l.now()
	rep.Duration = end.Sub(start).Seconds()
	result := "ok"
	switch {
	case !rep.Planned:
		result = "not_planned"
	case rep.Error != "":
		result = "error"
	}
	l.metrics.reconciles.WithLabelValues(string(rep.Trigger), result).Inc()
	l.metrics.reconcileDuration.WithLabelValues(string(rep.Trigger)).Observe(rep.Duration)
	if result == "ok" {
		l.metrics.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	}
	l.recordStatus(rep)
	l.log.Debug("reconciled", zap.String("trigger", string(rep.Trigger)), zap.String("result", result), zap.Float64("seconds", rep.Duration))
}
