package dashboards

// The dashboards as Go: one function per dashboard, panels placed left to right, top to bottom on
// Grafana's 24-column grid. Writing them as code keeps 40-odd panels uniform (the same data source
// input, legend, tooltip and units everywhere) and makes a metric rename a one-line change; the JSON
// files are this code's output, checked in so that operators can import them as they are.

// ds is the data source every panel and query reads: the ${DS_PROMETHEUS} input Grafana asks for at
// import.
var ds = &Datasource{Type: "prometheus", UID: "${DS_PROMETHEUS}"}

// Boards returns every dashboard, keyed by its file name.
func Boards() map[string]*Board {
	return map[string]*Board{
		"marmot-cluster.json":     clusterBoard(),
		"marmot-autoscaler.json":  autoscalerBoard(),
		"marmot-hibernation.json": hibernationBoard(),
		"marmot-cost.json":        costBoard(),
	}
}

// layout places panels on the grid as they are added.
type layout struct {
	b       *Board
	id      int
	x, y, h int // the current line: its left edge so far, its top, its height
}

func newBoard(uid, title, description string, vars ...Variable) *layout {
	b := &Board{
		Inputs: []Input{{
			Name: "DS_PROMETHEUS", Label: "Prometheus", Type: "datasource", PluginID: "prometheus", PluginName: "Prometheus",
			Description: "The Prometheus that scrapes Marmot's autoscaler and hibernator (/metrics).",
		}},
		Requires: []Require{
			{Type: "grafana", ID: "grafana", Name: "Grafana", Version: "10.0.0"},
			{Type: "datasource", ID: "prometheus", Name: "Prometheus", Version: "1.0.0"},
			{Type: "panel", ID: "timeseries", Name: "Time series", Version: ""},
			{Type: "panel", ID: "stat", Name: "Stat", Version: ""},
		},
		Annotations: map[string]any{"list": []any{}},
		Description: description,
		Editable:    true,
		GraphTip:    1, // a shared crosshair: the panels of a dashboard are read side by side
		Links: []any{map[string]any{
			"type": "dashboards", "tags": []string{"marmot"}, "asDropdown": true, "title": "Marmot", "includeVars": true, "keepTime": true,
		}},
		Panels:     []Panel{},
		Refresh:    "30s",
		Schema:     39,
		Tags:       []string{"marmot"},
		Templating: Templating{List: append([]Variable{}, vars...)},
		Time:       TimeRange{From: "now-24h", To: "now"},
		Title:      title,
		UID:        uid,
		Version:    1,
	}
	return &layout{b: b}
}

// row starts a new line headed by a row title.
func (l *layout) row(title string) {
	l.newline()
	l.id++
	collapsed := false
	l.b.Panels = append(l.b.Panels, Panel{ID: l.id, Type: "row", Title: title, GridPos: GridPos{H: 1, W: 24, X: 0, Y: l.y}, Collapsed: &collapsed, Panels: []Panel{}})
	l.y++
}

func (l *layout) newline() {
	if l.x > 0 {
		l.y += l.h
	}
	l.x, l.h = 0, 0
}

// add places p, w columns wide and h rows high, on the current line or the next.
func (l *layout) add(w, h int, p Panel) {
	if l.x+w > 24 {
		l.newline()
	}
	l.id++
	p.ID = l.id
	p.GridPos = GridPos{H: h, W: w, X: l.x, Y: l.y}
	p.Datasource = ds
	for i := range p.Targets {
		p.Targets[i].RefID = string(rune('A' + i))
		p.Targets[i].Datasource = ds
	}
	l.b.Panels = append(l.b.Panels, p)
	l.x += w
	l.h = max(l.h, h)
}

func (l *layout) board() *Board { return l.b }

// q is a range query drawn with a legend.
func q(expr, legend string) Target {
	return Target{Expr: expr, LegendFormat: legend, Range: true}
}

// Panel kinds.

func timeseries(title, description, unit string, targets ...Target) Panel {
	return Panel{
		Type: "timeseries", Title: title, Description: description, Targets: targets,
		FieldConfig: map[string]any{
			"defaults": map[string]any{
				"unit":  unit,
				"min":   0,
				"color": map[string]any{"mode": "palette-classic"},
				"custom": map[string]any{
					"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
					"spanNulls": false, "stacking": map[string]any{"mode": "none", "group": "A"},
				},
			},
			"overrides": []any{},
		},
		Options: map[string]any{
			"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []any{}},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		},
	}
}

// stacked is a time series whose lines add up (states of one population).
func stacked(title, description, unit string, targets ...Target) Panel {
	p := timeseries(title, description, unit, targets...)
	custom := p.FieldConfig["defaults"].(map[string]any)["custom"].(map[string]any)
	custom["stacking"] = map[string]any{"mode": "normal", "group": "A"}
	custom["fillOpacity"] = 40
	return p
}

// bars is a time series of counts per interval (increase of a counter), drawn as bars.
func bars(title, description string, targets ...Target) Panel {
	p := stacked(title, description, "short", targets...)
	custom := p.FieldConfig["defaults"].(map[string]any)["custom"].(map[string]any)
	custom["drawStyle"] = "bars"
	custom["fillOpacity"] = 80
	return p
}

// stat is one number (the last value) with a sparkline.
func stat(title, description, unit string, t Target) Panel {
	return Panel{
		Type: "stat", Title: title, Description: description, Targets: []Target{t},
		FieldConfig: map[string]any{
			"defaults": map[string]any{
				"unit":       unit,
				"color":      map[string]any{"mode": "thresholds"},
				"thresholds": map[string]any{"mode": "absolute", "steps": []any{map[string]any{"color": "green", "value": nil}}},
			},
			"overrides": []any{},
		},
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"colorMode":     "value", "graphMode": "area", "justifyMode": "auto", "textMode": "auto", "orientation": "auto",
		},
	}
}

// alarm is a stat that turns red at threshold or above.
func alarm(title, description, unit string, threshold float64, t Target) Panel {
	p := stat(title, description, unit, t)
	p.FieldConfig["defaults"].(map[string]any)["thresholds"] = map[string]any{"mode": "absolute", "steps": []any{
		map[string]any{"color": "green", "value": nil}, map[string]any{"color": "red", "value": threshold},
	}}
	return p
}

// queryVariable is a multi-value variable over a label's values, "All" meaning every value.
func queryVariable(name, definition string) Variable {
	return Variable{
		Name: name, Label: name, Type: "query", Datasource: ds, Definition: definition,
		Query:      map[string]any{"query": definition, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
		IncludeAll: true, AllValue: ".*", Multi: true, Refresh: 2, Sort: 1,
		Current: map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
		Options: []any{},
	}
}
