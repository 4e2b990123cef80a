package mesosapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAPITransport checks POST /api/v1's answers and their order (wire-facts §1.1): leadership before
// everything, then method, Content-Type, parse, validation and Accept, with text/plain error bodies.
func TestAPITransport(t *testing.T) {
	c := newCluster(t)
	tests := []struct {
		name         string
		master       int
		method       string
		contentType  string
		body         string
		header       []string
		status       int
		bodyContains string
	}{
		{"standby redirects before checking the method", 1, "GET", "", "", nil, 307, ""},
		{"method", 0, "GET", "", "", nil, 405, "Expecting one of { 'POST' }"},
		{"no content type", 0, "POST", "", `{"type":"GET_HEALTH"}`, nil, 400, "Expecting 'Content-Type' to be present"},
		{"other content type", 0, "POST", "text/plain", `{"type":"GET_HEALTH"}`, nil, 415, "application/json or application/x-protobuf"},
		{"content type is compared exactly", 0, "POST", "application/json; charset=utf-8", `{"type":"GET_HEALTH"}`, nil, 415, ""},
		{"malformed json", 0, "POST", mediaJSON, `{"type":`, nil, 400, "Failed to convert JSON into Call protobuf"},
		{"unknown enum", 0, "POST", mediaJSON, `{"type":"GET_EVERYTHING"}`, nil, 400, "Failed to find enum for 'GET_EVERYTHING'"},
		{"wrong value type", 0, "POST", mediaJSON, `{"type":3}`, nil, 400, "Failed to convert JSON into Call protobuf"},
		{"missing required field", 0, "POST", mediaJSON, `{"type":"DRAIN_AGENT","drain_agent":{}}`, nil, 400, "missing required fields: drain_agent.agent_id"},
		{"duration as a string (docs/maintenance.md)", 0, "POST", mediaJSON, `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"x"},"max_grace_period":"10mins"}}`, nil, 400, "Failed to convert JSON"},
		{"no type", 0, "POST", mediaJSON, `{}`, nil, 400, "Failed to validate master::Call: Expecting 'type' to be present"},
		{"no message", 0, "POST", mediaJSON, `{"type":"MARK_AGENT_GONE"}`, nil, 400, "Expecting 'mark_agent_gone' to be present"},
		{"negative grace", 0, "POST", mediaJSON, `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"x"},"max_grace_period":{"seconds":-1}}}`, nil, 400, "non-negative"},
		{"accept", 0, "POST", mediaJSON, `{"type":"GET_HEALTH"}`, []string{"Accept", "text/html"}, 406, "Expecting 'Accept' to allow"},
		{"accept q=0", 0, "POST", mediaJSON, `{"type":"GET_HEALTH"}`, []string{"Accept", "application/json;q=0, application/x-protobuf;q=0"}, 406, ""},
		{"accept wildcard", 0, "POST", mediaJSON, `{"type":"GET_HEALTH"}`, []string{"Accept", "*/*"}, 200, `"healthy":true`},
		{"unknown keys are ignored", 0, "POST", mediaJSON, `{"type":"GET_HEALTH","extra":{"a":[1]}}`, nil, 200, `"healthy":true`},
		{"UNKNOWN", 0, "POST", mediaJSON, `{"type":"UNKNOWN"}`, nil, 501, ""},
		{"unmodelled call", 0, "POST", mediaJSON, `{"type":"GET_QUOTA"}`, nil, 501, "GET_QUOTA"},
		{"unknown agent", 0, "POST", mediaJSON, `{"type":"DEACTIVATE_AGENT","deactivate_agent":{"agent_id":{"value":"x"}}}`, nil, 400, "Unknown agent"},
		{"not found", 0, "POST", mediaJSON, `{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"x"}}}`, nil, 404, "Agent 'x' not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, c.servers[tc.master].URL+"/api/v1", strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			for k := 0; k+1 < len(tc.header); k += 2 {
				req.Header.Set(tc.header[k], tc.header[k+1])
			}
			resp := c.roundTrip(req)
			got := body(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(got, tc.bodyContains) {
				t.Fatalf("%d %q, want %d containing %q", resp.StatusCode, got, tc.status, tc.bodyContains)
			}
			if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("error Content-Type %q, want text/plain", resp.Header.Get("Content-Type"))
			}
		})
	}
}

// TestReplyHeaders checks the headers mesos-go insists on: GET_* replies carry Content-Type exactly
// application/json and a Content-Length; mutating calls answer 200 with no body and no Content-Type.
func TestReplyHeaders(t *testing.T) {
	c := newCluster(t)
	resp := c.post(0, "/api/v1", mediaJSON, `{"type":"GET_AGENTS"}`)
	b := body(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET_AGENTS: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(b)) {
		t.Errorf("GET_AGENTS: Content-Length %q for %d bytes", cl, len(b))
	}
	if !strings.HasPrefix(b, `{"type":"GET_AGENTS","get_agents":{"agents":[`) {
		t.Errorf("GET_AGENTS body starts %.60q", b)
	}

	var id string
	c.world.View(func(v *simulate.View) { id = v.Agents()[0].ID })
	resp = c.post(0, "/api/v1", mediaJSON, `{"type":"DEACTIVATE_AGENT","deactivate_agent":{"agent_id":{"value":"`+id+`"}}}`)
	if b := body(t, resp); resp.StatusCode != 200 || b != "" {
		t.Errorf("DEACTIVATE_AGENT: %d %q, want 200 and no body", resp.StatusCode, b)
	}
	if _, has := resp.Header["Content-Type"]; has {
		t.Errorf("DEACTIVATE_AGENT: Content-Type %q, want none", resp.Header.Get("Content-Type"))
	}
}

// TestRedirects checks the 307s of a standby and of /redirect, and 503 without a leader.
func TestRedirects(t *testing.T) {
	c := newCluster(t)
	leader := "//" + c.addrs[0]
	for _, tc := range []struct {
		master   int
		path     string
		location string
	}{
		{1, "/api/v1", leader + "/api/v1"},
		{1, "/master/state?jsonp=x", leader + "/master/state?jsonp=x"},
		{1, "/state.json", leader + "/state.json"},
		{1, "/master/slaves", leader + "/master/slaves"},
		{1, "/master/maintenance/schedule", leader + "/master/maintenance/schedule"},
		{0, "/redirect", leader},
		{1, "/master/redirect", leader},
	} {
		resp := c.getURL(tc.master, tc.path)
		if resp.StatusCode != 307 || resp.Header.Get("Location") != tc.location {
			t.Errorf("master %d %s: %d Location %q, want 307 %q", tc.master, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.location)
		}
	}
	if resp := c.getURL(1, "/metrics/snapshot"); resp.StatusCode != 200 {
		t.Errorf("/metrics/snapshot on the standby: %d, want 200 (metrics never redirect)", resp.StatusCode)
	}
	if resp := c.getURL(0, "/nothing/here"); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d, want 404", resp.StatusCode)
	}
	if err := c.world.SetMesosLeader(-1); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1", "/redirect", "/master/state"} {
		resp := c.getURL(1, path)
		if b := body(t, resp); resp.StatusCode != 503 || b != "No leader elected" {
			t.Errorf("%s without a leader: %d %q", path, resp.StatusCode, b)
		}
	}
}

// TestFaults checks the injected faults of the Mesos service: an error status answered instead of
// serving, and a delay that gives up when the client does.
func TestFaults(t *testing.T) {
	c := newCluster(t)
	if err := c.world.InjectFault(simulate.Fault{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMesos, Status: 502, Count: 1}); err != nil {
		t.Fatal(err)
	}
	resp := c.post(0, "/api/v1", mediaJSON, `{"type":"GET_HEALTH"}`)
	if b := body(t, resp); resp.StatusCode != 502 || b != "Bad Gateway" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("with the fault: %d %q %q", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}
	if resp := c.post(0, "/api/v1", mediaJSON, `{"type":"GET_HEALTH"}`); resp.StatusCode != 200 {
		t.Errorf("after the counted fault: %d", resp.StatusCode)
	}

	if err := c.world.InjectFault(simulate.Fault{Kind: simulate.FaultSlowResponse, Service: simulate.ServiceMesos, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	h := New(c.world, 0, c.addrs)
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1", strings.NewReader(`{"type":"GET_HEALTH"}`))
	req.Header.Set("Content-Type", mediaJSON)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	cancel()
	<-done // an hour's delay ends as soon as the client gives up
	if rec.Body.Len() != 0 {
		t.Errorf("answered %q after the client left", rec.Body.String())
	}
}
