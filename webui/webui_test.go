package webui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func sampleAt(d time.Duration, agents int) Sample {
	return Sample{
		At:           t0.Add(d),
		Pools:        []Pool{{Name: "default", Agents: agents, Desired: agents, CPUs: 4 * float64(agents), CPUsAllocated: 3}},
		Apps:         &Apps{Awake: 2, Asleep: 1},
		Cost:         &Cost{PerHour: 0.2 * float64(agents), Total: d.Hours(), SavedAutoscaling: 1, SavedHibernation: new(0.5)},
		Agents:       []Agent{{ID: "a1", Pool: "default", State: "available", Reason: "kept_utilized"}},
		SleepingApps: []SleepingApp{{App: "/web/docs", Since: t0, Instances: 2, CPUs: 0.5, MemMB: 256}},
	}
}

func getSeries(t *testing.T, h http.Handler, query string) Series {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/series"+query, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/series%s: %d %s", query, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var s Series
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func ats(s Series) []time.Duration {
	var out []time.Duration
	for _, x := range s.Samples {
		out = append(out, x.At.Sub(t0))
	}
	return out
}

func TestRecordKeepsOneSamplePerResolutionSlot(t *testing.T) {
	ui := New(Config{Resolution: time.Minute, Capacity: 3})
	if s := getSeries(t, ui, ""); len(s.Samples) != 0 || s.Latest != nil || s.Capacity != 3 {
		t.Fatalf("empty: %+v", s)
	}
	// Slots start at 0, 70s, 140s (the 30s and 60s samples fall in the first slot and replace its
	// point, so the newest point is always current), then the ring drops the oldest.
	for _, d := range []time.Duration{0, 30 * time.Second, 60 * time.Second, 70 * time.Second, 140 * time.Second, 210 * time.Second} {
		ui.Record(sampleAt(d, 3))
	}
	s := getSeries(t, ui, "")
	want := []time.Duration{70 * time.Second, 140 * time.Second, 210 * time.Second}
	if got := ats(s); !equal(got, want) {
		t.Fatalf("samples at %v, want %v", got, want)
	}
	if s.Latest == nil || !s.Latest.At.Equal(t0.Add(210*time.Second)) || len(s.Latest.Agents) != 1 || len(s.Latest.SleepingApps) != 1 {
		t.Fatalf("latest %+v: want the newest sample with its tables", s.Latest)
	}
	for _, x := range s.Samples {
		if x.Agents != nil || x.SleepingApps != nil {
			t.Fatalf("sample at %v keeps its tables: only the newest should", x.At)
		}
	}
}

func TestRecordIgnoresSamplesOutOfOrder(t *testing.T) {
	ui := New(Config{Resolution: time.Second})
	ui.Record(sampleAt(time.Minute, 3))
	ui.Record(sampleAt(time.Minute, 9))
	ui.Record(sampleAt(0, 9))
	s := getSeries(t, ui, "")
	if len(s.Samples) != 1 || s.Samples[0].Pools[0].Agents != 3 || s.Latest.Pools[0].Agents != 3 {
		t.Fatalf("got %+v", s.Samples)
	}
}

func TestSeriesSince(t *testing.T) {
	ui := New(Config{Resolution: time.Minute})
	for i := range 5 {
		ui.Record(sampleAt(time.Duration(i)*time.Minute, 3))
	}
	since := t0.Add(3 * time.Minute).UnixMilli()
	s := getSeries(t, ui, "?since="+strconv.FormatInt(since, 10))
	if got, want := ats(s), []time.Duration{3 * time.Minute, 4 * time.Minute}; !equal(got, want) {
		t.Fatalf("since 3m: %v, want %v", got, want)
	}
	rec := httptest.NewRecorder()
	ui.ServeHTTP(rec, httptest.NewRequest("GET", "/api/series?since=yesterday", nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Unix time in milliseconds") {
		t.Fatalf("bad since: %d %s", rec.Code, rec.Body)
	}
}

func TestPageAndAssets(t *testing.T) {
	mux := http.NewServeMux()
	// A daemon's own catch-all must keep its other paths.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "daemon "+r.URL.Path) })
	New(Config{Title: "marmot <test>", StatusPath: "status"}).Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, page, h := get("/")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", code, h.Get("Content-Type"))
	}
	if !strings.Contains(page, "<title>marmot &lt;test&gt;</title>") || !strings.Contains(page, `data-status-path="status"`) {
		t.Errorf("page lacks its escaped title or status path:\n%s", page)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	// Every script and stylesheet the page names is served, with the right type.
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	types := map[string]string{".js": "text/javascript", ".css": "text/css"}
	served := 0
	for _, m := range refs {
		ref := m[1]
		ext := path.Ext(ref)
		if !strings.HasPrefix(ref, "assets/") || types[ext] == "" {
			continue
		}
		code, body, h := get("/" + ref)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), types[ext]) || len(body) == 0 {
			t.Errorf("GET /%s: %d %q, %d bytes", ref, code, h.Get("Content-Type"), len(body))
		}
		served++
	}
	if served != 4 {
		t.Errorf("page names %d assets, want 4 (uPlot js and css, page js and css)", served)
	}
	if code, body, _ := get("/status"); code != 200 || body != "daemon /status" {
		t.Errorf("the daemon's own /status: %d %q", code, body)
	}
	if code, _, _ := get("/assets/page.html"); code == 200 {
		t.Error("the page template is served as it is")
	}
}

// The page must load nothing from elsewhere: no absolute URL in an attribute, a CSS url() or a
// fetch, in anything the page serves. (uPlot names its home page in its licence comment; comments do
// not load anything, so /*...*/ comments are left out.)
func TestNoExternalURL(t *testing.T) {
	ui := New(Config{StatusPath: "status"})
	external := regexp.MustCompile(`(?i)(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|fetch\(\s*["'](?:https?:)?//|@import`)
	comment := regexp.MustCompile(`(?s)/\*.*?\*/`)
	for _, p := range []string{"/", "/assets/page.js", "/assets/page.css", "/assets/uPlot.iife.min.js", "/assets/uPlot.min.css"} {
		rec := httptest.NewRecorder()
		ui.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d", p, rec.Code)
		}
		body := comment.ReplaceAllString(rec.Body.String(), "")
		if m := external.FindString(body); m != "" {
			t.Errorf("%s refers to an external URL: %q", p, m)
		}
	}
}

func TestOnlyGet(t *testing.T) {
	rec := httptest.NewRecorder()
	New(Config{}).ServeHTTP(rec, httptest.NewRequest("POST", "/api/series", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
}

func TestChartLibrary(t *testing.T) {
	js, css := ChartLibrary()
	if !strings.Contains(string(js[:200]), "uPlot") || len(css) == 0 {
		t.Fatalf("chart library: %d bytes of js, %d of css", len(js), len(css))
	}
}

// Record runs on the daemon's loop while pages are served: -race checks the two.
func TestConcurrentRecordAndServe(t *testing.T) {
	ui := New(Config{Resolution: time.Millisecond, Capacity: 50})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 500 {
			ui.Record(sampleAt(time.Duration(i)*time.Second, i))
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 50 {
				rec := httptest.NewRecorder()
				ui.ServeHTTP(rec, httptest.NewRequest("GET", "/api/series", nil))
				var s Series
				if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
					t.Error(err)
					return
				}
				for i := 1; i < len(s.Samples); i++ {
					if !s.Samples[i].At.After(s.Samples[i-1].At) {
						t.Errorf("samples out of order at %d", i)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A daemon that knows only what hibernation saves gives no cost: the sample carries none, and the
// page, which draws what the latest sample has, shows no cost card.
func TestHibernationSavingsWithoutCost(t *testing.T) {
	ui := New(Config{})
	ui.Record(Sample{At: t0, Apps: &Apps{Asleep: 1}, HibernationSavings: &HibernationSavings{PerHour: 0.25, Total: 1.5}})
	rec := httptest.NewRecorder()
	ui.ServeHTTP(rec, httptest.NewRequest("GET", "/api/series", nil))
	if body := rec.Body.String(); strings.Contains(body, `"cost"`) || !strings.Contains(body, `"hibernation_savings":{"per_hour":0.25,"total":1.5}`) {
		t.Fatalf("api/series: %s", body)
	}
	rec = httptest.NewRecorder()
	ui.ServeHTTP(rec, httptest.NewRequest("GET", "/assets/page.js", nil))
	if js := rec.Body.String(); !strings.Contains(js, "latest.hibernation_savings") || !strings.Contains(js, `fieldSeries("hibernation_savings"`) {
		t.Error("page.js does not show the hibernation savings")
	}
}
