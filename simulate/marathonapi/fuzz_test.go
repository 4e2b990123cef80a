package marathonapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/marmot-project/marmot/simulate"
)

// Fuzz targets for every parser of outside input: app definitions, label selectors and query
// parameters. Seeds come from the upstream fixtures.

func FuzzAppDefinition(f *testing.F) {
	for _, dir := range []string{"docs-examples", "go-marathon-wire"} {
		names, _ := filepath.Glob(fixtures + dir + "/*.json")
		for _, n := range names {
			if data, err := os.ReadFile(n); err == nil {
				f.Add(data)
			}
		}
	}
	for _, s := range []string{`{"id": 5}`, `null`, `[]`, `[null, {}]`, `{"instances": 1e40}`, `{"instances": 2.5}`,
		`{"labels": {"a": 1}}`, `{"upgradeStrategy": {"minimumHealthCapacity": -1}}`, `{"ports": [0, 0], "portDefinitions": [{}]}`,
		`{"healthChecks": [{"portIndex": "x"}]}`, `{"constraints": [["a"], []]}`, `{"portDefinitions": [null, {"port": 80.5}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if defs, err := decodeAppDefs(body); err != nil {
			checkDecodeError(t, err)
		} else if len(defs) > 0 {
			_ = defs[0].replacement(simulate.NewAppSpec("/x", simulate.AppUpdate{}), []string{"container", "env"})
		}
		def, err := decodeAppDef(body)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		// What decodes is a definition the model takes and we can render; rendered and decoded again it is
		// the same app.
		def.forApp("/fuzz")
		spec := simulate.NewAppSpec("/fuzz", def.update)
		rendered, merr := json.Marshal(appDefinition(&spec))
		if merr != nil {
			t.Fatalf("cannot render the decoded definition: %v", merr)
		}
		again, err := decodeAppDef(rendered)
		if err != nil {
			t.Fatalf("our own rendering does not decode: %v\n%s", err.body(), rendered)
		}
		again.forApp("/fuzz")
		back := simulate.NewAppSpec("/fuzz", again.update)
		if diff := sameApp(spec, back); diff != "" {
			t.Fatalf("round trip changed %s\nfirst:  %s", diff, rendered)
		}
	})
}

func checkDecodeError(t *testing.T, err *apiError) {
	t.Helper()
	if err.status != http.StatusBadRequest && err.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d for a bad definition", err.status)
	}
	if _, merr := json.Marshal(err.body()); merr != nil {
		t.Fatalf("error body does not encode: %v", merr)
	}
}

// sameApp compares the fields the model keeps, treating empty and absent alike where Marathon does.
func sameApp(a, b simulate.App) string {
	role := func(r string) string {
		if r == "" {
			return "*"
		}
		return r
	}
	switch {
	case a.Instances != b.Instances, a.CPUs != b.CPUs, a.Mem != b.Mem, a.Disk != b.Disk, a.GPUs != b.GPUs:
		return "resources or instances"
	case a.Ports != b.Ports:
		return "ports"
	case a.Cmd != b.Cmd, role(a.Role) != role(b.Role):
		return "cmd or role"
	case a.BackoffSeconds != b.BackoffSeconds, a.BackoffFactor != b.BackoffFactor, a.MaxLaunchDelaySeconds != b.MaxLaunchDelaySeconds:
		return "backoff"
	case a.UpgradeStrategy != b.UpgradeStrategy:
		return "upgradeStrategy"
	case len(a.Constraints)+len(b.Constraints) > 0 && !reflect.DeepEqual(a.Constraints, b.Constraints):
		return "constraints"
	case !reflect.DeepEqual(a.Labels, b.Labels):
		return "labels"
	case len(a.HealthChecks)+len(b.HealthChecks) > 0 && !slices.Equal(a.HealthChecks, b.HealthChecks):
		return "healthChecks"
	case len(a.AcceptedResourceRoles)+len(b.AcceptedResourceRoles) > 0 && !slices.Equal(a.AcceptedResourceRoles, b.AcceptedResourceRoles):
		return "acceptedResourceRoles"
	}
	for k, v := range a.Extra {
		if string(b.Extra[k]) != string(v) {
			return "extra field " + k
		}
	}
	return ""
}

func FuzzLabelSelector(f *testing.F) {
	for _, s := range []string{
		// v2_apps.raml's example and the examples in LabelSelectorParsers.scala.
		`my_label, environment==production, tier!=frontend\ tier, deployed in (us, eu), deployed notin (aa, bb)`,
		"test == foo", "test != foo", "environment in (production, qa)", "tier notin (frontend, backend)", "partition",
		`\!\!\! in (\-\-\-, \&\&\&, \+\+\+)`, "a in (t1, t2, t3), b notin (t1), c, d",
		"", " ", "a in (b", "a in ()", "a,", ",a", "a = b", "marmot.hibernate==true", "in in (in)", `a\`, "a\\\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sel, err := parseSelector(in)
		if err != nil {
			return
		}
		// Written back with every other character escaped, a selector parses to itself.
		again, err := parseSelector(formatSelector(sel))
		if err != nil {
			t.Fatalf("%q → %q does not parse: %v", in, formatSelector(sel), err)
		}
		if !reflect.DeepEqual(normal(sel), normal(again)) {
			t.Fatalf("%q → %q parses to %+v, not %+v", in, formatSelector(sel), again, sel)
		}
		for _, r := range sel {
			checkRequirement(t, r)
		}
	})
}

// checkRequirement: every kind requires the label; ==/in accept their values, !=/notin refuse them.
func checkRequirement(t *testing.T, r requirement) {
	t.Helper()
	if r.matches(map[string]string{}) {
		t.Fatalf("%+v matches without the label", r)
	}
	for _, v := range r.values {
		want := r.op == "==" || r.op == "in"
		if got := r.matches(map[string]string{r.key: v}); got != want {
			t.Fatalf("%+v on %q: %v, want %v", r, v, got, want)
		}
	}
	if r.op == "" && !r.matches(map[string]string{r.key: ""}) {
		t.Fatalf("existence %q does not match", r.key)
	}
}

func normal(s selector) selector {
	out := selector{}
	for _, r := range s {
		if r.values == nil {
			r.values = []string{}
		}
		out = append(out, r)
	}
	return out
}

func formatSelector(s selector) string {
	var parts []string
	for _, r := range s {
		p := escapeTerm(r.key)
		switch r.op {
		case "==", "!=":
			p += r.op + escapeTerm(r.values[0])
		case "in", "notin":
			vs := make([]string, len(r.values))
			for i, v := range r.values {
				vs[i] = escapeTerm(v)
			}
			p += " " + r.op + " (" + strings.Join(vs, ",") + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ",")
}

func escapeTerm(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if size == 1 && termChar(s[0]) {
			b.WriteByte(s[0])
		} else {
			b.WriteByte('\\')
			b.WriteString(s[:size])
		}
		s = s[size:]
		_ = r
	}
	return b.String()
}

func FuzzQuery(f *testing.F) {
	for _, s := range []string{"force=true", "partialUpdate=false&force=TRUE", "force=yes&force=true",
		"embed=apps.tasks&embed=apps.counts&embed=app.lastTaskFailure", "embed=apps.failures&embed=apps.taskStats&embed=apps.readiness",
		"label=a%3D%3Db", "label=a+in+(b,c)", "label=%28", "status=running&status[]=staging", "status=RUNNING",
		"embed=lastUnusedOffers", "event_type=deployment_info", "host=10.0.0.1&scale=true", "id=web&cmd=sleep", "%zz", ";;&&==",
	} {
		f.Add(s)
	}
	// The query strings go-marathon's own fixture uses.
	if data, err := os.ReadFile(fixtures + "go-marathon/methods.yml"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if uri, ok := strings.CutPrefix(strings.TrimSpace(line), "- uri: "); ok {
				if _, q, ok := strings.Cut(uri, "?"); ok {
					f.Add(q)
				}
			}
		}
	}
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		f.Fatal(err)
	}
	w, err := simulate.New(sc, simulate.NewVirtualClock(sc.StartTime()), simulate.Options{})
	if err != nil {
		f.Fatal(err)
	}
	h := New(w, 0, []string{"127.0.0.1:1", "127.0.0.1:2"})
	f.Fuzz(func(t *testing.T, raw string) {
		values, _ := url.ParseQuery(raw)
		q := query(values)
		if q.flag("force", false) && !strings.EqualFold(values["force"][0], "true") {
			t.Fatalf("force=%q read as true", values["force"][0])
		}
		_ = q.appEmbed()
		_, _ = q.taskStates()
		// The read-only endpoints answer every query with 200, or 422 for a label selector that does not
		// parse, and always with JSON.
		for _, path := range []string{"/v2/apps", "/v2/tasks", "/v2/queue", "/v2/deployments", "/v2/apps/web/frontend"} {
			req := httptest.NewRequest("GET", "http://marathon"+path, nil)
			req.URL.RawQuery = raw
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK && !(rec.Code == http.StatusUnprocessableEntity && path == "/v2/apps") {
				t.Fatalf("GET %s?%s: %d %s", path, raw, rec.Code, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("GET %s?%s: not JSON: %s", path, raw, rec.Body)
			}
		}
	})
}
