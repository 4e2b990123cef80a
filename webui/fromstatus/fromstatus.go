// Package fromstatus turns the daemons' status (what their /status serves) into the dashboard page's
// samples, so that a daemon mounts the page with a few lines, and a process that only reaches the
// daemons over HTTP (the demo, the end-to-end tests) feeds a page from their /status JSON.
//
//	st := loop.Status()
//	s := webui.Sample{At: now}
//	s.Pools, s.Agents = fromstatus.Autoscaler(st)
//	ui.Record(s)
package fromstatus

import (
	"encoding/json"
	"sort"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/webui"
)

// Autoscaler returns the pools and agents of the autoscaler's last plan. CPUs and CPUsAllocated are
// the capacity and demand as the plan counted them: capacity includes instances still booting, and
// demand the waiting instances it placed. Waiting counts the instances that count as demand.
func Autoscaler(st autoscaler.Status) ([]webui.Pool, []webui.Agent) {
	var pools []webui.Pool
	var agents []webui.Agent
	for _, ps := range st.Pools {
		plan := ps.Plan
		p := webui.Pool{
			Name: ps.Pool, Agents: len(plan.Agents),
			CPUs: plan.ScaleUp.Capacity.CPUs, CPUsAllocated: plan.ScaleUp.Used.CPUs,
		}
		for _, g := range plan.Groups {
			p.Desired += g.Desired
		}
		for _, w := range plan.Waiting {
			if w.Reason == policy.WaitingCapacityShort || w.Reason == policy.WaitingTooLargeForShapes {
				p.Waiting += w.Count
			}
		}
		pools = append(pools, p)
		for _, a := range plan.Agents {
			agents = append(agents, webui.Agent{
				ID: a.ID, Hostname: a.Hostname, Pool: ps.Pool, State: agentState(a.Reason), Reason: a.Reason.String(), Tasks: a.Tasks,
			})
		}
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].Name < pools[j].Name })
	sort.SliceStable(agents, func(i, j int) bool { return agents[i].Pool < agents[j].Pool })
	return pools, agents
}

// AutoscalerJSON is Autoscaler for the autoscaler's /status as served. Only the pools are decoded:
// the policy in the document does not decode back (its durations are written as text).
func AutoscalerJSON(status []byte) ([]webui.Pool, []webui.Agent, error) {
	var doc struct {
		Pools []autoscaler.PoolStatus `json:"pools"`
	}
	if err := json.Unmarshal(status, &doc); err != nil {
		return nil, nil, err
	}
	pools, agents := Autoscaler(autoscaler.Status{Pools: doc.Pools})
	return pools, agents, nil
}

// HibernatorJSON is Hibernator for the hibernator's /status as served.
func HibernatorJSON(status []byte, resources func(app string) (cpus, memMB float64)) (*webui.Apps, []webui.SleepingApp, error) {
	var st hibernator.Status
	if err := json.Unmarshal(status, &st); err != nil {
		return nil, nil, err
	}
	apps, sleeping := Hibernator(st, resources)
	return apps, sleeping, nil
}

// agentState is the agent's state in words, from the reason the plan gave it.
func agentState(r policy.Reason) string {
	switch r {
	case policy.AgentDraining:
		return "draining"
	case policy.ScaleDownEmpty, policy.ScaleDownUnneeded:
		return "to drain"
	case policy.KeptNotActive:
		return "inactive"
	}
	return "available"
}

// Hibernator returns the apps by state and the sleeping apps. Resources are the caller's to add: the
// status does not carry an app's cpus and memory (resources, when set, gives them per instance).
func Hibernator(st hibernator.Status, resources func(app string) (cpus, memMB float64)) (*webui.Apps, []webui.SleepingApp) {
	apps := &webui.Apps{}
	var sleeping []webui.SleepingApp
	for _, a := range st.Apps {
		switch a.State {
		case hibernator.StateAsleep:
			apps.Asleep++
			s := webui.SleepingApp{App: a.App, Since: a.AsleepSince, Instances: a.Instances}
			if resources != nil {
				cpus, mem := resources(a.App)
				s.CPUs, s.MemMB = cpus*float64(a.Instances), mem*float64(a.Instances)
			}
			sleeping = append(sleeping, s)
		case hibernator.StateWaking:
			apps.Waking++
		case hibernator.StateAwake:
			apps.Awake++
		}
	}
	sort.Slice(sleeping, func(i, j int) bool { return sleeping[i].App < sleeping[j].App })
	return apps, sleeping
}
