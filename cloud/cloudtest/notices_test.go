package cloudtest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cloud"
	"github.com/marmot-project/marmot/cloud/cloudtest"
)

func newQueue() (*cloudtest.NoticeQueue, *time.Time) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return cloudtest.NewNoticeQueue(func() time.Time { return now }), &now
}

func spotNotice(id string, at time.Time) cloud.Notice {
	return cloud.Notice{Kind: cloud.NoticeSpotInterruption, ID: "event-" + id, InstanceID: id, Time: at, Deadline: at.Add(cloud.SpotNotice), Action: "terminate"}
}

func TestFakeNoticeQueueKeepsTheContract(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	q := cloudtest.NewNoticeQueue(clock)
	q.Push(cloud.Notice{Kind: cloud.NoticeRebalance, ID: "other", InstanceID: "i-00000000000000001", Time: now})
	cloudtest.NoticeContract(t, cloudtest.NoticeHarness{
		Queue: q,
		Interrupt: func(*testing.T) (string, time.Time) {
			at := clock()
			q.Push(spotNotice("i-0123456789abcdef0", at))
			return "i-0123456789abcdef0", at
		},
		Advance: func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) },
	})
	// The other instance's notice was received and never deleted: still there.
	if p := q.Pending(); len(p) != 1 || p[0].ID != "other" || p[0].Received == 0 {
		t.Errorf("pending = %+v", p)
	}
}

func TestFakeNoticeQueueDeliversTenAtATime(t *testing.T) {
	q, now := newQueue()
	for i := range 25 {
		q.Push(spotNotice(fmt.Sprintf("i-%017x", i), *now))
	}
	var sizes []int
	for range 4 {
		got, err := q.Receive(ctx, 20*time.Second, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(got))
	}
	if fmt.Sprint(sizes) != "[10 10 5 0]" {
		t.Errorf("receive sizes %v, want 10 10 5 then none while all are hidden", sizes)
	}
	calls := q.CallsTo(cloudtest.CallReceive)
	if len(calls) != 4 || calls[0].Wait != 20*time.Second || calls[0].Visible != time.Minute || len(calls[0].Notices) != 10 {
		t.Errorf("recorded %+v", calls)
	}
	// Pushed Receipt and Received are the queue's to set.
	q.Push(cloud.Notice{Kind: cloud.NoticeOther, ID: "x", Receipt: "mine", Received: 7})
	got, _ := q.Receive(ctx, 0, time.Minute)
	if len(got) != 1 || got[0].Receipt == "mine" || got[0].Received != 1 {
		t.Errorf("got %+v", got)
	}
}

func TestFakeNoticeQueueInjectsErrors(t *testing.T) {
	q, now := newQueue()
	q.Push(spotNotice("i-0123456789abcdef0", *now))
	throttled := &cloud.Error{Kind: cloud.ErrThrottled, Op: "ReceiveMessage", Code: "RequestThrottled"}
	q.Fail(cloudtest.CallReceive, throttled, nil)
	q.Fail(cloudtest.CallDelete, &cloud.Error{Kind: cloud.ErrUnavailable, Op: "DeleteMessageBatch"})
	if got, err := q.Receive(ctx, 0, time.Minute); !errors.Is(err, cloud.ErrThrottled) || got != nil {
		t.Fatalf("first receive: %v, %v", got, err)
	}
	got, err := q.Receive(ctx, 0, time.Minute)
	if err != nil || len(got) != 1 || got[0].Received != 1 {
		t.Fatalf("second receive: %+v, %v; the failed one must not count as a delivery", got, err)
	}
	if err := q.Delete(ctx, got); !errors.Is(err, cloud.ErrUnavailable) || len(q.Pending()) != 1 {
		t.Fatalf("failed delete: %v, %d pending", err, len(q.Pending()))
	}
	if err := q.Delete(ctx, got); err != nil || len(q.Pending()) != 0 {
		t.Fatalf("delete: %v, %d pending", err, len(q.Pending()))
	}
	calls := q.Calls()
	if len(calls) != 4 || calls[0].Err != throttled || calls[2].Err == nil || calls[3].Err != nil || len(calls[3].Notices) != 1 {
		t.Errorf("calls = %+v", calls)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.Receive(cancelled, 0, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	q.ResetCalls()
	if len(q.Calls()) != 0 {
		t.Error("ResetCalls kept calls")
	}
}

func TestFakeNoticeQueueIsSafeForConcurrentUse(t *testing.T) {
	q, now := newQueue()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				q.Push(spotNotice(fmt.Sprintf("i-%08x%09x", w, i), *now))
				got, err := q.Receive(ctx, 0, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if err := q.Delete(ctx, got); err != nil {
					t.Error(err)
					return
				}
				_ = q.Pending()
			}
		})
	}
	wg.Wait()
	if p := q.Pending(); len(p) != 0 {
		t.Errorf("%d notices left, want every one received and deleted", len(p))
	}
}
