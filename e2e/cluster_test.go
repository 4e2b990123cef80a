package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
)

// The daemons are built once, as operators run them; the tests start them as child processes.
var bins struct {
	dir                    string
	autoscaler, hibernator string
	err                    error
	once                   sync.Once
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// daemons builds cmd/autoscaler and cmd/hibernator (once per test binary) and returns their paths.
func daemons(t *testing.T) (autoscaler, hibernator string) {
	t.Helper()
	bins.once.Do(func() {
		if bins.dir, bins.err = os.MkdirTemp("", "marmot-e2e-"); bins.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", bins.dir+string(filepath.Separator),
			"github.com/marmot-project/marmot/cmd/autoscaler", "github.com/marmot-project/marmot/cmd/hibernator")
		if out, err := cmd.CombinedOutput(); err != nil {
			bins.err = fmt.Errorf("building the daemons: %v\n%s", err, out)
			return
		}
		bins.autoscaler, bins.hibernator = filepath.Join(bins.dir, "autoscaler"), filepath.Join(bins.dir, "hibernator")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.autoscaler, bins.hibernator
}

// needBinary skips the test when a program the test drives is not installed.
func needBinary(t *testing.T, name, debianPackage string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no end-to-end test")
	}
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian package %s; scripts/install-test-deps.sh installs it)", name, debianPackage)
	}
	return path
}

// speed is how much faster than the wall clock the simulated cluster runs: boots of 20-40 s take
// 2-4 s. The daemons' own timers are in wall time, kept short by their policies below.
const speed = 10

// scenario has two pools, two apps opted in to hibernation with a short idle period, and a workload
// that makes the default pool grow (at 2 model minutes) and shrink again (at 8).
const scenario = `
name: e2e
start: %q
seed: 5
mesos: {version: 1.10.0, masters: 1}
marathon: {instances: 1}
timing:
  boot_delay: {distribution: uniform, min: 20s, max: 40s}
  instance_pending: 10s
  termination: 20s
  task_start: 2s
pools:
  - name: default
    attributes: {rack: r1}
    groups:
      - {name: asg-default, instance_type: m5.xlarge, min: 1, max: 8, desired: 2}
  - name: batch
    attributes: {rack: r2}
    groups:
      - {name: asg-batch, instance_type: c5.2xlarge, min: 1, max: 3, desired: 1}
apps:
  - id: /web/frontend
    instances: 2
    cpus: 0.5
    mem: 512
    constraints: [[pool, CLUSTER, default]]
    labels: {marmot.team: web}
  - id: /web/docs
    instances: 1
    cpus: 0.25
    mem: 256
    start_delay: 1s
    constraints: [[pool, CLUSTER, default]]
    labels: {marmot.team: web, marmot.hibernate: "true", marmot.hibernate.idle: 1m, HAPROXY_GROUP: external, HAPROXY_0_VHOST: docs.example.com}
    health_check: {path: /health}
  - id: /tools/wiki
    instances: 1
    cpus: 0.25
    mem: 256
    start_delay: 1s
    constraints: [[pool, CLUSTER, default]]
    labels: {marmot.team: tools, marmot.hibernate: "true", marmot.hibernate.idle: 1m, HAPROXY_GROUP: external, HAPROXY_0_VHOST: wiki.example.com}
    health_check: {path: /health}
  - id: /data/etl
    instances: 1
    cpus: 2
    mem: 4096
    constraints: [[pool, CLUSTER, default]]
    labels: {marmot.team: data}
  - id: /batch/report
    instances: 2
    cpus: 2
    mem: 2048
    constraints: [[pool, CLUSTER, batch]]
    labels: {marmot.team: finance}
workload:
  - {at: 2m, app: /data/etl, instances: 5}
  - {at: 8m, app: /data/etl, instances: 1}
`

const autoscalerPolicy = `
reconcile_interval: 2s
drain_mode: auto
pools:
  - name: default
    min_agents: 1
    max_agents: 8
    scale_up: {max_step: 4, cooldown: 1s}
    scale_down: {unneeded_for: 3s, delay_after_scale_up: 3s, min_agent_age: 0s, max_draining: 1, drain_deadline: 20s}
    health: {max_data_age: 30s, ok_missing_agents: 2}
    boot_timeout: 60s
  - name: batch
    min_agents: 1
    max_agents: 3
    scale_up: {max_step: 2, cooldown: 1s}
    scale_down: {unneeded_for: 3s, delay_after_scale_up: 3s, min_agent_age: 0s, max_draining: 1, drain_deadline: 20s}
    health: {max_data_age: 30s, ok_missing_agents: 2}
    boot_timeout: 60s
`

const hibernatorPolicy = `
idle: {default: 10m, minimum: 1m}
traffic: {max_age: 30s, ignore_paths: [/health]}
max_hibernations_per_minute: 60
hold: {timeout: 30s, max_requests_per_app: 100, max_requests_total: 500}
waiting_page: false
wake: {probe_interval: 50ms, probe_timeout: 1s}
`

// cluster is the simulated cluster with both daemons running against it.
type cluster struct {
	t         *testing.T
	sim       *serve.Cluster
	world     *simulate.World
	autoscale string // the autoscaler's base URL (metrics, status, page)
	hibernate string // the hibernator's base URL
	activator string // the activator's host:port
}

// startCluster serves the scenario on loopback with real task listeners and runs both daemons
// against it. The model's clock starts at the wall clock and runs speed times faster, so Mesos's,
// Marathon's and AWS's times are soon ahead of the daemons' own clocks, as they are with a skewed
// master: both daemons read a time ahead of theirs as the moment they first saw it.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	autoscaler, hibernator := daemons(t)
	start := time.Now().UTC().Truncate(time.Second)
	sc, err := simulate.ParseScenario(fmt.Appendf(nil, scenario, start.Format(time.RFC3339)))
	if err != nil {
		t.Fatal(err)
	}
	sc.Network = loopbackNetwork(t)
	w, err := simulate.New(sc, simulate.NewRealClock(sc.StartTime(), speed), simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sim, err := serve.Start(ctx, w, serve.Config{RealTasks: true})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		sim.Wait()
	})
	c := &cluster{t: t, sim: sim, world: w}
	dir := t.TempDir()

	listen := freeAddr(t)
	c.autoscale = "http://" + listen
	runDaemon(t, "autoscaler", autoscaler, []string{
		"--mesos-url", strings.Join(sim.MesosURLs, ","), "--marathon-url", strings.Join(sim.MarathonURL, ","),
		"--policy", writeFile(t, dir, "autoscaler.yaml", autoscalerPolicy), "--listen", listen,
	}, awsEnv(t, sim.AWSURL))

	listen, c.activator = freeAddr(t), freeAddr(t)
	c.hibernate = "http://" + listen
	runDaemon(t, "hibernator", hibernator, []string{
		"--marathon-url", strings.Join(sim.MarathonURL, ","),
		"--policy", writeFile(t, dir, "hibernator.yaml", hibernatorPolicy),
		"--listen", listen, "--activator-listen", c.activator,
		"--interval", "500ms", "--traffic-interval", "200ms", "--recheck-after", "100ms",
	}, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()})

	for _, base := range []string{c.autoscale, c.hibernate} {
		eventually(t, time.Minute, base+"/readyz", func() error {
			_, err := get(base + "/readyz")
			return err
		})
	}
	return c
}

// awsEnv is the autoscaler's whole environment: the simulator's AWS endpoint, static credentials, no
// instance metadata service, and a HOME without AWS configuration, so nothing reaches beyond loopback.
func awsEnv(t *testing.T, awsURL string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_ENDPOINT_URL=" + awsURL, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDSIMULATED", "AWS_SECRET_ACCESS_KEY=simulated", "AWS_EC2_METADATA_DISABLED=true",
	}
}

// runDaemon starts a program until the test ends, then stops it with SIGTERM (SIGKILL if it lingers).
// Its output goes to a file whose tail is shown if the test fails.
func runDaemon(t *testing.T, name, path string, args, env []string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s (pid %d) output, last lines:\n%s", name, cmd.Process.Pid, tail(string(b), 40))
		}
	})
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Clients that never use a proxy from the environment: every request of these tests stays on loopback.
var (
	client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	// activatorClient waits as long as a wake may take (the policy's hold timeout is 30 s).
	activatorClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil}}
)

// get fetches a URL and returns its body; a status other than 200 is an error.
func get(url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// getJSON fetches a URL into v.
func getJSON(url string, v any) error {
	body, err := get(url)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// eventually retries f until it succeeds or the (generous) deadline passes: nothing here may assume
// how fast a shared machine is.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// artifact returns a path under the repository's artifacts/ folder (gitignored), creating it.
func artifact(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}
