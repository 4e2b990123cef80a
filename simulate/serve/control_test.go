package serve_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
)

func control(t *testing.T) (*simulate.World, *httptest.Server) {
	t.Helper()
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	w, err := simulate.New(sc, simulate.NewVirtualClock(sc.StartTime()), simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.ControlHandler(w))
	t.Cleanup(srv.Close)
	return w, srv
}

func TestSummaryDescribesTheWorld(t *testing.T) {
	w, srv := control(t)
	resp, err := http.Get(srv.URL + "/summary")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s serve.Summary
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	var agents, tasks int
	w.View(func(v *simulate.View) {
		agents = len(v.Agents())
		for _, a := range v.Apps() {
			tasks += len(a.Tasks())
		}
	})
	// small: one group of three m5.xlarge (4 cpus, $0.192/h each), on-demand.
	if s.Scenario != "small" || s.Agents != agents || s.AgentsByPool["default"] != 3 || s.Tasks != tasks || s.CPUsTotal != 12 {
		t.Fatalf("summary %+v does not match the world (agents %d, tasks %d)", s, agents, tasks)
	}
	if len(s.Groups) != 1 || s.Groups[0].Desired != 3 || s.Groups[0].InService != 3 {
		t.Fatalf("groups %+v", s.Groups)
	}
	if s.CostPerHour < 0.575 || s.CostPerHour > 0.577 {
		t.Fatalf("cost per hour %.4f, want 3 × 0.192", s.CostPerHour)
	}
	if line := s.Line(); !strings.Contains(line, "agents 3 (default=3)") || !strings.Contains(line, "$0.58/h") {
		t.Fatalf("summary line %q", line)
	}
}

func TestRateSetsAnAppsOfferedLoad(t *testing.T) {
	w, srv := control(t)
	post := func(body string) (int, string) {
		resp, err := http.Post(srv.URL+"/apps/rate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(`{"app":"/web/docs","rps":3.5}`); code != http.StatusOK {
		t.Fatalf("set rate: %d %s", code, body)
	}
	var rate float64
	w.View(func(v *simulate.View) {
		a, _ := v.App("/web/docs")
		rate = a.RequestRate
	})
	if rate != 3.5 {
		t.Fatalf("request rate %g, want 3.5", rate)
	}
	for body, want := range map[string]string{
		`{"app":"/no/such","rps":1}`:   "does not exist",
		`{"app":"/web/docs","rps":-1}`: "rps",
		`{"rps":1}`:                    "app",
		`nope`:                         "invalid",
	} {
		if code, got := post(body); code != http.StatusBadRequest || !strings.Contains(got, want) {
			t.Errorf("%s: %d %s; want 400 mentioning %q", body, code, got, want)
		}
	}
}
