package cost

// onDemandTable is the built-in on-demand price list: Linux, shared tenancy, USD per instance-hour.
// us-east-1 and us-west-2 are AWS's published list prices (the same figures as Karpenter's generated
// pricing table of 2026-01, pkg/providers/pricing/zz_generated.pricing_aws.go); the two European
// regions are AWS's list prices as published on the EC2 on-demand pricing page. Prices change: the
// policy overrides any of them (Prices.Overrides), and docs/cost.md says how to check them.
//
// Within a generation, sizes scale linearly (large = 2 vCPU, each size up doubles), so a family is
// written as its large price.
var onDemandTable = func() map[string]map[string]float64 {
	type family struct {
		name  string
		large float64
		sizes []string
	}
	standard := []string{"large", "xlarge", "2xlarge", "4xlarge"}
	burstable := []string{"large", "xlarge", "2xlarge"} // t3 stops at 2xlarge
	regions := map[string][]family{
		"us-east-1": {
			{"m5", 0.096, standard}, {"m6i", 0.096, standard},
			{"c5", 0.085, standard}, {"c6i", 0.085, standard},
			{"r5", 0.126, standard}, {"r6i", 0.126, standard},
			{"t3", 0.0832, burstable},
		},
		"us-west-2": {
			{"m5", 0.096, standard}, {"m6i", 0.096, standard},
			{"c5", 0.085, standard}, {"c6i", 0.085, standard},
			{"r5", 0.126, standard}, {"r6i", 0.126, standard},
			{"t3", 0.0832, burstable},
		},
		"eu-west-1": {
			{"m5", 0.107, standard}, {"m6i", 0.107, standard},
			{"c5", 0.096, standard}, {"c6i", 0.096, standard},
			{"r5", 0.141, standard}, {"r6i", 0.141, standard},
			{"t3", 0.0912, burstable},
		},
		"eu-central-1": {
			{"m5", 0.115, standard}, {"m6i", 0.115, standard},
			{"c5", 0.097, standard}, {"c6i", 0.097, standard},
			{"r5", 0.152, standard}, {"r6i", 0.152, standard},
			{"t3", 0.096, burstable},
		},
	}
	out := map[string]map[string]float64{}
	for region, families := range regions {
		out[region] = map[string]float64{}
		for _, f := range families {
			price := f.large
			for _, size := range f.sizes {
				// Rounded to AWS's four decimals, so that 0.0832 × 4 is 0.3328 and not 0.33280000000000004.
				out[region][f.name+"."+size] = roundPrice(price)
				price *= 2
			}
		}
	}
	return out
}()
