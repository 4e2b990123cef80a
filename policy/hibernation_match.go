package policy

import (
	"errors"
	"strconv"
	"strings"
)

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
