package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/marathon"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
)

// benchPolicy manages the four pools of simulate.Synthetic; only waiting instances grow them, and
// nothing shrinks, so that every trial starts from the same kind of pool.
const benchPolicy = `
reconcile_interval: 30s
drain_mode: auto
pools:
%s`

const benchPool = `  - name: %s
    target_utilization: 0.95
    scale_up: {max_step: 50, cooldown: 0s}
    scale_down: {enabled: false}
    health: {max_data_age: 5m}
`

// BenchmarkQueueToSetDesiredCapacity measures, over b.N trials, the time from an instance appearing
// in Marathon's launch queue to the autoscaler's SetDesiredCapacity call, against the simulator
// served over HTTP with 1,000 agents (simulate.Synthetic(1000, 2000): four pools of 250 m5.4xlarge,
// 2,000 apps on their diurnal wave, in real time). The autoscaler is the daemon's own wiring (mesos-go,
// go-marathon, aws-sdk-go-v2, the event streams), run in-process so that the call can be timed.
//
// Each trial scales /bench/big (15 cpus, pinned to pool "default") through the Marathon API to one
// instance more than the pool's free agents hold, notes when the PUT returned (the instance is then
// in the queue), and waits for SetDesiredCapacity on the pool's group; then it waits for the new agent
// to register and take the instance, so the next trial starts from a pool with nothing on its way.
// It reports the latency's p50, p90, p99 and max; ns/op is the mean latency.
//
//	go test -run '^$' -bench QueueToSetDesiredCapacity -benchtime 60x ./cmd/autoscaler/
func BenchmarkQueueToSetDesiredCapacity(b *testing.B) {
	sc := simulate.Synthetic(1000, 2000)
	sc.Timing.BootDelay = simulate.Distribution{Kind: "fixed", Value: simulate.Dur(2 * time.Second)}
	sc.Timing.InstancePending = simulate.Dur(time.Second)
	sc.Apps = append(sc.Apps, simulate.AppSpec{ID: "/bench/big", CPUs: 15, Mem: 1024, Constraints: [][]string{{"pool", "CLUSTER", "default"}}})
	w, err := simulate.New(sc, simulate.NewRealClock(sc.StartTime(), 1), simulate.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cluster, err := serve.Start(ctx, w, serve.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Wait()
	defer cancel()

	pools := ""
	for _, p := range sc.Pools {
		pools += fmt.Sprintf(benchPool, p.Name)
	}
	policyFile := filepath.Join(b.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, fmt.Appendf(nil, benchPolicy, pools), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("AWS_ENDPOINT_URL", cluster.AWSURL)
	b.Setenv("AWS_REGION", "us-east-1")
	b.Setenv("AWS_ACCESS_KEY_ID", "AKIDSIMULATED")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "simulated")
	b.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	b.Setenv("HOME", b.TempDir())
	cfg, err := parseConfig(ctx, []string{
		"--mesos-url", cluster.LeaderMesosURL(), "--marathon-url", cluster.MarathonURL[0], "--policy", policyFile,
		"--listen", "127.0.0.1:0", "--log-level", "warn",
	}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	calls := &desiredCalls{}
	d, err := newDaemon(cfg, zap.NewNop(), env{wrapCloud: func(p cloud.Provider) cloud.Provider {
		return &timedProvider{Provider: p, calls: calls}
	}})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = d.serve(ctx) })
	// Steady state: the first snapshot is read and the Mesos event stream keeps the cache current.
	waitReady(b, func() bool { return d.loop.Ready() && d.mesos.streaming() })

	mc, err := marathon.New(marathon.Config{URLs: cluster.MarathonURL}, nil)
	if err != nil {
		b.Fatal(err)
	}
	group := "synthetic-default"
	var lat []time.Duration
	skipped := 0
	b.ResetTimer()
	for range b.N {
		settle(b, w, group)
		n := bigRunning(w) + freeForBig(w) + 1
		start := time.Now()
		if _, err := mc.Update(ctx, "/bench/big", marathon.Update{Instances: &n}, true); err != nil {
			b.Fatal(err)
		}
		at, ok := calls.await(group, start, 15*time.Second)
		if !ok {
			skipped++ // the instance found room before the autoscaler acted: nothing to scale
			continue
		}
		lat = append(lat, at.Sub(start))
	}
	b.StopTimer()
	if len(lat) == 0 {
		b.Fatalf("no trial scaled up (%d skipped)", skipped)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "ns/op")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(skipped), "skipped")
	if p99 := pct(0.99); p99 >= 1000 {
		b.Errorf("p99 %.0f ms, want under 1 s", p99)
	}
}

// timedProvider notes when SetDesiredCapacity is called.
type timedProvider struct {
	cloud.Provider
	calls *desiredCalls
}

func (p *timedProvider) SetDesiredCapacity(ctx context.Context, group string, desired int) error {
	p.calls.note(group)
	return p.Provider.SetDesiredCapacity(ctx, group, desired)
}

// desiredCalls are the times of SetDesiredCapacity calls by group.
type desiredCalls struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (c *desiredCalls) note(group string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == nil {
		c.at = map[string][]time.Time{}
	}
	c.at[group] = append(c.at[group], time.Now())
}

// await returns the first call on group at or after since, waiting up to timeout.
func (c *desiredCalls) await(group string, since time.Time, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, t := range c.at[group] {
			if !t.Before(since) {
				c.mu.Unlock()
				return t, true
			}
		}
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	return time.Time{}, false
}

func waitReady(b *testing.B, ready func() bool) {
	deadline := time.Now().Add(2 * time.Minute)
	for !ready() {
		if time.Now().After(deadline) {
			b.Fatal("the autoscaler never read a full snapshot")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits until the group has nothing on its way (every live instance has an agent) and
// /bench/big has nothing waiting.
func settle(b *testing.B, w *simulate.World, group string) {
	deadline := time.Now().Add(time.Minute)
	for {
		booting, queued := 0, 0
		w.View(func(v *simulate.View) {
			g, _ := v.Group(group)
			for _, in := range g.Instances() {
				if (in.Lifecycle == simulate.LifecyclePending || in.Lifecycle == simulate.LifecycleInService) && in.AgentID == "" {
					booting++
				}
			}
			for _, q := range v.Queue() {
				if q.App.ID == "/bench/big" {
					queued += q.Count
				}
			}
		})
		if booting == 0 && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the pool did not settle: %d booting, %d of /bench/big waiting", booting, queued)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bigRunning counts the instances of /bench/big.
func bigRunning(w *simulate.World) int {
	n := 0
	w.View(func(v *simulate.View) {
		if a, ok := v.App("/bench/big"); ok {
			n = a.Instances
		}
	})
	return n
}

// freeForBig counts the active agents of pool default with room for one /bench/big instance.
func freeForBig(w *simulate.World) int {
	n := 0
	w.View(func(v *simulate.View) {
		for _, a := range v.Agents() {
			free := a.Total.Sub(a.Allocated)
			if a.Pool == "default" && a.Active && !a.Deactivated && free.CPUs >= 15 && free.Mem >= 1024 {
				n++
			}
		}
	})
	return n
}
