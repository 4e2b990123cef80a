package simulate

import (
	"container/heap"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"
)

// World is the simulated cluster: Mesos agents and masters, Marathon apps and tasks, Auto Scaling groups
// and EC2 instances, all advanced by one Clock. It is safe for concurrent use: every exported method
// takes the world lock, first brings the model up to the clock's time, then acts.
type World struct {
	mu       sync.Mutex
	clock    Clock
	rng      *rand.Rand
	scenario *Scenario
	now      time.Time
	seq      uint64
	timeline timeline

	// Mesos
	masterID        string
	frameworkID     string
	mesosVersion    string
	masters         int
	mesosLeader     int
	mesosLeaderAt   time.Time
	agents          map[string]*Agent
	agentList       []*Agent
	agentByIP       map[string]*Agent
	nextAgent       int
	modes           map[MachineID]MachineMode
	schedule        []MaintenanceWindow
	goneAgents      map[string]bool
	unreachable     map[string]bool
	completedTasks  []*Task
	mesosEvents     bus[MesosEvent]
	mesosSubscribed map[*Subscription[MesosEvent]]int

	// Marathon
	marathons       int
	marathonLeader  int
	apps            map[string]*App
	appList         []*App
	tasks           map[string]*Task
	deployments     []*Deployment
	marathonEvents  bus[MarathonEvent]
	placeDirty      bool
	freedGeneration uint64
	failedAt        map[placeKey]uint64
	appsChanged     uint64 // bumped when an app is added or removed; keys cached app selections
	regexps         map[string]*regexp.Regexp

	// AWS
	region       string
	groups       map[string]*Group
	groupList    []*Group
	instances    map[string]*Instance
	instanceList []*Instance
	types        map[string]InstanceType
	network      netip.Prefix
	nextIP       uint32
	accountID    string
	notices      noticeQueue

	faults faultState
	stats  Stats
}

// Stats counts what happened in the world since it was made; the demo summary and the benchmarks read it.
type Stats struct {
	InstancesLaunched   int
	InstancesTerminated int
	AgentsRegistered    int
	AgentsRemoved       int
	TasksLaunched       int
	TasksKilled         int
	TasksLost           int
	AgentSeconds        float64 // agent-seconds of registered agents, integrated over model time
	lastIntegrated      time.Time
}

// Options change how a scenario is brought up.
type Options struct {
	// Loopback gives agents addresses in 127.1.0.0/16 (and the IP as hostname) so that real task
	// listeners can bind the host:port Marathon reports.
	Loopback bool
}

// New builds a world from a scenario, standing at the clock's current time with the scenario's initial
// agents registered and its apps placed and running.
func New(sc *Scenario, clock Clock, opts Options) (*World, error) {
	if errs := sc.Validate(); len(errs) > 0 {
		return nil, errs
	}
	w := &World{
		clock:           clock,
		rng:             rand.New(rand.NewSource(sc.Seed)),
		scenario:        sc,
		now:             clock.Now(),
		mesosVersion:    sc.Mesos.Version,
		masters:         sc.Mesos.Masters,
		agents:          map[string]*Agent{},
		agentByIP:       map[string]*Agent{},
		modes:           map[MachineID]MachineMode{},
		goneAgents:      map[string]bool{},
		unreachable:     map[string]bool{},
		regexps:         map[string]*regexp.Regexp{},
		mesosSubscribed: map[*Subscription[MesosEvent]]int{},
		marathons:       sc.Marathon.Instances,
		apps:            map[string]*App{},
		tasks:           map[string]*Task{},
		failedAt:        map[placeKey]uint64{},
		region:          sc.Region,
		groups:          map[string]*Group{},
		instances:       map[string]*Instance{},
		types:           map[string]InstanceType{},
		accountID:       "123456789012",
	}
	w.stats.lastIntegrated = w.now
	w.notices.init(sc.Seed, w.now)
	w.mesosLeaderAt = w.now
	w.masterID = w.uuid()
	w.frameworkID = w.uuid() + "-0000"
	network := sc.Network
	if opts.Loopback {
		network = "127.1.0.0/16"
	}
	prefix, err := netip.ParsePrefix(network)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	w.network = prefix.Masked()
	w.nextIP = 10
	for _, t := range sc.InstanceTypes {
		w.types[t.Name] = t.InstanceType()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.bootstrap(sc); err != nil {
		return nil, err
	}
	return w, nil
}

// Now is the model time the world stands at.
func (w *World) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// Clock returns the world's clock.
func (w *World) Clock() Clock { return w.clock }

// Scenario returns the scenario the world was built from. It must not be changed.
func (w *World) Scenario() *Scenario { return w.scenario }

// Stats returns the counters so far.
func (w *World) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	return w.stats
}

// Step brings the model up to the clock's current time: it runs every timed event due by then (boots,
// task starts, terminations, workload changes, scheduled faults) and places waiting tasks.
func (w *World) Step() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
}

// NextEvent returns the time of the next timed event, if there is one.
func (w *World) NextEvent() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.timeline) == 0 {
		return time.Time{}, false
	}
	return w.timeline[0].at, true
}

// View runs fn with the world locked and up to date. Pointers reached through v are valid only inside fn.
func (w *World) View(fn func(v *View)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	fn(&View{w: w})
}

// catchUp runs every timed event due by the clock's time. It must be called with the lock held.
//
// It first places what the previous call left waiting (a PUT that raised instances, a task that died),
// at the model time of that call: placing it only at the clock's new time would shift every launch
// that follows a change by however long the caller waited before its next call.
func (w *World) catchUp() {
	w.place()
	target := w.clock.Now()
	for len(w.timeline) > 0 && !w.timeline[0].at.After(target) {
		at := w.timeline[0].at
		w.setNow(at)
		for len(w.timeline) > 0 && w.timeline[0].at.Equal(at) {
			ev := heap.Pop(&w.timeline).(*timedEvent)
			ev.fn()
		}
		w.place()
	}
	w.setNow(target)
	// Placing at the target time can schedule events at that very time (a task with no start
	// delay): run them too, so that the model the caller sees has nothing overdue.
	if w.place(); len(w.timeline) > 0 && !w.timeline[0].at.After(target) {
		w.catchUp()
	}
}

func (w *World) setNow(t time.Time) {
	if t.After(w.now) {
		w.integrate(t)
		w.now = t
	}
}

func (w *World) integrate(t time.Time) {
	if d := t.Sub(w.stats.lastIntegrated); d > 0 {
		w.stats.AgentSeconds += d.Seconds() * float64(len(w.agentList))
		w.stats.lastIntegrated = t
	}
}

// after schedules fn to run d after the current model time.
func (w *World) after(d time.Duration, fn func()) {
	w.at(w.now.Add(d), fn)
}

func (w *World) at(t time.Time, fn func()) {
	if t.Before(w.now) {
		t = w.now
	}
	w.seq++
	heap.Push(&w.timeline, &timedEvent{at: t, seq: w.seq, fn: fn})
}

type timedEvent struct {
	at  time.Time
	seq uint64
	fn  func()
}

type timeline []*timedEvent

func (t timeline) Len() int { return len(t) }
func (t timeline) Less(i, j int) bool {
	if t[i].at.Equal(t[j].at) {
		return t[i].seq < t[j].seq
	}
	return t[i].at.Before(t[j].at)
}
func (t timeline) Swap(i, j int) { t[i], t[j] = t[j], t[i] }
func (t *timeline) Push(x any)   { *t = append(*t, x.(*timedEvent)) }
func (t *timeline) Pop() any {
	old := *t
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*t = old[:n-1]
	return x
}

// uuid makes a random (version 4) UUID from the world's seeded generator, so that ids repeat from run
// to run. Task and deployment ids are made by the hundred thousand in a long replay: no fmt here.
func (w *World) uuid() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], w.rng.Uint64())
	binary.LittleEndian.PutUint64(b[8:], w.rng.Uint64())
	return uuidString(b)
}

// uuidString formats 16 bytes as a version-4 UUID (setting the version and variant bits).
func uuidString(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:16])
	return string(out[:])
}

func (w *World) allocIP() string {
	base := w.network.Addr().As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for {
		w.nextIP++
		ip := n + w.nextIP
		b := [4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}
		addr := netip.AddrFrom4(b)
		if !w.network.Contains(addr) {
			w.nextIP = 10
			continue
		}
		if b[3] == 0 || b[3] == 255 {
			continue
		}
		s := addr.String()
		if _, used := w.agentByIP[s]; !used && !w.ipTaken(s) {
			return s
		}
	}
}

func (w *World) ipTaken(ip string) bool {
	for _, i := range w.instanceList {
		if i.PrivateIP == ip && i.State != InstanceTerminated {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }

func formatScalar(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// View is read access to the model inside World.View. Slices returned are the model's own: do not
// change them or keep them past the callback.
type View struct{ w *World }

// Now is the model time.
func (v *View) Now() time.Time { return v.w.now }

// MasterID is the Mesos master's id.
func (v *View) MasterID() string { return v.w.masterID }

// FrameworkID is Marathon's Mesos framework id.
func (v *View) FrameworkID() string { return v.w.frameworkID }

// MesosVersion is the version the simulated masters and agents report.
func (v *View) MesosVersion() string { return v.w.mesosVersion }

// MesosLeader returns the index of the leading master and since when it leads; ok is false while no
// master leads.
func (v *View) MesosLeader() (index int, since time.Time, ok bool) {
	return v.w.mesosLeader, v.w.mesosLeaderAt, v.w.mesosLeader >= 0
}

// MarathonLeader returns the index of the leading Marathon instance, or -1 while none leads.
func (v *View) MarathonLeader() int { return v.w.marathonLeader }

// Agents returns the registered agents in registration order (those registered in one instant, as at
// the start of a scenario, in the order they registered: S2 before S10).
func (v *View) Agents() []*Agent {
	out := make([]*Agent, len(v.w.agentList))
	copy(out, v.w.agentList)
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// Agent returns a registered agent by id.
func (v *View) Agent(id string) (*Agent, bool) { a, ok := v.w.agents[id]; return a, ok }

// CompletedTasks returns the most recently finished tasks (at most 1000, as the master keeps), oldest
// first.
func (v *View) CompletedTasks() []*Task {
	ct := v.w.completedTasks
	if len(ct) > completedTaskLimit {
		ct = ct[len(ct)-completedTaskLimit:]
	}
	return ct
}

// Schedule returns the maintenance schedule.
func (v *View) Schedule() []MaintenanceWindow { return v.w.schedule }

// MachineMode returns a machine's maintenance mode.
func (v *View) MachineMode(m MachineID) MachineMode { return v.w.mode(m) }

// DownMachines returns the machines in DOWN mode.
func (v *View) DownMachines() []MachineID { return v.w.machinesIn(ModeDown) }

// DrainingMachines returns the machines in DRAINING mode.
func (v *View) DrainingMachines() []MachineID { return v.w.machinesIn(ModeDraining) }

// Apps returns the Marathon apps sorted by id.
func (v *View) Apps() []*App {
	out := make([]*App, len(v.w.appList))
	copy(out, v.w.appList)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// App returns an app by id (absolute, e.g. "/web/frontend").
func (v *View) App(id string) (*App, bool) { a, ok := v.w.apps[NormalizeAppID(id)]; return a, ok }

// Task returns a non-terminal task by id.
func (v *View) Task(id string) (*Task, bool) { t, ok := v.w.tasks[id]; return t, ok }

// Deployments returns the running deployments, oldest first.
func (v *View) Deployments() []*Deployment { return v.w.deployments }

// Queue returns Marathon's launch queue with the offer-rejection summary for each entry.
func (v *View) Queue() []QueueEntry { return v.w.queue() }

// Groups returns the Auto Scaling groups sorted by name.
func (v *View) Groups() []*Group {
	out := make([]*Group, len(v.w.groupList))
	copy(out, v.w.groupList)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Group returns an Auto Scaling group by name.
func (v *View) Group(name string) (*Group, bool) { g, ok := v.w.groups[name]; return g, ok }

// Instances returns every EC2 instance the account has, recently terminated ones included, by launch time.
func (v *View) Instances() []*Instance { return v.w.instanceList }

// Instance returns an EC2 instance by id.
func (v *View) Instance(id string) (*Instance, bool) { i, ok := v.w.instances[id]; return i, ok }

// InstanceTypes returns the instance types the scenario knows, sorted by name.
func (v *View) InstanceTypes() []InstanceType {
	out := make([]InstanceType, 0, len(v.w.types))
	for _, t := range v.w.types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Region is the AWS region of the simulated account.
func (v *View) Region() string { return v.w.region }

// AccountID is the AWS account id of the simulated account.
func (v *View) AccountID() string { return v.w.accountID }

// SpotPriceHistory returns the spot price points for the instance types and zones asked (all when
// empty) between start and end, newest first.
func (v *View) SpotPriceHistory(types, zones []string, start, end time.Time) []SpotPrice {
	return v.w.spotHistory(types, zones, start, end)
}
