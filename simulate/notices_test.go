package simulate_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// event is an EventBridge event as the notice queue delivers it.
type event struct {
	Version    string            `json:"version"`
	ID         string            `json:"id"`
	DetailType string            `json:"detail-type"`
	Source     string            `json:"source"`
	Account    string            `json:"account"`
	Time       string            `json:"time"`
	Region     string            `json:"region"`
	Resources  []string          `json:"resources"`
	Detail     map[string]string `json:"detail"`
}

func decodeEvent(t *testing.T, body string) event {
	t.Helper()
	var e event
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return e
}

// receiveAll receives every visible message, hiding each for visibility.
func (c *cluster) receiveAll(visibility time.Duration) []simulate.NoticeMessage {
	var out []simulate.NoticeMessage
	for {
		msgs, _ := c.w.ReceiveNotices(10, visibility)
		if len(msgs) == 0 {
			return out
		}
		out = append(out, msgs...)
		if visibility == 0 {
			return out
		}
	}
}

// drain receives and deletes every visible message.
func (c *cluster) drain() []simulate.NoticeMessage {
	msgs := c.receiveAll(time.Hour)
	for _, m := range msgs {
		mustOK(c.t, c.w.DeleteNotice(m.ReceiptHandle))
	}
	return msgs
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSpotInterruptionNotices(t *testing.T) {
	c := newCluster(t, spotScenario)
	start := c.clock.Now()
	var region, account string
	c.view(func(v *simulate.View) { region, account = v.Region(), v.AccountID() })
	victim, err := c.w.SpotInterruption("", "spot")
	mustOK(t, err)

	msgs := c.receiveAll(time.Hour)
	if len(msgs) != 1 {
		t.Fatalf("%d messages after the notice, want the warning alone", len(msgs))
	}
	warning := decodeEvent(t, msgs[0].Body)
	want := event{
		Version: "0", ID: warning.ID, DetailType: "EC2 Spot Instance Interruption Warning", Source: "aws.ec2",
		Account: account, Time: start.UTC().Format(time.RFC3339), Region: region,
		Resources: []string{"arn:aws:ec2:" + region + ":" + account + ":instance/" + victim},
		Detail:    map[string]string{"instance-id": victim, "instance-action": "terminate"},
	}
	if !uuidRE.MatchString(warning.ID) || !eventsEqual(warning, want) {
		t.Errorf("warning\n%+v, want\n%+v", warning, want)
	}
	if m := msgs[0]; !uuidRE.MatchString(m.MessageID) || m.ReceiveCount != 1 || !m.SentAt.Equal(start) || !m.FirstReceivedAt.Equal(start) {
		t.Errorf("message %+v: want a uuid id, one receive, sent and first received at %s", m, start)
	}

	// The reclaim two minutes later takes the instance through shutting-down to terminated.
	c.advance(2*time.Minute + 30*time.Second)
	var states []string
	var times []string
	for _, m := range c.receiveAll(time.Hour) {
		e := decodeEvent(t, m.Body)
		if e.DetailType != "EC2 Instance State-change Notification" || e.Detail["instance-id"] != victim || len(e.Detail) != 2 {
			t.Errorf("unexpected event %+v", e)
		}
		states, times = append(states, e.Detail["state"]), append(times, e.Time)
	}
	wantTimes := []string{start.Add(2 * time.Minute).UTC().Format(time.RFC3339), start.Add(2*time.Minute + 30*time.Second).UTC().Format(time.RFC3339)}
	if !slices.Equal(states, []string{"shutting-down", "terminated"}) || !slices.Equal(times, wantTimes) {
		t.Errorf("state changes %v at %v, want shutting-down and terminated at %v", states, times, wantTimes)
	}
}

func eventsEqual(a, b event) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestRebalanceRecommendation(t *testing.T) {
	c := newCluster(t, spotScenario)
	mustOK(t, c.w.InjectFault(simulate.Fault{Kind: simulate.FaultRebalanceRecommendation, Group: "spot"}))
	mustOK(t, c.w.InjectFault(simulate.Fault{Kind: simulate.FaultRebalanceRecommendation, Group: "spot"}))
	wantKind(t, c.w.InjectFault(simulate.Fault{Kind: simulate.FaultRebalanceRecommendation, Group: "spot"}), simulate.KindNotFound, "no running spot instance")
	wantKind(t, c.w.InjectFault(simulate.Fault{Kind: simulate.FaultRebalanceRecommendation, Group: "ondemand"}), simulate.KindNotFound)

	var got []string
	for _, m := range c.drain() {
		e := decodeEvent(t, m.Body)
		if e.DetailType != "EC2 Instance Rebalance Recommendation" || len(e.Detail) != 1 {
			t.Errorf("unexpected event %+v", e)
		}
		got = append(got, e.Detail["instance-id"])
	}
	var spot []string
	for _, m := range c.members("spot") {
		spot = append(spot, m.ID)
		if m.State != simulate.InstanceRunning || m.RebalanceAt.IsZero() || !m.InterruptionAt.IsZero() {
			t.Errorf("instance %s: %s, rebalance at %s, interruption at %s; want running with only the recommendation", m.ID, m.State, m.RebalanceAt, m.InterruptionAt)
		}
	}
	slices.Sort(got)
	slices.Sort(spot)
	if !slices.Equal(got, spot) {
		t.Errorf("recommendations for %v, want one for each spot instance %v", got, spot)
	}
	// A recommendation does not take the instance away: no state change follows.
	c.advance(time.Hour)
	if n := len(c.drain()); n != 0 {
		t.Errorf("%d messages an hour after the recommendations, want none", n)
	}
}

func TestScaleInSendsStateChanges(t *testing.T) {
	c := newCluster(t, spotScenario)
	mustOK(t, c.w.SetDesiredCapacity("ondemand", 1, false))
	c.advance(time.Minute)
	var states []string
	for _, m := range c.receiveAll(time.Hour) {
		states = append(states, decodeEvent(t, m.Body).Detail["state"])
	}
	if !slices.Equal(states, []string{"shutting-down", "terminated"}) {
		t.Errorf("state changes %v, want shutting-down then terminated", states)
	}
}

func TestNoticeVisibilityAndDelete(t *testing.T) {
	c := newCluster(t, spotScenario)
	_, err := c.w.SpotInterruption("", "spot")
	mustOK(t, err)
	first, _ := c.w.ReceiveNotices(10, 30*time.Second)
	if len(first) != 1 {
		t.Fatalf("%d messages, want 1", len(first))
	}
	if s := c.w.NoticeQueueStats(); s.Visible != 0 || s.InFlight != 1 {
		t.Errorf("stats %+v during the visibility timeout, want 0 visible and 1 in flight", s)
	}
	if again, wake := c.w.ReceiveNotices(10, 30*time.Second); len(again) != 0 || wake == nil {
		t.Fatalf("received %d during the visibility timeout (wake %v), want none and a wake channel", len(again), wake)
	}
	c.advance(29 * time.Second)
	if again, _ := c.w.ReceiveNotices(10, 30*time.Second); len(again) != 0 {
		t.Fatalf("received %d a second before the timeout passed", len(again))
	}
	c.advance(time.Second)
	second, _ := c.w.ReceiveNotices(10, 30*time.Second)
	if len(second) != 1 || second[0].ReceiveCount != 2 || second[0].MessageID != first[0].MessageID ||
		second[0].Body != first[0].Body || second[0].ReceiptHandle == first[0].ReceiptHandle ||
		!second[0].FirstReceivedAt.Equal(first[0].FirstReceivedAt) {
		t.Fatalf("redelivery %+v of %+v: want the same message, count 2, a new receipt", second, first)
	}

	// The older receipt deletes nothing, without error; the newest deletes; then both are no-ops.
	mustOK(t, c.w.DeleteNotice(first[0].ReceiptHandle))
	var n int
	c.view(func(v *simulate.View) { n = v.NoticeQueueLen() })
	if n != 1 {
		t.Fatalf("queue holds %d after deleting with a stale receipt, want 1", n)
	}
	mustOK(t, c.w.DeleteNotice(second[0].ReceiptHandle))
	mustOK(t, c.w.DeleteNotice(second[0].ReceiptHandle))
	mustOK(t, c.w.DeleteNotice(first[0].ReceiptHandle))
	c.view(func(v *simulate.View) { n = v.NoticeQueueLen() })
	if n != 0 {
		t.Fatalf("queue holds %d after the delete, want 0", n)
	}
	c.advance(time.Hour)
	for _, m := range c.drain() {
		if m.MessageID == first[0].MessageID {
			t.Errorf("a deleted message came back: %+v", m)
		}
	}

	for _, bad := range []string{"", "garbage", first[0].ReceiptHandle[:len(first[0].ReceiptHandle)-2] + "AA", first[0].ReceiptHandle + "A"} {
		wantKind(t, c.w.DeleteNotice(bad), simulate.KindBadRequest, "ReceiptHandleIsInvalid")
	}
}

func TestNoticeZeroVisibilityAndLimit(t *testing.T) {
	c := newCluster(t, spotScenario)
	for i := range 12 {
		c.w.SendNotice("message "+strconv.Itoa(i), 0)
	}
	msgs, _ := c.w.ReceiveNotices(10, 0)
	if len(msgs) != 10 || msgs[0].Body != "message 0" || msgs[9].Body != "message 9" {
		t.Fatalf("received %d, want the oldest 10", len(msgs))
	}
	// Visibility 0 leaves them visible: the next receive gets them again.
	again, _ := c.w.ReceiveNotices(1, 0)
	if len(again) != 1 || again[0].Body != "message 0" || again[0].ReceiveCount != 2 {
		t.Fatalf("second receive %+v, want message 0 again, received twice", again)
	}
}

func TestNoticeDelayAndRetention(t *testing.T) {
	c := newCluster(t, spotScenario)
	c.w.SendNotice("later", time.Minute)
	if s := c.w.NoticeQueueStats(); s.Delayed != 1 || s.Visible != 0 {
		t.Errorf("stats %+v, want one delayed", s)
	}
	_, wake := c.w.ReceiveNotices(1, 0)
	c.advance(time.Minute)
	select {
	case <-wake:
	default:
		t.Error("the end of the delay did not wake a waiting receive")
	}
	if s := c.w.NoticeQueueStats(); s.Visible != 1 || s.Delayed != 0 {
		t.Errorf("stats %+v, want one visible", s)
	}
	c.advance(simulate.NoticeRetention - time.Minute - time.Second)
	if s := c.w.NoticeQueueStats(); s.Visible != 1 {
		t.Errorf("stats %+v a second before the retention period ends, want the message kept", s)
	}
	c.advance(time.Second)
	if s := c.w.NoticeQueueStats(); s.Visible+s.InFlight+s.Delayed != 0 {
		t.Errorf("stats %+v after the retention period, want the message dropped", s)
	}
}

func TestNoticeWake(t *testing.T) {
	c := newCluster(t, spotScenario)
	msgs, wake := c.w.ReceiveNotices(10, time.Minute)
	if len(msgs) != 0 || wake == nil {
		t.Fatalf("an empty queue returned %d messages and wake %v", len(msgs), wake)
	}
	select {
	case <-wake:
		t.Fatal("woken before anything arrived")
	default:
	}
	mustOK(t, c.w.InjectFault(simulate.Fault{Kind: simulate.FaultSpotInterruption, Group: "spot"}))
	select {
	case <-wake:
	default:
		t.Fatal("a new notice did not wake the waiting receive")
	}
	if msgs, _ = c.w.ReceiveNotices(10, time.Minute); len(msgs) != 1 {
		t.Fatalf("%d messages, want the warning", len(msgs))
	}
	_, wake = c.w.ReceiveNotices(10, time.Minute)
	c.advance(time.Minute)
	select {
	case <-wake:
	default:
		t.Fatal("the end of a visibility timeout did not wake the waiting receive")
	}
}

// The queue's ids come from the scenario's seed, not from the world's random generator, so they
// repeat from run to run and adding the queue did not move any other id.
func TestNoticesReproducible(t *testing.T) {
	run := func() []simulate.NoticeMessage {
		c := newCluster(t, spotScenario)
		_, err := c.w.SpotInterruption("", "spot")
		mustOK(t, err)
		c.advance(10 * time.Minute)
		return c.receiveAll(time.Hour)
	}
	a, b := run(), run()
	if len(a) != 3 || !slices.Equal(a, b) {
		t.Errorf("two runs received\n%+v\n%+v\nwant the same three messages", a, b)
	}
}
