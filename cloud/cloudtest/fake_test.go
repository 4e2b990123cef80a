package cloudtest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/cloud/cloudtest"
)

var ctx = context.Background()

// newFake returns a Fake with group g: min 1, max 10, desired 3, three instances in service.
func newFake(t *testing.T) (*cloudtest.Fake, *time.Time) {
	t.Helper()
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	f := cloudtest.New(func() time.Time { return now })
	f.AddGroup(cloud.Group{Name: "g", Pool: "default", Min: 1, Max: 10, Desired: 3, InstanceType: "m5.xlarge",
		Zones: []string{"us-east-1a", "us-east-1b"}, Instances: []cloud.Instance{{}, {}, {}}})
	return f, &now
}

func TestFakeKeepsTheProviderContract(t *testing.T) {
	f, now := newFake(t)
	cloudtest.Contract(t, cloudtest.Harness{
		Provider: f,
		Group:    "g",
		Settle: func() {
			*now = now.Add(time.Minute)
			f.Settle()
		},
		Now: func() time.Time { return *now },
	})
}

func TestFakeRecordsCallsAndInjectsErrors(t *testing.T) {
	f, _ := newFake(t)
	throttled := &cloud.Error{Kind: cloud.ErrThrottled, Op: "SetDesiredCapacity g", Code: "Throttling"}
	f.Fail(cloud.CallSetDesiredCapacity, throttled, nil, throttled)
	for n, want := range []error{throttled, nil, throttled, nil} {
		if err := f.SetDesiredCapacity(ctx, "g", 4); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("call %d: %v, want %v", n, err, want)
		}
	}
	calls := f.CallsTo(cloud.CallSetDesiredCapacity)
	if len(calls) != 4 || calls[0].Group != "g" || calls[0].Desired != 4 || calls[0].Err != throttled || calls[1].Err != nil {
		t.Errorf("calls = %+v", calls)
	}
	// A failed call changes nothing: only the two that went through ran, the second a no-op.
	if g, _ := f.Group("g"); g.Desired != 4 || len(g.Instances) != 4 {
		t.Errorf("group = %+v", g)
	}
	if _, err := f.TerminateInstance(ctx, "i-404", true); err == nil {
		t.Fatal("terminating an unknown instance succeeded")
	}
	all := f.Calls()
	if last := all[len(all)-1]; last.Name != cloud.CallTerminateInstance || last.InstanceIDs[0] != "i-404" || !last.Decrement || !errors.Is(last.Err, cloud.ErrNotFound) {
		t.Errorf("last call = %+v", last)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Groups(cancelled, cloud.GroupQuery{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	f.ResetCalls()
	if len(f.Calls()) != 0 {
		t.Error("ResetCalls kept calls")
	}
}

func TestFakeFailedLaunchIsACapacityActivity(t *testing.T) {
	f, _ := newFake(t)
	msg := "We currently do not have sufficient m5.xlarge capacity in the Availability Zone you requested (us-east-1a)."
	f.FailLaunches("g", 1, msg)
	if err := f.SetDesiredCapacity(ctx, "g", 5); err != nil {
		t.Fatal(err)
	}
	g, _ := f.Group("g")
	if len(g.Instances) != 4 {
		t.Errorf("%d instances, want 4: one launch failed", len(g.Instances))
	}
	acts, _ := f.Activities(ctx, "g", time.Time{})
	failed := 0
	for _, a := range acts {
		if err := a.Err(); err != nil {
			failed++
			if !errors.Is(err, cloud.ErrCapacity) || a.InstanceID != "" || a.StatusMessage != msg {
				t.Errorf("failed activity %+v: %v", a, err)
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d failed activities, want 1", failed)
	}
	// The group tries again when it settles, as an ASG keeps trying to reach its desired capacity.
	f.Settle()
	if g, _ := f.Group("g"); len(g.Instances) != 5 {
		t.Errorf("after settle: %d instances, want 5", len(g.Instances))
	}
}

func TestFakeScaleInSparesProtectedInstances(t *testing.T) {
	f, _ := newFake(t)
	g, _ := f.Group("g")
	oldest := g.Instances[0].ID
	if err := f.SetInstanceProtection(ctx, "g", []string{oldest}, true); err != nil {
		t.Fatal(err)
	}
	if err := f.SetInstanceProtection(ctx, "g", []string{"i-404"}, true); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("protecting a non-member: %v, want ErrInvalid", err)
	}
	if err := f.SetDesiredCapacity(ctx, "g", 1); err != nil {
		t.Fatal(err)
	}
	f.Settle()
	g, _ = f.Group("g")
	if len(g.Instances) != 1 || g.Instances[0].ID != oldest || !g.Instances[0].ProtectedFromScaleIn {
		t.Errorf("after scale-in to 1: %+v, want only the protected %s", g.Instances, oldest)
	}
	f.SetHealth(oldest, false)
	if g, _ = f.Group("g"); g.Instances[0].Healthy {
		t.Error("SetHealth(false) did not stick")
	}
	// Protection does not stop a named termination, as on AWS.
	if err := f.SetDesiredCapacity(ctx, "g", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := f.TerminateInstance(ctx, oldest, true); err != nil {
		t.Errorf("terminating a protected instance: %v", err)
	}
}

func TestFakeSpotPricesInForceAndAfter(t *testing.T) {
	f, now := newFake(t)
	at := func(h int) time.Time { return now.Add(time.Duration(h) * time.Hour) }
	f.AddSpotPrices(
		cloud.SpotPrice{InstanceType: "m5.xlarge", Zone: "us-east-1a", PerHour: 0.06, Time: at(-5)},
		cloud.SpotPrice{InstanceType: "m5.xlarge", Zone: "us-east-1a", PerHour: 0.07, Time: at(-3)},
		cloud.SpotPrice{InstanceType: "m5.xlarge", Zone: "us-east-1a", PerHour: 0.08, Time: at(-1)},
		cloud.SpotPrice{InstanceType: "m5.xlarge", Zone: "us-east-1b", PerHour: 0.05, Time: at(-4)},
		cloud.SpotPrice{InstanceType: "m5.xlarge", Zone: "us-east-1a", Product: "Windows", PerHour: 0.2, Time: at(-1)},
	)
	got, err := f.SpotPrices(ctx, cloud.SpotPriceQuery{InstanceTypes: []string{"m5.xlarge"}, Start: at(-2)})
	if err != nil {
		t.Fatal(err)
	}
	// In force at -2h: 0.07 in a, 0.05 in b; after it: 0.08 in a. Newest first; Windows left out.
	want := []float64{0.08, 0.07, 0.05}
	if len(got) != len(want) {
		t.Fatalf("prices = %+v", got)
	}
	for n, p := range got {
		if p.PerHour != want[n] || p.Product != "Linux/UNIX" {
			t.Errorf("price %d = %+v, want %v", n, p, want[n])
		}
	}
	if now, _ := f.SpotPrices(ctx, cloud.SpotPriceQuery{Zones: []string{"us-east-1a"}}); len(now) != 1 || now[0].PerHour != 0.08 {
		t.Errorf("prices in force now in us-east-1a = %+v", now)
	}
}

func TestFakeIsSafeForConcurrentUse(t *testing.T) {
	f, _ := newFake(t)
	var wg sync.WaitGroup
	for n := range 8 {
		wg.Go(func() {
			_ = f.SetDesiredCapacity(ctx, "g", 1+n)
			_, _ = f.Groups(ctx, cloud.GroupQuery{Tags: map[string]string{cloud.TagPool: "default"}})
			f.Settle()
		})
	}
	wg.Wait()
	if len(f.CallsTo(cloud.CallGroups)) != 8 {
		t.Error("calls lost")
	}
}
