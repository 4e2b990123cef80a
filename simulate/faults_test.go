package simulate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

func TestInterceptFaults(t *testing.T) {
	type call struct {
		service  simulate.Service
		status   int
		throttle bool
		delay    time.Duration
	}
	cases := []struct {
		name   string
		faults []simulate.Fault
		calls  []call // in order; each consumes what it is served
	}{
		{"no fault", nil, []call{{service: simulate.ServiceMarathon}, {service: simulate.ServiceEC2}}},
		{
			"counted http_error hits only its service, count times",
			[]simulate.Fault{{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMarathon, Count: 2}},
			[]call{
				{service: simulate.ServiceMesos},
				{service: simulate.ServiceMarathon, status: 503}, {service: simulate.ServiceMarathon, status: 503},
				{service: simulate.ServiceMarathon},
			},
		},
		{
			"http_error without count or rate stays on, with its status",
			[]simulate.Fault{{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMesos, Status: 502}},
			[]call{{service: simulate.ServiceMesos, status: 502}, {service: simulate.ServiceMesos, status: 502}, {service: simulate.ServiceMesos, status: 502}},
		},
		{
			"slow_response delays every answer",
			[]simulate.Fault{{Kind: simulate.FaultSlowResponse, Service: simulate.ServiceAutoScaling, Delay: 2 * time.Second}},
			[]call{{service: simulate.ServiceAutoScaling, delay: 2 * time.Second}, {service: simulate.ServiceAutoScaling, delay: 2 * time.Second}, {service: simulate.ServiceEC2}},
		},
		{
			"aws_throttle without service throttles both AWS services, each count times",
			[]simulate.Fault{{Kind: simulate.FaultAWSThrottle, Count: 1}},
			[]call{
				{service: simulate.ServiceAutoScaling, throttle: true}, {service: simulate.ServiceEC2, throttle: true},
				{service: simulate.ServiceAutoScaling}, {service: simulate.ServiceEC2}, {service: simulate.ServiceMarathon},
			},
		},
		{
			"aws_throttle aimed at EC2",
			[]simulate.Fault{{Kind: simulate.FaultAWSThrottle, Service: simulate.ServiceEC2}},
			[]call{{service: simulate.ServiceAutoScaling}, {service: simulate.ServiceEC2, throttle: true}, {service: simulate.ServiceEC2, throttle: true}},
		},
		{
			"clear for one service leaves the others",
			[]simulate.Fault{
				{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMarathon},
				{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMesos},
				{Kind: simulate.FaultClear, Service: simulate.ServiceMarathon},
			},
			[]call{{service: simulate.ServiceMarathon}, {service: simulate.ServiceMesos, status: 503}},
		},
		{
			"clear switches everything off",
			[]simulate.Fault{
				{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMarathon},
				{Kind: simulate.FaultSlowResponse, Service: simulate.ServiceMesos, Delay: time.Second},
				{Kind: simulate.FaultAWSThrottle},
				{Kind: simulate.FaultClear},
			},
			[]call{{service: simulate.ServiceMarathon}, {service: simulate.ServiceMesos}, {service: simulate.ServiceEC2}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, staticPools)
			for _, f := range tc.faults {
				mustOK(t, c.w.InjectFault(f))
			}
			for i, want := range tc.calls {
				got := c.w.Intercept(want.service)
				if got.Status != want.status || got.Throttle != want.throttle || got.Delay != want.delay {
					t.Errorf("call %d to %s: %+v, want status %d throttle %v delay %s", i, want.service, got, want.status, want.throttle, want.delay)
				}
			}
		})
	}
}

func TestHTTPErrorRate(t *testing.T) {
	c := newCluster(t, staticPools)
	mustOK(t, c.w.InjectFault(simulate.Fault{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMarathon, Rate: 0.25}))
	failed := 0
	const calls = 4000
	for range calls {
		if c.w.Intercept(simulate.ServiceMarathon).Status != 0 {
			failed++
		}
	}
	if frac := float64(failed) / calls; frac < 0.22 || frac > 0.28 {
		t.Errorf("%.3f of calls failed, want about 0.25", frac)
	}
}

func TestInvalidFaults(t *testing.T) {
	cases := []struct {
		name  string
		fault simulate.Fault
		want  string
	}{
		{"unknown kind", simulate.Fault{Kind: "meteor"}, "fault.kind"},
		{"http_error needs a service", simulate.Fault{Kind: simulate.FaultHTTPError}, "fault.service: required"},
		{"http_error status must be 5xx", simulate.Fault{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMesos, Status: 404}, "fault.status"},
		{"slow_response needs a delay", simulate.Fault{Kind: simulate.FaultSlowResponse, Service: simulate.ServiceMesos}, "fault.delay"},
		{"rate above 1", simulate.Fault{Kind: simulate.FaultNeverJoin, Rate: 1.5}, "fault.rate"},
		{"unknown service", simulate.Fault{Kind: simulate.FaultAWSThrottle, Service: "s3"}, "fault.service"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, staticPools)
			wantKind(t, c.w.InjectFault(tc.fault), simulate.KindBadRequest, tc.want)
		})
	}
}

// spotScenario has an on-demand and a spot group of two instances each.
const spotScenario = `
timing:
  boot_delay: {value: 60s}
  instance_pending: 20s
  termination: 30s
pools:
  - name: default
    groups:
      - {name: ondemand, instance_type: m5.xlarge, min: 0, max: 5, desired: 2}
      - {name: spot, instance_type: m5.xlarge, min: 0, max: 5, desired: 2, spot: true}
`

func TestNeverJoin(t *testing.T) {
	c := newCluster(t, spotScenario)
	mustOK(t, c.w.InjectFault(simulate.Fault{Kind: simulate.FaultNeverJoin, Count: 1}))
	start := c.clock.Now()
	mustOK(t, c.w.SetDesiredCapacity("ondemand", 4, false))
	c.advance(time.Hour)
	joined, lost := 0, 0
	for _, i := range newInstances(c, "ondemand", start) {
		if i.Lifecycle != simulate.LifecycleInService || i.State != simulate.InstanceRunning {
			t.Errorf("instance %s is %s/%s, want InService/running", i.ID, i.Lifecycle, i.State)
		}
		if i.AgentID == "" {
			lost++
			if !i.NeverJoins {
				t.Errorf("instance %s without an agent is not marked never-join", i.ID)
			}
		} else {
			joined++
		}
	}
	if joined != 1 || lost != 1 {
		t.Errorf("%d joined, %d never joined; want 1 and 1 (count 1)", joined, lost)
	}
}

func TestSpotInterruption(t *testing.T) {
	c := newCluster(t, spotScenario)
	spotAgents := map[string]bool{}
	for _, m := range c.members("spot") {
		spotAgents[m.AgentID] = true
	}
	// Fill the spot agents so that the interruption has tasks to lose.
	_, _, err := c.w.UpdateApp("/web", simulate.AppUpdate{Instances: ptr(4), CPUs: ptr(1.0), Constraints: &[][]string{{"hostname", "UNIQUE"}}}, false)
	mustOK(t, err)
	c.advance(10 * time.Second)
	start := c.clock.Now()
	mustOK(t, c.w.InjectFault(simulate.Fault{Kind: simulate.FaultSpotInterruption, Group: "spot"}))
	var victim simulate.Instance
	for _, m := range c.members("spot") {
		if !m.InterruptionAt.IsZero() {
			victim = m
		}
	}
	if victim.ID == "" || !victim.InterruptionAt.Equal(start.Add(2*time.Minute)) {
		t.Fatalf("interrupted instance %q at %s, want a spot instance noticed for %s", victim.ID, victim.InterruptionAt, start.Add(2*time.Minute))
	}
	c.clock.Set(start.Add(2*time.Minute - time.Second))
	if i := c.instance(victim.ID); i.Lifecycle != simulate.LifecycleInService {
		t.Errorf("instance is %s during the notice, want InService", i.Lifecycle)
	}
	c.clock.Set(start.Add(2 * time.Minute))
	if i := c.instance(victim.ID); i.Lifecycle != simulate.LifecycleTerminating {
		t.Errorf("instance is %s when the notice runs out, want Terminating", i.Lifecycle)
	}
	c.clock.Set(start.Add(2*time.Minute + 30*time.Second))
	if i := c.instance(victim.ID); i.Lifecycle != simulate.LifecycleTerminated {
		t.Errorf("instance is %s after the termination time, want Terminated", i.Lifecycle)
	}
	g := c.group("spot")
	replacements := newInstances(c, "spot", start)
	if g.Desired != 2 || len(replacements) != 1 || !replacements[0].Spot {
		t.Errorf("desired %d, %d replacements; want 2 and one spot replacement", g.Desired, len(replacements))
	}
	c.advance(10 * time.Minute)
	if _, ok := c.agent(victim.AgentID); ok {
		t.Error("the interrupted instance's agent is still registered")
	}
	if running(c.tasks("/web")) != 4 {
		t.Errorf("%d tasks running, want the lost one replaced (4)", running(c.tasks("/web")))
	}

	wantKind(t, c.w.InjectFault(simulate.Fault{Kind: simulate.FaultSpotInterruption, Group: "ondemand"}), simulate.KindNotFound, "no running spot instance")
	onDemand := c.members("ondemand")[0].ID
	_, err = c.w.SpotInterruption(onDemand, "")
	wantKind(t, err, simulate.KindNotFound, onDemand)
}

func TestTerminateRefused(t *testing.T) {
	c := newCluster(t, spotScenario)
	mustOK(t, c.w.InjectFault(simulate.Fault{Kind: simulate.FaultTerminateRefused, Count: 1}))
	victim := c.members("ondemand")[0]
	_, err := c.w.TerminateInstanceInGroup(victim.ID, true)
	wantKind(t, err, simulate.KindScalingInProgress, "ScalingActivityInProgress")
	if c.instance(victim.ID).Lifecycle != simulate.LifecycleInService || c.group("ondemand").Desired != 2 {
		t.Fatal("a refused termination changed the group")
	}
	_, err = c.w.TerminateInstanceInGroup(victim.ID, true)
	mustOK(t, err)
}

func TestLeaderFaults(t *testing.T) {
	sc := strings.Replace(staticPools, "pools:", "mesos: {masters: 3}\nmarathon: {instances: 2}\npools:", 1)
	c := newCluster(t, sc)
	leader := func() (mesos int, ok bool, marathon int) {
		c.view(func(v *simulate.View) {
			mesos, _, ok = v.MesosLeader()
			marathon = v.MarathonLeader()
		})
		return
	}
	steps := []struct {
		fault    simulate.Fault
		mesos    int
		elected  bool
		marathon int
	}{
		{simulate.Fault{Kind: simulate.FaultMesosLeaderChange}, 1, true, 0},
		{simulate.Fault{Kind: simulate.FaultMesosLeaderChange, Target: ptr(0)}, 0, true, 0},
		{simulate.Fault{Kind: simulate.FaultMarathonLeaderChange}, 0, true, 1},
		{simulate.Fault{Kind: simulate.FaultMesosNoLeader}, -1, false, 1},
		{simulate.Fault{Kind: simulate.FaultClear}, 0, true, 1},
	}
	for _, s := range steps {
		mustOK(t, c.w.InjectFault(s.fault))
		m, ok, mt := leader()
		if m != s.mesos || ok != s.elected || mt != s.marathon {
			t.Errorf("after %s: mesos leader %d (elected %v), marathon %d; want %d (%v), %d", s.fault.Kind, m, ok, mt, s.mesos, s.elected, s.marathon)
		}
	}
}

func TestScenarioFaults(t *testing.T) {
	// Each fault is scheduled at 1m; probe reports whether its effect shows now. It must not show at
	// 59s and must show at 1m.
	launchNow := func(c *cluster) simulate.Instance {
		g := c.group("ondemand")
		mustOK(t, c.w.SetDesiredCapacity("ondemand", g.Desired+1, false))
		m := c.members("ondemand")
		return m[len(m)-1]
	}
	leader := func(c *cluster) (mesos int, elected bool, marathon int) {
		c.view(func(v *simulate.View) { mesos, _, elected = v.MesosLeader(); marathon = v.MarathonLeader() })
		return
	}
	cases := []struct {
		name   string
		faults string
		probe  func(c *cluster) bool
	}{
		{"http_error counted", "{at: 1m, kind: http_error, service: marathon, count: 1}",
			func(c *cluster) bool { return c.w.Intercept(simulate.ServiceMarathon).Status == 503 }},
		{"http_error with a rate", "{at: 1m, kind: http_error, service: mesos, status: 502, rate: 1}",
			func(c *cluster) bool { return c.w.Intercept(simulate.ServiceMesos).Status == 502 }},
		{"slow_response", "{at: 1m, kind: slow_response, service: mesos, delay: 2s}",
			func(c *cluster) bool { return c.w.Intercept(simulate.ServiceMesos).Delay == 2*time.Second }},
		{"aws_throttle", "{at: 1m, kind: aws_throttle, service: autoscaling, count: 1}",
			func(c *cluster) bool { return c.w.Intercept(simulate.ServiceAutoScaling).Throttle }},
		{"never_join", "{at: 1m, kind: never_join, count: 1}",
			func(c *cluster) bool { return launchNow(c).NeverJoins }},
		{"spot_interruption", "{at: 1m, kind: spot_interruption, group: spot}",
			func(c *cluster) bool {
				for _, m := range c.members("spot") {
					if !m.InterruptionAt.IsZero() {
						return true
					}
				}
				return false
			}},
		{"rebalance_recommendation", "{at: 1m, kind: rebalance_recommendation, group: spot}",
			func(c *cluster) bool {
				for _, m := range c.members("spot") {
					if !m.RebalanceAt.IsZero() {
						return true
					}
				}
				return false
			}},
		{"terminate_refused", "{at: 1m, kind: terminate_refused}",
			func(c *cluster) bool {
				_, err := c.w.TerminateInstanceInGroup(launchNow(c).ID, true)
				return simulate.KindOf(err) == simulate.KindScalingInProgress
			}},
		{"mesos_leader_change", "{at: 1m, kind: mesos_leader_change}",
			func(c *cluster) bool { m, _, _ := leader(c); return m == 1 }},
		{"mesos_no_leader", "{at: 1m, kind: mesos_no_leader}",
			func(c *cluster) bool { _, elected, _ := leader(c); return !elected }},
		{"marathon_leader_change", "{at: 1m, kind: marathon_leader_change, target: 1}",
			func(c *cluster) bool { _, _, m := leader(c); return m == 1 }},
		{"clear", "{at: 0s, kind: http_error, service: mesos}\n  - {at: 1m, kind: clear}",
			func(c *cluster) bool { return c.w.Intercept(simulate.ServiceMesos).Status == 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, spotScenario+"mesos: {masters: 2}\nmarathon: {instances: 2}\nfaults:\n  - "+tc.faults+"\n")
			start := c.clock.Now()
			c.clock.Set(start.Add(59 * time.Second))
			if tc.probe(c) {
				t.Error("in force at 59s, before its time")
			}
			c.clock.Set(start.Add(time.Minute))
			if !tc.probe(c) {
				t.Error("not in force at 1m")
			}
		})
	}
}
