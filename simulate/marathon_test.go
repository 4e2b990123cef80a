package simulate_test

import (
	"slices"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// startApp creates /web with n running tasks and waits (two minutes) for its deployment to finish.
func startApp(t *testing.T, c *cluster, n int, extra simulate.AppUpdate) simulate.App {
	t.Helper()
	u := extra
	u.Instances, u.CPUs, u.Mem = ptr(n), ptr(0.25), ptr(128.0)
	_, created, err := c.w.UpdateApp("/web", u, false)
	mustOK(t, err)
	if !created {
		t.Fatal("PUT of a new app did not report created")
	}
	c.advance(2 * time.Minute)
	if got := running(c.tasks("/web")); got != n {
		t.Fatalf("%d tasks running, want %d", got, n)
	}
	if d := c.deployments(); len(d) != 0 {
		t.Fatalf("deployments still running after start: %+v", d)
	}
	app, _ := c.app("/web")
	return app
}

func eventTypes(events []simulate.MarathonEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

func TestScaleOnlyChangesKeepTasks(t *testing.T) {
	labels := map[string]string{"team": "web"}
	cases := []struct {
		name   string
		update simulate.AppUpdate
	}{
		{"instances only", simulate.AppUpdate{Instances: ptr(5)}},
		// go-marathon's UpdateApplication PUTs the whole app back: unchanged fields must not restart it.
		{"the whole definition with only instances changed", simulate.AppUpdate{
			Instances: ptr(5), CPUs: ptr(0.25), Mem: ptr(128.0), Labels: &labels,
			Constraints: &[][]string{}, HealthChecks: &[]simulate.HealthCheck{}, AcceptedResourceRoles: &[]string{},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, staticPools)
			before := startApp(t, c, 3, simulate.AppUpdate{Labels: &labels})
			ids := taskIDs(c.tasks("/web"))
			c.advance(time.Second)

			ref, created, err := c.w.UpdateApp("/web", tc.update, false)
			mustOK(t, err)
			if created {
				t.Error("an update reported created")
			}
			d := c.deployments()
			if len(d) != 1 || d[0].ID != ref.ID || d[0].Action != "ScaleApplication" {
				t.Fatalf("deployments %+v, want one ScaleApplication %s", d, ref.ID)
			}
			c.advance(10 * time.Second)
			tasks := c.tasks("/web")
			if running(tasks) != 5 {
				t.Errorf("%d running, want 5", running(tasks))
			}
			for _, id := range ids {
				if !slices.Contains(taskIDs(tasks), id) {
					t.Errorf("task %s was replaced by a scale", id)
				}
			}
			after, _ := c.app("/web")
			if !after.LastConfigChangeAt.Equal(before.LastConfigChangeAt) || !after.LastScalingAt.After(before.LastScalingAt) {
				t.Errorf("versionInfo: config %s→%s scaling %s→%s; want config unchanged, scaling later",
					before.LastConfigChangeAt, after.LastConfigChangeAt, before.LastScalingAt, after.LastScalingAt)
			}
		})
	}
}

func TestConfigChangeRestartsTasksRollingly(t *testing.T) {
	cases := []struct {
		name     string
		strategy *simulate.UpgradeStrategy
		health   bool
		// oldLive and launched are the old tasks still live and the new tasks launched right after the
		// change; afterOne is the old tasks live once the first new task runs.
		oldLive, launched int
	}{
		{"default strategy: all new first, old go as new ones run", nil, false, 3, 3},
		{"with health checks the new tasks must be healthy", nil, true, 3, 3},
		{"minimumHealthCapacity 0 replaces everything at once", &simulate.UpgradeStrategy{MinimumHealthCapacity: 0, MaximumOverCapacity: 0}, false, 0, 3},
		{"1/0: one old task goes to make room, one at a time", &simulate.UpgradeStrategy{MinimumHealthCapacity: 1, MaximumOverCapacity: 0}, false, 2, 1},
		{"0.5/0: half may go at once", &simulate.UpgradeStrategy{MinimumHealthCapacity: 0.5, MaximumOverCapacity: 0}, false, 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, staticPools)
			setup := simulate.AppUpdate{UpgradeStrategy: tc.strategy}
			if tc.health {
				setup.HealthChecks = &[]simulate.HealthCheck{{Protocol: "MARATHON_HTTP", Path: "/health", IntervalSeconds: 10}}
			}
			startApp(t, c, 3, setup)
			old := taskIDs(c.tasks("/web"))
			c.advance(time.Second)

			ref, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Labels: &map[string]string{"marmot.hibernated.instances": "3"}}, false)
			mustOK(t, err)
			if d := c.deployments(); len(d) != 1 || d[0].Action != "RestartApplication" {
				t.Fatalf("deployments %+v, want one RestartApplication", d)
			}
			app, _ := c.app("/web")
			if !app.LastConfigChangeAt.Equal(ref.Version) {
				t.Errorf("lastConfigChangeAt %s, want the new version %s", app.LastConfigChangeAt, ref.Version)
			}
			split := func() (oldLive, fresh int) {
				for _, task := range c.tasks("/web") {
					if slices.Contains(old, task.ID) {
						if task.State == simulate.TaskRunning {
							oldLive++
						}
					} else {
						fresh++
					}
				}
				return
			}
			if o, n := split(); o != tc.oldLive || n != tc.launched {
				t.Errorf("right after the change: %d old live, %d new; want %d and %d", o, n, tc.oldLive, tc.launched)
			}
			// The new tasks take 5s to run: until then the old ones keep serving (when the strategy
			// keeps any).
			c.advance(4 * time.Second)
			if o, _ := split(); o != tc.oldLive {
				t.Errorf("before the new tasks run: %d old live, want %d", o, tc.oldLive)
			}
			c.advance(time.Minute)
			tasks := c.tasks("/web")
			if running(tasks) != 3 {
				t.Fatalf("%d running after the restart, want 3", running(tasks))
			}
			for _, task := range tasks {
				if slices.Contains(old, task.ID) || !task.Version.Equal(ref.Version) {
					t.Errorf("task %s (version %s) survived the restart", task.ID, task.Version)
				}
				if tc.health && !task.Healthy {
					t.Errorf("task %s is not healthy", task.ID)
				}
			}
			if d := c.deployments(); len(d) != 0 {
				t.Errorf("restart deployment still listed: %+v", d)
			}
		})
	}
}

func TestRestartAndRollbackForceANewVersion(t *testing.T) {
	c := newCluster(t, staticPools)
	startApp(t, c, 2, simulate.AppUpdate{})
	old := taskIDs(c.tasks("/web"))
	_, err := c.w.RestartApp("/web", false)
	mustOK(t, err)
	c.advance(time.Minute)
	for _, id := range taskIDs(c.tasks("/web")) {
		if slices.Contains(old, id) {
			t.Errorf("task %s survived a restart", id)
		}
	}
	_, err = c.w.RestartApp("/nope", false)
	wantKind(t, err, simulate.KindNotFound, "does not exist")
	if _, ok := c.app("/nope"); ok {
		t.Error("restarting an unknown app created it")
	}
	// "version" may only come with "id".
	_, _, err = c.w.UpdateApp("/web", simulate.AppUpdate{Version: ptr("2026-01-05T00:00:00Z"), Instances: ptr(1)}, false)
	wantKind(t, err, simulate.KindInvalid)
}

func TestTwoChangesInOneInstant(t *testing.T) {
	// Virtual time makes same-instant changes common: the second must replace the tasks of the first.
	c := newCluster(t, staticPools)
	startApp(t, c, 2, simulate.AppUpdate{})
	_, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{CPUs: ptr(0.5)}, false)
	mustOK(t, err)
	_, _, err = c.w.UpdateApp("/web", simulate.AppUpdate{CPUs: ptr(0.75)}, true)
	mustOK(t, err)
	c.advance(time.Minute)
	tasks := c.tasks("/web")
	if running(tasks) != 2 {
		t.Fatalf("%d running, want 2", running(tasks))
	}
	for _, task := range tasks {
		if task.Resources.CPUs != 0.75 {
			t.Errorf("task %s runs with %g cpus, want the last definition's 0.75", task.ID, task.Resources.CPUs)
		}
	}
}

func TestDeploymentLockAndForce(t *testing.T) {
	c := newCluster(t, staticPools)
	startApp(t, c, 1, simulate.AppUpdate{StartDelay: ptr(time.Minute)})
	sub := c.w.SubscribeMarathon(1000)
	defer sub.Close()

	first, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(3)}, false)
	mustOK(t, err)
	c.advance(10 * time.Second)

	_, _, err = c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(4)}, false)
	wantKind(t, err, simulate.KindLocked, "locked")
	if e := err.(*simulate.Error); !slices.Equal(e.Deployments, []string{first.ID}) {
		t.Errorf("lock names deployments %v, want [%s]", e.Deployments, first.ID)
	}
	_, err = c.w.DeleteApp("/web", false)
	wantKind(t, err, simulate.KindLocked)
	_, err = c.w.RestartApp("/web", false)
	wantKind(t, err, simulate.KindLocked)

	second, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(4)}, true)
	mustOK(t, err)
	d := c.deployments()
	if len(d) != 1 || d[0].ID != second.ID {
		t.Fatalf("deployments %+v, want only the forced one %s", d, second.ID)
	}
	events, _ := drain(sub)
	failed, info := -1, -1
	for i, e := range events {
		switch {
		case e.Type == simulate.EventDeploymentFailed && e.Deployment.ID == first.ID:
			failed = i
			if e.Reason == "" {
				t.Error("deployment_failed without a reason")
			}
		case e.Type == simulate.EventDeploymentInfo && e.Deployment.ID == second.ID:
			info = i
		}
	}
	if failed < 0 || info < 0 || failed > info {
		t.Errorf("events %v: want deployment_failed for the cancelled deployment before deployment_info of the new one", eventTypes(events))
	}
	c.advance(2 * time.Minute)
	if d := c.deployments(); len(d) != 0 || running(c.tasks("/web")) != 4 {
		t.Errorf("after the forced deployment: %d deployments, %d running; want none and 4", len(d), running(c.tasks("/web")))
	}
}

func TestDeploymentsVanishOnlyWhenDone(t *testing.T) {
	c := newCluster(t, staticPools)
	ref, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(2), CPUs: ptr(0.5)}, false)
	mustOK(t, err)
	// go-marathon's WaitOnDeployment takes a missing id as finished: it must be listed at once.
	if d := c.deployments(); len(d) != 1 || d[0].ID != ref.ID || d[0].Action != "StartApplication" {
		t.Fatalf("deployments right after the PUT: %+v", d)
	}
	c.advance(4 * time.Second)
	if len(c.deployments()) != 1 {
		t.Fatal("deployment finished before its tasks ran")
	}
	c.advance(time.Second)
	if d := c.deployments(); len(d) != 0 {
		t.Fatalf("deployment still listed with all tasks running: %+v", d)
	}
	// An app that cannot be placed never finishes its deployment.
	_, _, err = c.w.UpdateApp("/huge", simulate.AppUpdate{Instances: ptr(1), CPUs: ptr(64.0)}, false)
	mustOK(t, err)
	c.advance(time.Hour)
	if d := c.deployments(); len(d) != 1 || d[0].AppID != "/huge" {
		t.Errorf("deployments %+v, want the unplaceable app's still running", d)
	}
}

func TestAppEventsInOrder(t *testing.T) {
	c := newCluster(t, staticPools)
	sub := c.w.SubscribeMarathon(1000)
	defer sub.Close()
	ref, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(1), HealthChecks: &[]simulate.HealthCheck{{Path: "/health"}}}, false)
	mustOK(t, err)
	c.advance(time.Minute)
	events, _ := drain(sub)
	var got []string
	for _, e := range events {
		switch e.Type {
		case simulate.EventStatusUpdate:
			got = append(got, e.Type+":"+string(e.Task.State))
		case simulate.EventInstanceChanged:
		default:
			got = append(got, e.Type)
		}
		if e.Type == simulate.EventDeploymentSuccess && e.Deployment.ID != ref.ID {
			t.Errorf("deployment_success for %s, want %s", e.Deployment.ID, ref.ID)
		}
	}
	want := []string{
		simulate.EventAPIPost, simulate.EventGroupChangeSuccess, simulate.EventDeploymentInfo,
		"status_update_event:TASK_STAGING", "status_update_event:TASK_STARTING", "status_update_event:TASK_RUNNING",
		simulate.EventHealthChanged, simulate.EventDeploymentStepOK, simulate.EventDeploymentSuccess,
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
}

func TestDeleteApp(t *testing.T) {
	c := newCluster(t, staticPools)
	startApp(t, c, 3, simulate.AppUpdate{})
	ids := taskIDs(c.tasks("/web"))
	sub := c.w.SubscribeMarathon(1000)
	defer sub.Close()

	// Scaling to zero keeps the app: no app_terminated_event.
	_, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(0)}, false)
	mustOK(t, err)
	c.advance(time.Second)
	if _, ok := c.app("/web"); !ok {
		t.Fatal("scale to zero removed the app")
	}
	_, _, err = c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(3)}, false)
	mustOK(t, err)
	c.advance(10 * time.Second)

	_, err = c.w.DeleteApp("/web", false)
	mustOK(t, err)
	c.advance(time.Second)
	if _, ok := c.app("/web"); ok {
		t.Fatal("app still there after DELETE")
	}
	events, _ := drain(sub)
	terminated, success := -1, -1
	for i, e := range events {
		switch e.Type {
		case simulate.EventAppTerminated:
			if terminated >= 0 {
				t.Error("app_terminated_event twice")
			}
			terminated = i
		case simulate.EventDeploymentSuccess:
			success = i
		}
	}
	if terminated < 0 || terminated < success {
		t.Errorf("events %v: want app_terminated_event once, after the last deployment_success", eventTypes(events))
	}
	c.view(func(v *simulate.View) {
		for _, task := range v.CompletedTasks() {
			if slices.Contains(ids, task.ID) && task.State != simulate.TaskKilled {
				t.Errorf("task %s of the deleted app ended %s", task.ID, task.State)
			}
		}
		if len(v.Deployments()) != 0 {
			t.Errorf("deployments left: %d", len(v.Deployments()))
		}
	})
	_, err = c.w.DeleteApp("/web", false)
	wantKind(t, err, simulate.KindNotFound, "does not exist")
}

func TestKillTasks(t *testing.T) {
	cases := []struct {
		name      string
		scale     bool
		instances int
		running   int
	}{
		{"without scale Marathon replaces the task", false, 3, 3},
		{"with scale the app shrinks", true, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, staticPools)
			startApp(t, c, 3, simulate.AppUpdate{})
			victim := c.tasks("/web")[0]
			killed, err := c.w.KillTasks([]string{victim.ID, "web.unknown"}, tc.scale)
			mustOK(t, err)
			if len(killed) != 1 || killed[0].ID != victim.ID || killed[0].State != simulate.TaskKilled {
				t.Fatalf("killed %+v, want just %s in TASK_KILLED", killed, victim.ID)
			}
			c.advance(10 * time.Second)
			app, _ := c.app("/web")
			tasks := c.tasks("/web")
			if app.Instances != tc.instances || running(tasks) != tc.running {
				t.Errorf("instances %d, running %d; want %d and %d", app.Instances, running(tasks), tc.instances, tc.running)
			}
			if slices.Contains(taskIDs(tasks), victim.ID) {
				t.Error("killed task still listed")
			}
		})
	}
}

func TestDeleteDeployment(t *testing.T) {
	cases := []struct {
		name        string
		force       bool
		deployments int
	}{
		{"force stops the deployment where it is", true, 0},
		{"without force Marathon rolls back", false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, staticPools)
			startApp(t, c, 1, simulate.AppUpdate{StartDelay: ptr(time.Minute)})
			ref, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(3)}, false)
			mustOK(t, err)
			rollback, err := c.w.DeleteDeployment(ref.ID, tc.force)
			mustOK(t, err)
			d := c.deployments()
			if len(d) != tc.deployments || (len(d) == 1 && d[0].ID != rollback.ID) {
				t.Errorf("deployments %+v, want %d (the rollback)", d, tc.deployments)
			}
			_, err = c.w.DeleteDeployment(ref.ID, tc.force)
			wantKind(t, err, simulate.KindNotFound)
		})
	}
}

func TestResetDelayNeedsAQueuedApp(t *testing.T) {
	c := newCluster(t, staticPools)
	startApp(t, c, 1, simulate.AppUpdate{})
	wantKind(t, c.w.ResetDelay("/web"), simulate.KindNotFound, "not found in tasks queue")
	_, _, err := c.w.UpdateApp("/huge", simulate.AppUpdate{CPUs: ptr(64.0)}, false)
	mustOK(t, err)
	mustOK(t, c.w.ResetDelay("/huge"))
}

func TestAppIDs(t *testing.T) {
	cases := []struct {
		id    string
		valid bool
	}{
		{"/web", true}, {"/web/frontend", true}, {"/a.b/c-d/0", true},
		{"web", false}, {"/", false}, {"/Web", false}, {"/web//x", false}, {"/web/", false},
		{"/-web", false}, {"/web-", false}, {"/web/.", false}, {"/web/..", false}, {"/we_b", false},
	}
	for _, tc := range cases {
		if got := simulate.ValidAppID(tc.id); got != tc.valid {
			t.Errorf("ValidAppID(%q) = %v, want %v", tc.id, got, tc.valid)
		}
	}
	for in, want := range map[string]string{"web": "/web", "/web/": "/web", " /a/b ": "/a/b"} {
		if got := simulate.NormalizeAppID(in); got != want {
			t.Errorf("NormalizeAppID(%q) = %q, want %q", in, got, want)
		}
	}
}
