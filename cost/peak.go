package cost

import "time"

// trailingPeak is the largest count seen over a trailing window, kept as a monotonic queue: each
// sample is added once and dropped once, so a month of one-minute samples costs a month of O(1) steps.
type trailingPeak struct {
	window time.Duration
	q      []peakPoint // from head on: counts strictly decreasing, times increasing
	head   int
}

type peakPoint struct {
	at    time.Time
	count int
}

// add records count at time at (times must not go backwards) and returns the peak over
// (at − window, at].
func (p *trailingPeak) add(at time.Time, count int) int {
	for len(p.q) > p.head && p.q[len(p.q)-1].count <= count {
		p.q = p.q[:len(p.q)-1]
	}
	p.q = append(p.q, peakPoint{at, count})
	cutoff := at.Add(-p.window)
	for p.head < len(p.q)-1 && !p.q[p.head].at.After(cutoff) {
		p.head++
	}
	if p.head > 1024 && p.head > len(p.q)/2 { // reclaim the dropped front now and then
		p.q = append(p.q[:0], p.q[p.head:]...)
		p.head = 0
	}
	return p.q[p.head].count
}
