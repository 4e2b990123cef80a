package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// HibernationApp is what the planner needs to know about one Marathon app.
type HibernationApp struct {
	ID string
	// Labels are the app's Marathon labels, as they are; the planner parses them.
	Labels            map[string]string
	Instances         int
	TasksRunning      int
	DeploymentRunning bool
	// AwakeSince is when the app last became reachable: the start of its oldest running task. No request
	// can have reached it before, so its idle clock never starts earlier. Zero if unknown. Like every
	// time in the input it is on Now's clock: a time after Now would keep the app awake until then plus
	// its idle period, so callers read outside clocks onto theirs first (the hibernator takes a time
	// ahead of its clock as the moment it first saw it: hibernator/skew.go).
	AwakeSince time.Time
	Traffic    AppTraffic
}

// AppTraffic is what the traffic sources saw of one app.
type AppTraffic struct {
	// LastRequest is the last counted request per traffic source; a source that saw none is absent or
	// zero.
	LastRequest map[string]time.Time `json:"last_request,omitempty"`
	// ObservedSince is the time since which every source has watched without a gap: what happened before
	// is unknown, so the idle clock never starts earlier. Zero means nothing has been observed yet.
	ObservedSince time.Time `json:"observed_since,omitzero"`
	// Fresh is true when every source's data is current (none missing, none older than traffic.max_age).
	Fresh bool `json:"fresh"`
	// StaleSources names the sources whose data is missing or too old, for /status.
	StaleSources []string `json:"stale_sources,omitempty"`
	// OpenConnections is the sum of open connections the sources know of (sources that cannot tell,
	// such as access logs, add nothing).
	OpenConnections int `json:"open_connections"`
}

// Last returns the latest request any source saw; zero if none.
func (t AppTraffic) Last() time.Time {
	var last time.Time
	for _, at := range t.LastRequest {
		if at.After(last) {
			last = at
		}
	}
	return last
}

// HibernationInput is everything one hibernation decision depends on.
type HibernationInput struct {
	Apps   []HibernationApp
	Policy *HibernationPolicy
	// RecentHibernations are the times of this hibernator's recent hibernations, for
	// max_hibernations_per_minute; older ones may be included and are ignored.
	RecentHibernations []time.Time
	// LBFallbackUnverified names the load balancers whose fallback has not recently been seen to reach
	// an activator; while any is named, no app goes to sleep (waking is never held back).
	LBFallbackUnverified []string
	Now                  time.Time
}

// HibernationDecision is the planner's verdict on one app, with what /status shows about it.
type HibernationDecision struct {
	App    string            `json:"app"`
	Reason HibernationReason `json:"reason"`
	// Detail explains the reason: the malformed label, the stale source, the group member that is awake.
	Detail string `json:"detail,omitempty"`
	Group  string `json:"group,omitempty"`
	Asleep bool   `json:"asleep"`
	// Instances is the count to write into marmot.hibernated.instances (Hibernate), to restore (wakes),
	// or the current count.
	Instances int `json:"instances"`
	// Idle is the app's idle period (opted-in apps).
	Idle Duration `json:"idle,omitzero"`
	// LastTraffic is the last request any traffic source saw.
	LastTraffic time.Time `json:"last_traffic,omitzero"`
	// IdleSince is when the app's idle clock started: the last request, or when it became reachable or
	// observed, whichever is latest.
	IdleSince time.Time `json:"idle_since,omitzero"`
	// SleepsAt is when the app will sleep if no request arrives, when that can be told.
	SleepsAt time.Time `json:"sleeps_at,omitzero"`
	// AsleepSince is when the app was put to sleep, from its state labels.
	AsleepSince time.Time `json:"asleep_since,omitzero"`
}

// HibernationPlan is the planner's verdict on every app, sorted by app id.
type HibernationPlan struct {
	Now       time.Time             `json:"now"`
	Decisions []HibernationDecision `json:"decisions"`
}

// planned is a decision under construction with what the group and rate-limit passes need.
type planned struct {
	HibernationDecision
	hosts     bool // the app has a host name to be woken by
	groupable bool // the app counts toward its group's verdict (opted in and awake, or unreadable)
}

// PlanHibernation decides, for every app, whether it sleeps now, stays awake, or is woken, and why. It
// is a pure function of its input: the loop gathers the input, and re-checks a Hibernate decision with
// fresh data just before acting on it.
//
// An app is hibernated only when it opts in, its labels parse, it is awake with running tasks and no
// deployment, no never_sleep pattern or open keep-awake window covers it, every traffic source is fresh,
// no connection is open, no request reached it for its idle period, every other awake app of its group
// is ready to sleep too, every load balancer's fallback was recently seen to reach an activator, and
// max_hibernations_per_minute allows it (longest idle first).
func PlanHibernation(in HibernationInput) HibernationPlan {
	apps := slices.SortedFunc(slices.Values(in.Apps), func(a, b HibernationApp) int { return strings.Compare(a.ID, b.ID) })
	ps := make([]*planned, len(apps))
	for i, a := range apps {
		ps[i] = decideApp(a, in.Policy, in.Now)
	}
	holdGroups(ps)
	holdForFallback(ps, in.LBFallbackUnverified)
	rateLimit(ps, in.Policy.MaxHibernationsPerMinute, in.RecentHibernations, in.Now)

	plan := HibernationPlan{Now: in.Now, Decisions: make([]HibernationDecision, len(ps))}
	for i, p := range ps {
		plan.Decisions[i] = p.HibernationDecision
	}
	return plan
}

// decideApp judges one app on its own, before groups and the rate limit.
func decideApp(a HibernationApp, p *HibernationPolicy, now time.Time) *planned {
	d := &planned{HibernationDecision: HibernationDecision{App: a.ID, Instances: a.Instances}}
	decided := func(r HibernationReason, detail string) *planned {
		d.Reason, d.Detail = r, detail
		return d
	}

	l, err := ParseHibernationLabels(a.Labels, p)
	d.Group = l.Group
	if err != nil {
		// An app we cannot read may belong to a group; the group must not sleep without knowing it.
		d.groupable = l.Group != ""
		return decided(SkippedBadLabel, err.Error())
	}
	d.hosts = len(l.Hosts) > 0
	if l.Asleep != nil && a.Instances == 0 {
		d.Asleep, d.AsleepSince, d.Instances = true, l.Asleep.At, l.Asleep.Instances
		switch {
		case !l.OptedIn:
			return decided(WakeNotOptedIn, "")
		case p.NeverSleeps(a.ID):
			return decided(WakeNeverSleep, "")
		}
		return decided(AlreadyAsleep, "")
	}
	if !l.OptedIn {
		return decided(KeepAwakeNotOptedIn, "")
	}
	if a.Instances == 0 {
		return decided(SkippedScaledToZero, "")
	}

	d.groupable = true
	d.Idle = Dur(l.IdleFor(p))
	d.LastTraffic = a.Traffic.Last()
	d.IdleSince = latest(d.LastTraffic, a.AwakeSince, a.Traffic.ObservedSince)

	switch {
	case p.NeverSleeps(a.ID):
		return decided(KeepAwakeNeverSleep, "")
	case a.DeploymentRunning:
		return decided(KeepAwakeDeploymentRunning, "")
	case a.TasksRunning == 0:
		return decided(KeepAwakeNoRunningTasks, "")
	}
	// From here on, when the app sleeps is known if no request arrives; the later checks that depend on
	// fresh data clear it again.
	if !d.IdleSince.IsZero() {
		d.SleepsAt = sleepTime(p, a.ID, d.IdleSince.Add(d.Idle.D))
	}
	if open, until := p.KeepAwakeAt(a.ID, now); open {
		return decided(KeepAwakeWindow, "until "+until.Format(time.RFC3339))
	}
	switch {
	case a.Traffic.ObservedSince.IsZero():
		d.SleepsAt = time.Time{}
		return decided(KeepAwakeTrafficStale, "no traffic source has observed the app yet")
	case !a.Traffic.Fresh:
		d.SleepsAt = time.Time{}
		return decided(KeepAwakeTrafficStale, staleDetail(a.Traffic.StaleSources))
	case a.Traffic.OpenConnections > 0:
		d.SleepsAt = time.Time{}
		return decided(KeepAwakeOpenConnections, fmt.Sprintf("%d open", a.Traffic.OpenConnections))
	case now.Before(d.IdleSince.Add(d.Idle.D)):
		return decided(KeepAwakeRecentTraffic, "")
	}
	d.SleepsAt = now
	return decided(Hibernate, "")
}

func staleDetail(sources []string) string {
	if len(sources) == 0 {
		return "traffic data missing or older than traffic.max_age"
	}
	return "traffic data missing or older than traffic.max_age from " + strings.Join(sources, ", ")
}

// sleepTime moves t past any keep-awake window open at t.
func sleepTime(p *HibernationPolicy, appID string, t time.Time) time.Time {
	if _, until := p.KeepAwakeAt(appID, t); until.After(t) {
		return until
	}
	return t
}

// holdGroups keeps a group awake while any of its members cannot sleep: apps that wake together must
// sleep together, or a sleeping member could break an awake one that calls it directly.
func holdGroups(ps []*planned) {
	type group struct {
		blocker *planned
		hosts   bool
	}
	groups := map[string]*group{}
	for _, p := range ps {
		if p.Group == "" {
			continue
		}
		g := groups[p.Group]
		if g == nil {
			g = &group{}
			groups[p.Group] = g
		}
		g.hosts = g.hosts || p.hosts
		if p.groupable && p.Reason != Hibernate && g.blocker == nil {
			g.blocker = p
		}
	}
	for _, p := range ps {
		if p.Group == "" || p.Reason != Hibernate {
			continue
		}
		switch g := groups[p.Group]; {
		case !g.hosts:
			p.Reason, p.Detail, p.SleepsAt = KeepAwakeNoHost, "no app of group "+p.Group+" has a host name", time.Time{}
		case g.blocker != nil:
			p.Reason, p.SleepsAt = KeepAwakeGroupAwake, time.Time{}
			p.Detail = fmt.Sprintf("group %s: %s is %s", p.Group, g.blocker.App, g.blocker.Reason)
		}
	}
}

// holdForFallback keeps every app that would sleep awake while a load balancer's fallback is
// unverified: its requests for a sleeping app might never reach an activator.
func holdForFallback(ps []*planned, unverified []string) {
	if len(unverified) == 0 {
		return
	}
	detail := "no activator answered a probe through " + strings.Join(unverified, ", ") + " recently"
	for _, p := range ps {
		if p.Reason == Hibernate {
			p.Reason, p.Detail, p.SleepsAt = KeepAwakeLBFallbackUnverified, detail, time.Time{}
		}
	}
}

// rateLimit lets at most limit hibernations happen in any sliding minute. Candidates go longest idle
// first; a group goes whole or not at all, and once one does not fit none after it goes, so a large
// group is not starved by a stream of small ones. A group larger than limit goes when the minute is
// otherwise empty.
func rateLimit(ps []*planned, limit int, recent []time.Time, now time.Time) {
	allowance := limit
	for _, t := range recent {
		if t.After(now.Add(-time.Minute)) && !t.After(now) {
			allowance--
		}
	}
	type unit struct {
		members   []*planned
		idleSince time.Time
	}
	var units []*unit
	byGroup := map[string]*unit{}
	for _, p := range ps {
		if p.Reason != Hibernate {
			continue
		}
		u := byGroup[p.Group]
		if u == nil || p.Group == "" {
			u = &unit{idleSince: p.IdleSince}
			units = append(units, u)
			if p.Group != "" {
				byGroup[p.Group] = u
			}
		}
		u.members = append(u.members, p)
		if p.IdleSince.Before(u.idleSince) {
			u.idleSince = p.IdleSince
		}
	}
	slices.SortStableFunc(units, func(a, b *unit) int {
		return cmp.Or(a.idleSince.Compare(b.idleSince), strings.Compare(a.members[0].App, b.members[0].App))
	})
	full := false
	for _, u := range units {
		n := len(u.members)
		if !full && (n <= allowance || allowance == limit) {
			allowance -= n
			continue
		}
		full = true
		for _, p := range u.members {
			p.Reason = KeepAwakeRateLimited
			p.Detail = fmt.Sprintf("max_hibernations_per_minute (%d) used up", limit)
			p.SleepsAt = time.Time{}
		}
	}
}

func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}
