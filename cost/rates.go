package cost

import (
	"math"
	"sort"
)

// Resources are the resources cost is charged on: Mesos cpus and memory in MiB (as Mesos counts it).
// Disk, GPUs and ports are not charged separately: an instance's whole price is split between its
// cpus and its memory (docs/cost.md says why).
type Resources struct {
	CPUs   float64 `json:"cpus"`
	MemMiB float64 `json:"mem_mib"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources { return Resources{r.CPUs + o.CPUs, r.MemMiB + o.MemMiB} }

// Scale returns r × k.
func (r Resources) Scale(k float64) Resources { return Resources{r.CPUs * k, r.MemMiB * k} }

// GiB returns the memory in GiB.
func (r Resources) GiB() float64 { return r.MemMiB / 1024 }

// The base marginal rates that set how an instance's price splits between cpu and memory. They are
// AWS us-east-1 list prices solved from two families that differ only in memory per vCPU:
// m5.xlarge (4 vCPU, 16 GiB) $0.192 and r5.xlarge (4 vCPU, 32 GiB) $0.252 give $0.00375 per GiB-hour
// and then $0.033 per vCPU-hour; the same two rates reproduce every m5, m6i, r5 and r6i size exactly.
// Only their ratio (8.8 GiB-hours to one vCPU-hour) matters: each instance's price is split in that
// ratio and then scaled to add up to the price, the method of the OpenCost specification (Appendix A:
// "a scalable ratio of CPU, GPU, RAM ... based on the marginal resource rates of the provider by
// family", normalised so that the parts equal the price of the node).
const (
	BaseCPUHour = 0.033
	BaseGiBHour = 0.00375
)

// BaseRate is the base marginal rates as a Rate: us-east-1 on demand.
var BaseRate = Rate{CPUHour: BaseCPUHour, GiBHour: BaseGiBHour}

// RegionRate returns a region's marginal rates, solved from the built-in on-demand table as the base
// rates are from us-east-1's: r5.xlarge − m5.xlarge over their 16 GiB of difference is the GiB-hour,
// the rest of m5.xlarge over its 4 vCPU the cpu-hour. It is the price of a cpu and of a GiB where
// nothing else is known of the instances (the hibernator, which sees none). ok is false for a region
// the table lacks.
func RegionRate(region string) (Rate, bool) {
	m5, okM := onDemandTable[region]["m5.xlarge"]
	r5, okR := onDemandTable[region]["r5.xlarge"]
	if !okM || !okR {
		return Rate{}, false
	}
	gib := (r5 - m5) / 16
	// Rounded to a millionth of a dollar: the table's four decimals solve to six at most.
	round := func(v float64) float64 { return math.Round(v*1e6) / 1e6 }
	return Rate{CPUHour: round((m5 - 16*gib) / 4), GiBHour: round(gib)}, true
}

// Regions returns the regions of the built-in on-demand table, sorted.
func Regions() []string {
	out := make([]string, 0, len(onDemandTable))
	for r := range onDemandTable {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Rate is a price per cpu-hour and per GiB-hour of memory.
type Rate struct {
	CPUHour float64 `json:"cpu_hour"`
	GiBHour float64 `json:"gib_hour"`
}

// Of returns what r costs per hour at this rate.
func (rate Rate) Of(r Resources) float64 { return r.CPUs*rate.CPUHour + r.GiB()*rate.GiBHour }

// Split divides an instance's hourly price between the cpus and the memory it offers Mesos, in the
// ratio of the base rates: cpuPart + memPart == price. An instance that offers only one of the two
// puts its whole price on it; one that offers nothing cannot be split (both parts 0, ok false).
func Split(price float64, offered Resources) (cpuPart, memPart float64, ok bool) {
	cpuWeight, memWeight := offered.CPUs*BaseCPUHour, offered.GiB()*BaseGiBHour
	total := cpuWeight + memWeight
	if total <= 0 || offered.CPUs < 0 || offered.MemMiB < 0 {
		return 0, 0, false
	}
	cpuPart = price * cpuWeight / total
	return cpuPart, price - cpuPart, true
}

// RateOf returns the rate at which the offered resources carry the whole of price: the cpu part
// over the cpus, the memory part over the GiB. It is the rate of one instance; a pool's rate is the
// sum of its instances' parts over the sum of what they offer (see PoolRates).
func RateOf(price float64, offered Resources) (Rate, bool) {
	cpuPart, memPart, ok := Split(price, offered)
	if !ok {
		return Rate{}, false
	}
	var r Rate
	if offered.CPUs > 0 {
		r.CPUHour = cpuPart / offered.CPUs
	}
	if offered.GiB() > 0 {
		r.GiBHour = memPart / offered.GiB()
	}
	return r, true
}

// PricedInstance is an instance with its hourly price resolved.
type PricedInstance struct {
	Instance
	Hourly float64
	Source PriceSource
}

// PoolRates returns each pool's rate: over the pool's instances that are Mesos agents (Offers set)
// and have a price, the sum of their cpu parts over the sum of their cpus, and likewise for memory.
// A pool with mixed instance types or spot and on-demand instances thus gets the average of what its
// capacity costs, weighted by capacity. Pools with no priced agent are absent.
func PoolRates(instances []PricedInstance) map[string]Rate {
	by := map[string]*rateSums{}
	for _, in := range instances {
		s := by[in.Pool]
		if s == nil {
			s = &rateSums{}
			by[in.Pool] = s
		}
		s.add(in.Hourly, in.Source, in.Offers)
	}
	out := make(map[string]Rate, len(by))
	for pool, s := range by {
		if r, ok := s.rate(); ok {
			out[pool] = r
		}
	}
	return out
}

// rateSums adds up instances' cpu and memory parts and what they offer, for a rate over all of them.
type rateSums struct{ cpuCost, memCost, cpus, gib float64 }

// add counts one instance; one that is no agent or has no price adds nothing.
func (s *rateSums) add(price float64, src PriceSource, offers Resources) {
	cpuPart, memPart, ok := Split(price, offers)
	if !ok || src == PriceUnknown {
		return
	}
	s.cpuCost, s.memCost = s.cpuCost+cpuPart, s.memCost+memPart
	s.cpus, s.gib = s.cpus+offers.CPUs, s.gib+offers.GiB()
}

// rate returns the parts over what was offered; ok is false when nothing priced was offered.
func (s *rateSums) rate() (Rate, bool) {
	if s.cpus <= 0 && s.gib <= 0 {
		return Rate{}, false
	}
	var r Rate
	if s.cpus > 0 {
		r.CPUHour = s.cpuCost / s.cpus
	}
	if s.gib > 0 {
		r.GiBHour = s.memCost / s.gib
	}
	return r, true
}
