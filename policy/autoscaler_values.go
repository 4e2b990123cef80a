package policy

import (
	"math"
	"path"
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

// openHours is a compiled ScaleDownWindow.
type openHours struct {
	days   [7]bool // by time.Weekday
	ranges []clockRange
	loc    *time.Location
}

// clockRange is [start, end) in minutes after local midnight; end <= start runs past midnight.
type clockRange struct{ start, end int }

const dayMinutes = 24 * 60

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// compile checks the window, adding every problem to errs under at, and returns it compiled.
func (w ScaleDownWindow) compile(errs *Errors, at string) openHours {
	return openHours{
		days:   compileDays(errs, at+".days", w.Days),
		ranges: compileHours(errs, at+".hours", w.Hours),
		loc:    compileZone(errs, at+".timezone", w.Timezone),
	}
}

func compileDays(errs *Errors, at, s string) (days [7]bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || s == "*" {
		return [7]bool{true, true, true, true, true, true, true}
	}
	for _, part := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(strings.TrimSpace(part), "-")
		first, ok1 := dayNames[strings.TrimSpace(from)]
		last, ok2 := first, ok1
		if isRange {
			last, ok2 = dayNames[strings.TrimSpace(to)]
		}
		if !ok1 || !ok2 {
			errs.Addf(at, "%q is not a day or day range: use mon, tue, wed, thu, fri, sat, sun, ranges such as \"mon-fri\", commas, or \"*\"", part)
			continue
		}
		for d := first; ; d = (d + 1) % 7 { // ranges may wrap the week: "fri-mon"
			days[d] = true
			if d == last {
				break
			}
		}
	}
	return days
}

func compileHours(errs *Errors, at, s string) []clockRange {
	if strings.TrimSpace(s) == "" {
		errs.Addf(at, "is required: one or more ranges such as \"22:00-06:00\"")
		return nil
	}
	var out []clockRange
	for _, part := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(part), "-")
		start, okStart := clockMinutes(from, false)
		end, okEnd := clockMinutes(to, true)
		switch {
		case !ok || !okStart || !okEnd:
			errs.Addf(at, "%q is not a range of HH:MM-HH:MM (00:00 to 24:00), e.g. \"22:00-06:00\"", part)
		case start == end:
			errs.Addf(at, "%q is empty: for the whole day write \"00:00-24:00\"", part)
		default:
			out = append(out, clockRange{start, end})
		}
	}
	return out
}

// clockMinutes parses "HH:MM"; "24:00" is allowed only as the end of a range.
func clockMinutes(s string, isEnd bool) (int, bool) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	switch {
	case err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59:
		return 0, false
	case hh == 24 && mm == 0 && isEnd:
		return dayMinutes, true
	case hh > 23:
		return 0, false
	}
	return hh*60 + mm, true
}

func compileZone(errs *Errors, at, s string) *time.Location {
	s = strings.TrimSpace(s)
	switch s {
	case "", "UTC":
		return time.UTC
	case "Local":
		// "Local" would make the window depend on the machine the autoscaler happens to run on.
		errs.Addf(at, "\"Local\" is not allowed: use an IANA name such as \"Europe/Berlin\", or \"UTC\"")
		return time.UTC
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		errs.Addf(at, "%q is not a known time zone: use an IANA name such as \"Europe/Berlin\", or \"UTC\"", s)
		return time.UTC
	}
	return loc
}

// open reports whether t falls in the window.
func (w openHours) open(t time.Time) bool {
	lt := t.In(w.loc)
	day := lt.Weekday()
	yesterday := (day + 6) % 7
	m := lt.Hour()*60 + lt.Minute()
	for _, r := range w.ranges {
		switch {
		case r.end > r.start && w.days[day] && m >= r.start && m < r.end,
			r.end <= r.start && w.days[day] && m >= r.start,
			r.end <= r.start && w.days[yesterday] && m < r.end:
			return true
		}
	}
	return false
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
	for _, pat := range p.Apps {
		if matchAppID(pat, appID) {
			return true
		}
	}
	return false
}

// matchAppID matches a Marathon app id against a pattern: path.Match, where "*" stays within one
// segment, plus a trailing "/**" that matches the segments before it and everything below them.
func matchAppID(pattern, appID string) bool {
	prefix, subtree := strings.CutSuffix(pattern, "/**")
	if !subtree {
		ok, _ := path.Match(pattern, appID)
		return ok
	}
	n := strings.Count(prefix, "/")
	cut := len(appID)
	for i, seen := 0, 0; i < len(appID); i++ {
		if appID[i] == '/' {
			if seen == n {
				cut = i
				break
			}
			seen++
		}
	}
	ok, _ := path.Match(prefix, appID[:cut])
	return ok
}
