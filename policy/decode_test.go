package policy

import (
	"fmt"
	"strings"
	"testing"
)

// Both loaders go through decodeDocument. yaml.v3 alone leaves a mapping with a repeated key undecoded,
// and drops it from its list; validating what it did decode would shift the paths of later items and
// report values the document never gave (here hold.max_requests_per_app: 0).
func TestLoadHibernationPolicyKeepsPathsAfterAnUndecodableItem(t *testing.T) {
	_, err := LoadHibernationPolicy([]byte(`
keep_awake:
  - days: mon
    days: tue
    hours: "08:00-09:00"
  - hours: "10:00-10:00"
hold: {max_requests_per_app: 500, max_requests_total: 5000, max_requests_total: 400}
`))
	want := `3 error(s):
  keep_awake[0].days: is given twice (lines 3 and 4)
  hold.max_requests_total: is given twice (lines 7 and 7)
  keep_awake[1].hours: "10:00-10:00" is empty: for the whole day write "00:00-24:00"`
	if got := fmt.Sprint(err); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// A window is written the same way in both policies and fails with the same messages.
func TestLoadersShareTheWindowSyntax(t *testing.T) {
	for _, w := range []string{
		`{days: mon-fry, hours: "8:00-19:00", timezone: Mars/Olympus}`,
		`{days: "sat,,sun", hours: "10:00-10:00,22:00-24:01", timezone: Local}`,
		`{days: fri-mon, timezone: Europe/Berlin}`,
		`{hours: "22:00-06:00"}`,
	} {
		_, aerr := LoadAutoscalerPolicy([]byte("pools: [{name: a, scale_down: {windows: [" + w + "]}}]"))
		_, herr := LoadHibernationPolicy([]byte("keep_awake: [" + w + "]"))
		a := strings.ReplaceAll(fmt.Sprint(aerr), "pools[0].scale_down.windows[0].", "")
		h := strings.ReplaceAll(fmt.Sprint(herr), "keep_awake[0].", "")
		if a != h {
			t.Errorf("%s:\nautoscaler:\n%s\nhibernation:\n%s", w, a, h)
		}
	}
}
