package policy

import "testing"

func TestIDPatternFaults(t *testing.T) {
	cases := []struct {
		pattern string
		want    idPatternFaults
	}{
		{"/a/*", idPatternFaults{}},
		{"/a/**", idPatternFaults{}},
		{"a/b", idPatternFaults{relative: true}},
		{"", idPatternFaults{relative: true}},
		{"/**/x", idPatternFaults{innerSubtree: true}},
		{"/a/**b", idPatternFaults{innerSubtree: true}},
		{"/a/[b", idPatternFaults{malformed: true}},
		{"/x/**/[y", idPatternFaults{innerSubtree: true, malformed: true}},
	}
	for _, c := range cases {
		if got := idPatternFaultsOf(c.pattern); got != c.want {
			t.Errorf("idPatternFaultsOf(%q) = %+v, want %+v", c.pattern, got, c.want)
		}
	}
}

// Protection patterns accept "**" before the last segment, as they always have; never_sleep does not.
// Both reject what can never match.
func TestProtectionAndNeverSleepPatterns(t *testing.T) {
	cases := []struct {
		pattern                  string
		protectionOK, neverSleep bool
	}{
		{"/infra/**", true, true},
		{"/x/**/y", true, false},
		{"infra/*", false, false},
		{"/x/**/[y", false, false},
	}
	for _, c := range cases {
		var errs Errors
		ProtectionPolicy{Apps: []string{c.pattern}}.validate(&errs, "protection")
		if got := len(errs) == 0; got != c.protectionOK {
			t.Errorf("protection.apps %q accepted = %v, want %v (%v)", c.pattern, got, c.protectionOK, errs)
		}
		if got := checkIDPattern(c.pattern) == nil; got != c.neverSleep {
			t.Errorf("never_sleep %q accepted = %v, want %v", c.pattern, got, c.neverSleep)
		}
	}
}
