package autoscaler

import (
	"regexp"
	"slices"
	"strings"
)

// PoolAttribute is the Mesos agent attribute that names an agent's pool, and DefaultPool the pool of
// an agent without it (DESIGN.md, "Names on the outside").
const (
	PoolAttribute = "pool"
	DefaultPool   = "default"
)

// poolOfWaiting decides which managed pool a waiting app's instances would land in, or "" for none.
// The rule, in order:
//
//  1. Constraints on the pool attribute decide: CLUSTER and IS name the pool, LIKE and UNLIKE match
//     pool names (as whole-value regular expressions, as Marathon does). A constraint that only
//     unmanaged pools satisfy puts the app in none of ours.
//  2. Otherwise (or when the constraints leave several pools) the pool that runs most of the app's
//     tasks, ties going to the pool listed first in the policy: more instances of an app usually
//     land where the others are, and constraints on other attributes (rack, zone) hold there.
//  3. Otherwise the default pool, when the policy manages it: the agents without a pool attribute.
//  4. Otherwise, when the constraints left exactly one pool, that one.
//
// An app whose instances could land in any pool but runs nowhere yet, with no default pool managed,
// counts for no pool: growing an arbitrary pool for it would be a guess.
func poolOfWaiting(w Waiting, managed []string, running map[string]int) string {
	allowed := slices.Clone(managed)
	constrained := false
	for _, c := range w.Constraints {
		if len(c) < 2 || c[0] != PoolAttribute {
			continue
		}
		value := ""
		if len(c) > 2 {
			value = c[2]
		}
		keep := func(string) bool { return true }
		switch strings.ToUpper(c[1]) {
		case "CLUSTER", "IS":
			if value == "" {
				continue // CLUSTER without a value follows the app's first task: rule 2
			}
			keep = func(p string) bool { return p == value }
		case "LIKE", "UNLIKE":
			re, err := regexp.Compile("^(?:" + value + ")$")
			if err != nil {
				continue // Marathon refuses such an app; nothing to learn from it
			}
			like := strings.EqualFold(c[1], "LIKE")
			keep = func(p string) bool { return re.MatchString(p) == like }
		default:
			continue
		}
		constrained = true
		allowed = slices.DeleteFunc(allowed, func(p string) bool { return !keep(p) })
	}
	best, bestN := "", 0
	for _, p := range allowed {
		if n := running[p]; n > bestN {
			best, bestN = p, n
		}
	}
	switch {
	case best != "":
		return best
	case slices.Contains(allowed, DefaultPool):
		return DefaultPool
	case constrained && len(allowed) == 1:
		return allowed[0]
	}
	return ""
}
