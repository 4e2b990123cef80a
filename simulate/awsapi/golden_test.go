package awsapi_test

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marmot-project/marmot/simulate"
)

// The upstream samples (shared/fixtures/aws, provenance in fixtures/SOURCES.md) fix the element names
// and nesting of our answers. Values differ, and our answers may have elements a sample lacks.

const fixtures = "../../../shared/fixtures/aws"

// elementPaths returns the root's local name and the slash-joined path of every element below it.
// required holds the paths of elements that carry text or children: a sample's empty placeholder
// (<LaunchTemplate />, <reason/>) stands for an absent value and binds nothing.
func elementPaths(t *testing.T, doc []byte) (root string, all, required map[string]bool) {
	t.Helper()
	all, required = map[string]bool{}, map[string]bool{}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	type open struct {
		path    string
		content bool
	}
	var stack []open
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				root = tok.Name.Local
				stack = append(stack, open{path: ""})
				continue
			}
			stack[len(stack)-1].content = true
			parent := stack[len(stack)-1].path
			stack = append(stack, open{path: strings.TrimPrefix(parent+"/"+tok.Name.Local, "/")})
			all[stack[len(stack)-1].path] = true
		case xml.CharData:
			if len(stack) > 0 && len(bytes.TrimSpace(tok)) > 0 {
				stack[len(stack)-1].content = true
			}
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.content && top.path != "" {
				required[top.path] = true
			}
		}
	}
	return root, all, required
}

// launchTemplateOnly exempts the launch-configuration alternative: a group and its instances carry a
// LaunchConfigurationName or a LaunchTemplate (wire-facts.md §5.2), and the model's groups launch
// from templates.
const launchTemplateOnly = "the simulated groups launch from a launch template, not a launch configuration"

func TestAnswersHaveTheUpstreamShape(t *testing.T) {
	e := newEnv(t, func(sc *simulate.Scenario) { sc.Pools[0].Groups[0].Spot = true }) // spot: instanceLifecycle
	var victim string
	e.world.View(func(v *simulate.View) { victim = v.Instances()[0].ID })

	for _, tc := range []struct {
		fixture string
		request string
		status  int
		setup   func()
		exempt  map[string]string // path → why our answer lacks it
	}{
		{fixture: "autoscaling/DescribeAutoScalingGroups.response.awsdoc.xml", request: "Action=DescribeAutoScalingGroups&Version=2011-01-01",
			exempt: map[string]string{
				"DescribeAutoScalingGroupsResult/AutoScalingGroups/member/LaunchConfigurationName":                  launchTemplateOnly,
				"DescribeAutoScalingGroupsResult/AutoScalingGroups/member/Instances/member/LaunchConfigurationName": launchTemplateOnly,
			}},
		{fixture: "autoscaling/DescribeAutoScalingGroups.response.goamz.xml", request: "Action=DescribeAutoScalingGroups&Version=2011-01-01",
			exempt: map[string]string{
				"DescribeAutoScalingGroupsResult/AutoScalingGroups/member/LaunchConfigurationName":                  launchTemplateOnly,
				"DescribeAutoScalingGroupsResult/AutoScalingGroups/member/Instances/member/LaunchConfigurationName": launchTemplateOnly,
				"DescribeAutoScalingGroupsResult/AutoScalingGroups/member/LoadBalancerNames/member":                 "Mesos agents sit behind no classic load balancer",
			}},
		{fixture: "autoscaling/DescribeAutoScalingInstances.response.goamz.xml", request: "Action=DescribeAutoScalingInstances&Version=2011-01-01",
			exempt: map[string]string{
				"DescribeAutoScalingInstancesResult/AutoScalingInstances/member/LaunchConfigurationName": launchTemplateOnly,
			}},
		{fixture: "autoscaling/DescribeScalingActivities.response.awsdoc.xml", request: "Action=DescribeScalingActivities&Version=2011-01-01",
			exempt: map[string]string{
				"DescribeScalingActivitiesResult/Activities/member/StatusMessage": "only failed activities carry a status message, and the model fails no launch",
			}},
		{fixture: "autoscaling/DescribeScalingActivities.response.goamz.xml", request: "Action=DescribeScalingActivities&Version=2011-01-01&MaxRecords=1",
			exempt: map[string]string{
				"DescribeScalingActivitiesResult/Activities/member/StatusMessage": "only failed activities carry a status message, and the model fails no launch",
			}},
		{fixture: "autoscaling/SetDesiredCapacity.response.goamz.xml", request: "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=marmot-default&DesiredCapacity=4"},
		{fixture: "autoscaling/UpdateAutoScalingGroup.response.goamz.xml", request: "Action=UpdateAutoScalingGroup&Version=2011-01-01&AutoScalingGroupName=marmot-default&MaxSize=9"},
		{fixture: "autoscaling/TerminateInstanceInAutoScalingGroup.response.awsdoc.xml",
			request: "Action=TerminateInstanceInAutoScalingGroup&Version=2011-01-01&ShouldDecrementDesiredCapacity=false&InstanceId=" + victim},
		{fixture: "autoscaling/TerminateInstanceInAutoScalingGroup.response.goamz.xml",
			request: "Action=TerminateInstanceInAutoScalingGroup&Version=2011-01-01&ShouldDecrementDesiredCapacity=false&InstanceId=" + victim},
		{fixture: "autoscaling/Error-ResourceInUse.response.goamz.xml", status: http.StatusBadRequest,
			request: "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=marmot-default&DesiredCapacity=99"},
		{fixture: "errors/autoscaling-throttling.shape-boto-test.xml", status: http.StatusBadRequest,
			request: "Action=DescribeAutoScalingGroups&Version=2011-01-01",
			setup: func() {
				_ = e.world.InjectFault(simulate.Fault{Kind: simulate.FaultAWSThrottle, Service: simulate.ServiceAutoScaling, Count: 1})
			}},
		{fixture: "ec2/DescribeInstances.response.goamz-awsdoc-example1.xml", request: "Action=DescribeInstances&Version=2016-11-15",
			exempt: map[string]string{
				"reservationSet/item/instancesSet/item/kernelId":  "current-generation instances boot HVM AMIs, which have no kernel or ramdisk image",
				"reservationSet/item/instancesSet/item/ramdiskId": "current-generation instances boot HVM AMIs, which have no kernel or ramdisk image",
				"reservationSet/item/instancesSet/item/ipAddress": "Mesos agents live in private subnets without public addresses",
				"reservationSet/item/instancesSet/item/dnsName":   "Mesos agents live in private subnets without public names (the element is there, empty)",
				"reservationSet/item/instancesSet/item/keyName":   "the agents' launch template names no SSH key pair",
			}},
		{fixture: "ec2/DescribeSpotPriceHistory.response.jclouds-capture.xml", request: "Action=DescribeSpotPriceHistory&Version=2016-11-15&StartTime=2026-01-04T20:00:00Z"},
		{fixture: "errors/ec2-error.goamz-ErrorDump.xml", status: http.StatusBadRequest,
			request: "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			sample, err := os.ReadFile(filepath.Join(fixtures, tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup()
			}
			rec := e.post(tc.request)
			if want := max(tc.status, http.StatusOK); rec.Code != want {
				t.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
			}
			wantRoot, _, required := elementPaths(t, sample)
			root, ours, _ := elementPaths(t, rec.Body.Bytes())
			if root != wantRoot {
				t.Errorf("root element %s, the sample's is %s", root, wantRoot)
			}
			for path := range required {
				if !ours[path] && tc.exempt[path] == "" {
					t.Errorf("our answer lacks %s/%s", root, path)
				}
			}
			for path, why := range tc.exempt {
				if !required[path] {
					t.Errorf("exemption %s (%s) matches nothing in the sample", path, why)
				}
			}
		})
	}
}

// Every sample request of the Auto Scaling API Reference is understood: each reaches its operation,
// which answers from the parameters it read (the group and instance names in the samples are
// AWS's; the world has a group my-asg but no instance i-1234567890abcdef0).
func TestSampleRequestsAreAccepted(t *testing.T) {
	e := newEnv(t, func(sc *simulate.Scenario) {
		g := &sc.Pools[0].Groups[0]
		g.Name = "my-asg"
		g.Tags = map[string]string{"environment": "production"}
	})
	want := map[string]struct {
		status int
		has    string // a string the answer must contain
	}{
		"DescribeAutoScalingGroups (example 1)":             {200, "<AutoScalingGroupName>my-asg</AutoScalingGroupName>"},
		"DescribeAutoScalingGroups (example 2: tag filter)": {200, "<AutoScalingGroupName>my-asg</AutoScalingGroupName>"},
		"SetDesiredCapacity":                                {200, "<SetDesiredCapacityResponse"},
		"TerminateInstanceInAutoScalingGroup":               {400, "No managed instance found for instance ID: i-1234567890abcdef0"},
		"DescribeScalingActivities":                         {200, "<AutoScalingGroupName>my-asg</AutoScalingGroupName>"},
		"SetInstanceProtection":                             {400, "The instance i-1234567890abcdef0 is not part of Auto Scaling group my-asg."},
		"CompleteLifecycleAction":                           {400, "No active Lifecycle Action found with token bcd2f1b8-9a78-44d3-8a7a-4dd07EXAMPLE"},
	}
	samples := sampleRequests(t)
	if len(samples) != len(want) {
		t.Errorf("%d samples, %d expectations: a sample was added or renamed", len(samples), len(want))
	}
	for name, body := range samples {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for sample %q", name)
			}
			rec := e.post(body)
			if rec.Code != w.status || !strings.Contains(rec.Body.String(), w.has) {
				t.Errorf("%s: status %d, want %d containing %q:\n%s", body, rec.Code, w.status, w.has, rec.Body)
			}
		})
	}
	if g := e.group("my-asg"); *g.DesiredCapacity != 2 {
		t.Errorf("the SetDesiredCapacity sample left desired at %d, want 2", *g.DesiredCapacity)
	}
}

// sampleRequests reads sample-requests.awsdoc.txt: each "## Name" section holds a GET-style URL
// split over lines ("https://…/?Action=X" then "&Name=Value" lines and "&AUTHPARAMS"). It returns the
// form body an SDK would POST for each.
func sampleRequests(t testing.TB) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, "autoscaling/sample-requests.awsdoc.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	var name string
	var params []string
	flush := func() {
		if name != "" {
			out[name] = strings.Join(params, "&")
		}
		name, params = "", nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "## "):
			flush()
			name = strings.TrimPrefix(line, "## ")
			if i := strings.Index(name, " (no sample"); i > 0 {
				name = name[:i]
			}
		case strings.HasPrefix(line, "https://"):
			_, query, _ := strings.Cut(line, "?")
			params = append(params, query)
		case strings.HasPrefix(line, "&") && line != "&AUTHPARAMS":
			params = append(params, strings.TrimPrefix(line, "&"))
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok := out["SetDesiredCapacity"]; !ok {
		t.Fatalf("could not read the samples: %v", out)
	}
	return out
}
