package policy

import (
	"strconv"
	"strings"
	"time"
)

// The weekly windows of both policies, the autoscaler's scale-down windows (ScaleDownWindow) and the
// hibernation policy's keep-awake windows (AwakeWindow), are written and compiled here, so that
// operators learn one syntax and the two cannot drift apart:
//
//	days:     "mon-fri", "sat,sun", "mon,wed-fri" or "*" (every day, the default)
//	hours:    "22:00-06:00", or several ranges "01:00-05:00,13:00-14:00"; a range whose end is not after
//	          its start runs past midnight and belongs to the day it starts; "00:00-24:00" is all day
//	timezone: an IANA zone ("Europe/Berlin"); "UTC" by default

// openHours is a compiled weekly window.
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

// compileOpenHours checks a window's days, hours and timezone, adding every problem to errs under
// at+".days", at+".hours" and at+".timezone", and returns the window compiled.
func compileOpenHours(errs *Errors, at, days, hours, timezone string) openHours {
	return openHours{
		days:   compileDays(errs, at+".days", days),
		ranges: compileHours(errs, at+".hours", hours),
		loc:    compileZone(errs, at+".timezone", timezone),
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
		// "Local" would make the window depend on the machine the process happens to run on.
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
	open, _ := w.openUntil(t)
	return open
}

// openUntil reports whether t falls in the window and, if so, when the latest of its ranges that hold
// t ends: a keep-awake window needs the end to tell until when an app stays awake.
func (w openHours) openUntil(t time.Time) (bool, time.Time) {
	lt := t.In(w.loc)
	y, mo, d := lt.Date()
	day := lt.Weekday()
	yesterday := (day + 6) % 7
	m := lt.Hour()*60 + lt.Minute()
	open, end := false, t
	for _, r := range w.ranges {
		var until time.Time
		switch {
		case r.end > r.start && w.days[day] && m >= r.start && m < r.end:
			until = time.Date(y, mo, d, 0, r.end, 0, 0, w.loc)
		case r.end <= r.start && w.days[day] && m >= r.start:
			until = time.Date(y, mo, d+1, 0, r.end, 0, 0, w.loc)
		case r.end <= r.start && w.days[yesterday] && m < r.end:
			until = time.Date(y, mo, d, 0, r.end, 0, 0, w.loc)
		default:
			continue
		}
		if !open || until.After(end) {
			open, end = true, until
		}
	}
	return open, end
}
