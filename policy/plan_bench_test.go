package policy

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// m54xlarge is what an m5.4xlarge agent offers Mesos.
var m54xlarge = Resources{CPUs: 16, Mem: 61440, Disk: 200000}

// bigPool builds a pool of agents agents over four groups running tasks tasks of five typical shapes
// from 2,000 apps (1% protected). Agents are loaded unevenly, so that some are unneeded and some
// full. With waiting > 0, 300 queue entries of up to waiting instances each wait, of every kind
// Marathon reports (about 60% short of room).
func bigPool(agents, tasks, waiting int) (PoolSnapshot, PoolPolicy, PoolState) {
	rng := rand.New(rand.NewPCG(7, 11))
	now := t0
	pol := DefaultPoolPolicy()
	pol.Name = "big"
	snap := PoolSnapshot{Pool: "big", Observed: Observed{Mesos: now, Marathon: now, Cloud: now}, Apps: map[string]App{}}
	state := PoolState{UnneededSince: map[string]time.Time{}, MissingSince: map[string]time.Time{}, Drains: map[string]Drain{}}
	for g := range 4 {
		snap.Groups = append(snap.Groups, Group{Name: fmt.Sprintf("big-%c", 'a'+g), Max: agents, InstanceType: "m5.4xlarge", Shape: m54xlarge})
	}
	for a := range 200 {
		if a%100 == 0 {
			snap.Apps[fmt.Sprintf("/app-%04d", a)] = App{Labels: map[string]string{ProtectLabel: "true"}}
		}
	}
	shapes := []Resources{{CPUs: 0.25, Mem: 256}, {CPUs: 0.5, Mem: 512}, {CPUs: 1, Mem: 1024}, {CPUs: 1, Mem: 2048}, {CPUs: 2, Mem: 4096}}
	perAgent := tasks / agents
	for i := range agents {
		g := &snap.Groups[i%4]
		ip := fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)
		id := fmt.Sprintf("i-%06d", i)
		g.Instances = append(g.Instances, Instance{ID: id, PrivateIP: ip, Lifecycle: LifecycleInService, LaunchTime: now.Add(-48 * time.Hour)})
		g.Desired++
		a := Agent{ID: fmt.Sprintf("agent-%06d", i), Hostname: ip, IP: ip, Pool: "big", Total: m54xlarge, Active: true, RegisteredAt: now.Add(-48 * time.Hour)}
		// A fifth of the agents carry a few tasks, the rest more than the average.
		n := 1 + rng.IntN(3)
		if i%5 != 0 {
			n = perAgent*6/5 + 1 - rng.IntN(3)
		}
		for range n {
			s := shapes[rng.IntN(len(shapes))]
			if a.Allocated.Add(s).CPUs > m54xlarge.CPUs || a.Allocated.Add(s).Mem > m54xlarge.Mem {
				break
			}
			a.Tasks = append(a.Tasks, Task{AppID: fmt.Sprintf("/app-%04d", rng.IntN(2000)), Resources: s})
			a.Allocated = a.Allocated.Add(s)
		}
		if a.Allocated.Share(a.Total) < pol.ScaleDown.UtilizationBelow {
			state.UnneededSince[a.ID] = now.Add(-time.Duration(rng.IntN(30)) * time.Minute)
		}
		snap.Agents = append(snap.Agents, a)
	}
	if waiting > 0 {
		reasons := []string{"InsufficientCpus", "InsufficientCpus", "InsufficientMemory", "UnfulfilledConstraint", "AgentMaintenance", ""}
		for q := range 300 {
			e := QueueEntry{AppID: fmt.Sprintf("/queued-%03d", q), Count: 1 + rng.IntN(waiting), Resources: shapes[rng.IntN(len(shapes))]}
			if r := reasons[q%len(reasons)]; r != "" {
				e.Rejections = []Rejection{{Reason: r, Declined: 5}}
			}
			e.Delayed = q%17 == 0
			snap.Waiting = append(snap.Waiting, e)
		}
	}
	return snap, pol, state
}

// BenchmarkPlanPool plans one pool of 10,000 agents and 100,000 tasks: with a queue of about 3,000
// waiting instances that fit the free space (queue); with a burst of about 150,000 that needs thousands of
// new agents, packed task by task (burst); and with no queue, when a thousand agents may be drained,
// each checked by moving its tasks in the simulation (drain). The goal is under 100 ms per plan.
func BenchmarkPlanPool(b *testing.B) {
	for _, bc := range []struct {
		name    string
		waiting int
	}{{"queue", 20}, {"burst", 1000}, {"drain", 0}} {
		snap, pol, state := bigPool(10000, 100000, bc.waiting)
		pol.ScaleUp.MaxStep = 5000
		b.Run(bc.name, func(b *testing.B) {
			var plan PoolPlan
			cpu := processCPU()
			for b.Loop() {
				plan = PlanPool(snap, pol, state, t0)
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(plan.ScaleUp.NewAgents), "new-agents")
			b.ReportMetric(float64(len(plan.Drains)), "drains")
		})
	}
}

func TestBigPoolIsRealistic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000-agent pool")
	}
	snap, pol, state := bigPool(10000, 100000, 20)
	tasks := 0
	for _, a := range snap.Agents {
		tasks += len(a.Tasks)
	}
	if tasks < 95000 || tasks > 105000 {
		t.Errorf("%d tasks, want about 100,000", tasks)
	}
	plan := PlanPool(snap, pol, state, t0)
	if plan.ScaleUp.Counted == 0 || plan.ScaleUp.Counted == countWaiting(snap) {
		t.Errorf("the queue should be partly counted: %d of %d", plan.ScaleUp.Counted, countWaiting(snap))
	}
	snap, pol, state = bigPool(10000, 100000, 0)
	plan = PlanPool(snap, pol, state, t0)
	if len(plan.Drains) < 500 {
		t.Errorf("only %d drains planned in an idle fifth of 10,000 agents", len(plan.Drains))
	}
	t.Logf("scale-up: %+v", plan.ScaleUp)
}

func countWaiting(s PoolSnapshot) int {
	n := 0
	for _, e := range s.Waiting {
		n += e.Count
	}
	return n
}
