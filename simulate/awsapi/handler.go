// Package awsapi serves the simulated world over the AWS Auto Scaling (awsQuery, Version 2011-01-01) and
// EC2 (ec2Query, Version 2016-11-15) Query APIs and the SQS JSON API (awsJson1_0, for the notice queue),
// so that aws-sdk-go-v2 pointed at it with BaseEndpoint works unchanged. One handler at "/" serves all
// three: a Query request names its Action and Version in the form-encoded body, an SQS request its
// operation in the X-Amz-Target header. Signatures are not checked.
package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/simulate"
)

// maxBody bounds a request body. The longest request Marmot's clients send (DescribeInstances with a
// few hundred instance ids) is a few kilobytes.
const maxBody = 1 << 20

// Option configures the handler.
type Option func(*handler)

// WithLogger logs every request at debug level (action, status, code, request id).
func WithLogger(l *zap.Logger) Option {
	return func(h *handler) { h.log = l }
}

// New returns the handler that serves w's Auto Scaling groups, EC2 instances and notice queue.
func New(w *simulate.World, opts ...Option) http.Handler {
	h := &handler{world: w, log: zap.NewNop()}
	for _, o := range opts {
		o(h)
	}
	h.autoscaling = awsQuery{ops: autoScalingOps}
	h.ec2 = ec2Query{ops: ec2Ops}
	return h
}

type handler struct {
	world       *simulate.World
	log         *zap.Logger
	autoscaling protocol
	ec2         protocol
	requests    atomic.Uint64
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isSQS(r) {
		h.serveSQS(w, r)
		return
	}
	requestID := h.requestID()
	f, action, proto, perr := h.readRequest(w, r)

	// Faults come first, as on AWS, where throttling and outages happen before a request is looked at.
	in := h.world.Intercept(proto.service())
	if in.Delay > 0 && !sleep(r.Context(), in.Delay) {
		return // the client gave up; nobody reads an answer
	}
	var result any
	var err error
	switch {
	case in.Throttle:
		err = proto.throttling()
	case in.Status != 0:
		err = proto.serverError(in.Status)
	case perr != nil:
		err = perr
	default:
		op, _ := proto.operation(action)
		result, err = op(h, f)
	}
	h.respond(w, proto, action, requestID, result, err)
}

// readRequest reads the form and picks the protocol and operation. Even when the request is malformed
// it returns a protocol, the one the error is answered in: the one the Version names, else the one
// that has the Action, else Auto Scaling.
func (h *handler) readRequest(w http.ResponseWriter, r *http.Request) (form, string, protocol, error) {
	proto := h.autoscaling
	if r.Method != http.MethodPost {
		return nil, "", proto, badRequest("InvalidHTTPRequest", "Query requests must be POST with a form-encoded body, not %s", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, "", proto, badRequest("MalformedQueryString", "Content-Type %q is not application/x-www-form-urlencoded", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, "", proto, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge", Message: fmt.Sprintf("The request body is larger than %d bytes", maxBody)}
		}
		return nil, "", proto, badRequest("MalformedQueryString", "The request body could not be read: %v", err)
	}
	f, err := parseForm(string(body))
	if err != nil {
		return nil, "", proto, badRequest("MalformedQueryString", "%v", err)
	}
	action, version := f["Action"], f["Version"]
	switch {
	case version == h.ec2.version():
		proto = h.ec2
	case version == h.autoscaling.version():
	default:
		if _, ok := h.ec2.operation(action); ok {
			proto = h.ec2
		}
	}
	switch {
	case action == "":
		return nil, "", proto, badRequest("MissingAction", "The request must contain the parameter Action")
	case version == "":
		return nil, action, proto, badRequest("MissingParameter", "The request must contain the parameter Version")
	case version != proto.version():
		return nil, action, proto, badRequest("NoSuchVersion", "The requested version (%s) of service %s does not exist", version, proto.service())
	}
	if _, ok := proto.operation(action); !ok {
		return nil, action, proto, badRequest("InvalidAction", "Could not find operation %s for version %s", action, version)
	}
	return f, action, proto, nil
}

// respond writes the result or the error in the protocol's envelope.
func (h *handler) respond(w http.ResponseWriter, proto protocol, action, requestID string, result any, err error) {
	status, code := http.StatusOK, ""
	var werr error
	if err == nil {
		werr = writeXML(w, status, requestID, func(enc *xml.Encoder) error {
			return proto.encodeResult(enc, action, requestID, result)
		})
		if werr != nil && !headerSent(werr) {
			err = werr // an encoding failure: answer it as the server error it is
		}
	}
	if err != nil {
		ae := proto.classify(err)
		status, code = ae.Status, ae.Code
		werr = writeXML(w, status, requestID, func(enc *xml.Encoder) error {
			return proto.encodeError(enc, requestID, ae)
		})
	}
	h.log.Debug("aws request",
		zap.String("service", string(proto.service())), zap.String("action", action),
		zap.Int("status", status), zap.String("code", code), zap.String("request_id", requestID), zap.NamedError("write_error", werr))
}

// headerSent tells whether writeXML failed after it had started the response (a client that went
// away), when there is no second chance to answer.
func headerSent(err error) bool {
	var se *sendError
	return errors.As(err, &se)
}

// requestID returns a fresh id shaped like AWS's (a version-4 UUID), derived from a counter so that
// a run's ids are reproducible.
func (h *handler) requestID() string {
	n := h.requests.Add(1)
	sum := sha256.Sum256(fmt.Appendf(nil, "marmot-aws-request-%d", n))
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

// sleep waits d of wall time (a slow_response fault) unless ctx ends first; it reports whether the
// full delay passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
