package hibernator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/marmot-project/marmot/policy"
)

// observation is one full look at Marathon and the traffic sources.
type observation struct {
	at   time.Time
	apps []App // opted in (marmot.hibernate, any value) or carrying state labels, by id
	// deploying are the apps that running deployments affect.
	deploying map[string]bool
	traffic   TrafficSnapshot
	// stamps reads Marathon's times onto the hibernator's clock.
	stamps *futureStamps
	// unverified are the load balancers whose fallback was not recently seen to reach an activator.
	unverified []string
}

// observe reads, at once, the apps that carry marmot.hibernate, those that carry the state labels (an
// app that opted out while asleep must still be woken), the running deployments and every traffic
// source. Any Marathon read failing fails the whole observation: never decide on partial state.
func (l *Loop) observe(ctx context.Context, pol *policy.HibernationPolicy, now time.Time) (*observation, error) {
	obs := &observation{at: now, deploying: map[string]bool{}, stamps: l.stamps}
	var (
		wg              sync.WaitGroup
		optedIn, asleep []App
		deploying       []string
		errs            [3]error
	)
	wg.Go(func() { optedIn, errs[0] = l.deps.Marathon.Apps(ctx, policy.LabelHibernate) })
	wg.Go(func() { asleep, errs[1] = l.deps.Marathon.Apps(ctx, policy.LabelHibernatedInstances) })
	wg.Go(func() { deploying, errs[2] = l.deps.Marathon.Deployments(ctx) })
	wg.Go(func() { obs.traffic = GatherTraffic(ctx, now, pol.Traffic.MaxAge.D, l.deps.Sources) })
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	obs.unverified = l.unverifiedFallbacks()
	byID := map[string]App{}
	for _, a := range slices.Concat(optedIn, asleep) {
		byID[a.ID] = a
	}
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		obs.apps = append(obs.apps, byID[id])
	}
	for _, id := range deploying {
		obs.deploying[id] = true
	}
	return obs, nil
}

// input is what the planner needs of this observation. Times from Marathon reach the planner on the
// hibernator's clock (futureStamps.read): none is after now.
func (o *observation) input(pol *policy.HibernationPolicy, now time.Time) policy.HibernationInput {
	in := policy.HibernationInput{Policy: pol, Now: now, LBFallbackUnverified: o.unverified}
	for _, a := range o.apps {
		in.Apps = append(in.Apps, o.plannerApp(a, pol, now))
		// The rate limit counts recent hibernations; Marathon remembers them for us.
		if l, _ := policy.ParseHibernationLabels(a.Labels, pol); l.Asleep != nil && a.Instances == 0 {
			in.RecentHibernations = append(in.RecentHibernations, o.stamps.read(a.ID, StampHibernatedAt, l.Asleep.At, now))
		}
	}
	return in
}

// plannerApp is one app as the planner takes it, with what every traffic source saw of it.
func (o *observation) plannerApp(a App, pol *policy.HibernationPolicy, now time.Time) policy.HibernationApp {
	since, kind := a.awakeSince()
	return policy.HibernationApp{
		ID:                a.ID,
		Labels:            a.Labels,
		Instances:         a.Instances,
		TasksRunning:      a.TasksRunning,
		DeploymentRunning: a.Deployments > 0 || o.deploying[a.ID],
		AwakeSince:        o.stamps.read(a.ID, kind, since, now),
		Traffic:           o.traffic.For(trafficTarget(a, pol, o.traffic)),
	}
}

// trafficTarget names an app every way a traffic source may: its id (the activator), its host names
// (access logs) and its marathon-lb backends.
func trafficTarget(a App, pol *policy.HibernationPolicy, snap TrafficSnapshot) TrafficTarget {
	l, _ := policy.ParseHibernationLabels(a.Labels, pol) // hosts parse whatever else is wrong
	t := TrafficTarget{AppID: a.ID, ServicePorts: backendPorts(a.ID, snap)}
	for _, h := range l.Hosts {
		t.Hosts = append(t.Hosts, h.Name)
	}
	return t
}

// app returns the observed app with that id.
func (o *observation) app(id string) (App, bool) {
	i, ok := slices.BinarySearchFunc(o.apps, id, func(a App, id string) int { return strings.Compare(a.ID, id) })
	if !ok {
		return App{}, false
	}
	return o.apps[i], true
}

// unverifiedFallbacks are the load balancers whose fallback is unverified now.
func (l *Loop) unverifiedFallbacks() []string {
	if l.deps.Fallback == nil {
		return nil
	}
	return l.deps.Fallback.Unverified()
}

// replaced returns a copy of the observation with fresh reads of some apps, fresh traffic and the
// load balancers' fallbacks as they stand now.
func (o *observation) replaced(fresh map[string]App, traffic TrafficSnapshot, unverified []string, now time.Time) *observation {
	out := &observation{at: now, deploying: o.deploying, traffic: traffic, apps: slices.Clone(o.apps), stamps: o.stamps, unverified: unverified}
	for i, a := range out.apps {
		if f, ok := fresh[a.ID]; ok {
			out.apps[i] = f
		}
	}
	return out
}

// sameApp reports whether a fresh read of an app shows the app the decision was made on: same
// instances, labels and version.
func sameApp(before, after App) error {
	switch {
	case before.Instances != after.Instances:
		return fmt.Errorf("instances changed from %d to %d", before.Instances, after.Instances)
	case !maps.Equal(before.Labels, after.Labels):
		return errors.New("labels changed")
	case !before.Version.IsZero() && !after.Version.IsZero() && !before.Version.Equal(after.Version):
		return fmt.Errorf("version changed from %s to %s", before.Version.Format(time.RFC3339Nano), after.Version.Format(time.RFC3339Nano))
	}
	return nil
}
