package marathonapi

import (
	"net/http"
	"reflect"
	"slices"
	"testing"

	"github.com/marmot-project/marmot/simulate"
)

func TestListFiltersAndEmbed(t *testing.T) {
	c := newTestCluster(t)
	ids := func(uri string) []string {
		t.Helper()
		r := c.do(0, "GET", uri, nil)
		expect(t, r, http.StatusOK)
		var out []string
		for _, a := range r.object(t)["apps"].([]any) {
			out = append(out, a.(map[string]any)["id"].(string))
		}
		return out
	}
	// AppsResource.search: id and cmd match case-insensitively by "contains".
	if got := ids("/v2/apps?id=WEB"); !slices.Equal(got, []string{"/web/docs", "/web/frontend"}) {
		t.Errorf("id=WEB: %v", got)
	}
	expect(t, c.do(0, "PUT", "/v2/apps/data/etl", map[string]any{"cmd": "python etl.py --all"}), http.StatusOK)
	if got := ids("/v2/apps?cmd=ETL.PY"); !slices.Equal(got, []string{"/data/etl"}) {
		t.Errorf("cmd=ETL.PY: %v", got)
	}
	if got := ids("/v2/apps?label=marmot.team==web&id=docs"); !slices.Equal(got, []string{"/web/docs"}) {
		t.Errorf("label and id together: %v", got)
	}

	// Counts and deployments always; tasks only when embedded.
	r := c.do(0, "GET", "/v2/apps", nil)
	for _, a := range r.object(t)["apps"].([]any) {
		app := a.(map[string]any)
		if _, ok := app["tasks"]; ok {
			t.Errorf("%s: tasks without embed", app["id"])
		}
		for _, k := range []string{"tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "deployments"} {
			if _, ok := app[k]; !ok {
				t.Errorf("%s: no %s", app["id"], k)
			}
		}
	}
	r = c.do(0, "GET", "/v2/apps?embed=apps.tasks&embed=apps.taskStats&embed=apps.readiness", nil)
	for _, a := range r.object(t)["apps"].([]any) {
		app := a.(map[string]any)
		if _, ok := app["tasks"].([]any); !ok {
			t.Errorf("%s: embed=apps.tasks gave no tasks", app["id"])
		}
		if _, ok := app["readinessCheckResults"]; !ok {
			t.Errorf("%s: embed=apps.readiness gave nothing", app["id"])
		}
		if app["id"] == "/web/frontend" {
			stats := app["taskStats"].(map[string]any)["totalSummary"].(map[string]any)["stats"].(map[string]any)
			if stats["counts"].(map[string]any)["running"] != 2.0 {
				t.Errorf("taskStats %v", stats)
			}
		}
	}
	r = c.do(0, "GET", "/v2/apps?label=a+in+(b", nil)
	expect(t, r, http.StatusUnprocessableEntity)
}

func TestPutWithoutPartialUpdate(t *testing.T) {
	c := newTestCluster(t)
	expect(t, c.do(0, "PUT", "/v2/apps/web/docs", map[string]any{"env": map[string]string{"A": "b"}}), http.StatusOK)
	c.settle(func(v *simulate.View) bool { a, _ := v.App("/web/docs"); return a.Deployment() == nil })

	// partialUpdate=false replaces the definition: what the body leaves out goes back to the default.
	r := c.do(0, "PUT", "/v2/apps/web/docs?partialUpdate=false", map[string]any{"cmd": "serve", "mem": 64})
	expect(t, r, http.StatusOK)
	a, _, _ := c.app("/web/docs")
	if a.Cmd != "serve" || a.Mem != 64 || a.CPUs != 1 || a.Instances != 1 || len(a.Labels) != 0 || len(a.HealthChecks) != 0 || a.Extra["env"] != nil {
		t.Errorf("after a full replace: %+v", a)
	}
}

func TestMultiAppPutChecksLocksFirst(t *testing.T) {
	c := newTestCluster(t)
	expect(t, c.do(0, "PUT", "/v2/apps/data/etl", map[string]any{"instances": 20}), http.StatusOK)
	before, _, _ := c.app("/web/docs")
	r := c.do(0, "PUT", "/v2/apps", []map[string]any{{"id": "/web/docs", "instances": 3}, {"id": "/data/etl", "instances": 1}})
	expect(t, r, http.StatusConflict)
	if deps, _ := r.object(t)["deployments"].([]any); len(deps) != 1 {
		t.Errorf("409 without the locking deployment: %s", r.body)
	}
	if after, _, _ := c.app("/web/docs"); after.Instances != before.Instances {
		t.Error("a refused multi-app PUT changed an app")
	}
	r = c.do(0, "PUT", "/v2/apps?force=true", []map[string]any{{"id": "/web/docs", "instances": 3}, {"id": "/data/etl", "instances": 1}})
	expect(t, r, http.StatusOK)
	if r.header.Get(headerDeploymentID) == "" {
		t.Error("no Marathon-Deployment-Id")
	}
	expect(t, c.do(0, "PATCH", "/v2/apps", []map[string]any{{"id": "/nope", "instances": 1}}), http.StatusNotFound)
	expect(t, c.do(0, "PUT", "/v2/apps", []map[string]any{{"instances": 1}}), http.StatusUnprocessableEntity)
}

func TestPutCreates(t *testing.T) {
	c := newTestCluster(t)
	r := c.do(0, "PUT", "/v2/apps/new/app", map[string]any{"cpus": 0.1, "mem": 16})
	expect(t, r, http.StatusCreated)
	if r.header.Get("Location") != "/v2/apps/new/app" || r.header.Get(headerDeploymentID) != r.object(t)["deploymentId"] {
		t.Errorf("201 headers %v body %s", r.header, r.body)
	}
	// Marathon's default instance count (app.raml) is 1.
	if a, _, ok := c.app("/new/app"); !ok || a.Instances != 1 {
		t.Errorf("created %v with %d instances", ok, a.Instances)
	}
	// A definition sent back as GET shows it is no change: no restart.
	c.settle(func(v *simulate.View) bool { a, _ := v.App("/new/app"); return a.Deployment() == nil })
	before, _, _ := c.app("/new/app")
	app := c.do(0, "GET", "/v2/apps/new/app", nil).object(t)["app"].(map[string]any)
	body := map[string]any{}
	for _, k := range []string{"portDefinitions", "env", "container", "labels", "constraints", "healthChecks", "upgradeStrategy", "cmd", "cpus", "mem"} {
		body[k] = app[k]
	}
	expect(t, c.do(0, "PUT", "/v2/apps/new/app", body), http.StatusOK)
	after, _, _ := c.app("/new/app")
	if !after.LastConfigChangeAt.Equal(before.LastConfigChangeAt) || !reflect.DeepEqual(after.Extra, before.Extra) {
		t.Errorf("sending the definition back restarted the app: %v → %v, extra %s → %s", before.LastConfigChangeAt,
			after.LastConfigChangeAt, before.Extra, after.Extra)
	}
}

func TestDecodeAppDefErrors(t *testing.T) {
	// Every type error is reported with its path, as play-json does, not only the first.
	_, err := decodeAppDef([]byte(`{"id": 1, "instances": "2", "labels": {"a": 1}, "cpus": 0.5, "ports": null}`))
	if err == nil || err.status != http.StatusBadRequest {
		t.Fatalf("err %v", err)
	}
	want := []detail{{"/id", []string{"error.expected.jsstring"}}, {"/instances", []string{"error.expected.jsnumber"}},
		{"/labels", []string{"error.expected.jsobject"}}}
	if !reflect.DeepEqual(err.details, want) {
		t.Errorf("details %+v, want %+v", err.details, want)
	}
	_, err = decodeAppDef([]byte(`{"portDefinitions": [{"port": 70000}], "upgradeStrategy": {"maximumOverCapacity": -0.5}}`))
	if err == nil || err.status != http.StatusUnprocessableEntity || len(err.details.([]detail)) != 2 {
		t.Errorf("validation: %+v", err)
	}
	// null is "not given": nothing changes, and a go-marathon scale stays a scale.
	def, err := decodeAppDef([]byte(`{"id": "/x", "instances": 0, "ports": null, "dependencies": null, "labels": null}`))
	if err != nil || *def.update.Instances != 0 || def.update.Ports != nil || def.update.Labels != nil || len(def.update.Extra) != 0 {
		t.Errorf("nulls: %+v %v", def.update, err)
	}
}
