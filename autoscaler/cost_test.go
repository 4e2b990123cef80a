package autoscaler

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
)

// Hand-computed figures of an m5.xlarge agent in us-east-1 ($0.192 an hour) as Mesos sees it: 4 cpus
// and 14,848 MiB (14.5 GiB). The OpenCost split (docs/cost.md): weights 4 × 0.033 = 0.132 and
// 14.5 × 0.00375 = 0.054375; cpu part 0.192 × 0.132 / 0.186375 = 0.1359839 → 0.0339960 per cpu-hour;
// memory part 0.0560161 → 0.0038632 per GiB-hour.
const (
	m5Price   = 0.192
	m5CPUHour = 0.0339960
	m5GiBHour = 0.0038632
)

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6 {
		t.Errorf("%s = %.7f, want %.7f", what, got, want)
	}
}

func newCostWorld(t *testing.T) (*world, *Cost) {
	t.Helper()
	// agent-1 runs /web/a (1 cpu, 1 GiB) of team web; agent-2 runs /x/b (2 cpus, 1 GiB) of no team.
	w := newWorld(t, basePolicy, [][]policy.Task{{task("/web/a", 1)}, {task("/x/b", 2)}})
	w.marathon.apps = []App{{ID: "/web/a", Labels: map[string]string{"marmot.team": "web"}}, {ID: "/x/b"}}
	c, err := NewCost(CostConfig{Loop: w.loop, Registry: w.reg, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return w, c
}

func TestCostFiguresByHand(t *testing.T) {
	w, c := newCostWorld(t)
	if _, ok := c.Update(context.Background()); ok {
		t.Fatal("Update before the first reconcile must report no figures")
	}
	w.reconcile()
	f, ok := c.Update(context.Background())
	if !ok {
		t.Fatal("no figures after a reconcile")
	}
	if len(f.Pools) != 1 {
		t.Fatalf("pools = %+v", f.Pools)
	}
	p := f.Pools[0]
	near(t, "pool per hour", p.PerHour, 2*m5Price)
	near(t, "cpu-hour", p.Rate.CPUHour, m5CPUHour)
	near(t, "GiB-hour", p.Rate.GiBHour, m5GiBHour)
	web := m5CPUHour + m5GiBHour      // 1 cpu, 1 GiB = 0.0378592
	noTeam := 2*m5CPUHour + m5GiBHour // 2 cpus, 1 GiB = 0.0718552
	if len(f.Teams) != 2 || f.Teams[0].Name != cost.NoTeam || f.Teams[1].Name != "web" {
		t.Fatalf("teams = %+v, want (no team) then web, most expensive first", f.Teams)
	}
	near(t, "team (no team)", f.Teams[0].PerHour, noTeam)
	near(t, "team web", f.Teams[1].PerHour, web)
	if len(f.Apps) != 2 || f.Apps[1].Name != "/web/a" || f.Apps[1].Team != "web" {
		t.Fatalf("apps = %+v", f.Apps)
	}
	near(t, "idle", f.Idle, 2*m5Price-web-noTeam) // 0.2742856
	near(t, "teams + idle", f.Teams[0].PerHour+f.Teams[1].PerHour+f.Idle, f.PerHour)
	if p.Peak != 2 || p.SavedPerHour != 0 {
		t.Errorf("peak %d, saved %v: a pool at its peak saves nothing", p.Peak, p.SavedPerHour)
	}

	// The series, as Prometheus reads them.
	near(t, "marmot_cost_pool_dollars_per_hour", metricValue(t, w.reg, "marmot_cost_pool_dollars_per_hour", "default"), 0.384)
	near(t, "marmot_cost_team_dollars_per_hour{team=web}", metricValue(t, w.reg, "marmot_cost_team_dollars_per_hour", "web"), web)
	near(t, "marmot_cost_app_dollars_per_hour", metricValue(t, w.reg, "marmot_cost_app_dollars_per_hour", "/x/b", cost.NoTeam), noTeam)
	near(t, "marmot_cost_idle_dollars_per_hour", metricValue(t, w.reg, "marmot_cost_idle_dollars_per_hour", "default"), 0.384-web-noTeam)
	near(t, "marmot_cost_cpu_price_dollars_per_core_hour", metricValue(t, w.reg, "marmot_cost_cpu_price_dollars_per_core_hour", "default"), m5CPUHour)

	// Three minutes on, the same state: the counters add the three minutes at the figures in force.
	w.clock.Advance(3 * time.Minute)
	// The loop's observation is what it is; the cost follows the loop's clock.
	w.reconcile()
	f, _ = c.Update(context.Background())
	near(t, "total", f.Totals.Cost, 0.384*3/60)
	near(t, "marmot_cost_pool_dollars_total", metricValue(t, w.reg, "marmot_cost_pool_dollars_total", "default"), 0.384*3/60)

	// An agent leaves (its instance terminated): the pool is below its peak of 2, so autoscaling
	// saves one m5.xlarge an hour.
	if _, err := w.cloud.TerminateInstance(context.Background(), "i-2", true); err != nil {
		t.Fatal(err)
	}
	w.cloud.Settle()
	w.mesos.agents = w.mesos.agents[:1]
	w.clock.Advance(time.Minute)
	w.reconcile()
	f, _ = c.Update(context.Background())
	if f.Pools[0].Instances != 1 || f.Pools[0].Peak != 2 {
		t.Fatalf("pool = %+v, want 1 instance under a peak of 2", f.Pools[0])
	}
	near(t, "saved per hour", f.SavedPerHour, m5Price)
	near(t, "marmot_cost_autoscaling_savings_dollars_per_hour", metricValue(t, w.reg, "marmot_cost_autoscaling_savings_dollars_per_hour", "default"), m5Price)
	near(t, "idle after", f.Idle, m5Price-web)
	if n := len(series(t, w.reg, "marmot_cost_app_dollars_per_hour")); n != 1 {
		t.Errorf("%d app series, want 1: the app that left must have none", n)
	}
	// A minute later the savings counter holds a minute of one instance.
	w.clock.Advance(time.Minute)
	f, _ = c.Update(context.Background())
	near(t, "saved so far", f.Totals.SavedAutoscaling, m5Price/60)

	// Ten minutes without an update is more than MaxGap: the time between is not counted at all.
	w.clock.Advance(10 * time.Minute)
	f, _ = c.Update(context.Background())
	near(t, "saved after a gap", f.Totals.SavedAutoscaling, m5Price/60)
}

// TestCostAfterRestart: the per-hour figures come from the cluster as it is, so a restarted daemon
// shows the same values at its first update; only the counters start again (Prometheus' increase()
// takes that as a counter reset) and the trailing peak (it starts at the current size).
func TestCostAfterRestart(t *testing.T) {
	w, c := newCostWorld(t)
	w.reconcile()
	before, _ := c.Update(context.Background())
	w.restart()
	c2, err := NewCost(CostConfig{Loop: w.loop, Registry: w.reg, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	w.reconcile()
	after, _ := c2.Update(context.Background())
	near(t, "per hour", after.PerHour, before.PerHour)
	near(t, "idle", after.Idle, before.Idle)
	near(t, "team", after.Teams[0].PerHour, before.Teams[0].PerHour)
	if after.Totals.Cost != 0 {
		t.Errorf("total %v: a new process counts from its own start", after.Totals.Cost)
	}
}

func TestCostSeriesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := newWorld(t, basePolicy, [][]policy.Task{{}})
	if _, err := NewCost(CostConfig{Loop: w.loop, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"marmot_cost_pool_dollars_per_hour", "marmot_cost_cpu_price_dollars_per_core_hour", "marmot_cost_memory_price_dollars_per_gib_hour",
		"marmot_cost_idle_dollars_per_hour", "marmot_cost_static_peak_instances", "marmot_cost_autoscaling_savings_dollars_per_hour",
		"marmot_cost_team_dollars_per_hour", "marmot_cost_pool_dollars_total", "marmot_cost_autoscaling_savings_dollars_total", "marmot_cost_instances",
	}
	n := 0
	for _, name := range want {
		for _, m := range series(t, reg, name) {
			n++
			if v := m.GetGauge().GetValue() + m.GetCounter().GetValue(); v != 0 {
				t.Errorf("%s = %v before any update", name, v)
			}
		}
	}
	if n != 11 { // one per pool each, two for instances (priced true/false), one (no team)
		t.Errorf("%d series before any update, want 11", n)
	}
}

// series returns the series of a metric family as gathered.
func series(t *testing.T, reg prometheus.Gatherer, name string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

// metricValue returns the value of the series of name whose label values are values, in order.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, values ...string) float64 {
	t.Helper()
	for _, m := range series(t, reg, name) {
		got := []string{}
		for _, lp := range m.GetLabel() {
			got = append(got, lp.GetValue())
		}
		// Labels come sorted by name; the callers give them in that order.
		if strings.Join(got, "\x00") == strings.Join(values, "\x00") {
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s%q", name, values)
	return 0
}

// TestCostSpotPrices: spot instances cost the spot price of their zone, read from the cloud.
func TestCostSpotPrices(t *testing.T) {
	w := newWorld(t, basePolicy, [][]policy.Task{{}}, func(w *world, g *cloud.Group) {
		g.Spot = true
		for i := range g.Instances {
			g.Instances[i].Spot, g.Instances[i].Zone = true, "us-east-1a"
		}
	})
	w.cloud.AddSpotPrices(cloud.SpotPrice{InstanceType: "m5.xlarge", Zone: "us-east-1a", Product: "Linux/UNIX", PerHour: 0.07, Time: w.clock.Now().Add(-2 * time.Hour)})
	c, err := NewCost(CostConfig{Loop: w.loop, Registry: w.reg, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	f, _ := c.Update(context.Background())
	near(t, "spot pool per hour", f.PerHour, 0.07)
	near(t, "spot cpu-hour", f.Pools[0].Rate.CPUHour, 0.07*0.132/0.186375/4)
}

// TestPeakWindow: the trailing peak forgets what is older than its window.
func TestPeakWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := peakWindow{window: time.Hour}
	steps := []struct {
		min, count, want int
	}{{0, 3, 3}, {10, 5, 5}, {20, 2, 5}, {30, 4, 5}, {70, 1, 4}, {91, 1, 1}}
	for _, s := range steps {
		if got := p.add(t0.Add(time.Duration(s.min)*time.Minute), s.count); got != s.want {
			t.Errorf("at %d min with %d: peak %d, want %d", s.min, s.count, got, s.want)
		}
	}
}

// A restarted daemon rebuilds the trailing peak from the scaling activities: the pool ran five
// instances an hour ago and two now, so the static pool it compares with has five, not two. When the
// activities cannot be read, the peak starts at the current size.
func TestPeakAfterRestartFromScalingActivities(t *testing.T) {
	for _, readable := range []bool{true, false} {
		w := newWorld(t, basePolicy, [][]policy.Task{{task("/web/a", 3)}, {task("/x/b", 3)}})
		ctx := context.Background()
		if err := w.cloud.SetDesiredCapacity(ctx, "asg-a", 5); err != nil {
			t.Fatal(err)
		}
		w.cloud.Settle()
		w.clock.Advance(time.Hour)
		g, _ := w.cloud.Group("asg-a")
		for _, in := range g.Instances[2:] {
			if _, err := w.cloud.TerminateInstance(ctx, in.ID, true); err != nil {
				t.Fatal(err)
			}
		}
		w.cloud.Settle()
		w.clock.Advance(time.Hour)
		w.reconcile()
		c, err := NewCost(CostConfig{Loop: w.loop, Registry: prometheus.NewRegistry(), Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		want := 5
		if !readable {
			w.cloud.Fail(cloud.CallActivities, &cloud.Error{Kind: cloud.ErrThrottled, Op: "DescribeScalingActivities"})
			want = 2
		}
		f, _ := c.Update(ctx)
		if p := f.Pools[0]; p.Instances != 2 || p.Peak != want {
			t.Errorf("activities readable %v: %d instances, peak %d; want 2 and %d", readable, p.Instances, p.Peak, want)
		}
		near(t, "saved per hour", f.Pools[0].SavedPerHour, float64(want-2)*m5Price)
	}
}
