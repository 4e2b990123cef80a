package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/whatif"
)

const whatifUsage = `Usage: simulate whatif [flags]

Replays a scenario (and optionally a per-minute invocation trace and an app instance series) in
virtual time through Marmot's real autoscaler and hibernation planners, and through baselines, each on
its own simulated cluster built from the same scenario and seed. Prints what each variant cost, how
many agent-hours it ran, how full the agents were, how long tasks waited, and how many requests met a
cold start. docs/whatif.md describes the variants, the inputs and the report.

Variants: %s

Flags:
`

type whatifFlags struct {
	scenario, trace, instances, policy, hibernation string
	days                                            float64
	format, out, variants                           string
	parallel                                        int
}

func parseWhatifFlags(args []string, stderr io.Writer) (*whatifFlags, error) {
	f := &whatifFlags{}
	fs := flag.NewFlagSet("simulate whatif", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.scenario, "scenario", "small", "built-in scenario name ("+strings.Join(simulate.Builtins(), ", ")+") or a YAML file")
	fs.StringVar(&f.trace, "trace", "", "per-minute invocation CSV in the Azure Functions format (HashFunction, minute_1…minute_N); each function becomes an app opted in to hibernation")
	fs.StringVar(&f.instances, "instances", "", "app instance time series CSV: header minute,app,instances; from that minute on the app runs that many instances")
	fs.Float64Var(&f.days, "days", 1, "model days to replay (fractions allowed, at least one minute)")
	fs.StringVar(&f.policy, "policy", "", "autoscaler policy YAML (default: every pool of the scenario with the default pool policy)")
	fs.StringVar(&f.hibernation, "hibernation-policy", "", "hibernation policy YAML (default: the default policy)")
	fs.StringVar(&f.format, "format", "table", "output: table, json or html (a self-contained page with charts)")
	fs.StringVar(&f.out, "out", "", "write the report to this file instead of stdout")
	fs.StringVar(&f.variants, "variants", "", "comma-separated variants to run (default: all)")
	fs.IntVar(&f.parallel, "parallel", runtime.GOMAXPROCS(0), "variants replayed at once")
	fs.Usage = func() {
		fmt.Fprintf(stderr, whatifUsage, strings.Join(whatif.VariantNames(), ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var errs []string
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Sprintf("unexpected arguments %v: every input is a flag, e.g. --trace FILE", fs.Args()))
	}
	if minutes := f.days * 24 * 60; !(minutes >= 1) || math.IsInf(minutes, 1) || minutes > 366*24*60 {
		errs = append(errs, fmt.Sprintf("--days: %g must be at least one minute (0.0007) and at most 366", f.days))
	}
	switch f.format {
	case "table", "json", "html":
	default:
		errs = append(errs, fmt.Sprintf("--format: %q is not one of table, json, html", f.format))
	}
	if f.parallel < 1 {
		errs = append(errs, fmt.Sprintf("--parallel: %d must be at least 1", f.parallel))
	}
	for _, v := range splitList(f.variants) {
		if !slices.Contains(whatif.VariantNames(), v) {
			errs = append(errs, fmt.Sprintf("--variants: %q is not one of %s", v, strings.Join(whatif.VariantNames(), ", ")))
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return f, nil
}

// whatifConfig loads every input a flag names; each error names its flag.
func whatifConfig(f *whatifFlags) (whatif.Config, error) {
	cfg := whatif.Config{
		Duration: time.Duration(f.days * float64(24*time.Hour)).Round(time.Minute),
		Variants: splitList(f.variants), Parallel: f.parallel,
	}
	var errs []error
	note := func(flagName string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flagName, err))
		}
	}
	var err error
	cfg.Scenario, err = simulate.LoadScenario(f.scenario)
	note("scenario", err)
	if f.trace != "" {
		note("trace", readFile(f.trace, func(r io.Reader) (err error) { cfg.Trace, err = whatif.ParseTrace(r); return err }))
	}
	if f.instances != "" {
		note("instances", readFile(f.instances, func(r io.Reader) (err error) { cfg.Instances, err = whatif.ParseInstanceSeries(r); return err }))
	}
	if f.policy != "" {
		note("policy", readFile(f.policy, func(r io.Reader) error {
			data, err := io.ReadAll(r)
			if err == nil {
				cfg.Autoscaler, err = policy.LoadAutoscalerPolicy(data)
			}
			return err
		}))
	}
	if f.hibernation != "" {
		note("hibernation-policy", readFile(f.hibernation, func(r io.Reader) error {
			data, err := io.ReadAll(r)
			if err == nil {
				cfg.Hibernation, err = policy.LoadHibernationPolicy(data)
			}
			return err
		}))
	}
	return cfg, errors.Join(errs...)
}

func readFile(name string, parse func(io.Reader) error) error {
	fh, err := os.Open(name)
	if err != nil {
		return err
	}
	defer fh.Close()
	return parse(fh)
}

func whatifCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseWhatifFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	cfg, err := whatifConfig(f)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	defer whatif.BatchGC()()
	rep, err := whatif.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	write := map[string]func(io.Writer, *whatif.Report) error{"json": whatif.WriteJSON, "html": whatif.WriteHTML, "table": whatif.WriteTable}[f.format]
	if f.out == "" {
		err = write(stdout, rep)
	} else {
		err = writeFile(f.out, func(w io.Writer) error { return write(w, rep) })
	}
	if err != nil {
		fmt.Fprintf(stderr, "--out: writing the report: %v\n", err)
		return 1
	}
	return 0
}

// writeFile writes a file whole; a failed close (a full disk) is an error too.
func writeFile(name string, write func(io.Writer) error) error {
	fh, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(fh); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
