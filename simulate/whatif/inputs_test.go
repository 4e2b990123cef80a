package whatif

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/policy"
)

func TestParseTraceFormats(t *testing.T) {
	tr := loadTrace(t)
	if len(tr.Functions) != 10 || tr.Minutes != 1440 {
		t.Fatalf("%d functions of %d minutes", len(tr.Functions), tr.Minutes)
	}
	f := tr.Functions[0]
	if f.App != "/trace/fn-1779fd3337dd" || f.Requests(0) != f.Counts[0] || f.Requests(1440) != f.Counts[0] {
		t.Errorf("first function %s, minute 0 %d, minute 1440 %d", f.App, f.Requests(0), f.Requests(1440))
	}
	// The original day files: owner, app, function, trigger, then minutes named 1, 2, ….
	orig, err := ParseTrace(strings.NewReader("HashOwner,HashApp,HashFunction,Trigger,1,2,3\nO1,A1,ABCdef-123,http,0,5,1\nO2,A2,abcdef123zzz9,timer,1,0,0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := orig.Functions[0]; got.App != "/trace/fn-abcdef123" || got.Trigger != "http" || got.Owner != "O1" || got.Counts[1] != 5 {
		t.Errorf("original format: %+v", got)
	}
	// Two hashes that start alike get distinct ids.
	if orig.Functions[1].App != "/trace/fn-abcdef123zzz" {
		t.Errorf("second id %s", orig.Functions[1].App)
	}
	dup, err := ParseTrace(strings.NewReader("HashFunction,minute_1\naaaaaaaaaaaa1,1\naaaaaaaaaaaa2,2\n"))
	if err != nil || dup.Functions[0].App == dup.Functions[1].App {
		t.Errorf("colliding ids: %v %v", dup, err)
	}
}

func TestParseTraceErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "reading the header"},
		{"HashApp,minute_1\nx,1\n", "no HashFunction column"},
		{"HashFunction,HashApp\nx,y\n", "no minute columns"},
		{"HashFunction,minute_1,minute_3\nx,1,2\n", "no minute 2"},
		{"HashFunction,minute_1,minute_1\nx,1,2\n", "minute 1 appears twice"},
		{"HashFunction,when\nx,1\n", `column 2 "when"`},
		{"HashFunction,minute_1\n", "no function rows"},
		{"HashFunction,minute_1,minute_2\nabc,1,-2\ndef,x,1\n---,1,1\nghi,1\n", "line 2, minute 2"},
	} {
		_, err := ParseTrace(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
	// Every bad line is reported, with its line and column.
	_, err := ParseTrace(strings.NewReader("HashFunction,minute_1,minute_2\nabc,1,-2\ndef,x,1\n---,1,1\nghi,1\n"))
	for _, want := range []string{"line 2, minute 2", "line 3, minute 1", "line 4: HashFunction", "line 5: 2 fields"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestParseInstanceSeries(t *testing.T) {
	pts, err := ParseInstanceSeries(strings.NewReader("minute,app,instances\n# a comment\n10,web/b,2\n5, /web/a ,3\n10,/web/a,0\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []InstancePoint{{5, "/web/a", 3, 4}, {10, "/web/b", 2, 3}, {10, "/web/a", 0, 5}}
	if len(pts) != 3 || pts[0] != want[0] || pts[1] != want[1] || pts[2] != want[2] {
		t.Errorf("%+v", pts)
	}
	_, err = ParseInstanceSeries(strings.NewReader("minute,app,instances\n-1,/a,1\n2,/B!,x\n3,/c\n4,/d,1\n4,/d,2\n"))
	for _, want := range []string{"line 2: minute", `line 3: app "/B!"`, `line 3: instances "x"`, "line 4: 2 fields", "line 6: /d at minute 4 was already given on line 5"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if _, err := ParseInstanceSeries(strings.NewReader("app,minute,instances\n")); err == nil || !strings.Contains(err.Error(), "want minute,app,instances") {
		t.Errorf("wrong header: %v", err)
	}
}

func FuzzParseTrace(f *testing.F) {
	f.Add("HashFunction,HashApp,HashOwner,minute_1,minute_2\nabc,abc,abc,0,3\n")
	f.Add("HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1,2\n")
	f.Add("HashFunction,minute_2\nx,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		tr, err := ParseTrace(strings.NewReader(in))
		if err != nil {
			return
		}
		ids := map[string]bool{}
		for _, fn := range tr.Functions {
			if len(fn.Counts) != tr.Minutes || ids[fn.App] || !strings.HasPrefix(fn.App, "/trace/fn-") {
				t.Fatalf("bad function %+v of %d minutes", fn, tr.Minutes)
			}
			ids[fn.App] = true
			for _, n := range fn.Counts {
				if n < 0 {
					t.Fatalf("negative count in %+v", fn)
				}
			}
		}
	})
}

func FuzzParseInstanceSeries(f *testing.F) {
	f.Add("minute,app,instances\n0,/a,1\n")
	f.Add("minute,app,instances\n1,b,0\n1,/b,2\n")
	f.Fuzz(func(t *testing.T, in string) {
		pts, err := ParseInstanceSeries(strings.NewReader(in))
		if err != nil {
			return
		}
		for i, p := range pts {
			if p.Minute < 0 || p.Instances < 0 || !strings.HasPrefix(p.App, "/") || i > 0 && pts[i-1].Minute > p.Minute {
				t.Fatalf("bad point %+v in %+v", p, pts)
			}
		}
	})
}

// The ideal bound by hand: a pool of 4-cpu / 16-GiB agents at $0.2 an hour whose demand is 5 cpus,
// then 3 cpus, then 9 GiB of memory on 1 cpu, one minute each after the first, with a 2-minute boot.
// Agents: 2, 1, 1 → 4 agent-minutes; the two added at the second minute are paid 2 minutes ahead.
func TestIdealBoundByHand(t *testing.T) {
	shape := policy.Resources{CPUs: 4, Mem: 16384}
	marmot := &replay{demand: map[string][]demandPoint{"p": {
		{used: policy.Resources{}, shape: shape, price: 0.2},
		{used: policy.Resources{CPUs: 5, Mem: 1024}, shape: shape, price: 0.2},
		{used: policy.Resources{CPUs: 3, Mem: 1024}, shape: shape, price: 0.2},
		{used: policy.Resources{CPUs: 1, Mem: 9 * 1024}, shape: shape, price: 0.2},
	}}}
	res := idealResult(marmot, &Result{}, 2*time.Minute, 10)
	if !near(res.AgentHours, 4.0/60) || !near(res.InstanceHours, 8.0/60) || !near(res.Cost, 0.2*8/60) {
		t.Errorf("agent-hours %v, instance-hours %v, cost %v", res.AgentHours, res.InstanceHours, res.Cost)
	}
	if !near(res.CPUUtilization, 9.0/16) {
		t.Errorf("cpu utilization %v, want 9 of 16", res.CPUUtilization)
	}
	sizes := staticSizes(marmot, []policy.PoolPolicy{{Name: "p", TargetUtilization: 0.8, MinAgents: 1}})
	if sizes["p"] != 2 { // 5 cpus at 80% of 4: 1.56 → 2
		t.Errorf("static size %d", sizes["p"])
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPendingTimes(t *testing.T) {
	p := newPendingTimes()
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	obs := func(m int, launched int, waiting map[string]int) {
		p.observe(&observation{at: t0.Add(time.Duration(m) * time.Minute), launched: launched, waiting: waiting})
	}
	obs(0, 0, nil)
	obs(1, 10, map[string]int{"/a": 2}) // 10 launched at once; 2 wait
	obs(2, 11, map[string]int{"/a": 1}) // one of them placed after a minute
	obs(4, 13, map[string]int{})        // the other after three, and one more at once
	if p.zero != 11 || len(p.waits) != 2 || p.waits[0] != 60 || p.waits[1] != 180 {
		t.Errorf("zero %d, waits %v", p.zero, p.waits)
	}
	if p.percentile(0.5) != 0 || p.percentile(0.99) != 180 || p.percentile(0.9) != 60 {
		t.Errorf("p50 %v p90 %v p99 %v", p.percentile(0.5), p.percentile(0.9), p.percentile(0.99))
	}
}

func TestPoissonMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lambda := range []float64{0.05, 3, 120} {
		sum := 0
		for range 20000 {
			sum += poisson(rng, lambda)
		}
		if mean := float64(sum) / 20000; math.Abs(mean-lambda) > 0.05*lambda+0.01 {
			t.Errorf("λ %v: mean %v", lambda, mean)
		}
	}
	a, b := newRequests(7, "/x", nil), newRequests(7, "/x", nil)
	for m := range 100 {
		if a.in(m, 0.5) != b.in(m, 0.5) {
			t.Fatal("the same app and seed drew different requests")
		}
	}
}
