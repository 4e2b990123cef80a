package policy

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // keep-awake windows name IANA zones; the test machine may lack /usr/share/zoneinfo
)

// updateGolden rewrites golden files instead of comparing: MARMOT_UPDATE_GOLDEN=1 go test ./policy/
var updateGolden = os.Getenv("MARMOT_UPDATE_GOLDEN") != ""

func golden(t *testing.T, path, got string) {
	t.Helper()
	if updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (MARMOT_UPDATE_GOLDEN=1 writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (MARMOT_UPDATE_GOLDEN=1 rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func mustLoadHibernation(t *testing.T, doc string) *HibernationPolicy {
	t.Helper()
	p, err := LoadHibernationPolicy([]byte(doc))
	if err != nil {
		t.Fatalf("LoadHibernationPolicy: %v", err)
	}
	return p
}

func TestLoadHibernationPolicyEmptyIsDefault(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "{}", "idle:\nhold: ~\n"} {
		p := mustLoadHibernation(t, doc)
		want := DefaultHibernationPolicy()
		if !reflect.DeepEqual(p, want) {
			t.Errorf("%q: got %+v, want the default %+v", doc, p, want)
		}
	}
}

func TestDefaultHibernationPolicyValues(t *testing.T) {
	p := DefaultHibernationPolicy()
	checks := []struct {
		name      string
		got, want any
	}{
		{"idle.default", p.Idle.Default.D, 30 * time.Minute},
		{"idle.minimum", p.Idle.Minimum.D, 5 * time.Minute},
		{"max_hibernations_per_minute", p.MaxHibernationsPerMinute, 10},
		{"traffic.max_age", p.Traffic.MaxAge.D, 2 * time.Minute},
		{"hold.max_requests_per_app", p.Hold.MaxRequestsPerApp, 1000},
		{"hold.max_requests_total", p.Hold.MaxRequestsTotal, 10000},
		{"hold.timeout", p.Hold.Timeout.D, 2 * time.Minute},
		{"hold.max_timeout", p.Hold.MaxTimeout.D, 10 * time.Minute},
		{"hold.max_body_bytes", p.Hold.MaxBodyBytes, int64(1 << 20)},
		{"hold.max_total_body_bytes", p.Hold.MaxTotalBodyBytes, int64(256 << 20)},
		{"waiting_page", p.WaitingPage, false},
		{"wake.probe_interval", p.Wake.ProbeInterval.D, 50 * time.Millisecond},
		{"wake.probe_timeout", p.Wake.ProbeTimeout.D, time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v (docs/hibernation-policy.md documents it)", c.name, c.got, c.want)
		}
	}
}

func TestLoadHibernationPolicyExample(t *testing.T) {
	data, err := os.ReadFile("testdata/hibernation/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadHibernationPolicy(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Idle.Default.D != time.Hour || p.Idle.Minimum.D != 10*time.Minute {
		t.Errorf("idle = %+v", p.Idle)
	}
	if p.Hold.MaxBodyBytes != 65536 || p.Hold.Timeout.D != 90*time.Second || !p.WaitingPage {
		t.Errorf("hold = %+v, waiting_page = %v", p.Hold, p.WaitingPage)
	}
	if !p.NeverSleeps("/platform/dns") || !p.NeverSleeps("/platform") || !p.NeverSleeps("/shop/checkout") || p.NeverSleeps("/shop/cart") {
		t.Error("never_sleep patterns do not match as documented")
	}
	if !p.Traffic.Ignored("/status/deep/check", "curl/8") || !p.Traffic.Ignored("/", "Mozilla/5.0 (compatible; UptimeRobot/2.0)") {
		t.Error("ignore patterns do not match as documented")
	}
	if p.Traffic.Ignored("/healthcheck", "Mozilla/5.0") {
		t.Error("/healthcheck is not /health")
	}
}

// The docs' example must stay loadable: it is what a newcomer copies.
func TestDocsExampleMatchesTestdata(t *testing.T) {
	doc, err := os.ReadFile("../docs/hibernation-policy.md")
	if err != nil {
		t.Skip("docs not present:", err)
	}
	example, err := os.ReadFile("testdata/hibernation/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), string(example)) {
		t.Error("docs/hibernation-policy.md does not contain testdata/hibernation/example.yaml verbatim")
	}
}

func TestLoadHibernationPolicyReportsEveryError(t *testing.T) {
	path := "testdata/hibernation/invalid.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadHibernationPolicy(data)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not Errors", err)
	}
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error() + "\n")
	}
	golden(t, strings.TrimSuffix(path, ".yaml")+".errors", b.String())
}

func TestLoadHibernationPolicyErrors(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string // substrings, each in some error, each error with its path
	}{
		{"unknown top-level field", "idel: 1h", []string{"idel: unknown field; allowed: idle, never_sleep"}},
		{"not yaml", "idle: [", []string{"(document)"}},
		{"default below minimum", "idle: {default: 6m, minimum: 10m}", []string{"idle.default: 6m0s is shorter than idle.minimum (10m0s)"}},
		{"max age not below minimum idle", "idle: {minimum: 5m}\ntraffic: {max_age: 5m}", []string{"traffic.max_age: 5m0s must be shorter than idle.minimum"}},
		{"hold timeout above max", "hold: {timeout: 11m}", []string{"hold.timeout: 11m0s is longer than hold.max_timeout (10m0s)"}},
		{"total below per app", "hold: {max_requests_total: 5, max_requests_per_app: 6}", []string{"hold.max_requests_total: 5 is less than"}},
		{"negative body", "hold: {max_body_bytes: -1}", []string{"hold.max_body_bytes: -1 must not be negative"}},
		{"rate ceiling", "max_hibernations_per_minute: 1001", []string{"max_hibernations_per_minute: 1001 is out of range: 1 to 1000"}},
		{"window hours required", "keep_awake: [{days: mon}]", []string{"keep_awake[0].hours: is required"}},
		{"window days", "keep_awake: [{days: 'mon-xyz', hours: '08:00-09:00'}]", []string{"keep_awake[0].days:"}},
		{"bad duration once", "idle: {minimum: x}", []string{`idle.minimum: "x" is not a duration`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadHibernationPolicy([]byte(c.doc))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v is not Errors", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// A malformed value is reported once, not again by the range checks.
			if strings.Count(err.Error(), "idle.minimum:") > 1 {
				t.Errorf("idle.minimum reported twice: %v", err)
			}
		})
	}
}

func TestValidateGoBuiltPolicy(t *testing.T) {
	p := &HibernationPolicy{MaxHibernationsPerMinute: 3, Hold: HoldPolicy{MaxRequestsPerApp: 1, MaxRequestsTotal: 1}}
	if err := p.Validate(); err != nil {
		t.Fatalf("a policy with only its integers set should take the duration defaults: %v", err)
	}
	if p.Idle.Default.D != DefaultIdle || p.Hold.Timeout.D != DefaultHoldTimeout {
		t.Errorf("durations not defaulted: %+v %+v", p.Idle, p.Hold)
	}
}

func TestKeepAwakeAt(t *testing.T) {
	p := mustLoadHibernation(t, `
keep_awake:
  - days: mon-fri
    hours: "08:00-18:00"
    timezone: Europe/Berlin
  - days: mon-fri
    hours: "18:00-20:00"
    timezone: Europe/Berlin
    apps: [/late/**]
  - days: fri
    hours: "22:00-02:00"
    apps: [/batch]
`)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(s string, loc *time.Location) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		app       string
		at        time.Time
		open      bool
		wantUntil time.Time
	}{
		// 2026-08-21 is a Friday; Berlin is UTC+2 in summer.
		{"/web", at("2026-08-21 07:59", berlin), false, time.Time{}},
		{"/web", at("2026-08-21 08:00", berlin), true, at("2026-08-21 18:00", berlin)},
		{"/web", at("2026-08-21 06:30", time.UTC), true, at("2026-08-21 18:00", berlin)},
		{"/web", at("2026-08-21 18:00", berlin), false, time.Time{}},
		{"/web", at("2026-08-22 10:00", berlin), false, time.Time{}}, // Saturday
		// Touching windows chain: the app under /late stays awake until 20:00.
		{"/late/app", at("2026-08-21 17:00", berlin), true, at("2026-08-21 20:00", berlin)},
		{"/late", at("2026-08-21 19:00", berlin), true, at("2026-08-21 20:00", berlin)},
		// A range past midnight belongs to the day it starts: Friday 22:00 to Saturday 02:00 UTC.
		{"/batch", at("2026-08-21 23:30", time.UTC), true, at("2026-08-22 02:00", time.UTC)},
		{"/batch", at("2026-08-22 01:59", time.UTC), true, at("2026-08-22 02:00", time.UTC)},
		{"/batch", at("2026-08-22 02:00", time.UTC), false, time.Time{}},
		{"/batch", at("2026-08-20 23:30", time.UTC), false, time.Time{}}, // Thursday night
		{"/batch", at("2026-08-21 01:00", time.UTC), false, time.Time{}}, // Friday early: Thursday's range, not Friday's
	}
	for _, c := range cases {
		open, until := p.KeepAwakeAt(c.app, c.at)
		if open != c.open || (open && !until.Equal(c.wantUntil)) {
			t.Errorf("KeepAwakeAt(%s, %s) = %v, %s; want %v, %s", c.app, c.at, open, until, c.open, c.wantUntil)
		}
	}
}

func TestIgnoredUserAgents(t *testing.T) {
	p := mustLoadHibernation(t, `traffic: {ignore_user_agents: ["kube-probe/*", "*uptimerobot*", "a*b*c"]}`)
	cases := map[string]bool{
		"kube-probe/1.29": true,
		"Kube-Probe/1.29": true,
		"kube-probe":      false,
		"Mozilla/5.0 (compatible; UptimeRobot/2)": true,
		"abc":         true,
		"aXXbYYc":     true,
		"aXXbYYcZ":    false,
		"":            false,
		"Mozilla/5.0": false,
	}
	for ua, want := range cases {
		if got := p.Traffic.Ignored("/", ua); got != want {
			t.Errorf("Ignored(%q) = %v, want %v", ua, got, want)
		}
	}
}

func TestIDPatterns(t *testing.T) {
	cases := []struct {
		pattern, id string
		want        bool
	}{
		{"/a/*", "/a/b", true},
		{"/a/*", "/a/b/c", false},
		{"/a/**", "/a", true},
		{"/a/**", "/a/b/c", true},
		{"/a/**", "/ab", false},
		{"/health", "/health", true},
		{"/health", "/health/", false},
		{"/status/**", "/status", true},
		{"/web-?", "/web-1", true},
	}
	for _, c := range cases {
		if err := checkIDPattern(c.pattern); err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := matchAnyID([]string{c.pattern}, c.id); got != c.want {
			t.Errorf("%s ~ %s = %v, want %v", c.pattern, c.id, got, c.want)
		}
	}
	for _, bad := range []string{"", "a/b", "/a/[b", "/**/x", "/a/**b"} {
		if checkIDPattern(bad) == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}
