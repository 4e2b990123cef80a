package awsapi

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/simulate"
)

// The SQS face: the world's one notice queue over the protocol aws-sdk-go-v2's sqs client speaks,
// awsJson1_0 with SQS's awsQueryCompatible errors. A request is `POST /` with
// `X-Amz-Target: AmazonSQS.<Op>` and `Content-Type: application/x-amz-json-1.0` and a JSON object
// body; an answer is JSON with `x-amzn-RequestId`. An error is
//
//	HTTP/1.1 400 Bad Request
//	x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender
//	{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}
//
// (the SQS Developer Guide's "Interpreting Amazon SQS JSON API responses"). The SDK finds its typed
// error by the name after '#' and, because the service is query-compatible, reports the code in
// x-amzn-query-error as ErrorCode(): that is the code its retryer matches (RequestThrottled is a
// throttle). Errors SQS does not model (bad parameters, bad JSON) come from the service framework,
// with __type in com.amazon.coral.service and the old Query code in the header.
//
// Time: visibility timeouts and delays are model time (the world's clock); WaitTimeSeconds is wall
// time, since it is how long the client's connection is held.

// NoticeQueueURL is the notice queue's URL on the AWS endpoint (e.g. "http://127.0.0.1:4566"), as
// GetQueueUrl answers it to a client that reaches the endpoint by that address.
func NoticeQueueURL(endpoint, account string) string {
	return strings.TrimRight(endpoint, "/") + "/" + account + "/" + simulate.NoticeQueueName
}

// sqsMaxRequest bounds a request body. The largest request SQS accepts is a SendMessage of a 1 MiB
// message, which JSON escaping can make several times longer.
const sqsMaxRequest = 4 << 20

// sqsMaxMessage is SQS's largest message body (MaximumMessageSize, 1,048,576 bytes since 2025).
const sqsMaxMessage = 1 << 20

// sqsSenderID is the SenderId of the events: EventBridge sends them under an AWS-owned principal.
const sqsSenderID = "AIDAMARMOTEVENTBRIDGE"

// noticeRecheck is how often a long poll looks at the queue again even when nothing woke it: a world
// whose clock moves without anybody stepping it (a test's virtual clock) notices a visibility timeout
// that ran out only when asked.
const noticeRecheck = 250 * time.Millisecond

// sqsError is an error as an SQS client sees it.
type sqsError struct {
	Status int
	Type   string // __type
	Query  string // the Query-protocol code in x-amzn-query-error
	Msg    string
}

func (e *sqsError) Error() string { return e.Query + ": " + e.Msg }

func (e *sqsError) fault() string {
	if e.Status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

func sqsErr(status int, typ, query, format string, args ...any) *sqsError {
	return &sqsError{Status: status, Type: typ, Query: query, Msg: fmt.Sprintf(format, args...)}
}

func sqsInvalidParameter(format string, args ...any) *sqsError {
	return sqsErr(http.StatusBadRequest, "com.amazon.coral.service#InvalidParameterValueException", "InvalidParameterValue", format, args...)
}

func sqsMissingParameter(name string) *sqsError {
	return sqsErr(http.StatusBadRequest, "com.amazon.coral.service#MissingRequiredParameterException", "MissingParameter",
		"The request must contain the parameter %s.", name)
}

func sqsMalformed(format string, args ...any) *sqsError {
	return sqsErr(http.StatusBadRequest, "com.amazon.coral.service#SerializationException", "MalformedInput", format, args...)
}

var errQueueDoesNotExist = sqsErr(http.StatusBadRequest, "com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
	"The specified queue does not exist.")

// sqsThrottled is SQS's throttle: 403 RequestThrottled (its model's httpError; the Query-era
// "Request is throttled." message).
var sqsThrottled = sqsErr(http.StatusForbidden, "com.amazonaws.sqs#RequestThrottled", "RequestThrottled", "Request is throttled.")

func sqsServerError(status int) *sqsError {
	if status == http.StatusServiceUnavailable {
		return sqsErr(status, "com.amazon.coral.service#ServiceUnavailableException", "ServiceUnavailable", "Service is unable to handle request.")
	}
	return sqsErr(status, "com.amazon.coral.service#InternalFailure", "InternalFailure",
		"The request processing has failed because of an unknown error, exception or failure.")
}

// sqsCall is one request as an operation sees it.
type sqsCall struct {
	ctx      context.Context
	body     []byte
	endpoint string // scheme://host the client used, for the queue URLs it is given
	region   string
	account  string
}

type sqsOp func(h *handler, c *sqsCall) (any, error)

var sqsOps = map[string]sqsOp{
	"GetQueueUrl":        sqsGetQueueURL,
	"GetQueueAttributes": sqsGetQueueAttributes,
	"ReceiveMessage":     sqsReceiveMessage,
	"DeleteMessage":      sqsDeleteMessage,
	"DeleteMessageBatch": sqsDeleteMessageBatch,
	"SendMessage":        sqsSendMessage,
}

// sqsKnownOps are SQS's other operations: asking for one is UnsupportedOperation, not an unknown
// operation, so that a test sees at once that the simulator lacks it rather than that it is misspelt.
var sqsKnownOps = []string{"AddPermission", "CancelMessageMoveTask", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
	"CreateQueue", "DeleteQueue", "ListDeadLetterSourceQueues", "ListMessageMoveTasks", "ListQueueTags", "ListQueues",
	"PurgeQueue", "RemovePermission", "SendMessageBatch", "SetQueueAttributes", "StartMessageMoveTask", "TagQueue", "UntagQueue"}

// isSQS tells an SQS request from a Query one: the JSON protocol names its operation in a header.
func isSQS(r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") != "" {
		return true
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-amz-json-1.0"
}

func (h *handler) serveSQS(w http.ResponseWriter, r *http.Request) {
	requestID := h.requestID()
	op, call, perr := h.readSQSRequest(w, r)

	in := h.world.Intercept(simulate.ServiceSQS)
	if in.Delay > 0 && !sleep(r.Context(), in.Delay) {
		return
	}
	var result any
	var err error
	switch {
	case in.Throttle:
		err = sqsThrottled
	case in.Status != 0:
		err = sqsServerError(in.Status)
	case perr != nil:
		err = perr
	default:
		result, err = sqsOps[op](h, call)
	}
	h.respondSQS(w, op, requestID, result, err)
}

// readSQSRequest reads the body and picks the operation.
func (h *handler) readSQSRequest(w http.ResponseWriter, r *http.Request) (string, *sqsCall, error) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AmazonSQS.")
	if r.Method != http.MethodPost {
		return op, nil, sqsErr(http.StatusBadRequest, "com.amazon.coral.service#UnknownOperationException", "InvalidAction",
			"JSON requests must be POST, not %s", r.Method)
	}
	if _, served := sqsOps[op]; !ok || !served {
		if ok && slices.Contains(sqsKnownOps, op) {
			return op, nil, sqsErr(http.StatusBadRequest, "com.amazonaws.sqs#UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation",
				"%s is not supported by the simulator.", op)
		}
		return op, nil, sqsErr(http.StatusBadRequest, "com.amazon.coral.service#UnknownOperationException", "InvalidAction", "")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, sqsMaxRequest))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return op, nil, sqsErr(http.StatusRequestEntityTooLarge, "com.amazon.coral.service#RequestEntityTooLargeException", "RequestEntityTooLarge",
				"Request body must be shorter than %d bytes.", sqsMaxRequest)
		}
		return op, nil, sqsMalformed("The request body could not be read: %v", err)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	c := &sqsCall{ctx: r.Context(), body: body, endpoint: scheme + "://" + r.Host}
	h.world.View(func(v *simulate.View) { c.region, c.account = v.Region(), v.AccountID() })
	return op, c, nil
}

// respondSQS writes the result or the error. Results are encoded before anything is sent, so that an
// encoding failure is still answered as the server error it is.
func (h *handler) respondSQS(w http.ResponseWriter, op, requestID string, result any, err error) {
	status := http.StatusOK
	var body []byte
	if err == nil {
		if body, err = json.Marshal(result); err != nil {
			err = sqsServerError(http.StatusInternalServerError)
		}
	}
	code := ""
	hdr := w.Header()
	if err != nil {
		e := classifySQS(err)
		status, code = e.Status, e.Query
		body, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message,omitempty"`
		}{e.Type, e.Msg})
		hdr.Set("x-amzn-query-error", e.Query+";"+e.fault())
	}
	hdr.Set("Content-Type", "application/x-amz-json-1.0")
	hdr.Set("x-amzn-RequestId", requestID)
	w.WriteHeader(status)
	_, werr := w.Write(body)
	h.log.Debug("aws request", zap.String("service", string(simulate.ServiceSQS)), zap.String("action", op),
		zap.Int("status", status), zap.String("code", code), zap.String("request_id", requestID), zap.NamedError("write_error", werr))
}

func classifySQS(err error) *sqsError {
	var se *sqsError
	var me *simulate.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &me) && me.Code == "ReceiptHandleIsInvalid":
		return sqsErr(http.StatusNotFound, "com.amazonaws.sqs#ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", "%s", me.Message)
	case errors.As(err, &me):
		return sqsInvalidParameter("%s", me.Message)
	}
	return sqsServerError(http.StatusInternalServerError)
}

// decode reads the JSON request into v, as strictly as the service's framework: the body is one
// JSON object (an empty body stands for {}), members have their types, and nothing follows.
func (c *sqsCall) decode(v any) error {
	body := bytes.TrimSpace(c.body)
	if len(body) == 0 {
		return nil
	}
	if body[0] != '{' {
		return sqsMalformed("Start of structure or map found where not expected.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return sqsMalformed("%s can not be converted to %s (member %s).", te.Value, te.Type, te.Field)
		}
		return sqsMalformed("The request body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return sqsMalformed("The request body has data after its JSON object.")
	}
	return nil
}

// queue checks that a QueueUrl names the notice queue. The host is not compared: a URL a client got
// from "localhost" works through 127.0.0.1, as SQS itself routes by the path.
func (c *sqsCall) queue(queueURL *string) error {
	if queueURL == nil || *queueURL == "" {
		return errQueueDoesNotExist
	}
	u, err := url.Parse(*queueURL)
	if err != nil || u.Path != "/"+c.account+"/"+simulate.NoticeQueueName {
		return errQueueDoesNotExist
	}
	return nil
}

func (c *sqsCall) queueARN() string {
	return "arn:aws:sqs:" + c.region + ":" + c.account + ":" + simulate.NoticeQueueName
}

// GetQueueUrl.

type getQueueURLInput struct {
	QueueName              *string
	QueueOwnerAWSAccountId *string
}

type getQueueURLOutput struct {
	QueueUrl string
}

func sqsGetQueueURL(_ *handler, c *sqsCall) (any, error) {
	var in getQueueURLInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.QueueName == nil || *in.QueueName == "" {
		return nil, sqsInvalidParameter("Value for parameter QueueName is invalid. Reason: Must specify a queue name.")
	}
	if *in.QueueName != simulate.NoticeQueueName || (in.QueueOwnerAWSAccountId != nil && *in.QueueOwnerAWSAccountId != c.account) {
		return nil, errQueueDoesNotExist
	}
	return getQueueURLOutput{QueueUrl: NoticeQueueURL(c.endpoint, c.account)}, nil
}

// GetQueueAttributes.

type getQueueAttributesInput struct {
	QueueUrl       *string
	AttributeNames []string
}

type attributesOutput struct {
	Attributes map[string]string `json:",omitempty"`
}

// queueAttributeNames are the attributes of a standard queue, in the order "All" lists them.
var queueAttributeNames = []string{"QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "VisibilityTimeout",
	"MaximumMessageSize", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds", "SqsManagedSseEnabled"}

func sqsGetQueueAttributes(h *handler, c *sqsCall) (any, error) {
	var in getQueueAttributesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := c.queue(in.QueueUrl); err != nil {
		return nil, err
	}
	names := in.AttributeNames
	if slices.Contains(names, "All") {
		names = queueAttributeNames
	}
	for _, n := range names {
		if !slices.Contains(queueAttributeNames, n) {
			return nil, sqsErr(http.StatusBadRequest, "com.amazonaws.sqs#InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", n)
		}
	}
	s := h.world.NoticeQueueStats()
	all := map[string]string{
		"QueueArn":                              c.queueARN(),
		"ApproximateNumberOfMessages":           strconv.Itoa(s.Visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(s.InFlight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(s.Delayed),
		"CreatedTimestamp":                      strconv.FormatInt(s.Created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(s.Created.Unix(), 10),
		"VisibilityTimeout":                     strconv.Itoa(int(simulate.NoticeVisibilityTimeout / time.Second)),
		"MaximumMessageSize":                    strconv.Itoa(sqsMaxMessage),
		"MessageRetentionPeriod":                strconv.Itoa(int(simulate.NoticeRetention / time.Second)),
		"DelaySeconds":                          "0",
		"ReceiveMessageWaitTimeSeconds":         "0",
		"SqsManagedSseEnabled":                  "true",
	}
	out := attributesOutput{}
	for _, n := range names {
		if out.Attributes == nil {
			out.Attributes = map[string]string{}
		}
		out.Attributes[n] = all[n]
	}
	return out, nil
}

// ReceiveMessage.

type receiveMessageInput struct {
	QueueUrl                    *string
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	MaxNumberOfMessages         *int
	VisibilityTimeout           *int
	WaitTimeSeconds             *int
	ReceiveRequestAttemptId     *string
}

type sqsMessage struct {
	MessageId     string
	ReceiptHandle string
	MD5OfBody     string
	Body          string
	Attributes    map[string]string `json:",omitempty"`
}

type receiveMessageOutput struct {
	Messages []sqsMessage `json:",omitempty"`
}

// messageAttributeNames are the system attributes a standard queue's message has.
var messageAttributeNames = []string{"SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp"}

func sqsReceiveMessage(h *handler, c *sqsCall) (any, error) {
	var in receiveMessageInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := c.queue(in.QueueUrl); err != nil {
		return nil, err
	}
	n, err := intParam("MaxNumberOfMessages", in.MaxNumberOfMessages, 1, 1, simulate.NoticeMaxReceive, "Must be between 1 and 10, if provided.")
	if err != nil {
		return nil, err
	}
	visibility, err := intParam("VisibilityTimeout", in.VisibilityTimeout, int(simulate.NoticeVisibilityTimeout/time.Second), 0,
		int(simulate.NoticeMaxVisibility/time.Second), "Must be >= 0 and <= 43200, if provided.")
	if err != nil {
		return nil, err
	}
	wait, err := intParam("WaitTimeSeconds", in.WaitTimeSeconds, 0, 0, 20, "Must be >= 0 and <= 20, if provided.")
	if err != nil {
		return nil, err
	}
	var attrs []string
	for _, a := range slices.Concat(in.AttributeNames, in.MessageSystemAttributeNames) {
		if a == "All" {
			attrs = messageAttributeNames
			break
		}
		// Other names (queue attributes in the deprecated AttributeNames, FIFO-only ones) give nothing
		// on a standard queue's message.
		if slices.Contains(messageAttributeNames, a) && !slices.Contains(attrs, a) {
			attrs = append(attrs, a)
		}
	}
	msgs := h.longPoll(c.ctx, n, time.Duration(visibility)*time.Second, time.Duration(wait)*time.Second)
	out := receiveMessageOutput{}
	for _, m := range msgs {
		sum := md5.Sum([]byte(m.Body))
		sm := sqsMessage{MessageId: m.MessageID, ReceiptHandle: m.ReceiptHandle, MD5OfBody: hex.EncodeToString(sum[:]), Body: m.Body}
		for _, a := range attrs {
			if sm.Attributes == nil {
				sm.Attributes = map[string]string{}
			}
			switch a {
			case "SenderId":
				sm.Attributes[a] = sqsSenderID
			case "SentTimestamp":
				sm.Attributes[a] = strconv.FormatInt(m.SentAt.UnixMilli(), 10)
			case "ApproximateReceiveCount":
				sm.Attributes[a] = strconv.Itoa(m.ReceiveCount)
			case "ApproximateFirstReceiveTimestamp":
				sm.Attributes[a] = strconv.FormatInt(m.FirstReceivedAt.UnixMilli(), 10)
			}
		}
		out.Messages = append(out.Messages, sm)
	}
	return out, nil
}

// intParam reads an optional integer parameter that must lie in [lo, hi].
func intParam(name string, v *int, def, lo, hi int, reason string) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < lo || *v > hi {
		return 0, sqsInvalidParameter("Value %d for parameter %s is invalid. Reason: %s", *v, name, reason)
	}
	return *v, nil
}

// longPoll receives up to n messages, waiting up to wait (wall time) for one to be visible. It
// answers as soon as there is one, as SQS does (it does not wait to fill the batch), and with none
// when wait passes or the client goes away.
func (h *handler) longPoll(ctx context.Context, n int, visibility, wait time.Duration) []simulate.NoticeMessage {
	msgs, wake := h.world.ReceiveNotices(n, visibility)
	if len(msgs) > 0 || wait <= 0 {
		return msgs
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	recheck := time.NewTicker(noticeRecheck)
	defer recheck.Stop()
	for {
		select {
		case <-wake:
		case <-recheck.C:
		case <-deadline.C:
			msgs, _ = h.world.ReceiveNotices(n, visibility)
			return msgs
		case <-ctx.Done():
			return nil
		}
		if msgs, wake = h.world.ReceiveNotices(n, visibility); len(msgs) > 0 {
			return msgs
		}
	}
}

// DeleteMessage and DeleteMessageBatch.

type deleteMessageInput struct {
	QueueUrl      *string
	ReceiptHandle *string
}

type emptyOutput struct{}

func sqsDeleteMessage(h *handler, c *sqsCall) (any, error) {
	var in deleteMessageInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := c.queue(in.QueueUrl); err != nil {
		return nil, err
	}
	if in.ReceiptHandle == nil || *in.ReceiptHandle == "" {
		return nil, sqsMissingParameter("ReceiptHandle")
	}
	if err := h.world.DeleteNotice(*in.ReceiptHandle); err != nil {
		return nil, err
	}
	return emptyOutput{}, nil
}

type batchEntry struct {
	Id            *string
	ReceiptHandle *string
}

type deleteMessageBatchInput struct {
	QueueUrl *string
	Entries  []batchEntry
}

type batchResultEntry struct {
	Id string
}

type batchErrorEntry struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string
}

type deleteMessageBatchOutput struct {
	Successful []batchResultEntry
	Failed     []batchErrorEntry
}

var batchEntryID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func sqsDeleteMessageBatch(h *handler, c *sqsCall) (any, error) {
	var in deleteMessageBatchInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := c.queue(in.QueueUrl); err != nil {
		return nil, err
	}
	// Rules on the batch as a whole fail the whole request, before any entry is looked at.
	switch {
	case len(in.Entries) == 0:
		return nil, sqsErr(http.StatusBadRequest, "com.amazonaws.sqs#EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
			"There should be at least one DeleteMessageBatchRequestEntry in the request.")
	case len(in.Entries) > 10:
		return nil, sqsErr(http.StatusBadRequest, "com.amazonaws.sqs#TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
			"Maximum number of entries per request are 10. You have sent %d.", len(in.Entries))
	}
	seen := map[string]bool{}
	for _, e := range in.Entries {
		id := ""
		if e.Id != nil {
			id = *e.Id
		}
		if !batchEntryID.MatchString(id) {
			return nil, sqsErr(http.StatusBadRequest, "com.amazonaws.sqs#InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
				"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return nil, sqsErr(http.StatusBadRequest, "com.amazonaws.sqs#BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
				"Id %s repeated.", id)
		}
		seen[id] = true
	}
	// Each entry then succeeds or fails on its own.
	out := deleteMessageBatchOutput{Successful: []batchResultEntry{}, Failed: []batchErrorEntry{}}
	for _, e := range in.Entries {
		var err error
		if e.ReceiptHandle == nil || *e.ReceiptHandle == "" {
			err = sqsMissingParameter("ReceiptHandle")
		} else {
			err = h.world.DeleteNotice(*e.ReceiptHandle)
		}
		if err != nil {
			se := classifySQS(err)
			out.Failed = append(out.Failed, batchErrorEntry{Id: *e.Id, SenderFault: se.Status < 500, Code: se.Query, Message: se.Msg})
			continue
		}
		out.Successful = append(out.Successful, batchResultEntry{Id: *e.Id})
	}
	return out, nil
}

// SendMessage: EC2 is the queue's producer, but a test may put in a message Marmot cannot read, to
// see that it is logged and deleted rather than received forever.

type sendMessageInput struct {
	QueueUrl                *string
	MessageBody             *string
	DelaySeconds            *int
	MessageAttributes       map[string]json.RawMessage
	MessageSystemAttributes map[string]json.RawMessage
	MessageDeduplicationId  *string
	MessageGroupId          *string
}

type sendMessageOutput struct {
	MD5OfMessageBody string
	MessageId        string
}

func sqsSendMessage(h *handler, c *sqsCall) (any, error) {
	var in sendMessageInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := c.queue(in.QueueUrl); err != nil {
		return nil, err
	}
	switch {
	case in.MessageBody == nil || *in.MessageBody == "":
		return nil, sqsMissingParameter("MessageBody")
	case len(*in.MessageBody) > sqsMaxMessage:
		return nil, sqsInvalidParameter("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", sqsMaxMessage)
	case !validMessageBody(*in.MessageBody):
		return nil, sqsErr(http.StatusBadRequest, "com.amazonaws.sqs#InvalidMessageContents", "InvalidMessageContents",
			"Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	case in.MessageDeduplicationId != nil:
		return nil, sqsInvalidParameter("Value %s for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.", *in.MessageDeduplicationId)
	case len(in.MessageAttributes) > 0 || len(in.MessageSystemAttributes) > 0:
		// Their checksums (MD5OfMessageAttributes) are not computed here, and the SDK would reject the
		// answer without them.
		return nil, sqsErr(http.StatusBadRequest, "com.amazonaws.sqs#UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation",
			"Message attributes are not supported by the simulator.")
	}
	delay, err := intParam("DelaySeconds", in.DelaySeconds, 0, 0, 900, "DelaySeconds must be >= 0 and <= 900.")
	if err != nil {
		return nil, err
	}
	id := h.world.SendNotice(*in.MessageBody, time.Duration(delay)*time.Second)
	sum := md5.Sum([]byte(*in.MessageBody))
	return sendMessageOutput{MD5OfMessageBody: hex.EncodeToString(sum[:]), MessageId: id}, nil
}

// validMessageBody checks SQS's character rule: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
// #x10000 to #x10FFFF.
func validMessageBody(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return false
			}
		}
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}
