package policy

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// PoolPlan is what the planner decided for one pool, with a reason for every choice: every group,
// every waiting queue entry, every drain, every instance missing from Mesos and every agent.
//
// The actuator carries it out in this order: drains to abort, instances to terminate (drains that are
// done, and instances that never joined), then groups with Add > 0 (SetDesiredCapacity(NewDesired),
// which already accounts for the terminations that decrement), then drains to start.
type PoolPlan struct {
	Pool string    `json:"pool"`
	At   time.Time `json:"at"`
	// Frozen is FrozenStaleData (nothing is decided), FrozenMissingAgents (nothing is drained or
	// terminated, the pool may grow) or ReasonNone.
	Frozen    Reason             `json:"frozen,omitzero"`
	ScaleUp   ScaleUpSummary     `json:"scale_up"`
	Groups    []GroupDecision    `json:"groups"`
	Waiting   []WaitingDecision  `json:"waiting,omitempty"`
	Drains    []DrainDecision    `json:"drains,omitempty"`
	Instances []InstanceDecision `json:"instances,omitempty"`
	Agents    []AgentDecision    `json:"agents"`
	// Next is the state to pass to the next PlanPool call for this pool.
	Next PoolState `json:"next"`
}

// ScaleUpSummary says how much the pool needs and how much it grows.
type ScaleUpSummary struct {
	// Used is what is allocated plus the waiting instances placed by this plan; Capacity is what the
	// available agents, the booting instances and the new agents offer.
	Used     Resources `json:"used"`
	Capacity Resources `json:"capacity"`
	// Counted is how many waiting instances count as demand; PlacedOnFreeSpace of them fit the free
	// space of available or booting agents, PlacedOnNewAgents need new agents, and Unplaced fit nowhere
	// within the limits.
	Counted           int `json:"counted"`
	PlacedOnFreeSpace int `json:"placed_on_free_space"`
	PlacedOnNewAgents int `json:"placed_on_new_agents"`
	Unplaced          int `json:"unplaced"`
	// Reclaimed is how many tasks of agents the cloud reclaims count as demand: they must find room
	// elsewhere before the instance goes.
	Reclaimed int `json:"reclaimed,omitempty"`
	// NewAgents is how many agents this plan adds over all groups, ByReason why.
	NewAgents int            `json:"new_agents"`
	ByReason  map[Reason]int `json:"by_reason,omitempty"`
	// Deferred is how many agents were wanted but not added because of the cooldown.
	Deferred int `json:"deferred,omitempty"`
	// Limits are the limits that held growth back.
	Limits []Reason `json:"limits,omitempty"`
}

// GroupDecision is what happens to one group.
type GroupDecision struct {
	Name         string `json:"name"`
	InstanceType string `json:"instance_type"`
	Min          int    `json:"min"`
	Max          int    `json:"max"`
	// Desired is the group's desired capacity as observed, or as last requested when the observation
	// is older than the request.
	Desired int `json:"desired"`
	// Add is how many agents the group grows by; NewDesired is the desired capacity to set after this
	// plan's terminations (which decrement it themselves).
	Add        int `json:"add"`
	NewDesired int `json:"new_desired"`
	// Coming is how many instances are launched or requested but not yet agents of the pool.
	Coming       int       `json:"coming"`
	Reason       Reason    `json:"reason"`
	BackoffUntil time.Time `json:"backoff_until,omitzero"`
}

// WaitingDecision says whether a queue entry counts as demand.
type WaitingDecision struct {
	AppID  string `json:"app_id"`
	Count  int    `json:"count"`
	Reason Reason `json:"reason"`
}

// DrainAction is what the actuator does with a drain.
type DrainAction string

// Drain actions.
const (
	DrainStart     DrainAction = "start"     // start draining the agent, and mark its instance
	DrainWait      DrainAction = "wait"      // nothing to do yet
	DrainTerminate DrainAction = "terminate" // bring the machine down and terminate the instance
	DrainAbort     DrainAction = "abort"     // reactivate the agent and clear the mark
	DrainForget    DrainAction = "forget"    // the instance is gone: clean the schedule
)

// DrainDecision is what happens to one drain.
type DrainDecision struct {
	Action DrainAction `json:"action"`
	Reason Reason      `json:"reason"`
	Drain  Drain       `json:"drain"`
	// DecrementDesired is set on terminate when the group can shrink; at its min size the instance is
	// replaced instead.
	DecrementDesired bool `json:"decrement_desired,omitempty"`
}

// InstanceDecision is what happens to a live instance that has no Mesos agent.
type InstanceDecision struct {
	ID           string    `json:"id"`
	Group        string    `json:"group"`
	PrivateIP    string    `json:"private_ip,omitempty"`
	MissingSince time.Time `json:"missing_since"`
	Reason       Reason    `json:"reason"`
	Terminate    bool      `json:"terminate,omitempty"`
	// DecrementDesired is set when the group can shrink; at its min size the instance is replaced.
	DecrementDesired bool `json:"decrement_desired,omitempty"`
}

// AgentDecision is what happens to one agent, and why.
type AgentDecision struct {
	ID          string  `json:"id"`
	Hostname    string  `json:"hostname"`
	InstanceID  string  `json:"instance_id,omitempty"`
	Group       string  `json:"group,omitempty"`
	Utilization float64 `json:"utilization"`
	Tasks       int     `json:"tasks"`
	Reason      Reason  `json:"reason"`
	// ProtectedBy is the protected app whose task keeps the agent.
	ProtectedBy   string    `json:"protected_by,omitempty"`
	UnneededSince time.Time `json:"unneeded_since,omitzero"`
}

// KeptByReason counts the agents by reason, for the metric of agents kept by reason.
func (p *PoolPlan) KeptByReason() map[Reason]int {
	out := map[Reason]int{}
	for _, a := range p.Agents {
		out[a.Reason]++
	}
	return out
}

// PlanPool decides what to do with one pool: which groups grow and by how much, which agents are
// drained, what happens to the drains in progress and to instances that never joined Mesos. It is a
// pure function of the snapshot, the policy, the state the previous plan returned and the time; it
// changes none of its inputs. The plan carries the next state.
func PlanPool(snap PoolSnapshot, pol PoolPolicy, state PoolState, now time.Time) PoolPlan {
	p := newPlanner(&snap, &pol, &state, now)
	if p.staleData() {
		return p.freeze(FrozenStaleData)
	}
	p.trackBackoff()
	p.findMissing()
	p.healthGate()
	p.classifyWaiting()
	p.hurryReclaimedDrains()
	p.progressDrains()
	p.drainReclaimed()
	p.scaleUp()
	p.scaleDown()
	return p.finish()
}

// planner holds one PlanPool call: the indexed snapshot, the plan being built and the next state.
type planner struct {
	snap *PoolSnapshot
	pol  *PoolPolicy
	prev *PoolState
	now  time.Time
	plan PoolPlan
	next PoolState

	agents    []agentView
	groups    []groupView
	agentByIP map[string]int     // agent index by IP
	instAt    map[string]instRef // live (else any) instance by private IP
	instByID  map[string]instRef
	demand    []demandItem // waiting instances that count as demand
	missing   []instRef    // live instances past boot_timeout with no agent
	scalingUp bool         // this plan grows the pool (or would, but for the cooldown)
	room      *capacity    // the pool's capacity as scale-up sees it
	ref       Resources    // the largest agent shape of the pool, the yardstick of task sizes
	// restartTimer holds agents whose drain was aborted: they must be unneeded for unneeded_for again.
	restartTimer map[string]bool
	appProtected map[string]bool // by app id, memoised
	fullness     []int           // available agents, fullest first; nil until needed or after a change
}

type agentView struct {
	a           *Agent
	group       int // index in groups, or -1 when the agent is no instance of the pool's groups
	inst        *Instance
	util        float64
	protectedBy string // the app whose task protects the agent, once protection was looked at
	protChecked bool
	available   bool   // takes new tasks, in this plan
	drain       string // instance id of Marmot's drain on this agent, or ""
	reason      Reason
}

// empty reports whether the agent runs nothing.
func (v *agentView) empty() bool { return len(v.a.Tasks) == 0 && v.a.Allocated.IsZero() }

type groupView struct {
	g       *Group
	shape   Resources
	desired int // observed, or last requested when the observation is older
	// decrements is how many instances this plan terminates with a decrement of desired capacity.
	decrements int
	live       int // live instances not terminated by this plan
	booting    int // live instances with no agent yet, within boot_timeout
	draining   int // instances of Marmot's drains that are still live
	add        int
	addReason  Reason
	backoff    bool
}

// coming is how many instances the group will add to Mesos without a new request: booting ones and
// ones desired but not launched yet.
func (g *groupView) coming() int {
	return g.booting + max(0, g.desired-g.decrements-g.live)
}

type instRef struct{ group, inst int }

func newPlanner(snap *PoolSnapshot, pol *PoolPolicy, prev *PoolState, now time.Time) *planner {
	p := &planner{snap: snap, pol: pol, prev: prev, now: now, restartTimer: map[string]bool{}, appProtected: map[string]bool{}}
	p.plan = PoolPlan{Pool: snap.Pool, At: now}
	// The timers are rebuilt from the agents and instances seen now, so that gone ones are forgotten.
	p.next = *prev
	p.next.UnneededSince = make(map[string]time.Time, len(prev.UnneededSince))
	p.next.MissingSince = map[string]time.Time{}
	p.next.Groups, p.next.Drains = maps.Clone(prev.Groups), maps.Clone(prev.Drains)
	if p.next.Groups == nil {
		p.next.Groups = map[string]GroupState{}
	}
	if p.next.Drains == nil {
		p.next.Drains = map[string]Drain{}
	}
	p.indexGroups()
	p.indexAgents()
	p.adoptDrainMarks()
	return p
}

func (p *planner) indexGroups() {
	p.groups = make([]groupView, len(p.snap.Groups))
	n := 0
	for gi := range p.snap.Groups {
		n += len(p.snap.Groups[gi].Instances)
	}
	p.instAt, p.instByID = make(map[string]instRef, n), make(map[string]instRef, n)
	for gi := range p.snap.Groups {
		g := &p.snap.Groups[gi]
		st := p.next.Groups[g.Name]
		desired := g.Desired
		if st.RequestedAt.After(p.snap.Observed.Cloud) && st.Requested > desired {
			desired = st.Requested
		}
		p.groups[gi] = groupView{g: g, shape: g.Shape, desired: desired}
		for ii := range g.Instances {
			in := &g.Instances[ii]
			p.instByID[in.ID] = instRef{gi, ii}
			if in.Lifecycle.live() {
				p.groups[gi].live++
			}
			if old, seen := p.instAt[in.PrivateIP]; in.PrivateIP == "" ||
				seen && p.snap.Groups[old.group].Instances[old.inst].Lifecycle.live() {
				continue // an IP is reused after termination: the live instance owns it
			}
			p.instAt[in.PrivateIP] = instRef{gi, ii}
		}
	}
}

func (p *planner) indexAgents() {
	p.agents = make([]agentView, len(p.snap.Agents))
	p.agentByIP = make(map[string]int, len(p.snap.Agents))
	for i := range p.snap.Agents {
		a := &p.snap.Agents[i]
		v := agentView{a: a, group: -1, util: a.Allocated.Share(a.Total), available: a.available()}
		if ref, ok := p.instAt[a.IP]; ok {
			v.group, v.inst = ref.group, &p.snap.Groups[ref.group].Instances[ref.inst]
			if gv := &p.groups[ref.group]; gv.shape.IsZero() {
				gv.shape = a.Total // the group's shape is unknown: its agents show it
			}
		}
		p.agentByIP[a.IP] = i
		p.agents[i] = v
	}
}

// protection returns the first app whose task protects the agent, or "". It is looked up only for the
// agents whose fate it decides (unneeded ones, drains): most agents of a busy pool are never looked at.
// appProtected memoises the policy's verdict per app, since a pool has far fewer apps than tasks.
func (p *planner) protection(v *agentView) string {
	if v.protChecked {
		return v.protectedBy
	}
	v.protChecked = true
	for _, t := range v.a.Tasks {
		prot, ok := p.appProtected[t.AppID]
		if !ok {
			prot = p.pol.Protection.Protects(t.AppID, p.snap.Apps[t.AppID].Labels)
			p.appProtected[t.AppID] = prot
		}
		if prot || t.Protected {
			v.protectedBy = t.AppID
			break
		}
	}
	return v.protectedBy
}

// groupNamed returns the index of a group of the snapshot by name.
func (p *planner) groupNamed(name string) (int, bool) {
	for gi := range p.groups {
		if p.groups[gi].g.Name == name {
			return gi, true
		}
	}
	return -1, false
}

// agentOf returns the index of the agent on an instance, or -1.
func (p *planner) agentOf(in *Instance) int {
	if i, ok := p.agentByIP[in.PrivateIP]; ok && in.PrivateIP != "" {
		return i
	}
	return -1
}

// staleData reports whether a source of the snapshot is missing or older than max_data_age.
func (p *planner) staleData() bool {
	oldest := p.snap.Observed.oldest()
	return oldest.IsZero() || p.now.Sub(oldest) > p.pol.Health.MaxDataAge.D
}

// freeze returns a plan that decides nothing: the state goes on unchanged, every group and agent is
// reported with the reason.
func (p *planner) freeze(r Reason) PoolPlan {
	p.plan.Frozen = r
	p.next = p.prev.clone()
	for i := range p.agents {
		p.agents[i].reason = r
	}
	for i := range p.groups {
		gv := &p.groups[i]
		gv.addReason = r
		for ii := range gv.g.Instances {
			if in := &gv.g.Instances[ii]; in.Lifecycle.live() && p.agentOf(in) < 0 {
				gv.booting++ // as far as stale data tells
			}
		}
	}
	return p.finish()
}

// finish fills the plan's per-group and per-agent lists and the next state.
func (p *planner) finish() PoolPlan {
	for i := range p.groups {
		p.plan.Groups = append(p.plan.Groups, p.groupDecision(&p.groups[i]))
	}
	sort.Slice(p.plan.Groups, func(i, j int) bool { return p.plan.Groups[i].Name < p.plan.Groups[j].Name })
	p.plan.Agents = make([]AgentDecision, len(p.agents))
	for i := range p.agents {
		p.plan.Agents[i] = p.agentDecision(&p.agents[i])
	}
	byID := func(a, b AgentDecision) int { return strings.Compare(a.ID, b.ID) }
	if !slices.IsSortedFunc(p.plan.Agents, byID) { // adapters usually list agents in order already
		slices.SortFunc(p.plan.Agents, byID)
	}
	sort.Slice(p.plan.Drains, func(i, j int) bool {
		return p.plan.Drains[i].Drain.InstanceID < p.plan.Drains[j].Drain.InstanceID
	})
	p.plan.Next = p.next
	return p.plan
}

func (p *planner) groupDecision(g *groupView) GroupDecision {
	d := GroupDecision{
		Name: g.g.Name, InstanceType: g.g.InstanceType, Min: g.g.Min, Max: g.g.Max,
		Desired: g.desired, Add: g.add, NewDesired: g.desired - g.decrements + g.add,
		Coming: g.coming(), Reason: g.addReason,
	}
	if st := p.next.Groups[g.g.Name]; st.BackoffUntil.After(p.now) {
		d.BackoffUntil = st.BackoffUntil
	}
	return d
}

func (p *planner) agentDecision(v *agentView) AgentDecision {
	d := AgentDecision{
		ID: v.a.ID, Hostname: v.a.Hostname, Utilization: roundShare(v.util), Tasks: len(v.a.Tasks),
		Reason: v.reason, ProtectedBy: v.protectedBy, UnneededSince: p.next.UnneededSince[v.a.ID],
	}
	if v.inst != nil {
		d.InstanceID, d.Group = v.inst.ID, p.snap.Groups[v.group].Name
	}
	return d
}

// roundShare keeps shares readable in /status and stable in golden files.
func roundShare(s float64) float64 { return float64(int64(s*10000+0.5)) / 10000 }
