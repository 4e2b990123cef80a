package hibernator

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/policy"
)

func TestParseAccessLogLine(t *testing.T) {
	at := time.Date(2026, 8, 21, 10, 15, 30, 0, time.FixedZone("", 2*3600))
	cases := []struct {
		name    string
		line    string
		want    AccessLogLine
		wantErr string
	}{
		{
			name: "a browser",
			line: `2026-08-21T10:15:30+02:00 shop.example.com 200 GET "/cart?item=42" "Mozilla/5.0 (X11; Linux x86_64)" 0.012`,
			want: AccessLogLine{Time: at, Host: "shop.example.com", Status: 200, Method: "GET", URI: "/cart?item=42", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", Duration: 12 * time.Millisecond},
		},
		{
			name: "nginx escapes quotes and backslashes",
			line: `2026-08-21T10:15:30+02:00 r.example.com 200 GET "/a/\x22c\x22" "evil \x22quoted\x22 agent\x5C" 0.000`,
			want: AccessLogLine{Time: at, Host: "r.example.com", Status: 200, Method: "GET", URI: `/a/\x22c\x22`, UserAgent: `evil \x22quoted\x22 agent\x5C`},
		},
		{
			name: "a garbage request line",
			line: `2026-08-21T10:15:30+02:00 _ 400 - "-" "-" 0.025`,
			want: AccessLogLine{Time: at, Host: "_", Status: 400, Method: "-", URI: "-", UserAgent: "-", Duration: 25 * time.Millisecond},
		},
		{
			name: "empty method and quoted fields",
			line: `2026-08-21T10:15:30+02:00 a.example.com 400  "" "" 0.000`,
			want: AccessLogLine{Time: at, Host: "a.example.com", Status: 400},
		},
		{
			name: "CRLF",
			line: "2026-08-21T10:15:30+02:00 a.example.com 204 POST \"/x\" \"-\" 1.5\r",
			want: AccessLogLine{Time: at, Host: "a.example.com", Status: 204, Method: "POST", URI: "/x", UserAgent: "-", Duration: 1500 * time.Millisecond},
		},
		{name: "empty", line: "", wantErr: "not in the marmot log_format"},
		{name: "combined format", line: `10.0.0.1 - - [21/Aug/2026:10:15:30 +0200] "GET / HTTP/1.1" 200 612 "-" "curl/8"`, wantErr: "not in the marmot log_format"},
		{name: "truncated in the user agent", line: `2026-08-21T10:15:30+02:00 a.example.com 200 GET "/" "Mozilla/5.0 (X11`, wantErr: "http_user_agent has no closing quote"},
		{name: "truncated before request_time", line: `2026-08-21T10:15:30+02:00 a.example.com 200 GET "/" "curl/8"`, wantErr: "missing request_time"},
		{name: "unquoted uri", line: `2026-08-21T10:15:30+02:00 a.example.com 200 GET / "curl/8" 0.1`, wantErr: "request_uri is not quoted"},
		{name: "extra field", line: `2026-08-21T10:15:30+02:00 a.example.com 200 GET "/" "curl/8" 0.1 upstream`, wantErr: "unexpected bytes"},
		{name: "a quote in a value", line: `2026-08-21T10:15:30+02:00 a.example.com 200 GET "/"x" "curl/8" 0.1`, wantErr: "not in the marmot log_format"},
		{name: "local time", line: `21/Aug/2026:10:15:30 a.example.com 200 GET "/" "curl/8" 0.1`, wantErr: "not an ISO 8601 time"},
		{name: "status", line: `2026-08-21T10:15:30+02:00 a.example.com OK GET "/" "curl/8" 0.1`, wantErr: "3-digit status"},
		{name: "request time", line: `2026-08-21T10:15:30+02:00 a.example.com 200 GET "/" "curl/8" -1`, wantErr: "request_time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAccessLogLine(c.line)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(c.want.Time) {
				t.Errorf("time %s, want %s", got.Time, c.want.Time)
			}
			got.Time = c.want.Time
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseAccessLogFixture(t *testing.T) {
	f, err := os.Open("testdata/nginx/access.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		if _, err := ParseAccessLogLine(sc.Text()); err != nil {
			t.Errorf("line %d: %v", n, err)
		}
	}
	if n < 10 {
		t.Errorf("only %d lines", n)
	}
}

// accessLog is a log file in a temp dir that a test writes as nginx would.
type accessLog struct {
	t    *testing.T
	path string
	f    *os.File
}

func newAccessLog(t *testing.T) *accessLog {
	l := &accessLog{t: t, path: filepath.Join(t.TempDir(), "marmot.log")}
	l.reopen()
	t.Cleanup(func() { l.f.Close() })
	return l
}

// reopen is nginx's USR1: it opens (creates) the log at its path again.
func (l *accessLog) reopen() {
	if l.f != nil {
		l.f.Close()
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	l.f = f
}

func (l *accessLog) write(s string) {
	if _, err := l.f.WriteString(s); err != nil {
		l.t.Fatal(err)
	}
}

// request writes one complete line for host at the given time.
func (l *accessLog) request(host, path string, at time.Time) {
	l.write(fmt.Sprintf("%s %s 200 GET %q \"Mozilla/5.0\" 0.003\n", at.Format(time.RFC3339), host, path))
}

var logT0 = time.Date(2026, 8, 21, 10, 0, 0, 0, time.UTC)

func pollLog(t *testing.T, src *NginxAccessLog, now time.Time) (TrafficReport, error) {
	t.Helper()
	return src.Traffic(context.Background(), now)
}

func mustPollLog(t *testing.T, src *NginxAccessLog, now time.Time) TrafficReport {
	t.Helper()
	r, err := pollLog(t, src, now)
	if err != nil {
		t.Fatalf("poll at %s: %v", now, err)
	}
	return r
}

func wantHost(t *testing.T, r TrafficReport, host string, last time.Time, requests uint64) {
	t.Helper()
	got := r.Hosts[host]
	if !got.Last.Equal(last) || got.Requests != requests {
		t.Errorf("%s: last %s, %d requests; want %s, %d", host, got.Last, got.Requests, last, requests)
	}
}

func TestNginxAccessLogFollowsAppends(t *testing.T) {
	log := newAccessLog(t)
	log.request("old.example.com", "/", logT0.Add(-time.Hour)) // before the source started: history
	src := NewNginxAccessLog(NginxAccessLogConfig{Path: log.path})
	defer src.Close()

	r := mustPollLog(t, src, logT0)
	if len(r.Hosts) != 0 || !r.Since.Equal(logT0) || !r.AsOf.Equal(logT0) {
		t.Fatalf("first poll: %+v", r)
	}
	log.request("shop.example.com", "/a", logT0.Add(time.Second))
	log.request("Shop.Example.com", "/b", logT0.Add(2*time.Second))
	// A line split across two reads is counted once, when it is complete.
	log.write(logT0.Add(3*time.Second).Format(time.RFC3339) + " api.example.com 200 GET \"/v1\"")
	r = mustPollLog(t, src, logT0.Add(10*time.Second))
	wantHost(t, r, "shop.example.com", logT0.Add(2*time.Second), 2)
	if _, ok := r.Hosts["api.example.com"]; ok {
		t.Error("a partial line was counted")
	}
	log.write(" \"curl/8\" 0.001\n")
	r = mustPollLog(t, src, logT0.Add(20*time.Second))
	wantHost(t, r, "api.example.com", logT0.Add(3*time.Second), 1)
	if s := src.Stats(); s.Lines != 3 || s.Counted != 3 || s.Malformed != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestNginxAccessLogRenameRotation(t *testing.T) {
	log := newAccessLog(t)
	src := NewNginxAccessLog(NginxAccessLogConfig{Path: log.path, RotateGrace: time.Minute})
	defer src.Close()
	mustPollLog(t, src, logT0)

	log.request("a.example.com", "/1", logT0.Add(1*time.Second))
	// logrotate renames the file; nginx keeps writing the old one until it gets USR1.
	if err := os.Rename(log.path, log.path+".1"); err != nil {
		t.Fatal(err)
	}
	log.request("a.example.com", "/2", logT0.Add(2*time.Second))
	// Polled in the gap: the lines are read, but the source is stale while the path is missing.
	r, err := pollLog(t, src, logT0.Add(5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("no error while the log is missing: %v", err)
	}
	if !r.AsOf.Equal(logT0) {
		t.Errorf("as of %s while the log is missing", r.AsOf)
	}
	wantHost(t, r, "a.example.com", logT0.Add(2*time.Second), 2)

	log.request("a.example.com", "/3", logT0.Add(6*time.Second)) // still the old file
	log.reopen()                                                 // USR1: a new file at the path
	log.request("b.example.com", "/1", logT0.Add(7*time.Second))
	r = mustPollLog(t, src, logT0.Add(10*time.Second))
	wantHost(t, r, "a.example.com", logT0.Add(6*time.Second), 3)
	wantHost(t, r, "b.example.com", logT0.Add(7*time.Second), 1)
	if s := src.Stats(); s.Rotations != 1 || len(src.rotated) != 1 {
		t.Errorf("stats %+v, %d rotated files open", s, len(src.rotated))
	}

	// A late write to the old file (a worker that had not reopened yet) is still read within the grace.
	old, err := os.OpenFile(log.path+".1", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(old, "%s a.example.com 200 GET \"/4\" \"-\" 0.1\n", logT0.Add(11*time.Second).Format(time.RFC3339))
	old.Close()
	r = mustPollLog(t, src, logT0.Add(40*time.Second))
	wantHost(t, r, "a.example.com", logT0.Add(11*time.Second), 4)

	// After a minute without growth the old file is closed.
	mustPollLog(t, src, logT0.Add(101*time.Second))
	if len(src.rotated) != 0 {
		t.Errorf("%d rotated files still open after the grace", len(src.rotated))
	}
}

func TestNginxAccessLogKeepsTheOldFileWhileNginxHasNotReopened(t *testing.T) {
	log := newAccessLog(t)
	src := NewNginxAccessLog(NginxAccessLogConfig{Path: log.path, RotateGrace: time.Second})
	defer src.Close()
	mustPollLog(t, src, logT0)
	// Rotation without the postrotate USR1: a new empty file appears, nginx writes the old one forever.
	if err := os.Rename(log.path, log.path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log.path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustPollLog(t, src, logT0.Add(time.Second))
	mustPollLog(t, src, logT0.Add(time.Hour))
	log.request("a.example.com", "/", logT0.Add(time.Hour+time.Second)) // log.f is still the old file
	r := mustPollLog(t, src, logT0.Add(time.Hour+2*time.Second))
	wantHost(t, r, "a.example.com", logT0.Add(time.Hour+time.Second), 1)
}

func TestNginxAccessLogCopyTruncate(t *testing.T) {
	log := newAccessLog(t)
	src := NewNginxAccessLog(NginxAccessLogConfig{Path: log.path})
	defer src.Close()
	mustPollLog(t, src, logT0)
	for i := range 5 {
		log.request("a.example.com", fmt.Sprintf("/%d", i), logT0.Add(time.Second))
	}
	mustPollLog(t, src, logT0.Add(2*time.Second))

	// copytruncate: the file is emptied in place (nginx's O_APPEND writes go on at the new end).
	if err := os.Truncate(log.path, 0); err != nil {
		t.Fatal(err)
	}
	log.request("b.example.com", "/", logT0.Add(3*time.Second))
	r := mustPollLog(t, src, logT0.Add(4*time.Second))
	wantHost(t, r, "b.example.com", logT0.Add(3*time.Second), 1)

	// Truncated and written past the old read position before the next poll: the size alone does not
	// tell, the changed bytes before the position do.
	if err := os.Truncate(log.path, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		log.request("c.example.com", fmt.Sprintf("/a-much-longer-path-than-before-%d", i), logT0.Add(5*time.Second))
	}
	r = mustPollLog(t, src, logT0.Add(6*time.Second))
	wantHost(t, r, "c.example.com", logT0.Add(5*time.Second), 3)
	if s := src.Stats(); s.Truncations != 2 || s.Malformed != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestNginxAccessLogStaleness(t *testing.T) {
	t.Run("missing at start", func(t *testing.T) {
		src := NewNginxAccessLog(NginxAccessLogConfig{Path: filepath.Join(t.TempDir(), "none.log")})
		r, err := pollLog(t, src, logT0)
		if err == nil || !r.Since.IsZero() || !r.AsOf.IsZero() {
			t.Errorf("report %+v, error %v", r, err)
		}
	})
	t.Run("a wrong log_format is stale until a good line", func(t *testing.T) {
		log := newAccessLog(t)
		src := NewNginxAccessLog(NginxAccessLogConfig{Path: log.path})
		defer src.Close()
		mustPollLog(t, src, logT0)
		log.write(`10.0.0.1 - - [21/Aug/2026:10:15:30 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8"` + "\n")
		for _, at := range []time.Time{logT0.Add(time.Second), logT0.Add(time.Hour)} {
			r, err := pollLog(t, src, at)
			if err == nil || !strings.Contains(err.Error(), "not in the marmot log_format") || !r.AsOf.Equal(logT0) {
				t.Errorf("at %s: as of %s, error %v", at, r.AsOf, err)
			}
		}
		log.request("a.example.com", "/", logT0.Add(time.Hour))
		mustPollLog(t, src, logT0.Add(time.Hour+time.Second))
	})
	t.Run("a line over 16 KiB", func(t *testing.T) {
		log := newAccessLog(t)
		src := NewNginxAccessLog(NginxAccessLogConfig{Path: log.path})
		defer src.Close()
		mustPollLog(t, src, logT0)
		log.write(logT0.Format(time.RFC3339) + " a.example.com 200 GET \"/" + strings.Repeat("x", 20<<10))
		mustPollLog(t, src, logT0.Add(time.Second)) // not yet ended: not yet bad
		log.write("\" \"-\" 0.1\n")
		if _, err := pollLog(t, src, logT0.Add(2*time.Second)); err == nil {
			t.Error("an over-long line was not reported")
		}
		log.request("b.example.com", "/", logT0.Add(3*time.Second))
		r := mustPollLog(t, src, logT0.Add(4*time.Second))
		wantHost(t, r, "b.example.com", logT0.Add(3*time.Second), 1)
		if _, ok := r.Hosts["a.example.com"]; ok {
			t.Error("the over-long line was counted")
		}
	})
	t.Run("too many hosts", func(t *testing.T) {
		log := newAccessLog(t)
		src := NewNginxAccessLog(NginxAccessLogConfig{Path: log.path, MaxHosts: 2})
		defer src.Close()
		mustPollLog(t, src, logT0)
		for _, h := range []string{"a.example.com", "b.example.com", "c.example.com"} {
			log.request(h, "/", logT0)
		}
		if _, err := pollLog(t, src, logT0.Add(time.Second)); err == nil {
			t.Error("a full host table is not stale")
		}
		// A week later the hosts have aged out.
		mustPollLog(t, src, logT0.Add(8*24*time.Hour))
	})
}

func TestNginxAccessLogIgnores(t *testing.T) {
	p, err := policy.LoadHibernationPolicy([]byte(`traffic: {ignore_paths: [/health, /status/**], ignore_user_agents: ["kube-probe/*", "*UptimeRobot*"]}`))
	if err != nil {
		t.Fatal(err)
	}
	log := newAccessLog(t)
	src := NewNginxAccessLog(NginxAccessLogConfig{Path: log.path, Traffic: &p.Traffic})
	defer src.Close()
	mustPollLog(t, src, logT0)
	// The real capture: a browser, a kube probe on /health, UptimeRobot, a POST, a 404, escapes, no
	// User-Agent, the default server (_), an IP as Host, HEAD, OPTIONS *, garbage, HTTP/1.0, UTF-8.
	log.write(string(readFixture(t, "testdata/nginx/access.log")))
	log.write("\n")
	r := mustPollLog(t, src, logT0.Add(time.Second))
	counted := map[string]uint64{}
	for h, s := range r.Hosts {
		counted[h] = s.Requests
	}
	want := map[string]uint64{"shop.example.com": 1, "api.example.com": 2, "reports.example.com": 1, "web.example.com": 3}
	if fmt.Sprint(counted) != fmt.Sprint(want) {
		t.Errorf("counted %v, want %v", counted, want)
	}
	if s := src.Stats(); s.Ignored != 2 || s.Unattributed != 5 || s.Malformed != 0 {
		t.Errorf("stats %+v, want 2 ignored (probe, monitor), 5 unattributed (three _, 10.0.0.5, 127.0.0.1)", s)
	}
}

func FuzzParseAccessLogLine(f *testing.F) {
	for line := range bytes.Lines(readFixture(f, "testdata/nginx/access.log")) {
		f.Add(string(bytes.TrimRight(line, "\n")))
	}
	f.Add(`2026-08-21T10:15:30+02:00 a.example.com 400  "" "" 0.000`)
	f.Add(`2026-08-21T10:15:30Z a 200 GET "/" "x`)
	f.Fuzz(func(t *testing.T, line string) {
		l, err := ParseAccessLogLine(line)
		if err != nil {
			return
		}
		if l.Status < 0 || l.Status > 999 || l.Duration < 0 || strings.Contains(l.URI, `"`) || strings.Contains(l.UserAgent, `"`) {
			t.Fatalf("impossible line %+v from %q", l, line)
		}
		// What parses is counted without panicking.
		src := NewNginxAccessLog(NginxAccessLogConfig{Path: "fuzz"})
		src.line(line, logT0)
		for h, seen := range src.hosts {
			if seen.Last.After(logT0) {
				t.Fatalf("%s: last request %s after the read at %s", h, seen.Last, logT0)
			}
		}
	})
}

// A request time ahead of the read (nginx's clock runs ahead of the hibernator's) counts as made when
// it was read, and stays so at later reads: the app's idle clock starts then, not an hour from now.
func TestNginxAccessLogReadsFutureTimesAsTheirFirstRead(t *testing.T) {
	log := newAccessLog(t)
	src := NewNginxAccessLog(NginxAccessLogConfig{Path: log.path})
	defer src.Close()
	mustPollLog(t, src, logT0)
	log.request("shop.example.com", "/", logT0.Add(time.Hour+5*time.Second))
	r := mustPollLog(t, src, logT0.Add(5*time.Second))
	wantHost(t, r, "shop.example.com", logT0.Add(5*time.Second), 1)
	if r.Future != 1 || r.Ahead != time.Hour {
		t.Errorf("future %d, ahead %s; want 1 request an hour ahead", r.Future, r.Ahead)
	}
	r = mustPollLog(t, src, logT0.Add(time.Minute))
	wantHost(t, r, "shop.example.com", logT0.Add(5*time.Second), 1)
	// A request on time later on moves the host on as usual.
	log.request("shop.example.com", "/", logT0.Add(2*time.Minute))
	r = mustPollLog(t, src, logT0.Add(3*time.Minute))
	wantHost(t, r, "shop.example.com", logT0.Add(2*time.Minute), 2)
	if s := src.Stats(); s.Future != 1 || r.Future != 1 {
		t.Errorf("stats %+v, report future %d: want the one request ahead", s, r.Future)
	}
}
