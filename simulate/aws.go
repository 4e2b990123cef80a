package simulate

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"time"
)

// The AWS half of the model: Auto Scaling groups that launch and terminate EC2 instances, and the
// instances' journey to and from being Mesos agents. Termination is asynchronous, as on AWS
// (wire-facts.md §5.2): InService → Terminating → Terminated, then the instance drops out of the group.

// terminatedRetention is how long a terminated instance stays visible in DescribeInstances.
const terminatedRetention = time.Hour

// SetDesiredCapacity sets a group's desired capacity; the group launches or terminates instances to
// match. Outside [min, max] it fails with ValidationError; with honorCooldown inside the group's
// cooldown it fails with ScalingActivityInProgress.
func (w *World) SetDesiredCapacity(group string, desired int, honorCooldown bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	g, ok := w.groups[group]
	if !ok {
		return errorf(KindBadRequest, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup '%s' not found", group)
	}
	if desired > g.Max {
		return errorf(KindBadRequest, "ValidationError", "New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, g.Max)
	}
	if desired < g.Min {
		return errorf(KindBadRequest, "ValidationError", "New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", desired, g.Min)
	}
	if honorCooldown && !g.lastActivity.IsZero() && w.now.Before(g.lastActivity.Add(g.DefaultCooldown)) {
		return errorf(KindScalingInProgress, "ScalingActivityInProgress", "Scaling activity is in progress and blocks this action")
	}
	g.Desired = desired
	w.fitGroup(g, fmt.Sprintf("a user request explicitly set group desired capacity changing the desired capacity from %%d to %d", desired))
	return nil
}

// UpdateGroupSize changes a group's min and max (UpdateAutoScalingGroup); desired is clamped into range.
func (w *World) UpdateGroupSize(group string, min, max *int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	g, ok := w.groups[group]
	if !ok {
		return errorf(KindBadRequest, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup '%s' not found", group)
	}
	nmin, nmax := g.Min, g.Max
	if min != nil {
		nmin = *min
	}
	if max != nil {
		nmax = *max
	}
	if nmin < 0 || nmin > nmax {
		return errorf(KindBadRequest, "ValidationError", "Max bound, %d, must be greater than or equal to min bound, %d", nmax, nmin)
	}
	g.Min, g.Max = nmin, nmax
	old := g.Desired
	if g.Desired < nmin {
		g.Desired = nmin
	}
	if g.Desired > nmax {
		g.Desired = nmax
	}
	if g.Desired != old {
		w.fitGroup(g, "a user request update of AutoScalingGroup constraints to min: "+itoa(nmin)+", max: "+itoa(nmax)+" changing the desired capacity from %d to "+itoa(g.Desired))
	}
	return nil
}

// inService counts the members that count toward capacity (not terminating).
func (g *Group) inService() int {
	n := 0
	for _, i := range g.instances {
		if i.Lifecycle == LifecyclePending || i.Lifecycle == LifecycleInService {
			n++
		}
	}
	return n
}

// fitGroup launches or terminates instances until the group's live members equal its desired capacity.
// cause is the activity cause, with one %d for the old capacity.
func (w *World) fitGroup(g *Group, cause string) {
	have := g.inService()
	if strings.Contains(cause, "%d") {
		cause = fmt.Sprintf(cause, have)
	}
	cause = "At " + w.now.UTC().Format("2006-01-02T15:04:05Z") + " " + cause + "."
	for ; have < g.Desired; have++ {
		w.launchInstance(g, cause)
	}
	if have > g.Desired {
		for _, inst := range w.scaleInVictims(g, have-g.Desired) {
			w.terminateInstance(g, inst, cause)
		}
	}
	g.lastActivity = w.now
}

// scaleInVictims picks instances for scale-in with the default termination policy: never protected
// ones; from the zone with most instances; the oldest launch first (standing in for "oldest launch
// template, then closest to the next billing hour").
func (w *World) scaleInVictims(g *Group, n int) []*Instance {
	var cands []*Instance
	for _, i := range g.instances {
		if (i.Lifecycle == LifecyclePending || i.Lifecycle == LifecycleInService) && !i.Protected {
			cands = append(cands, i)
		}
	}
	var out []*Instance
	for len(out) < n && len(cands) > 0 {
		perAZ := map[string]int{}
		for _, i := range cands {
			perAZ[i.AZ]++
		}
		sort.SliceStable(cands, func(a, b int) bool {
			if perAZ[cands[a].AZ] != perAZ[cands[b].AZ] {
				return perAZ[cands[a].AZ] > perAZ[cands[b].AZ]
			}
			return cands[a].LaunchTime.Before(cands[b].LaunchTime)
		})
		out = append(out, cands[0])
		cands = cands[1:]
	}
	return out
}

func (w *World) nextAZ(g *Group) string {
	if len(g.AZs) == 0 {
		return w.region + "a"
	}
	perAZ := map[string]int{}
	for _, i := range g.instances {
		if i.Lifecycle == LifecyclePending || i.Lifecycle == LifecycleInService {
			perAZ[i.AZ]++
		}
	}
	best := g.AZs[0]
	for _, az := range g.AZs[1:] {
		if perAZ[az] < perAZ[best] {
			best = az
		}
	}
	return best
}

func (w *World) instanceID() string {
	return fmt.Sprintf("i-%08x%09x", w.rng.Uint32(), w.rng.Int63()&0xfffffffff)
}

func (w *World) addActivity(g *Group, desc, cause string, details map[string]string, status string, progress int) *Activity {
	d, _ := json.Marshal(details)
	act := &Activity{ID: w.uuid(), Group: g.Name, Description: desc, Cause: cause, Details: string(d), StartTime: w.now, StatusCode: status, Progress: progress}
	g.activities = append([]*Activity{act}, g.activities...)
	if len(g.activities) > 200 {
		g.activities = g.activities[:200]
	}
	return act
}

// launchInstance starts an instance in g: Pending now, InService after the pending delay, a Mesos agent
// after the boot delay (unless the never-join fault caught it).
func (w *World) launchInstance(g *Group, cause string) *Instance {
	it := w.types[g.InstanceType]
	ip := w.allocIP()
	inst := &Instance{
		ID:         w.instanceID(),
		Type:       g.InstanceType,
		AZ:         w.nextAZ(g),
		ImageID:    "ami-0abcdef1234567890",
		PrivateIP:  ip,
		PrivateDNS: "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + w.region + ".compute.internal",
		LaunchTime: w.now,
		State:      InstancePending,
		Lifecycle:  LifecyclePending,
		Health:     "Healthy",
		Protected:  g.NewInstancesProtected,
		Spot:       g.Spot,
		Group:      g.Name,
		NeverJoins: w.faults.takeNeverJoin(w.rng),
	}
	for _, t := range g.Tags {
		if t.PropagateAtLaunch {
			inst.Tags = append(inst.Tags, Tag{Key: t.Key, Value: t.Value})
		}
	}
	inst.Tags = append(inst.Tags, Tag{Key: "aws:autoscaling:groupName", Value: g.Name})
	g.instances = append(g.instances, inst)
	w.instances[inst.ID] = inst
	w.instanceList = append(w.instanceList, inst)
	w.stats.InstancesLaunched++
	act := w.addActivity(g, "Launching a new EC2 instance: "+inst.ID, cause,
		map[string]string{"Subnet ID": "subnet-0123456789abcdef0", "Availability Zone": inst.AZ}, "PreInService", 30)
	timing := w.scenario.Timing
	pending := timing.InstancePending.D()
	boot := timing.BootDelay.Sample(w.rng)
	if boot < pending {
		boot = pending
	}
	w.after(pending, func() {
		if inst.Lifecycle != LifecyclePending {
			return
		}
		inst.State, inst.Lifecycle = InstanceRunning, LifecycleInService
		act.StatusCode, act.Progress, act.EndTime = "Successful", 100, w.now
	})
	if !inst.NeverJoins {
		w.after(boot, func() {
			if inst.State != InstanceRunning {
				return
			}
			w.joinMesos(inst, it)
		})
	}
	return inst
}

// joinMesos registers the agent that runs on inst, with its pool's attributes and role. A machine that
// maintenance has brought DOWN is refused, as the master refuses it until STOP_MAINTENANCE.
func (w *World) joinMesos(inst *Instance, it InstanceType) {
	pool, role := "default", "*"
	var extra map[string]string
	if g := w.groups[inst.Group]; g != nil {
		pool = g.Pool
		if p := w.scenario.pool(g.Pool); p != nil {
			extra = p.Attributes
			if p.Role != "" {
				role = p.Role
			}
		}
	}
	hostname := inst.PrivateIP
	if !w.network.Addr().IsLoopback() {
		hostname = inst.PrivateDNS
	}
	if w.mode(MachineID{hostname, inst.PrivateIP}) == ModeDown {
		return
	}
	attrs := agentAttributes(pool, extra, inst)
	a := w.registerAgent(hostname, inst.PrivateIP, pool, attrs, role, Resources{CPUs: it.CPUs, Mem: it.MemMiB, Disk: it.DiskMiB, GPUs: it.GPUs}, []PortRange{{31000, 32000}}, inst.ID)
	inst.AgentID = a.ID
}

// agentAttributes builds an agent's attributes as its --attributes flag would: pool first, then the
// pool's extra attributes by name, then what the instance knows about itself.
func agentAttributes(pool string, extra map[string]string, inst *Instance) []Attribute {
	attrs := []Attribute{parseAttribute("pool", pool)}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		attrs = append(attrs, parseAttribute(k, extra[k]))
	}
	if inst != nil {
		attrs = append(attrs, Attribute{Name: "instance_type", Text: inst.Type}, Attribute{Name: "zone", Text: inst.AZ})
	}
	return attrs
}

// parseAttribute turns one --attributes entry into an Attribute the way Mesos does: numeric text
// becomes SCALAR.
func parseAttribute(name, value string) Attribute {
	var f float64
	if _, err := fmt.Sscanf(value, "%g", &f); err == nil && formatScalar(f) == strings.TrimSpace(value) {
		return Attribute{Name: name, Scalar: &f}
	}
	return Attribute{Name: name, Text: value}
}

// terminateInstance begins an asynchronous termination: the machine shuts down, the Mesos master
// notices the agent is gone after agentRemovalDelay, and the instance reaches Terminated.
func (w *World) terminateInstance(g *Group, inst *Instance, cause string) *Activity {
	inst.Lifecycle = LifecycleTerminating
	inst.State = InstanceShuttingDown
	w.emitStateChange(inst)
	act := w.addActivity(g, "Terminating EC2 instance: "+inst.ID, cause,
		map[string]string{"Subnet ID": "subnet-0123456789abcdef0", "Availability Zone": inst.AZ}, "InProgress", 0)
	if a, ok := w.agents[inst.AgentID]; ok {
		// The machine is going away: the agent stops answering, the master removes it after the ping timeout.
		a.disconnect = true
		a.Active = false
		w.after(agentRemovalDelay, func() { w.markUnreachable(a) })
	}
	w.after(w.scenario.Timing.Termination.D(), func() {
		inst.Lifecycle, inst.State, inst.TerminatedAt = LifecycleTerminated, InstanceTerminated, w.now
		w.emitStateChange(inst)
		act.StatusCode, act.Progress, act.EndTime = "Successful", 100, w.now
		g.instances = removeInstance(g.instances, inst)
		w.stats.InstancesTerminated++
		w.after(terminatedRetention, func() { w.forgetInstance(inst) })
		// A group below its desired capacity replaces what it lost (spot reclaim, termination without decrement).
		w.fitGroup(g, "an instance was taken out of service in response to a termination, changing the desired capacity from %d to "+itoa(g.Desired))
	})
	return act
}

func removeInstance(list []*Instance, inst *Instance) []*Instance {
	for i, x := range list {
		if x == inst {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

func (w *World) forgetInstance(inst *Instance) {
	delete(w.instances, inst.ID)
	for i, x := range w.instanceList {
		if x == inst {
			w.instanceList = append(w.instanceList[:i], w.instanceList[i+1:]...)
			return
		}
	}
}

// TerminateInstanceInGroup terminates one member instance (TerminateInstanceInAutoScalingGroup). With
// decrement the desired capacity goes down by one (never below min); without it the group launches a
// replacement. Instance protection does not stop it, as on AWS.
func (w *World) TerminateInstanceInGroup(instanceID string, decrement bool) (Activity, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	inst, ok := w.instances[instanceID]
	if !ok || inst.Group == "" || inst.Lifecycle == LifecycleTerminated {
		return Activity{}, errorf(KindBadRequest, "ValidationError", "Instance Id not found - No managed instance found for instance ID: %s", instanceID)
	}
	if w.faults.takeTerminateRefusal(w.rng) {
		return Activity{}, errorf(KindScalingInProgress, "ScalingActivityInProgress", "Scaling activity is in progress and blocks this action")
	}
	g := w.groups[inst.Group]
	if inst.Lifecycle == LifecycleTerminating {
		for _, a := range g.activities {
			if strings.HasSuffix(a.Description, instanceID) {
				return *a, nil
			}
		}
	}
	if decrement && g.Desired <= g.Min {
		return Activity{}, errorf(KindBadRequest, "ValidationError", "Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.Min)
	}
	cause := "At " + w.now.UTC().Format("2006-01-02T15:04:05Z") + " instance " + instanceID + " was taken out of service in response to a user request"
	if decrement {
		g.Desired--
		cause += ", shrinking the capacity from " + itoa(g.Desired+1) + " to " + itoa(g.Desired)
	}
	act := w.terminateInstance(g, inst, cause+".")
	g.lastActivity = w.now
	return *act, nil
}

// SetInstanceProtection sets scale-in protection on member instances.
func (w *World) SetInstanceProtection(group string, ids []string, protected bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	g, ok := w.groups[group]
	if !ok {
		return errorf(KindBadRequest, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup '%s' not found", group)
	}
	if len(ids) > 50 {
		return errorf(KindBadRequest, "LimitExceeded", "The number of instance ids that may be passed in is limited to 50")
	}
	for _, id := range ids {
		inst, ok := w.instances[id]
		if !ok || inst.Group != g.Name {
			return errorf(KindBadRequest, "ValidationError", "The instance %s is not part of Auto Scaling group %s.", id, group)
		}
	}
	for _, id := range ids {
		w.instances[id].Protected = protected
	}
	return nil
}

// GroupTag is a tag on a named Auto Scaling group.
type GroupTag struct {
	Group string
	Tag
}

// CreateOrUpdateGroupTags sets tags on Auto Scaling groups.
func (w *World) CreateOrUpdateGroupTags(tags []GroupTag) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	for _, t := range tags {
		if _, ok := w.groups[t.Group]; !ok {
			return errorf(KindBadRequest, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup '%s' not found", t.Group)
		}
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return errorf(KindBadRequest, "ValidationError", "Tag key must be 1 to 128 characters and value at most 256")
		}
	}
	for _, t := range tags {
		g := w.groups[t.Group]
		g.Tags = setTag(g.Tags, t.Tag)
	}
	return nil
}

// DeleteGroupTags removes tags from Auto Scaling groups.
func (w *World) DeleteGroupTags(tags []GroupTag) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	for _, t := range tags {
		if g, ok := w.groups[t.Group]; ok {
			g.Tags = deleteTag(g.Tags, t.Key)
		}
	}
	return nil
}

// CreateInstanceTags sets tags on EC2 instances (EC2 CreateTags).
func (w *World) CreateInstanceTags(ids []string, tags []Tag) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	return w.forInstances(ids, func(inst *Instance) {
		for _, t := range tags {
			inst.Tags = setTag(inst.Tags, Tag{Key: t.Key, Value: t.Value})
		}
	})
}

// DeleteInstanceTags removes tags from EC2 instances (EC2 DeleteTags); a tag with a value is removed
// only when the value matches.
func (w *World) DeleteInstanceTags(ids []string, tags []Tag) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	return w.forInstances(ids, func(inst *Instance) {
		for _, t := range tags {
			if v, ok := inst.Tag(t.Key); ok && (t.Value == "" || t.Value == v) {
				inst.Tags = deleteTag(inst.Tags, t.Key)
			}
		}
	})
}

// forInstances calls f on each instance ids names, once all of them are known to exist: an unknown
// ID changes nothing and is EC2's InvalidInstanceID.NotFound. The caller holds w.mu.
func (w *World) forInstances(ids []string, f func(inst *Instance)) error {
	for _, id := range ids {
		if _, ok := w.instances[id]; !ok {
			return errorf(KindBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
	}
	for _, id := range ids {
		f(w.instances[id])
	}
	return nil
}

func setTag(tags []Tag, t Tag) []Tag {
	for i := range tags {
		if tags[i].Key == t.Key {
			tags[i] = t
			return tags
		}
	}
	return append(tags, t)
}

func deleteTag(tags []Tag, key string) []Tag {
	for i := range tags {
		if tags[i].Key == key {
			return append(tags[:i], tags[i+1:]...)
		}
	}
	return tags
}

// SpotInterruption gives a spot instance its two-minute interruption notice; EC2 reclaims it then. An
// empty id picks the oldest running spot instance of group (or of any group when group is empty).
func (w *World) SpotInterruption(instanceID, group string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	return w.spotInterruption(instanceID, group)
}

// spotNotice is the warning EC2 gives before it reclaims a spot instance.
const spotNotice = 2 * time.Minute

func (w *World) spotInterruption(instanceID, group string) (string, error) {
	inst := w.pickSpot(instanceID, group, func(i *Instance) bool { return i.InterruptionAt.IsZero() })
	if inst == nil {
		return "", errorf(KindNotFound, "InvalidInstanceID.NotFound", "no running spot instance %q to interrupt", instanceID)
	}
	inst.InterruptionAt = w.now.Add(spotNotice)
	// EC2 sends the warning through EventBridge at the moment of the notice.
	w.emitNotice(DetailSpotInterruption, inst, "")
	w.at(inst.InterruptionAt, func() {
		if g, ok := w.groups[inst.Group]; ok && inst.Lifecycle == LifecycleInService {
			w.terminateInstance(g, inst, "At "+w.now.UTC().Format("2006-01-02T15:04:05Z")+" an instance was taken out of service in response to an EC2 instance rebalance or spot interruption.")
		}
	})
	return inst.ID, nil
}

// pickSpot finds the running spot instance a spot fault is about: the one named, or the oldest of
// group (of any group when group is empty) that fresh accepts. Nil when there is none.
func (w *World) pickSpot(instanceID, group string, fresh func(*Instance) bool) *Instance {
	var inst *Instance
	if instanceID != "" {
		inst = w.instances[instanceID]
	} else {
		for _, i := range w.instanceList {
			if i.Spot && i.State == InstanceRunning && fresh(i) && (group == "" || i.Group == group) {
				inst = i
				break
			}
		}
	}
	if inst == nil || !inst.Spot || inst.State != InstanceRunning {
		return nil
	}
	return inst
}

// RebalanceRecommendation tells that a spot instance is at elevated risk of interruption: EC2 sends
// the recommendation through EventBridge and nothing else happens (the model's groups do not use
// Capacity Rebalancing, so no replacement is launched). An empty id picks the oldest running spot
// instance of group (of any group when group is empty) that has had neither a recommendation nor an
// interruption notice.
func (w *World) RebalanceRecommendation(instanceID, group string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	return w.rebalanceRecommendation(instanceID, group)
}

func (w *World) rebalanceRecommendation(instanceID, group string) (string, error) {
	inst := w.pickSpot(instanceID, group, func(i *Instance) bool { return i.RebalanceAt.IsZero() && i.InterruptionAt.IsZero() })
	if inst == nil {
		return "", errorf(KindNotFound, "InvalidInstanceID.NotFound", "no running spot instance %q to recommend rebalancing", instanceID)
	}
	inst.RebalanceAt = w.now
	w.emitNotice(DetailRebalance, inst, "")
	return inst.ID, nil
}

// SpotPriceAt is the model's spot price of an instance type in a zone at time t: a deterministic walk
// around a third of the on-demand price that changes at most hourly.
func (w *World) spotPriceAt(itype, az string, t time.Time) float64 {
	it, ok := w.types[itype]
	if !ok {
		return 0
	}
	hour := t.Truncate(time.Hour).Unix()
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%d", itype, az, hour/3600)
	noise := float64(h.Sum64()%1000)/1000 - 0.5 // [-0.5, 0.5)
	daily := math.Sin(2 * math.Pi * float64(hour%86400) / 86400)
	price := it.PriceHour * (0.32 + 0.04*daily + 0.05*noise)
	return math.Round(price*1e6) / 1e6
}

func (w *World) spotHistory(types, zones []string, start, end time.Time) []SpotPrice {
	if len(types) == 0 {
		for name := range w.types {
			types = append(types, name)
		}
		sort.Strings(types)
	}
	if len(zones) == 0 {
		zones = w.allZones()
	}
	if end.IsZero() || end.After(w.now) {
		end = w.now
	}
	if start.IsZero() || start.After(end) {
		start = end
	}
	var out []SpotPrice
	for _, ty := range types {
		if _, ok := w.types[ty]; !ok {
			continue
		}
		for _, az := range zones {
			// The price in force at start, then every hourly change up to end.
			for t := start.Truncate(time.Hour); !t.After(end); t = t.Add(time.Hour) {
				out = append(out, SpotPrice{InstanceType: ty, AZ: az, Price: w.spotPriceAt(ty, az, t), Timestamp: t})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp.After(out[j].Timestamp) })
	return out
}

func (w *World) allZones() []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range w.groupList {
		for _, az := range g.AZs {
			if !seen[az] {
				seen[az] = true
				out = append(out, az)
			}
		}
	}
	if len(out) == 0 {
		out = []string{w.region + "a"}
	}
	sort.Strings(out)
	return out
}
