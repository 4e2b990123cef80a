package simulate

import (
	"sync"
	"time"
)

// Clock is the simulator's source of time. Every piece of model logic takes its time from here (or from
// the timestamp of the event being processed), never from time.Now, so the same code runs in virtual
// time for what-if replays and in (possibly sped-up) real time behind the HTTP faces.
type Clock interface {
	// Now returns the current model time. It never goes backwards.
	Now() time.Time
}

// VirtualClock is a Clock that moves only when told to. It is safe for concurrent use.
type VirtualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewVirtualClock returns a virtual clock standing at start.
func NewVirtualClock(start time.Time) *VirtualClock { return &VirtualClock{now: start} }

// Now implements Clock.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (negative d is ignored).
func (c *VirtualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return c.now
}

// Set moves the clock to t if t is later than the current time.
func (c *VirtualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// RealClock follows the wall clock, optionally sped up: model time = origin + speed × (wall time since
// the clock was made). Speed 1 is real time.
type RealClock struct {
	origin time.Time
	start  time.Time
	speed  float64
	wall   func() time.Time
}

// NewRealClock returns a clock that starts at origin and runs speed times faster than the wall clock.
// A speed below or equal to zero means 1.
func NewRealClock(origin time.Time, speed float64) *RealClock {
	if speed <= 0 {
		speed = 1
	}
	// The wall clock is read here and only here: this type is the boundary between real and model time.
	return &RealClock{origin: origin, start: time.Now(), speed: speed, wall: time.Now}
}

// Now implements Clock.
func (c *RealClock) Now() time.Time {
	elapsed := c.wall().Sub(c.start)
	return c.origin.Add(time.Duration(float64(elapsed) * c.speed))
}

// Speed is how many model seconds pass in one wall-clock second.
func (c *RealClock) Speed() float64 { return c.speed }

// WallDuration converts a model duration into the wall-clock time it takes on this clock.
func (c *RealClock) WallDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}
