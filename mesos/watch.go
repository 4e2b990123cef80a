package mesos

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"go.uber.org/zap"
)

// EventType says what an Event reports.
type EventType string

// The events Watch delivers. FRAMEWORK_* events are not delivered.
const (
	// EventResync follows every (re)subscription: events may have been missed, and State is a full
	// snapshot to start again from.
	EventResync EventType = "RESYNC"
	// EventHeartbeat says the stream is alive; the master sends one every HeartbeatInterval.
	EventHeartbeat    EventType = "HEARTBEAT"
	EventTaskAdded    EventType = "TASK_ADDED"
	EventTaskUpdated  EventType = "TASK_UPDATED"
	EventAgentAdded   EventType = "AGENT_ADDED"
	EventAgentRemoved EventType = "AGENT_REMOVED"
)

// Event is one change reported by the master's SUBSCRIBE stream.
type Event struct {
	Type EventType
	// Master is the base URL of the master whose stream delivered the event.
	Master string
	// State is the full snapshot (EventResync only).
	State *State
	// HeartbeatInterval is the master's heartbeat interval, 0 for masters before 1.5 that send none
	// (EventResync only).
	HeartbeatInterval time.Duration
	// Task is the new task (EventTaskAdded), or for EventTaskUpdated the task's ID, FrameworkID, AgentID
	// and new State only.
	Task *Task
	// Agent is the agent (EventAgentAdded).
	Agent *Agent
	// AgentID is the agent's ID (EventAgentAdded, EventAgentRemoved).
	AgentID string
}

// silenceFactor is how many heartbeat intervals without a record end a stream: master.proto asks
// subscribers to resubscribe after about 5 (wire-facts §1.6).
const silenceFactor = 5

// errSilent ends a stream that went quiet for too long.
var errSilent = errors.New("no event or heartbeat from the master in time")

// Watch subscribes to the leading master's event stream and calls fn with every event, in order, on
// the calling goroutine, until ctx ends; then it returns ctx.Err(). It blocks.
//
// The first event after every (re)subscription is an EventResync with a full snapshot. When the stream
// ends, fails, or stays silent for 5 heartbeat intervals, Watch resubscribes, following the leader,
// after a jittered exponential backoff between ReconnectMin and ReconnectMax that restarts after each
// successful subscription. No event from before a Resync is delivered after it. fn should return
// promptly: the stream is not read while it runs (the silence timer is paused meanwhile). Watch starts
// no goroutine that outlives it.
func (c *Client) Watch(ctx context.Context, fn func(Event)) error {
	delay := c.backoff.min
	for {
		subscribed, err := c.watchOnce(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if subscribed {
			delay = c.backoff.min
		}
		wait := c.backoff.jitter(delay)
		c.log.Warn("mesos event stream ended, resubscribing", zap.Error(err), zap.Duration("backoff", wait))
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		delay = c.backoff.next(delay)
	}
}

// watchOnce runs one subscription until its stream ends. subscribed reports whether SUBSCRIBED arrived.
func (c *Client) watchOnce(ctx context.Context, fn func(Event)) (subscribed bool, err error) {
	x, err := c.roundTrip(ctx, calls.Subscribe(), true)
	if err != nil {
		return false, err
	}
	defer x.close()
	// Until SUBSCRIBED arrives the stream gets the call timeout; then 5× the heartbeat interval.
	wd := newWatchdog(c.timeout, x.cancel)
	defer wd.stop()
	log := c.log.With(zap.String("master", x.master))
	for {
		var ev master.Event
		if err := x.resp.Decode(&ev); err != nil {
			if wd.fired() {
				return subscribed, errSilent
			}
			return subscribed, err
		}
		wd.stop()
		if ev.GetType() == master.Event_SUBSCRIBED {
			subscribed = true
			log.Info("subscribed to mesos events")
		}
		if !subscribed {
			// Mesos always sends SUBSCRIBED first; anything before it could not be placed after a
			// snapshot, so it is not delivered.
			continue
		}
		if e, ok := eventFromProto(&ev, x.master); ok {
			fn(e)
			if e.Type == EventResync {
				wd.interval = silenceFactor * e.HeartbeatInterval
			}
		}
		wd.start()
	}
}

func eventFromProto(ev *master.Event, from string) (Event, bool) {
	e := Event{Master: from}
	switch ev.GetType() {
	case master.Event_SUBSCRIBED:
		s := ev.GetSubscribed()
		e.Type = EventResync
		e.State = stateFromProto(s.GetGetState())
		e.HeartbeatInterval = time.Duration(s.GetHeartbeatIntervalSeconds() * float64(time.Second))
	case master.Event_HEARTBEAT:
		e.Type = EventHeartbeat
	case master.Event_TASK_ADDED:
		t := ev.GetTaskAdded().GetTask()
		task := taskFromProto(&t)
		e.Type, e.Task = EventTaskAdded, &task
	case master.Event_TASK_UPDATED:
		// The real shape carries the task in status, not at the top level as the docs show (wire-facts §1.6).
		u := ev.GetTaskUpdated()
		status := u.GetStatus()
		state := status.State
		if u != nil && u.State != nil {
			state = u.State
		}
		task := Task{ID: status.TaskID.Value, FrameworkID: u.GetFrameworkID().Value, AgentID: status.GetAgentID().GetValue(), State: taskStateName(state)}
		e.Type, e.Task = EventTaskUpdated, &task
	case master.Event_AGENT_ADDED:
		a := ev.GetAgentAdded().GetAgent()
		agent := agentFromProto(&a)
		e.Type, e.Agent, e.AgentID = EventAgentAdded, &agent, agent.ID
	case master.Event_AGENT_REMOVED:
		id := ev.GetAgentRemoved().GetAgentID()
		e.Type, e.AgentID = EventAgentRemoved, id.GetValue()
	default:
		return Event{}, false
	}
	return e, true
}

// watchdog cancels a stream when no record arrived within interval of start. interval 0 disables it
// (masters before 1.5 send no heartbeats, so silence proves nothing there).
type watchdog struct {
	interval time.Duration
	cancel   context.CancelFunc
	timer    *time.Timer
	expired  atomic.Bool
}

func newWatchdog(initial time.Duration, cancel context.CancelFunc) *watchdog {
	w := &watchdog{interval: initial, cancel: cancel}
	w.timer = time.AfterFunc(initial, func() {
		w.expired.Store(true)
		cancel()
	})
	return w
}

func (w *watchdog) start() {
	if w.interval > 0 {
		w.timer.Reset(w.interval)
	}
}

func (w *watchdog) stop()       { w.timer.Stop() }
func (w *watchdog) fired() bool { return w.expired.Load() }

// backoff is a jittered exponential backoff between min and max.
type backoff struct {
	min, max time.Duration
}

func (b backoff) next(d time.Duration) time.Duration {
	return min(2*d, b.max)
}

// jitter spreads d over [d/2, d) so that many clients do not resubscribe in step after a failover.
func (b backoff) jitter(d time.Duration) time.Duration {
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half)
}

// sleep waits for d or until ctx ends; it reports whether the full d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
