package cloud_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/cloud/cloudtest"
)

func TestErrorMatchesItsKindAndKeepsTheCause(t *testing.T) {
	cause := errors.New("sdk: api error ValidationError")
	err := fmt.Errorf("scale up: %w", &cloud.Error{Kind: cloud.ErrInvalid, Op: "SetDesiredCapacity g", Code: "ValidationError",
		Message: "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup.", Attempts: 1, Err: cause})
	if !errors.Is(err, cloud.ErrInvalid) || errors.Is(err, cloud.ErrNotFound) || !errors.Is(err, cause) {
		t.Errorf("errors.Is on %v", err)
	}
	want := "scale up: SetDesiredCapacity g: ValidationError: New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup."
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	retried := &cloud.Error{Kind: cloud.ErrThrottled, Op: "DescribeInstances", Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Attempts: 5}
	if !strings.HasSuffix(retried.Error(), "(after 5 attempts)") {
		t.Errorf("Error() = %q", retried.Error())
	}
	if errors.Is(&cloud.Error{Op: "x", Err: cause}, cloud.ErrInvalid) {
		t.Error("an unclassified error matches a kind")
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&cloud.Error{Kind: cloud.ErrThrottled}, "throttled"},
		{fmt.Errorf("x: %w", &cloud.Error{Kind: cloud.ErrScalingInProgress}), "scaling_in_progress"},
		{&cloud.Error{Err: context.Canceled}, "canceled"},
		{context.DeadlineExceeded, "canceled"},
		{&cloud.Error{Kind: cloud.ErrUnavailable, Err: context.DeadlineExceeded}, "unavailable"}, // an HTTP client timeout
		{&cloud.Error{Code: "AccessDenied"}, "other"},
	}
	for _, tt := range tests {
		if got := cloud.Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
		if tt.err != nil && !slices.Contains(cloud.Reasons(), cloud.Reason(tt.err)) {
			t.Errorf("Reasons() lacks %q", cloud.Reason(tt.err))
		}
	}
}

func TestActivityErr(t *testing.T) {
	failedLaunch := cloud.Activity{ID: "a1", Kind: cloud.ActivityLaunch, Status: cloud.ActivityFailed,
		StatusMessage: "We currently do not have sufficient m5.xlarge capacity in the Availability Zone you requested (us-east-1a)."}
	err := failedLaunch.Err()
	if !errors.Is(err, cloud.ErrCapacity) || !strings.Contains(err.Error(), "sufficient m5.xlarge capacity") {
		t.Errorf("failed launch: %v, want ErrCapacity with the reason", err)
	}
	failedTerminate := cloud.Activity{ID: "a2", Kind: cloud.ActivityTerminate, Status: cloud.ActivityFailed, Description: "Terminating EC2 instance: i-1"}
	if err := failedTerminate.Err(); err == nil || errors.Is(err, cloud.ErrCapacity) || !strings.Contains(err.Error(), "i-1") {
		t.Errorf("failed termination: %v, want an unclassified error naming the instance", err)
	}
	for _, s := range []cloud.ActivityStatus{cloud.ActivityInProgress, cloud.ActivityPreInService, cloud.ActivitySuccessful} {
		if err := (cloud.Activity{Kind: cloud.ActivityLaunch, Status: s}).Err(); err != nil {
			t.Errorf("status %s: %v", s, err)
		}
	}
	if cloud.ActivityInProgress.Done() || !cloud.ActivityCancelled.Done() {
		t.Error("Done")
	}
}

func TestLifecycle(t *testing.T) {
	launching := []cloud.Lifecycle{cloud.LifecyclePending, cloud.LifecyclePendingWait, cloud.LifecyclePendingProceed}
	leaving := []cloud.Lifecycle{cloud.LifecycleTerminating, cloud.LifecycleTerminatingWait, cloud.LifecycleTerminatingProceed,
		cloud.LifecycleTerminated, cloud.LifecycleDetaching, cloud.LifecycleDetached}
	for _, l := range []cloud.Lifecycle{cloud.LifecyclePending, cloud.LifecyclePendingWait, cloud.LifecyclePendingProceed,
		cloud.LifecycleQuarantined, cloud.LifecycleInService, cloud.LifecycleTerminating, cloud.LifecycleTerminatingWait,
		cloud.LifecycleTerminatingProceed, cloud.LifecycleTerminated, cloud.LifecycleDetaching, cloud.LifecycleDetached,
		cloud.LifecycleEnteringStandby, cloud.LifecycleStandby} {
		if l.Launching() != slices.Contains(launching, l) || l.Leaving() != slices.Contains(leaving, l) {
			t.Errorf("%s: Launching %v Leaving %v", l, l.Launching(), l.Leaving())
		}
	}
	g := cloud.Group{Suspended: []string{"AZRebalance", "Terminate"}}
	if !g.Suspends("Terminate") || g.Suspends("Launch") {
		t.Error("Suspends")
	}
}

// observation is one report from Instrument.
type observation struct {
	call string
	d    time.Duration
	err  error
}

func TestInstrumentObservesEveryCall(t *testing.T) {
	fake := cloudtest.New(nil)
	fake.AddGroup(cloud.Group{Name: "g", Pool: "default", Min: 1, Max: 5, Desired: 1, InstanceType: "m5.xlarge",
		Instances: []cloud.Instance{{ID: "i-1"}}})
	throttled := &cloud.Error{Kind: cloud.ErrThrottled, Op: "SetDesiredCapacity g", Code: "Throttling", Message: "Rate exceeded"}
	fake.Fail(cloud.CallSetDesiredCapacity, throttled)
	var seen []observation
	p := cloud.Instrument(fake, func(call string, d time.Duration, err error) { seen = append(seen, observation{call, d, err}) })

	ctx := context.Background()
	calls := []struct {
		name string
		do   func() error
		want error
	}{
		{cloud.CallGroups, func() error { _, err := p.Groups(ctx, cloud.GroupQuery{}); return err }, nil},
		{cloud.CallSetDesiredCapacity, func() error { return p.SetDesiredCapacity(ctx, "g", 2) }, throttled},
		{cloud.CallTerminateInstance, func() error { _, err := p.TerminateInstance(ctx, "i-404", true); return err }, cloud.ErrNotFound},
		{cloud.CallSetInstanceProtection, func() error { return p.SetInstanceProtection(ctx, "g", []string{"i-1"}, true) }, nil},
		{cloud.CallInstances, func() error { _, err := p.Instances(ctx, cloud.InstanceQuery{}); return err }, cloud.ErrInvalid},
		{cloud.CallSetInstanceTags, func() error { return p.SetInstanceTags(ctx, "i-1", map[string]string{"k": "v"}) }, nil},
		{cloud.CallDeleteInstanceTags, func() error { return p.DeleteInstanceTags(ctx, "i-1", []string{"k"}) }, nil},
		{cloud.CallActivities, func() error { _, err := p.Activities(ctx, "g", time.Time{}); return err }, nil},
		{cloud.CallInstanceTypes, func() error { _, err := p.InstanceTypes(ctx, []string{"x"}); return err }, cloud.ErrInvalid},
		{cloud.CallSpotPrices, func() error { _, err := p.SpotPrices(ctx, cloud.SpotPriceQuery{}); return err }, nil},
	}
	for _, c := range calls {
		err := c.do()
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s returned %v, want %v", c.name, err, c.want)
		}
	}
	if len(seen) != len(calls) {
		t.Fatalf("%d observations for %d calls: %+v", len(seen), len(calls), seen)
	}
	for n, c := range calls {
		o := seen[n]
		if o.call != c.name || o.d < 0 || !errors.Is(o.err, c.want) || (c.want == nil) != (o.err == nil) {
			t.Errorf("observation %d = %+v, want call %s with error %v", n, o, c.name, c.want)
		}
	}
	// Every method of Provider is a call Instrument knows, and the list is what this test covered.
	if n := reflect.TypeFor[cloud.Provider]().NumMethod(); n != len(cloud.Calls()) || n != len(calls) {
		t.Errorf("Provider has %d methods, Calls() %d, this test %d", n, len(cloud.Calls()), len(calls))
	}
	for _, c := range calls {
		if !slices.Contains(cloud.Calls(), c.name) {
			t.Errorf("Calls() lacks %s", c.name)
		}
	}
}
