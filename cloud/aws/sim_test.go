package awscloud_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync/atomic"
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

// The Provider against the simulator's AWS face (simulate/awsapi) serving the small scenario: one
// group, marmot-default (min 1, max 10, desired 3, m5.xlarge in us-east-1a and b, tagged
// marmot:pool=default), in virtual time.

const group = "marmot-default"

type sim struct {
	world    *simulate.World
	clock    *simulate.VirtualClock
	server   *httptest.Server
	requests atomic.Int64 // requests that reached the simulator, retries included
	// onRequest, when set, runs before each request is served.
	onRequest atomic.Pointer[func()]
}

func newSim(t *testing.T) *sim {
	t.Helper()
	return newSimWith(t, nil)
}

// newSimWith serves the small scenario after edit (when not nil) has changed it.
func newSimWith(t *testing.T, edit func(*simulate.Scenario)) *sim {
	t.Helper()
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(sc)
	}
	sc.Defaults()
	s := &sim{clock: simulate.NewVirtualClock(sc.StartTime())}
	if s.world, err = simulate.New(sc, s.clock, simulate.Options{}); err != nil {
		t.Fatal(err)
	}
	h := awsapi.New(s.world)
	s.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if f := s.onRequest.Load(); f != nil {
			(*f)()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.server.Close)
	return s
}

// provider is built the way the autoscaler builds its own: NewFromConfig with static credentials
// and the simulator as the endpoint; retries are immediate unless opts say otherwise.
func (s *sim) provider(opts ...awscloud.Option) *awscloud.Provider {
	cfg := aws.Config{
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  s.server.Client(),
	}
	opts = append([]awscloud.Option{awscloud.WithRegion("us-east-1"), awscloud.WithEndpoint(s.server.URL), awscloud.WithRetry(3, 0)}, opts...)
	return awscloud.NewFromConfig(cfg, opts...)
}

// advance moves virtual time on and lets the world catch up.
func (s *sim) advance(d time.Duration) {
	s.clock.Advance(d)
	s.world.Step()
}

func (s *sim) fault(t *testing.T, f simulate.Fault) {
	t.Helper()
	if err := s.world.InjectFault(f); err != nil {
		t.Fatal(err)
	}
}

var bg = context.Background()

func oneGroup(t *testing.T, p cloud.Provider, q cloud.GroupQuery) cloud.Group {
	t.Helper()
	groups, err := p.Groups(bg, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 {
		t.Fatalf("query %+v: %d groups, want 1", q, len(groups))
	}
	return groups[0]
}

func TestSimGroupsByNameAndByPoolTag(t *testing.T) {
	s := newSim(t)
	p := s.provider()
	byName := oneGroup(t, p, cloud.GroupQuery{Names: []string{group}})
	byPool := oneGroup(t, p, cloud.GroupQuery{Tags: map[string]string{cloud.TagPool: "default"}})
	if byName.Name != group || byPool.Name != group {
		t.Fatalf("groups %q and %q", byName.Name, byPool.Name)
	}
	g := byName
	if g.Pool != "default" || g.Min != 1 || g.Max != 10 || g.Desired != 3 || g.InstanceType != "m5.xlarge" || g.Spot ||
		g.Tags["team"] != "platform" || !slices.Equal(g.Zones, []string{"us-east-1a", "us-east-1b"}) {
		t.Errorf("group = %+v", g)
	}
	if len(g.Instances) != 3 {
		t.Fatalf("%d instances, want 3", len(g.Instances))
	}
	network := netip.MustParsePrefix(s.world.Scenario().Network)
	for _, i := range g.Instances {
		ip, err := netip.ParseAddr(i.PrivateIP)
		if err != nil || !network.Contains(ip) {
			t.Errorf("instance %s: private IP %q not in %s", i.ID, i.PrivateIP, network)
		}
		if i.Group != group || i.Lifecycle != cloud.LifecycleInService || i.State != cloud.StateRunning || !i.Healthy ||
			i.Type != "m5.xlarge" || i.LaunchTime.IsZero() || i.Tags[cloud.TagPool] != "default" {
			t.Errorf("instance = %+v", i)
		}
	}
	for _, q := range []cloud.GroupQuery{
		{Names: []string{"no-such-group"}},
		{Tags: map[string]string{cloud.TagPool: "no-such-pool"}},
		{Names: []string{group}, Tags: map[string]string{cloud.TagPool: "no-such-pool"}}, // names AND tags
	} {
		if groups, err := p.Groups(bg, q); err != nil || len(groups) != 0 {
			t.Errorf("query %+v: %d groups, %v; want none", q, len(groups), err)
		}
	}
}

func TestSimKeepsTheProviderContract(t *testing.T) {
	s := newSim(t)
	cloudtest.Contract(t, cloudtest.Harness{
		Provider: s.provider(),
		Group:    group,
		Settle:   func() { s.advance(time.Minute) }, // past the 15 s pending and 20 s termination times
		Now:      s.world.Now,
	})
}

func TestSimRefusalsKeepTheAWSMessage(t *testing.T) {
	s := newSim(t)
	p := s.provider()
	err := p.SetDesiredCapacity(bg, group, 0)
	var ce *cloud.Error
	if !errors.Is(err, cloud.ErrInvalid) || !errors.As(err, &ce) || ce.Code != "ValidationError" ||
		ce.Message != "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup." || ce.Attempts > 1 {
		t.Errorf("below min: %#v, want ErrInvalid with the ValidationError message, not retried", err)
	}
	g := oneGroup(t, p, cloud.GroupQuery{Names: []string{group}})
	s.fault(t, simulate.Fault{Kind: simulate.FaultTerminateRefused, Count: 1})
	if _, err := p.TerminateInstance(bg, g.Instances[0].ID, false); !errors.Is(err, cloud.ErrScalingInProgress) {
		t.Errorf("terminate while the group is busy: %v, want ErrScalingInProgress", err)
	}
}

func TestSimDeletingNoTagsKeepsThemAll(t *testing.T) {
	s := newSim(t)
	p := s.provider()
	id := oneGroup(t, p, cloud.GroupQuery{Names: []string{group}}).Instances[0].ID
	// EC2 DeleteTags without a Tag deletes every tag of the instance: an empty key list must not.
	if err := p.DeleteInstanceTags(bg, id, nil); err != nil {
		t.Fatal(err)
	}
	got, err := p.Instances(bg, cloud.InstanceQuery{IDs: []string{id}})
	if err != nil || len(got) != 1 || got[0].Tags[cloud.TagPool] != "default" || got[0].Tags["team"] != "platform" {
		t.Errorf("after deleting no keys: %v, %v", got, err)
	}
}

func TestSimInstanceTypes(t *testing.T) {
	s := newSim(t)
	p := s.provider()
	types, err := p.InstanceTypes(bg, []string{"m5.xlarge"})
	if err != nil {
		t.Fatal(err)
	}
	var want simulate.InstanceType
	s.world.View(func(v *simulate.View) {
		for _, it := range v.InstanceTypes() {
			if it.Name == "m5.xlarge" {
				want = it
			}
		}
	})
	if len(types) != 1 || types[0].Name != "m5.xlarge" || float64(types[0].CPUs) != want.CPUs || float64(types[0].MemMiB) != want.MemMiB {
		t.Errorf("types = %+v, want the model's %+v", types, want)
	}
	all, err := p.InstanceTypes(bg, nil)
	if err != nil || !slices.ContainsFunc(all, func(it cloud.InstanceType) bool { return it.Name == "m5.xlarge" }) {
		t.Errorf("all types: %v, %v", all, err)
	}
	if _, err := p.InstanceTypes(bg, []string{"x9.nonsense"}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("unknown type: %v, want ErrInvalid", err)
	}
}

func TestSimSpotPrices(t *testing.T) {
	s := newSim(t)
	p := s.provider()
	s.advance(6 * time.Hour)
	end := s.world.Now()
	start := end.Add(-3 * time.Hour)
	zones := []string{"us-east-1a", "us-east-1b"}
	prices, err := p.SpotPrices(bg, cloud.SpotPriceQuery{InstanceTypes: []string{"m5.xlarge"}, Zones: zones, Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	var model []simulate.SpotPrice
	s.world.View(func(v *simulate.View) { model = v.SpotPriceHistory([]string{"m5.xlarge"}, zones, start, end) })
	if len(prices) == 0 || len(prices) != len(model) {
		t.Fatalf("%d prices, the model has %d", len(prices), len(model))
	}
	for n, sp := range prices {
		if n > 0 && sp.Time.After(prices[n-1].Time) {
			t.Errorf("not newest first at %d", n)
		}
		i := slices.IndexFunc(model, func(m simulate.SpotPrice) bool {
			return m.AZ == sp.Zone && m.Timestamp.Equal(sp.Time) && m.Price == sp.PerHour
		})
		if i < 0 || sp.InstanceType != "m5.xlarge" || sp.Product != "Linux/UNIX" || sp.PerHour <= 0 {
			t.Errorf("price %+v is not the model's", sp)
		}
	}
}

func TestSimThrottlingIsRetriedThenReported(t *testing.T) {
	s := newSim(t)
	p := s.provider() // 3 attempts, no waits

	// Two throttled answers, then the call goes through on the third attempt.
	s.fault(t, simulate.Fault{Kind: simulate.FaultAWSThrottle, Count: 2})
	before := s.requests.Load()
	if err := p.SetDesiredCapacity(bg, group, 4); err != nil {
		t.Fatalf("SetDesiredCapacity after 2 throttles: %v", err)
	}
	if n := s.requests.Load() - before; n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if g := oneGroup(t, p, cloud.GroupQuery{Names: []string{group}}); g.Desired != 4 {
		// The EC2 half of Groups also had 2 throttles to get through (the fault covers both).
		t.Errorf("desired = %d, want 4", g.Desired)
	}

	// Throttled for good: the bounded attempts, then ErrThrottled with AWS's code, from both APIs.
	s.fault(t, simulate.Fault{Kind: simulate.FaultAWSThrottle, Rate: 1})
	before = s.requests.Load()
	err := p.SetDesiredCapacity(bg, group, 5)
	var ce *cloud.Error
	if !errors.Is(err, cloud.ErrThrottled) || !errors.As(err, &ce) || ce.Code != "Throttling" || ce.Attempts != 3 {
		t.Errorf("Auto Scaling: %v, want ErrThrottled (Throttling) after 3 attempts", err)
	}
	if n := s.requests.Load() - before; n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	_, err = p.Instances(bg, cloud.InstanceQuery{PrivateIPs: []string{"10.0.0.1"}})
	if !errors.Is(err, cloud.ErrThrottled) || !errors.As(err, &ce) || ce.Code != "RequestLimitExceeded" {
		t.Errorf("EC2: %v, want ErrThrottled (RequestLimitExceeded)", err)
	}
	if cloud.Reason(err) != "throttled" {
		t.Errorf("Reason = %q", cloud.Reason(err))
	}
}

func TestSimCancelStopsRetries(t *testing.T) {
	s := newSim(t)
	s.fault(t, simulate.Fault{Kind: simulate.FaultAWSThrottle, Rate: 1})
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	c := func() { cancel() } // the caller gives up while the first attempt is being answered
	s.onRequest.Store(&c)
	p := s.provider(awscloud.WithRetry(50, time.Hour)) // only the cancel can end this call soon
	err := p.SetDesiredCapacity(ctx, group, 4)
	if !errors.Is(err, context.Canceled) || cloud.Reason(err) != "canceled" {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := s.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1: no retry after the cancel", n)
	}
}
