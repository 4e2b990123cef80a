package policy

import (
	"errors"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Marathon app labels of hibernation (DESIGN.md, "Names on the outside").
const (
	// LabelHibernate opts an app in: "true" or "false".
	LabelHibernate = "marmot.hibernate"
	// LabelHibernateIdle overrides the policy's default idle period, e.g. "2h".
	LabelHibernateIdle = "marmot.hibernate.idle"
	// LabelHibernateHoldTimeout is how long the activator holds a request while the app wakes, e.g. "90s".
	LabelHibernateHoldTimeout = "marmot.hibernate.hold-timeout"
	// LabelHibernateGroup names apps that sleep and wake together.
	LabelHibernateGroup = "marmot.hibernate.group"
	// LabelHibernateHosts lists host names for load balancers that do not read HAPROXY_{n}_VHOST.
	LabelHibernateHosts = "marmot.hibernate.hosts"
	// LabelHibernatedInstances is written by the hibernator: the instance count to restore on wake.
	LabelHibernatedInstances = "marmot.hibernated.instances"
	// LabelHibernatedAt is written by the hibernator: when the app was put to sleep (RFC 3339).
	LabelHibernatedAt = "marmot.hibernated.at"
)

// HibernationLabels is what a Marathon app's labels say about its hibernation.
type HibernationLabels struct {
	// OptedIn is true when marmot.hibernate is "true". The tuning labels and host names of an app that
	// has not opted in are not read, so they cannot make it fail to parse.
	OptedIn bool `json:"opted_in"`
	// Idle is the app's own idle period; 0 means the policy default (see IdleFor).
	Idle time.Duration `json:"idle,omitempty"`
	// HoldTimeout is the app's own hold timeout; 0 means the policy default (see HoldTimeoutFor).
	HoldTimeout time.Duration `json:"hold_timeout,omitempty"`
	Group       string        `json:"group,omitempty"`
	// Hosts are the normalised host names the activator answers for, sorted by name.
	Hosts []AppHost `json:"hosts,omitempty"`
	// Asleep is the state the hibernator wrote when it put the app to sleep; nil when the state labels
	// are absent. It is read whether or not the app is opted in, so that an app that opts out while
	// asleep can still be woken.
	Asleep *HibernatedState `json:"asleep,omitempty"`
}

// AppHost is a host name and the index of the app's port that serves it (the n of HAPROXY_{n}_VHOST;
// 0 for names from marmot.hibernate.hosts that no VHOST label gives).
type AppHost struct {
	Name      string `json:"name"`
	PortIndex int    `json:"port_index"`
}

// HibernatedState is the state of a sleeping app, kept in its labels so that the hibernator itself keeps
// nothing.
type HibernatedState struct {
	Instances int       `json:"instances"`
	At        time.Time `json:"at"`
}

// IdleFor returns the app's idle period under p.
func (l HibernationLabels) IdleFor(p *HibernationPolicy) time.Duration {
	if l.Idle > 0 {
		return l.Idle
	}
	return p.Idle.Default.D
}

// HoldTimeoutFor returns how long the activator holds the app's requests under p.
func (l HibernationLabels) HoldTimeoutFor(p *HibernationPolicy) time.Duration {
	if l.HoldTimeout > 0 {
		return l.HoldTimeout
	}
	return p.Hold.Timeout.D
}

// LabelError is one malformed hibernation label: which, its value, and what is allowed.
type LabelError struct {
	Label   string
	Value   string
	Problem string
}

func (e *LabelError) Error() string {
	return "label " + e.Label + "=" + quote(e.Value) + ": " + e.Problem
}

// LabelErrors is every malformed hibernation label of one app, sorted by label. errors.As finds each
// *LabelError in it.
type LabelErrors []*LabelError

func (e LabelErrors) Error() string {
	s := make([]string, len(e))
	for i, le := range e {
		s[i] = le.Error()
	}
	return strings.Join(s, "; ")
}

// Unwrap lets errors.As and errors.Is see each LabelError.
func (e LabelErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, le := range e {
		out[i] = le
	}
	return out
}

func (e *LabelErrors) add(label, value, problem string) {
	*e = append(*e, &LabelError{Label: label, Value: value, Problem: problem})
}

var (
	vhostLabelRe = regexp.MustCompile(`^HAPROXY_([0-9]{1,3})_VHOST$`)
	groupRe      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
)

// ParseHibernationLabels reads an app's hibernation settings from its Marathon labels under policy p.
// On any malformed label it returns LabelErrors naming every bad label and what is allowed; the caller
// skips the app with that reason (PlanHibernation does so itself).
func ParseHibernationLabels(labels map[string]string, p *HibernationPolicy) (HibernationLabels, error) {
	var l HibernationLabels
	var errs LabelErrors
	l.Asleep = parseHibernatedState(labels, &errs)

	switch v, ok := labels[LabelHibernate]; {
	case !ok || v == "false":
	case v == "true":
		l.OptedIn = true
	default:
		errs.add(LabelHibernate, v, `must be "true" or "false"`)
	}
	if l.OptedIn {
		l.Idle = parseLabelDuration(labels, LabelHibernateIdle, p.Idle.Minimum.D, 0, &errs)
		l.HoldTimeout = parseLabelDuration(labels, LabelHibernateHoldTimeout, time.Nanosecond, p.Hold.MaxTimeout.D, &errs)
		if g, ok := labels[LabelHibernateGroup]; ok {
			if !groupRe.MatchString(g) {
				errs.add(LabelHibernateGroup, g, "must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit")
			}
			l.Group = g
		}
		l.Hosts = parseHosts(labels, &errs)
		if len(l.Hosts) == 0 && l.Group == "" {
			// An app with no host cannot be woken by a request; only its group could wake it.
			errs.add(LabelHibernate, "true", "the app has no host name to be woken by: set HAPROXY_{n}_VHOST or "+
				LabelHibernateHosts+", or put it in a "+LabelHibernateGroup+" with an app that has one")
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *LabelError) int { return strings.Compare(a.Label, b.Label) })
		return l, errs
	}
	return l, nil
}

func parseHibernatedState(labels map[string]string, errs *LabelErrors) *HibernatedState {
	n, hasN := labels[LabelHibernatedInstances]
	at, hasAt := labels[LabelHibernatedAt]
	if !hasN && !hasAt {
		return nil
	}
	// The hibernator writes both in one PUT; one without the other was edited by hand.
	if !hasN {
		errs.add(LabelHibernatedInstances, "", "is missing while "+LabelHibernatedAt+" is set: the hibernator writes both, or neither")
		return nil
	}
	if !hasAt {
		errs.add(LabelHibernatedAt, "", "is missing while "+LabelHibernatedInstances+" is set: the hibernator writes both, or neither")
		return nil
	}
	var s HibernatedState
	var err error
	bad := false
	if s.Instances, err = strconv.Atoi(n); err != nil || s.Instances < 1 {
		errs.add(LabelHibernatedInstances, n, "must be a whole number of at least 1 (the instances to restore)")
		bad = true
	}
	if s.At, err = time.Parse(time.RFC3339, at); err != nil {
		errs.add(LabelHibernatedAt, at, `must be an RFC 3339 time, e.g. "2026-08-21T10:15:30Z"`)
		bad = true
	}
	if bad {
		return nil
	}
	s.At = s.At.UTC()
	return &s
}

// parseLabelDuration reads a duration label that must lie in [lo, hi] (hi 0: no upper bound); 0 if absent.
func parseLabelDuration(labels map[string]string, label string, lo, hi time.Duration, errs *LabelErrors) time.Duration {
	v, ok := labels[label]
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(v)
	allowed := "a duration such as \"45m\""
	if lo > time.Nanosecond {
		allowed += " of at least " + lo.String()
	} else {
		allowed = "a positive duration such as \"90s\""
	}
	if hi > 0 {
		allowed += " and at most " + hi.String()
	}
	switch {
	case err != nil:
		errs.add(label, v, "is not a duration: "+allowed)
	case d < lo || (hi > 0 && d > hi):
		errs.add(label, v, "is out of range: "+allowed+" (policy bounds)")
	default:
		return d
	}
	return 0
}

// parseHosts collects the host names of HAPROXY_{n}_VHOST and marmot.hibernate.hosts. A name in both
// keeps the port index of its VHOST label; a name under two port indexes is ambiguous and an error.
func parseHosts(labels map[string]string, errs *LabelErrors) []AppHost {
	index := map[string]int{}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		m := vhostLabelRe.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		for _, h := range parseHostList(k, labels[k], errs) {
			if prev, ok := index[h]; ok && prev != n {
				errs.add(k, labels[k], "host "+h+" is also served by port index "+strconv.Itoa(prev)+": a host must map to one port")
				continue
			}
			index[h] = n
		}
	}
	if v, ok := labels[LabelHibernateHosts]; ok {
		for _, h := range parseHostList(LabelHibernateHosts, v, errs) {
			if _, ok := index[h]; !ok {
				index[h] = 0
			}
		}
	}
	hosts := make([]AppHost, 0, len(index))
	for h, n := range index {
		hosts = append(hosts, AppHost{Name: h, PortIndex: n})
	}
	slices.SortFunc(hosts, func(a, b AppHost) int { return strings.Compare(a.Name, b.Name) })
	return hosts
}

func parseHostList(label, v string, errs *LabelErrors) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		h, err := NormalizeHost(strings.TrimSpace(item))
		if err != nil {
			errs.add(label, v, err.Error())
			continue
		}
		out = append(out, h)
	}
	return out
}

// NormalizeHost turns a host name from a label or a Host header into the form the activator's host map
// uses: lowercased, without a trailing dot or a ":port". It accepts only RFC 1123 host names: letters,
// digits and '-' in dot-separated labels of 1 to 63 characters, 253 in all, no IP addresses, no
// wildcards, and a last label that is not all digits. The map decides where requests go, so anything
// else is refused rather than guessed at.
func NormalizeHost(s string) (string, error) {
	const allowed = "allowed: an RFC 1123 host name such as \"shop.example.com\" (letters, digits, '-', dots), optionally with :port"
	if s == "" {
		return "", errors.New("empty host name; " + allowed)
	}
	if strings.HasPrefix(s, "[") {
		return "", errors.New(quote(s) + " is an IP address; " + allowed)
	}
	if host, port, ok := strings.Cut(s, ":"); ok {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || port[0] == '+' || port[0] == '0' {
			return "", errors.New(quote(s) + " has a bad port: 1 to 65535; " + allowed)
		}
		s = host
	}
	s = strings.TrimSuffix(s, ".")
	if _, err := netip.ParseAddr(s); err == nil {
		return "", errors.New(quote(s) + " is an IP address; " + allowed)
	}
	if len(s) == 0 || len(s) > 253 {
		return "", errors.New(quote(s) + " is not 1 to 253 characters long; " + allowed)
	}
	if strings.Contains(s, "*") {
		return "", errors.New(quote(s) + " is a wildcard; wildcards are not supported; " + allowed)
	}
	b := []byte(s)
	labelStart, allDigits := 0, true
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if n := i - labelStart; n < 1 || n > 63 || b[labelStart] == '-' || b[i-1] == '-' {
				return "", errors.New(quote(s) + " has an empty label, one over 63 characters, or one that starts or ends with '-'; " + allowed)
			}
			if i < len(b) {
				labelStart, allDigits = i+1, true
			}
			continue
		}
		c := b[i]
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + ('a' - 'A')
			allDigits = false
		case 'a' <= c && c <= 'z', c == '-':
			allDigits = false
		case '0' <= c && c <= '9':
		default:
			return "", errors.New(quote(s) + " contains " + quote(string(rune(c))) + "; " + allowed)
		}
	}
	if allDigits {
		return "", errors.New(quote(s) + " ends in an all-digit label; " + allowed)
	}
	return string(b), nil
}
