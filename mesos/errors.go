package mesos

import (
	"errors"
	"fmt"
	"net/http"
)

// Kinds of failure, checked with errors.Is. Every error a Client returns for a master's answer is an
// *Error whose Kind is one of these, so errors.As also gives the call, the master and its text.
var (
	// ErrNoLeader: no master leads (503 "No leader elected", or redirects that never reach a leader).
	// errors.Is(err, ErrUnavailable) holds too: both mean "try again later".
	ErrNoLeader = errors.New("mesos: no leading master")
	// ErrUnavailable: no configured master answered (503, transport error, per-call timeout).
	ErrUnavailable = errors.New("mesos: master unavailable")
	// ErrBadRequest: the master refused the call (400), e.g. "Unknown agent", a machine not in DRAINING
	// mode, or a call this master's version does not know.
	ErrBadRequest = errors.New("mesos: bad request")
	// ErrNotFound: the master does not know the object (404, e.g. MARK_AGENT_GONE of an unknown agent).
	ErrNotFound = errors.New("mesos: not found")
	// ErrConflict: the call conflicts with a transition in progress (409, e.g. draining an agent that is
	// being marked gone).
	ErrConflict = errors.New("mesos: conflict")
	// ErrUnauthorized: the master (or a proxy in front of it) refused the credentials (401, 403). Check
	// Config.Principal/Secret or Token.
	ErrUnauthorized = errors.New("mesos: unauthorized")
	// ErrProtocol: the master answered outside the API (unexpected status or content type, a body that
	// does not decode).
	ErrProtocol = errors.New("mesos: protocol error")
)

// Error is a failed call.
type Error struct {
	Kind error // one of the Err* values above
	// Call is the operator call type, e.g. "DRAIN_AGENT".
	Call string
	// Master is the master URL that gave the answer ("" when none did).
	Master string
	// Status is the HTTP status, 0 for transport failures.
	Status int
	// Message is the master's own text (its error bodies are text/plain, wire-facts §1.1), or the
	// transport error's.
	Message string
	// Err is the underlying cause, if any (a net error, context.DeadlineExceeded, a decode error).
	Err error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%v: %s", e.Kind, e.Call)
	if e.Master != "" {
		s += " at " + e.Master
	}
	if e.Status != 0 {
		s += fmt.Sprintf(": %d", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is makes errors.Is match the error's Kind (and ErrUnavailable for ErrNoLeader).
func (e *Error) Is(target error) bool {
	return target == e.Kind || (e.Kind == ErrNoLeader && target == ErrUnavailable)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// kindOf maps a master's HTTP status to an error kind. 307 never gets here: it is followed.
func kindOf(status int) error {
	switch status {
	case http.StatusBadRequest:
		return ErrBadRequest
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusGatewayTimeout:
		return ErrUnavailable
	default:
		return ErrProtocol
	}
}
