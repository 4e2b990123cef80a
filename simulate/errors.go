package simulate

import (
	"errors"
	"fmt"
)

// ErrorKind classifies a model error the way the real APIs do, so that each HTTP face can map it to its
// own status code and envelope (Mesos text/plain, Marathon JSON, AWS XML).
type ErrorKind int

const (
	// KindBadRequest is a request the real system rejects as invalid (Mesos 400, AWS ValidationError).
	KindBadRequest ErrorKind = iota + 1
	// KindNotFound is an unknown object (Marathon 404, Mesos 404 for MARK_AGENT_GONE).
	KindNotFound
	// KindConflict is a state conflict (Mesos 409, e.g. an agent being marked gone).
	KindConflict
	// KindLocked is Marathon's deployment lock (409 with the blocking deployments).
	KindLocked
	// KindInvalid is a Marathon validation failure (422).
	KindInvalid
	// KindUnavailable is a temporary refusal (Mesos 503, AWS ResourceContention).
	KindUnavailable
	// KindThrottled is AWS throttling (Throttling / RequestLimitExceeded).
	KindThrottled
	// KindScalingInProgress is AWS ScalingActivityInProgress.
	KindScalingInProgress
)

// Error is an error returned by the world model. Code carries the upstream error code where the real API
// has one (AWS "ValidationError", "InvalidInstanceID.NotFound"); Deployments names the deployments that
// hold a Marathon lock.
type Error struct {
	Kind        ErrorKind
	Code        string
	Message     string
	Deployments []string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return e.Code + ": " + e.Message
	}
	return e.Message
}

func errorf(kind ErrorKind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of a model error, or 0 when err is not one.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
