package cloud

import (
	"context"
	"time"
)

// NoticeQueue is where the cloud tells about instances before (or as) it acts on them: on AWS, an
// EventBridge rule that forwards EC2's spot interruption warnings, rebalance recommendations and
// state-change notifications to an SQS queue that Marmot alone reads. It is how the autoscaler drains
// a spot agent within the two minutes between the warning and the reclaim, rather than finding its
// tasks lost afterwards (Karpenter and Clusterman read such a queue; cluster-autoscaler needs the
// separate Node Termination Handler for it).
//
// Notices are at-least-once: one that is received and not deleted comes back once its visibility
// timeout passes, so a reader that stops between receiving and acting loses nothing. Delete a notice
// only once what it asked for is recorded where a restart finds it (the autoscaler's drain mark).
type NoticeQueue interface {
	// Receive waits up to wait for notices and returns those that arrived (at most ten on AWS; none
	// when wait passes first). Each one is hidden from other receives for visible; one not deleted by
	// then is delivered again. Messages that are not events Marmot can read come back as
	// NoticeUnreadable with Problem set, so that the caller logs and deletes them rather than seeing
	// them again forever. Errors match the sentinels in errors.go; a cancelled ctx yields ctx.Err().
	Receive(ctx context.Context, wait, visible time.Duration) ([]Notice, error)

	// Delete removes notices from the queue by their receipts. Deleting a notice that is gone
	// already (deleted, or its receipt expired) is not an error: the notice is no longer anyone's to
	// act on, or comes back to be acted on again.
	Delete(ctx context.Context, notices []Notice) error
}

// NoticeKind is what a notice says about its instance.
type NoticeKind string

// The kinds of notice.
const (
	// NoticeSpotInterruption: EC2 reclaims the spot instance at Deadline (two minutes after the
	// warning). EventBridge detail-type "EC2 Spot Instance Interruption Warning".
	NoticeSpotInterruption NoticeKind = "spot_interruption"
	// NoticeRebalance: the spot instance is at elevated risk of interruption; nothing is reclaimed
	// yet. EventBridge detail-type "EC2 Instance Rebalance Recommendation".
	NoticeRebalance NoticeKind = "rebalance_recommendation"
	// NoticeStateChange: the instance changed state (State). EventBridge detail-type "EC2 Instance
	// State-change Notification".
	NoticeStateChange NoticeKind = "state_change"
	// NoticeOther: an event of a kind Marmot does not act on (its detail-type is in Problem).
	NoticeOther NoticeKind = "other"
	// NoticeUnreadable: a message that is not an event Marmot can read; Problem says why.
	NoticeUnreadable NoticeKind = "unreadable"
)

// NoticeKinds lists every kind, so that metric series start at zero.
func NoticeKinds() []NoticeKind {
	return []NoticeKind{NoticeSpotInterruption, NoticeRebalance, NoticeStateChange, NoticeOther, NoticeUnreadable}
}

// SpotNotice is how long EC2 warns before it reclaims a spot instance.
const SpotNotice = 2 * time.Minute

// Notice is one message of a NoticeQueue.
type Notice struct {
	Kind NoticeKind
	// ID is the event's own id (EventBridge's "id"), which stays the same when the queue delivers the
	// event again; empty for an unreadable message.
	ID         string
	InstanceID string
	// Time is when the cloud emitted the event.
	Time time.Time
	// Deadline is when the instance is reclaimed, for a spot interruption: Time plus SpotNotice (the
	// event does not carry the time; only instance metadata does), or Time itself when the action is
	// "hibernate", which EC2 starts at once. Zero for the other kinds.
	Deadline time.Time
	// Action is what EC2 does at Deadline, for a spot interruption: "terminate", "stop" or
	// "hibernate". Every one takes the agent away.
	Action string
	// State is the instance's new state, for a state change.
	State InstanceState
	// Problem says why a message is NoticeUnreadable, or names the event of a NoticeOther.
	Problem string
	// Receipt identifies this delivery of the message, for Delete.
	Receipt string
	// Received counts the deliveries of the message, this one included (0 when the queue does not say).
	Received int
}
