package cost

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestOnDemandTable(t *testing.T) {
	table := DefaultOnDemand()
	for _, c := range []struct {
		region, itype string
		want          float64
	}{
		{"us-east-1", "m5.large", 0.096},
		{"us-east-1", "m5.4xlarge", 0.768},
		{"us-east-1", "c6i.2xlarge", 0.34},
		{"us-east-1", "r6i.xlarge", 0.252},
		{"us-east-1", "t3.2xlarge", 0.3328},
		{"us-west-2", "c5.xlarge", 0.17},
		{"eu-west-1", "r5.4xlarge", 1.128},
		{"eu-west-1", "t3.xlarge", 0.1824},
		{"eu-central-1", "m6i.2xlarge", 0.46},
		{"eu-central-1", "c5.4xlarge", 0.776},
	} {
		if got := table[c.region][c.itype]; got != c.want {
			t.Errorf("%s %s: %v, want %v", c.region, c.itype, got, c.want)
		}
	}
	for _, region := range []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1"} {
		// 6 families × 4 sizes + t3 × 3 sizes.
		if n := len(table[region]); n != 27 {
			t.Errorf("%s has %d types, want 27", region, n)
		}
	}
	if _, ok := table["us-east-1"]["t3.4xlarge"]; ok {
		t.Error("t3.4xlarge does not exist")
	}
	table["us-east-1"]["m5.large"] = 99
	if DefaultOnDemand()["us-east-1"]["m5.large"] != 0.096 {
		t.Error("DefaultOnDemand must return a copy")
	}
}

func TestPricesOverrideAndUnknown(t *testing.T) {
	p := NewPrices("us-east-1", map[string]float64{"m5.large": 0.08, "x9.huge": 5})
	for _, c := range []struct {
		itype string
		price float64
		src   PriceSource
	}{
		{"m5.large", 0.08, PriceOverride},
		{"x9.huge", 5, PriceOverride},
		{"m5.xlarge", 0.192, PriceOnDemand},
		{"z1.small", 0, PriceUnknown},
	} {
		price, src := p.Hourly(c.itype, false, "us-east-1a", t0)
		if price != c.price || src != c.src {
			t.Errorf("%s: %v %v, want %v %v", c.itype, price, src, c.price, c.src)
		}
	}
	if _, src := NewPrices("ap-south-1", nil).OnDemand("m5.large"); src != PriceUnknown {
		t.Errorf("a region without a table knows no price: %v", src)
	}
}

func TestSpotPrices(t *testing.T) {
	p := NewPrices("us-east-1", nil)
	p.AddSpot(
		SpotPrice{InstanceType: "m5.xlarge", AZ: "us-east-1b", Price: 0.07, Timestamp: t0.Add(time.Hour)},
		SpotPrice{InstanceType: "m5.xlarge", AZ: "us-east-1a", Price: 0.06, Timestamp: t0},
		SpotPrice{InstanceType: "m5.xlarge", AZ: "us-east-1a", Price: 0.065, Timestamp: t0.Add(2 * time.Hour)},
		// The same point twice, as overlapping DescribeSpotPriceHistory pages give it.
		SpotPrice{InstanceType: "m5.xlarge", AZ: "us-east-1a", Price: 0.065, Timestamp: t0.Add(2 * time.Hour)},
	)
	for _, c := range []struct {
		name  string
		az    string
		at    time.Time
		price float64
		src   PriceSource
	}{
		{"before any point", "us-east-1a", t0.Add(-time.Minute), 0.192, PriceSpotAsOnDemand},
		{"first point", "us-east-1a", t0, 0.06, PriceSpot},
		{"holds until the next", "us-east-1a", t0.Add(90 * time.Minute), 0.06, PriceSpot},
		{"next point", "us-east-1a", t0.Add(3 * time.Hour), 0.065, PriceSpot},
		{"own zone", "us-east-1b", t0.Add(90 * time.Minute), 0.07, PriceSpot},
		{"other zone before own", "us-east-1b", t0.Add(30 * time.Minute), 0.06, PriceSpotOtherZone},
		{"zone with no history", "us-east-1c", t0.Add(3 * time.Hour), 0.065, PriceSpotOtherZone},
	} {
		price, src := p.Hourly("m5.xlarge", true, c.az, c.at)
		if price != c.price || src != c.src {
			t.Errorf("%s: %v %v, want %v %v", c.name, price, src, c.price, c.src)
		}
	}
	if n := len(p.spot["m5.xlarge"].all); n != 3 {
		t.Errorf("%d points kept, want 3 (the repeat dropped)", n)
	}
	if _, src := p.Hourly("z1.small", true, "us-east-1a", t0); src != PriceUnknown {
		t.Errorf("spot of an unknown type: %v", src)
	}
	if s := PriceSpotAsOnDemand.String(); s != "spot_as_on_demand" {
		t.Errorf("name %q", s)
	}
}

func TestSplitAndRates(t *testing.T) {
	// m5.xlarge offering its nominal 4 vCPU and 16 GiB: the base rates reproduce its price exactly.
	cpu, mem, ok := Split(0.192, Resources{CPUs: 4, MemMiB: 16 * 1024})
	if !ok || !near(cpu, 0.132) || !near(mem, 0.06) {
		t.Errorf("m5.xlarge split %v %v %v, want 0.132 0.06", cpu, mem, ok)
	}
	// r5.xlarge: 4 vCPU, 32 GiB, $0.252 = 0.132 + 0.12.
	if r, _ := RateOf(0.252, Resources{CPUs: 4, MemMiB: 32 * 1024}); !near(r.CPUHour, 0.033) || !near(r.GiBHour, 0.00375) {
		t.Errorf("r5.xlarge rate %+v", r)
	}
	// What a Mesos agent on m5.xlarge really offers (14848 MiB = 14.5 GiB): the weights are 0.132 and
	// 14.5 × 0.00375 = 0.054375, so the cpu part is 0.192 × 0.132 / 0.186375.
	r, _ := RateOf(0.192, Resources{CPUs: 4, MemMiB: 14848})
	wantCPU := 0.192 * 0.132 / 0.186375 / 4
	wantGiB := 0.192 * 0.054375 / 0.186375 / 14.5
	if !near(r.CPUHour, wantCPU) || !near(r.GiBHour, wantGiB) {
		t.Errorf("agent rate %+v, want %v %v", r, wantCPU, wantGiB)
	}
	if !near(r.Of(Resources{CPUs: 4, MemMiB: 14848}), 0.192) {
		t.Errorf("the whole agent must cost the whole price: %v", r.Of(Resources{CPUs: 4, MemMiB: 14848}))
	}
	if cpu, mem, _ := Split(0.1, Resources{CPUs: 2}); cpu != 0.1 || mem != 0 {
		t.Errorf("cpu-only agent: %v %v", cpu, mem)
	}
	if _, _, ok := Split(0.1, Resources{}); ok {
		t.Error("nothing offered cannot be split")
	}
}

func TestPoolRatesWeighByCapacity(t *testing.T) {
	// One m5.xlarge ($0.192, 4 cpu / 16 GiB) and one spot m5.2xlarge at $0.12 (8 cpu / 32 GiB) in a
	// pool: cpu parts 0.132 and 0.12 × 0.264/0.384 = 0.0825 over 12 cpus; memory parts 0.06 and 0.0375
	// over 48 GiB.
	rates := PoolRates([]PricedInstance{
		{Instance: Instance{Pool: "web", Offers: Resources{CPUs: 4, MemMiB: 16384}}, Hourly: 0.192, Source: PriceOnDemand},
		{Instance: Instance{Pool: "web", Spot: true, Offers: Resources{CPUs: 8, MemMiB: 32768}}, Hourly: 0.12, Source: PriceSpot},
		{Instance: Instance{Pool: "web"}, Hourly: 0.192, Source: PriceOnDemand}, // booting: offers nothing
		{Instance: Instance{Pool: "odd", Offers: Resources{CPUs: 4}}, Source: PriceUnknown},
	})
	web := rates["web"]
	if !near(web.CPUHour, (0.132+0.0825)/12) || !near(web.GiBHour, (0.06+0.0375)/48) {
		t.Errorf("web %+v", web)
	}
	if _, ok := rates["odd"]; ok {
		t.Error("a pool with no priced agent has no rate")
	}
}

// Each region's rates are solved from its m5 and r5 prices and price every m5 and r5 size of the region
// exactly (4 GiB per vCPU and 8); us-east-1's are the base rates.
func TestRegionRate(t *testing.T) {
	if r, ok := RegionRate("us-east-1"); !ok || r != BaseRate {
		t.Fatalf("us-east-1: %+v %v, want the base rates %+v", r, ok, BaseRate)
	}
	if r, ok := RegionRate("eu-west-1"); !ok || r != (Rate{CPUHour: 0.0365, GiBHour: 0.00425}) {
		t.Fatalf("eu-west-1: %+v %v", r, ok)
	}
	for _, region := range Regions() {
		r, ok := RegionRate(region)
		if !ok {
			t.Fatalf("%s: no rate", region)
		}
		p := NewPrices(region, nil)
		for _, size := range []struct {
			name string
			cpus float64
		}{{"large", 2}, {"xlarge", 4}, {"2xlarge", 8}, {"4xlarge", 16}} {
			for fam, gibPerCPU := range map[string]float64{"m5": 4, "r5": 8} {
				want, _ := p.OnDemand(fam + "." + size.name)
				got := r.Of(Resources{CPUs: size.cpus, MemMiB: size.cpus * gibPerCPU * 1024})
				if math.Abs(got-want) > 1e-9 {
					t.Errorf("%s %s.%s: %v at the region's rates, listed at %v", region, fam, size.name, got, want)
				}
			}
		}
	}
	if _, ok := RegionRate("mars-north-1"); ok {
		t.Error("a region without prices has a rate")
	}
}
