package whatif

import (
	"hash/maphash"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
)

// observation is one minute of a World as the controllers see it: a snapshot per pool, the queue,
// the opted-in apps, and the cost state. Its slices are the observer's buffers: it is valid until the
// next observation.
type observation struct {
	at    time.Time
	pools map[string]*poolObs
	// waiting is the instances waiting per app, for pending times.
	waiting map[string]int
	apps    map[string]*appObs // hibernation candidates
	cost    cost.State
	// launched is the world's task launches so far.
	launched int
}

// poolObs is one pool: the planner's snapshot, its fingerprint, and the pool's capacity and demand
// for the report and the baselines.
type poolObs struct {
	snap    policy.PoolSnapshot
	hash    uint64
	shape   policy.Resources // the largest shape of the pool's groups
	price   float64          // the hourly price of the cheapest of the pool's groups
	agents  int              // registered, connected agents
	offered policy.Resources // what the available agents offer
	// used is what is allocated on available and draining agents plus what waits in the queue.
	used policy.Resources
}

// appObs is what the hibernation driver needs of an opted-in app.
type appObs struct {
	labels     map[string]string
	instances  int
	running    int
	deploying  bool
	awakeSince time.Time // start of the oldest running task
	held       cost.Resources
	rate       float64 // offered load, requests per second
}

// observer remembers what it read of a World between minutes, so that each minute costs little more
// than reading what changed: a month of a 1,000-agent cluster is 43,200 looks at 10,000 tasks and
// 2,000 apps. Agents whose task lists did not change keep their snapshot tasks and usage; apps keep
// their labels until their config changes; usage lines keep their order, so the ledger finds them
// where they were.
type observer struct {
	candidates map[string]bool
	teamLabel  string
	agents     map[string]*agentCache
	order      map[string][]*agentCache // by pool, sorted by agent id (the planner lists agents so)
	apps       map[string]*appCache
	appSlots   []*appCache // by the World's app order
	// protection is each planned pool's protection policy, and protected the apps it protects, with
	// their labels: the snapshot's Apps. The planner reads an app's labels only to ask the protection
	// policy, and for an app the policy does not protect it gets the same answer without them (app id
	// patterns do not need labels), so the snapshot carries only the apps that matter.
	protection map[string]policy.ProtectionPolicy
	protected  map[string]map[string]policy.App
	protectGen map[string]uint64 // by pool: bumped when its protected apps change
	// candidateIDs are the apps opted in to hibernation, sorted.
	candidateIDs []string
	usage        []cost.Usage // by (app, pool), in a stable order; the cost state's Usage
	usageTasks   []int
	usageAt      map[usageKey]int
	stamp        uint64
	seed         maphash.Seed
	shapes       map[string]policy.Resources
	patterns     map[string]*regexp.Regexp
	bufs         map[string]*poolBufs
	instances    []cost.Instance
	agentSlots   []*agentCache // by the World's agent order
	agentSeq     uint64
	groups       map[string]*groupCache
}

// groupCache is what a group's instances looked like last minute, reused while they stay the same.
type groupCache struct {
	insts  []*simulate.Instance
	states []instanceState
	pinst  []policy.Instance
	cinst  []cost.Instance
	hash   uint64
}

type instanceState struct {
	lifecycle simulate.LifecycleState
	agentID   string
	protected bool
	reclaim   time.Time   // the spot interruption notice's reclaim time, zero without one
	agent     *agentCache // the instance's agent when it had one at the last look
	connected bool        // the agent's connection then
}

type poolBufs struct {
	agents  []policy.Agent
	groups  []policy.Group
	waiting []policy.QueueEntry
}

type agentCache struct {
	id        string
	seq       uint64          // a small unique number, for fingerprints
	agent     *simulate.Agent // this minute's, valid inside the View only
	tasks     []*simulate.Task
	ptasks    []policy.Task
	pool      string
	attrs     map[string]string // the agent's attributes as constraints see them; they never change
	stamp     uint64
	gen       uint64 // bumped when the task list changes
	connected bool
}

type usageKey struct{ app, pool string }

type appCache struct {
	app       *simulate.App // the model's app, compared by identity only
	config    time.Time     // LastConfigChangeAt: labels change only with a new config version
	labels    map[string]string
	team      string
	candidate bool
	stamp     uint64
	pool      string // where a candidate's tasks last ran: what its sleep frees is priced there
}

func newObserver(candidates map[string]bool, teamLabel string, types []simulate.InstanceType, pools []policy.PoolPolicy) *observer {
	if teamLabel == "" {
		teamLabel = cost.DefaultTeamLabel
	}
	o := &observer{
		candidates: candidates, teamLabel: teamLabel, agents: map[string]*agentCache{}, order: map[string][]*agentCache{},
		apps: map[string]*appCache{}, protected: map[string]map[string]policy.App{}, protectGen: map[string]uint64{},
		usageAt: map[usageKey]int{},
		seed:    maphash.MakeSeed(), shapes: map[string]policy.Resources{}, patterns: map[string]*regexp.Regexp{},
		bufs: map[string]*poolBufs{}, groups: map[string]*groupCache{},
	}
	for _, t := range types {
		o.shapes[t.Name] = policy.Resources{CPUs: t.CPUs, Mem: t.MemMiB, Disk: t.DiskMiB, GPUs: t.GPUs}
	}
	o.candidateIDs = sortedKeys(candidates)
	o.protection = map[string]policy.ProtectionPolicy{}
	for _, pp := range pools {
		o.protection[pp.Name] = pp.Protection
		o.protected[pp.Name] = map[string]policy.App{}
	}
	return o
}

// observe reads the World once, inside one View.
func (o *observer) observe(v *simulate.View, prices *cost.Prices) *observation {
	o.stamp++
	obs := &observation{at: v.Now(), pools: map[string]*poolObs{}, waiting: map[string]int{}, apps: map[string]*appObs{}}
	obs.cost.At = obs.at
	obs.launched = v.Stats().TasksLaunched
	for _, b := range o.bufs {
		b.agents, b.groups, b.waiting = b.agents[:0], b.groups[:0], b.waiting[:0]
	}
	o.observeAgents(v, obs)
	o.observeGroups(v, obs, prices)
	o.observeApps(v, obs)
	o.observeQueue(v, obs)
	for name, po := range obs.pools {
		po.snap.Observed = policy.Observed{Mesos: obs.at, Marathon: obs.at, Cloud: obs.at}
		po.snap.Apps = o.protected[name]
		po.hash = o.fingerprint(po)
		b := o.buf(name)
		b.agents, b.groups, b.waiting = po.snap.Agents, po.snap.Groups, po.snap.Waiting
	}
	o.dropEmptyUsage()
	obs.cost.Usage = o.usage
	return obs
}

func (o *observer) buf(pool string) *poolBufs {
	b := o.bufs[pool]
	if b == nil {
		b = &poolBufs{}
		o.bufs[pool] = b
	}
	return b
}

func (o *observer) pool(obs *observation, name string) *poolObs {
	po := obs.pools[name]
	if po == nil {
		b := o.buf(name)
		po = &poolObs{snap: policy.PoolSnapshot{Pool: name, Agents: b.agents, Groups: b.groups, Waiting: b.waiting}}
		obs.pools[name] = po
	}
	return po
}

// observeGroups reads the Auto Scaling groups and their instances: the planner's groups, and the
// instances paid for. A group whose instances are as they were keeps last minute's lists.
func (o *observer) observeGroups(v *simulate.View, obs *observation, prices *cost.Prices) {
	o.instances = o.instances[:0]
	for _, g := range v.Groups() {
		po := o.pool(obs, g.Pool)
		pg := policy.Group{Name: g.Name, Min: g.Min, Max: g.Max, Desired: g.Desired, InstanceType: g.InstanceType, Shape: o.shapes[g.InstanceType]}
		po.shape = largest(po.shape, pg.Shape)
		az := ""
		if len(g.AZs) > 0 {
			az = g.AZs[0]
		}
		if price, src := prices.Hourly(g.InstanceType, g.Spot, az, obs.at); src != cost.PriceUnknown && (po.price == 0 || price < po.price) {
			po.price = price
		}
		gc := o.groups[g.Name]
		if gc == nil {
			gc = &groupCache{}
			o.groups[g.Name] = gc
		}
		o.refreshGroup(v, gc, g)
		if len(gc.pinst) > 0 {
			pg.Instances = gc.pinst
		}
		o.instances = append(o.instances, gc.cinst...)
		po.snap.Groups = append(po.snap.Groups, pg)
	}
	obs.cost.Instances = o.instances
}

// refreshGroup brings a group's cached instance lists up to date: rebuilt when its members changed,
// else only the instances whose lifecycle or agent changed. Last minute's snapshot is dead by now, so
// the lists are changed in place.
func (o *observer) refreshGroup(v *simulate.View, gc *groupCache, g *simulate.Group) {
	insts := g.Instances()
	if !sameInstances(gc.insts, insts) {
		gc.insts = append(gc.insts[:0], insts...)
		gc.states = make([]instanceState, len(insts))
		gc.pinst = make([]policy.Instance, len(insts))
		gc.cinst = make([]cost.Instance, len(insts))
		for i := range insts {
			o.setInstance(v, gc, i, g.Pool)
		}
		gc.rehash(o.seed, g.Name)
		return
	}
	changed := false
	for i, in := range insts {
		st := &gc.states[i]
		moved := st.agent != nil && (st.agent.stamp != o.stamp || st.agent.connected != st.connected)
		if moved || in.Lifecycle != st.lifecycle || in.AgentID != st.agentID || in.Protected != st.protected || !in.InterruptionAt.Equal(st.reclaim) {
			o.setInstance(v, gc, i, g.Pool)
			changed = true
		}
	}
	if changed {
		gc.rehash(o.seed, g.Name)
	}
}

func sameInstances(a, b []*simulate.Instance) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// setInstance fills the i-th cached instance from the model: its snapshot entry, what it costs and
// offers, and the agent it runs (looked up once, then followed through the agent cache).
func (o *observer) setInstance(v *simulate.View, gc *groupCache, i int, pool string) {
	in := gc.insts[i]
	st := instanceState{lifecycle: in.Lifecycle, agentID: in.AgentID, protected: in.Protected, reclaim: in.InterruptionAt}
	// The replay hears of a spot interruption as the autoscaler would from its notice queue.
	gc.pinst[i] = policy.Instance{
		ID: in.ID, PrivateIP: in.PrivateIP, Lifecycle: policy.Lifecycle(in.Lifecycle), LaunchTime: in.LaunchTime,
		ProtectedFromScaleIn: in.Protected, ReclaimAt: in.InterruptionAt,
	}
	ci := cost.Instance{ID: in.ID, Pool: pool, Type: in.Type, Spot: in.Spot, AZ: in.AZ, Since: in.LaunchTime}
	if c := o.agents[in.AgentID]; in.AgentID != "" && c != nil && c.stamp == o.stamp {
		st.agent, st.connected = c, c.connected
		if c.connected {
			ci.Offers = cost.Resources{CPUs: c.agent.Total.CPUs, MemMiB: c.agent.Total.Mem}
		}
	}
	gc.states[i], gc.cinst[i] = st, ci
}

func (gc *groupCache) rehash(seed maphash.Seed, name string) {
	gc.hash = mixString(seed, 0, name)
	for i := range gc.pinst {
		gc.hash = mixString(seed, gc.hash, gc.pinst[i].ID)
		gc.hash = mixString(seed, gc.hash, string(gc.pinst[i].Lifecycle))
		if r := gc.pinst[i].ReclaimAt; !r.IsZero() {
			gc.hash = mixString(seed, gc.hash, r.String())
		}
	}
}

func largest(a, b policy.Resources) policy.Resources {
	return policy.Resources{CPUs: max(a.CPUs, b.CPUs), Mem: max(a.Mem, b.Mem), Disk: max(a.Disk, b.Disk), GPUs: max(a.GPUs, b.GPUs)}
}

// observeAgents reads every agent; the task lists of agents whose tasks did not change are reused.
// Each pool's agents are listed by id.
func (o *observer) observeAgents(v *simulate.View, obs *observation) {
	seen := 0
	v.EachAgent(func(a *simulate.Agent) {
		var c *agentCache
		if seen < len(o.agentSlots) && o.agentSlots[seen].agent == a {
			c = o.agentSlots[seen]
		} else {
			c = o.agents[a.ID]
			if c == nil {
				c = o.newAgent(a)
			}
			if seen < len(o.agentSlots) {
				o.agentSlots[seen] = c
			} else {
				o.agentSlots = append(o.agentSlots, c)
			}
		}
		seen++
		c.stamp, c.agent = o.stamp, a
		c.connected = a.Connected()
		if !sameTasks(c.tasks, a.Tasks()) {
			o.retask(c, a.Tasks())
		}
	})
	o.agentSlots = o.agentSlots[:seen]
	if seen != len(o.agents) {
		for id, c := range o.agents {
			if c.stamp != o.stamp { // the agent left
				o.retask(c, nil)
				delete(o.agents, id)
				o.order[c.pool] = slices.DeleteFunc(o.order[c.pool], func(x *agentCache) bool { return x == c })
			}
		}
	}
	scheduled := len(v.Schedule()) > 0
	for _, pool := range sortedKeys(o.order) {
		order := o.order[pool]
		if len(order) == 0 {
			continue
		}
		po := o.pool(obs, pool)
		for _, c := range order {
			o.addAgent(v, po, c, scheduled)
			pa := &po.snap.Agents[len(po.snap.Agents)-1]
			po.hash = mix(po.hash, c.seq, c.gen, math.Float64bits(pa.Allocated.CPUs), math.Float64bits(pa.Allocated.Mem),
				math.Float64bits(pa.Allocated.Disk), math.Float64bits(pa.Allocated.GPUs),
				boolBits(pa.Active)|boolBits(pa.Deactivated)<<1|modeBits(pa.Maintenance)<<2|drainBits(pa.Drain)<<4)
		}
	}
}

// newAgent caches an agent seen for the first time, in its pool's order by id.
func (o *observer) newAgent(a *simulate.Agent) *agentCache {
	o.agentSeq++
	c := &agentCache{id: a.ID, seq: o.agentSeq, pool: a.Pool, attrs: make(map[string]string, len(a.Attributes))}
	for _, at := range a.Attributes {
		c.attrs[at.Name] = at.Value()
	}
	o.agents[a.ID] = c
	order := o.order[a.Pool]
	i, _ := slices.BinarySearchFunc(order, a.ID, func(x *agentCache, id string) int { return strings.Compare(x.id, id) })
	o.order[a.Pool] = slices.Insert(order, i, c)
	return c
}

func (o *observer) addAgent(v *simulate.View, po *poolObs, c *agentCache, scheduled bool) {
	a := c.agent
	pa := policy.Agent{
		ID: a.ID, Hostname: a.Hostname, IP: a.IP, Pool: a.Pool, Total: res(a.Total), Allocated: res(a.Allocated),
		Active: a.Active, Deactivated: a.Deactivated, RegisteredAt: a.RegisteredAt, Attributes: c.attrs,
	}
	if len(c.ptasks) > 0 {
		pa.Tasks = c.ptasks
	}
	if scheduled {
		if mode := v.MachineMode(a.Machine()); mode != simulate.ModeUp {
			pa.Maintenance = policy.MaintenanceMode(mode)
		}
	}
	if a.Drain != nil {
		pa.Drain = policy.DrainState(a.Drain.State)
	}
	po.snap.Agents = append(po.snap.Agents, pa)
	if a.Connected() {
		po.agents++
	}
	available := a.Active && pa.Maintenance == "" && pa.Drain == ""
	if available {
		po.offered = po.offered.Add(pa.Total)
	}
	if available || pa.Drain != "" || pa.Maintenance == policy.MaintenanceDraining {
		po.used = po.used.Add(pa.Allocated)
	}
}

// retask replaces an agent's task list in the cache and moves the usage of the tasks that came or
// went in the per-app lines. Task lists change by a task or two at a time, so only those are looked
// up.
func (o *observer) retask(c *agentCache, tasks []*simulate.Task) {
	for _, t := range c.tasks {
		if !slices.Contains(tasks, t) {
			o.use(t, c.pool, -1)
		}
	}
	for _, t := range tasks {
		if !slices.Contains(c.tasks, t) {
			o.use(t, c.pool, 1)
		}
	}
	c.gen++
	c.tasks = append(c.tasks[:0], tasks...)
	c.ptasks = c.ptasks[:0] // last minute's snapshot is dead by now
	for _, t := range tasks {
		c.ptasks = append(c.ptasks, policy.Task{AppID: t.AppID, Resources: res(t.Resources)})
	}
}

// use adds a task to (sign 1) or takes it from (sign -1) its app's usage line in a pool.
func (o *observer) use(t *simulate.Task, pool string, sign int) {
	key := usageKey{t.AppID, pool}
	i, ok := o.usageAt[key]
	if !ok {
		i = len(o.usage)
		o.usageAt[key] = i
		line := cost.Usage{App: t.AppID, Pool: pool, Team: cost.NoTeam}
		if ac := o.apps[t.AppID]; ac != nil {
			line.Team = ac.team
		}
		o.usage, o.usageTasks = append(o.usage, line), append(o.usageTasks, 0)
	}
	r := cost.Resources{CPUs: t.Resources.CPUs, MemMiB: t.Resources.Mem}
	o.usage[i].Resources = o.usage[i].Resources.Add(r.Scale(float64(sign)))
	o.usageTasks[i] += sign
}

// dropEmptyUsage removes the lines of apps that no longer run in a pool (the last line takes the
// place of a removed one) and clears the float residue of the others' adds and subtracts.
func (o *observer) dropEmptyUsage() {
	for i := 0; i < len(o.usage); {
		if o.usageTasks[i] > 0 {
			i++
			continue
		}
		delete(o.usageAt, usageKey{o.usage[i].App, o.usage[i].Pool})
		last := len(o.usage) - 1
		if i != last {
			o.usage[i], o.usageTasks[i] = o.usage[last], o.usageTasks[last]
			o.usageAt[usageKey{o.usage[i].App, o.usage[i].Pool}] = i
		}
		o.usage, o.usageTasks = o.usage[:last], o.usageTasks[:last]
	}
}

func sameTasks(a, b []*simulate.Task) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func res(r simulate.Resources) policy.Resources {
	return policy.Resources{CPUs: r.CPUs, Mem: r.Mem, Disk: r.Disk, GPUs: r.GPUs}
}

// observeApps keeps every app's labels (for protection and chargeback) and reads the hibernation
// candidates.
//
// In a replay only the replay itself changes labels, and only those of the opted-in apps (sleeping,
// waking, the instance series of a sleeping app); no app comes or goes. So the opted-in apps are read
// every minute and the others, for their labels, every appsEvery minutes: a look at 2,000 apps a
// minute is a noticeable part of a month's replay, and a test compares the result with a fresh read
// every minute.
func (o *observer) observeApps(v *simulate.View, obs *observation) {
	if o.stamp%appsEvery != 1 {
		for _, id := range o.candidateIDs {
			c := o.apps[id]
			a, ok := v.App(id)
			if c == nil || !ok || c.app != a {
				o.observeAllApps(v, obs) // something came or went after all
				return
			}
			c.stamp = o.stamp
			if !c.config.Equal(a.LastConfigChangeAt) {
				o.relabel(c, a)
			}
			o.observeCandidate(obs, c, a)
		}
		return
	}
	o.observeAllApps(v, obs)
}

// appsEvery is how often, in minutes, every app's labels are read.
const appsEvery = 15

func (o *observer) observeAllApps(v *simulate.View, obs *observation) {
	clear(obs.apps)
	i := 0
	v.EachApp(func(a *simulate.App) {
		var c *appCache
		if i < len(o.appSlots) && o.appSlots[i].app == a {
			c = o.appSlots[i]
		} else {
			c = o.apps[a.ID]
			if c == nil {
				c = &appCache{app: a, candidate: o.candidates[a.ID]}
				o.apps[a.ID] = c
			}
			if i < len(o.appSlots) {
				o.appSlots[i] = c
			} else {
				o.appSlots = append(o.appSlots, c)
			}
		}
		i++
		c.stamp = o.stamp
		if c.labels == nil || !c.config.Equal(a.LastConfigChangeAt) {
			o.relabel(c, a)
		}
		if c.candidate {
			o.observeCandidate(obs, c, a)
		}
	})
	o.appSlots = o.appSlots[:i]
	if i != len(o.apps) {
		for id, c := range o.apps {
			if c.stamp != o.stamp {
				delete(o.apps, id)
				for pool, apps := range o.protected {
					if _, ok := apps[id]; ok {
						delete(apps, id)
						o.protectGen[pool]++
					}
				}
			}
		}
	}
}

// relabel takes an app's new labels: for the planner's protection check and for chargeback.
func (o *observer) relabel(c *appCache, a *simulate.App) {
	c.config, c.labels = a.LastConfigChangeAt, a.Labels
	for pool, prot := range o.protection {
		_, was := o.protected[pool][a.ID]
		if prot.Protects(a.ID, a.Labels) {
			o.protected[pool][a.ID] = policy.App{Labels: a.Labels}
			o.protectGen[pool]++
		} else if was {
			delete(o.protected[pool], a.ID)
			o.protectGen[pool]++
		}
	}
	team := a.Labels[o.teamLabel]
	if team == "" {
		team = cost.NoTeam
	}
	if team == c.team {
		return
	}
	c.team = team
	for i := range o.usage {
		if o.usage[i].App == a.ID {
			o.usage[i].Team = team
		}
	}
}

// observeCandidate reads an app opted in to hibernation: for the sleeper, and, while it sleeps, what
// its sleep frees for the ledger.
func (o *observer) observeCandidate(obs *observation, c *appCache, a *simulate.App) {
	ao := candidate(a)
	obs.apps[a.ID] = ao
	if len(a.Tasks()) > 0 {
		for pool := range o.order {
			if i, ok := o.usageAt[usageKey{a.ID, pool}]; ok && o.usageTasks[i] > 0 {
				c.pool = pool
			}
		}
		return
	}
	n := hibernatedCount(a.Labels)
	if a.Instances > 0 || n == 0 {
		return
	}
	since, _ := time.Parse(time.RFC3339, a.Labels[policy.LabelHibernatedAt])
	obs.cost.Sleeping = append(obs.cost.Sleeping, cost.Sleeping{
		App: a.ID, Labels: a.Labels, Pool: c.pool, Since: since,
		Freed: cost.Resources{CPUs: a.CPUs, MemMiB: a.Mem}.Scale(float64(n)),
	})
}

func candidate(a *simulate.App) *appObs {
	ao := &appObs{labels: a.Labels, instances: a.Instances, deploying: a.Deployment() != nil, rate: a.RequestRate}
	for _, t := range a.Tasks() {
		ao.held = ao.held.Add(cost.Resources{CPUs: t.Resources.CPUs, MemMiB: t.Resources.Mem})
		if t.State != simulate.TaskRunning {
			continue
		}
		ao.running++
		if ao.awakeSince.IsZero() || t.StartedAt.Before(ao.awakeSince) {
			ao.awakeSince = t.StartedAt
		}
	}
	return ao
}

// observeQueue reads Marathon's launch queue into the snapshot of the pool each app would land in.
func (o *observer) observeQueue(v *simulate.View, obs *observation) {
	var pools []string
	v.EachWaiting(func(w simulate.Waiting) {
		obs.waiting[w.App.ID] = w.Count
		if pools == nil {
			pools = sortedKeys(obs.pools)
		}
		pool := o.poolOfWaiting(w.App, pools)
		if pool == "" {
			return
		}
		e := policy.QueueEntry{AppID: w.App.ID, Count: w.Count, Resources: res(w.App.PerInstance()), Delayed: w.Delayed, Since: w.Since, Constraints: w.App.Constraints}
		for _, r := range w.Reasons {
			e.Rejections = append(e.Rejections, policy.Rejection{Reason: r.Reason, Declined: r.Declined})
		}
		po := o.pool(obs, pool)
		po.snap.Waiting = append(po.snap.Waiting, e)
		// What waits counts as the pool's demand whatever the offers were declined for: an app pinned
		// to a pool with no agent left is declined for its constraint, yet wants that pool's capacity.
		if !w.Delayed {
			po.used = po.used.Add(e.Resources.Scale(float64(w.Count)))
		}
	})
}

// poolOfWaiting decides which pool an app's waiting instances would land in, by the live autoscaler's
// rule: a constraint on the pool attribute (CLUSTER or IS with a value; LIKE and UNLIKE) narrows the
// pools; then the pool that runs most of the app's tasks; then the default pool; then the only pool
// the constraints left. "" means none: growing an arbitrary pool would be a guess.
func (o *observer) poolOfWaiting(app *simulate.App, pools []string) string {
	allowed := pools
	constrained := false
	for _, c := range app.Constraints {
		if len(c) < 3 || c[0] != "pool" || c[2] == "" {
			continue
		}
		var keep func(p string) bool
		switch strings.ToUpper(c[1]) {
		case "CLUSTER", "IS":
			keep = func(p string) bool { return p == c[2] }
		case "LIKE", "UNLIKE":
			like := strings.EqualFold(c[1], "LIKE")
			re, err := o.pattern(c[2])
			if err != nil {
				continue // Marathon refuses such an app; nothing to learn from it
			}
			keep = func(p string) bool { return re.MatchString(p) == like }
		default:
			continue
		}
		constrained = true
		allowed = slices.DeleteFunc(slices.Clone(allowed), func(p string) bool { return !keep(p) })
	}
	best, most := "", 0
	for _, p := range allowed {
		if i, ok := o.usageAt[usageKey{app.ID, p}]; ok && o.usageTasks[i] > most {
			best, most = p, o.usageTasks[i]
		}
	}
	switch {
	case best != "":
		return best
	case slices.Contains(allowed, "default"):
		return "default"
	case constrained && len(allowed) == 1:
		return allowed[0]
	}
	return ""
}

// pattern compiles a LIKE/UNLIKE value as Marathon matches it: a regular expression over the whole
// attribute value.
func (o *observer) pattern(expr string) (*regexp.Regexp, error) {
	if re, ok := o.patterns[expr]; ok {
		return re, nil
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err == nil {
		o.patterns[expr] = re
	}
	return re, err
}

// fingerprint completes a pool's hash over everything in its snapshot the planner reads, except the
// observation times, so that a replay can tell that a pool did not change since its last plan. The
// agents were mixed in as they were listed (an agent's tasks by the generation of its task list);
// the groups and the queue are mixed in here.
func (o *observer) fingerprint(po *poolObs) uint64 {
	h := mix(po.hash, o.protectGen[po.snap.Pool])
	for i := range po.snap.Groups {
		g := &po.snap.Groups[i]
		h = mix(h, o.groups[g.Name].hash, uint64(g.Min), uint64(g.Max), uint64(g.Desired))
	}
	for i := range po.snap.Waiting {
		e := &po.snap.Waiting[i]
		h = mix(mixString(o.seed, h, e.AppID), uint64(e.Count), boolBits(e.Delayed))
		for _, rj := range e.Rejections {
			h = mix(mixString(o.seed, h, rj.Reason), uint64(rj.Declined))
		}
	}
	return h
}

// mix folds values into a 64-bit hash with a multiply-xorshift step (as in splitmix64): cheap, and a
// change in any value changes the result but for a 2^-64 chance.
func mix(h uint64, vals ...uint64) uint64 {
	for _, v := range vals {
		h = (h ^ v) * 0x9e3779b97f4a7c15
		h ^= h >> 31
	}
	return h
}

func mixString(seed maphash.Seed, h uint64, s string) uint64 { return mix(h, maphash.String(seed, s)) }

func modeBits(m policy.MaintenanceMode) uint64 {
	switch m {
	case policy.MaintenanceDraining:
		return 1
	case policy.MaintenanceDown:
		return 2
	}
	return 0
}

func drainBits(d policy.DrainState) uint64 {
	switch d {
	case policy.DrainStateDraining:
		return 1
	case policy.DrainStateDrained:
		return 2
	}
	return 0
}

func boolBits(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
