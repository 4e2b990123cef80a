package policy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
	"time"
)

// planNow is a Tuesday, 03:00 UTC: outside the test policy's keep-awake window.
var planNow = time.Date(2026, 8, 25, 3, 0, 0, 0, time.UTC)

const planTestPolicy = `
idle: {default: 30m, minimum: 5m}
never_sleep: [/platform/**]
keep_awake:
  - {days: "*", hours: "02:00-04:00", apps: [/nightly/*]}
max_hibernations_per_minute: 3
`

// idleApp is an opted-in app, awake with two tasks, whose last request was an hour ago, seen by two
// fresh sources that have watched it for a day.
func idleApp(id string, mods ...func(*HibernationApp)) HibernationApp {
	a := HibernationApp{
		ID:           id,
		Labels:       map[string]string{LabelHibernate: "true", "HAPROXY_0_VHOST": strings.Trim(strings.ReplaceAll(id, "/", "-"), "-") + ".example.com"},
		Instances:    2,
		TasksRunning: 2,
		AwakeSince:   planNow.Add(-48 * time.Hour),
		Traffic: AppTraffic{
			LastRequest:   map[string]time.Time{"haproxy:lb1": planNow.Add(-time.Hour), "nginx:edge": planNow.Add(-2 * time.Hour)},
			ObservedSince: planNow.Add(-24 * time.Hour),
			Fresh:         true,
		},
	}
	for _, m := range mods {
		m(&a)
	}
	return a
}

func label(k, v string) func(*HibernationApp) {
	return func(a *HibernationApp) {
		a.Labels = maps.Clone(a.Labels)
		if v == "" {
			delete(a.Labels, k)
			return
		}
		a.Labels[k] = v
	}
}

func lastRequest(ago time.Duration) func(*HibernationApp) {
	return func(a *HibernationApp) {
		for src := range a.Traffic.LastRequest {
			a.Traffic.LastRequest[src] = planNow.Add(-ago)
		}
	}
}

func asleep(instances int) func(*HibernationApp) {
	return func(a *HibernationApp) {
		a.Labels = maps.Clone(a.Labels)
		a.Labels[LabelHibernatedInstances] = fmt.Sprint(instances)
		a.Labels[LabelHibernatedAt] = "2026-08-24T20:00:00Z"
		a.Instances, a.TasksRunning = 0, 0
	}
}

func TestPlanHibernationReasons(t *testing.T) {
	p := mustLoadHibernation(t, planTestPolicy)
	cases := []struct {
		name   string
		app    HibernationApp
		reason HibernationReason
		detail string // substring
	}{
		{"idle an hour", idleApp("/web"), Hibernate, ""},
		{"request 10 minutes ago", idleApp("/web", lastRequest(10*time.Minute)), KeepAwakeRecentTraffic, ""},
		{"own idle period longer", idleApp("/web", label(LabelHibernateIdle, "2h")), KeepAwakeRecentTraffic, ""},
		{"own idle period shorter", idleApp("/web", label(LabelHibernateIdle, "5m"), lastRequest(6*time.Minute)), Hibernate, ""},
		{"open connections", idleApp("/web", func(a *HibernationApp) { a.Traffic.OpenConnections = 2 }), KeepAwakeOpenConnections, "2 open"},
		{"deployment", idleApp("/web", func(a *HibernationApp) { a.DeploymentRunning = true }), KeepAwakeDeploymentRunning, ""},
		{"crash loop", idleApp("/web", func(a *HibernationApp) { a.TasksRunning = 0 }), KeepAwakeNoRunningTasks, ""},
		{"window", idleApp("/nightly/report"), KeepAwakeWindow, "until 2026-08-25T04:00:00Z"},
		{"never sleep", idleApp("/platform/dns"), KeepAwakeNeverSleep, ""},
		{"stale", idleApp("/web", func(a *HibernationApp) {
			a.Traffic.Fresh, a.Traffic.StaleSources = false, []string{"nginx:edge"}
		}), KeepAwakeTrafficStale, "nginx:edge"},
		{"never observed", idleApp("/web", func(a *HibernationApp) { a.Traffic = AppTraffic{Fresh: true} }), KeepAwakeTrafficStale, "no traffic source"},
		{"recently started", idleApp("/web", func(a *HibernationApp) { a.AwakeSince = planNow.Add(-time.Minute) }), KeepAwakeRecentTraffic, ""},
		{"recently observed", idleApp("/web", func(a *HibernationApp) { a.Traffic.ObservedSince = planNow.Add(-time.Minute) }), KeepAwakeRecentTraffic, ""},
		{"no labels", idleApp("/web", label(LabelHibernate, "")), KeepAwakeNotOptedIn, ""},
		{"opted out", idleApp("/web", label(LabelHibernate, "false")), KeepAwakeNotOptedIn, ""},
		{"bad label", idleApp("/web", label(LabelHibernateIdle, "soon")), SkippedBadLabel, "marmot.hibernate.idle"},
		{"idle below minimum", idleApp("/web", label(LabelHibernateIdle, "1m")), SkippedBadLabel, "at least 5m0s"},
		{"asleep", idleApp("/web", asleep(3)), AlreadyAsleep, ""},
		{"asleep, opted out", idleApp("/web", asleep(3), label(LabelHibernate, "")), WakeNotOptedIn, ""},
		{"asleep, never sleep", idleApp("/platform/web", asleep(3)), WakeNeverSleep, ""},
		{"scaled to zero by hand", idleApp("/web", func(a *HibernationApp) { a.Instances, a.TasksRunning = 0, 0 }), SkippedScaledToZero, ""},
		{"state labels on a running app: judged as awake", idleApp("/web", asleep(3), func(a *HibernationApp) { a.Instances, a.TasksRunning = 1, 1 }), Hibernate, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := PlanHibernation(HibernationInput{Apps: []HibernationApp{c.app}, Policy: p, Now: planNow})
			d := plan.Decisions[0]
			if d.Reason != c.reason || !strings.Contains(d.Detail, c.detail) {
				t.Errorf("got %s (%s), want %s (%s)", d.Reason, d.Detail, c.reason, c.detail)
			}
		})
	}
}

func TestPlanHibernationTimes(t *testing.T) {
	p := mustLoadHibernation(t, planTestPolicy)
	plan := PlanHibernation(HibernationInput{Policy: p, Now: planNow, Apps: []HibernationApp{
		idleApp("/a", lastRequest(10*time.Minute)),
		idleApp("/b"),
		idleApp("/nightly/x", lastRequest(50*time.Minute)),
		idleApp("/nightly/y", lastRequest(10*time.Minute), func(a *HibernationApp) { a.Traffic.LastRequest["nginx:edge"] = planNow.Add(40 * time.Minute) }),
		idleApp("/c", asleep(4)),
	}})
	want := []struct {
		app                        string
		lastTraffic, idleSince, at time.Time
		asleepSince                time.Time
		instances                  int
	}{
		{"/a", planNow.Add(-10 * time.Minute), planNow.Add(-10 * time.Minute), planNow.Add(20 * time.Minute), time.Time{}, 2},
		{"/b", planNow.Add(-time.Hour), planNow.Add(-time.Hour), planNow, time.Time{}, 2},
		{"/c", time.Time{}, time.Time{}, time.Time{}, time.Date(2026, 8, 24, 20, 0, 0, 0, time.UTC), 4},
		// Idle long enough, but the window holds it until 04:00.
		{"/nightly/x", planNow.Add(-50 * time.Minute), planNow.Add(-50 * time.Minute), planNow.Add(time.Hour), time.Time{}, 2},
		// The latest source wins.
		{"/nightly/y", planNow.Add(40 * time.Minute), planNow.Add(40 * time.Minute), planNow.Add(70 * time.Minute), time.Time{}, 2},
	}
	for i, w := range want {
		d := plan.Decisions[i]
		if d.App != w.app || !d.LastTraffic.Equal(w.lastTraffic) || !d.IdleSince.Equal(w.idleSince) ||
			!d.SleepsAt.Equal(w.at) || !d.AsleepSince.Equal(w.asleepSince) || d.Instances != w.instances {
			t.Errorf("decision %d: %+v\nwant %+v", i, d, w)
		}
	}
}

func TestPlanHibernationGroups(t *testing.T) {
	p := mustLoadHibernation(t, planTestPolicy)
	group := label(LabelHibernateGroup, "shop")
	noHost := label("HAPROXY_0_VHOST", "")
	cases := []struct {
		name string
		apps []HibernationApp
		want map[string]HibernationReason
	}{
		{
			name: "all idle: the group sleeps together",
			apps: []HibernationApp{idleApp("/shop/web", group), idleApp("/shop/api", group, noHost)},
			want: map[string]HibernationReason{"/shop/web": Hibernate, "/shop/api": Hibernate},
		},
		{
			name: "a member in use keeps the others awake",
			apps: []HibernationApp{idleApp("/shop/web", group, lastRequest(time.Minute)), idleApp("/shop/api", group, noHost)},
			want: map[string]HibernationReason{"/shop/web": KeepAwakeRecentTraffic, "/shop/api": KeepAwakeGroupAwake},
		},
		{
			name: "a member with a bad label keeps the others awake",
			apps: []HibernationApp{idleApp("/shop/web", group), idleApp("/shop/api", group, label(LabelHibernateIdle, "x"))},
			want: map[string]HibernationReason{"/shop/web": KeepAwakeGroupAwake, "/shop/api": SkippedBadLabel},
		},
		{
			name: "a sleeping member does not",
			apps: []HibernationApp{idleApp("/shop/web", group), idleApp("/shop/api", group, asleep(1))},
			want: map[string]HibernationReason{"/shop/web": Hibernate, "/shop/api": AlreadyAsleep},
		},
		{
			name: "a group without any host cannot be woken",
			apps: []HibernationApp{idleApp("/shop/web", group, noHost), idleApp("/shop/api", group, noHost)},
			want: map[string]HibernationReason{"/shop/web": KeepAwakeNoHost, "/shop/api": KeepAwakeNoHost},
		},
		{
			name: "other groups are not affected",
			apps: []HibernationApp{idleApp("/shop/web", group, lastRequest(time.Minute)), idleApp("/blog", label(LabelHibernateGroup, "blog"))},
			want: map[string]HibernationReason{"/shop/web": KeepAwakeRecentTraffic, "/blog": Hibernate},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := PlanHibernation(HibernationInput{Apps: c.apps, Policy: p, Now: planNow})
			for _, d := range plan.Decisions {
				if d.Reason != c.want[d.App] {
					t.Errorf("%s: %s (%s), want %s", d.App, d.Reason, d.Detail, c.want[d.App])
				}
			}
		})
	}
}

func TestPlanHibernationRateLimit(t *testing.T) {
	p := mustLoadHibernation(t, planTestPolicy) // 3 per minute
	idleFor := func(d time.Duration) func(*HibernationApp) { return lastRequest(d) }
	apps := []HibernationApp{
		idleApp("/a", idleFor(40*time.Minute)),
		idleApp("/b", idleFor(5*time.Hour)),
		idleApp("/c", idleFor(3*time.Hour)),
		idleApp("/d", idleFor(2*time.Hour)),
		idleApp("/e", idleFor(1*time.Hour)),
	}
	reasons := func(recent ...time.Time) string {
		plan := PlanHibernation(HibernationInput{Apps: apps, Policy: p, Now: planNow, RecentHibernations: recent})
		var b []string
		for _, d := range plan.Decisions {
			b = append(b, d.App+"="+d.Reason.String())
		}
		return strings.Join(b, " ")
	}
	// Longest idle first.
	if got, want := reasons(), "/a=keep_awake_rate_limited /b=hibernate /c=hibernate /d=hibernate /e=keep_awake_rate_limited"; got != want {
		t.Errorf("empty minute:\n got %s\nwant %s", got, want)
	}
	// Two in the last minute leave one; older ones and future ones do not count.
	recent := []time.Time{planNow.Add(-10 * time.Second), planNow.Add(-59 * time.Second), planNow.Add(-61 * time.Second), planNow.Add(time.Second)}
	if got, want := reasons(recent...), "/a=keep_awake_rate_limited /b=hibernate /c=keep_awake_rate_limited /d=keep_awake_rate_limited /e=keep_awake_rate_limited"; got != want {
		t.Errorf("two recent:\n got %s\nwant %s", got, want)
	}
}

func TestPlanHibernationRateLimitGroups(t *testing.T) {
	p := mustLoadHibernation(t, planTestPolicy) // 3 per minute
	g := label(LabelHibernateGroup, "big")
	big := []HibernationApp{
		idleApp("/big/1", g, lastRequest(5*time.Hour)), idleApp("/big/2", g), idleApp("/big/3", g), idleApp("/big/4", g),
	}
	small := idleApp("/small", lastRequest(6*time.Hour))
	count := func(plan HibernationPlan) (n int) {
		for _, d := range plan.Decisions {
			if d.Reason == Hibernate {
				n++
			}
		}
		return n
	}
	// A group larger than the limit goes whole when the minute is otherwise empty.
	if n := count(PlanHibernation(HibernationInput{Apps: big, Policy: p, Now: planNow})); n != 4 {
		t.Errorf("oversized group alone: %d hibernations, want 4", n)
	}
	// Behind an app idle for longer, it waits whole, not in part.
	plan := PlanHibernation(HibernationInput{Apps: append(big, small), Policy: p, Now: planNow})
	if n := count(plan); n != 1 || plan.Decisions[4].Reason != Hibernate {
		t.Errorf("small first, then the group must wait: %+v", plan.Decisions)
	}
}

func TestPlanHibernationIsPure(t *testing.T) {
	p := mustLoadHibernation(t, planTestPolicy)
	in := HibernationInput{Apps: []HibernationApp{idleApp("/b"), idleApp("/a", lastRequest(time.Minute))}, Policy: p, Now: planNow}
	first, _ := json.Marshal(PlanHibernation(in))
	second, _ := json.Marshal(PlanHibernation(in))
	if string(first) != string(second) {
		t.Error("same input, different plans")
	}
	if in.Apps[0].ID != "/b" {
		t.Error("the input was reordered")
	}
}

func TestHibernationReasonText(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range HibernationReasons() {
		s := r.String()
		if s == "" || strings.HasPrefix(s, "hibernation_reason_") || seen[s] || strings.ToLower(s) != s || strings.ContainsAny(s, " -.") {
			t.Errorf("reason %d has a bad name %q", int(r), s)
		}
		seen[s] = true
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back HibernationReason
		if err := json.Unmarshal(b, &back); err != nil || back != r {
			t.Errorf("%s does not round-trip through JSON: %s, %v", r, b, err)
		}
	}
	if _, err := json.Marshal(HibernationReason(99)); err == nil {
		t.Error("an unknown reason marshals")
	}
	if Hibernate.Action() != ActionHibernate || WakeNotOptedIn.Action() != ActionWake || KeepAwakeWindow.Action() != ActionNone {
		t.Error("actions")
	}
}

func TestPlanHibernationLBFallbackUnverified(t *testing.T) {
	p := mustLoadHibernation(t, planTestPolicy)
	apps := []HibernationApp{idleApp("/idle"), idleApp("/busy", lastRequest(time.Minute)), idleApp("/asleep", asleep(2)),
		idleApp("/opted-out", asleep(2), label(LabelHibernate, ""))}
	plan := PlanHibernation(HibernationInput{Apps: apps, Policy: p, Now: planNow, LBFallbackUnverified: []string{"http://lb-1:80"}})
	want := map[string]HibernationReason{
		"/idle": KeepAwakeLBFallbackUnverified, "/busy": KeepAwakeRecentTraffic, "/asleep": AlreadyAsleep,
		"/opted-out": WakeNotOptedIn, // waking is never held back
	}
	for _, d := range plan.Decisions {
		if d.Reason != want[d.App] {
			t.Errorf("%s: %s (%s), want %s", d.App, d.Reason, d.Detail, want[d.App])
		}
		if d.App == "/idle" && (!strings.Contains(d.Detail, "http://lb-1:80") || !d.SleepsAt.IsZero()) {
			t.Errorf("/idle: detail %q, sleeps at %s", d.Detail, d.SleepsAt)
		}
	}
	if plan := PlanHibernation(HibernationInput{Apps: apps[:1], Policy: p, Now: planNow}); plan.Decisions[0].Reason != Hibernate {
		t.Errorf("without unverified load balancers: %s", plan.Decisions[0].Reason)
	}
}

func TestHibernationReasonsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/hibernation-policy.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range HibernationReasons() {
		if !strings.Contains(string(doc), "`"+r.String()+"`") {
			t.Errorf("docs/hibernation-policy.md does not explain %s", r)
		}
	}
}

func TestHibernationDecisionJSON(t *testing.T) {
	p := mustLoadHibernation(t, planTestPolicy)
	plan := PlanHibernation(HibernationInput{Apps: []HibernationApp{idleApp("/web", lastRequest(10*time.Minute))}, Policy: p, Now: planNow})
	b, err := json.Marshal(plan.Decisions[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"app":"/web","reason":"keep_awake_recent_traffic","asleep":false,"instances":2,"idle":"30m0s",` +
		`"last_traffic":"2026-08-25T02:50:00Z","idle_since":"2026-08-25T02:50:00Z","sleeps_at":"2026-08-25T03:20:00Z"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
