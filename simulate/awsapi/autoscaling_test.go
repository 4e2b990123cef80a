package awsapi_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/marmot-project/marmot/simulate"
)

func TestDescribeGroupsFieldsFiltersAndPages(t *testing.T) {
	e := newEnv(t, withBatchPool)

	g := e.group(group)
	if aws.ToInt32(g.MinSize) != 1 || aws.ToInt32(g.MaxSize) != 10 || aws.ToInt32(g.DesiredCapacity) != 3 {
		t.Errorf("min/max/desired = %d/%d/%d, want 1/10/3", aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize), aws.ToInt32(g.DesiredCapacity))
	}
	if !strings.HasPrefix(aws.ToString(g.AutoScalingGroupARN), "arn:aws:autoscaling:us-east-1:") || aws.ToInt32(g.DefaultCooldown) != 300 {
		t.Errorf("ARN %q cooldown %d", aws.ToString(g.AutoScalingGroupARN), aws.ToInt32(g.DefaultCooldown))
	}
	if !slices.Equal(g.AvailabilityZones, []string{"us-east-1a", "us-east-1b"}) || g.LaunchTemplate == nil || aws.ToString(g.LaunchTemplate.LaunchTemplateName) != "marmot-default" {
		t.Errorf("zones %v launch template %+v", g.AvailabilityZones, g.LaunchTemplate)
	}
	if len(g.Instances) != 3 {
		t.Fatalf("%d instances, want 3", len(g.Instances))
	}
	for _, i := range g.Instances {
		if i.LifecycleState != astypes.LifecycleStateInService || aws.ToString(i.HealthStatus) != "Healthy" || aws.ToBool(i.ProtectedFromScaleIn) ||
			aws.ToString(i.InstanceType) != "m5.xlarge" || !slices.Contains(g.AvailabilityZones, aws.ToString(i.AvailabilityZone)) ||
			i.LaunchTemplate == nil || aws.ToString(i.LaunchTemplate.LaunchTemplateName) != "marmot-default" {
			t.Errorf("instance %+v", i)
		}
	}
	var poolTag *astypes.TagDescription
	for n, tag := range g.Tags {
		if aws.ToString(tag.Key) == "marmot:pool" {
			poolTag = &g.Tags[n]
		}
	}
	if poolTag == nil || aws.ToString(poolTag.Value) != pool || aws.ToString(poolTag.ResourceType) != "auto-scaling-group" ||
		aws.ToString(poolTag.ResourceId) != group || !aws.ToBool(poolTag.PropagateAtLaunch) {
		t.Errorf("marmot:pool tag %+v", poolTag)
	}

	// How the autoscaler finds its pools: the marmot:pool tag.
	for _, tc := range []struct {
		name    string
		filters []astypes.Filter
		want    []string
	}{
		{"tag:marmot:pool", []astypes.Filter{{Name: aws.String("tag:marmot:pool"), Values: []string{"batch"}}}, []string{"marmot-batch"}},
		{"tag:marmot:pool either", []astypes.Filter{{Name: aws.String("tag:marmot:pool"), Values: []string{"batch", pool}}}, []string{"marmot-batch", group}},
		{"tag-key", []astypes.Filter{{Name: aws.String("tag-key"), Values: []string{"marmot:pool"}}}, []string{"marmot-batch", group}},
		{"tag-value", []astypes.Filter{{Name: aws.String("tag-value"), Values: []string{"platform"}}}, []string{group}},
		{"filters and", []astypes.Filter{
			{Name: aws.String("tag-key"), Values: []string{"marmot:pool"}},
			{Name: aws.String("tag:team"), Values: []string{"data"}},
		}, []string{"marmot-batch"}},
		{"no match", []astypes.Filter{{Name: aws.String("tag:marmot:pool"), Values: []string{"gpu"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.as.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{Filters: tc.filters})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range out.AutoScalingGroups {
				got = append(got, aws.ToString(g.AutoScalingGroupName))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("groups %v, want %v", got, tc.want)
			}
		})
	}

	// One group per page: the first page hands out a token, the last none.
	first, err := e.as.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.AutoScalingGroups) != 1 || aws.ToString(first.NextToken) == "" {
		t.Fatalf("first page: %d groups, token %q", len(first.AutoScalingGroups), aws.ToString(first.NextToken))
	}
	var names []string
	pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(e.as, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(1)})
	for n := 0; pages.HasMorePages(); n++ {
		if n > 5 {
			t.Fatal("pagination does not end")
		}
		page, err := pages.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page.AutoScalingGroups {
			names = append(names, aws.ToString(g.AutoScalingGroupName))
		}
	}
	if !slices.Equal(names, []string{"marmot-batch", group}) {
		t.Errorf("paged through %v", names)
	}

	_, err = e.as.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(101)})
	wantAPIError(t, err, "ValidationError", "")
	_, err = e.as.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{NextToken: aws.String("not-a-token")})
	wantAPIError(t, err, "InvalidNextToken", "")
}

func TestScaleUpLaunchesInstancesThatBecomeAgents(t *testing.T) {
	e := newEnv(t)
	before := states(e.group(group))

	if _, err := e.as.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(5), HonorCooldown: aws.Bool(false),
	}); err != nil {
		t.Fatal(err)
	}
	g := e.group(group)
	if aws.ToInt32(g.DesiredCapacity) != 5 {
		t.Fatalf("desired %d, want 5", aws.ToInt32(g.DesiredCapacity))
	}
	var launched []string
	for id, st := range states(g) {
		if _, old := before[id]; !old {
			launched = append(launched, id)
			if st != astypes.LifecycleStatePending {
				t.Errorf("new instance %s is %s, want Pending", id, st)
			}
		}
	}
	if len(launched) != 2 {
		t.Fatalf("launched %v, want 2 instances", launched)
	}
	ips := map[string]string{}
	for _, id := range launched {
		inst := e.instance(id)
		if inst.State.Name != ec2types.InstanceStateNamePending || aws.ToInt32(inst.State.Code) != 0 || aws.ToString(inst.PrivateIpAddress) == "" {
			t.Errorf("EC2 sees %s as %s (%d) at %q", id, inst.State.Name, aws.ToInt32(inst.State.Code), aws.ToString(inst.PrivateIpAddress))
		}
		if tag := tagValue(inst.Tags, "aws:autoscaling:groupName"); tag != group {
			t.Errorf("aws:autoscaling:groupName = %q", tag)
		}
		ips[id] = aws.ToString(inst.PrivateIpAddress)
	}

	// The small scenario: Pending for 15 s, a Mesos agent after a 30–60 s boot.
	e.advance(16 * time.Second)
	for _, id := range launched {
		if st := states(e.group(group))[id]; st != astypes.LifecycleStateInService {
			t.Errorf("%s is %s after the pending delay, want InService", id, st)
		}
		if inst := e.instance(id); inst.State.Name != ec2types.InstanceStateNameRunning || aws.ToInt32(inst.State.Code) != 16 {
			t.Errorf("EC2 sees %s as %s", id, inst.State.Name)
		}
	}
	e.advance(time.Minute)
	e.world.View(func(v *simulate.View) {
		for id, ip := range ips {
			found := false
			for _, a := range v.Agents() {
				found = found || (a.IP == ip && a.InstanceID == id && a.Pool == pool)
			}
			if !found {
				t.Errorf("no Mesos agent on %s (%s) after the boot delay", ip, id)
			}
		}
	})

	acts, err := e.as.DescribeScalingActivities(ctx(t), &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatal(err)
	}
	for n, id := range []string{aws.ToString(acts.Activities[0].Description), aws.ToString(acts.Activities[1].Description)} {
		if !strings.HasPrefix(id, "Launching a new EC2 instance: i-") || acts.Activities[n].StatusCode != astypes.ScalingActivityStatusCodeSuccessful {
			t.Errorf("activity %d: %q %s, want the launches first and successful", n, id, acts.Activities[n].StatusCode)
		}
	}
	for n := 1; n < len(acts.Activities); n++ {
		if acts.Activities[n].StartTime.After(*acts.Activities[n-1].StartTime) {
			t.Errorf("activities not newest first at %d", n)
		}
	}
}

func TestSetDesiredCapacityOutsideBounds(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		desired int32
		msg     string
	}{
		{11, "New SetDesiredCapacity value 11 is above max value 10 for the AutoScalingGroup."},
		{0, "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup."},
	} {
		_, err := e.as.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(tc.desired)})
		wantAPIError(t, err, "ValidationError", tc.msg)
	}
	_, err := e.as.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("nope"), DesiredCapacity: aws.Int32(2)})
	wantAPIError(t, err, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup 'nope' not found")
	if d := aws.ToInt32(e.group(group).DesiredCapacity); d != 3 {
		t.Errorf("desired %d after refused calls, want 3", d)
	}

	// HonorCooldown inside the cooldown that the first scaling started.
	if _, err := e.as.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.as.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(5), HonorCooldown: aws.Bool(true)})
	var busy *astypes.ScalingActivityInProgressFault
	if wantAPIError(t, err, "ScalingActivityInProgress", ""); !errors.As(err, &busy) {
		t.Errorf("error %T is not the SDK's ScalingActivityInProgressFault", err)
	}
}

func TestUpdateAutoScalingGroup(t *testing.T) {
	e := newEnv(t)
	if _, err := e.as.UpdateAutoScalingGroup(ctx(t), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group), MinSize: aws.Int32(4), MaxSize: aws.Int32(6),
	}); err != nil {
		t.Fatal(err)
	}
	g := e.group(group)
	if aws.ToInt32(g.MinSize) != 4 || aws.ToInt32(g.MaxSize) != 6 || aws.ToInt32(g.DesiredCapacity) != 4 || len(g.Instances) != 4 {
		t.Errorf("after min 4: %d/%d/%d with %d instances, want 4/6/4 with 4", aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize), aws.ToInt32(g.DesiredCapacity), len(g.Instances))
	}
	_, err := e.as.UpdateAutoScalingGroup(ctx(t), &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(7)})
	wantAPIError(t, err, "ValidationError", "Desired capacity:7 must be between the specified min size:4 and max size:6")
	_, err = e.as.UpdateAutoScalingGroup(ctx(t), &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(group), MaxSize: aws.Int32(2)})
	wantAPIError(t, err, "ValidationError", "Max bound, 2, must be greater than or equal to min bound, 4")
	if _, err := e.as.UpdateAutoScalingGroup(ctx(t), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group), MinSize: aws.Int32(1), DesiredCapacity: aws.Int32(6),
	}); err != nil {
		t.Fatal(err)
	}
	if g := e.group(group); aws.ToInt32(g.MinSize) != 1 || aws.ToInt32(g.DesiredCapacity) != 6 {
		t.Errorf("after min 1 desired 6: min %d desired %d", aws.ToInt32(g.MinSize), aws.ToInt32(g.DesiredCapacity))
	}
}

func TestTerminateWithDecrement(t *testing.T) {
	e := newEnv(t)
	victim := sortedKeys(states(e.group(group)))[0]
	out, err := e.as.TerminateInstanceInAutoScalingGroup(ctx(t), &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(victim), ShouldDecrementDesiredCapacity: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	act := out.Activity
	if aws.ToString(act.Description) != "Terminating EC2 instance: "+victim || act.StatusCode != astypes.ScalingActivityStatusCodeInProgress ||
		aws.ToString(act.AutoScalingGroupName) != group || aws.ToString(act.ActivityId) == "" || act.StartTime == nil ||
		!strings.Contains(aws.ToString(act.Cause), "shrinking the capacity from 3 to 2") {
		t.Errorf("activity %+v", act)
	}
	g := e.group(group)
	if aws.ToInt32(g.DesiredCapacity) != 2 || states(g)[victim] != astypes.LifecycleStateTerminating {
		t.Errorf("desired %d, victim %s; want 2 and Terminating", aws.ToInt32(g.DesiredCapacity), states(g)[victim])
	}
	if st := e.instance(victim).State.Name; st != ec2types.InstanceStateNameShuttingDown {
		t.Errorf("EC2 sees the victim %s", st)
	}

	e.advance(21 * time.Second) // the small scenario's termination takes 20 s
	g = e.group(group)
	if _, still := states(g)[victim]; still || len(g.Instances) != 2 {
		t.Errorf("after termination the group has %v, want 2 without %s", sortedKeys(states(g)), victim)
	}
	if inst := e.instance(victim); inst.State.Name != ec2types.InstanceStateNameTerminated || aws.ToInt32(inst.State.Code) != 48 {
		t.Errorf("EC2 sees the victim %s", inst.State.Name)
	}
	acts, err := e.as.DescribeScalingActivities(ctx(t), &autoscaling.DescribeScalingActivitiesInput{ActivityIds: []string{aws.ToString(act.ActivityId)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts.Activities) != 1 || acts.Activities[0].StatusCode != astypes.ScalingActivityStatusCodeSuccessful || acts.Activities[0].EndTime == nil || aws.ToInt32(acts.Activities[0].Progress) != 100 {
		t.Errorf("recorded activity %+v", acts.Activities)
	}
	// Terminating again what is gone is refused.
	_, err = e.as.TerminateInstanceInAutoScalingGroup(ctx(t), &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(victim), ShouldDecrementDesiredCapacity: aws.Bool(true),
	})
	wantAPIError(t, err, "ValidationError", "Instance Id not found - No managed instance found for instance ID: "+victim)
}

func TestTerminateWithoutDecrementLaunchesReplacement(t *testing.T) {
	e := newEnv(t)
	before := states(e.group(group))
	victim := sortedKeys(before)[0]
	if _, err := e.as.TerminateInstanceInAutoScalingGroup(ctx(t), &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(victim), ShouldDecrementDesiredCapacity: aws.Bool(false),
	}); err != nil {
		t.Fatal(err)
	}
	e.advance(21 * time.Second)
	g := e.group(group)
	if aws.ToInt32(g.DesiredCapacity) != 3 {
		t.Errorf("desired %d, want 3", aws.ToInt32(g.DesiredCapacity))
	}
	var replacements []string
	for id := range states(g) {
		if _, old := before[id]; !old {
			replacements = append(replacements, id)
		}
	}
	if len(replacements) != 1 || len(g.Instances) != 3 {
		t.Errorf("members %v, want the 2 survivors and 1 replacement", sortedKeys(states(g)))
	}
}

func TestTerminateBelowMinSizeIsRefused(t *testing.T) {
	e := newEnv(t)
	if _, err := e.as.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	var survivor string
	for id, st := range states(e.group(group)) {
		if st == astypes.LifecycleStateInService {
			survivor = id
		}
	}
	_, err := e.as.TerminateInstanceInAutoScalingGroup(ctx(t), &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(survivor), ShouldDecrementDesiredCapacity: aws.Bool(true),
	})
	wantAPIError(t, err, "ValidationError", "Currently, desiredSize equals minSize (1). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.")
	if st := states(e.group(group))[survivor]; st != astypes.LifecycleStateInService {
		t.Errorf("the refused victim is %s", st)
	}
}

func TestInstanceProtectionSurvivesScaleIn(t *testing.T) {
	e := newEnv(t)
	ids := sortedKeys(states(e.group(group)))
	protected := ids[1]
	if _, err := e.as.SetInstanceProtection(ctx(t), &autoscaling.SetInstanceProtectionInput{
		AutoScalingGroupName: aws.String(group), InstanceIds: []string{protected}, ProtectedFromScaleIn: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	out, err := e.as.DescribeAutoScalingInstances(ctx(t), &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AutoScalingInstances) != 3 {
		t.Fatalf("%d instances", len(out.AutoScalingInstances))
	}
	for _, i := range out.AutoScalingInstances {
		if aws.ToBool(i.ProtectedFromScaleIn) != (aws.ToString(i.InstanceId) == protected) || aws.ToString(i.AutoScalingGroupName) != group ||
			!strings.EqualFold(aws.ToString(i.HealthStatus), "healthy") || aws.ToString(i.LifecycleState) != "InService" {
			t.Errorf("instance %+v", i)
		}
	}

	if _, err := e.as.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	st := states(e.group(group))
	if st[protected] != astypes.LifecycleStateInService {
		t.Errorf("the protected instance is %s after scale-in to 1", st[protected])
	}
	for _, id := range ids {
		if id != protected && st[id] != astypes.LifecycleStateTerminating {
			t.Errorf("unprotected %s is %s, want Terminating", id, st[id])
		}
	}

	_, err = e.as.SetInstanceProtection(ctx(t), &autoscaling.SetInstanceProtectionInput{
		AutoScalingGroupName: aws.String(group), InstanceIds: []string{"i-0123456789abcdef0"}, ProtectedFromScaleIn: aws.Bool(true),
	})
	wantAPIError(t, err, "ValidationError", "The instance i-0123456789abcdef0 is not part of Auto Scaling group marmot-default.")
	many := make([]string, 51)
	for n := range many {
		many[n] = fmt.Sprintf("i-%017x", n)
	}
	_, err = e.as.SetInstanceProtection(ctx(t), &autoscaling.SetInstanceProtectionInput{
		AutoScalingGroupName: aws.String(group), InstanceIds: many, ProtectedFromScaleIn: aws.Bool(true),
	})
	wantAPIError(t, err, "LimitExceeded", "")
}

func TestGroupTags(t *testing.T) {
	e := newEnv(t, withBatchPool)
	tag := func(g, k, v string, propagate bool) astypes.Tag {
		return astypes.Tag{ResourceId: aws.String(g), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(k), Value: aws.String(v), PropagateAtLaunch: aws.Bool(propagate)}
	}
	if _, err := e.as.CreateOrUpdateTags(ctx(t), &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{
		tag(group, "marmot:paused", "true", false), tag(group, "team", "infra", true),
	}}); err != nil {
		t.Fatal(err)
	}
	described := func(filters ...astypes.Filter) map[string]string {
		t.Helper()
		out, err := e.as.DescribeTags(ctx(t), &autoscaling.DescribeTagsInput{Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, d := range out.Tags {
			m[aws.ToString(d.ResourceId)+"/"+aws.ToString(d.Key)] = aws.ToString(d.Value)
		}
		return m
	}
	got := described(astypes.Filter{Name: aws.String("auto-scaling-group"), Values: []string{group}})
	if got[group+"/marmot:paused"] != "true" || got[group+"/team"] != "infra" || got[group+"/marmot:pool"] != pool || len(got) != 3 {
		t.Errorf("tags of %s: %v", group, got)
	}
	if got := described(astypes.Filter{Name: aws.String("key"), Values: []string{"team"}}); len(got) != 2 || got["marmot-batch/team"] != "data" {
		t.Errorf("team tags: %v", got)
	}
	if _, err := e.as.DeleteTags(ctx(t), &autoscaling.DeleteTagsInput{Tags: []astypes.Tag{tag(group, "marmot:paused", "", false)}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := described()[group+"/marmot:paused"]; ok {
		t.Error("deleted tag still described")
	}
	for _, d := range e.group(group).Tags {
		if aws.ToString(d.Key) == "marmot:paused" {
			t.Error("deleted tag still on the group")
		}
	}
	pages := autoscaling.NewDescribeTagsPaginator(e.as, &autoscaling.DescribeTagsInput{MaxRecords: aws.Int32(1)})
	n := 0
	for pages.HasMorePages() && n < 10 {
		page, err := pages.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Tags)
	}
	if n != len(described()) {
		t.Errorf("paged through %d tags, want %d", n, len(described()))
	}
	_, err := e.as.CreateOrUpdateTags(ctx(t), &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{tag("nope", "k", "v", false)}})
	wantAPIError(t, err, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup 'nope' not found")
}

func TestScalingActivitiesPages(t *testing.T) {
	e := newEnv(t)
	for _, d := range []int32{4, 5, 6} {
		if _, err := e.as.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(d)}); err != nil {
			t.Fatal(err)
		}
		e.advance(time.Minute)
	}
	all, err := e.as.DescribeScalingActivities(ctx(t), &autoscaling.DescribeScalingActivitiesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Activities) != 6 || all.NextToken != nil {
		t.Fatalf("%d activities (token %v), want the 3 bootstrap launches and 3 more", len(all.Activities), all.NextToken)
	}
	var paged []string
	pages := autoscaling.NewDescribeScalingActivitiesPaginator(e.as, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group), MaxRecords: aws.Int32(4)})
	for pages.HasMorePages() && len(paged) < 20 {
		page, err := pages.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Activities {
			paged = append(paged, aws.ToString(a.ActivityId))
		}
	}
	var want []string
	for _, a := range all.Activities {
		want = append(want, aws.ToString(a.ActivityId))
	}
	if !slices.Equal(paged, want) {
		t.Errorf("paged %v, want %v", paged, want)
	}
	_, err = e.as.DescribeScalingActivities(ctx(t), &autoscaling.DescribeScalingActivitiesInput{MaxRecords: aws.Int32(101)})
	wantAPIError(t, err, "ValidationError", "")
}

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// EC2 must know the instances Auto Scaling reports, and the other way round.
func TestGroupsAndInstancesAgree(t *testing.T) {
	e := newEnv(t)
	out, err := e.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:aws:autoscaling:groupName"), Values: []string{group}},
		{Name: aws.String("instance-state-name"), Values: []string{"running", "pending"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ec2IDs []string
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ec2IDs = append(ec2IDs, aws.ToString(i.InstanceId))
		}
	}
	slices.Sort(ec2IDs)
	if asIDs := sortedKeys(states(e.group(group))); !slices.Equal(ec2IDs, asIDs) {
		t.Errorf("EC2 %v, Auto Scaling %v", ec2IDs, asIDs)
	}
}

// Clients scaling, tagging and describing at once: run under -race, this checks that answers are
// built from copies taken under the world's lock, and the group ends as consistent as the model keeps it.
func TestConcurrentClients(t *testing.T) {
	e := newEnv(t)
	ids := sortedKeys(states(e.group(group)))
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for n := range 8 {
		wg.Go(func() {
			for k := range 10 {
				var err error
				switch (n + k) % 4 {
				case 0:
					_, err = e.as.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(int32(2 + (n+k)%5))})
				case 1:
					_, err = e.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: ids[:1], Tags: []ec2types.Tag{{Key: aws.String(fmt.Sprintf("k%d", n)), Value: aws.String("v")}}})
				case 2:
					_, err = e.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
				case 3:
					_, err = e.as.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	g := e.group(group)
	live := 0
	for _, st := range states(g) {
		if st == astypes.LifecycleStatePending || st == astypes.LifecycleStateInService {
			live++
		}
	}
	if live != int(aws.ToInt32(g.DesiredCapacity)) {
		t.Errorf("%d live instances for a desired capacity of %d", live, aws.ToInt32(g.DesiredCapacity))
	}
}
