package whatif

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
)

// sleeper is the hibernator and its activator on the in-memory face: each minute it builds the
// planner's input from the World, puts to sleep what the plan says (one update: zero instances and
// the state labels), and wakes a sleeping app when a request arrives (one update: the remembered
// count back, the state labels gone). It also counts what the report needs: requests, the ones that
// met a cold start, and the resources awake apps held.
type sleeper struct {
	w      *simulate.World
	act    *actuator
	policy *policy.HibernationPolicy // nil: never sleep
	// keepAlive drops the apps' own idle labels, so that the policy's idle period applies to all.
	keepAlive bool
	apps      map[string]*sleepApp
	ids       []string // sorted
	recent    []time.Time
	start     time.Time
}

// sleepApp is one opted-in app: where it stands and what it met.
type sleepApp struct {
	id       string
	traffic  *requests
	last     time.Time // the end of the last minute with a request
	asleep   bool
	minute   minuteLoad // the minute under way
	requests float64
	cold     float64
	awake    cost.Resources // resource-hours held (CPUs in cpu-hours, MemMiB in MiB-hours)
	sleeps   int
	wakes    int
}

// minuteLoad is the requests of one minute and whether the app could serve them from its start.
type minuteLoad struct {
	start    time.Time
	requests int
	ready    bool // a task was running when the minute began
	woken    bool // this minute's first request woke the app
}

func newSleeper(w *simulate.World, act *actuator, pol *policy.HibernationPolicy, keepAlive bool, start time.Time) *sleeper {
	return &sleeper{w: w, act: act, policy: pol, keepAlive: keepAlive, apps: map[string]*sleepApp{}, start: start}
}

func (s *sleeper) add(id string, traffic *requests) {
	s.apps[id] = &sleepApp{id: id, traffic: traffic}
	s.ids = append(s.ids, id)
	slices.Sort(s.ids)
}

// account closes the minute that ended at obs.at: its requests met a cold start for the part of the
// minute before the app's first task was running (requests spread evenly over the minute; the one that
// woke the app always waits). Awake apps' resources count for the minute.
func (s *sleeper) account(obs *observation) {
	for _, id := range s.ids {
		a, ao := s.apps[id], obs.apps[id]
		if ao == nil {
			continue
		}
		a.awake = a.awake.Add(ao.held.Scale(1.0 / 60))
		m := a.minute
		if m.start.IsZero() || m.requests == 0 {
			continue
		}
		a.requests += float64(m.requests)
		a.last = obs.at
		if m.ready {
			continue
		}
		waited := 1.0
		if ao.running > 0 {
			waited = min(max(ao.awakeSince.Sub(m.start).Minutes(), 0), 1)
		}
		cold := float64(m.requests) * waited
		if m.woken {
			cold = max(cold, 1)
		}
		a.cold += cold
	}
}

// asleep counts the apps asleep.
func (s *sleeper) asleep() int {
	n := 0
	for _, a := range s.apps {
		if a.asleep {
			n++
		}
	}
	return n
}

// plan runs the hibernation planner over the opted-in apps and carries out its decisions.
func (s *sleeper) plan(obs *observation) {
	if s.policy == nil {
		return
	}
	in := policy.HibernationInput{Policy: s.policy, Now: obs.at, RecentHibernations: s.recent}
	for _, id := range s.ids {
		a, ao := s.apps[id], obs.apps[id]
		if ao == nil {
			continue
		}
		labels := ao.labels
		if s.keepAlive {
			if _, own := labels[policy.LabelHibernateIdle]; own {
				labels = maps.Clone(labels)
				delete(labels, policy.LabelHibernateIdle)
			}
		}
		ha := policy.HibernationApp{
			ID: id, Labels: labels, Instances: ao.instances, TasksRunning: ao.running, DeploymentRunning: ao.deploying,
			AwakeSince: ao.awakeSince,
			// The replay counts every request, so its traffic data is always fresh and complete.
			Traffic: policy.AppTraffic{ObservedSince: s.start, Fresh: true},
		}
		if !a.last.IsZero() {
			ha.Traffic.LastRequest = map[string]time.Time{"replay": a.last}
		}
		in.Apps = append(in.Apps, ha)
	}
	plan := policy.PlanHibernation(in)
	for _, d := range plan.Decisions {
		a, ao := s.apps[d.App], obs.apps[d.App]
		switch d.Reason.Action() {
		case policy.ActionHibernate:
			s.hibernate(a, ao, d.Instances, obs.at)
		case policy.ActionWake:
			s.wake(a, ao, d.Instances)
		}
	}
	cutoff := obs.at.Add(-time.Minute)
	s.recent = slices.DeleteFunc(s.recent, func(t time.Time) bool { return !t.After(cutoff) })
}

// hibernate puts an app to sleep with one update, as the hibernator does: zero instances and the
// state labels together (Marathon restarts tasks on a label change, so the labels never change while
// tasks run).
func (s *sleeper) hibernate(a *sleepApp, ao *appObs, instances int, now time.Time) {
	labels := maps.Clone(ao.labels)
	labels[policy.LabelHibernatedInstances] = strconv.Itoa(instances)
	labels[policy.LabelHibernatedAt] = now.UTC().Format(time.RFC3339)
	zero := 0
	if _, _, err := s.w.UpdateApp(a.id, simulate.AppUpdate{Instances: &zero, Labels: &labels}, false); err != nil {
		s.act.note("hibernate PUT /v2/apps", err)
		return
	}
	ao.labels, ao.instances = labels, 0
	a.asleep = true
	a.sleeps++
	s.act.counts.Hibernations++
	s.recent = append(s.recent, now)
}

// wake restores an app's remembered instance count and clears its state labels in one update.
func (s *sleeper) wake(a *sleepApp, ao *appObs, instances int) bool {
	labels := maps.Clone(ao.labels)
	delete(labels, policy.LabelHibernatedInstances)
	delete(labels, policy.LabelHibernatedAt)
	if _, _, err := s.w.UpdateApp(a.id, simulate.AppUpdate{Instances: &instances, Labels: &labels}, false); err != nil {
		s.act.note("wake PUT /v2/apps", err)
		return false
	}
	ao.labels, ao.instances = labels, instances
	a.asleep = false
	a.wakes++
	s.act.counts.Wakes++
	return true
}

// arrive draws the requests of the minute that begins at obs.at and wakes the sleeping apps they
// reach, as the activator does on the first request.
func (s *sleeper) arrive(obs *observation, minute int) {
	for _, id := range s.ids {
		a, ao := s.apps[id], obs.apps[id]
		if ao == nil {
			continue
		}
		n := a.traffic.in(minute, ao.rate)
		a.minute = minuteLoad{start: obs.at, requests: n, ready: ao.running > 0 && !a.asleep}
		if n == 0 || !a.asleep {
			continue
		}
		restore := ao.instances
		if st := hibernatedCount(ao.labels); st > 0 {
			restore = st
		}
		a.minute.woken = s.wake(a, ao, restore)
	}
}

// hibernatedCount reads the instance count a sleeping app's state label remembers; 0 when absent.
func hibernatedCount(labels map[string]string) int {
	n, err := strconv.Atoi(labels[policy.LabelHibernatedInstances])
	if err != nil {
		return 0
	}
	return n
}
