package whatif

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON; ReadJSON reads it back.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("whatif report: %w", err)
	}
	return &r, nil
}

// WriteTable writes the report for a terminal: what was replayed, one line per variant, Marmot's
// savings, chargeback and idle capacity, and the opted-in apps' cold starts.
func WriteTable(w io.Writer, r *Report) error {
	p := &printer{w: w}
	p.f("what-if: scenario %s, %s from %s, one plan per pool and minute\n", r.Scenario, hours(r.Minutes), r.Start.Format(time.RFC3339))
	if r.TraceFunctions > 0 || r.InstancePoints > 0 {
		p.f("inputs: %d trace functions, %d instance series points\n", r.TraceFunctions, r.InstancePoints)
	}
	for _, n := range r.Notes {
		p.f("note: %s\n", n)
	}
	p.f("\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\tcapacity\thibernation\tcost $\tagent-h\tinstance-h\tcpu util\tmem util\tpending p50\tpending p99\tcold starts\tcold p75 app\tawake cpu-h\tawake GiB-h\t")
	for _, res := range r.Results {
		name := res.Variant
		if res.Bound {
			name += " (bound)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t\n", name, res.Capacity, res.Hibernation,
			res.Cost, res.AgentHours, res.InstanceHours, percent(res.CPUUtilization), percent(res.MemUtilization),
			seconds(res.PendingP50), seconds(res.PendingP99), percent(res.ColdStartShare), percent(res.ColdStartShareP75),
			res.AwakeCPUHours, res.AwakeGiBHours)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range r.Results {
		if res.Chargeback != nil && res.Variant == VariantMarmot {
			p.marmot(&res)
		}
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// marmot prints the Marmot variant's savings, chargeback and cold starts.
func (p *printer) marmot(res *Result) {
	c := res.Chargeback
	p.f("\nmarmot: $%.2f in all; idle capacity $%.2f (%s); saved $%.2f by autoscaling (%.1f instance-hours against a static pool at the trailing peak) and $%.2f by hibernation (%.1f cpu-hours, %.1f GiB-hours freed)\n",
		c.Cost, c.Idle.Cost, percent(ratio(c.Idle.Cost, c.Cost)), c.Savings.Autoscaling, c.Savings.AutoscalingInstanceHours,
		c.Savings.Hibernation.Cost, c.Savings.Hibernation.CPUHours, c.Savings.Hibernation.GiBHours)
	if len(c.Unpriced) > 0 {
		p.f("unpriced (missing from the figures): %s\n", strings.Join(c.Unpriced, ", "))
	}
	p.f("\nchargeback by team (allocated resource-hours × the pool's rate):\n")
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "team\tcost $\tshare\tcpu-h\tGiB-h\t")
	for i, l := range c.Teams {
		if i == 10 {
			fmt.Fprintf(tw, "… %d more\t\t\t\t\t\n", len(c.Teams)-10)
			break
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%.1f\t%.1f\t\n", l.Name, l.Cost, percent(ratio(l.Cost, c.Cost)), l.CPUHours, l.GiBHours)
	}
	fmt.Fprintf(tw, "%s\t%.2f\t%s\t%.1f\t%.1f\t\n", "(idle)", c.Idle.Cost, percent(ratio(c.Idle.Cost, c.Cost)), c.Idle.CPUHours, c.Idle.GiBHours)
	if err := tw.Flush(); err != nil && p.err == nil {
		p.err = err
	}
	var woken []AppResult
	for _, a := range res.Apps {
		if a.Requests > 0 || a.Hibernations > 0 {
			woken = append(woken, a)
		}
	}
	if len(woken) == 0 {
		return
	}
	p.f("\nhibernation (apps opted in):\n")
	tw = tabwriter.NewWriter(p.w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "app\trequests\tcold starts\tshare\tsleeps\tawake cpu-h\t")
	for _, a := range woken {
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%s\t%d\t%.2f\t\n", a.App, a.Requests, a.ColdStarts, percent(a.ColdStartShare), a.Hibernations, a.AwakeCPUHours)
	}
	if err := tw.Flush(); err != nil && p.err == nil {
		p.err = err
	}
}

func percent(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return fmt.Sprintf("%.3f%%", f*100)
	}
	return fmt.Sprintf("%.1f%%", f*100)
}

func seconds(s float64) string { return (time.Duration(s) * time.Second).String() }

func hours(minutes int) string {
	d := time.Duration(minutes) * time.Minute
	switch {
	case d == 24*time.Hour:
		return "1 day"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
