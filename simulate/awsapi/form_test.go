package awsapi

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustForm(t *testing.T, body string) form {
	t.Helper()
	f, err := parseForm(body)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestListsOrderByIndexAndAllowGaps(t *testing.T) {
	f := mustForm(t, "Names.member.10=ten&Names.member.2=two&Names.member.1=one&InstanceId.3=c&InstanceId.1=a&Other=x")
	if got, err := f.list("Names.member"); err != nil || !reflect.DeepEqual(got, []string{"one", "two", "ten"}) {
		t.Errorf("awsQuery list %v %v", got, err)
	}
	if got, err := f.list("InstanceId"); err != nil || !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("ec2Query list %v %v", got, err)
	}
	if got, err := f.list("Missing.member"); err != nil || len(got) != 0 {
		t.Errorf("absent list %v %v", got, err)
	}
}

func TestListIndexErrorsNameTheParameter(t *testing.T) {
	for _, body := range []string{
		"Names.member.0=x",
		"Names.member.01=x",
		"Names.member.-1=x",
		"Names.member.x=x",
		"Names.member.1.=x",
		"Names.member.1=x&Names.member.1.Field=y", // both a value and a structure
		"Names.member.100001=x",
	} {
		f := mustForm(t, body)
		_, err := f.list("Names.member")
		var pe *paramError
		if !errors.As(err, &pe) || !strings.HasPrefix(pe.Param, "Names.member.") {
			t.Errorf("%s: error %v, want a parameter error naming Names.member.N", body, err)
		}
	}
}

func TestFiltersAndStructures(t *testing.T) {
	f := mustForm(t, "Filters.member.2.Name=tag-value&Filters.member.2.Values.member.1=prod"+
		"&Filters.member.1.Name=tag:marmot:pool&Filters.member.1.Values.member.2=b&Filters.member.1.Values.member.1=a")
	got, err := f.filters("Filters.member", "Values.member")
	want := []filter{{"tag:marmot:pool", []string{"a", "b"}}, {"tag-value", []string{"prod"}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("filters %+v %v, want %+v", got, err, want)
	}

	f = mustForm(t, "Filter.3.Value.1=x")
	_, err = f.filters("Filter", "Value")
	var pe *paramError
	if !errors.As(err, &pe) || !pe.Missing || pe.Param != "Filter.3.Name" {
		t.Errorf("filter without a name: %v", err)
	}

	f = mustForm(t, "Tags.member.1.Key=k&Tags.member.1.PropagateAtLaunch=maybe")
	entries, err := f.structs("Tags.member")
	if err != nil || len(entries) != 1 {
		t.Fatalf("structs %v %v", entries, err)
	}
	_, _, err = entries[0].boolean("PropagateAtLaunch", false)
	if err = entries[0].wrap(err); !errors.As(err, &pe) || pe.Param != "Tags.member.1.PropagateAtLaunch" || pe.Value != "maybe" {
		t.Errorf("wrapped error %v", err)
	}
}

func TestScalars(t *testing.T) {
	f := mustForm(t, "N=42&B=true&Bad=True&T=2026-01-05T00:00:00.5Z&E=")
	if n, ok, err := f.integer("N", 0); n != 42 || !ok || err != nil {
		t.Errorf("integer %d %v %v", n, ok, err)
	}
	if n, ok, err := f.integer("Absent", 7); n != 7 || ok || err != nil {
		t.Errorf("default %d %v %v", n, ok, err)
	}
	if b, err := f.requiredBool("B"); !b || err != nil {
		t.Errorf("bool %v %v", b, err)
	}
	if _, _, err := f.boolean("Bad", false); err == nil {
		t.Error("the Query protocols write booleans in lower case; True must be refused")
	}
	if tm, err := f.timestamp("T"); err != nil || tm.Nanosecond() != 5e8 {
		t.Errorf("timestamp %v %v", tm, err)
	}
	if _, err := f.required("E"); err == nil {
		t.Error("an empty required parameter must count as missing")
	}
	if _, err := parseForm("A=1&A=2"); err == nil {
		t.Error("a parameter given twice must be refused")
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"10.0.*", "10.0.0.11", true},
		{"10.0.*", "10.1.0.11", false},
		{"*", "", true},
		{"m5.?large", "m5.xlarge", true},
		{"m5.?large", "m5.large", false},
		{"*a*b*", "xxaxxbxx", true},
		{"*a*b", "xxaxxbxx", false},
		{"a/b*", "a/bc", true}, // '/' is an ordinary character in EC2 filters
		{"[ab]", "a", false},   // and so is '['
		{"exact", "exact", true},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}

func TestPagesResumeAtTheNamedItem(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e"}
	id := func(s string) string { return s }
	p1, next, err := pageOf(items, id, "", 2)
	if err != nil || !reflect.DeepEqual(p1, []string{"a", "b"}) || next == "" {
		t.Fatalf("first page %v %q %v", p1, next, err)
	}
	// An item added before the token's item between two calls neither repeats nor shifts the rest.
	p2, next, err := pageOf(append([]string{"0"}, items...), id, next, 2)
	if err != nil || !reflect.DeepEqual(p2, []string{"c", "d"}) {
		t.Fatalf("second page %v %v", p2, err)
	}
	p3, next, err := pageOf(items, id, next, 2)
	if err != nil || !reflect.DeepEqual(p3, []string{"e"}) || next != "" {
		t.Fatalf("last page %v %q %v", p3, next, err)
	}
	var te *tokenError
	if _, _, err := pageOf(items, id, "!!", 2); !errors.As(err, &te) {
		t.Errorf("a token that is not base64: %v", err)
	}
	if _, _, err := pageOf(items[:2], id, "Yw", 2); !errors.As(err, &te) { // "c", gone
		t.Errorf("a token whose item is gone: %v", err)
	}
}
