package fromstatus

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/policy"
)

func TestAutoscaler(t *testing.T) {
	st := autoscaler.Status{Pools: []autoscaler.PoolStatus{
		{Pool: "web", Plan: policy.PoolPlan{
			Groups:  []policy.GroupDecision{{Name: "a", Desired: 2}, {Name: "b", Desired: 1}},
			Waiting: []policy.WaitingDecision{{Count: 3, Reason: policy.WaitingCapacityShort}, {Count: 5, Reason: policy.WaitingConstraint}},
			Agents: []policy.AgentDecision{
				{ID: "S1", Hostname: "h1", Tasks: 2, Reason: policy.KeptUtilized},
				{ID: "S2", Hostname: "h2", Reason: policy.AgentDraining},
			},
			ScaleUp: policy.ScaleUpSummary{Used: policy.Resources{CPUs: 5}, Capacity: policy.Resources{CPUs: 12}},
		}},
		{Pool: "batch"},
	}}
	pools, agents := Autoscaler(st)
	if len(pools) != 2 || pools[0].Name != "batch" {
		t.Fatalf("pools %+v: want both, sorted", pools)
	}
	web := pools[1]
	if web.Agents != 2 || web.Desired != 3 || web.Waiting != 3 || web.CPUs != 12 || web.CPUsAllocated != 5 {
		t.Errorf("web %+v", web)
	}
	if len(agents) != 2 || agents[0].State != "available" || agents[0].Reason != "kept_utilized" || agents[1].State != "draining" || agents[0].Pool != "web" {
		t.Errorf("agents %+v", agents)
	}
}

// The autoscaler's /status as served, policy and all.
func TestAutoscalerJSON(t *testing.T) {
	pol := policy.DefaultAutoscalerPolicy()
	st := autoscaler.Status{Policy: &pol, Pools: []autoscaler.PoolStatus{{Pool: "web", Plan: policy.PoolPlan{
		Agents: []policy.AgentDecision{{ID: "S1", Reason: policy.KeptProtected}},
	}}}}
	doc, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	pools, agents, err := AutoscalerJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 1 || pools[0].Agents != 1 || len(agents) != 1 || agents[0].Reason != "kept_protected" {
		t.Fatalf("pools %+v agents %+v", pools, agents)
	}
}

// The hibernator's /status as served decodes into its own types.
func TestHibernatorFromJSON(t *testing.T) {
	at := time.Date(2026, 1, 5, 3, 0, 0, 0, time.UTC)
	doc, _ := json.Marshal(hibernator.Status{Apps: []hibernator.AppStatus{
		{App: "/b", State: hibernator.StateAsleep, Instances: 2, AsleepSince: at},
		{App: "/a", State: hibernator.StateAsleep, Instances: 1},
		{App: "/c", State: hibernator.StateAwake, Instances: 1},
		{App: "/d", State: hibernator.StateWaking, Instances: 1},
		{App: "/e", State: hibernator.StateSkipped},
	}})
	apps, sleeping, err := HibernatorJSON(doc, func(string) (float64, float64) { return 0.5, 256 })
	if err != nil {
		t.Fatal(err)
	}
	if apps.Awake != 1 || apps.Asleep != 2 || apps.Waking != 1 {
		t.Errorf("apps %+v", apps)
	}
	if len(sleeping) != 2 || sleeping[0].App != "/a" || sleeping[1].CPUs != 1 || sleeping[1].MemMB != 512 || !sleeping[1].Since.Equal(at) {
		t.Errorf("sleeping %+v", sleeping)
	}
}
