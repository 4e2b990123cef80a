package awsapi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/marmot-project/marmot/simulate"
)

// The two Query protocols differ only in how they wrap a result and an error (wire-facts.md §5.1):
//
//	awsQuery (Auto Scaling)  <OpResponse xmlns=…><OpResult>…</OpResult><ResponseMetadata><RequestId>…
//	                         <ErrorResponse xmlns=…><Error><Type/><Code/><Message/></Error><RequestId/>
//	ec2Query (EC2)           <OpResponse xmlns=…><requestId>…</requestId>…</OpResponse>
//	                         <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/>
//
// Operations return plain result structs and errors; a protocol turns them into its envelope and status.

// apiError is an error as the client sees it: HTTP status, error code and message.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// operation serves one action: it reads its parameters from the form and returns the result to wrap
// (nil for a void Auto Scaling operation) or an error.
type operation func(h *handler, f form) (any, error)

// protocol is one of the two wire protocols with the operations served over it.
type protocol interface {
	service() simulate.Service
	version() string
	operation(action string) (operation, bool)
	// classify turns any error an operation returns into what the client sees.
	classify(err error) *apiError
	throttling() *apiError
	// serverError is the error a failing service answers with the 5xx status.
	serverError(status int) *apiError
	encodeResult(enc *xml.Encoder, action, requestID string, result any) error
	encodeError(enc *xml.Encoder, requestID string, e *apiError) error
}

// writeXML encodes a whole response before sending it, so that an encoding failure is still answered
// with a well-formed error rather than half a document.
func writeXML(w http.ResponseWriter, status int, requestID string, encode func(*xml.Encoder) error) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	if err := encode(enc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/xml;charset=UTF-8")
	h.Set("x-amzn-RequestId", requestID)
	// No explicit Content-Length: net/http sets it on short answers and chunks long ones. Declaring it
	// on long answers makes aws-sdk-go-v2 lose the race between its early close of the request body
	// and net/http's final read of it (aws-sdk-go-v2 #2737), which closes the connection under the
	// response: a few percent of DescribeInstances calls hit "use of closed network connection"
	// with it, about one in several hundred without it.
	w.WriteHeader(status)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return &sendError{err}
	}
	return nil
}

// sendError is a failure to send a response that had already started.
type sendError struct{ err error }

func (e *sendError) Error() string { return "sending the response: " + e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

func xmlnsAttr(ns string) []xml.Attr {
	return []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ns}}
}

// members is an awsQuery list: `<Name><member>…</member>…</Name>`. It is always written, empty or
// not, as AWS does.
type members[T any] struct {
	Member []T `xml:"member"`
}

// items is an ec2Query list: `<name><item>…</item>…</name>`.
type items[T any] struct {
	Item []T `xml:"item"`
}

// lowerFirst turns an awsQuery parameter name into the member name AWS validation messages use
// ("DesiredCapacity" → "desiredCapacity").
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// awsQuery is the Auto Scaling protocol.
type awsQuery struct {
	ops map[string]operation
}

const autoScalingNamespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

func (awsQuery) service() simulate.Service { return simulate.ServiceAutoScaling }
func (awsQuery) version() string           { return "2011-01-01" }

func (p awsQuery) operation(action string) (operation, bool) {
	op, ok := p.ops[action]
	return op, ok
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

func (awsQuery) encodeResult(enc *xml.Encoder, action, requestID string, result any) error {
	root := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: xmlnsAttr(autoScalingNamespace)}
	if err := enc.EncodeToken(root); err != nil {
		return err
	}
	if result != nil {
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			return err
		}
	}
	if err := enc.EncodeElement(responseMetadata{requestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		return err
	}
	return enc.EncodeToken(root.End())
}

type queryError struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type queryErrorResponse struct {
	XMLName   xml.Name   `xml:"ErrorResponse"`
	Xmlns     string     `xml:"xmlns,attr"`
	Error     queryError `xml:"Error"`
	RequestID string     `xml:"RequestId"`
}

func (awsQuery) encodeError(enc *xml.Encoder, requestID string, e *apiError) error {
	// Type says whose fault it is; the SDKs ignore it, but AWS sends it and botocore logs it.
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	return enc.Encode(queryErrorResponse{Xmlns: autoScalingNamespace, Error: queryError{typ, e.Code, e.Message}, RequestID: requestID})
}

func (awsQuery) classify(err error) *apiError {
	var ae *apiError
	var pe *paramError
	var te *tokenError
	var me *simulate.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &te):
		return badRequest("InvalidNextToken", "The token '%s' is invalid.", te.token)
	case errors.As(err, &pe):
		// AWS's own wording for request validation failures (Coral's "1 validation error detected").
		if pe.Missing {
			return badRequest("ValidationError", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(pe.Param))
		}
		return badRequest("ValidationError", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member %s", pe.Value, lowerFirst(pe.Param), pe.Reason)
	case errors.As(err, &me):
		out := &apiError{Status: http.StatusBadRequest, Code: me.Code, Message: me.Message}
		switch me.Kind {
		case simulate.KindUnavailable:
			out.Status = http.StatusInternalServerError
			out.Code = orDefault(me.Code, "ResourceContention")
		case simulate.KindThrottled:
			return awsQuery{}.throttling()
		case simulate.KindScalingInProgress:
			out.Code = orDefault(me.Code, "ScalingActivityInProgress")
		default:
			out.Code = orDefault(me.Code, "ValidationError")
		}
		return out
	}
	return awsQuery{}.serverError(http.StatusInternalServerError)
}

func (awsQuery) throttling() *apiError { return badRequest("Throttling", "Rate exceeded") }

func (awsQuery) serverError(status int) *apiError {
	if status == http.StatusServiceUnavailable {
		return &apiError{Status: status, Code: "ServiceUnavailable", Message: "The request has failed due to a temporary failure of the server."}
	}
	return &apiError{Status: status, Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure."}
}

// ec2Query is the EC2 protocol.
type ec2Query struct {
	ops map[string]operation
}

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

func (ec2Query) service() simulate.Service { return simulate.ServiceEC2 }
func (ec2Query) version() string           { return "2016-11-15" }

func (p ec2Query) operation(action string) (operation, bool) {
	op, ok := p.ops[action]
	return op, ok
}

// ec2Meta opens every EC2 result: ec2Query puts the request id inside the result element, before the
// result's own fields. Embedding it makes encoding/xml write it there.
type ec2Meta struct {
	RequestID string `xml:"requestId"`
}

func (m *ec2Meta) setRequestID(id string) { m.RequestID = id }

type ec2Result interface{ setRequestID(string) }

func (ec2Query) encodeResult(enc *xml.Encoder, action, requestID string, result any) error {
	r, ok := result.(ec2Result)
	if !ok {
		return fmt.Errorf("ec2 result %T does not embed *ec2Meta", result)
	}
	r.setRequestID(requestID)
	return enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: xmlnsAttr(ec2Namespace)})
}

type ec2Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type ec2ErrorResponse struct {
	XMLName   xml.Name   `xml:"Response"`
	Errors    []ec2Error `xml:"Errors>Error"`
	RequestID string     `xml:"RequestID"`
}

func (ec2Query) encodeError(enc *xml.Encoder, requestID string, e *apiError) error {
	return enc.Encode(ec2ErrorResponse{Errors: []ec2Error{{e.Code, e.Message}}, RequestID: requestID})
}

func (ec2Query) classify(err error) *apiError {
	var ae *apiError
	var pe *paramError
	var te *tokenError
	var me *simulate.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &te):
		return badRequest("InvalidPaginationToken", "The pagination token '%s' is invalid or expired.", te.token)
	case errors.As(err, &pe):
		if pe.Missing {
			return badRequest("MissingParameter", "The request must contain the parameter %s", pe.Param)
		}
		return badRequest("InvalidParameterValue", "Value (%s) for parameter %s is invalid. It %s.", pe.Value, pe.Param, pe.Reason)
	case errors.As(err, &me):
		switch me.Kind {
		case simulate.KindUnavailable:
			return &apiError{Status: http.StatusServiceUnavailable, Code: orDefault(me.Code, "Unavailable"), Message: me.Message}
		case simulate.KindThrottled:
			return ec2Query{}.throttling()
		}
		return &apiError{Status: http.StatusBadRequest, Code: orDefault(me.Code, "InvalidParameterValue"), Message: me.Message}
	}
	return ec2Query{}.serverError(http.StatusInternalServerError)
}

// EC2 throttles with 503, unlike Auto Scaling (wire-facts.md §5.4).
func (ec2Query) throttling() *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: "RequestLimitExceeded", Message: "Request limit exceeded."}
}

func (ec2Query) serverError(status int) *apiError {
	if status == http.StatusServiceUnavailable {
		return &apiError{Status: status, Code: "Unavailable", Message: "The server is overloaded and can't handle the request."}
	}
	return &apiError{Status: status, Code: "InternalError", Message: "An internal error has occurred."}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
