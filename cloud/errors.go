package cloud

import (
	"context"
	"errors"
	"strconv"
)

// The kinds of failure a Provider reports. Every error a Provider returns for a refused or failed
// call is an *Error whose Kind is one of these (or nil when the cloud's code says nothing Marmot
// acts on), so errors.Is(err, ErrThrottled) works and the cloud's own code and message are kept.
var (
	// ErrNotFound: the group or instance does not exist (or no longer does).
	ErrNotFound = errors.New("not found")
	// ErrThrottled: the cloud kept refusing calls for their rate after the bounded retries. Back off.
	ErrThrottled = errors.New("throttled")
	// ErrInvalid: the cloud refused the request as invalid, e.g. a desired capacity below the
	// group's minimum. Retrying the same request will not help.
	ErrInvalid = errors.New("invalid request")
	// ErrScalingInProgress: the group is busy with another scaling activity. Try again later.
	ErrScalingInProgress = errors.New("scaling activity in progress")
	// ErrCapacity: the cloud has no capacity for the instance type, or a launch failed. Back the
	// group off.
	ErrCapacity = errors.New("capacity unavailable")
	// ErrUnavailable: the cloud failed or could not be reached (5xx, contention, network) after
	// the bounded retries.
	ErrUnavailable = errors.New("cloud unavailable")
	// ErrNoOp: the call would change nothing. No Provider method returns it (SetDesiredCapacity
	// explains why); it is here for callers that decide a no-op themselves and want one error for
	// it, such as a cooldown that a no-op must not start (Nomad Autoscaler's rule).
	ErrNoOp = errors.New("no change")
)

// Error is a failed cloud call.
type Error struct {
	// Kind is one of the sentinels above, or nil when the failure fits none of them.
	Kind error
	// Op is the call that failed, e.g. "SetDesiredCapacity marmot-default".
	Op string
	// Code and Message are the cloud's own, e.g. "ValidationError" and "New SetDesiredCapacity
	// value 0 is below min value 1 for the AutoScalingGroup."
	Code    string
	Message string
	// Attempts is how many times the call was sent, when it was retried.
	Attempts int
	// Err is the underlying error (the SDK's), if any.
	Err error
}

func (e *Error) Error() string {
	s := e.Op + ": "
	switch {
	case e.Code != "":
		s += e.Code + ": " + e.Message
	case e.Err != nil:
		s += e.Err.Error()
	default:
		s += e.Message
	}
	if e.Attempts > 1 {
		s += " (after " + strconv.Itoa(e.Attempts) + " attempts)"
	}
	return s
}

// Is reports whether target is e's Kind.
func (e *Error) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// Unwrap returns the underlying error, so that errors.As reaches the SDK's error types.
func (e *Error) Unwrap() error { return e.Err }

// Reason names the kind of err in a few lowercase words, for logs and metric labels: "" for nil,
// then "canceled", "not_found", "throttled", "invalid", "scaling_in_progress", "capacity",
// "unavailable", "no_op", or "other".
func Reason(err error) string {
	if err == nil {
		return ""
	}
	// Kinds first: an HTTP client's own timeout carries context.DeadlineExceeded too, yet the
	// provider calls it ErrUnavailable because the caller did not give up.
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "canceled"
	}
	return "other"
}

// Reasons lists every value Reason returns for a non-nil error, so that metric series can start at zero.
func Reasons() []string {
	out := []string{"canceled"}
	for _, r := range reasons {
		out = append(out, r.name)
	}
	return append(out, "other")
}

var reasons = []struct {
	err  error
	name string
}{
	{ErrNotFound, "not_found"},
	{ErrThrottled, "throttled"},
	{ErrInvalid, "invalid"},
	{ErrScalingInProgress, "scaling_in_progress"},
	{ErrCapacity, "capacity"},
	{ErrUnavailable, "unavailable"},
	{ErrNoOp, "no_op"},
}
