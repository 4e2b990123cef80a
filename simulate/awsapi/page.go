package awsapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// tokenError is a NextToken this server did not hand out (or whose item is gone). Auto Scaling
// answers InvalidNextToken, EC2 InvalidPaginationToken.
type tokenError struct{ token string }

func (e *tokenError) Error() string { return "invalid pagination token " + e.token }

// pageOf returns one page of items, which the caller has put in their stable order: at most max of
// them, starting with the item whose key the token names (the first when the token is empty), and the
// token for the rest ("" on the last page). A token names an item rather than an offset so that items
// added or removed between two calls (the model keeps moving) neither repeat nor skip the others.
func pageOf[T any](items []T, key func(T) string, token string, max int) ([]T, string, error) {
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", &tokenError{token}
		}
		start = -1
		for i, it := range items {
			if key(it) == string(raw) {
				start = i
				break
			}
		}
		if start < 0 {
			return nil, "", &tokenError{token}
		}
	}
	end := min(start+max, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end])))
	}
	return items[start:end], next, nil
}

// derivedID makes a stable AWS-looking id (prefix + 17 hex digits, as EC2 ids are) for a resource the
// model does not name itself: reservations, volumes, subnets, security groups, launch templates.
func derivedID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(prefix + seed))
	return prefix + hex.EncodeToString(sum[:])[:17]
}

// globMatch matches an EC2 filter value, where * matches any run of characters and ? any one
// character (greedy matching with backtracking to the last star, linear in practice).
func globMatch(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case star >= 0:
			mark++
			pi, ti = star+1, mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
