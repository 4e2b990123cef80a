package mesosapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"

	"github.com/marmot-project/marmot/simulate"
)

// fuzzHandler is the leading master of a small world that the fuzzers share and may change at will.
func fuzzHandler(f *testing.F) http.Handler {
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		f.Fatal(err)
	}
	w, err := simulate.New(sc, simulate.NewVirtualClock(sc.StartTime()), simulate.Options{})
	if err != nil {
		f.Fatal(err)
	}
	return New(w, 0, []string{"127.0.0.1:5050", "127.0.0.1:5051"})
}

// serveCanceled serves a request whose client has already gone, so that a SUBSCRIBE ends after its
// first records instead of streaming forever.
func serveCanceled(h http.Handler, path, contentType string, body []byte) *httptest.ResponseRecorder {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzCall feeds POST /api/v1 arbitrary bodies, as JSON and as protobuf. It must never panic, must
// answer only the statuses Mesos answers calls with, 400 for anything that is not a call, and valid
// JSON for every GET_* reply.
func FuzzCall(f *testing.F) {
	for _, dir := range []string{"operator-v1/*.request.json", "mesos-go-wire/*.request.json"} {
		files, _ := filepath.Glob(fixtures + dir)
		for _, file := range files {
			rel, _ := filepath.Rel(fixtures, file)
			f.Add([]byte(readFixture(f, rel)), false)
		}
	}
	for _, c := range []*master.Call{calls.GetState(), calls.GetAgents(), calls.Subscribe(), calls.MarkAgentGone(mesos.AgentID{Value: "x"}), calls.DrainAgent(mesos.AgentID{Value: "x"})} {
		b, err := c.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	for _, garbage := range []string{"", "null", "[]", `"GET_STATE"`, `{"type":null}`, `{"type":"GET_STATE"}{}`, "\xff\xfe"} {
		f.Add([]byte(garbage), false)
	}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte, protobuf bool) {
		ct := mediaJSON
		if protobuf {
			ct = mediaProtobuf
		}
		rec := serveCanceled(h, "/api/v1", ct, body)
		switch rec.Code {
		case 200, 400, 404, 409, 501:
		default:
			t.Fatalf("status %d %q", rec.Code, rec.Body.String())
		}
		if !protobuf && !json.Valid(body) && rec.Code != 400 {
			t.Fatalf("malformed JSON answered %d %q", rec.Code, rec.Body.String())
		}
		if rec.Code != 200 && rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("error %d with Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		if rec.Header().Get("Content-Length") != "" && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("reply is not JSON: %.300q", rec.Body.String())
		}
	})
}

// FuzzMaintenanceBody feeds the v0 maintenance endpoints arbitrary bodies: never a panic, 200 or 400,
// and 400 for anything that is not JSON.
func FuzzMaintenanceBody(f *testing.F) {
	f.Add([]byte(readFixture(f, "v0/maintenance_schedule.docs-example.json")), uint8(0))
	f.Add([]byte(readFixture(f, "v0/machine_down.request.docs-example.json")), uint8(1))
	f.Add([]byte(readFixture(f, "v0/machine_down.request.docs-example.json")), uint8(2))
	f.Add([]byte(`{}`), uint8(0))
	f.Add([]byte(`[{"ip":"10.0.0.300"}]`), uint8(1))
	f.Add([]byte(`{"windows":[{"machine_ids":[{"hostname":"a"}],"unavailability":{"start":{"nanoseconds":-1},"duration":{"nanoseconds":-5}}}]}`), uint8(0))
	paths := []string{"/master/maintenance/schedule", "/master/machine/down", "/master/machine/up"}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		rec := serveCanceled(h, paths[int(which)%len(paths)], mediaJSON, body)
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("status %d %q", rec.Code, rec.Body.String())
		}
		if !json.Valid(body) && rec.Code != 400 {
			t.Fatalf("malformed JSON answered %d", rec.Code)
		}
	})
}
