package whatif

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
)

func loadScenario(t *testing.T, name string) *simulate.Scenario {
	t.Helper()
	sc, err := simulate.LoadScenario(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	if cfg.Parallel == 0 {
		cfg.Parallel = 2
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func result(t *testing.T, rep *Report, variant string) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Variant == variant {
			return r
		}
	}
	t.Fatalf("no result for %s", variant)
	return Result{}
}

func loadTrace(t *testing.T) *Trace {
	t.Helper()
	f, err := os.Open("testdata/azure-functions-10.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := ParseTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// A day of each built-in scenario: Marmot's autoscaler runs fewer agent-hours than a static pool
// sized for the peak, and never fewer than the ideal bound; a 10-minute keep-alive holds fewer
// resource-hours awake than never sleeping.
func TestMarmotAgainstBaselines(t *testing.T) {
	for _, name := range []string{"small", "diurnal"} {
		t.Run(name, func(t *testing.T) {
			rep := run(t, Config{Scenario: loadScenario(t, name), Variants: []string{
				VariantMarmot, VariantStaticPeak, VariantIdeal, VariantClusterAutoscaler, VariantClusterman, VariantNeverSleep, VariantKeepAlive10,
			}})
			marmot, static, ideal := result(t, rep, VariantMarmot), result(t, rep, VariantStaticPeak), result(t, rep, VariantIdeal)
			if !(marmot.AgentHours < static.AgentHours) {
				t.Errorf("marmot ran %.1f agent-hours, the static peak pool %.1f", marmot.AgentHours, static.AgentHours)
			}
			if marmot.AgentHours < ideal.AgentHours {
				t.Errorf("marmot ran %.1f agent-hours, below the ideal bound %.1f", marmot.AgentHours, ideal.AgentHours)
			}
			if !(marmot.Cost < static.Cost) || marmot.Cost < ideal.Cost {
				t.Errorf("cost: ideal %.2f ≤ marmot %.2f < static %.2f does not hold", ideal.Cost, marmot.Cost, static.Cost)
			}
			never, keep := result(t, rep, VariantNeverSleep), result(t, rep, VariantKeepAlive10)
			if !(keep.AwakeCPUHours < never.AwakeCPUHours) || !(keep.AwakeGiBHours < never.AwakeGiBHours) {
				t.Errorf("keep-alive 10m held %.2f cpu-h / %.2f GiB-h awake, never sleeping %.2f / %.2f",
					keep.AwakeCPUHours, keep.AwakeGiBHours, never.AwakeCPUHours, never.AwakeGiBHours)
			}
			if never.ColdStarts != 0 || never.Actions.Hibernations != 0 {
				t.Errorf("never sleeping met %.1f cold starts after %d hibernations", never.ColdStarts, never.Actions.Hibernations)
			}
			if name == "diurnal" && !(keep.ColdStartShare > 0) {
				t.Errorf("diurnal: keep-alive 10m met no cold start (%+v)", keep.Actions)
			}
			for _, r := range rep.Results {
				if len(r.Errors) > 0 {
					t.Errorf("%s: the cluster refused calls: %v", r.Variant, r.Errors)
				}
				if !r.Bound && r.Launches == 0 {
					t.Errorf("%s launched nothing", r.Variant)
				}
			}
			if marmot.Actions.AgentsAdded == 0 || marmot.Actions.Terminations == 0 || marmot.Plans.Plans == 0 {
				t.Errorf("marmot neither grew nor shrank the cluster: %+v %+v", marmot.Actions, marmot.Plans)
			}
			c := marmot.Chargeback
			if c == nil || len(c.Teams) == 0 || c.Savings.Autoscaling <= 0 || c.Savings.Hibernation.Cost <= 0 {
				t.Fatalf("marmot's chargeback is missing figures: %+v", c)
			}
			teams := 0.0
			for _, l := range c.Teams {
				teams += l.Cost
			}
			if d := teams + c.Idle.Cost - c.Cost; d > 1e-6 || d < -1e-6 {
				t.Errorf("teams %.4f + idle %.4f != cost %.4f", teams, c.Idle.Cost, c.Cost)
			}
		})
	}
}

// The Azure Functions sample replays: ten apps, every invocation counted, and a fixed keep-alive
// meets cold starts at the 75th-percentile app while holding less awake than never sleeping.
func TestAzureTraceReplays(t *testing.T) {
	tr := loadTrace(t)
	rep := run(t, Config{Scenario: loadScenario(t, "small"), Trace: tr, Variants: []string{VariantMarmot, VariantNeverSleep, VariantKeepAlive10, VariantKeepAlive20}})
	if rep.TraceFunctions != 10 {
		t.Errorf("%d trace functions", rep.TraceFunctions)
	}
	total := 0
	for _, f := range tr.Functions {
		for _, n := range f.Counts {
			total += n
		}
	}
	never, keep10, keep20 := result(t, rep, VariantNeverSleep), result(t, rep, VariantKeepAlive10), result(t, rep, VariantKeepAlive20)
	traceApps := 0
	for _, a := range keep10.Apps {
		if strings.HasPrefix(a.App, "/trace/fn-") {
			traceApps++
		}
	}
	if traceApps != 10 {
		t.Errorf("%d trace apps in the report", traceApps)
	}
	if keep10.Requests != float64(total) || never.Requests != float64(total) {
		t.Errorf("requests %v and %v, the trace has %d", keep10.Requests, never.Requests, total)
	}
	if !(keep10.ColdStartShareP75 > 0) || !(keep10.ColdStartShare > 0) {
		t.Errorf("keep-alive 10m: cold-start share %v, p75 app %v", keep10.ColdStartShare, keep10.ColdStartShareP75)
	}
	if !(keep10.AwakeGiBHours < keep20.AwakeGiBHours) || !(keep20.AwakeGiBHours < never.AwakeGiBHours) {
		t.Errorf("awake GiB-hours: 10m %v, 20m %v, never %v", keep10.AwakeGiBHours, keep20.AwakeGiBHours, never.AwakeGiBHours)
	}
	if keep10.ColdStarts < keep20.ColdStarts {
		t.Errorf("a shorter keep-alive met fewer cold starts: %v < %v", keep10.ColdStarts, keep20.ColdStarts)
	}
}

// An app that sleeps and then gets requests is woken by the first one; the requests of that minute
// before its task runs meet a cold start, and only those.
func TestWakeOnRequestCountsColdStarts(t *testing.T) {
	sc, err := simulate.ParseScenario([]byte(`
name: wake
timing: {boot_delay: {value: 60s}, task_start: 3s}
pools:
  - name: default
    groups: [{name: asg, instance_type: m5.xlarge, min: 1, max: 3, desired: 1}]
apps:
  - id: /tools/wiki
    instances: 2
    cpus: 0.25
    mem: 256
    start_delay: 6s
    labels: {marmot.team: tools, marmot.hibernate: "true", marmot.hibernate.idle: 5m, HAPROXY_0_VHOST: wiki.example.com}
workload:
  - {at: 30m, app: /tools/wiki, requests_per_second: 100}
`))
	if err != nil {
		t.Fatal(err)
	}
	rep := run(t, Config{Scenario: sc, Duration: time.Hour, Variants: []string{VariantMarmot}})
	app := result(t, rep, VariantMarmot).Apps[0]
	if app.Hibernations != 1 || app.Wakes != 1 {
		t.Fatalf("want one sleep (after 5 idle minutes) and one wake (at 30m): %+v", app)
	}
	// 100 requests per second is 6,000 a minute; the app's task takes 6 s to start, so about a tenth
	// of the first minute's requests wait for it.
	if app.ColdStarts < 400 || app.ColdStarts > 800 {
		t.Errorf("%.0f cold starts, want about 600 of %.0f requests", app.ColdStarts, app.Requests)
	}
	if app.Requests < 30*5500 {
		t.Errorf("%.0f requests in 30 minutes of 100/s", app.Requests)
	}
}

// An instance series scales an app at the minutes it names.
func TestInstanceSeries(t *testing.T) {
	points, err := ParseInstanceSeries(strings.NewReader("minute,app,instances\n30,/web/frontend,0\n0,/web/frontend,4\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep := run(t, Config{Scenario: loadScenario(t, "small"), Duration: 2 * time.Hour, Instances: points, Variants: []string{VariantMarmot}})
	var cpuHours float64
	for _, l := range result(t, rep, VariantMarmot).Chargeback.Apps {
		if l.Name == "/web/frontend" {
			cpuHours = l.CPUHours
		}
	}
	// Four tasks of 0.5 cpu for half an hour.
	if cpuHours < 0.95 || cpuHours > 1.05 {
		t.Errorf("/web/frontend held %.3f cpu-hours, want about 1", cpuHours)
	}
	if rep.InstancePoints != 2 {
		t.Errorf("%d instance points reported", rep.InstancePoints)
	}
	_, err = Run(context.Background(), Config{Scenario: loadScenario(t, "small"), Instances: []InstancePoint{{Minute: 1, App: "/nope", Instances: 1, Line: 7}}})
	if err == nil || !strings.Contains(err.Error(), "line 7: app /nope is not in the scenario") {
		t.Errorf("an unknown app: %v", err)
	}
}

// Planning a pool only when its snapshot changed, or when a time its plan depends on has come, gives
// the same replay as planning every pool every minute.
func TestSkippingUnchangedPoolsChangesNothing(t *testing.T) {
	for _, name := range []string{"small", "diurnal"} {
		cfg := Config{Scenario: loadScenario(t, name), Duration: 12 * time.Hour, Variants: []string{VariantMarmot, VariantClusterAutoscaler}}
		skipping := run(t, cfg)
		cfg.planEveryMinute = true
		every := run(t, cfg)
		for i := range skipping.Results {
			a, b := skipping.Results[i], every.Results[i]
			if a.Plans.Skipped == 0 {
				t.Errorf("%s %s: nothing was skipped", name, a.Variant)
			}
			a.Plans, b.Plans = PlanCounts{}, PlanCounts{}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s %s: skipping unchanged pools changed the replay: cost %v vs %v, actions %+v vs %+v",
					name, a.Variant, a.Cost, b.Cost, a.Actions, b.Actions)
			}
		}
	}
}

// A replay repeats exactly: same scenario and seed, same report, to the last digit.
func TestReplayRepeats(t *testing.T) {
	cfg := Config{Scenario: loadScenario(t, "diurnal"), Duration: 6 * time.Hour, Trace: loadTrace(t)}
	var a, b bytes.Buffer
	if err := WriteJSON(&a, run(t, cfg)); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&b, run(t, cfg)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two replays of the same study differ")
	}
}

// Drains through the maintenance schedule (Mesos before 1.9, or drain_mode: maintenance) work as
// well as DRAIN_AGENT: agents leave, and the cluster refuses nothing.
func TestMaintenanceDrains(t *testing.T) {
	pol, err := policy.LoadAutoscalerPolicy([]byte("drain_mode: maintenance\npools: [{name: default, min_agents: 1}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep := run(t, Config{Scenario: loadScenario(t, "small"), Autoscaler: pol, Variants: []string{VariantMarmot, VariantStaticPeak}})
	m := result(t, rep, VariantMarmot)
	if m.Actions.DrainsStart == 0 || m.Actions.Terminations == 0 || len(m.Errors) > 0 {
		t.Errorf("maintenance drains: %+v, errors %v", m.Actions, m.Errors)
	}
	if !(m.AgentHours < result(t, rep, VariantStaticPeak).AgentHours) {
		t.Errorf("marmot %.1f agent-hours", m.AgentHours)
	}
}

func TestReportJSONRoundTrips(t *testing.T) {
	rep := run(t, Config{Scenario: loadScenario(t, "small"), Duration: 3 * time.Hour, Trace: loadTrace(t)})
	var first bytes.Buffer
	if err := WriteJSON(&first, rep); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep, back) {
		t.Error("the report read back differs from the one written")
	}
	var second bytes.Buffer
	if err := WriteJSON(&second, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("writing the report read back gives other JSON")
	}
	if _, err := ReadJSON(strings.NewReader(`{"scenario": "x", "bogus": 1}`)); err == nil {
		t.Error("an unknown field was accepted")
	}
}

func TestHTMLReportIsSelfContained(t *testing.T) {
	rep := run(t, Config{Scenario: loadScenario(t, "small"), Duration: 3 * time.Hour, Trace: loadTrace(t)})
	var page bytes.Buffer
	if err := WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, external := range []string{"http://", "https://", "src=", "<link", "@import", "url("} {
		if strings.Contains(html, external) {
			t.Errorf("the page refers to something outside it: %q", external)
		}
	}
	if !strings.Contains(html, "var uPlot=") || !strings.Contains(html, ".uplot") {
		t.Error("the chart library and its style are not embedded")
	}
	m := regexp.MustCompile(`(?s)<script id="report-data" type="application/json">(.*?)</script>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatal("no chart data in the page")
	}
	var data struct {
		Results []struct {
			Variant string `json:"variant"`
			Series  Series `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(m[1]), &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Results) != len(rep.Results) {
		t.Fatalf("%d series in the page, %d variants", len(data.Results), len(rep.Results))
	}
	for i, r := range rep.Results {
		if data.Results[i].Variant != r.Variant || !reflect.DeepEqual(data.Results[i].Series, r.Series) {
			t.Errorf("%s: the page's series differ from the report's", r.Variant)
		}
		if len(r.Series.Agents) == 0 {
			t.Errorf("%s: empty series", r.Variant)
		}
	}
	for _, id := range []string{"chart-agents", "chart-cpu", "chart-cost", "chart-asleep", `id="teams"`, `id="results"`} {
		if !strings.Contains(html, id) {
			t.Errorf("the page lacks %s", id)
		}
	}
}

func TestTableReport(t *testing.T) {
	rep := run(t, Config{Scenario: loadScenario(t, "small"), Duration: 2 * time.Hour, Trace: loadTrace(t), Variants: []string{VariantMarmot, VariantIdeal}})
	var out bytes.Buffer
	if err := WriteTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"scenario small, 2h0m0s", "ideal (bound)", "chargeback by team", "(idle)", "/trace/fn-1779fd3337dd", "saved $"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestConfigErrors(t *testing.T) {
	sc := loadScenario(t, "small")
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no scenario"},
		{Config{Scenario: sc, Duration: time.Second}, "shorter than a minute"},
		{Config{Scenario: sc, Variants: []string{"marmot", "fancy"}}, `unknown variant "fancy"`},
	} {
		if _, err := Run(context.Background(), c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg.Variants, err, c.want)
		}
	}
	// The baselines sized from Marmot's demand bring the Marmot replay with them.
	cfg, _ := Config{Scenario: sc, Variants: []string{VariantIdeal}}.withDefaults()
	vs, err := cfg.variants()
	if err != nil || len(vs) != 2 || vs[0].name != VariantMarmot {
		t.Errorf("ideal alone: %v %v", vs, err)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Config{Scenario: loadScenario(t, "small")}); err == nil {
		t.Error("a cancelled study ran")
	}
}

// The observer's caches (task lists, groups, usage lines, agent order) give the same snapshots and
// cost state as an observer that reads everything afresh, minute after minute of a replay in which
// agents come and go and apps sleep and wake.
func TestObserverCachesMatchAFreshRead(t *testing.T) {
	cfg, err := Config{Scenario: loadScenario(t, "diurnal"), Trace: loadTrace(t), Variants: []string{VariantMarmot}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s, err := prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := cfg.variants()
	r, err := newReplay(s, vs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	var types []simulate.InstanceType
	r.world.View(func(v *simulate.View) { types = v.InstanceTypes() })
	for m := range 8 * 60 {
		var cached, fresh *observation
		r.world.View(func(v *simulate.View) {
			cached = r.observer.observe(v, cfg.Prices)
			fresh = newObserver(s.candidates, "", types, vs[0].pools).observe(v, cfg.Prices)
		})
		for name, po := range fresh.pools {
			a, b := canonical(cached.pools[name].snap), canonical(po.snap)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("minute %d, pool %s: the cached snapshot differs from a fresh read", m, name)
			}
		}
		if !reflect.DeepEqual(cached.cost.Instances, fresh.cost.Instances) || !sameUsage(cached.cost.Usage, fresh.cost.Usage) {
			t.Fatalf("minute %d: the cached cost state differs from a fresh read", m)
		}
		r.sleep.account(cached)
		r.sleep.plan(cached)
		r.sleep.arrive(cached, m)
		r.capacity.decide(cached)
		r.clock.Advance(step)
	}
	if r.act.counts.Terminations == 0 || r.act.counts.Wakes == 0 {
		t.Errorf("the replay did not move enough to test the caches: %+v", r.act.counts)
	}
}

// canonical makes empty lists and maps nil, which the planner does not tell apart.
func canonical(s policy.PoolSnapshot) policy.PoolSnapshot {
	if len(s.Agents) == 0 {
		s.Agents = nil
	}
	if len(s.Groups) == 0 {
		s.Groups = nil
	}
	if len(s.Waiting) == 0 {
		s.Waiting = nil
	}
	if len(s.Apps) == 0 {
		s.Apps = nil
	}
	return s
}

// sameUsage compares usage lines whatever their order; a line's resources may differ by the float
// residue of adding and taking away tasks.
func sameUsage(a, b []cost.Usage) bool {
	if len(a) != len(b) {
		return false
	}
	by := map[string]cost.Usage{}
	for _, u := range b {
		by[u.App+" "+u.Pool] = u
	}
	for _, u := range a {
		v, ok := by[u.App+" "+u.Pool]
		if !ok || u.Team != v.Team || math.Abs(u.Resources.CPUs-v.Resources.CPUs) > 1e-6 || math.Abs(u.Resources.MemMiB-v.Resources.MemMiB) > 1e-6 {
			return false
		}
	}
	return true
}
