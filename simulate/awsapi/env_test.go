package awsapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"go.uber.org/zap/zaptest"

	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/awsapi"
)

// env is the small scenario served over the AWS APIs on loopback, with real aws-sdk-go-v2 clients
// configured the way the autoscaler configures its own (static credentials, BaseEndpoint).
type env struct {
	t        *testing.T
	world    *simulate.World
	clock    *simulate.VirtualClock
	server   *httptest.Server
	requests atomic.Int64 // HTTP requests the handler received, retries included
	failures atomic.Int64 // of which answered with an error status
	handler  http.Handler
	as       *autoscaling.Client
	ec2      *ec2.Client
	sqs      *sqs.Client
	queueURL string // the notice queue's URL, as GetQueueUrl gives it
}

const pool = "default"
const group = "marmot-default"

// newEnv builds the world from the small scenario after edit (if any) has changed it.
func newEnv(t *testing.T, edit ...func(*simulate.Scenario)) *env {
	t.Helper()
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(sc)
	}
	sc.Defaults()
	clock := simulate.NewVirtualClock(sc.StartTime())
	w, err := simulate.New(sc, clock, simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, world: w, clock: clock}
	h := awsapi.New(w, awsapi.WithLogger(zaptest.NewLogger(t)))
	e.handler = h
	e.server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		sw := &statusWriter{ResponseWriter: rw, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		if sw.status >= 400 {
			e.failures.Add(1)
		}
	}))
	t.Cleanup(e.server.Close)

	// Nothing may reach for instance metadata: the clients get everything from the config below.
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")),
		config.WithRetryer(func() aws.Retryer {
			// The standard retryer (3 attempts, the real retry rules) without its sleeps and client-side
			// retry quota, so that retries are fast and tests do not drain a shared bucket.
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				o.RateLimiter = ratelimit.None
			})
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	e.as = autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.BaseEndpoint = aws.String(e.server.URL) })
	e.ec2 = ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(e.server.URL) })
	e.sqs = sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(e.server.URL) })
	e.world.View(func(v *simulate.View) { e.queueURL = awsapi.NoticeQueueURL(e.server.URL, v.AccountID()) })
	return e
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// post sends a raw Query request to the handler, as the SDKs send it, and returns the answer.
func (e *env) post(body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, r)
	return rec
}

// withBatchPool adds a second pool with its own group, so that listings have more than one group.
func withBatchPool(sc *simulate.Scenario) {
	sc.Pools = append(sc.Pools, simulate.PoolSpec{Name: "batch", Groups: []simulate.GroupSpec{{
		Name: "marmot-batch", InstanceType: "m5.2xlarge", Min: 0, Max: 5, Desired: 2, Tags: map[string]string{"team": "data"},
	}}})
}

func ctx(t *testing.T) context.Context { return t.Context() }

// advance moves virtual time and lets the model run what fell due.
func (e *env) advance(d time.Duration) {
	e.clock.Advance(d)
	e.world.Step()
}

func (e *env) group(name string) astypes.AutoScalingGroup {
	e.t.Helper()
	out, err := e.as.DescribeAutoScalingGroups(ctx(e.t), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 1 {
		e.t.Fatalf("DescribeAutoScalingGroups(%s) returned %d groups", name, len(out.AutoScalingGroups))
	}
	return out.AutoScalingGroups[0]
}

// states maps instance id to lifecycle state for the group's members.
func states(g astypes.AutoScalingGroup) map[string]astypes.LifecycleState {
	out := map[string]astypes.LifecycleState{}
	for _, i := range g.Instances {
		out[aws.ToString(i.InstanceId)] = i.LifecycleState
	}
	return out
}

func (e *env) instance(id string) ec2types.Instance {
	e.t.Helper()
	out, err := e.ec2.DescribeInstances(ctx(e.t), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		e.t.Fatalf("DescribeInstances(%s): %d reservations", id, len(out.Reservations))
	}
	return out.Reservations[0].Instances[0]
}

// wantAPIError checks that err is the AWS error code with message (message "" = any).
func wantAPIError(t *testing.T, err error, code, message string) smithy.APIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an AWS API error, want %s", err, code)
	}
	if ae.ErrorCode() != code || (message != "" && ae.ErrorMessage() != message) {
		t.Fatalf("error code %q message %q, want %q %q", ae.ErrorCode(), ae.ErrorMessage(), code, message)
	}
	return ae
}

func keys[M ~map[K]V, K comparable, V any](m M) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sortedKeys(m map[string]astypes.LifecycleState) []string {
	out := keys(m)
	slices.Sort(out)
	return out
}
