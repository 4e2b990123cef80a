// Package awscloud implements cloud.Provider on aws-sdk-go-v2: EC2 Auto Scaling for groups,
// activities and the scaling actions, EC2 for instance addresses, tags, instance types and spot
// prices. NoticeQueue implements cloud.NoticeQueue on SQS, reading EventBridge events.
//
// Configuration comes from the SDK's default chain: AWS_REGION, AWS_ENDPOINT_URL (and the
// per-service AWS_ENDPOINT_URL_AUTO_SCALING / AWS_ENDPOINT_URL_EC2), the shared config files and
// the credential chain (environment, profile, web identity, instance role). WithRegion and
// WithEndpoint override it, e.g. to point at the simulator.
//
// Retries are the SDK's standard retryer: throttling codes (Auto Scaling's Throttling, EC2's
// RequestLimitExceeded, …), 5xx answers (ResourceContention is a 500) and dropped connections are
// retried with the SDK's jittered exponential backoff (a random wait below 2^attempt seconds, capped
// at the max backoff), up to the max attempts (DefaultMaxAttempts, DefaultMaxBackoff; WithRetry),
// every wait cut short by the caller's ctx; the SDK's retry quota (500 tokens, 5 per retry) stops
// retrying altogether while the API keeps failing. ScalingActivityInProgress and
// ValidationError are not retried: the autoscaler backs the group off itself (STYLE 10: backoff is
// state the planner reads). The final error is classified into cloud's typed errors.
package awscloud

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/marmot-project/marmot/cloud"
)

// AutoScalingAPI is the part of the Auto Scaling client Marmot uses: the SDK's paginated describe
// clients plus the mutating calls.
type AutoScalingAPI interface {
	autoscaling.DescribeAutoScalingGroupsAPIClient
	autoscaling.DescribeScalingActivitiesAPIClient
	SetDesiredCapacity(context.Context, *autoscaling.SetDesiredCapacityInput, ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	TerminateInstanceInAutoScalingGroup(context.Context, *autoscaling.TerminateInstanceInAutoScalingGroupInput, ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error)
	SetInstanceProtection(context.Context, *autoscaling.SetInstanceProtectionInput, ...func(*autoscaling.Options)) (*autoscaling.SetInstanceProtectionOutput, error)
}

// EC2API is the part of the EC2 client Marmot uses: the SDK's paginated describe clients plus the
// tag calls.
type EC2API interface {
	ec2.DescribeInstancesAPIClient
	ec2.DescribeInstanceTypesAPIClient
	ec2.DescribeSpotPriceHistoryAPIClient
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	DeleteTags(context.Context, *ec2.DeleteTagsInput, ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error)
}

var (
	_ AutoScalingAPI = (*autoscaling.Client)(nil)
	_ EC2API         = (*ec2.Client)(nil)
	_ cloud.Provider = (*Provider)(nil)
)

// Retry defaults. Five attempts rather than the SDK's three: Auto Scaling's request rate is shared
// by every tool in the account, and a reconcile every 30 s can afford to wait out a burst; a wait of
// at most 10 s keeps one call under a minute even when every attempt fails.
const (
	DefaultMaxAttempts = 5
	DefaultMaxBackoff  = 10 * time.Second
)

// Provider is a cloud.Provider on AWS. It is safe for concurrent use.
type Provider struct {
	as  AutoScalingAPI
	ec2 EC2API
}

// Option changes how New and NewFromConfig build the clients.
type Option func(*options)

type options struct {
	region, endpoint string
	maxAttempts      int
	maxBackoff       time.Duration
	queueFlag        string // NoticeQueue only
}

// WithRegion overrides the region from the default chain.
func WithRegion(region string) Option { return func(o *options) { o.region = region } }

// WithEndpoint sends both Auto Scaling and EC2 calls (a NoticeQueue's SQS calls) to url (e.g. the
// simulator's "http://127.0.0.1:PORT"), overriding AWS_ENDPOINT_URL.
func WithEndpoint(url string) Option { return func(o *options) { o.endpoint = url } }

// WithRetry sets the attempts per call (at least 1) and the longest wait between two of them.
// A maxBackoff of 0 retries at once, which is what tests want. Without WithRetry, AWS_MAX_ATTEMPTS
// from the environment or DefaultMaxAttempts applies, with DefaultMaxBackoff.
func WithRetry(maxAttempts int, maxBackoff time.Duration) Option {
	return func(o *options) {
		o.maxAttempts, o.maxBackoff = max(maxAttempts, 1), max(maxBackoff, 0)
	}
}

// New loads the SDK's default configuration and returns a Provider on it.
func New(ctx context.Context, opts ...Option) (*Provider, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return NewFromConfig(cfg, opts...), nil
}

// NewFromConfig returns a Provider on cfg (its region, endpoint, credentials and HTTP client), with
// Marmot's retry policy and the options applied.
func NewFromConfig(cfg aws.Config, opts ...Option) *Provider {
	o := options{maxAttempts: DefaultMaxAttempts, maxBackoff: DefaultMaxBackoff}
	if cfg.RetryMaxAttempts > 0 {
		o.maxAttempts = cfg.RetryMaxAttempts
	}
	for _, fn := range opts {
		fn(&o)
	}
	cfg = cfg.Copy()
	if o.region != "" {
		cfg.Region = o.region
	}
	if o.endpoint != "" {
		cfg.BaseEndpoint = aws.String(o.endpoint)
	}
	// The retryer is built per client: the retry quota then belongs to one service, so Auto
	// Scaling throttling does not stop EC2 retries.
	cfg.Retryer = func() aws.Retryer { return newRetryer(o.maxAttempts, o.maxBackoff) }
	cfg.RetryMaxAttempts, cfg.RetryMode = 0, ""
	// The HTTP client is wrapped after the SDK has resolved it (its defaults mode sets timeouts on
	// its own client only).
	as := autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.HTTPClient = wholeBody{o.HTTPClient} })
	ec := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.HTTPClient = wholeBody{o.HTTPClient} })
	return NewFromClients(as, ec)
}

// NewFromClients returns a Provider on clients the caller built; their retry policy is the caller's.
func NewFromClients(as AutoScalingAPI, ec EC2API) *Provider {
	return &Provider{as: as, ec2: ec}
}

func newRetryer(maxAttempts int, maxBackoff time.Duration) aws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = maxAttempts
		so.MaxBackoff = maxBackoff
		// The SDK's exponential backoff with jitter: a random wait in [0, 2^attempt s), then
		// maxBackoff once that would be longer. For 0 it would turn log2(0) = -Inf into an int,
		// which Go leaves to the platform, so no waits are said plainly.
		so.Backoff = retry.NewExponentialJitterBackoff(maxBackoff)
		if maxBackoff == 0 {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}
	})
}

// wholeBody reads each answer in full before the SDK sees it. smithy-go closes the request body as
// soon as Do returns (transport/http/client.go), while net/http may still hold it; when the server
// answers that fast (the simulator on loopback), net/http then drops the connection under the
// answer being read, and the SDK retries the call (without this, most of TestOneCallOneRequest's 30
// calls with a 32 KiB answer are sent again, some failing all their attempts). Reading the answer
// inside Do, before that Close, keeps one call one request, which throttling budgets and attempt
// counts rely on. Pages are bounded (MaxResults), so the buffer is too.
type wholeBody struct{ aws.HTTPClient }

func (c wholeBody) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.HTTPClient.Do(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
