package cloud

import (
	"context"
	"time"
)

// The names of the Provider calls, as Instrument reports them and as metric label values.
const (
	CallGroups                = "groups"
	CallSetDesiredCapacity    = "set_desired_capacity"
	CallTerminateInstance     = "terminate_instance"
	CallSetInstanceProtection = "set_instance_protection"
	CallInstances             = "instances"
	CallSetInstanceTags       = "set_instance_tags"
	CallDeleteInstanceTags    = "delete_instance_tags"
	CallActivities            = "activities"
	CallInstanceTypes         = "instance_types"
	CallSpotPrices            = "spot_prices"
)

// Calls lists every call name, so that metric series can start at zero.
func Calls() []string {
	return []string{CallGroups, CallSetDesiredCapacity, CallTerminateInstance, CallSetInstanceProtection,
		CallInstances, CallSetInstanceTags, CallDeleteInstanceTags, CallActivities, CallInstanceTypes,
		CallSpotPrices}
}

// Instrument wraps p so that every call is reported to observe once it returns: its name (one of
// Calls), how long it took including the provider's retries, and its error (nil on success; see
// Reason for a label). The registry lives with the caller: the autoscaler turns observe into
// Prometheus histograms and counters. observe runs on the caller's goroutine and must be quick.
//
// The duration is wall time: it measures a real network call, which no virtual clock models.
func Instrument(p Provider, observe func(call string, d time.Duration, err error)) Provider {
	return &instrumented{p: p, observe: observe}
}

type instrumented struct {
	p       Provider
	observe func(call string, d time.Duration, err error)
}

var _ Provider = (*instrumented)(nil)

// timed runs one call and reports it.
func timed[T any](i *instrumented, call string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	i.observe(call, time.Since(start), err)
	return v, err
}

// timedErr is timed for calls that return only an error.
func timedErr(i *instrumented, call string, f func() error) error {
	_, err := timed(i, call, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (i *instrumented) Groups(ctx context.Context, q GroupQuery) ([]Group, error) {
	return timed(i, CallGroups, func() ([]Group, error) { return i.p.Groups(ctx, q) })
}

func (i *instrumented) SetDesiredCapacity(ctx context.Context, group string, desired int) error {
	return timedErr(i, CallSetDesiredCapacity, func() error { return i.p.SetDesiredCapacity(ctx, group, desired) })
}

func (i *instrumented) TerminateInstance(ctx context.Context, instanceID string, decrement bool) (Activity, error) {
	return timed(i, CallTerminateInstance, func() (Activity, error) {
		return i.p.TerminateInstance(ctx, instanceID, decrement)
	})
}

func (i *instrumented) SetInstanceProtection(ctx context.Context, group string, instanceIDs []string, protected bool) error {
	return timedErr(i, CallSetInstanceProtection, func() error {
		return i.p.SetInstanceProtection(ctx, group, instanceIDs, protected)
	})
}

func (i *instrumented) Instances(ctx context.Context, q InstanceQuery) ([]Instance, error) {
	return timed(i, CallInstances, func() ([]Instance, error) { return i.p.Instances(ctx, q) })
}

func (i *instrumented) SetInstanceTags(ctx context.Context, instanceID string, tags map[string]string) error {
	return timedErr(i, CallSetInstanceTags, func() error { return i.p.SetInstanceTags(ctx, instanceID, tags) })
}

func (i *instrumented) DeleteInstanceTags(ctx context.Context, instanceID string, keys []string) error {
	return timedErr(i, CallDeleteInstanceTags, func() error { return i.p.DeleteInstanceTags(ctx, instanceID, keys) })
}

func (i *instrumented) Activities(ctx context.Context, group string, since time.Time) ([]Activity, error) {
	return timed(i, CallActivities, func() ([]Activity, error) { return i.p.Activities(ctx, group, since) })
}

func (i *instrumented) InstanceTypes(ctx context.Context, names []string) ([]InstanceType, error) {
	return timed(i, CallInstanceTypes, func() ([]InstanceType, error) { return i.p.InstanceTypes(ctx, names) })
}

func (i *instrumented) SpotPrices(ctx context.Context, q SpotPriceQuery) ([]SpotPrice, error) {
	return timed(i, CallSpotPrices, func() ([]SpotPrice, error) { return i.p.SpotPrices(ctx, q) })
}
