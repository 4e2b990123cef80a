package hibernator

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/policy"
)

// ActionRecord is the last thing the loop did (or would have done, in a dry run) about an app, for
// /status. It is memory only: nothing depends on it.
type ActionRecord struct {
	Action string    `json:"action"` // hibernate or wake
	At     time.Time `json:"at"`
	Result string    `json:"result"` // done, aborted, failed, dry_run
	Reason string    `json:"reason,omitempty"`
	Error  string    `json:"error,omitempty"`
}

func (l *Loop) record(app string, r ActionRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.actions[app] = r
}

// act carries out a plan: the wakes at once, then the hibernations after the re-check. It reports
// whether anything changed in Marathon.
func (l *Loop) act(ctx context.Context, obs *observation, plan policy.HibernationPlan) bool {
	acted := false
	var candidates []policy.HibernationDecision
	for _, d := range plan.Decisions {
		switch d.Reason.Action() {
		case policy.ActionWake:
			acted = l.wakeForPlan(ctx, d) || acted
		case policy.ActionHibernate:
			candidates = append(candidates, d)
		}
	}
	if len(candidates) > 0 {
		acted = l.hibernate(ctx, obs, candidates) || acted
	}
	return acted
}

// wakeForPlan wakes an app the planner says must not sleep any more (it opted out, or matches
// never_sleep): nothing else would ever wake it, since the activator answers only for opted-in apps.
func (l *Loop) wakeForPlan(ctx context.Context, d policy.HibernationDecision) bool {
	log := l.log.With(zap.String("app", d.App), zap.Stringer("reason", d.Reason))
	rec := ActionRecord{Action: "wake", At: l.cfg.Now(), Reason: d.Reason.String()}
	if l.cfg.DryRun {
		log.Info("dry run: would wake app", zap.Int("instances", d.Instances))
		rec.Result = HibernationDryRun
		l.record(d.App, rec)
		return false
	}
	woke, err := l.deps.Waker.wake(ctx, d.App, d.Reason.String())
	switch {
	case err != nil:
		log.Warn("cannot wake app", zap.Error(err))
		rec.Result, rec.Error = HibernationFailed, err.Error()
	case woke:
		rec.Result = HibernationDone
	default:
		return false // someone else woke it meanwhile
	}
	l.record(d.App, rec)
	return woke
}

// hibernate waits, then re-checks the candidates with fresh reads of the apps and of every traffic
// source, and puts to sleep those the planner still says should sleep, each with one PUT. A group
// whose member is called off stays awake whole.
func (l *Loop) hibernate(ctx context.Context, obs *observation, candidates []policy.HibernationDecision) bool {
	if !sleepCtx(ctx, l.cfg.RecheckAfter) {
		return false
	}
	now := l.cfg.Now()
	pol := l.Policy()
	traffic := l.gatherTraffic(ctx, now)
	fresh := map[string]App{}
	aborted := map[string]abort{}
	for _, d := range candidates {
		a, err := l.deps.Marathon.App(ctx, d.App)
		if err != nil {
			aborted[d.App] = abort{AbortRereadFailed, err.Error()}
			continue
		}
		before, _ := obs.app(d.App)
		if err := sameApp(before, a); err != nil {
			aborted[d.App] = abort{AbortAppChanged, err.Error()}
		}
		fresh[d.App] = a
	}
	if ctx.Err() != nil {
		return false
	}
	plan := policy.PlanHibernation(obs.replaced(fresh, traffic, l.unverifiedFallbacks(), now).input(pol, now))
	verdict := map[string]policy.HibernationDecision{}
	for _, d := range plan.Decisions {
		verdict[d.App] = d
	}
	for _, d := range candidates {
		if v := verdict[d.App]; v.Reason != policy.Hibernate {
			if _, ok := aborted[d.App]; !ok {
				aborted[d.App] = abort{v.Reason.String(), v.Detail}
			}
		}
	}
	for _, d := range candidates {
		if _, ok := aborted[d.App]; !ok && d.Group != "" && groupAborted(candidates, aborted, d.Group) {
			aborted[d.App] = abort{AbortGroupMember, "another app of group " + d.Group + " was called off"}
		}
	}

	acted := false
	for _, d := range candidates {
		if a, ok := aborted[d.App]; ok {
			l.metrics.hibernations.WithLabelValues(HibernationAborted).Inc()
			l.metrics.aborted.WithLabelValues(a.reason).Inc()
			l.log.Info("hibernation called off by the re-check", zap.String("app", d.App), zap.String("reason", a.reason), zap.String("detail", a.detail))
			l.record(d.App, ActionRecord{Action: "hibernate", At: now, Result: HibernationAborted, Reason: a.reason, Error: a.detail})
			continue
		}
		acted = l.putToSleep(ctx, fresh[d.App], verdict[d.App], now) || acted
	}
	return acted
}

type abort struct{ reason, detail string }

func groupAborted(candidates []policy.HibernationDecision, aborted map[string]abort, group string) bool {
	for _, d := range candidates {
		if _, ok := aborted[d.App]; ok && d.Group == group {
			return true
		}
	}
	return false
}

// putToSleep is the one PUT of a hibernation: zero instances and the state labels with every label
// the app has, in the same request. Marathon restarts tasks when labels change, so the state labels
// are never written without the scale to zero; and never forced, so it cannot cancel a deployment.
func (l *Loop) putToSleep(ctx context.Context, a App, d policy.HibernationDecision, now time.Time) bool {
	log := l.log.With(zap.String("app", a.ID))
	rec := ActionRecord{Action: "hibernate", At: now, Reason: d.Reason.String()}
	fields := []zap.Field{zap.Int("instances", a.Instances), zap.Time("idle_since", d.IdleSince), zap.Duration("idle", d.Idle.D)}
	if l.cfg.DryRun {
		l.metrics.hibernations.WithLabelValues(HibernationDryRun).Inc()
		log.Info("dry run: would hibernate app", fields...)
		rec.Result = HibernationDryRun
		l.record(a.ID, rec)
		return false
	}
	zero := 0
	err := l.deps.Marathon.Update(ctx, a.ID, AppUpdate{Instances: &zero, Labels: withState(a.Labels, a.Instances, now)})
	if err != nil {
		l.metrics.hibernations.WithLabelValues(HibernationFailed).Inc()
		if errors.Is(err, ErrAppLocked) {
			log.Info("hibernation put off: a deployment holds the app", zap.Error(err))
		} else {
			log.Warn("cannot hibernate app", zap.Error(err))
		}
		rec.Result, rec.Error = HibernationFailed, err.Error()
		l.record(a.ID, rec)
		return false
	}
	l.metrics.hibernations.WithLabelValues(HibernationDone).Inc()
	log.Info("hibernated app", fields...)
	rec.Result = HibernationDone
	l.record(a.ID, rec)
	return true
}
