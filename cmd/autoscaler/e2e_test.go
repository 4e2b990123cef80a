package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/marathon"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
)

// The end-to-end tests run the real autoscaler binary, built once here, against the simulator served
// over HTTP in this process: Mesos through mesos-go, Marathon through go-marathon, AWS through
// aws-sdk-go-v2, exactly as a deployment would. The model runs at speed× the wall clock; the
// autoscaler's own timers (its policy) are in wall time and kept short.

var binary string // the autoscaler built for the tests

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // the end-to-end tests skip themselves
	}
	dir, err := os.MkdirTemp("", "autoscaler-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "autoscaler")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the autoscaler: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// speed is how much faster than the wall clock the simulated cluster runs: a 20-40 s boot takes 1-2 s.
const speed = 20

// e2eScenario is a pool of m5.xlarge agents (4 cpus) with room to grow: %d instances at the start.
const e2eScenario = `
name: e2e
seed: 11
mesos: {version: 1.10.0, masters: 2}
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
      - {name: asg-e2e, instance_type: m5.xlarge, min: 1, max: 8, desired: %d}
apps:
  - {id: /web/app, instances: 2, cpus: 0.5, mem: 512}
  - {id: /data/etl, instances: 1, cpus: 1, mem: 1024, labels: {marmot.protect: "true"}}
  - {id: /batch/work, instances: 0, cpus: 1.5, mem: 1024}
  - {id: /data/pinned, instances: 0, cpus: 0.5, mem: 512, constraints: [[rack, CLUSTER, r9]]}
%s`

// e2ePolicy has wall-clock timers a test can wait out: drain mode, min agents and drain deadline vary.
const e2ePolicy = `
reconcile_interval: 2s
drain_mode: %s
pools:
  - name: default
    min_agents: %d
    max_agents: 8
    scale_up: {max_step: 4, cooldown: 1s}
    scale_down:
      unneeded_for: 3s
      delay_after_scale_up: 3s
      min_agent_age: 0s
      max_draining: 1
      drain_deadline: %s
    health: {max_data_age: 30s, ok_missing_agents: 2}
    boot_timeout: 60s
`

// sim is a simulated cluster served on loopback.
type sim struct {
	*serve.Cluster
	t *testing.T
}

func startSim(t *testing.T, desired int, extraApps string) *sim {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: runs the binary against the simulator")
	}
	sc, err := simulate.ParseScenario(fmt.Appendf(nil, e2eScenario, desired, extraApps))
	if err != nil {
		t.Fatal(err)
	}
	w, err := simulate.New(sc, simulate.NewRealClock(sc.StartTime(), speed), simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := serve.Start(ctx, w, serve.Config{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		c.Wait()
	})
	return &sim{Cluster: c, t: t}
}

// scale sets an app's instance count through the Marathon API, as an operator would.
func (s *sim) scale(app string, n int) {
	s.t.Helper()
	mc, err := marathon.New(marathon.Config{URLs: s.MarathonURL}, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := mc.Update(s.t.Context(), app, marathon.Update{Instances: &n}, true); err != nil {
		s.t.Fatalf("scale %s to %d: %v", app, n, err)
	}
}

// fault switches a fault on through the simulator's control endpoint.
func (s *sim) fault(body string) {
	s.t.Helper()
	resp, err := http.Post(s.ControlURL+"/faults", "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("fault %s: %s", body, resp.Status)
	}
}

// group returns the group's desired capacity and its live (pending or in service) instances.
func (s *sim) group() (desired int, live []string) {
	s.World.View(func(v *simulate.View) {
		g, _ := v.Group("asg-e2e")
		desired = g.Desired
		for _, in := range g.Instances() {
			if in.Lifecycle == simulate.LifecyclePending || in.Lifecycle == simulate.LifecycleInService {
				live = append(live, in.ID)
			}
		}
	})
	return desired, live
}

// waiting returns how many instances of app wait in Marathon's queue, and how many run.
func (s *sim) waiting(app string) (queued, running int) {
	s.World.View(func(v *simulate.View) {
		for _, q := range v.Queue() {
			if q.App.ID == app {
				queued += q.Count
			}
		}
		for _, a := range v.Agents() {
			for _, t := range a.Tasks() {
				if t.AppID == app && t.State == simulate.TaskRunning {
					running++
				}
			}
		}
	})
	return queued, running
}

// process is a running autoscaler.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	logs   *syncBuffer
	listen string
	exited chan struct{}
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writePolicy writes a policy file and returns its path.
func writePolicy(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// awsEnv is the whole environment of an autoscaler under test: the simulator's AWS endpoint, static
// credentials, no instance metadata service, and a HOME with no AWS configuration in it, so that
// nothing reaches beyond loopback.
func awsEnv(t *testing.T, awsURL string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_ENDPOINT_URL=" + awsURL, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDSIMULATED", "AWS_SECRET_ACCESS_KEY=simulated", "AWS_EC2_METADATA_DISABLED=true",
	}
}

// startAutoscaler runs the binary against s with the policy file, and waits until it listens. It
// talks to every Mesos master of s unless mesosURLs names others.
func startAutoscaler(t *testing.T, s *sim, policyFile string, mesosURLs ...string) *process {
	t.Helper()
	return startAutoscalerWith(t, s, policyFile, s.AWSURL, nil, mesosURLs...)
}

// startAutoscalerWith is startAutoscaler with an AWS endpoint of the test's choice and extra flags.
func startAutoscalerWith(t *testing.T, s *sim, policyFile, awsURL string, extra []string, mesosURLs ...string) *process {
	t.Helper()
	if len(mesosURLs) == 0 {
		mesosURLs = s.MesosURLs
	}
	args := slices.Clone([]string{
		"--mesos-url", strings.Join(mesosURLs, ","), "--marathon-url", s.MarathonURL[0],
		"--policy", policyFile, "--listen", "127.0.0.1:0",
	})
	args = append(args, extra...)
	p := &process{t: t, cmd: exec.Command(binary, args...), logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = awsEnv(t, awsURL)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("autoscaler (pid %d) output:\n%s", p.cmd.Process.Pid, tail(p.logs.String(), 80))
		}
	})
	waitFor(t, 30*time.Second, "the autoscaler to listen", func() (bool, string) {
		for _, line := range strings.Split(p.logs.String(), "\n") {
			var l struct{ Msg, Listen string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "autoscaler started" {
				p.listen = l.Listen
				return true, ""
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("the autoscaler exited: %s", p.logs.String())
		default:
		}
		return false, "no start line yet"
	})
	return p
}

// kill ends the process at once, as a crash or an OOM kill would (SIGKILL: nothing is cleaned up).
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// statusDoc is /status as a client reads it; the policy is read as the few fields tests need.
type statusDoc struct {
	autoscaler.Status
	Policy struct {
		Pools []struct {
			MinAgents int `json:"min_agents"`
		} `json:"pools"`
	} `json:"policy"`
}

// status reads /status.
func (p *process) status() statusDoc {
	p.t.Helper()
	var st statusDoc
	resp, err := http.Get("http://" + p.listen + "/status")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		p.t.Fatal(err)
	}
	return st
}

// get reads an endpoint's body.
func (p *process) get(path string) (int, string) {
	p.t.Helper()
	resp, err := http.Get("http://" + p.listen + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond every 20 ms until it holds, failing the test after timeout with cond's last
// explanation. Generous timeouts: the machine may be busy; nothing here asserts a speed.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %s", timeout, what, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, lines int) string {
	all := strings.Split(s, "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// TestGrowsUntilTheQueueIsEmpty: apps scaled beyond the pool's capacity through the Marathon API
// make the pool grow until nothing waits.
func TestGrowsUntilTheQueueIsEmpty(t *testing.T) {
	s := startSim(t, 2, "")
	p := startAutoscaler(t, s, writePolicy(t, fmt.Sprintf(e2ePolicy, "auto", 1, "30s")))
	waitFor(t, 30*time.Second, "ready", func() (bool, string) {
		code, body := p.get("/readyz")
		return code == http.StatusOK, body
	})
	// Two agents hold three of the six 1.5-cpu instances; three wait for lack of cpus.
	s.scale("/batch/work", 6)
	waitFor(t, 90*time.Second, "every /batch/work instance to run", func() (bool, string) {
		queued, running := s.waiting("/batch/work")
		desired, live := s.group()
		return queued == 0 && running == 6, fmt.Sprintf("%d queued, %d running, desired %d, %d live", queued, running, desired, len(live))
	})
	if desired, _ := s.group(); desired <= 2 {
		t.Errorf("desired capacity %d: the pool did not grow", desired)
	}
	st := p.status()
	ups := 0
	for _, a := range st.Pools[0].Actions {
		if a.Kind == autoscaler.ActionScaleUp && a.Result == autoscaler.ResultDone && a.Reason == policy.ScaleUpPendingDemand {
			ups++
		}
	}
	if ups == 0 {
		t.Errorf("no scale-up for pending demand in /status: %+v", st.Pools[0].Actions)
	}
	_, metrics := p.get("/metrics")
	if !strings.Contains(metrics, `marmot_autoscaler_scale_ups_total{pool="default",reason="scale_up_pending_demand"}`) {
		t.Error("/metrics lacks the scale-up counter")
	}
}

// drainWatch records which instances the autoscaler drained through Mesos, from the calls it sent
// the master (DRAIN_AGENT, or a maintenance schedule naming the machine), however briefly the drain
// then lasts, and which instances were terminated; and any termination that came before its drain.
type drainWatch struct {
	s          *sim
	mu         sync.Mutex
	drained    map[string]bool
	terminated map[string]bool
	early      []string
}

func newDrainWatch(s *sim) *drainWatch {
	return &drainWatch{s: s, drained: map[string]bool{}, terminated: map[string]bool{}}
}

// proxy puts a recording proxy in front of the leading master and returns its URL. The scenario's
// leader does not change in these tests, so the autoscaler is never redirected around it.
func (d *drainWatch) proxy(t *testing.T) string {
	target, err := url.Parse(d.s.LeaderMesosURL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // SUBSCRIBE is a stream
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			d.call(body)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// call records the instances an operator call drains.
func (d *drainWatch) call(body []byte) {
	var c struct {
		Type       string
		DrainAgent struct {
			AgentID struct{ Value string } `json:"agent_id"`
		} `json:"drain_agent"`
		Update struct {
			Schedule struct {
				Windows []struct {
					MachineIDs []struct{ IP string } `json:"machine_ids"`
				}
			}
		} `json:"update_maintenance_schedule"`
	}
	if json.Unmarshal(body, &c) != nil {
		return
	}
	ips := map[string]bool{}
	for _, w := range c.Update.Schedule.Windows {
		for _, m := range w.MachineIDs {
			ips[m.IP] = true
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.s.World.View(func(v *simulate.View) {
		if a, ok := v.Agent(c.DrainAgent.AgentID.Value); ok && c.Type == "DRAIN_AGENT" {
			d.drained[a.InstanceID] = true
		}
		for _, in := range v.Instances() {
			if ips[in.PrivateIP] && in.Lifecycle == simulate.LifecycleInService {
				d.drained[in.ID] = true
			}
		}
	})
}

// look records the instances of the group that are terminating or terminated.
func (d *drainWatch) look() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.s.World.View(func(v *simulate.View) {
		for _, in := range v.Instances() {
			if in.Group == "asg-e2e" && (in.Lifecycle == simulate.LifecycleTerminating || in.Lifecycle == simulate.LifecycleTerminated) && !d.terminated[in.ID] {
				d.terminated[in.ID] = true
				if !d.drained[in.ID] {
					d.early = append(d.early, in.ID)
				}
			}
		}
	})
}

func (d *drainWatch) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprintf("drained %v, terminated %v", d.drained, d.terminated)
}

// TestShrinksByDrainingThroughMesos: when demand falls the pool shrinks one drained agent at a time
// (DRAIN_AGENT on this Mesos 1.10), and exactly the drained instances are terminated; the agent that
// runs a protected app stays.
func TestShrinksByDrainingThroughMesos(t *testing.T) {
	s := startSim(t, 4, "")
	var etlInstance string
	s.World.View(func(v *simulate.View) {
		for _, a := range v.Agents() {
			for _, task := range a.Tasks() {
				if task.AppID == "/data/etl" {
					etlInstance = a.InstanceID
				}
			}
		}
	})
	watch := newDrainWatch(s)
	p := startAutoscaler(t, s, writePolicy(t, fmt.Sprintf(e2ePolicy, "auto", 1, "30s")), watch.proxy(t))
	waitFor(t, 120*time.Second, "the pool to shrink to one agent", func() (bool, string) {
		watch.look()
		desired, live := s.group()
		return desired == 1 && len(live) == 1, fmt.Sprintf("desired %d, live %v, %s", desired, live, watch)
	})
	waitFor(t, 30*time.Second, "the last termination to be seen", func() (bool, string) {
		watch.look()
		return len(watch.terminated) == 3, watch.String()
	})
	if len(watch.early) > 0 {
		t.Errorf("instances terminated without a drain first: %v", watch.early)
	}
	for id := range watch.terminated {
		if !watch.drained[id] {
			t.Errorf("terminated %s, which was never drained", id)
		}
	}
	for id := range watch.drained {
		if !watch.terminated[id] {
			t.Errorf("drained %s, which was not terminated", id)
		}
	}
	if _, live := s.group(); len(live) != 1 || live[0] != etlInstance {
		t.Errorf("the instance left is %v, want %s, which runs the protected /data/etl", live, etlInstance)
	}
	waitFor(t, 30*time.Second, "/web/app to run again where it was moved", func() (bool, string) {
		queued, running := s.waiting("/web/app")
		return queued == 0 && running == 2, fmt.Sprintf("%d queued, %d running", queued, running)
	})
	st := p.status()
	for _, a := range st.Pools[0].Plan.Agents {
		if a.InstanceID == etlInstance && a.Reason != policy.KeptProtected && a.Reason != policy.KeptMinSize && a.Reason != policy.KeptUtilized {
			t.Errorf("the protected agent is kept for %s", a.Reason)
		}
	}
}

// TestKilledMidDrainFinishesAfterRestart: an autoscaler killed (SIGKILL) while it waits for a drain
// through the maintenance schedule is started again; the new process finishes the drain from the
// schedule and the instance's mark: the instance is terminated and no maintenance window, drain mark
// or instance is left behind.
func TestKilledMidDrainFinishesAfterRestart(t *testing.T) {
	// One task per agent (UNIQUE): the drained agent keeps its task until the deadline, since
	// Marathon does not move tasks off a machine in maintenance; its replacement then waits on the
	// constraint, which does not grow the pool.
	s := startSim(t, 3, "  - {id: /web/unique, instances: 3, cpus: 0.5, mem: 256, constraints: [[hostname, UNIQUE]]}\n")
	policyFile := writePolicy(t, fmt.Sprintf(e2ePolicy, "maintenance", 2, "10s"))
	first := startAutoscaler(t, s, policyFile)

	var drainedIP, drainedID string
	waitFor(t, 60*time.Second, "a drain through the maintenance schedule", func() (bool, string) {
		s.World.View(func(v *simulate.View) {
			for _, m := range v.DrainingMachines() {
				drainedIP = m.IP
			}
			for _, in := range v.Instances() {
				if mark, ok := in.Tag(autoscaler.TagDrain); ok && mark == "draining" && in.PrivateIP == drainedIP {
					drainedID = in.ID
				}
			}
		})
		return drainedID != "", fmt.Sprintf("draining machine %q, marked instance %q", drainedIP, drainedID)
	})
	first.kill()
	time.Sleep(time.Second)
	s.World.View(func(v *simulate.View) {
		if mode := len(v.DrainingMachines()); mode != 1 {
			t.Fatalf("after the kill %d machines are draining, want the one in progress", mode)
		}
	})

	second := startAutoscaler(t, s, policyFile)
	waitFor(t, 90*time.Second, "the drain to finish and the schedule to be clean", func() (bool, string) {
		var why []string
		s.World.View(func(v *simulate.View) {
			if n := len(v.Schedule()); n > 0 {
				why = append(why, fmt.Sprintf("%d maintenance windows", n))
			}
			in, _ := v.Instance(drainedID)
			if in.Lifecycle != simulate.LifecycleTerminated {
				why = append(why, fmt.Sprintf("%s is %s", drainedID, in.Lifecycle))
			}
			g, _ := v.Group("asg-e2e")
			live := 0
			for _, in := range g.Instances() {
				if in.Lifecycle == simulate.LifecyclePending || in.Lifecycle == simulate.LifecycleInService {
					live++
					if _, marked := in.Tag(autoscaler.TagDrain); marked {
						why = append(why, in.ID+" is live and marked")
					}
				}
			}
			if g.Desired != 2 || live != 2 {
				why = append(why, fmt.Sprintf("desired %d, %d live", g.Desired, live))
			}
		})
		return len(why) == 0, strings.Join(why, "; ")
	})
	adopted := false
	for _, a := range second.status().Pools[0].Actions {
		if a.Kind == autoscaler.ActionDrainTerminate && a.InstanceID == drainedID && a.Result == autoscaler.ResultDone {
			adopted = true
		}
	}
	if !adopted {
		t.Errorf("the restarted autoscaler did not terminate %s itself: %+v", drainedID, second.status().Pools[0].Actions)
	}
}

// TestScaleUpSurvivesMesosLeaderChangeAndAWSThrottling: in the middle of a scale-up the Mesos
// leader moves and AWS throttles; the pool still grows until nothing waits.
func TestScaleUpSurvivesMesosLeaderChangeAndAWSThrottling(t *testing.T) {
	s := startSim(t, 2, "")
	p := startAutoscaler(t, s, writePolicy(t, fmt.Sprintf(e2ePolicy, "auto", 1, "30s")))
	waitFor(t, 30*time.Second, "ready", func() (bool, string) {
		code, body := p.get("/readyz")
		return code == http.StatusOK, body
	})
	s.fault(`{"kind":"aws_throttle","count":8}`)
	s.scale("/batch/work", 6)
	s.fault(`{"kind":"mesos_leader_change"}`)
	waitFor(t, 90*time.Second, "every /batch/work instance to run", func() (bool, string) {
		queued, running := s.waiting("/batch/work")
		desired, live := s.group()
		return queued == 0 && running == 6, fmt.Sprintf("%d queued, %d running, desired %d, %d live", queued, running, desired, len(live))
	})
	s.fault(`{"kind":"mesos_leader_change"}`) // and back: the event stream follows again
	_, metrics := p.get("/metrics")
	if !strings.Contains(metrics, `marmot_autoscaler_cloud_call_errors_total{call="set_desired_capacity",reason="throttled"}`) {
		t.Error("/metrics lacks the throttled cloud call series")
	}
}

// TestConstraintOnlyWaitingDoesNotGrowThePool: instances that wait only because no agent meets their
// constraint are reported, and never grow the pool.
func TestConstraintOnlyWaitingDoesNotGrowThePool(t *testing.T) {
	s := startSim(t, 2, "")
	p := startAutoscaler(t, s, writePolicy(t, fmt.Sprintf(e2ePolicy, "auto", 2, "30s")))
	s.scale("/data/pinned", 2)
	seen := 0
	var last time.Time
	waitFor(t, 60*time.Second, "three reconciles that see /data/pinned waiting on its constraint", func() (bool, string) {
		st := p.status()
		if len(st.Pools) == 0 || !st.LastPlanned.After(last) {
			return false, "no new plan"
		}
		last = st.LastPlanned
		for _, w := range st.Pools[0].Plan.Waiting {
			if w.AppID == "/data/pinned" && w.Reason == policy.WaitingConstraint && w.Count == 2 {
				seen++
			}
		}
		return seen >= 3, fmt.Sprintf("%d so far: %+v", seen, st.Pools[0].Plan.Waiting)
	})
	if desired, live := s.group(); desired != 2 || len(live) != 2 {
		t.Errorf("desired %d, %d live: the pool grew for a constraint", desired, len(live))
	}
	for _, a := range p.status().Pools[0].Actions {
		if a.Kind == autoscaler.ActionScaleUp {
			t.Errorf("scale-up %+v", a)
		}
	}
}

// TestOnceDryRunPrintsThePlan: --once --dry-run prints one reconcile's plan and actions as JSON and
// changes nothing.
func TestOnceDryRunPrintsThePlan(t *testing.T) {
	s := startSim(t, 2, "")
	s.scale("/batch/work", 6)
	cmd := exec.Command(binary, "--mesos-url", s.MesosURLs[1], "--marathon-url", s.MarathonURL[0],
		"--policy", writePolicy(t, fmt.Sprintf(e2ePolicy, "auto", 1, "30s")), "--once", "--dry-run", "--log-level", "warn")
	cmd.Env = awsEnv(t, s.AWSURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var rep autoscaler.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, stdout.String())
	}
	if !rep.Planned || !rep.DryRun || len(rep.Pools) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	ups := 0
	for _, a := range rep.Pools[0].Actions {
		if a.Result != autoscaler.ResultDryRun {
			t.Errorf("action %+v was taken in a dry run", a)
		}
		if a.Kind == autoscaler.ActionScaleUp {
			ups++
		}
	}
	if ups != 1 || rep.Pools[0].Plan.ScaleUp.NewAgents == 0 {
		t.Errorf("the plan does not grow the pool: %+v", rep.Pools[0].Plan.ScaleUp)
	}
	if desired, _ := s.group(); desired != 2 {
		t.Errorf("desired capacity %d after a dry run", desired)
	}
}

// TestSIGHUPKeepsTheLastGoodPolicy: a reload with a broken policy file leaves the running policy in
// force and says so in /status and /metrics; a good file then takes over.
func TestSIGHUPKeepsTheLastGoodPolicy(t *testing.T) {
	s := startSim(t, 2, "")
	path := writePolicy(t, fmt.Sprintf(e2ePolicy, "auto", 1, "30s"))
	p := startAutoscaler(t, s, path)
	if err := os.WriteFile(path, []byte("pools:\n  - name: default\n    min_agents: -1\n    scale_down: {unneeded_for: soon}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the reload to be refused", func() (bool, string) {
		st := p.status()
		return strings.Contains(st.PolicyError, "pools[0].scale_down.unneeded_for") && strings.Contains(st.PolicyError, "pools[0].min_agents"), st.PolicyError
	})
	if st := p.status(); st.Policy.Pools[0].MinAgents != 1 {
		t.Errorf("policy in force: %+v", st.Policy.Pools[0])
	}
	_, metrics := p.get("/metrics")
	for _, want := range []string{`marmot_autoscaler_policy_reloads_total{result="error"} 1`, "marmot_autoscaler_policy_last_reload_ok 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if err := os.WriteFile(path, fmt.Appendf(nil, e2ePolicy, "auto", 2, "30s"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the good policy to take over", func() (bool, string) {
		st := p.status()
		return st.PolicyError == "" && st.Policy.Pools[0].MinAgents == 2, st.PolicyError
	})
}

func TestCheckPolicyListsEveryError(t *testing.T) {
	path := writePolicy(t, "reconcile_interval: often\npools:\n  - name: default\n    min_agents: 3\n    max_agents: 2\n    scale_down: {at_deadline: explode}\n")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"check-policy", path}, &stdout, &stderr, env{}); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{"reconcile_interval:", "pools[0].max_agents:", "pools[0].scale_down.at_deadline:"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("check-policy output lacks %q:\n%s", want, stderr.String())
		}
	}
	stderr.Reset()
	if code := run(t.Context(), []string{"check-policy", "../../docs/examples/autoscaler-small.yaml"}, &stdout, &stderr, env{}); code != 0 {
		t.Errorf("the example policy: exit %d\n%s", code, stderr.String())
	}
}

func TestConfigurationErrorsAreAllListed(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"--mesos-url", "ftp://m1", "--policy", "/no/such/file", "--listen", "nowhere", "--log-level", "loud"}, io.Discard, &stderr, env{})
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"--mesos-url:", "--marathon-url: required", "--policy /no/such/file:", "--listen:", "--log-level:", "AWS_REGION: required"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("errors lack %q:\n%s", want, stderr.String())
		}
	}
	var help bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, io.Discard, &help, env{}); code != 0 || !strings.Contains(help.String(), "--dry-run") || !strings.Contains(help.String(), "check-policy FILE") {
		t.Errorf("--help: exit %d\n%s", code, help.String())
	}
}
