package cloudtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cloud"
)

// Harness is a Provider under test, with what Contract needs to drive it.
type Harness struct {
	Provider cloud.Provider
	// Group names a group with Min 1, Max at least 5, Desired 3 and three instances in service.
	Group string
	// Settle lets the cloud finish the launches and terminations under way.
	Settle func()
	// Now is the cloud's current time.
	Now func() time.Time
}

// Contract checks the behaviour every cloud.Provider promises in its method comments, as one story
// on h.Group: scale up, launches completing, addresses and activities, a terminate with decrement,
// tags, and the refusals. The Fake and the AWS Provider against the simulator both pass it, which
// is what lets the autoscaler's unit tests trust the Fake.
func Contract(t *testing.T, h Harness) {
	t.Helper()
	ctx := context.Background()
	p := h.Provider
	group := func() cloud.Group {
		t.Helper()
		groups, err := p.Groups(ctx, cloud.GroupQuery{Names: []string{h.Group}})
		if err != nil || len(groups) != 1 {
			t.Fatalf("Groups(%s) = %d groups, %v", h.Group, len(groups), err)
		}
		return groups[0]
	}
	g := group()
	if g.Min != 1 || g.Desired != 3 || g.Max < 5 || len(g.Instances) != 3 {
		t.Fatalf("harness group = %+v, want min 1, desired 3, max ≥ 5, 3 instances", g)
	}
	if others, err := p.Groups(ctx, cloud.GroupQuery{Names: []string{h.Group + "-missing"}}); err != nil || len(others) != 0 {
		t.Errorf("Groups(unknown name) = %v, %v; want none and no error", others, err)
	}
	if g.Pool != "" {
		byPool, err := p.Groups(ctx, cloud.GroupQuery{Tags: map[string]string{cloud.TagPool: g.Pool}})
		if err != nil || !slices.ContainsFunc(byPool, func(x cloud.Group) bool { return x.Name == h.Group }) {
			t.Errorf("Groups(pool %s) = %v, %v; want %s among them", g.Pool, byPool, err, h.Group)
		}
	}

	// Scale up: new instances appear Pending at once and go InService, with addresses, once settled.
	since := h.Now()
	for range 2 { // the second call sets the value the group already has: no error, no change
		if err := p.SetDesiredCapacity(ctx, h.Group, 5); err != nil {
			t.Fatalf("SetDesiredCapacity(5) = %v", err)
		}
	}
	g = group()
	var launched []string
	for _, i := range g.Instances {
		if i.Lifecycle.Launching() {
			launched = append(launched, i.ID)
		}
	}
	if g.Desired != 5 || len(g.Instances) != 5 || len(launched) != 2 {
		t.Fatalf("after SetDesiredCapacity(5): desired %d, %d instances, launching %v", g.Desired, len(g.Instances), launched)
	}
	h.Settle()
	g = group()
	var ips []string
	for _, i := range g.Instances {
		if i.Lifecycle != cloud.LifecycleInService || i.PrivateIP == "" || i.Group != h.Group {
			t.Errorf("settled instance = %+v, want InService with a private IP", i)
		}
		ips = append(ips, i.PrivateIP)
	}
	acts, err := p.Activities(ctx, h.Group, since)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range launched {
		i := slices.IndexFunc(acts, func(a cloud.Activity) bool { return a.Kind == cloud.ActivityLaunch && a.InstanceID == id })
		if i < 0 || acts[i].Status != cloud.ActivitySuccessful || acts[i].Err() != nil {
			t.Errorf("no successful launch activity for %s in %+v", id, acts)
		}
	}

	// Instances by IP and by id; unknown ids are left out; an empty query is refused.
	byIP, err := p.Instances(ctx, cloud.InstanceQuery{PrivateIPs: ips})
	if err != nil || len(byIP) != len(ips) {
		t.Errorf("Instances(by IP) = %d, %v; want %d", len(byIP), err, len(ips))
	}
	for _, i := range byIP {
		if i.Group != h.Group || i.Lifecycle != "" || i.State != cloud.StateRunning {
			t.Errorf("Instances(by IP) gave %+v, want its group, a running state and no lifecycle", i)
		}
	}
	const unknown = "i-0fedcba9876543210"
	if got, err := p.Instances(ctx, cloud.InstanceQuery{IDs: []string{launched[0], unknown}}); err != nil || len(got) != 1 || got[0].ID != launched[0] {
		t.Errorf("Instances(known, unknown) = %v, %v; want only the known one", got, err)
	}
	if _, err := p.Instances(ctx, cloud.InstanceQuery{}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("Instances(empty query) = %v, want ErrInvalid", err)
	}

	// Tags round trip, as the autoscaler's drain state uses them.
	victim := launched[0]
	victimIP := ""
	for _, i := range byIP {
		if i.ID == victim {
			victimIP = i.PrivateIP
		}
	}
	if err := p.SetInstanceTags(ctx, victim, map[string]string{"marmot:drain": "draining", "marmot:keep": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteInstanceTags(ctx, victim, []string{"marmot:drain", "marmot:never-set"}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Instances(ctx, cloud.InstanceQuery{IDs: []string{victim}}); err != nil || len(got) != 1 ||
		got[0].Tags["marmot:keep"] != "1" || got[0].Tags["marmot:drain"] != "" {
		t.Errorf("tags after set and delete: %v, %v", got, err)
	}
	if err := p.SetInstanceTags(ctx, unknown, map[string]string{"k": "v"}); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("SetInstanceTags(unknown) = %v, want ErrNotFound", err)
	}

	// Terminate with decrement: desired drops, the instance leaves and is not replaced.
	act, err := p.TerminateInstance(ctx, victim, true)
	if err != nil {
		t.Fatal(err)
	}
	if act.Kind != cloud.ActivityTerminate || act.InstanceID != victim {
		t.Errorf("TerminateInstance activity = %+v", act)
	}
	g = group()
	if i := slices.IndexFunc(g.Instances, func(i cloud.Instance) bool { return i.ID == victim }); g.Desired != 4 || i < 0 || !g.Instances[i].Lifecycle.Leaving() {
		t.Errorf("right after TerminateInstance: desired %d, instances %+v", g.Desired, g.Instances)
	}
	h.Settle()
	if g = group(); len(g.Instances) != 4 || slices.ContainsFunc(g.Instances, func(i cloud.Instance) bool { return i.ID == victim }) {
		t.Errorf("settled after TerminateInstance: %+v, want 4 instances without %s", g.Instances, victim)
	}

	// The terminated instance has lost its address, but its tags still find it.
	if got, err := p.Instances(ctx, cloud.InstanceQuery{PrivateIPs: []string{victimIP}}); err != nil || slices.ContainsFunc(got, func(i cloud.Instance) bool { return i.ID == victim }) {
		t.Errorf("Instances(by the terminated instance's IP) = %+v, %v; want it left out", got, err)
	}
	got, err := p.Instances(ctx, cloud.InstanceQuery{Tags: map[string][]string{"marmot:keep": {"0", "1"}}})
	if err != nil || len(got) != 1 || got[0].ID != victim || got[0].State != cloud.StateTerminated || got[0].PrivateIP != "" {
		t.Errorf("Instances(by tag) = %+v, %v; want %s, terminated, without a private IP", got, err, victim)
	}
	if _, err := p.Instances(ctx, cloud.InstanceQuery{Tags: map[string][]string{"marmot:keep": nil}}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("Instances(a tag without values) = %v, want ErrInvalid", err)
	}

	// Refusals.
	for _, d := range []int{0, g.Max + 1} {
		if err := p.SetDesiredCapacity(ctx, h.Group, d); !errors.Is(err, cloud.ErrInvalid) {
			t.Errorf("SetDesiredCapacity(%d) = %v, want ErrInvalid", d, err)
		}
	}
	if err := p.SetDesiredCapacity(ctx, h.Group+"-missing", 2); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("SetDesiredCapacity(unknown group) = %v, want ErrNotFound", err)
	}
	if _, err := p.TerminateInstance(ctx, unknown, false); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("TerminateInstance(unknown) = %v, want ErrNotFound", err)
	}
	if err := p.SetDesiredCapacity(ctx, h.Group, 1); err != nil {
		t.Fatal(err)
	}
	h.Settle()
	g = group()
	if len(g.Instances) != 1 {
		t.Fatalf("after SetDesiredCapacity(1): %+v", g.Instances)
	}
	if _, err := p.TerminateInstance(ctx, g.Instances[0].ID, true); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("TerminateInstance with decrement at min = %v, want ErrInvalid", err)
	}
	if acts, err := p.Activities(ctx, h.Group+"-missing", time.Time{}); err != nil || len(acts) != 0 {
		t.Errorf("Activities(unknown group) = %v, %v; want none", acts, err)
	}
}
