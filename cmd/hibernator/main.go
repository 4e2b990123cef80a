// Command hibernator puts idle Marathon apps to sleep at zero instances and wakes them when a request
// arrives for them (run "hibernator --help"; docs/hibernator.md).
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	_ "time/tzdata" // keep_awake windows name IANA zones; a slim container may have no zoneinfo

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/marmot-project/marmot/election"
	"github.com/marmot-project/marmot/hibernator"
	marmotd "github.com/marmot-project/marmot/internal/daemon"
	"github.com/marmot-project/marmot/marathon"
	"github.com/marmot-project/marmot/policy"
)

func main() {
	ctx, hup, stop := marmotd.Signals()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, env{now: time.Now, hup: hup})
	stop()
	os.Exit(code)
}

// env is what the process takes from its surroundings, so that tests can run it in-process.
type env struct {
	now func() time.Time
	hup <-chan os.Signal // policy reloads
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, e env) int {
	cfg, code, exit := marmotd.Command[*config]{
		Name:        "hibernator",
		PolicyUsage: "usage: hibernator check-policy FILE\n\nChecks a hibernation policy and prints every problem with its field path (docs/hibernation-policy.md).",
		PolicyKind:  "hibernation policy",
		LoadPolicy:  func(path string) error { _, err := loadPolicy(path); return err },
		Parse:       func(args []string) (*config, error) { return parseConfig(args, stderr) },
		Version:     func(c *config) bool { return c.version },
	}.Configure(args, stdout, stderr)
	if exit {
		return code
	}
	log := marmotd.NewLogger(stderr, cfg.logLevel)
	defer func() { _ = log.Sync() }()
	d, err := newDaemon(cfg, log, e)
	if err != nil {
		fmt.Fprintf(stderr, "hibernator: %v\n", err)
		return 1
	}
	if err := d.serve(ctx); err != nil {
		log.Error("stopped", zap.Error(err))
		return 1
	}
	return 0
}

// daemon is the wired process: the loop, the activator, their servers.
type daemon struct {
	cfg       *config
	log       *zap.Logger
	env       env
	reg       *prometheus.Registry
	current   *currentPolicy
	loop      *hibernator.Loop
	activator *hibernator.Activator
	// activatorHandler is the activator as its server runs it.
	activatorHandler http.Handler
	metrics          *hibernator.LoopMetrics
	nginx            []*hibernator.NginxAccessLog
	// prober is nil without --lb-probe-url.
	prober *hibernator.LBProber
	status net.Listener
	act    net.Listener
	// glue is Marathon, for the routes a follower keeps.
	glue marathonGlue
	// elector is nil without --zk: this replica always leads.
	elector *election.Elector
}

func newDaemon(cfg *config, log *zap.Logger, e env) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log, env: e, reg: prometheus.NewRegistry(), current: &currentPolicy{}}
	d.current.Store(cfg.policy)
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ra := cfg.marathonAuth
	client, err := marathon.New(marathon.Config{URLs: cfg.marathonURLs, Timeout: cfg.marathonTimeout, HTTPClient: ra.HTTPClient(),
		BasicAuthUser: ra.User, BasicAuthPassword: ra.Pass, Token: ra.Token}, log.Named("marathon"))
	if err != nil {
		return nil, err
	}
	glue := marathonGlue{c: client}
	d.glue = glue

	activatorTraffic := hibernator.NewActivatorTraffic(e.now())
	sources := []hibernator.TrafficSource{activatorTraffic}
	for _, u := range cfg.haproxyURLs {
		src, err := newHAProxySource(u)
		if err != nil {
			return nil, err
		}
		sources = append(sources, src)
	}
	for _, path := range cfg.nginxLogs {
		src := hibernator.NewNginxAccessLog(hibernator.NginxAccessLogConfig{Path: path, Traffic: d.current})
		d.nginx = append(d.nginx, src)
		sources = append(sources, src)
	}

	d.metrics = hibernator.NewLoopMetrics(d.reg)
	waker := hibernator.NewMarathonWaker(hibernator.WakerConfig{DryRun: cfg.dryRun, Now: e.now, Policy: d.current.Load}, glue, d.metrics, log.Named("waker"))
	actCfg := activatorConfig(cfg.policy)
	actCfg.ID = replicaID(cfg)
	d.activator = hibernator.NewActivator(actCfg, waker, hibernator.NewActivatorMetrics(d.reg), log.Named("activator"), nil)
	// Requests the activator takes count as use while they are open, on the hibernator's clock.
	d.activatorHandler = hibernator.CountUse(d.activator, activatorTraffic, e.now)
	var fallback hibernator.FallbackCheck
	if len(cfg.lbProbeURLs) > 0 {
		// Probes are real requests: they run on the wall clock, whatever clock the loop runs on.
		d.prober = hibernator.NewLBProber(hibernator.LBProberConfig{URLs: cfg.lbProbeURLs, Interval: cfg.trafficInterval, Now: time.Now}, d.reg, log.Named("lb-probe"))
		fallback = d.prober
	}
	d.loop = hibernator.NewLoop(hibernator.LoopConfig{
		Interval: cfg.interval, TrafficInterval: cfg.trafficInterval, RecheckAfter: cfg.recheckAfter, DryRun: cfg.dryRun, Now: e.now,
	}, hibernator.LoopDeps{Marathon: glue, Waker: waker, Sources: sources, Routes: d.activator, Fallback: fallback, Metrics: d.metrics, Log: log.Named("loop")}, cfg.policy)

	// Listen before anything runs, so that a port in use is an error at start, not a log line later.
	if d.status, err = net.Listen("tcp", cfg.listen); err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	if d.act, err = net.Listen("tcp", cfg.activatorListen); err != nil {
		d.status.Close()
		return nil, fmt.Errorf("--activator-listen: %w", err)
	}
	if d.elector, err = marmotd.NewElector(cfg.election, "hibernator", d.status.Addr().String(), log, d.reg); err != nil {
		d.status.Close()
		d.act.Close()
		return nil, fmt.Errorf("--zk: %w", err)
	}
	return d, nil
}

// replicaID names this replica in the activator's answer to a load balancer's probe: "1" for the only
// one, the host name when several run (--zk).
func replicaID(cfg *config) string {
	if cfg.election == nil {
		return "1"
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "1"
}

// currentPolicy is the policy in force, for the parts that follow reloads (the loop has its own copy).
type currentPolicy struct {
	atomic.Pointer[policy.HibernationPolicy]
}

// Ignored implements hibernator.RequestFilter with the policy in force.
func (c *currentPolicy) Ignored(path, userAgent string) bool {
	return c.Load().Traffic.Ignored(path, userAgent)
}

// newHAProxySource reads user and password from the URL (stats auth) and keeps them out of its name.
func newHAProxySource(raw string) (*hibernator.HAProxyStats, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	cfg := hibernator.HAProxyStatsConfig{URL: raw}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		u.User = nil
		cfg.URL = u.String()
	}
	return hibernator.NewHAProxyStats(cfg)
}

// activatorConfig is the activator's share of the policy. It is read once: the activator's limits
// change at a restart, not at a reload.
func activatorConfig(p *policy.HibernationPolicy) hibernator.ActivatorConfig {
	body := p.Hold.MaxBodyBytes
	if body == 0 {
		body = -1 // the policy's "only requests without a body"; the activator's 0 is its default
	}
	return hibernator.ActivatorConfig{
		MaxHeldPerApp:      p.Hold.MaxRequestsPerApp,
		MaxHeldTotal:       p.Hold.MaxRequestsTotal,
		MaxBodyBytes:       body,
		MaxHeldBodyBytes:   p.Hold.MaxTotalBodyBytes,
		DefaultHoldTimeout: p.Hold.Timeout.D,
		ProbeInterval:      p.Wake.ProbeInterval.D,
		ProbeTimeout:       p.Wake.ProbeTimeout.D,
		WaitingPage:        p.WaitingPage,
	}
}

// serve runs everything until ctx ends, then stops in order: the loop first (no new hibernation),
// then the activator's server after the requests it holds were answered (their wakes go on), then
// the rest.
func (d *daemon) serve(ctx context.Context) error {
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	actCtx, stopActivator := context.WithCancel(context.WithoutCancel(ctx))
	defer stopActivator()
	defer stopLoop()
	statusSrv := marmotd.StatusServer(d.withPage(loopCtx, marmotd.Followers(d.loop.Handler(d.reg), d.elector)))
	actSrv := d.activatorServer()

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Go(func() { marmotd.Serve(statusSrv, d.status, errc) })
	wg.Go(func() { marmotd.Serve(actSrv, d.act, errc) })
	wg.Go(func() { _ = d.activator.Run(actCtx) })
	// The loop runs only while this replica leads, on the leader's context (docs/ha.md); the activator
	// answers in every replica, so a follower keeps its host map from Marathon.
	wg.Go(func() {
		if err := marmotd.Lead(loopCtx, d.elector, d.loop.Run); err != nil {
			errc <- err
		}
	})
	if d.elector != nil {
		wg.Go(func() { d.followRoutes(loopCtx) })
	}
	wg.Go(func() { marmotd.Reloads(loopCtx, d.env.hup, d.reload) })
	if d.prober != nil {
		// Every replica probes: the load balancers may send the probe to any replica's activator.
		wg.Go(func() { d.prober.Run(loopCtx) })
	}
	d.log.Info("hibernator started", zap.String("listen", d.status.Addr().String()), zap.String("activator", d.act.Addr().String()), zap.Bool("election", d.elector != nil),
		zap.Strings("marathon", d.cfg.marathonURLs), zap.Bool("dry_run", d.cfg.dryRun), zap.Strings("lb_probe", d.cfg.lbProbeURLs),
		zap.String("cost_region", d.cfg.costRegion), zap.Float64("cost_cpu_hour", d.cfg.costRate.CPUHour), zap.Float64("cost_gib_hour", d.cfg.costRate.GiBHour))

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	d.log.Info("stopping: answering the requests held, then exiting", zap.Duration("drain_timeout", d.cfg.drainTimeout))
	stopLoop()
	// Both ports are free at once, so that a new hibernator can start while this one drains; its
	// health check failing tells load balancers to prefer the new one.
	_ = statusSrv.Close()
	drain, cancel := context.WithTimeout(context.Background(), d.cfg.drainTimeout)
	defer cancel()
	if serr := actSrv.Shutdown(drain); serr != nil {
		d.log.Warn("held requests left unanswered at the drain timeout", zap.Error(serr))
		_ = actSrv.Close()
	}
	stopActivator()
	wg.Wait()
	for _, n := range d.nginx {
		_ = n.Close()
	}
	return err
}

// reload puts a new policy in force on SIGHUP; a policy that does not load leaves the last good one
// in force.
func (d *daemon) reload() {
	if d.cfg.policyFile == "" {
		d.log.Info("SIGHUP: no --policy file to reload; the defaults stay")
		return
	}
	p, err := loadPolicy(d.cfg.policyFile)
	if err != nil {
		d.metrics.PolicyReloaded(false)
		d.log.Error("policy reload failed; the last good policy stays in force", zap.String("file", d.cfg.policyFile), zap.Error(err))
		return
	}
	if activatorConfig(p) != activatorConfig(d.cfg.policy) {
		d.log.Warn("the policy's hold, wake and waiting_page settings take effect at the next restart")
	}
	d.current.Store(p)
	d.loop.SetPolicy(p)
	d.metrics.PolicyReloaded(true)
	d.log.Info("policy reloaded", zap.String("file", d.cfg.policyFile))
}

// activatorServer is the activator's server, with limits against slow and greedy clients: headers
// must come within the read-header timeout and fit in the header limit, the whole request within the
// read timeout, and the answer, hold included, within the write timeout; idle connections go.
func (d *daemon) activatorServer() *http.Server {
	return &http.Server{Handler: readWithin(d.activatorHandler, d.cfg.activatorReadTimeout), ReadHeaderTimeout: d.cfg.activatorReadHeaderTimeout,
		WriteTimeout: d.cfg.activatorWriteTimeout, IdleTimeout: d.cfg.activatorIdleTimeout, MaxHeaderBytes: d.cfg.activatorMaxHeaderBytes}
}

// readWithin bounds the time to read a request, body included, and lifts the bound once the body is
// read. http.Server's own ReadTimeout would not do: its deadline outlives the body, and when it
// passes during a hold the server's background read fails and cancels the held request.
func readWithin(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body == nil || r.Body == http.NoBody {
			_ = rc.SetReadDeadline(time.Time{})
		} else {
			_ = rc.SetReadDeadline(time.Now().Add(d))
			r.Body = &liftAtEOF{ReadCloser: r.Body, rc: rc}
		}
		h.ServeHTTP(w, r)
	})
}

// liftAtEOF lifts the connection's read deadline when the body has been read.
type liftAtEOF struct {
	io.ReadCloser
	rc *http.ResponseController
}

func (b *liftAtEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// followRoutes keeps a follower's host map, so that its activator answers and wakes like the
// leader's: every traffic interval, while this replica does not lead, it reads the opted-in apps
// from Marathon and builds the routes as the loop does. Wakes from several replicas are safe: they
// go through Marathon, where the second PUT of a wake finds the app deploying (409) or awake.
func (d *daemon) followRoutes(ctx context.Context) {
	t := time.NewTicker(d.cfg.trafficInterval)
	defer t.Stop()
	for {
		if !d.elector.IsLeader() {
			apps, err := d.glue.Apps(ctx, policy.LabelHibernate)
			switch {
			case err != nil && ctx.Err() == nil:
				d.log.Warn("follower: cannot read the opted-in apps; the activator keeps its host map", zap.Error(err))
			case err == nil && !d.elector.IsLeader():
				routes, _ := hibernator.BuildRoutes(apps, d.current.Load())
				d.activator.SetRoutes(routes)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
