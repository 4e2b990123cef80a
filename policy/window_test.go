package policy

import (
	"testing"
	"time"
)

func TestOpenHoursOpenUntil(t *testing.T) {
	var errs Errors
	w := compileOpenHours(&errs, "w", "fri", "08:00-12:00,10:00-14:00,22:00-02:00,23:00-24:00", "UTC")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		at, until string // until "" means closed
	}{
		// 2026-08-21 is a Friday.
		{"2026-08-21 07:59", ""},
		{"2026-08-21 09:00", "2026-08-21 12:00"},
		{"2026-08-21 11:00", "2026-08-21 14:00"}, // the latest end of the ranges that hold t
		{"2026-08-21 14:00", ""},
		{"2026-08-21 23:30", "2026-08-22 02:00"}, // 24:00 ends at midnight, before the overnight range
		{"2026-08-22 01:59", "2026-08-22 02:00"}, // Friday's range, on Saturday
		{"2026-08-22 09:00", ""},                 // Saturday's own ranges: not a window day
		{"2026-08-21 01:00", ""},                 // Thursday's overnight range: not a window day
	}
	for _, c := range cases {
		open, until := w.openUntil(at(c.at))
		if open != (c.until != "") || open && !until.Equal(at(c.until)) {
			t.Errorf("openUntil(%s) = %v, %s; want until %q", c.at, open, until, c.until)
		}
		if w.open(at(c.at)) != open {
			t.Errorf("open(%s) disagrees with openUntil", c.at)
		}
	}
}
