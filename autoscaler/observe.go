package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/policy"
)

// observation is one look at the world: what each source said (or, after a failed read, what it said
// last, with its older time), and the snapshot of every pool built from it.
type observation struct {
	mesos   MesosState
	waiting []Waiting
	queueAt time.Time
	apps    map[string]App
	pools   map[string]*poolView
}

// poolView is one pool as observed: the planner's snapshot, the groups as the cloud reported them
// (the actuator needs their protection flags and suspended processes), and the drains whose only
// trace left is a maintenance window (see findLeftovers).
type poolView struct {
	snap      policy.PoolSnapshot
	groups    []cloud.Group
	leftovers []policy.Drain
}

// sourceCache holds the last good answer of each source, so that one failed read does not stop the
// loop: the planner sees the older time and its health gate decides what may still be done.
type sourceCache struct {
	mesos     MesosState
	mesosOK   bool
	waiting   []Waiting
	queueAt   time.Time
	queueOK   bool
	apps      map[string]App
	appsAt    time.Time
	appsOK    bool
	groups    map[string]cachedGroups // by pool
	launch    map[string]groupActivity
	shapes    map[string]policy.Resources // agent shape by instance type, learned from agents
	typesRead map[string]bool             // instance types asked of the cloud for a shape
	groupPool map[string]string           // pool of each group ever seen, for leftovers
	notOurs   map[string]bool             // machine IPs in maintenance that are no instance of ours
	ahead     map[aheadKey]aheadSeen      // times from other clocks that were ahead of ours (skew.go)
}

type cachedGroups struct {
	groups []cloud.Group
	at     time.Time
	stale  bool // the loop changed the groups since: read them again
}

// staleGroups makes the next reconcile read a pool's groups again, so that it sees the loop's own
// changes rather than a read from before them.
func (c *sourceCache) staleGroups(pool string) {
	if g, ok := c.groups[pool]; ok {
		g.stale = true
		c.groups[pool] = g
	}
}

// groupActivity is what the loop learned from a group's scaling activities.
type groupActivity struct {
	since   time.Time // where the next look starts (cloud time)
	failure policy.LaunchFailure
}

func newSourceCache() *sourceCache {
	return &sourceCache{
		groups: map[string]cachedGroups{}, launch: map[string]groupActivity{}, shapes: map[string]policy.Resources{},
		typesRead: map[string]bool{},
		groupPool: map[string]string{}, notOurs: map[string]bool{}, ahead: map[aheadKey]aheadSeen{},
	}
}

// ready reports whether every source has answered at least once: the loop never plans before.
func (c *sourceCache) ready(pol *policy.AutoscalerPolicy) bool {
	if !c.mesosOK || !c.queueOK || !c.appsOK {
		return false
	}
	for _, pp := range pol.Pools {
		if _, ok := c.groups[pp.Name]; !ok {
			return false
		}
	}
	return true
}

// readMode says how one observation reads its sources.
type readMode struct {
	// fresh reads every source now; otherwise Mesos may answer from its event cache and the cloud
	// from a read younger than cloudMaxAge.
	fresh bool
	// strict fails the observation when any source fails, instead of falling back to its last answer:
	// the re-check before a destructive step must see the world as it is now.
	strict bool
}

// cloudMaxAge is how old a cloud read an event-triggered reconcile may reuse. Auto Scaling's describe
// calls share the account's request rate with every other tool, and events can arrive several times
// a second; the planner trusts its own recent requests over an older read (PoolState.Groups).
const cloudMaxAge = 10 * time.Second

// errNotReady is returned until every source has answered once: the loop never plans on a partial
// snapshot.
var errNotReady = errors.New("waiting for the first full snapshot")

// observe reads Mesos, Marathon and the cloud in parallel and builds each pool's snapshot.
func (l *Loop) observe(ctx context.Context, pol *policy.AutoscalerPolicy, mode readMode) (*observation, error) {
	var wg sync.WaitGroup
	var mesosErr, queueErr, appsErr error
	poolErrs := make([]error, len(pol.Pools))
	var mesos MesosState
	var waiting []Waiting
	var queueAt time.Time
	var apps []App
	readApps := mode.fresh || !l.cache.appsOK || l.now().Sub(l.cache.appsAt) >= pol.ReconcileInterval.D
	appsAt := l.now()
	wg.Go(func() { mesos, mesosErr = l.mesos.State(ctx, mode.fresh) })
	wg.Go(func() {
		queueAt = l.now()
		waiting, queueErr = l.marathon.Queue(ctx)
	})
	if readApps {
		wg.Go(func() { apps, appsErr = l.marathon.Apps(ctx) })
	}
	groups := make([]groupsRead, len(pol.Pools))
	for i := range pol.Pools {
		wg.Go(func() { groups[i], poolErrs[i] = l.readGroups(ctx, &pol.Pools[i], mode.fresh) })
	}
	wg.Wait()

	var errs []error
	note := func(source string, err error) bool {
		if err == nil {
			return true
		}
		errs = append(errs, fmt.Errorf("%s: %w", source, err))
		l.metrics.sourceErrors.WithLabelValues(source).Inc()
		return false
	}
	if note("mesos", mesosErr) {
		l.cache.mesos, l.cache.mesosOK = mesos, true
	}
	if note("marathon queue", queueErr) {
		l.cache.waiting, l.cache.queueAt, l.cache.queueOK = waiting, queueAt, true
	}
	if readApps && note("marathon apps", appsErr) {
		l.cache.apps, l.cache.appsAt, l.cache.appsOK = indexApps(apps), appsAt, true
	}
	for i := range pol.Pools {
		if note("cloud "+pol.Pools[i].Name, poolErrs[i]) {
			l.cache.groups[pol.Pools[i].Name] = groups[i].cachedGroups
			maps.Copy(l.cache.launch, groups[i].launch)
		}
	}
	err := errors.Join(errs...)
	switch {
	case err != nil && mode.strict:
		return nil, err
	case !l.cache.ready(pol):
		return nil, errors.Join(errNotReady, err)
	}
	obs := &observation{mesos: l.cache.mesos, waiting: l.cache.waiting, queueAt: l.cache.queueAt, apps: l.cache.apps}
	l.buildPools(pol, obs)
	l.shapeFromTypes(ctx, obs)
	l.findLeftovers(ctx, obs)
	return obs, err // a partial failure is reported, and planned around with the older data
}

func indexApps(apps []App) map[string]App {
	out := make(map[string]App, len(apps))
	for _, a := range apps {
		out[a.ID] = a
	}
	return out
}

// groupsRead is what readGroups learned of one pool: its groups, and what their activities say.
type groupsRead struct {
	cachedGroups
	launch map[string]groupActivity
}

// readGroups reads a pool's groups (by name when the policy lists them, else by the marmot:pool
// tag), and the scaling activities of those that may have a launch in flight. It runs alongside the
// other pools' reads, so it only reads the cache; the caller keeps what it returns.
func (l *Loop) readGroups(ctx context.Context, pp *policy.PoolPolicy, fresh bool) (groupsRead, error) {
	last, cached := l.cache.groups[pp.Name]
	if cached && !fresh && !last.stale && l.now().Sub(last.at) < cloudMaxAge {
		return groupsRead{cachedGroups: last}, nil
	}
	q := cloud.GroupQuery{Names: pp.ASGs}
	if len(pp.ASGs) == 0 {
		q = cloud.GroupQuery{Tags: map[string]string{cloud.TagPool: pp.Name}}
	}
	at := l.now()
	groups, err := l.cloud.Groups(ctx, q)
	if err != nil {
		return groupsRead{}, err
	}
	for _, name := range pp.ASGs {
		if !hasGroup(groups, name) {
			l.log.Warn("auto scaling group of the policy not found", zap.String("pool", pp.Name), zap.String("group", name))
		}
	}
	read := groupsRead{cachedGroups: cachedGroups{groups: groups, at: at}, launch: map[string]groupActivity{}}
	for _, g := range groups {
		st, changed, err := l.readActivities(ctx, g, fresh)
		if err != nil {
			return groupsRead{}, err
		}
		if changed {
			read.launch[g.Name] = st
		}
	}
	return read, nil
}

func hasGroup(groups []cloud.Group, name string) bool {
	for _, g := range groups {
		if g.Name == name {
			return true
		}
	}
	return false
}

// activityLookback is how far back the first look at a group's activities goes.
const activityLookback = time.Hour

// readActivities looks for failed launches. Only scaling activities tell them (no capacity, spot not
// available, a bad image), and reading them at once rather than waiting for a join timeout is what
// cluster-autoscaler #4489 fixed. The activities are read when the group is short of its desired
// capacity (a launch is in flight or failing), on every fresh reconcile, and from where the last look
// left off.
func (l *Loop) readActivities(ctx context.Context, g cloud.Group, fresh bool) (st groupActivity, read bool, err error) {
	st, seen := l.cache.launch[g.Name]
	live := 0
	for _, in := range g.Instances {
		if !in.Lifecycle.Leaving() {
			live++
		}
	}
	if seen && !fresh && live >= g.Desired {
		return st, false, nil
	}
	if !seen {
		st.since = l.now().Add(-activityLookback)
	}
	acts, err := l.cloud.Activities(ctx, g.Name, st.since)
	if err != nil {
		return st, false, err
	}
	// The next look starts at the oldest activity still in progress (it may yet fail), else at the
	// newest one: both are the cloud's own times, so clock skew does not lose an activity.
	next := st.since
	for i, a := range acts { // newest first
		if i == 0 {
			next = a.Start
		}
		if !a.Status.Done() && a.Start.Before(next) {
			next = a.Start
		}
		if a.Kind == cloud.ActivityLaunch && errors.Is(a.Err(), cloud.ErrCapacity) {
			at := a.End
			if at.IsZero() {
				at = a.Start
			}
			if at.After(st.failure.At) {
				st.failure = policy.LaunchFailure{At: at, Cause: a.StatusMessage}
			}
		}
	}
	st.since = next
	return st, true, nil
}

// buildPools builds every pool's snapshot from the observation: its agents (by their pool
// attribute), its groups with each instance's drain mark, the waiting instances assigned to it, and
// the labels of the apps that run in it.
func (l *Loop) buildPools(pol *policy.AutoscalerPolicy, obs *observation) {
	now := l.now()
	managed := make([]string, len(pol.Pools))
	for i, pp := range pol.Pools {
		managed[i] = pp.Name
	}
	running := appPools(obs.mesos.Agents) // by app id: tasks per pool
	waiting := map[string][]policy.QueueEntry{}
	for _, w := range obs.waiting {
		if pool := poolOfWaiting(w, managed, running[w.AppID]); pool != "" {
			waiting[pool] = append(waiting[pool], w.QueueEntry)
		}
	}
	obs.pools = make(map[string]*poolView, len(pol.Pools))
	round := buildRound{now: now, ahead: map[aheadKey]bool{}, reclaims: l.reclaimTimes()}
	defer l.cache.forgetAhead(round.ahead)
	for _, pp := range pol.Pools {
		cg := l.cache.groups[pp.Name]
		pv := &poolView{groups: cg.groups}
		snap := &pv.snap
		snap.Pool = pp.Name
		snap.Waiting = waiting[pp.Name]
		snap.Observed = policy.Observed{Mesos: obs.mesos.Observed, Marathon: obs.queueAt, Cloud: cg.at}
		snap.Apps = map[string]policy.App{}
		for _, a := range obs.mesos.Agents {
			if a.Pool != pp.Name {
				continue
			}
			a.RegisteredAt = l.onOurClock(aheadAgentRegistered, a.ID, a.RegisteredAt, now, round.ahead)
			snap.Agents = append(snap.Agents, a)
			for _, t := range a.Tasks {
				if _, done := snap.Apps[t.AppID]; !done {
					snap.Apps[t.AppID] = policy.App{Labels: obs.labelsOf(t.AppID)}
				}
			}
		}
		for _, g := range cg.groups {
			l.cache.groupPool[g.Name] = pp.Name
			snap.Groups = append(snap.Groups, l.policyGroup(g, round))
		}
		l.learnShapes(snap)
		obs.pools[pp.Name] = pv
	}
}

// labelsOf returns an app's labels: Marathon's when it knows the app, else those on its Mesos tasks.
func (obs *observation) labelsOf(appID string) map[string]string {
	if a, ok := obs.apps[appID]; ok {
		return a.Labels
	}
	return obs.mesos.AppLabels[appID]
}

// buildRound is what one buildPools reads once for every pool: the time, the outside times found
// ahead of it, and the reclaim times of the spot interruption notices held.
type buildRound struct {
	now      time.Time
	ahead    map[aheadKey]bool
	reclaims map[string]time.Time // by instance id
}

// policyGroup turns a cloud group into the planner's view of it, with the cloud's times on the loop's
// clock and the held notices' reclaim times.
func (l *Loop) policyGroup(g cloud.Group, round buildRound) policy.Group {
	now := round.now
	pg := policy.Group{
		Name: g.Name, Min: g.Min, Max: g.Max, Desired: g.Desired, InstanceType: g.InstanceType,
		Shape: l.cache.shapes[g.InstanceType], LastLaunchFailure: l.cache.launch[g.Name].failure,
	}
	pg.LastLaunchFailure.At = l.onOurClock(aheadLaunchFailure, g.Name, pg.LastLaunchFailure.At, now, round.ahead)
	if g.Suspends("Terminate") {
		// AWS would not terminate a drained instance (Nomad Autoscaler #911): to the planner the group
		// is at its min size, so nothing of it is drained.
		pg.Min = max(pg.Min, pg.Desired)
	}
	for _, in := range g.Instances {
		pi := policy.Instance{
			ID: in.ID, PrivateIP: in.PrivateIP, Lifecycle: policy.Lifecycle(in.Lifecycle),
			LaunchTime:           l.onOurClock(aheadInstanceLaunch, in.ID, in.LaunchTime, now, round.ahead),
			ProtectedFromScaleIn: in.ProtectedFromScaleIn,
		}
		if mark, ok := drainMarkOf(in.Tags, now); ok {
			pi.DrainMark = mark
		}
		pi.ReclaimAt = round.reclaims[in.ID]
		pg.Instances = append(pg.Instances, pi)
	}
	return pg
}

// learnShapes remembers what an agent of each instance type offers Mesos, so that a group whose
// agents are all gone (scaled to its min of zero) can still grow: the planner needs a shape to pack
// waiting instances into, and the cloud's instance type tells only the machine, not what the agent
// offers after its reservations.
func (l *Loop) learnShapes(snap *policy.PoolSnapshot) {
	typeAt := map[string]string{}
	for _, g := range snap.Groups {
		for _, in := range g.Instances {
			if g.InstanceType != "" && in.PrivateIP != "" {
				typeAt[in.PrivateIP] = g.InstanceType
			}
		}
	}
	for _, a := range snap.Agents {
		if t, ok := typeAt[a.IP]; ok && !a.Total.IsZero() {
			l.cache.shapes[t] = a.Total
		}
	}
}

// shapeFromTypes gives a shape to the groups whose instance type no agent has shown yet, from the
// cloud's description of the type, so that a group scaled to zero can grow again. The agent offers
// less than the machine: by default Mesos keeps 1 GiB of memory for the system (half of it below
// 2 GiB), and the disk is whatever volume the launch template gives, which the type does not say, so
// the shape offers no disk; tasks that ask for disk wait until an agent shows its real shape. Each
// type is asked for once per Run (again after a failure that may pass).
func (l *Loop) shapeFromTypes(ctx context.Context, obs *observation) {
	for _, pv := range obs.pools {
		var agentIPs map[string]bool // made when a group needs it: most have their shape already
		for i := range pv.snap.Groups {
			g := &pv.snap.Groups[i]
			if !g.Shape.IsZero() || g.InstanceType == "" {
				continue
			}
			if _, learned := l.cache.shapes[g.InstanceType]; !learned && !l.cache.typesRead[g.InstanceType] {
				l.readType(ctx, g.InstanceType)
			}
			if agentIPs == nil {
				agentIPs = map[string]bool{}
				for _, a := range pv.snap.Agents {
					agentIPs[a.IP] = true
				}
			}
			if slices.ContainsFunc(g.Instances, func(in policy.Instance) bool { return agentIPs[in.PrivateIP] }) {
				continue // the planner takes the shape from the group's own agents
			}
			g.Shape = l.cache.shapes[g.InstanceType]
		}
	}
}

// readType learns the shape of one instance type from the cloud.
func (l *Loop) readType(ctx context.Context, name string) {
	types, err := l.cloud.InstanceTypes(ctx, []string{name})
	switch {
	case errors.Is(err, cloud.ErrInvalid):
		l.cache.typesRead[name] = true // the cloud does not know it: asking again will not help
		fallthrough
	case err != nil:
		l.log.Warn("cannot read an instance type: its groups cannot grow before one of their agents shows its shape", zap.String("type", name), zap.Error(err))
		return
	}
	l.cache.typesRead[name] = true
	for _, t := range types {
		mem := float64(t.MemMiB) / 2
		if t.MemMiB >= 2048 {
			mem = float64(t.MemMiB - 1024)
		}
		l.cache.shapes[t.Name] = policy.Resources{CPUs: float64(t.CPUs), Mem: mem, GPUs: float64(t.GPUs)}
	}
}

// appPools counts, for each app, its tasks in each pool.
func appPools(agents []policy.Agent) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, a := range agents {
		for _, t := range a.Tasks {
			m := out[t.AppID]
			if m == nil {
				m = map[string]int{}
				out[t.AppID] = m
			}
			m[a.Pool]++
		}
	}
	return out
}

// findLeftovers finds the drains whose instance is gone from its group but whose machine is still in
// the maintenance schedule: an autoscaler that stopped between terminating an instance and cleaning
// the schedule leaves them, and nothing in any group shows them any more. A machine in maintenance is
// one of Marmot's when EC2 (which lists terminated instances for about an hour) shows an instance of
// one of our groups that carries Marmot's drain mark and is at the machine's IP or, once terminated
// and without an address, names the IP in its TagDrainMachine tag. Its drain is handed back to the
// planner, which forgets it, and the actuator cleans the schedule. Machines found to be someone
// else's are not looked up again.
func (l *Loop) findLeftovers(ctx context.Context, obs *observation) {
	inGroup := map[string]bool{}
	for _, pv := range obs.pools {
		for _, g := range pv.groups {
			for _, in := range g.Instances {
				inGroup[in.PrivateIP] = true
				delete(l.cache.notOurs, in.PrivateIP) // the IP is ours now; once it leaves, look again
			}
		}
	}
	machineAt := map[string]Machine{}
	var ips []string
	for _, m := range obs.mesos.Machines {
		if m.IP != "" && !inGroup[m.IP] && !l.cache.notOurs[m.IP] {
			machineAt[m.IP] = m.Machine
			ips = append(ips, m.IP)
		}
	}
	if len(ips) == 0 {
		return
	}
	sort.Strings(ips)
	insts, err := l.cloud.Instances(ctx, cloud.InstanceQuery{PrivateIPs: ips, Tags: map[string][]string{TagDrainMachine: ips}})
	if err != nil {
		l.log.Warn("cannot look up the instances of machines in maintenance", zap.Strings("ips", ips), zap.Error(err))
		return
	}
	now := l.now()
	found := map[string]bool{}
	for _, in := range insts {
		mark, marked := drainMarkOf(in.Tags, now)
		pool, ours := l.cache.groupPool[in.Group]
		pv := obs.pools[pool]
		ip := in.PrivateIP
		if ip == "" {
			ip = in.Tags[TagDrainMachine]
		}
		m, asked := machineAt[ip]
		if !marked || !ours || pv == nil || !asked || found[ip] {
			continue
		}
		found[ip] = true
		pv.leftovers = append(pv.leftovers, policy.Drain{
			InstanceID: in.ID, Group: in.Group, IP: m.IP, Hostname: m.Hostname,
			Started: mark.Since, Terminating: true,
		})
	}
	for _, ip := range ips {
		if !found[ip] {
			l.cache.notOurs[ip] = true
		}
	}
}
