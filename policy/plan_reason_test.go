package policy

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestReasonNames(t *testing.T) {
	doc, err := os.ReadFile("../docs/autoscaler-policy.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for r := Reason(1); r < reasonCount; r++ {
		name := r.String()
		if seen[name] || name == "" || strings.ToLower(name) != name || strings.ContainsAny(name, " -") {
			t.Errorf("reason %d: name %q is not a unique snake_case label value", r, name)
		}
		seen[name] = true
		if r.Kind() == KindNone {
			t.Errorf("%s has no kind", r)
		}
		var back Reason
		if err := back.UnmarshalText([]byte(name)); err != nil || back != r {
			t.Errorf("%s does not read back: %v, %v", name, back, err)
		}
		if !strings.Contains(string(doc), "| `"+name+"` |") {
			t.Errorf("docs/autoscaler-policy.md does not explain %s", name)
		}
	}
	b, _ := json.Marshal(map[Reason]int{KeptBudget: 2})
	if string(b) != `{"kept_budget":2}` {
		t.Errorf("JSON map key: %s", b)
	}
	if got := len(ReasonsOf(KindAgent)); got < 20 {
		t.Errorf("ReasonsOf(KindAgent) has %d reasons", got)
	}
}
