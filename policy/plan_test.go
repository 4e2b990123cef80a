package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Golden files are rewritten with `go test ./policy/ -run TestPlanPoolScenarios -update`. The flag
// is registered only if no other test file of the package did.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files")
	}
}

func updatingGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

type scenario struct {
	name  string
	setup func(w *world)
	want  []string // facts the plan must have (see facts); the golden file pins everything else
}

var planScenarios = []scenario{
	// Scale-up.
	{"scale_up_pending_demand", func(w *world) {
		w.pol.TargetUtilization = 1
		w.agents(2, tk("/web", 3, 1000))
		w.wait("/api", 5, cpus(2), "InsufficientCpus")
	}, []string{"group asg-a +3 scale_up_pending_demand", "waiting /api waiting_capacity_short", "agent a01 kept_utilized"}},

	{"fragmentation_needs_new_agents", func(w *world) {
		// 20 free cpus in all, but 2 per agent: five 3-cpu tasks need five new agents.
		w.pol.TargetUtilization = 1
		w.agents(10, tk("/web", 2, 1000))
		w.wait("/batch", 5, cpus(3), "InsufficientCpus")
	}, []string{"group asg-a +5 scale_up_pending_demand"}},

	{"fragmentation_fits_free_space", func(w *world) {
		w.pol.TargetUtilization = 1
		w.agents(10, tk("/web", 2, 1000))
		w.wait("/batch", 5, cpus(2), "InsufficientCpus")
	}, []string{"group asg-a +0 no_scale_up_needed", "waiting /batch waiting_capacity_short"}},

	{"constraint_only_queue_does_not_grow", func(w *world) {
		w.pol.TargetUtilization = 1
		w.agents(2, tk("/web", 4, 1000))
		w.wait("/pinned", 3, cpus(1), "UnfulfilledConstraint")
	}, []string{"group asg-a +0 no_scale_up_needed", "waiting /pinned waiting_constraint"}},

	{"waiting_reasons", func(w *world) {
		w.pol.TargetUtilization = 1
		w.agents(2, tk("/web", 4, 1000))
		w.wait("/role", 1, cpus(1), "UnfulfilledRole")
		w.wait("/reserved", 1, cpus(1), "NoCorrespondingReservationFound")
		w.wait("/maint", 1, cpus(1), "AgentMaintenance")
		w.wait("/scarce", 1, cpus(1), "DeclinedScarceResources")
		w.wait("/fresh", 1, cpus(1))
		w.wait("/odd", 1, cpus(1), "SomethingNew")
		w.wait("/huge", 1, cpus(64), "InsufficientCpus")
		w.wait("/delayed", 1, cpus(1), "InsufficientCpus")
		w.snap.Waiting[len(w.snap.Waiting)-1].Delayed = true
		// Offers that passed the constraint were declined for memory: agents are short of room.
		w.wait("/mixed", 1, cpus(1), "UnfulfilledConstraint", "InsufficientMemory")
	}, []string{
		"waiting /role waiting_role", "waiting /reserved waiting_reservation", "waiting /maint waiting_agent_maintenance",
		"waiting /scarce waiting_scarce_resources", "waiting /fresh waiting_no_offers", "waiting /odd waiting_other_rejection",
		"waiting /huge waiting_too_large_for_shapes", "waiting /delayed waiting_launch_backoff",
		"waiting /mixed waiting_capacity_short", "group asg-a +1 scale_up_pending_demand",
	}},

	{"max_step", func(w *world) {
		w.pol.TargetUtilization = 1
		w.pol.ScaleUp.MaxStep = 3
		w.agents(1, tk("/web", 4, 1000))
		w.wait("/api", 10, cpus(4), "InsufficientCpus")
	}, []string{"group asg-a +3 scale_up_pending_demand", "limit scale_up_max_step"}},

	{"pool_at_max", func(w *world) {
		w.pol.TargetUtilization = 1
		w.pol.MaxAgents = 3
		w.agents(1, tk("/web", 4, 1000))
		w.wait("/api", 5, cpus(4), "InsufficientCpus")
	}, []string{"group asg-a +2 scale_up_pending_demand", "limit pool_at_max"}},

	{"group_at_max_falls_back", func(w *world) {
		w.pol.TargetUtilization = 1
		w.groupNamed("asg-a").Max = 1
		w.group("asg-b", m5xlarge, 0, 10)
		w.agents(1, tk("/web", 4, 1000))
		w.wait("/api", 2, cpus(4), "InsufficientCpus")
	}, []string{"group asg-a +0 group_at_max", "group asg-b +2 scale_up_pending_demand"}},

	{"group_backoff_falls_back", func(w *world) {
		w.pol.TargetUtilization = 1
		w.group("asg-b", m5xlarge, 0, 10)
		w.groupNamed("asg-a").LastLaunchFailure = LaunchFailure{At: w.now.Add(-time.Minute), Cause: "InsufficientInstanceCapacity"}
		w.agents(1, tk("/web", 4, 1000))
		w.wait("/api", 2, cpus(4), "InsufficientCpus")
	}, []string{"group asg-a +0 group_backoff", "backoff asg-a 4m0s", "group asg-b +2 scale_up_pending_demand"}},

	{"all_groups_backing_off", func(w *world) {
		w.pol.TargetUtilization = 1
		w.state.Groups["asg-a"] = GroupState{Failures: 2, LastFailure: w.now.Add(-time.Minute), BackoffUntil: w.now.Add(9 * time.Minute)}
		w.agents(1, tk("/web", 4, 1000))
		w.wait("/api", 2, cpus(4), "InsufficientCpus")
	}, []string{"group asg-a +0 group_backoff", "limit group_backoff", "backoff asg-a 9m0s"}},

	{"scale_up_cooldown", func(w *world) {
		w.pol.TargetUtilization = 1
		w.state.LastScaleUp = w.now.Add(-10 * time.Second)
		w.agents(1, tk("/web", 4, 1000))
		w.wait("/api", 2, cpus(4), "InsufficientCpus")
	}, []string{"group asg-a +0 scale_up_cooldown", "limit scale_up_cooldown"}},

	{"boot_timeout", func(w *world) {
		w.agents(3, tk("/web", 2, 1000))
		w.instance("asg-a", "i-stuck")
		w.state.MissingSince["i-stuck"] = w.now.Add(-11 * time.Minute)
		w.instance("asg-a", "i-fresh")
		w.editInstance("i-fresh", func(in *Instance) { in.LaunchTime = w.now.Add(-2 * time.Minute) })
	}, []string{"instance i-stuck instance_not_joined terminate", "instance i-fresh instance_booting", "backoff asg-a 4m0s", "group asg-a +0 group_backoff"}},

	{"booting_instance_counts_as_coming", func(w *world) {
		w.pol.TargetUtilization = 1
		w.agents(1, tk("/web", 4, 1000))
		w.instance("asg-a", "i-booting")
		w.wait("/api", 1, cpus(4), "InsufficientCpus")
	}, []string{"group asg-a +0 no_scale_up_needed", "instance i-booting instance_booting"}},

	{"requested_size_not_yet_observed", func(w *world) {
		w.pol.TargetUtilization = 1
		w.agents(1, tk("/web", 4, 1000))
		w.snap.Observed.Cloud = w.now.Add(-10 * time.Second)
		w.state.Groups["asg-a"] = GroupState{Requested: 3, RequestedAt: w.now.Add(-5 * time.Second)}
		w.wait("/api", 2, cpus(4), "InsufficientCpus")
	}, []string{"group asg-a +0 no_scale_up_needed"}},

	{"scale_up_min_size", func(w *world) {
		w.pol.MinAgents = 3
		w.agents(1, tk("/web", 3, 1000))
	}, []string{"group asg-a +2 scale_up_min_size"}},

	{"scale_up_utilization", func(w *world) {
		w.agents(5, tk("/web", 3.6, 1000))
	}, []string{"group asg-a +1 scale_up_utilization"}},

	{"scale_up_headroom_resources", func(w *world) {
		w.pol.TargetUtilization = 1
		w.pol.Headroom.CPUs = 6
		w.agents(2, tk("/web", 2, 1000))
	}, []string{"group asg-a +1 scale_up_headroom"}},

	{"scale_up_headroom_agents", func(w *world) {
		w.pol.TargetUtilization = 1
		w.pol.Headroom.Agents = 1
		w.agents(2, tk("/web", 2, 1000))
	}, []string{"group asg-a +1 scale_up_headroom"}},

	{"group_unknown_shape", func(w *world) {
		w.groupNamed("asg-a").Shape = Resources{}
		w.pol.MinAgents = 1
		w.wait("/api", 1, cpus(1), "InsufficientCpus")
	}, []string{"group asg-a +0 group_unknown_shape", "limit group_unknown_shape", "waiting /api waiting_too_large_for_shapes"}},

	{"no_shape_fits", func(w *world) {
		// A big static agent shows that 8-cpu tasks can exist here, but the group launches 4-cpu agents.
		w.pol.TargetUtilization = 1
		w.staticAgent("s01", tk("/web", 4, 1000))
		w.edit("s01", func(a *Agent) { a.Total = Resources{CPUs: 16, Mem: 64000, Disk: 100000} })
		w.edit("s01", func(a *Agent) { a.Allocated = a.Total })
		w.wait("/big", 1, cpus(8), "InsufficientCpus")
	}, []string{"limit no_shape_fits", "waiting /big waiting_capacity_short", "group asg-a +0 no_shape_fits"}},

	// Scale-down.
	{"scale_down_empty", func(w *world) {
		w.agent("a01", tk("/web", 3, 1000))
		w.agent("a02", tk("/web", 3, 1000))
		w.agent("a03")
		w.allUnneeded(11 * time.Minute)
	}, []string{"drain i-a03 start scale_down_empty", "agent a03 scale_down_empty", "agent a01 kept_utilized"}},

	{"scale_down_unneeded_moves_tasks", func(w *world) {
		w.agent("a01", tk("/web", 3, 1000))
		w.agent("a02", tk("/web", 2, 1000))
		w.agent("a03", tk("/web", 2, 1000))
		w.agent("a04", tk("/small", 0.5, 500))
		w.allUnneeded(11 * time.Minute)
	}, []string{"drain i-a04 start scale_down_unneeded", "agent a02 kept_utilized"}},

	{"tasks_do_not_fit", func(w *world) {
		// 3 free cpus in all, 1 per agent: the 1.5-cpu task has nowhere to go.
		w.pol.TargetUtilization = 1
		w.agents(3, tk("/web", 3, 1000))
		w.agent("a04", tk("/mid", 1.5, 1000))
		w.allUnneeded(11 * time.Minute)
	}, []string{"agent a04 kept_tasks_do_not_fit"}},

	{"capacity_needed", func(w *world) {
		w.agents(3, tk("/web", 3, 1000))
		w.agent("a04", tk("/mid", 1.5, 1000))
		w.allUnneeded(11 * time.Minute)
	}, []string{"agent a04 kept_capacity_needed"}},

	{"receives_tasks", func(w *world) {
		w.pol.ScaleDown.MaxDraining = Count(3)
		w.agent("a01", tk("/a", 0.4, 100))
		w.agent("a02", tk("/b", 0.8, 100))
		w.agent("a03", tk("/c", 1.2, 100))
		w.agent("a04", tk("/big", 3.8, 100))
		w.allUnneeded(11 * time.Minute)
	}, []string{"drain i-a01 start scale_down_unneeded", "drain i-a02 start scale_down_unneeded", "agent a03 kept_receives_tasks"}},

	{"protected", func(w *world) {
		w.pol.Protection = ProtectionPolicy{Labels: []string{"team-critical"}, Apps: []string{"/infra/**"}}
		w.snap.Apps["/db"] = App{Labels: map[string]string{ProtectLabel: "true"}}
		w.snap.Apps["/team/x"] = App{Labels: map[string]string{"team-critical": "yes"}}
		w.agent("a01", tk("/db", 0.5, 100))
		w.agent("a02", tk("/infra/dns/resolver", 0.5, 100))
		w.agent("a03", tk("/team/x", 0.5, 100))
		w.agent("a04", Task{AppID: "/spark/job", Resources: cpus(0.5), Protected: true})
		w.agent("a05", tk("/web", 3, 100))
		w.allUnneeded(11 * time.Minute)
	}, []string{"agent a01 kept_protected", "agent a02 kept_protected", "agent a03 kept_protected", "agent a04 kept_protected"}},

	{"young_and_timers", func(w *world) {
		w.agent("a01")
		w.edit("a01", func(a *Agent) { a.RegisteredAt = w.now.Add(-5 * time.Minute) })
		w.agent("a02")
		w.agent("a03", tk("/web", 3, 1000))
		w.agent("a04")
		w.unneeded(11*time.Minute, "a01", "a04")
		w.unneeded(3*time.Minute, "a02")
	}, []string{"agent a01 kept_too_young", "agent a02 kept_not_unneeded_long_enough", "agent a03 kept_utilized", "drain i-a04 start scale_down_empty"}},

	{"pool_min_size", func(w *world) {
		w.pol.MinAgents = 2
		w.pol.ScaleDown.MaxDraining = Count(2)
		w.agents(2)
		w.allUnneeded(11 * time.Minute)
	}, []string{"agent a01 kept_min_size", "agent a02 kept_min_size"}},

	{"group_min_size", func(w *world) {
		w.pol.ScaleDown.MaxDraining = Count(2)
		w.agents(2)
		w.groupNamed("asg-a").Min = 2
		w.allUnneeded(11 * time.Minute)
	}, []string{"agent a01 kept_group_min_size", "agent a02 kept_group_min_size"}},

	{"budget_count", func(w *world) {
		w.pol.ScaleDown.MaxDraining = Count(2)
		w.agents(5)
		w.allUnneeded(11 * time.Minute)
	}, []string{"drain i-a01 start scale_down_empty", "drain i-a02 start scale_down_empty", "agent a03 kept_budget", "agent a05 kept_budget"}},

	{"budget_share_with_drain_in_progress", func(w *world) {
		w.pol.ScaleDown.MaxDraining = Percent(25) // of 8 agents: 2, one of them already draining
		w.agents(7)
		w.agent("a08", tk("/web", 0.5, 100))
		w.edit("a08", func(a *Agent) { a.Maintenance = MaintenanceDraining })
		w.drain("a08", time.Minute)
		w.allUnneeded(11 * time.Minute)
	}, []string{"drain i-a08 wait drain_waiting", "drain i-a01 start scale_down_empty", "agent a02 kept_budget", "agent a08 agent_draining"}},

	{"delay_after_scale_up", func(w *world) {
		w.state.LastScaleUp = w.now.Add(-5 * time.Minute)
		w.agent("a01", tk("/web", 3, 1000))
		w.agent("a02")
		w.allUnneeded(11 * time.Minute)
	}, []string{"agent a02 kept_cooldown"}},

	{"outside_window", func(w *world) {
		w.pol.ScaleDown.Windows = []ScaleDownWindow{{Days: "mon-fri", Hours: "22:00-06:00"}}
		w.agent("a01", tk("/web", 3, 1000))
		w.agent("a02")
		w.allUnneeded(11 * time.Minute)
	}, []string{"agent a02 kept_outside_window"}},

	{"inside_overnight_window", func(w *world) {
		// Monday's 22:00-06:00 window is still open on Tuesday at 02:00 in Berlin.
		w.pol.ScaleDown.Windows = []ScaleDownWindow{{Days: "mon", Hours: "22:00-06:00", Timezone: "Europe/Berlin"}}
		w.now = time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC)
		w.snap.Observed = Observed{Mesos: w.now, Marathon: w.now, Cloud: w.now}
		w.agent("a01", tk("/web", 3, 1000))
		w.agent("a02")
		w.allUnneeded(11 * time.Minute)
	}, []string{"drain i-a02 start scale_down_empty"}},

	{"scale_down_disabled", func(w *world) {
		w.pol.ScaleDown.Enabled = false
		w.agent("a01", tk("/web", 3, 1000))
		w.agent("a02")
		w.allUnneeded(11 * time.Minute)
	}, []string{"agent a02 kept_scale_down_disabled"}},

	{"pending_demand_blocks_scale_down", func(w *world) {
		w.agent("a01", tk("/web", 3, 1000))
		w.agent("a02")
		w.allUnneeded(11 * time.Minute)
		w.wait("/api", 1, cpus(1), "InsufficientCpus")
	}, []string{"agent a02 kept_pending_demand", "group asg-a +0 no_scale_up_needed"}},

	{"scaling_up_blocks_scale_down", func(w *world) {
		w.pol.Headroom.Agents = 2
		w.agents(4, tk("/web", 3, 1000))
		w.agent("a05")
		w.allUnneeded(11 * time.Minute)
	}, []string{"group asg-a +1 scale_up_headroom", "agent a05 kept_scaling_up"}},

	{"agents_out_of_reach", func(w *world) {
		w.agents(4)
		w.staticAgent("s01")
		w.edit("a01", func(a *Agent) { a.Active = false })
		w.edit("a02", func(a *Agent) { a.Active, a.Deactivated = false, true })
		w.editInstance("i-a03", func(in *Instance) { in.Lifecycle = LifecycleStandby })
		w.edit("a04", func(a *Agent) { a.Maintenance = MaintenanceDraining })
		w.allUnneeded(11 * time.Minute)
	}, []string{"agent a01 kept_not_active", "agent a02 kept_not_active", "agent a03 kept_not_in_service", "agent a04 kept_not_active", "agent s01 kept_no_instance"}},

	// The health gate.
	{"frozen_stale_data", func(w *world) {
		w.snap.Observed.Marathon = w.now.Add(-5 * time.Minute)
		w.agents(1, tk("/web", 4, 1000))
		w.agent("a02")
		w.allUnneeded(11 * time.Minute)
		w.wait("/api", 2, cpus(4), "InsufficientCpus")
	}, []string{"frozen frozen_stale_data", "group asg-a +0 frozen_stale_data", "agent a02 frozen_stale_data"}},

	{"frozen_missing_agents", func(w *world) {
		w.pol.TargetUtilization = 1
		w.agents(10, tk("/web", 4, 1000))
		for _, id := range []string{"a01", "a02", "a03", "a04", "a05"} {
			w.edit(id, func(a *Agent) { a.Active = false })
		}
		w.agent("a11")
		w.instance("asg-a", "i-stuck")
		w.state.MissingSince["i-stuck"] = w.now.Add(-11 * time.Minute)
		w.allUnneeded(11 * time.Minute)
		w.wait("/api", 2, cpus(4), "InsufficientCpus")
	}, []string{"frozen frozen_missing_agents", "instance i-stuck frozen_missing_agents", "agent a11 frozen_missing_agents",
		"group asg-a +1 scale_up_pending_demand"}},

	// Drains in progress.
	{"drain_progress", func(w *world) {
		w.agent("a01")
		w.agent("a02", tk("/web", 1, 100))
		w.agent("a03", tk("/web", 1, 100))
		w.agent("a04", tk("/web", 1, 100))
		w.agent("a05")
		w.agent("a06", tk("/db", 0.5, 100))
		w.snap.Apps["/db"] = App{Labels: map[string]string{ProtectLabel: "true"}}
		w.drain("a01", 5*time.Minute)
		w.drain("a02", 20*time.Minute)
		w.drain("a03", 2*time.Minute)
		w.drain("a04", 2*time.Minute)
		w.drain("a05", 9*time.Minute)
		w.drain("a06", 2*time.Minute)
		w.snap.Agents = append(w.snap.Agents[:3], w.snap.Agents[5:]...) // a04 and a05 left Mesos
		w.editInstance("i-a05", func(in *Instance) { in.Lifecycle = "Terminating:Wait" })
		w.groupNamed("asg-a").Desired-- // its termination decremented the desired capacity
		w.state.Drains["i-gone"] = Drain{InstanceID: "i-gone", Group: "asg-a", IP: "10.0.9.9", Started: w.now.Add(-30 * time.Minute)}
	}, []string{
		"drain i-a01 terminate drain_complete", "drain i-a02 terminate drain_deadline_terminate",
		"drain i-a03 wait drain_waiting", "drain i-a04 terminate drain_agent_gone", "drain i-a05 wait drain_terminating",
		"drain i-a06 abort drain_abort_protected", "drain i-gone forget drain_finished",
	}},

	{"drain_deadline_abort", func(w *world) {
		w.pol.ScaleDown.AtDeadline = AtDeadlineAbort
		w.agent("a01", tk("/web", 1, 100))
		w.agent("a02", tk("/web", 3, 100))
		w.drain("a01", 20*time.Minute)
		w.allUnneeded(30 * time.Minute)
	}, []string{"drain i-a01 abort drain_deadline_abort", "agent a01 kept_not_unneeded_long_enough"}},

	{"drain_abort_group_min_size", func(w *world) {
		w.agents(3)
		w.groupNamed("asg-a").Min = 3
		w.drain("a01", 5*time.Minute)
	}, []string{"drain i-a01 abort drain_abort_group_min_size"}},

	{"drain_abort_for_demand", func(w *world) {
		w.pol.TargetUtilization = 1
		w.agent("a01", tk("/web", 4, 100))
		w.agent("a02", tk("/web", 1, 100))
		w.edit("a02", func(a *Agent) { a.Maintenance = MaintenanceDraining })
		w.drain("a02", 2*time.Minute)
		w.wait("/api", 2, cpus(3), "InsufficientCpus")
	}, []string{"drain i-a02 abort drain_abort_demand", "group asg-a +1 scale_up_pending_demand"}},

	{"drains_adopted_after_restart", func(w *world) {
		w.agent("a01", tk("/web", 1, 100))
		w.agent("a02", tk("/web", 3, 100))
		w.agent("a03")
		w.edit("a01", func(a *Agent) { a.Maintenance = MaintenanceDraining })
		w.editInstance("i-a01", func(in *Instance) {
			in.DrainMark = DrainMark{Phase: DrainPhaseDraining, Since: w.now.Add(-3 * time.Minute)}
		})
		w.editInstance("i-a03", func(in *Instance) {
			in.DrainMark = DrainMark{Phase: DrainPhaseDown, Since: w.now.Add(-9 * time.Minute)}
		})
		w.snap.Agents = w.snap.Agents[:2] // a03 is DOWN: Mesos removed it
	}, []string{"drain i-a01 wait drain_waiting", "drain i-a03 terminate drain_agent_gone", "agent a01 agent_draining"}},

	{"frozen_holds_drain_termination", func(w *world) {
		w.agents(6, tk("/web", 2, 100))
		w.agent("a07")
		for _, id := range []string{"a01", "a02", "a03", "a04"} {
			w.edit(id, func(a *Agent) { a.Active = false })
		}
		w.drain("a07", 5*time.Minute)
	}, []string{"frozen frozen_missing_agents", "drain i-a07 wait frozen_missing_agents"}},
}

func TestPlanPoolScenarios(t *testing.T) {
	for _, sc := range planScenarios {
		t.Run(sc.name, func(t *testing.T) {
			w := newWorld()
			sc.setup(w)
			plan := w.plan()
			for _, m := range missingFacts(plan, sc.want) {
				t.Errorf("missing: %s", m)
			}
			checkGolden(t, filepath.Join("testdata", "autoscaler", sc.name+".golden.json"), plan)
		})
	}
}

func checkGolden(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if updatingGolden() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("plan differs from %s (run with -update to accept):\n%s", path, lineDiff(string(want), string(got)))
	}
}
