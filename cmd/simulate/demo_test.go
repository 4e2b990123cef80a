package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/webui"
)

func TestDemoPrepareScenario(t *testing.T) {
	sc, err := simulate.LoadScenario("diurnal")
	if err != nil {
		t.Fatal(err)
	}
	d := &demo{sc: sc, opted: map[string]string{}}
	d.prepareScenario()
	if start := sc.StartTime(); time.Since(start) < 0 || time.Since(start) > 24*time.Hour || start.Hour() != 0 || start.Minute() != 0 {
		t.Errorf("start %v: want today's midnight, where the diurnal wave starts", start)
	}
	if len(d.opted) != 6 {
		t.Fatalf("opted-in apps %v: want the six /tools/dash apps, one by one", d.opted)
	}
	hosts := map[string]bool{}
	for _, a := range sc.Apps {
		if a.Labels[policy.LabelHibernate] != "true" {
			continue
		}
		host := a.Labels[policy.LabelHibernateHosts]
		if a.Count > 1 || hosts[host] || host != d.opted[a.ID] || a.Labels[policy.LabelHibernateIdle] != "1m" {
			t.Errorf("%s: count %d, host %q, idle %q: want its own host and the hibernator's minimum idle", a.ID, a.Count, host, a.Labels[policy.LabelHibernateIdle])
		}
		hosts[host] = true
	}
	if _, err := simulate.New(sc, simulate.NewVirtualClock(sc.StartTime()), simulate.Options{}); err != nil {
		t.Fatalf("the prepared scenario does not load: %v", err)
	}
}

func TestDemoSummaryLine(t *testing.T) {
	s := webui.Sample{
		At:    time.Date(2026, 1, 5, 14, 30, 0, 0, time.UTC),
		Pools: []webui.Pool{{Name: "batch", Agents: 2}, {Name: "default", Agents: 12}},
		Apps:  &webui.Apps{Awake: 4, Asleep: 2},
		Cost:  &webui.Cost{PerHour: 4.5, SavedAutoscaling: 10, SavedHibernation: new(0.25)},
	}
	want := "Mon 14:30  agents 14 (batch=2 default=12)  apps asleep 2/6  $4.50/h  saved $10.25 (autoscaling $10.00, hibernation $0.25)"
	if got := summaryLine(s); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestDemoFlags(t *testing.T) {
	if _, err := parseDemoFlags([]string{"--speed", "0", "--summary-every", "0s", "extra"}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "--speed") || !strings.Contains(err.Error(), "--summary-every") || !strings.Contains(err.Error(), "unexpected") {
		t.Fatalf("want every problem at once, got %v", err)
	}
}

// The demo as a newcomer runs it: it builds and starts the real daemons, serves the page, prints the
// live summary and, at the end, the cost and savings.
func TestDemoRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the demo builds and runs the daemons")
	}
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"demo", "--duration", "40s", "--listen", "127.0.0.1:0", "--summary-every", "1s"}, pw, io.Discard)
		pw.Close()
	}()
	var out strings.Builder
	var page string
	sampled := false
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if f := strings.Fields(line); len(f) == 2 && f[0] == "dashboard" {
			page = f[1]
		}
		if strings.Contains(line, "  agents ") {
			if page != "" && !sampled {
				var s webui.Series
				body, err := demoGet(page + "api/series")
				if err == nil && json.Unmarshal(body, &s) == nil && s.Latest != nil && len(s.Latest.Pools) == 2 {
					sampled = true
				}
			}
		}
	}
	if code := <-done; code != 0 {
		t.Fatalf("demo exited with %d:\n%s", code, out.String())
	}
	text := out.String()
	if page == "" || !sampled {
		t.Errorf("the page (%q) served no sample with both pools:\n%s", page, text)
	}
	live := regexp.MustCompile(`(?m)^\w{3} \d\d:\d\d  agents \d+ \(batch=\d+ default=\d+\)  apps asleep \d+/6  \$\d+\.\d\d/h  saved \$`)
	if n := len(live.FindAllString(text, -1)); n < 5 {
		t.Errorf("%d live summary lines:\n%s", n, text)
	}
	for _, want := range []string{"cost and savings", "saved: autoscaling", "saved: hibernation", "chargeback by team", "shop"} {
		if !strings.Contains(text, want) {
			t.Errorf("the final summary lacks %q:\n%s", want, text)
		}
	}
}
