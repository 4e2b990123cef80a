package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseHibernationLabels(t *testing.T) {
	p := DefaultHibernationPolicy()
	at := time.Date(2026, 8, 21, 10, 15, 30, 0, time.UTC)
	cases := []struct {
		name   string
		labels map[string]string
		want   HibernationLabels
		bad    []string // labels named by the errors, in order
	}{
		{name: "no labels", labels: nil, want: HibernationLabels{}},
		{
			name:   "not opted in: tuning labels and hosts are not read",
			labels: map[string]string{LabelHibernate: "false", LabelHibernateIdle: "soon", "HAPROXY_0_VHOST": "*.example.com"},
			want:   HibernationLabels{},
		},
		{
			name:   "opted in with a marathon-lb vhost",
			labels: map[string]string{LabelHibernate: "true", "HAPROXY_0_VHOST": "Shop.Example.com"},
			want:   HibernationLabels{OptedIn: true, Hosts: []AppHost{{Name: "shop.example.com"}}},
		},
		{
			name: "everything",
			labels: map[string]string{
				LabelHibernate:            "true",
				LabelHibernateIdle:        "45m",
				LabelHibernateHoldTimeout: "90s",
				LabelHibernateGroup:       "shop",
				"HAPROXY_0_VHOST":         "shop.example.com, www.shop.example.com.",
				"HAPROXY_1_VHOST":         "admin.shop.example.com:8443",
				LabelHibernateHosts:       "shop.internal,admin.shop.example.com",
				"HAPROXY_GROUP":           "external",
				"HAPROXY_0_PATH":          "/",
			},
			want: HibernationLabels{
				OptedIn: true, Idle: 45 * time.Minute, HoldTimeout: 90 * time.Second, Group: "shop",
				Hosts: []AppHost{
					{Name: "admin.shop.example.com", PortIndex: 1},
					{Name: "shop.example.com"},
					{Name: "shop.internal"},
					{Name: "www.shop.example.com"},
				},
			},
		},
		{
			name:   "grouped app without hosts is allowed: the group wakes it",
			labels: map[string]string{LabelHibernate: "true", LabelHibernateGroup: "shop"},
			want:   HibernationLabels{OptedIn: true, Group: "shop", Hosts: []AppHost{}},
		},
		{
			name: "asleep",
			labels: map[string]string{LabelHibernate: "true", "HAPROXY_0_VHOST": "a.example.com",
				LabelHibernatedInstances: "3", LabelHibernatedAt: "2026-08-21T10:15:30Z"},
			want: HibernationLabels{OptedIn: true, Hosts: []AppHost{{Name: "a.example.com"}}, Asleep: &HibernatedState{Instances: 3, At: at}},
		},
		{
			name:   "asleep and opted out: the state is still read",
			labels: map[string]string{LabelHibernatedInstances: "1", LabelHibernatedAt: "2026-08-21T12:15:30+02:00"},
			want:   HibernationLabels{Asleep: &HibernatedState{Instances: 1, At: at}},
		},
		{name: "opt-in must be exact", labels: map[string]string{LabelHibernate: "True"}, bad: []string{LabelHibernate}},
		{name: "opt-in yes", labels: map[string]string{LabelHibernate: "yes"}, bad: []string{LabelHibernate}},
		{name: "no host, no group", labels: map[string]string{LabelHibernate: "true"}, bad: []string{LabelHibernate}},
		{
			name: "every bad label at once, sorted",
			labels: map[string]string{
				LabelHibernate: "true", LabelHibernateIdle: "1m", LabelHibernateHoldTimeout: "1h",
				LabelHibernateGroup: "-bad", "HAPROXY_0_VHOST": "ok.example.com,*.example.com", LabelHibernateHosts: "10.0.0.1",
				LabelHibernatedInstances: "0", LabelHibernatedAt: "yesterday",
			},
			bad: []string{"HAPROXY_0_VHOST", LabelHibernateGroup, LabelHibernateHoldTimeout, LabelHibernateHosts,
				LabelHibernateIdle, LabelHibernatedAt, LabelHibernatedInstances},
		},
		{name: "idle not a duration", labels: map[string]string{LabelHibernate: "true", LabelHibernateHosts: "a.b", LabelHibernateIdle: "30"}, bad: []string{LabelHibernateIdle}},
		{name: "hold timeout zero", labels: map[string]string{LabelHibernate: "true", LabelHibernateHosts: "a.b", LabelHibernateHoldTimeout: "0s"}, bad: []string{LabelHibernateHoldTimeout}},
		{name: "state half written", labels: map[string]string{LabelHibernatedInstances: "2"}, bad: []string{LabelHibernatedAt}},
		{name: "state other half", labels: map[string]string{LabelHibernatedAt: "2026-08-21T10:15:30Z"}, bad: []string{LabelHibernatedInstances}},
		{
			name:   "host under two port indexes",
			labels: map[string]string{LabelHibernate: "true", "HAPROXY_0_VHOST": "a.example.com", "HAPROXY_1_VHOST": "A.example.com"},
			bad:    []string{"HAPROXY_1_VHOST"},
		},
		{name: "empty item", labels: map[string]string{LabelHibernate: "true", LabelHibernateHosts: "a.example.com,,b.example.com"}, bad: []string{LabelHibernateHosts}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseHibernationLabels(c.labels, p)
			if c.bad == nil {
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("got %+v\nwant %+v", got, c.want)
				}
				return
			}
			var les LabelErrors
			if !errors.As(err, &les) {
				t.Fatalf("error %v is not LabelErrors", err)
			}
			var named []string
			for _, le := range les {
				named = append(named, le.Label)
				if le.Problem == "" {
					t.Errorf("%s: no problem stated", le.Label)
				}
			}
			if !reflect.DeepEqual(named, c.bad) {
				t.Errorf("errors name %v, want %v\n%v", named, c.bad, err)
			}
			var one *LabelError
			if !errors.As(err, &one) || one.Label != c.bad[0] {
				t.Errorf("errors.As(*LabelError) = %v", one)
			}
		})
	}
}

func TestLabelErrorMessages(t *testing.T) {
	p := DefaultHibernationPolicy()
	_, err := ParseHibernationLabels(map[string]string{LabelHibernate: "true", LabelHibernateHosts: "a.example.com", LabelHibernateIdle: "1m"}, p)
	want := `label marmot.hibernate.idle="1m": is out of range: a duration such as "45m" of at least 5m0s (policy bounds)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestNormalizeHost(t *testing.T) {
	good := map[string]string{
		"example.com":                    "example.com",
		"Shop.Example.COM":               "shop.example.com",
		"shop.example.com.":              "shop.example.com",
		"shop.example.com:443":           "shop.example.com",
		"web":                            "web",
		"a-b.c-d.e":                      "a-b.c-d.e",
		"xn--bcher-kva.example":          "xn--bcher-kva.example",
		"1password.com":                  "1password.com",
		strings.Repeat("a", 63) + ".com": strings.Repeat("a", 63) + ".com",
	}
	for in, want := range good {
		got, err := NormalizeHost(in)
		if err != nil || got != want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", ".", "..", "a..b", "-a.com", "a-.com", "a_b.com", "*.example.com", "10.0.0.1", "10.0.0.1:80",
		"[::1]", "[::1]:80", "::1", "1.2.3", "example.com:", "example.com:0", "example.com:65536",
		"example.com:+80", "example.com:080", "example.com:80:80", "bücher.example", "a b.com", "a/b.com",
		strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 127) + "ab",
	}
	for _, in := range bad {
		if got, err := NormalizeHost(in); err == nil {
			t.Errorf("NormalizeHost(%q) = %q, want an error", in, got)
		}
	}
}

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"example.com", "Shop.Example.com.:8443", "10.0.0.1", "[::1]:80", "*.x", "a..b", "xn--d1acufc.xn--p1ai", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := NormalizeHost(s)
		if err != nil {
			return
		}
		// What the host map holds is canonical: normalising again changes nothing.
		if again, err := NormalizeHost(h); err != nil || again != h {
			t.Fatalf("NormalizeHost(%q) = %q, but NormalizeHost(%q) = %q, %v", s, h, h, again, err)
		}
		if len(h) == 0 || len(h) > 253 || strings.ToLower(h) != h || strings.ContainsAny(h, ":*[]/ _") {
			t.Fatalf("NormalizeHost(%q) = %q is not a lowercase RFC 1123 name", s, h)
		}
	})
}

func FuzzParseHibernationLabels(f *testing.F) {
	f.Add("true", "45m", "90s", "shop", "shop.example.com,www.shop.example.com", "", "", "")
	f.Add("true", "", "", "", "", "a.example.com:80", "3", "2026-08-21T10:15:30Z")
	f.Add("false", "x", "y", "-", "*", "10.0.0.1", "0", "now")
	f.Add("yes", "1m", "1h", "g", "a..b", ",", "-1", "2026-13-01T00:00:00Z")
	p := DefaultHibernationPolicy()
	f.Fuzz(func(t *testing.T, optIn, idle, hold, group, vhost, hosts, instances, at string) {
		labels := map[string]string{}
		for k, v := range map[string]string{
			LabelHibernate: optIn, LabelHibernateIdle: idle, LabelHibernateHoldTimeout: hold, LabelHibernateGroup: group,
			"HAPROXY_0_VHOST": vhost, LabelHibernateHosts: hosts, LabelHibernatedInstances: instances, LabelHibernatedAt: at,
		} {
			if v != "" {
				labels[k] = v
			}
		}
		l, err := ParseHibernationLabels(labels, p)
		if err != nil {
			var les LabelErrors
			if !errors.As(err, &les) || len(les) == 0 {
				t.Fatalf("error %v is not LabelErrors", err)
			}
			for _, le := range les {
				if !strings.HasPrefix(le.Label, "marmot.") && !vhostLabelRe.MatchString(le.Label) {
					t.Fatalf("error names no hibernation label: %v", le)
				}
			}
			return
		}
		if l.OptedIn && len(l.Hosts) == 0 && l.Group == "" {
			t.Fatal("an opted-in app without a host or a group was accepted")
		}
		if l.OptedIn && l.Idle != 0 && l.Idle < p.Idle.Minimum.D {
			t.Fatalf("idle %s below the policy minimum", l.Idle)
		}
		for _, h := range l.Hosts {
			if n, err := NormalizeHost(h.Name); err != nil || n != h.Name {
				t.Fatalf("host %q is not normalised", h.Name)
			}
		}
		if l.Asleep != nil && l.Asleep.Instances < 1 {
			t.Fatalf("asleep with %d instances", l.Asleep.Instances)
		}
	})
}
