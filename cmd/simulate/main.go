// Command simulate runs Marmot's simulated Mesos + Marathon + AWS cluster.
//
//	simulate serve --scenario small     serve a scenario over the real APIs
//	simulate demo                       the diurnal scenario, sped up, with a live summary
//	simulate scenarios                  list the built-in scenarios
//	simulate check FILE                 validate a scenario file
//	simulate whatif --scenario diurnal  replay through the planners and baselines, report cost
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	marmotd "github.com/marmot-project/marmot/internal/daemon"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
)

const usage = `simulate: a model of a Mesos + Marathon + AWS cluster, served over the real APIs.

Usage:
  simulate serve [flags]      serve a scenario: Mesos masters, Marathon, AWS Auto Scaling + EC2
  simulate demo [flags]       the diurnal scenario in sped-up time, with a live summary
  simulate scenarios          list the built-in scenarios
  simulate check FILE|NAME    validate a scenario and list every error with its field path
  simulate --version          print the version
  simulate whatif [flags]     replay a scenario or trace through Marmot's planners and baselines; cost report

Run "simulate serve -h" for the flags. Scenarios are documented in docs/simulate.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serveCmd(ctx, args[1:], stdout, stderr)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "whatif":
		return whatifCmd(ctx, args[1:], stdout, stderr)
	case "scenarios":
		for _, name := range simulate.Builtins() {
			sc, err := simulate.LoadScenario(name)
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", name, err)
				return 1
			}
			fmt.Fprintf(stdout, "%-10s %s\n", name, strings.TrimSpace(sc.Description))
		}
		return 0
	case "check":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: simulate check FILE|NAME")
			return 2
		}
		if _, err := simulate.LoadScenario(args[1]); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", args[1])
		return 0
	case "--version", "version":
		fmt.Fprintln(stdout, marmotd.VersionLine("simulate"))
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "simulate: unknown command %q\n\n%s", args[0], usage)
	return 2
}

type serveFlags struct {
	scenario      string
	realTasks     bool
	speed         float64
	mesosAddrs    string
	marathonAddrs string
	awsAddr       string
	controlAddr   string
	duration      time.Duration
	summaryEvery  time.Duration
	logLevel      string
}

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("simulate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.scenario, "scenario", "small", "built-in scenario name ("+strings.Join(simulate.Builtins(), ", ")+") or a YAML file")
	fs.BoolVar(&f.realTasks, "real-tasks", false, "run every task as a real HTTP listener on the host:port Marathon reports (agents get 127.1.x.y addresses)")
	fs.Float64Var(&f.speed, "speed", 1, "model seconds per wall-clock second (60 = an hour a minute)")
	fs.StringVar(&f.mesosAddrs, "mesos-addr", "127.0.0.1:5050,127.0.0.1:5052,127.0.0.1:5053", "listen addresses of the Mesos masters, comma-separated, one per master")
	fs.StringVar(&f.marathonAddrs, "marathon-addr", "127.0.0.1:8080,127.0.0.1:8081", "listen addresses of the Marathon instances, comma-separated")
	fs.StringVar(&f.awsAddr, "aws-addr", "127.0.0.1:4566", "listen address of the AWS endpoint (Auto Scaling, EC2 and the SQS notice queue)")
	fs.StringVar(&f.controlAddr, "control-addr", "127.0.0.1:7070", "listen address of the control endpoint (/summary, /faults)")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this much wall-clock time (0: run until interrupted)")
	fs.DurationVar(&f.summaryEvery, "summary-every", 0, "print a one-line summary this often (0: never)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error (JSON logs go to stderr)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: simulate serve [flags]\n\nPrints one line per endpoint (mesos, marathon, aws, control), then serves until interrupted.\nAny address may be 127.0.0.1:0 for a free port.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var errs []string
	if f.speed <= 0 {
		errs = append(errs, fmt.Sprintf("--speed: %g must be more than 0", f.speed))
	}
	if f.duration < 0 || f.summaryEvery < 0 {
		errs = append(errs, "--duration and --summary-every must not be negative")
	}
	var lvl zapcore.Level
	if err := lvl.Set(f.logLevel); err != nil {
		errs = append(errs, fmt.Sprintf("--log-level: %q is not one of debug, info, warn, error", f.logLevel))
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return f, nil
}

func newLogger(level string, stderr io.Writer) *zap.Logger {
	var lvl zapcore.Level
	_ = lvl.Set(level)
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(stderr), lvl))
}

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	log := newLogger(f.logLevel, stderr)
	defer func() { _ = log.Sync() }()
	sc, err := simulate.LoadScenario(f.scenario)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	clock := simulate.NewRealClock(sc.StartTime(), f.speed)
	w, err := simulate.New(sc, clock, simulate.Options{Loopback: f.realTasks})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	cfg := serve.Config{
		MesosAddrs: splitList(f.mesosAddrs), MarathonAddrs: splitList(f.marathonAddrs),
		AWSAddr: f.awsAddr, ControlAddr: f.controlAddr, RealTasks: f.realTasks, Logger: log,
	}
	cluster, err := serve.Start(ctx, w, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	printEndpoints(stdout, cluster, sc, f)
	// The summary goroutine ends with ctx, as the cluster does, and is waited for with it.
	var wg sync.WaitGroup
	if f.summaryEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			summarize(ctx, stdout, w, f.summaryEvery)
		}()
	}
	cluster.Wait()
	wg.Wait()
	return 0
}

// printEndpoints prints one line per endpoint, leaders first; the control line comes last, so a script
// that reads up to it has every address.
func printEndpoints(stdout io.Writer, c *serve.Cluster, sc *simulate.Scenario, f *serveFlags) {
	fmt.Fprintf(stdout, "scenario %s (speed %gx, real tasks %v)\n", sc.Name, f.speed, f.realTasks)
	leader := c.LeaderMesosURL()
	fmt.Fprintf(stdout, "mesos %s\n", leader)
	for _, u := range c.MesosURLs {
		if u != leader {
			fmt.Fprintf(stdout, "mesos-standby %s\n", u)
		}
	}
	fmt.Fprintf(stdout, "marathon %s\n", c.MarathonURL[0])
	for _, u := range c.MarathonURL[1:] {
		fmt.Fprintf(stdout, "marathon-standby %s\n", u)
	}
	fmt.Fprintf(stdout, "aws %s\n", c.AWSURL)
	fmt.Fprintf(stdout, "notice-queue %s\n", c.NoticeQueueURL)
	fmt.Fprintf(stdout, "control %s\n", c.ControlURL)
}

func summarize(ctx context.Context, stdout io.Writer, w *simulate.World, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fmt.Fprintln(stdout, serve.Summarize(w).Line())
		}
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
