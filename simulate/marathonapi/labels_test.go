package marathonapi

import (
	"reflect"
	"testing"
)

func TestParseSelector(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want selector
	}{
		{"", nil},
		{"partition", selector{{key: "partition"}}},
		{"test == foo", selector{{key: "test", op: "==", values: []string{"foo"}}}},
		{"test!=foo", selector{{key: "test", op: "!=", values: []string{"foo"}}}},
		{"environment in (production, qa)", selector{{key: "environment", op: "in", values: []string{"production", "qa"}}}},
		{"tier notin(frontend,backend)", selector{{key: "tier", op: "notin", values: []string{"frontend", "backend"}}}},
		{"a in ()", selector{{key: "a", op: "in", values: []string{}}}},
		{`\!\!\! in (\-\-\-, \&\&\&, \+\+\+)`, selector{{key: "!!!", op: "in", values: []string{"---", "&&&", "+++"}}}},
		// v2_apps.raml's example: an escaped space belongs to the value.
		{`my_label, environment==production, tier!=frontend\ tier, deployed in (us, eu), deployed notin (aa, bb)`, selector{
			{key: "my_label"},
			{key: "environment", op: "==", values: []string{"production"}},
			{key: "tier", op: "!=", values: []string{"frontend tier"}},
			{key: "deployed", op: "in", values: []string{"us", "eu"}},
			{key: "deployed", op: "notin", values: []string{"aa", "bb"}},
		}},
		{"in in (in)", selector{{key: "in", op: "in", values: []string{"in"}}}},
	} {
		got, err := parseSelector(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"a in (b", "a = b", "a,", ",a", "a b", "a==", "a in (b,)", "a:b", `a\`} {
		if sel, err := parseSelector(bad); err == nil {
			t.Errorf("%q parsed to %+v, want an error", bad, sel)
		}
	}
}

func TestSelectorMatches(t *testing.T) {
	labels := map[string]string{"team": "web", "tier": "frontend tier"}
	for in, want := range map[string]bool{
		"team":                       true,
		"owner":                      false,
		"team==web":                  true,
		"team!=data":                 true,
		"owner!=x":                   false, // != requires the label, unlike in Kubernetes
		"owner notin (x)":            false, // so does notin
		"team in (data, web)":        true,
		"team notin (web)":           false,
		`tier==frontend\ tier`:       true,
		"team==web, tier":            true,
		"team==web, tier==frontend":  false,
		"team in (), team notin ()":  false,
		"team notin (), team==web  ": true,
	} {
		sel, err := parseSelector(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := sel.matches(labels); got != want {
			t.Errorf("%q on %v: %v, want %v", in, labels, got, want)
		}
	}
}
