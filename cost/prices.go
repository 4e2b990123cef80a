package cost

import (
	"math"
	"sort"
	"time"
)

// DefaultOnDemand returns a copy of the built-in on-demand price table: region → instance type → USD
// per hour. It covers the m5, m6i, c5, c6i, r5 and r6i families (large to 4xlarge) and t3 (large to
// 2xlarge) in us-east-1, us-west-2, eu-west-1 and eu-central-1.
func DefaultOnDemand() map[string]map[string]float64 {
	out := make(map[string]map[string]float64, len(onDemandTable))
	for region, types := range onDemandTable {
		out[region] = make(map[string]float64, len(types))
		for t, p := range types {
			out[region][t] = p
		}
	}
	return out
}

// SpotPrice is one point of EC2's spot price history (DescribeSpotPriceHistory): from Timestamp on,
// the type costs Price per hour in the zone. Callers convert the SDK's answer into these.
type SpotPrice struct {
	InstanceType string    `json:"instance_type"`
	AZ           string    `json:"az"`
	Price        float64   `json:"price"`
	Timestamp    time.Time `json:"timestamp"`
}

// PriceSource says where an hourly price came from.
type PriceSource int

// Price sources, from the most to the least specific.
const (
	// PriceUnknown: no price is known for the type; the instance is counted as unpriced, never as free.
	PriceUnknown PriceSource = iota
	// PriceOverride: the policy's override for the type.
	PriceOverride
	// PriceOnDemand: the built-in on-demand table.
	PriceOnDemand
	// PriceSpot: the spot price history, in the instance's zone.
	PriceSpot
	// PriceSpotOtherZone: the spot price history of the type in another zone of the region (the
	// instance's zone has no point yet).
	PriceSpotOtherZone
	// PriceSpotAsOnDemand: a spot instance with no spot price known at all, priced at on-demand. AWS
	// never charges a spot instance more than on-demand, so this errs on the high side, visibly.
	PriceSpotAsOnDemand
)

var priceSourceNames = [...]string{"unknown", "override", "on_demand", "spot", "spot_other_zone", "spot_as_on_demand"}

// String returns the source's snake_case name.
func (s PriceSource) String() string {
	if int(s) < len(priceSourceNames) {
		return priceSourceNames[s]
	}
	return "unknown"
}

// MarshalText makes the source readable in JSON.
func (s PriceSource) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Prices answers what an instance costs per hour in one region. The zero value knows nothing; build
// one with NewPrices.
type Prices struct {
	region    string
	onDemand  map[string]float64
	overrides map[string]float64
	spot      map[string]*spotHistory // by instance type
}

// spotHistory is one type's spot prices, by zone and over all zones, each sorted by time.
type spotHistory struct {
	byZone map[string][]SpotPrice
	all    []SpotPrice
}

// NewPrices returns the prices of a region: the built-in on-demand table for it, with the overrides
// (instance type → USD per hour; the policy's price list) taking precedence. Overrides may name types
// the table does not have. The maps are copied.
func NewPrices(region string, overrides map[string]float64) *Prices {
	p := &Prices{region: region, onDemand: map[string]float64{}, overrides: map[string]float64{}, spot: map[string]*spotHistory{}}
	for t, price := range onDemandTable[region] {
		p.onDemand[t] = price
	}
	for t, price := range overrides {
		p.overrides[t] = price
	}
	return p
}

// Region is the region the prices are for.
func (p *Prices) Region() string { return p.region }

// AddSpot feeds spot price points in, in any order; a point repeated (same type, zone and time) is
// kept once.
func (p *Prices) AddSpot(points ...SpotPrice) {
	touched := map[string]bool{}
	for _, pt := range points {
		h := p.spot[pt.InstanceType]
		if h == nil {
			h = &spotHistory{byZone: map[string][]SpotPrice{}}
			p.spot[pt.InstanceType] = h
		}
		h.byZone[pt.AZ] = append(h.byZone[pt.AZ], pt)
		touched[pt.InstanceType] = true
	}
	for t := range touched {
		h := p.spot[t]
		h.all = h.all[:0]
		for az, pts := range h.byZone {
			h.byZone[az] = sortedUnique(pts)
			h.all = append(h.all, h.byZone[az]...)
		}
		sort.SliceStable(h.all, func(i, j int) bool { return h.all[i].Timestamp.Before(h.all[j].Timestamp) })
	}
}

// sortedUnique sorts one zone's points by time and keeps the last of points with the same time.
func sortedUnique(pts []SpotPrice) []SpotPrice {
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].Timestamp.Before(pts[j].Timestamp) })
	out := pts[:0]
	for _, pt := range pts {
		if len(out) > 0 && pt.Timestamp.Equal(out[len(out)-1].Timestamp) {
			out[len(out)-1] = pt
			continue
		}
		out = append(out, pt)
	}
	return out
}

// latestAt returns the latest point at or before at of a time-sorted history.
func latestAt(h []SpotPrice, at time.Time) (SpotPrice, bool) {
	i := sort.Search(len(h), func(i int) bool { return h[i].Timestamp.After(at) })
	if i == 0 {
		return SpotPrice{}, false
	}
	return h[i-1], true
}

// OnDemand returns the on-demand price of a type: the override, else the built-in table.
func (p *Prices) OnDemand(instanceType string) (float64, PriceSource) {
	if price, ok := p.overrides[instanceType]; ok {
		return price, PriceOverride
	}
	if price, ok := p.onDemand[instanceType]; ok {
		return price, PriceOnDemand
	}
	return 0, PriceUnknown
}

// Hourly returns what one instance costs per hour at time at. An on-demand instance costs its
// on-demand price. A spot instance costs the latest spot price at or before at in its zone, else in
// any zone of the region, else its on-demand price (see PriceSpotAsOnDemand).
func (p *Prices) Hourly(instanceType string, spot bool, az string, at time.Time) (float64, PriceSource) {
	if !spot {
		return p.OnDemand(instanceType)
	}
	if h := p.spot[instanceType]; h != nil {
		if pt, ok := latestAt(h.byZone[az], at); ok {
			return pt.Price, PriceSpot
		}
		if pt, ok := latestAt(h.all, at); ok {
			return pt.Price, PriceSpotOtherZone
		}
	}
	price, src := p.OnDemand(instanceType)
	if src == PriceUnknown {
		return 0, PriceUnknown
	}
	return price, PriceSpotAsOnDemand
}

// roundPrice rounds to AWS's price precision (four decimals, enough for every list price here).
func roundPrice(p float64) float64 { return math.Round(p*1e4) / 1e4 }
