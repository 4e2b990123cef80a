package policy

import (
	"errors"
	"path"
	"strconv"
	"strings"
)

// App id patterns are one syntax for both policies, so that operators learn it once: the autoscaler's
// protection.apps, and the hibernation policy's never_sleep, keep_awake apps and ignore_paths (which
// match request paths the same way). "*" matches within one path segment (path.Match) and a trailing
// "/**" matches a whole subtree, its root included.

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

func matchAnyID(patterns []string, s string) bool {
	for _, p := range patterns {
		if matchAppID(p, s) {
			return true
		}
	}
	return false
}

// idPatternFaults is what is wrong with an app id pattern; the zero value is a pattern matchAppID can
// use. Each policy words its own error from it (their messages are part of the API).
type idPatternFaults struct {
	relative     bool // does not start with "/", so it can never match an app id
	innerSubtree bool // "**" before the last segment, where path.Match reads it as a plain "*"
	malformed    bool // path.Match rejects it: an unbalanced "[" or a trailing "\"
}

func idPatternFaultsOf(s string) idPatternFaults {
	prefix, _ := strings.CutSuffix(s, "/**")
	_, err := path.Match(prefix, "")
	return idPatternFaults{
		relative:     !strings.HasPrefix(s, "/"),
		innerSubtree: strings.Contains(prefix, "**"),
		malformed:    err != nil,
	}
}

// checkIDPattern reports whether s is a pattern the hibernation policy accepts; a pattern that cannot
// match would silently leave an app unprotected (never_sleep) or a health check counted (ignore_paths).
func checkIDPattern(s string) error {
	switch f := idPatternFaultsOf(s); {
	case f.relative:
		return errors.New(quote(s) + " must start with \"/\", e.g. \"/team/*\" or \"/infra/**\"")
	case f.innerSubtree:
		return errors.New(quote(s) + ": \"**\" is allowed only as the last segment, e.g. \"/team/**\"")
	case f.malformed:
		return errors.New(quote(s) + " is not a valid pattern: unbalanced \"[\" or trailing \"\\\"")
	}
	return nil
}

func checkIDPatterns(errs *Errors, field string, patterns []string) {
	for i, s := range patterns {
		if err := checkIDPattern(s); err != nil {
			errs.Addf(field+"["+strconv.Itoa(i)+"]", "%v", err)
		}
	}
}
