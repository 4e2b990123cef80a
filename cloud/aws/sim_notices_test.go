package awscloud_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/marmot-project/marmot/cloud"
	awscloud "github.com/marmot-project/marmot/cloud/aws"
	"github.com/marmot-project/marmot/cloud/cloudtest"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/awsapi"
)

// The NoticeQueue against the simulator's SQS face, on the small scenario with its group made spot.
// Visibility timeouts are model time there; every receive asks for no wait, since a long poll would
// hold the connection for wall time.

func newSpotSim(t *testing.T) *sim {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return newSimWith(t, func(sc *simulate.Scenario) { sc.Pools[0].Groups[0].Spot = true })
}

// queueURL is the notice queue's URL on the simulator.
func (s *sim) queueURL() string {
	var account string
	s.world.View(func(v *simulate.View) { account = v.AccountID() })
	return awsapi.NoticeQueueURL(s.server.URL, account)
}

// noticeQueue is built the way the autoscaler builds its own: NewNoticeQueueFromConfig with static
// credentials and the simulator as the endpoint; retries are immediate unless opts say otherwise.
func (s *sim) noticeQueue(t *testing.T, url string, opts ...awscloud.Option) *awscloud.NoticeQueue {
	t.Helper()
	cfg := aws.Config{
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  s.server.Client(),
	}
	opts = append([]awscloud.Option{awscloud.WithRegion("us-east-1"), awscloud.WithEndpoint(s.server.URL), awscloud.WithRetry(3, 0),
		awscloud.WithQueueFlag("--notice-queue-url")}, opts...)
	q, err := awscloud.NewNoticeQueueFromConfig(cfg, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestSimNoticeQueueKeepsTheContract(t *testing.T) {
	s := newSpotSim(t)
	q := s.noticeQueue(t, s.queueURL())
	cloudtest.NoticeContract(t, cloudtest.NoticeHarness{
		Queue: q,
		Interrupt: func(t *testing.T) (string, time.Time) {
			id := oneGroup(t, s.provider(), cloud.GroupQuery{Names: []string{group}}).Instances[0].ID
			at := s.world.Now()
			s.fault(t, simulate.Fault{Kind: simulate.FaultSpotInterruption, Instance: id})
			return id, at.Truncate(time.Second) // events carry whole seconds
		},
		Advance: s.advance,
	})
}

func TestSimSpotInterruptionThenTheStateChanges(t *testing.T) {
	s := newSpotSim(t)
	q := s.noticeQueue(t, s.queueURL())
	arn, err := q.Check(bg)
	if err != nil || arn != "arn:aws:sqs:us-east-1:123456789012:marmot-notices" {
		t.Fatalf("Check = %q, %v", arn, err)
	}
	id := oneGroup(t, s.provider(), cloud.GroupQuery{Names: []string{group}}).Instances[0].ID
	start := s.world.Now()
	s.fault(t, simulate.Fault{Kind: simulate.FaultSpotInterruption, Instance: id})
	s.world.SendNotice("Hello world!", 0) // a producer other than EC2

	got, err := q.Receive(bg, 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("received %+v, want the warning and the stranger", got)
	}
	warning, stranger := got[0], got[1]
	if warning.Kind != cloud.NoticeSpotInterruption || warning.InstanceID != id || warning.Action != "terminate" ||
		!warning.Deadline.Equal(start.Truncate(time.Second).Add(2*time.Minute)) || warning.Received != 1 {
		t.Errorf("warning = %+v", warning)
	}
	if stranger.Kind != cloud.NoticeUnreadable || stranger.Receipt == "" || !strings.Contains(stranger.Problem, "not JSON") {
		t.Errorf("stranger = %+v", stranger)
	}
	if err := q.Delete(bg, got); err != nil {
		t.Fatal(err)
	}

	// Two minutes on, EC2 takes the instance: the state changes follow the warning.
	s.advance(2*time.Minute + time.Second)
	s.advance(time.Minute) // past the termination time
	var states []cloud.InstanceState
	for {
		got, err := q.Receive(bg, 0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		for _, n := range got {
			if n.Kind != cloud.NoticeStateChange || n.InstanceID != id {
				t.Errorf("notice %+v, want state changes of %s", n, id)
			}
			states = append(states, n.State)
		}
		if err := q.Delete(bg, got); err != nil {
			t.Fatal(err)
		}
	}
	if len(states) == 0 || states[len(states)-1] != cloud.StateTerminated {
		t.Errorf("states %v, want them to end terminated", states)
	}
	if got, err := q.Receive(bg, 0, time.Hour); err != nil || len(got) != 0 {
		t.Errorf("after deleting everything: %+v, %v", got, err)
	}
}

func TestSimNoticeQueueThrottlingAndAMissingQueue(t *testing.T) {
	s := newSpotSim(t)
	q := s.noticeQueue(t, s.queueURL())
	// Two throttled answers, then the receive goes through on the third attempt.
	s.fault(t, simulate.Fault{Kind: simulate.FaultAWSThrottle, Service: simulate.ServiceSQS, Count: 2})
	before := s.requests.Load()
	if _, err := q.Receive(bg, 0, time.Minute); err != nil {
		t.Fatalf("Receive after 2 throttles: %v", err)
	}
	if n := s.requests.Load() - before; n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	s.fault(t, simulate.Fault{Kind: simulate.FaultAWSThrottle, Service: simulate.ServiceSQS, Rate: 1})
	_, err := q.Receive(bg, 0, time.Minute)
	var ce *cloud.Error
	if !errors.Is(err, cloud.ErrThrottled) || !errors.As(err, &ce) || ce.Attempts != 3 {
		t.Errorf("throttled for good: %v, want ErrThrottled after 3 attempts", err)
	}
	s.fault(t, simulate.Fault{Kind: simulate.FaultClear})

	wrong := strings.Replace(s.queueURL(), simulate.NoticeQueueName, "no-such-queue", 1)
	_, err = s.noticeQueue(t, wrong).Check(bg)
	if !errors.Is(err, cloud.ErrNotFound) || !strings.HasPrefix(err.Error(), "--notice-queue-url "+wrong+": no such queue") {
		t.Errorf("Check of a missing queue: %v", err)
	}
	if _, err := s.noticeQueue(t, wrong).Receive(bg, 0, time.Minute); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("Receive from a missing queue: %v, want ErrNotFound", err)
	}
}
