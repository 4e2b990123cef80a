package hibernator

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMarathonLBBackend(t *testing.T) {
	cases := []struct {
		app  string
		port int
		want string
	}{
		{"/web/frontend", 10000, "web_frontend_10000"},
		{"/shop/api-v2", 10001, "shop_api-v2_10001"},
		{"/idle-app", 10002, "idle-app_10002"},
		{"/team/reports/daily", 10003, "team_reports_daily_10003"},
		{"no-slash", 80, "no-slash_80"},
	}
	for _, c := range cases {
		if got := MarathonLBBackend(c.app, c.port); got != c.want {
			t.Errorf("MarathonLBBackend(%q, %d) = %q, want %q", c.app, c.port, got, c.want)
		}
	}
}

func TestParseHAProxyCSVFixture(t *testing.T) {
	rows, err := ParseHAProxyCSV(bytes.NewReader(readFixture(t, "testdata/haproxy/stats-2.6-b.csv")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 13 {
		t.Fatalf("%d rows, want 13 (3 frontends, 5 backends, 5 servers)", len(rows))
	}
	backends := map[string]HAProxyRow{}
	for _, r := range rows {
		if r.IsBackend() {
			backends[r.Proxy] = r
		}
	}
	want := map[string]HAProxyRow{
		"stats":                    {Proxy: "stats", Service: "BACKEND", HasRequests: true}, // lastsess 0, stot 0
		"web_frontend_10000":       {Proxy: "web_frontend_10000", Service: "BACKEND", TotalSessions: 3, TotalRequests: 3, HasRequests: true, LastSession: 4},
		"shop_api-v2_10001":        {Proxy: "shop_api-v2_10001", Service: "BACKEND", TotalSessions: 3, TotalRequests: 3, HasRequests: true, LastSession: 1},
		"team_reports_daily_10003": {Proxy: "team_reports_daily_10003", Service: "BACKEND", HasRequests: true, LastSession: -1},
		// A TCP backend: HAProxy leaves req_tot empty.
		"idle-app_10002": {Proxy: "idle-app_10002", Service: "BACKEND", TotalSessions: 1, LastSession: 1},
	}
	for name, w := range want {
		if got := backends[name]; got != w {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, w)
		}
	}
}

func TestParseHAProxyCSVEdges(t *testing.T) {
	const hdr = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,check_desc,req_tot,lastsess,\n"
	cases := []struct {
		name    string
		in      string
		rows    []HAProxyRow
		wantErr string
	}{
		{
			name: "quoted fields with commas and quotes",
			in:   hdr + `app_1,"srv,1",0,0,2,3,,10,"Layer7 wrong status, ""503""",9,5,` + "\n" + `app_1,BACKEND,0,0,2,3,100,10,,9,5,` + "\n",
			rows: []HAProxyRow{
				{Proxy: "app_1", Service: "srv,1", CurrentSessions: 2, TotalSessions: 10, TotalRequests: 9, HasRequests: true, LastSession: 5},
				{Proxy: "app_1", Service: "BACKEND", CurrentSessions: 2, TotalSessions: 10, TotalRequests: 9, HasRequests: true, LastSession: 5},
			},
		},
		{
			name: "an old HAProxy without req_tot and lastsess",
			in:   "# pxname,svname,qcur,qmax,scur,smax,slim,stot,\napp_80,BACKEND,0,0,0,1,,7,\n",
			rows: []HAProxyRow{{Proxy: "app_80", Service: "BACKEND", TotalSessions: 7, LastSession: -1}},
		},
		{
			name: "frontend rows leave lastsess empty",
			in:   hdr + "marathon_http_in,FRONTEND,,,4,9,4096,120,,118,,\n",
			rows: []HAProxyRow{{Proxy: "marathon_http_in", Service: "FRONTEND", CurrentSessions: 4, TotalSessions: 120, TotalRequests: 118, HasRequests: true, LastSession: -1}},
		},
		{name: "header only", in: hdr, rows: nil},
		{name: "CRLF line ends", in: strings.ReplaceAll(hdr+"a_1,BACKEND,0,0,0,0,1,2,,2,0,\n", "\n", "\r\n"),
			rows: []HAProxyRow{{Proxy: "a_1", Service: "BACKEND", TotalSessions: 2, TotalRequests: 2, HasRequests: true}}},
		{name: "empty body", in: "", wantErr: "empty response"},
		{name: "the HTML stats page", in: "<html><head><title>Statistics Report</title>", wantErr: `does not start with "# pxname"`},
		{name: "missing required columns", in: "# pxname,svname,qcur,\na,BACKEND,0,\n", wantErr: "lacks the columns scur, stot"},
		{name: "truncated line", in: hdr + "a_1,BACKEND,0,0,0,0,100,10,,9,5,\nb_1,BACKEND,0,0,0", wantErr: "line 3 has 5 fields, the header 12"},
		{name: "extra fields", in: hdr + "a_1,BACKEND,0,0,0,0,100,10,,9,5,,x\n", wantErr: "line 2 has 13 fields"},
		{name: "not a number", in: hdr + "a_1,BACKEND,0,0,x,0,100,10,,9,5,\n", wantErr: `scur="x" is not a number`},
		{name: "negative counter", in: hdr + "a_1,BACKEND,0,0,-1,0,100,10,,9,5,\n", wantErr: "negative counter"},
		{name: "unterminated quote", in: hdr + "a_1,\"BACKEND,0,0,0,0,100,10,,9,5,\n", wantErr: "haproxy stats"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows, err := ParseHAProxyCSV(strings.NewReader(c.in))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(c.rows) {
				t.Fatalf("rows %+v, want %+v", rows, c.rows)
			}
			for i := range rows {
				if rows[i] != c.rows[i] {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], c.rows[i])
				}
			}
		})
	}
}

// statsServer serves HAProxy CSV bodies one after the other, as a stats page would over time.
type statsServer struct {
	*httptest.Server
	bodies [][]byte
	served int
}

func newStatsServer(t *testing.T, bodies ...[]byte) *statsServer {
	s := &statsServer{bodies: bodies}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "stats;csv" {
			http.Error(w, "want ?stats;csv", http.StatusNotFound)
			return
		}
		b := s.bodies[min(s.served, len(s.bodies)-1)]
		s.served++
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *statsServer) source(t *testing.T) *HAProxyStats {
	t.Helper()
	h, err := NewHAProxyStats(HAProxyStatsConfig{URL: s.URL + "/haproxy?stats;csv"})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHAProxyStatsCountersOverTime(t *testing.T) {
	a := readFixture(t, "testdata/haproxy/stats-2.6-a.csv")
	b := readFixture(t, "testdata/haproxy/stats-2.6-b.csv")
	c := readFixture(t, "testdata/haproxy/stats-2.6-c-reloaded.csv")
	srv := newStatsServer(t, a, b, c)
	h := srv.source(t)
	ctx := context.Background()
	t0 := time.Date(2026, 8, 21, 10, 0, 0, 0, time.UTC)

	// First fetch: lastsess dates the sessions the process saw before.
	r, err := h.Traffic(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Since.Equal(t0) || !r.AsOf.Equal(t0) {
		t.Errorf("since %s, as of %s", r.Since, r.AsOf)
	}
	want := map[string]TrafficSeen{
		"web_frontend_10000":       {Last: t0.Add(-3 * time.Second)},
		"shop_api-v2_10001":        {Last: t0.Add(-3 * time.Second)},
		"team_reports_daily_10003": {},
		"idle-app_10002":           {},
		"stats":                    {},
	}
	checkBackends(t, "first fetch", r.Backends, want)

	// 30s later: two more sessions on the API (lastsess 1s), one on the TCP app (no req_tot).
	t1 := t0.Add(30 * time.Second)
	if r, err = h.Traffic(ctx, t1); err != nil {
		t.Fatal(err)
	}
	want["shop_api-v2_10001"] = TrafficSeen{Last: t1.Add(-time.Second), Requests: 2}
	want["idle-app_10002"] = TrafficSeen{Last: t1.Add(-time.Second), Requests: 1}
	checkBackends(t, "second fetch", r.Backends, want)

	// A reload restarted every counter. Nothing was open at the last fetch, so nothing moves.
	t2 := t1.Add(30 * time.Second)
	if r, err = h.Traffic(ctx, t2); err != nil {
		t.Fatal(err)
	}
	checkBackends(t, "after the reload", r.Backends, want)
	if h.Resets() != 3 { // web, API and the TCP app; the others had counted nothing to restart
		t.Errorf("%d resets, want 3", h.Resets())
	}
}

func TestHAProxyStatsOpenSessionsAndReloads(t *testing.T) {
	const hdr = "# pxname,svname,scur,stot,req_tot,lastsess,\n"
	row := func(scur, stot, req, lastsess string) []byte {
		return []byte(hdr + "ws_app_10000,BACKEND," + scur + "," + stot + "," + req + "," + lastsess + ",\n")
	}
	srv := newStatsServer(t,
		row("0", "5", "5", "600"), // t0: last session 10 minutes ago
		row("1", "6", "6", "300"), // t1: a websocket opened 5 minutes ago, still open
		row("1", "6", "6", "360"), // t2: still open: in use now
		row("0", "0", "0", "-1"),  // t3: reload; the websocket may live on in the old process
		row("0", "0", "0", "-1"),  // t4: nothing new
		row("0", "0", "4", "-1"),  // t5: keep-alive requests without a new session
	)
	h := srv.source(t)
	t0 := time.Date(2026, 8, 21, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Time
		want TrafficSeen
	}{
		{t0, TrafficSeen{Last: t0.Add(-10 * time.Minute)}},
		{t0.Add(time.Minute), TrafficSeen{Last: t0.Add(time.Minute), Requests: 1, Open: 1}},
		{t0.Add(2 * time.Minute), TrafficSeen{Last: t0.Add(2 * time.Minute), Requests: 1, Open: 1}},
		{t0.Add(3 * time.Minute), TrafficSeen{Last: t0.Add(3 * time.Minute), Requests: 1}},
		{t0.Add(4 * time.Minute), TrafficSeen{Last: t0.Add(3 * time.Minute), Requests: 1}},
		{t0.Add(5 * time.Minute), TrafficSeen{Last: t0.Add(5 * time.Minute), Requests: 5}},
	}
	for i, s := range steps {
		r, err := h.Traffic(context.Background(), s.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Backends["ws_app_10000"]; got != s.want {
			t.Errorf("step %d: got %+v, want %+v", i, got, s.want)
		}
	}
}

func TestHAProxyStatsBackendLeavesAndReturns(t *testing.T) {
	const hdr = "# pxname,svname,scur,stot,req_tot,lastsess,\n"
	with := []byte(hdr + "a_1,BACKEND,0,3,3,20,\nb_1,BACKEND,1,1,1,20,\n")
	without := []byte(hdr + "a_1,BACKEND,0,3,3,80,\n")
	srv := newStatsServer(t, with, without)
	h := srv.source(t)
	t0 := time.Date(2026, 8, 21, 10, 0, 0, 0, time.UTC)
	if _, err := h.Traffic(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	r, err := h.Traffic(context.Background(), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// The app behind b_1 went to sleep and marathon-lb dropped its backend: its last request is still
	// known, and nothing is open any more.
	if got, want := r.Backends["b_1"], (TrafficSeen{Last: t0}); got != want {
		t.Errorf("b_1 = %+v, want %+v", got, want)
	}
}

func TestHAProxyStatsFetchErrors(t *testing.T) {
	ok := readFixture(t, "testdata/haproxy/stats-2.6-a.csv")
	t0 := time.Date(2026, 8, 21, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		handler http.HandlerFunc
		cfg     func(*HAProxyStatsConfig)
		wantErr string
	}{
		{
			name: "basic auth",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if u, p, _ := r.BasicAuth(); u != "marmot" || p != "s3cret" {
					http.Error(w, "auth", http.StatusUnauthorized)
					return
				}
				_, _ = w.Write(ok)
			},
			cfg: func(c *HAProxyStatsConfig) { c.Username, c.Password = "marmot", "s3cret" },
		},
		{
			name:    "no credentials",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "auth", http.StatusUnauthorized) },
			wantErr: "401 Unauthorized",
		},
		{
			name:    "a hung stats page times out",
			handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			cfg:     func(c *HAProxyStatsConfig) { c.Timeout = 20 * time.Millisecond },
			wantErr: "deadline exceeded",
		},
		{
			name: "a body cut short",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100000")
				_, _ = w.Write(ok[:1000])
			},
			wantErr: "haproxy stats",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			cfg := HAProxyStatsConfig{URL: srv.URL + "/haproxy?stats;csv"}
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			h, err := NewHAProxyStats(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r, err := h.Traffic(context.Background(), t0)
			if c.wantErr == "" {
				if err != nil || len(r.Backends) == 0 {
					t.Fatalf("error %v, %d backends", err, len(r.Backends))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
			if !r.AsOf.IsZero() || !r.Since.IsZero() {
				t.Errorf("a failed fetch must not look fresh: %+v", r)
			}
		})
	}
}

func TestNewHAProxyStats(t *testing.T) {
	for _, u := range []string{"", "lb-1:9090/haproxy?stats;csv", "ftp://lb/x", "http://"} {
		if _, err := NewHAProxyStats(HAProxyStatsConfig{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	h, err := NewHAProxyStats(HAProxyStatsConfig{URL: "http://lb-1:9090/haproxy?stats;csv"})
	if err != nil || h.Name() != "haproxy:lb-1:9090" {
		t.Errorf("name %q, %v", h.Name(), err)
	}
}

func FuzzParseHAProxyCSV(f *testing.F) {
	files, _ := filepath.Glob("testdata/haproxy/*.csv")
	for _, name := range files {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte("# pxname,svname,scur,stot\na,BACKEND,1,2\n"))
	f.Add([]byte("# pxname,svname,scur,stot,req_tot,lastsess,\n\"a\"\"b\",BACKEND,,,,,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseHAProxyCSV(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.CurrentSessions < 0 || r.LastSession < -1 {
				t.Fatalf("impossible row %+v", r)
			}
		}
		// Whatever parses can be observed without panicking.
		h := &HAProxyStats{backends: map[string]*backendState{}}
		now := time.Date(2026, 8, 21, 10, 0, 0, 0, time.UTC)
		h.observe(rows, now)
		h.observe(rows, now.Add(time.Second))
		for name, s := range h.report().Backends {
			if s.Last.After(now.Add(time.Second)) || s.Open < 0 {
				t.Fatalf("%s: %+v", name, s)
			}
		}
	})
}

func checkBackends(t *testing.T, step string, got, want map[string]TrafficSeen) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d backends %v, want %d", step, len(got), got, len(want))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: %s = %+v, want %+v", step, name, g, w)
		}
	}
}
