package main

import (
	"context"
	"sort"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/marathon"
	"github.com/marmot-project/marmot/policy"
)

// marathonSource adapts the marathon client to autoscaler.Marathon.
type marathonSource struct{ c *marathon.Client }

var _ autoscaler.Marathon = marathonSource{}

// Queue implements autoscaler.Marathon.
func (s marathonSource) Queue(ctx context.Context) ([]autoscaler.Waiting, error) {
	entries, err := s.c.Queue(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]autoscaler.Waiting, len(entries))
	for i, e := range entries {
		q := policy.QueueEntry{
			AppID: e.AppID, Count: e.Count, Since: e.Since,
			Resources: policy.Resources{CPUs: e.CPUs, Mem: e.Mem, Disk: e.Disk, GPUs: e.GPUs},
			// delay.overdue=false means Marathon holds the app back after failed launches: it is not
			// waiting for room (wire-facts §3.3).
			Delayed:     !e.Overdue,
			Constraints: e.Constraints,
		}
		for reason, n := range e.Declined {
			q.Rejections = append(q.Rejections, policy.Rejection{Reason: reason, Declined: n})
		}
		sort.Slice(q.Rejections, func(a, b int) bool { return q.Rejections[a].Reason < q.Rejections[b].Reason })
		out[i] = autoscaler.Waiting{QueueEntry: q, Constraints: e.Constraints}
	}
	return out, nil
}

// Apps implements autoscaler.Marathon.
func (s marathonSource) Apps(ctx context.Context) ([]autoscaler.App, error) {
	apps, err := s.c.Apps(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]autoscaler.App, len(apps))
	for i, a := range apps {
		out[i] = autoscaler.App{ID: a.ID, Labels: a.Labels}
	}
	return out, nil
}

// queueEvents are the Marathon events that may change the launch queue; the server filters the
// stream to them (event_type, Marathon 1.3.7+), so that task chatter in a large cluster stays home.
var queueEvents = []string{
	"api_post_event", "group_change_success", "deployment_info", "deployment_step_success", "deployment_step_failure",
	"deployment_success", "deployment_failed", "app_terminated_event", "status_update_event",
}

// Watch implements autoscaler.Marathon.
func (s marathonSource) Watch(ctx context.Context, changed func()) error {
	return s.c.Watch(ctx, marathon.WatchOptions{Types: queueEvents}, func(e marathon.Event) {
		// A task that starts leaves the queue; one that ends is queued again for a replacement.
		if e.Type != "status_update_event" || terminal(e.TaskStatus) {
			changed()
		}
	})
}
