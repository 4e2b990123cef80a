package awscloud

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/marmot-project/marmot/cloud"
)

// maxRecords is the largest page DescribeAutoScalingGroups and DescribeScalingActivities serve
// (their default is 50 and 100).
const maxRecords = 100

// maxProtectIDs is the most instance ids SetInstanceProtection takes in one call.
const maxProtectIDs = 50

// Groups implements cloud.Provider: DescribeAutoScalingGroups, page by page, then DescribeInstances
// for the members' private IPs, launch times and tags, which Auto Scaling does not report.
func (p *Provider) Groups(ctx context.Context, q cloud.GroupQuery) ([]cloud.Group, error) {
	in := &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(maxRecords)}
	if len(q.Names) > 0 {
		in.AutoScalingGroupNames = slices.Clone(q.Names)
	}
	// Filters are ANDed, and so are names with filters.
	for _, k := range slices.Sorted(maps.Keys(q.Tags)) {
		f := astypes.Filter{Name: aws.String("tag:" + k), Values: []string{q.Tags[k]}}
		if q.Tags[k] == "" {
			f = astypes.Filter{Name: aws.String("tag-key"), Values: []string{k}}
		}
		in.Filters = append(in.Filters, f)
	}
	var groups []cloud.Group
	var declared []launchSpec
	pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(p.as, in, func(o *autoscaling.DescribeAutoScalingGroupsPaginatorOptions) {
		o.StopOnDuplicateToken = true
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(ctx, "DescribeAutoScalingGroups", err)
		}
		for _, g := range out.AutoScalingGroups {
			groups = append(groups, groupOf(g))
			declared = append(declared, launchSpecOf(g.MixedInstancesPolicy))
		}
	}
	if err := p.addEC2Facts(ctx, groups); err != nil {
		return nil, err
	}
	for i := range groups {
		declared[i].apply(&groups[i])
	}
	return groups, nil
}

func groupOf(g astypes.AutoScalingGroup) cloud.Group {
	out := cloud.Group{
		Name:                  aws.ToString(g.AutoScalingGroupName),
		Min:                   int(aws.ToInt32(g.MinSize)),
		Max:                   int(aws.ToInt32(g.MaxSize)),
		Desired:               int(aws.ToInt32(g.DesiredCapacity)),
		Zones:                 slices.Clone(g.AvailabilityZones),
		Tags:                  make(map[string]string, len(g.Tags)),
		NewInstancesProtected: aws.ToBool(g.NewInstancesProtectedFromScaleIn),
		Status:                aws.ToString(g.Status),
	}
	for _, t := range g.Tags {
		out.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	out.Pool = out.Tags[cloud.TagPool]
	for _, s := range g.SuspendedProcesses {
		out.Suspended = append(out.Suspended, aws.ToString(s.ProcessName))
	}
	for _, i := range g.Instances {
		out.Instances = append(out.Instances, cloud.Instance{
			ID:                   aws.ToString(i.InstanceId),
			Group:                out.Name,
			Type:                 aws.ToString(i.InstanceType),
			Zone:                 aws.ToString(i.AvailabilityZone),
			Lifecycle:            cloud.Lifecycle(i.LifecycleState),
			Healthy:              aws.ToString(i.HealthStatus) == "Healthy",
			ProtectedFromScaleIn: aws.ToBool(i.ProtectedFromScaleIn),
		})
	}
	return out
}

// launchSpec is what a group says about the instances it launches. Only a mixed instances policy
// says it in DescribeAutoScalingGroups; a plain launch template or configuration keeps the type in
// another API (DescribeLaunchTemplateVersions), so then the group's instances tell.
type launchSpec struct {
	instanceType string
	spot         *bool
}

func launchSpecOf(m *astypes.MixedInstancesPolicy) launchSpec {
	var s launchSpec
	if m == nil {
		return s
	}
	if m.LaunchTemplate != nil {
		for _, o := range m.LaunchTemplate.Overrides {
			if t := aws.ToString(o.InstanceType); t != "" {
				s.instanceType = t
				break
			}
		}
	}
	if d := m.InstancesDistribution; d != nil {
		// The default on-demand share above the base is 100 %: such a group launches no spot.
		spot := d.OnDemandPercentageAboveBaseCapacity != nil && aws.ToInt32(d.OnDemandPercentageAboveBaseCapacity) < 100
		s.spot = &spot
	}
	return s
}

// apply sets the group's InstanceType and Spot from the spec, else from most of its instances.
func (s launchSpec) apply(g *cloud.Group) {
	types := map[string]int{}
	spot := 0
	for _, i := range g.Instances {
		types[i.Type]++
		if i.Spot {
			spot++
		}
	}
	g.InstanceType = s.instanceType
	if g.InstanceType == "" {
		best := 0
		for t, n := range types {
			if t != "" && (n > best || (n == best && t < g.InstanceType)) {
				g.InstanceType, best = t, n
			}
		}
	}
	if s.spot != nil {
		g.Spot = *s.spot
	} else {
		g.Spot = len(g.Instances) > 0 && 2*spot > len(g.Instances)
	}
}

// addEC2Facts fills in what only EC2 knows about the groups' members.
func (p *Provider) addEC2Facts(ctx context.Context, groups []cloud.Group) error {
	var ids []string
	for _, g := range groups {
		for _, i := range g.Instances {
			ids = append(ids, i.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	found, err := p.instancesByID(ctx, ids)
	if err != nil {
		return err
	}
	byID := make(map[string]cloud.Instance, len(found))
	for _, i := range found {
		byID[i.ID] = i
	}
	for _, g := range groups {
		for n := range g.Instances {
			i := &g.Instances[n]
			e, ok := byID[i.ID]
			if !ok {
				continue // not in EC2 yet (eventual consistency): no IP, so no agent to match yet
			}
			i.PrivateIP, i.PrivateDNS, i.State, i.LaunchTime, i.Spot, i.Tags = e.PrivateIP, e.PrivateDNS, e.State, e.LaunchTime, e.Spot, e.Tags
		}
	}
	return nil
}

// SetDesiredCapacity implements cloud.Provider. HonorCooldown stays false, the default for manual
// scaling: the autoscaler keeps its own cooldowns, and the group's would refuse the call with
// ScalingActivityInProgress.
func (p *Provider) SetDesiredCapacity(ctx context.Context, group string, desired int) error {
	_, err := p.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(group),
		DesiredCapacity:      aws.Int32(int32(desired)),
		HonorCooldown:        aws.Bool(false),
	})
	return classify(ctx, "SetDesiredCapacity "+group, err)
}

// TerminateInstance implements cloud.Provider with TerminateInstanceInAutoScalingGroup.
func (p *Provider) TerminateInstance(ctx context.Context, instanceID string, decrement bool) (cloud.Activity, error) {
	out, err := p.as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId:                     aws.String(instanceID),
		ShouldDecrementDesiredCapacity: aws.Bool(decrement),
	})
	if err != nil {
		return cloud.Activity{}, classify(ctx, "TerminateInstanceInAutoScalingGroup "+instanceID, err)
	}
	if out.Activity == nil {
		return cloud.Activity{Kind: cloud.ActivityTerminate, InstanceID: instanceID}, nil
	}
	return activityOf(*out.Activity), nil
}

// SetInstanceProtection implements cloud.Provider, maxProtectIDs ids per call.
func (p *Provider) SetInstanceProtection(ctx context.Context, group string, instanceIDs []string, protected bool) error {
	for batch := range slices.Chunk(instanceIDs, maxProtectIDs) {
		_, err := p.as.SetInstanceProtection(ctx, &autoscaling.SetInstanceProtectionInput{
			AutoScalingGroupName: aws.String(group),
			InstanceIds:          batch,
			ProtectedFromScaleIn: aws.Bool(protected),
		})
		if err != nil {
			return classify(ctx, "SetInstanceProtection "+group, err)
		}
	}
	return nil
}

// Activities implements cloud.Provider. DescribeScalingActivities lists newest first, so paging
// stops at the first activity older than since.
func (p *Provider) Activities(ctx context.Context, group string, since time.Time) ([]cloud.Activity, error) {
	in := &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group), MaxRecords: aws.Int32(maxRecords)}
	pages := autoscaling.NewDescribeScalingActivitiesPaginator(p.as, in, func(o *autoscaling.DescribeScalingActivitiesPaginatorOptions) {
		o.StopOnDuplicateToken = true
	})
	var out []cloud.Activity
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			err = classify(ctx, "DescribeScalingActivities "+group, err)
			if errors.Is(err, cloud.ErrNotFound) {
				return nil, nil // the contract: an unknown group has no activities
			}
			return nil, err
		}
		for _, a := range page.Activities {
			act := activityOf(a)
			if act.Start.Before(since) {
				return out, nil
			}
			out = append(out, act)
		}
	}
	return out, nil
}

func activityOf(a astypes.Activity) cloud.Activity {
	out := cloud.Activity{
		ID:            aws.ToString(a.ActivityId),
		Group:         aws.ToString(a.AutoScalingGroupName),
		Description:   aws.ToString(a.Description),
		Cause:         aws.ToString(a.Cause),
		Status:        cloud.ActivityStatus(a.StatusCode),
		StatusMessage: aws.ToString(a.StatusMessage),
		Progress:      int(aws.ToInt32(a.Progress)),
		Start:         aws.ToTime(a.StartTime),
		End:           aws.ToTime(a.EndTime),
	}
	out.Kind, out.InstanceID = parseDescription(out.Description)
	return out
}
