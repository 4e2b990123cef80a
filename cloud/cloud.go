// Package cloud is Marmot's view of the machines under a Mesos cluster: Auto Scaling groups, their
// instances, scaling activities, instance types and spot prices, and the few actions the autoscaler
// takes on them. It holds the Provider interface, the types it speaks in and the typed errors every
// implementation returns. cloud/aws implements it on aws-sdk-go-v2; cloud/cloudtest is a recording fake.
//
// The autoscaler scales up by setting a group's desired capacity and scales down by naming the
// instance to terminate, never by lowering desired capacity and letting the cloud pick a victim
// (cluster-autoscaler's and Nomad's lesson: only the autoscaler knows which agent it drained).
package cloud

import (
	"context"
	"time"
)

// TagPool is the Auto Scaling group tag that names the Marmot pool a group serves.
const TagPool = "marmot:pool"

// Provider is a cloud account in one region. Every method blocks until the cloud has answered (after
// the implementation's own bounded retries of throttling and server errors) or ctx ends; none of
// them waits for a scaling action to finish: launches and terminations are asynchronous, and their
// progress shows in Groups and Activities. Errors match the sentinels in errors.go with errors.Is;
// a cancelled or expired ctx yields an error that matches ctx.Err().
type Provider interface {
	// Groups returns the Auto Scaling groups that match q, each with its member instances (private
	// IPs, launch times and tags included). Names and Tags both narrow the result; a zero query
	// returns every group in the region. A named group that does not exist is left out, not an
	// error: compare the result with the names asked for. Read-only.
	Groups(ctx context.Context, q GroupQuery) ([]Group, error)

	// SetDesiredCapacity sets a group's desired capacity; the group then launches or terminates
	// instances on its own. Idempotent: setting the value the group already has succeeds and starts
	// no activity (it never returns ErrNoOp: knowing that would take a read that races with every
	// other writer; the caller compares with its snapshot). Outside [Min, Max] → ErrInvalid; unknown
	// group → ErrNotFound; the group busy with another activity → ErrScalingInProgress.
	SetDesiredCapacity(ctx context.Context, group string, desired int) error

	// TerminateInstance terminates one member instance and returns the activity that does it. With
	// decrement the group's desired capacity drops by one, so nothing replaces the instance;
	// decrementing at Min → ErrInvalid. Without decrement the group launches a replacement.
	// Scale-in protection does not stop it. Not idempotent on AWS: terminating an instance that is
	// already leaving may fail with ErrInvalid or ErrNotFound; check its Lifecycle first. Unknown
	// instance → ErrNotFound.
	TerminateInstance(ctx context.Context, instanceID string, decrement bool) (Activity, error)

	// SetInstanceProtection sets or clears scale-in protection on member instances of group, so that
	// a lower desired capacity never picks them. Idempotent. An instance outside the group, or an
	// unknown group → ErrNotFound or ErrInvalid (AWS reports both as ValidationError).
	SetInstanceProtection(ctx context.Context, group string, instanceIDs []string, protected bool) error

	// Instances returns the instances that match q, with their EC2 state, private IP, type, zone,
	// launch time, spot flag and tags; Group is set from the aws:autoscaling:groupName tag and
	// Lifecycle is left empty (only Groups knows it). Ids the cloud does not know are left out, not
	// an error: right after a launch EC2 may not know an id yet (eventual consistency). An empty
	// query → ErrInvalid (it would list the whole account). A terminated instance has no private IP.
	// Read-only.
	Instances(ctx context.Context, q InstanceQuery) ([]Instance, error)

	// SetInstanceTags adds or overwrites tags on one instance. Idempotent. Unknown instance →
	// ErrNotFound. The autoscaler keeps drain progress in an instance tag so that a restart resumes it.
	SetInstanceTags(ctx context.Context, instanceID string, tags map[string]string) error

	// DeleteInstanceTags removes the tags with these keys from one instance, whatever their values.
	// Idempotent: a key the instance does not carry is not an error. Unknown instance → ErrNotFound.
	DeleteInstanceTags(ctx context.Context, instanceID string, keys []string) error

	// Activities returns group's scaling activities that started at or after since, newest first.
	// Failed launches (no capacity, spot not available, bad image) show up only here; see
	// Activity.Err. A zero since returns all the history the cloud keeps (six weeks on AWS), which is
	// many pages: pass the time of the last look. Unknown group → an empty list. Read-only.
	Activities(ctx context.Context, group string, since time.Time) ([]Activity, error)

	// InstanceTypes returns the shapes of the named instance types, or of every type offered in the
	// region when names is empty. An unknown name → ErrInvalid. Read-only.
	InstanceTypes(ctx context.Context, names []string) ([]InstanceType, error)

	// SpotPrices returns the spot price history that matches q, newest first: the price in force at
	// q.Start and every change up to q.End. Read-only.
	SpotPrices(ctx context.Context, q SpotPriceQuery) ([]SpotPrice, error)
}

// GroupQuery selects Auto Scaling groups. A group must match every condition given.
type GroupQuery struct {
	// Names are group names; empty means any name.
	Names []string
	// Tags are group tags that must all be present; an empty value means any value. A pool's groups
	// are GroupQuery{Tags: map[string]string{TagPool: pool}}.
	Tags map[string]string
}

// InstanceQuery selects instances by id, by private IP, by tag, or any of these (the union).
type InstanceQuery struct {
	IDs []string
	// PrivateIPs match live instances only: EC2 shows a terminated instance (for about an hour)
	// without its network interface.
	PrivateIPs []string
	// Tags selects the instances whose tag (the key) has one of the values, terminated ones
	// included: tags outlive the instance's address, so they find what an IP no longer does.
	Tags map[string][]string
}

// Empty tells whether the query selects nothing, which the cloud would read as "everything".
func (q InstanceQuery) Empty() bool {
	if len(q.IDs) > 0 || len(q.PrivateIPs) > 0 {
		return false
	}
	for _, values := range q.Tags {
		if len(values) > 0 {
			return false
		}
	}
	return true
}

// SpotPriceQuery selects spot price history. Empty lists mean any.
type SpotPriceQuery struct {
	InstanceTypes []string
	Zones         []string
	// Products are product descriptions such as "Linux/UNIX"; empty means "Linux/UNIX", the one
	// Mesos agents run.
	Products []string
	// Start and End bound the history; a zero Start means End, a zero End means now.
	Start, End time.Time
}

// Group is an Auto Scaling group.
type Group struct {
	Name string
	// Pool is the value of the group's TagPool tag, empty when it has none.
	Pool     string
	Min, Max int
	Desired  int
	// InstanceType is the type the group launches: its launch template override, else the type most
	// of its instances have; empty when neither tells.
	InstanceType string
	// Spot is true when the group launches spot instances above its on-demand base: its mixed
	// instances policy says so, else most of its instances are spot.
	Spot  bool
	Zones []string
	Tags  map[string]string
	// NewInstancesProtected tells whether the group protects new instances from scale-in.
	NewInstancesProtected bool
	// Suspended lists the group's suspended processes ("Terminate", "Launch", ...).
	Suspended []string
	// Status is empty for a live group and "Delete in progress" while AWS deletes it.
	Status    string
	Instances []Instance
}

// Suspends tells whether the group has suspended the named process. With "Terminate" suspended the
// group does not terminate instances, so an agent drained for scale-down would stay (Nomad #911).
func (g Group) Suspends(process string) bool {
	for _, p := range g.Suspended {
		if p == process {
			return true
		}
	}
	return false
}

// Instance is an EC2 instance, usually a member of an Auto Scaling group.
type Instance struct {
	ID string
	// Group is the Auto Scaling group it belongs to, empty for none.
	Group      string
	PrivateIP  string
	PrivateDNS string
	Type       string
	Zone       string
	// Lifecycle is the group's view of the instance; empty when the instance came from Instances.
	Lifecycle Lifecycle
	// State is EC2's view of the machine; empty when EC2 does not know the instance yet.
	State InstanceState
	// Healthy is the group's health status (Healthy or Unhealthy); false when the instance came
	// from Instances.
	Healthy              bool
	LaunchTime           time.Time
	ProtectedFromScaleIn bool
	Spot                 bool
	Tags                 map[string]string
}

// Lifecycle is an instance's state in its Auto Scaling group, with AWS's names.
type Lifecycle string

// The lifecycle states of an Auto Scaling group member (warm pool states are not used).
const (
	LifecyclePending            Lifecycle = "Pending"
	LifecyclePendingWait        Lifecycle = "Pending:Wait"
	LifecyclePendingProceed     Lifecycle = "Pending:Proceed"
	LifecycleQuarantined        Lifecycle = "Quarantined"
	LifecycleInService          Lifecycle = "InService"
	LifecycleTerminating        Lifecycle = "Terminating"
	LifecycleTerminatingWait    Lifecycle = "Terminating:Wait"
	LifecycleTerminatingProceed Lifecycle = "Terminating:Proceed"
	LifecycleTerminated         Lifecycle = "Terminated"
	LifecycleDetaching          Lifecycle = "Detaching"
	LifecycleDetached           Lifecycle = "Detached"
	LifecycleEnteringStandby    Lifecycle = "EnteringStandby"
	LifecycleStandby            Lifecycle = "Standby"
)

// Launching tells whether the instance is on its way into service.
func (l Lifecycle) Launching() bool {
	return l == LifecyclePending || l == LifecyclePendingWait || l == LifecyclePendingProceed
}

// Leaving tells whether the instance is on its way out of the group or gone.
func (l Lifecycle) Leaving() bool {
	switch l {
	case LifecycleTerminating, LifecycleTerminatingWait, LifecycleTerminatingProceed, LifecycleTerminated,
		LifecycleDetaching, LifecycleDetached:
		return true
	}
	return false
}

// InstanceState is EC2's state of an instance, with EC2's names.
type InstanceState string

// The EC2 instance states.
const (
	StatePending      InstanceState = "pending"
	StateRunning      InstanceState = "running"
	StateShuttingDown InstanceState = "shutting-down"
	StateTerminated   InstanceState = "terminated"
	StateStopping     InstanceState = "stopping"
	StateStopped      InstanceState = "stopped"
)

// InstanceType is the shape of an EC2 instance type.
type InstanceType struct {
	Name   string
	CPUs   int
	MemMiB int64
	GPUs   int
}

// SpotPrice is the spot price of an instance type in a zone from Time on.
type SpotPrice struct {
	InstanceType string
	Zone         string
	Product      string
	// PerHour is the price in US dollars per instance-hour.
	PerHour float64
	Time    time.Time
}
