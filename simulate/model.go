package simulate

import (
	"encoding/json"
	"math"
	"strings"
	"time"
)

// Resources is an amount of the scalar resources Mesos offers. Mem and Disk are in MB, as in Mesos.
type Resources struct {
	CPUs float64
	Mem  float64
	Disk float64
	GPUs float64
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.CPUs + o.CPUs, r.Mem + o.Mem, r.Disk + o.Disk, r.GPUs + o.GPUs}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.CPUs - o.CPUs, r.Mem - o.Mem, r.Disk - o.Disk, r.GPUs - o.GPUs}
}

// Scale returns r × n.
func (r Resources) Scale(n float64) Resources {
	return Resources{r.CPUs * n, r.Mem * n, r.Disk * n, r.GPUs * n}
}

// milli rounds each amount to three decimals, the fixed-point precision of Mesos scalars. Keeping an
// agent's running allocation on that grid stops the drift of thousands of float adds and subtracts
// (0.1 cpu tasks), which would otherwise let Allocated creep past Total or leave a phantom remainder.
func (r Resources) milli() Resources {
	round := func(f float64) float64 { return math.Round(f*1000) / 1000 }
	return Resources{round(r.CPUs), round(r.Mem), round(r.Disk), round(r.GPUs)}
}

// PortRange is an inclusive range of ports, as in Mesos' RANGES resource.
type PortRange struct{ Begin, End uint64 }

// Attribute is a Mesos agent attribute. Exactly one of Text and Scalar is set: Mesos turns numeric
// `--attributes` values into SCALAR (so `pool:1` is the number 1, not the string "1").
type Attribute struct {
	Name   string
	Text   string
	Scalar *float64
}

// Value returns the attribute's value as Marathon constraints compare it.
func (a Attribute) Value() string {
	if a.Scalar != nil {
		return formatScalar(*a.Scalar)
	}
	return a.Text
}

// DrainState is the state of a DRAIN_AGENT drain (Mesos 1.9+).
type DrainState string

// Drain states as Mesos reports them in drain_info.state.
const (
	DrainDraining DrainState = "DRAINING"
	DrainDrained  DrainState = "DRAINED"
)

// DrainInfo is an agent's drain_info.
type DrainInfo struct {
	State          DrainState
	MaxGracePeriod *time.Duration
	MarkGone       bool
	StartedAt      time.Time
}

// MachineMode is a machine's maintenance mode.
type MachineMode string

// Maintenance modes of a machine (Mesos maintenance primitives).
const (
	ModeUp       MachineMode = "UP"
	ModeDraining MachineMode = "DRAINING"
	ModeDown     MachineMode = "DOWN"
)

// MachineID identifies a machine for maintenance: Mesos matches both the hostname (case-insensitively)
// and the IP an agent advertised.
type MachineID struct {
	Hostname string
	IP       string
}

func (m MachineID) key() MachineID { return MachineID{strings.ToLower(m.Hostname), m.IP} }

// MaintenanceWindow is one window of the maintenance schedule.
type MaintenanceWindow struct {
	Machines []MachineID
	Start    time.Time
	Duration time.Duration
}

// Agent is a Mesos agent. Pointers handed out by View are valid only inside the View callback.
type Agent struct {
	ID           string
	Hostname     string
	IP           string
	Port         int
	Pool         string
	Attributes   []Attribute
	Role         string // the role the agent's resources are reserved for; "*" when unreserved
	Total        Resources
	Ports        []PortRange
	Allocated    Resources
	Active       bool
	Deactivated  bool
	Drain        *DrainInfo
	RegisteredAt time.Time
	Version      string
	Capabilities []string
	InstanceID   string // the EC2 instance the agent runs on; empty for static agents

	tasks      []*Task
	usedPorts  map[uint64]bool
	index      int
	seq        int // registration order
	appTasks   map[string]int
	disconnect bool
}

// Tasks returns the agent's non-terminal tasks, oldest first.
func (a *Agent) Tasks() []*Task { return a.tasks }

// Connected reports whether the agent still answers the master. An agent whose machine is shutting
// down is disconnected (and inactive) until the master removes it after the ping timeout.
func (a *Agent) Connected() bool { return !a.disconnect }

// Free returns the resources not allocated to tasks.
func (a *Agent) Free() Resources { return a.Total.Sub(a.Allocated) }

// PID is the libprocess pid Mesos reports for the agent ("slave(1)@10.0.0.5:5051").
func (a *Agent) PID() string { return "slave(1)@" + a.IP + ":" + itoa(a.Port) }

// Machine is the agent's maintenance machine id.
func (a *Agent) Machine() MachineID { return MachineID{a.Hostname, a.IP} }

// TaskState is a Mesos task state.
type TaskState string

// Task states used by the model.
const (
	TaskStaging  TaskState = "TASK_STAGING"
	TaskStarting TaskState = "TASK_STARTING"
	TaskRunning  TaskState = "TASK_RUNNING"
	TaskKilling  TaskState = "TASK_KILLING"
	TaskKilled   TaskState = "TASK_KILLED"
	TaskFinished TaskState = "TASK_FINISHED"
	TaskFailed   TaskState = "TASK_FAILED"
	TaskLost     TaskState = "TASK_LOST"
	TaskGone     TaskState = "TASK_GONE_BY_OPERATOR"
)

// Terminal reports whether a task in this state will never run again.
func (s TaskState) Terminal() bool {
	switch s {
	case TaskKilled, TaskFinished, TaskFailed, TaskLost, TaskGone:
		return true
	}
	return false
}

// Task is a Marathon task (one Mesos task per instance).
type Task struct {
	ID         string
	AppID      string
	AgentID    string
	Host       string
	IP         string
	Ports      []uint64
	Resources  Resources
	State      TaskState
	Healthy    bool
	StagedAt   time.Time
	StartedAt  time.Time
	Version    time.Time
	Statuses   []TaskStatus
	killReason string
}

// TaskStatus is one status update of a task.
type TaskStatus struct {
	State     TaskState
	Timestamp time.Time
	Healthy   *bool
}

// HealthCheck is a Marathon health check. Only HTTP checks are modelled; the path is what a real task
// (--real-tasks) answers on.
type HealthCheck struct {
	Protocol               string
	Path                   string
	PortIndex              int
	GracePeriodSeconds     int
	IntervalSeconds        int
	TimeoutSeconds         int
	MaxConsecutiveFailures int
}

// UpgradeStrategy is Marathon's upgradeStrategy.
type UpgradeStrategy struct {
	MinimumHealthCapacity float64
	MaximumOverCapacity   float64
}

// App is a Marathon app: its spec, its tasks and its place in the launch queue.
type App struct {
	ID                    string
	Instances             int
	CPUs                  float64
	Mem                   float64
	Disk                  float64
	GPUs                  float64
	Ports                 int // number of host ports each task needs (portDefinitions)
	Cmd                   string
	Constraints           [][]string
	Labels                map[string]string
	HealthChecks          []HealthCheck
	AcceptedResourceRoles []string
	Role                  string
	BackoffSeconds        float64
	BackoffFactor         float64
	MaxLaunchDelaySeconds float64
	UpgradeStrategy       UpgradeStrategy
	// Extra holds the other fields of the app definition, kept verbatim so a GET returns what was PUT.
	Extra map[string]json.RawMessage

	// StartDelay is how long a task takes from staging to running (the simulated app's own start).
	StartDelay time.Duration
	// RequestRate is the app's offered load in requests per second (scenario workload); it drives the
	// load-balancer traffic the hibernator sees.
	RequestRate float64

	Version            time.Time
	LastScalingAt      time.Time
	LastConfigChangeAt time.Time

	tasks      []*Task
	queueSince time.Time
	delayUntil time.Time
	deployment *Deployment
	index      int
	// reconciling and reconcileAgain turn the re-entry of reconcileApp (a kill it makes ends a task,
	// which asks for another reconcile) into another pass of the outer call instead of recursion.
	reconciling    bool
	reconcileAgain bool
}

// Tasks returns the app's non-terminal tasks, oldest first.
func (a *App) Tasks() []*Task { return a.tasks }

// PerInstance returns the resources one task of the app needs.
func (a *App) PerInstance() Resources {
	return Resources{CPUs: a.CPUs, Mem: a.Mem, Disk: a.Disk, GPUs: a.GPUs}
}

// Deployment returns the app's running deployment, or nil.
func (a *App) Deployment() *Deployment { return a.deployment }

// Counts returns the app's task counts as Marathon reports them.
func (a *App) Counts() (staged, running, healthy, unhealthy int) {
	for _, t := range a.tasks {
		switch t.State {
		case TaskStaging, TaskStarting:
			staged++
		case TaskRunning:
			running++
			if len(a.HealthChecks) > 0 {
				if t.Healthy {
					healthy++
				} else {
					unhealthy++
				}
			}
		}
	}
	return
}

// Deployment is a Marathon deployment touching one app.
type Deployment struct {
	ID           string
	Version      time.Time
	AppID        string
	Action       string // StartApplication, ScaleApplication, RestartApplication, StopApplication
	CurrentStep  int
	TotalSteps   int
	StartedAt    time.Time
	deleteOnDone bool
}

// LifecycleState is an Auto Scaling instance lifecycle state.
type LifecycleState string

// Lifecycle states used by the model.
const (
	LifecyclePending     LifecycleState = "Pending"
	LifecycleInService   LifecycleState = "InService"
	LifecycleTerminating LifecycleState = "Terminating"
	LifecycleTerminated  LifecycleState = "Terminated"
)

// InstanceState is an EC2 instance state, with its numeric code.
type InstanceState string

// EC2 instance states used by the model.
const (
	InstancePending      InstanceState = "pending"
	InstanceRunning      InstanceState = "running"
	InstanceShuttingDown InstanceState = "shutting-down"
	InstanceTerminated   InstanceState = "terminated"
	// The model never stops an instance; the stop states exist for the notice queue's state changes.
	InstanceStopping InstanceState = "stopping"
	InstanceStopped  InstanceState = "stopped"
)

// Code is the EC2 numeric state code.
func (s InstanceState) Code() int {
	switch s {
	case InstancePending:
		return 0
	case InstanceRunning:
		return 16
	case InstanceShuttingDown:
		return 32
	case InstanceTerminated:
		return 48
	case InstanceStopping:
		return 64
	case InstanceStopped:
		return 80
	}
	return 0
}

// Tag is an AWS tag. ResourceID and PropagateAtLaunch apply to Auto Scaling group tags only.
type Tag struct {
	Key               string
	Value             string
	PropagateAtLaunch bool
}

// Instance is an EC2 instance, usually a member of an Auto Scaling group.
type Instance struct {
	ID           string
	Type         string
	AZ           string
	ImageID      string
	PrivateIP    string
	PrivateDNS   string
	LaunchTime   time.Time
	State        InstanceState
	Lifecycle    LifecycleState
	Health       string
	Protected    bool
	Spot         bool
	Group        string
	Tags         []Tag
	AgentID      string
	NeverJoins   bool
	TerminatedAt time.Time
	// InterruptionAt is set when a spot interruption notice was given: the instance is reclaimed then.
	InterruptionAt time.Time
	// RebalanceAt is set when EC2 recommended rebalancing away from the spot instance.
	RebalanceAt time.Time
}

// Tag returns the value of an instance tag.
func (i *Instance) Tag(key string) (string, bool) {
	for _, t := range i.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Activity is an Auto Scaling scaling activity.
type Activity struct {
	ID          string
	Group       string
	Description string
	Cause       string
	Details     string
	StartTime   time.Time
	EndTime     time.Time
	StatusCode  string
	Message     string
	Progress    int
}

// Group is an Auto Scaling group.
type Group struct {
	Name                  string
	ARN                   string
	Pool                  string
	InstanceType          string
	Spot                  bool
	LaunchTemplate        string
	Min, Max, Desired     int
	DefaultCooldown       time.Duration
	AZs                   []string
	Tags                  []Tag
	NewInstancesProtected bool
	CreatedAt             time.Time
	HealthCheckType       string
	TerminationPolicies   []string

	instances    []*Instance
	activities   []*Activity
	lastActivity time.Time
}

// Instances returns the group's member instances (terminated ones drop out).
func (g *Group) Instances() []*Instance { return g.instances }

// Activities returns the group's scaling activities, newest first.
func (g *Group) Activities() []*Activity { return g.activities }

// Tag returns the value of a group tag.
func (g *Group) Tag(key string) (string, bool) {
	for _, t := range g.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// InstanceType describes an EC2 instance type and what the agent on it offers to Mesos.
type InstanceType struct {
	Name      string
	CPUs      float64
	MemMiB    float64
	DiskMiB   float64
	GPUs      float64
	PriceHour float64 // on-demand USD per hour
}

// SpotPrice is one point of the spot price history.
type SpotPrice struct {
	InstanceType string
	AZ           string
	Price        float64
	Timestamp    time.Time
}
