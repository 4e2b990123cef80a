package cloudtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cloud"
)

// NoticeHarness is what NoticeContract needs to drive a cloud.NoticeQueue.
type NoticeHarness struct {
	Queue cloud.NoticeQueue
	// Interrupt makes the cloud warn that a spot instance is about to be reclaimed, and returns the
	// instance and when the warning was emitted.
	Interrupt func(t *testing.T) (instanceID string, at time.Time)
	// Advance moves the cloud's time on by d.
	Advance func(d time.Duration)
	// Wait is the wait each Receive asks for; a face whose time is virtual wants 0.
	Wait time.Duration
}

// NoticeContract checks the behaviour of cloud.NoticeQueue that the autoscaler relies on: a spot
// interruption warning arrives with its deadline, stays hidden while it is being acted on, comes
// back when it is not deleted, and goes for good when it is; deleting what is gone is no error.
// Notices about other instances are left alone (received, not deleted).
func NoticeContract(t *testing.T, h NoticeHarness) {
	t.Helper()
	ctx := context.Background()
	const visible = 30 * time.Second
	q := h.Queue
	id, at := h.Interrupt(t)

	// find receives until the warning for id shows up, or reports its absence.
	find := func(what string) (cloud.Notice, bool) {
		t.Helper()
		notices, err := q.Receive(ctx, h.Wait, visible)
		if err != nil {
			t.Fatalf("%s: Receive: %v", what, err)
		}
		for _, n := range notices {
			if n.InstanceID == id && n.Kind == cloud.NoticeSpotInterruption {
				return n, true
			}
		}
		return cloud.Notice{}, false
	}

	first, ok := find("first receive")
	if !ok {
		t.Fatalf("no spot interruption notice for %s", id)
	}
	if !first.Time.Equal(at) || !first.Deadline.Equal(at.Add(cloud.SpotNotice)) || first.ID == "" || first.Receipt == "" || first.Received != 1 {
		t.Errorf("notice = %+v; want time %v, deadline two minutes later, an id, a receipt, received once", first, at)
	}
	if _, ok := find("while hidden"); ok {
		t.Errorf("the notice came back within its visibility timeout")
	}

	h.Advance(visible + time.Second)
	again, ok := find("after the visibility timeout")
	if !ok {
		t.Fatalf("a notice not deleted did not come back after its visibility timeout")
	}
	if again.ID != first.ID || again.Receipt == first.Receipt || again.Received != 2 {
		t.Errorf("again = %+v; want the same event id %s, a new receipt, received twice", again, first.ID)
	}

	// The first delivery's receipt is stale now: no error, whatever it does.
	if err := q.Delete(ctx, []cloud.Notice{first}); err != nil {
		t.Errorf("Delete with a stale receipt: %v, want nil", err)
	}
	if err := q.Delete(ctx, []cloud.Notice{again}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	h.Advance(visible + time.Second)
	if n, ok := find("after the delete"); ok {
		t.Errorf("deleted notice came back: %+v", n)
	}
	if err := q.Delete(ctx, []cloud.Notice{again}); err != nil {
		t.Errorf("Delete of a deleted notice: %v, want nil", err)
	}
	if err := q.Delete(ctx, []cloud.Notice{{Kind: cloud.NoticeSpotInterruption, InstanceID: id}}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("Delete without a receipt: %v, want ErrInvalid", err)
	}
	if err := q.Delete(ctx, nil); err != nil {
		t.Errorf("Delete(nil): %v", err)
	}
}
