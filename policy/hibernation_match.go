package policy

import (
	"errors"
	"path"
	"strconv"
	"strings"
)

// The hibernation policy's app id and request path patterns are those of the autoscaler's protection
// patterns (matchAppID), so that operators learn one syntax: "*" matches within one path segment and a
// trailing "/**" matches a whole subtree, its root included.

// checkIDPattern reports whether s is a pattern matchAppID can use; a pattern that cannot match would
// silently leave an app unprotected (never_sleep) or a health check counted (ignore_paths).
func checkIDPattern(s string) error {
	if !strings.HasPrefix(s, "/") {
		return errors.New(quote(s) + " must start with \"/\", e.g. \"/team/*\" or \"/infra/**\"")
	}
	prefix, _ := strings.CutSuffix(s, "/**")
	if strings.Contains(prefix, "**") {
		return errors.New(quote(s) + ": \"**\" is allowed only as the last segment, e.g. \"/team/**\"")
	}
	if _, err := path.Match(prefix, ""); err != nil {
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

func matchAnyID(patterns []string, s string) bool {
	for _, p := range patterns {
		if matchAppID(p, s) {
			return true
		}
	}
	return false
}

// agentGlob matches a User-Agent case-insensitively; "*" matches any run of characters, slashes
// included ("kube-probe/*", "*UptimeRobot*").
type agentGlob []byte

func newAgentGlob(s string) (agentGlob, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("must not be empty; use \"*\" wildcards, e.g. \"*UptimeRobot*\"")
	}
	return agentGlob(strings.ToLower(s)), nil
}

// match backtracks only to the last star, which is enough for stars that match anything and keeps the
// worst case at len(pattern)*len(ua): user agents come from the outside.
func (g agentGlob) match(ua string) bool {
	s := strings.ToLower(ua)
	pi, si := 0, 0
	star, starSi := -1, 0
	for si < len(s) {
		switch {
		case pi < len(g) && g[pi] == '*':
			star, starSi = pi, si
			pi++
		case pi < len(g) && g[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			starSi++
			pi, si = star+1, starSi
		default:
			return false
		}
	}
	for pi < len(g) && g[pi] == '*' {
		pi++
	}
	return pi == len(g)
}

// quote renders a user's value in an error message, shortened.
func quote(s string) string {
	const maxShown = 80
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	return strconv.Quote(s)
}
