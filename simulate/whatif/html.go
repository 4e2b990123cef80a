package whatif

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"regexp"

	"github.com/marmot-project/marmot/webui"
)

// The chart library is the one the dashboard page embeds, uPlot 1.6.32 (MIT, webui/assets/uPlot.LICENSE),
// from webui.ChartLibrary, so that Marmot ships one copy of it: the report embeds it whole, so that it
// opens anywhere with no network and no CDN.
//
//go:embed assets/report.html.tmpl
var assets embed.FS

var reportTemplate = template.Must(template.ParseFS(assets, "assets/report.html.tmpl"))

// bannerRe matches the library's one-line banner comment, which names its home page: the report
// says where the library is from without a link, so that it holds no address at all.
var bannerRe = regexp.MustCompile(`^/\*![^\n]*\*/`)

// WriteHTML writes the report as one self-contained HTML page: the tables, and charts over time drawn
// by the embedded chart library from the report's own series, embedded as JSON.
func WriteHTML(w io.Writer, r *Report) error {
	js, css := webui.ChartLibrary()
	if len(js) == 0 || len(css) == 0 {
		return errors.New("whatif: the chart library is missing from webui")
	}
	js = bannerRe.ReplaceAll(js, []byte("/*! uPlot v1.6.32, MIT License, (c) Leon Sorokin */"))
	// The charts read only the series and the labels; the full report would make the page heavy.
	type chartResult struct {
		Variant string `json:"variant"`
		Bound   bool   `json:"bound"`
		Series  Series `json:"series"`
	}
	chartData := struct {
		Start   string        `json:"start"`
		Results []chartResult `json:"results"`
	}{Start: r.Start.UTC().Format("2006-01-02T15:04:05Z")}
	for _, res := range r.Results {
		chartData.Results = append(chartData.Results, chartResult{res.Variant, res.Bound, res.Series})
	}
	data, err := json.Marshal(chartData) // escapes <, > and & for a script element
	if err != nil {
		return err
	}
	page := htmlPage{R: r, CSS: template.CSS(css), UPlot: template.JS(js), Data: template.JS(data), Span: hours(r.Minutes)}
	page.rows()
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, page); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

type htmlPage struct {
	R             *Report
	CSS           template.CSS
	UPlot         template.JS
	Data          template.JS
	Span          string
	Rows          []htmlRow
	Marmot        *Result
	SleepVariants []string
	Apps          []htmlApp
}

type htmlRow struct {
	Name                              string
	R                                 *Result
	CPU, Mem, P50, P99, Cold, ColdP75 string
}

type htmlApp struct {
	App   string
	Cells []htmlCell
}

type htmlCell struct {
	Requests, AwakeCPUHours float64
	Share                   string
}

// rows formats the tables: one row per variant, and per opted-in app one cell per variant that
// sleeps differently (the capacity baselines share Marmot's hibernation).
func (p *htmlPage) rows() {
	apps := map[string]*htmlApp{}
	var order []string
	for i := range p.R.Results {
		res := &p.R.Results[i]
		name := res.Variant
		if res.Bound {
			name += " (bound)"
		}
		p.Rows = append(p.Rows, htmlRow{Name: name, R: res, CPU: percent(res.CPUUtilization), Mem: percent(res.MemUtilization),
			P50: seconds(res.PendingP50), P99: seconds(res.PendingP99), Cold: percent(res.ColdStartShare), ColdP75: percent(res.ColdStartShareP75)})
		if res.Variant == VariantMarmot {
			p.Marmot = res
		}
		if res.Capacity != "marmot" || len(res.Apps) == 0 {
			continue
		}
		p.SleepVariants = append(p.SleepVariants, res.Variant)
		for _, a := range res.Apps {
			row := apps[a.App]
			if row == nil {
				row = &htmlApp{App: a.App}
				apps[a.App] = row
				order = append(order, a.App)
			}
			row.Cells = append(row.Cells, htmlCell{Requests: a.Requests, AwakeCPUHours: a.AwakeCPUHours, Share: percent(a.ColdStartShare)})
		}
	}
	for _, app := range order {
		if len(apps[app].Cells) == len(p.SleepVariants) {
			p.Apps = append(p.Apps, *apps[app])
		}
	}
}
