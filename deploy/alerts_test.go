package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/election"
	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/policy"
)

const (
	alertsFile     = "prometheus/marmot-alerts.yml"
	alertTestsFile = "prometheus/marmot-alerts_test.yml"
)

// promtool accepts the rules, and the rules' unit tests pass.
func TestAlertRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus): rules not checked by promtool")
	}
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"test", "rules", alertTestsFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert       string
			Expr        string
			For         string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

// exported registers every collector the daemons make on a registry that also remembers each
// series' description, so the names and label names are the ones the code really exports (the
// autoscaler joins namespace, subsystem and name), and the label values are those the code starts
// at zero.
type exported struct {
	*prometheus.Registry
	labels map[string][]string // metric name → label names
	kind   map[string]string   // metric name → "histogram" or ""
}

var descRe = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

func (e *exported) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	_, hist := c.(prometheus.Histogram)
	if _, ok := c.(*prometheus.HistogramVec); ok {
		hist = true
	}
	for d := range ch {
		if m := descRe.FindStringSubmatch(d.String()); m != nil {
			e.labels[m[1]] = strings.FieldsFunc(m[2], func(r rune) bool { return r == ',' })
			if hist {
				e.kind[m[1]] = "histogram"
			}
		}
	}
	return e.Registry.Register(c)
}

func (e *exported) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := e.Register(c); err != nil {
			panic(err)
		}
	}
}

// Stand-ins for the autoscaler's sources: New only stores them.
type (
	noMesos    struct{ autoscaler.Mesos }
	noMarathon struct{ autoscaler.Marathon }
	noCloud    struct{ cloud.Provider }
)

func exportedMetrics(t *testing.T) (*exported, map[string]map[string][]string) {
	t.Helper()
	e := &exported{Registry: prometheus.NewRegistry(), labels: map[string][]string{}, kind: map[string]string{}}
	pol := policy.DefaultAutoscalerPolicy()
	pol.Pools = []policy.PoolPolicy{policy.DefaultPoolPolicy()}
	pol.Pools[0].Name = "default"
	if _, err := autoscaler.New(autoscaler.Config{Policy: &pol, Mesos: noMesos{}, Marathon: noMarathon{}, Cloud: noCloud{}, Registry: e}); err != nil {
		t.Fatalf("autoscaler.New: %v", err)
	}
	hibernator.NewLoopMetrics(e)
	hibernator.NewActivatorMetrics(e)
	hibernator.NewLBProber(hibernator.LBProberConfig{URLs: []string{"http://marathon-lb.marathon.mesos:80"}}, e, nil)
	election.NewMetrics("autoscaler", e)
	election.NewMetrics("hibernator", e)
	families, err := e.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// values[metric][label] are the label values of the series started at zero.
	values := map[string]map[string][]string{}
	for _, f := range families {
		byLabel := map[string][]string{}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(byLabel[lp.GetName()], lp.GetValue()) {
					byLabel[lp.GetName()] = append(byLabel[lp.GetName()], lp.GetValue())
				}
			}
		}
		values[f.GetName()] = byLabel
	}
	for _, prefix := range []string{"marmot_autoscaler_", "marmot_hibernator_"} {
		n := 0
		for name := range e.labels {
			if strings.HasPrefix(name, prefix) {
				n++
			}
		}
		if n < 5 {
			t.Fatalf("%d %s* metrics found: the test no longer sees the daemons' collectors", n, prefix)
		}
	}
	return e, values
}

var (
	metricRe   = regexp.MustCompile(`\bmarmot_[a-z0-9_]+`)
	selectorRe = regexp.MustCompile(`\b(marmot_[a-z0-9_]+)\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	groupingRe = regexp.MustCompile(`\b(?:by|on|without|ignoring)\s*\(([^)]*)\)`)
	plainAlts  = regexp.MustCompile(`^[a-z0-9_]+(\|[a-z0-9_]+)*$`)
)

// Every alert pages or files a ticket, says what and why with a runbook section that exists in
// docs/operations.md, and reads only series, labels and label values the code exports.
func TestAlertRulesReadExportedSeries(t *testing.T) {
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatal(err)
	}
	known, values := exportedMetrics(t)
	anchors := docAnchors(t, filepath.Join(repoRoot, "docs", "operations.md"))
	base := func(name string) (string, bool) {
		if _, ok := known.labels[name]; ok {
			return name, true
		}
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, s); ok && known.kind[b] == "histogram" {
				return b, true
			}
		}
		return "", false
	}
	alerts := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			where := r.Alert
			if sev := r.Labels["severity"]; sev != "page" && sev != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", where, sev)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s", where, a)
				}
			}
			const prefix = "https://github.com/marmot-project/marmot/blob/main/docs/operations.md#"
			if anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], prefix); !ok || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q is not a section of docs/operations.md", where, r.Annotations["runbook_url"])
			}
			text := r.Expr + " " + r.Annotations["description"] + " " + r.Annotations["summary"]
			used := map[string]bool{"job": true, "instance": true}
			for _, name := range metricRe.FindAllString(text, -1) {
				b, ok := base(name)
				if !ok {
					t.Errorf("%s: %s is not a metric the daemons export", where, name)
					continue
				}
				for _, l := range known.labels[b] {
					used[l] = true
				}
			}
			for _, sel := range selectorRe.FindAllStringSubmatch(r.Expr, -1) {
				b, ok := base(sel[1])
				if !ok {
					continue
				}
				for _, m := range matcherRe.FindAllStringSubmatch(sel[2], -1) {
					label, value := m[1], m[3]
					if !slices.Contains(known.labels[b], label) {
						t.Errorf("%s: %s has no label %q (it has %v)", where, sel[1], label, known.labels[b])
						continue
					}
					have := values[b][label]
					if len(have) == 0 || !plainAlts.MatchString(value) {
						continue // series started per pool or group, or a real regexp
					}
					for _, v := range strings.Split(value, "|") {
						if !slices.Contains(have, v) {
							t.Errorf("%s: %s{%s} is never %q (values: %v)", where, sel[1], label, v, have)
						}
					}
				}
			}
			for _, gr := range groupingRe.FindAllStringSubmatch(r.Expr, -1) {
				for _, l := range strings.Split(gr[1], ",") {
					if l = strings.TrimSpace(l); l != "" && !used[l] {
						t.Errorf("%s: groups by %q, which none of its metrics has", where, l)
					}
				}
			}
		}
	}
	if alerts < 10 {
		t.Errorf("%d alerts", alerts)
	}
}

// docAnchors are the GitHub anchors of a Markdown file's headings.
func docAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		h, ok := bytes.CutPrefix(line, []byte("#"))
		if !ok {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(string(h), "#")))
		var b strings.Builder
		for _, r := range title {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}
