package dashboards

// The queries read only series the daemons export (the test checks every name against the
// collectors the autoscaler, the hibernator and cost register). $pool is "All" by default; Grafana
// sends it as a regular expression, hence pool=~"$pool".

const poolVar = `label_values(marmot_autoscaler_agents, pool)`

func clusterBoard() *Board {
	l := newBoard("marmot-cluster", "Marmot / Cluster and pools",
		"The Mesos agent pools Marmot's autoscaler manages: agents, Auto Scaling groups, capacity, allocation and the demand waiting for room. From the autoscaler's /metrics.",
		queryVariable("pool", poolVar))

	l.row("Now")
	l.add(6, 4, stat("Agents available",
		"Mesos agents that take tasks now, summed over the selected pools. Draining, disconnected and maintenance agents are not counted: see the state chart below.",
		"short", q(`sum(marmot_autoscaler_agents{pool=~"$pool", state="available"})`, "available")))
	l.add(6, 4, stat("CPU allocated",
		"Share of the selected pools' CPUs allocated to tasks. Near the policy's target_utilization the autoscaler adds agents; far below it, it drains some.",
		"percentunit", q(`sum(marmot_autoscaler_allocated{pool=~"$pool", resource="cpus"}) / sum(marmot_autoscaler_capacity{pool=~"$pool", resource="cpus"})`, "cpu")))
	l.add(6, 4, alarm("Instances waiting for room",
		"Marathon instances waiting because no agent had the capacity (the only waiting reason that justifies new agents). Anything above zero for long means the pools cannot grow fast enough or are at their max.",
		"short", 1, q(`sum(marmot_autoscaler_waiting_instances{pool=~"$pool", reason="waiting_capacity_short"})`, "waiting")))
	l.add(6, 4, alarm("Pools frozen",
		"Pools whose health gate is closed: the data is stale (nothing is decided) or too many agents are missing (nothing is drained). Zero is healthy; see the Health row for which pool and why.",
		"short", 1, q(`sum(marmot_autoscaler_frozen{pool=~"$pool"})`, "frozen")))

	l.row("Agents and groups")
	l.add(12, 8, stacked("Agents by state",
		"Mesos agents per pool by state: available (takes tasks), draining (Marmot drains it before terminating its instance), maintenance (someone else's window), deactivated, disconnected. The stack height is the pool's size in Mesos.",
		"short", q(`sum by (pool, state) (marmot_autoscaler_agents{pool=~"$pool"})`, "{{pool}} {{state}}")))
	l.add(12, 8, timeseries("Auto Scaling groups: desired, min, max",
		"Each group's desired capacity (what the autoscaler asked AWS for) between its min and max size. Desired above the agent count for minutes means instances boot slowly or never join Mesos.",
		"short",
		q(`sum by (pool, group) (marmot_autoscaler_group_desired_instances{pool=~"$pool"})`, "{{group}} desired"),
		q(`sum by (pool, group) (marmot_autoscaler_group_min_instances{pool=~"$pool"})`, "{{group}} min"),
		q(`sum by (pool, group) (marmot_autoscaler_group_max_instances{pool=~"$pool"})`, "{{group}} max")))

	l.row("Capacity and allocation")
	l.add(8, 8, timeseries("Utilization by pool",
		"Allocated share of each pool's capacity for its dominant resource (the largest of cpus, mem, disk, gpus): the figure the autoscaler compares with target_utilization and utilization_below.",
		"percentunit", q(`max by (pool) (marmot_autoscaler_utilization_ratio{pool=~"$pool", resource="dominant"})`, "{{pool}}")))
	l.add(8, 8, timeseries("CPUs: offered and allocated",
		"CPU cores the pool's agents offer Mesos, and those allocated to tasks. The gap is free capacity (some of it the policy's headroom).",
		"short",
		q(`sum by (pool) (marmot_autoscaler_capacity{pool=~"$pool", resource="cpus"})`, "{{pool}} offered"),
		q(`sum by (pool) (marmot_autoscaler_allocated{pool=~"$pool", resource="cpus"})`, "{{pool}} allocated")))
	l.add(8, 8, timeseries("Memory: offered and allocated",
		"Memory the pool's agents offer Mesos, and what is allocated to tasks, in megabytes as Mesos counts it.",
		"decmbytes",
		q(`sum by (pool) (marmot_autoscaler_capacity{pool=~"$pool", resource="mem"})`, "{{pool}} offered"),
		q(`sum by (pool) (marmot_autoscaler_allocated{pool=~"$pool", resource="mem"})`, "{{pool}} allocated")))

	l.row("Demand waiting")
	l.add(12, 8, stacked("Waiting instances by reason",
		"Marathon instances waiting to launch, by why Marathon declined the offers. Only waiting_capacity_short (and waiting_too_large_for_shapes) counts as demand for new agents; constraint, role, backoff and the rest do not, because new agents would not place them.",
		"short", q(`sum by (reason) (marmot_autoscaler_waiting_instances{pool=~"$pool"})`, "{{reason}}")))
	l.add(12, 8, timeseries("Health gate and backoff",
		"1 while a pool's health gate is frozen (by reason), or while a group backs off after a failed launch. A pool that stays frozen is not managed at all: check the sources' errors on the autoscaler dashboard.",
		"short",
		q(`max by (pool, reason) (marmot_autoscaler_frozen{pool=~"$pool"})`, "{{pool}} {{reason}}"),
		q(`max by (pool, group) (marmot_autoscaler_group_backoff{pool=~"$pool"})`, "{{group}} backoff")))
	return l.board()
}

func autoscalerBoard() *Board {
	l := newBoard("marmot-autoscaler", "Marmot / Autoscaler decisions",
		"What the autoscaler decided and why: scale-ups and scale-downs by reason, drains, the agents it keeps and why, and the health of its loop and of the calls it makes to AWS. From the autoscaler's /metrics.",
		queryVariable("pool", poolVar))

	l.row("Loop")
	l.add(6, 4, alarm("Since the last good reconcile",
		"Time since the last reconcile that read every source fresh. It should stay below a few reconcile intervals; a growing value means Mesos, Marathon or AWS cannot be read.",
		"s", 300, q(`time() - marmot_autoscaler_last_successful_reconcile_timestamp_seconds`, "age")))
	l.add(6, 4, stat("Ready",
		"1 once the autoscaler has read Mesos, Marathon and AWS in full; it decides nothing before.",
		"short", q(`max(marmot_autoscaler_ready)`, "ready")))
	l.add(6, 4, alarm("Drains in progress",
		"Agents being drained now (their tasks are moving away before their instance is terminated).",
		"short", 10, q(`sum(marmot_autoscaler_drains_in_progress{pool=~"$pool"})`, "drains")))
	l.add(6, 4, stat("Last policy reload ok",
		"1 when the last policy reload (SIGHUP) succeeded or none was tried; 0 means the last good policy stays in force and the new file has errors (see /status).",
		"short", q(`min(marmot_autoscaler_policy_last_reload_ok)`, "ok")))

	l.row("Scaling")
	l.add(12, 8, bars("Agents added, by reason",
		"Agents added per interval (desired capacity raised), by reason: pending demand, min size, utilization above target, headroom. Bars without waiting instances before them usually mean headroom or min size.",
		q(`sum by (reason) (increase(marmot_autoscaler_scale_ups_total{pool=~"$pool"}[$__rate_interval]))`, "{{reason}}")))
	l.add(12, 8, bars("Instances terminated, by reason",
		"Instances terminated per interval, by reason: drain complete, agent gone, drain deadline, or an instance that never joined Mesos (which also backs its group off).",
		q(`sum by (reason) (increase(marmot_autoscaler_scale_downs_total{pool=~"$pool"}[$__rate_interval]))`, "{{reason}}")))
	l.add(12, 8, bars("Drains started and aborted",
		"Drains started per interval (empty or unneeded agents) and drains aborted (the agent is given back to the pool: demand came back, a protected task appeared, or the deadline passed with at_deadline: abort). Many aborts mean scale-down is too eager.",
		q(`sum by (reason) (increase(marmot_autoscaler_drains_started_total{pool=~"$pool"}[$__rate_interval]))`, "started: {{reason}}"),
		q(`sum by (reason) (increase(marmot_autoscaler_drains_aborted_total{pool=~"$pool"}[$__rate_interval]))`, "aborted: {{reason}}")))
	l.add(12, 8, timeseries("Drain duration",
		"From the start of a drain to its instance's termination (or its abort), median and 90th percentile over the interval. Long drains are tasks slow to leave; drains at the deadline suggest a longer drain deadline or a kill grace period issue.",
		"s",
		q(`histogram_quantile(0.5, sum by (le, outcome) (rate(marmot_autoscaler_drain_duration_seconds_bucket{pool=~"$pool"}[$__rate_interval])))`, "p50 {{outcome}}"),
		q(`histogram_quantile(0.9, sum by (le, outcome) (rate(marmot_autoscaler_drain_duration_seconds_bucket{pool=~"$pool"}[$__rate_interval])))`, "p90 {{outcome}}")))

	l.row("Why agents stay")
	l.add(12, 9, stacked("Agents by the reason of the last plan",
		"Every agent of the selected pools by the reason the last plan gave it: drained (scale_down_*), draining, or kept (kept_*: utilized, protected, too young, budget, min size, ...). \"Why did it not scale down?\" is answered here; /status names each agent.",
		"short", q(`sum by (reason) (marmot_autoscaler_agents_by_reason{pool=~"$pool"})`, "{{reason}}")))
	l.add(12, 9, bars("Actions by kind and result",
		"What the actuator did per interval: scale-ups, drains, terminations, reactivations, by result (done, failed, dry_run, unconfirmed). Failed actions are retried by the next reconcile.",
		q(`sum by (action, result) (increase(marmot_autoscaler_actions_total{pool=~"$pool"}[$__rate_interval]))`, "{{action}} {{result}}")))

	l.row("Health of the loop and its sources")
	l.add(8, 8, bars("Reconciles by trigger and result",
		"Reconciles per interval by what started them (event, tick, ...) and their result: ok, error (a source failed and older data was used) or not_planned.",
		q(`sum by (trigger, result) (increase(marmot_autoscaler_reconciles_total[$__rate_interval]))`, "{{trigger}} {{result}}")))
	l.add(8, 8, timeseries("Reconcile duration",
		"How long one reconcile takes (observe, plan, re-check and act for every pool), 90th percentile by trigger. Seconds are normal when it acts; it should not approach the tick interval.",
		"s", q(`histogram_quantile(0.9, sum by (le, trigger) (rate(marmot_autoscaler_reconcile_duration_seconds_bucket[$__rate_interval])))`, "p90 {{trigger}}")))
	l.add(8, 8, timeseries("Source read errors",
		"Failed reads of Mesos, Marathon and each pool's cloud groups, per second. Errors freeze decisions once the data is older than the policy's max data age.",
		"reqps", q(`sum by (source) (rate(marmot_autoscaler_source_errors_total[$__rate_interval]))`, "{{source}}")))
	l.add(12, 8, timeseries("AWS call latency",
		"90th percentile duration of each AWS call (retries included). Throttled calls take longer; compare with the errors by reason beside it.",
		"s", q(`histogram_quantile(0.9, sum by (le, call) (rate(marmot_autoscaler_cloud_call_duration_seconds_bucket[$__rate_interval])))`, "{{call}}")))
	l.add(12, 8, timeseries("AWS call errors",
		"Failed AWS calls per second by call and kind of failure (throttled, capacity unavailable, not found, ...). Capacity errors on scale-up back the group off.",
		"reqps", q(`sum by (call, reason) (rate(marmot_autoscaler_cloud_call_errors_total[$__rate_interval]))`, "{{call}} {{reason}}")))
	return l.board()
}

func hibernationBoard() *Board {
	l := newBoard("marmot-hibernation", "Marmot / Hibernation",
		"Apps that opted in to hibernation (label marmot.hibernate=true): how many sleep, what they free, how fast they wake, and what the activator did with the requests that woke them. From the hibernator's /metrics.")

	l.row("Now")
	l.add(6, 4, stat("Apps asleep",
		"Opted-in apps at zero instances now, put to sleep by the hibernator after their idle period.",
		"short", q(`sum(marmot_hibernator_apps{state="asleep"})`, "asleep")))
	l.add(6, 4, stat("CPUs freed",
		"CPUs the sleeping apps would hold if they were awake (remembered instances × cpus): capacity the autoscaler can give back.",
		"short", q(`sum(marmot_hibernator_freed_cpus)`, "cpus")))
	l.add(6, 4, stat("Memory freed",
		"Memory the sleeping apps would hold if they were awake.",
		"bytes", q(`sum(marmot_hibernator_freed_memory_bytes)`, "memory")))
	l.add(6, 4, alarm("Wake p90",
		"90th percentile time from a request's arrival at the activator to its forwarding to the woken app, over the last hour. This is what a user waits on a cold start.",
		"s", 30, q(`histogram_quantile(0.9, sum by (le) (rate(marmot_hibernator_wake_duration_seconds_bucket[1h])))`, "p90")))

	l.row("Apps")
	l.add(12, 8, stacked("Apps by state",
		"Opted-in apps by state: awake, asleep, waking (woken, not every instance running yet) and skipped (labels that do not parse: the hibernator leaves them alone, fix their labels).",
		"short", q(`sum by (state) (marmot_hibernator_apps)`, "{{state}}")))
	l.add(12, 8, stacked("Apps by the reason of the last decision",
		"Every opted-in app by the reason of the last plan: hibernate, idle not long enough, traffic seen, keep-awake window, stale traffic data, ... This answers \"why is my app not asleep?\"; /status names each app.",
		"short", q(`sum by (reason) (marmot_hibernator_app_decisions)`, "{{reason}}")))
	l.add(8, 8, bars("Hibernations by result",
		"Hibernations the planner decided per interval: done, aborted (the re-check just before the PUT found a reason not to), failed (Marathon refused), dry_run.",
		q(`sum by (result) (increase(marmot_hibernator_hibernations_total[$__rate_interval]))`, "{{result}}")))
	l.add(8, 8, bars("Hibernations aborted, by reason",
		"Why the re-check called a hibernation off: the app changed, traffic arrived, it could not be read again, or another app of its group was aborted. Frequent aborts for traffic mean the idle period is short for that app.",
		q(`sum by (reason) (increase(marmot_hibernator_hibernations_aborted_total[$__rate_interval]))`, "{{reason}}")))
	l.add(8, 8, bars("Wakes by reason",
		"Apps woken per interval (one PUT each): by a request at the activator, or by the planner (the app opted out, or a never-sleep window began). Wake failures are shown as failed: ...",
		q(`sum by (reason) (increase(marmot_hibernator_wakes_total[$__rate_interval]))`, "{{reason}}"),
		q(`sum by (reason) (increase(marmot_hibernator_wake_failures_total[$__rate_interval]))`, "failed: {{reason}}")))

	l.row("Activator")
	l.add(8, 8, timeseries("Wake latency",
		"From a held request's arrival to its forwarding to the woken task: median, 90th and 99th percentile. It is the app's start time plus its health: slow starters are candidates for a longer idle period.",
		"s",
		q(`histogram_quantile(0.5, sum by (le) (rate(marmot_hibernator_wake_duration_seconds_bucket[$__rate_interval])))`, "p50"),
		q(`histogram_quantile(0.9, sum by (le) (rate(marmot_hibernator_wake_duration_seconds_bucket[$__rate_interval])))`, "p90"),
		q(`histogram_quantile(0.99, sum by (le) (rate(marmot_hibernator_wake_duration_seconds_bucket[$__rate_interval])))`, "p99")))
	l.add(8, 8, timeseries("Requests held and forwarded",
		"Requests the activator holds now while their app wakes, and requests forwarded per second: cold (held during a wake) or warm (the load balancer still sent them to the activator after the app woke).",
		"short",
		q(`sum(marmot_hibernator_activator_held_requests)`, "held now"),
		q(`sum by (kind) (rate(marmot_hibernator_activator_forwarded_requests_total[$__rate_interval]))`, "forwarded/s {{kind}}")))
	l.add(8, 8, timeseries("Requests rejected, by reason",
		"Requests the activator answered itself per second: unknown host (404), queue full or hold timeout (503 with Retry-After), wake failed, body too large, client gone, waiting page. Timeouts mean apps take longer to start than the hold timeout.",
		"reqps", q(`sum by (reason) (rate(marmot_hibernator_activator_rejected_requests_total[$__rate_interval]))`, "{{reason}}")))

	l.row("Resources freed")
	l.add(12, 8, timeseries("CPU-hours freed",
		"CPU-hours freed by hibernation: sleeps that ended (counted at wake) plus the apps asleep now since they fell asleep. It only grows, except when a sleeping app is deleted or opts out.",
		"short", q(`sum(marmot_hibernator_freed_cpu_hours_total) + sum(marmot_hibernator_asleep_cpu_hours)`, "cpu-hours")))
	l.add(12, 8, timeseries("Memory GiB-hours freed",
		"GiB-hours of memory freed by hibernation, counted like the CPU-hours beside it.",
		"short", q(`sum(marmot_hibernator_freed_memory_gib_hours_total) + sum(marmot_hibernator_asleep_memory_gib_hours)`, "GiB-hours")))

	l.row("Health of the loop and its sources")
	l.add(6, 6, alarm("Since the last full observation",
		"Time since Marathon and every traffic source were last read in full. While it grows nothing is decided.",
		"s", 300, q(`time() - max(marmot_hibernator_last_observed_timestamp_seconds)`, "age")))
	l.add(6, 6, alarm("Stale traffic sources",
		"Traffic sources (HAProxy stats, nginx access logs) whose data is missing or older than traffic.max_age. While any is stale no app counts as idle, so none goes to sleep.",
		"short", 1, q(`sum(marmot_hibernator_traffic_source_stale)`, "stale")))
	l.add(6, 6, alarm("Host conflicts",
		"Host names claimed by more than one opted-in app: they get no route to the activator, so those apps cannot be woken by a request. Fix the HAPROXY_n_VHOST labels.",
		"short", 1, q(`max(marmot_hibernator_host_conflicts)`, "conflicts")))
	l.add(6, 6, bars("Reconciles and policy reloads",
		"Reconcile rounds per interval by result (error: Marathon could not be read, nothing was decided) and policy reloads (SIGHUP) by result.",
		q(`sum by (result) (increase(marmot_hibernator_reconciles_total[$__rate_interval]))`, "reconcile {{result}}"),
		q(`sum by (result) (increase(marmot_hibernator_policy_reloads_total[$__rate_interval]))`, "reload {{result}}")))
	l.add(24, 6, timeseries("Reconcile duration",
		"How long one hibernation round takes, re-checks and PUTs included: median and 90th percentile.",
		"s",
		q(`histogram_quantile(0.5, sum by (le) (rate(marmot_hibernator_reconcile_duration_seconds_bucket[$__rate_interval])))`, "p50"),
		q(`histogram_quantile(0.9, sum by (le) (rate(marmot_hibernator_reconcile_duration_seconds_bucket[$__rate_interval])))`, "p90")))
	return l.board()
}

func costBoard() *Board {
	l := newBoard("marmot-cost", "Marmot / Cost and chargeback",
		"What the cluster costs, who uses it, and what autoscaling and hibernation save, in US dollars. Prices: the autoscaler's built-in on-demand table and EC2 spot prices, split per cpu-hour and GiB-hour by the OpenCost ratio method; the hibernator prices what sleeping apps free at its own rate (docs/cost.md). Per-hour figures are derived from the cluster as it is, so they survive restarts; the _total counters restart with the daemons, which increase() allows for.",
		queryVariable("pool", poolVar))

	l.row("Now")
	l.add(6, 4, stat("Cost per hour",
		"What every instance of the selected pools costs per hour now, agents or not (booting and draining instances too). Instances of an unknown type are left out: see Unpriced instances below.",
		"currencyUSD", q(`sum(marmot_cost_pool_dollars_per_hour{pool=~"$pool"})`, "per hour")))
	l.add(6, 4, stat("Idle share",
		"Share of the cost per hour that no task holds: free resources of agents plus instances that are no agent. Part of it is the policy's headroom; a large share for long means the pools are oversized.",
		"percentunit", q(`sum(marmot_cost_idle_dollars_per_hour{pool=~"$pool"}) / sum(marmot_cost_pool_dollars_per_hour{pool=~"$pool"})`, "idle")))
	l.add(6, 4, stat("Autoscaling saves per hour",
		"What the selected pools save per hour now against static pools sized for their trailing peak (the most instances each ran over the peak window, a week by default): instances below the peak × the pool's mean instance price.",
		"currencyUSD", q(`sum(marmot_cost_autoscaling_savings_dollars_per_hour{pool=~"$pool"})`, "autoscaling")))
	l.add(6, 4, stat("Hibernation saves per hour",
		"What the resources of the apps asleep now would cost per hour if they were awake (remembered instances × cpus and memory, at the hibernator's rates). From the hibernator.",
		"currencyUSD", q(`sum(marmot_cost_hibernation_savings_dollars_per_hour)`, "hibernation")))

	l.row("Pools")
	l.add(8, 8, stacked("Cost per hour by pool",
		"What each pool's instances cost per hour. Steps are instances launched or terminated; with spot instances the line also moves with the spot price.",
		"currencyUSD", q(`sum by (pool) (marmot_cost_pool_dollars_per_hour{pool=~"$pool"})`, "{{pool}}")))
	l.add(8, 8, timeseries("Price per cpu-hour",
		"Each pool's price of one cpu for an hour: its agents' prices split between cpus and memory in the ratio of AWS's marginal rates, then scaled to add up to the price (OpenCost's method). A pool of mixed types or spot and on-demand gets the capacity-weighted average.",
		"currencyUSD", q(`max by (pool) (marmot_cost_cpu_price_dollars_per_core_hour{pool=~"$pool"})`, "{{pool}}")))
	l.add(8, 8, timeseries("Price per GiB-hour of memory",
		"Each pool's price of one GiB of memory for an hour, by the same split as the cpu price beside it.",
		"currencyUSD", q(`max by (pool) (marmot_cost_memory_price_dollars_per_gib_hour{pool=~"$pool"})`, "{{pool}}")))
	l.add(12, 8, timeseries("Instances against the static peak",
		"Instances each pool pays for now, and the static pool the savings compare against: the most instances the pool ran over the trailing window. The gap between the lines is what autoscaling saves. After an autoscaler restart the peak starts again from the current size, so savings err low until the window has filled.",
		"short",
		q(`sum by (pool) (marmot_cost_instances{pool=~"$pool"})`, "{{pool}} instances"),
		q(`max by (pool) (marmot_cost_static_peak_instances{pool=~"$pool"})`, "{{pool}} static peak")))
	l.add(12, 8, alarm("Unpriced instances",
		"Instances whose type has no known price (not in the built-in table for the region, no override): their cost is missing from every figure here, not zero. Anything above zero needs a price.",
		"short", 1, q(`sum(marmot_cost_instances{pool=~"$pool", priced="false"})`, "unpriced")))

	l.row("Chargeback")
	l.add(12, 9, stacked("Cost per hour by team, and idle",
		"What the resources each team's tasks hold cost per hour (the marmot.team label; apps without it are \"(no team)\"), at their pool's rates, stacked with the idle capacity nobody holds. Teams plus idle add up to the cost per hour of every pool. Teams span all pools; the idle line follows the pool selection.",
		"currencyUSD",
		q(`sum by (team) (marmot_cost_team_dollars_per_hour)`, "{{team}}"),
		q(`sum(marmot_cost_idle_dollars_per_hour{pool=~"$pool"})`, "idle")))
	l.add(12, 9, timeseries("Most expensive apps",
		"The ten apps whose tasks cost the most per hour now (allocated cpus and memory × their pool's rates): what they set aside, used or not. An app near the top that uses little of what it asks for is the place to start.",
		"currencyUSD", q(`topk(10, sum by (app, team) (marmot_cost_app_dollars_per_hour))`, "{{app}} ({{team}})")))

	l.row("Savings")
	l.add(12, 8, timeseries("Savings per hour",
		"What autoscaling (per pool, against the trailing peak) and hibernation (apps asleep) save per hour now.",
		"currencyUSD",
		q(`sum by (pool) (marmot_cost_autoscaling_savings_dollars_per_hour{pool=~"$pool"})`, "autoscaling {{pool}}"),
		q(`sum(marmot_cost_hibernation_savings_dollars_per_hour)`, "hibernation")))
	l.add(12, 8, timeseries("Hibernation savings by app",
		"What each sleeping app frees per hour, the ten largest. An app appears while it sleeps and leaves the chart when it wakes.",
		"currencyUSD", q(`topk(10, sum by (app) (marmot_cost_hibernation_app_savings_dollars_per_hour))`, "{{app}}")))
	l.add(12, 8, bars("Spent and saved per interval",
		"Dollars spent on the selected pools, and saved by autoscaling and hibernation, per interval: increase() of the _total counters, which the daemons integrate from their per-hour figures. A restart resets a counter to zero, which increase() allows for; the time a daemon was down is not counted.",
		q(`sum(increase(marmot_cost_pool_dollars_total{pool=~"$pool"}[$__rate_interval]))`, "spent"),
		q(`sum(increase(marmot_cost_autoscaling_savings_dollars_total{pool=~"$pool"}[$__rate_interval]))`, "saved by autoscaling"),
		q(`sum(increase(marmot_cost_hibernation_savings_dollars_total[$__rate_interval]))`, "saved by hibernation")))
	l.add(12, 8, stat("Saved by the sleeps in progress",
		"What the apps asleep now have saved since each fell asleep (from their marmot.hibernated.at label, so a hibernator restart keeps it). It drops when an app wakes: its sleep is then in the savings counted per interval.",
		"currencyUSD", q(`sum(marmot_cost_hibernation_asleep_savings_dollars)`, "asleep")))
	return l.board()
}
