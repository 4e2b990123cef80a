package awscloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/marmot-project/marmot/cloud"
)

// ec2Instances renders a DescribeInstances answer with one reservation per id.
func ec2Instances(ids []string, nextToken string) string {
	var b strings.Builder
	b.WriteString(`<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet>`)
	for n, id := range ids {
		fmt.Fprintf(&b, `<item><reservationId>r-%d</reservationId><instancesSet><item>
<instanceId>%s</instanceId><instanceState><code>16</code><name>running</name></instanceState>
<privateDnsName>ip-10-0-0-%d.ec2.internal</privateDnsName><privateIpAddress>10.0.0.%d</privateIpAddress>
<instanceType>t3.micro</instanceType><launchTime>2023-05-06T17:48:00.000Z</launchTime>
<placement><availabilityZone>us-east-1c</availabilityZone></placement>
<instanceLifecycle>spot</instanceLifecycle>
<tagSet><item><key>aws:autoscaling:groupName</key><value>my-asg</value></item><item><key>marmot:drain</key><value>draining</value></item></tagSet>
</item></instancesSet></item>`, n, id, n%250, n%250)
	}
	b.WriteString(`</reservationSet>`)
	if nextToken != "" {
		fmt.Fprintf(&b, `<nextToken>%s</nextToken>`, nextToken)
	}
	b.WriteString(`</DescribeInstancesResponse>`)
	return b.String()
}

// formList reads the values of a Query list such as InstanceId.1, InstanceId.2, … in order.
func formList(f url.Values, prefix string) []string {
	var out []string
	for n := 1; ; n++ {
		v, ok := f[prefix+"."+fmt.Sprint(n)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

var emptyElement = regexp.MustCompile(`<\w+ />`)

func TestGroupsFromAWSSamples(t *testing.T) {
	c := newCanned(t, func(action string, f url.Values) reply {
		switch action {
		case "DescribeAutoScalingGroups":
			// The documentation sample shows every field, absent ones as empty elements such as
			// <MaxInstanceLifetime />; AWS leaves absent fields out, and the SDK cannot read an
			// empty number, so the empty elements go.
			return ok(emptyElement.ReplaceAllString(fixture(t, "autoscaling/DescribeAutoScalingGroups.response.awsdoc.xml"), ""))
		case "DescribeInstances":
			return ok(ec2Instances(formList(f, "InstanceId"), ""))
		}
		return reply{http.StatusBadRequest, "unexpected " + action}
	})
	groups, err := c.provider().Groups(bg, cloud.GroupQuery{Names: []string{"my-asg"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 {
		t.Fatalf("got %d groups, want 1", len(groups))
	}
	g := groups[0]
	if g.Name != "my-asg" || g.Min != 2 || g.Max != 10 || g.Desired != 2 || g.Tags["environment"] != "test" || g.Pool != "" {
		t.Errorf("group = %+v", g)
	}
	if !slices.Equal(g.Zones, []string{"us-east-1a", "us-east-1b"}) {
		t.Errorf("zones = %v", g.Zones)
	}
	// A launch configuration says nothing about type or market: the instances do.
	if g.InstanceType != "t3.micro" || !g.Spot {
		t.Errorf("instance type %q spot %v, want t3.micro and spot from the instances", g.InstanceType, g.Spot)
	}
	if len(g.Instances) != 1 {
		t.Fatalf("instances = %+v", g.Instances)
	}
	i := g.Instances[0]
	want := cloud.Instance{
		ID: "i-1234567890abcdef0", Group: "my-asg", PrivateIP: "10.0.0.0", PrivateDNS: "ip-10-0-0-0.ec2.internal",
		Type: "t3.micro", Zone: "us-east-1c", Lifecycle: cloud.LifecycleInService, State: cloud.StateRunning, Healthy: true,
		LaunchTime: time.Date(2023, 5, 6, 17, 48, 0, 0, time.UTC), Spot: true,
	}
	got := i
	got.Tags = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("instance\n got %+v\nwant %+v", got, want)
	}
	if i.Tags["marmot:drain"] != "draining" {
		t.Errorf("tags = %v", i.Tags)
	}
	asg := c.sent("DescribeAutoScalingGroups")[0]
	if asg.Get("AutoScalingGroupNames.member.1") != "my-asg" || asg.Get("MaxRecords") != "100" {
		t.Errorf("DescribeAutoScalingGroups sent %v", asg)
	}
	if ids := formList(c.sent("DescribeInstances")[0], "InstanceId"); !slices.Equal(ids, []string{"i-1234567890abcdef0"}) {
		t.Errorf("DescribeInstances ids = %v", ids)
	}
}

func TestGroupsByTagSendsANDedFilters(t *testing.T) {
	c := newCanned(t, func(string, url.Values) reply {
		return ok(`<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups/></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>`)
	})
	groups, err := c.provider().Groups(bg, cloud.GroupQuery{Tags: map[string]string{cloud.TagPool: "batch", "team": ""}})
	if err != nil || len(groups) != 0 {
		t.Fatalf("groups %v, err %v", groups, err)
	}
	f := c.sent("DescribeAutoScalingGroups")[0]
	want := map[string]string{
		"Filters.member.1.Name": "tag:marmot:pool", "Filters.member.1.Values.member.1": "batch",
		"Filters.member.2.Name": "tag-key", "Filters.member.2.Values.member.1": "team",
	}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("%s = %q, want %q (form %v)", k, f.Get(k), v, f)
		}
	}
	if f.Has("AutoScalingGroupNames.member.1") {
		t.Errorf("names sent for a tag-only query: %v", f)
	}
	if len(c.sent("DescribeInstances")) != 0 {
		t.Error("DescribeInstances called for groups without instances")
	}
}

func TestGroupsFollowsNextToken(t *testing.T) {
	page := func(name, next string) string {
		tok := ""
		if next != "" {
			tok = "<NextToken>" + next + "</NextToken>"
		}
		return `<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups><member>
<AutoScalingGroupName>` + name + `</AutoScalingGroupName><MinSize>0</MinSize><MaxSize>5</MaxSize><DesiredCapacity>1</DesiredCapacity>
<MixedInstancesPolicy><LaunchTemplate><Overrides><member><InstanceType>m5.xlarge</InstanceType></member></Overrides></LaunchTemplate>
<InstancesDistribution><OnDemandBaseCapacity>0</OnDemandBaseCapacity><OnDemandPercentageAboveBaseCapacity>0</OnDemandPercentageAboveBaseCapacity></InstancesDistribution></MixedInstancesPolicy>
<Tags><member><Key>marmot:pool</Key><Value>batch</Value></member></Tags></member></AutoScalingGroups>` + tok +
			`</DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>`
	}
	c := newCanned(t, func(_ string, f url.Values) reply {
		switch f.Get("NextToken") {
		case "":
			return ok(page("a", "t1"))
		case "t1":
			return ok(page("b", "t2"))
		default:
			return ok(page("c", ""))
		}
	})
	groups, err := c.provider().Groups(bg, cloud.GroupQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
		// An empty group: only the mixed instances policy tells type and market.
		if g.Pool != "batch" || g.InstanceType != "m5.xlarge" || !g.Spot {
			t.Errorf("group %+v", g)
		}
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("groups %v, want a b c from three pages", names)
	}
}

func TestInstancesBatchesIDsAndSkipsUnknownOnes(t *testing.T) {
	var ids []string
	for n := range 1500 {
		ids = append(ids, fmt.Sprintf("i-%017x", n))
	}
	unknown := ids[1234] // in the second batch: EC2 does not know it yet
	c := newCanned(t, func(_ string, f url.Values) reply {
		if asked := formList(f, "InstanceId"); len(asked) > 0 {
			if len(asked) > maxInstanceIDs {
				return reply{http.StatusBadRequest, "too many ids"}
			}
			if slices.Contains(asked, unknown) {
				return reply{http.StatusBadRequest, `<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID '` + unknown + `' does not exist</Message></Error></Errors><RequestID>x</RequestID></Response>`}
			}
			return ok(ec2Instances(asked, ""))
		}
		if f.Get("Filter.1.Name") != "instance-id" {
			return reply{http.StatusBadRequest, "unexpected filter"}
		}
		asked := formList(f, "Filter.1.Value")
		if len(asked) > maxFilterValues {
			return reply{http.StatusBadRequest, `<Response><Errors><Error><Code>FilterLimitExceeded</Code><Message>too many</Message></Error></Errors></Response>`}
		}
		return ok(ec2Instances(slices.DeleteFunc(asked, func(id string) bool { return id == unknown }), ""))
	})
	got, err := c.provider().Instances(bg, cloud.InstanceQuery{IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids)-1 || slices.ContainsFunc(got, func(i cloud.Instance) bool { return i.ID == unknown }) {
		t.Errorf("got %d instances, want every id but the unknown one", len(got))
	}
	// 1000 ids, then 500 ids refused, then the 500 again as filters of 200, 200 and 100 values.
	var sizes []int
	for _, f := range c.sent("DescribeInstances") {
		sizes = append(sizes, len(formList(f, "InstanceId"))+len(formList(f, "Filter.1.Value")))
	}
	if !slices.Equal(sizes, []int{1000, 500, 200, 200, 100}) {
		t.Errorf("batch sizes %v", sizes)
	}
}

func TestInstancesByPrivateIP(t *testing.T) {
	c := newCanned(t, func(_ string, f url.Values) reply {
		if f.Get("Filter.1.Name") != "private-ip-address" || f.Get("MaxResults") != "1000" {
			return reply{http.StatusBadRequest, "unexpected"}
		}
		return ok(ec2Instances([]string{"i-0000000000000000a"}, ""))
	})
	got, err := c.provider().Instances(bg, cloud.InstanceQuery{PrivateIPs: []string{"10.0.0.0"}})
	if err != nil || len(got) != 1 || got[0].Group != "my-asg" || got[0].Lifecycle != "" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := c.provider().Instances(bg, cloud.InstanceQuery{}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("empty query: %v, want ErrInvalid", err)
	}
}

func TestSpotPricesStopAtEmptyNextToken(t *testing.T) {
	// The real 2011 capture, with the empty <nextToken/> EC2 sends on a last page.
	body := strings.Replace(fixture(t, "ec2/DescribeSpotPriceHistory.response.jclouds-capture.xml"),
		"</spotPriceHistorySet>", "</spotPriceHistorySet>\n    <nextToken/>", 1)
	c := newCanned(t, func(string, url.Values) reply { return ok(body) })
	end := time.Date(2011, 3, 8, 0, 0, 0, 0, time.UTC)
	prices, err := c.provider().SpotPrices(bg, cloud.SpotPriceQuery{InstanceTypes: []string{"m1.large"}, Zones: []string{"us-east-1a", "us-east-1b"}, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.sent("DescribeSpotPriceHistory")); n != 1 {
		t.Fatalf("%d requests, want 1: an empty nextToken ends the history", n)
	}
	if len(prices) != 3 || prices[0].InstanceType != "t1.micro" || prices[0].PerHour != 0.013 || prices[1].PerHour != 0.119 ||
		!prices[0].Time.Equal(time.Date(2011, 3, 7, 17, 56, 54, 0, time.UTC)) {
		t.Errorf("prices = %+v, want the three entries newest first", prices)
	}
	f := c.sent("DescribeSpotPriceHistory")[0]
	want := map[string]string{
		"ProductDescription.1": "Linux/UNIX", "InstanceType.1": "m1.large", "Filter.1.Name": "availability-zone",
		"Filter.1.Value.2": "us-east-1b", "StartTime": "2011-03-08T00:00:00Z", "EndTime": "2011-03-08T00:00:00Z",
	}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, f.Get(k), v)
		}
	}
}

func TestActivitiesFromAWSSampleFailedLaunch(t *testing.T) {
	c := newCanned(t, func(string, url.Values) reply {
		return ok(fixture(t, "autoscaling/DescribeScalingActivities.response.awsdoc.xml"))
	})
	acts, err := c.provider().Activities(bg, "my-asg", time.Date(2019, 4, 12, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 {
		t.Fatalf("activities = %+v", acts)
	}
	a := acts[0]
	if a.Kind != cloud.ActivityLaunch || a.InstanceID != "" || a.Status != cloud.ActivityFailed || !a.Status.Done() {
		t.Errorf("activity = %+v", a)
	}
	if err := a.Err(); !errors.Is(err, cloud.ErrCapacity) || !strings.Contains(err.Error(), "ami-xxxxxxxx") {
		t.Errorf("Err() = %v, want ErrCapacity with the AWS reason", err)
	}
	// Activities come newest first: one older than since ends the list.
	acts, err = c.provider().Activities(bg, "my-asg", time.Date(2019, 4, 13, 0, 0, 0, 0, time.UTC))
	if err != nil || len(acts) != 0 {
		t.Errorf("since after the only activity: %v, %v", acts, err)
	}
	if f := c.sent("DescribeScalingActivities")[0]; f.Get("AutoScalingGroupName") != "my-asg" || f.Get("MaxRecords") != "100" {
		t.Errorf("sent %v", f)
	}
}

func TestTerminateInstanceFromAWSSample(t *testing.T) {
	c := newCanned(t, func(string, url.Values) reply {
		return ok(fixture(t, "autoscaling/TerminateInstanceInAutoScalingGroup.response.awsdoc.xml"))
	})
	act, err := c.provider().TerminateInstance(bg, "i-1234567890abcdef0", true)
	if err != nil {
		t.Fatal(err)
	}
	if act.Kind != cloud.ActivityTerminate || act.InstanceID != "i-1234567890abcdef0" || act.Status != cloud.ActivityInProgress || act.Group != "my-asg" {
		t.Errorf("activity = %+v", act)
	}
	f := c.sent("TerminateInstanceInAutoScalingGroup")[0]
	if f.Get("InstanceId") != "i-1234567890abcdef0" || f.Get("ShouldDecrementDesiredCapacity") != "true" {
		t.Errorf("sent %v", f)
	}
}

func TestMutatingCallsSendWhatAWSExpects(t *testing.T) {
	c := newCanned(t, func(action string, _ url.Values) reply {
		switch action {
		case "SetDesiredCapacity":
			return ok(fixture(t, "autoscaling/SetDesiredCapacity.response.goamz.xml"))
		case "SetInstanceProtection":
			return ok(`<SetInstanceProtectionResponse><SetInstanceProtectionResult/><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></SetInstanceProtectionResponse>`)
		}
		return ok(`<` + action + `Response><requestId>r</requestId><return>true</return></` + action + `Response>`)
	})
	p := c.provider()
	if err := p.SetDesiredCapacity(bg, "my-asg", 4); err != nil {
		t.Fatal(err)
	}
	if f := c.sent("SetDesiredCapacity")[0]; f.Get("DesiredCapacity") != "4" || f.Get("HonorCooldown") != "false" {
		t.Errorf("SetDesiredCapacity sent %v", f)
	}
	var ids []string
	for n := range 120 {
		ids = append(ids, fmt.Sprintf("i-%017x", n))
	}
	if err := p.SetInstanceProtection(bg, "my-asg", ids, true); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, f := range c.sent("SetInstanceProtection") {
		sizes = append(sizes, len(formList(f, "InstanceIds.member")))
	}
	if !slices.Equal(sizes, []int{50, 50, 20}) {
		t.Errorf("SetInstanceProtection batches %v, want 50 50 20", sizes)
	}
	if err := p.SetInstanceTags(bg, "i-1", map[string]string{"marmot:drain": "draining:2026-01-01T00:00:00Z", "a": "b"}); err != nil {
		t.Fatal(err)
	}
	f := c.sent("CreateTags")[0]
	if f.Get("ResourceId.1") != "i-1" || f.Get("Tag.1.Key") != "a" || f.Get("Tag.2.Key") != "marmot:drain" || f.Get("Tag.2.Value") != "draining:2026-01-01T00:00:00Z" {
		t.Errorf("CreateTags sent %v", f)
	}
	if err := p.DeleteInstanceTags(bg, "i-1", []string{"marmot:drain"}); err != nil {
		t.Fatal(err)
	}
	f = c.sent("DeleteTags")[0]
	if f.Get("Tag.1.Key") != "marmot:drain" || f.Has("Tag.1.Value") {
		t.Errorf("DeleteTags sent %v; a value would delete the tag only when it matches", f)
	}
	// DeleteTags with no tags deletes all of them: nothing may be sent.
	if err := p.DeleteInstanceTags(bg, "i-1", nil); err != nil || len(c.sent("DeleteTags")) != 1 {
		t.Errorf("DeleteInstanceTags with no keys: err %v, %d calls", err, len(c.sent("DeleteTags")))
	}
}

func TestErrorsAreClassifiedAndRetriedAsAWSSays(t *testing.T) {
	asError := func(code, msg string) string {
		return `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>` + code +
			`</Code><Message>` + msg + `</Message></Error><RequestId>r</RequestId></ErrorResponse>`
	}
	setDesired := func(p *Provider) (string, error) { return "SetDesiredCapacity", p.SetDesiredCapacity(bg, "x", 0) }
	tagInstance := func(p *Provider) (string, error) {
		return "CreateTags", p.SetInstanceTags(bg, "i-1", map[string]string{"k": "v"})
	}
	tests := []struct {
		name     string
		call     func(p *Provider) (action string, err error)
		reply    func(t *testing.T) reply
		want     error
		code     string
		attempts int // requests sent; 3 means retried up to WithRetry's bound
	}{
		{"throttling (real envelope)", setDesired, func(t *testing.T) reply {
			return reply{400, fixture(t, "errors/autoscaling-throttling.shape-boto-test.xml")}
		}, cloud.ErrThrottled, "Throttling", 3},
		{"ec2 request limit", tagInstance, func(*testing.T) reply {
			return reply{503, `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>`}
		}, cloud.ErrThrottled, "RequestLimitExceeded", 3},
		{"resource contention", setDesired, func(*testing.T) reply {
			return reply{500, asError("ResourceContention", "You already have a pending update to an Auto Scaling resource.")}
		}, cloud.ErrUnavailable, "ResourceContention", 3},
		{"scaling in progress is not retried", setDesired, func(*testing.T) reply {
			return reply{400, asError("ScalingActivityInProgress", "Scaling activity is in progress and blocks this action")}
		}, cloud.ErrScalingInProgress, "ScalingActivityInProgress", 1},
		{"below min", setDesired, func(*testing.T) reply {
			return reply{400, asError("ValidationError", "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup.")}
		}, cloud.ErrInvalid, "ValidationError", 1},
		{"unknown group", setDesired, func(*testing.T) reply {
			return reply{400, asError("ValidationError", "AutoScalingGroup name not found - AutoScalingGroup 'x' not found")}
		}, cloud.ErrNotFound, "ValidationError", 1},
		{"ec2 error envelope (real)", tagInstance, func(t *testing.T) reply {
			return reply{400, fixture(t, "errors/ec2-error.goamz-ErrorDump.xml")}
		}, cloud.ErrInvalid, "UnsupportedOperation", 1},
		{"unknown instance", tagInstance, func(*testing.T) reply {
			return reply{400, `<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-1' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>`}
		}, cloud.ErrNotFound, "InvalidInstanceID.NotFound", 1},
		// With no body to read the SDK reports "UnknownError"; the status makes it a server failure.
		{"server error without a body", setDesired, func(*testing.T) reply { return reply{502, ""} }, cloud.ErrUnavailable, "UnknownError", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCanned(t, func(string, url.Values) reply { return tt.reply(t) })
			action, err := tt.call(c.provider())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var ce *cloud.Error
			if !errors.As(err, &ce) || ce.Code != tt.code || ce.Message == "" {
				t.Errorf("cloud.Error = %+v, want code %q with the AWS message", ce, tt.code)
			}
			if n := len(c.sent(action)); n != tt.attempts {
				t.Errorf("%d requests, want %d", n, tt.attempts)
			}
		})
	}
}

func TestUnreachableEndpointIsUnavailable(t *testing.T) {
	c := newCanned(t, func(string, url.Values) reply { return ok("") })
	p := c.provider()
	c.server.Close()
	err := p.SetDesiredCapacity(bg, "x", 1)
	if !errors.Is(err, cloud.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

func TestCancelStopsRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	c := newCanned(t, func(string, url.Values) reply {
		cancel() // the caller gives up while AWS throttles
		return reply{400, `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`}
	})
	// Many attempts with long waits: only the cancellation can end this call early.
	err := c.provider(WithRetry(50, time.Hour)).SetDesiredCapacity(ctx, "x", 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(c.sent("SetDesiredCapacity")); n != 1 {
		t.Errorf("%d requests after the cancel, want 1", n)
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		code, msg string
		status    int
		want      error
	}{
		{"Throttling", "Rate exceeded", 400, cloud.ErrThrottled},
		{"RequestLimitExceeded", "", 503, cloud.ErrThrottled},
		{"ScalingActivityInProgress", "", 400, cloud.ErrScalingInProgress},
		{"InvalidInstanceID.NotFound", "The instance ID 'i-1' does not exist", 400, cloud.ErrNotFound},
		{"ValidationError", "Instance Id not found - No managed instance found for instance ID: i-1", 400, cloud.ErrNotFound},
		{"ValidationError", "New SetDesiredCapacity value 11 is above max value 10 for the AutoScalingGroup.", 400, cloud.ErrInvalid},
		{"InsufficientInstanceCapacity", "", 500, cloud.ErrCapacity},
		{"ResourceContention", "", 500, cloud.ErrUnavailable},
		{"InternalFailure", "", 500, cloud.ErrUnavailable},
		{"LimitExceeded", "", 400, cloud.ErrInvalid}, // Auto Scaling account limit: not a throttle
		{"UnauthorizedOperation", "", 403, nil},
		{"SomethingNew", "", 400, cloud.ErrInvalid},
		{"SomethingNew", "", 0, nil},
	}
	for _, tt := range tests {
		if got := kindOf(tt.code, tt.msg, tt.status); got != tt.want {
			t.Errorf("kindOf(%s, %q, %d) = %v, want %v", tt.code, tt.msg, tt.status, got, tt.want)
		}
	}
}

func TestOneCallOneRequest(t *testing.T) {
	// An answer big enough not to be in the client's buffers when Do returns: one instance with a
	// 32 KiB tag value (cheap to decode, unlike a page of many instances).
	page := strings.Replace(ec2Instances([]string{"i-0000000000000000a"}, ""), "<value>draining</value>",
		"<value>"+strings.Repeat("x", 32<<10)+"</value>", 1)
	c := newCanned(t, func(string, url.Values) reply { return ok(page) })
	p := c.provider()
	const calls = 30
	for range calls {
		got, err := p.Instances(bg, cloud.InstanceQuery{PrivateIPs: []string{"10.0.0.1"}})
		if err != nil || len(got) != 1 || len(got[0].Tags["marmot:drain"]) != 32<<10 {
			t.Fatalf("got %d instances, err %v", len(got), err)
		}
	}
	// Without wholeBody, most of these calls are sent more than once over loopback.
	if n := len(c.sent("DescribeInstances")); n != calls {
		t.Errorf("%d requests for %d calls", n, calls)
	}
}

func TestClientTimeoutIsUnavailableNotCanceled(t *testing.T) {
	done := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then the server notices when the client hangs up
		select {                           // never answers: only the client's own timeout ends the call
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(done) })
	client := s.Client()
	client.Timeout = 50 * time.Millisecond
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), HTTPClient: client}
	p := NewFromConfig(cfg, WithEndpoint(s.URL), WithRetry(2, 0))
	err := p.SetDesiredCapacity(bg, "x", 1)
	if !errors.Is(err, cloud.ErrUnavailable) || cloud.Reason(err) != "unavailable" {
		t.Errorf("err = %v (reason %q), want ErrUnavailable: the caller's ctx is still live", err, cloud.Reason(err))
	}
}
