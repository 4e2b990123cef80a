package simulate

import (
	"sync"
	"time"
)

// MesosEventType is the type of an event on the Mesos master's SUBSCRIBE stream.
type MesosEventType string

// Mesos operator API event types the model emits.
const (
	MesosTaskAdded    MesosEventType = "TASK_ADDED"
	MesosTaskUpdated  MesosEventType = "TASK_UPDATED"
	MesosAgentAdded   MesosEventType = "AGENT_ADDED"
	MesosAgentRemoved MesosEventType = "AGENT_REMOVED"
)

// MesosEvent is one event of the master's SUBSCRIBE stream. Task and Agent are copies, safe to read
// without the world lock; Agent carries no tasks.
type MesosEvent struct {
	Type    MesosEventType
	Time    time.Time
	Task    Task
	Agent   Agent
	AgentID string
}

// Marathon event types the model emits, named as on Marathon's event bus.
const (
	EventStatusUpdate       = "status_update_event"
	EventInstanceChanged    = "instance_changed_event"
	EventHealthChanged      = "health_status_changed_event"
	EventDeploymentInfo     = "deployment_info"
	EventDeploymentSuccess  = "deployment_success"
	EventDeploymentFailed   = "deployment_failed"
	EventDeploymentStepOK   = "deployment_step_success"
	EventAPIPost            = "api_post_event"
	EventAppTerminated      = "app_terminated_event"
	EventGroupChangeSuccess = "group_change_success"
)

// MarathonEvent is one event of Marathon's event bus. Task, Deployment and App are copies; App carries
// the app's spec (no tasks) for api_post_event and deployment events.
type MarathonEvent struct {
	Type       string
	Time       time.Time
	AppID      string
	Task       Task
	Deployment Deployment
	App        App
	Reason     string
	Alive      bool
}

// Subscription delivers events of one kind. When the subscriber falls behind by more than its buffer,
// the subscription is closed (C is closed), as a real server drops a slow stream; the subscriber
// reconnects and resynchronises.
type Subscription[E any] struct {
	C      <-chan E
	c      chan E
	once   sync.Once
	remove func()
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription[E]) Close() {
	s.once.Do(func() {
		s.remove()
	})
}

type bus[E any] struct {
	subs map[*Subscription[E]]struct{}
}

func (b *bus[E]) add(buffer int, lock sync.Locker) *Subscription[E] {
	if b.subs == nil {
		b.subs = map[*Subscription[E]]struct{}{}
	}
	c := make(chan E, buffer)
	s := &Subscription[E]{C: c, c: c}
	s.remove = func() {
		lock.Lock()
		defer lock.Unlock()
		b.drop(s)
	}
	b.subs[s] = struct{}{}
	return s
}

// drop must be called with the world lock held.
func (b *bus[E]) drop(s *Subscription[E]) {
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.c)
	}
}

// listening reports whether anyone subscribes. Callers check it before building an event: the copies
// an event carries are most of the cost of a virtual-time replay that nobody watches.
func (b *bus[E]) listening() bool { return len(b.subs) > 0 }

// publish must be called with the world lock held. It never blocks.
func (b *bus[E]) publish(e E) {
	for s := range b.subs {
		select {
		case s.c <- e:
		default:
			b.drop(s)
		}
	}
}

func (b *bus[E]) closeAll() {
	for s := range b.subs {
		b.drop(s)
	}
}
