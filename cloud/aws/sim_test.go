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
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
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

func TestSimScaleUpThenTerminateWithDecrement(t *testing.T) {
	s := newSim(t)
	p := s.provider()
	start := s.world.Now()
	if err := p.SetDesiredCapacity(bg, group, 5); err != nil {
		t.Fatal(err)
	}
	// Idempotent: the same value again changes nothing and is no error.
	if err := p.SetDesiredCapacity(bg, group, 5); err != nil {
		t.Fatal(err)
	}
	g := oneGroup(t, p, cloud.GroupQuery{Names: []string{group}})
	var pending []string
	for _, i := range g.Instances {
		if i.Lifecycle.Launching() {
			pending = append(pending, i.ID)
		}
	}
	if g.Desired != 5 || len(g.Instances) != 5 || len(pending) != 2 {
		t.Fatalf("after scale-up: desired %d, %d instances, pending %v", g.Desired, len(g.Instances), pending)
	}

	s.advance(time.Minute) // past the 15 s pending time
	g = oneGroup(t, p, cloud.GroupQuery{Names: []string{group}})
	var ips []string
	for _, i := range g.Instances {
		if i.Lifecycle != cloud.LifecycleInService || i.PrivateIP == "" {
			t.Errorf("instance after a minute: %+v", i)
		}
		ips = append(ips, i.PrivateIP)
	}
	acts, err := p.Activities(bg, group, start)
	if err != nil {
		t.Fatal(err)
	}
	// The launches show as successful activities naming the new instances (the group's creation,
	// at the same virtual instant, shows too).
	for _, id := range pending {
		i := slices.IndexFunc(acts, func(a cloud.Activity) bool { return a.Kind == cloud.ActivityLaunch && a.InstanceID == id })
		if i < 0 || acts[i].Status != cloud.ActivitySuccessful || acts[i].Err() != nil {
			t.Errorf("no successful launch activity for %s: %+v", id, acts)
		}
	}

	// The agents' IPs find their instances.
	byIP, err := p.Instances(bg, cloud.InstanceQuery{PrivateIPs: ips})
	if err != nil || len(byIP) != 5 {
		t.Fatalf("Instances by IP: %d, %v", len(byIP), err)
	}

	victim := g.Instances[0].ID
	act, err := p.TerminateInstance(bg, victim, true)
	if err != nil {
		t.Fatal(err)
	}
	if act.Kind != cloud.ActivityTerminate || act.InstanceID != victim || act.Status.Done() {
		t.Errorf("terminate activity = %+v", act)
	}
	g = oneGroup(t, p, cloud.GroupQuery{Names: []string{group}})
	if g.Desired != 4 {
		t.Errorf("desired after terminate with decrement = %d, want 4", g.Desired)
	}
	if i := slices.IndexFunc(g.Instances, func(i cloud.Instance) bool { return i.ID == victim }); i < 0 || !g.Instances[i].Lifecycle.Leaving() {
		t.Errorf("victim right after terminate: %+v", g.Instances)
	}

	s.advance(time.Minute) // past the 20 s termination
	g = oneGroup(t, p, cloud.GroupQuery{Names: []string{group}})
	if len(g.Instances) != 4 || slices.ContainsFunc(g.Instances, func(i cloud.Instance) bool { return i.ID == victim }) {
		t.Errorf("after termination: %d instances %+v, want 4 without %s and no replacement", len(g.Instances), g.Instances, victim)
	}
	acts, err = p.Activities(bg, group, start)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(acts, func(a cloud.Activity) bool { return a.ID == act.ID }); i < 0 || acts[i].Status != cloud.ActivitySuccessful {
		t.Errorf("termination activity not successful: %+v", acts)
	}
}

func TestSimRefusals(t *testing.T) {
	s := newSim(t)
	p := s.provider()
	for _, desired := range []int{0, 11} {
		err := p.SetDesiredCapacity(bg, group, desired)
		var ce *cloud.Error
		if !errors.Is(err, cloud.ErrInvalid) || !errors.As(err, &ce) || ce.Code != "ValidationError" || ce.Message == "" {
			t.Errorf("SetDesiredCapacity(%d) = %v, want ErrInvalid with the ValidationError message", desired, err)
		}
	}
	if err := p.SetDesiredCapacity(bg, "no-such-group", 2); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("unknown group: %v, want ErrNotFound", err)
	}
	if _, err := p.TerminateInstance(bg, "i-0123456789abcdef0", true); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("unknown instance: %v, want ErrNotFound", err)
	}
	// At min, a terminate with decrement would take the group below it.
	if err := p.SetDesiredCapacity(bg, group, 1); err != nil {
		t.Fatal(err)
	}
	g := oneGroup(t, p, cloud.GroupQuery{Names: []string{group}})
	live := slices.IndexFunc(g.Instances, func(i cloud.Instance) bool { return !i.Lifecycle.Leaving() })
	if _, err := p.TerminateInstance(bg, g.Instances[live].ID, true); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("terminate with decrement at min: %v, want ErrInvalid", err)
	}
	s.fault(t, simulate.Fault{Kind: simulate.FaultTerminateRefused, Count: 1})
	if _, err := p.TerminateInstance(bg, g.Instances[live].ID, false); !errors.Is(err, cloud.ErrScalingInProgress) {
		t.Errorf("terminate while the group is busy: %v, want ErrScalingInProgress", err)
	}
	if acts, err := p.Activities(bg, "no-such-group", time.Time{}); err != nil || len(acts) != 0 {
		t.Errorf("activities of an unknown group: %v, %v; want none", acts, err)
	}
}

func TestSimInstanceTagsRoundTrip(t *testing.T) {
	s := newSim(t)
	p := s.provider()
	id := oneGroup(t, p, cloud.GroupQuery{Names: []string{group}}).Instances[0].ID
	drain := map[string]string{"marmot:drain": "draining since 2026-01-01T00:00:00Z", "marmot:note": "x"}
	if err := p.SetInstanceTags(bg, id, drain); err != nil {
		t.Fatal(err)
	}
	tags := func() map[string]string {
		got, err := p.Instances(bg, cloud.InstanceQuery{IDs: []string{id}})
		if err != nil || len(got) != 1 {
			t.Fatalf("Instances(%s): %v, %v", id, got, err)
		}
		if got[0].Group != group || got[0].Lifecycle != "" {
			t.Errorf("instance = %+v", got[0])
		}
		return got[0].Tags
	}
	if got := tags(); got["marmot:drain"] != drain["marmot:drain"] || got["marmot:note"] != "x" || got[cloud.TagPool] != "default" {
		t.Errorf("tags after set: %v", got)
	}
	if err := p.DeleteInstanceTags(bg, id, []string{"marmot:drain", "never-set"}); err != nil {
		t.Fatal(err)
	}
	if got := tags(); got["marmot:drain"] != "" || got["marmot:note"] != "x" || got[cloud.TagPool] != "default" {
		t.Errorf("tags after delete: %v, want only marmot:drain gone", got)
	}
	if err := p.DeleteInstanceTags(bg, id, nil); err != nil || tags()[cloud.TagPool] != "default" {
		t.Errorf("deleting no keys must keep every tag: %v", err)
	}
	if err := p.SetInstanceTags(bg, "i-0123456789abcdef0", drain); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("tagging an unknown instance: %v, want ErrNotFound", err)
	}
	// An id EC2 does not know is left out of Instances, not an error.
	got, err := p.Instances(bg, cloud.InstanceQuery{IDs: []string{id, "i-0123456789abcdef0"}})
	if err != nil || len(got) != 1 || got[0].ID != id {
		t.Errorf("Instances with an unknown id: %v, %v", got, err)
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
