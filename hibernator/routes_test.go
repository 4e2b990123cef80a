package hibernator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/policy"
)

func TestBuildRoutes(t *testing.T) {
	p := policy.DefaultHibernationPolicy()
	apps := []App{
		{ID: "/shop/web", Labels: map[string]string{
			policy.LabelHibernate: "true", policy.LabelHibernateGroup: "shop", policy.LabelHibernateHoldTimeout: "90s",
			"HAPROXY_0_VHOST": "Shop.Example.com, www.shop.example.com.", policy.LabelHibernateHosts: "shop.internal:8080",
		}},
		{ID: "/shop/api", Labels: map[string]string{policy.LabelHibernate: "true", policy.LabelHibernateGroup: "shop"}},
		{ID: "/web/docs", Labels: docsLabels()},
		{ID: "/web/clash", Labels: map[string]string{policy.LabelHibernate: "true", "HAPROXY_0_VHOST": "docs.example.com,clash.example.com"}},
		{ID: "/web/optout", Labels: map[string]string{policy.LabelHibernate: "false", "HAPROXY_0_VHOST": "optout.example.com"}},
		{ID: "/web/bad", Labels: map[string]string{policy.LabelHibernate: "true", "HAPROXY_0_VHOST": "bad.example.com", policy.LabelHibernateIdle: "1s"}},
		{ID: "/web/plain", Labels: map[string]string{"HAPROXY_0_VHOST": "plain.example.com"}},
	}
	routes, conflicts := BuildRoutes(apps, p)
	want := map[string]Route{
		"shop.example.com":     {App: "/shop/web", Wake: []string{"/shop/api", "/shop/web"}, HoldTimeout: 90 * time.Second},
		"www.shop.example.com": {App: "/shop/web", Wake: []string{"/shop/api", "/shop/web"}, HoldTimeout: 90 * time.Second},
		"shop.internal":        {App: "/shop/web", Wake: []string{"/shop/api", "/shop/web"}, HoldTimeout: 90 * time.Second},
		"clash.example.com":    {App: "/web/clash", Wake: []string{"/web/clash"}, HoldTimeout: policy.DefaultHoldTimeout},
	}
	if len(routes) != len(want) {
		t.Fatalf("routes %v\nwant %v", routes, want)
	}
	for h, w := range want {
		if r := routes[h]; r.App != w.App || !slices.Equal(r.Wake, w.Wake) || r.HoldTimeout != w.HoldTimeout {
			t.Errorf("%s: %+v, want %+v", h, r, w)
		}
	}
	if len(conflicts) != 1 || conflicts[0].Host != "docs.example.com" || strings.Join(conflicts[0].Apps, " ") != "/web/clash /web/docs" {
		t.Fatalf("conflicts %+v", conflicts)
	}
}

func TestBackendPortsFollowMarathonLBNames(t *testing.T) {
	snap := TrafficSnapshot{Sources: []SourceStatus{
		{Name: "lb-1", Report: TrafficReport{Backends: map[string]TrafficSeen{
			"web_docs_10001": {}, "web_docs_10002": {}, "web_docs_api_10003": {}, "web_docs_010004": {}, "web_docs_": {},
		}}},
		{Name: "lb-2", Report: TrafficReport{Backends: map[string]TrafficSeen{"web_docs_10001": {}, "web_docs_99999": {}}}},
	}}
	if got := backendPorts("/web/docs", snap); !slices.Equal(got, []int{10001, 10002}) {
		t.Fatalf("ports %v", got)
	}
}

// FuzzBuildRoutes: whatever two apps' labels say, the host map only holds normalised host names of
// opted-in apps whose labels parse, each route wakes its own app, and a contested host has no route.
func FuzzBuildRoutes(f *testing.F) {
	f.Add("true", "docs.example.com", "", "", "90s", "true", "docs.example.com,b.example.com", "g", "b.example.com")
	f.Add("true", "A.example.com.", "x", "a.example.com:80", "", "false", "c.example.com", "x", "")
	f.Add("yes", "*.example.com", "-bad", "127.0.0.1", "0s", "true", "", "", "")
	f.Fuzz(func(t *testing.T, hibA, vhostA, groupA, hostsA, holdA, hibB, vhostB, groupB, hostsB string) {
		p := policy.DefaultHibernationPolicy()
		mk := func(id, hib, vhost, group, hosts, hold string) App {
			l := map[string]string{policy.LabelHibernate: hib, "HAPROXY_0_VHOST": vhost, policy.LabelHibernateHosts: hosts}
			if group != "" {
				l[policy.LabelHibernateGroup] = group
			}
			if hold != "" {
				l[policy.LabelHibernateHoldTimeout] = hold
			}
			return App{ID: id, Labels: l}
		}
		apps := []App{mk("/a", hibA, vhostA, groupA, hostsA, holdA), mk("/b", hibB, vhostB, groupB, hostsB, "")}
		routes, conflicts := BuildRoutes(apps, p)
		for h, r := range routes {
			if n, err := policy.NormalizeHost(h); err != nil || n != h {
				t.Fatalf("host %q is not normalised (%q, %v)", h, n, err)
			}
			i := slices.IndexFunc(apps, func(a App) bool { return a.ID == r.App })
			if i < 0 {
				t.Fatalf("route to unknown app %q", r.App)
			}
			l, err := policy.ParseHibernationLabels(apps[i].Labels, p)
			if err != nil || !l.OptedIn {
				t.Fatalf("route %q to %s, whose labels do not opt in cleanly (%v)", h, r.App, err)
			}
			if !slices.ContainsFunc(l.Hosts, func(ah policy.AppHost) bool { return ah.Name == h }) {
				t.Fatalf("route %q to %s, which does not name it", h, r.App)
			}
			if !slices.Contains(r.Wake, r.App) || r.HoldTimeout <= 0 {
				t.Fatalf("route %q: %+v", h, r)
			}
		}
		for _, c := range conflicts {
			if _, ok := routes[c.Host]; ok || len(c.Apps) < 2 {
				t.Fatalf("conflict %+v still routed", c)
			}
		}
	})
}

// FuzzServicePortOf: a port read back from a backend name gives that name again.
func FuzzServicePortOf(f *testing.F) {
	f.Add("/web/docs", "web_docs_10001")
	f.Add("/a/b", "a_b_0")
	f.Add("/a_b", "a_b_65536")
	f.Fuzz(func(t *testing.T, appID, backend string) {
		prefix := strings.TrimSuffix(MarathonLBBackend(appID, 0), "0")
		if port, ok := servicePortOf(backend, prefix); ok {
			if port < 1 || port > 65535 || MarathonLBBackend(appID, port) != backend {
				t.Fatalf("%q read as port %d of %s", backend, port, appID)
			}
		}
	})
}
