package awscloud

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cloud"
)

// AWS's own example events (testdata/eventbridge, SOURCES.md says where each comes from).

func eventFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "eventbridge", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withTime fills in the documentation's time placeholder, as a real event has it.
func withTime(event, t string) string {
	return strings.Replace(event, `"yyyy-mm-ddThh:mm:ssZ"`, `"`+t+`"`, 1)
}

func TestAWSExampleEvents(t *testing.T) {
	emitted := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	spot := cloud.Notice{
		Kind: cloud.NoticeSpotInterruption, ID: "12345678-1234-1234-1234-123456789012", InstanceID: "i-1234567890abcdef0",
		Time: emitted, Deadline: emitted.Add(2 * time.Minute), Action: "action",
	}
	tests := []struct {
		name, file string
		edit       func(string) string // turns the published example into a real event; nil keeps it
		want       cloud.Notice
	}{
		{"spot interruption (current guide, zone ARN)", "spot-interruption.awsdoc.json",
			func(s string) string { return withTime(s, "2026-03-01T12:00:00Z") }, spot},
		{"spot interruption (earlier guide)", "spot-interruption.awsdoc-github.json",
			func(s string) string { return withTime(s, "2026-03-01T12:00:00Z") }, spot},
		{"rebalance recommendation", "rebalance-recommendation.awsdoc.json",
			func(s string) string { return withTime(s, "2026-03-01T12:00:00Z") },
			cloud.Notice{Kind: cloud.NoticeRebalance, ID: "12345678-1234-1234-1234-123456789012", InstanceID: "i-1234567890abcdef0", Time: emitted}},
		{"state change, as published", "state-change.awsdoc.json", nil,
			cloud.Notice{Kind: cloud.NoticeStateChange, ID: "7bf73129-1428-4cd3-a780-95db273d1602", InstanceID: "i-abcd1111",
				Time: time.Date(2021, 11, 11, 21, 29, 54, 0, time.UTC), State: cloud.StatePending}},
		// The spot and rebalance examples as published have a placeholder for a time: unreadable,
		// and the Problem says why.
		{"spot interruption, as published", "spot-interruption.awsdoc.json", nil, cloud.Notice{
			Kind:    cloud.NoticeUnreadable,
			Problem: `EC2 Spot Instance Interruption Warning: "time" "yyyy-mm-ddThh:mm:ssZ" is not an RFC 3339 time such as "2021-11-11T21:29:54Z"`,
		}},
		{"rebalance recommendation, as published", "rebalance-recommendation.awsdoc.json", nil, cloud.Notice{
			Kind:    cloud.NoticeUnreadable,
			Problem: `EC2 Instance Rebalance Recommendation: "time" "yyyy-mm-ddThh:mm:ssZ" is not an RFC 3339 time such as "2021-11-11T21:29:54Z"`,
		}},
		{"SNS notification, as published", "sns-notification.awsdoc.json", nil, cloud.Notice{
			Kind:    cloud.NoticeUnreadable,
			Problem: `the SNS notification's Message: not JSON (invalid character 'H' looking for beginning of value)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := eventFixture(t, tt.file)
			if tt.edit != nil {
				body = tt.edit(body)
			}
			if got := noticeOf(body); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("noticeOf\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSpotInterruptionFallsBackToTheResourceARN(t *testing.T) {
	// Both ARN forms: the current guide's arn:aws:ec2:us-east-2a:instance/… and the regular one.
	for _, file := range []string{"spot-interruption.awsdoc.json", "spot-interruption.awsdoc-github.json"} {
		body := withTime(eventFixture(t, file), "2026-03-01T12:00:00Z")
		body = strings.Replace(body, `"instance-id": "i-1234567890abcdef0",`, "", 1)
		n := noticeOf(body)
		if n.Kind != cloud.NoticeSpotInterruption || n.InstanceID != "i-1234567890abcdef0" || n.Action != "action" {
			t.Errorf("%s without detail.instance-id: %+v", file, n)
		}
	}
}

// snsWrapped wraps an event as SNS delivers it to an SQS subscriber without raw message delivery:
// the published SNS example with the event as its Message.
func snsWrapped(t testing.TB, event string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(eventFixture(t, "sns-notification.awsdoc.json")), &m); err != nil {
		t.Fatal(err)
	}
	m["Message"] = event
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSNSWrappedEventsAreUnwrapped(t *testing.T) {
	event := eventFixture(t, "state-change.awsdoc.json")
	direct, wrapped := noticeOf(event), noticeOf(snsWrapped(t, event))
	if wrapped.Kind != cloud.NoticeStateChange || !reflect.DeepEqual(direct, wrapped) {
		t.Errorf("wrapped %+v, want what the event says directly: %+v", wrapped, direct)
	}
	bad := noticeOf(snsWrapped(t, strings.Replace(event, `"aws.ec2"`, `"aws.ec3"`, 1)))
	if bad.Kind != cloud.NoticeUnreadable || !strings.HasPrefix(bad.Problem, "in an SNS notification: ") {
		t.Errorf("a bad event in SNS: %+v, want unreadable and said to be inside SNS", bad)
	}
}

func TestUnreadableMessagesSayWhy(t *testing.T) {
	state := eventFixture(t, "state-change.awsdoc.json")
	spot := withTime(eventFixture(t, "spot-interruption.awsdoc.json"), "2026-03-01T12:00:00Z")
	replace := func(s, old, new string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("%q is not in the example", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	tests := []struct {
		name, body, problem string
	}{
		{"empty body", "", "message body: empty"},
		{"blank body", " \n", "message body: empty"},
		{"not JSON", "Hello world!", "message body: not JSON (invalid character 'H' looking for beginning of value)"},
		{"truncated", state[:40], "message body: not JSON (unexpected end of JSON input)"},
		{"a list", `[1, 2]`, "message body: a JSON array, not an object"},
		{"a string", `"EC2 Spot Instance Interruption Warning"`, "message body: a JSON string, not an object"},
		{"null", `null`, "message body: a JSON null, not an object"},
		{"no source", replace(state, `"source":"aws.ec2",`, ""), `no "source"`},
		{"source not a string", replace(state, `"source":"aws.ec2"`, `"source":["aws.ec2"]`), `"source" is ["aws.ec2"], not a string`},
		{"another service", replace(state, `"source":"aws.ec2"`, `"source":"aws.health"`),
			`an event from "aws.health" ("EC2 Instance State-change Notification"), not from aws.ec2`},
		{"no detail-type", replace(state, `"detail-type":"EC2 Instance State-change Notification",`, ""), `no "detail-type"`},
		{"empty detail-type", replace(state, `"detail-type":"EC2 Instance State-change Notification"`, `"detail-type":""`), `"detail-type" is empty`},
		{"no id", replace(state, `"id":"7bf73129-1428-4cd3-a780-95db273d1602",`, ""), `EC2 Instance State-change Notification: no "id"`},
		{"no time", replace(state, `"time":"2021-11-11T21:29:54Z",`, ""), `EC2 Instance State-change Notification: no "time"`},
		{"time as a number", replace(state, `"time":"2021-11-11T21:29:54Z"`, `"time":1636666194`),
			`EC2 Instance State-change Notification: "time" is 1636666194, not a string`},
		{"time without a zone", replace(state, `"2021-11-11T21:29:54Z"`, `"2021-11-11T21:29:54"`),
			`EC2 Instance State-change Notification: "time" "2021-11-11T21:29:54" is not an RFC 3339 time such as "2021-11-11T21:29:54Z"`},
		{"no detail", replace(spot, `"detail": {`, `"detail2": {`), `EC2 Spot Instance Interruption Warning: no "detail"`},
		{"detail not an object", replace(state, `"detail":{`, `"detail":"x","d":{`),
			`EC2 Instance State-change Notification: "detail" is "x", not an object`},
		{"no instance id anywhere", replace(replace(state, `"instance-id":"i-abcd1111",`, ""), `"arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"`, `"arn:aws:ec2:us-east-1:123456789012:volume/vol-1"`),
			`EC2 Instance State-change Notification: no detail.instance-id, and no instance ARN in "resources" ["arn:aws:ec2:us-east-1:123456789012:volume/vol-1"]`},
		{"no instance id nor resources", replace(replace(state, `"instance-id":"i-abcd1111",`, ""), `"resources"`, `"resource"`),
			`EC2 Instance State-change Notification: no detail.instance-id, and no "resources"`},
		{"resources not a list", replace(replace(spot, `"instance-id": "i-1234567890abcdef0",`, ""), `["arn:aws:ec2:us-east-2a:instance/i-1234567890abcdef0"]`, `"[instance arn]"`),
			`EC2 Spot Instance Interruption Warning: no detail.instance-id, and "resources" is "[instance arn]", not a list of ARNs`},
		{"instance id a placeholder", replace(spot, `"instance-id": "i-1234567890abcdef0"`, `"instance-id": "[instance-id]"`),
			`EC2 Spot Instance Interruption Warning: detail.instance-id "[instance-id]" is not an instance id (i- and 8 or 17 hex digits)`},
		{"instance id not a string", replace(spot, `"instance-id": "i-1234567890abcdef0"`, `"instance-id": 7`),
			`EC2 Spot Instance Interruption Warning: detail: "instance-id" is 7, not a string`},
		{"state change without a state", replace(state, `,
      "state":"pending"`, ""), `EC2 Instance State-change Notification: detail: no "state"`},
		{"SNS of another type", `{"Type":"SubscriptionConfirmation","Message":"You have chosen to subscribe"}`,
			`an SNS message of "Type" "SubscriptionConfirmation", not "Notification"`},
		{"SNS without a message", `{"Type":"Notification","MessageId":"1"}`, `an SNS notification without a string "Message"`},
		{"SNS message empty", `{"Type":"Notification","Message":""}`, `the SNS notification's Message: empty`},
		{"SNS in SNS", snsWrapped(t, snsWrapped(t, state)), `in an SNS notification: no "source"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := noticeOf(tt.body)
			if n.Kind != cloud.NoticeUnreadable || n.Problem != tt.problem {
				t.Errorf("noticeOf = %+v\nwant unreadable: %s", n, tt.problem)
			}
			if n.ID != "" || n.InstanceID != "" || !n.Time.IsZero() {
				t.Errorf("an unreadable notice carries %+v", n)
			}
		})
	}
}

func TestOtherEC2EventsAreNamed(t *testing.T) {
	event := strings.Replace(eventFixture(t, "state-change.awsdoc.json"), "EC2 Instance State-change Notification",
		"EC2 Capacity Reservation Instance Interruption Warning", 1)
	n := noticeOf(event)
	want := cloud.Notice{
		Kind: cloud.NoticeOther, ID: "7bf73129-1428-4cd3-a780-95db273d1602", InstanceID: "i-abcd1111",
		Time: time.Date(2021, 11, 11, 21, 29, 54, 0, time.UTC), Problem: `detail-type "EC2 Capacity Reservation Instance Interruption Warning"`,
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("noticeOf\n got %+v\nwant %+v", n, want)
	}
	// Another kind need not name an instance, nor carry a time Marmot can read.
	n = noticeOf(`{"id":"e1","source":"aws.ec2","detail-type":"EC2 Fast Launch State-change Notification","detail":{}}`)
	if n.Kind != cloud.NoticeOther || n.ID != "e1" || n.InstanceID != "" {
		t.Errorf("an event without instance: %+v", n)
	}
}

func TestSpotInterruptionActions(t *testing.T) {
	for _, action := range []string{"terminate", "stop", "hibernate"} {
		body := strings.Replace(withTime(eventFixture(t, "spot-interruption.awsdoc.json"), "2026-03-01T12:00:00+01:00"), `"action"`, `"`+action+`"`, 1)
		n := noticeOf(body)
		at := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
		reclaim := at.Add(cloud.SpotNotice)
		if action == "hibernate" {
			reclaim = at // hibernation starts with the warning
		}
		if n.Kind != cloud.NoticeSpotInterruption || n.Action != action || !n.Time.Equal(at) || n.Time.Location() != time.UTC ||
			!n.Deadline.Equal(reclaim) {
			t.Errorf("%s: %+v", action, n)
		}
	}
	// Without an action it is still a warning: every action takes the agent away.
	body := strings.Replace(withTime(eventFixture(t, "spot-interruption.awsdoc.json"), "2026-03-01T12:00:00Z"), `,
        "instance-action": "action"`, "", 1)
	if n := noticeOf(body); n.Kind != cloud.NoticeSpotInterruption || n.Action != "" {
		t.Errorf("without instance-action: %+v", n)
	}
}

func TestProblemsStayShort(t *testing.T) {
	long := strings.Repeat("x", 10000)
	for _, body := range []string{
		`{"source":"` + long + `","detail-type":"a"}`,
		`{"source":"aws.ec2","detail-type":"` + long + `"}`,
		`{"source":"aws.ec2","detail-type":"` + detailStateChange + `","id":"1","time":"` + long + `"}`,
		`{"source":"aws.ec2","detail-type":"` + detailStateChange + `","id":"1","time":"2021-11-11T21:29:54Z","detail":{"instance-id":"` + long + `"}}`,
	} {
		if n := noticeOf(body); len(n.Problem) > 300 {
			t.Errorf("problem of %d bytes: %.100s…", len(n.Problem), n.Problem)
		}
	}
}

func FuzzEventBridge(f *testing.F) {
	for _, name := range []string{"spot-interruption.awsdoc.json", "spot-interruption.awsdoc-github.json",
		"rebalance-recommendation.awsdoc.json", "state-change.awsdoc.json", "sns-notification.awsdoc.json"} {
		event := eventFixture(f, name)
		f.Add(event)
		f.Add(withTime(event, "2026-03-01T12:00:00Z"))
		f.Add(snsWrapped(f, withTime(event, "2026-03-01T12:00:00Z")))
	}
	f.Add(`{"Type":"Notification","Message":"{}"}`)
	f.Add(`{"source":"aws.ec2","detail-type":"x","id":"1"}`)
	f.Fuzz(func(t *testing.T, body string) {
		n := noticeOf(body)
		if !slices.Contains(cloud.NoticeKinds(), n.Kind) {
			t.Fatalf("kind %q is not a notice kind", n.Kind)
		}
		if n.Receipt != "" || n.Received != 0 {
			t.Fatalf("the parser set the delivery's fields: %+v", n)
		}
		switch n.Kind {
		case cloud.NoticeUnreadable:
			if n.Problem == "" || n.ID != "" {
				t.Fatalf("unreadable without a problem, or with an id: %+v", n)
			}
		case cloud.NoticeOther:
			if n.Problem == "" || n.ID == "" {
				t.Fatalf("other without its detail-type or id: %+v", n)
			}
		default:
			if !isInstanceID(n.InstanceID) || n.ID == "" || n.Time.IsZero() || n.Problem != "" {
				t.Fatalf("readable notice without instance, id or time: %+v", n)
			}
			if (n.Kind == cloud.NoticeSpotInterruption) != !n.Deadline.IsZero() {
				t.Fatalf("deadline %v on a %s", n.Deadline, n.Kind)
			}
			if n.Kind == cloud.NoticeSpotInterruption && !n.Deadline.Equal(n.Time.Add(cloud.SpotNotice)) {
				t.Fatalf("deadline %v, time %v", n.Deadline, n.Time)
			}
			if (n.Kind == cloud.NoticeStateChange) != (n.State != "") {
				t.Fatalf("state %q on a %s", n.State, n.Kind)
			}
		}
	})
}
