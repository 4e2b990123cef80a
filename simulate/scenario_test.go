package simulate_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

func TestBuiltinScenarios(t *testing.T) {
	if got := simulate.Builtins(); !slices.Equal(got, []string{"diurnal", "small"}) {
		t.Fatalf("built-ins %v, want [diurnal small]", got)
	}
	t.Run("small", func(t *testing.T) {
		sc, err := simulate.LoadScenario("small")
		mustOK(t, err)
		c := newClusterFrom(t, sc)
		if n := len(c.agents()); n != 3 {
			t.Errorf("%d agents, want 3", n)
		}
		g := c.group("marmot-default")
		if g.Min != 1 || g.Max != 10 || g.Desired != 3 || g.Pool != "default" {
			t.Errorf("group %+v", g)
		}
		if v, _ := g.Tag("marmot:pool"); v != "default" {
			t.Errorf("group tag marmot:pool = %q", v)
		}
		for app, want := range map[string]int{"/web/frontend": 2, "/web/docs": 1, "/tools/wiki": 1, "/data/etl": 1, "/data/pinned": 0} {
			if got := running(c.tasks(app)); got != want {
				t.Errorf("%s runs %d tasks at the start, want %d", app, got, want)
			}
		}
		docs, _ := c.app("/web/docs")
		if docs.Labels["marmot.hibernate"] != "true" || len(docs.HealthChecks) != 1 || docs.RequestRate != 0 {
			t.Errorf("/web/docs: labels %v, health checks %d, rps %g", docs.Labels, len(docs.HealthChecks), docs.RequestRate)
		}
		// The workload grows /data/etl at 10m beyond what three agents hold, and shrinks it at 40m.
		c.advance(11 * time.Minute)
		if app, _ := c.app("/data/etl"); app.Instances != 6 {
			t.Errorf("/data/etl instances at 11m = %d, want 6", app.Instances)
		}
		if _, queued := c.queue("/data/etl"); !queued {
			t.Error("/data/etl at 6 instances should not fit on three m5.xlarge")
		}
		c.advance(30 * time.Minute)
		if app, _ := c.app("/data/etl"); app.Instances != 1 || running(c.tasks("/data/etl")) != 1 {
			t.Errorf("/data/etl at 41m: %d instances, %d running; want 1 and 1", app.Instances, running(c.tasks("/data/etl")))
		}
	})
	t.Run("diurnal", func(t *testing.T) {
		sc, err := simulate.LoadScenario("diurnal")
		mustOK(t, err)
		c := newClusterFrom(t, sc)
		if n := len(c.agents()); n != 14 {
			t.Errorf("%d agents, want 14", n)
		}
		var apps, shops int
		c.view(func(v *simulate.View) {
			apps = len(v.Apps())
			for _, a := range v.Apps() {
				if strings.HasPrefix(a.ID, "/web/shop-") {
					shops++
				}
			}
			if v.Masters() != 3 || v.MarathonInstances() != 2 {
				t.Errorf("%d masters, %d marathons; want 3 and 2", v.Masters(), v.MarathonInstances())
			}
		})
		if apps != 47 || shops != 40 {
			t.Errorf("%d apps (%d shops), want 47 (40)", apps, shops)
		}
		batchAgents := map[string]bool{}
		for _, a := range c.agents() {
			if a.Pool == "batch" {
				batchAgents[a.ID] = true
			}
		}
		c.advance(61 * time.Minute)
		nightly := c.tasks("/batch/nightly")
		if running(nightly) != 6 {
			t.Errorf("/batch/nightly runs %d tasks at 1h, want 6", running(nightly))
		}
		for _, task := range nightly {
			if !batchAgents[task.AgentID] {
				t.Errorf("nightly task %s on agent %s outside the batch pool", task.ID, task.AgentID)
			}
		}
		c.advance(3 * time.Hour)
		if n := len(c.tasks("/batch/nightly")); n != 0 {
			t.Errorf("/batch/nightly has %d tasks at 4h, want 0", n)
		}
	})
}

func TestLoadScenarioFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mine.yaml")
	mustOK(t, os.WriteFile(path, []byte("name: mine\napps: [{id: /plain, instances: 2}]\n"+staticPools), 0o644))
	sc, err := simulate.LoadScenario(path)
	mustOK(t, err)
	if sc.Name != "mine" || sc.Seed != 1 || sc.Region != "us-east-1" || sc.Mesos.Version != "1.10.0" || sc.Timing.TaskStart.D() != 5*time.Second {
		t.Errorf("defaults not filled in: %+v", sc)
	}
	c := newClusterFrom(t, sc)
	plain, _ := c.app("/plain")
	if plain.CPUs != 1 || plain.Mem != 128 || plain.Ports != 1 || plain.UpgradeStrategy.MinimumHealthCapacity != 1 || running(c.tasks("/plain")) != 2 {
		t.Errorf("an app that names no resources: %g cpus, %g MB, %d ports, strategy %+v, %d running; want Marathon's defaults and 2 running",
			plain.CPUs, plain.Mem, plain.Ports, plain.UpgradeStrategy, running(c.tasks("/plain")))
	}
	_, err = simulate.LoadScenario(filepath.Join(t.TempDir(), "absent.yaml"))
	if err == nil || !strings.Contains(err.Error(), "diurnal, small") {
		t.Errorf("error %v does not list the built-ins", err)
	}
}

func TestInvalidScenarios(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // every error, by a distinctive part of its text
	}{
		{
			"unknown top-level key", "nmae: x\n",
			[]string{"nmae: unknown field; allowed here: apps, description, faults,"},
		},
		{
			"unknown nested key with its path", `
pools:
  - name: p
    groups:
      - {name: g, instnce_type: m5.large, max: 1}
`,
			[]string{
				"pools[0].groups[0].instnce_type: unknown field; allowed here: cooldown, desired, instance_type,",
				`pools[0].groups[0].instance_type: "" is not one of instance_types`,
			},
		},
		{
			"values of the wrong type", `
seed: abc
mesos: [1, 2]
pools:
  - name: p
    static_agents: many
    static_type: m5.large
`,
			[]string{
				`seed: "abc" is not a whole number`,
				"mesos: expected a mapping of fields, got a list",
				`pools[0].static_agents: "many" is not a whole number`,
			},
		},
		{
			"durations and distributions", `
timing:
  instance_pending: 5 minutes
  termination: -1s
  boot_delay: {distribution: uniform, min: 30s}
`,
			[]string{
				`timing.instance_pending: "5 minutes" is not a duration`,
				"timing.termination: -1s must not be negative",
				"timing.boot_delay.max: required for distribution uniform",
			},
		},
		{
			"an unknown distribution", "timing: {boot_delay: {distribution: gamma, mean: 60s}}\n",
			[]string{`timing.boot_delay.distribution: "gamma" is not one of fixed, uniform, normal, lognormal`},
		},
		{
			"group bounds, types, duplicates", `
pools:
  - name: p
    groups:
      - {name: g, instance_type: m5.large, min: 3, desired: 1, max: 2}
      - {name: g, instance_type: x9.huge, max: 1}
  - name: p
`,
			[]string{
				"pools[0].groups[0]: need 0 <= min (3) <= desired (1) <= max (2)",
				`pools[0].groups[1].name: "g" appears twice`,
				`pools[0].groups[1].instance_type: "x9.huge" is not one of instance_types`,
				`pools[1].name: "p" appears twice`,
			},
		},
		{
			"apps", `
apps:
  - {id: /Web, cpus: -1}
  - {id: /a, ports: 100, constraints: [[rack, NEAR, r1]]}
  - {id: /a}
`,
			[]string{
				`apps[0].id: "/Web" is not a valid app id`,
				"apps[0]: cpus, mem, disk and gpus must be 0 or more",
				"apps[1].ports: 100 must be between 0 and 64",
				"apps[1].constraints[0]: Constraint operator must be one of",
				`apps[2].id: "/a" appears twice`,
			},
		},
		{
			"workload", `
apps: [{id: /a}]
workload:
  - {at: 1m, app: /b, instances: 2}
  - {at: 2m, app: /a}
  - diurnal: {min_instances: 3, max_instances: 1}
`,
			[]string{
				`workload[0].app: "/b" matches no app`,
				"workload[1]: set instances, requests_per_second, or diurnal",
				"workload[2].diurnal.apps: required",
				"workload[2].diurnal: need 0 <= min_instances (3) <= max_instances (1)",
			},
		},
		{
			"faults", `
mesos: {masters: 2}
faults:
  - {at: 1m, kind: meteor}
  - {at: 1m, kind: http_error}
  - {at: 1m, kind: mesos_leader_change, target: 2}
  - {at: 1m, kind: spot_interruption, group: nope}
  - {at: 1m, kind: slow_response, service: mesos}
  - {at: soon, kind: clear}
`,
			[]string{
				`faults[0].kind: "meteor" is not a fault`,
				"faults[1].service: required for http_error",
				"faults[2].target: 2 is not an instance index in [0, 2)",
				`faults[3].group: "nope" is not one of the scenario's groups`,
				"faults[4].delay: required for slow_response",
				`faults[5].at: "soon" is not a duration`,
			},
		},
		{
			"network and start", "network: 10.0.0.0/30\nstart: yesterday\n",
			[]string{
				`start: "yesterday" is not an RFC 3339 time`,
				`network: "10.0.0.0/30" is not an IPv4 network of /24 or larger`,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := simulate.ParseScenario([]byte(tc.yaml))
			var verrs simulate.ValidationErrors
			if !errors.As(err, &verrs) {
				t.Fatalf("error %v (%T), want ValidationErrors", err, err)
			}
			for _, w := range tc.want {
				found := false
				for _, e := range verrs {
					found = found || strings.Contains(e, w)
				}
				if !found {
					t.Errorf("no error mentions %q", w)
				}
			}
			if len(verrs) != len(tc.want) {
				t.Errorf("%d errors, want %d:\n  %s", len(verrs), len(tc.want), strings.Join(verrs, "\n  "))
			}
		})
	}
}

func TestScenarioSyntaxErrorNamesTheLine(t *testing.T) {
	_, err := simulate.ParseScenario([]byte("name: x\npools: [\n"))
	if err == nil || !strings.Contains(err.Error(), "line") {
		t.Errorf("error %v does not name a line", err)
	}
}

func TestDiurnalWorkloadMovesInstanceCounts(t *testing.T) {
	sc, err := simulate.LoadScenario("diurnal")
	mustOK(t, err)
	c := newClusterFrom(t, sc)
	const app = "/web/shop-1"
	lo, hi := 1<<30, 0
	var firstHi, lastHi time.Duration
	var rpsLo, rpsHi = 1e9, 0.0
	for h := time.Duration(0); h <= 24*time.Hour; h += 15 * time.Minute {
		c.clock.Set(sc.StartTime().Add(h))
		a, _ := c.app(app)
		lo = min(lo, a.Instances)
		if a.Instances > hi {
			hi, firstHi = a.Instances, h
		}
		if a.Instances == hi {
			lastHi = h
		}
		rpsLo, rpsHi = min(rpsLo, a.RequestRate), max(rpsHi, a.RequestRate)
	}
	// The scenario's wave runs 1..8 instances and 1..120 rps, peaking at 14h ± 2h (the app's offset).
	if lo != 1 || hi != 8 {
		t.Errorf("%s ranged over %d..%d instances in a day, want 1..8", app, lo, hi)
	}
	if peak := (firstHi + lastHi) / 2; peak < 12*time.Hour || peak > 16*time.Hour {
		t.Errorf("%s peaked at %s (at 8 from %s to %s), want within 14h ± 2h", app, peak, firstHi, lastHi)
	}
	if rpsLo > 2 || rpsHi < 110 {
		t.Errorf("request rate ranged %g..%g, want about 1..120", rpsLo, rpsHi)
	}
	// A flat wave never rewrites the count: the hibernator's zero stands.
	_, _, err = c.w.UpdateApp("/tools/dash-1", simulate.AppUpdate{Instances: ptr(0)}, true)
	mustOK(t, err)
	c.advance(6 * time.Hour)
	if a, _ := c.app("/tools/dash-1"); a.Instances != 0 {
		t.Errorf("the workload woke /tools/dash-1 (instances %d)", a.Instances)
	}
	if s := c.w.Stats(); s.TasksLaunched < 300 || s.TasksKilled < 250 {
		t.Errorf("a day launched %d and killed %d tasks, want the wave's hundreds", s.TasksLaunched, s.TasksKilled)
	}
}
