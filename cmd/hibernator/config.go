package main

import (
	"flag"
	"io"
	"math"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/election"
	"github.com/marmot-project/marmot/hibernator"
	marmotd "github.com/marmot-project/marmot/internal/daemon"
	"github.com/marmot-project/marmot/policy"
)

const usage = `hibernator: puts idle Marathon apps to sleep at zero instances and wakes them on the next request.

Apps opt in with the Marathon label marmot.hibernate=true. An app sleeps when no request reached it
through any load balancer for its idle period: the hibernator reads HAProxy's statistics (marathon-lb),
nginx access logs (nixy) and its own activator's counts. Load balancers send requests for hosts that
have no backend to the activator (--activator-listen), which wakes the app, holds the requests and
forwards them to the app's new task as soon as it answers. docs/hibernator.md explains the setup.

Usage:
  hibernator --marathon-url URL [flags]   run
  hibernator check-policy FILE            check a hibernation policy; every error with its field path

Flags:
`

const usageExamples = `
Examples:
  hibernator --marathon-url http://marathon.mesos:8080 --policy /etc/marmot/hibernation.yaml \
    --haproxy-stats-url 'http://marathon-lb.marathon.mesos:9090/haproxy?stats;csv'
  hibernator --marathon-url http://127.0.0.1:8080 --policy docs/examples/hibernator-small.yaml --dry-run

Signals: SIGHUP reloads the policy (a bad one keeps the last good one); SIGINT and SIGTERM stop, after
the requests the activator holds have been answered (up to --drain-timeout).
`

// config is the command line, checked.
type config struct {
	marathonURLs    []string
	policyFile      string
	listen          string
	activatorListen string
	haproxyURLs     []string
	nginxLogs       []string
	// lbProbeURLs are the load balancers' frontends whose fallback must reach an activator before
	// anything sleeps; none: not checked.
	lbProbeURLs     []string
	dryRun          bool
	interval        time.Duration
	trafficInterval time.Duration
	recheckAfter    time.Duration
	drainTimeout    time.Duration
	marathonTimeout time.Duration
	logLevel        zapcore.Level
	version         bool
	// The activator's limits against slow and greedy clients.
	activatorReadHeaderTimeout time.Duration
	activatorReadTimeout       time.Duration
	activatorWriteTimeout      time.Duration
	activatorIdleTimeout       time.Duration
	activatorMaxHeaderBytes    int

	// election is nil without --zk: a single replica that always leads.
	election *election.Config
	// marathonAuth are the credentials; never logged, never in /status.
	marathonAuth marmotd.Credentials
	// costRegion and costRate price what sleeping apps free (marmot_cost_hibernation_*).
	costRegion string
	costRate   cost.Rate

	policy *policy.HibernationPolicy
}

// parseConfig reads the flags and checks them all, returning every problem at once.
func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	var marathonURLs, haproxyURLs, nginxLogs, lbProbeURLs marmotd.ListFlag
	var logLevel string
	var cpuPrice, memPrice float64
	var ha marmotd.HAFlags
	marathonFlags := marmotd.MarathonFlags()
	fs := flag.NewFlagSet("hibernator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&marathonURLs, "marathon-url", "Marathon `URL`, repeatable or comma-separated (any instance: standbys proxy to the leader); required")
	fs.StringVar(&c.policyFile, "policy", "", "hibernation policy `FILE` (YAML, docs/hibernation-policy.md); the defaults when not given")
	fs.StringVar(&c.listen, "listen", ":9102", "`address` for /metrics, /status, /healthz, /readyz and the status page")
	fs.StringVar(&c.activatorListen, "activator-listen", ":9103", "`address` of the activator, where load balancers send requests for sleeping apps")
	fs.Var(&haproxyURLs, "haproxy-stats-url", "HAProxy stats CSV `URL` of a marathon-lb, e.g. 'http://lb-1:9090/haproxy?stats;csv' (user:password@ for stats auth); repeatable")
	fs.Var(&lbProbeURLs, "lb-probe-url", "frontend `URL` of a load balancer, e.g. http://marathon-lb.marathon.mesos:80; no app sleeps until a probe through it (Host "+hibernator.ProbeHost+") reached an activator recently, proving its fallback; repeatable or comma-separated")
	fs.Var(&nginxLogs, "nginx-access-log", "`path` of an nginx access log in the marmot log_format; repeatable")
	fs.BoolVar(&c.dryRun, "dry-run", false, "plan and report, change nothing: no app is put to sleep or woken (the activator still answers, with 503 for sleeping apps)")
	fs.DurationVar(&c.interval, "interval", 30*time.Second, "periodic reconcile; Marathon events trigger one sooner")
	fs.DurationVar(&c.trafficInterval, "traffic-interval", 5*time.Second, "how often the traffic sources are read between reconciles")
	fs.DurationVar(&c.recheckAfter, "recheck-after", 5*time.Second, "wait between deciding to put an app to sleep and re-checking it with fresh data")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 30*time.Second, "on shutdown, how long held requests may still wait for their app")
	fs.DurationVar(&c.marathonTimeout, "marathon-timeout", 10*time.Second, "timeout of one Marathon call")
	fs.StringVar(&logLevel, "log-level", "info", "`level` of the JSON logs on stderr: debug, info, warn, error")
	fs.DurationVar(&c.activatorReadHeaderTimeout, "activator-read-header-timeout", 10*time.Second, "the activator closes a connection whose request headers take longer (slow clients)")
	fs.DurationVar(&c.activatorReadTimeout, "activator-read-timeout", time.Minute, "the activator closes a connection whose request, body included, takes longer to read")
	fs.DurationVar(&c.activatorWriteTimeout, "activator-write-timeout", 15*time.Minute, "longest time from the end of a request's headers to the end of its answer, the hold included; must be longer than the policy's hold.max_timeout")
	fs.DurationVar(&c.activatorIdleTimeout, "activator-idle-timeout", 2*time.Minute, "the activator closes keep-alive connections idle this long")
	fs.IntVar(&c.activatorMaxHeaderBytes, "activator-max-header-bytes", 64<<10, "largest request header the activator reads, in `bytes`; larger ones get 431")
	fs.StringVar(&c.costRegion, "cost-region", "us-east-1", "AWS `region` whose on-demand prices (the built-in table, as for the autoscaler's AWS_REGION) price what sleeping apps free: "+strings.Join(cost.Regions(), ", "))
	fs.Float64Var(&cpuPrice, "cost-cpu-price", 0, "`USD` per cpu-hour for what sleeping apps free, instead of the region's (e.g. the autoscaler's marmot_cost_cpu_price_dollars_per_core_hour of the apps' pool)")
	fs.Float64Var(&memPrice, "cost-memory-price", 0, "`USD` per GiB-hour of memory for what sleeping apps free, instead of the region's (e.g. the autoscaler's marmot_cost_memory_price_dollars_per_gib_hour)")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	ha.Register(fs, "hibernator")
	marathonFlags.Register(fs)
	marmotd.Usage(fs, stderr, usage, usageExamples)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.version {
		return c, nil
	}
	c.marathonURLs, c.haproxyURLs, c.nginxLogs, c.lbProbeURLs = marathonURLs, haproxyURLs, nginxLogs, lbProbeURLs

	var errs marmotd.Problems
	add := errs.Add
	errs.NoArgs(fs)
	errs.MarathonURLs(c.marathonURLs)
	errs.CheckAddr("listen", c.listen)
	errs.CheckAddr("activator-listen", c.activatorListen)
	if c.listen == c.activatorListen {
		add("--listen and --activator-listen: both are %q; the activator listens apart from metrics and status", c.listen)
	}
	for i, u := range c.haproxyURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			add("--haproxy-stats-url[%d]: %q is not an http(s) URL, e.g. 'http://lb-1:9090/haproxy?stats;csv'", i, redact(u))
		}
	}
	for i, u := range c.lbProbeURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
			add("--lb-probe-url[%d]: %q is not an http(s) URL without user info, e.g. 'http://marathon-lb.marathon.mesos:80'", i, redact(u))
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"interval", c.interval}, {"traffic-interval", c.trafficInterval}, {"drain-timeout", c.drainTimeout}, {"marathon-timeout", c.marathonTimeout},
		{"activator-read-header-timeout", c.activatorReadHeaderTimeout}, {"activator-read-timeout", c.activatorReadTimeout},
		{"activator-write-timeout", c.activatorWriteTimeout}, {"activator-idle-timeout", c.activatorIdleTimeout}} {
		if d.v <= 0 {
			add("--%s: %s must be positive", d.flag, d.v)
		}
	}
	if c.recheckAfter < 0 {
		add("--recheck-after: %s must not be negative", c.recheckAfter)
	}
	if c.activatorMaxHeaderBytes < 4<<10 {
		add("--activator-max-header-bytes: %d is below 4096; browsers send more", c.activatorMaxHeaderBytes)
	}
	c.costRate = costRate(fs, c.costRegion, cpuPrice, memPrice, &errs)
	errs.LogLevel(logLevel, &c.logLevel)
	c.election = ha.Config(&errs)
	c.marathonAuth = marathonFlags.Resolve(&errs)
	c.policy = policy.DefaultHibernationPolicy()
	if c.policyFile != "" {
		p, err := loadPolicy(c.policyFile)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				add("--policy %s: %s", c.policyFile, line)
			}
		}
		c.policy = p
	}
	if c.policy != nil && c.activatorWriteTimeout > 0 && c.policy.Hold.MaxTimeout.D >= c.activatorWriteTimeout {
		add("--activator-write-timeout: %s must be longer than the longest hold the policy allows (%s, hold.max_timeout)", c.activatorWriteTimeout, c.policy.Hold.MaxTimeout.D)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// costRate is the rate of the cost flags: the region's marginal rates (cost.RegionRate), each replaced
// by its price flag when given.
func costRate(fs *flag.FlagSet, region string, cpuPrice, memPrice float64, errs *marmotd.Problems) cost.Rate {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	rate, ok := cost.RegionRate(region)
	if !ok && !(set["cost-cpu-price"] && set["cost-memory-price"]) {
		errs.Add("--cost-region: %q has no built-in prices (%s); give --cost-cpu-price and --cost-memory-price instead", region, strings.Join(cost.Regions(), ", "))
	}
	for _, p := range []struct {
		flag string
		v    float64
		to   *float64
	}{{"cost-cpu-price", cpuPrice, &rate.CPUHour}, {"cost-memory-price", memPrice, &rate.GiBHour}} {
		if !set[p.flag] {
			continue
		}
		if math.IsNaN(p.v) || math.IsInf(p.v, 0) || p.v < 0 {
			errs.Add("--%s: %v is not a price in USD, e.g. 0.034", p.flag, p.v)
		}
		*p.to = p.v
	}
	if rate == (cost.Rate{}) && (set["cost-cpu-price"] || set["cost-memory-price"]) {
		errs.Add("--cost-cpu-price, --cost-memory-price: both 0; leave them out for the region's prices")
	}
	return rate
}

// loadPolicy reads and checks a policy file; the error lists every problem, one per line.
func loadPolicy(path string) (*policy.HibernationPolicy, error) {
	return marmotd.LoadPolicy(path, policy.LoadHibernationPolicy)
}

// redact hides the password of a URL with user info.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	return p.Redacted()
}
