package awsapi_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/awsapi"
)

// withSpot makes the small scenario's group a spot group, so that its three instances can be
// interrupted.
func withSpot(sc *simulate.Scenario) { sc.Pools[0].Groups[0].Spot = true }

// receive calls ReceiveMessage on the notice queue with every system attribute.
func (e *env) receive(n int32, visibility int32, wait int32) []sqstypes.Message {
	e.t.Helper()
	out, err := e.sqs.ReceiveMessage(ctx(e.t), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(e.queueURL), MaxNumberOfMessages: n, VisibilityTimeout: visibility, WaitTimeSeconds: wait,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Messages
}

func (e *env) queueAttributes() map[string]string {
	e.t.Helper()
	out, err := e.sqs.GetQueueAttributes(ctx(e.t), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(e.queueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Attributes
}

func (e *env) interrupt() string {
	e.t.Helper()
	id, err := e.world.SpotInterruption("", group)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func TestSQSGetQueueURL(t *testing.T) {
	e := newEnv(t)
	out, err := e.sqs.GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String(simulate.NoticeQueueName)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.QueueUrl); got != e.queueURL || !strings.HasPrefix(got, e.server.URL+"/123456789012/") {
		t.Errorf("queue URL %q, want %q", got, e.queueURL)
	}
	_, err = e.sqs.GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String("other")})
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) || missing.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("unknown queue: %v, want *types.QueueDoesNotExist with the Query code", err)
	}
	_, err = e.sqs.GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String(simulate.NoticeQueueName), QueueOwnerAWSAccountId: aws.String("210987654321")})
	if !errors.As(err, &missing) {
		t.Errorf("another account's queue: %v, want *types.QueueDoesNotExist", err)
	}
}

func TestSQSReceiveSpotInterruption(t *testing.T) {
	e := newEnv(t, withSpot)
	start := e.clock.Now()
	if msgs := e.receive(10, 30, 0); len(msgs) != 0 {
		t.Fatalf("%d messages before anything happened", len(msgs))
	}
	e.inject(simulate.Fault{Kind: simulate.FaultSpotInterruption, Group: group})
	msgs := e.receive(10, 30, 0)
	if len(msgs) != 1 {
		t.Fatalf("%d messages after the interruption, want the warning", len(msgs))
	}
	m := msgs[0]
	var ev struct {
		DetailType string            `json:"detail-type"`
		Source     string            `json:"source"`
		Time       time.Time         `json:"time"`
		Detail     map[string]string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
		t.Fatal(err)
	}
	victim := ev.Detail["instance-id"]
	if ev.DetailType != "EC2 Spot Instance Interruption Warning" || ev.Source != "aws.ec2" || !ev.Time.Equal(start) ||
		ev.Detail["instance-action"] != "terminate" || e.instance(victim).InstanceLifecycle != "spot" {
		t.Errorf("event %+v, want the warning for a spot instance at %s", ev, start)
	}
	sum := md5.Sum([]byte(aws.ToString(m.Body)))
	if aws.ToString(m.MD5OfBody) != hex.EncodeToString(sum[:]) || aws.ToString(m.MessageId) == "" || aws.ToString(m.ReceiptHandle) == "" {
		t.Errorf("message %+v: want the body's md5, an id and a receipt", m)
	}
	ms := strconv.FormatInt(start.UnixMilli(), 10)
	want := map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": ms, "ApproximateFirstReceiveTimestamp": ms, "SenderId": m.Attributes["SenderId"]}
	if m.Attributes["SenderId"] == "" || !mapsEqual(m.Attributes, want) {
		t.Errorf("attributes %v, want %v", m.Attributes, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// The long poll is answered as soon as a message arrives, not when WaitTimeSeconds runs out. The
// bounds are loose on purpose: the test proves that the answer did not wait for the full 20 s.
func TestSQSLongPollWakesOnNewNotice(t *testing.T) {
	e := newEnv(t, withSpot)
	type result struct {
		msgs []sqstypes.Message
		took time.Duration
	}
	done := make(chan result, 1)
	began := time.Now()
	go func() {
		out, err := e.sqs.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.queueURL), WaitTimeSeconds: 20})
		if err != nil {
			t.Error(err)
		}
		done <- result{out.Messages, time.Since(began)}
	}()
	// Wait until the request reached the handler, so that the notice arrives during the poll.
	for e.requests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	e.interrupt()
	r := <-done
	if len(r.msgs) != 1 || r.took > 15*time.Second {
		t.Errorf("the poll returned %d messages after %s, want the warning well before the 20 s wait ends", len(r.msgs), r.took)
	}

	// With nothing to receive the poll lasts its wait and answers empty.
	began = time.Now()
	if msgs := e.receive(10, 30, 1); len(msgs) != 0 || time.Since(began) < time.Second {
		t.Errorf("an empty poll returned %d messages after %s, want none after 1 s", len(msgs), time.Since(began))
	}
}

// A long poll also wakes when a received message's visibility timeout runs out (model time) and the
// model catches up with its clock.
func TestSQSLongPollWakesOnRedelivery(t *testing.T) {
	e := newEnv(t, withSpot)
	e.interrupt()
	first := e.receive(1, 60, 0)
	done := make(chan []sqstypes.Message, 1)
	go func() {
		out, err := e.sqs.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.queueURL), WaitTimeSeconds: 20})
		if err != nil {
			t.Error(err)
		}
		done <- out.Messages
	}()
	for e.requests.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	e.advance(time.Minute)
	if again := <-done; len(again) != 1 || aws.ToString(again[0].MessageId) != aws.ToString(first[0].MessageId) {
		t.Errorf("the poll returned %+v, want the message back", again)
	}
}

func TestSQSVisibilityRedeliveryAndDelete(t *testing.T) {
	e := newEnv(t, withSpot)
	e.interrupt()
	first := e.receive(10, 30, 0)
	if len(first) != 1 {
		t.Fatalf("%d messages, want 1", len(first))
	}
	if a := e.queueAttributes(); a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "1" {
		t.Errorf("attributes %v during the visibility timeout, want 0 visible and 1 not visible", a)
	}
	if msgs := e.receive(10, 30, 0); len(msgs) != 0 {
		t.Fatalf("received %d during the visibility timeout", len(msgs))
	}
	e.advance(30 * time.Second)
	second := e.receive(10, 30, 0)
	if len(second) != 1 || aws.ToString(second[0].MessageId) != aws.ToString(first[0].MessageId) ||
		second[0].Attributes["ApproximateReceiveCount"] != "2" || aws.ToString(second[0].ReceiptHandle) == aws.ToString(first[0].ReceiptHandle) ||
		second[0].Attributes["ApproximateFirstReceiveTimestamp"] != first[0].Attributes["ApproximateFirstReceiveTimestamp"] {
		t.Fatalf("redelivery %+v of %+v: want the same message, received twice, with a new receipt", second, first)
	}

	del := func(m sqstypes.Message) error {
		_, err := e.sqs.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(e.queueURL), ReceiptHandle: m.ReceiptHandle})
		return err
	}
	// The first receipt is stale: SQS accepts it and deletes nothing.
	if err := del(first[0]); err != nil {
		t.Fatal(err)
	}
	if a := e.queueAttributes(); a["ApproximateNumberOfMessagesNotVisible"] != "1" {
		t.Errorf("a stale receipt deleted the message: %v", a)
	}
	if err := del(second[0]); err != nil {
		t.Fatal(err)
	}
	if a := e.queueAttributes(); a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("attributes %v after the delete, want an empty queue", a)
	}
	// Deleting again is not an error.
	if err := del(second[0]); err != nil {
		t.Errorf("deleting a deleted message: %v", err)
	}
	_, err := e.sqs.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(e.queueURL), ReceiptHandle: aws.String("not-a-receipt")})
	var invalid *sqstypes.ReceiptHandleIsInvalid
	if !errors.As(err, &invalid) {
		t.Errorf("a made-up receipt: %v, want *types.ReceiptHandleIsInvalid", err)
	}
}

func TestSQSDeleteMessageBatch(t *testing.T) {
	e := newEnv(t, withSpot)
	e.interrupt()
	e.interrupt()
	msgs := e.receive(10, 30, 0)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2 warnings", len(msgs))
	}
	entry := func(id string, receipt *string) sqstypes.DeleteMessageBatchRequestEntry {
		return sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(id), ReceiptHandle: receipt}
	}
	out, err := e.sqs.DeleteMessageBatch(ctx(t), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(e.queueURL), Entries: []sqstypes.DeleteMessageBatchRequestEntry{
		entry("a", msgs[0].ReceiptHandle), entry("b", msgs[1].ReceiptHandle), entry("c", aws.String("garbage")),
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ok []string
	for _, s := range out.Successful {
		ok = append(ok, aws.ToString(s.Id))
	}
	if !slices.Equal(ok, []string{"a", "b"}) || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "c" ||
		aws.ToString(out.Failed[0].Code) != "ReceiptHandleIsInvalid" || !out.Failed[0].SenderFault {
		t.Errorf("successful %v, failed %+v; want a and b deleted and c failed as ReceiptHandleIsInvalid", ok, out.Failed)
	}
	if a := e.queueAttributes(); a["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("attributes %v after the batch delete, want an empty queue", a)
	}

	r := msgs[0].ReceiptHandle
	eleven := make([]sqstypes.DeleteMessageBatchRequestEntry, 11)
	for i := range eleven {
		eleven[i] = entry("e"+strconv.Itoa(i), r)
	}
	for _, tc := range []struct {
		name    string
		entries []sqstypes.DeleteMessageBatchRequestEntry
		want    error
	}{
		{"empty", []sqstypes.DeleteMessageBatchRequestEntry{}, &sqstypes.EmptyBatchRequest{}},
		{"eleven", eleven, &sqstypes.TooManyEntriesInBatchRequest{}},
		{"repeated id", []sqstypes.DeleteMessageBatchRequestEntry{entry("x", r), entry("x", r)}, &sqstypes.BatchEntryIdsNotDistinct{}},
		{"bad id", []sqstypes.DeleteMessageBatchRequestEntry{entry("no spaces", r)}, &sqstypes.InvalidBatchEntryId{}},
	} {
		_, err := e.sqs.DeleteMessageBatch(ctx(t), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(e.queueURL), Entries: tc.entries})
		if !errorsAsType(err, tc.want) {
			t.Errorf("%s: %v, want %T", tc.name, err, tc.want)
		}
	}
}

// errorsAsType tells whether err wraps an error of want's type.
func errorsAsType(err, want error) bool {
	switch want.(type) {
	case *sqstypes.EmptyBatchRequest:
		var x *sqstypes.EmptyBatchRequest
		return errors.As(err, &x)
	case *sqstypes.TooManyEntriesInBatchRequest:
		var x *sqstypes.TooManyEntriesInBatchRequest
		return errors.As(err, &x)
	case *sqstypes.BatchEntryIdsNotDistinct:
		var x *sqstypes.BatchEntryIdsNotDistinct
		return errors.As(err, &x)
	case *sqstypes.InvalidBatchEntryId:
		var x *sqstypes.InvalidBatchEntryId
		return errors.As(err, &x)
	}
	return false
}

func TestSQSParameterErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		in   sqs.ReceiveMessageInput
		code string
	}{
		{"eleven messages", sqs.ReceiveMessageInput{MaxNumberOfMessages: 11}, "InvalidParameterValue"},
		{"wait 21 s", sqs.ReceiveMessageInput{WaitTimeSeconds: 21}, "InvalidParameterValue"},
		{"visibility over 12 h", sqs.ReceiveMessageInput{VisibilityTimeout: 43201}, "InvalidParameterValue"},
		{"another queue", sqs.ReceiveMessageInput{QueueUrl: aws.String(e.server.URL + "/123456789012/other")}, "AWS.SimpleQueueService.NonExistentQueue"},
		{"another account", sqs.ReceiveMessageInput{QueueUrl: aws.String(e.server.URL + "/210987654321/" + simulate.NoticeQueueName)}, "AWS.SimpleQueueService.NonExistentQueue"},
	} {
		in := tc.in
		if in.QueueUrl == nil {
			in.QueueUrl = aws.String(e.queueURL)
		}
		_, err := e.sqs.ReceiveMessage(ctx(t), &in)
		wantAPIError(t, err, tc.code, "")
	}
	_, err := e.sqs.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.queueURL), AttributeNames: []sqstypes.QueueAttributeName{"Colour"}})
	var badName *sqstypes.InvalidAttributeName
	if !errors.As(err, &badName) {
		t.Errorf("unknown attribute: %v, want *types.InvalidAttributeName", err)
	}
	// A URL naming the queue through another host is the same queue: SQS routes by the path.
	other := strings.Replace(e.queueURL, "127.0.0.1", "localhost", 1)
	if _, err := e.sqs.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(other)}); err != nil {
		t.Errorf("the queue through localhost: %v", err)
	}
}

func TestSQSQueueAttributes(t *testing.T) {
	e := newEnv(t, withSpot)
	e.interrupt()
	e.interrupt()
	e.receive(1, 30, 0)
	a := e.queueAttributes()
	for k, v := range map[string]string{
		"QueueArn":                              "arn:aws:sqs:us-east-1:123456789012:marmot-notices",
		"ApproximateNumberOfMessages":           "1",
		"ApproximateNumberOfMessagesNotVisible": "1",
		"MessageRetentionPeriod":                "345600",
		"VisibilityTimeout":                     "30",
	} {
		if a[k] != v {
			t.Errorf("%s = %q, want %q", k, a[k], v)
		}
	}
	out, err := e.sqs.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.queueURL)})
	if err != nil || len(out.Attributes) != 0 {
		t.Errorf("no names asked: %v, %v; want no attributes", out.Attributes, err)
	}
}

// SendMessage lets a test put in what EC2 would never send: a message the reader cannot parse.
func TestSQSSendMessage(t *testing.T) {
	e := newEnv(t)
	body := `{"not": "an EventBridge event", "ünïcode": "✓"}`
	out, err := e.sqs.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(e.queueURL), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatal(err) // the SDK checks MD5OfMessageBody
	}
	msgs := e.receive(10, 30, 0)
	if len(msgs) != 1 || aws.ToString(msgs[0].Body) != body || aws.ToString(msgs[0].MessageId) != aws.ToString(out.MessageId) {
		t.Fatalf("received %+v, want the message sent", msgs)
	}
	if _, err := e.sqs.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(e.queueURL), ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	_, err = e.sqs.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(e.queueURL), MessageBody: aws.String("bell \a")})
	var contents *sqstypes.InvalidMessageContents
	if !errors.As(err, &contents) {
		t.Errorf("a control character: %v, want *types.InvalidMessageContents", err)
	}
	_, err = e.sqs.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(e.queueURL), MessageBody: aws.String(strings.Repeat("x", 1<<20+1))})
	wantAPIError(t, err, "InvalidParameterValue", "")

	if _, err := e.sqs.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(e.queueURL), MessageBody: aws.String("later"), DelaySeconds: 60}); err != nil {
		t.Fatal(err)
	}
	if a := e.queueAttributes(); a["ApproximateNumberOfMessagesDelayed"] != "1" {
		t.Errorf("attributes %v, want one delayed message", a)
	}
	e.advance(time.Minute)
	if msgs := e.receive(10, 30, 0); len(msgs) != 1 || aws.ToString(msgs[0].Body) != "later" {
		t.Errorf("after the delay received %+v, want the delayed message", msgs)
	}
}

// postSQS sends a raw JSON request as the SDK would and returns the answer.
func (e *env) postSQS(target, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	if target != "" {
		r.Header.Set("X-Amz-Target", target)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, r)
	return rec
}

type sqsErrorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func TestSQSProtocolErrors(t *testing.T) {
	e := newEnv(t)
	url := `"QueueUrl":"` + e.queueURL + `"`
	for _, tc := range []struct {
		name, target, body string
		status             int
		typ, query         string
	}{
		{"unknown queue", "AmazonSQS.GetQueueUrl", `{"QueueName":"nope"}`, 400, "com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue;Sender"},
		{"no QueueName", "AmazonSQS.GetQueueUrl", `{}`, 400, "com.amazon.coral.service#InvalidParameterValueException", "InvalidParameterValue;Sender"},
		{"bad JSON", "AmazonSQS.ReceiveMessage", `{"QueueUrl":`, 400, "com.amazon.coral.service#SerializationException", "MalformedInput;Sender"},
		{"not an object", "AmazonSQS.ReceiveMessage", `[1]`, 400, "com.amazon.coral.service#SerializationException", "MalformedInput;Sender"},
		{"wrong type", "AmazonSQS.ReceiveMessage", `{` + url + `,"MaxNumberOfMessages":"ten"}`, 400, "com.amazon.coral.service#SerializationException", "MalformedInput;Sender"},
		{"trailing data", "AmazonSQS.ReceiveMessage", `{` + url + `} {}`, 400, "com.amazon.coral.service#SerializationException", "MalformedInput;Sender"},
		{"no receipt", "AmazonSQS.DeleteMessage", `{` + url + `}`, 400, "com.amazon.coral.service#MissingRequiredParameterException", "MissingParameter;Sender"},
		{"bad receipt", "AmazonSQS.DeleteMessage", `{` + url + `,"ReceiptHandle":"x"}`, 404, "com.amazonaws.sqs#ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid;Sender"},
		{"unknown operation", "AmazonSQS.Frobnicate", `{}`, 400, "com.amazon.coral.service#UnknownOperationException", "InvalidAction;Sender"},
		{"no target", "", `{}`, 400, "com.amazon.coral.service#UnknownOperationException", "InvalidAction;Sender"},
		{"unsupported operation", "AmazonSQS.CreateQueue", `{"QueueName":"q"}`, 400, "com.amazonaws.sqs#UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation;Sender"},
		{"too large", "AmazonSQS.SendMessage", `{"MessageBody":"` + strings.Repeat("x", 4<<20) + `"}`, 413, "com.amazon.coral.service#RequestEntityTooLargeException", "RequestEntityTooLarge;Sender"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.postSQS(tc.target, tc.body)
			var b sqsErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tc.status || b.Type != tc.typ || rec.Header().Get("x-amzn-query-error") != tc.query {
				t.Errorf("%d %s (%s), want %d %s (%s)", rec.Code, b.Type, rec.Header().Get("x-amzn-query-error"), tc.status, tc.typ, tc.query)
			}
			if rec.Header().Get("Content-Type") != "application/x-amz-json-1.0" || rec.Header().Get("x-amzn-RequestId") == "" {
				t.Errorf("headers %v, want the JSON content type and a request id", rec.Header())
			}
		})
	}
	// An empty success is an empty object.
	rec := e.postSQS("AmazonSQS.ReceiveMessage", `{`+url+`}`)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Errorf("empty receive: %d %s, want 200 {}", rec.Code, rec.Body)
	}
}

func TestNoticeQueueURL(t *testing.T) {
	if got := awsapi.NoticeQueueURL("http://127.0.0.1:4566/", "123456789012"); got != "http://127.0.0.1:4566/123456789012/marmot-notices" {
		t.Errorf("NoticeQueueURL = %q", got)
	}
}

// FuzzSQSRequest throws arbitrary operations and JSON bodies at the SQS face, with two warnings in
// the queue: whatever the input, the answer is a JSON object, an error has its __type and
// x-amzn-query-error, and errors are 4xx (no fault is injected, so a 5xx would be our bug).
func FuzzSQSRequest(f *testing.F) {
	const queue = `"QueueUrl":"http://example.com/123456789012/marmot-notices"`
	for _, seed := range []struct{ op, body string }{
		{"ReceiveMessage", `{` + queue + `,"MaxNumberOfMessages":10,"VisibilityTimeout":30,"WaitTimeSeconds":20,"MessageSystemAttributeNames":["All"]}`},
		{"ReceiveMessage", `{` + queue + `,"AttributeNames":["SentTimestamp","ApproximateReceiveCount","QueueArn"],"MaxNumberOfMessages":0}`},
		{"DeleteMessage", `{` + queue + `,"ReceiptHandle":"AAAAAAAAAAEAAAABAAAAAAAAAAAAAAAA"}`},
		{"DeleteMessageBatch", `{` + queue + `,"Entries":[{"Id":"a","ReceiptHandle":"x"},{"Id":"b"}]}`},
		{"DeleteMessageBatch", `{` + queue + `,"Entries":[]}`},
		{"GetQueueUrl", `{"QueueName":"marmot-notices","QueueOwnerAWSAccountId":"123456789012"}`},
		{"GetQueueAttributes", `{` + queue + `,"AttributeNames":["All","Nope"]}`},
		{"SendMessage", `{` + queue + `,"MessageBody":"\u0000","DelaySeconds":901}`},
		{"SendMessage", `{` + queue + `,"MessageBody":"x","MessageAttributes":{"a":{"DataType":"String","StringValue":"b"}}}`},
		{"CreateQueue", `{"QueueName":"x"}`},
		{"ReceiveMessage", `{"QueueUrl":null,"MaxNumberOfMessages":1e9}`},
		{"ReceiveMessage", `null`},
		{"ReceiveMessage", ``},
		{"", `{}`},
	} {
		f.Add(seed.op, seed.body)
	}
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		f.Fatal(err)
	}
	withSpot(sc)
	f.Fuzz(func(t *testing.T, op, body string) {
		w, err := simulate.New(sc, simulate.NewVirtualClock(sc.StartTime()), simulate.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := w.SpotInterruption("", ""); err != nil {
				t.Fatal(err)
			}
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		r.Header.Set("X-Amz-Target", "AmazonSQS."+op)
		// A client that is already gone: long polls end at once instead of holding the fuzzer.
		c, cancel := context.WithCancel(r.Context())
		cancel()
		rec := httptest.NewRecorder()
		awsapi.New(w).ServeHTTP(rec, r.WithContext(c))

		var answer map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%d answer %q is not a JSON object: %v", rec.Code, rec.Body, err)
		}
		switch {
		case rec.Code == http.StatusOK:
			if _, isErr := answer["__type"]; isErr {
				t.Errorf("200 with an error body %s", rec.Body)
			}
		case rec.Code >= 400 && rec.Code < 500:
			if typ, _ := answer["__type"].(string); typ == "" || !strings.Contains(rec.Header().Get("x-amzn-query-error"), ";Sender") {
				t.Errorf("%d without __type or query error: %s %v", rec.Code, rec.Body, rec.Header())
			}
		default:
			t.Errorf("status %d for %s %q:\n%s", rec.Code, op, body, rec.Body)
		}
	})
}
