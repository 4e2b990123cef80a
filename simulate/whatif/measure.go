package whatif

import (
	"math"
	"slices"
	"time"
)

// pendingTimes estimates how long tasks waited to be launched, at the replay's one-minute resolution:
// an instance first seen waiting at one minute and gone from the queue at a later one waited the
// difference; a launch never seen waiting waited less than a minute and counts as zero.
type pendingTimes struct {
	queues   map[string][]time.Time // per app: when each waiting instance was first seen, oldest first
	launched int
	zero     int
	waits    []float64 // seconds
}

func newPendingTimes() *pendingTimes {
	return &pendingTimes{queues: map[string][]time.Time{}, launched: -1}
}

func (p *pendingTimes) observe(obs *observation) {
	left := 0
	for app, q := range p.queues {
		n := obs.waiting[app]
		if n >= len(q) {
			continue
		}
		for _, since := range q[:len(q)-n] {
			p.waits = append(p.waits, obs.at.Sub(since).Seconds())
		}
		left += len(q) - n
		if n == 0 {
			delete(p.queues, app)
		} else {
			p.queues[app] = append(q[:0], q[len(q)-n:]...)
		}
	}
	for app, n := range obs.waiting {
		for q := p.queues[app]; len(q) < n; q = p.queues[app] {
			p.queues[app] = append(q, obs.at)
		}
	}
	if p.launched >= 0 {
		p.zero += max(0, obs.launched-p.launched-left)
	}
	p.launched = obs.launched
}

// percentile returns the q-quantile (0..1) of the pending times in seconds, zeros included, by the
// nearest-rank method.
func (p *pendingTimes) percentile(q float64) float64 {
	n := p.zero + len(p.waits)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q*float64(n))) - 1
	if rank < p.zero {
		return 0
	}
	w := slices.Clone(p.waits)
	slices.Sort(w)
	return w[rank-p.zero]
}

// quantile returns the q-quantile of values by the nearest-rank method; 0 for none.
func quantile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return 0
	}
	v := slices.Clone(values)
	slices.Sort(v)
	return v[max(0, int(math.Ceil(q*float64(len(v))))-1)]
}

// Series are a replay's figures over time, for the report's charts: one point per bucket of minutes,
// each the bucket's mean.
type Series struct {
	// Minutes are the points' times, in minutes from the start.
	Minutes []float64 `json:"minutes"`
	// Agents are the registered agents; Instances the instances paid for.
	Agents    []float64 `json:"agents"`
	Instances []float64 `json:"instances"`
	// CapacityCPUs are the cpus the available agents offer; DemandCPUs what is allocated plus what
	// waits for room.
	CapacityCPUs []float64 `json:"capacity_cpus"`
	DemandCPUs   []float64 `json:"demand_cpus"`
	// CostPerHour is what the instances cost per hour, USD.
	CostPerHour []float64 `json:"cost_per_hour"`
	// Waiting are the instances waiting in Marathon's queue; Asleep the apps asleep.
	Waiting []float64 `json:"waiting"`
	Asleep  []float64 `json:"asleep"`
}

// seriesRecorder keeps every minute's figures and reduces them to buckets at the end.
type seriesRecorder struct {
	rows [][7]float64 // agents, instances, capacity, demand, cost/h, waiting, asleep
}

func (s *seriesRecorder) add(row [7]float64) { s.rows = append(s.rows, row) }

// series reduces the minutes to at most points buckets.
func (s *seriesRecorder) series(points int) Series {
	var out Series
	n := len(s.rows)
	if n == 0 {
		return out
	}
	per := max(1, int(math.Ceil(float64(n)/float64(points))))
	cols := []*[]float64{&out.Agents, &out.Instances, &out.CapacityCPUs, &out.DemandCPUs, &out.CostPerHour, &out.Waiting, &out.Asleep}
	for from := 0; from < n; from += per {
		to := min(from+per, n)
		out.Minutes = append(out.Minutes, float64(from))
		for c, col := range cols {
			sum := 0.0
			for _, row := range s.rows[from:to] {
				sum += row[c]
			}
			*col = append(*col, round3(sum/float64(to-from)))
		}
	}
	return out
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
