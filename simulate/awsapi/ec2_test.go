package awsapi_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/marmot-project/marmot/simulate"
)

func (e *env) instanceIDs(filters ...ec2types.Filter) []string {
	e.t.Helper()
	var ids []string
	pages := ec2.NewDescribeInstancesPaginator(e.ec2, &ec2.DescribeInstancesInput{Filters: filters})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx(e.t))
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				ids = append(ids, aws.ToString(i.InstanceId))
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func filter(name string, values ...string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String(name), Values: values}
}

func TestDescribeInstancesFieldsAndFilters(t *testing.T) {
	e := newEnv(t, func(sc *simulate.Scenario) { sc.Pools[0].Groups[0].Spot = true })
	var want []simulate.Instance
	e.world.View(func(v *simulate.View) {
		for _, i := range v.Instances() {
			want = append(want, *i)
		}
	})
	if len(want) != 3 {
		t.Fatalf("the scenario has %d instances", len(want))
	}
	first := want[0]
	inst := e.instance(first.ID)
	if aws.ToString(inst.ImageId) != first.ImageID || aws.ToString(inst.PrivateIpAddress) != first.PrivateIP ||
		aws.ToString(inst.PrivateDnsName) != first.PrivateDNS || string(inst.InstanceType) != first.Type ||
		aws.ToString(inst.Placement.AvailabilityZone) != first.AZ || !inst.LaunchTime.Equal(first.LaunchTime) ||
		inst.State.Name != ec2types.InstanceStateNameRunning || inst.InstanceLifecycle != ec2types.InstanceLifecycleTypeSpot {
		t.Errorf("EC2 instance %+v does not match the model's %+v", inst, first)
	}
	if tagValue(inst.Tags, "marmot:pool") != pool || tagValue(inst.Tags, "team") != "platform" {
		t.Errorf("tags %+v lack the propagated group tags", inst.Tags)
	}

	all := []string{want[0].ID, want[1].ID, want[2].ID}
	slices.Sort(all)
	for _, tc := range []struct {
		name    string
		filters []ec2types.Filter
		want    []string
	}{
		{"none", nil, all},
		{"instance-id", []ec2types.Filter{filter("instance-id", first.ID)}, []string{first.ID}},
		{"private-ip-address", []ec2types.Filter{filter("private-ip-address", first.PrivateIP)}, []string{first.ID}},
		{"private-ip wildcard", []ec2types.Filter{filter("private-ip-address", "10.0.*")}, all},
		{"instance-state-name", []ec2types.Filter{filter("instance-state-name", "running")}, all},
		{"state none", []ec2types.Filter{filter("instance-state-name", "terminated")}, nil},
		{"tag:marmot:pool", []ec2types.Filter{filter("tag:marmot:pool", pool)}, all},
		{"tag-key", []ec2types.Filter{filter("tag-key", "nope", "team")}, all},
		{"instance-type", []ec2types.Filter{filter("instance-type", "m5.*")}, all},
		{"availability-zone", []ec2types.Filter{filter("availability-zone", first.AZ), filter("instance-id", first.ID)}, []string{first.ID}},
		{"instance-lifecycle", []ec2types.Filter{filter("instance-lifecycle", "spot")}, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.instanceIDs(tc.filters...); !slices.Equal(got, tc.want) {
				t.Errorf("ids %v, want %v", got, tc.want)
			}
		})
	}

	_, err := e.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantAPIError(t, err, "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist")
	_, err = e.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{filter("bogus", "x")}})
	wantAPIError(t, err, "InvalidParameterValue", "The filter 'bogus' is invalid")
	_, err = e.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{first.ID}, MaxResults: aws.Int32(5)})
	wantAPIError(t, err, "InvalidParameterCombination", "")
	_, err = e.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(4)})
	wantAPIError(t, err, "InvalidParameterValue", "")
}

func TestDescribeInstancesPages(t *testing.T) {
	e := newEnv(t)
	if _, err := e.as.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(8)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	pages := ec2.NewDescribeInstancesPaginator(e.ec2, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for n := 0; pages.HasMorePages(); n++ {
		if n > 3 {
			t.Fatal("pagination does not end")
		}
		page, err := pages.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Reservations) > 5 {
			t.Errorf("page of %d > MaxResults", len(page.Reservations))
		}
		for _, r := range page.Reservations {
			ids = append(ids, aws.ToString(r.Instances[0].InstanceId))
		}
	}
	slices.Sort(ids)
	if len(ids) != 8 || !slices.Equal(ids, e.instanceIDs()) || len(slices.Compact(slices.Clone(ids))) != 8 {
		t.Errorf("paged through %v", ids)
	}
}

// The autoscaler keeps drain progress in instance tags; they must round-trip and be filterable.
func TestInstanceTags(t *testing.T) {
	e := newEnv(t)
	ids := e.instanceIDs()
	target := ids[0]
	if _, err := e.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{target}, Tags: []ec2types.Tag{
		{Key: aws.String("marmot:drain"), Value: aws.String("draining")},
		{Key: aws.String("marmot:drain-started"), Value: aws.String("2026-01-05T00:00:00Z")},
	}}); err != nil {
		t.Fatal(err)
	}
	if got := e.instanceIDs(filter("tag:marmot:drain", "draining")); !slices.Equal(got, []string{target}) {
		t.Errorf("tag:marmot:drain=draining matches %v", got)
	}
	if got := e.instanceIDs(filter("tag-key", "marmot:drain-started")); !slices.Equal(got, []string{target}) {
		t.Errorf("tag-key matches %v", got)
	}
	if got := e.instanceIDs(filter("tag-value", "drain*")); !slices.Equal(got, []string{target}) {
		t.Errorf("tag-value wildcard matches %v", got)
	}
	// Overwrite, then delete one tag only when its value matches and another whatever its value.
	if _, err := e.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{target}, Tags: []ec2types.Tag{{Key: aws.String("marmot:drain"), Value: aws.String("down")}}}); err != nil {
		t.Fatal(err)
	}
	if v := tagValue(e.instance(target).Tags, "marmot:drain"); v != "down" {
		t.Errorf("overwritten tag = %q", v)
	}
	if _, err := e.ec2.DeleteTags(ctx(t), &ec2.DeleteTagsInput{Resources: []string{target}, Tags: []ec2types.Tag{{Key: aws.String("marmot:drain"), Value: aws.String("draining")}}}); err != nil {
		t.Fatal(err)
	}
	if v := tagValue(e.instance(target).Tags, "marmot:drain"); v != "down" {
		t.Errorf("a delete with another value removed the tag (now %q)", v)
	}
	if _, err := e.ec2.DeleteTags(ctx(t), &ec2.DeleteTagsInput{Resources: []string{target}, Tags: []ec2types.Tag{{Key: aws.String("marmot:drain")}, {Key: aws.String("marmot:drain-started")}}}); err != nil {
		t.Fatal(err)
	}
	if got := e.instanceIDs(filter("tag-key", "marmot:drain", "marmot:drain-started")); len(got) != 0 {
		t.Errorf("deleted tags still match %v", got)
	}
	if g := tagValue(e.instance(target).Tags, "aws:autoscaling:groupName"); g != group {
		t.Errorf("aws:autoscaling:groupName lost: %q", g)
	}

	_, err := e.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{"i-0123456789abcdef0"}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantAPIError(t, err, "InvalidInstanceID.NotFound", "")
	_, err = e.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{target}, Tags: []ec2types.Tag{{Key: aws.String("aws:mine"), Value: aws.String("v")}}})
	wantAPIError(t, err, "InvalidParameterValue", "")
	_, err = e.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{DryRun: aws.Bool(true), Resources: []string{target}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantAPIError(t, err, "DryRunOperation", "")
	if v := tagValue(e.instance(target).Tags, "k"); v != "" {
		t.Error("a dry run tagged the instance")
	}
}

func TestSpotPriceHistory(t *testing.T) {
	e := newEnv(t)
	now := e.world.Now()
	start := now.Add(-3 * time.Hour)
	var want []simulate.SpotPrice
	e.world.View(func(v *simulate.View) { want = v.SpotPriceHistory([]string{"m5.xlarge"}, nil, start, now) })
	if len(want) < 4 {
		t.Fatalf("the model has %d price points", len(want))
	}

	var got []ec2types.SpotPrice
	pages := ec2.NewDescribeSpotPriceHistoryPaginator(e.ec2, &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes: []ec2types.InstanceType{"m5.xlarge"}, ProductDescriptions: []string{"Linux/UNIX"},
		StartTime: aws.Time(start), EndTime: aws.Time(now), MaxResults: aws.Int32(3),
	})
	for pages.HasMorePages() && len(got) < 100 {
		page, err := pages.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.SpotPriceHistory...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d points over the API, %d in the model", len(got), len(want))
	}
	for n, p := range got {
		w := want[n]
		if string(p.InstanceType) != w.InstanceType || aws.ToString(p.AvailabilityZone) != w.AZ || !p.Timestamp.Equal(w.Timestamp) ||
			aws.ToString(p.SpotPrice) != strconv.FormatFloat(w.Price, 'f', 6, 64) || p.ProductDescription != ec2types.RIProductDescription("Linux/UNIX") {
			t.Errorf("point %d: %+v, model %+v", n, p, w)
		}
		if n > 0 && p.Timestamp.After(*got[n-1].Timestamp) {
			t.Errorf("point %d is newer than the one before", n)
		}
	}

	one, err := e.ec2.DescribeSpotPriceHistory(ctx(t), &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes: []ec2types.InstanceType{"m5.xlarge"}, AvailabilityZone: aws.String("us-east-1b"), StartTime: aws.Time(start),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range one.SpotPriceHistory {
		if aws.ToString(p.AvailabilityZone) != "us-east-1b" {
			t.Errorf("zone %s in a us-east-1b query", aws.ToString(p.AvailabilityZone))
		}
	}
	if len(one.SpotPriceHistory) != len(want)/2 || aws.ToString(one.NextToken) != "" {
		t.Errorf("%d points for one zone (token %q), want %d", len(one.SpotPriceHistory), aws.ToString(one.NextToken), len(want)/2)
	}
}

func TestDescribeInstanceTypes(t *testing.T) {
	e := newEnv(t)
	out, err := e.ec2.DescribeInstanceTypes(ctx(t), &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{"m5.xlarge", "r5.2xlarge"}})
	if err != nil {
		t.Fatal(err)
	}
	var types []simulate.InstanceType
	e.world.View(func(v *simulate.View) { types = v.InstanceTypes() })
	byName := map[string]simulate.InstanceType{}
	for _, it := range types {
		byName[it.Name] = it
	}
	if len(out.InstanceTypes) != 2 {
		t.Fatalf("%d types, want 2", len(out.InstanceTypes))
	}
	for _, it := range out.InstanceTypes {
		m := byName[string(it.InstanceType)]
		if aws.ToInt32(it.VCpuInfo.DefaultVCpus) != int32(m.CPUs) || aws.ToInt64(it.MemoryInfo.SizeInMiB) != int64(m.MemMiB) {
			t.Errorf("%s: %d vCPUs %d MiB, model %g and %g", it.InstanceType, aws.ToInt32(it.VCpuInfo.DefaultVCpus), aws.ToInt64(it.MemoryInfo.SizeInMiB), m.CPUs, m.MemMiB)
		}
	}
	all, err := e.ec2.DescribeInstanceTypes(ctx(t), &ec2.DescribeInstanceTypesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.InstanceTypes) != len(types) {
		t.Errorf("%d types, the model has %d", len(all.InstanceTypes), len(types))
	}
	_, err = e.ec2.DescribeInstanceTypes(ctx(t), &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{"m5.mega"}})
	wantAPIError(t, err, "InvalidInstanceType", "The following supplied instance types do not exist: [m5.mega]")
}
