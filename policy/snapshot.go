package policy

import (
	"strings"
	"time"
)

// PoolSnapshot is what the autoscaler observed of one pool: its Mesos agents, its Auto Scaling groups,
// and the Marathon instances waiting to be placed in it. It is pure data, filled by the adapters
// (mesos, marathon, cloud/aws, simulate) and read by PlanPool.
type PoolSnapshot struct {
	Pool string `json:"pool"`
	// Agents are the Mesos agents whose `pool` attribute is this pool (default "default"), including
	// deactivated, draining and disconnected ones.
	Agents []Agent `json:"agents"`
	// Groups are the pool's Auto Scaling groups.
	Groups []Group `json:"groups"`
	// Waiting are the Marathon queue entries of apps that run in this pool.
	Waiting []QueueEntry `json:"waiting,omitempty"`
	// Apps holds the labels of the apps that have tasks in the pool, by app id; the planner reads the
	// protection labels from it.
	Apps map[string]App `json:"apps,omitempty"`
	// Observed is when each source was last read in full.
	Observed Observed `json:"observed"`
}

// Observed is when each source of a snapshot was last read in full; a zero time means never.
type Observed struct {
	Mesos    time.Time `json:"mesos"`
	Marathon time.Time `json:"marathon"`
	Cloud    time.Time `json:"cloud"`
}

// oldest returns the oldest of the three times.
func (o Observed) oldest() time.Time {
	t := o.Mesos
	for _, u := range []time.Time{o.Marathon, o.Cloud} {
		if u.Before(t) {
			t = u
		}
	}
	return t
}

// Resources are the scalar resources Mesos offers. Mem and Disk are in MB, as in Mesos.
type Resources struct {
	CPUs float64 `json:"cpus"`
	Mem  float64 `json:"mem"`
	Disk float64 `json:"disk"`
	GPUs float64 `json:"gpus"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.CPUs + o.CPUs, r.Mem + o.Mem, r.Disk + o.Disk, r.GPUs + o.GPUs}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.CPUs - o.CPUs, r.Mem - o.Mem, r.Disk - o.Disk, r.GPUs - o.GPUs}
}

// Scale returns r × k.
func (r Resources) Scale(k float64) Resources {
	return Resources{r.CPUs * k, r.Mem * k, r.Disk * k, r.GPUs * k}
}

// IsZero reports whether every resource is zero.
func (r Resources) IsZero() bool { return r == Resources{} }

// fitEpsilon absorbs float error: Mesos scalars have three decimals, so nothing real is this small.
const fitEpsilon = 1e-6

// Fits reports whether need fits in r, resource by resource.
func (r Resources) Fits(need Resources) bool {
	return need.CPUs <= r.CPUs+fitEpsilon && need.Mem <= r.Mem+fitEpsilon &&
		need.Disk <= r.Disk+fitEpsilon && need.GPUs <= r.GPUs+fitEpsilon
}

// Share returns the dominant share of used in total: the largest used/total over the resources that
// total has. A total of nothing gives 0.
func (r Resources) Share(total Resources) float64 {
	s := 0.0
	for _, p := range [4][2]float64{{r.CPUs, total.CPUs}, {r.Mem, total.Mem}, {r.Disk, total.Disk}, {r.GPUs, total.GPUs}} {
		if p[1] > 0 && p[0]/p[1] > s {
			s = p[0] / p[1]
		}
	}
	return s
}

// Agent is a Mesos agent of the pool.
type Agent struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	// IP is the address in the agent's pid (slave(1)@10.0.0.1:5051); it maps the agent to its instance.
	IP        string    `json:"ip"`
	Pool      string    `json:"pool"`
	Total     Resources `json:"total"`
	Allocated Resources `json:"allocated"`
	// Active is false when the agent is disconnected or deactivated.
	Active bool `json:"active"`
	// Deactivated is set when an operator or a drain deactivated the agent (Mesos 1.9+).
	Deactivated bool `json:"deactivated,omitempty"`
	// Maintenance is the machine's maintenance mode; empty means UP.
	Maintenance MaintenanceMode `json:"maintenance,omitempty"`
	// Drain is the DRAIN_AGENT state (Mesos 1.9+); empty when the agent is not draining.
	Drain        DrainState `json:"drain,omitempty"`
	RegisteredAt time.Time  `json:"registered_at"`
	Tasks        []Task     `json:"tasks,omitempty"`
	// Attributes are the agent's Mesos attributes as Marathon constraints see them (SCALAR values
	// formatted like Mesos' v0 JSON: "1").
	Attributes map[string]string `json:"attributes,omitempty"`
}

// MaintenanceMode is a machine's mode in the Mesos maintenance schedule.
type MaintenanceMode string

// Maintenance modes.
const (
	MaintenanceUp       MaintenanceMode = "UP"
	MaintenanceDraining MaintenanceMode = "DRAINING"
	MaintenanceDown     MaintenanceMode = "DOWN"
)

// DrainState is an agent's drain_info.state (Mesos 1.9+ DRAIN_AGENT).
type DrainState string

// Drain states.
const (
	DrainStateDraining DrainState = "DRAINING"
	DrainStateDrained  DrainState = "DRAINED"
)

// available reports whether the agent takes new tasks: it is connected, not deactivated, not in
// maintenance and not draining.
func (a *Agent) available() bool {
	return a.Active && !a.Deactivated && (a.Maintenance == "" || a.Maintenance == MaintenanceUp) && a.Drain == ""
}

// disconnected reports whether the agent is inactive with no operator action that explains it: it is
// missing for the health gate.
func (a *Agent) disconnected() bool {
	return !a.Active && !a.Deactivated && (a.Maintenance == "" || a.Maintenance == MaintenanceUp) && a.Drain == ""
}

// Task is a task running on an agent.
type Task struct {
	AppID     string    `json:"app_id"`
	Resources Resources `json:"resources"`
	// Protected is set by an adapter that knows the task must not be disturbed for a reason the app's
	// labels do not carry; the planner also applies the policy's protection to the app's labels.
	Protected bool `json:"protected,omitempty"`
}

// App is what the planner needs to know of a Marathon app.
type App struct {
	Labels map[string]string `json:"labels,omitempty"`
}

// Group is an Auto Scaling group of the pool.
type Group struct {
	Name    string `json:"name"`
	Min     int    `json:"min"`
	Max     int    `json:"max"`
	Desired int    `json:"desired"`
	// InstanceType is the EC2 type the group launches, and Shape what one of its agents offers Mesos.
	// When Shape is zero the planner takes it from an agent of the group.
	InstanceType string     `json:"instance_type"`
	Shape        Resources  `json:"shape"`
	Instances    []Instance `json:"instances,omitempty"`
	// LastLaunchFailure is the newest failed scaling activity (no capacity, bad AMI, spot unavailable).
	LastLaunchFailure LaunchFailure `json:"last_launch_failure,omitzero"`
}

// LaunchFailure is a failed launch reported by the cloud.
type LaunchFailure struct {
	At    time.Time `json:"at"`
	Cause string    `json:"cause,omitempty"`
}

// Instance is an EC2 instance of a group.
type Instance struct {
	ID         string    `json:"id"`
	PrivateIP  string    `json:"private_ip"`
	Lifecycle  Lifecycle `json:"lifecycle"`
	LaunchTime time.Time `json:"launch_time"`
	// ProtectedFromScaleIn keeps AWS from picking this instance when desired capacity drops. The planner
	// does not read it: TerminateInstanceInAutoScalingGroup ignores it, and the actuator protects the
	// instances so that only Marmot chooses which ones leave.
	ProtectedFromScaleIn bool `json:"protected_from_scale_in,omitempty"`
	// DrainMark is the drain progress the actuator wrote in the instance's tags, so that a restarted
	// autoscaler resumes the drain; zero when the instance is not being drained by Marmot.
	DrainMark DrainMark `json:"drain_mark,omitzero"`
	// ReclaimAt is when the cloud takes the instance back, from a spot interruption notice; zero
	// when no notice came.
	ReclaimAt time.Time `json:"reclaim_at,omitzero"`
}

// Lifecycle is an Auto Scaling instance lifecycle state.
type Lifecycle string

// The lifecycle states the planner tells apart.
const (
	LifecyclePending    Lifecycle = "Pending"
	LifecycleInService  Lifecycle = "InService"
	LifecycleStandby    Lifecycle = "Standby"
	LifecycleTerminated Lifecycle = "Terminated"
)

// live reports whether the instance is launching or in service: it counts towards desired capacity.
func (l Lifecycle) live() bool {
	return l == LifecycleInService || strings.HasPrefix(string(l), string(LifecyclePending))
}

// leaving reports whether the instance is terminating, terminated or detaching.
func (l Lifecycle) leaving() bool {
	return strings.HasPrefix(string(l), "Terminat") || strings.HasPrefix(string(l), "Detach")
}

// DrainMark is the drain progress kept in an instance tag.
type DrainMark struct {
	Phase DrainPhase `json:"phase"`
	Since time.Time  `json:"since"`
}

// DrainPhase is how far a drain has gone.
type DrainPhase string

// Drain phases, in order.
const (
	// DrainPhaseDraining: the agent is being drained (maintenance DRAINING or DRAIN_AGENT).
	DrainPhaseDraining DrainPhase = "draining"
	// DrainPhaseDown: the machine was brought DOWN (START_MAINTENANCE); the instance is to be terminated.
	DrainPhaseDown DrainPhase = "down"
	// DrainPhaseTerminating: termination was requested; only the cleanup is left.
	DrainPhaseTerminating DrainPhase = "terminating"
)

// QueueEntry is an entry of Marathon's launch queue (GET /v2/queue).
type QueueEntry struct {
	AppID string `json:"app_id"`
	// Count is the number of instances still to launch.
	Count int `json:"count"`
	// Resources is what one instance asks for.
	Resources Resources `json:"resources"`
	// Rejections is processedOffersSummary.rejectSummaryLastOffers: per reason, how many offers were
	// declined first for it.
	Rejections []Rejection `json:"rejections,omitempty"`
	// Delayed is set while the app is in launch backoff (delay.overdue=false): it is not waiting for room.
	Delayed bool      `json:"delayed,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	// Constraints are the app's Marathon constraints ([field, operator, value?]); the planner reads them
	// to tell whether a new agent of the pool would take an instance declined for its constraints.
	Constraints [][]string `json:"constraints,omitempty"`
}

// Rejection is one line of a queue entry's offer rejection summary.
type Rejection struct {
	// Reason is Marathon's NoOfferMatchReason: InsufficientCpus, UnfulfilledConstraint, ...
	Reason   string `json:"reason"`
	Declined int    `json:"declined"`
}
