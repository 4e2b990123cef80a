package whatif

import (
	"context"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// BenchmarkThirtyDays replays 30 days of simulate.Synthetic(1000, 2000) — 1,000 m5.4xlarge agents
// in four pools, 2,000 apps on a diurnal wave — through Marmot's planners: a PoolSnapshot per pool
// and minute, policy.PlanPool, the plan carried out on the World, and the cost ledger fed every
// minute. One op is the whole month. It runs with the collector settings `simulate whatif` uses
// (BatchGC), and fails unless the month did real work.
//
//	go test -run '^$' -bench ThirtyDays -benchtime 1x ./simulate/whatif/
func BenchmarkThirtyDays(b *testing.B) {
	defer BatchGC()()
	sc := simulate.Synthetic(1000, 2000)
	var res Result
	for b.Loop() {
		rep, err := Run(context.Background(), Config{Scenario: sc, Duration: 30 * 24 * time.Hour, Variants: []string{VariantMarmot}})
		if err != nil {
			b.Fatal(err)
		}
		res = rep.Results[0]
	}
	if res.Plans.Plans < 30*24*60 || res.Actions.AgentsAdded < 1000 || res.Actions.DrainsStart < 1000 || res.AgentHours < 100000 {
		b.Fatalf("the month did too little: %+v %+v, %.0f agent-hours", res.Plans, res.Actions, res.AgentHours)
	}
	b.ReportMetric(float64(res.Plans.Plans), "plans")
	b.ReportMetric(float64(res.Plans.Skipped), "unchanged-skips")
	b.ReportMetric(res.AgentHours, "agent-hours")
	b.ReportMetric(float64(res.Actions.AgentsAdded), "agents-added")
	b.ReportMetric(float64(res.Actions.DrainsStart), "drains")
}
