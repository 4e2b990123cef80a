package policy

import "time"

// The spot interruption scenarios: an instance's ReclaimAt comes from a notice the autoscaler read.
func init() {
	planScenarios = append(planScenarios, reclaimScenarios...)
}

// reclaim gives agent id's instance a notice: the cloud takes it back in d.
func (w *world) reclaim(id string, d time.Duration) {
	w.editInstance("i-"+id, func(in *Instance) { in.ReclaimAt = w.now.Add(d) })
}

var reclaimScenarios = []scenario{
	{"spot_interruption_drains_at_once", func(w *world) {
		// Busy agents, none unneeded, scale-down disabled: the notice drains a02 anyway, and its
		// tasks fit the free space of the others.
		w.pol.ScaleDown.Enabled = false
		w.agents(3, tk("/web", 1, 1000))
		w.reclaim("a02", 2*time.Minute)
	}, []string{"drain i-a02 start spot_interruption", "agent a02 spot_interruption", "group asg-a +0 no_scale_up_needed"}},

	{"spot_interruption_needs_new_agents", func(w *world) {
		// Full agents: the reclaimed agent's four tasks fit nowhere, so a replacement is launched
		// now, while the instance still runs.
		w.pol.TargetUtilization = 1
		w.agents(2, tk("/web", 1, 1000), tk("/web", 1, 1000), tk("/web", 1, 1000), tk("/web", 1, 1000))
		w.reclaim("a01", 2*time.Minute)
	}, []string{"drain i-a01 start spot_interruption", "group asg-a +1 scale_up_spot_interruption"}},

	{"spot_interruption_ignores_the_scale_down_rules", func(w *world) {
		// A protected task, a drain budget taken by a scale-down drain, a closed scale-down window:
		// none of them keeps an instance the cloud reclaims.
		w.pol.ScaleDown.MaxDraining = Budget{n: 1}
		w.agent("a01", tk("/db", 1, 1000))
		w.agent("a02", tk("/web", 1, 1000))
		w.agent("a03")
		w.snap.Apps["/db"] = App{Labels: map[string]string{ProtectLabel: "true"}}
		w.drain("a03", time.Minute)
		w.edit("a03", func(a *Agent) { a.Tasks, a.Allocated = []Task{tk("/web", 1, 1000)}, tk("/web", 1, 1000).Resources })
		w.reclaim("a01", 2*time.Minute)
	}, []string{"drain i-a01 start spot_interruption", "drain i-a03 wait drain_waiting", "agent a01 spot_interruption"}},

	{"spot_interruption_hurries_a_drain", func(w *world) {
		// A scale-down drain started two minutes ago (deadline in 13 minutes); the notice comes
		// with 50 s left, less than down_before: the agent goes now, tasks or not.
		w.agents(2, tk("/web", 1, 1000))
		w.drain("a01", 2*time.Minute)
		w.reclaim("a01", 50*time.Second)
	}, []string{"drain i-a01 terminate drain_reclaim_deadline"}},

	{"spot_interruption_waits_for_down_before", func(w *world) {
		// 90 s left: the tasks have until 60 s before the reclaim to leave.
		w.agents(2, tk("/web", 1, 1000))
		w.drain("a01", time.Minute)
		w.reclaim("a01", 90*time.Second)
	}, []string{"drain i-a01 wait drain_waiting"}},

	{"spot_interruption_while_frozen", func(w *world) {
		// A wave of interruptions took agents away and closed the health gate: the reclaimed drain
		// still goes at its deadline, at the group's min size as a replacement.
		w.agents(6, tk("/web", 1, 1000))
		for _, id := range []string{"a02", "a03", "a04", "a05"} {
			w.edit(id, func(a *Agent) { a.Active = false })
		}
		w.groupNamed("asg-a").Min = 6
		w.drain("a01", time.Minute)
		w.reclaim("a01", 30*time.Second)
	}, []string{"frozen frozen_missing_agents", "drain i-a01 terminate drain_reclaim_deadline"}},

	{"spot_interruption_disabled", func(w *world) {
		w.pol.SpotInterruption.Enabled = false
		w.pol.ScaleDown.Enabled = false
		w.agents(2, tk("/web", 1, 1000))
		w.reclaim("a01", 2*time.Minute)
	}, []string{"agent a01 kept_not_unneeded_long_enough"}}, // no drain: the golden file has none
}
