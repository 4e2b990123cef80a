// Package dashboards holds Marmot's Grafana dashboards: the importable JSON files in this directory,
// the Go that writes them (spec.go; run "go test ./dashboards -update" after changing it), and what
// tests need to read them back: every panel, its help text and its PromQL queries.
//
// The JSON files are what operators import (Dashboards → New → Import). Each asks for a Prometheus
// data source through the ${DS_PROMETHEUS} input; see docs/dashboards.md.
package dashboards

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Files are the dashboards as they are shipped: one JSON file per dashboard.
//
//go:embed *.json
var Files embed.FS

// Board is a Grafana dashboard, as much of it as Marmot writes and reads.
type Board struct {
	Inputs      []Input        `json:"__inputs"`
	Requires    []Require      `json:"__requires"`
	Annotations map[string]any `json:"annotations"`
	Description string         `json:"description"`
	Editable    bool           `json:"editable"`
	GraphTip    int            `json:"graphTooltip"`
	Links       []any          `json:"links"`
	Panels      []Panel        `json:"panels"`
	Refresh     string         `json:"refresh"`
	Schema      int            `json:"schemaVersion"`
	Tags        []string       `json:"tags"`
	Templating  Templating     `json:"templating"`
	Time        TimeRange      `json:"time"`
	Timezone    string         `json:"timezone"`
	Title       string         `json:"title"`
	UID         string         `json:"uid"`
	Version     int            `json:"version"`
}

// Input is a value Grafana asks for at import: here, the Prometheus data source.
type Input struct {
	Name        string `json:"name"`
	Label       string `json:"label"`
	Description string `json:"description"`
	Type        string `json:"type"`
	PluginID    string `json:"pluginId"`
	PluginName  string `json:"pluginName"`
}

// Require is a Grafana plugin or version the dashboard needs.
type Require struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Templating holds the dashboard's variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a dashboard variable, e.g. $pool.
type Variable struct {
	Name       string         `json:"name"`
	Label      string         `json:"label"`
	Type       string         `json:"type"`
	Datasource *Datasource    `json:"datasource,omitempty"`
	Definition string         `json:"definition,omitempty"`
	Query      any            `json:"query"`
	IncludeAll bool           `json:"includeAll"`
	AllValue   string         `json:"allValue,omitempty"`
	Multi      bool           `json:"multi"`
	Refresh    int            `json:"refresh"`
	Sort       int            `json:"sort"`
	Current    map[string]any `json:"current"`
	Options    []any          `json:"options"`
	Hide       int            `json:"hide"`
}

// TimeRange is the dashboard's default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Datasource names the data source a panel or query reads.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is one panel, or a row (Type "row") that heads the panels below it.
type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	GridPos     GridPos        `json:"gridPos"`
	Datasource  *Datasource    `json:"datasource,omitempty"`
	Targets     []Target       `json:"targets,omitempty"`
	FieldConfig map[string]any `json:"fieldConfig,omitempty"`
	Options     map[string]any `json:"options,omitempty"`
	Collapsed   *bool          `json:"collapsed,omitempty"`
	// Panels are the panels of a collapsed row.
	Panels []Panel `json:"panels,omitempty"`
}

// GridPos places a panel on the dashboard's 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is one PromQL query of a panel.
type Target struct {
	RefID        string      `json:"refId"`
	Datasource   *Datasource `json:"datasource,omitempty"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat,omitempty"`
	Instant      bool        `json:"instant,omitempty"`
	Range        bool        `json:"range,omitempty"`
	Format       string      `json:"format,omitempty"`
}

// Query is one query of one panel, with where it comes from for messages.
type Query struct {
	Board, Panel, RefID string
	Expr                string
}

// Marshal writes a dashboard as the JSON files are written: indented, with <, > and & as they are
// (PromQL has comparisons).
func Marshal(b *Board) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Variables are the values Grafana gives the dashboards' variables when every pool is selected and
// $__rate_interval is rateInterval: what an end-to-end test expands the queries with.
func Variables(rateInterval string) map[string]string {
	return map[string]string{
		"pool": ".*", "__rate_interval": rateInterval, "__interval": rateInterval, "__range": rateInterval,
	}
}

// Parse reads a dashboard's JSON.
func Parse(data []byte) (*Board, error) {
	var b Board
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Load reads every shipped dashboard, by file name.
func Load() (map[string]*Board, error) {
	entries, err := Files.ReadDir(".")
	if err != nil {
		return nil, err
	}
	out := map[string]*Board{}
	for _, e := range entries {
		data, err := Files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		b, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out[e.Name()] = b
	}
	return out, nil
}

// AllPanels lists the panels that are not rows, the panels of collapsed rows included.
func (b *Board) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(b.Panels)
	return out
}

// Queries lists every panel query and every variable query of the dashboard.
func (b *Board) Queries() []Query {
	var out []Query
	for _, p := range b.AllPanels() {
		for _, t := range p.Targets {
			out = append(out, Query{Board: b.Title, Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
		}
	}
	for _, v := range b.Templating.List {
		if v.Type == "query" {
			out = append(out, Query{Board: b.Title, Panel: "variable $" + v.Name, RefID: v.Name, Expr: v.Definition})
		}
	}
	return out
}

// metricName finds the names of Marmot's series in a query.
var metricName = regexp.MustCompile(`\bmarmot_[a-z0-9_]+`)

// Metrics returns the names of Marmot's series a query reads, sorted, without duplicates.
func Metrics(expr string) []string {
	seen := map[string]bool{}
	for _, m := range metricName.FindAllString(expr, -1) {
		seen[m] = true
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// Expand replaces Grafana's variables in a query ($name, ${name}, [[name]]) with the values given,
// so that the query can be sent to Prometheus as Grafana would send it. Longer names go first, so
// that $__rate_interval is not taken for $__rate.
func Expand(expr string, vars map[string]string) string {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		v := vars[n]
		expr = strings.NewReplacer("${"+n+"}", v, "[["+n+"]]", v, "$"+n, v).Replace(expr)
	}
	return expr
}

// label_values(metric, label) is a Grafana variable query, not PromQL.
var labelValues = regexp.MustCompile(`^label_values\(\s*([^,]+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// VariableQuery turns a Grafana label_values(...) variable query into the PromQL series selector
// Grafana asks Prometheus for, and the label it reads; ok is false for other queries.
func VariableQuery(def string) (selector, label string, ok bool) {
	m := labelValues.FindStringSubmatch(strings.TrimSpace(def))
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}
