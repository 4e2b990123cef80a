package simulate

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// The Marathon half of the model: apps, their tasks, deployments and the launch queue. Semantics follow
// wire-facts.md §3: scaling keeps tasks, any other change restarts them (a new config version), a
// running deployment locks the app unless forced.

// NormalizeAppID makes an app id absolute ("web" → "/web") and drops a trailing slash.
func NormalizeAppID(id string) string {
	id = strings.TrimRight(strings.TrimSpace(id), "/")
	if !strings.HasPrefix(id, "/") {
		id = "/" + id
	}
	return id
}

// ValidAppID reports whether id is a valid absolute Marathon app id: path segments of lowercase letters,
// digits, '-' and '.', each starting and ending with a letter or digit.
func ValidAppID(id string) bool {
	if !strings.HasPrefix(id, "/") || len(id) < 2 {
		return false
	}
	// Walk the segments in place: this runs on every PUT, thousands of times a simulated day.
	for rest := id[1:]; ; {
		seg, tail, more := strings.Cut(rest, "/")
		if !validSegment(seg) {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}

func validSegment(seg string) bool {
	if seg == "" || seg == "." || seg == ".." {
		return false
	}
	for i, c := range seg {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.'
		if !ok {
			return false
		}
		if (i == 0 || i == len(seg)-1) && (c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// AppUpdate is a partial app definition: nil fields are left as they are (Marathon's partialUpdate).
type AppUpdate struct {
	Instances             *int
	CPUs                  *float64
	Mem                   *float64
	Disk                  *float64
	GPUs                  *float64
	Ports                 *int
	Cmd                   *string
	Constraints           *[][]string
	Labels                *map[string]string
	HealthChecks          *[]HealthCheck
	AcceptedResourceRoles *[]string
	Role                  *string
	BackoffSeconds        *float64
	BackoffFactor         *float64
	MaxLaunchDelaySeconds *float64
	UpgradeStrategy       *UpgradeStrategy
	// Extra sets other app-definition fields verbatim (a null value removes one).
	Extra map[string]json.RawMessage
	// Version asks for a rollback to an earlier version; Marathon allows it only with nothing else.
	Version *string
	// StartDelay is simulator-only: how long the app's tasks take to start.
	StartDelay *time.Duration
}

func (u AppUpdate) onlyScale() bool {
	return u.CPUs == nil && u.Mem == nil && u.Disk == nil && u.GPUs == nil && u.Ports == nil && u.Cmd == nil &&
		u.Constraints == nil && u.Labels == nil && u.HealthChecks == nil && u.AcceptedResourceRoles == nil &&
		u.Role == nil && u.BackoffSeconds == nil && u.BackoffFactor == nil && u.MaxLaunchDelaySeconds == nil &&
		u.UpgradeStrategy == nil && len(u.Extra) == 0 && u.StartDelay == nil
}

// DeploymentRef is what Marathon answers to a change: the deployment id and the new app version.
type DeploymentRef struct {
	ID      string
	Version time.Time
}

func defaultApp(id string) *App {
	return &App{
		ID:                    id,
		Instances:             1, // app.raml: instances default 1
		CPUs:                  1,
		Mem:                   128,
		Ports:                 1,
		Labels:                map[string]string{},
		BackoffSeconds:        1,
		BackoffFactor:         1.15,
		MaxLaunchDelaySeconds: 300,
		UpgradeStrategy:       UpgradeStrategy{MinimumHealthCapacity: 1, MaximumOverCapacity: 1},
		StartDelay:            5 * time.Second,
	}
}

// apply changes the app by u; it reports whether the change needs a restart of the tasks. As in
// Marathon (AppDefinition.isUpgrade compares the definitions), only a field whose value really changes
// makes a new config version: go-marathon's UpdateApplication PUTs the whole app back, and a scale done
// that way must not restart anything.
func (a *App) apply(u AppUpdate) (restart bool) {
	if u.Instances != nil {
		a.Instances = *u.Instances
	}
	set := func(dst *float64, v *float64) {
		if v != nil && *dst != *v {
			*dst = *v
			restart = true
		}
	}
	set(&a.CPUs, u.CPUs)
	set(&a.Mem, u.Mem)
	set(&a.Disk, u.Disk)
	set(&a.GPUs, u.GPUs)
	set(&a.BackoffSeconds, u.BackoffSeconds)
	set(&a.BackoffFactor, u.BackoffFactor)
	set(&a.MaxLaunchDelaySeconds, u.MaxLaunchDelaySeconds)
	if u.Ports != nil && *u.Ports != a.Ports {
		a.Ports, restart = *u.Ports, true
	}
	if u.Cmd != nil && *u.Cmd != a.Cmd {
		a.Cmd, restart = *u.Cmd, true
	}
	if u.Role != nil && *u.Role != a.Role {
		a.Role, restart = *u.Role, true
	}
	if u.Constraints != nil && !reflect.DeepEqual(normalConstraints(*u.Constraints), normalConstraints(a.Constraints)) {
		a.Constraints, restart = cloneConstraints(*u.Constraints), true
	}
	if u.Labels != nil && !maps.Equal(*u.Labels, a.Labels) {
		a.Labels, restart = cloneLabels(*u.Labels), true
	}
	if u.HealthChecks != nil && !slices.Equal(*u.HealthChecks, a.HealthChecks) {
		a.HealthChecks, restart = append([]HealthCheck(nil), (*u.HealthChecks)...), true
	}
	if u.AcceptedResourceRoles != nil && !slices.Equal(*u.AcceptedResourceRoles, a.AcceptedResourceRoles) {
		a.AcceptedResourceRoles, restart = append([]string(nil), (*u.AcceptedResourceRoles)...), true
	}
	if u.UpgradeStrategy != nil && *u.UpgradeStrategy != a.UpgradeStrategy {
		a.UpgradeStrategy, restart = *u.UpgradeStrategy, true
	}
	if u.StartDelay != nil {
		a.StartDelay = *u.StartDelay
	}
	for k, v := range u.Extra {
		old, had := a.Extra[k]
		if string(v) == "null" {
			if had {
				delete(a.Extra, k)
				restart = true
			}
			continue
		}
		if had && bytes.Equal(old, v) {
			continue
		}
		if a.Extra == nil {
			a.Extra = map[string]json.RawMessage{}
		}
		a.Extra[k] = append(json.RawMessage(nil), v...)
		restart = true
	}
	return restart
}

// normalConstraints treats a nil and an empty constraint list alike.
func normalConstraints(c [][]string) [][]string {
	if len(c) == 0 {
		return nil
	}
	return c
}

func cloneConstraints(in [][]string) [][]string {
	out := make([][]string, len(in))
	for i, c := range in {
		out[i] = append([]string(nil), c...)
	}
	return out
}

func cloneLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func (w *World) validateApp(a *App) *Error {
	var details []string
	if !ValidAppID(a.ID) {
		details = append(details, "/id: must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'")
	}
	if a.Instances < 0 {
		details = append(details, "/instances: got "+itoa(a.Instances)+", expected 0 or more")
	}
	if a.CPUs < 0 || a.Mem < 0 || a.Disk < 0 || a.GPUs < 0 {
		details = append(details, "/cpus,/mem,/disk,/gpus: must be 0 or more")
	}
	if a.Ports < 0 || a.Ports > 64 {
		details = append(details, "/portDefinitions: between 0 and 64 ports")
	}
	for i, c := range a.Constraints {
		if msg := validateConstraint(c); msg != "" {
			details = append(details, "/constraints("+itoa(i)+"): "+msg)
		}
	}
	if len(details) > 0 {
		e := errorf(KindInvalid, "", "Object is not valid")
		e.Deployments = nil
		e.Code = strings.Join(details, "\n")
		return e
	}
	return nil
}

// CreateApp creates an app (POST /v2/apps). It fails with KindConflict when the id exists. The spec is
// taken as given (a zero UpgradeStrategy means minimumHealthCapacity 0): NewAppSpec fills in Marathon's
// defaults for the fields a request leaves out.
func (w *World) CreateApp(spec App) (*App, DeploymentRef, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	spec.ID = NormalizeAppID(spec.ID)
	if _, ok := w.apps[spec.ID]; ok {
		return nil, DeploymentRef{}, errorf(KindConflict, "", "An app with id [%s] already exists.", spec.ID)
	}
	if err := w.validateApp(&spec); err != nil {
		return nil, DeploymentRef{}, err
	}
	app := w.addApp(spec)
	return app, w.beginChange(app, "StartApplication"), nil
}

// addApp registers an app with version now; it does not start a deployment.
func (w *World) addApp(spec App) *App {
	app := spec
	app.tasks = nil
	app.deployment = nil
	if app.Labels == nil {
		app.Labels = map[string]string{}
	}
	app.Version, app.LastScalingAt, app.LastConfigChangeAt = w.now, w.now, w.now
	app.index = len(w.appList)
	w.apps[app.ID] = &app
	w.appList = append(w.appList, &app)
	w.appsChanged++
	return &app
}

// beginChange announces a change to app and starts its deployment, in the order Marathon's event bus
// shows it (wire-facts §3.4): api_post_event and group_change_success, then deployment_info; the
// deployment may finish at once (a scale to the current count).
func (w *World) beginChange(app *App, action string) DeploymentRef {
	w.publishAPIPost(app)
	ref := w.startDeployment(app, action)
	w.reconcileApp(app)
	return ref
}

// nextVersion is the version a change made now gets. Marathon versions are timestamps; two changes in
// one model instant (usual in virtual time) must still differ, or the tasks launched for the first
// would count as current for the second.
func (w *World) nextVersion(prev time.Time) time.Time {
	if w.now.After(prev) {
		return w.now
	}
	return prev.Add(time.Millisecond)
}

// UpdateApp changes or creates an app (PUT /v2/apps/{id} with partialUpdate). created tells whether a
// new app was made (Marathon answers 201 then, 200 otherwise). A running deployment locks the app
// (KindLocked) unless force, which cancels it.
func (w *World) UpdateApp(id string, u AppUpdate, force bool) (ref DeploymentRef, created bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	return w.updateApp(id, u, force, false)
}

// updateApp applies u; restart forces a new config version even when nothing in the definition changes
// (POST /v2/apps/{id}/restart, and rollbacks, which the model has no version history for).
func (w *World) updateApp(id string, u AppUpdate, force, restart bool) (ref DeploymentRef, created bool, err error) {
	id = NormalizeAppID(id)
	if u.Version != nil && !u.onlyScaleAndNoInstances() {
		return DeploymentRef{}, false, &Error{Kind: KindInvalid, Message: "Object is not valid", Code: "/: The 'version' field may only be combined with the 'id' field."}
	}
	app, ok := w.apps[id]
	if !ok {
		spec := defaultApp(id)
		spec.apply(u)
		if err := w.validateApp(spec); err != nil {
			return DeploymentRef{}, false, err
		}
		app = w.addApp(*spec)
		return w.beginChange(app, "StartApplication"), true, nil
	}
	if d := app.deployment; d != nil && !force {
		return DeploymentRef{}, false, lockedBy(d)
	}
	if u.Version != nil {
		u, restart = AppUpdate{}, true
	}
	trial := *app
	trial.Extra = maps.Clone(app.Extra) // apply writes Extra in place
	trial.apply(u)
	if err := w.validateApp(&trial); err != nil {
		return DeploymentRef{}, false, err
	}
	if d := app.deployment; d != nil {
		w.cancelDeployment(d, "The upgrade has been cancelled")
	}
	if app.apply(u) {
		restart = true
	}
	app.Version = w.nextVersion(app.Version)
	app.LastScalingAt = app.Version
	action := "ScaleApplication"
	if restart {
		app.LastConfigChangeAt = app.Version
		action = "RestartApplication"
	}
	return w.beginChange(app, action), false, nil
}

func lockedBy(d *Deployment) *Error {
	return &Error{Kind: KindLocked, Message: "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.", Deployments: []string{d.ID}}
}

func (u AppUpdate) onlyScaleAndNoInstances() bool { return u.onlyScale() && u.Instances == nil }

// DeleteApp stops all of an app's tasks and removes it (DELETE /v2/apps/{id}); app_terminated_event
// fires when it is gone.
func (w *World) DeleteApp(id string, force bool) (DeploymentRef, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	app, ok := w.apps[NormalizeAppID(id)]
	if !ok {
		return DeploymentRef{}, errorf(KindNotFound, "", "App '%s' does not exist", NormalizeAppID(id))
	}
	if d := app.deployment; d != nil {
		if !force {
			return DeploymentRef{}, lockedBy(d)
		}
		w.cancelDeployment(d, "The upgrade has been cancelled")
	}
	app.Instances = 0
	app.Version = w.nextVersion(app.Version)
	ref := w.startDeployment(app, "StopApplication")
	app.deployment.deleteOnDone = true
	w.reconcileApp(app)
	return ref, nil
}

// RestartApp replaces all of an app's tasks (POST /v2/apps/{id}/restart): a new config version with the
// same definition, rolled out like any other restart. A running deployment locks the app unless force.
func (w *World) RestartApp(id string, force bool) (DeploymentRef, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	if _, ok := w.apps[NormalizeAppID(id)]; !ok {
		return DeploymentRef{}, errorf(KindNotFound, "", "App '%s' does not exist", NormalizeAppID(id))
	}
	ref, _, err := w.updateApp(id, AppUpdate{}, force, true)
	return ref, err
}

// KillTasks kills tasks by id (DELETE /v2/apps/{id}/tasks, POST /v2/tasks/delete). With scale the
// app's instance count goes down by the number killed; otherwise Marathon replaces them. Unknown ids
// are skipped.
func (w *World) KillTasks(ids []string, scale bool) ([]Task, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	var killed []Task
	for _, id := range ids {
		t, ok := w.tasks[id]
		if !ok {
			continue
		}
		app := w.apps[t.AppID]
		if scale && app != nil && app.Instances > 0 {
			app.Instances--
			app.Version = w.nextVersion(app.Version)
			app.LastScalingAt = app.Version
		}
		w.killTask(t, "killed by request", 0)
		killed = append(killed, taskCopy(t))
	}
	return killed, nil
}

// DeleteDeployment cancels a deployment (DELETE /v2/deployments/{id}). Without force Marathon rolls the
// app back by starting a new deployment; with force it just stops.
func (w *World) DeleteDeployment(id string, force bool) (DeploymentRef, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	for _, d := range w.deployments {
		if d.ID != id {
			continue
		}
		app := w.apps[d.AppID]
		w.cancelDeployment(d, "The upgrade has been cancelled")
		if force || app == nil {
			return DeploymentRef{}, nil
		}
		// Rollback: Marathon reverts to the previous version; we keep the running tasks' count.
		app.Instances = liveCount(app)
		app.Version = w.nextVersion(app.Version)
		app.LastScalingAt = app.Version
		ref := w.startDeployment(app, "ScaleApplication")
		w.reconcileApp(app)
		return ref, nil
	}
	return DeploymentRef{}, errorf(KindNotFound, "", "DeploymentPlan %s does not exist", id)
}

// ResetDelay clears an app's launch backoff (DELETE /v2/queue/{id}/delay).
func (w *World) ResetDelay(id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	app, ok := w.apps[NormalizeAppID(id)]
	if !ok || w.need(app) == 0 {
		return errorf(KindNotFound, "", "Application %s not found in tasks queue.", NormalizeAppID(id))
	}
	app.delayUntil = time.Time{}
	w.placeDirty = true
	return nil
}

// SetRequestRate sets an app's offered load (requests per second).
func (w *World) SetRequestRate(id string, rps float64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	app, ok := w.apps[NormalizeAppID(id)]
	if !ok {
		return errorf(KindNotFound, "", "App '%s' does not exist", NormalizeAppID(id))
	}
	app.RequestRate = rps
	return nil
}

func liveCount(app *App) int {
	n := 0
	for _, t := range app.tasks {
		if t.State != TaskKilling {
			n++
		}
	}
	return n
}

func (w *World) startDeployment(app *App, action string) DeploymentRef {
	d := &Deployment{ID: w.uuid(), Version: app.Version, AppID: app.ID, Action: action, CurrentStep: 1, TotalSteps: 1, StartedAt: w.now}
	app.deployment = d
	w.deployments = append(w.deployments, d)
	if w.marathonEvents.listening() {
		w.marathonEvents.publish(MarathonEvent{Type: EventDeploymentInfo, Time: w.now, AppID: app.ID, Deployment: *d, App: appSpec(app)})
	}
	return DeploymentRef{ID: d.ID, Version: app.Version}
}

func (w *World) cancelDeployment(d *Deployment, reason string) {
	w.dropDeployment(d)
	if !w.marathonEvents.listening() {
		return
	}
	var spec App
	if app := w.apps[d.AppID]; app != nil {
		spec = appSpec(app)
	}
	w.marathonEvents.publish(MarathonEvent{Type: EventDeploymentFailed, Time: w.now, AppID: d.AppID, Deployment: *d, App: spec, Reason: reason})
}

// finishDeployment ends a deployment that reached its goal: it leaves the list first, so that a client
// reacting to deployment_success already finds it gone (go-marathon's WaitOnDeployment polls for that).
func (w *World) finishDeployment(app *App, d *Deployment) {
	w.dropDeployment(d)
	if w.marathonEvents.listening() {
		spec := appSpec(app)
		w.marathonEvents.publish(MarathonEvent{Type: EventDeploymentStepOK, Time: w.now, AppID: app.ID, Deployment: *d, App: spec})
		w.marathonEvents.publish(MarathonEvent{Type: EventDeploymentSuccess, Time: w.now, AppID: app.ID, Deployment: *d, App: spec})
	}
}

func (w *World) dropDeployment(d *Deployment) {
	for i, x := range w.deployments {
		if x == d {
			w.deployments = append(w.deployments[:i], w.deployments[i+1:]...)
			break
		}
	}
	if app := w.apps[d.AppID]; app != nil && app.deployment == d {
		app.deployment = nil
	}
}

func appSpec(a *App) App {
	c := *a
	c.tasks = nil
	c.deployment = nil
	return c
}

func (w *World) publishAPIPost(app *App) {
	if !w.marathonEvents.listening() {
		return
	}
	w.marathonEvents.publish(MarathonEvent{Type: EventAPIPost, Time: w.now, AppID: app.ID, App: appSpec(app)})
	w.marathonEvents.publish(MarathonEvent{Type: EventGroupChangeSuccess, Time: w.now, AppID: app.ID, App: appSpec(app)})
}

// minHealthy is how many tasks must stay ready during a restart (upgradeStrategy.minimumHealthCapacity).
func (a *App) minHealthy() int {
	return int(math.Ceil(float64(a.Instances)*a.UpgradeStrategy.MinimumHealthCapacity - 1e-9))
}

// maxCapacity is how many tasks may run at once during a restart (upgradeStrategy.maximumOverCapacity).
func (a *App) maxCapacity() int {
	return a.Instances + int(math.Floor(float64(a.Instances)*a.UpgradeStrategy.MaximumOverCapacity+1e-9))
}

// ready reports whether a task counts as up for a deployment: running, and healthy when the app has
// health checks.
func (a *App) ready(t *Task) bool {
	return t.State == TaskRunning && (len(a.HealthChecks) == 0 || t.Healthy)
}

// need is how many tasks of the app's current config version can be launched now: the missing ones,
// held back during a restart so that old and new together stay within maxCapacity. A current task
// being killed (a drain's grace period) still counts: Marathon treats a Killing instance as active and
// replaces it only once it is terminal.
func (w *World) need(app *App) int {
	current := 0
	for _, t := range app.tasks {
		if t.Version.Equal(app.LastConfigChangeAt) {
			current++
		}
	}
	return max(min(app.Instances-current, app.maxCapacity()-len(app.tasks)), 0)
}

// reconcileApp makes the app's tasks converge on its spec: extra tasks are killed (not yet running
// first, then youngest, as Marathon's default killSelection), old-version tasks are killed as new ones
// become ready (upgradeStrategy), missing ones are queued, and a finished deployment ends.
//
// Killing a task ends it, and ending a task asks for a reconcile of its app: that nested request becomes
// another pass of the outermost call, so a pass never runs on a task list changed under its feet and
// events come out in causal order (all kills, then deployment_success).
func (w *World) reconcileApp(app *App) {
	if app.reconciling {
		app.reconcileAgain = true
		return
	}
	app.reconciling = true
	for again := true; again; again = app.reconcileAgain {
		app.reconcileAgain = false
		w.reconcileOnce(app)
	}
	app.reconciling = false
}

func (w *World) reconcileOnce(app *App) {
	// Count first: most passes (a task started, a scale-up) kill nothing and need no task lists.
	fresh, ready, old := 0, 0, 0
	for _, t := range app.tasks {
		switch {
		case t.State == TaskKilling:
		case t.Version.Equal(app.LastConfigChangeAt):
			fresh++
			if app.ready(t) {
				ready++
			}
		default:
			old++
		}
	}
	if extra := fresh - app.Instances; extra > 0 {
		victims := app.liveTasks(func(t *Task) bool { return t.Version.Equal(app.LastConfigChangeAt) })
		for _, t := range victims[:extra] {
			if app.ready(t) {
				ready--
			}
			w.killTask(t, "scale down", 0)
		}
		fresh = app.Instances
	}
	if old > 0 {
		keep := max(app.minHealthy()-ready, 0)
		// With no room to launch a new task and none on its way, Marathon kills one old task to make
		// progress even when that dips below minimumHealthCapacity (TaskReplaceActor).
		inFlight := fresh - ready
		if fresh < app.Instances && inFlight == 0 && fresh+keep >= app.maxCapacity() {
			keep = max(app.maxCapacity()-fresh-1, 0)
		}
		if extra := old - keep; extra > 0 {
			victims := app.liveTasks(func(t *Task) bool { return !t.Version.Equal(app.LastConfigChangeAt) })
			for _, t := range victims[:extra] {
				w.killTask(t, "upgrade", 0)
			}
		}
	}
	if w.need(app) > 0 {
		if app.queueSince.IsZero() {
			app.queueSince = w.now
		}
		w.placeDirty = true
	} else {
		app.queueSince = time.Time{}
	}
	w.checkDeployment(app)
}

// liveTasks returns the app's tasks that are not being killed and match keep, in the order Marathon
// picks tasks to kill.
func (a *App) liveTasks(keep func(*Task) bool) []*Task {
	var out []*Task
	for _, t := range a.tasks {
		if t.State != TaskKilling && keep(t) {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return killFirst(out[i], out[j]) })
	return out
}

// killFirst orders tasks for scale-down: not-yet-running first, then the oldest version, then the
// youngest.
func killFirst(a, b *Task) bool {
	ar, br := a.State == TaskRunning, b.State == TaskRunning
	if ar != br {
		return !ar
	}
	if !a.Version.Equal(b.Version) {
		return a.Version.Before(b.Version)
	}
	return a.StagedAt.After(b.StagedAt)
}

// checkDeployment ends the app's deployment when its goal is reached: for a stop, no task left (and
// the app goes, with app_terminated_event); otherwise exactly Instances tasks, all of the current
// version and ready. Tasks still being killed keep a deployment open, as in Marathon.
func (w *World) checkDeployment(app *App) {
	d := app.deployment
	if d == nil {
		return
	}
	if d.deleteOnDone {
		if len(app.tasks) == 0 {
			w.finishDeployment(app, d)
			w.removeApp(app)
			w.marathonEvents.publish(MarathonEvent{Type: EventAppTerminated, Time: w.now, AppID: app.ID})
		}
		return
	}
	if len(app.tasks) != app.Instances {
		return
	}
	for _, t := range app.tasks {
		if !t.Version.Equal(app.LastConfigChangeAt) || !app.ready(t) {
			return
		}
	}
	w.finishDeployment(app, d)
}

func (w *World) removeApp(app *App) {
	last := len(w.appList) - 1
	w.appList[app.index] = w.appList[last]
	w.appList[app.index].index = app.index
	w.appList = w.appList[:last]
	delete(w.apps, app.ID)
	w.appsChanged++
}

// taskID makes a Marathon task id: the app id with '/' turned into '_', a dot, and a UUID.
func (w *World) taskID(app *App) string {
	return strings.ReplaceAll(strings.TrimPrefix(app.ID, "/"), "/", "_") + "." + w.uuid()
}

// launchTask starts a task of app on agent a, which must have room for it.
func (w *World) launchTask(app *App, a *Agent, ports []uint64) *Task {
	t := &Task{
		ID:        w.taskID(app),
		AppID:     app.ID,
		AgentID:   a.ID,
		Host:      a.Hostname,
		IP:        a.IP,
		Ports:     ports,
		Resources: app.PerInstance().milli(),
		State:     TaskStaging,
		StagedAt:  w.now,
		Version:   app.LastConfigChangeAt,
	}
	// Room for the usual life: staging, starting, running, killing, killed.
	t.Statuses = append(make([]TaskStatus, 0, 5), TaskStatus{State: TaskStaging, Timestamp: w.now})
	a.tasks = append(a.tasks, t)
	a.Allocated = a.Allocated.Add(t.Resources).milli()
	a.appTasks[app.ID]++
	for _, p := range ports {
		a.usedPorts[p] = true
	}
	app.tasks = append(app.tasks, t)
	w.tasks[t.ID] = t
	w.stats.TasksLaunched++
	if w.mesosEvents.listening() {
		w.mesosEvents.publish(MesosEvent{Type: MesosTaskAdded, Time: w.now, Task: taskCopy(t), AgentID: a.ID})
	}
	w.publishStatus(t)
	starting, running := min(app.StartDelay/2, time.Second), app.StartDelay
	w.after(starting, func() {
		w.advanceTask(t, TaskStarting)
		w.after(running-starting, func() { w.advanceTask(t, TaskRunning) })
	})
	return t
}

func taskCopy(t *Task) Task {
	c := *t
	c.Statuses = append([]TaskStatus(nil), t.Statuses...)
	c.Ports = append([]uint64(nil), t.Ports...)
	return c
}

// advanceTask moves a live task to STARTING or RUNNING. A task that was killed or lost meanwhile stays
// as it is. Health checks are modelled as passing at once: Marathon starts checking when the task runs,
// and a simulated task is healthy by construction.
func (w *World) advanceTask(t *Task, state TaskState) {
	if t.State.Terminal() || t.State == TaskKilling || w.tasks[t.ID] != t {
		return
	}
	if state == TaskStarting && t.State != TaskStaging {
		return
	}
	t.State = state
	t.Statuses = append(t.Statuses, TaskStatus{State: state, Timestamp: w.now})
	if state == TaskRunning {
		t.StartedAt = w.now
	}
	if w.mesosEvents.listening() {
		w.mesosEvents.publish(MesosEvent{Type: MesosTaskUpdated, Time: w.now, Task: taskCopy(t), AgentID: t.AgentID})
	}
	w.publishStatus(t)
	app := w.apps[t.AppID]
	if app == nil {
		return
	}
	if state == TaskRunning && len(app.HealthChecks) > 0 {
		t.Healthy = true
		if w.marathonEvents.listening() {
			w.marathonEvents.publish(MarathonEvent{Type: EventHealthChanged, Time: w.now, AppID: app.ID, Task: taskCopy(t), Alive: true})
		}
	}
	w.reconcileApp(app)
}

func (w *World) publishStatus(t *Task) {
	if !w.marathonEvents.listening() {
		return
	}
	w.marathonEvents.publish(MarathonEvent{Type: EventStatusUpdate, Time: w.now, AppID: t.AppID, Task: taskCopy(t)})
	w.marathonEvents.publish(MarathonEvent{Type: EventInstanceChanged, Time: w.now, AppID: t.AppID, Task: taskCopy(t)})
}

// killTask asks a task to stop: TASK_KILLING now, TASK_KILLED after grace.
func (w *World) killTask(t *Task, reason string, grace time.Duration) {
	if t.State.Terminal() || t.State == TaskKilling {
		return
	}
	t.State = TaskKilling
	t.killReason = reason
	t.Statuses = append(t.Statuses, TaskStatus{State: TaskKilling, Timestamp: w.now})
	if w.mesosEvents.listening() {
		w.mesosEvents.publish(MesosEvent{Type: MesosTaskUpdated, Time: w.now, Task: taskCopy(t), AgentID: t.AgentID})
	}
	w.publishStatus(t)
	w.stats.TasksKilled++
	if grace <= 0 {
		w.endTask(t, TaskKilled, reason)
		return
	}
	w.after(grace, func() { w.endTask(t, TaskKilled, reason) })
}

// endTask moves a live task to a terminal state and frees what it held; Marathon then replaces it if
// its app still wants it. A task that already ended is left alone.
func (w *World) endTask(t *Task, state TaskState, reason string) {
	if w.tasks[t.ID] != t {
		return
	}
	t.State = state
	t.Healthy = false
	t.Statuses = append(t.Statuses, TaskStatus{State: state, Timestamp: w.now})
	delete(w.tasks, t.ID)
	if state == TaskLost || state == TaskGone {
		w.stats.TasksLost++
	}
	a, onAgent := w.agents[t.AgentID]
	if onAgent {
		a.tasks = removeTask(a.tasks, t)
		a.Allocated = a.Allocated.Sub(t.Resources).milli()
		if a.appTasks[t.AppID]--; a.appTasks[t.AppID] <= 0 {
			delete(a.appTasks, t.AppID)
		}
		for _, p := range t.Ports {
			delete(a.usedPorts, p)
		}
	}
	w.completedTasks = append(w.completedTasks, t)
	if len(w.completedTasks) > 2*completedTaskLimit {
		// Trim in batches: one copy per completedTaskLimit endings instead of one per ending.
		w.completedTasks = append(w.completedTasks[:0], w.completedTasks[len(w.completedTasks)-completedTaskLimit:]...)
	}
	if w.mesosEvents.listening() {
		w.mesosEvents.publish(MesosEvent{Type: MesosTaskUpdated, Time: w.now, Task: taskCopy(t), AgentID: t.AgentID})
	}
	w.publishStatus(t)
	w.freed()
	if app := w.apps[t.AppID]; app != nil {
		app.tasks = removeTask(app.tasks, t)
		w.reconcileApp(app)
	}
	if onAgent {
		w.checkDrain(a)
	}
}

func removeTask(list []*Task, t *Task) []*Task {
	for i, x := range list {
		if x == t {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// freed notes that resources became available, so waiting instances are worth another placement pass.
func (w *World) freed() {
	w.freedGeneration++
	w.placeDirty = true
}
