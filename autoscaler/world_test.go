package autoscaler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/cloud/cloudtest"
	"github.com/marmot-project/marmot/policy"
)

// basePolicy is a policy whose timers are short enough for tests to step through.
const basePolicy = `
reconcile_interval: 30s
drain_mode: maintenance
pools:
  - name: default
    min_agents: 1
    scale_up: {cooldown: 0s}
    scale_down:
      unneeded_for: 1m
      delay_after_scale_up: 0s
      min_agent_age: 0s
      max_draining: 1
      drain_deadline: 10m
    health: {max_data_age: 10m}
    boot_timeout: 5m
`

// m5xlarge is what an m5.xlarge agent offers Mesos in the simulator.
var m5xlarge = policy.Resources{CPUs: 4, Mem: 14848, Disk: 100000}

// world is a pool "default" of one group "asg-a" (min 1, max 10) with an agent on each of its
// instances, on recording fakes, and a Loop on them.
type world struct {
	t        *testing.T
	clock    *testClock
	log      *callLog
	mesos    *fakeMesos
	marathon *fakeMarathon
	cloud    *cloudtest.Fake
	reg      *prometheus.Registry
	loop     *Loop
	pol      *policy.AutoscalerPolicy
	dryRun   bool
	notices  *cloudtest.NoticeQueue // nil unless withNotices
}

type worldOption func(*world, *cloud.Group)

func withDryRun(w *world, _ *cloud.Group) { w.dryRun = true }

// withNotices gives the loop a notice queue.
func withNotices(w *world, _ *cloud.Group) { w.notices = cloudtest.NewNoticeQueue(w.clock.Now) }

func withGroupMin(n int) worldOption { return func(_ *world, g *cloud.Group) { g.Min = n } }

// newWorld makes the world with one agent per entry of tasks, each running those tasks.
func newWorld(t *testing.T, pol string, tasks [][]policy.Task, opts ...worldOption) *world {
	t.Helper()
	w := &world{t: t, clock: &testClock{t: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)}, log: &callLog{}}
	p, err := policy.LoadAutoscalerPolicy([]byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	w.pol = p
	w.mesos = newFakeMesos(w.log, w.clock.Now)
	w.marathon = newFakeMarathon(w.log)
	w.cloud = cloudtest.New(w.clock.Now)
	g := cloud.Group{Name: "asg-a", Pool: "default", Min: 1, Max: 10, Desired: len(tasks), InstanceType: "m5.xlarge"}
	for i, ts := range tasks {
		ip := fmt.Sprintf("10.0.0.%d", i+1)
		id := fmt.Sprintf("i-%d", i+1)
		g.Instances = append(g.Instances, cloud.Instance{ID: id, PrivateIP: ip, LaunchTime: w.clock.Now().Add(-time.Hour), Tags: map[string]string{}})
		a := policy.Agent{
			ID: fmt.Sprintf("agent-%d", i+1), Hostname: fmt.Sprintf("IP-10-0-0-%d.ec2.internal", i+1), IP: ip, Pool: "default",
			Total: m5xlarge, Active: true, RegisteredAt: w.clock.Now().Add(-time.Hour),
		}
		setTasks(&a, ts)
		w.mesos.agents = append(w.mesos.agents, a)
		w.mesos.canDrain[a.ID] = true
	}
	for _, o := range opts {
		o(w, &g)
	}
	w.cloud.AddGroup(g)
	w.restart()
	return w
}

// restart replaces the loop with a new one on the same world, as a restarted process would be.
func (w *world) restart() {
	w.t.Helper()
	w.reg = prometheus.NewRegistry()
	provider := cloud.Instrument(w.cloud, func(call string, _ time.Duration, err error) {
		w.log.add("cloud.%s", call)
	})
	cfg := Config{
		Policy: w.pol, Mesos: w.mesos, Marathon: w.marathon, Cloud: provider, Registry: w.reg,
		Now: w.clock.Now, DryRun: w.dryRun,
	}
	if w.notices != nil {
		cfg.Notices = w.notices
	}
	l, err := New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.loop = l
}

// reconcile runs one reconcile and fails the test unless it planned.
func (w *world) reconcile() Report {
	w.t.Helper()
	rep := w.loop.Reconcile(context.Background(), TriggerOnce)
	if !rep.Planned {
		w.t.Fatalf("reconcile did not plan: %s", rep.Error)
	}
	return rep
}

// mutating returns the changing calls made to Mesos and the cloud since the last reset, in order.
func (w *world) mutating() []string {
	var out []string
	for _, c := range w.log.all() {
		name, _, _ := strings.Cut(c, " ")
		switch name {
		case "mesos.UpdateMaintenanceSchedule", "mesos.StartMaintenance", "mesos.StopMaintenance", "mesos.DrainAgent",
			"mesos.ReactivateAgent", "mesos.MarkAgentGone",
			"cloud." + cloud.CallSetDesiredCapacity, "cloud." + cloud.CallTerminateInstance, "cloud." + cloud.CallSetInstanceProtection,
			"cloud." + cloud.CallSetInstanceTags, "cloud." + cloud.CallDeleteInstanceTags:
			out = append(out, c)
		}
	}
	return out
}

// wantCalls fails the test unless the changing calls since the last reset are want, in order; then
// it resets the log.
func (w *world) wantCalls(want ...string) {
	w.t.Helper()
	got := w.mutating()
	if !slices.Equal(got, want) {
		w.t.Errorf("changing calls:\n  got  %q\n  want %q", got, want)
	}
	w.log.reset()
}

// instance returns the cloud's view of an instance.
func (w *world) instance(id string) cloud.Instance {
	w.t.Helper()
	in, ok := w.cloud.Instance(id)
	if !ok {
		w.t.Fatalf("no instance %s", id)
	}
	return in
}

func (w *world) desired() int {
	g, _ := w.cloud.Group("asg-a")
	return g.Desired
}

// drainOf returns the plan's decision about the drain of an instance.
func drainOf(rep Report, instanceID string) (policy.DrainDecision, bool) {
	for _, p := range rep.Pools {
		for _, d := range p.Plan.Drains {
			if d.Drain.InstanceID == instanceID {
				return d, true
			}
		}
	}
	return policy.DrainDecision{}, false
}

// actionsOf returns the report's actions of a kind.
func actionsOf(rep Report, kind ActionKind) []Action {
	var out []Action
	for _, p := range rep.Pools {
		for _, a := range p.Actions {
			if a.Kind == kind {
				out = append(out, a)
			}
		}
	}
	return out
}

// task is a task of app using cpus and 1 GB.
func task(app string, cpus float64) policy.Task {
	return policy.Task{AppID: app, Resources: policy.Resources{CPUs: cpus, Mem: 1024}}
}

// waiting is a queue entry of count instances of cpus each, declined for lack of cpus.
func waiting(app string, count int, cpus float64) Waiting {
	return Waiting{QueueEntry: policy.QueueEntry{
		AppID: app, Count: count, Resources: policy.Resources{CPUs: cpus, Mem: 512},
		Rejections: []policy.Rejection{{Reason: "InsufficientCpus", Declined: 3}},
	}}
}
