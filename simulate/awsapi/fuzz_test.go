package awsapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/awsapi"
)

// FuzzQueryRequest throws arbitrary form bodies at the handler: whatever the body, the answer is one
// of the protocol envelopes, errors are 4xx (no fault is injected, so a 5xx would be our bug), and
// nothing panics. Seeds are the API Reference's sample requests plus lists, filters and tags in both
// protocols' spellings.
func FuzzQueryRequest(f *testing.F) {
	for _, body := range sampleRequests(f) {
		f.Add(body)
	}
	for _, seed := range []string{
		"Action=DescribeAutoScalingGroups&Version=2011-01-01&Filters.member.1.Name=tag:marmot:pool&Filters.member.1.Values.member.1=default&MaxRecords=1",
		"Action=DescribeTags&Version=2011-01-01&Filters.member.1.Name=key&Filters.member.1.Values.member.1=team",
		"Action=CreateOrUpdateTags&Version=2011-01-01&Tags.member.1.ResourceId=marmot-default&Tags.member.1.ResourceType=auto-scaling-group&Tags.member.1.Key=k&Tags.member.1.Value=v&Tags.member.1.PropagateAtLaunch=true",
		"Action=UpdateAutoScalingGroup&Version=2011-01-01&AutoScalingGroupName=marmot-default&MinSize=0&MaxSize=4&DesiredCapacity=4",
		"Action=DescribeScalingActivities&Version=2011-01-01&ActivityIds.member.1=x&MaxRecords=2&NextToken=eA",
		"Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag:aws:autoscaling:groupName&Filter.1.Value.1=marmot-*&MaxResults=5",
		"Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0",
		"Action=CreateTags&Version=2016-11-15&ResourceId.1=i-0123456789abcdef0&Tag.1.Key=marmot:drain&Tag.1.Value=draining",
		"Action=DeleteTags&Version=2016-11-15&ResourceId.1=i-0123456789abcdef0",
		"Action=DescribeSpotPriceHistory&Version=2016-11-15&InstanceType.1=m5.xlarge&ProductDescription.1=Linux/UNIX&StartTime=0001-01-01T00:00:00Z&MaxResults=2",
		"Action=DescribeInstanceTypes&Version=2016-11-15&InstanceType.1=m5.xlarge&InstanceType.2=m5.large",
		"Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=&Filter.1.Value.99999=x",
		"%zz&&==",
		"Action=SetDesiredCapacity&Version=2011-01-01&Action=x",
		"",
	} {
		f.Add(seed)
	}
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		// A fresh world per input, so that one input's scaling does not grow the next one's world.
		w, err := simulate.New(sc, simulate.NewVirtualClock(sc.StartTime().Add(time.Hour)), simulate.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		rec := httptest.NewRecorder()
		awsapi.New(w).ServeHTTP(rec, r)

		env := decodeEnvelope(t, rec)
		switch root := env.XMLName.Local; {
		case rec.Code == http.StatusOK:
			if !strings.HasSuffix(root, "Response") || env.requestID() == "" {
				t.Errorf("200 with root %s and request id %q", root, env.requestID())
			}
		case rec.Code >= 400 && rec.Code < 500:
			if (root != "ErrorResponse" && root != "Response") || env.code() == "" {
				t.Errorf("%d with root %s and code %q", rec.Code, root, env.code())
			}
		default:
			t.Errorf("status %d for %q:\n%s", rec.Code, body, rec.Body)
		}
	})
}
