package mesos

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewValidatesEveryFieldAndNamesIt(t *testing.T) {
	_, err := New(Config{
		URLs:         []string{"m1:5050", "ftp://m2", "http://"},
		Timeout:      -time.Second,
		ReconnectMin: time.Minute,
		ReconnectMax: time.Second,
		HTTPClient:   &http.Client{},
		TLS:          nil,
		Secret:       "s",
		Token:        "t",
	}, nil)
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"URLs[0]", "URLs[1]", "URLs[2]", "Timeout", "ReconnectMin", "Secret"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	if _, err := New(Config{}, nil); err == nil || !strings.Contains(err.Error(), "URLs") {
		t.Errorf("empty config: %v", err)
	}
	if _, err := New(Config{URLs: []string{"http://m1:5050"}, Principal: "p", Token: "t"}, nil); err == nil || !strings.Contains(err.Error(), "Token") {
		t.Errorf("principal and token: %v", err)
	}
}

func TestNewNormalisesMasterURLs(t *testing.T) {
	c, err := New(Config{URLs: []string{"http://m1:5050/api/v1", "https://m2:5050/"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Leader(); got != "http://m1:5050" {
		t.Errorf("Leader() = %q, want http://m1:5050", got)
	}
	if got := c.masters[1].String(); got != "https://m2:5050" {
		t.Errorf("second master = %q", got)
	}
}

func TestGetCallsDecodeTheOperatorFixtures(t *testing.T) {
	m := newFakeMaster(t, fixtureAnswers(t))
	c := newTestClient(t, Config{URLs: []string{m.URL()}})
	ctx := context.Background()

	v, err := c.Version(ctx)
	if err != nil || v != "1.0.0" {
		t.Errorf("Version = %q, %v", v, err)
	}
	agents, err := c.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Agent{
		ID: "3669ea49-c3c4-4b13-adee-05b8f9cb2562-S0", Hostname: "host", IP: "127.0.1.1", Port: 34626,
		Attributes: map[string]string{}, Pool: DefaultPool,
		Total:        Resources{CPUs: 2, Mem: 1024, Disk: 1024},
		Active:       true,
		RegisteredAt: time.Unix(0, 1470820171393027072).UTC(),
		Version:      "1.1.0", Capabilities: []string{},
	}
	if len(agents) != 1 || !reflect.DeepEqual(agents[0], want) {
		t.Errorf("Agents =\n%+v\nwant\n%+v", agents, want)
	}

	tasks, err := c.Tasks(ctx)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("Tasks = %+v, %v", tasks, err)
	}
	if task := tasks[0]; task.Name != "test" || task.State != "TASK_RUNNING" || task.Resources != (Resources{CPUs: 2, Mem: 1024, Disk: 1024}) ||
		task.AgentID != "d4bd102f-e25f-46dc-bb5d-8b10bca133d8-S0" || task.FrameworkID != "d4bd102f-e25f-46dc-bb5d-8b10bca133d8-0000" {
		t.Errorf("task = %+v", task)
	}

	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's only task is completed, so it is not a live task.
	if len(st.Agents) != 1 || st.Agents[0].IP != "127.0.1.1" || len(st.Tasks) != 0 || len(st.Frameworks) != 1 {
		t.Errorf("State = %+v", st)
	}
	if f := st.Frameworks[0]; f.Name != "default" || !reflect.DeepEqual(f.Roles, []string{"*"}) || f.ID != "628984d0-4213-4140-bcb0-99d7ef46b1df-0000" {
		t.Errorf("framework = %+v", f)
	}

	windows, err := c.MaintenanceSchedule(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantWindows := []Window{{
		Machines: []MachineID{{Hostname: "myhost"}, {IP: "0.0.0.2"}},
		Start:    time.Unix(0, 1470849373150643200).UTC(),
		Duration: -1, // the fixture's window has no duration: open-ended
	}}
	if !reflect.DeepEqual(windows, wantWindows) {
		t.Errorf("MaintenanceSchedule = %+v", windows)
	}
	status, err := c.MaintenanceStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := MaintenanceStatus{Draining: []DrainingMachine{{Machine: MachineID{IP: "0.0.0.2"}}, {Machine: MachineID{Hostname: "myhost"}}}, Down: []MachineID{}}
	if !reflect.DeepEqual(status, wantStatus) {
		t.Errorf("MaintenanceStatus = %+v", status)
	}

	for _, r := range m.received() {
		// mesos-go's default is protobuf; every call must go out as JSON (wire-facts §2).
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s sent Content-Type %q", r.Type, ct)
		}
		if acc := r.Header.Get("Accept"); acc != "application/json" {
			t.Errorf("%s sent Accept %q", r.Type, acc)
		}
	}
}

// TestMutatingCallsSendWhatMesosGoSends compares our requests with the ones captured from mesos-go on
// the wire, so that the conversion to its types loses nothing.
func TestMutatingCallsSendWhatMesosGoSends(t *testing.T) {
	m := newFakeMaster(t, fixtureAnswers(t))
	c := newTestClient(t, Config{URLs: []string{m.URL()}})
	ctx := context.Background()
	h1 := []MachineID{{Hostname: "h1", IP: "10.0.0.1"}}
	steps := []struct {
		fixture string
		call    func() error
	}{
		{"mesos-go-wire/drain_agent.request.json", func() error { return c.DrainAgent(ctx, "S0", 10*time.Minute, true) }},
		{"mesos-go-wire/deactivate_agent.request.json", func() error { return c.DeactivateAgent(ctx, "S0") }},
		{"mesos-go-wire/mark_agent_gone.request.json", func() error { return c.MarkAgentGone(ctx, "S0") }},
		{"mesos-go-wire/start_maintenance.request.json", func() error { return c.StartMaintenance(ctx, h1) }},
		{"mesos-go-wire/update_maintenance_schedule.request.json", func() error {
			return c.UpdateMaintenanceSchedule(ctx, []Window{{Machines: h1, Start: time.Unix(0, 1), Duration: time.Hour}})
		}},
		{"operator-v1/reactivate_agent.request.json", func() error { return c.ReactivateAgent(ctx, reactivateFixtureAgent(t)) }},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.fixture, err)
		}
		reqs := m.received()
		assertSameJSON(t, s.fixture, reqs[len(reqs)-1].Body, fixture(t, s.fixture))
	}
	if err := c.StopMaintenance(ctx, h1); err != nil {
		t.Fatal(err)
	}
	reqs := m.received()
	assertSameJSON(t, "stop", reqs[len(reqs)-1].Body,
		[]byte(`{"type":"STOP_MAINTENANCE","stop_maintenance":{"machines":[{"hostname":"h1","ip":"10.0.0.1"}]}}`))
}

func reactivateFixtureAgent(t *testing.T) string {
	var r struct {
		ReactivateAgent struct {
			AgentID struct{ Value string } `json:"agent_id"`
		} `json:"reactivate_agent"`
	}
	if err := json.Unmarshal(fixture(t, "operator-v1/reactivate_agent.request.json"), &r); err != nil {
		t.Fatal(err)
	}
	return r.ReactivateAgent.AgentID.Value
}

func assertSameJSON(t *testing.T, name string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: sent invalid JSON %q: %v", name, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: fixture: %v", name, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: sent\n%s\nwant\n%s", name, got, want)
	}
}

func TestDrainAgentWithoutGraceLeavesItUnset(t *testing.T) {
	m := newFakeMaster(t, fixtureAnswers(t))
	c := newTestClient(t, Config{URLs: []string{m.URL()}})
	if err := c.DrainAgent(context.Background(), "S0", -1, false); err != nil {
		t.Fatal(err)
	}
	assertSameJSON(t, "drain", m.received()[0].Body, []byte(`{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"S0"},"mark_gone":false}}`))
}

func TestAuthorizationHeader(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Principal: "marmot", Secret: "s3cret"}, "Basic bWFybW90OnMzY3JldA=="},
		{Config{Token: "abc"}, "token=abc"},
		{Config{}, ""},
	} {
		m := newFakeMaster(t, fixtureAnswers(t))
		tc.cfg.URLs = []string{m.URL()}
		c := newTestClient(t, tc.cfg)
		if _, err := c.Version(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := m.received()[0].Header.Get("Authorization"); got != tc.want {
			t.Errorf("Authorization = %q, want %q", got, tc.want)
		}
	}
}

func TestFollowsLeaderRedirectAndRemembersIt(t *testing.T) {
	leader := newFakeMaster(t, fixtureAnswers(t))
	standby := newFakeMaster(t, redirectTo(leader.host()))
	c := newTestClient(t, Config{URLs: []string{standby.URL()}})
	ctx := context.Background()
	if _, err := c.Agents(ctx); err != nil {
		t.Fatalf("Agents through a standby: %v", err)
	}
	if got := c.Leader(); got != leader.URL() {
		t.Errorf("Leader() = %q, want %q", got, leader.URL())
	}
	if err := c.MarkAgentGone(ctx, "S0"); err != nil {
		t.Fatal(err)
	}
	if n := len(standby.received()); n != 1 {
		t.Errorf("standby got %d calls; the remembered leader should get them", n)
	}
	if n := len(leader.received()); n != 2 {
		t.Errorf("leader got %d calls, want 2", n)
	}
}

func TestFailsOverOnTransportErrorAnd503(t *testing.T) {
	dead := newFakeMaster(t, fixtureAnswers(t))
	dead.srv.Close()
	recovering := newFakeMaster(t, plainStatus(http.StatusServiceUnavailable, "Master has not finished recovery"))
	leader := newFakeMaster(t, fixtureAnswers(t))
	c := newTestClient(t, Config{URLs: []string{dead.URL(), recovering.URL(), leader.URL()}})
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatalf("Version: %v", err)
	}
	if c.Leader() != leader.URL() {
		t.Errorf("Leader() = %q", c.Leader())
	}
}

func TestNoLeaderIsTyped(t *testing.T) {
	a := newFakeMaster(t, plainStatus(http.StatusServiceUnavailable, "No leader elected"))
	b := newFakeMaster(t, plainStatus(http.StatusServiceUnavailable, "No leader elected"))
	c := newTestClient(t, Config{URLs: []string{a.URL(), b.URL()}})
	_, err := c.Agents(context.Background())
	if !errors.Is(err, ErrNoLeader) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrNoLeader (and ErrUnavailable)", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Message != "No leader elected" || e.Status != 503 || e.Call != "GET_AGENTS" {
		t.Errorf("err = %#v", e)
	}
	if len(a.received()) != 1 || len(b.received()) != 1 {
		t.Errorf("each master should be asked once: %d, %d", len(a.received()), len(b.received()))
	}
}

func TestRedirectLoopEndsAsNoLeader(t *testing.T) {
	a := newFakeMaster(t, nil)
	b := newFakeMaster(t, redirectTo(a.host()))
	a.setAnswer(redirectTo(b.host()))
	c := newTestClient(t, Config{URLs: []string{a.URL()}})
	err := c.DeactivateAgent(context.Background(), "S0")
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("err = %v, want ErrNoLeader", err)
	}
	if n := len(a.received()) + len(b.received()); n > 1+maxRedirects {
		t.Errorf("%d requests for one call; redirects must be bounded", n)
	}
}

func TestRedirectChainIsBounded(t *testing.T) {
	// A chain of standbys each pointing at the next: more hops than maxRedirects give ErrNoLeader.
	leader := newFakeMaster(t, fixtureAnswers(t))
	next := leader
	var first *fakeMaster
	for i := 0; i <= maxRedirects; i++ {
		first = newFakeMaster(t, redirectTo(next.host()))
		next = first
	}
	c := newTestClient(t, Config{URLs: []string{first.URL()}})
	if _, err := c.Version(context.Background()); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("err = %v, want ErrNoLeader", err)
	}
	if len(leader.received()) != 0 {
		t.Error("the leader was reached beyond the redirect bound")
	}
}

func TestMasterErrorsAreTypedWithTheMastersText(t *testing.T) {
	for _, tc := range []struct {
		status int
		text   string
		kind   error
	}{
		{http.StatusBadRequest, "Unknown agent", ErrBadRequest},
		{http.StatusNotFound, "Agent 'S9' not found", ErrNotFound},
		{http.StatusConflict, "Agent 'S0' is currently being marked gone", ErrConflict},
		{http.StatusUnauthorized, "Unauthorized", ErrUnauthorized},
		{http.StatusForbidden, "Forbidden", ErrUnauthorized},
		{http.StatusMethodNotAllowed, "Expecting one of { 'POST' }", ErrProtocol},
	} {
		m := newFakeMaster(t, plainStatus(tc.status, tc.text))
		c := newTestClient(t, Config{URLs: []string{m.URL()}})
		err := c.DrainAgent(context.Background(), "S0", time.Minute, false)
		var e *Error
		if !errors.Is(err, tc.kind) || !errors.As(err, &e) || e.Message != tc.text || e.Status != tc.status || e.Master != m.URL() {
			t.Errorf("%d: err = %v", tc.status, err)
		}
		if len(m.received()) != 1 {
			t.Errorf("%d: the call was repeated", tc.status)
		}
	}
}

func TestUnexpectedAnswerIsAProtocolError(t *testing.T) {
	for name, answer := range map[string]func(w http.ResponseWriter, r *http.Request, call string){
		// net/http would sniff text/plain for an unset type; mesos-go rejects anything but the codec's.
		"charset": func(w http.ResponseWriter, r *http.Request, call string) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write([]byte(`{"type":"GET_VERSION"}`))
		},
		"garbage": func(w http.ResponseWriter, r *http.Request, call string) { writeJSON(w, []byte(`{"type":`)) },
		"wrong type": func(w http.ResponseWriter, r *http.Request, call string) {
			writeJSON(w, []byte(`{"type":"GET_AGENTS","get_agents":{}}`))
		},
	} {
		m := newFakeMaster(t, answer)
		c := newTestClient(t, Config{URLs: []string{m.URL()}})
		if _, err := c.Version(context.Background()); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err = %v, want ErrProtocol", name, err)
		}
	}
}

func TestAHungMasterTimesOutAndTheNextAnswers(t *testing.T) {
	release := make(chan struct{})
	hung := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	leader := newFakeMaster(t, fixtureAnswers(t))
	c := newTestClient(t, Config{URLs: []string{hung.URL(), leader.URL()}, Timeout: time.Second})
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatalf("Version: %v", err)
	}

	only := newTestClient(t, Config{URLs: []string{hung.URL()}, Timeout: time.Second})
	_, err := only.Version(context.Background())
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}
}

func TestCancelledContextIsReturnedAsIs(t *testing.T) {
	m := newFakeMaster(t, fixtureAnswers(t))
	c := newTestClient(t, Config{URLs: []string{m.URL()}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Agents(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestRedirectTargetResolvesProtocolRelativeLocation(t *testing.T) {
	for _, tc := range []struct{ from, loc, want string }{
		{"http://m1:5050", "//m2:5050/api/v1", "http://m2:5050"},
		{"https://m1:5050", "//m2:5050/api/v1", "https://m2:5050"},
		{"http://m1:5050", "//m2:5050", "http://m2:5050"}, // /redirect's form, no path
		{"http://proxy/mesos", "//m2:5050/api/v1", "http://m2:5050"},
		{"http://m1:5050", "http://m3:5050/api/v1", "http://m3:5050"},
		{"http://m1:5050", "/api/v1", "http://m1:5050"}, // relative: the same master
	} {
		from, _ := parseMaster(tc.from)
		got, err := redirectTarget(from, tc.loc)
		if err != nil || got.String() != tc.want {
			t.Errorf("redirectTarget(%s, %s) = %v, %v; want %s", tc.from, tc.loc, got, err, tc.want)
		}
	}
	from, _ := parseMaster("http://m1:5050")
	for _, loc := range []string{"", "%zz", "http:///api/v1"} {
		if _, err := redirectTarget(from, loc); err == nil {
			t.Errorf("redirectTarget(%q) accepted", loc)
		}
	}
}

func TestSupportsDrainAgent(t *testing.T) {
	for v, want := range map[string]bool{
		"1.9.0": true, "1.10.0": true, "1.11.0-rc1": true, "2.0.0": true, "v1.9.1": true,
		"1.8.1": false, "1.0.0": false, "0.28.2": false, "": false, "garbage": false, "1": false,
	} {
		if got := SupportsDrainAgent(v); got != want {
			t.Errorf("SupportsDrainAgent(%q) = %v", v, got)
		}
	}
}
