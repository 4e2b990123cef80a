package awscloud

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/marmot-project/marmot/cloud"
)

const (
	// maxInstanceIDs is the most ids Marmot puts in one DescribeInstances call.
	maxInstanceIDs = 1000
	// maxFilterValues is EC2's limit on filter values in one call (FilterLimitExceeded beyond it).
	maxFilterValues = 200
	// maxInstanceResults is DescribeInstances' largest page (MaxResults 5–1000).
	maxInstanceResults = 1000
	// maxInstanceTypes is the most types DescribeInstanceTypes takes and returns in one call.
	maxInstanceTypes = 100
	// maxSpotResults is DescribeSpotPriceHistory's largest page.
	maxSpotResults = 1000
	// tagGroupName is the tag Auto Scaling puts on its instances.
	tagGroupName = "aws:autoscaling:groupName"
	// linux is the product description of Mesos agents' spot prices.
	linux = "Linux/UNIX"
)

// Instances implements cloud.Provider.
func (p *Provider) Instances(ctx context.Context, q cloud.InstanceQuery) ([]cloud.Instance, error) {
	if q.Empty() {
		return nil, &cloud.Error{Kind: cloud.ErrInvalid, Op: "DescribeInstances", Message: "an instance query needs ids, private IPs or tag values"}
	}
	var out []cloud.Instance
	if len(q.IDs) > 0 {
		found, err := p.instancesByID(ctx, q.IDs)
		if err != nil {
			return nil, err
		}
		out = found
	}
	seen := make(map[string]bool, len(out))
	for _, i := range out {
		seen[i.ID] = true
	}
	type filter struct {
		name   string
		values []string
	}
	filters := []filter{{"private-ip-address", q.PrivateIPs}}
	for _, key := range slices.Sorted(maps.Keys(q.Tags)) {
		filters = append(filters, filter{"tag:" + key, q.Tags[key]})
	}
	for _, flt := range filters {
		for values := range slices.Chunk(dedupe(flt.values), maxFilterValues) {
			found, err := p.describeInstances(ctx, filterInput(flt.name, values))
			if err != nil {
				return nil, err
			}
			for _, i := range found {
				if !seen[i.ID] {
					seen[i.ID] = true
					out = append(out, i)
				}
			}
		}
	}
	return out, nil
}

// instancesByID describes instances by id, maxInstanceIDs a call. EC2 fails the whole call with
// InvalidInstanceID.NotFound when one id is unknown, which is normal for a few seconds after a
// launch; such a batch is asked again through the instance-id filter, which leaves unknown ids out
// (maxFilterValues a call), rather than guessing the missing ids from the error message.
func (p *Provider) instancesByID(ctx context.Context, ids []string) ([]cloud.Instance, error) {
	var out []cloud.Instance
	for batch := range slices.Chunk(dedupe(ids), maxInstanceIDs) {
		found, err := p.describeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: batch})
		if errors.Is(err, cloud.ErrNotFound) {
			found = nil
			for part := range slices.Chunk(batch, maxFilterValues) {
				more, err := p.describeInstances(ctx, filterInput("instance-id", part))
				if err != nil {
					return nil, err
				}
				found = append(found, more...)
			}
		} else if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

func filterInput(name string, values []string) *ec2.DescribeInstancesInput {
	return &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String(name), Values: values}},
		// MaxResults is only allowed without InstanceIds.
		MaxResults: aws.Int32(maxInstanceResults),
	}
}

// describeInstances runs one DescribeInstances query through all its pages.
func (p *Provider) describeInstances(ctx context.Context, in *ec2.DescribeInstancesInput) ([]cloud.Instance, error) {
	pages := ec2.NewDescribeInstancesPaginator(p.ec2, in, func(o *ec2.DescribeInstancesPaginatorOptions) {
		o.StopOnDuplicateToken = true // the page size comes from in.MaxResults
	})
	var out []cloud.Instance
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(ctx, "DescribeInstances", err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				out = append(out, instanceOf(i))
			}
		}
	}
	return out, nil
}

func instanceOf(i ec2types.Instance) cloud.Instance {
	out := cloud.Instance{
		ID:         aws.ToString(i.InstanceId),
		PrivateIP:  aws.ToString(i.PrivateIpAddress),
		PrivateDNS: aws.ToString(i.PrivateDnsName),
		Type:       string(i.InstanceType),
		LaunchTime: aws.ToTime(i.LaunchTime),
		Spot:       i.InstanceLifecycle == ec2types.InstanceLifecycleTypeSpot,
		Tags:       make(map[string]string, len(i.Tags)),
	}
	if i.Placement != nil {
		out.Zone = aws.ToString(i.Placement.AvailabilityZone)
	}
	if i.State != nil {
		out.State = cloud.InstanceState(i.State.Name)
	}
	for _, t := range i.Tags {
		out.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	out.Group = out.Tags[tagGroupName]
	return out
}

// SetInstanceTags implements cloud.Provider with EC2 CreateTags.
func (p *Provider) SetInstanceTags(ctx context.Context, instanceID string, tags map[string]string) error {
	if len(tags) == 0 {
		return nil
	}
	in := &ec2.CreateTagsInput{Resources: []string{instanceID}}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		in.Tags = append(in.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	_, err := p.ec2.CreateTags(ctx, in)
	return classify(ctx, "CreateTags "+instanceID, err)
}

// DeleteInstanceTags implements cloud.Provider with EC2 DeleteTags, naming keys only so that any
// value goes.
func (p *Provider) DeleteInstanceTags(ctx context.Context, instanceID string, keys []string) error {
	if len(keys) == 0 {
		// DeleteTags without any Tag deletes every tag of the instance: never send that.
		return nil
	}
	in := &ec2.DeleteTagsInput{Resources: []string{instanceID}}
	for _, k := range keys {
		in.Tags = append(in.Tags, ec2types.Tag{Key: aws.String(k)})
	}
	_, err := p.ec2.DeleteTags(ctx, in)
	return classify(ctx, "DeleteTags "+instanceID, err)
}

// InstanceTypes implements cloud.Provider with DescribeInstanceTypes, maxInstanceTypes names a call.
func (p *Provider) InstanceTypes(ctx context.Context, names []string) ([]cloud.InstanceType, error) {
	batches := [][]string{nil} // no names: every type
	if len(names) > 0 {
		batches = slices.Collect(slices.Chunk(dedupe(names), maxInstanceTypes))
	}
	var out []cloud.InstanceType
	for _, batch := range batches {
		in := &ec2.DescribeInstanceTypesInput{}
		for _, n := range batch {
			in.InstanceTypes = append(in.InstanceTypes, ec2types.InstanceType(n))
		}
		pages := ec2.NewDescribeInstanceTypesPaginator(p.ec2, in, func(o *ec2.DescribeInstanceTypesPaginatorOptions) {
			o.Limit = maxInstanceTypes
			o.StopOnDuplicateToken = true
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, classify(ctx, "DescribeInstanceTypes", err)
			}
			for _, t := range page.InstanceTypes {
				out = append(out, instanceTypeOf(t))
			}
		}
	}
	return out, nil
}

func instanceTypeOf(t ec2types.InstanceTypeInfo) cloud.InstanceType {
	out := cloud.InstanceType{Name: string(t.InstanceType)}
	if t.VCpuInfo != nil {
		out.CPUs = int(aws.ToInt32(t.VCpuInfo.DefaultVCpus))
	}
	if t.MemoryInfo != nil {
		out.MemMiB = aws.ToInt64(t.MemoryInfo.SizeInMiB)
	}
	if t.GpuInfo != nil {
		for _, g := range t.GpuInfo.Gpus {
			out.GPUs += int(aws.ToInt32(g.Count))
		}
	}
	return out
}

// SpotPrices implements cloud.Provider with DescribeSpotPriceHistory. The SDK's paginator stops on
// an empty <nextToken/> as well as on a missing one: EC2 sends the empty element on the last page
// (aws-sdk-rust #391 looped forever on it).
func (p *Provider) SpotPrices(ctx context.Context, q cloud.SpotPriceQuery) ([]cloud.SpotPrice, error) {
	in := &ec2.DescribeSpotPriceHistoryInput{ProductDescriptions: slices.Clone(q.Products)}
	if len(in.ProductDescriptions) == 0 {
		in.ProductDescriptions = []string{linux}
	}
	for _, t := range q.InstanceTypes {
		in.InstanceTypes = append(in.InstanceTypes, ec2types.InstanceType(t))
	}
	if len(q.Zones) > 0 {
		// AvailabilityZone takes one zone; the filter takes several.
		in.Filters = []ec2types.Filter{{Name: aws.String("availability-zone"), Values: slices.Clone(q.Zones)}}
	}
	if !q.End.IsZero() {
		in.EndTime = aws.Time(q.End)
	}
	// Without StartTime EC2 returns up to 90 days of history; the contract's zero Start is End, and
	// EC2's end is its now, which for a live API is the wall clock.
	switch {
	case !q.Start.IsZero():
		in.StartTime = aws.Time(q.Start)
	case !q.End.IsZero():
		in.StartTime = aws.Time(q.End)
	default:
		in.StartTime = aws.Time(time.Now())
	}
	pages := ec2.NewDescribeSpotPriceHistoryPaginator(p.ec2, in, func(o *ec2.DescribeSpotPriceHistoryPaginatorOptions) {
		o.Limit = maxSpotResults
		o.StopOnDuplicateToken = true
	})
	var out []cloud.SpotPrice
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(ctx, "DescribeSpotPriceHistory", err)
		}
		for _, sp := range page.SpotPriceHistory {
			price, err := spotPriceOf(sp)
			if err != nil {
				return nil, err
			}
			out = append(out, price)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

// spotPriceOf converts one history entry; EC2 sends the price as a decimal string ("0.083400").
func spotPriceOf(sp ec2types.SpotPrice) (cloud.SpotPrice, error) {
	out := cloud.SpotPrice{
		InstanceType: string(sp.InstanceType),
		Zone:         aws.ToString(sp.AvailabilityZone),
		Product:      string(sp.ProductDescription),
		Time:         aws.ToTime(sp.Timestamp),
	}
	price, err := strconv.ParseFloat(aws.ToString(sp.SpotPrice), 64)
	if err != nil || price < 0 {
		return out, &cloud.Error{Op: "DescribeSpotPriceHistory", Message: fmt.Sprintf("spot price %q of %s in %s is not a price", aws.ToString(sp.SpotPrice), out.InstanceType, out.Zone)}
	}
	out.PerHour = price
	return out, nil
}

// dedupe returns s without repeats, in first-seen order.
func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
