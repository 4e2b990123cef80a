package mesos

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"
)

// fixtures is the shared fixture folder, seen from this package's directory.
const fixtures = "../../shared/fixtures/mesos"

func fixture(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, rel))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return data
}

// request is one call a fakeMaster received.
type request struct {
	Type   string
	Body   []byte
	Header http.Header
}

// fakeMaster is an httptest master that records every /api/v1 call and answers through answer, which
// tests swap to script the master's behaviour.
type fakeMaster struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []request
	answer   func(w http.ResponseWriter, r *http.Request, call string)
}

func newFakeMaster(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, call string)) *fakeMaster {
	t.Helper()
	f := &fakeMaster{answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMaster) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != apiPath || r.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var head struct{ Type string }
	_ = json.Unmarshal(body, &head)
	f.mu.Lock()
	f.requests = append(f.requests, request{Type: head.Type, Body: body, Header: r.Header.Clone()})
	answer := f.answer
	f.mu.Unlock()
	answer(w, r, head.Type)
}

func (f *fakeMaster) setAnswer(a func(w http.ResponseWriter, r *http.Request, call string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = a
}

func (f *fakeMaster) URL() string { return f.srv.URL }

// host is the master's host:port, as a leader redirect names it.
func (f *fakeMaster) host() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeMaster) received() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// writeJSON answers like the master's GET_* calls: 200, Content-Type exactly application/json
// (mesos-go rejects anything else, wire-facts §2).
func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// fixtureAnswers answers GET_* calls from the operator-v1 fixtures and mutating calls with the
// master's empty 200.
func fixtureAnswers(t *testing.T) func(w http.ResponseWriter, r *http.Request, call string) {
	return func(w http.ResponseWriter, r *http.Request, call string) {
		if strings.HasPrefix(call, "GET_") {
			writeJSON(w, fixture(t, "operator-v1/"+strings.ToLower(call)+".response.json"))
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

func redirectTo(host string) func(w http.ResponseWriter, r *http.Request, call string) {
	return func(w http.ResponseWriter, r *http.Request, call string) {
		// The master's Location is protocol-relative (wire-facts §1.2).
		w.Header().Set("Location", "//"+host+apiPath)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}
}

func plainStatus(code int, text string) func(w http.ResponseWriter, r *http.Request, call string) {
	return func(w http.ResponseWriter, r *http.Request, call string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, text)
	}
}

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}
