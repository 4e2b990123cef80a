package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"go.uber.org/zap/zapcore"

	awscloud "github.com/marmot-project/marmot/cloud/aws"
	"github.com/marmot-project/marmot/election"
	marmotd "github.com/marmot-project/marmot/internal/daemon"
	"github.com/marmot-project/marmot/mesos"
	"github.com/marmot-project/marmot/policy"
)

const usage = `autoscaler: keeps each Mesos agent pool on AWS the right size.

For every pool of the policy it reads what Mesos has allocated and what Marathon cannot place, grows
the pool's Auto Scaling groups for waiting instances, and shrinks them by draining agents through
Mesos (maintenance windows, or DRAIN_AGENT on Mesos 1.9+) before terminating exactly those instances.
docs/autoscaler.md explains how; docs/autoscaler-policy.md documents the policy.

Usage:
  autoscaler --mesos-url URL --marathon-url URL --policy FILE [flags]   run
  autoscaler check-policy FILE                                         check a policy: every error with its field path

AWS is configured the SDK's usual way: AWS_REGION (required), AWS_ENDPOINT_URL, and the default
credential chain (environment, shared config and credentials files, web identity, instance role).

Flags:
`

const usageExamples = `
Endpoints (--listen): /metrics (Prometheus), /status (JSON: every pool's last plan with its reasons,
drains in progress, backoffs), /healthz, /readyz (ready once Mesos, Marathon and AWS were all read).

Examples:
  autoscaler --mesos-url http://m1:5050,http://m2:5050 --marathon-url http://marathon.mesos:8080 \
    --policy /etc/marmot/autoscaler.yaml
  autoscaler ... --dry-run --once          plan once, print the plan as JSON, change nothing
  autoscaler ... --notice-queue https://sqs.us-east-1.amazonaws.com/123456789012/marmot-notices
                                           drain spot agents on their interruption warning

  # against the simulator (simulate serve --scenario small):
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x \
    autoscaler --mesos-url http://127.0.0.1:5050 --marathon-url http://127.0.0.1:8080 \
    --policy docs/examples/autoscaler-small.yaml

Signals: SIGHUP reloads the policy (a bad one leaves the last good one in force); SIGINT and SIGTERM
stop after the reconcile in progress.
`

// config is the command line, checked, with the policy loaded and the AWS configuration resolved.
type config struct {
	mesosURLs    []string
	marathonURLs []string
	policyFile   string
	listen       string
	dryRun       bool
	once         bool
	logLevel     zapcore.Level
	version      bool

	// election is nil without --zk: a single replica that always leads.
	election *election.Config
	// mesosAuth and marathonAuth are the credentials; never logged, never in /status.
	mesosAuth    marmotd.Credentials
	marathonAuth marmotd.Credentials

	policy *policy.AutoscalerPolicy
	aws    aws.Config
	// noticeQueue is the SQS queue of EC2's instance notices, "" for none.
	noticeQueue string
}

// parseConfig reads the flags and the environment and checks them all, returning every problem at
// once, each naming its flag.
func parseConfig(ctx context.Context, args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	var mesosURLs, marathonURLs marmotd.ListFlag
	var logLevel string
	var ha marmotd.HAFlags
	mesosFlags, marathonFlags := marmotd.MesosFlags(), marmotd.MarathonFlags()
	fs := flag.NewFlagSet("autoscaler", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&mesosURLs, "mesos-url", "Mesos master `URLs`, comma-separated or repeated (any master: the client follows the leader); required")
	fs.Var(&marathonURLs, "marathon-url", "Marathon `URLs`, comma-separated or repeated (any instance: standbys proxy to the leader); required")
	fs.StringVar(&c.policyFile, "policy", "", "autoscaler policy `FILE` (YAML, docs/autoscaler-policy.md); required")
	fs.StringVar(&c.listen, "listen", ":9101", "`address` for /metrics, /status, /healthz and /readyz")
	fs.StringVar(&c.noticeQueue, "notice-queue", "", "SQS queue `URL` fed with EC2 spot interruption warnings; their agents drain before the reclaim (docs/autoscaler.md#spot-interruptions)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "plan and report every action, change nothing in Mesos or AWS")
	fs.BoolVar(&c.once, "once", false, "run one reconcile, print the plan and the actions as JSON on stdout, and exit")
	fs.StringVar(&logLevel, "log-level", "info", "`level` of the JSON logs on stderr: debug, info, warn, error")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	ha.Register(fs, "autoscaler")
	mesosFlags.Register(fs)
	marathonFlags.Register(fs)
	marmotd.Usage(fs, stderr, usage, usageExamples)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.version {
		return c, nil
	}
	c.mesosURLs, c.marathonURLs = mesosURLs, marathonURLs

	var errs marmotd.Problems
	add := errs.Add
	errs.NoArgs(fs)
	if len(c.mesosURLs) == 0 {
		add("--mesos-url: required, e.g. http://m1:5050")
	} else if _, err := mesos.New(mesos.Config{URLs: c.mesosURLs}, nil); err != nil {
		for _, e := range marmotd.Unjoin(err) {
			add("--mesos-url: %s", strings.TrimPrefix(e, "mesos: config "))
		}
	}
	errs.MarathonURLs(c.marathonURLs)
	if c.policyFile == "" {
		add("--policy: required, a policy file such as docs/examples/autoscaler-small.yaml")
	} else if p, err := loadPolicy(c.policyFile); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			add("--policy %s: %s", c.policyFile, e)
		}
	} else {
		c.policy = p
	}
	errs.CheckAddr("listen", c.listen)
	errs.LogLevel(logLevel, &c.logLevel)
	c.election = ha.Config(&errs)
	c.mesosAuth, c.marathonAuth = mesosFlags.Resolve(&errs), marathonFlags.Resolve(&errs)
	if cfg, err := awsconfig.LoadDefaultConfig(ctx); err != nil {
		add("AWS configuration: %v", err)
	} else if cfg.Region == "" {
		add("AWS_REGION: required (or a region in the shared AWS config), e.g. us-east-1")
	} else {
		c.aws = cfg
	}
	if c.noticeQueue != "" {
		if _, err := awscloud.NewNoticeQueueFromConfig(c.aws, c.noticeQueue, awscloud.WithQueueFlag("--notice-queue")); err != nil {
			add("%v", err)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// loadPolicy reads and checks a policy file; the error lists every problem, one per line, each with
// its field path.
func loadPolicy(path string) (*policy.AutoscalerPolicy, error) {
	return marmotd.LoadPolicy(path, policy.LoadAutoscalerPolicy)
}
