package awsapi_test

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// envelope is what any of our answers decodes to: the root element and, for errors, the code and
// request id from either protocol's error envelope.
type envelope struct {
	XMLName   xml.Name
	Codes     []string `xml:"Error>Code"`           // awsQuery ErrorResponse
	Messages  []string `xml:"Error>Message"`        // awsQuery ErrorResponse
	EC2Codes  []string `xml:"Errors>Error>Code"`    // ec2Query Response
	EC2Msgs   []string `xml:"Errors>Error>Message"` // ec2Query Response
	RequestID string   `xml:"RequestId"`            // awsQuery ErrorResponse
	EC2ReqID  string   `xml:"RequestID"`            // ec2Query Response
	Metadata  string   `xml:"ResponseMetadata>RequestId"`
	EC2Result string   `xml:"requestId"`
}

func decodeEnvelope(t testing.TB, rec *httptest.ResponseRecorder) envelope {
	t.Helper()
	var env envelope
	if err := xml.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("answer is not XML (%v): %q", err, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/xml;charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	return env
}

func (e envelope) code() string {
	if len(e.Codes) > 0 {
		return e.Codes[0]
	}
	if len(e.EC2Codes) > 0 {
		return e.EC2Codes[0]
	}
	return ""
}

func (e envelope) message() string {
	return strings.Join(append(e.Messages, e.EC2Msgs...), "\n")
}

func (e envelope) requestID() string {
	for _, id := range []string{e.RequestID, e.EC2ReqID, e.Metadata, e.EC2Result} {
		if id != "" {
			return id
		}
	}
	return ""
}

func TestMalformedRequestsGetTheProtocolsErrorEnvelope(t *testing.T) {
	e := newEnv(t)
	const as, ec2 = "ErrorResponse", "Response"
	for _, tc := range []struct {
		name        string
		method      string
		contentType string
		body        string
		status      int
		root, code  string
		message     string
	}{
		{name: "GET", method: http.MethodGet, status: 400, root: as, code: "InvalidHTTPRequest"},
		{name: "not a form", contentType: "application/json", body: `{"Action":"DescribeAutoScalingGroups"}`, status: 400, root: as, code: "MalformedQueryString"},
		{name: "bad escape", body: "Action=DescribeAutoScalingGroups&Version=2011-01-01&X=%zz", status: 400, root: as, code: "MalformedQueryString"},
		{name: "parameter twice", body: "Action=DescribeInstances&Version=2016-11-15&Action=DescribeInstances", status: 400, root: as, code: "MalformedQueryString"},
		{name: "no action", body: "Version=2011-01-01", status: 400, root: as, code: "MissingAction"},
		{name: "unknown action", body: "Action=LaunchRockets&Version=2011-01-01", status: 400, root: as, code: "InvalidAction"},
		{name: "ec2 unknown action", body: "Action=RunInstances&Version=2016-11-15", status: 400, root: ec2, code: "InvalidAction"},
		{name: "no version", body: "Action=DescribeInstances", status: 400, root: ec2, code: "MissingParameter"},
		{name: "unknown version", body: "Action=DescribeInstances&Version=2010-01-01", status: 400, root: ec2, code: "NoSuchVersion"},
		{name: "action of the other service", body: "Action=DescribeInstances&Version=2011-01-01", status: 400, root: as, code: "InvalidAction"},
		{name: "missing required", body: "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=marmot-default", status: 400, root: as, code: "ValidationError",
			message: "1 validation error detected: Value null at 'desiredCapacity' failed to satisfy constraint: Member must not be null"},
		{name: "not an integer", body: "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=marmot-default&DesiredCapacity=two", status: 400, root: as, code: "ValidationError",
			message: "1 validation error detected: Value 'two' at 'desiredCapacity' failed to satisfy constraint: Member must be an integer"},
		{name: "not a boolean", body: "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=marmot-default&DesiredCapacity=2&HonorCooldown=yes", status: 400, root: as, code: "ValidationError"},
		{name: "absurd size", body: "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=marmot-default&DesiredCapacity=1000000000", status: 400, root: as, code: "ValidationError"},
		{name: "member index 0", body: "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.0=x", status: 400, root: as, code: "ValidationError"},
		{name: "member index not a number", body: "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.one=x", status: 400, root: as, code: "ValidationError"},
		{name: "filter without values", body: "Action=DescribeAutoScalingGroups&Version=2011-01-01&Filters.member.1.Name=tag-key", status: 400, root: as, code: "ValidationError",
			message: "1 validation error detected: Value null at 'filters.member.1.Values.member.1' failed to satisfy constraint: Member must not be null"},
		{name: "unknown group filter", body: "Action=DescribeAutoScalingGroups&Version=2011-01-01&Filters.member.1.Name=instance-type&Filters.member.1.Values.member.1=x", status: 400, root: as, code: "ValidationError"},
		{name: "tag of another resource type", body: "Action=CreateOrUpdateTags&Version=2011-01-01&Tags.member.1.ResourceId=marmot-default&Tags.member.1.ResourceType=instance&Tags.member.1.Key=k", status: 400, root: as, code: "ValidationError"},
		{name: "ec2 filter without values", body: "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=instance-id", status: 400, root: ec2, code: "MissingParameter",
			message: "The request must contain the parameter Filter.1.Value.1"},
		{name: "malformed instance id", body: "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=bogus", status: 400, root: ec2, code: "InvalidInstanceID.Malformed"},
		{name: "unknown instance ids", body: "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0&InstanceId.2=i-0123456789abcdef1", status: 400, root: ec2, code: "InvalidInstanceID.NotFound",
			message: "The instance IDs 'i-0123456789abcdef0, i-0123456789abcdef1' do not exist"},
		{name: "dry run", body: "Action=DescribeInstances&Version=2016-11-15&DryRun=true", status: 412, root: ec2, code: "DryRunOperation"},
		{name: "foreign token", body: "Action=DescribeInstances&Version=2016-11-15&NextToken=bm9wZQ", status: 400, root: ec2, code: "InvalidPaginationToken"},
		{name: "tag another resource", body: "Action=CreateTags&Version=2016-11-15&ResourceId.1=sg-12345678&Tag.1.Key=k&Tag.1.Value=v", status: 400, root: ec2, code: "InvalidID"},
		{name: "create no tags", body: "Action=CreateTags&Version=2016-11-15&ResourceId.1=i-0123456789abcdef0", status: 400, root: ec2, code: "MissingParameter"},
		{name: "lifecycle result", body: "Action=CompleteLifecycleAction&Version=2011-01-01&AutoScalingGroupName=g&LifecycleHookName=h&LifecycleActionResult=MAYBE&InstanceId=i-0123456789abcdef0", status: 400, root: as, code: "ValidationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/", strings.NewReader(tc.body))
			ct := tc.contentType
			if ct == "" && method == http.MethodPost {
				ct = "application/x-www-form-urlencoded; charset=utf-8"
			}
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, r)
			env := decodeEnvelope(t, rec)
			if rec.Code != tc.status || env.XMLName.Local != tc.root || env.code() != tc.code {
				t.Fatalf("%d %s %s, want %d %s %s:\n%s", rec.Code, env.XMLName.Local, env.code(), tc.status, tc.root, tc.code, rec.Body)
			}
			if tc.message != "" && env.message() != tc.message {
				t.Errorf("message %q, want %q", env.message(), tc.message)
			}
			if id := rec.Header().Get("x-amzn-RequestId"); id == "" || id != env.requestID() {
				t.Errorf("request id header %q, body %q", id, env.requestID())
			}
		})
	}
}

func TestRequestIDsAreFreshPerRequest(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	for _, body := range []string{
		"Action=DescribeAutoScalingGroups&Version=2011-01-01",
		"Action=DescribeAutoScalingGroups&Version=2011-01-01",
		"Action=DescribeInstances&Version=2016-11-15",
		"Version=2011-01-01",
	} {
		id := decodeEnvelope(t, e.post(body)).requestID()
		if len(id) != 36 || seen[id] {
			t.Errorf("request id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}
