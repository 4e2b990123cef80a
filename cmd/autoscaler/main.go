// Command autoscaler keeps each Mesos agent pool on AWS the right size: it grows the pool's Auto
// Scaling groups for the Marathon instances that wait for room, and shrinks them by draining agents
// through Mesos before terminating their instances (run "autoscaler --help"; docs/autoscaler.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/cloud"
	awscloud "github.com/marmot-project/marmot/cloud/aws"
	"github.com/marmot-project/marmot/election"
	marmotd "github.com/marmot-project/marmot/internal/daemon"
	"github.com/marmot-project/marmot/marathon"
	"github.com/marmot-project/marmot/mesos"
	"github.com/marmot-project/marmot/policy"
)

func main() {
	ctx, hup, stop := marmotd.Signals()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, env{hup: hup})
	stop()
	os.Exit(code)
}

// env is what the process takes from its surroundings besides flags and environment variables, so
// that tests and benchmarks can run it in-process.
type env struct {
	hup <-chan os.Signal // policy reloads
	// wrapCloud, when set, wraps the AWS provider (a benchmark times the calls with it).
	wrapCloud func(cloud.Provider) cloud.Provider
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, e env) int {
	cfg, code, exit := marmotd.Command[*config]{
		Name:        "autoscaler",
		PolicyUsage: "usage: autoscaler check-policy FILE\n\nChecks an autoscaler policy and prints every problem with its field path (docs/autoscaler-policy.md).",
		PolicyKind:  "autoscaler policy",
		LoadPolicy:  func(path string) error { _, err := loadPolicy(path); return err },
		Parse:       func(args []string) (*config, error) { return parseConfig(ctx, args, stderr) },
		Version:     func(c *config) bool { return c.version },
	}.Configure(args, stdout, stderr)
	if exit {
		return code
	}
	log := marmotd.NewLogger(stderr, cfg.logLevel)
	defer func() { _ = log.Sync() }()
	d, err := newDaemon(cfg, log, e)
	if err != nil {
		fmt.Fprintf(stderr, "autoscaler: %v\n", err)
		return 1
	}
	if cfg.once {
		return d.once(ctx, stdout)
	}
	if err := d.serve(ctx); err != nil {
		log.Error("stopped", zap.Error(err))
		return 1
	}
	return 0
}

// daemon is the wired process.
type daemon struct {
	cfg    *config
	log    *zap.Logger
	env    env
	reg    *prometheus.Registry
	mesos  *mesosSource
	loop   *autoscaler.Loop
	status net.Listener
	// elector is nil without --zk: this replica always leads.
	elector *election.Elector
}

func newDaemon(cfg *config, log *zap.Logger, e env) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log, env: e, reg: prometheus.NewRegistry()}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ma := cfg.mesosAuth
	mc, err := mesos.New(mesos.Config{URLs: cfg.mesosURLs, TLS: ma.TLS, Principal: ma.User, Secret: ma.Pass, Token: ma.Token}, log.Named("mesos"))
	if err != nil {
		return nil, err
	}
	ra := cfg.marathonAuth
	mar, err := marathon.New(marathon.Config{URLs: cfg.marathonURLs, HTTPClient: ra.HTTPClient(),
		BasicAuthUser: ra.User, BasicAuthPassword: ra.Pass, Token: ra.Token}, log.Named("marathon"))
	if err != nil {
		return nil, err
	}
	d.mesos = newMesosSource(mc, log.Named("mesos"), time.Now)
	var provider cloud.Provider = awscloud.NewFromConfig(cfg.aws)
	if e.wrapCloud != nil {
		provider = e.wrapCloud(provider)
	}
	acfg := autoscaler.Config{
		Policy: cfg.policy, Mesos: d.mesos, Marathon: marathonSource{mar},
		Cloud: provider, Registry: d.reg, Log: log.Named("loop"), DryRun: cfg.dryRun,
	}
	if cfg.noticeQueue != "" && !cfg.once {
		q, err := awscloud.NewNoticeQueueFromConfig(cfg.aws, cfg.noticeQueue, awscloud.WithQueueFlag("--notice-queue"))
		if err != nil {
			return nil, err
		}
		if err := checkQueue(q, log); err != nil {
			return nil, err
		}
		acfg.Notices = q
	}
	d.loop, err = autoscaler.New(acfg)
	if err != nil {
		return nil, err
	}
	if !cfg.once {
		// Listen before anything runs, so that a port in use is an error at start, not a log line later.
		if d.status, err = net.Listen("tcp", cfg.listen); err != nil {
			return nil, fmt.Errorf("--listen: %w", err)
		}
		if d.elector, err = marmotd.NewElector(cfg.election, "autoscaler", d.status.Addr().String(), log, d.reg); err != nil {
			d.status.Close()
			return nil, fmt.Errorf("--zk: %w", err)
		}
	}
	return d, nil
}

// checkQueue fails the start when the notice queue does not exist or the credentials may not use
// it: a misconfigured queue would otherwise show only as a warning per receive while every spot
// interruption goes unheard. SQS not answering is only logged: the loop retries it.
func checkQueue(q *awscloud.NoticeQueue, log *zap.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	arn, err := q.Check(ctx)
	switch {
	case err == nil:
		log.Info("reading the notice queue", zap.String("queue", q.URL()), zap.String("arn", arn))
	case errors.Is(err, cloud.ErrThrottled), errors.Is(err, cloud.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		log.Warn("cannot check the notice queue now: reading it anyway", zap.Error(err))
	default:
		return err
	}
	return nil
}

// once runs one reconcile and prints its report.
func (d *daemon) once(ctx context.Context, stdout io.Writer) int {
	rep := d.loop.Reconcile(ctx, autoscaler.TriggerOnce)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		d.log.Error("cannot print the report", zap.Error(err))
		return 1
	}
	if !rep.Planned {
		d.log.Error("nothing planned", zap.String("error", rep.Error))
		return 1
	}
	return 0
}

// handler serves /metrics from the registry and the loop's /status, /healthz and /readyz (with the
// election's block and a follower's answers under --zk).
func (d *daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{}))
	mux.Handle("/", marmotd.Followers(d.loop.Handler(), d.elector))
	return mux
}

// serve runs the loop, the HTTP endpoints and policy reloads until ctx ends.
func (d *daemon) serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := marmotd.StatusServer(d.withPage(ctx, d.handler()))
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() { marmotd.Serve(srv, d.status, errc) })
	// The loop runs only while this replica leads, on the leader's context (docs/ha.md).
	wg.Go(func() {
		if err := marmotd.Lead(ctx, d.elector, d.loop.Run); err != nil {
			errc <- err
		}
	})
	wg.Go(func() { marmotd.Reloads(ctx, d.env.hup, d.reload) })
	d.log.Info("autoscaler started", zap.String("listen", d.status.Addr().String()), zap.Bool("election", d.elector != nil), zap.Strings("mesos", d.cfg.mesosURLs),
		zap.Strings("marathon", d.cfg.marathonURLs), zap.String("aws_region", d.cfg.aws.Region), zap.Bool("dry_run", d.cfg.dryRun),
		zap.Int("pools", len(d.cfg.policy.Pools)))
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	d.log.Info("stopping")
	cancel()
	shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = srv.Shutdown(shutdown)
	wg.Wait()
	return err
}

// reload puts a new policy in force on SIGHUP; one that does not load leaves the last good one in
// force (the loop counts it and shows it in /status).
func (d *daemon) reload() {
	err := d.loop.ReloadPolicy(func() (*policy.AutoscalerPolicy, error) { return loadPolicy(d.cfg.policyFile) })
	if err != nil {
		d.log.Error("SIGHUP: the new policy is refused; the last good one stays in force", zap.String("file", d.cfg.policyFile), zap.Error(err))
		return
	}
	d.log.Info("SIGHUP: policy reloaded", zap.String("file", d.cfg.policyFile))
}
