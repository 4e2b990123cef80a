package policy

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadAutoscalerPolicyDefaults(t *testing.T) {
	p, err := LoadAutoscalerPolicy([]byte("pools: [{name: default}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultPoolPolicy()
	want.Name = "default"
	if !reflect.DeepEqual(p.Pools[0], want) {
		t.Errorf("pool:\n got %+v\nwant %+v", p.Pools[0], want)
	}
	if p.ReconcileInterval.D != 30*time.Second || p.DrainMode != DrainAuto {
		t.Errorf("globals: %+v", p)
	}
}

func TestLoadAutoscalerPolicyKeepsGivenZeros(t *testing.T) {
	// Fields given as zero or false keep that value; only the fields not given take defaults, also
	// inside a section that is given in part.
	p, err := LoadAutoscalerPolicy([]byte(`
pools:
  - name: web
    headroom: {cpus: 2}
    scale_down:
      enabled: false
      utilization_below: 0
      unneeded_for: 0s
    health: {ok_missing_agents: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	pool := p.Pools[0]
	sd := pool.ScaleDown
	if sd.Enabled || sd.UtilizationBelow != 0 || !sd.UnneededFor.IsSet() || sd.UnneededFor.D != 0 {
		t.Errorf("given zeros lost: %+v", sd)
	}
	if sd.DrainDeadline.D != DefaultDrainDeadline || sd.MaxDraining.String() != "10%" {
		t.Errorf("defaults inside a given section missing: %+v", sd)
	}
	if pool.Health.OKMissingAgents != 0 || pool.Health.MaxMissingShare != DefaultMaxMissingShare {
		t.Errorf("health: %+v", pool.Health)
	}
	if pool.Headroom.CPUs != 2 || pool.TargetUtilization != DefaultTargetUtilization {
		t.Errorf("headroom %+v, target %v", pool.Headroom, pool.TargetUtilization)
	}
}

func TestLoadAutoscalerPolicyExample(t *testing.T) {
	example, err := os.ReadFile("testdata/autoscaler/policy-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadAutoscalerPolicy(example)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Pools) != 2 || p.Pool("batch").ScaleDown.MaxDraining.Of(100) != 5 || len(p.Pool("default").ScaleDown.Windows) != 2 {
		t.Errorf("example decoded wrongly: %+v", p)
	}
	// The reference in docs/ shows the same example, so that it cannot drift from a policy that loads.
	doc, err := os.ReadFile("../docs/autoscaler-policy.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```yaml\n"+string(example)+"```") {
		t.Error("docs/autoscaler-policy.md does not show testdata/autoscaler/policy-example.yaml verbatim")
	}
}

func TestAutoscalerPolicyValidateBuiltInGo(t *testing.T) {
	pool := DefaultPoolPolicy()
	pool.Name = "web"
	p := DefaultAutoscalerPolicy()
	p.Pools = []PoolPolicy{pool}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.Pools[0].ScaleDown.UtilizationBelow = 0.9
	var errs Errors
	if err := p.Validate(); !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "pools[0].scale_down.utilization_below" {
		t.Errorf("got %v", err)
	}
}

// TestLoadAutoscalerPolicyErrors checks that one load lists every problem, in document order, each
// with its field path and what is allowed.
func TestLoadAutoscalerPolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"empty document", ``, []string{
			`pools: is required: at least one pool, e.g. [{name: default, min_agents: 1}]`,
		}},
		{"not a mapping", `just words`, []string{
			`(document): must be a mapping with the fields reconcile_interval, drain_mode, pools`,
		}},
		{"syntax", "pools: [\n  - name: a\n", []string{
			`(document): yaml: line 1: did not find expected node content`,
		}},
		{"every field at once", `
reconcile_interval: 10
drain_mode: fast
pools:
  - name: web
    asgs: [web-a, web-a]
    min_agents: -1
    max_agents: 3
    target_utilization: 80%
    headroom: {cpus: -2, agents: two}
    scale_up: {max_step: 0, cooldown: soon}
    scale_down:
      utilization_below: 0.9
      unneeded_for: "10"
      max_draining: 150%
      windows:
        - {days: "mon-fry", hours: "25:00-02:00", timezone: Mars/Olympus}
        - {hours: "10:00-10:00"}
        - {days: "*", timezone: Local}
      at_deadline: kill
      drain_deadline: 0s
      colour: blue
    protection: {labels: ["=x"], apps: ["infra/*", "/a/[b"]}
    health: {max_missing_share: 2, ok_missing_agents: -1, max_data_age: 0s}
    backoff: {initial: 10m, max: 5m, reset_after: 1h}
    boot_timeout: -5m
  - name: web
    asgs: [web-a, ""]
    max_agents: 2
    min_agents: 3
    target_utilization: 0.5
    scale_up: 5
    scale_down: {utilization_below: 0.6, max_draining: {a: 1}, enabled: maybe}
    protection:
      labels: key
  - min_agents: 1
    min_agents: 2
  - name: "bad name"
    headroom: {cpus: [1, 2]}
    spot_interruption: {down_before: 3m}
unknown_top: 1
`, []string{
			`reconcile_interval: "10" is not a duration, e.g. "10m"`,
			`drain_mode: "fast" is not a drain mode: use auto, maintenance or drain_agent`,
			`pools[0].asgs[1]: "web-a" is already listed at pools[0].asgs[0]: a group serves one pool`,
			`pools[0].min_agents: -1 must be a number of at least 0`,
			`pools[0].target_utilization: "80%" is not a number, e.g. 0.8`,
			`pools[0].headroom.cpus: -2 must be a number of at least 0`,
			`pools[0].headroom.agents: "two" is not a whole number, e.g. 3`,
			`pools[0].scale_up.max_step: 0 must be at least 1`,
			`pools[0].scale_up.cooldown: "soon" is not a duration, e.g. "10m"`,
			`pools[0].scale_down.unneeded_for: "10" is not a duration, e.g. "10m"`,
			`pools[0].scale_down.max_draining: 150% is more than 100%`,
			`pools[0].scale_down.windows[0].days: "mon-fry" is not a day or day range: use mon, tue, wed, thu, fri, sat, sun, ranges such as "mon-fri", commas, or "*"`,
			`pools[0].scale_down.windows[0].hours: "25:00-02:00" is not a range of HH:MM-HH:MM (00:00 to 24:00), e.g. "22:00-06:00"`,
			`pools[0].scale_down.windows[0].timezone: "Mars/Olympus" is not a known time zone: use an IANA name such as "Europe/Berlin", or "UTC"`,
			`pools[0].scale_down.windows[1].hours: "10:00-10:00" is empty: for the whole day write "00:00-24:00"`,
			`pools[0].scale_down.windows[2].hours: is required: one or more ranges such as "22:00-06:00"`,
			`pools[0].scale_down.windows[2].timezone: "Local" is not allowed: use an IANA name such as "Europe/Berlin", or "UTC"`,
			`pools[0].scale_down.at_deadline: "kill" is not allowed: use terminate or abort`,
			`pools[0].scale_down.drain_deadline: 0s must be at least 1s`,
			`pools[0].scale_down.colour: unknown field; allowed: enabled, utilization_below, unneeded_for, delay_after_scale_up, max_draining, windows, drain_deadline, at_deadline, min_agent_age`,
			`pools[0].protection.labels[0]: "=x" is not a label: write "key" or "key=value"`,
			`pools[0].protection.apps[0]: "infra/*" is not an app id pattern: an absolute id where "*" matches within a segment and a trailing "/**" a whole group, e.g. "/infra/**"`,
			`pools[0].protection.apps[1]: "/a/[b" is not an app id pattern: an absolute id where "*" matches within a segment and a trailing "/**" a whole group, e.g. "/infra/**"`,
			`pools[0].health.max_missing_share: 2 must be between 0 and 1, e.g. 0.45`,
			`pools[0].health.ok_missing_agents: -1 must be a number of at least 0`,
			`pools[0].health.max_data_age: 0s must be at least 1s`,
			`pools[0].backoff.max: 5m0s is less than initial (10m0s)`,
			`pools[0].boot_timeout: -5m must not be negative`,
			`pools[1].name: "web" is already the name of pools[0]`,
			`pools[1].asgs[0]: "web-a" is already listed at pools[0].asgs[0]: a group serves one pool`,
			`pools[1].asgs[1]: must not be empty: an Auto Scaling group name`,
			`pools[1].max_agents: 2 is less than min_agents (3); use 0 for no limit`,
			`pools[1].scale_up: must be a mapping with the fields max_step, cooldown`,
			`pools[1].scale_down.utilization_below: 0.6 must be below target_utilization (0.5): an agent that is unneeded at that level would be needed again as soon as it left`,
			`pools[1].scale_down.max_draining: a mapping is not allowed here: expected a number of agents or a percentage, e.g. 2 or "10%"`,
			`pools[1].scale_down.enabled: "maybe" is not true or false`,
			`pools[1].protection.labels: "key" is not a list: write [key] or one item per line`,
			`pools[2].min_agents: is given twice (lines 36 and 37)`,
			`pools[2].name: is required: the value of the agents' pool attribute, e.g. default`,
			`pools[3].name: "bad name" must not contain spaces, commas, colons or semicolons (Mesos attribute syntax)`,
			`pools[3].headroom.cpus: a list is not allowed here: expected a number, e.g. 0.8`,
			`pools[3].spot_interruption.down_before: 3m0s is more than the 2m0s of notice EC2 gives, e.g. 60s`,
			`unknown_top: unknown field; allowed: reconcile_interval, drain_mode, pools`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := LoadAutoscalerPolicy([]byte(tc.yaml))
			var errs Errors
			if p != nil || !errors.As(err, &errs) {
				t.Fatalf("got policy %v, error %v; want Errors", p, err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
		})
	}
}

func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		pool int
		want int
		bad  bool
	}{
		{"2", 10, 2, false},
		{`"10%"`, 30, 3, false},
		{"10%", 3, 1, false},
		{"25%", 8, 2, false},
		{"0%", 10, 0, false},
		{"0", 10, 0, false},
		{"1.5", 10, 0, true},
		{"lots", 10, 0, true},
		{"-1", 10, 0, true},
		{"101%", 10, 0, true},
	} {
		p, err := LoadAutoscalerPolicy([]byte("pools: [{name: a, scale_down: {max_draining: " + tc.yaml + "}}]"))
		switch {
		case tc.bad && err == nil:
			t.Errorf("%s: accepted", tc.yaml)
		case !tc.bad && err != nil:
			t.Errorf("%s: %v", tc.yaml, err)
		case !tc.bad && p.Pools[0].ScaleDown.MaxDraining.Of(tc.pool) != tc.want:
			t.Errorf("%s of %d = %d, want %d", tc.yaml, tc.pool, p.Pools[0].ScaleDown.MaxDraining.Of(tc.pool), tc.want)
		}
	}
}

func TestScaleDownWindows(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(day, hour, minute int, loc *time.Location) time.Time {
		return time.Date(2026, 3, day, hour, minute, 0, 0, loc) // 2026-03-02 is a Monday
	}
	for _, tc := range []struct {
		w    ScaleDownWindow
		t    time.Time
		open bool
	}{
		{ScaleDownWindow{Hours: "09:00-17:00"}, at(2, 9, 0, time.UTC), true},
		{ScaleDownWindow{Hours: "09:00-17:00"}, at(2, 17, 0, time.UTC), false},
		{ScaleDownWindow{Days: "sat,sun", Hours: "00:00-24:00"}, at(7, 23, 59, time.UTC), true},
		{ScaleDownWindow{Days: "sat,sun", Hours: "00:00-24:00"}, at(6, 23, 59, time.UTC), false},
		// Friday's overnight range runs into Saturday morning, and belongs to Friday.
		{ScaleDownWindow{Days: "fri", Hours: "22:00-06:00"}, at(7, 5, 59, time.UTC), true},
		{ScaleDownWindow{Days: "fri", Hours: "22:00-06:00"}, at(6, 5, 59, time.UTC), false},
		{ScaleDownWindow{Days: "fri-mon", Hours: "12:00-13:00"}, at(2, 12, 30, time.UTC), true},
		{ScaleDownWindow{Days: "mon", Hours: "08:00-09:00,18:00-19:00"}, at(2, 18, 30, time.UTC), true},
		// 08:30 in Berlin is 07:30 UTC in March.
		{ScaleDownWindow{Hours: "08:00-09:00", Timezone: "Europe/Berlin"}, at(2, 7, 30, time.UTC), true},
		{ScaleDownWindow{Hours: "08:00-09:00", Timezone: "Europe/Berlin"}, at(2, 8, 30, time.UTC), false},
		{ScaleDownWindow{Hours: "08:00-09:00", Timezone: "Europe/Berlin"}, at(2, 8, 30, berlin), true},
		// A window that does not compile is never open.
		{ScaleDownWindow{Hours: "8-9"}, at(2, 8, 30, time.UTC), false},
	} {
		sd := ScaleDownPolicy{Windows: []ScaleDownWindow{tc.w}}
		if got := sd.windowsOpen(tc.t); got != tc.open {
			t.Errorf("%+v at %s: open %v, want %v", tc.w, tc.t, got, tc.open)
		}
	}
	if !(&ScaleDownPolicy{}).windowsOpen(t0) {
		t.Error("no windows must mean always open")
	}
}

func TestProtects(t *testing.T) {
	p := ProtectionPolicy{Labels: []string{"critical", "team=payments"}, Apps: []string{"/infra/**", "/db/*", "/exact"}}
	for _, tc := range []struct {
		app    string
		labels map[string]string
		want   bool
	}{
		{"/web", map[string]string{ProtectLabel: "true"}, true},
		{"/web", map[string]string{ProtectLabel: "TRUE"}, true},
		{"/web", map[string]string{ProtectLabel: "false"}, false},
		{"/web", map[string]string{"critical": "yes"}, true},
		{"/web", map[string]string{"critical": "false"}, false},
		{"/web", map[string]string{"team": "payments"}, true},
		{"/web", map[string]string{"team": "search"}, false},
		{"/infra/dns", nil, true},
		{"/infra/dns/resolver", nil, true},
		{"/infrastructure/x", nil, false},
		{"/db/postgres", nil, true},
		{"/db/postgres/replica", nil, false},
		{"/exact", nil, true},
		{"/exact/child", nil, false},
		{"/web", nil, false},
	} {
		if got := p.Protects(tc.app, tc.labels); got != tc.want {
			t.Errorf("Protects(%q, %v) = %v, want %v", tc.app, tc.labels, got, tc.want)
		}
	}
}

func FuzzLoadAutoscalerPolicy(f *testing.F) {
	example, err := os.ReadFile("testdata/autoscaler/policy-example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example), "", "pools: [{name: a}]", "pools: [a, {name: b}]", "a: &x [*x]",
		"pools: [{name: a, <<: {min_agents: 2}}]", "pools:\n - name: a\n   scale_down: {windows: [{hours: 22:00-06:00}]}",
		"pools: [{name: a, max_agents: 1e300, scale_up: {max_step: 99999999}}]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := LoadAutoscalerPolicy(data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not Errors: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("loaded policy does not validate: %v", err)
		}
		// Any policy that loads must plan without trouble.
		for _, pool := range p.Pools {
			w := newWorld()
			w.pol = pool
			w.agents(3, tk("/web", 1, 100))
			w.agent("idle")
			w.allUnneeded(time.Hour)
			w.wait("/api", 5, cpus(3), "InsufficientCpus")
			w.plan()
		}
	})
}
