package hibernator

import (
	"context"
	"errors"
	"time"
)

// Marathon is what the hibernator needs of Marathon: the loop reads apps and deployments and follows
// events; the waker reads one app and writes it. cmd/hibernator glues package marathon to it (with its
// failover, timeouts and typed errors); tests use a recording fake.
//
// There is deliberately no way to force an update: a forced PUT cancels whatever deployment holds the
// app, which could be another replica's wake or an operator's deploy.
type Marathon interface {
	// Apps lists the apps that carry the label, whatever its value, without their tasks. A read.
	Apps(ctx context.Context, label string) ([]App, error)
	// App reads one app with its tasks and deployments. A missing app returns an error for which
	// errors.Is(err, ErrAppNotFound).
	App(ctx context.Context, id string) (App, error)
	// Update changes an app in one PUT: Instances when non-nil, and Labels, when non-nil, replacing the
	// whole label map (Marathon restarts the app's tasks when its labels change). It returns once
	// Marathon accepted the change, not when the deployment it starts is done. A deployment that holds
	// the app makes it fail with an error for which errors.Is(err, ErrAppLocked). Not idempotent: each
	// call starts a deployment.
	Update(ctx context.Context, id string, u AppUpdate) error
	// Deployments lists the ids of the apps that running deployments affect. A read.
	Deployments(ctx context.Context) ([]string, error)
	// Watch follows Marathon's event stream until ctx ends, reconnecting by itself. It calls changed
	// with the app an event is about (an app id, or "" for events about no app in particular) and with
	// "" after every (re)connection, since events may have been missed. changed must not block. Watch
	// returns nil when ctx ends.
	Watch(ctx context.Context, changed func(appID string)) error
}

// Errors a Marathon implementation returns, checked with errors.Is.
var (
	// ErrAppNotFound: the app does not exist.
	ErrAppNotFound = errors.New("marathon: app not found")
	// ErrAppLocked: a running deployment holds the app (Marathon's 409).
	ErrAppLocked = errors.New("marathon: app locked by a deployment")
)

// App is what the hibernator reads of a Marathon app.
type App struct {
	ID        string
	Instances int
	CPUs      float64 // per instance
	Mem       float64 // per instance, MB
	Labels    map[string]string
	// TasksRunning counts the app's tasks in TASK_RUNNING.
	TasksRunning int
	// Deployments counts the running deployments that hold the app.
	Deployments int
	// Version is the app's version (it changes with every change to the app); zero if unknown.
	Version time.Time
	// LastScalingAt is when the app's instance count last changed; zero if unknown.
	LastScalingAt time.Time
	// HealthPath is the path of the app's first HTTP health check ("" without one), on the port of
	// index HealthPortIndex.
	HealthPath      string
	HealthPortIndex int
	// Tasks are the app's tasks; only App fills them in.
	Tasks []Task
}

// Task is one of an app's tasks, as far as the activator and the idle clock care.
type Task struct {
	Host      string
	Ports     []int
	Running   bool      // TASK_RUNNING
	StartedAt time.Time // zero until it runs
}

// AppUpdate is a change to an app; see Marathon.Update.
type AppUpdate struct {
	Instances *int
	Labels    map[string]string
}

// awakeSince is when the app became reachable, for its idle clock, on the clock of Marathon and the
// Mesos agents, and which of the app's times it is (StampStarted or StampScaled): the start of its
// oldest running task when the tasks are known, else when its instance count last changed (a wake is
// such a change, and no task of the wake can have started earlier). Zero when neither is known.
func (a App) awakeSince() (time.Time, string) {
	if a.Tasks == nil {
		return a.LastScalingAt, StampScaled
	}
	var oldest time.Time
	for _, t := range a.Tasks {
		if t.Running && !t.StartedAt.IsZero() && (oldest.IsZero() || t.StartedAt.Before(oldest)) {
			oldest = t.StartedAt
		}
	}
	return oldest, StampStarted
}
