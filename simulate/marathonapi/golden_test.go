package marathonapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// Golden tests against the upstream examples in fixtures/marathon: every field an example shows must
// appear in our answer at the same place with the same JSON kind (values are not compared; fields the
// example does not show are allowed). Where an example cannot apply, the exception says why.

// shapeCheck compares the structure of our JSON with an upstream example.
type shapeCheck struct {
	t        *testing.T
	name     string
	optional map[string]string // example path → why we need not have it (it and everything under it)
	covered  map[string]bool
}

// dataMaps are objects whose keys are data (label names, variables), not schema: only their kind counts.
var dataMaps = map[string]bool{"labels": true, "env": true, "secrets": true}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "?"
}

// matchShape checks ours against example; optional maps example paths ("a.b[].c") to reasons.
func matchShape(t *testing.T, name string, example, ours any, optional map[string]string) {
	t.Helper()
	s := &shapeCheck{t: t, name: name, optional: optional, covered: map[string]bool{}}
	s.walk(example, ours, "")
	want := map[string]bool{}
	examplePaths(example, "", want)
	var missing []string
	for p := range want {
		if !s.covered[p] && !s.isOptional(p) {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s: fields of the upstream example missing from our answer: %v", name, missing)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func last(path string) string {
	path = strings.TrimSuffix(path, "[]")
	return path[strings.LastIndex(path, ".")+1:]
}

func examplePaths(v any, path string, out map[string]bool) {
	if path != "" {
		out[path] = true
	}
	switch x := v.(type) {
	case map[string]any:
		if dataMaps[last(path)] {
			return
		}
		for k, e := range x {
			examplePaths(e, join(path, k), out)
		}
	case []any:
		for _, e := range x {
			examplePaths(e, path+"[]", out)
		}
	}
}

func (s *shapeCheck) isOptional(path string) bool {
	for p := range s.optional {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[]") {
			return true
		}
	}
	return false
}

func (s *shapeCheck) walk(example, ours any, path string) {
	if example == nil || ours == nil {
		return // null in either: the example does not pin a kind, or ours has no value to show
	}
	if ke, ko := kindOf(example), kindOf(ours); ke != ko {
		if !s.isOptional(path) {
			s.t.Errorf("%s: %s is a JSON %s, the example has a %s", s.name, path, ko, ke)
		}
		return
	}
	switch ex := example.(type) {
	case map[string]any:
		if dataMaps[last(path)] {
			return
		}
		o := ours.(map[string]any)
		for k, e := range ex {
			if v, ok := o[k]; ok {
				s.covered[join(path, k)] = true
				s.walk(e, v, join(path, k))
			}
		}
	case []any:
		o := ours.([]any)
		for _, e := range ex {
			for _, v := range o {
				s.covered[path+"[]"] = true
				s.walk(e, v, path+"[]")
			}
		}
	}
}

func fixtureJSON(t *testing.T, name string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(readFixture(t, name), &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// goldenCluster is a cluster in a state where every list has entries: a deployment that cannot
// finish, apps waiting in the queue with a container, a constraint and rejected offers.
func goldenCluster(t *testing.T) *testCluster {
	c := newTestCluster(t)
	expect(t, c.do(0, "PUT", "/v2/apps/data/etl", map[string]any{"instances": 20}), http.StatusOK)
	expect(t, c.do(0, "PUT", "/v2/apps/data/pinned", map[string]any{"instances": 2}), http.StatusOK)
	expect(t, c.do(0, "POST", "/v2/apps", map[string]any{
		"id": "/batch/huge", "cpus": 64, "mem": 512, "instances": 1, "cmd": "sleep 1000",
		"constraints": [][]string{{"hostname", "UNIQUE"}},
		"container": map[string]any{"type": "DOCKER", "docker": map[string]any{
			"image": "datadog/docker-dd-agent:latest", "network": "HOST", "privileged": true, "forcePullImage": false}},
		"user": "root", "env": map[string]string{"A": "b"}, "executor": "//cmd", "uris": []string{"http://example.com/x"},
	}), http.StatusCreated)
	c.advance(10 * time.Second)
	return c
}

func TestGoldenAppList(t *testing.T) {
	c := goldenCluster(t)
	r := c.do(0, "GET", "/v2/apps", nil)
	expect(t, r, http.StatusOK)
	matchShape(t, "app_list.json", fixtureJSON(t, "docs-examples/app_list.json"), r.json(t), nil)
}

func TestGoldenApp(t *testing.T) {
	c := newTestCluster(t)
	// POST the RAML's app example and GET it back: what the model does not keep must come back verbatim.
	expect(t, c.do(0, "POST", "/v2/apps", readFixture(t, "docs-examples/app.json")), http.StatusCreated)
	r := c.do(0, "GET", "/v2/apps/foo", nil)
	expect(t, r, http.StatusOK)
	matchShape(t, "app.json", fixtureJSON(t, "docs-examples/app.json"), r.object(t)["app"], nil)

	// GET /v2/apps/{id} wraps the app in "app" (the RAML example wrongly shows "apps"). An app with
	// constraints, uris and a running deployment shows every part of the example.
	c = goldenCluster(t)
	r = c.do(0, "GET", "/v2/apps/batch/huge", nil)
	expect(t, r, http.StatusOK)
	list := fixtureJSON(t, "docs-examples/app_list.json").(map[string]any)["apps"].([]any)[0]
	matchShape(t, "app_list.json (single app)", list, r.object(t)["app"], nil)
}

func TestGoldenTasks(t *testing.T) {
	c := newTestCluster(t)
	r := c.do(0, "GET", "/v2/tasks", nil)
	expect(t, r, http.StatusOK)
	matchShape(t, "tasks.json", fixtureJSON(t, "docs-examples/tasks.json"), r.json(t), nil)

	r = c.do(0, "GET", "/v2/apps/web/frontend/tasks", nil)
	expect(t, r, http.StatusOK)
	matchShape(t, "app_tasks.json", fixtureJSON(t, "docs-examples/app_tasks.json"), r.json(t), nil)

	_, tasks, _ := c.app("/web/frontend")
	r = c.do(0, "DELETE", "/v2/apps/web/frontend/tasks/"+tasks[0].ID, nil)
	expect(t, r, http.StatusOK)
	matchShape(t, "app_task.json", fixtureJSON(t, "docs-examples/app_task.json"), r.json(t), nil)
}

func TestGoldenQueue(t *testing.T) {
	c := goldenCluster(t)
	r := c.do(0, "GET", "/v2/queue?embed=lastUnusedOffers", nil)
	expect(t, r, http.StatusOK)
	matchShape(t, "queue.json", fixtureJSON(t, "docs-examples/queue.json"), r.json(t), map[string]string{
		"queue[].processedOffersSummary.lastUsedOfferAt": "optional in queue.raml; no offer fits the apps that wait",
		// A Mesos Value has one of scalar, ranges and set by its type; the example shows all three at once.
		"queue[].lastUnusedOffers[].offer.resources[].set":     "the simulated agents offer no SET resources",
		"queue[].lastUnusedOffers[].offer.attributes[].scalar": "the small scenario's attributes are text",
		"queue[].lastUnusedOffers[].offer.attributes[].ranges": "agent attributes are text or scalar in the model",
		"queue[].lastUnusedOffers[].offer.attributes[].set":    "agent attributes are text or scalar in the model",
	})
}

func TestGoldenDeployments(t *testing.T) {
	c := goldenCluster(t)
	r := c.do(0, "GET", "/v2/deployments", nil)
	expect(t, r, http.StatusOK)
	matchShape(t, "deployments.json", fixtureJSON(t, "docs-examples/deployments.json"), r.json(t), map[string]string{
		"[].affectedPods[]":                           "the model has no pods",
		"[].steps[].actions[].pod":                    "the model has no pods",
		"[].currentActions[].readinessCheckResults[]": "the model has no readiness checks",
	})

	r = c.do(0, "PUT", "/v2/apps/web/frontend", map[string]any{"instances": 3})
	expect(t, r, http.StatusOK)
	matchShape(t, "deployments_result.json", fixtureJSON(t, "docs-examples/deployments_result.json"), r.json(t), nil)
	if r.header.Get(headerDeploymentID) != r.object(t)["deploymentId"] {
		t.Errorf("Marathon-Deployment-Id %q and body %s disagree", r.header.Get(headerDeploymentID), r.body)
	}
}

func TestGoldenInfoAndLeader(t *testing.T) {
	c := newTestCluster(t)
	r := c.do(0, "GET", "/v2/info", nil)
	expect(t, r, http.StatusOK)
	matchShape(t, "info.json", fixtureJSON(t, "docs-examples/info.json"), r.json(t), map[string]string{
		"marathon_config.access_control_allow_origin[]": "set only by --access_control_allow_origin; the simulator sends no CORS headers",
	})

	r = c.do(1, "GET", "/v2/leader", nil)
	expect(t, r, http.StatusOK)
	matchShape(t, "leader-200", fixtureJSON(t, "errors/leader-200.leader-raml.json"), r.json(t), nil)

	// The leader's own 404: only reachable when leadership vanishes between the proxy filter and the
	// resource, so the resource is called directly.
	s := New(c.world, 0, c.addrs).(*server)
	if err := c.world.SetMarathonLeader(-1); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.getLeader(rec, httptest.NewRequest("GET", "/v2/leader", nil))
	sameJSON(t, "leader-404", readFixture(t, "errors/leader-404.leader-raml.json"), rec.Body.Bytes())
	if rec.Code != http.StatusNotFound {
		t.Errorf("leader-404: status %d", rec.Code)
	}
}

// sameJSON fails unless the two documents are equal as JSON values.
func sameJSON(t *testing.T, name string, want, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: fixture: %v", name, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: ours is not JSON: %s", name, got)
	}
	wb, _ := json.Marshal(w)
	gb, _ := json.Marshal(g)
	if string(wb) != string(gb) {
		t.Errorf("%s:\n got %s\nwant %s", name, gb, wb)
	}
}

func TestGoldenErrors(t *testing.T) {
	c := newTestCluster(t)

	r := c.do(0, "GET", "/v2/apps/not_existent", nil)
	expect(t, r, http.StatusNotFound)
	sameJSON(t, "404", readFixture(t, "errors/404-app-not-found.apps-raml.json"), r.body)

	r = c.do(0, "PUT", "/v2/apps/web/frontend", `{"id": 5}`)
	expect(t, r, http.StatusBadRequest)
	sameJSON(t, "400", readFixture(t, "errors/400-invalid-json.traits-raml.json"), r.body)

	r = c.do(0, "PUT", "/v2/apps/web/frontend", map[string]any{"upgradeStrategy": map[string]any{"minimumHealthCapacity": 1.5}})
	expect(t, r, http.StatusUnprocessableEntity)
	sameJSON(t, "422", readFixture(t, "errors/422-object-not-valid.traits-raml.json"), r.body)

	expect(t, c.do(0, "PUT", "/v2/apps/data/etl", map[string]any{"instances": 20}), http.StatusOK)
	r = c.do(0, "PUT", "/v2/apps/data/etl", map[string]any{"instances": 1})
	expect(t, r, http.StatusConflict)
	matchShape(t, "409", fixtureJSON(t, "errors/409-app-locked.traits-raml.json"), r.json(t), nil)
	if want := fixtureJSON(t, "errors/409-app-locked.traits-raml.json").(map[string]any)["message"]; r.object(t)["message"] != want {
		t.Errorf("409 message %q, want %q", r.object(t)["message"], want)
	}

	// A syntax error is a 400 "Invalid JSON" too, with the parser's words.
	r = c.do(0, "POST", "/v2/apps", `{"id": "/x",`)
	expect(t, r, http.StatusBadRequest)
	if r.object(t)["message"] != "Invalid JSON" {
		t.Errorf("syntax error: %s", r.body)
	}
	// The version rule (wire-facts §3.2): never PUT a GET'd app back wholesale.
	r = c.do(0, "PUT", "/v2/apps/web/frontend", map[string]any{"version": "2015-09-25T15:13:48.343Z", "instances": 3})
	expect(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(string(r.body), "The 'version' field may only be combined with the 'id' field.") {
		t.Errorf("version rule: %s", r.body)
	}
}

// sseFrames parses the SSE example, which the docs render with LF line ends.
func sseFrames(t *testing.T, name string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, block := range strings.Split(strings.ReplaceAll(string(readFixture(t, name)), "\r\n", "\n"), "\n\n") {
		var event, data string
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
			}
		}
		if event == "" {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatalf("%s: %s: %v", name, event, err)
		}
		out[event] = v
	}
	return out
}

func TestGoldenEvents(t *testing.T) {
	c := newTestCluster(t)
	s := c.openStream(0, "/v2/events", "text/event-stream")

	// A new app with a health check, a deployment cancelled by force, and a deletion: every event type
	// the model emits.
	expect(t, c.do(0, "POST", "/v2/apps", map[string]any{"id": "/golden/web", "cpus": 0.1, "mem": 32, "instances": 1,
		"healthChecks": []map[string]any{{"protocol": "HTTP", "path": "/health"}}}), http.StatusCreated)
	s.waitFor(c, "the new app's deployment_success", func(text string) bool {
		return hasFrame(t, text, func(f frame) bool { return f.event == "deployment_success" })
	})
	expect(t, c.do(0, "PUT", "/v2/apps/data/etl", map[string]any{"instances": 20}), http.StatusOK)
	expect(t, c.do(0, "PUT", "/v2/apps/data/etl?force=true", map[string]any{"instances": 1}), http.StatusOK)
	expect(t, c.do(0, "DELETE", "/v2/apps/golden/web", nil), http.StatusOK)
	text := s.waitFor(c, "app_terminated_event", func(text string) bool {
		return hasFrame(t, text, func(f frame) bool { return f.event == "app_terminated_event" })
	})

	ours := map[string]any{}
	for _, f := range frames(t, text) {
		if _, seen := ours[f.event]; !seen {
			ours[f.event] = any(f.data)
		}
	}
	wantTypes := []string{"event_stream_attached", "api_post_event", "group_change_success", "deployment_info",
		"status_update_event", "instance_changed_event", "health_status_changed_event", "instance_health_changed_event",
		"deployment_step_success", "deployment_success", "deployment_failed", "app_terminated_event"}
	if got := slices.Sorted(maps.Keys(ours)); !slices.Equal(got, slices.Sorted(slices.Values(wantTypes))) {
		t.Errorf("event types %v, want %v", got, wantTypes)
	}

	// The deployment events' doc examples predate Marathon 1.1.2: since then a plan's steps are
	// {"actions":[{"action","app"}]} (Formats.scala; go-marathon's StepActions), and an action names
	// its kind in "action", not "type".
	planFormat := map[string]string{
		"plan.steps[].action":        "steps hold actions since Marathon 1.1.2",
		"plan.steps[].app":           "steps hold actions since Marathon 1.1.2",
		"currentStep.actions[].type": `"action" since Marathon 1.1.2`,
	}
	for typ, data := range ours {
		var example any
		var optional map[string]string
		switch typ {
		case "event_stream_attached":
			// The event-bus doc shows a callback subscription's fields for this event; the SSE example
			// shows what HttpEventStreamServlet really sends.
			example = sseFrames(t, "docs-examples/events.txt")[typ]
		case "deployment_info", "deployment_step_success":
			example, optional = fixtureJSON(t, "events/"+typ+".event-bus-doc.json"), planFormat
		default:
			example = fixtureJSON(t, "events/"+typ+".event-bus-doc.json")
		}
		matchShape(t, typ, example, data, optional)
	}
	matchShape(t, "status_update_event (events.txt)", sseFrames(t, "docs-examples/events.txt")["status_update_event"], ours["status_update_event"], nil)
}

// TestGoldenRequests: the bodies go-marathon really sends and the RAML's request examples are accepted,
// with the effect they ask for.
func TestGoldenRequests(t *testing.T) {
	c := newTestCluster(t)
	expect(t, c.do(0, "POST", "/v2/apps", map[string]any{"id": "/myapp", "instances": 2, "cpus": 0.1, "mem": 32,
		"labels": map[string]string{"marmot.hibernate": "true"}}), http.StatusCreated)
	c.settle(func(v *simulate.View) bool { a, _ := v.App("/myapp"); return a.Deployment() == nil })
	before, _, _ := c.app("/myapp")

	// go-marathon's ScaleApplicationInstances("myapp", 0, true): "ports":null and "dependencies":null mean
	// "not given"; the scale restarts nothing and keeps the labels and ports.
	r := c.do(0, "PUT", "/v2/apps/myapp?force=true", readFixture(t, "go-marathon-wire/scale_to_zero.PUT_v2_apps_myapp_force_true.request.json"))
	expect(t, r, http.StatusOK)
	after, _, _ := c.app("/myapp")
	if after.Instances != 0 || !after.LastConfigChangeAt.Equal(before.LastConfigChangeAt) || after.Ports != before.Ports || after.Labels["marmot.hibernate"] != "true" {
		t.Errorf("scale to zero: instances %d, config %v→%v, ports %d→%d, labels %v", after.Instances,
			before.LastConfigChangeAt, after.LastConfigChangeAt, before.Ports, after.Ports, after.Labels)
	}

	// go-marathon's UpdateApplication of a whole (docker) app: labels replaced, container kept verbatim.
	r = c.do(0, "PUT", "/v2/apps/myapp", readFixture(t, "go-marathon-wire/update_application.PUT_v2_apps_myapp.request.json"))
	expect(t, r, http.StatusOK)
	r = c.do(0, "GET", "/v2/apps/myapp", nil)
	app := r.object(t)["app"].(map[string]any)
	if app["instances"] != 3.0 || !maps.Equal(toStrings(app["labels"]), map[string]string{"hibernated": "true"}) {
		t.Errorf("after update_application: instances %v labels %v", app["instances"], app["labels"])
	}
	if ct, _ := app["container"].(map[string]any); ct["type"] != "DOCKER" {
		t.Errorf("container %v", app["container"])
	}

	// The RAML examples: PUT /v2/apps (several apps), PATCH /v2/apps/{id}, PATCH /v2/apps, POST.
	expect(t, c.do(0, "PUT", "/v2/apps", readFixture(t, "docs-examples/apps_create.json")), http.StatusOK)
	sleep60, _, ok := c.app("/test/sleep60")
	if !ok || sleep60.Instances != 2 || sleep60.CPUs != 0.3 || string(sleep60.Extra["dependencies"]) != `["/test/sleep120","/other/namespace/or/app"]` {
		t.Errorf("apps_create: %v %+v", ok, sleep60)
	}
	if _, _, ok := c.app("/test/sleep120"); !ok {
		t.Error("apps_create: /test/sleep120 missing")
	}
	c.settle(func(v *simulate.View) bool { return len(v.Deployments()) == 0 })
	expect(t, c.do(0, "PATCH", "/v2/apps", readFixture(t, "docs-examples/apps_patch.json")), http.StatusOK)

	expect(t, c.do(0, "POST", "/v2/apps", readFixture(t, "docs-examples/app-check-http-example.json")), http.StatusCreated)
	if a, _, ok := c.app("/http-index-test"); !ok || a.Ports != 1 || string(a.Extra["check"]) == "" {
		t.Errorf("app-check-http-example: %v %+v", ok, a)
	}
	expect(t, c.do(0, "POST", "/v2/apps", map[string]any{"id": "/foo", "instances": 1, "cpus": 0.1, "mem": 16}), http.StatusCreated)
	c.settle(func(v *simulate.View) bool { a, _ := v.App("/foo"); return a.Deployment() == nil })
	expect(t, c.do(0, "PATCH", "/v2/apps/foo", readFixture(t, "docs-examples/app_patch.json")), http.StatusOK)
	if a, _, _ := c.app("/foo"); a.Instances != 2 {
		t.Errorf("app_patch: instances %d", a.Instances)
	}
	// PATCH never creates.
	expect(t, c.do(0, "PATCH", "/v2/apps/nope", map[string]any{"instances": 1}), http.StatusNotFound)
}

func toStrings(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, x := range m {
		out[k], _ = x.(string)
	}
	return out
}
