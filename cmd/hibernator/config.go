package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/marmot-project/marmot/marathon"
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

// listFlag is a flag that may be repeated, each value a comma-separated list.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// config is the command line, checked.
type config struct {
	marathonURLs    []string
	policyFile      string
	listen          string
	activatorListen string
	haproxyURLs     []string
	nginxLogs       []string
	dryRun          bool
	interval        time.Duration
	trafficInterval time.Duration
	recheckAfter    time.Duration
	drainTimeout    time.Duration
	marathonTimeout time.Duration
	logLevel        zapcore.Level

	policy *policy.HibernationPolicy
}

// parseConfig reads the flags and checks them all, returning every problem at once.
func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	var marathonURLs, haproxyURLs, nginxLogs listFlag
	var logLevel string
	fs := flag.NewFlagSet("hibernator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&marathonURLs, "marathon-url", "Marathon `URL`, repeatable or comma-separated (any instance: standbys proxy to the leader); required")
	fs.StringVar(&c.policyFile, "policy", "", "hibernation policy `FILE` (YAML, docs/hibernation-policy.md); the defaults when not given")
	fs.StringVar(&c.listen, "listen", ":9102", "`address` for /metrics, /status, /healthz, /readyz and the status page")
	fs.StringVar(&c.activatorListen, "activator-listen", ":9103", "`address` of the activator, where load balancers send requests for sleeping apps")
	fs.Var(&haproxyURLs, "haproxy-stats-url", "HAProxy stats CSV `URL` of a marathon-lb, e.g. 'http://lb-1:9090/haproxy?stats;csv' (user:password@ for stats auth); repeatable")
	fs.Var(&nginxLogs, "nginx-access-log", "`path` of an nginx access log in the marmot log_format; repeatable")
	fs.BoolVar(&c.dryRun, "dry-run", false, "plan and report, change nothing: no app is put to sleep or woken (the activator still answers, with 503 for sleeping apps)")
	fs.DurationVar(&c.interval, "interval", 30*time.Second, "periodic reconcile; Marathon events trigger one sooner")
	fs.DurationVar(&c.trafficInterval, "traffic-interval", 5*time.Second, "how often the traffic sources are read between reconciles")
	fs.DurationVar(&c.recheckAfter, "recheck-after", 5*time.Second, "wait between deciding to put an app to sleep and re-checking it with fresh data")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 30*time.Second, "on shutdown, how long held requests may still wait for their app")
	fs.DurationVar(&c.marathonTimeout, "marathon-timeout", 10*time.Second, "timeout of one Marathon call")
	fs.StringVar(&logLevel, "log-level", "info", "`level` of the JSON logs on stderr: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		printFlags(stderr, fs)
		fmt.Fprint(stderr, usageExamples)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.marathonURLs, c.haproxyURLs, c.nginxLogs = splitList(marathonURLs), splitList(haproxyURLs), splitList(nginxLogs)

	var errs []string
	add := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if fs.NArg() > 0 {
		add("unexpected arguments %q (flags come as --name value)", fs.Args())
	}
	if len(c.marathonURLs) == 0 {
		add("--marathon-url: required, e.g. http://marathon.mesos:8080")
	} else if err := (marathon.Config{URLs: c.marathonURLs}).Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			add("--marathon-url: %s", line)
		}
	}
	checkAddr := func(flag, addr string) {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			add("--%s: %q is not host:port or :port", flag, addr)
		}
	}
	checkAddr("listen", c.listen)
	checkAddr("activator-listen", c.activatorListen)
	if c.listen == c.activatorListen {
		add("--listen and --activator-listen: both are %q; the activator listens apart from metrics and status", c.listen)
	}
	for i, u := range c.haproxyURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			add("--haproxy-stats-url[%d]: %q is not an http(s) URL, e.g. 'http://lb-1:9090/haproxy?stats;csv'", i, redact(u))
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"interval", c.interval}, {"traffic-interval", c.trafficInterval}, {"drain-timeout", c.drainTimeout}, {"marathon-timeout", c.marathonTimeout}} {
		if d.v <= 0 {
			add("--%s: %s must be positive", d.flag, d.v)
		}
	}
	if c.recheckAfter < 0 {
		add("--recheck-after: %s must not be negative", c.recheckAfter)
	}
	if err := c.logLevel.Set(logLevel); err != nil {
		add("--log-level: %q is not one of debug, info, warn, error", logLevel)
	}
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
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return c, nil
}

// printFlags lists the flags as they are written on a command line, with two dashes.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" {
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, text)
	})
}

// loadPolicy reads and checks a policy file; the error lists every problem, one per line.
func loadPolicy(path string) (*policy.HibernationPolicy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := policy.LoadHibernationPolicy(data)
	var list policy.Errors
	if errors.As(err, &list) {
		lines := make([]string, len(list))
		for i, e := range list {
			lines[i] = e.Error()
		}
		return nil, errors.New(strings.Join(lines, "\n"))
	}
	return p, err
}

// redact hides the password of a URL with user info.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	return p.Redacted()
}
