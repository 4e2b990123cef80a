package hibernator

import (
	"maps"
	"slices"
	"strings"

	"github.com/marmot-project/marmot/policy"
)

// The activator's host map is built from Marathon labels alone, and only from apps that opted in with
// labels that parse: the map decides where requests go, so an app whose labels cannot be read gets no
// route (its hosts answer 404, and /status says why) rather than a guessed one.

// HostConflict is a host name that more than one opted-in app claims. Such a host gets no route: sending
// its requests to either app could be wrong, and waking both would be worse.
type HostConflict struct {
	Host string   `json:"host"`
	Apps []string `json:"apps"`
}

// BuildRoutes maps every host name of the opted-in apps to its app. Each route wakes the app's whole
// marmot.hibernate.group (the opted-in members whose labels parse, the app included) and holds requests
// for the app's hold timeout under p.
func BuildRoutes(apps []App, p *policy.HibernationPolicy) (map[string]Route, []HostConflict) {
	type member struct {
		id     string
		labels policy.HibernationLabels
	}
	var members []member
	groups := map[string][]string{}
	for _, a := range apps {
		l, err := policy.ParseHibernationLabels(a.Labels, p)
		if err != nil || !l.OptedIn {
			continue
		}
		members = append(members, member{a.ID, l})
		if l.Group != "" {
			groups[l.Group] = append(groups[l.Group], a.ID)
		}
	}
	for _, ids := range groups {
		slices.Sort(ids)
	}

	claims := map[string][]string{}
	routes := map[string]Route{}
	for _, m := range members {
		wake := []string{m.id}
		if m.labels.Group != "" {
			wake = slices.Clone(groups[m.labels.Group])
		}
		for _, h := range m.labels.Hosts {
			claims[h.Name] = append(claims[h.Name], m.id)
			routes[h.Name] = Route{App: m.id, Wake: wake, HoldTimeout: m.labels.HoldTimeoutFor(p)}
		}
	}
	var conflicts []HostConflict
	for _, h := range slices.Sorted(maps.Keys(claims)) {
		if ids := claims[h]; len(ids) > 1 {
			slices.Sort(ids)
			conflicts = append(conflicts, HostConflict{Host: h, Apps: ids})
			delete(routes, h)
		}
	}
	return routes, conflicts
}

// routedHosts lists the hosts that route to app, sorted.
func routedHosts(routes map[string]Route, app string) []string {
	var hosts []string
	for h, r := range routes {
		if r.App == app {
			hosts = append(hosts, h)
		}
	}
	slices.Sort(hosts)
	return hosts
}

// backendPorts returns the service ports of the HAProxy backends a snapshot names after appID, the way
// marathon-lb names them (MarathonLBBackend): the app's name, "_", and a port. marathon-lb takes the
// service port from the app's portDefinitions or its HAPROXY_{n}_PORT label; reading it back from the
// backend names covers both without knowing either. Names are only ever matched against one app's
// prefix, never parsed into app ids, so the ambiguity MarathonLBBackend notes can only add traffic to
// an app, never take it away.
func backendPorts(appID string, snap TrafficSnapshot) []int {
	prefix := MarathonLBBackend(appID, 0)
	prefix = prefix[:len(prefix)-1] // "web_docs_"
	var ports []int
	for _, src := range snap.Sources {
		for name := range src.Report.Backends {
			if p, ok := servicePortOf(name, prefix); ok && !slices.Contains(ports, p) {
				ports = append(ports, p)
			}
		}
	}
	slices.Sort(ports)
	return ports
}

// servicePortOf returns the port of a backend named prefix + port, if that is its form.
func servicePortOf(backend, prefix string) (int, bool) {
	digits, ok := strings.CutPrefix(backend, prefix)
	if !ok || len(digits) == 0 || len(digits) > 5 || digits[0] == '0' {
		return 0, false
	}
	port := 0
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false
		}
		port = port*10 + int(c-'0')
	}
	if port > 65535 {
		return 0, false
	}
	return port, true
}
