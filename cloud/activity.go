package cloud

import "time"

// Activity is a scaling activity of an Auto Scaling group: one launch or one termination.
type Activity struct {
	ID    string
	Group string
	Kind  ActivityKind
	// InstanceID is the instance launched or terminated; empty when the launch failed before there
	// was one.
	InstanceID  string
	Description string
	Cause       string
	Status      ActivityStatus
	// StatusMessage says why an activity failed, e.g. "We currently do not have sufficient m5.xlarge
	// capacity in the Availability Zone you requested".
	StatusMessage string
	Progress      int
	Start, End    time.Time
}

// ActivityKind says what an activity does.
type ActivityKind string

// The kinds of activity Marmot tells apart.
const (
	ActivityLaunch    ActivityKind = "launch"
	ActivityTerminate ActivityKind = "terminate"
	ActivityOther     ActivityKind = "other"
)

// ActivityStatus is an activity's status code, with AWS's names.
type ActivityStatus string

// The activity status codes; all but the last three mean the activity is still going.
const (
	ActivityPendingSpotBidPlacement         ActivityStatus = "PendingSpotBidPlacement"
	ActivityWaitingForSpotInstanceRequestID ActivityStatus = "WaitingForSpotInstanceRequestId"
	ActivityWaitingForSpotInstanceID        ActivityStatus = "WaitingForSpotInstanceId"
	ActivityWaitingForInstanceID            ActivityStatus = "WaitingForInstanceId"
	ActivityPreInService                    ActivityStatus = "PreInService"
	ActivityInProgress                      ActivityStatus = "InProgress"
	ActivityWaitingForELBConnectionDraining ActivityStatus = "WaitingForELBConnectionDraining"
	ActivityMidLifecycleAction              ActivityStatus = "MidLifecycleAction"
	ActivityWaitingForInstanceWarmup        ActivityStatus = "WaitingForInstanceWarmup"
	ActivitySuccessful                      ActivityStatus = "Successful"
	ActivityFailed                          ActivityStatus = "Failed"
	ActivityCancelled                       ActivityStatus = "Cancelled"
)

// Done tells whether the activity has ended, well or not.
func (s ActivityStatus) Done() bool {
	return s == ActivitySuccessful || s == ActivityFailed || s == ActivityCancelled
}

// Err is nil unless the activity failed or was cancelled. A failed launch matches ErrCapacity
// whatever its reason (no capacity, spot not available, a bad image): the group could not grow, and
// the autoscaler backs it off at once instead of waiting for a join timeout (cluster-autoscaler
// #4489). Any other failure is an *Error that matches no sentinel.
func (a Activity) Err() error {
	if a.Status != ActivityFailed && a.Status != ActivityCancelled {
		return nil
	}
	e := &Error{Op: "activity " + a.ID, Code: string(a.Status), Message: a.StatusMessage}
	if a.Kind == ActivityLaunch && a.Status == ActivityFailed {
		e.Kind = ErrCapacity
	}
	if e.Message == "" {
		e.Message = a.Description
	}
	return e
}
