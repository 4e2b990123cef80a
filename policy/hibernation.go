package policy

import (
	"fmt"
	"reflect"
	"time"
)

// HibernationPolicy is what the platform team decides about hibernation: how long an opted-in app must be
// idle before it sleeps, which apps never sleep and when nothing sleeps, how fast the hibernator may act,
// which traffic does not count, and how the activator holds requests while an app wakes. App teams opt
// in and tune within these bounds with labels (see ParseHibernationLabels).
//
// Build one with LoadHibernationPolicy or DefaultHibernationPolicy. A policy built or changed in Go must
// pass Validate before use: Validate also compiles the patterns and windows the planner matches with.
// docs/hibernation-policy.md is the reference for every field.
type HibernationPolicy struct {
	Idle IdlePolicy `yaml:"idle" json:"idle"`
	// NeverSleep lists app id patterns ("/infra/**", "/shop/checkout") that are never hibernated, whatever
	// their labels say. An app that matches while it sleeps is woken.
	NeverSleep []string `yaml:"never_sleep" json:"never_sleep"`
	// KeepAwake lists windows during which the apps they cover are not put to sleep.
	KeepAwake []AwakeWindow `yaml:"keep_awake" json:"keep_awake"`
	// MaxHibernationsPerMinute bounds hibernations over any sliding minute, across all apps: each one is a
	// Marathon deployment, and a burst of them (after a traffic-source outage ends, say) must not flood
	// Marathon.
	MaxHibernationsPerMinute int           `yaml:"max_hibernations_per_minute" json:"max_hibernations_per_minute"`
	Traffic                  TrafficPolicy `yaml:"traffic" json:"traffic"`
	Hold                     HoldPolicy    `yaml:"hold" json:"hold"`
	// WaitingPage makes the activator answer browsers (Accept: text/html) with a page that refreshes
	// itself while the app wakes, instead of holding the request.
	WaitingPage bool       `yaml:"waiting_page" json:"waiting_page"`
	Wake        WakePolicy `yaml:"wake" json:"wake"`

	windows []awakeWindow // KeepAwake, compiled by Validate
}

// IdlePolicy bounds the idle period: how long no request may reach an app before it sleeps.
type IdlePolicy struct {
	// Default applies to apps without a marmot.hibernate.idle label.
	Default Duration `yaml:"default" json:"default"`
	// Minimum is the shortest idle period a label may ask for: shorter periods mean more cold starts
	// and hibernations decided on a handful of traffic samples.
	Minimum Duration `yaml:"minimum" json:"minimum"`
}

// TrafficPolicy says which traffic data the hibernator trusts and which requests it does not count.
type TrafficPolicy struct {
	// MaxAge is how old a source's data may be before it counts as missing. Missing data means "not idle".
	MaxAge Duration `yaml:"max_age" json:"max_age"`
	// IgnorePaths are request path patterns that do not count as use (health checks, metrics scrapes).
	IgnorePaths []string `yaml:"ignore_paths" json:"ignore_paths"`
	// IgnoreUserAgents are User-Agent patterns that do not count as use (uptime monitors).
	IgnoreUserAgents []string `yaml:"ignore_user_agents" json:"ignore_user_agents"`

	agents []agentGlob // IgnoreUserAgents, compiled by Validate
}

// HoldPolicy bounds what the activator holds while an app wakes. The bounds exist because an unbounded
// hold queue lets one cold app exhaust the activator's memory for every other app (KEDA HTTP add-on,
// PR #1733).
type HoldPolicy struct {
	MaxRequestsPerApp int `yaml:"max_requests_per_app" json:"max_requests_per_app"`
	MaxRequestsTotal  int `yaml:"max_requests_total" json:"max_requests_total"`
	// Timeout is how long a request is held when the app has no marmot.hibernate.hold-timeout label.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// MaxTimeout is the longest hold a label may ask for.
	MaxTimeout Duration `yaml:"max_timeout" json:"max_timeout"`
	// MaxBodyBytes is the largest request body held; a larger request gets 503 while the app wakes.
	// 0 holds only requests without a body.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// MaxTotalBodyBytes bounds the bodies held across all apps.
	MaxTotalBodyBytes int64 `yaml:"max_total_body_bytes" json:"max_total_body_bytes"`
}

// WakePolicy is how the activator watches a waking app's new task.
type WakePolicy struct {
	// ProbeInterval is how often the new task is probed directly: Marathon's own health checks run
	// every 60s by default, far too slow to release held requests.
	ProbeInterval Duration `yaml:"probe_interval" json:"probe_interval"`
	// ProbeTimeout bounds one probe.
	ProbeTimeout Duration `yaml:"probe_timeout" json:"probe_timeout"`
}

// The defaults, one place for the code and docs/hibernation-policy.md.
const (
	DefaultIdle                     = 30 * time.Minute
	DefaultMinimumIdle              = 5 * time.Minute
	DefaultMaxHibernationsPerMinute = 10
	DefaultTrafficMaxAge            = 2 * time.Minute
	DefaultHoldMaxRequestsPerApp    = 1000
	DefaultHoldMaxRequestsTotal     = 10000
	DefaultHoldTimeout              = 2 * time.Minute
	DefaultHoldMaxTimeout           = 10 * time.Minute
	DefaultHoldMaxBodyBytes         = 1 << 20
	DefaultHoldMaxTotalBodyBytes    = 256 << 20
	DefaultWakeProbeInterval        = 50 * time.Millisecond
	DefaultWakeProbeTimeout         = time.Second
)

// Hard limits on what a policy may say; docs/hibernation-policy.md lists them with the fields.
const (
	minIdleFloor           = time.Minute
	maxHibernationsCeiling = 1000
	minProbeInterval       = 10 * time.Millisecond
	maxProbeInterval       = 10 * time.Second
)

// DefaultHibernationPolicy returns the policy an empty YAML document gives.
func DefaultHibernationPolicy() *HibernationPolicy {
	p := defaultHibernationPolicy()
	if err := p.Validate(); err != nil {
		panic("policy: the default hibernation policy is invalid: " + err.Error())
	}
	return p
}

func defaultHibernationPolicy() *HibernationPolicy {
	return &HibernationPolicy{
		Idle:                     IdlePolicy{Default: Dur(DefaultIdle), Minimum: Dur(DefaultMinimumIdle)},
		MaxHibernationsPerMinute: DefaultMaxHibernationsPerMinute,
		Traffic:                  TrafficPolicy{MaxAge: Dur(DefaultTrafficMaxAge)},
		Hold: HoldPolicy{
			MaxRequestsPerApp: DefaultHoldMaxRequestsPerApp,
			MaxRequestsTotal:  DefaultHoldMaxRequestsTotal,
			Timeout:           Dur(DefaultHoldTimeout),
			MaxTimeout:        Dur(DefaultHoldMaxTimeout),
			MaxBodyBytes:      DefaultHoldMaxBodyBytes,
			MaxTotalBodyBytes: DefaultHoldMaxTotalBodyBytes,
		},
		Wake: WakePolicy{ProbeInterval: Dur(DefaultWakeProbeInterval), ProbeTimeout: Dur(DefaultWakeProbeTimeout)},
	}
}

// LoadHibernationPolicy decodes a hibernation policy from YAML, fills in the defaults and validates it.
// Unknown fields are errors. The error is always Errors and lists every problem with its field path and
// what is allowed, e.g.
//
//	idle.minimum: 30s is too short: at least 1m0s
//
// Decoding is LoadAutoscalerPolicy's, with the same messages. Unlike it, the errors are not sorted by
// where they stand in the document: those of decoding come first, then those of validation.
func LoadHibernationPolicy(data []byte) (*HibernationPolicy, error) {
	var p HibernationPolicy
	shape, ok := decodeDocument(data, &p)
	if !ok {
		return nil, shape.errs
	}
	p.applyDefaults(shape.given)
	var invalid Errors
	if err := p.Validate(); err != nil {
		invalid = err.(Errors)
	}
	if errs := shape.withValidation(invalid); len(errs) > 0 {
		return nil, errs
	}
	return &p, nil
}

// applyDefaults sets every field that the document did not give to its default.
func (p *HibernationPolicy) applyDefaults(given map[string]bool) {
	fillDefaults(reflect.ValueOf(p).Elem(), reflect.ValueOf(defaultHibernationPolicy()).Elem(), "", given)
}

// Validate checks every field, returning Errors with all problems, and compiles the patterns and
// windows. Durations that were never set take their defaults first, so a policy built in Go only needs
// the fields it cares about (integers have no "unset": set them, or start from DefaultHibernationPolicy).
func (p *HibernationPolicy) Validate() error {
	var errs Errors
	p.defaultDurations()

	idle, minIdle := p.Idle.Default, p.Idle.Minimum
	minOK := checkDuration(&errs, "idle.minimum", minIdle, minIdleFloor, 0)
	if checkDuration(&errs, "idle.default", idle, minIdleFloor, 0) && minOK && idle.D < minIdle.D {
		errs.Addf("idle.default", "%s is shorter than idle.minimum (%s)", idle.D, minIdle.D)
	}

	checkIDPatterns(&errs, "never_sleep", p.NeverSleep)
	p.windows = make([]awakeWindow, 0, len(p.KeepAwake))
	for i, w := range p.KeepAwake {
		if cw, ok := w.compile(&errs, fmt.Sprintf("keep_awake[%d]", i)); ok {
			p.windows = append(p.windows, cw)
		}
	}

	if n := p.MaxHibernationsPerMinute; n < 1 || n > maxHibernationsCeiling {
		errs.Addf("max_hibernations_per_minute", "%d is out of range: 1 to %d", n, maxHibernationsCeiling)
	}

	p.Traffic.validate(&errs, minIdle)
	p.Hold.validate(&errs)
	p.Wake.validate(&errs)
	return errs.Err()
}

// checkDuration reports a malformed d, or one outside [lo, hi] (hi 0: no upper bound), at path. It
// returns whether d is usable for checks against other fields, so that one mistake is reported once.
func checkDuration(errs *Errors, path string, d Duration, lo, hi time.Duration) bool {
	if d.bad {
		d.Check(errs, path)
		return false
	}
	switch {
	case d.D < lo && lo == positive:
		errs.Addf(path, "%s must be positive", d.D)
	case d.D < lo:
		errs.Addf(path, "%s is too short: at least %s", d.D, lo)
	case hi > 0 && d.D > hi:
		errs.Addf(path, "%s is too long: at most %s", d.D, hi)
	default:
		return true
	}
	return false
}

// positive is the lower bound for durations that only need to be above zero.
const positive = time.Nanosecond

// defaultDurations gives unset durations their defaults; the zero Duration is "unset", not "0s".
func (p *HibernationPolicy) defaultDurations() {
	d := defaultHibernationPolicy()
	for _, f := range []struct{ field, def *Duration }{
		{&p.Idle.Default, &d.Idle.Default},
		{&p.Idle.Minimum, &d.Idle.Minimum},
		{&p.Traffic.MaxAge, &d.Traffic.MaxAge},
		{&p.Hold.Timeout, &d.Hold.Timeout},
		{&p.Hold.MaxTimeout, &d.Hold.MaxTimeout},
		{&p.Wake.ProbeInterval, &d.Wake.ProbeInterval},
		{&p.Wake.ProbeTimeout, &d.Wake.ProbeTimeout},
	} {
		if !f.field.IsSet() {
			*f.field = *f.def
		}
	}
}

func (t *TrafficPolicy) validate(errs *Errors, minIdle Duration) {
	// Data this old could hide a request from a whole idle period.
	if checkDuration(errs, "traffic.max_age", t.MaxAge, positive, 0) && !minIdle.bad && minIdle.D >= minIdleFloor && t.MaxAge.D >= minIdle.D {
		errs.Addf("traffic.max_age", "%s must be shorter than idle.minimum (%s)", t.MaxAge.D, minIdle.D)
	}
	checkIDPatterns(errs, "traffic.ignore_paths", t.IgnorePaths)
	t.agents = make([]agentGlob, 0, len(t.IgnoreUserAgents))
	for i, a := range t.IgnoreUserAgents {
		g, err := newAgentGlob(a)
		if err != nil {
			errs.Addf(fmt.Sprintf("traffic.ignore_user_agents[%d]", i), "%v", err)
			continue
		}
		t.agents = append(t.agents, g)
	}
}

func (h *HoldPolicy) validate(errs *Errors) {
	if h.MaxRequestsPerApp < 1 {
		errs.Addf("hold.max_requests_per_app", "%d is out of range: at least 1", h.MaxRequestsPerApp)
	} else if h.MaxRequestsTotal < h.MaxRequestsPerApp {
		errs.Addf("hold.max_requests_total", "%d is less than hold.max_requests_per_app (%d)", h.MaxRequestsTotal, h.MaxRequestsPerApp)
	}
	maxOK := checkDuration(errs, "hold.max_timeout", h.MaxTimeout, positive, 0)
	if checkDuration(errs, "hold.timeout", h.Timeout, positive, 0) && maxOK && h.Timeout.D > h.MaxTimeout.D {
		errs.Addf("hold.timeout", "%s is longer than hold.max_timeout (%s)", h.Timeout.D, h.MaxTimeout.D)
	}
	if h.MaxBodyBytes < 0 {
		errs.Addf("hold.max_body_bytes", "%d must not be negative (0 holds only requests without a body)", h.MaxBodyBytes)
	} else if h.MaxTotalBodyBytes < h.MaxBodyBytes {
		errs.Addf("hold.max_total_body_bytes", "%d is less than hold.max_body_bytes (%d)", h.MaxTotalBodyBytes, h.MaxBodyBytes)
	}
}

func (w *WakePolicy) validate(errs *Errors) {
	checkDuration(errs, "wake.probe_interval", w.ProbeInterval, minProbeInterval, maxProbeInterval)
	checkDuration(errs, "wake.probe_timeout", w.ProbeTimeout, positive, 0)
}

// NeverSleeps reports whether the policy forbids hibernating the app.
func (p *HibernationPolicy) NeverSleeps(appID string) bool {
	return matchAnyID(p.NeverSleep, appID)
}

// KeepAwakeAt reports whether a keep-awake window covering the app is open at t, and if so until when
// (the end of the latest of the open windows, following windows that touch or overlap).
func (p *HibernationPolicy) KeepAwakeAt(appID string, t time.Time) (open bool, until time.Time) {
	until = t
	// Windows can chain (mon-fri 08:00-18:00 and 18:00-22:00); a few rounds cover any sane policy, and
	// the bound keeps a policy of back-to-back windows from looping.
	for range 16 {
		extended := false
		for _, w := range p.windows {
			if !w.covers(appID) {
				continue
			}
			if ok, end := w.hours.openUntil(until); ok && end.After(until) {
				until, extended, open = end, true, true
			}
		}
		if !extended {
			break
		}
	}
	return open, until
}

// Ignored reports whether a request does not count as use of the app: its path (without the query)
// or its User-Agent matches one of the ignore patterns.
func (t *TrafficPolicy) Ignored(path, userAgent string) bool {
	if matchAnyID(t.IgnorePaths, path) {
		return true
	}
	for _, g := range t.agents {
		if g.match(userAgent) {
			return true
		}
	}
	return false
}
