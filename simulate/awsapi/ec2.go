package awsapi

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// The EC2 operations (wire-facts.md §5.3): the instances behind the groups, their tags (where the
// autoscaler keeps drain progress), spot prices and instance types. ec2Query results carry lowerCamel
// element names, hence the tags on every field.

var ec2Ops = map[string]operation{
	"DescribeInstances":        dryRunnable(describeInstances),
	"DescribeSpotPriceHistory": dryRunnable(describeSpotPriceHistory),
	"DescribeInstanceTypes":    dryRunnable(describeInstanceTypes),
	"CreateTags":               dryRunnable(createTags),
	"DeleteTags":               dryRunnable(deleteInstanceTags),
}

// dryRunnable answers DryRun=true as EC2 does, with 412 DryRunOperation once the parameters are
// known to be readable, and serves the request otherwise.
func dryRunnable(op operation) operation {
	return func(h *handler, f form) (any, error) {
		dry, _, err := f.boolean("DryRun", false)
		if err != nil {
			return nil, err
		}
		if dry {
			return nil, &apiError{Status: http.StatusPreconditionFailed, Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set."}
		}
		return op(h, f)
	}
}

// ec2Time is how ec2Query writes a timestamp.
func ec2Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// maxResults reads MaxResults, which must lie in [lo, hi]; def applies when it is not given.
func maxResults(f form, lo, hi, def int) (int, bool, error) {
	n, given, err := f.integer("MaxResults", def)
	if err == nil && given && (n < lo || n > hi) {
		err = invalid("MaxResults", strconv.Itoa(n), fmt.Sprintf("must be between %d and %d", lo, hi))
	}
	return n, given, err
}

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type instanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type placement struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
	Tenancy          string `xml:"tenancy"`
}

type securityGroup struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type ebsDevice struct {
	VolumeID            string `xml:"volumeId"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type blockDevice struct {
	DeviceName string    `xml:"deviceName"`
	EBS        ebsDevice `xml:"ebs"`
}

type monitoring struct {
	State string `xml:"state"`
}

// ec2Instance is an instancesSet item. The machine details the model does not have (volumes, subnet,
// security group) are derived from the instance so that they are stable across calls. There is no
// ipAddress/dnsName value: Mesos agents live in private subnets.
type ec2Instance struct {
	InstanceID            string               `xml:"instanceId"`
	ImageID               string               `xml:"imageId"`
	InstanceState         instanceState        `xml:"instanceState"`
	PrivateDNSName        string               `xml:"privateDnsName"`
	DNSName               string               `xml:"dnsName"`
	Reason                string               `xml:"reason"`
	AMILaunchIndex        int                  `xml:"amiLaunchIndex"`
	ProductCodes          items[none]          `xml:"productCodes"`
	InstanceType          string               `xml:"instanceType"`
	LaunchTime            string               `xml:"launchTime"`
	Placement             placement            `xml:"placement"`
	Monitoring            monitoring           `xml:"monitoring"`
	SubnetID              string               `xml:"subnetId,omitempty"`
	VpcID                 string               `xml:"vpcId,omitempty"`
	PrivateIPAddress      string               `xml:"privateIpAddress,omitempty"`
	GroupSet              items[securityGroup] `xml:"groupSet"`
	Architecture          string               `xml:"architecture"`
	RootDeviceType        string               `xml:"rootDeviceType"`
	RootDeviceName        string               `xml:"rootDeviceName"`
	BlockDeviceMapping    items[blockDevice]   `xml:"blockDeviceMapping"`
	InstanceLifecycle     string               `xml:"instanceLifecycle,omitempty"`
	SpotInstanceRequestID string               `xml:"spotInstanceRequestId,omitempty"`
	VirtualizationType    string               `xml:"virtualizationType"`
	ClientToken           string               `xml:"clientToken"`
	TagSet                items[ec2Tag]        `xml:"tagSet"`
	Hypervisor            string               `xml:"hypervisor"`
	EBSOptimized          bool                 `xml:"ebsOptimized"`
	StateReason           *ec2StateReason      `xml:"stateReason,omitempty"`
}

type ec2StateReason struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type reservation struct {
	ReservationID string               `xml:"reservationId"`
	OwnerID       string               `xml:"ownerId"`
	GroupSet      items[securityGroup] `xml:"groupSet"`
	InstancesSet  items[ec2Instance]   `xml:"instancesSet"`
	// RequesterID is Auto Scaling's own account: the instance was launched on the owner's behalf.
	RequesterID string `xml:"requesterId"`
}

// autoScalingRequester is the account EC2 reports as the requester of instances Auto Scaling launches.
const autoScalingRequester = "226008221399"

func reservationOf(v *simulate.View, i *simulate.Instance) reservation {
	sg := securityGroup{GroupID: derivedID("sg-", i.Group), GroupName: "marmot-agents"}
	inst := ec2Instance{
		InstanceID: i.ID, ImageID: i.ImageID,
		InstanceState: instanceState{Code: i.State.Code(), Name: string(i.State)},
		InstanceType:  i.Type, LaunchTime: ec2Time(i.LaunchTime),
		Placement:  placement{AvailabilityZone: i.AZ, Tenancy: "default"},
		Monitoring: monitoring{State: "disabled"},
		GroupSet:   items[securityGroup]{[]securityGroup{sg}},
		// Current-generation instances boot HVM AMIs from EBS (kernelId/ramdiskId are paravirtual-only).
		Architecture: "x86_64", RootDeviceType: "ebs", RootDeviceName: "/dev/xvda",
		VirtualizationType: "hvm", Hypervisor: "xen", EBSOptimized: true,
	}
	for _, t := range i.Tags {
		inst.TagSet.Item = append(inst.TagSet.Item, ec2Tag{t.Key, t.Value})
	}
	if i.Spot {
		inst.InstanceLifecycle = "spot"
		inst.SpotInstanceRequestID = derivedID("sir-", i.ID)[:12]
	}
	if i.State == simulate.InstanceTerminated {
		// A terminated instance has given its network interface and volumes back.
		inst.Reason = "User initiated (" + i.TerminatedAt.UTC().Format("2006-01-02 15:04:05 GMT") + ")"
		inst.StateReason = &ec2StateReason{"Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"}
	} else {
		inst.PrivateIPAddress, inst.PrivateDNSName = i.PrivateIP, i.PrivateDNS
		inst.SubnetID, inst.VpcID = derivedID("subnet-", i.AZ), derivedID("vpc-", v.Region())
		inst.BlockDeviceMapping.Item = []blockDevice{{DeviceName: "/dev/xvda", EBS: ebsDevice{
			VolumeID: derivedID("vol-", i.ID), Status: "attached", AttachTime: ec2Time(i.LaunchTime), DeleteOnTermination: true,
		}}}
	}
	return reservation{
		ReservationID: derivedID("r-", i.ID), OwnerID: v.AccountID(), GroupSet: items[securityGroup]{[]securityGroup{sg}},
		InstancesSet: items[ec2Instance]{[]ec2Instance{inst}}, RequesterID: autoScalingRequester,
	}
}

// instanceFilters maps each DescribeInstances filter we serve to the values an instance has for it.
var instanceFilters = map[string]func(i *simulate.Instance) []string{
	"instance-id":         func(i *simulate.Instance) []string { return []string{i.ID} },
	"instance-state-name": func(i *simulate.Instance) []string { return []string{string(i.State)} },
	"instance-state-code": func(i *simulate.Instance) []string { return []string{strconv.Itoa(i.State.Code())} },
	"private-ip-address": func(i *simulate.Instance) []string {
		return nonEmpty(i.PrivateIP, i.State != simulate.InstanceTerminated)
	},
	"private-dns-name": func(i *simulate.Instance) []string {
		return nonEmpty(i.PrivateDNS, i.State != simulate.InstanceTerminated)
	},
	"instance-type":      func(i *simulate.Instance) []string { return []string{i.Type} },
	"availability-zone":  func(i *simulate.Instance) []string { return []string{i.AZ} },
	"image-id":           func(i *simulate.Instance) []string { return []string{i.ImageID} },
	"instance-lifecycle": func(i *simulate.Instance) []string { return nonEmpty("spot", i.Spot) },
	"tag-key": func(i *simulate.Instance) []string {
		out := make([]string, len(i.Tags))
		for n, t := range i.Tags {
			out[n] = t.Key
		}
		return out
	},
	"tag-value": func(i *simulate.Instance) []string {
		out := make([]string, len(i.Tags))
		for n, t := range i.Tags {
			out[n] = t.Value
		}
		return out
	},
}

func nonEmpty(s string, ok bool) []string {
	if !ok || s == "" {
		return nil
	}
	return []string{s}
}

// instanceFilter returns the values an instance has for a filter name, or nil when EC2 (or this
// simulator) has no such filter.
func instanceFilter(name string) func(i *simulate.Instance) []string {
	if key, ok := strings.CutPrefix(name, "tag:"); ok {
		return func(i *simulate.Instance) []string {
			v, ok := i.Tag(key)
			return nonEmpty(v, ok)
		}
	}
	return instanceFilters[name]
}

// instanceIDPattern is what EC2 accepts as an instance id before looking it up.
var instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{8}([0-9a-f]{9})?$`)

type describeInstancesResult struct {
	ec2Meta
	ReservationSet items[reservation] `xml:"reservationSet"`
	NextToken      string             `xml:"nextToken,omitempty"`
}

func describeInstances(h *handler, f form) (any, error) {
	ids, err := f.list("InstanceId")
	if err != nil {
		return nil, err
	}
	filters, err := f.filters("Filter", "Value")
	if err != nil {
		return nil, err
	}
	match := make([]func(i *simulate.Instance) []string, len(filters))
	for n, flt := range filters {
		if match[n] = instanceFilter(flt.Name); match[n] == nil {
			return nil, badRequest("InvalidParameterValue", "The filter '%s' is invalid", flt.Name)
		}
	}
	limit, paged, err := maxResults(f, 5, 1000, math.MaxInt)
	if err != nil {
		return nil, err
	}
	if paged && len(ids) > 0 {
		return nil, badRequest("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	for _, id := range ids {
		if !instanceIDPattern.MatchString(id) {
			return nil, badRequest("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
	}
	wanted := make(map[string]bool, len(ids))
	for _, id := range ids {
		wanted[id] = true
	}
	var out []reservation
	var unknown []string
	h.world.View(func(v *simulate.View) {
		for _, id := range ids {
			if _, ok := v.Instance(id); !ok && wanted[id] {
				unknown = append(unknown, id)
				wanted[id] = false // name each unknown id once
			}
		}
		for _, i := range v.Instances() {
			if (len(ids) == 0 || wanted[i.ID]) && instanceMatches(i, filters, match) {
				out = append(out, reservationOf(v, i))
			}
		}
	})
	switch len(unknown) {
	case 0:
	case 1:
		return nil, badRequest("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", unknown[0])
	default:
		return nil, badRequest("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(unknown, ", "))
	}
	page, next, err := pageOf(out, func(r reservation) string { return r.InstancesSet.Item[0].InstanceID }, f["NextToken"], limit)
	if err != nil {
		return nil, err
	}
	return &describeInstancesResult{ReservationSet: items[reservation]{page}, NextToken: next}, nil
}

// instanceMatches applies EC2 filters: every filter must match, a filter matches when any of the
// instance's values for it matches any of the filter's values, and values may hold * and ? wildcards.
func instanceMatches(i *simulate.Instance, filters []filter, match []func(*simulate.Instance) []string) bool {
	for n, flt := range filters {
		if !anyGlob(flt.Values, match[n](i)) {
			return false
		}
	}
	return true
}

func anyGlob(patterns, values []string) bool {
	for _, v := range values {
		for _, p := range patterns {
			if globMatch(p, v) {
				return true
			}
		}
	}
	return false
}

type spotPrice struct {
	InstanceType       string `xml:"instanceType"`
	ProductDescription string `xml:"productDescription"`
	SpotPrice          string `xml:"spotPrice"`
	Timestamp          string `xml:"timestamp"`
	AvailabilityZone   string `xml:"availabilityZone"`
}

type spotPriceResult struct {
	ec2Meta
	SpotPriceHistorySet items[spotPrice] `xml:"spotPriceHistorySet"`
	// NextToken is always written: EC2 ends a listing with an empty <nextToken/>, which clients must
	// read as the end (wire-facts.md §5.3).
	NextToken string `xml:"nextToken"`
}

const spotHistoryKept = 90 * 24 * time.Hour

// linuxProducts are the product descriptions the model prices; it has one price per type and zone.
var linuxProducts = []string{"Linux/UNIX", "Linux/UNIX (Amazon VPC)"}

var spotFilters = map[string]func(p spotPrice) string{
	"instance-type":       func(p spotPrice) string { return p.InstanceType },
	"product-description": func(p spotPrice) string { return p.ProductDescription },
	"availability-zone":   func(p spotPrice) string { return p.AvailabilityZone },
	"spot-price":          func(p spotPrice) string { return p.SpotPrice },
	"timestamp":           func(p spotPrice) string { return p.Timestamp },
}

func describeSpotPriceHistory(h *handler, f form) (any, error) {
	types, err := f.list("InstanceType")
	if err != nil {
		return nil, err
	}
	products, err := f.list("ProductDescription")
	if err != nil {
		return nil, err
	}
	filters, err := f.filters("Filter", "Value")
	if err != nil {
		return nil, err
	}
	for _, flt := range filters {
		if spotFilters[flt.Name] == nil {
			return nil, badRequest("InvalidParameterValue", "The filter '%s' is invalid", flt.Name)
		}
	}
	start, err := f.timestamp("StartTime")
	if err != nil {
		return nil, err
	}
	end, err := f.timestamp("EndTime")
	if err != nil {
		return nil, err
	}
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		return nil, badRequest("InvalidParameterValue", "EndTime (%s) must not be before StartTime (%s)", ec2Time(end), ec2Time(start))
	}
	limit, _, err := maxResults(f, 1, 1000, 1000)
	if err != nil {
		return nil, err
	}
	if len(products) == 0 {
		products = linuxProducts[:1]
	}
	var zones []string
	if az, ok := f.str("AvailabilityZone"); ok {
		zones = []string{az}
	}
	var history []simulate.SpotPrice
	h.world.View(func(v *simulate.View) {
		// EC2 keeps 90 days of spot history; the bound also keeps a request for the year 1 from
		// making the model walk two thousand years of hourly prices.
		until := end
		if until.IsZero() || until.After(v.Now()) {
			until = v.Now()
		}
		if oldest := until.Add(-spotHistoryKept); !start.IsZero() && start.Before(oldest) {
			start = oldest
		}
		history = v.SpotPriceHistory(types, zones, start, end)
	})
	var out []spotPrice
	for _, p := range history {
		for _, product := range products {
			if !slices.Contains(linuxProducts, product) {
				continue // the model has no Windows or SUSE prices
			}
			sp := spotPrice{p.InstanceType, product, strconv.FormatFloat(p.Price, 'f', 6, 64), ec2Time(p.Timestamp), p.AZ}
			if spotMatches(sp, filters) {
				out = append(out, sp)
			}
		}
	}
	key := func(p spotPrice) string {
		return strings.Join([]string{p.Timestamp, p.InstanceType, p.AvailabilityZone, p.ProductDescription}, "\x00")
	}
	page, next, err := pageOf(out, key, f["NextToken"], limit)
	if err != nil {
		return nil, err
	}
	return &spotPriceResult{SpotPriceHistorySet: items[spotPrice]{page}, NextToken: next}, nil
}

func spotMatches(p spotPrice, filters []filter) bool {
	for _, flt := range filters {
		if !anyGlob(flt.Values, []string{spotFilters[flt.Name](p)}) {
			return false
		}
	}
	return true
}

type vCPUInfo struct {
	DefaultVCpus int `xml:"defaultVCpus"`
}

type memoryInfo struct {
	SizeInMiB int64 `xml:"sizeInMiB"`
}

type gpuDevice struct {
	Count int `xml:"count"`
}

type gpuInfo struct {
	Gpus items[gpuDevice] `xml:"gpus"`
}

type instanceTypeInfo struct {
	InstanceType          string        `xml:"instanceType"`
	CurrentGeneration     bool          `xml:"currentGeneration"`
	SupportedUsageClasses items[string] `xml:"supportedUsageClasses"`
	VCPUInfo              vCPUInfo      `xml:"vCpuInfo"`
	MemoryInfo            memoryInfo    `xml:"memoryInfo"`
	GpuInfo               *gpuInfo      `xml:"gpuInfo,omitempty"`
}

type instanceTypesResult struct {
	ec2Meta
	InstanceTypeSet items[instanceTypeInfo] `xml:"instanceTypeSet"`
	NextToken       string                  `xml:"nextToken,omitempty"`
}

// describeInstanceTypes reports the model's instance types. CPUs and memory are what the model's
// agents offer to Mesos, so that a client sizing agents from this call sees the shapes the simulated
// agents really have.
func describeInstanceTypes(h *handler, f form) (any, error) {
	names, err := f.list("InstanceType")
	if err != nil {
		return nil, err
	}
	if filters, err := f.filters("Filter", "Value"); err != nil || len(filters) > 0 {
		if err == nil {
			err = badRequest("InvalidParameterValue", "The filter '%s' is not supported by the simulator", filters[0].Name)
		}
		return nil, err
	}
	limit, _, err := maxResults(f, 5, 100, 100)
	if err != nil {
		return nil, err
	}
	var out []instanceTypeInfo
	h.world.View(func(v *simulate.View) {
		for _, t := range v.InstanceTypes() {
			if len(names) > 0 && !slices.Contains(names, t.Name) {
				continue
			}
			it := instanceTypeInfo{
				InstanceType: t.Name, CurrentGeneration: true,
				SupportedUsageClasses: items[string]{[]string{"on-demand", "spot"}},
				VCPUInfo:              vCPUInfo{int(math.Round(t.CPUs))},
				MemoryInfo:            memoryInfo{int64(math.Round(t.MemMiB))},
			}
			if t.GPUs > 0 {
				it.GpuInfo = &gpuInfo{items[gpuDevice]{[]gpuDevice{{int(math.Round(t.GPUs))}}}}
			}
			out = append(out, it)
		}
	})
	var unknown []string
	for _, n := range names {
		if !slices.ContainsFunc(out, func(it instanceTypeInfo) bool { return it.InstanceType == n }) {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, badRequest("InvalidInstanceType", "The following supplied instance types do not exist: [%s]", strings.Join(unknown, ", "))
	}
	page, next, err := pageOf(out, func(it instanceTypeInfo) string { return it.InstanceType }, f["NextToken"], limit)
	if err != nil {
		return nil, err
	}
	return &instanceTypesResult{InstanceTypeSet: items[instanceTypeInfo]{page}, NextToken: next}, nil
}

type returnResult struct {
	ec2Meta
	Return bool `xml:"return"`
}

// tagTargets reads ResourceId.N and Tag.N of CreateTags and DeleteTags. Only instances carry tags in
// the model; another kind of id is refused the way EC2 refuses an id it cannot parse.
func tagTargets(f form) ([]string, []simulate.Tag, bool, error) {
	ids, err := f.list("ResourceId")
	if err != nil {
		return nil, nil, false, err
	}
	if len(ids) == 0 {
		return nil, nil, false, missing("ResourceId.1")
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") {
			return nil, nil, false, badRequest("InvalidID", "The ID '%s' is not valid", id)
		}
	}
	entries, err := f.structs("Tag")
	if err != nil {
		return nil, nil, false, err
	}
	tags := make([]simulate.Tag, 0, len(entries))
	for _, e := range entries {
		key, err := e.required("Key")
		if err != nil {
			return nil, nil, false, e.wrap(err)
		}
		value, _ := e.str("Value")
		switch {
		case strings.HasPrefix(key, "aws:"):
			return nil, nil, false, badRequest("InvalidParameterValue", "Value ( %s ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use", key)
		case len(key) > 128 || len(value) > 256:
			return nil, nil, false, badRequest("InvalidParameterValue", "Tag keys may have at most 128 characters and values at most 256")
		}
		tags = append(tags, simulate.Tag{Key: key, Value: value})
	}
	return ids, tags, len(entries) > 0, nil
}

func createTags(h *handler, f form) (any, error) {
	ids, tags, given, err := tagTargets(f)
	if err != nil {
		return nil, err
	}
	if !given {
		return nil, missing("Tag.1")
	}
	if err := h.world.CreateInstanceTags(ids, tags); err != nil {
		return nil, err
	}
	return &returnResult{Return: true}, nil
}

// deleteInstanceTags is EC2 DeleteTags: a tag given with a value goes only when the value matches;
// with no tags at all, every tag of the instance goes except the aws: ones.
func deleteInstanceTags(h *handler, f form) (any, error) {
	ids, tags, given, err := tagTargets(f)
	if err != nil {
		return nil, err
	}
	if !given {
		h.world.View(func(v *simulate.View) {
			for _, id := range ids {
				if i, ok := v.Instance(id); ok {
					for _, t := range i.Tags {
						if !strings.HasPrefix(t.Key, "aws:") {
							tags = append(tags, simulate.Tag{Key: t.Key, Value: t.Value})
						}
					}
				}
			}
		})
	}
	if err := h.world.DeleteInstanceTags(ids, tags); err != nil {
		return nil, err
	}
	return &returnResult{Return: true}, nil
}
