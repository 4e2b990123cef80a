package whatif

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// requests gives the requests an app receives minute by minute: a trace function's invocations, or
// a Poisson draw around the app's request rate. Each app draws from its own generator, seeded from
// the scenario's seed and the app's id, so every variant of a study sees the same requests.
type requests struct {
	fn  *Function
	rng *rand.Rand
}

func newRequests(seed int64, app string, fn *Function) *requests {
	h := fnv.New64a()
	h.Write([]byte(app))
	return &requests{fn: fn, rng: rand.New(rand.NewPCG(uint64(seed), h.Sum64()))}
}

// in returns the requests of minute m of the replay, for an app offering rate requests per second.
func (r *requests) in(m int, rate float64) int {
	if r.fn != nil {
		return r.fn.Requests(m)
	}
	return poisson(r.rng, rate*60)
}

// poisson draws from a Poisson distribution of mean lambda: by multiplying uniforms (Knuth) for small
// means, where idle minutes matter, and by the normal approximation for large ones, where a minute
// with no request is impossible anyway.
func poisson(rng *rand.Rand, lambda float64) int {
	switch {
	case lambda <= 0:
		return 0
	case lambda < 30:
		limit, p, k := math.Exp(-lambda), 1.0, 0
		for {
			p *= rng.Float64()
			if p <= limit {
				return k
			}
			k++
		}
	}
	return max(0, int(math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64())))
}
