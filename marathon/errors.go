package marathon

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gomarathon "github.com/gambol99/go-marathon"
)

// Errors callers check with errors.Is. The returned error keeps Marathon's own message.
var (
	// ErrNotFound: the app (or deployment) does not exist (404).
	ErrNotFound = errors.New("marathon: not found")
	// ErrLocked: a deployment holds the app (409); LockedError names the deployments.
	ErrLocked = errors.New("marathon: app locked by a deployment")
	// ErrConflict: the app already exists (409 without deployments).
	ErrConflict = errors.New("marathon: conflict")
	// ErrInvalid: Marathon rejected the request (400, 422).
	ErrInvalid = errors.New("marathon: invalid request")
	// ErrUnauthorized: authentication or authorization failed (401, 403).
	ErrUnauthorized = errors.New("marathon: unauthorized")
	// ErrUnavailable: no Marathon instance answered (transport error, 5xx, timeout).
	ErrUnavailable = errors.New("marathon: unavailable")
)

// LockedError is a 409 deployment lock with the ids of the deployments that hold the app.
type LockedError struct {
	Deployments []string
	Message     string
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("marathon: app locked by deployments %s: %s", strings.Join(e.Deployments, ", "), e.Message)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

type apiError struct {
	kind error
	msg  string
}

func (e *apiError) Error() string { return e.kind.Error() + ": " + e.msg }
func (e *apiError) Unwrap() error { return e.kind }

// classify turns what go-marathon returned into our typed errors.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &apiError{kind: ErrUnavailable, msg: err.Error()}
	}
	if errors.Is(err, gomarathon.ErrMarathonDown) {
		return &apiError{kind: ErrUnavailable, msg: err.Error()}
	}
	var ae *gomarathon.APIError
	if !errors.As(err, &ae) {
		return err
	}
	msg := strings.TrimPrefix(ae.Error(), "Marathon API error: ")
	switch ae.ErrCode {
	case gomarathon.ErrCodeNotFound:
		return &apiError{kind: ErrNotFound, msg: msg}
	case gomarathon.ErrCodeAppLocked:
		return &LockedError{Deployments: lockingIDs(msg), Message: msg}
	case gomarathon.ErrCodeDuplicateID:
		return &apiError{kind: ErrConflict, msg: msg}
	case gomarathon.ErrCodeBadRequest, gomarathon.ErrCodeInvalidBean, gomarathon.ErrCodeMethodNotAllowed:
		return &apiError{kind: ErrInvalid, msg: msg}
	case gomarathon.ErrCodeUnauthorized, gomarathon.ErrCodeForbidden:
		return &apiError{kind: ErrUnauthorized, msg: msg}
	}
	if strings.HasPrefix(msg, sentinelPrefix) {
		return &apiError{kind: ErrUnavailable, msg: strings.TrimPrefix(msg, sentinelPrefix)}
	}
	return &apiError{kind: ErrUnavailable, msg: msg}
}

// lockingIDs reads the deployment ids go-marathon folds into a 409's message
// ("… (locking deployment IDs: a, b)"); APIError keeps no structured copy.
func lockingIDs(msg string) []string {
	const marker = "(locking deployment IDs: "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return nil
	}
	rest := strings.TrimSuffix(msg[i+len(marker):], ")")
	var ids []string
	for _, id := range strings.Split(rest, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}
