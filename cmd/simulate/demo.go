package main

// "simulate demo": the diurnal scenario served over the real APIs in sped-up time, with the real
// autoscaler and hibernator (the binaries, as operators run them) managing it, traffic sent through
// the activator, the built-in dashboard page, a live one-line summary, and the cost and savings at
// the end.
//
// The daemons keep wall-clock time while the model runs speed times faster. Two choices follow:
// their policies are written in wall time (a 10 s unneeded period is 10 model minutes at 60x); and the
// opted-in apps' idle period is the hibernator's floor, a wall minute, an hour of the model. The model
// starts at today's midnight (UTC), where the diurnal wave starts, and overtakes the wall clock within
// the first model day: from then on Mesos's, Marathon's and AWS's times are ahead of the daemons',
// which read such a time as the moment they first saw it.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
	"github.com/marmot-project/marmot/webui"
	"github.com/marmot-project/marmot/webui/fromstatus"
)

type demoFlags struct {
	scenario     string
	speed        float64
	duration     time.Duration
	summaryEvery time.Duration
	listen       string
	binDir       string
	logLevel     string
}

func parseDemoFlags(args []string, stderr io.Writer) (*demoFlags, error) {
	f := &demoFlags{}
	fs := flag.NewFlagSet("simulate demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.scenario, "scenario", "diurnal", "built-in scenario name ("+strings.Join(simulate.Builtins(), ", ")+") or a YAML file")
	fs.Float64Var(&f.speed, "speed", 60, "model seconds per wall-clock second (60 = an hour a minute)")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this much wall-clock time (0: run until interrupted)")
	fs.DurationVar(&f.summaryEvery, "summary-every", 2*time.Second, "print the one-line summary this often")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:9090", "listen address of the dashboard page (a free port if taken)")
	fs.StringVar(&f.binDir, "bin-dir", "", "directory with the autoscaler and hibernator binaries (default: build them with go build)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level of the daemons and the simulator (their JSON logs go to files)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: simulate demo [flags]\n\nServes the scenario in sped-up time, runs the real autoscaler and hibernator against it,\nsends traffic, serves the dashboard page, prints a live summary, and the cost and savings at the end.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var errs []string
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Sprintf("unexpected arguments: %v", fs.Args()))
	}
	if f.speed < 1 {
		errs = append(errs, fmt.Sprintf("--speed: %g must be 1 or more", f.speed))
	}
	if f.duration < 0 || f.summaryEvery <= 0 {
		errs = append(errs, "--duration must not be negative, --summary-every must be positive")
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return f, nil
}

// demoAutoscalerPolicy is in wall time: at 60x, 10 s is 10 model minutes, and a model boot of up to
// 300 s takes 5 s.
const demoAutoscalerPolicy = `
reconcile_interval: 2s
drain_mode: auto
pools:
  - name: default
    min_agents: 2
    max_agents: 80
    target_utilization: 0.8
    scale_up: {max_step: 10, cooldown: 2s}
    scale_down: {utilization_below: 0.5, unneeded_for: 10s, delay_after_scale_up: 10s, min_agent_age: 10s, max_draining: 3, drain_deadline: 30s}
    health: {max_data_age: 30s, ok_missing_agents: 3}
    boot_timeout: 30s
  - name: batch
    min_agents: 0
    max_agents: 20
    target_utilization: 0.8
    scale_up: {max_step: 10, cooldown: 2s}
    scale_down: {utilization_below: 0.5, unneeded_for: 10s, delay_after_scale_up: 10s, min_agent_age: 10s, max_draining: 3, drain_deadline: 30s}
    health: {max_data_age: 30s, ok_missing_agents: 3}
    boot_timeout: 30s
`

const demoHibernatorPolicy = `
idle: {default: 1m, minimum: 1m}
traffic: {max_age: 30s, ignore_paths: [/health]}
max_hibernations_per_minute: 30
hold: {timeout: 30s, max_requests_per_app: 100, max_requests_total: 1000}
waiting_page: false
wake: {probe_interval: 50ms, probe_timeout: 1s}
`

// minDemoRPS is the least offered load (model requests per second) for which the demo sends an app
// a request each wall second: below it the app counts as idle, so the tools fall asleep at night.
const minDemoRPS = 0.1

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseDemoFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	d, err := startDemo(ctx, f, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	d.run(ctx, stdout)
	d.stop()
	d.printFinal(stdout)
	return 0
}

// demo is the running demo.
type demo struct {
	f       *demoFlags
	sc      *simulate.Scenario
	world   *simulate.World
	cluster *serve.Cluster
	wall0   time.Time // when the model's clock started, for turning wall times into model times
	dir     string    // policies and logs
	ui      *webui.UI
	page    *http.Server
	pageURL string
	ledger  *cost.Ledger
	prices  *cost.Prices
	opted   map[string]string // opted-in app → its host name at the activator

	autoscaler, hibernator, activator string // base URLs and the activator's host:port
	daemons                           []*exec.Cmd
	traffic                           sync.WaitGroup
	inFlight                          sync.Map // app → struct{}: one request at a time per app
	lastSpot                          time.Time
}

func startDemo(ctx context.Context, f *demoFlags, stdout io.Writer) (*demo, error) {
	sc, err := simulate.LoadScenario(f.scenario)
	if err != nil {
		return nil, err
	}
	d := &demo{f: f, sc: sc, opted: map[string]string{}}
	d.prepareScenario()
	if d.dir, err = os.MkdirTemp("", "marmot-demo-"); err != nil {
		return nil, err
	}
	autoscalerBin, hibernatorBin, err := demoBinaries(f.binDir, d.dir, stdout)
	if err != nil {
		return nil, err
	}
	d.wall0 = time.Now()
	clock := simulate.NewRealClock(sc.StartTime(), f.speed)
	if d.world, err = simulate.New(sc, clock, simulate.Options{Loopback: true}); err != nil {
		return nil, err
	}
	simLog, err := os.Create(filepath.Join(d.dir, "simulate.log"))
	if err != nil {
		return nil, err
	}
	if d.cluster, err = serve.Start(ctx, d.world, serve.Config{RealTasks: true, Logger: newLogger(f.logLevel, simLog)}); err != nil {
		return nil, err
	}
	d.initCost()

	addrs, err := freeAddrs(3)
	if err != nil {
		return nil, err
	}
	asListen, hibListen, actListen := addrs[0], addrs[1], addrs[2]
	d.autoscaler, d.hibernator, d.activator = "http://"+asListen, "http://"+hibListen, actListen
	if err := d.startDaemon("autoscaler", autoscalerBin, []string{
		"--mesos-url", strings.Join(d.cluster.MesosURLs, ","), "--marathon-url", strings.Join(d.cluster.MarathonURL, ","),
		"--policy", d.write("autoscaler.yaml", demoAutoscalerPolicy), "--listen", asListen, "--log-level", f.logLevel,
		"--notice-queue", d.cluster.NoticeQueueURL,
	}, "AWS_ENDPOINT_URL="+d.cluster.AWSURL, "AWS_REGION="+sc.Region,
		"AWS_ACCESS_KEY_ID=AKIDSIMULATED", "AWS_SECRET_ACCESS_KEY=simulated", "AWS_EC2_METADATA_DISABLED=true"); err != nil {
		return nil, err
	}
	hibArgs := []string{
		"--marathon-url", strings.Join(d.cluster.MarathonURL, ","),
		"--policy", d.write("hibernator.yaml", demoHibernatorPolicy),
		"--listen", hibListen, "--activator-listen", actListen, "--log-level", f.logLevel,
	}
	if _, ok := cost.RegionRate(sc.Region); ok {
		hibArgs = append(hibArgs, "--cost-region", sc.Region) // the autoscaler's AWS_REGION
	}
	if err := d.startDaemon("hibernator", hibernatorBin, hibArgs); err != nil {
		return nil, err
	}
	if err := d.servePage(); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "scenario %s at %gx: a model day takes %s\n", sc.Name, f.speed, (24 * time.Hour / time.Duration(f.speed)).Round(time.Second))
	fmt.Fprintf(stdout, "dashboard   %s\n", d.pageURL)
	fmt.Fprintf(stdout, "autoscaler  %s/status  %s/metrics\n", d.autoscaler, d.autoscaler)
	fmt.Fprintf(stdout, "hibernator  %s/status  %s/metrics  (activator %s)\n", d.hibernator, d.hibernator, d.activator)
	fmt.Fprintf(stdout, "simulator   mesos %s  marathon %s  aws %s  control %s\n", d.cluster.LeaderMesosURL(), d.cluster.MarathonURL[0], d.cluster.AWSURL, d.cluster.ControlURL)
	fmt.Fprintf(stdout, "logs        %s\n\n", d.dir)
	return d, nil
}

// prepareScenario adapts the scenario to daemons that keep wall-clock time (see the file comment),
// and gives every opted-in app a host name of its own, so that the activator can wake it.
func (d *demo) prepareScenario() {
	d.sc.Start = time.Now().UTC().Truncate(24 * time.Hour).Format(time.RFC3339)
	var apps []simulate.AppSpec
	for _, a := range d.sc.Apps {
		if a.Labels[policy.LabelHibernate] != "true" {
			apps = append(apps, a)
			continue
		}
		ids := []string{a.ID}
		if a.Count > 1 {
			ids = ids[:0]
			for i := 1; i <= a.Count; i++ {
				ids = append(ids, fmt.Sprintf("%s-%d", a.ID, i))
			}
		}
		for _, id := range ids {
			one := a
			one.ID, one.Count = id, 0
			one.Labels = map[string]string{}
			for k, v := range a.Labels {
				one.Labels[k] = v
			}
			host := strings.ReplaceAll(strings.Trim(id, "/"), "/", "-") + ".demo.test"
			one.Labels[policy.LabelHibernateHosts] = host
			one.Labels[policy.LabelHibernateIdle] = "1m"
			d.opted[id] = host
			apps = append(apps, one)
		}
	}
	d.sc.Apps = apps
}

// demoBinaries returns the daemons: from binDir, or built from this module with go build.
func demoBinaries(binDir, tmp string, stdout io.Writer) (autoscaler, hibernator string, err error) {
	if binDir == "" {
		binDir = filepath.Join(tmp, "bin")
		fmt.Fprintln(stdout, "building the autoscaler and the hibernator…")
		cmd := exec.Command("go", "build", "-o", binDir+string(filepath.Separator),
			"github.com/marmot-project/marmot/cmd/autoscaler", "github.com/marmot-project/marmot/cmd/hibernator")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build of the daemons (run from the repository, or pass --bin-dir): %v\n%s", err, out)
		}
	}
	autoscaler, hibernator = filepath.Join(binDir, "autoscaler"), filepath.Join(binDir, "hibernator")
	for _, p := range []string{autoscaler, hibernator} {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("--bin-dir: %w", err)
		}
	}
	return autoscaler, hibernator, nil
}

func (d *demo) write(name, content string) string {
	path := filepath.Join(d.dir, name)
	_ = os.WriteFile(path, []byte(content), 0o600)
	return path
}

// startDaemon runs a daemon with its logs in a file, and waits until it is ready.
func (d *demo) startDaemon(name, path string, args []string, env ...string) error {
	logFile, err := os.Create(filepath.Join(d.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append([]string{"HOME=" + d.dir, "PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the demo dies without cleaning up (killed, or its output pipe closed), the daemons go too.
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	d.daemons = append(d.daemons, cmd)
	base := d.autoscaler
	if name == "hibernator" {
		base = d.hibernator
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := demoGet(base + "/readyz"); err == nil {
			return nil
		}
		if time.Now().After(deadline) || (cmd.ProcessState != nil && cmd.ProcessState.Exited()) {
			return fmt.Errorf("%s did not become ready within a minute: see %s", name, logFile.Name())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (d *demo) servePage() error {
	d.ui = webui.New(webui.Config{
		Title: "marmot demo: " + d.sc.Name, StatusPath: "summary",
		// Samples carry model time: at 60x a model minute passes every wall second.
		Resolution: time.Minute, Capacity: 2 * 24 * 60, Refresh: 2 * time.Second,
	})
	mux := http.NewServeMux()
	d.ui.Mount(mux)
	mux.Handle("GET /summary", serve.ControlHandler(d.world))
	l, err := net.Listen("tcp", d.f.listen)
	if err != nil {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	d.page = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.page.Serve(l) }()
	d.pageURL = "http://" + l.Addr().String() + "/"
	return nil
}

func freeAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		out = append(out, l.Addr().String())
		defer l.Close()
	}
	return out, nil
}

var demoClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

func demoGet(url string) ([]byte, error) {
	resp, err := demoClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	return body, err
}

// run samples the cluster every wall second until ctx ends: the cost ledger, the page, the traffic,
// and the summary line.
func (d *demo) run(ctx context.Context, stdout io.Writer) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastLine := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := d.sample()
		d.ui.Record(s)
		if time.Since(lastLine) >= d.f.summaryEvery {
			fmt.Fprintln(stdout, summaryLine(s))
			lastLine = time.Now()
		}
	}
}

// sample observes the model once: feeds the ledger, sends the traffic, and returns the page's sample.
func (d *demo) sample() webui.Sample {
	var state cost.State
	pools := map[string]*webui.Pool{}
	var rps map[string]float64
	d.world.View(func(v *simulate.View) {
		state, rps = d.observe(v, pools)
	})
	d.ledger.Observe(state)
	d.sendTraffic(rps)

	s := webui.Sample{At: state.At}
	var waiting map[string]int
	if body, err := demoGet(d.autoscaler + "/status"); err == nil {
		if ps, agents, err := fromstatus.AutoscalerJSON(body); err == nil {
			s.Agents = agents
			waiting = map[string]int{}
			for _, p := range ps {
				waiting[p.Name] = p.Waiting
			}
		}
	}
	for _, p := range pools {
		p.Waiting = waiting[p.Name]
		s.Pools = append(s.Pools, *p)
	}
	sort.Slice(s.Pools, func(i, j int) bool { return s.Pools[i].Name < s.Pools[j].Name })
	if body, err := demoGet(d.hibernator + "/status"); err == nil {
		if apps, sleeping, err := fromstatus.HibernatorJSON(body, d.appResources); err == nil {
			for i := range sleeping {
				sleeping[i].Since = d.modelTime(sleeping[i].Since)
			}
			s.Apps, s.SleepingApps = apps, sleeping
		}
	}
	rep := d.ledger.Report()
	s.Cost = &webui.Cost{
		PerHour: perHour(state, d.prices), Total: rep.Cost,
		SavedAutoscaling: rep.Savings.Autoscaling, SavedHibernation: new(rep.Savings.Hibernation.Cost),
	}
	return s
}

// modelTime turns a wall-clock time (the hibernator's) into the model's.
func (d *demo) modelTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return d.sc.StartTime().Add(time.Duration(float64(t.Sub(d.wall0)) * d.f.speed))
}

func (d *demo) appResources(id string) (cpus, memMB float64) {
	d.world.View(func(v *simulate.View) {
		if a, ok := v.App(id); ok {
			cpus, memMB = a.CPUs, a.Mem
		}
	})
	return cpus, memMB
}

// sendTraffic sends one request through the activator to every opted-in app whose offered load is at
// least minDemoRPS, as a load balancer would for a sleeping app: it wakes the app, or (awake) is
// forwarded and counts as traffic, so the app stays awake. One request at a time per app.
func (d *demo) sendTraffic(rps map[string]float64) {
	for app, host := range d.opted {
		if rps[app] < minDemoRPS {
			continue
		}
		if _, busy := d.inFlight.LoadOrStore(app, struct{}{}); busy {
			continue
		}
		d.traffic.Add(1)
		go func() {
			defer d.traffic.Done()
			defer d.inFlight.Delete(app)
			req, err := http.NewRequest("GET", "http://"+d.activator+"/", nil)
			if err != nil {
				return
			}
			req.Host = host
			client := &http.Client{Timeout: 45 * time.Second, Transport: demoClient.Transport}
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
}

func (d *demo) stop() {
	d.traffic.Wait()
	for _, cmd := range d.daemons {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, cmd := range d.daemons {
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	_ = d.page.Close()
	d.cluster.Close()
}

// summaryLine is the live one-line summary: the model's time, agents per pool, apps asleep, what the
// cluster costs now, and what autoscaling and hibernation saved so far.
func summaryLine(s webui.Sample) string {
	agents := 0
	var pools []string
	for _, p := range s.Pools {
		agents += p.Agents
		pools = append(pools, fmt.Sprintf("%s=%d", p.Name, p.Agents))
	}
	asleep := "–"
	if s.Apps != nil {
		asleep = fmt.Sprintf("%d/%d", s.Apps.Asleep, s.Apps.Asleep+s.Apps.Awake+s.Apps.Waking)
	}
	c := s.Cost
	hibernation := 0.0 // the demo always knows it
	if c.SavedHibernation != nil {
		hibernation = *c.SavedHibernation
	}
	return fmt.Sprintf("%s  agents %d (%s)  apps asleep %s  $%.2f/h  saved $%.2f (autoscaling $%.2f, hibernation $%.2f)",
		s.At.UTC().Format("Mon 15:04"), agents, strings.Join(pools, " "), asleep, c.PerHour,
		c.SavedAutoscaling+hibernation, c.SavedAutoscaling, hibernation)
}

func (d *demo) printFinal(stdout io.Writer) {
	rep := d.ledger.Report()
	fmt.Fprintf(stdout, "\ncost and savings, %s to %s (model time, %s):\n", rep.From.UTC().Format("Mon 15:04"),
		rep.To.UTC().Format("Mon 15:04"), rep.To.Sub(rep.From).Round(time.Minute))
	fmt.Fprintf(stdout, "  cost               $%10.2f  (%.0f instance-hours, %.0f as Mesos agents)\n", rep.Cost, rep.InstanceHours, rep.AgentHours)
	for _, p := range rep.Pools {
		fmt.Fprintf(stdout, "    pool %-12s $%10.2f  (%.0f instance-hours; static peak would run %.0f)\n", p.Pool, p.Cost, p.InstanceHours, p.StaticPeakInstanceHours)
	}
	fmt.Fprintf(stdout, "  idle capacity      $%10.2f\n", rep.Idle.Cost)
	fmt.Fprintf(stdout, "  saved: autoscaling $%10.2f  (%.0f instance-hours against a static pool sized for the peak)\n",
		rep.Savings.Autoscaling, rep.Savings.AutoscalingInstanceHours)
	fmt.Fprintf(stdout, "  saved: hibernation $%10.2f  (%.1f cpu-hours, %.1f GiB-hours freed by sleeping apps)\n",
		rep.Savings.Hibernation.Cost, rep.Savings.Hibernation.CPUHours, rep.Savings.Hibernation.GiBHours)
	fmt.Fprintln(stdout, "  chargeback by team:")
	for _, t := range rep.Teams {
		fmt.Fprintf(stdout, "    %-16s $%10.2f  (%.1f cpu-hours, %.1f GiB-hours)\n", t.Name, t.Cost, t.CPUHours, t.GiBHours)
	}
	if len(rep.Unpriced) > 0 {
		fmt.Fprintf(stdout, "  not priced (missing from the figures): %s\n", strings.Join(rep.Unpriced, ", "))
	}
	fmt.Fprintf(stdout, "logs in %s\n", d.dir)
}

// initCost prices the scenario's instance types as the model does.
func (d *demo) initCost() {
	over := map[string]float64{}
	d.world.View(func(v *simulate.View) {
		for _, t := range v.InstanceTypes() {
			over[t.Name] = t.PriceHour
		}
	})
	d.prices = cost.NewPrices(d.sc.Region, over)
	d.ledger = cost.NewLedger(cost.LedgerConfig{Prices: d.prices, Origin: d.sc.StartTime()})
}

// observe describes the model for the ledger and the page; called inside View.
func (d *demo) observe(v *simulate.View, pools map[string]*webui.Pool) (cost.State, map[string]float64) {
	now := v.Now()
	pool := func(name string) *webui.Pool {
		if pools[name] == nil {
			pools[name] = &webui.Pool{Name: name}
		}
		return pools[name]
	}
	d.feedSpot(v, now)
	st := cost.State{At: now}
	agentPool := map[string]string{}
	offers := map[string]cost.Resources{}
	for _, a := range v.Agents() {
		p := pool(a.Pool)
		p.Agents++
		p.CPUs += a.Total.CPUs
		p.CPUsAllocated += a.Allocated.CPUs
		agentPool[a.ID] = a.Pool
		offers[a.ID] = cost.Resources{CPUs: a.Total.CPUs, MemMiB: a.Total.Mem}
	}
	groupPool := map[string]string{}
	for _, g := range v.Groups() {
		pool(g.Pool).Desired += g.Desired
		groupPool[g.Name] = g.Pool
	}
	for _, in := range v.Instances() {
		if in.State != simulate.InstanceRunning && in.State != simulate.InstancePending {
			continue
		}
		st.Instances = append(st.Instances, cost.Instance{
			ID: in.ID, Pool: groupPool[in.Group], Type: in.Type, Spot: in.Spot, AZ: in.AZ, Since: in.LaunchTime, Offers: offers[in.AgentID],
		})
	}
	rps := map[string]float64{}
	for _, app := range v.Apps() {
		if _, ok := d.opted[app.ID]; ok {
			rps[app.ID] = app.RequestRate
		}
		held := map[string]cost.Resources{}
		for _, t := range app.Tasks() {
			if t.State != simulate.TaskRunning {
				continue
			}
			r := cost.Resources{CPUs: t.Resources.CPUs, MemMiB: t.Resources.Mem}
			held[agentPool[t.AgentID]] = held[agentPool[t.AgentID]].Add(r)
		}
		for p, r := range held {
			st.Usage = append(st.Usage, cost.Usage{App: app.ID, Labels: app.Labels, Pool: p, Resources: r})
		}
		if n, err := strconv.Atoi(app.Labels[policy.LabelHibernatedInstances]); err == nil && app.Instances == 0 && n > 0 {
			// Since stays zero: the hibernator stamps sleeps with the wall clock, the ledger counts in model
			// time, and the demo feeds every state, so "since the previous state" is exact.
			st.Sleeping = append(st.Sleeping, cost.Sleeping{
				App: app.ID, Labels: app.Labels, Pool: appPool(app),
				Freed: cost.Resources{CPUs: app.CPUs * float64(n), MemMiB: app.Mem * float64(n)},
			})
		}
	}
	return st, rps
}

// feedSpot gives the prices the spot price history since the last state.
func (d *demo) feedSpot(v *simulate.View, now time.Time) {
	from := d.lastSpot
	if from.IsZero() {
		from = d.sc.StartTime().Add(-24 * time.Hour)
	}
	var pts []cost.SpotPrice
	for _, p := range v.SpotPriceHistory(nil, nil, from, now) {
		pts = append(pts, cost.SpotPrice{InstanceType: p.InstanceType, AZ: p.AZ, Price: p.Price, Timestamp: p.Timestamp})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].Timestamp.Before(pts[j].Timestamp) })
	d.prices.AddSpot(pts...)
	d.lastSpot = now
}

// appPool is the pool an app's constraint pins it to (pool CLUSTER name), else "default".
func appPool(a *simulate.App) string {
	for _, c := range a.Constraints {
		if len(c) == 3 && c[0] == "pool" && c[1] == "CLUSTER" {
			return c[2]
		}
	}
	return "default"
}

// perHour is what the instances of a state cost per hour.
func perHour(s cost.State, prices *cost.Prices) float64 {
	total := 0.0
	for _, in := range s.Instances {
		p, _ := prices.Hourly(in.Type, in.Spot, in.AZ, s.At)
		total += p
	}
	return total
}
