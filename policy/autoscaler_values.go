package policy

import (
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Budget is a number of agents given as a count ("2") or as a share of the pool ("10%", rounded up,
// as Karpenter's disruption budgets do). Like Duration, a malformed value does not fail decoding: it is
// reported by validation with its field path.
type Budget struct {
	n   float64 // a count, or a percentage when pct
	pct bool
	raw string
	bad bool
}

// Count makes a Budget of n agents.
func Count(n int) Budget { return Budget{n: float64(n), raw: strconv.Itoa(n)} }

// Percent makes a Budget of p percent of the pool.
func Percent(p float64) Budget {
	return Budget{n: p, pct: true, raw: strconv.FormatFloat(p, 'f', -1, 64) + "%"}
}

// Of returns the budget in agents for a pool of size agents.
func (b Budget) Of(size int) int {
	if !b.pct {
		return int(b.n)
	}
	// The epsilon keeps 10% of 30 at 3 despite 0.1*30 = 3.0000000000000004.
	return int(math.Ceil(b.n*float64(size)/100 - 1e-9))
}

// String returns the budget as written: "2" or "10%".
func (b Budget) String() string { return b.raw }

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *Budget) UnmarshalYAML(n *yaml.Node) error {
	*b = Budget{raw: n.Value}
	s := strings.TrimSpace(n.Value)
	num, pct := strings.CutSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	switch {
	case n.Kind != yaml.ScalarNode || err != nil || math.IsNaN(v) || math.IsInf(v, 0):
		b.bad = true
	case !pct && v != math.Trunc(v):
		b.bad = true
	default:
		b.n, b.pct = v, pct
	}
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (b Budget) MarshalYAML() (any, error) { return b.raw, nil }

// MarshalJSON renders the budget as written, for /status.
func (b Budget) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(b.raw)), nil }

// Check adds an error to errs when the budget is malformed or out of range.
func (b Budget) Check(errs *Errors, path string) {
	switch {
	case b.bad:
		errs.Addf(path, "%q is not a number of agents or a percentage, e.g. 2 or \"10%%\"", b.raw)
	case b.n < 0:
		errs.Addf(path, "%s must not be negative", b.raw)
	case b.pct && b.n > 100:
		errs.Addf(path, "%s is more than 100%%", b.raw)
	}
}

// ScaleDownWindow is a weekly recurring time when drains may start, in the same syntax as the
// hibernation policy's keep-awake windows:
//
//	days:     "mon-fri", "sat,sun", "mon,wed-fri" or "*" (every day, the default)
//	hours:    "22:00-06:00", or several ranges "01:00-05:00,13:00-14:00"; a range whose end is not after
//	          its start runs past midnight and belongs to the day it starts; "00:00-24:00" is all day
//	timezone: an IANA zone ("Europe/Berlin"); "UTC" by default
type ScaleDownWindow struct {
	Days     string `yaml:"days" json:"days,omitempty"`
	Hours    string `yaml:"hours" json:"hours"`
	Timezone string `yaml:"timezone" json:"timezone,omitempty"`
}

// compile checks the window, adding every problem to errs under at, and returns it compiled.
func (w ScaleDownWindow) compile(errs *Errors, at string) openHours {
	return compileOpenHours(errs, at, w.Days, w.Hours, w.Timezone)
}

// windowsOpen reports whether drains may start at now: always without windows, otherwise when one of
// them is open. A policy built in Go without Validate is compiled here; a window that does not compile
// is never open, so a mistake cannot widen when agents are drained.
func (s *ScaleDownPolicy) windowsOpen(now time.Time) bool {
	if len(s.Windows) == 0 {
		return true
	}
	compiled := s.compiled
	if len(compiled) != len(s.Windows) {
		var errs Errors
		compiled = s.compileWindows(&errs, "scale_down")
		if len(errs) > 0 {
			return false
		}
	}
	for _, w := range compiled {
		if w.open(now) {
			return true
		}
	}
	return false
}

func (s *ScaleDownPolicy) compileWindows(errs *Errors, at string) []openHours {
	if len(s.Windows) == 0 {
		return nil
	}
	out := make([]openHours, len(s.Windows))
	for i, w := range s.Windows {
		out[i] = w.compile(errs, at+".windows["+strconv.Itoa(i)+"]")
	}
	return out
}

// Protects reports whether an app's tasks keep their agent from being drained: the app is labelled
// marmot.protect=true, carries one of the policy's labels, or its id matches one of its patterns.
func (p ProtectionPolicy) Protects(appID string, labels map[string]string) bool {
	if strings.EqualFold(strings.TrimSpace(labels[ProtectLabel]), "true") {
		return true
	}
	for _, l := range p.Labels {
		key, want, hasValue := strings.Cut(l, "=")
		got, ok := labels[key]
		if ok && (hasValue && got == want || !hasValue && !strings.EqualFold(got, "false")) {
			return true
		}
	}
	return matchAnyID(p.Apps, appID)
}
