package hibernator

// Tests against a real HAProxy and a real nginx (the Debian packages haproxy and nginx-light or nginx),
// on loopback and free ports. They are skipped when the binary is missing or with -short.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marmot-project/marmot/hibernator/daemontest"
	"github.com/marmot-project/marmot/policy"
)

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func get(t *testing.T, url, host, userAgent string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestRealHAProxyStats(t *testing.T) {
	bin := daemontest.Binary(t, "haproxy")
	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = io.WriteString(w, "the app\n")
	}))
	defer app.Close()
	defer close(release)

	front, stats := daemontest.Port(t), daemontest.Port(t)
	backend := MarathonLBBackend("/web/frontend", 10000)
	cfg := fmt.Sprintf(`global
  maxconn 256
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen stats
  bind 127.0.0.1:%d
  stats enable
  stats uri /haproxy?stats
  stats auth marmot:s3cret
frontend marathon_http_in
  bind 127.0.0.1:%d
  acl host_web hdr(host) -i web.example.com
  use_backend %s if host_web
backend %s
  server 127_0_0_1_%d %s
backend idle_app_10001
  server 127_0_0_1_1 127.0.0.1:1
`, stats, front, backend, backend, daemontest.Port(t), strings.TrimPrefix(app.URL, "http://"))
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Start(t, bin, "-db", "-f", path)

	src, err := NewHAProxyStats(HAProxyStatsConfig{
		URL:      fmt.Sprintf("http://127.0.0.1:%d/haproxy?stats;csv", stats),
		Username: "marmot", Password: "s3cret",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var r TrafficReport
	daemontest.Eventually(t, "haproxy stats", func() error { r, err = src.Traffic(ctx, time.Now()); return err })
	if s, ok := r.Backends[backend]; !ok || s.Requests != 0 || !s.Last.IsZero() {
		t.Fatalf("before any request: %+v (%v)", s, r.Backends)
	}

	before := time.Now()
	for range 3 {
		if code := get(t, fmt.Sprintf("http://127.0.0.1:%d/", front), "web.example.com", ""); code != http.StatusOK {
			t.Fatalf("status %d through haproxy", code)
		}
	}
	get(t, fmt.Sprintf("http://127.0.0.1:%d/", front), "unknown.example.com", "") // no backend: 503
	r, err = src.Traffic(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	s := r.Backends[backend]
	// lastsess counts whole seconds.
	if s.Requests != 3 || s.Last.Before(before.Add(-time.Second)) || s.Last.After(after) || s.Open != 0 {
		t.Errorf("after 3 requests between %s and %s: %+v", before, after, s)
	}
	if idle := r.Backends["idle_app_10001"]; idle.Requests != 0 || !idle.Last.IsZero() {
		t.Errorf("idle backend: %+v", idle)
	}

	// A long-lived response holds a session open: in use now.
	go func() {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/stream", front), nil)
		req.Host = "web.example.com"
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	daemontest.Eventually(t, "an open session", func() error {
		now := time.Now()
		r, err := src.Traffic(ctx, now)
		if err != nil {
			return err
		}
		if s := r.Backends[backend]; s.Open != 1 || !s.Last.Equal(now) {
			return fmt.Errorf("%+v", s)
		}
		return nil
	})
}

func TestRealNginxAccessLog(t *testing.T) {
	bin := daemontest.Binary(t, "nginx")
	dir := t.TempDir()
	port := daemontest.Port(t)
	logPath := filepath.Join(dir, "marmot.log")
	// As root, nginx's workers run as nobody, who cannot reopen a log in the test's private temp dir
	// after a rotation (they would go on writing the renamed file).
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`daemon off;
%[5]s
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
  %[2]s
  access_log %[3]s marmot;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen 127.0.0.1:%[4]d default_server;
    server_name _;
    location / { return 200 "the app\n"; }
  }
}
`, dir, NginxLogFormat, logPath, port, user)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	nginx := daemontest.Start(t, bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))

	p, err := policy.LoadHibernationPolicy([]byte(`traffic: {ignore_paths: [/health], ignore_user_agents: ["kube-probe/*"]}`))
	if err != nil {
		t.Fatal(err)
	}
	src := NewNginxAccessLog(NginxAccessLogConfig{Path: logPath, Traffic: &p.Traffic})
	defer src.Close()
	ctx := context.Background()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	daemontest.Eventually(t, "nginx up and its log open", func() error {
		if _, err := src.Traffic(ctx, time.Now()); err != nil {
			return err
		}
		_, err := http.Get(url + "/health")
		return err
	})

	requests := func(host string, n int) {
		for i := range n {
			if code := get(t, fmt.Sprintf("%s/page/%d?x=\"q\"", url, i), host, "Mozilla/5.0 (\"test\")"); code != http.StatusOK {
				t.Fatalf("status %d from nginx", code)
			}
		}
	}
	seen := func(want map[string]uint64) func() error {
		return func() error {
			r, err := src.Traffic(ctx, time.Now())
			if err != nil {
				return err
			}
			for h, n := range want {
				if r.Hosts[h].Requests != n {
					return fmt.Errorf("%s: %d requests, want %d (%+v)", h, r.Hosts[h].Requests, n, src.Stats())
				}
			}
			return nil
		}
	}

	requests("Shop.Example.com", 3)
	get(t, url+"/health", "shop.example.com", "")
	get(t, url+"/", "shop.example.com", "kube-probe/1.29") // both ignored, as are the startup probes
	daemontest.Eventually(t, "the first requests", seen(map[string]uint64{"shop.example.com": 3}))

	// Rename rotation as logrotate does it: rename, requests that still go to the old file, USR1.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	requests("shop.example.com", 2)
	if err := nginx.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "nginx reopening its log", func() error {
		if !fileExists(logPath) {
			return fmt.Errorf("%s not recreated", logPath)
		}
		return nil
	})
	requests("api.example.com", 4)
	daemontest.Eventually(t, "requests across the rotation", seen(map[string]uint64{"shop.example.com": 5, "api.example.com": 4}))

	// copytruncate: copy, truncate in place; nginx goes on writing at the new end.
	if err := os.Truncate(logPath, 0); err != nil {
		t.Fatal(err)
	}
	requests("api.example.com", 2)
	daemontest.Eventually(t, "requests after a truncation", seen(map[string]uint64{"api.example.com": 6}))
	st := src.Stats()
	if st.Ignored < 2 || st.Malformed != 0 || st.Rotations != 1 || st.Truncations != 1 {
		t.Errorf("stats %+v", st)
	}
}
