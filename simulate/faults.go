package simulate

import (
	"fmt"
	"math/rand"
	"time"
)

// Faults that a scenario or a test switches on at run time. Each is counted (Count > 0: the next Count
// occurrences), or probabilistic (Rate in (0,1]), or, for slow responses, a fixed added latency.

// Service names an API the simulator serves, for faults aimed at one of them.
type Service string

// The services of the HTTP face.
const (
	ServiceMesos       Service = "mesos"
	ServiceMarathon    Service = "marathon"
	ServiceAutoScaling Service = "autoscaling"
	ServiceEC2         Service = "ec2"
	ServiceSQS         Service = "sqs"
)

// Services lists every service, for validation messages.
var Services = []Service{ServiceMesos, ServiceMarathon, ServiceAutoScaling, ServiceEC2, ServiceSQS}

// FaultKind names a fault.
type FaultKind string

// The faults the simulator can inject.
const (
	// FaultMesosLeaderChange moves Mesos leadership to another master (Target, or the next one).
	FaultMesosLeaderChange FaultKind = "mesos_leader_change"
	// FaultMesosNoLeader leaves the masters without a leader (503 "No leader elected").
	FaultMesosNoLeader FaultKind = "mesos_no_leader"
	// FaultMarathonLeaderChange moves Marathon leadership to another instance.
	FaultMarathonLeaderChange FaultKind = "marathon_leader_change"
	// FaultHTTPError makes the service answer Status (a 5xx) instead of serving.
	FaultHTTPError FaultKind = "http_error"
	// FaultSlowResponse delays the service's answers by Delay.
	FaultSlowResponse FaultKind = "slow_response"
	// FaultAWSThrottle throttles AWS calls: Auto Scaling answers 400 Throttling, EC2 503
	// RequestLimitExceeded, SQS (only when Service names it) 403 RequestThrottled.
	FaultAWSThrottle FaultKind = "aws_throttle"
	// FaultNeverJoin makes newly launched instances never register as Mesos agents.
	FaultNeverJoin FaultKind = "never_join"
	// FaultSpotInterruption gives a spot instance (Instance, or one of Group's) its two-minute notice.
	FaultSpotInterruption FaultKind = "spot_interruption"
	// FaultRebalanceRecommendation sends EC2's rebalance recommendation for a spot instance (Instance,
	// or one of Group's); the instance keeps running.
	FaultRebalanceRecommendation FaultKind = "rebalance_recommendation"
	// FaultTerminateRefused makes TerminateInstanceInAutoScalingGroup fail with ScalingActivityInProgress.
	FaultTerminateRefused FaultKind = "terminate_refused"
	// FaultClear switches every standing fault off (Service set: only that service's).
	FaultClear FaultKind = "clear"
)

// FaultKinds lists every fault kind, for validation messages.
var FaultKinds = []FaultKind{FaultMesosLeaderChange, FaultMesosNoLeader, FaultMarathonLeaderChange, FaultHTTPError,
	FaultSlowResponse, FaultAWSThrottle, FaultNeverJoin, FaultSpotInterruption, FaultRebalanceRecommendation,
	FaultTerminateRefused, FaultClear}

// Fault is one fault to inject.
type Fault struct {
	Kind     FaultKind     `json:"kind" yaml:"kind"`
	Service  Service       `json:"service,omitempty" yaml:"service,omitempty"`
	Status   int           `json:"status,omitempty" yaml:"status,omitempty"`
	Count    int           `json:"count,omitempty" yaml:"count,omitempty"`
	Rate     float64       `json:"rate,omitempty" yaml:"rate,omitempty"`
	Delay    time.Duration `json:"delay,omitempty" yaml:"-"`
	Target   *int          `json:"target,omitempty" yaml:"target,omitempty"`
	Instance string        `json:"instance,omitempty" yaml:"instance,omitempty"`
	Group    string        `json:"group,omitempty" yaml:"group,omitempty"`
}

// Validate returns what is wrong with the fault, field by field, with prefix naming where it stands.
func (f Fault) Validate(prefix string) []string {
	var errs []string
	known := false
	for _, k := range FaultKinds {
		known = known || k == f.Kind
	}
	if !known {
		errs = append(errs, fmt.Sprintf("%s.kind: %q is not a fault; allowed: %v", prefix, f.Kind, FaultKinds))
	}
	svcOK := f.Service == ""
	for _, s := range Services {
		svcOK = svcOK || s == f.Service
	}
	if !svcOK {
		errs = append(errs, fmt.Sprintf("%s.service: %q is not a service; allowed: %v", prefix, f.Service, Services))
	}
	if (f.Kind == FaultHTTPError || f.Kind == FaultSlowResponse) && f.Service == "" {
		errs = append(errs, fmt.Sprintf("%s.service: required for %s", prefix, f.Kind))
	}
	if f.Kind == FaultHTTPError && f.Status != 0 && (f.Status < 500 || f.Status > 599) {
		errs = append(errs, fmt.Sprintf("%s.status: %d is not a 5xx status", prefix, f.Status))
	}
	if f.Count < 0 {
		errs = append(errs, fmt.Sprintf("%s.count: %d must be 0 or more", prefix, f.Count))
	}
	if f.Rate < 0 || f.Rate > 1 {
		errs = append(errs, fmt.Sprintf("%s.rate: %g must be between 0 and 1", prefix, f.Rate))
	}
	if f.Kind == FaultSlowResponse && f.Delay <= 0 {
		errs = append(errs, fmt.Sprintf("%s.delay: required for slow_response, e.g. \"2s\"", prefix))
	}
	return errs
}

type counted struct {
	count int
	rate  float64
}

func (c *counted) take(rng *rand.Rand) bool {
	if c.count > 0 {
		c.count--
		return true
	}
	return c.rate > 0 && rng.Float64() < c.rate
}

type faultState struct {
	errors    map[Service]*counted
	status    map[Service]int
	delay     map[Service]time.Duration
	throttle  map[Service]*counted
	neverJoin counted
	terminate counted
}

func (f *faultState) takeNeverJoin(rng *rand.Rand) bool        { return f.neverJoin.take(rng) }
func (f *faultState) takeTerminateRefusal(rng *rand.Rand) bool { return f.terminate.take(rng) }

// Interception is what a face must do to one request instead of (or before) serving it.
type Interception struct {
	Delay    time.Duration // sleep this long (wall time) first
	Status   int           // answer this 5xx instead of serving
	Throttle bool          // answer the service's throttling error instead of serving
}

// Intercept is called by the HTTP face once per request to service s; it consumes counted faults. It
// first brings the model up to the clock, so that a fault a scenario schedules is in force from its
// time on, even when the request is the first thing to happen since.
func (w *World) Intercept(s Service) Interception {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	var in Interception
	in.Delay = w.faults.delay[s]
	if c := w.faults.errors[s]; c != nil && c.take(w.rng) {
		in.Status = w.faults.status[s]
	}
	if c := w.faults.throttle[s]; c != nil && c.take(w.rng) {
		in.Throttle = true
	}
	return in
}

// InjectFault switches a fault on (or, for leader changes, spot interruptions and rebalance
// recommendations, makes it happen now).
func (w *World) InjectFault(f Fault) error {
	if errs := f.Validate("fault"); len(errs) > 0 {
		return errorf(KindBadRequest, "", "%s", joinLines(errs))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.catchUp()
	return w.injectFault(f)
}

func (w *World) injectFault(f Fault) error {
	fs := &w.faults
	if fs.errors == nil {
		fs.errors, fs.status, fs.delay, fs.throttle = map[Service]*counted{}, map[Service]int{}, map[Service]time.Duration{}, map[Service]*counted{}
	}
	amount := counted{count: f.Count, rate: f.Rate}
	if amount.count == 0 && amount.rate == 0 {
		amount.rate = 1 // on until cleared
	}
	switch f.Kind {
	case FaultMesosLeaderChange:
		next := (w.mesosLeader + 1) % w.masters
		if f.Target != nil {
			next = *f.Target
		}
		return w.setMesosLeader(next)
	case FaultMesosNoLeader:
		return w.setMesosLeader(-1)
	case FaultMarathonLeaderChange:
		next := (w.marathonLeader + 1) % w.marathons
		if f.Target != nil {
			next = *f.Target
		}
		return w.setMarathonLeader(next)
	case FaultHTTPError:
		status := f.Status
		if status == 0 {
			status = 503
		}
		fs.errors[f.Service], fs.status[f.Service] = &amount, status
	case FaultSlowResponse:
		fs.delay[f.Service] = f.Delay
	case FaultAWSThrottle:
		// SQS only when named: a throttle meant for the scaling calls should not also hold back the
		// interruption notices, which are read on their own loop.
		services := []Service{ServiceAutoScaling, ServiceEC2}
		if f.Service != "" {
			services = []Service{f.Service}
		}
		for _, s := range services {
			c := amount
			fs.throttle[s] = &c
		}
	case FaultNeverJoin:
		fs.neverJoin = amount
	case FaultTerminateRefused:
		fs.terminate = amount
	case FaultSpotInterruption:
		_, err := w.spotInterruption(f.Instance, f.Group)
		return err
	case FaultRebalanceRecommendation:
		_, err := w.rebalanceRecommendation(f.Instance, f.Group)
		return err
	case FaultClear:
		if f.Service != "" {
			delete(fs.errors, f.Service)
			delete(fs.delay, f.Service)
			delete(fs.throttle, f.Service)
		} else {
			*fs = faultState{}
		}
		if w.mesosLeader < 0 {
			w.mesosLeader, w.mesosLeaderAt = 0, w.now
		}
	}
	return nil
}

func joinLines(lines []string) string {
	out := ""
	for i, l := range lines {
		if i > 0 {
			out += "\n"
		}
		out += l
	}
	return out
}
