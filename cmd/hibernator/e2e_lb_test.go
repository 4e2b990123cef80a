package main

// The load balancers of the end-to-end test: a real HAProxy configured the way marathon-lb configures
// it, and a real nginx configured the way nixy does, both regenerated and reloaded from Marathon's
// state as those tools do, with Marmot's snippets from deploy/ in them.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/hibernator/daemontest"
)

// lbRoute is one app's service port as the load balancers serve it.
type lbRoute struct {
	App, Host, Backend string
	Servers            []string // host:port of running tasks
}

// balancers keeps HAProxy and nginx in step with Marathon.
type balancers struct {
	t                                  *testing.T
	dir, marathon                      string
	httpAddr, statsAddr, nginxAddr     string
	activatorAddr, statusAddr, logPath string
	haproxy, nginx                     *exec.Cmd

	mu       sync.Mutex
	key      string
	gen      int
	backends map[int][]string // apps with a backend, by config generation
}

// generationHost answers, on both load balancers, with the generation of the config they serve, so
// that a test can wait for a change to be in force rather than guess how long a reload takes.
const generationHost = "generation.lb.test"

func startBalancers(t *testing.T, marathonURL, activatorAddr, statusAddr string) *balancers {
	b := &balancers{
		t: t, dir: t.TempDir(), marathon: marathonURL, activatorAddr: activatorAddr, statusAddr: statusAddr,
		httpAddr: daemontest.Addr(t), statsAddr: daemontest.Addr(t), nginxAddr: daemontest.Addr(t), backends: map[int][]string{},
	}
	b.logPath = filepath.Join(b.dir, "marmot.log")
	haproxy, nginx := daemontest.Binary(t, "haproxy"), daemontest.Binary(t, "nginx")
	if err := b.sync(); err != nil {
		t.Fatal(err)
	}
	b.haproxy = daemontest.Start(t, haproxy, "-W", "-db", "-f", filepath.Join(b.dir, "haproxy.cfg"))
	b.nginx = daemontest.Start(t, nginx, "-p", b.dir, "-c", filepath.Join(b.dir, "nginx.conf"), "-e", filepath.Join(b.dir, "error.log"))
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if err := b.sync(); err != nil {
				t.Errorf("load balancer sync: %v", err)
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	b.waitGeneration(1)
	return b
}

// routes reads Marathon as marathon-lb does: apps with a vhost and their running tasks.
func (b *balancers) routes() ([]lbRoute, error) {
	resp, err := http.Get(b.marathon + "/v2/apps?embed=apps.tasks")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Apps []struct {
			ID              string            `json:"id"`
			Labels          map[string]string `json:"labels"`
			PortDefinitions []struct {
				Port int `json:"port"`
			} `json:"portDefinitions"`
			Tasks []struct {
				Host  string `json:"host"`
				Ports []int  `json:"ports"`
				State string `json:"state"`
			} `json:"tasks"`
		} `json:"apps"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	var out []lbRoute
	for _, a := range body.Apps {
		host := a.Labels["HAPROXY_0_VHOST"]
		if host == "" || len(a.PortDefinitions) == 0 {
			continue
		}
		r := lbRoute{App: a.ID, Host: host, Backend: hibernator.MarathonLBBackend(a.ID, a.PortDefinitions[0].Port)}
		for _, task := range a.Tasks {
			if task.State == "TASK_RUNNING" && len(task.Ports) > 0 {
				r.Servers = append(r.Servers, net.JoinHostPort(task.Host, strconv.Itoa(task.Ports[0])))
			}
		}
		// Like marathon-lb and nixy: no running task, no backend, no vhost.
		if len(r.Servers) > 0 {
			slices.Sort(r.Servers)
			out = append(out, r)
		}
	}
	return out, nil
}

// sync regenerates both configs when Marathon changed, and reloads the daemons.
func (b *balancers) sync() error {
	routes, err := b.routes()
	if err != nil {
		return err
	}
	key := fmt.Sprint(routes)
	b.mu.Lock()
	if key == b.key {
		b.mu.Unlock()
		return nil
	}
	b.key = key
	b.gen++
	gen := b.gen
	for _, r := range routes {
		b.backends[gen] = append(b.backends[gen], r.App)
	}
	b.mu.Unlock()

	if err := b.writeConfigs(routes, gen); err != nil {
		return err
	}
	if b.haproxy != nil {
		// marathon-lb reloads HAProxy with a new process; in master-worker mode SIGUSR2 does that.
		_ = b.haproxy.Process.Signal(syscall.SIGUSR2)
		_ = b.nginx.Process.Signal(syscall.SIGHUP)
	}
	return nil
}

func (b *balancers) writeConfigs(routes []lbRoute, gen int) error {
	deploy := func(path string, replace ...string) string {
		data, err := os.ReadFile(filepath.Join("..", "..", "deploy", path))
		if err != nil {
			b.t.Fatal(err)
		}
		return strings.NewReplacer(replace...).Replace(string(data))
	}
	actHost, actPort, _ := net.SplitHostPort(b.activatorAddr)
	_, statusPort, _ := net.SplitHostPort(b.statusAddr)

	var h strings.Builder
	fmt.Fprintf(&h, "global\n  maxconn 4000\ndefaults\n  mode http\n  maxconn 4000\n  retries 3\n  option redispatch\n"+
		"  timeout connect 3s\n  timeout client 60s\n  timeout server 60s\n"+
		"listen stats\n  bind %s\n  mode http\n  stats enable\n  stats uri /haproxy?stats\n", b.statsAddr)
	h.WriteString(deploy("marathon-lb/templates/HAPROXY_HTTP_FRONTEND_HEAD",
		"*:80", b.httpAddr, "hibernator-marmot.marathon.mesos:9103", net.JoinHostPort(actHost, actPort), "port 9102", "port "+statusPort))
	fmt.Fprintf(&h, "  http-request return status 200 content-type text/plain string %d if { hdr(host) -i %s }\n", gen, generationHost)
	for _, r := range routes {
		acl := "host_" + strings.NewReplacer(".", "_", "-", "_").Replace(r.Host)
		fmt.Fprintf(&h, "  acl %s hdr(host) -i %s\n  use_backend %s if %s\n", acl, r.Host, r.Backend, acl)
	}
	var n strings.Builder
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reopen the log in the test's private directory
	}
	fmt.Fprintf(&n, "daemon off;\n%s\nmaster_process on;\nworker_processes 1;\npid %[2]s/nginx.pid;\nerror_log %[2]s/error.log;\n"+
		"events { worker_connections 4096; }\nhttp {\n", user, b.dir)
	for _, tmp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&n, "  %s_temp_path %s/%s;\n", tmp, b.dir, tmp)
	}
	n.WriteString(deploy("nginx/marmot-log-format.conf", "/var/log/nginx/marmot.log", b.logPath))
	n.WriteString(deploy("nginx/marmot-default-server.conf",
		"listen 80 default_server", "listen "+b.nginxAddr+" default_server", "hibernator-marmot.marathon.mesos:9103", b.activatorAddr))
	fmt.Fprintf(&n, "server { listen %s; server_name %s; location / { return 200 \"%d\"; } }\n", b.nginxAddr, generationHost, gen)
	for _, r := range routes {
		fmt.Fprintf(&h, "\nbackend %s\n  balance roundrobin\n  mode http\n  option forwardfor\n", r.Backend)
		fmt.Fprintf(&n, "upstream %s {\n", r.Backend)
		for _, s := range r.Servers {
			fmt.Fprintf(&h, "  server %s %s\n", strings.NewReplacer(".", "_", ":", "_").Replace(s), s)
			fmt.Fprintf(&n, "  server %s;\n", s)
		}
		fmt.Fprintf(&n, "}\nserver {\n  listen %s;\n  server_name %s;\n  location / { proxy_pass http://%s; proxy_set_header Host $host; }\n}\n",
			b.nginxAddr, r.Host, r.Backend)
	}
	n.WriteString("}\n")
	if err := os.WriteFile(filepath.Join(b.dir, "haproxy.cfg"), []byte(h.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, "nginx.conf"), []byte(n.String()), 0o644)
}

// waitGeneration waits until both load balancers serve a config of at least generation gen.
func (b *balancers) waitGeneration(gen int) {
	b.t.Helper()
	daemontest.Eventually(b.t, fmt.Sprintf("load balancers on config %d", gen), func() error {
		for _, lb := range []string{b.httpAddr, b.nginxAddr} {
			if g := b.generation(lb); g < gen {
				return fmt.Errorf("%s serves config %d", lb, g)
			}
		}
		return nil
	})
}

func (b *balancers) generation(addr string) int {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Host = generationHost
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	g, _ := strconv.Atoi(string(body))
	return g
}

// waitBackend waits until both load balancers serve a config in which app has a backend, or has none.
func (b *balancers) waitBackend(app string, want bool) {
	b.t.Helper()
	daemontest.Eventually(b.t, fmt.Sprintf("load balancers with a backend for %s: %v", app, want), func() error {
		for _, lb := range []string{b.httpAddr, b.nginxAddr} {
			g := b.generation(lb)
			b.mu.Lock()
			has := slices.Contains(b.backends[g], app)
			b.mu.Unlock()
			if g == 0 || has != want {
				return fmt.Errorf("%s serves config %d, backend for %s: %v", lb, g, app, has)
			}
		}
		return nil
	})
}

// statsURL is HAProxy's statistics CSV, as marathon-lb exposes it.
func (b *balancers) statsURL() string { return "http://" + b.statsAddr + "/haproxy?stats;csv" }

// TestLBProbeFailsWithoutTheFallback runs a real nginx whose default server is nixy's own, which
// answers 503 for hosts without a server instead of sending them to the activator: the probe through
// it must fail, since every request to a sleeping app would be lost there.
func TestLBProbeFailsWithoutTheFallback(t *testing.T) {
	nginx := daemontest.Binary(t, "nginx")
	dir, addr := t.TempDir(), daemontest.Addr(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	var n strings.Builder
	fmt.Fprintf(&n, "daemon off;\n%s\nmaster_process on;\nworker_processes 1;\npid %[2]s/nginx.pid;\nerror_log %[2]s/error.log;\n"+
		"events { worker_connections 64; }\nhttp {\n  access_log off;\n", user, dir)
	for _, tmp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&n, "  %s_temp_path %s/%s;\n", tmp, dir, tmp)
	}
	fmt.Fprintf(&n, "  server { listen %s default_server; server_name _; location / { return 503; } }\n}\n", addr)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(n.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	daemontest.Start(t, nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	p := hibernator.NewLBProber(hibernator.LBProberConfig{URLs: []string{"http://" + addr}, Timeout: 5 * time.Second}, nil, nil)
	daemontest.Eventually(t, "a probe answered by nginx itself", func() error {
		p.ProbeAll(t.Context())
		st := p.Status()[0]
		if st.OK || !strings.Contains(st.LastError, "503") {
			return fmt.Errorf("ok %v, error %q", st.OK, st.LastError)
		}
		return nil
	})
	if u := p.Unverified(); len(u) != 1 {
		t.Fatalf("unverified %v", u)
	}
}
