package marathonapi

import (
	"encoding/json"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// The JSON shapes of Marathon's v2 objects, built from the model inside World.View (model pointers are
// valid only there). Field names and nesting follow the upstream examples (fixtures/marathon) and
// Marathon 1.x's Formats/RAML; golden_test.go holds us to them.

// timestamp formats a time as Marathon does: ISO-8601 in UTC with milliseconds. A zero time is null.
func timestamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// Marathon's local_port_min and local_port_max, the range it takes service ports from.
const (
	servicePortMin = 10000
	servicePortMax = 20000
)

// servicePorts gives each port of an app its service port: the one the client asked for in
// portDefinitions, or else one Marathon would have picked. The model allocates none, so a hash of the
// app id keeps them stable across requests and simulator runs; two apps may collide, which nothing in
// Marmot relies on.
func servicePorts(a *simulate.App) []int {
	_, ports := portDefinitions(a)
	return ports
}

// servicePortBase is the service port of an app's first port unless the client chose one.
func servicePortBase(appID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(appID))
	return servicePortMin + int(h.Sum32()%uint32(servicePortMax-servicePortMin-64))
}

// portDefinitions are the app's port definitions as the client sent them (kept in Extra, since the
// model only counts ports), with the service ports filled in where the client left port 0.
func portDefinitions(a *simulate.App) ([]map[string]any, []int) {
	var given []map[string]any
	if raw, ok := a.Extra["portDefinitions"]; ok {
		if json.Unmarshal(raw, &given) != nil || len(given) != a.Ports {
			given = nil // a definition the model's port count no longer matches
		}
	}
	base := servicePortBase(a.ID)
	defs := make([]map[string]any, a.Ports)
	ports := make([]int, a.Ports)
	for i := range defs {
		d := map[string]any{}
		if given != nil && given[i] != nil {
			d = given[i]
		}
		port, _ := d["port"].(float64)
		if port < 1 || port > 65535 || port != float64(int(port)) {
			port = float64(base + i)
		}
		ports[i] = int(port)
		d["port"] = ports[i]
		if _, ok := d["protocol"]; !ok {
			d["protocol"] = "tcp"
		}
		if _, ok := d["labels"]; !ok {
			d["labels"] = map[string]string{}
		}
		defs[i] = d
	}
	return defs, ports
}

// definitionDefaults are the values Marathon reports for definition fields the model does not keep
// (app_list.json), in canonical JSON. A client's own values arrive in Extra and replace them; a client
// that sends a default back is asking for no field of its own (appdef.go).
var definitionDefaults = map[string]json.RawMessage{
	"args":         json.RawMessage(`null`),
	"user":         json.RawMessage(`null`),
	"env":          json.RawMessage(`{}`),
	"executor":     json.RawMessage(`""`),
	"uris":         json.RawMessage(`[]`),
	"fetch":        json.RawMessage(`[]`),
	"container":    json.RawMessage(`null`),
	"dependencies": json.RawMessage(`[]`),
	"requirePorts": json.RawMessage(`false`),
	"secrets":      json.RawMessage(`{}`),
}

// appDefinition is the app's definition: what a client sent (the model's fields, plus Extra verbatim)
// with Marathon's defaults for what it did not, and the version. The queue and api_post_event carry
// this; the app endpoints add the status fields.
func appDefinition(a *simulate.App) map[string]any {
	m := map[string]any{}
	for k, v := range definitionDefaults {
		m[k] = v
	}
	for k, v := range a.Extra {
		m[k] = v
	}
	defs, ports := portDefinitions(a)
	role := a.Role
	if role == "" {
		role = "*"
	}
	var roles any // Marathon reports null when no roles were given (app_list.json)
	if len(a.AcceptedResourceRoles) > 0 {
		roles = a.AcceptedResourceRoles
	}
	var cmd any
	if a.Cmd != "" {
		cmd = a.Cmd
	}
	constraints := a.Constraints
	if constraints == nil {
		constraints = [][]string{}
	}
	labels := a.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	m["id"] = a.ID
	m["instances"] = a.Instances
	m["cpus"] = a.CPUs
	m["mem"] = a.Mem
	m["disk"] = a.Disk
	m["gpus"] = a.GPUs
	m["cmd"] = cmd
	m["ports"] = ports
	m["portDefinitions"] = defs
	m["constraints"] = constraints
	m["labels"] = labels
	m["healthChecks"] = healthChecks(a.HealthChecks)
	m["acceptedResourceRoles"] = roles
	m["role"] = role
	m["backoffSeconds"] = a.BackoffSeconds
	m["backoffFactor"] = a.BackoffFactor
	m["maxLaunchDelaySeconds"] = a.MaxLaunchDelaySeconds
	m["upgradeStrategy"] = map[string]any{
		"minimumHealthCapacity": a.UpgradeStrategy.MinimumHealthCapacity,
		"maximumOverCapacity":   a.UpgradeStrategy.MaximumOverCapacity,
	}
	m["version"] = timestamp(a.Version)
	m["versionInfo"] = map[string]any{
		"lastScalingAt":      timestamp(a.LastScalingAt),
		"lastConfigChangeAt": timestamp(a.LastConfigChangeAt),
	}
	return m
}

func healthChecks(hcs []simulate.HealthCheck) []map[string]any {
	out := make([]map[string]any, len(hcs))
	for i, hc := range hcs {
		out[i] = map[string]any{
			"protocol":               hc.Protocol,
			"path":                   hc.Path,
			"portIndex":              hc.PortIndex,
			"gracePeriodSeconds":     hc.GracePeriodSeconds,
			"intervalSeconds":        hc.IntervalSeconds,
			"timeoutSeconds":         hc.TimeoutSeconds,
			"maxConsecutiveFailures": hc.MaxConsecutiveFailures,
			"ignoreHttp1xx":          false,
			"delaySeconds":           15,
		}
	}
	return out
}

// embed says which optional parts of an app to include (the `embed` query parameter).
type embed struct {
	tasks, lastTaskFailure, readiness, taskStats bool
}

// appStatus is an app as GET /v2/apps reports it: the definition with counts and deployments, which
// Marathon always adds, and the embedded parts asked for.
func appStatus(v *simulate.View, a *simulate.App, e embed) map[string]any {
	m := appDefinition(a)
	staged, running, healthy, unhealthy := a.Counts()
	m["tasksStaged"] = staged
	m["tasksRunning"] = running
	m["tasksHealthy"] = healthy
	m["tasksUnhealthy"] = unhealthy
	deployments := []map[string]string{}
	if d := a.Deployment(); d != nil {
		deployments = append(deployments, map[string]string{"id": d.ID})
	}
	m["deployments"] = deployments
	if e.tasks {
		tasks := make([]map[string]any, 0, len(a.Tasks()))
		for _, t := range a.Tasks() {
			tasks = append(tasks, taskJSON(v, t, a))
		}
		m["tasks"] = tasks
	}
	if e.lastTaskFailure {
		if f := lastTaskFailure(v, a); f != nil {
			m["lastTaskFailure"] = f
		}
	}
	if e.readiness {
		m["readinessCheckResults"] = []any{}
	}
	if e.taskStats {
		m["taskStats"] = taskStats(v.Now(), a)
	}
	return m
}

// lastTaskFailure is the app's most recent task that ended in failure, if the model still remembers it.
func lastTaskFailure(v *simulate.View, a *simulate.App) map[string]any {
	done := v.CompletedTasks()
	for i := len(done) - 1; i >= 0; i-- {
		t := done[i]
		if t.AppID != a.ID || (t.State != simulate.TaskFailed && t.State != simulate.TaskLost && t.State != simulate.TaskGone) {
			continue
		}
		at := t.StagedAt
		if n := len(t.Statuses); n > 0 {
			at = t.Statuses[n-1].Timestamp
		}
		return map[string]any{
			"appId":     t.AppID,
			"host":      t.Host,
			"message":   "",
			"slaveId":   t.AgentID,
			"state":     string(t.State),
			"taskId":    t.ID,
			"timestamp": timestamp(at),
			"version":   timestamp(t.Version),
		}
	}
	return nil
}

// taskStats is embed=apps.taskStats: counts and life times of all tasks, and of those of the current
// config version, in Marathon's TaskStatsByVersion shape.
func taskStats(now time.Time, a *simulate.App) map[string]any {
	out := map[string]any{}
	var latest []*simulate.Task
	for _, t := range a.Tasks() {
		if t.Version.Equal(a.LastConfigChangeAt) {
			latest = append(latest, t)
		}
	}
	if s := statsOf(now, a, a.Tasks()); s != nil {
		out["totalSummary"] = s
	}
	if s := statsOf(now, a, latest); s != nil {
		out["withLatestConfig"] = s
	}
	return out
}

func statsOf(now time.Time, a *simulate.App, tasks []*simulate.Task) map[string]any {
	if len(tasks) == 0 {
		return nil
	}
	counts := map[string]int{"staged": 0, "running": 0, "healthy": 0, "unhealthy": 0}
	var lives []float64
	for _, t := range tasks {
		switch t.State {
		case simulate.TaskStaging, simulate.TaskStarting:
			counts["staged"]++
		case simulate.TaskRunning:
			counts["running"]++
			if len(a.HealthChecks) > 0 {
				if t.Healthy {
					counts["healthy"]++
				} else {
					counts["unhealthy"]++
				}
			}
		}
		if !t.StartedAt.IsZero() {
			lives = append(lives, now.Sub(t.StartedAt).Seconds())
		}
	}
	stats := map[string]any{"counts": counts}
	if len(lives) > 0 {
		sort.Float64s(lives)
		sum := 0.0
		for _, l := range lives {
			sum += l
		}
		median := lives[len(lives)/2]
		if len(lives)%2 == 0 {
			median = (lives[len(lives)/2-1] + lives[len(lives)/2]) / 2
		}
		stats["lifeTime"] = map[string]float64{"averageSeconds": sum / float64(len(lives)), "medianSeconds": median}
	}
	return map[string]any{"stats": stats}
}

// taskJSON is a task as the task endpoints and embed=apps.tasks report it. app may be nil (a task whose
// app is gone).
func taskJSON(v *simulate.View, t *simulate.Task, app *simulate.App) map[string]any {
	ports := t.Ports
	if ports == nil {
		ports = []uint64{}
	}
	m := map[string]any{
		"id":           t.ID,
		"appId":        t.AppID,
		"host":         t.Host,
		"slaveId":      t.AgentID,
		"ports":        ports,
		"servicePorts": []int{},
		"stagedAt":     timestamp(t.StagedAt),
		"version":      timestamp(t.Version),
		"state":        string(t.State),
		"ipAddresses":  ipAddresses(t),
		"localVolumes": []any{},
		"role":         "*",
		"region":       v.Region(),
	}
	if !t.StartedAt.IsZero() {
		m["startedAt"] = timestamp(t.StartedAt)
	}
	if a, ok := v.Agent(t.AgentID); ok {
		if a.Role != "" {
			m["role"] = a.Role
		}
		if inst, ok := v.Instance(a.InstanceID); ok && inst.AZ != "" {
			m["zone"] = inst.AZ
		}
	}
	if app != nil {
		m["servicePorts"] = servicePorts(app)
		if len(app.HealthChecks) > 0 {
			m["healthCheckResults"] = healthResults(t, len(app.HealthChecks))
		}
	}
	return m
}

func ipAddresses(t *simulate.Task) []map[string]string {
	if t.IP == "" {
		return []map[string]string{}
	}
	return []map[string]string{{"ipAddress": t.IP, "protocol": "IPv4"}}
}

// healthResults has one result per health check once the task runs; Marathon ≥1.4 names the instance
// ("instanceId"), not the task, which is why go-marathon's TaskID stays empty (wire-facts §4).
func healthResults(t *simulate.Task, checks int) []map[string]any {
	out := []map[string]any{}
	if t.State != simulate.TaskRunning {
		return out
	}
	for range checks {
		r := map[string]any{
			"alive":               t.Healthy,
			"consecutiveFailures": 0,
			"firstSuccess":        nil,
			"lastSuccess":         nil,
			"lastFailure":         nil,
			"lastFailureCause":    nil,
			"instanceId":          t.ID,
		}
		if t.Healthy {
			r["firstSuccess"], r["lastSuccess"] = timestamp(t.StartedAt), timestamp(t.StartedAt)
		} else {
			r["consecutiveFailures"] = 1
			r["lastFailure"] = timestamp(t.StartedAt)
		}
		out = append(out, r)
	}
	return out
}

// deploymentAction is one action of a deployment step.
func deploymentAction(d *simulate.Deployment) map[string]any {
	return map[string]any{"action": d.Action, "app": d.AppID}
}

// deploymentSteps are the plan's steps; the model's deployments touch one app in one step.
func deploymentSteps(d *simulate.Deployment) []map[string]any {
	return []map[string]any{{"actions": []map[string]any{deploymentAction(d)}}}
}

// deploymentJSON is one entry of GET /v2/deployments.
func deploymentJSON(d *simulate.Deployment) map[string]any {
	current := deploymentAction(d)
	current["readinessCheckResults"] = []any{}
	return map[string]any{
		"id":             d.ID,
		"version":        timestamp(d.Version),
		"affectedApps":   []string{d.AppID},
		"affectedPods":   []string{},
		"steps":          deploymentSteps(d),
		"currentActions": []map[string]any{current},
		"currentStep":    d.CurrentStep,
		"totalSteps":     d.TotalSteps,
	}
}

// queueJSON is one entry of GET /v2/queue.
func queueJSON(v *simulate.View, e simulate.QueueEntry, offers bool) map[string]any {
	role := e.App.Role
	if role == "" {
		role = "*"
	}
	s := e.Summary
	reasons := make([]map[string]any, len(s.Reasons))
	for i, r := range s.Reasons {
		reasons[i] = map[string]any{"reason": r.Reason, "declined": r.Declined, "processed": r.Processed}
	}
	summary := map[string]any{
		"processedOffersCount":    s.Processed,
		"unusedOffersCount":       s.Unused,
		"rejectSummaryLastOffers": reasons,
		// The model evaluates one round of offers, so the launch attempt's summary is that round too.
		"rejectSummaryLaunchAttempt": reasons,
	}
	if !s.LastUnusedAt.IsZero() {
		summary["lastUnusedOfferAt"] = timestamp(s.LastUnusedAt)
	}
	if !s.LastUsedAt.IsZero() {
		summary["lastUsedOfferAt"] = timestamp(s.LastUsedAt)
	}
	m := map[string]any{
		"count": e.Count,
		"role":  role,
		"delay": map[string]any{
			// Marathon truncates to whole seconds (Duration.toSeconds); go-marathon decodes an int.
			"timeLeftSeconds": int64(e.DelayLeft / time.Second),
			"overdue":         e.Overdue,
		},
		"since":                  timestamp(e.Since),
		"processedOffersSummary": summary,
		"app":                    appDefinition(e.App),
	}
	if offers {
		unused := make([]map[string]any, 0, len(s.LastUnusedFrom))
		for i, o := range s.LastUnusedFrom {
			unused = append(unused, unusedOffer(v, i, o))
		}
		m["lastUnusedOffers"] = unused
	}
	return m
}

// unusedOffer is one of lastUnusedOffers: the agent's free resources as the offer Mesos would make.
func unusedOffer(v *simulate.View, i int, o simulate.UnusedOffer) map[string]any {
	role := "*"
	var attrs []map[string]any
	var ranges []map[string]uint64
	if a, ok := v.Agent(o.AgentID); ok {
		if a.Role != "" {
			role = a.Role
		}
		for _, at := range a.Attributes {
			attr := map[string]any{"name": at.Name}
			if at.Scalar != nil {
				attr["scalar"] = *at.Scalar
			} else {
				attr["text"] = at.Text
			}
			attrs = append(attrs, attr)
		}
		for _, r := range a.Ports {
			ranges = append(ranges, map[string]uint64{"begin": r.Begin, "end": r.End})
		}
	}
	scalar := func(name string, amount float64) map[string]any {
		return map[string]any{"name": name, "scalar": amount, "role": role}
	}
	resources := []map[string]any{scalar("cpus", o.Free.CPUs), scalar("mem", o.Free.Mem), scalar("disk", o.Free.Disk)}
	if o.Free.GPUs > 0 {
		resources = append(resources, scalar("gpus", o.Free.GPUs))
	}
	if len(ranges) > 0 {
		resources = append(resources, map[string]any{"name": "ports", "ranges": ranges, "role": role})
	}
	if attrs == nil {
		attrs = []map[string]any{}
	}
	return map[string]any{
		"offer": map[string]any{
			"id":         o.AgentID + "-O" + strconv.Itoa(i),
			"agentId":    o.AgentID,
			"hostname":   o.Hostname,
			"resources":  resources,
			"attributes": attrs,
		},
		"timestamp": timestamp(v.Now()),
		"reason":    slices.Clone(o.Reasons),
	}
}
