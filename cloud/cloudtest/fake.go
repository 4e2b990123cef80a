// Package cloudtest provides Fake, a stateful in-memory cloud.Provider for unit tests: it keeps
// groups, instances, tags and activities, behaves as AWS does where a test can tell (validation
// errors, asynchronous launches and terminations, scale-in victims), records every call, and
// injects errors.
//
// Time does not pass on its own: launches stay Pending and terminations Terminating until the test
// calls Settle, which is how a test stands in for "the cloud has caught up".
package cloudtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/marmot-project/marmot/cloud"
)

// Call is one recorded call: its name (one of cloud.Calls), the arguments it was given in the
// fields that apply to it, and the error it returned.
type Call struct {
	Name          string
	Group         string   // SetDesiredCapacity, SetInstanceProtection, Activities
	InstanceIDs   []string // TerminateInstance, SetInstanceProtection, Set/DeleteInstanceTags
	Desired       int      // SetDesiredCapacity
	Decrement     bool     // TerminateInstance
	Protected     bool     // SetInstanceProtection
	Tags          map[string]string
	Keys          []string // DeleteInstanceTags
	GroupQuery    cloud.GroupQuery
	InstanceQuery cloud.InstanceQuery
	Since         time.Time // Activities
	Names         []string  // InstanceTypes
	SpotQuery     cloud.SpotPriceQuery
	Err           error
}

// Fake is an in-memory cloud.Provider. The zero value is not usable; call New. It is safe for
// concurrent use.
type Fake struct {
	mu        sync.Mutex
	now       func() time.Time
	groups    []*group
	instances map[string]*cloud.Instance
	types     []cloud.InstanceType
	prices    []cloud.SpotPrice
	calls     []Call
	failures  map[string][]error
	seq       int
}

type group struct {
	cloud.Group // Instances unused: members holds the ids, in launch order
	members     []string
	activities  []cloud.Activity // newest first
	failLaunch  []string         // status messages of the next launches to fail
}

var _ cloud.Provider = (*Fake)(nil)

// New returns an empty Fake whose launches and activities are stamped with now(); a nil now stands
// still at 2026-01-01T00:00:00Z.
func New(now func() time.Time) *Fake {
	if now == nil {
		t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now = func() time.Time { return t }
	}
	return &Fake{now: now, instances: map[string]*cloud.Instance{}, failures: map[string][]error{}}
}

// AddGroup adds a group with the instances in g.Instances as members (Group and missing IDs, IPs,
// types, zones and states are filled in; members start healthy, see SetHealth). Pool and the
// TagPool tag are kept in step.
func (f *Fake) AddGroup(g cloud.Group) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gr := &group{Group: g}
	gr.Tags = maps.Clone(g.Tags)
	if gr.Tags == nil {
		gr.Tags = map[string]string{}
	}
	if p, ok := gr.Tags[cloud.TagPool]; ok {
		gr.Pool = p
	} else if g.Pool != "" {
		gr.Tags[cloud.TagPool] = g.Pool
	}
	gr.Zones = slices.Clone(g.Zones)
	gr.Instances = nil
	f.groups = append(f.groups, gr)
	for _, inst := range g.Instances {
		f.fill(gr, &inst)
		f.instances[inst.ID] = &inst
		gr.members = append(gr.members, inst.ID)
	}
}

// AddInstanceTypes makes types known to InstanceTypes.
func (f *Fake) AddInstanceTypes(types ...cloud.InstanceType) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.types = append(f.types, types...)
}

// AddSpotPrices adds spot price history; an empty Product is "Linux/UNIX".
func (f *Fake) AddSpotPrices(prices ...cloud.SpotPrice) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range prices {
		if p.Product == "" {
			p.Product = linux
		}
		f.prices = append(f.prices, p)
	}
}

// Fail makes the next len(errs) calls named call (one of cloud.Calls) return these errors in turn,
// changing nothing; a nil entry lets that call through.
func (f *Fake) Fail(call string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[call] = append(f.failures[call], errs...)
}

// FailLaunches makes the next n launches in group fail as AWS reports it: no instance, and a Failed
// launch activity with message as its status message.
func (f *Fake) FailLaunches(groupName string, n int, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.group(groupName); g != nil {
		for range n {
			g.failLaunch = append(g.failLaunch, message)
		}
	}
}

// Settle lets the cloud catch up: Pending instances go InService, Terminating ones are Terminated
// and leave their group, in-progress activities succeed, and every group launches what it needs to
// reach its desired capacity again (a termination without decrement is replaced this way).
func (f *Fake) Settle() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	for _, g := range f.groups {
		var kept []string
		for _, id := range g.members {
			inst := f.instances[id]
			switch {
			case inst.Lifecycle.Launching():
				inst.Lifecycle, inst.State = cloud.LifecycleInService, cloud.StateRunning
			case inst.Lifecycle.Leaving():
				inst.Lifecycle, inst.State = cloud.LifecycleTerminated, cloud.StateTerminated
				continue
			}
			kept = append(kept, id)
		}
		g.members = kept
		for i, a := range g.activities {
			if !a.Status.Done() {
				g.activities[i].Status, g.activities[i].Progress, g.activities[i].End = cloud.ActivitySuccessful, 100, now
			}
		}
		f.fit(g, "an instance was taken out of service")
	}
}

// SetLifecycle moves an instance to a lifecycle state, e.g. to leave it stuck in Pending:Wait.
func (f *Fake) SetLifecycle(instanceID string, l cloud.Lifecycle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inst, ok := f.instances[instanceID]; ok {
		inst.Lifecycle = l
	}
}

// SetHealth sets an instance's health status as its group reports it.
func (f *Fake) SetHealth(instanceID string, healthy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inst, ok := f.instances[instanceID]; ok {
		inst.Healthy = healthy
	}
}

// Group returns the current state of a group, with its members.
func (f *Fake) Group(name string) (cloud.Group, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.group(name)
	if g == nil {
		return cloud.Group{}, false
	}
	return f.snapshot(g), true
}

// Instance returns the current state of an instance, terminated ones included.
func (f *Fake) Instance(id string) (cloud.Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inst, ok := f.instances[id]
	if !ok {
		return cloud.Instance{}, false
	}
	return copyInstance(*inst), true
}

// Calls returns every call so far, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallsTo returns the calls named name, in order.
func (f *Fake) CallsTo(name string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded calls.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// call records c and runs do unless an injected failure or ctx says otherwise. do runs with the
// lock held.
func (f *Fake) call(ctx context.Context, c Call, do func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := ctx.Err()
	if q := f.failures[c.Name]; err == nil && len(q) > 0 {
		err, f.failures[c.Name] = q[0], q[1:]
	}
	if err == nil {
		err = do()
	}
	c.Err = err
	f.calls = append(f.calls, c)
	return err
}

// Groups implements cloud.Provider.
func (f *Fake) Groups(ctx context.Context, q cloud.GroupQuery) ([]cloud.Group, error) {
	var out []cloud.Group
	err := f.call(ctx, Call{Name: cloud.CallGroups, GroupQuery: q}, func() error {
		for _, g := range f.groups {
			if matchGroup(g, q) {
				out = append(out, f.snapshot(g))
			}
		}
		return nil
	})
	return out, err
}

func matchGroup(g *group, q cloud.GroupQuery) bool {
	if len(q.Names) > 0 && !slices.Contains(q.Names, g.Name) {
		return false
	}
	for k, v := range q.Tags {
		if have, ok := g.Tags[k]; !ok || (v != "" && have != v) {
			return false
		}
	}
	return true
}

// SetDesiredCapacity implements cloud.Provider.
func (f *Fake) SetDesiredCapacity(ctx context.Context, groupName string, desired int) error {
	return f.call(ctx, Call{Name: cloud.CallSetDesiredCapacity, Group: groupName, Desired: desired}, func() error {
		g, err := f.mustGroup("SetDesiredCapacity", groupName)
		if err != nil {
			return err
		}
		switch {
		case desired > g.Max:
			return invalid("SetDesiredCapacity", "New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, g.Max)
		case desired < g.Min:
			return invalid("SetDesiredCapacity", "New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", desired, g.Min)
		}
		g.Desired = desired
		f.fit(g, fmt.Sprintf("a user request explicitly set group desired capacity to %d", desired))
		return nil
	})
}

// TerminateInstance implements cloud.Provider. An instance already terminating yields its
// termination activity again, as the simulator does.
func (f *Fake) TerminateInstance(ctx context.Context, instanceID string, decrement bool) (cloud.Activity, error) {
	var act cloud.Activity
	c := Call{Name: cloud.CallTerminateInstance, InstanceIDs: []string{instanceID}, Decrement: decrement}
	err := f.call(ctx, c, func() error {
		inst, ok := f.instances[instanceID]
		if !ok || inst.Group == "" || inst.Lifecycle == cloud.LifecycleTerminated {
			return &cloud.Error{Kind: cloud.ErrNotFound, Op: "TerminateInstanceInAutoScalingGroup " + instanceID, Code: "ValidationError",
				Message: "Instance Id not found - No managed instance found for instance ID: " + instanceID}
		}
		g := f.group(inst.Group)
		if inst.Lifecycle.Leaving() {
			for _, a := range g.activities {
				if a.Kind == cloud.ActivityTerminate && a.InstanceID == instanceID {
					act = a
					return nil
				}
			}
		}
		if decrement && g.Desired <= g.Min {
			return invalid("TerminateInstanceInAutoScalingGroup", "Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.Min)
		}
		if decrement {
			g.Desired--
		}
		act = f.terminate(g, inst, "instance "+instanceID+" was taken out of service in response to a user request")
		return nil
	})
	return act, err
}

// SetInstanceProtection implements cloud.Provider.
func (f *Fake) SetInstanceProtection(ctx context.Context, groupName string, ids []string, protected bool) error {
	c := Call{Name: cloud.CallSetInstanceProtection, Group: groupName, InstanceIDs: slices.Clone(ids), Protected: protected}
	return f.call(ctx, c, func() error {
		g, err := f.mustGroup("SetInstanceProtection", groupName)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if !slices.Contains(g.members, id) {
				return invalid("SetInstanceProtection", "The instance %s is not part of Auto Scaling group %s.", id, groupName)
			}
		}
		for _, id := range ids {
			f.instances[id].ProtectedFromScaleIn = protected
		}
		return nil
	})
}

// Instances implements cloud.Provider.
func (f *Fake) Instances(ctx context.Context, q cloud.InstanceQuery) ([]cloud.Instance, error) {
	var out []cloud.Instance
	c := Call{Name: cloud.CallInstances, InstanceQuery: cloud.InstanceQuery{IDs: slices.Clone(q.IDs), PrivateIPs: slices.Clone(q.PrivateIPs), Tags: maps.Clone(q.Tags)}}
	err := f.call(ctx, c, func() error {
		if q.Empty() {
			return invalid("DescribeInstances", "an instance query needs ids, private IPs or tag values")
		}
		ids := make([]string, 0, len(f.instances))
		for id := range f.instances {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			inst := f.instances[id]
			gone := inst.State == cloud.StateTerminated // EC2 shows it without its network interface
			if slices.Contains(q.IDs, id) || !gone && slices.Contains(q.PrivateIPs, inst.PrivateIP) || taggedWith(inst.Tags, q.Tags) {
				found := copyInstance(*inst)
				found.Lifecycle, found.Healthy = "", false // as from EC2, which knows no group state
				if gone {
					found.PrivateIP, found.PrivateDNS = "", ""
				}
				out = append(out, found)
			}
		}
		return nil
	})
	return out, err
}

// taggedWith tells whether tags have, for some key of want, one of its values.
func taggedWith(tags map[string]string, want map[string][]string) bool {
	for key, values := range want {
		if v, ok := tags[key]; ok && slices.Contains(values, v) {
			return true
		}
	}
	return false
}

// SetInstanceTags implements cloud.Provider.
func (f *Fake) SetInstanceTags(ctx context.Context, instanceID string, tags map[string]string) error {
	c := Call{Name: cloud.CallSetInstanceTags, InstanceIDs: []string{instanceID}, Tags: maps.Clone(tags)}
	return f.call(ctx, c, func() error {
		inst, err := f.mustInstance("CreateTags", instanceID)
		if err != nil {
			return err
		}
		maps.Copy(inst.Tags, tags)
		return nil
	})
}

// DeleteInstanceTags implements cloud.Provider.
func (f *Fake) DeleteInstanceTags(ctx context.Context, instanceID string, keys []string) error {
	c := Call{Name: cloud.CallDeleteInstanceTags, InstanceIDs: []string{instanceID}, Keys: slices.Clone(keys)}
	return f.call(ctx, c, func() error {
		inst, err := f.mustInstance("DeleteTags", instanceID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			delete(inst.Tags, k)
		}
		return nil
	})
}

// Activities implements cloud.Provider.
func (f *Fake) Activities(ctx context.Context, groupName string, since time.Time) ([]cloud.Activity, error) {
	var out []cloud.Activity
	err := f.call(ctx, Call{Name: cloud.CallActivities, Group: groupName, Since: since}, func() error {
		if g := f.group(groupName); g != nil {
			for _, a := range g.activities {
				if !a.Start.Before(since) {
					out = append(out, a)
				}
			}
		}
		return nil
	})
	return out, err
}

// InstanceTypes implements cloud.Provider.
func (f *Fake) InstanceTypes(ctx context.Context, names []string) ([]cloud.InstanceType, error) {
	var out []cloud.InstanceType
	err := f.call(ctx, Call{Name: cloud.CallInstanceTypes, Names: slices.Clone(names)}, func() error {
		if len(names) == 0 {
			out = slices.Clone(f.types)
			return nil
		}
		for _, n := range names {
			i := slices.IndexFunc(f.types, func(t cloud.InstanceType) bool { return t.Name == n })
			if i < 0 {
				return &cloud.Error{Kind: cloud.ErrInvalid, Op: "DescribeInstanceTypes", Code: "InvalidInstanceType",
					Message: fmt.Sprintf("The following supplied instance types do not exist: [%s]", n)}
			}
			out = append(out, f.types[i])
		}
		return nil
	})
	return out, err
}

const linux = "Linux/UNIX"

// SpotPrices implements cloud.Provider.
func (f *Fake) SpotPrices(ctx context.Context, q cloud.SpotPriceQuery) ([]cloud.SpotPrice, error) {
	var out []cloud.SpotPrice
	err := f.call(ctx, Call{Name: cloud.CallSpotPrices, SpotQuery: q}, func() error {
		end := q.End
		if end.IsZero() {
			end = f.now()
		}
		start := q.Start
		if start.IsZero() {
			start = end
		}
		products := q.Products
		if len(products) == 0 {
			products = []string{linux}
		}
		// As on EC2: the price in force at start (the latest change at or before it) for each
		// (type, zone, product), and every change after it up to end.
		inForce := map[[3]string]cloud.SpotPrice{}
		for _, p := range f.prices {
			if !matchAny(q.InstanceTypes, p.InstanceType) || !matchAny(q.Zones, p.Zone) || !slices.Contains(products, p.Product) || p.Time.After(end) {
				continue
			}
			if p.Time.After(start) {
				out = append(out, p)
				continue
			}
			k := [3]string{p.InstanceType, p.Zone, p.Product}
			if cur, ok := inForce[k]; !ok || p.Time.After(cur.Time) {
				inForce[k] = p
			}
		}
		for _, p := range inForce {
			out = append(out, p)
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
		return nil
	})
	return out, err
}

func matchAny(want []string, v string) bool { return len(want) == 0 || slices.Contains(want, v) }

// fit launches or terminates instances until the group's live members match its desired capacity.
// Scale-in picks unprotected members, oldest first (AWS's default policy, roughly).
func (f *Fake) fit(g *group, cause string) {
	var live, victims []*cloud.Instance
	for _, id := range g.members {
		if inst := f.instances[id]; !inst.Lifecycle.Leaving() {
			live = append(live, inst)
		}
	}
	for n := len(live); n < g.Desired; n++ {
		f.launch(g, cause)
	}
	for _, inst := range live {
		if len(live)-len(victims) <= g.Desired {
			break
		}
		if !inst.ProtectedFromScaleIn {
			victims = append(victims, inst)
		}
	}
	for _, inst := range victims {
		f.terminate(g, inst, cause)
	}
}

func (f *Fake) launch(g *group, cause string) {
	f.seq++
	act := cloud.Activity{ID: fmt.Sprintf("act-%04d", f.seq), Group: g.Name, Kind: cloud.ActivityLaunch, Cause: cause,
		Start: f.now(), Status: cloud.ActivityPreInService, Progress: 30}
	if len(g.failLaunch) > 0 {
		act.Status, act.StatusMessage, act.Progress, act.End = cloud.ActivityFailed, g.failLaunch[0], 100, act.Start
		act.Description = "Launching a new EC2 instance.  Status Reason: " + g.failLaunch[0]
		g.failLaunch = g.failLaunch[1:]
		g.activities = append([]cloud.Activity{act}, g.activities...)
		return
	}
	inst := &cloud.Instance{Lifecycle: cloud.LifecyclePending, State: cloud.StatePending, ProtectedFromScaleIn: g.NewInstancesProtected,
		Spot: g.Spot, LaunchTime: f.now()}
	f.fill(g, inst)
	f.instances[inst.ID] = inst
	g.members = append(g.members, inst.ID)
	act.InstanceID, act.Description = inst.ID, "Launching a new EC2 instance: "+inst.ID
	g.activities = append([]cloud.Activity{act}, g.activities...)
}

func (f *Fake) terminate(g *group, inst *cloud.Instance, cause string) cloud.Activity {
	f.seq++
	inst.Lifecycle, inst.State = cloud.LifecycleTerminating, cloud.StateShuttingDown
	act := cloud.Activity{ID: fmt.Sprintf("act-%04d", f.seq), Group: g.Name, Kind: cloud.ActivityTerminate, InstanceID: inst.ID,
		Description: "Terminating EC2 instance: " + inst.ID, Cause: cause, Start: f.now(), Status: cloud.ActivityInProgress}
	g.activities = append([]cloud.Activity{act}, g.activities...)
	return act
}

// fill completes a member instance: id, address, type, zone, state, and the tags a group propagates.
func (f *Fake) fill(g *group, inst *cloud.Instance) {
	f.seq++
	if inst.ID == "" {
		inst.ID = fmt.Sprintf("i-%017x", f.seq)
	}
	if inst.PrivateIP == "" {
		inst.PrivateIP = fmt.Sprintf("10.0.%d.%d", f.seq/250, f.seq%250+1)
	}
	if inst.Type == "" {
		inst.Type = g.InstanceType
	}
	if inst.Zone == "" && len(g.Zones) > 0 {
		inst.Zone = g.Zones[len(g.members)%len(g.Zones)]
	}
	if inst.Lifecycle == "" {
		inst.Lifecycle = cloud.LifecycleInService
	}
	if inst.State == "" {
		inst.State = cloud.StateRunning
	}
	inst.Group, inst.Healthy = g.Name, true
	tags := map[string]string{}
	maps.Copy(tags, g.Tags)
	maps.Copy(tags, inst.Tags)
	tags["aws:autoscaling:groupName"] = g.Name
	inst.Tags = tags
}

func (f *Fake) group(name string) *group {
	for _, g := range f.groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

func (f *Fake) mustGroup(op, name string) (*group, error) {
	if g := f.group(name); g != nil {
		return g, nil
	}
	return nil, &cloud.Error{Kind: cloud.ErrNotFound, Op: op + " " + name, Code: "ValidationError",
		Message: "AutoScalingGroup name not found - AutoScalingGroup '" + name + "' not found"}
}

func (f *Fake) mustInstance(op, id string) (*cloud.Instance, error) {
	if inst, ok := f.instances[id]; ok {
		return inst, nil
	}
	return nil, &cloud.Error{Kind: cloud.ErrNotFound, Op: op + " " + id, Code: "InvalidInstanceID.NotFound",
		Message: "The instance ID '" + id + "' does not exist"}
}

func (f *Fake) snapshot(g *group) cloud.Group {
	out := g.Group
	out.Tags = maps.Clone(g.Tags)
	out.Zones = slices.Clone(g.Zones)
	out.Suspended = slices.Clone(g.Suspended)
	out.Instances = make([]cloud.Instance, 0, len(g.members))
	for _, id := range g.members {
		out.Instances = append(out.Instances, copyInstance(*f.instances[id]))
	}
	return out
}

func invalid(op, format string, args ...any) error {
	return &cloud.Error{Kind: cloud.ErrInvalid, Op: op, Code: "ValidationError", Message: fmt.Sprintf(format, args...)}
}

func copyInstance(i cloud.Instance) cloud.Instance {
	i.Tags = maps.Clone(i.Tags)
	return i
}
