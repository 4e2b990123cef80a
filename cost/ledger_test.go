package cost

import (
	"testing"
	"time"
)

// The ledger scenario, hand-computed (docs/cost.md walks through the same figures). Pool web in
// us-east-1: instance A, an m5.xlarge agent offering 4 cpus / 16 GiB, rate $0.033 per cpu-hour and
// $0.00375 per GiB-hour; instance B, another m5.xlarge, booting for the first hour, an agent for the
// next two, gone for the fourth. App /web/a (team web) holds 2 cpus / 4 GiB, /tools/b (no team label)
// 1 cpu / 8 GiB; /tools/c sleeps, freeing 0.5 cpu / 1 GiB.
//
//	hour 1: A $0.192 (agent), B $0.192 (not in Mesos). a 2×0.033+4×0.00375 = 0.081, b 0.033+8×0.00375
//	        = 0.063, idle 0.192 − 0.144 + 0.192 = 0.24; c frees 0.5×0.033+0.00375 = 0.02025.
//	hours 2-3: A and B agents, $0.768; a 0.162, b 0.126, idle 0.48; c 0.0405.
//	hour 4: A $0.192; a 0.081, b 0.063, idle 0.048; c 0.02025. B is gone: the pool ran 1 instance
//	        against a trailing peak of 2, saving one instance-hour at $0.192.
func ledgerScenario() (*Ledger, []State) {
	l := NewLedger(LedgerConfig{Prices: NewPrices("us-east-1", nil), Origin: t0})
	agent := Resources{CPUs: 4, MemMiB: 16 * 1024}
	a := Instance{ID: "i-a", Pool: "web", Type: "m5.xlarge", AZ: "us-east-1a", Since: t0, Offers: agent}
	booting := Instance{ID: "i-b", Pool: "web", Type: "m5.xlarge", AZ: "us-east-1b", Since: t0}
	b := booting
	b.Offers = agent
	usage := []Usage{
		{App: "/web/a", Labels: map[string]string{"marmot.team": "web"}, Pool: "web", Resources: Resources{CPUs: 2, MemMiB: 4096}, Since: t0},
		{App: "/tools/b", Labels: map[string]string{"other": "x"}, Pool: "web", Resources: Resources{CPUs: 1, MemMiB: 8192}, Since: t0},
	}
	sleeping := []Sleeping{{App: "/tools/c", Pool: "web", Freed: Resources{CPUs: 0.5, MemMiB: 1024}, Since: t0}}
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	return l, []State{
		{At: t0, Instances: []Instance{a, booting}, Usage: usage, Sleeping: sleeping},
		{At: at(1), Instances: []Instance{a, booting}, Usage: usage, Sleeping: sleeping},
		{At: at(3), Instances: []Instance{a, b}, Usage: usage, Sleeping: sleeping},
		{At: at(4), Instances: []Instance{a}, Usage: usage, Sleeping: sleeping},
	}
}

func TestLedgerHandComputed(t *testing.T) {
	l, states := ledgerScenario()
	for _, s := range states {
		l.Observe(s)
	}
	r := l.Report()
	checks := []struct {
		name      string
		got, want float64
	}{
		{"cost", r.Cost, 0.192*2 + 0.384*2 + 0.192},
		{"instance-hours", r.InstanceHours, 4 + 3},
		{"agent-hours", r.AgentHours, 4 + 2},
		{"team web", lineCost(r.Teams, "web"), 0.081 * 4},
		{"no team", lineCost(r.Teams, NoTeam), 0.063 * 4},
		{"app /web/a", lineCost(r.Apps, "/web/a"), 0.324},
		{"app /tools/b cpu-hours", lineOf(r.Apps, "/tools/b").CPUHours, 4},
		{"app /tools/b GiB-hours", lineOf(r.Apps, "/tools/b").GiBHours, 32},
		{"idle", r.Idle.Cost, 0.24 + 0.48 + 0.048},
		{"idle cpu-hours", r.Idle.CPUHours, (4 + 8 + 8 + 4) - 3*4},
		{"idle GiB-hours", r.Idle.GiBHours, (16 + 32 + 32 + 16) - 12*4},
		{"pool not in Mesos", r.Pools[0].NotInMesos, 0.192},
		{"hibernation", r.Savings.Hibernation.Cost, 0.02025 * 4},
		{"hibernation cpu-hours", r.Savings.Hibernation.CPUHours, 2},
		{"static-peak instance-hours", r.Pools[0].StaticPeakInstanceHours, 8},
		{"saved instance-hours", r.Savings.AutoscalingInstanceHours, 1},
		{"saved", r.Savings.Autoscaling, 0.192},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	// The chargeback accounts for every dollar: teams (or apps) plus idle is the cost.
	teams := lineCost(r.Teams, "web") + lineCost(r.Teams, NoTeam)
	if !near(teams+r.Idle.Cost, r.Cost) {
		t.Errorf("teams %v + idle %v != cost %v", teams, r.Idle.Cost, r.Cost)
	}
	if r.Teams[0].Name != "web" || r.Apps[0].Name != "/web/a" {
		t.Errorf("lines are sorted most expensive first: %v %v", r.Teams, r.Apps)
	}
	if len(r.Unpriced) != 0 {
		t.Errorf("unpriced %v", r.Unpriced)
	}
}

// A daemon that restarts builds a new ledger with the same origin and feeds it the cluster as it is,
// with the start times the cluster records: it arrives at the same figures as the ledger that ran
// throughout, for everything still alive.
func TestLedgerRestartRecomputes(t *testing.T) {
	l, states := ledgerScenario()
	steady := states[2]
	steady.Instances = steady.Instances[:1] // only A: alive since t0 throughout
	for h := 0; h <= 5; h++ {
		s := steady
		s.At = t0.Add(time.Duration(h) * time.Hour)
		l.Observe(s)
	}
	restarted := NewLedger(LedgerConfig{Prices: NewPrices("us-east-1", nil), Origin: t0})
	last := steady
	last.At = t0.Add(5 * time.Hour)
	restarted.Observe(last)
	a, b := l.Report(), restarted.Report()
	for _, c := range []struct {
		name string
		x, y float64
	}{
		{"cost", a.Cost, b.Cost},
		{"idle", a.Idle.Cost, b.Idle.Cost},
		{"web", lineCost(a.Teams, "web"), lineCost(b.Teams, "web")},
		{"hibernation", a.Savings.Hibernation.Cost, b.Savings.Hibernation.Cost},
	} {
		if !near(c.x, c.y) || c.x == 0 {
			t.Errorf("%s: ran throughout %v, restarted %v", c.name, c.x, c.y)
		}
	}
	if !near(b.Cost, 5*0.192) {
		t.Errorf("restarted cost %v, want 5 hours of A", b.Cost)
	}
}

func TestLedgerSinceAndOrder(t *testing.T) {
	l := NewLedger(LedgerConfig{Prices: NewPrices("us-east-1", nil), Origin: t0})
	in := Instance{ID: "i-1", Pool: "p", Type: "m5.large", Since: t0.Add(-48 * time.Hour), Offers: Resources{CPUs: 2, MemMiB: 8192}}
	// A task that started half an hour into the first state's span counts from its start; the
	// instance, older than the origin, from the origin.
	l.Observe(State{At: t0.Add(time.Hour), Instances: []Instance{in},
		Usage: []Usage{{App: "/x", Pool: "p", Resources: Resources{CPUs: 2, MemMiB: 8192}, Since: t0.Add(30 * time.Minute)}}})
	l.Observe(State{At: t0.Add(time.Hour)})   // not after the last: ignored
	l.Observe(State{At: t0.Add(time.Minute)}) // going back: ignored
	r := l.Report()
	if !near(r.Cost, 0.096) || !near(lineCost(r.Apps, "/x"), 0.048) || !near(r.Idle.Cost, 0.048) {
		t.Errorf("cost %v, /x %v, idle %v", r.Cost, lineCost(r.Apps, "/x"), r.Idle.Cost)
	}
	if !r.To.Equal(t0.Add(time.Hour)) || !r.From.Equal(t0) {
		t.Errorf("span %v – %v", r.From, r.To)
	}
}

func TestLedgerUnpricedIsVisible(t *testing.T) {
	l := NewLedger(LedgerConfig{Prices: NewPrices("us-east-1", nil), Origin: t0, TeamLabel: "owner"})
	l.Observe(State{At: t0})
	l.Observe(State{At: t0.Add(time.Hour),
		Instances: []Instance{{ID: "i-1", Pool: "gpu", Type: "p9.mega", Offers: Resources{CPUs: 8, MemMiB: 1024}}},
		Usage:     []Usage{{App: "/ml", Labels: map[string]string{"owner": "ml"}, Pool: "gpu", Resources: Resources{CPUs: 4}}}})
	r := l.Report()
	if len(r.Unpriced) != 2 || r.Unpriced[0] != "p9.mega" || r.Unpriced[1] != "pool gpu" {
		t.Errorf("unpriced %v", r.Unpriced)
	}
	if lineOf(r.Teams, "ml").CPUHours != 4 {
		t.Errorf("the team label key is configurable: %+v", r.Teams)
	}
}

func TestTrailingPeak(t *testing.T) {
	p := trailingPeak{window: 3 * time.Hour}
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	for i, c := range []struct{ count, want int }{
		{5, 5}, {3, 5}, {4, 5}, {2, 4}, // hour 3: the 5 of hour 0 has left the window (3h, 3h]
		{1, 4}, {1, 2}, {6, 6}, {0, 6},
	} {
		if got := p.add(at(i), c.count); got != c.want {
			t.Errorf("hour %d: peak %d, want %d", i, got, c.want)
		}
	}
}

func TestSeedPeak(t *testing.T) {
	l := NewLedger(LedgerConfig{Prices: NewPrices("us-east-1", nil), Origin: t0, PeakWindow: 24 * time.Hour})
	l.SeedPeak("p", t0.Add(-2*time.Hour), 3)
	in := Instance{Pool: "p", Type: "m5.large", Offers: Resources{CPUs: 2, MemMiB: 8192}}
	l.Observe(State{At: t0, Instances: []Instance{in}})
	l.Observe(State{At: t0.Add(time.Hour), Instances: []Instance{in}})
	if r := l.Report(); !near(r.Savings.AutoscalingInstanceHours, 2) || !near(r.Savings.Autoscaling, 2*0.096) {
		t.Errorf("saved %v instance-hours, $%v; want 2 and %v", r.Savings.AutoscalingInstanceHours, r.Savings.Autoscaling, 2*0.096)
	}
}

func lineOf(lines []Line, name string) Line {
	for _, l := range lines {
		if l.Name == name {
			return l
		}
	}
	return Line{}
}

func lineCost(lines []Line, name string) float64 { return lineOf(lines, name).Cost }

// Usage lines may come in any order and change order between states: the ledger's slot cache must
// not charge a line to the app that held its place before.
func TestLedgerUsageOrderAndTeam(t *testing.T) {
	in := Instance{ID: "i-1", Pool: "p", Type: "m5.xlarge", Offers: Resources{CPUs: 4, MemMiB: 16 * 1024}}
	a := Usage{App: "/a", Team: "alpha", Labels: map[string]string{"marmot.team": "ignored"}, Pool: "p", Resources: Resources{CPUs: 1}}
	b := Usage{App: "/b", Labels: map[string]string{"marmot.team": "beta"}, Pool: "p", Resources: Resources{CPUs: 2}}
	l := NewLedger(LedgerConfig{Prices: NewPrices("us-east-1", nil), Origin: t0})
	l.Observe(State{At: t0, Instances: []Instance{in}})
	l.Observe(State{At: t0.Add(time.Hour), Instances: []Instance{in}, Usage: []Usage{a, b}})
	l.Observe(State{At: t0.Add(2 * time.Hour), Instances: []Instance{in}, Usage: []Usage{b, a}})
	l.Observe(State{At: t0.Add(3 * time.Hour), Instances: []Instance{in}, Usage: []Usage{b}})
	r := l.Report()
	if got := lineOf(r.Apps, "/a").CPUHours; got != 2 {
		t.Errorf("/a %v cpu-hours, want 2", got)
	}
	if got := lineOf(r.Apps, "/b").CPUHours; got != 6 {
		t.Errorf("/b %v cpu-hours, want 6", got)
	}
	if lineOf(r.Teams, "alpha").CPUHours != 2 || lineOf(r.Teams, "beta").CPUHours != 6 || lineOf(r.Teams, "ignored").CPUHours != 0 {
		t.Errorf("teams %+v: Team wins over the label", r.Teams)
	}
	if !near(lineCost(r.Apps, "/a")+lineCost(r.Apps, "/b")+r.Idle.Cost, r.Cost) {
		t.Errorf("apps and idle do not add up to the cost")
	}
}
