package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/hibernator/daemontest"
	"github.com/marmot-project/marmot/marathon"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
	"github.com/marmot-project/marmot/webui"
)

func TestConfigListsEveryError(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(bad, []byte("idle: {minimum: 30s}\nhold: {timeout: soon}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{
		"--marathon-url", "marathon:8080", "--listen", "nowhere", "--activator-listen", ":9103",
		"--haproxy-stats-url", "http://user:s3cret@", "--lb-probe-url", "marathon-lb:80,http://lb:80,http://u:s3cret@lb:80", "--interval", "0s", "--recheck-after", "-1s",
		"--log-level", "chatty", "--policy", bad, "--cost-region", "mars-north-1", "--cost-memory-price", "-0.01", "extra",
	}, io.Discard, &stderr, env{now: time.Now})
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{
		"--marathon-url: marathon urls[0]", `--listen: "nowhere"`, "--haproxy-stats-url[0]", `--lb-probe-url[0]: "marathon-lb:80"`, "--lb-probe-url[2]", "--interval: 0s",
		"--recheck-after: -1s", `--log-level: "chatty"`, "idle.minimum: 30s is too short", "hold.timeout:", `unexpected arguments ["extra"]`,
		`--cost-region: "mars-north-1" has no built-in prices (eu-central-1, eu-west-1, us-east-1, us-west-2)`, "--cost-memory-price: -0.01 is not a price",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "s3cret") {
		t.Error("a password was printed")
	}
}

func TestCheckPolicy(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"check-policy", "../../docs/examples/hibernator-small.yaml"}, &out, &errOut, env{}); code != 0 || !strings.Contains(out.String(), "ok") {
		t.Fatalf("example policy: exit %d, %s%s", code, out.String(), errOut.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("idle: {default: 2m, minimum: 5m}\nwake: {probe_interval: 1ms}\nunknown: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"check-policy", bad}, io.Discard, &errOut, env{}); code != 1 {
		t.Fatalf("bad policy: exit %d", code)
	}
	for _, want := range []string{"idle.default", "wake.probe_interval", "unknown"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("check-policy output lacks %s:\n%s", want, errOut.String())
		}
	}
}

func TestHelp(t *testing.T) {
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, io.Discard, &errOut, env{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--marathon-url URL", "--dry-run", "check-policy FILE", "SIGHUP"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// simulated serves the small scenario over the real Marathon API (no real tasks).
func simulated(t *testing.T) *serve.Cluster {
	t.Helper()
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	w, err := simulate.New(sc, simulate.NewRealClock(sc.StartTime(), 1), simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := serve.Start(ctx, w, serve.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); c.Wait() })
	return c
}

func newGlue(t *testing.T, c *serve.Cluster) marathonGlue {
	t.Helper()
	client, err := marathon.New(marathon.Config{URLs: c.MarathonURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return marathonGlue{c: client}
}

func TestGlueGivesTheHibernatorMarathon(t *testing.T) {
	g := newGlue(t, simulated(t))
	ctx := context.Background()
	apps, err := g.Apps(ctx, policy.LabelHibernate)
	if err != nil || len(apps) != 2 || apps[0].ID != "/tools/wiki" || apps[1].ID != "/web/docs" {
		t.Fatalf("opted-in apps: %v %+v", err, apps)
	}
	if apps[1].Instances != 1 || apps[1].CPUs != 0.25 || apps[1].TasksRunning != 1 || apps[1].Tasks != nil || apps[1].HealthPath != "/health" {
		t.Fatalf("listed app %+v", apps[1])
	}
	if asleep, err := g.Apps(ctx, policy.LabelHibernatedInstances); err != nil || len(asleep) != 0 {
		t.Fatalf("asleep apps: %v %+v", err, asleep)
	}
	docs, err := g.App(ctx, "/web/docs")
	if err != nil || len(docs.Tasks) != 1 || !docs.Tasks[0].Running || len(docs.Tasks[0].Ports) != 1 || docs.Tasks[0].StartedAt.IsZero() {
		t.Fatalf("app with tasks: %v %+v", err, docs)
	}
	if _, err := g.App(ctx, "/nope"); !errors.Is(err, hibernator.ErrAppNotFound) {
		t.Fatalf("missing app: %v", err)
	}

	// Two instances more: a deployment that lasts until the new tasks run (2 s), during which the app
	// is locked.
	three := 3
	if err := g.Update(ctx, "/web/docs", hibernator.AppUpdate{Instances: &three}); err != nil {
		t.Fatal(err)
	}
	one := 1
	if err := g.Update(ctx, "/web/docs", hibernator.AppUpdate{Instances: &one}); !errors.Is(err, hibernator.ErrAppLocked) {
		t.Fatalf("update during a deployment: %v, want ErrAppLocked", err)
	}
	if deploying, err := g.Deployments(ctx); err != nil || len(deploying) != 1 || deploying[0] != "/web/docs" {
		t.Fatalf("deployments: %v %v", err, deploying)
	}
	events := make(chan string, 16)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- g.Watch(wctx, func(app string) { events <- app }) }()
	if got := <-events; got != "" {
		t.Fatalf("first event %q, want the resync", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// daemonUnderTest runs the hibernator in-process against c until the test ends.
func daemonUnderTest(t *testing.T, c *serve.Cluster, hup chan os.Signal, extra ...string) (status, activator string, logs *daemontest.Buffer) {
	t.Helper()
	status, activator, logs = daemontest.Addr(t), daemontest.Addr(t), &daemontest.Buffer{}
	args := append([]string{"--marathon-url", strings.Join(c.MarathonURL, ","), "--listen", status, "--activator-listen", activator,
		"--interval", "200ms", "--recheck-after", "10ms"}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- run(ctx, args, io.Discard, logs, env{now: time.Now, hup: hup}) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("hibernator exited with %d:\n%s", code, logs)
		}
	})
	daemontest.Eventually(t, "ready", func() error {
		resp, err := http.Get("http://" + status + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	})
	return status, activator, logs
}

func metricsOf(t *testing.T, status string) string {
	t.Helper()
	resp, err := http.Get("http://" + status + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestSIGHUPReloadsThePolicyAndABadOneKeepsTheLastGood(t *testing.T) {
	c := simulated(t)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("idle: {default: 1h}\n")
	hup := make(chan os.Signal, 1)
	status, _, logs := daemonUnderTest(t, c, hup, "--policy", file)
	reloads := func(result string, want int) func() error {
		return func() error {
			line := fmt.Sprintf(`marmot_hibernator_policy_reloads_total{result=%q} %d`, result, want)
			if !strings.Contains(metricsOf(t, status), line) {
				return errors.New("no " + line)
			}
			return nil
		}
	}
	write("idle: {default: 1s}\n")
	hup <- nil
	daemontest.Eventually(t, "the bad policy refused", reloads("error", 1))
	if !strings.Contains(logs.String(), "idle.default") {
		t.Errorf("the reload error does not name the field:\n%s", logs)
	}
	write("idle: {default: 2h}\n")
	hup <- nil
	daemontest.Eventually(t, "the good policy loaded", reloads("ok", 1))
}

func TestDryRunChangesNothingAndTheActivatorSaysSo(t *testing.T) {
	c := simulated(t)
	g := newGlue(t, c)
	ctx := context.Background()
	// Asleep, as a hibernator put it before this one started with --dry-run.
	labelDocsAsleep(t, g, "1")
	status, activator, _ := daemonUnderTest(t, c, nil, "--dry-run")
	req, _ := http.NewRequest(http.MethodGet, "http://"+activator+"/", nil)
	req.Host = "docs.example.com"
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "dry-run") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("dry run: %d %q", resp.StatusCode, body)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("the refusal took %s: it should not wait for the hold timeout", waited)
	}
	if a, _ := g.App(ctx, "/web/docs"); a.Instances != 0 {
		t.Fatalf("a dry run woke the app: %+v", a)
	}
	if !strings.Contains(metricsOf(t, status), `marmot_hibernator_wakes_total{reason="request"} 0`) {
		t.Fatal("a dry run counted a wake")
	}
}

// The cost flags price what sleeping apps free as the autoscaler's prices do: a region of the built-in
// table (us-east-1 by default), with either price replaced by hand.
func TestCostFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want cost.Rate
	}{
		{nil, cost.BaseRate},
		{[]string{"--cost-region", "eu-west-1"}, cost.Rate{CPUHour: 0.0365, GiBHour: 0.00425}},
		{[]string{"--cost-region", "eu-west-1", "--cost-memory-price", "0.005"}, cost.Rate{CPUHour: 0.0365, GiBHour: 0.005}},
		{[]string{"--cost-region", "ap-south-2", "--cost-cpu-price", "0.04", "--cost-memory-price", "0"}, cost.Rate{CPUHour: 0.04}},
	} {
		c, err := parseConfig(append([]string{"--marathon-url", "http://marathon:8080"}, tc.args...), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if c.costRate != tc.want {
			t.Errorf("%v: rate %+v, want %+v", tc.args, c.costRate, tc.want)
		}
	}
	for _, args := range [][]string{
		{"--cost-region", "ap-south-2", "--cost-cpu-price", "0.04"},
		{"--cost-cpu-price", "0", "--cost-memory-price", "0"},
		{"--cost-cpu-price", "NaN"},
	} {
		if _, err := parseConfig(append([]string{"--marathon-url", "http://marathon:8080"}, args...), io.Discard); err == nil || !strings.Contains(err.Error(), "--cost-") {
			t.Errorf("%v: %v, want an error about the cost flags", args, err)
		}
	}
}

// The daemon exports the prices it was given next to the savings, and its page shows what hibernation
// saves but no cost per hour: the hibernator sees no instance, so it does not know what they cost.
func TestThePagePricesSavingsAndShowsNoCost(t *testing.T) {
	c := simulated(t)
	docs := labelDocsAsleep(t, newGlue(t, c), "2")
	status, _, _ := daemonUnderTest(t, c, nil, "--cost-region", "eu-west-1", "--cost-cpu-price", "0.05")
	m := metricsOf(t, status)
	for _, want := range []string{"marmot_cost_hibernation_cpu_price_dollars_per_core_hour 0.05\n", "marmot_cost_hibernation_memory_price_dollars_per_gib_hour 0.00425\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// /web/docs: 2 instances of the small scenario's docs app asleep, at $0.05 per cpu-hour and
	// $0.00425 per GiB-hour.
	perHour := 2 * (docs.CPUs*0.05 + docs.Mem/1024*0.00425)
	var s webui.Series
	daemontest.Eventually(t, "a page sample with the savings", func() error {
		resp, err := http.Get("http://" + status + "/api/series")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		s = webui.Series{}
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			return err
		}
		if s.Latest == nil || s.Latest.HibernationSavings == nil {
			return fmt.Errorf("latest sample %+v", s.Latest)
		}
		return nil
	})
	if got := s.Latest.HibernationSavings.PerHour; math.Abs(got-perHour) > 1e-9 {
		t.Errorf("savings per hour %v, want %v", got, perHour)
	}
	if s.Latest.Cost != nil {
		t.Errorf("the page has a cost (%+v): the hibernator does not know what the cluster costs", *s.Latest.Cost)
	}
}
