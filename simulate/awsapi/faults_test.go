package awsapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/marmot-project/marmot/simulate"
)

func (e *env) inject(f simulate.Fault) {
	e.t.Helper()
	if err := e.world.InjectFault(f); err != nil {
		e.t.Fatal(err)
	}
}

// calls runs each AWS service's cheapest read through the SDK.
var calls = map[simulate.Service]func(e *env) error{
	simulate.ServiceAutoScaling: func(e *env) error {
		_, err := e.as.DescribeAutoScalingGroups(ctx(e.t), &autoscaling.DescribeAutoScalingGroupsInput{})
		return err
	},
	simulate.ServiceEC2: func(e *env) error {
		_, err := e.ec2.DescribeInstances(ctx(e.t), &ec2.DescribeInstancesInput{})
		return err
	},
	simulate.ServiceSQS: func(e *env) error {
		_, err := e.sqs.ReceiveMessage(ctx(e.t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.queueURL)})
		return err
	},
}

var throttleCodes = map[simulate.Service]string{
	simulate.ServiceAutoScaling: "Throttling",
	simulate.ServiceEC2:         "RequestLimitExceeded",
	simulate.ServiceSQS:         "RequestThrottled",
}

func TestCountedThrottleIsRetriedBySDK(t *testing.T) {
	for svc, call := range calls {
		t.Run(string(svc), func(t *testing.T) {
			e := newEnv(t)
			e.inject(simulate.Fault{Kind: simulate.FaultAWSThrottle, Service: svc, Count: 2})
			if err := call(e); err != nil {
				t.Fatalf("the SDK did not get through two throttles: %v", err)
			}
			// Counted by answer rather than by request: aws-sdk-go-v2 now and then retries a request
			// whose connection it closed itself (#2737), which the handler sees as one more success.
			if n, f := e.requests.Load(), e.failures.Load(); f != 2 || n < 3 {
				t.Errorf("the handler saw %d attempts of which %d failed, want 2 throttled and then served", n, f)
			}
		})
	}
}

func TestPersistentThrottleReachesCaller(t *testing.T) {
	for svc, call := range calls {
		t.Run(string(svc), func(t *testing.T) {
			e := newEnv(t)
			e.inject(simulate.Fault{Kind: simulate.FaultAWSThrottle, Service: svc})
			err := call(e)
			wantAPIError(t, err, throttleCodes[svc], "")
			if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
				t.Errorf("the SDK does not classify %v as a throttle", err)
			}
			var exhausted *retry.MaxAttemptsError
			if !errors.As(err, &exhausted) || exhausted.Attempt != 3 {
				t.Errorf("error %v: want the retryer's 3 attempts exhausted", err)
			}
			if n, f := e.requests.Load(), e.failures.Load(); n != 3 || f != 3 {
				t.Errorf("the handler saw %d attempts of which %d failed, want 3 throttled", n, f)
			}
			// A throttle on one service leaves the other alone.
			for other, otherCall := range calls {
				if other != svc {
					if err := otherCall(e); err != nil {
						t.Errorf("%s throttled too: %v", other, err)
					}
				}
			}
		})
	}
}

func TestHTTPErrorFaultUsesServiceCodes(t *testing.T) {
	for _, tc := range []struct {
		svc    simulate.Service
		status int
		code   string
	}{
		{simulate.ServiceAutoScaling, 500, "InternalFailure"},
		{simulate.ServiceAutoScaling, 503, "ServiceUnavailable"},
		{simulate.ServiceEC2, 500, "InternalError"},
		{simulate.ServiceEC2, 503, "Unavailable"},
		{simulate.ServiceSQS, 500, "InternalFailure"},
		{simulate.ServiceSQS, 503, "ServiceUnavailable"},
	} {
		t.Run(string(tc.svc)+"/"+tc.code, func(t *testing.T) {
			e := newEnv(t)
			e.inject(simulate.Fault{Kind: simulate.FaultHTTPError, Service: tc.svc, Status: tc.status})
			err := calls[tc.svc](e)
			wantAPIError(t, err, tc.code, "")
			if n, f := e.requests.Load(), e.failures.Load(); n != 3 || f != 3 {
				t.Errorf("the handler saw %d attempts of which %d failed, want the SDK to retry a %d twice", n, f, tc.status)
			}
			e.inject(simulate.Fault{Kind: simulate.FaultClear, Service: tc.svc})
			if err := calls[tc.svc](e); err != nil {
				t.Errorf("after clearing the fault: %v", err)
			}
		})
	}
}

// A slow_response delay is wall time; a client that gives up must not leave the handler sleeping
// (the test server's Close waits for every handler, so a handler that ignored the cancellation would
// hang this test until its timeout).
func TestSlowResponseRespectsClientCancellation(t *testing.T) {
	e := newEnv(t)
	e.inject(simulate.Fault{Kind: simulate.FaultSlowResponse, Service: simulate.ServiceAutoScaling, Delay: time.Hour})
	c, cancel := context.WithTimeout(ctx(t), 50*time.Millisecond)
	defer cancel()
	_, err := e.as.DescribeAutoScalingGroups(c, &autoscaling.DescribeAutoScalingGroupsInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the client's deadline", err)
	}
	e.server.Close()
}
