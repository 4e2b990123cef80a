package election

import (
	"testing"
	"time"
)

func TestLease(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := lease{length: 5 * time.Second}
	if l.valid(t0) {
		t.Error("a lease never confirmed is valid")
	}
	l.confirm(t0)
	l.confirm(t0.Add(-time.Second)) // an older answer arriving late does not shorten it
	if got := l.deadline(); !got.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("deadline = %s", got)
	}
	if !l.valid(t0.Add(4999*time.Millisecond)) || l.valid(t0.Add(5*time.Second)) {
		t.Error("valid up to, not including, the deadline")
	}
	l.confirm(t0.Add(2 * time.Second))
	if !l.valid(t0.Add(6 * time.Second)) {
		t.Error("a later answer extends the lease")
	}
}

func TestLeaseFor(t *testing.T) {
	for _, tc := range []struct{ configured, requested, negotiated, want time.Duration }{
		{5 * time.Second, 10 * time.Second, 0, 5 * time.Second},                         // unknown
		{5 * time.Second, 10 * time.Second, 10 * time.Second, 5 * time.Second},          // as asked
		{5 * time.Second, 10 * time.Second, 40 * time.Second, 5 * time.Second},          // longer: safe as it is
		{5 * time.Second, 10 * time.Second, 4 * time.Second, 2 * time.Second},           // shorter: in proportion
		{30 * time.Second, time.Minute, 40 * time.Second, 20 * time.Second},             // large values do not overflow
		{4 * time.Minute, 5 * time.Minute, 40 * time.Second, 32 * time.Second},          //
		{time.Second, 2 * time.Second, 1500 * time.Millisecond, 750 * time.Millisecond}, //
	} {
		if got := leaseFor(tc.configured, tc.requested, tc.negotiated); got != tc.want {
			t.Errorf("leaseFor(%s, %s, %s) = %s, want %s", tc.configured, tc.requested, tc.negotiated, got, tc.want)
		}
	}
	if renewEvery(5*time.Second) != 1250*time.Millisecond {
		t.Error("renewEvery")
	}
}
