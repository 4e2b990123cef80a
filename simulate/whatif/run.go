package whatif

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/simulate"
)

// Run replays the study's variants and returns the report. Variants replay in parallel up to
// cfg.Parallel; the static-peak variant waits for the Marmot replay, whose demand sizes it, and the
// ideal bound is computed from the same demand.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	variants, err := cfg.variants()
	if err != nil {
		return nil, err
	}
	s, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.feedSpotPrices(); err != nil {
		return nil, err
	}
	wants := func(name string) bool {
		return slices.ContainsFunc(variants, func(v variant) bool { return v.name == name })
	}
	needDemand := wants(VariantStaticPeak) || wants(VariantIdeal)

	results := map[string]*Result{}
	replays := map[string]*replay{}
	var mu sync.Mutex
	runAll := func(vs []variant, sizes map[string]int) error {
		sem := make(chan struct{}, cfg.Parallel)
		var wg sync.WaitGroup
		errs := make([]error, len(vs))
		for i, v := range vs {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				r, err := newReplay(s, v, sizes)
				if err != nil {
					errs[i] = fmt.Errorf("%s: %w", v.name, err)
					return
				}
				r.keepDemand = needDemand && v.name == VariantMarmot
				if err := r.run(ctx); err != nil {
					errs[i] = fmt.Errorf("%s: %w", v.name, err)
					return
				}
				res := r.result(cfg.SeriesPoints)
				mu.Lock()
				results[v.name], replays[v.name] = &res, r
				mu.Unlock()
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	var first, later []variant
	for _, v := range variants {
		switch v.capacity {
		case capacityStatic:
			later = append(later, v)
		case capacityIdeal:
		default:
			first = append(first, v)
		}
	}
	if err := runAll(first, nil); err != nil {
		return nil, err
	}
	if marmot := replays[VariantMarmot]; marmot != nil && needDemand {
		if err := runAll(later, staticSizes(marmot, cfg.Autoscaler.Pools)); err != nil {
			return nil, err
		}
		if wants(VariantIdeal) {
			ideal := idealResult(marmot, results[VariantMarmot], shortestBoot(s.scenario.Timing), cfg.SeriesPoints)
			results[VariantIdeal] = &ideal
		}
	}
	rep := &Report{
		Scenario: s.scenario.Name, Start: s.scenario.StartTime(), Minutes: int(cfg.Duration / step),
		InstancePoints: len(cfg.Instances), Notes: s.notes,
	}
	if cfg.Trace != nil {
		rep.TraceFunctions = len(cfg.Trace.Functions)
	}
	for _, v := range variants {
		if res := results[v.name]; res != nil {
			rep.Results = append(rep.Results, *res)
		}
	}
	return rep, nil
}

// feedSpotPrices gives the prices the model's spot price history for the replayed span: in the
// replay, the model is EC2.
func (s *study) feedSpotPrices() error {
	spotTypes := map[string]bool{}
	for _, p := range s.scenario.Pools {
		for _, g := range p.Groups {
			if g.Spot {
				spotTypes[g.InstanceType] = true
			}
		}
	}
	if len(spotTypes) == 0 {
		return nil
	}
	start := s.scenario.StartTime()
	w, err := simulate.New(s.scenario, simulate.NewVirtualClock(start), simulate.Options{})
	if err != nil {
		return err
	}
	var points []cost.SpotPrice
	w.View(func(v *simulate.View) {
		// An hour before the start, so that the first minute has a price.
		for _, p := range v.SpotPriceHistory(sortedKeys(spotTypes), nil, start.Add(-2*step*60), start.Add(s.cfg.Duration)) {
			points = append(points, cost.SpotPrice{InstanceType: p.InstanceType, AZ: p.AZ, Price: p.Price, Timestamp: p.Timestamp})
		}
	})
	s.cfg.Prices.AddSpot(points...)
	return nil
}
