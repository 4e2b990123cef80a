package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/policy"
)

var update = flag.Bool("update", false, "write the dashboards' JSON files from spec.go and boards.go")

// The checked-in JSON is what the Go says: after changing the Go, run go test ./dashboards -update.
func TestFilesAreUpToDate(t *testing.T) {
	for name, b := range Boards() {
		want, err := Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v (run go test ./dashboards -update)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what boards.go writes: run go test ./dashboards -update (or port the edit made in Grafana to boards.go)", name)
		}
	}
	entries, _ := os.ReadDir(".")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && Boards()[e.Name()] == nil {
			t.Errorf("%s is not written by boards.go", e.Name())
		}
	}
}

// knownMetrics records the names of the series the daemons' collectors describe, by registering them
// on a Registerer that only listens: the names are the ones the code really exports, however it
// builds them (the autoscaler joins namespace, subsystem and name), so a renamed metric fails the
// dashboard test below.
type knownMetrics struct {
	names      map[string]bool
	histograms map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (k *knownMetrics) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	_, histogram := c.(prometheus.Histogram)
	if _, ok := c.(*prometheus.HistogramVec); ok {
		histogram = true
	}
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			continue
		}
		k.names[m[1]] = true
		if histogram {
			k.histograms[m[1]] = true
		}
	}
	return nil
}

func (k *knownMetrics) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = k.Register(c)
	}
}

func (k *knownMetrics) Unregister(prometheus.Collector) bool { return true }

// has says whether a name in a query is a series the code exports; a histogram's _bucket, _sum and
// _count series count as its own.
func (k *knownMetrics) has(name string) bool {
	if k.names[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && k.histograms[base] {
			return true
		}
	}
	return false
}

// Stand-ins that satisfy the autoscaler's interfaces: New only stores them.
type (
	noMesos    struct{ autoscaler.Mesos }
	noMarathon struct{ autoscaler.Marathon }
	noCloud    struct{ cloud.Provider }
)

func exportedMetrics(t *testing.T) *knownMetrics {
	t.Helper()
	k := &knownMetrics{names: map[string]bool{}, histograms: map[string]bool{}}
	pol := policy.DefaultAutoscalerPolicy()
	pol.Pools = []policy.PoolPolicy{policy.DefaultPoolPolicy()}
	pol.Pools[0].Name = "default"
	loop, err := autoscaler.New(autoscaler.Config{
		Policy: &pol, Mesos: noMesos{}, Marathon: noMarathon{}, Cloud: noCloud{}, Registry: k,
	})
	if err != nil {
		t.Fatalf("autoscaler.New: %v", err)
	}
	if _, err := autoscaler.NewCost(autoscaler.CostConfig{Loop: loop, Registry: k}); err != nil {
		t.Fatalf("autoscaler.NewCost: %v", err)
	}
	hibernator.NewLoopMetrics(k)
	hibernator.NewActivatorMetrics(k)
	hibernator.NewCost(hibernator.CostConfig{Registry: k})
	for _, prefix := range []string{"marmot_autoscaler_", "marmot_hibernator_", "marmot_cost_"} {
		if !slices.ContainsFunc(keys(k.names), func(n string) bool { return strings.HasPrefix(n, prefix) }) {
			t.Fatalf("no %s* metric found: the test no longer sees the daemons' collectors", prefix)
		}
	}
	return k
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Every shipped dashboard: imports with a Prometheus input, every panel says what it shows, and every
// query reads only series the daemons export.
func TestDashboards(t *testing.T) {
	known := exportedMetrics(t)
	boards, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(boards) < 3 {
		t.Fatalf("%d dashboards shipped", len(boards))
	}
	uids := map[string]string{}
	for file, b := range boards {
		t.Run(file, func(t *testing.T) {
			if b.Title == "" || b.UID == "" || b.Description == "" {
				t.Errorf("title %q, uid %q, description %q: all three are needed", b.Title, b.UID, b.Description)
			}
			if other, dup := uids[b.UID]; dup {
				t.Errorf("uid %q is also %s's", b.UID, other)
			}
			uids[b.UID] = file
			if len(b.Inputs) != 1 || b.Inputs[0].Name != "DS_PROMETHEUS" || b.Inputs[0].PluginID != "prometheus" {
				t.Errorf("__inputs %+v: want one Prometheus data source input, DS_PROMETHEUS", b.Inputs)
			}
			checkDatasource := func(where string, d *Datasource) {
				if d == nil || d.Type != "prometheus" || d.UID != "${DS_PROMETHEUS}" {
					t.Errorf("%s: data source %+v, want ${DS_PROMETHEUS}", where, d)
				}
			}
			ids := map[int]bool{}
			panels := b.AllPanels()
			if len(panels) == 0 {
				t.Fatal("no panels")
			}
			for _, p := range panels {
				where := "panel " + strconvQuote(p.Title)
				if ids[p.ID] {
					t.Errorf("%s: id %d used twice", where, p.ID)
				}
				ids[p.ID] = true
				if len(strings.Fields(p.Description)) < 8 {
					t.Errorf("%s: description %q: say what it shows and how to read it", where, p.Description)
				}
				if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
					t.Errorf("%s: gridPos %+v off the 24-column grid", where, p.GridPos)
				}
				checkDatasource(where, p.Datasource)
				if len(p.Targets) == 0 {
					t.Errorf("%s: no query", where)
				}
				for _, tg := range p.Targets {
					checkDatasource(where+" query "+tg.RefID, tg.Datasource)
				}
			}
			for _, v := range b.Templating.List {
				if v.Type == "query" {
					checkDatasource("variable $"+v.Name, v.Datasource)
				}
			}
			for _, q := range b.Queries() {
				where := q.Panel + " " + q.RefID
				names := Metrics(q.Expr)
				if len(names) == 0 {
					t.Errorf("%s: %q reads no marmot_ series", where, q.Expr)
				}
				for _, n := range names {
					if !known.has(n) {
						t.Errorf("%s: %s is not exported by any daemon (renamed?); query %q", where, n, q.Expr)
					}
				}
				if strings.Contains(Expand(q.Expr, Variables("1m")), "$") {
					t.Errorf("%s: %q uses a variable the end-to-end test does not know", where, q.Expr)
				}
			}
		})
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestExpand(t *testing.T) {
	got := Expand(`rate(x{pool=~"$pool"}[$__rate_interval]) + y[${__range}] + z[[pool]]`,
		map[string]string{"pool": ".*", "__rate_interval": "1m", "__range": "5m", "__rate": "WRONG"})
	want := `rate(x{pool=~".*"}[1m]) + y[5m] + z.*`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestVariableQuery(t *testing.T) {
	sel, label, ok := VariableQuery(" label_values(marmot_autoscaler_agents{state=\"available\"}, pool) ")
	if !ok || sel != `marmot_autoscaler_agents{state="available"}` || label != "pool" {
		t.Fatalf("got %q %q %v", sel, label, ok)
	}
	if _, _, ok := VariableQuery("query_result(up)"); ok {
		t.Fatal("query_result is not label_values")
	}
}
