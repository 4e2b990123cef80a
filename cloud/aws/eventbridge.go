package awscloud

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/marmot-project/marmot/cloud"
)

// The notice queue's messages are EventBridge events (testdata/eventbridge holds AWS's own examples,
// with their sources). An event is a JSON object whose "source" says which service emitted it,
// "detail-type" what kind of event it is, "id" which event (the same on every delivery), "time" when
// it was emitted, "resources" the ARNs it concerns, and "detail" the kind's own members.

// The EventBridge detail-types Marmot reads, from source aws.ec2.
const (
	detailSpotInterruption = "EC2 Spot Instance Interruption Warning"
	detailRebalance        = "EC2 Instance Rebalance Recommendation"
	detailStateChange      = "EC2 Instance State-change Notification"
	sourceEC2              = "aws.ec2"
)

var noticeKinds = map[string]cloud.NoticeKind{
	detailSpotInterruption: cloud.NoticeSpotInterruption,
	detailRebalance:        cloud.NoticeRebalance,
	detailStateChange:      cloud.NoticeStateChange,
}

// noticeOf reads one SQS message body as an EventBridge event. It never fails: a body that is not an
// event Marmot can read is a NoticeUnreadable whose Problem says what is wrong, and an aws.ec2 event
// of another detail-type is a NoticeOther naming it. Receipt and Received are the caller's to set.
//
// A body that SNS wrapped (an EventBridge rule whose target is an SNS topic that the queue
// subscribes to, without raw message delivery) is a JSON object with "Type":"Notification" and the
// event as the string "Message"; it is unwrapped once.
func noticeOf(body string) cloud.Notice {
	m, problem := object(body)
	if problem != "" {
		return unreadable("message body: " + problem)
	}
	if sns, ok := m["Type"]; ok {
		if _, isEvent := m["detail-type"]; !isEvent {
			return unwrapSNS(m, sns)
		}
	}
	return eventNotice(m)
}

// unwrapSNS reads the event inside an SNS notification.
func unwrapSNS(m map[string]json.RawMessage, typ json.RawMessage) cloud.Notice {
	var t string
	if json.Unmarshal(typ, &t) != nil || t != "Notification" {
		return unreadable(fmt.Sprintf(`an SNS message of "Type" %s, not "Notification"`, jsonValue(typ)))
	}
	var msg string
	if raw, ok := m["Message"]; !ok || json.Unmarshal(raw, &msg) != nil {
		return unreadable(`an SNS notification without a string "Message"`)
	}
	inner, problem := object(msg)
	if problem != "" {
		return unreadable("the SNS notification's Message: " + problem)
	}
	n := eventNotice(inner)
	if n.Kind == cloud.NoticeUnreadable {
		n.Problem = "in an SNS notification: " + n.Problem
	}
	return n
}

// eventNotice reads an EventBridge event.
func eventNotice(m map[string]json.RawMessage) cloud.Notice {
	source, problem := stringMember(m, "source")
	if problem != "" {
		return unreadable(problem)
	}
	detailType, problem := stringMember(m, "detail-type")
	if problem != "" {
		return unreadable(problem)
	}
	if source != sourceEC2 {
		return unreadable(fmt.Sprintf("an event from %s (%s), not from %s", clip(source), clip(detailType), sourceEC2))
	}
	// Problems from here on name the event, so that a log line says which one.
	name := detailType
	if len(name) > 80 {
		name = name[:80] + "…"
	}
	fail := func(problem string) cloud.Notice { return unreadable(name + ": " + problem) }
	id, problem := stringMember(m, "id")
	if problem != "" {
		return fail(problem)
	}
	kind, known := noticeKinds[detailType]
	if !known {
		// Not Marmot's to act on, but a well-formed event: keep what it says, for the log.
		n := cloud.Notice{Kind: cloud.NoticeOther, ID: id, Problem: "detail-type " + clip(detailType)}
		n.Time, _ = eventTime(m)
		detail, _ := detailOf(m)
		n.InstanceID, _ = instanceID(detail, m)
		return n
	}
	n := cloud.Notice{Kind: kind, ID: id}
	if n.Time, problem = eventTime(m); problem != "" {
		return fail(problem)
	}
	detail, problem := detailOf(m)
	if problem != "" {
		return fail(problem)
	}
	if n.InstanceID, problem = instanceID(detail, m); problem != "" {
		return fail(problem)
	}
	switch kind {
	case cloud.NoticeSpotInterruption:
		// The action only says how the agent goes away; every one takes it away, so an event
		// without one is still a warning to act on.
		n.Action, _ = stringMember(detail, "instance-action")
		n.Deadline = n.Time.Add(cloud.SpotNotice)
		if n.Action == "hibernate" {
			n.Deadline = n.Time // EC2 starts hibernating at once: the warning comes with no time to spare
		}
	case cloud.NoticeStateChange:
		state, problem := stringMember(detail, "state")
		if problem != "" {
			return fail("detail: " + problem)
		}
		n.State = cloud.InstanceState(state)
	}
	return n
}

func unreadable(problem string) cloud.Notice {
	return cloud.Notice{Kind: cloud.NoticeUnreadable, Problem: problem}
}

// object decodes a JSON object into its members, or says why it cannot.
func object(s string) (map[string]json.RawMessage, string) {
	if strings.TrimSpace(s) == "" {
		return nil, "empty"
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		if typeErr := (*json.UnmarshalTypeError)(nil); errors.As(err, &typeErr) {
			return nil, "a JSON " + typeErr.Value + ", not an object"
		}
		return nil, "not JSON (" + err.Error() + ")"
	}
	if m == nil {
		return nil, "a JSON null, not an object"
	}
	return m, ""
}

// stringMember reads a member that must be a non-empty string.
func stringMember(m map[string]json.RawMessage, name string) (string, string) {
	raw, ok := m[name]
	if !ok {
		return "", fmt.Sprintf("no %q", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Sprintf("%q is %s, not a string", name, jsonValue(raw))
	}
	if s == "" {
		return "", fmt.Sprintf("%q is empty", name)
	}
	return s, ""
}

// eventTime reads "time", which EventBridge writes in RFC 3339 ("2021-11-11T21:29:54Z").
func eventTime(m map[string]json.RawMessage) (time.Time, string) {
	s, problem := stringMember(m, "time")
	if problem != "" {
		return time.Time{}, problem
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Sprintf(`"time" %s is not an RFC 3339 time such as "2021-11-11T21:29:54Z"`, clip(s))
	}
	return t.UTC(), ""
}

// detailOf reads "detail", which must be an object.
func detailOf(m map[string]json.RawMessage) (map[string]json.RawMessage, string) {
	raw, ok := m["detail"]
	if !ok {
		return nil, `no "detail"`
	}
	var d map[string]json.RawMessage
	if json.Unmarshal(raw, &d) != nil || d == nil {
		return nil, fmt.Sprintf(`"detail" is %s, not an object`, jsonValue(raw))
	}
	return d, ""
}

// instanceID reads detail.instance-id or, when the detail has none, the instance ARN in
// "resources". Spot interruption warnings name the instance arn:aws:ec2:<zone>:instance/<id>,
// with a zone where other ARNs have a region and no account, so the ARN is read from its
// "instance/" part only.
func instanceID(detail, m map[string]json.RawMessage) (string, string) {
	if _, ok := detail["instance-id"]; ok {
		id, problem := stringMember(detail, "instance-id")
		if problem != "" {
			return "", "detail: " + problem
		}
		if !isInstanceID(id) {
			return "", fmt.Sprintf("detail.instance-id %s is not an instance id (i- and 8 or 17 hex digits)", clip(id))
		}
		return id, ""
	}
	var resources []string
	if raw, ok := m["resources"]; ok && json.Unmarshal(raw, &resources) != nil {
		return "", fmt.Sprintf(`no detail.instance-id, and "resources" is %s, not a list of ARNs`, jsonValue(raw))
	}
	for _, arn := range resources {
		if !strings.HasPrefix(arn, "arn:") {
			continue
		}
		_, id, found := strings.Cut(arn, ":instance/")
		if found && isInstanceID(id) {
			return id, ""
		}
	}
	if raw, ok := m["resources"]; ok {
		return "", fmt.Sprintf(`no detail.instance-id, and no instance ARN in "resources" %s`, jsonValue(raw))
	}
	return "", `no detail.instance-id, and no "resources"`
}

// isInstanceID tells EC2 instance ids: "i-" and 8 hex digits (before 2016) or 17.
func isInstanceID(s string) bool {
	hex, ok := strings.CutPrefix(s, "i-")
	if !ok || len(hex) != 8 && len(hex) != 17 {
		return false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// jsonValue shows a JSON value for a Problem, compacted and cut short.
func jsonValue(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return clip(string(raw))
	}
	const most = 80
	if b.Len() > most {
		return string(b.Bytes()[:most]) + "…"
	}
	return b.String()
}

// clip quotes a value for a Problem, cut short so that a huge message does not make a huge log line.
func clip(s string) string {
	const most = 80
	if len(s) > most {
		return fmt.Sprintf("%q…", s[:most])
	}
	return fmt.Sprintf("%q", s)
}
