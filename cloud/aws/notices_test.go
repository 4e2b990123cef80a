package awscloud

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/marmot-project/marmot/cloud"
)

// A canned SQS: an httptest server that answers awsJson1_0 calls (POST /, X-Amz-Target
// "AmazonSQS.<Op>", a JSON body) with what a test chooses, and records what the real SDK sent.

const queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/marmot-notices"

type sqsRequest struct {
	target, contentType, queryMode string
	body                           map[string]any
}

type sqsReply struct {
	status int
	body   string
	// queryError is SQS's x-amzn-query-error header, "<query code>;Sender".
	queryError string
}

type cannedSQS struct {
	mu     sync.Mutex
	answer func(op string, body map[string]any) sqsReply
	sent   []sqsRequest
	server *httptest.Server
}

func newCannedSQS(t *testing.T, answer func(op string, body map[string]any) sqsReply) *cannedSQS {
	t.Helper()
	c := &cannedSQS{answer: answer}
	c.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil || r.Method != http.MethodPost || r.URL.Path != "/" {
			http.Error(w, "not an awsJson call", http.StatusBadRequest)
			return
		}
		req := sqsRequest{target: r.Header.Get("X-Amz-Target"), contentType: r.Header.Get("Content-Type"), queryMode: r.Header.Get("X-Amzn-Query-Mode"), body: body}
		c.mu.Lock()
		c.sent = append(c.sent, req)
		c.mu.Unlock()
		rep := c.answer(strings.TrimPrefix(req.target, "AmazonSQS."), body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if rep.queryError != "" {
			w.Header().Set("x-amzn-query-error", rep.queryError)
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(c.server.Close)
	return c
}

// requests returns what was sent for op (e.g. "ReceiveMessage"), in order.
func (c *cannedSQS) requests(op string) []sqsRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []sqsRequest
	for _, r := range c.sent {
		if r.target == "AmazonSQS."+op {
			out = append(out, r)
		}
	}
	return out
}

// queue builds a NoticeQueue the way a daemon does, on a bare config with static credentials;
// without opts, retries are immediate.
func (c *cannedSQS) queue(t *testing.T, opts ...Option) *NoticeQueue {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  c.server.Client(),
	}
	opts = append([]Option{WithEndpoint(c.server.URL), WithRetry(3, 0), WithQueueFlag("--notice-queue-url")}, opts...)
	q, err := NewNoticeQueueFromConfig(cfg, queueURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func okJSON(body string) sqsReply { return sqsReply{status: http.StatusOK, body: body} }

// sqsError is an SQS error answer as the JSON protocol has it: the awsJson __type and message, and
// the query code in x-amzn-query-error.
func sqsError(status int, typ, queryCode, message string) sqsReply {
	return sqsReply{status: status, body: fmt.Sprintf(`{"__type":"com.amazonaws.sqs#%s","message":%q}`, typ, message), queryError: queryCode + ";Sender"}
}

type message struct {
	id, receipt, body string
	received          int
}

// messages renders a ReceiveMessage answer, with each body's MD5 as SQS sends it (the SDK checks it).
func messages(ms ...message) string {
	type msg struct {
		MessageId, ReceiptHandle, MD5OfBody, Body string
		Attributes                                map[string]string `json:",omitempty"`
	}
	var out struct{ Messages []msg }
	for _, m := range ms {
		sum := md5.Sum([]byte(m.body))
		out.Messages = append(out.Messages, msg{MessageId: m.id, ReceiptHandle: m.receipt, MD5OfBody: hex.EncodeToString(sum[:]), Body: m.body,
			Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(m.received)}})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func TestReceiveSendsWhatSQSExpects(t *testing.T) {
	spot := withTime(eventFixture(t, "spot-interruption.awsdoc.json"), "2026-03-01T12:00:00Z")
	c := newCannedSQS(t, func(string, map[string]any) sqsReply {
		return okJSON(messages(message{"m1", "receipt-1", spot, 1}, message{"m2", "receipt-2", "Hello world!", 4}))
	})
	notices, err := c.queue(t).Receive(bg, 20*time.Second, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(notices) != 2 {
		t.Fatalf("notices = %+v", notices)
	}
	if n := notices[0]; n.Kind != cloud.NoticeSpotInterruption || n.InstanceID != "i-1234567890abcdef0" || n.Receipt != "receipt-1" || n.Received != 1 ||
		!n.Deadline.Equal(time.Date(2026, 3, 1, 12, 2, 0, 0, time.UTC)) {
		t.Errorf("spot notice = %+v", n)
	}
	if n := notices[1]; n.Kind != cloud.NoticeUnreadable || n.Receipt != "receipt-2" || n.Received != 4 || n.Problem == "" {
		t.Errorf("unreadable notice = %+v: it must carry its receipt, to be deleted", n)
	}
	sent := c.requests("ReceiveMessage")
	if len(sent) != 1 {
		t.Fatalf("%d requests", len(sent))
	}
	r := sent[0]
	if r.contentType != "application/x-amz-json-1.0" || r.queryMode != "true" {
		t.Errorf("Content-Type %q, X-Amzn-Query-Mode %q", r.contentType, r.queryMode)
	}
	want := map[string]any{
		"QueueUrl": queueURL, "MaxNumberOfMessages": 10.0, "WaitTimeSeconds": 20.0, "VisibilityTimeout": 90.0,
		"MessageSystemAttributeNames": []any{"ApproximateReceiveCount"},
	}
	if !jsonEqual(r.body, want) {
		t.Errorf("ReceiveMessage body %v\nwant %v", r.body, want)
	}
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestReceiveBoundsWaitAndVisibility(t *testing.T) {
	c := newCannedSQS(t, func(string, map[string]any) sqsReply { return okJSON(`{}`) })
	q := c.queue(t)
	tests := []struct {
		wait, visible         time.Duration
		waitSecs, visibleSecs float64
	}{
		{0, 30 * time.Second, 0, 30},
		{-time.Second, -time.Second, 0, 0},
		{1500 * time.Millisecond, 1200 * time.Millisecond, 1, 2}, // wait rounds down, visibility up
		{time.Minute, 13 * time.Hour, 20, 43200},
	}
	for _, tt := range tests {
		notices, err := q.Receive(bg, tt.wait, tt.visible)
		if err != nil || len(notices) != 0 {
			t.Fatalf("empty answer: %v, %v", notices, err)
		}
		sent := c.requests("ReceiveMessage")
		b := sent[len(sent)-1].body
		// The SDK leaves out a zero.
		if w, _ := b["WaitTimeSeconds"].(float64); w != tt.waitSecs {
			t.Errorf("wait %v: WaitTimeSeconds %v, want %v", tt.wait, b["WaitTimeSeconds"], tt.waitSecs)
		}
		if v, _ := b["VisibilityTimeout"].(float64); v != tt.visibleSecs {
			t.Errorf("visible %v: VisibilityTimeout %v, want %v", tt.visible, b["VisibilityTimeout"], tt.visibleSecs)
		}
	}
}

func TestQueueErrorsAreClassifiedAndRetriedAsSQSSays(t *testing.T) {
	throttled := sqsError(400, "RequestThrottled", "RequestThrottled", "Request is throttled.")
	tests := []struct {
		name     string
		replies  []sqsReply // in turn; the last one repeats
		want     error
		code     string
		attempts int
	}{
		{"throttled, then through", []sqsReply{throttled, throttled, okJSON(`{}`)}, nil, "", 3},
		{"throttled for good", []sqsReply{throttled}, cloud.ErrThrottled, "RequestThrottled", 3},
		{"server errors", []sqsReply{{status: 500, body: `{"__type":"com.amazonaws.sqs#InternalError","message":"We encountered an internal error."}`}},
			cloud.ErrUnavailable, "InternalError", 3},
		{"server error without a body", []sqsReply{{status: 503}}, cloud.ErrUnavailable, "UnknownError", 3},
		{"a 500, then through", []sqsReply{{status: 500}, okJSON(`{}`)}, nil, "", 2},
		// With the query header the SDK reports the old code; without it, the awsJson name.
		{"no such queue", []sqsReply{sqsError(400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")},
			cloud.ErrNotFound, "AWS.SimpleQueueService.NonExistentQueue", 1},
		{"no such queue, awsJson only", []sqsReply{{status: 400, body: `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}`}},
			cloud.ErrNotFound, "QueueDoesNotExist", 1},
		{"too many in flight", []sqsReply{sqsError(403, "OverLimit", "OverLimit", "Too many messages in flight")}, cloud.ErrThrottled, "OverLimit", 1},
		{"kms throttled", []sqsReply{sqsError(400, "KmsThrottled", "KMS.ThrottlingException", "Rate exceeded")}, cloud.ErrThrottled, "KMS.ThrottlingException", 1},
		{"bad address", []sqsReply{sqsError(404, "InvalidAddress", "InvalidAddress", "The address https://x is not valid for this endpoint.")}, cloud.ErrInvalid, "InvalidAddress", 1},
		{"access denied", []sqsReply{{status: 400, body: `{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User is not authorized"}`, queryError: "AccessDenied;Sender"}}, nil, "AccessDenied", 1},
		{"kms key disabled", []sqsReply{sqsError(400, "KmsDisabled", "KMS.DisabledException", "disabled")}, nil, "KMS.DisabledException", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			c := newCannedSQS(t, func(string, map[string]any) sqsReply {
				mu.Lock()
				defer mu.Unlock()
				rep := tt.replies[min(n, len(tt.replies)-1)]
				n++
				return rep
			})
			_, err := c.queue(t).Receive(bg, 0, time.Minute)
			if got := len(c.requests("ReceiveMessage")); got != tt.attempts {
				t.Errorf("%d requests, want %d", got, tt.attempts)
			}
			if tt.want == nil && tt.code == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var ce *cloud.Error
			if !errors.As(err, &ce) || ce.Kind != tt.want || ce.Code != tt.code || ce.Message == "" || !strings.HasPrefix(ce.Op, "ReceiveMessage marmot-notices") {
				t.Errorf("err = %#v, want kind %v, code %q, with SQS's message", err, tt.want, tt.code)
			}
		})
	}
}

func TestReceiveCancelStopsRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	c := newCannedSQS(t, func(string, map[string]any) sqsReply {
		cancel() // the caller gives up while SQS throttles
		return sqsError(400, "RequestThrottled", "RequestThrottled", "Request is throttled.")
	})
	_, err := c.queue(t, WithRetry(50, time.Hour)).Receive(ctx, 20*time.Second, time.Minute)
	if !errors.Is(err, context.Canceled) || cloud.Reason(err) != "canceled" {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(c.requests("ReceiveMessage")); n != 1 {
		t.Errorf("%d requests after the cancel, want 1", n)
	}
}

func TestReceiveWithACorruptBodyIsUnavailable(t *testing.T) {
	c := newCannedSQS(t, func(string, map[string]any) sqsReply {
		return okJSON(`{"Messages":[{"MessageId":"m1","ReceiptHandle":"r1","MD5OfBody":"00000000000000000000000000000000","Body":"{}"}]}`)
	})
	if _, err := c.queue(t).Receive(bg, 0, time.Minute); !errors.Is(err, cloud.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable: the SDK refuses a body whose MD5 differs", err)
	}
}

// deleteAnswer answers DeleteMessageBatch: every entry deleted but those whose receipt is in fail,
// which fail with that entry.
func deleteAnswer(fail map[string]map[string]any) func(string, map[string]any) sqsReply {
	return func(_ string, body map[string]any) sqsReply {
		out := map[string][]map[string]any{"Successful": {}, "Failed": {}}
		for _, e := range body["Entries"].([]any) {
			entry := e.(map[string]any)
			id, receipt := entry["Id"].(string), entry["ReceiptHandle"].(string)
			if f, ok := fail[receipt]; ok {
				failure := map[string]any{"Id": id}
				for k, v := range f {
					failure[k] = v
				}
				out["Failed"] = append(out["Failed"], failure)
				continue
			}
			out["Successful"] = append(out["Successful"], map[string]any{"Id": id})
		}
		b, _ := json.Marshal(out)
		return okJSON(string(b))
	}
}

func TestDeleteBatchesByTen(t *testing.T) {
	c := newCannedSQS(t, deleteAnswer(nil))
	var notices []cloud.Notice
	for i := range 23 {
		notices = append(notices, cloud.Notice{Receipt: fmt.Sprintf("r%d", i)})
	}
	notices = append(notices, notices[0]) // the same delivery twice: deleted once
	if err := c.queue(t).Delete(bg, notices); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var receipts []string
	for _, r := range c.requests("DeleteMessageBatch") {
		if r.body["QueueUrl"] != queueURL {
			t.Errorf("QueueUrl %v", r.body["QueueUrl"])
		}
		entries := r.body["Entries"].([]any)
		sizes = append(sizes, len(entries))
		ids := map[string]bool{}
		for _, e := range entries {
			entry := e.(map[string]any)
			ids[entry["Id"].(string)] = true
			receipts = append(receipts, entry["ReceiptHandle"].(string))
		}
		if len(ids) != len(entries) {
			t.Errorf("entry ids not distinct: %v", entries)
		}
	}
	if !slices.Equal(sizes, []int{10, 10, 3}) {
		t.Errorf("batches %v, want 10 10 3", sizes)
	}
	if len(receipts) != 23 || receipts[0] != "r0" || receipts[22] != "r22" {
		t.Errorf("receipts %v", receipts)
	}
	// Nothing to delete: no call.
	if err := c.queue(t).Delete(bg, nil); err != nil || len(c.requests("DeleteMessageBatch")) != 3 {
		t.Errorf("Delete(nil): %v", err)
	}
}

func TestDeleteTreatsGoneNoticesAsDeleted(t *testing.T) {
	c := newCannedSQS(t, deleteAnswer(map[string]map[string]any{
		// The shapes SQS answers with (aws-sdk-java-v2 #3101, boto3 #2898, moto #4765).
		"deleted": {"Code": "ReceiptHandleIsInvalid", "SenderFault": true, "Message": `The receipt handle "deleted" is not valid for this queue.`},
		"expired": {"Code": "InvalidParameterValue", "SenderFault": true, "Message": "Value expired for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."},
	}))
	err := c.queue(t).Delete(bg, []cloud.Notice{{Receipt: "deleted"}, {Receipt: "expired"}, {Receipt: "fine"}})
	if err != nil {
		t.Errorf("err = %v, want nil: a notice gone already is not an error", err)
	}
}

func TestDeleteReportsOtherFailures(t *testing.T) {
	c := newCannedSQS(t, deleteAnswer(map[string]map[string]any{
		"r3":  {"Code": "InternalError", "SenderFault": false, "Message": "We encountered an internal error. Please try again."},
		"r14": {"Code": "ReceiptHandleIsInvalid", "SenderFault": true, "Message": "gone"},
		"r17": {"Code": "InvalidParameterValue", "SenderFault": true, "Message": "Value r17 for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."},
	}))
	var notices []cloud.Notice
	for i := range 20 {
		notices = append(notices, cloud.Notice{Receipt: fmt.Sprintf("r%d", i)})
	}
	err := c.queue(t).Delete(bg, append(notices, cloud.Notice{}))
	var ce *cloud.Error
	if !errors.As(err, &ce) || ce.Kind != cloud.ErrUnavailable || ce.Code != "InternalError" ||
		!strings.Contains(ce.Message, "3 of 21 notices not deleted") || !strings.Contains(ce.Message, "internal error") {
		t.Errorf("err = %#v, want ErrUnavailable counting r3, r17 and the notice without a receipt", err)
	}
	if n := len(c.requests("DeleteMessageBatch")); n != 2 {
		t.Errorf("%d calls, want 2: a refused entry does not stop the other batches", n)
	}
	// Only notices without receipts: nothing sent, ErrInvalid.
	err = c.queue(t).Delete(bg, []cloud.Notice{{Kind: cloud.NoticeRebalance}})
	if !errors.Is(err, cloud.ErrInvalid) || len(c.requests("DeleteMessageBatch")) != 2 {
		t.Errorf("without a receipt: %v", err)
	}
}

func TestDeleteStopsAtAFailedCall(t *testing.T) {
	c := newCannedSQS(t, func(string, map[string]any) sqsReply {
		return sqsError(400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
	})
	var notices []cloud.Notice
	for i := range 15 {
		notices = append(notices, cloud.Notice{Receipt: fmt.Sprint(i)})
	}
	err := c.queue(t).Delete(bg, notices)
	if !errors.Is(err, cloud.ErrNotFound) || len(c.requests("DeleteMessageBatch")) != 1 {
		t.Errorf("err = %v after %d calls, want ErrNotFound after 1", err, len(c.requests("DeleteMessageBatch")))
	}
}

func TestCheck(t *testing.T) {
	const arn = "arn:aws:sqs:us-east-1:123456789012:marmot-notices"
	t.Run("ok", func(t *testing.T) {
		c := newCannedSQS(t, func(string, map[string]any) sqsReply { return okJSON(`{"Attributes":{"QueueArn":"` + arn + `"}}`) })
		got, err := c.queue(t).Check(bg)
		if err != nil || got != arn {
			t.Fatalf("Check = %q, %v", got, err)
		}
		want := map[string]any{"AttributeNames": []any{"QueueArn"}, "QueueUrl": queueURL}
		if r := c.requests("GetQueueAttributes"); len(r) != 1 || !jsonEqual(r[0].body, want) {
			t.Errorf("sent %+v", r)
		}
	})
	tests := []struct {
		name  string
		reply sqsReply
		opts  []Option
		kind  error
		says  string
	}{
		{"no such queue", sqsError(400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."),
			nil, cloud.ErrNotFound, "--notice-queue-url " + queueURL + ": no such queue: GetQueueAttributes marmot-notices: AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist."},
		{"no such queue in this region", sqsError(400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."),
			[]Option{WithRegion("eu-west-1")}, cloud.ErrNotFound, "no such queue (the URL is in us-east-1, but the client asks SQS in eu-west-1)"},
		{"access denied", sqsReply{status: 400, body: `{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/x is not authorized to perform: sqs:getqueueattributes"}`, queryError: "AccessDenied;Sender"},
			nil, nil, "these credentials may not use the queue (Marmot needs sqs:GetQueueAttributes, sqs:ReceiveMessage and sqs:DeleteMessage"},
		{"throttled", sqsError(400, "RequestThrottled", "RequestThrottled", "Request is throttled."), nil, cloud.ErrThrottled, "SQS did not answer; try again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCannedSQS(t, func(string, map[string]any) sqsReply { return tt.reply })
			_, err := c.queue(t, tt.opts...).Check(bg)
			if err == nil || !strings.Contains(err.Error(), tt.says) || !strings.HasPrefix(err.Error(), "--notice-queue-url "+queueURL+": ") {
				t.Errorf("err = %v\nwant it to name the flag and the URL and say %q", err, tt.says)
			}
			var ce *cloud.Error
			if !errors.As(err, &ce) || ce.Kind != tt.kind {
				t.Errorf("err = %#v, want a cloud.Error of kind %v", err, tt.kind)
			}
		})
	}
}

func TestNoticeQueueURLs(t *testing.T) {
	cfg := aws.Config{Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	for _, bad := range []string{"", "marmot-notices", "https://sqs.us-east-1.amazonaws.com/", "ftp://x/y", "https://sqs.us-east-1.amazonaws.com/1/%zz"} {
		_, err := NewNoticeQueueFromConfig(cfg, bad, WithQueueFlag("--notice-queue-url"))
		if err == nil || !strings.HasPrefix(err.Error(), "--notice-queue-url: ") {
			t.Errorf("URL %q: %v, want an error naming the flag", bad, err)
		}
	}
	// Without a region anywhere else, the URL's.
	q, err := NewNoticeQueueFromConfig(cfg, "https://sqs.eu-central-1.amazonaws.com/123456789012/q")
	if err != nil || q.region != "eu-central-1" || q.URL() != "https://sqs.eu-central-1.amazonaws.com/123456789012/q" {
		t.Errorf("region %q, %v", q.region, err)
	}
	for u, want := range map[string]string{
		"https://sqs.us-east-1.amazonaws.com/1/q":         "us-east-1",
		"https://sqs.cn-north-1.amazonaws.com.cn/1/q":     "cn-north-1",
		"https://eu-west-1.queue.amazonaws.com/1/q":       "eu-west-1",
		"http://127.0.0.1:4566/000000000000/q":            "",
		"https://vpce-1.sqs.us-east-1.vpce.amazonaws.com": "",
	} {
		if got := queueRegion(u); got != want {
			t.Errorf("queueRegion(%s) = %q, want %q", u, got, want)
		}
	}
}
