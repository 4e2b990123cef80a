package whatif

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/marmot-project/marmot/simulate"
)

// InstancePoint is one line of an app instance time series: from minute Minute of the replay on, the
// app runs Instances instances (until a later point for the same app).
type InstancePoint struct {
	Minute    int
	App       string
	Instances int
	Line      int // where it came from, for errors found later (an app the scenario lacks)
}

// ParseInstanceSeries reads an app instance time series: a CSV with the header minute,app,instances
// (in that order), then one line per change. minute counts from the start of the replay (0 is the
// start), app is a Marathon app id of the scenario or the trace, instances a count of 0 or more.
// Lines may come in any order; two lines for the same app and minute are an error. Every problem is
// reported with its line.
func ParseInstanceSeries(r io.Reader) ([]InstancePoint, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("instances: reading the header: %w", err)
	}
	for i := range header {
		header[i] = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff")))
	}
	if !slices.Equal(header, []string{"minute", "app", "instances"}) {
		return nil, fmt.Errorf("instances: the header is %q, want minute,app,instances", strings.Join(header, ","))
	}
	var out []InstancePoint
	var errs []error
	seen := map[[2]string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("instances: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != 3 {
			errs = append(errs, fmt.Errorf("line %d: %d fields, want 3 (minute,app,instances)", line, len(rec)))
			continue
		}
		p := InstancePoint{App: simulate.NormalizeAppID(rec[1]), Line: line}
		var lineErrs []error
		if p.Minute, err = strconv.Atoi(strings.TrimSpace(rec[0])); err != nil || p.Minute < 0 {
			lineErrs = append(lineErrs, fmt.Errorf("line %d: minute %q is not a whole number of 0 or more", line, rec[0]))
		}
		if !simulate.ValidAppID(p.App) {
			lineErrs = append(lineErrs, fmt.Errorf("line %d: app %q is not a Marathon app id (e.g. /web/frontend)", line, rec[1]))
		}
		if p.Instances, err = strconv.Atoi(strings.TrimSpace(rec[2])); err != nil || p.Instances < 0 {
			lineErrs = append(lineErrs, fmt.Errorf("line %d: instances %q is not a whole number of 0 or more", line, rec[2]))
		}
		key := [2]string{strconv.Itoa(p.Minute), p.App}
		if first, dup := seen[key]; dup && len(lineErrs) == 0 {
			lineErrs = append(lineErrs, fmt.Errorf("line %d: %s at minute %d was already given on line %d", line, p.App, p.Minute, first))
		}
		if len(lineErrs) > 0 {
			errs = append(errs, lineErrs...)
			continue
		}
		seen[key] = line
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("instances: %w", errors.Join(errs...))
	}
	slices.SortStableFunc(out, func(a, b InstancePoint) int { return a.Minute - b.Minute })
	return out, nil
}
