package awsapi

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// The Auto Scaling operations (wire-facts.md §5.2). Each reads its parameters, calls the model, and
// returns the result struct that becomes <OpResult>; element names are AWS's, hence the exported
// field names without tags.

var autoScalingOps = map[string]operation{
	"DescribeAutoScalingGroups":           describeAutoScalingGroups,
	"DescribeAutoScalingInstances":        describeAutoScalingInstances,
	"SetDesiredCapacity":                  setDesiredCapacity,
	"UpdateAutoScalingGroup":              updateAutoScalingGroup,
	"TerminateInstanceInAutoScalingGroup": terminateInstanceInAutoScalingGroup,
	"DescribeScalingActivities":           describeScalingActivities,
	"SetInstanceProtection":               setInstanceProtection,
	"CreateOrUpdateTags":                  createOrUpdateTags,
	"DeleteTags":                          deleteTags,
	"DescribeTags":                        describeTags,
	"CompleteLifecycleAction":             completeLifecycleAction,
}

// asTime is how awsQuery writes a timestamp: ISO 8601 in UTC with milliseconds.
func asTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type launchTemplate struct {
	LaunchTemplateID   string `xml:"LaunchTemplateId"`
	LaunchTemplateName string
	Version            string
}

// templateOf is the launch template a group launches from. The model names it; the id is derived.
func templateOf(name, version string) *launchTemplate {
	return &launchTemplate{LaunchTemplateID: derivedID("lt-", name), LaunchTemplateName: name, Version: version}
}

type asInstance struct {
	InstanceID           string `xml:"InstanceId"`
	InstanceType         string
	AutoScalingGroupName string `xml:",omitempty"` // DescribeAutoScalingInstances only
	AvailabilityZone     string
	LifecycleState       string
	HealthStatus         string
	LaunchTemplate       *launchTemplate
	ProtectedFromScaleIn bool
}

func asInstanceOf(g *simulate.Group, i *simulate.Instance) asInstance {
	return asInstance{
		InstanceID: i.ID, InstanceType: i.Type, AvailabilityZone: i.AZ, LifecycleState: string(i.Lifecycle),
		HealthStatus: i.Health, LaunchTemplate: templateOf(g.LaunchTemplate, "1"), ProtectedFromScaleIn: i.Protected,
	}
}

type tagDescription struct {
	ResourceID        string `xml:"ResourceId"`
	ResourceType      string
	Key               string
	Value             string
	PropagateAtLaunch bool
}

// groupResourceType is the only ResourceType Auto Scaling tags have.
const groupResourceType = "auto-scaling-group"

func tagsOf(g *simulate.Group) []tagDescription {
	out := make([]tagDescription, 0, len(g.Tags))
	for _, t := range g.Tags {
		out = append(out, tagDescription{g.Name, groupResourceType, t.Key, t.Value, t.PropagateAtLaunch})
	}
	return out
}

type none struct{}

type asGroup struct {
	AutoScalingGroupName             string
	AutoScalingGroupARN              string
	LaunchTemplate                   *launchTemplate
	MinSize                          int
	MaxSize                          int
	DesiredCapacity                  int
	DesiredCapacityType              string
	DefaultCooldown                  int
	AvailabilityZones                members[string]
	LoadBalancerNames                members[string]
	TargetGroupARNs                  members[string]
	HealthCheckType                  string
	HealthCheckGracePeriod           int
	Instances                        *members[asInstance] // absent when IncludeInstances=false
	CreatedTime                      string
	SuspendedProcesses               members[none]
	VPCZoneIdentifier                string
	EnabledMetrics                   members[none]
	Tags                             members[tagDescription]
	TerminationPolicies              members[string]
	NewInstancesProtectedFromScaleIn bool
	ServiceLinkedRoleARN             string
	CapacityRebalance                bool
	TrafficSources                   members[none]
}

func asGroupOf(v *simulate.View, g *simulate.Group, withInstances bool) asGroup {
	subnets := make([]string, len(g.AZs))
	for i, az := range g.AZs {
		subnets[i] = derivedID("subnet-", az)
	}
	out := asGroup{
		AutoScalingGroupName: g.Name, AutoScalingGroupARN: g.ARN, LaunchTemplate: templateOf(g.LaunchTemplate, "$Default"),
		MinSize: g.Min, MaxSize: g.Max, DesiredCapacity: g.Desired, DesiredCapacityType: "units",
		DefaultCooldown:   int(g.DefaultCooldown / time.Second),
		AvailabilityZones: members[string]{slices.Clone(g.AZs)},
		HealthCheckType:   g.HealthCheckType, HealthCheckGracePeriod: 300,
		CreatedTime: asTime(g.CreatedAt), VPCZoneIdentifier: strings.Join(subnets, ","),
		Tags:                             members[tagDescription]{tagsOf(g)},
		TerminationPolicies:              members[string]{slices.Clone(g.TerminationPolicies)},
		NewInstancesProtectedFromScaleIn: g.NewInstancesProtected,
		ServiceLinkedRoleARN:             "arn:aws:iam::" + v.AccountID() + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
	}
	if withInstances {
		list := &members[asInstance]{}
		for _, i := range g.Instances() {
			list.Member = append(list.Member, asInstanceOf(g, i))
		}
		out.Instances = list
	}
	return out
}

// maxRecords reads MaxRecords, which must lie in [1, limit].
func maxRecords(f form, def, limit int) (int, error) {
	n, _, err := f.integer("MaxRecords", def)
	if err == nil && (n < 1 || n > limit) {
		err = invalid("MaxRecords", fmt.Sprint(n), fmt.Sprintf("must have value less than or equal to %d and greater than or equal to 1", limit))
	}
	return n, err
}

type describeGroupsResult struct {
	AutoScalingGroups members[asGroup]
	NextToken         string `xml:",omitempty"`
}

func describeAutoScalingGroups(h *handler, f form) (any, error) {
	names, err := f.list("AutoScalingGroupNames.member")
	if err != nil {
		return nil, err
	}
	filters, err := f.filters("Filters.member", "Values.member")
	if err != nil {
		return nil, err
	}
	for _, flt := range filters {
		if flt.Name != "tag-key" && flt.Name != "tag-value" && !strings.HasPrefix(flt.Name, "tag:") {
			return nil, badRequest("ValidationError", "Filter name '%s' is not supported; use tag-key, tag-value or tag:<key>", flt.Name)
		}
	}
	limit, err := maxRecords(f, 50, 100)
	if err != nil {
		return nil, err
	}
	withInstances, _, err := f.boolean("IncludeInstances", true)
	if err != nil {
		return nil, err
	}
	var groups []asGroup
	h.world.View(func(v *simulate.View) {
		for _, g := range v.Groups() {
			if (len(names) == 0 || slices.Contains(names, g.Name)) && groupMatches(g, filters) {
				groups = append(groups, asGroupOf(v, g, withInstances))
			}
		}
	})
	page, next, err := pageOf(groups, func(g asGroup) string { return g.AutoScalingGroupName }, f["NextToken"], limit)
	if err != nil {
		return nil, err
	}
	return &describeGroupsResult{members[asGroup]{page}, next}, nil
}

// groupMatches applies DescribeAutoScalingGroups filters: every filter must match, and a filter
// matches when any of its values does.
func groupMatches(g *simulate.Group, filters []filter) bool {
	for _, flt := range filters {
		ok := false
		for _, t := range g.Tags {
			switch {
			case flt.Name == "tag-key":
				ok = ok || slices.Contains(flt.Values, t.Key)
			case flt.Name == "tag-value":
				ok = ok || slices.Contains(flt.Values, t.Value)
			default:
				ok = ok || (t.Key == strings.TrimPrefix(flt.Name, "tag:") && slices.Contains(flt.Values, t.Value))
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

type describeInstancesASResult struct {
	AutoScalingInstances members[asInstance]
	NextToken            string `xml:",omitempty"`
}

func describeAutoScalingInstances(h *handler, f form) (any, error) {
	ids, err := f.list("InstanceIds.member")
	if err != nil {
		return nil, err
	}
	if len(ids) > 50 {
		return nil, badRequest("ValidationError", "The number of instance ids that may be passed in is limited to 50")
	}
	limit, err := maxRecords(f, 50, 50)
	if err != nil {
		return nil, err
	}
	var out []asInstance
	h.world.View(func(v *simulate.View) {
		for _, g := range v.Groups() {
			for _, i := range g.Instances() {
				if len(ids) > 0 && !slices.Contains(ids, i.ID) {
					continue // unknown ids are ignored, as AWS does
				}
				ai := asInstanceOf(g, i)
				ai.AutoScalingGroupName = g.Name
				// [inf] This call reports health in capitals (the AWS CLI reference example shows
				// "HEALTHY"), unlike DescribeAutoScalingGroups' "Healthy"; clients must compare
				// case-insensitively, and the simulator keeps them honest.
				ai.HealthStatus = strings.ToUpper(i.Health)
				out = append(out, ai)
			}
		}
	})
	sort.SliceStable(out, func(a, b int) bool { return out[a].InstanceID < out[b].InstanceID })
	page, next, err := pageOf(out, func(i asInstance) string { return i.InstanceID }, f["NextToken"], limit)
	if err != nil {
		return nil, err
	}
	return &describeInstancesASResult{members[asInstance]{page}, next}, nil
}

func setDesiredCapacity(h *handler, f form) (any, error) {
	name, err := f.required("AutoScalingGroupName")
	if err != nil {
		return nil, err
	}
	desired, err := f.requiredInt("DesiredCapacity")
	if err == nil {
		err = checkSize("DesiredCapacity", desired)
	}
	if err != nil {
		return nil, err
	}
	// Manual scaling ignores the cooldown unless asked to honour it (wire-facts.md §5.2).
	honor, _, err := f.boolean("HonorCooldown", false)
	if err != nil {
		return nil, err
	}
	return nil, h.world.SetDesiredCapacity(name, desired, honor)
}

func updateAutoScalingGroup(h *handler, f form) (any, error) {
	name, err := f.required("AutoScalingGroupName")
	if err != nil {
		return nil, err
	}
	var sizes [3]*int
	for i, p := range []string{"MinSize", "MaxSize", "DesiredCapacity"} {
		n, ok, err := f.integer(p, 0)
		if err == nil && ok {
			err = checkSize(p, n)
		}
		if err != nil {
			return nil, err
		}
		if ok {
			sizes[i] = &n
		}
	}
	minSize, maxSize, desired := sizes[0], sizes[1], sizes[2]
	// The model changes bounds and desired capacity in two calls; check the three together first so
	// that a request AWS refuses changes nothing.
	var curMin, curMax int
	found := false
	h.world.View(func(v *simulate.View) {
		if g, ok := v.Group(name); ok {
			curMin, curMax, found = g.Min, g.Max, true
		}
	})
	if !found {
		return nil, badRequest("ValidationError", "AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
	}
	lo, hi := deref(minSize, curMin), deref(maxSize, curMax)
	if lo > hi {
		return nil, badRequest("ValidationError", "Max bound, %d, must be greater than or equal to min bound, %d", hi, lo)
	}
	if desired != nil && (*desired < lo || *desired > hi) {
		return nil, badRequest("ValidationError", "Desired capacity:%d must be between the specified min size:%d and max size:%d", *desired, lo, hi)
	}
	if minSize != nil || maxSize != nil {
		if err := h.world.UpdateGroupSize(name, minSize, maxSize); err != nil {
			return nil, err
		}
	}
	if desired != nil {
		return nil, h.world.SetDesiredCapacity(name, *desired, false)
	}
	return nil, nil
}

// maxGroupSize bounds the sizes a request may ask for. The model launches and terminates instances
// synchronously inside the call, so one stray request for a million instances would stall the
// simulator; no scenario needs more than a few thousand.
const maxGroupSize = 10000

func checkSize(param string, n int) error {
	if n < 0 || n > maxGroupSize {
		return invalid(param, fmt.Sprint(n), fmt.Sprintf("must have value less than or equal to %d and greater than or equal to 0", maxGroupSize))
	}
	return nil
}

func deref(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

type asActivity struct {
	ActivityID           string `xml:"ActivityId"`
	AutoScalingGroupName string
	AutoScalingGroupARN  string `xml:",omitempty"`
	Description          string
	Cause                string
	StartTime            string
	EndTime              string `xml:",omitempty"`
	StatusCode           string
	StatusMessage        string `xml:",omitempty"`
	Progress             int
	Details              string
}

func asActivityOf(a *simulate.Activity, groupARN string) asActivity {
	out := asActivity{
		ActivityID: a.ID, AutoScalingGroupName: a.Group, AutoScalingGroupARN: groupARN, Description: a.Description,
		Cause: a.Cause, StartTime: asTime(a.StartTime), StatusCode: a.StatusCode, StatusMessage: a.Message,
		Progress: a.Progress, Details: a.Details,
	}
	if !a.EndTime.IsZero() {
		out.EndTime = asTime(a.EndTime)
	}
	return out
}

type terminateResult struct {
	Activity asActivity
}

func terminateInstanceInAutoScalingGroup(h *handler, f form) (any, error) {
	id, err := f.required("InstanceId")
	if err != nil {
		return nil, err
	}
	decrement, err := f.requiredBool("ShouldDecrementDesiredCapacity")
	if err != nil {
		return nil, err
	}
	act, err := h.world.TerminateInstanceInGroup(id, decrement)
	if err != nil {
		return nil, err
	}
	var arn string
	h.world.View(func(v *simulate.View) {
		if g, ok := v.Group(act.Group); ok {
			arn = g.ARN
		}
	})
	return &terminateResult{asActivityOf(&act, arn)}, nil
}

type activitiesResult struct {
	Activities members[asActivity]
	NextToken  string `xml:",omitempty"`
}

func describeScalingActivities(h *handler, f form) (any, error) {
	name, _ := f.str("AutoScalingGroupName")
	ids, err := f.list("ActivityIds.member")
	if err != nil {
		return nil, err
	}
	if len(ids) > 50 {
		return nil, badRequest("ValidationError", "The number of activity ids that may be passed in is limited to 50")
	}
	limit, err := maxRecords(f, 100, 100)
	if err != nil {
		return nil, err
	}
	var out []asActivity
	var starts []time.Time
	h.world.View(func(v *simulate.View) {
		for _, g := range v.Groups() {
			if name != "" && g.Name != name {
				continue
			}
			for _, a := range g.Activities() {
				if len(ids) == 0 || slices.Contains(ids, a.ID) {
					out = append(out, asActivityOf(a, g.ARN))
					starts = append(starts, a.StartTime)
				}
			}
		}
	})
	// Newest first across groups; each group's list already is, and a stable sort keeps that order
	// among activities that started at the same model instant.
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return starts[order[a]].After(starts[order[b]]) })
	sorted := make([]asActivity, len(out))
	for i, j := range order {
		sorted[i] = out[j]
	}
	page, next, err := pageOf(sorted, func(a asActivity) string { return a.ActivityID }, f["NextToken"], limit)
	if err != nil {
		return nil, err
	}
	return &activitiesResult{members[asActivity]{page}, next}, nil
}

func setInstanceProtection(h *handler, f form) (any, error) {
	name, err := f.required("AutoScalingGroupName")
	if err != nil {
		return nil, err
	}
	ids, err := f.list("InstanceIds.member")
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, missing("InstanceIds")
	}
	protect, err := f.requiredBool("ProtectedFromScaleIn")
	if err != nil {
		return nil, err
	}
	if err := h.world.SetInstanceProtection(name, ids, protect); err != nil {
		return nil, err
	}
	// Unlike SetDesiredCapacity, this call has an (empty) result element, and the SDK insists on it.
	return &none{}, nil
}

// groupTags reads the Tags.member.N structures of CreateOrUpdateTags and DeleteTags.
func groupTags(f form) ([]simulate.GroupTag, error) {
	entries, err := f.structs("Tags.member")
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, missing("Tags")
	}
	out := make([]simulate.GroupTag, 0, len(entries))
	for _, e := range entries {
		group, err := e.required("ResourceId")
		if err != nil {
			return nil, e.wrap(err)
		}
		if rt, ok := e.str("ResourceType"); ok && rt != groupResourceType {
			return nil, e.wrap(invalid("ResourceType", rt, "must be "+groupResourceType))
		}
		key, err := e.required("Key")
		if err != nil {
			return nil, e.wrap(err)
		}
		propagate, _, err := e.boolean("PropagateAtLaunch", false)
		if err != nil {
			return nil, e.wrap(err)
		}
		value, _ := e.str("Value")
		out = append(out, simulate.GroupTag{Group: group, Tag: simulate.Tag{Key: key, Value: value, PropagateAtLaunch: propagate}})
	}
	return out, nil
}

func createOrUpdateTags(h *handler, f form) (any, error) {
	tags, err := groupTags(f)
	if err != nil {
		return nil, err
	}
	return nil, h.world.CreateOrUpdateGroupTags(tags)
}

func deleteTags(h *handler, f form) (any, error) {
	tags, err := groupTags(f)
	if err != nil {
		return nil, err
	}
	return nil, h.world.DeleteGroupTags(tags)
}

type describeTagsResult struct {
	Tags      members[tagDescription]
	NextToken string `xml:",omitempty"`
}

func describeTags(h *handler, f form) (any, error) {
	filters, err := f.filters("Filters.member", "Values.member")
	if err != nil {
		return nil, err
	}
	fields := map[string]func(tagDescription) string{
		"auto-scaling-group":  func(t tagDescription) string { return t.ResourceID },
		"key":                 func(t tagDescription) string { return t.Key },
		"value":               func(t tagDescription) string { return t.Value },
		"propagate-at-launch": func(t tagDescription) string { return fmt.Sprint(t.PropagateAtLaunch) },
	}
	for _, flt := range filters {
		if fields[flt.Name] == nil {
			return nil, badRequest("ValidationError", "Filter name '%s' is not supported; use auto-scaling-group, key, value or propagate-at-launch", flt.Name)
		}
	}
	limit, err := maxRecords(f, 50, 100)
	if err != nil {
		return nil, err
	}
	var out []tagDescription
	h.world.View(func(v *simulate.View) {
		for _, g := range v.Groups() {
		tags:
			for _, t := range tagsOf(g) {
				for _, flt := range filters {
					if !slices.Contains(flt.Values, fields[flt.Name](t)) {
						continue tags
					}
				}
				out = append(out, t)
			}
		}
	})
	page, next, err := pageOf(out, func(t tagDescription) string { return t.ResourceID + "\x00" + t.Key }, f["NextToken"], limit)
	if err != nil {
		return nil, err
	}
	return &describeTagsResult{members[tagDescription]{page}, next}, nil
}

// completeLifecycleAction exists so that a client (and AWS's own sample request) gets AWS's answer:
// the model has no lifecycle hooks, so no instance ever waits in a lifecycle action to be completed.
func completeLifecycleAction(h *handler, f form) (any, error) {
	for _, p := range []string{"AutoScalingGroupName", "LifecycleHookName", "LifecycleActionResult"} {
		if _, err := f.required(p); err != nil {
			return nil, err
		}
	}
	if r := f["LifecycleActionResult"]; r != "CONTINUE" && r != "ABANDON" {
		return nil, invalid("LifecycleActionResult", r, "must be CONTINUE or ABANDON")
	}
	if token, ok := f.str("LifecycleActionToken"); ok {
		return nil, badRequest("ValidationError", "No active Lifecycle Action found with token %s", token)
	}
	id, err := f.required("InstanceId")
	if err != nil {
		return nil, badRequest("ValidationError", "Either LifecycleActionToken or InstanceId must be given")
	}
	return nil, badRequest("ValidationError", "No active Lifecycle Action found with instance ID %s", id)
}
