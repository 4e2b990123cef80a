package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/dashboards"
)

// rateInterval stands for Grafana's $__rate_interval: with a 1 s scrape interval a minute holds
// plenty of samples, and an event (a wake, a finished drain) stays in the window long enough to be
// seen by a poll.
const rateInterval = "1m"

// TestDashboardQueriesReturnData runs a real Prometheus scraping both daemons while they manage the
// simulated cluster, and asks it every query of every shipped dashboard (and every variable's label
// values), as Grafana would. Each must return data with a real number in it at some point of the run:
// a query that reads a metric the daemons do not export, or only NaN (a latency of events that never
// happen), fails. The test makes the events happen: the pool grows and shrinks (scale-ups, drains,
// terminations), apps fall asleep, and a request wakes one through the activator.
func TestDashboardQueriesReturnData(t *testing.T) {
	prom := needBinary(t, "prometheus", "prometheus")
	c := startCluster(t)
	promURL := startPrometheus(t, prom, map[string]string{
		"marmot-autoscaler": strings.TrimPrefix(c.autoscale, "http://"),
		"marmot-hibernator": strings.TrimPrefix(c.hibernate, "http://"),
	})

	boards, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	// The cost panels read both daemons' marmot_cost_* series: they are checked like every other.
	if b := boards["marmot-cost.json"]; b == nil || len(b.Queries()) < 10 {
		t.Fatal("the cost and chargeback dashboard is not among the shipped ones")
	}
	type check struct {
		where string
		run   func() (ok bool, last string)
	}
	var checks []check
	vars := dashboards.Variables(rateInterval)
	for file, b := range boards {
		for _, q := range b.Queries() {
			where := fmt.Sprintf("%s: %s (%s)", file, q.Panel, q.RefID)
			if sel, label, ok := dashboards.VariableQuery(q.Expr); ok {
				checks = append(checks, check{where, func() (bool, string) { return labelValues(promURL, sel, label) }})
				continue
			}
			expr := dashboards.Expand(q.Expr, vars)
			checks = append(checks, check{where + ": " + expr, func() (bool, string) { return query(promURL, expr) }})
		}
	}
	sort.Slice(checks, func(i, j int) bool { return checks[i].where < checks[j].where })
	t.Logf("%d queries of %d dashboards", len(checks), len(boards))

	woke := false
	pending := checks
	last := map[string]string{}
	deadline := time.Now().Add(4 * time.Minute)
	for len(pending) > 0 && time.Now().Before(deadline) {
		if !woke {
			woke = c.wakeOne(t)
		}
		var still []check
		for _, ch := range pending {
			ok, got := ch.run()
			if !ok {
				last[ch.where] = got
				still = append(still, ch)
			}
		}
		pending = still
		time.Sleep(2 * time.Second)
	}
	for _, ch := range pending {
		t.Errorf("no data: %s\n\tlast answer: %s", ch.where, last[ch.where])
	}
	if !woke {
		t.Error("no app fell asleep, so none could be woken through the activator")
	}
}

// startPrometheus runs Prometheus on a free loopback port, scraping the targets (job name → host:port)
// every second, with its storage in a temporary directory, and waits until it is ready.
func startPrometheus(t *testing.T, path string, targets map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\nscrape_configs:\n")
	jobs := make([]string, 0, len(targets))
	for job := range targets {
		jobs = append(jobs, job)
	}
	sort.Strings(jobs)
	for _, job := range jobs {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs: [{targets: [%q]}]\n", job, targets[job])
	}
	addr := freeAddr(t)
	runDaemon(t, "prometheus", path, []string{
		"--config.file=" + writeFile(t, dir, "prometheus.yml", cfg.String()),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}, []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")})
	base := "http://" + addr
	eventually(t, time.Minute, "prometheus ready", func() error {
		_, err := get(base + "/-/ready")
		return err
	})
	// Every target up before anything is asked: a query failing for want of a first scrape says nothing.
	eventually(t, time.Minute, "prometheus scraping both daemons", func() error {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					ScrapePool string `json:"scrapePool"`
					Health     string `json:"health"`
					LastError  string `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(base+"/api/v1/targets", &r); err != nil {
			return err
		}
		up := 0
		for _, tg := range r.Data.ActiveTargets {
			if tg.Health != "up" {
				return fmt.Errorf("%s: %s %s", tg.ScrapePool, tg.Health, tg.LastError)
			}
			up++
		}
		if up != len(targets) {
			return fmt.Errorf("%d of %d targets up", up, len(targets))
		}
		return nil
	})
	if _, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command("promtool", "check", "config", filepath.Join(dir, "prometheus.yml")).CombinedOutput(); err != nil {
			t.Logf("promtool check config: %v\n%s", err, out)
		}
	}
	return base
}

// query asks Prometheus for an instant query; ok when the answer has at least one real number.
func query(base, expr string) (bool, string) {
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(base+"/api/v1/query?query="+url.QueryEscape(expr), &r); err != nil {
		return false, err.Error()
	}
	if r.Status != "success" {
		return false, r.Status + ": " + r.Error
	}
	var values []string
	switch r.Data.ResultType {
	case "vector":
		var v []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			return false, err.Error()
		}
		for _, s := range v {
			values = append(values, fmt.Sprint(s.Value[1]))
		}
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(r.Data.Result, &s); err != nil {
			return false, err.Error()
		}
		values = append(values, fmt.Sprint(s[1]))
	default:
		return false, "unexpected result type " + r.Data.ResultType
	}
	for _, v := range values {
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return true, ""
		}
	}
	if len(values) == 0 {
		return false, "empty result"
	}
	return false, fmt.Sprintf("only %v", values)
}

// labelValues asks what Grafana asks for a label_values(selector, label) variable.
func labelValues(base, selector, label string) (bool, string) {
	var r struct {
		Status string   `json:"status"`
		Data   []string `json:"data"`
	}
	u := base + "/api/v1/label/" + url.PathEscape(label) + "/values?match[]=" + url.QueryEscape(selector)
	if err := getJSON(u, &r); err != nil {
		return false, err.Error()
	}
	if len(r.Data) == 0 {
		return false, "no values"
	}
	return true, ""
}

// wakeOne sends a request for a sleeping app to the activator, as the load balancer would, and
// reports whether it was answered by the woken app.
func (c *cluster) wakeOne(t *testing.T) bool {
	t.Helper()
	var st struct {
		Apps []struct {
			App   string   `json:"app"`
			State string   `json:"state"`
			Hosts []string `json:"hosts"`
		} `json:"apps"`
	}
	if err := getJSON(c.hibernate+"/status", &st); err != nil {
		return false
	}
	for _, a := range st.Apps {
		if a.State != "asleep" || len(a.Hosts) == 0 {
			continue
		}
		req, err := http.NewRequest("GET", "http://"+c.activator+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = a.Hosts[0]
		resp, err := activatorClient.Do(req)
		if err != nil {
			t.Logf("waking %s: %v", a.App, err)
			return false
		}
		resp.Body.Close()
		t.Logf("woke %s through the activator: %s", a.App, resp.Status)
		return resp.StatusCode == 200
	}
	return false
}
