package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
)

// The fault suite's cluster: one pool of m5.xlarge agents (4 cpus each) in one group, two Mesos masters
// and two Marathons (so that leadership can move), and the apps each test asks for. Unlike the shared
// scenario of cluster_test.go it has no workload: each test makes the change it needs when it needs it.
const faultScenario = `
name: faults
start: %q
seed: 11
network: %s
mesos: {version: 1.10.0, masters: 2}
marathon: {instances: 2}
timing:
  boot_delay: {distribution: uniform, min: 20s, max: 30s}
  instance_pending: 10s
  termination: 20s
  task_start: 2s
pools:
  - name: default
    groups:
      - {name: asg-default, instance_type: m5.xlarge, min: 1, max: 6, desired: %d, spot: %t}
apps:
%s`

// faultGroup is the one Auto Scaling group of faultScenario.
const faultGroup = "asg-default"

// faultPolicy is the autoscaler's policy for the fault suite; its holes are reconcile_interval,
// drain_mode, min_agents, drain_deadline and boot_timeout. target_utilization 1: the pool grows only
// for waiting instances, so that a test can tell exactly how many agents are needed.
const faultPolicy = `
reconcile_interval: %s
drain_mode: %s
pools:
  - name: default
    min_agents: %d
    max_agents: 6
    target_utilization: 1
    scale_up: {max_step: 4, cooldown: 1s}
    scale_down: {unneeded_for: 3s, delay_after_scale_up: 3s, min_agent_age: 0s, max_draining: 1, drain_deadline: %s}
    health: {max_data_age: 30s, ok_missing_agents: 2}
    boot_timeout: %s
    backoff: {initial: 5s, max: 10s}
`

// faultSim is a simulated cluster served on loopback for one fault test, with a count of the PUTs
// Marathon received per app (a wake or a hibernation is exactly one).
type faultSim struct {
	t     *testing.T
	world *simulate.World
	sim   *serve.Cluster
	dir   string

	mu   sync.Mutex
	puts map[string]int
}

type simOptions struct {
	agents int    // the group's desired capacity at the start
	spot   bool   // the group launches spot instances
	apps   string // the scenario's apps: YAML list items
	// modelAhead starts the model's clock an hour ahead of the wall clock instead of at it.
	modelAhead bool
	// realTime makes the model's clock the wall clock (no offset, speed 1), for tests whose daemon
	// acts on a time the cloud gives it, such as the reclaim time of a spot interruption warning.
	realTime bool
}

// loopbackNetwork claims a loopback network of the test's own for its agents (simulate.ClaimLoopbackNetwork):
// other simulators on the machine (other tests and packages run at the same time, a demo) would put
// a task on the same host:port, which would answer, or fail to bind, for ours.
func loopbackNetwork(t *testing.T) string {
	t.Helper()
	network, release, err := simulate.ClaimLoopbackNetwork()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return network
}

// startFaultSim serves the scenario. Its agents get a loopback network of their own (127.N.0.0/16):
// other simulators on the machine (other tests, a demo) use 127.1.0.0/16, and a task of theirs on the
// same host:port would answer for ours.
//
// The model's clock runs speed times faster than the wall clock, from the wall clock, or with
// modelAhead from an hour ahead of it: either way Mesos's, Marathon's and AWS's times run ahead of the
// daemons' own clocks, which read such a time as the moment they first saw it. realTime keeps the
// model's clock on the wall clock.
func startFaultSim(t *testing.T, o simOptions) *faultSim {
	t.Helper()
	offset, pace := time.Duration(0), float64(speed)
	switch {
	case o.modelAhead:
		offset = time.Hour
	case o.realTime:
		offset, pace = 0, 1
	}
	start := time.Now().Add(offset).UTC().Truncate(time.Second)
	network := loopbackNetwork(t)
	sc, err := simulate.ParseScenario(fmt.Appendf(nil, faultScenario, start.Format(time.RFC3339), network, o.agents, o.spot, o.apps))
	if err != nil {
		t.Fatal(err)
	}
	w, err := simulate.New(sc, simulate.NewRealClock(sc.StartTime(), pace), simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &faultSim{t: t, world: w, dir: t.TempDir(), puts: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	countDone := make(chan struct{})
	go f.countPuts(ctx, countDone)
	if f.sim, err = serve.Start(ctx, w, serve.Config{RealTasks: true}); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		f.sim.Wait()
		<-countDone
	})
	return f
}

// countPuts counts the api_post_event of every app. A Marathon leader change ends every event
// subscription, this one too: it subscribes again at once (the model publishes under its lock, so
// nothing is missed between a leader change and the new subscription but events of that instant).
func (f *faultSim) countPuts(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		sub := f.world.SubscribeMarathon(1 << 16)
		func() {
			for {
				select {
				case <-ctx.Done():
					sub.Close()
					return
				case e, ok := <-sub.C:
					if !ok {
						return
					}
					if e.Type == simulate.EventAPIPost {
						f.mu.Lock()
						f.puts[e.AppID]++
						f.mu.Unlock()
					}
				}
			}
		}()
	}
}

func (f *faultSim) putsTo(app string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts[app]
}

// fault injects a fault through the world, as the control endpoint does.
func (f *faultSim) fault(fl simulate.Fault) {
	f.t.Helper()
	if err := f.world.InjectFault(fl); err != nil {
		f.t.Fatalf("injecting %+v: %v", fl, err)
	}
	f.t.Logf("fault injected: %+v", fl)
}

// scale sets an app's instance count, as an operator's PUT would.
func (f *faultSim) scale(app string, n int) {
	f.t.Helper()
	if _, _, err := f.world.UpdateApp(app, simulate.AppUpdate{Instances: &n}, true); err != nil {
		f.t.Fatal(err)
	}
}

// tasks counts an app's running tasks and its instances waiting in Marathon's queue.
func (f *faultSim) tasks(app string) (running, waiting int) {
	f.world.View(func(v *simulate.View) {
		for _, rt := range v.RunningTasks() {
			if rt.AppID == app {
				running++
			}
		}
		for _, q := range v.Queue() {
			if q.App.ID == app {
				waiting += q.Count
			}
		}
	})
	return running, waiting
}

// group returns the group's desired capacity and its live (pending or in service) instances.
func (f *faultSim) group() (desired int, live []string) {
	f.world.View(func(v *simulate.View) {
		g, _ := v.Group(faultGroup)
		desired = g.Desired
		for _, in := range g.Instances() {
			if in.Lifecycle == simulate.LifecyclePending || in.Lifecycle == simulate.LifecycleInService {
				live = append(live, in.ID)
			}
		}
	})
	return desired, live
}

// terminations counts the termination activities of each instance: a drain that finished twice, or
// an instance Marmot terminated that AWS also replaced, shows as more than one.
func (f *faultSim) terminations() map[string]int {
	n := map[string]int{}
	f.world.View(func(v *simulate.View) {
		g, _ := v.Group(faultGroup)
		for _, a := range g.Activities() {
			if id, ok := strings.CutPrefix(a.Description, "Terminating EC2 instance: "); ok {
				n[id]++
			}
		}
	})
	return n
}

// leftovers says what a finished scale-down must not leave behind: maintenance windows, machines
// DRAINING or DOWN, live instances carrying a drain mark, a desired capacity the live instances do
// not meet, an instance terminated twice. Empty means clean.
func (f *faultSim) leftovers() []string {
	var why []string
	f.world.View(func(v *simulate.View) {
		if n := len(v.Schedule()); n > 0 {
			why = append(why, fmt.Sprintf("%d maintenance windows", n))
		}
		if n := len(v.DrainingMachines()) + len(v.DownMachines()); n > 0 {
			why = append(why, fmt.Sprintf("%d machines draining or down", n))
		}
		g, _ := v.Group(faultGroup)
		live := 0
		for _, in := range g.Instances() {
			if in.Lifecycle != simulate.LifecyclePending && in.Lifecycle != simulate.LifecycleInService {
				continue
			}
			live++
			if mark, ok := in.Tag(autoscaler.TagDrain); ok {
				why = append(why, fmt.Sprintf("%s is live and marked %s", in.ID, mark))
			}
		}
		if live != g.Desired {
			why = append(why, fmt.Sprintf("desired %d, %d live", g.Desired, live))
		}
		for _, a := range v.Agents() {
			if a.Connected() && (a.Drain != nil || a.Deactivated || !a.Active) {
				why = append(why, fmt.Sprintf("agent %s at %s inactive or draining", a.ID, a.Hostname))
			}
		}
	})
	for id, n := range f.terminations() {
		if n > 1 {
			why = append(why, fmt.Sprintf("%s terminated %d times", id, n))
		}
	}
	return why
}

// sleepApp puts an app to sleep as the hibernator does (zero instances and the state labels, one PUT),
// so that wake tests need not wait out an idle period of at least a minute.
func (f *faultSim) sleepApp(app string, instances int) {
	f.t.Helper()
	var labels map[string]string
	f.world.View(func(v *simulate.View) {
		a, _ := v.App(app)
		labels = map[string]string{}
		for k, val := range a.Labels {
			labels[k] = val
		}
	})
	labels[policy.LabelHibernatedInstances] = fmt.Sprint(instances)
	labels[policy.LabelHibernatedAt] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	zero := 0
	if _, _, err := f.world.UpdateApp(app, simulate.AppUpdate{Instances: &zero, Labels: &labels}, true); err != nil {
		f.t.Fatal(err)
	}
	eventually(f.t, time.Minute, app+" to stop", func() error {
		if running, _ := f.tasks(app); running > 0 {
			return fmt.Errorf("%d tasks running", running)
		}
		return nil
	})
}

// appState returns an app's instance count and whether it carries the sleep labels.
func (f *faultSim) appState(app string) (instances int, asleep bool) {
	f.world.View(func(v *simulate.View) {
		a, _ := v.App(app)
		instances = a.Instances
		_, asleep = a.Labels[policy.LabelHibernatedInstances]
	})
	return instances, asleep
}

// process is a daemon run as a child process that a test may kill (SIGKILL) and start again.
type process struct {
	t      *testing.T
	name   string
	path   string
	args   []string
	env    []string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startProcess starts a daemon; at the end of the test it is stopped with SIGTERM (SIGKILL if it
// lingers) and, if the test failed, the tail of its output is shown.
func startProcess(t *testing.T, name, path string, args, env []string) *process {
	t.Helper()
	p := &process{t: t, name: name, path: path, args: args, env: env}
	p.start()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("%s output without debug lines, last lines:\n%s", p.log, tail(withoutDebug(string(b)), 60))
		}
	})
	return p
}

// withoutDebug drops the debug lines of a JSON log: a failing test shows what the daemon did, not its
// every reconcile.
func withoutDebug(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.HasPrefix(l, `{"level":"debug"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func (p *process) start() {
	p.t.Helper()
	p.log = filepath.Join(p.t.TempDir(), fmt.Sprintf("%s-%d.log", p.name, time.Now().UnixNano()))
	logFile, err := os.Create(p.log)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(p.path, p.args...)
	p.cmd.Env = p.env
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}(p.cmd, p.exited)
}

// stop signals the process and waits for it (SIGKILL after 15 s).
func (p *process) stop(sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// kill ends the process with SIGKILL: no handler runs, nothing is cleaned up.
func (p *process) kill() {
	p.t.Helper()
	p.t.Logf("SIGKILL %s (pid %d)", p.name, p.cmd.Process.Pid)
	p.stop(syscall.SIGKILL)
}

// restart kills the process and starts it again with the same flags.
func (p *process) restart() {
	p.t.Helper()
	p.kill()
	p.start()
}

// startFaultAutoscaler runs the autoscaler against the cluster with faultPolicy filled in by args.
func (f *faultSim) startAutoscaler(policyArgs ...any) (p *process, base string) {
	f.t.Helper()
	autoscalerBin, _ := daemons(f.t)
	listen := freeAddr(f.t)
	policyFile := writeFile(f.t, f.dir, "autoscaler.yaml", fmt.Sprintf(faultPolicy, policyArgs...))
	p = startProcess(f.t, "autoscaler", autoscalerBin, []string{
		"--mesos-url", strings.Join(f.sim.MesosURLs, ","), "--marathon-url", strings.Join(f.sim.MarathonURL, ","),
		"--policy", policyFile, "--listen", listen, "--log-level", "debug", "--notice-queue", f.sim.NoticeQueueURL,
	}, awsEnv(f.t, f.sim.AWSURL))
	base = "http://" + listen
	f.ready(base)
	return p, base
}

// startHibernator runs the hibernator against the cluster with the policy given and extra flags.
func (f *faultSim) startHibernator(policyYAML string, extra ...string) (p *process, base, activator string) {
	f.t.Helper()
	_, hibernatorBin := daemons(f.t)
	listen, activator := freeAddr(f.t), freeAddr(f.t)
	args := append([]string{
		"--marathon-url", strings.Join(f.sim.MarathonURL, ","),
		"--policy", writeFile(f.t, f.dir, "hibernator.yaml", policyYAML),
		"--listen", listen, "--activator-listen", activator,
		"--interval", "500ms", "--traffic-interval", "200ms", "--recheck-after", "100ms", "--marathon-timeout", "2s",
	}, extra...)
	p = startProcess(f.t, "hibernator", hibernatorBin, args, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + f.t.TempDir()})
	base = "http://" + listen
	f.ready(base)
	return p, base, activator
}

// ready waits for a daemon's /readyz.
func (f *faultSim) ready(base string) {
	f.t.Helper()
	eventually(f.t, time.Minute, base+"/readyz", func() error {
		_, err := get(base + "/readyz")
		return err
	})
}

// within polls cond until it holds or the (generous) bound passes, and fails the test with cond's last
// explanation.
func within(t *testing.T, bound time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	eventually(t, bound, what, func() error {
		if ok, why := cond(); !ok {
			return fmt.Errorf("%s", why)
		}
		return nil
	})
}

// clean is a condition: nothing left behind (see leftovers).
func (f *faultSim) clean() (bool, string) {
	why := f.leftovers()
	return len(why) == 0, strings.Join(why, "; ")
}

// daemonsOrSkip skips with -short (the fault suite runs real daemons) and builds the daemons.
func daemonsOrSkip(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no end-to-end test")
	}
	daemons(t)
}
