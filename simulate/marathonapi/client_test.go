package marathonapi

import (
	"errors"
	"maps"
	"net/url"
	"slices"
	"sort"
	"testing"
	"time"

	marathon "github.com/gambol99/go-marathon"

	"github.com/marmot-project/marmot/simulate"
)

// These tests drive the handler with go-marathon, the client library Marmot uses, pinned at the commit
// wire-facts §4 describes: if the simulator's wire format strays from what the library expects, they
// fail here rather than in an end-to-end run.

// waitDeployment runs go-marathon's WaitOnDeployment while virtual time moves on.
func (c *testCluster) waitDeployment(m marathon.Marathon, id string) {
	c.t.Helper()
	done := make(chan error, 1)
	go func() { done <- m.WaitOnDeployment(id, 30*time.Second) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				c.t.Fatalf("WaitOnDeployment(%s): %v", id, err)
			}
			return
		case <-time.After(time.Millisecond):
			c.advance(time.Second)
		}
	}
}

func apiErrCode(t *testing.T, err error) int {
	t.Helper()
	var ae *marathon.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want a Marathon API error, got %v", err)
	}
	return ae.ErrCode
}

func TestClientListAndGet(t *testing.T) {
	c := newTestCluster(t)
	m := c.client(false)

	ids, err := m.ListApplications(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/data/etl", "/data/pinned", "/tools/wiki", "/web/docs", "/web/frontend"}
	if !slices.Equal(ids, want) {
		t.Fatalf("apps %v, want %v", ids, want)
	}

	app, err := m.Application("/web/frontend")
	if err != nil {
		t.Fatal(err)
	}
	if *app.Instances != 2 || app.CPUs != 0.5 || *app.Mem != 512 || app.TasksRunning != 2 || app.TasksHealthy != 2 {
		t.Errorf("frontend: instances %d cpus %g mem %g running %d healthy %d", *app.Instances, app.CPUs, *app.Mem, app.TasksRunning, app.TasksHealthy)
	}
	if (*app.Labels)["HAPROXY_0_VHOST"] != "frontend.example.com" || len(*app.HealthChecks) != 1 {
		t.Errorf("frontend labels %v health checks %v", *app.Labels, app.HealthChecks)
	}
	if len(app.Tasks) != 2 || app.Tasks[0].SlaveID == "" || len(app.Tasks[0].Ports) != 1 || len(app.Tasks[0].IPAddresses) != 1 {
		t.Fatalf("frontend tasks: %+v", app.Tasks)
	}
	if app.VersionInfo == nil || app.VersionInfo.LastConfigChangeAt == "" || len(app.Deployments) != 0 {
		t.Errorf("frontend version info %+v deployments %v", app.VersionInfo, app.Deployments)
	}
	// ApplicationOK reads healthCheckResults[].alive of every task.
	if ok, err := m.ApplicationOK("/web/frontend"); err != nil || !ok {
		t.Errorf("ApplicationOK = %v, %v; want true", ok, err)
	}

	if _, err := m.Application("/no/such/app"); apiErrCode(t, err) != marathon.ErrCodeNotFound {
		t.Errorf("missing app: %v", err)
	}
	info, err := m.Info()
	if err != nil || info.Leader != c.addrs[0] || info.FrameworkID == "" {
		t.Errorf("info %+v, %v", info, err)
	}
	if leader, err := m.Leader(); err != nil || leader != c.addrs[0] {
		t.Errorf("leader %q, %v; want %q", leader, err, c.addrs[0])
	}
	if ok, err := m.Ping(); !ok || err != nil {
		t.Errorf("ping %v, %v", ok, err)
	}
}

func TestClientCreateScaleDelete(t *testing.T) {
	c := newTestCluster(t)
	m := c.client(false)

	def := marathon.NewDockerApplication().Name("test/sleeper").CPU(0.1).Memory(64).Count(2)
	def.Container.Docker.Container("busybox:1")
	def.AddLabel("marmot.team", "test")
	created, err := m.CreateApplication(def)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID != "/test/sleeper" || len(created.Deployments) != 1 {
		t.Fatalf("created %s with deployments %v", created.ID, created.Deployments)
	}
	if _, err := m.CreateApplication(def); apiErrCode(t, err) != marathon.ErrCodeDuplicateID {
		t.Errorf("second create: %v, want a duplicate-id error", err)
	}
	c.waitDeployment(m, created.Deployments[0]["id"])
	app, err := m.Application("/test/sleeper")
	if err != nil {
		t.Fatal(err)
	}
	if app.TasksRunning != 2 || app.Container == nil || app.Container.Docker == nil || app.Container.Docker.Image != "busybox:1" {
		t.Fatalf("after create: running %d container %+v", app.TasksRunning, app.Container)
	}
	configVersion := app.VersionInfo.LastConfigChangeAt
	before := taskIDs(app)

	// A scale keeps the running tasks and the config version.
	dep, err := m.ScaleApplicationInstances("/test/sleeper", 3, false)
	if err != nil {
		t.Fatal(err)
	}
	c.waitDeployment(m, dep.DeploymentID)
	app, _ = m.Application("/test/sleeper")
	if app.TasksRunning != 3 || app.VersionInfo.LastConfigChangeAt != configVersion {
		t.Fatalf("after scale up: running %d, config version %s (was %s)", app.TasksRunning, app.VersionInfo.LastConfigChangeAt, configVersion)
	}
	if after := taskIDs(app); len(before) != 2 || !subset(before, after) {
		t.Errorf("scale up replaced tasks: %v → %v", before, after)
	}

	// Scale to zero the way the hibernator does: PUT ?force=true with "ports":null,"dependencies":null.
	dep, err = m.ScaleApplicationInstances("/test/sleeper", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	c.waitDeployment(m, dep.DeploymentID)
	app, err = m.Application("/test/sleeper")
	if err != nil {
		t.Fatalf("an app scaled to 0 must stay: %v", err)
	}
	if *app.Instances != 0 || app.TasksRunning != 0 || len(app.Tasks) != 0 || app.VersionInfo.LastConfigChangeAt != configVersion {
		t.Fatalf("after scale to 0: instances %d running %d tasks %d config %s", *app.Instances, app.TasksRunning, len(app.Tasks), app.VersionInfo.LastConfigChangeAt)
	}

	dep, err = m.DeleteApplication("/test/sleeper", false)
	if err != nil || dep.DeploymentID == "" {
		t.Fatalf("delete: %+v, %v", dep, err)
	}
	c.waitDeployment(m, dep.DeploymentID)
	if _, err := m.Application("/test/sleeper"); apiErrCode(t, err) != marathon.ErrCodeNotFound {
		t.Errorf("after delete: %v", err)
	}
}

func taskIDs(app *marathon.Application) []string {
	var ids []string
	for _, t := range app.Tasks {
		ids = append(ids, t.ID)
	}
	sort.Strings(ids)
	return ids
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func TestClientLabelsRoundTrip(t *testing.T) {
	c := newTestCluster(t)
	m := c.client(false)

	// What the hibernator writes: instances and state labels in one PUT (DESIGN.md).
	labels := map[string]string{"marmot.hibernate": "true", "marmot.hibernated.instances": "1", "marmot.hibernated.at": "2026-01-05T00:00:00Z"}
	zero := 0
	dep, err := m.UpdateApplication(&marathon.Application{ID: "/web/docs", Instances: &zero, Labels: &labels}, false)
	if err != nil {
		t.Fatal(err)
	}
	c.waitDeployment(m, dep.DeploymentID)
	app, err := m.Application("/web/docs")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(*app.Labels, labels) || *app.Instances != 0 || app.TasksRunning != 0 {
		t.Fatalf("labels %v instances %d running %d; want %v, 0, 0", *app.Labels, *app.Instances, app.TasksRunning, labels)
	}

	selected := func(sel string) []string {
		t.Helper()
		ids, err := m.ListApplications(url.Values{"label": {sel}})
		if err != nil {
			t.Fatalf("label %q: %v", sel, err)
		}
		return ids
	}
	for sel, want := range map[string][]string{
		"marmot.hibernated.instances==1":          {"/web/docs"},
		"marmot.hibernate":                        {"/tools/wiki", "/web/docs"},
		"marmot.team in (web, tools)":             {"/tools/wiki", "/web/frontend"},
		"marmot.team!=web":                        {"/data/etl", "/data/pinned", "/tools/wiki"},
		"marmot.team notin (data),marmot.protect": nil,
		"marmot.protect==true, marmot.team==data": {"/data/etl"},
		"HAPROXY_0_VHOST==docs.example.com":       nil, // the PUT replaced the labels map
	} {
		if got := selected(sel); !slices.Equal(got, want) {
			t.Errorf("label %q selects %v, want %v", sel, got, want)
		}
	}
	if _, err := m.ListApplications(url.Values{"label": {"a in (b"}}); apiErrCode(t, err) != marathon.ErrCodeInvalidBean {
		t.Errorf("bad selector: %v, want 422", err)
	}

	// labels:{} clears them; omitting labels keeps them (partialUpdate).
	empty := map[string]string{}
	if _, err := m.UpdateApplication(&marathon.Application{ID: "/web/docs", Labels: &empty}, true); err != nil {
		t.Fatal(err)
	}
	app, _ = m.Application("/web/docs")
	if len(*app.Labels) != 0 {
		t.Errorf("labels after {}: %v", *app.Labels)
	}
}

func TestClientLockThenForce(t *testing.T) {
	c := newTestCluster(t)
	m := c.client(false)

	// 20 × (1 cpu, 2 GiB) cannot fit on three 4-cpu agents: the deployment stays and locks the app.
	first, err := m.ScaleApplicationInstances("/data/etl", 20, false)
	if err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute)
	_, err = m.ScaleApplicationInstances("/data/etl", 2, false)
	if apiErrCode(t, err) != marathon.ErrCodeAppLocked {
		t.Fatalf("scale while locked: %v, want ErrCodeAppLocked", err)
	}
	if found, err := m.HasDeployment(first.DeploymentID); err != nil || !found {
		t.Fatalf("the locking deployment %s must still be listed: %v %v", first.DeploymentID, found, err)
	}
	second, err := m.ScaleApplicationInstances("/data/etl", 2, true)
	if err != nil {
		t.Fatalf("forced scale: %v", err)
	}
	if found, _ := m.HasDeployment(first.DeploymentID); found {
		t.Error("force must cancel the old deployment")
	}
	c.waitDeployment(m, second.DeploymentID)
	app, _ := m.Application("/data/etl")
	if app.TasksRunning != 2 || *app.Instances != 2 {
		t.Errorf("after forced scale: running %d instances %d", app.TasksRunning, *app.Instances)
	}
}

func TestClientDeployments(t *testing.T) {
	c := newTestCluster(t)
	m := c.client(false)

	dep, err := m.ScaleApplicationInstances("/data/etl", 20, false)
	if err != nil {
		t.Fatal(err)
	}
	deployments, err := m.Deployments()
	if err != nil {
		t.Fatal(err)
	}
	if len(deployments) != 1 {
		t.Fatalf("deployments: %+v", deployments)
	}
	d := deployments[0]
	if d.ID != dep.DeploymentID || !slices.Equal(d.AffectedApps, []string{"/data/etl"}) || len(d.Steps) != 1 ||
		d.Steps[0][0].Action != "ScaleApplication" || d.Steps[0][0].App != "/data/etl" || d.CurrentActions[0].Action != "ScaleApplication" {
		t.Errorf("deployment %+v steps %+v", d, d.Steps)
	}
	// Without force the deployment is rolled back by a new one.
	rollback, err := m.DeleteDeployment(dep.DeploymentID, false)
	if err != nil || rollback.DeploymentID == "" || rollback.DeploymentID == dep.DeploymentID {
		t.Fatalf("rollback: %+v, %v", rollback, err)
	}
	c.waitDeployment(m, rollback.DeploymentID)

	dep, err = m.ScaleApplicationInstances("/data/etl", 20, false)
	if err != nil {
		t.Fatal(err)
	}
	// With force it just stops: 202, no body.
	if _, err := m.DeleteDeployment(dep.DeploymentID, true); err != nil {
		t.Fatalf("forced delete: %v", err)
	}
	if found, _ := m.HasDeployment(dep.DeploymentID); found {
		t.Error("a force-deleted deployment must be gone")
	}
	if _, err := m.DeleteDeployment("no-such-deployment", true); apiErrCode(t, err) != marathon.ErrCodeNotFound {
		t.Errorf("unknown deployment: %v", err)
	}
}

func TestClientQueueReasons(t *testing.T) {
	c := newTestCluster(t)
	m := c.client(false)

	// Too many cpus for any agent: every offer is declined first for InsufficientCpus.
	huge := marathon.NewDockerApplication().Name("/batch/huge").CPU(64).Memory(128).Count(1)
	if _, err := m.CreateApplication(huge); err != nil {
		t.Fatal(err)
	}
	// A constraint no agent satisfies: declined for UnfulfilledConstraint, before any resource check.
	if _, err := m.ScaleApplicationInstances("/data/pinned", 2, false); err != nil {
		t.Fatal(err)
	}
	c.advance(10 * time.Second)

	q, err := m.Queue()
	if err != nil {
		t.Fatal(err)
	}
	items := map[string]marathon.Item{}
	for _, it := range q.Items {
		items[it.Application.ID] = it
	}
	for id, want := range map[string]struct {
		count  int
		reason string
	}{"/batch/huge": {1, "InsufficientCpus"}, "/data/pinned": {2, "UnfulfilledConstraint"}} {
		it, ok := items[id]
		if !ok {
			t.Fatalf("%s not queued: %+v", id, q.Items)
		}
		if it.Count != want.count || !it.Delay.Overdue || it.Role != "*" || it.Since == "" {
			t.Errorf("%s: count %d overdue %v role %q since %q", id, it.Count, it.Delay.Overdue, it.Role, it.Since)
		}
		s := it.ProcessedOffersSummary
		if s.ProcessedOffersCount != 3 || s.UnusedOffersCount != 3 || s.LastUnusedOfferAt == nil {
			t.Errorf("%s: summary %+v", id, s)
		}
		if got := dominant(s.RejectSummaryLastOffers); got != want.reason {
			t.Errorf("%s: dominant reason %q, want %q (%+v)", id, got, want.reason, s.RejectSummaryLastOffers)
		}
	}

	// DELETE /v2/queue/{id}/delay: 204 for a queued app, 404 for one that is not.
	if err := m.DeleteQueueDelay("/batch/huge"); err != nil {
		t.Errorf("reset delay: %v", err)
	}
	if err := m.DeleteQueueDelay("/web/frontend"); apiErrCode(t, err) != marathon.ErrCodeNotFound {
		t.Errorf("reset delay of an unqueued app: %v", err)
	}
}

// dominant is the reason that declined the most offers.
func dominant(steps []marathon.DeclinedOfferStep) string {
	best, most := "", int32(0)
	for _, s := range steps {
		if s.Declined > most {
			best, most = s.Reason, s.Declined
		}
	}
	return best
}

func TestClientTasks(t *testing.T) {
	c := newTestCluster(t)
	m := c.client(false)

	all, err := m.AllTasks(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Tasks) != 5 { // frontend 2, docs 1, wiki 1, etl 1
		t.Fatalf("all tasks: %d", len(all.Tasks))
	}
	staging, err := m.AllTasks(&marathon.AllTasksOpts{Status: "staging"})
	if err != nil || len(staging.Tasks) != 0 {
		t.Errorf("staging tasks: %+v, %v", staging, err)
	}
	tasks, err := m.Tasks("/web/frontend")
	if err != nil || len(tasks.Tasks) != 2 {
		t.Fatalf("frontend tasks: %+v, %v", tasks, err)
	}
	tk := tasks.Tasks[0]
	if tk.AppID != "/web/frontend" || tk.State != "TASK_RUNNING" || tk.StartedAt == "" || len(tk.ServicePorts) != 1 || len(tk.HealthCheckResults) != 1 || !tk.HealthCheckResults[0].Alive {
		t.Errorf("task %+v", tk)
	}

	// KillTask (DELETE /v2/apps/{id}/tasks/{taskId}) without scale: Marathon replaces the task.
	killed, err := m.KillTask(tk.ID, nil)
	if err != nil || killed.ID != tk.ID {
		t.Fatalf("kill task: %+v, %v", killed, err)
	}
	c.settle(func(v *simulate.View) bool {
		a, _ := v.App("/web/frontend")
		_, running, _, _ := a.Counts()
		return running == 2 && a.Instances == 2
	})
	// KillApplicationTasks with scale: the instance count goes down with the kill.
	if _, err := m.KillApplicationTasks("/web/frontend", &marathon.KillApplicationTasksOpts{Scale: true}); err != nil {
		t.Fatal(err)
	}
	if a, tasks, _ := c.app("/web/frontend"); a.Instances != 0 || len(tasks) != 0 {
		t.Errorf("after kill with scale: instances %d tasks %d", a.Instances, len(tasks))
	}
	// KillTasks (POST /v2/tasks/delete) by id.
	_, etlTasks, _ := c.app("/data/etl")
	if err := m.KillTasks([]string{etlTasks[0].ID}, &marathon.KillTaskOpts{Scale: true}); err != nil {
		t.Fatal(err)
	}
	if a, tasks, _ := c.app("/data/etl"); a.Instances != 0 || len(tasks) != 0 {
		t.Errorf("after KillTasks: instances %d tasks %d", a.Instances, len(tasks))
	}
	if _, err := m.KillTask("web_frontend.no-such-task", nil); apiErrCode(t, err) != marathon.ErrCodeNotFound {
		t.Errorf("kill unknown task: %v", err)
	}
}

func TestClientRestart(t *testing.T) {
	c := newTestCluster(t)
	m := c.client(false)
	before, _, _ := c.app("/web/frontend")
	dep, err := m.RestartApplication("/web/frontend", false)
	if err != nil {
		t.Fatal(err)
	}
	c.waitDeployment(m, dep.DeploymentID)
	after, tasks, _ := c.app("/web/frontend")
	if !after.LastConfigChangeAt.After(before.LastConfigChangeAt) || len(tasks) != 2 {
		t.Fatalf("restart: config %v → %v, %d tasks", before.LastConfigChangeAt, after.LastConfigChangeAt, len(tasks))
	}
	for _, tk := range tasks {
		if !tk.Version.Equal(after.LastConfigChangeAt) {
			t.Errorf("task %s runs version %v, want %v", tk.ID, tk.Version, after.LastConfigChangeAt)
		}
	}
	// Restarting an app that does not exist is a 404 and creates nothing.
	if _, err := m.RestartApplication("/no/such/app", false); apiErrCode(t, err) != marathon.ErrCodeNotFound {
		t.Errorf("restart of a missing app: %v", err)
	}
	if _, _, ok := c.app("/no/such/app"); ok {
		t.Error("restart of a missing app created it")
	}
}
