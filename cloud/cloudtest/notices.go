package cloudtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/marmot-project/marmot/cloud"
)

// The names of a NoticeQueue's calls, as NoticeCall.Name and for NoticeQueue.Fail.
const (
	CallReceive = "receive"
	CallDelete  = "delete"
)

// MaxReceive is the most notices one Receive returns, as on SQS.
const MaxReceive = 10

// NoticeCall is one recorded call of a NoticeQueue.
type NoticeCall struct {
	Name    string        // CallReceive or CallDelete
	Wait    time.Duration // Receive
	Visible time.Duration // Receive
	// Notices are what Receive returned, or what Delete was given.
	Notices []cloud.Notice
	Err     error
}

// NoticeQueue is an in-memory cloud.NoticeQueue for unit tests, with SQS's delivery rules: a
// received notice is hidden for the visibility the receive asked for and delivered again (with a
// new receipt and a higher Received) if it is not deleted by then; Delete takes the latest receipt
// only, and an older or unknown receipt is no error (the notice is gone, or comes back). It records
// every call and injects errors. The zero value is not usable; call NewNoticeQueue. It is safe for
// concurrent use.
//
// Time is the test's: Receive never waits, and returns at once what is visible at now() (perhaps
// nothing), so a test moves its clock past the visibility to see a notice again.
type NoticeQueue struct {
	mu       sync.Mutex
	now      func() time.Time
	messages []*queued // not deleted, in push order
	calls    []NoticeCall
	failures map[string][]error
	seq      int
}

type queued struct {
	notice      cloud.Notice // as pushed; Receipt and Received are the delivery's
	receipt     string       // of the latest delivery; "" before the first
	received    int
	hiddenUntil time.Time
}

var _ cloud.NoticeQueue = (*NoticeQueue)(nil)

// NewNoticeQueue returns an empty queue on the clock now; a nil now stands still at
// 2026-01-01T00:00:00Z.
func NewNoticeQueue(now func() time.Time) *NoticeQueue {
	if now == nil {
		t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now = func() time.Time { return t }
	}
	return &NoticeQueue{now: now, failures: map[string][]error{}}
}

// Push adds notices to the queue, visible at once. Their Receipt and Received are the queue's to set
// on each delivery.
func (q *NoticeQueue) Push(notices ...cloud.Notice) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, n := range notices {
		n.Receipt, n.Received = "", 0
		q.messages = append(q.messages, &queued{notice: n})
	}
}

// Fail makes the next len(errs) calls named call (CallReceive or CallDelete) return these errors in
// turn, changing nothing; a nil entry lets that call through.
func (q *NoticeQueue) Fail(call string, errs ...error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.failures[call] = append(q.failures[call], errs...)
}

// Pending returns the notices not deleted yet, visible or not, in push order, each with its latest
// delivery's Receipt and Received (empty and 0 when never received).
func (q *NoticeQueue) Pending() []cloud.Notice {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]cloud.Notice, 0, len(q.messages))
	for _, m := range q.messages {
		out = append(out, m.delivery())
	}
	return out
}

// Calls returns every call so far, in order.
func (q *NoticeQueue) Calls() []NoticeCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.calls)
}

// CallsTo returns the calls named name, in order.
func (q *NoticeQueue) CallsTo(name string) []NoticeCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []NoticeCall
	for _, c := range q.calls {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded calls.
func (q *NoticeQueue) ResetCalls() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls = nil
}

// call records c and runs do unless an injected failure or ctx says otherwise. do runs with the
// lock held.
func (q *NoticeQueue) call(ctx context.Context, c NoticeCall, do func(c *NoticeCall) error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	err := ctx.Err()
	if fs := q.failures[c.Name]; err == nil && len(fs) > 0 {
		err, q.failures[c.Name] = fs[0], fs[1:]
	}
	if err == nil {
		err = do(&c)
	}
	c.Err = err
	q.calls = append(q.calls, c)
	return err
}

// Receive implements cloud.NoticeQueue. It never waits (see NoticeQueue); a negative visible counts
// as 0, which leaves the notices visible at once.
func (q *NoticeQueue) Receive(ctx context.Context, wait, visible time.Duration) ([]cloud.Notice, error) {
	var out []cloud.Notice
	err := q.call(ctx, NoticeCall{Name: CallReceive, Wait: wait, Visible: visible}, func(c *NoticeCall) error {
		now := q.now()
		for _, m := range q.messages {
			if len(out) == MaxReceive {
				break
			}
			if now.Before(m.hiddenUntil) {
				continue
			}
			q.seq++
			m.receipt = fmt.Sprintf("receipt-%d", q.seq)
			m.received++
			m.hiddenUntil = now.Add(max(visible, 0))
			out = append(out, m.delivery())
		}
		c.Notices = slices.Clone(out)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete implements cloud.NoticeQueue. A notice without a receipt is refused with cloud.ErrInvalid
// (the others are deleted all the same), as on AWS.
func (q *NoticeQueue) Delete(ctx context.Context, notices []cloud.Notice) error {
	return q.call(ctx, NoticeCall{Name: CallDelete, Notices: slices.Clone(notices)}, func(*NoticeCall) error {
		noReceipt := 0
		for _, n := range notices {
			if n.Receipt == "" {
				noReceipt++
				continue
			}
			q.messages = slices.DeleteFunc(q.messages, func(m *queued) bool { return m.receipt == n.Receipt })
		}
		if noReceipt > 0 {
			return &cloud.Error{Kind: cloud.ErrInvalid, Op: "DeleteMessageBatch", Message: fmt.Sprintf("%d of %d notices have no receipt", noReceipt, len(notices))}
		}
		return nil
	})
}

// delivery is the notice as its latest delivery has it.
func (m *queued) delivery() cloud.Notice {
	n := m.notice
	n.Receipt, n.Received = m.receipt, m.received
	return n
}
