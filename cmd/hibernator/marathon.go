package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/marathon"
)

// marathonGlue gives the hibernator the Marathon it declares (hibernator.Marathon), on Marmot's
// Marathon client: failover across instances, timeouts, typed errors.
type marathonGlue struct {
	c *marathon.Client
}

var _ hibernator.Marathon = marathonGlue{}

// watchedEvents are the events after which the hibernator looks again: a PUT (labels, instances),
// deployments starting and ending, apps going away. Task events follow from deployments, and there
// are many of them in a busy cluster.
var watchedEvents = []string{"api_post_event", "deployment_info", "deployment_success", "deployment_failed", "app_terminated_event"}

func (g marathonGlue) Apps(ctx context.Context, label string) ([]hibernator.App, error) {
	// Marathon's label selector: a bare key matches the apps that have the label, whatever its value.
	apps, err := g.c.Apps(ctx, label)
	if err != nil {
		return nil, translate(err)
	}
	out := make([]hibernator.App, len(apps))
	for i, a := range apps {
		out[i] = fromMarathon(a)
	}
	return out, nil
}

func (g marathonGlue) App(ctx context.Context, id string) (hibernator.App, error) {
	a, err := g.c.App(ctx, id)
	if err != nil {
		return hibernator.App{}, translate(err)
	}
	out := fromMarathon(a)
	out.Tasks = make([]hibernator.Task, 0, len(a.Tasks))
	for _, t := range a.Tasks {
		out.Tasks = append(out.Tasks, hibernator.Task{Host: t.Host, Ports: t.Ports, Running: t.State == "TASK_RUNNING", StartedAt: t.StartedAt})
	}
	return out, nil
}

func (g marathonGlue) Update(ctx context.Context, id string, u hibernator.AppUpdate) error {
	// Never forced: a forced PUT would cancel whatever deployment holds the app, another replica's wake
	// included; the hibernator re-reads the app instead.
	_, err := g.c.Update(ctx, id, marathon.Update{Instances: u.Instances, Labels: u.Labels}, false)
	return translate(err)
}

func (g marathonGlue) Deployments(ctx context.Context) ([]string, error) {
	deps, err := g.c.Deployments(ctx)
	if err != nil {
		return nil, translate(err)
	}
	var ids []string
	for _, d := range deps {
		ids = append(ids, d.AffectedApps...)
	}
	return ids, nil
}

func (g marathonGlue) Watch(ctx context.Context, changed func(string)) error {
	return g.c.Watch(ctx, marathon.WatchOptions{Types: watchedEvents}, func(e marathon.Event) {
		switch {
		case e.Type == marathon.EventResync:
			changed("")
		case e.AppID != "":
			changed(e.AppID)
		case len(e.AffectedApps) > 0:
			for _, id := range e.AffectedApps {
				changed(id)
			}
		default:
			changed("")
		}
	})
}

func fromMarathon(a marathon.App) hibernator.App {
	return hibernator.App{
		ID: a.ID, Instances: a.Instances, CPUs: a.CPUs, Mem: a.Mem, Labels: a.Labels,
		TasksRunning: a.TasksRunning, Deployments: len(a.Deployments), Version: a.Version, LastScalingAt: a.LastScaling,
		HealthPath: a.HealthPath, HealthPortIndex: a.HealthPort,
	}
}

// translate gives Marathon's typed errors the hibernator's names, keeping both for errors.Is.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, marathon.ErrNotFound):
		return fmt.Errorf("%w: %w", hibernator.ErrAppNotFound, err)
	case errors.Is(err, marathon.ErrLocked):
		return fmt.Errorf("%w: %w", hibernator.ErrAppLocked, err)
	}
	return err
}
