package awscloud

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/marmot-project/marmot/cloud"
)

// NoticeQueue is a cloud.NoticeQueue on an SQS queue that EventBridge rules feed with EC2's spot
// interruption warnings, rebalance recommendations and state-change notifications (directly, or
// through an SNS topic). It is safe for concurrent use.
//
// Calls are retried as the Provider's are (see the package comment): SQS's RequestThrottled and 5xx
// answers with the standard retryer, the rest classified into cloud's typed errors at once. SQS
// answers in the awsJson1_0 protocol and, being query-compatible, may name an error by its old
// query code (AWS.SimpleQueueService.NonExistentQueue for QueueDoesNotExist); both names are read.
//
// Marmot needs sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes on the queue (and
// kms:Decrypt on its key, if it has a customer-managed one).
type NoticeQueue struct {
	sqs    SQSAPI
	url    string
	name   string // the queue's name, the last element of the URL, for error ops
	flag   string // what the operator calls the URL, for Check's errors
	region string // the client's region, for Check's errors
}

// SQSAPI is the part of the SQS client NoticeQueue uses.
type SQSAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var (
	_ SQSAPI            = (*sqs.Client)(nil)
	_ cloud.NoticeQueue = (*NoticeQueue)(nil)
)

// SQS limits (SQS API reference).
const (
	// maxReceive is the most messages one ReceiveMessage returns, and maxDeleteBatch the most
	// entries one DeleteMessageBatch takes.
	maxReceive     = 10
	maxDeleteBatch = 10
	// maxWait is the longest long poll: WaitTimeSeconds is 0 to 20.
	maxWait = 20 * time.Second
	// maxVisible is the longest visibility timeout: 12 hours.
	maxVisible = 12 * time.Hour
	// attrReceiveCount is the message system attribute that counts deliveries.
	attrReceiveCount = string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)
)

// defaultQueueFlag is what Check's errors call the queue URL without WithQueueFlag.
const defaultQueueFlag = "the notice queue URL"

// WithQueueFlag names the setting the queue URL came from, e.g. "--notice-queue-url", so that
// Check's errors tell the operator what to fix. Only NewNoticeQueue and NewNoticeQueueFromConfig
// read it.
func WithQueueFlag(name string) Option { return func(o *options) { o.queueFlag = name } }

// NewNoticeQueue loads the SDK's default configuration (as New does; AWS_ENDPOINT_URL_SQS points
// SQS alone elsewhere) and returns a NoticeQueue on queueURL.
func NewNoticeQueue(ctx context.Context, queueURL string, opts ...Option) (*NoticeQueue, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return NewNoticeQueueFromConfig(cfg, queueURL, opts...)
}

// NewNoticeQueueFromConfig returns a NoticeQueue on queueURL, with cfg's credentials and HTTP client
// and Marmot's retry policy, as NewFromConfig builds the Provider's clients (WithRegion, WithEndpoint
// and WithRetry apply). When neither cfg nor WithRegion gives a region, the one in an SQS queue URL
// (https://sqs.<region>.amazonaws.com/<account>/<name>) is used. A queueURL that is not an http or
// https URL with a queue name is an error.
func NewNoticeQueueFromConfig(cfg aws.Config, queueURL string, opts ...Option) (*NoticeQueue, error) {
	o := options{maxAttempts: DefaultMaxAttempts, maxBackoff: DefaultMaxBackoff, queueFlag: defaultQueueFlag}
	if cfg.RetryMaxAttempts > 0 {
		o.maxAttempts = cfg.RetryMaxAttempts
	}
	for _, fn := range opts {
		fn(&o)
	}
	name, err := queueName(queueURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.queueFlag, err)
	}
	cfg = cfg.Copy()
	if o.region != "" {
		cfg.Region = o.region
	}
	if cfg.Region == "" {
		cfg.Region = queueRegion(queueURL)
	}
	if o.endpoint != "" {
		cfg.BaseEndpoint = aws.String(o.endpoint)
	}
	cfg.Retryer = func() aws.Retryer { return newRetryer(o.maxAttempts, o.maxBackoff) }
	cfg.RetryMaxAttempts, cfg.RetryMode = 0, ""
	client := sqs.NewFromConfig(cfg, func(so *sqs.Options) { so.HTTPClient = wholeBody{so.HTTPClient} })
	return &NoticeQueue{sqs: client, url: queueURL, name: name, flag: o.queueFlag, region: cfg.Region}, nil
}

// NewNoticeQueueFromClient returns a NoticeQueue on a client the caller built; its retry policy is
// the caller's.
func NewNoticeQueueFromClient(client SQSAPI, queueURL string) (*NoticeQueue, error) {
	name, err := queueName(queueURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", defaultQueueFlag, err)
	}
	return &NoticeQueue{sqs: client, url: queueURL, name: name, flag: defaultQueueFlag}, nil
}

// URL returns the queue's URL.
func (q *NoticeQueue) URL() string { return q.url }

// Check asks SQS for the queue's ARN, so that a daemon can fail at start, rather than at its first
// receive, when the queue does not exist or its credentials may not use it. The error names the
// setting (WithQueueFlag) and the URL, says what is wrong in words, and keeps the cloud.Error
// (errors.Is(err, cloud.ErrNotFound) for a missing queue). Check cannot prove that receiving and
// deleting are allowed without taking messages from the queue, which it does not do. Read-only.
func (q *NoticeQueue) Check(ctx context.Context) (arn string, err error) {
	out, err := q.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(q.url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		err = classifySQS(ctx, "GetQueueAttributes "+q.name, err)
		return "", fmt.Errorf("%s %s: %s: %w", q.flag, q.url, q.whyNot(err), err)
	}
	return out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
}

// whyNot says in words what a failed Check means for the operator.
func (q *NoticeQueue) whyNot(err error) string {
	var ce *cloud.Error
	errors.As(err, &ce)
	switch {
	case errors.Is(err, cloud.ErrNotFound):
		why := "no such queue"
		if r := queueRegion(q.url); r != "" && q.region != "" && r != q.region {
			why += fmt.Sprintf(" (the URL is in %s, but the client asks SQS in %s)", r, q.region)
		}
		return why
	case ce != nil && (authCodes[ce.Code] || ce.Code == "InvalidSecurity" || strings.HasPrefix(ce.Code, "Kms") || strings.HasPrefix(ce.Code, "KMS.")):
		return "these credentials may not use the queue (Marmot needs sqs:GetQueueAttributes, sqs:ReceiveMessage and sqs:DeleteMessage on it, and kms:Decrypt on its key if it has one)"
	case errors.Is(err, cloud.ErrThrottled), errors.Is(err, cloud.ErrUnavailable):
		return "SQS did not answer; try again"
	case errors.Is(err, cloud.ErrInvalid):
		return "SQS refused the URL"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	}
	return "cannot read the queue"
}

// Receive implements cloud.NoticeQueue: one ReceiveMessage of up to ten messages, a long poll of
// wait (in whole seconds, at most SQS's 20; under a second is a short poll that samples some of the
// queue's servers and may miss messages), each message hidden for visible (rounded up to whole
// seconds, at most SQS's 12 hours; 0 leaves them visible at once). The messages' bodies are read as
// EventBridge events (see noticeOf); Received is SQS's ApproximateReceiveCount. An HTTP client with
// a timeout of its own must allow more than wait, or every long poll fails as cloud.ErrUnavailable.
func (q *NoticeQueue) Receive(ctx context.Context, wait, visible time.Duration) ([]cloud.Notice, error) {
	out, err := q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.url),
		MaxNumberOfMessages:         maxReceive,
		WaitTimeSeconds:             waitSeconds(wait),
		VisibilityTimeout:           visibleSeconds(visible),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, classifySQS(ctx, "ReceiveMessage "+q.name, err)
	}
	notices := make([]cloud.Notice, 0, len(out.Messages))
	for _, m := range out.Messages {
		n := noticeOf(aws.ToString(m.Body))
		n.Receipt = aws.ToString(m.ReceiptHandle)
		n.Received, _ = strconv.Atoi(m.Attributes[attrReceiveCount])
		notices = append(notices, n)
	}
	return notices, nil
}

// waitSeconds turns a wait into WaitTimeSeconds: whole seconds down (Receive waits up to wait), in
// SQS's 0–20.
func waitSeconds(wait time.Duration) int32 {
	return int32(min(max(wait, 0), maxWait) / time.Second)
}

// visibleSeconds turns a visibility into VisibilityTimeout: whole seconds up (a notice stays hidden
// at least as long as asked), in SQS's 0 to 12 hours.
func visibleSeconds(visible time.Duration) int32 {
	return int32(math.Ceil(min(max(visible, 0), maxVisible).Seconds()))
}

// Delete implements cloud.NoticeQueue: DeleteMessageBatch, ten receipts a call. SQS answers for each
// entry. An entry refused with ReceiptHandleIsInvalid (the message was deleted, or was received
// again since) or with InvalidParameterValue "The receipt handle has expired" is a notice gone
// already, which the interface says is not an error. Any other refused entry, and a notice without
// a receipt, make the error returned once every batch has been sent; it counts them and keeps the
// first one's code and message. A failed call stops there: the notices not yet deleted come back.
func (q *NoticeQueue) Delete(ctx context.Context, notices []cloud.Notice) error {
	op := "DeleteMessageBatch " + q.name
	var receipts []string
	noReceipt := 0
	for _, n := range notices {
		switch {
		case n.Receipt == "":
			noReceipt++
		case !slices.Contains(receipts, n.Receipt):
			receipts = append(receipts, n.Receipt)
		}
	}
	var failed []sqstypes.BatchResultErrorEntry
	for batch := range slices.Chunk(receipts, maxDeleteBatch) {
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(batch))
		for i, r := range batch {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r)}
		}
		out, err := q.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
		if err != nil {
			return classifySQS(ctx, op, err)
		}
		for _, f := range out.Failed {
			if !receiptGone(f) {
				failed = append(failed, f)
			}
		}
	}
	return deleteError(op, len(notices), noReceipt, failed)
}

// receiptGone tells a refused delete whose message is no longer this receipt's to delete.
func receiptGone(f sqstypes.BatchResultErrorEntry) bool {
	code, msg := aws.ToString(f.Code), aws.ToString(f.Message)
	return strings.HasSuffix(code, "ReceiptHandleIsInvalid") ||
		code == "InvalidParameterValue" && strings.Contains(strings.ToLower(msg), "receipt handle has expired")
}

// deleteError reports the notices Delete could not delete, or nil.
func deleteError(op string, total, noReceipt int, failed []sqstypes.BatchResultErrorEntry) error {
	if noReceipt == 0 && len(failed) == 0 {
		return nil
	}
	e := &cloud.Error{Op: op}
	if len(failed) == 0 {
		e.Kind = cloud.ErrInvalid
		e.Message = fmt.Sprintf("%d of %d notices have no receipt", noReceipt, total)
		return e
	}
	first := failed[0]
	e.Code = aws.ToString(first.Code)
	status := 500
	if first.SenderFault {
		status = 400
	}
	e.Kind = sqsKind(e.Code, aws.ToString(first.Message), status)
	e.Message = fmt.Sprintf("%d of %d notices not deleted, the first: %s", len(failed)+noReceipt, total, aws.ToString(first.Message))
	return e
}

// classifySQS is classify with SQS's own codes, in their awsJson and their query names.
func classifySQS(ctx context.Context, op string, err error) error {
	var params smithy.InvalidParamsError
	if errors.As(err, &params) && ctx.Err() == nil {
		// The SDK refused to send the call (a required member missing): a bug of ours.
		return &cloud.Error{Kind: cloud.ErrInvalid, Op: op, Message: params.Error(), Err: err}
	}
	out := classify(ctx, op, err)
	var e *cloud.Error
	if errors.As(out, &e) && e.Code != "" {
		if kind, ok := sqsKinds[e.Code]; ok {
			e.Kind = kind
		}
	}
	return out
}

// sqsKind maps an SQS error code to a cloud error kind, falling back to kindOf.
func sqsKind(code, message string, status int) error {
	if kind, ok := sqsKinds[code]; ok {
		return kind
	}
	return kindOf(code, message, status)
}

var sqsKinds = map[string]error{
	"QueueDoesNotExist":                           cloud.ErrNotFound,
	"AWS.SimpleQueueService.NonExistentQueue":     cloud.ErrNotFound,
	"QueueDeletedRecently":                        cloud.ErrNotFound,
	"AWS.SimpleQueueService.QueueDeletedRecently": cloud.ErrNotFound,
	// Too many messages in flight (120,000 on a standard queue): deleting frees them, waiting helps.
	"OverLimit":               cloud.ErrThrottled,
	"KmsThrottled":            cloud.ErrThrottled,
	"KMS.ThrottlingException": cloud.ErrThrottled,
	// The queue's key or the request's security: configuration, nothing to back off from.
	"InvalidSecurity":              nil,
	"KmsAccessDenied":              nil,
	"KMS.AccessDeniedException":    nil,
	"KmsDisabled":                  nil,
	"KMS.DisabledException":        nil,
	"KmsInvalidKeyUsage":           nil,
	"KMS.InvalidKeyUsageException": nil,
	"KmsInvalidState":              nil,
	"KMS.InvalidStateException":    nil,
	"KmsNotFound":                  nil,
	"KMS.NotFoundException":        nil,
	"KmsOptInRequired":             nil,
	"KMS.OptInRequired":            nil,
}

// queueName checks a queue URL and returns the queue's name, its last path element.
func queueName(queueURL string) (string, error) {
	u, err := url.Parse(queueURL)
	if err != nil {
		return "", fmt.Errorf("queue URL %q: %w", queueURL, err)
	}
	name := u.Path[strings.LastIndex(u.Path, "/")+1:]
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || name == "" {
		return "", fmt.Errorf("%q is not a queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/marmot-notices", queueURL)
	}
	return name, nil
}

// queueRegion returns the region of an SQS endpoint URL (sqs.<region>.amazonaws.com, or the legacy
// <region>.queue.amazonaws.com), or "".
func queueRegion(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	labels := strings.Split(u.Hostname(), ".")
	switch {
	case len(labels) >= 4 && labels[0] == "sqs" && labels[2] == "amazonaws":
		return labels[1]
	case len(labels) >= 4 && labels[1] == "queue" && labels[2] == "amazonaws":
		return labels[0]
	}
	return ""
}
