package simulate

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"
)

// The notice queue: the one SQS queue into which an EventBridge rule forwards what EC2 says about the
// account's instances, the way Karpenter's interruption queue is set up (anchors-autoscalers.md §3.1):
// spot interruption warnings, rebalance recommendations, and state-change notifications for the
// states that take an instance away (stopping, stopped, shutting-down, terminated). The bodies are the
// EventBridge events exactly as EventBridge delivers them to SQS; the queue keeps SQS's delivery rules
// (visibility timeout, receive count, a fresh receipt handle per delivery, retention) in model time.

// NoticeQueueName is the name of the world's notice queue, as GetQueueUrl knows it.
const NoticeQueueName = "marmot-notices"

// Queue settings, SQS's defaults for a standard queue.
const (
	// NoticeRetention is how long a message stays in the queue when nobody deletes it
	// (MessageRetentionPeriod, default 345,600 s).
	NoticeRetention = 4 * 24 * time.Hour
	// NoticeVisibilityTimeout is the queue's visibility timeout, used when a receive names none.
	NoticeVisibilityTimeout = 30 * time.Second
	// NoticeMaxVisibility is the longest visibility timeout SQS accepts (43,200 s).
	NoticeMaxVisibility = 12 * time.Hour
	// NoticeMaxReceive is the most messages one receive returns.
	NoticeMaxReceive = 10
)

// EventBridge detail-types of the events EC2 sends to the queue.
const (
	DetailSpotInterruption = "EC2 Spot Instance Interruption Warning"
	DetailRebalance        = "EC2 Instance Rebalance Recommendation"
	DetailStateChange      = "EC2 Instance State-change Notification"
)

// NoticeMessage is one delivery of a queue message, a copy safe to keep.
type NoticeMessage struct {
	MessageID string
	// ReceiptHandle names this delivery; only the newest one of a message deletes it.
	ReceiptHandle string
	Body          string
	// SentAt is when the message entered the queue (SentTimestamp).
	SentAt time.Time
	// FirstReceivedAt is when the message was first delivered (ApproximateFirstReceiveTimestamp).
	FirstReceivedAt time.Time
	// ReceiveCount counts the deliveries, this one included (ApproximateReceiveCount).
	ReceiveCount int
}

// NoticeQueueStats is what GetQueueAttributes reports of the queue's contents.
type NoticeQueueStats struct {
	// Visible counts the messages a receive would return now (ApproximateNumberOfMessages).
	Visible int
	// InFlight counts the messages received and hidden by their visibility timeout
	// (ApproximateNumberOfMessagesNotVisible).
	InFlight int
	// Delayed counts the messages sent with a delay that has not passed
	// (ApproximateNumberOfMessagesDelayed).
	Delayed int
	// Created is when the queue was created: the scenario's start.
	Created time.Time
}

// noticeEvent is what EC2 said, kept small: the body is only rendered when somebody receives it, so
// that a month-long replay that nobody reads pays for a few fields per termination, not for JSON.
type noticeEvent struct {
	detailType string
	instanceID string
	state      InstanceState
}

type noticeMessage struct {
	seq      uint64
	sent     time.Time
	event    noticeEvent
	body     string // rendered on first receive, or the body a test sent
	rendered bool
	// visibleAt is when the message can be received: its send time (or delay), then the end of
	// each delivery's visibility timeout.
	visibleAt    time.Time
	receives     uint32
	delayed      bool // not yet received, and sent with a delay that has not passed
	firstReceive time.Time
}

// noticeQueue holds the messages in the order they arrived. Retention drops from the front, so the
// slice never holds more than four days of events.
type noticeQueue struct {
	msgs    []*noticeMessage
	seq     uint64
	secret  [16]byte // keys receipt handles, so that one the queue never issued is recognised
	idSeed  string
	created time.Time
	// wake is closed when a message arrives or one becomes visible again; nil while nobody waits.
	wake chan struct{}
}

func (q *noticeQueue) init(seed int64, created time.Time) {
	q.idSeed = strconv.FormatInt(seed, 10)
	sum := sha256.Sum256([]byte("marmot-receipt/" + q.idSeed))
	copy(q.secret[:], sum[:])
	q.created = created
}

// notify wakes everyone waiting for a message.
func (q *noticeQueue) notify() {
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

func (q *noticeQueue) waiter() <-chan struct{} {
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
	return q.wake
}

// expire drops what is older than the retention period, as SQS deletes it whatever its state.
func (q *noticeQueue) expire(now time.Time) {
	n := 0
	for n < len(q.msgs) && !q.msgs[n].sent.Add(NoticeRetention).After(now) {
		q.msgs[n] = nil
		n++
	}
	if n > 0 {
		q.msgs = q.msgs[n:]
	}
}

func (q *noticeQueue) add(m *noticeMessage, now time.Time) {
	q.expire(now)
	q.seq++
	m.seq = q.seq
	m.sent = now
	if m.visibleAt.IsZero() {
		m.visibleAt = now
	}
	q.msgs = append(q.msgs, m)
	if !m.visibleAt.After(now) {
		q.notify()
	}
}

// find returns the message with seq, if it is still in the queue.
func (q *noticeQueue) find(seq uint64) (int, *noticeMessage) {
	lo, hi := 0, len(q.msgs)
	for lo < hi {
		mid := (lo + hi) / 2
		if q.msgs[mid].seq < seq {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(q.msgs) && q.msgs[lo].seq == seq {
		return lo, q.msgs[lo]
	}
	return -1, nil
}

// emitNotice puts an EC2 event about inst in the queue, at the current model time.
func (w *World) emitNotice(detailType string, inst *Instance, state InstanceState) {
	w.notices.add(&noticeMessage{event: noticeEvent{detailType: detailType, instanceID: inst.ID, state: state}}, w.now)
}

// emitStateChange sends the state-change notification for the states EventBridge forwards to an
// interruption queue: the ones that take the instance away.
func (w *World) emitStateChange(inst *Instance) {
	switch inst.State {
	case InstanceShuttingDown, InstanceTerminated, InstanceStopping, InstanceStopped:
		w.emitNotice(DetailStateChange, inst, inst.State)
	}
}

// eventBridgeEvent is an EventBridge event as it reaches an SQS target; the field order is AWS's.
type eventBridgeEvent struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     any      `json:"detail"`
}

type spotInterruptionDetail struct {
	InstanceID     string `json:"instance-id"`
	InstanceAction string `json:"instance-action"`
}

type rebalanceDetail struct {
	InstanceID string `json:"instance-id"`
}

type stateChangeDetail struct {
	InstanceID string `json:"instance-id"`
	State      string `json:"state"`
}

func (w *World) renderNotice(m *noticeMessage) {
	if m.rendered {
		return
	}
	m.rendered = true
	e := m.event
	var detail any
	switch e.detailType {
	case DetailSpotInterruption:
		detail = spotInterruptionDetail{InstanceID: e.instanceID, InstanceAction: "terminate"}
	case DetailRebalance:
		detail = rebalanceDetail{InstanceID: e.instanceID}
	default:
		detail = stateChangeDetail{InstanceID: e.instanceID, State: string(e.state)}
	}
	body, _ := json.Marshal(eventBridgeEvent{
		Version:    "0",
		ID:         derivedUUID("marmot-event/" + w.notices.idSeed + "/" + strconv.FormatUint(m.seq, 10)),
		DetailType: e.detailType,
		Source:     "aws.ec2",
		Account:    w.accountID,
		Time:       m.sent.UTC().Format("2006-01-02T15:04:05Z"),
		Region:     w.region,
		Resources:  []string{"arn:aws:ec2:" + w.region + ":" + w.accountID + ":instance/" + e.instanceID},
		Detail:     detail,
	})
	m.body = string(body)
}

// derivedUUID makes a version-4-shaped UUID from a name, so that ids are reproducible without drawing
// on the world's random generator (whose sequence every other id depends on).
func derivedUUID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return uuidString([16]byte(sum[:16]))
}

func (w *World) messageID(m *noticeMessage) string {
	return derivedUUID("marmot-sqs-message/" + w.notices.idSeed + "/" + strconv.FormatUint(m.seq, 10))
}

// A receipt handle carries the message's sequence number and the delivery it belongs to, with a tag
// that proves the queue issued it: a handle that does not decode and verify is ReceiptHandleIsInvalid,
// while one that does can be answered even after its message is gone (deleted, or expired), which SQS
// does not treat as an error.
const receiptLen = 8 + 4 + 12

func (q *noticeQueue) receipt(seq uint64, delivery uint32) string {
	var b [receiptLen]byte
	binary.BigEndian.PutUint64(b[0:8], seq)
	binary.BigEndian.PutUint32(b[8:12], delivery)
	tag := q.tag(b[:12])
	copy(b[12:], tag[:12])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (q *noticeQueue) tag(b []byte) [32]byte {
	h := sha256.New()
	h.Write(q.secret[:])
	h.Write(b)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (q *noticeQueue) parseReceipt(handle string) (seq uint64, delivery uint32, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(handle)
	if err != nil || len(b) != receiptLen {
		return 0, 0, false
	}
	tag := q.tag(b[:12])
	for i := 0; i < 12; i++ {
		if tag[i] != b[12+i] {
			return 0, 0, false
		}
	}
	return binary.BigEndian.Uint64(b[0:8]), binary.BigEndian.Uint32(b[8:12]), true
}

// ReceiveNotices receives up to n (1–10) visible messages, oldest first, and hides each from other
// receives for visibility (model time; 0 leaves them visible). When none is visible it returns the
// channel that is closed as soon as one may be: a message arrives, or a hidden one's timeout passes
// (noticed when the model catches up with its clock). Long polling is the caller's loop around it.
func (w *World) ReceiveNotices(n int, visibility time.Duration) ([]NoticeMessage, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	q := &w.notices
	q.expire(w.now)
	n = min(max(n, 1), NoticeMaxReceive)
	var out []NoticeMessage
	for _, m := range q.msgs {
		if len(out) == n {
			break
		}
		if m.visibleAt.After(w.now) {
			continue
		}
		w.renderNotice(m)
		m.receives++
		m.delayed = false
		if m.receives == 1 {
			m.firstReceive = w.now
		}
		if visibility > 0 {
			m.visibleAt = w.now.Add(visibility)
			// Wake long polls when the message comes back, not only when a new one arrives.
			w.at(m.visibleAt, q.notify)
		}
		out = append(out, NoticeMessage{
			MessageID:       w.messageID(m),
			ReceiptHandle:   q.receipt(m.seq, m.receives),
			Body:            m.body,
			SentAt:          m.sent,
			FirstReceivedAt: m.firstReceive,
			ReceiveCount:    int(m.receives),
		})
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, q.waiter()
}

// DeleteNotice deletes the message that receipt was issued for, if receipt is its newest delivery. A
// receipt of an older delivery, or of a message that is gone already, deletes nothing and is no error
// (SQS: "the request succeeds, but the message will not be deleted"). A receipt the queue never
// issued is a KindBadRequest error with Code ReceiptHandleIsInvalid.
func (w *World) DeleteNotice(receipt string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	q := &w.notices
	seq, delivery, ok := q.parseReceipt(receipt)
	if !ok {
		return errorf(KindBadRequest, "ReceiptHandleIsInvalid", "The input receipt handle %q is not a valid receipt handle.", receipt)
	}
	q.expire(w.now)
	i, m := q.find(seq)
	if m == nil || m.receives != delivery {
		return nil
	}
	copy(q.msgs[i:], q.msgs[i+1:])
	q.msgs[len(q.msgs)-1] = nil
	q.msgs = q.msgs[:len(q.msgs)-1]
	return nil
}

// SendNotice puts a message with body into the queue, visible after delay: what a producer other
// than EC2 could send to the queue, for tests of messages Marmot cannot read. It returns the message
// id.
func (w *World) SendNotice(body string, delay time.Duration) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	m := &noticeMessage{body: body, rendered: true}
	if delay > 0 {
		m.visibleAt, m.delayed = w.now.Add(delay), true
		w.at(m.visibleAt, w.notices.notify)
	}
	w.notices.add(m, w.now)
	return w.messageID(m)
}

// NoticeQueueStats counts the queue's messages by state, after dropping expired ones.
func (w *World) NoticeQueueStats() NoticeQueueStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	w.notices.expire(w.now)
	return w.notices.stats(w.now)
}

func (q *noticeQueue) stats(now time.Time) NoticeQueueStats {
	s := NoticeQueueStats{Created: q.created}
	for _, m := range q.msgs {
		switch {
		case !m.visibleAt.After(now):
			s.Visible++
		case m.delayed:
			s.Delayed++
		default:
			s.InFlight++
		}
	}
	return s
}

// NoticeQueueLen counts the messages in the notice queue, visible or not (expired ones may still be
// counted until the next call that drops them).
func (v *View) NoticeQueueLen() int { return len(v.w.notices.msgs) }
