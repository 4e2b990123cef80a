package hibernator

import (
	"context"
	"maps"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/marmot-project/marmot/policy"
)

func closeTo(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %.9f, want %.9f", what, got, want)
	}
}

func asleepLabels(instances string, at time.Time) map[string]string {
	return map[string]string{policy.LabelHibernate: "true", policy.LabelHibernatedInstances: instances, policy.LabelHibernatedAt: at.Format(time.RFC3339)}
}

// TestCostByHand: at the default rates ($0.033 per cpu-hour, $0.00375 per GiB-hour), /a (2 instances
// of 0.5 cpu and 512 MB, asleep for 2 h) frees 1 cpu and 1 GiB: $0.03675 an hour, $0.0735 so far;
// /b (1 instance of 1 cpu and 2048 MB, asleep for 30 min) frees $0.0405 an hour, $0.02025 so far.
func TestCostByHand(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	pol := policy.DefaultHibernationPolicy()
	reg := prometheus.NewRegistry()
	c := NewCost(CostConfig{Registry: reg})
	apps := []App{
		{ID: "/a", CPUs: 0.5, Mem: 512, Labels: asleepLabels("2", now.Add(-2*time.Hour))},
		{ID: "/b", CPUs: 1, Mem: 2048, Labels: asleepLabels("1", now.Add(-30*time.Minute))},
		{ID: "/c", Instances: 1, CPUs: 4, Mem: 4096, Labels: asleepLabels("1", now.Add(-time.Hour))}, // waking: not asleep
		{ID: "/d", CPUs: 4, Mem: 4096, Labels: map[string]string{policy.LabelHibernatedInstances: "x", policy.LabelHibernatedAt: "soon"}},
	}
	hc := c.Observe(now, apps, pol)
	closeTo(t, "per hour", hc.PerHour, 0.03675+0.0405)
	closeTo(t, "asleep", hc.Asleep, 0.0735+0.02025)
	if len(hc.Apps) != 2 || hc.Apps[0].App != "/a" || hc.Apps[1].App != "/b" {
		t.Fatalf("apps = %+v, want /a and /b", hc.Apps)
	}
	closeTo(t, "/a per hour", hc.Apps[0].PerHour, 0.03675)
	closeTo(t, "series per hour", gaugeValue(t, reg, "marmot_cost_hibernation_savings_dollars_per_hour", nil), 0.07725)
	closeTo(t, "series /b", gaugeValue(t, reg, "marmot_cost_hibernation_app_savings_dollars_per_hour", map[string]string{"app": "/b"}), 0.0405)
	closeTo(t, "series cpu price", gaugeValue(t, reg, "marmot_cost_hibernation_cpu_price_dollars_per_core_hour", nil), 0.033)

	// Two minutes on, /b woke: the counter holds two minutes at the figures in force, /b's series is gone.
	apps[1].Instances = 1
	hc = c.Observe(now.Add(2*time.Minute), apps, pol)
	closeTo(t, "total", hc.Total, 0.07725*2/60)
	closeTo(t, "series total", gaugeValue(t, reg, "marmot_cost_hibernation_savings_dollars_total", nil), 0.07725*2/60)
	closeTo(t, "per hour after the wake", hc.PerHour, 0.03675)
	if hasSeries(t, reg, "marmot_cost_hibernation_app_savings_dollars_per_hour", map[string]string{"app": "/b"}) {
		t.Error("/b woke but still has a series")
	}

	// A restarted hibernator derives the same per-hour and asleep figures from the labels at once.
	c2 := NewCost(CostConfig{Registry: prometheus.NewRegistry()})
	again := c2.Observe(now.Add(2*time.Minute), apps, pol)
	closeTo(t, "per hour after a restart", again.PerHour, hc.PerHour)
	closeTo(t, "asleep after a restart", again.Asleep, hc.Asleep)
}

func TestCostUpdateReadsTheStateLabels(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	m := newFakeMarathon(newTestClock(), App{ID: "/a", CPUs: 1, Mem: 1024, Labels: asleepLabels("3", now.Add(-time.Hour))},
		App{ID: "/b", Instances: 2, CPUs: 1, Mem: 1024, Labels: map[string]string{policy.LabelHibernate: "true"}})
	hc, err := NewCost(CostConfig{}).Update(context.Background(), m, policy.DefaultHibernationPolicy(), now)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "per hour", hc.PerHour, 3*(0.033+0.00375))
}

// gaugeValue returns the value of the series of name with exactly labels (nil: none), gauge or counter.
func gaugeValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	m := findSeries(t, reg, name, labels)
	if m == nil {
		t.Fatalf("no series %s%v", name, labels)
	}
	return m.GetGauge().GetValue() + m.GetCounter().GetValue()
}

func hasSeries(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) bool {
	t.Helper()
	return findSeries(t, reg, name, labels) != nil
}

func findSeries(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if maps.Equal(got, labels) || (len(got) == 0 && len(labels) == 0) {
				return m
			}
		}
	}
	return nil
}
