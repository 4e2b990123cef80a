package simulate

import (
	"strings"
	"time"
)

// Read accessors for what-if replays (simulate/whatif), which look at every agent, app and queue
// entry once per simulated minute for a month: the sorted copies of Agents and Apps and the full
// offer summaries of Queue would cost more than the model itself.

// EachAgent calls fn for every registered agent, in no particular order.
func (v *View) EachAgent(fn func(a *Agent)) {
	for _, a := range v.w.agentList {
		fn(a)
	}
}

// EachApp calls fn for every Marathon app, in no particular order.
func (v *View) EachApp(fn func(a *App)) {
	for _, a := range v.w.appList {
		fn(a)
	}
}

// Waiting is an app with instances waiting in Marathon's launch queue, with what decides whether a new
// agent would help.
type Waiting struct {
	App   *App
	Count int
	Since time.Time
	// Delayed is set while the app is in launch backoff.
	Delayed bool
	// Reasons counts offers by the first funnel reason they were declined for, as Queue's summary
	// does, except that the count stops at the first offer declined for lack of a resource
	// (Insufficient*): that one offer already says capacity is short.
	Reasons []ReasonCount
}

// EachWaiting calls fn for every app with instances waiting, in no particular order. It visits the
// apps the placement loop considers waiting (those with a queue time), not every app's task list.
func (v *View) EachWaiting(fn func(e Waiting)) {
	w := v.w
	for _, app := range w.appList {
		if app.queueSince.IsZero() {
			continue
		}
		n := w.need(app)
		if n == 0 {
			continue
		}
		e := Waiting{App: app, Count: n, Since: app.queueSince, Delayed: app.delayUntil.After(w.now)}
		e.Reasons = w.firstReasons(app)
		fn(e)
	}
}

// firstReasons walks the active agents through the offer funnel for one instance of app, counting
// the declines by reason, and stops at the first decline for lack of resources.
func (w *World) firstReasons(app *App) []ReasonCount {
	cs := newConstraintState(app).bind(w)
	var counts []ReasonCount
	for _, a := range w.agentList {
		if !a.Active {
			continue
		}
		reason := w.declineReason(app, a, cs)
		if reason == "" {
			continue
		}
		found := false
		for i := range counts {
			if counts[i].Reason == reason {
				counts[i].Declined++
				found = true
			}
		}
		if !found {
			counts = append(counts, ReasonCount{Reason: reason, Declined: 1})
		}
		if strings.HasPrefix(reason, "Insufficient") {
			break
		}
	}
	return counts
}
