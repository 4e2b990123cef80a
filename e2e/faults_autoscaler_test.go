package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/simulate"
)

// The autoscaler's part of the fault suite (docs/RELIABILITY.md). Each test injects a fault through
// the simulator's switches while the real autoscaler works, and checks what an operator would:
// nothing left behind (maintenance windows, drain marks, machines down, desired capacity the live
// instances do not meet), nothing done twice (an instance terminated twice, a group grown past what
// waited), and the work done in the end.

// drainingInstance returns the instance that carries the mark "draining" and whose machine is in the
// maintenance schedule, if any.
func (f *faultSim) drainingInstance() (id, ip string) {
	f.world.View(func(v *simulate.View) {
		draining := map[string]bool{}
		for _, m := range v.DrainingMachines() {
			draining[m.IP] = true
		}
		for _, in := range v.Instances() {
			if mark, ok := in.Tag(autoscaler.TagDrain); ok && mark == "draining" && draining[in.PrivateIP] {
				id, ip = in.ID, in.PrivateIP
			}
		}
	})
	return id, ip
}

// TestFaultMesosLeaderFailoverMidDrain: while an agent drains through the maintenance schedule, Mesos
// leadership moves to the other master, then no master leads for a while, then the first leads again.
// The schedule lives in the masters' replicated state, so the drain goes on: it finishes at its
// deadline, the instance is terminated once, and the schedule is clean.
func TestFaultMesosLeaderFailoverMidDrain(t *testing.T) {
	daemonsOrSkip(t)
	// One task per agent (UNIQUE): the drained agent keeps its task until the deadline, since Marathon
	// does not move tasks off a machine in maintenance; its replacement then waits on the constraint,
	// which does not grow the pool. min_agents 2: exactly one drain.
	f := startFaultSim(t, simOptions{agents: 3,
		apps: "  - {id: /web/unique, instances: 3, cpus: 0.5, mem: 256, constraints: [[hostname, UNIQUE]]}\n"})
	f.startAutoscaler("2s", "maintenance", 2, "15s", "60s")

	var drained string
	within(t, time.Minute, "a drain through the maintenance schedule", func() (bool, string) {
		drained, _ = f.drainingInstance()
		return drained != "", "no marked instance with its machine draining"
	})
	f.fault(simulate.Fault{Kind: simulate.FaultMesosLeaderChange})
	time.Sleep(2 * time.Second)
	f.fault(simulate.Fault{Kind: simulate.FaultMesosNoLeader})
	time.Sleep(3 * time.Second)
	if id, _ := f.drainingInstance(); id != drained {
		t.Fatalf("without a Mesos leader the drain of %s changed: now %q", drained, id)
	}
	f.fault(simulate.Fault{Kind: simulate.FaultClear}) // the first master leads again

	within(t, 2*time.Minute, "the drain to finish and nothing to be left behind", func() (bool, string) {
		why := f.leftovers()
		if desired, live := f.group(); desired != 2 || len(live) != 2 {
			why = append(why, fmt.Sprintf("desired %d, %d live", desired, len(live)))
		}
		if n := f.terminations()[drained]; n != 1 {
			why = append(why, fmt.Sprintf("%s terminated %d times", drained, n))
		}
		return len(why) == 0, strings.Join(why, "; ")
	})
}

// TestFaultMarathonLeaderChangeAndDroppedEventStream: Marathon answers 503 to everything and its
// leadership moves, which ends the autoscaler's event stream; while the stream is down (reconnects
// fail), an app grows past what the agents hold, so the event that says so is missed. The periodic
// reconcile is 10 minutes away, and nothing is placed (no Mesos event either): only the reconnect's
// full reconcile can notice. Marathon comes back; the pool grows by what waits, once.
func TestFaultMarathonLeaderChangeAndDroppedEventStream(t *testing.T) {
	daemonsOrSkip(t)
	// Two agents of 4 cpus, each full with one 3-cpu task: more instances wait for new agents.
	f := startFaultSim(t, simOptions{agents: 2, apps: "  - {id: /big, instances: 2, cpus: 3, mem: 1024}\n"})
	f.startAutoscaler("10m", "auto", 2, "20s", "60s")
	time.Sleep(2 * time.Second) // the start's reconcile is done; the event stream is up

	f.fault(simulate.Fault{Kind: simulate.FaultHTTPError, Service: simulate.ServiceMarathon})
	f.fault(simulate.Fault{Kind: simulate.FaultMarathonLeaderChange})
	time.Sleep(2 * time.Second) // reconnects fail meanwhile
	f.scale("/big", 4)
	time.Sleep(2 * time.Second)
	if desired, _ := f.group(); desired != 2 {
		t.Fatalf("desired %d while Marathon could not be read", desired)
	}
	f.fault(simulate.Fault{Kind: simulate.FaultClear})

	maxDesired := 0
	within(t, 2*time.Minute, "every /big instance to run on new agents", func() (bool, string) {
		desired, live := f.group()
		maxDesired = max(maxDesired, desired)
		running, waiting := f.tasks("/big")
		return running == 4, fmt.Sprintf("%d running, %d waiting, desired %d, %d live", running, waiting, desired, len(live))
	})
	if maxDesired != 4 {
		t.Errorf("desired capacity went up to %d, want 4 (one agent per waiting instance)", maxDesired)
	}
	within(t, time.Minute, "nothing left behind", f.clean)
}

// TestFaultAWSThrottlingStormAnd5xx: for a whole scale-up and scale-down, 30% of all Auto Scaling
// and EC2 calls are throttled and 10% answer 5xx. The SDK's retries and the next
// reconciles carry the work through: every instance runs, then the pool shrinks back to its minimum
// with no instance terminated twice, no mark or window left, and no more agents than were needed.
func TestFaultAWSThrottlingStormAnd5xx(t *testing.T) {
	daemonsOrSkip(t)
	f := startFaultSim(t, simOptions{agents: 2, apps: "  - {id: /batch/work, instances: 1, cpus: 2, mem: 1024}\n"})
	f.fault(simulate.Fault{Kind: simulate.FaultAWSThrottle, Rate: 0.3})
	f.fault(simulate.Fault{Kind: simulate.FaultHTTPError, Service: simulate.ServiceAutoScaling, Status: 500, Rate: 0.1})
	f.fault(simulate.Fault{Kind: simulate.FaultHTTPError, Service: simulate.ServiceEC2, Status: 503, Rate: 0.1})
	f.startAutoscaler("2s", "auto", 1, "20s", "60s")

	// Eight 2-cpu instances need four agents of 4 cpus.
	f.scale("/batch/work", 8)
	maxDesired := 0
	within(t, 3*time.Minute, "every /batch/work instance to run", func() (bool, string) {
		desired, live := f.group()
		maxDesired = max(maxDesired, desired)
		running, waiting := f.tasks("/batch/work")
		return running == 8, fmt.Sprintf("%d running, %d waiting, desired %d, %d live", running, waiting, desired, len(live))
	})
	if maxDesired > 4 {
		t.Errorf("desired capacity went up to %d, want at most 4", maxDesired)
	}

	f.scale("/batch/work", 1)
	within(t, 3*time.Minute, "the pool back at one agent with nothing left behind", func() (bool, string) {
		why := f.leftovers()
		if desired, live := f.group(); desired != 1 || len(live) != 1 {
			why = append(why, fmt.Sprintf("desired %d, %d live", desired, len(live)))
		}
		return len(why) == 0, strings.Join(why, "; ")
	})
	if running, _ := f.tasks("/batch/work"); running != 1 {
		t.Errorf("%d /batch/work tasks run, want 1", running)
	}
}

// TestFaultASGRefusesToTerminate: every TerminateInstanceInAutoScalingGroup fails with
// ScalingActivityInProgress. The autoscaler drains an empty agent, takes it out of Mesos and keeps
// trying to terminate it; that drain still counts against max_draining (1), so no other agent is
// drained meanwhile. It is killed (SIGKILL) in that state and started again. Once AWS accepts, the
// pool shrinks to its minimum, each instance terminated once, nothing left behind.
func TestFaultASGRefusesToTerminate(t *testing.T) {
	daemonsOrSkip(t)
	f := startFaultSim(t, simOptions{agents: 3, apps: "  - {id: /web/small, instances: 1, cpus: 0.5, mem: 256}\n"})
	f.fault(simulate.Fault{Kind: simulate.FaultTerminateRefused})
	p, base := f.startAutoscaler("2s", "drain_agent", 1, "20s", "60s")

	// marked lists the live instances that carry a drain mark, of either phase: with max_draining 1
	// there is never more than one.
	marked := func() []string {
		var out []string
		f.world.View(func(v *simulate.View) {
			for _, in := range v.Instances() {
				live := in.Lifecycle == simulate.LifecyclePending || in.Lifecycle == simulate.LifecycleInService
				if mark, ok := in.Tag(autoscaler.TagDrain); ok && live {
					out = append(out, in.ID+"="+mark)
				}
			}
		})
		return out
	}
	var stuck string
	within(t, time.Minute, "an instance marked terminating that AWS keeps", func() (bool, string) {
		stuck = ""
		f.world.View(func(v *simulate.View) {
			for _, in := range v.Instances() {
				if mark, _ := in.Tag(autoscaler.TagDrain); mark == "terminating" && in.Lifecycle == simulate.LifecycleInService {
					stuck = in.ID
				}
			}
		})
		return stuck != "", "none yet"
	})
	// Several refused attempts, as the operator sees them in /metrics; meanwhile the group keeps every
	// instance and no second drain starts.
	failed := regexp.MustCompile(`(?m)^marmot_autoscaler_actions_total\{action="drain_terminate",pool="default",result="failed"\} (\d+)$`)
	within(t, 2*time.Minute, "three refused terminations, one drain at a time", func() (bool, string) {
		if m := marked(); len(m) > 1 {
			t.Fatalf("instances marked for drain at once: %v, want at most 1 (max_draining 1)", m)
		}
		if desired, live := f.group(); desired != 3 || len(live) != 3 {
			t.Fatalf("while refused: desired %d, %d live; want 3 and 3", desired, len(live))
		}
		body, err := get(base + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		n := 0
		if m := failed.FindSubmatch(body); m != nil {
			n, _ = strconv.Atoi(string(m[1]))
		}
		return n >= 3, fmt.Sprintf("%d failed drain_terminate actions", n)
	})
	if m := marked(); len(m) != 1 || m[0] != stuck+"=terminating" {
		t.Fatalf("marked while refused: %v, want only %s terminating", m, stuck)
	}

	p.restart() // killed at the step "terminating": the agent is out of Mesos, the instance still there
	f.fault(simulate.Fault{Kind: simulate.FaultClear})
	within(t, 2*time.Minute, "the pool at one agent with nothing left behind", func() (bool, string) {
		why := f.leftovers()
		if desired, live := f.group(); desired != 1 || len(live) != 1 {
			why = append(why, fmt.Sprintf("desired %d, %d live", desired, len(live)))
		}
		if n := f.terminations()[stuck]; n != 1 {
			why = append(why, fmt.Sprintf("%s terminated %d times", stuck, n))
		}
		return len(why) == 0, strings.Join(why, "; ")
	})
	if running, _ := f.tasks("/web/small"); running != 1 {
		t.Errorf("%d /web/small tasks run, want 1", running)
	}
}

// TestFaultInstanceNeverJoins: the first instance launched for a scale-up runs but never registers a
// Mesos agent. After boot_timeout the autoscaler terminates it (once), the group backs off, then
// grows again; every waiting instance runs in the end, and nothing is left behind.
func TestFaultInstanceNeverJoins(t *testing.T) {
	daemonsOrSkip(t)
	f := startFaultSim(t, simOptions{agents: 1, apps: "  - {id: /big, instances: 1, cpus: 3, mem: 1024}\n"})
	f.startAutoscaler("2s", "auto", 1, "20s", "10s")
	f.fault(simulate.Fault{Kind: simulate.FaultNeverJoin, Count: 1})
	f.scale("/big", 2)

	within(t, 3*time.Minute, "every /big instance to run", func() (bool, string) {
		running, waiting := f.tasks("/big")
		desired, live := f.group()
		return running == 2, fmt.Sprintf("%d running, %d waiting, desired %d, %d live", running, waiting, desired, len(live))
	})
	var never []string
	f.world.View(func(v *simulate.View) {
		for _, in := range v.Instances() {
			if in.NeverJoins {
				never = append(never, in.ID)
			}
		}
	})
	if len(never) != 1 {
		t.Fatalf("%d instances that never join, want the one the fault caught", len(never))
	}
	within(t, time.Minute, "the instance that never joined terminated once, nothing left behind", func() (bool, string) {
		why := f.leftovers()
		if n := f.terminations()[never[0]]; n != 1 {
			why = append(why, fmt.Sprintf("%s terminated %d times", never[0], n))
		}
		if desired, live := f.group(); desired != 2 || len(live) != 2 {
			why = append(why, fmt.Sprintf("desired %d, %d live", desired, len(live)))
		}
		return len(why) == 0, strings.Join(why, "; ")
	})
}

// TestFaultSpotInterruption: a spot instance running tasks gets its two-minute warning, which reaches
// the autoscaler as on AWS: an EventBridge event in the SQS queue it reads (--notice-queue, served by
// the simulator). The other agent is full, so the tasks have nowhere to go but a new agent. What must
// hold: the agent is drained at once and a replacement launched while the instance still runs; Marmot
// takes the agent down and terminates the instance before EC2 reclaims it (the tasks are killed and
// started again, never lost with the machine); every task runs again; the notice leaves the queue;
// nothing is left behind. The model's clock is the wall clock here, since the autoscaler reads the
// reclaim time from the event.
func TestFaultSpotInterruption(t *testing.T) {
	daemonsOrSkip(t)
	t.Parallel() // it waits out the two-minute notice in real time, as the other long waits do
	// Two agents, each full with two 1.5-cpu tasks.
	f := startFaultSim(t, simOptions{agents: 2, spot: true, realTime: true,
		apps: "  - {id: /web/spot, instances: 4, cpus: 1.5, mem: 512}\n"})
	// A drain deadline longer than the notice: the agent must go down by the reclaim time the event
	// gives (spot_interruption.down_before, 60 s ahead of it), not by the drain's own deadline. Under
	// drain_mode auto the simulated master (1.9+) would drain with DRAIN_AGENT; a reclaimed agent goes
	// through the maintenance schedule instead, so its tasks serve until it goes down.
	_, base := f.startAutoscaler("2s", "auto", 2, "10m", "60s")
	within(t, time.Minute, "every /web/spot task to run", func() (bool, string) {
		running, waiting := f.tasks("/web/spot")
		return running == 4, fmt.Sprintf("%d running, %d waiting", running, waiting)
	})

	var victim, victimIP string
	f.world.View(func(v *simulate.View) {
		for _, a := range v.Agents() {
			if len(a.Tasks()) > 0 && a.InstanceID != "" {
				victim, victimIP = a.InstanceID, a.IP
			}
		}
	})
	f.fault(simulate.Fault{Kind: simulate.FaultSpotInterruption, Instance: victim})
	noticed := time.Now()
	var reclaim time.Time
	f.world.View(func(v *simulate.View) {
		in, _ := v.Instance(victim)
		reclaim = in.InterruptionAt
	})

	within(t, 45*time.Second, "the agent drained and a replacement launched, the instance still running", func() (bool, string) {
		var scheduled, inService bool
		serving := 0
		f.world.View(func(v *simulate.View) {
			for _, w := range v.Schedule() {
				for _, m := range w.Machines {
					scheduled = scheduled || m.IP == victimIP
				}
			}
			in, _ := v.Instance(victim)
			inService = in.Lifecycle == simulate.LifecycleInService
			for _, a := range v.Agents() {
				if a.InstanceID == victim {
					serving = len(a.Tasks())
				}
			}
		})
		desired, _ := f.group()
		if scheduled && serving == 0 {
			t.Fatalf("the drained agent's tasks were killed at once; they should serve until it goes down")
		}
		return scheduled && desired == 3 && inService && serving == 2,
			fmt.Sprintf("machine scheduled %v, desired %d, %s in service %v with %d tasks", scheduled, desired, victim, inService, serving)
	})
	t.Logf("drained and a replacement launched %s after the warning", time.Since(noticed).Round(time.Second))

	within(t, 2*time.Minute, victim+" terminated by the autoscaler", func() (bool, string) {
		var cause string
		var at time.Time
		f.world.View(func(v *simulate.View) {
			g, _ := v.Group(faultGroup)
			for _, a := range g.Activities() {
				if a.Description == "Terminating EC2 instance: "+victim {
					cause, at = a.Cause, a.StartTime
				}
			}
		})
		switch {
		case cause == "":
			return false, "no termination yet"
		case strings.Contains(cause, "spot interruption") || !at.Before(reclaim):
			t.Fatalf("%s was reclaimed by EC2 at %s (cause %q), not terminated by the autoscaler before %s", victim, at, cause, reclaim)
		}
		return true, ""
	})
	t.Logf("terminated by the autoscaler %s after the warning", time.Since(noticed).Round(time.Second))
	if early := time.Until(reclaim); early < 30*time.Second {
		t.Errorf("terminated only %s before the reclaim, want about down_before (60 s)", early.Round(time.Second))
	}
	within(t, 3*time.Minute, "every /web/spot task to run again, the notices handled, nothing left behind", func() (bool, string) {
		why := f.leftovers()
		if running, waiting := f.tasks("/web/spot"); running != 4 {
			why = append(why, fmt.Sprintf("%d running, %d waiting", running, waiting))
		}
		if desired, live := f.group(); desired != 2 || len(live) != 2 {
			why = append(why, fmt.Sprintf("desired %d, %d live", desired, len(live)))
		}
		var queued int
		f.world.View(func(v *simulate.View) { queued = v.NoticeQueueLen() })
		if queued > 0 {
			why = append(why, fmt.Sprintf("%d notices in the queue", queued))
		}
		return len(why) == 0, strings.Join(why, "; ")
	})
	if n := f.terminations()[victim]; n != 1 {
		t.Errorf("%s terminated %d times", victim, n)
	}
	metrics, err := get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, series := range []string{
		`marmot_autoscaler_notices_total{kind="spot_interruption"} 1`,
		`marmot_autoscaler_drains_started_total{pool="default",reason="spot_interruption"} 1`,
		`marmot_autoscaler_scale_downs_total{pool="default",reason="drain_reclaim_deadline"} 1`,
		`marmot_autoscaler_reclaims_pending 0`,
	} {
		if !strings.Contains(string(metrics), series+"\n") {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

// TestFaultAutoscalerKilledAtEveryStep: the pool shrinks from four agents to one through the
// maintenance schedule, and the autoscaler is killed (SIGKILL) and started again each time a drain
// reaches a step it has not been killed at yet: marked, machine draining, machine down (the instance
// still in service). Each new process picks the drains up from the marks and the schedule; the pool
// ends at one agent, each instance terminated once, nothing left behind. (The autoscaler's unit tests
// TestRestartBetweenMarkAndMaintenanceResumesTheDrain and
// TestRestartAfterTheMachineWentDownTerminatesAndCleansUp cover the same restarts call by call. A kill
// once the instance is terminating is TestFaultAutoscalerKilledWhileTheInstanceTerminates.)
func TestFaultAutoscalerKilledAtEveryStep(t *testing.T) {
	daemonsOrSkip(t)
	f := startFaultSim(t, simOptions{agents: 4, apps: "  - {id: /web/small, instances: 1, cpus: 0.5, mem: 256}\n"})
	p, _ := f.startAutoscaler("2s", "maintenance", 1, "20s", "60s")
	// A slow master and a slow EC2 make each step last a few hundred milliseconds, so that the
	// 20 ms look from outside sees it whatever the load on this machine; on a fast path an empty
	// agent goes from marked to terminated between two looks.
	f.fault(simulate.Fault{Kind: simulate.FaultSlowResponse, Service: simulate.ServiceMesos, Delay: 300 * time.Millisecond})
	f.fault(simulate.Fault{Kind: simulate.FaultSlowResponse, Service: simulate.ServiceEC2, Delay: 300 * time.Millisecond})

	killed := map[string]int{}
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if ok, _ := f.clean(); ok {
			if desired, live := f.group(); desired == 1 && len(live) == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			_, why := f.clean()
			desired, live := f.group()
			t.Fatalf("the pool did not shrink to one agent cleanly: %s; desired %d, %d live; killed at %v", why, desired, len(live), killed)
		}
		if step := f.drainStep(); step != "" && killed[step] == 0 {
			killed[step]++
			t.Logf("killing the autoscaler at step %q", step)
			p.restart()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("killed at %v", killed)
	for _, step := range []string{"marked", "draining", "down"} {
		if killed[step] == 0 {
			t.Errorf("the autoscaler was never killed at step %q", step)
		}
	}
	for id, n := range f.terminations() {
		if n != 1 {
			t.Errorf("%s terminated %d times", id, n)
		}
	}
}

// drainStep names the furthest step any drain of an instance still in service has reached, read from
// the world: "marked" (the mark, no Mesos drain yet), "draining" (the machine in the schedule),
// "down" (START_MAINTENANCE done).
func (f *faultSim) drainStep() string {
	step := ""
	f.world.View(func(v *simulate.View) {
		scheduled := map[string]simulate.MachineMode{}
		for _, w := range v.Schedule() {
			for _, m := range w.Machines {
				scheduled[m.IP] = v.MachineMode(m)
			}
		}
		for _, in := range v.Instances() {
			mark, marked := in.Tag(autoscaler.TagDrain)
			mode, inSchedule := scheduled[in.PrivateIP]
			switch {
			case in.Lifecycle != simulate.LifecycleInService:
			case marked && mode == simulate.ModeDown:
				step = "down"
			case marked && mark == "draining" && inSchedule && step != "down":
				step = "draining"
			case marked && !inSchedule && step == "":
				step = "marked"
			}
		}
	})
	return step
}

// TestFaultAutoscalerKilledWhileTheInstanceTerminates: the autoscaler is killed (SIGKILL) once a
// drained instance is terminating, with its machine DOWN in the maintenance schedule, and started
// again only after the instance is gone. What must hold: the window is removed, nothing left behind.
func TestFaultAutoscalerKilledWhileTheInstanceTerminates(t *testing.T) {
	daemonsOrSkip(t)
	f := startFaultSim(t, simOptions{agents: 2, apps: "  - {id: /web/small, instances: 1, cpus: 0.5, mem: 256}\n"})
	p, _ := f.startAutoscaler("2s", "maintenance", 1, "20s", "60s")
	var victim string
	within(t, 2*time.Minute, "an instance terminating with its machine in the schedule", func() (bool, string) {
		victim = ""
		f.world.View(func(v *simulate.View) {
			scheduled := map[string]bool{}
			for _, w := range v.Schedule() {
				for _, m := range w.Machines {
					scheduled[m.IP] = true
				}
			}
			for _, in := range v.Instances() {
				if in.Lifecycle == simulate.LifecycleTerminating && scheduled[in.PrivateIP] {
					victim = in.ID
				}
			}
		})
		return victim != "", "none yet"
	})
	p.kill()
	within(t, time.Minute, victim+" to be terminated", func() (bool, string) {
		var state simulate.LifecycleState
		f.world.View(func(v *simulate.View) {
			in, _ := v.Instance(victim)
			state = in.Lifecycle
		})
		return state == simulate.LifecycleTerminated, fmt.Sprintf("%s is %s", victim, state)
	})
	p.start()
	within(t, time.Minute, "nothing left behind", func() (bool, string) {
		why := f.leftovers()
		if desired, live := f.group(); desired != 1 || len(live) != 1 {
			why = append(why, fmt.Sprintf("desired %d, %d live", desired, len(live)))
		}
		return len(why) == 0, strings.Join(why, "; ")
	})
}
