package simulate

import (
	"embed"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand"
	"net/netip"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A Scenario describes a cluster and what happens to it over time: instance types, pools with their
// Auto Scaling groups, Marathon apps, a workload (instance counts and request rates over time) and
// scheduled faults. docs/simulate.md documents every field.
type Scenario struct {
	Name          string             `yaml:"name"`
	Description   string             `yaml:"description"`
	Start         string             `yaml:"start"`
	Seed          int64              `yaml:"seed"`
	Region        string             `yaml:"region"`
	Network       string             `yaml:"network"`
	Mesos         MesosSpec          `yaml:"mesos"`
	Marathon      MarathonSpec       `yaml:"marathon"`
	Timing        TimingSpec         `yaml:"timing"`
	InstanceTypes []InstanceTypeSpec `yaml:"instance_types"`
	Pools         []PoolSpec         `yaml:"pools"`
	Apps          []AppSpec          `yaml:"apps"`
	Workload      []WorkloadSpec     `yaml:"workload"`
	Faults        []ScheduledFault   `yaml:"faults"`
}

// MesosSpec configures the simulated Mesos masters.
type MesosSpec struct {
	Version string `yaml:"version"` // reported by masters and agents; DRAIN_AGENT needs 1.9 or later
	Masters int    `yaml:"masters"` // how many masters (one leads)
}

// MarathonSpec configures the simulated Marathon instances.
type MarathonSpec struct {
	Instances int `yaml:"instances"` // how many Marathon instances (one leads, the others proxy)
}

// TimingSpec holds the delays of the cluster's machinery.
type TimingSpec struct {
	BootDelay       Distribution `yaml:"boot_delay"`       // launch → Mesos agent registered
	InstancePending Duration     `yaml:"instance_pending"` // Pending → InService
	Termination     Duration     `yaml:"termination"`      // Terminating → Terminated
	TaskStart       Duration     `yaml:"task_start"`       // default app start delay (staging → running)
}

// InstanceTypeSpec is an EC2 instance type. Mem and Disk are what the agent offers, in MiB.
type InstanceTypeSpec struct {
	Name  string  `yaml:"name"`
	CPUs  float64 `yaml:"cpus"`
	Mem   float64 `yaml:"mem"`
	Disk  float64 `yaml:"disk"`
	GPUs  float64 `yaml:"gpus"`
	Price float64 `yaml:"price"` // on-demand USD per hour
}

// InstanceType turns the spec into the model's InstanceType.
func (s InstanceTypeSpec) InstanceType() InstanceType {
	return InstanceType{Name: s.Name, CPUs: s.CPUs, MemMiB: s.Mem, DiskMiB: s.Disk, GPUs: s.GPUs, PriceHour: s.Price}
}

// PoolSpec is an agent pool: the agents carrying attribute pool=<name>.
type PoolSpec struct {
	Name         string            `yaml:"name"`
	Attributes   map[string]string `yaml:"attributes"` // extra agent attributes (numeric values become SCALAR)
	Role         string            `yaml:"role"`       // role the pool's resources are reserved for
	Groups       []GroupSpec       `yaml:"groups"`
	StaticAgents int               `yaml:"static_agents"` // agents outside any Auto Scaling group
	StaticType   string            `yaml:"static_type"`   // their instance type
}

// GroupSpec is an Auto Scaling group serving a pool (tagged marmot:pool=<pool>).
type GroupSpec struct {
	Name                  string            `yaml:"name"`
	InstanceType          string            `yaml:"instance_type"`
	Min                   int               `yaml:"min"`
	Max                   int               `yaml:"max"`
	Desired               int               `yaml:"desired"`
	Zones                 []string          `yaml:"zones"`
	Spot                  bool              `yaml:"spot"`
	Tags                  map[string]string `yaml:"tags"`
	Cooldown              Duration          `yaml:"cooldown"`
	NewInstancesProtected bool              `yaml:"new_instances_protected"`
}

// AppSpec is a Marathon app at the start of the scenario.
type AppSpec struct {
	ID                    string            `yaml:"id"`
	Count                 int               `yaml:"count"` // >1 makes ids <id>-1 … <id>-N
	Instances             int               `yaml:"instances"`
	CPUs                  float64           `yaml:"cpus"`
	Mem                   float64           `yaml:"mem"`
	Disk                  float64           `yaml:"disk"`
	GPUs                  float64           `yaml:"gpus"`
	Ports                 *int              `yaml:"ports"`
	StartDelay            Duration          `yaml:"start_delay"`
	Constraints           [][]string        `yaml:"constraints"`
	Labels                map[string]string `yaml:"labels"`
	HealthCheck           *HealthCheckSpec  `yaml:"health_check"`
	AcceptedResourceRoles []string          `yaml:"accepted_resource_roles"`
	RequestsPerSecond     float64           `yaml:"requests_per_second"`
}

// HealthCheckSpec is an HTTP health check.
type HealthCheckSpec struct {
	Path string `yaml:"path"`
}

// WorkloadSpec is one change over time: a step at a time, or a diurnal pattern.
type WorkloadSpec struct {
	At                Duration     `yaml:"at"`
	App               string       `yaml:"app"` // app id or glob ("/web/*")
	Instances         *int         `yaml:"instances"`
	RequestsPerSecond *float64     `yaml:"requests_per_second"`
	Diurnal           *DiurnalSpec `yaml:"diurnal"`
}

// DiurnalSpec drives matching apps' instances and request rates along a daily cosine wave.
type DiurnalSpec struct {
	Apps         string   `yaml:"apps"` // glob of app ids
	MinInstances int      `yaml:"min_instances"`
	MaxInstances int      `yaml:"max_instances"`
	Peak         Duration `yaml:"peak"`   // time of day of the peak, e.g. "14h"
	Period       Duration `yaml:"period"` // default 24h
	Every        Duration `yaml:"every"`  // how often instance counts are updated; default 1m
	RPSMin       float64  `yaml:"rps_min"`
	RPSMax       float64  `yaml:"rps_max"`
	Spread       Duration `yaml:"spread"` // apps' peaks are spread over ± this much
}

// ScheduledFault is a fault that switches on at a time.
type ScheduledFault struct {
	At    Duration `yaml:"at"`
	Fault `yaml:",inline"`
	Delay Duration `yaml:"delay"`
}

// Duration is a YAML duration ("90s", "10m"). A malformed one is kept and reported by Validate with its
// field path rather than failing the decode.
type Duration struct {
	d   time.Duration
	raw string
	bad bool
}

// D returns the duration.
func (d Duration) D() time.Duration { return d.d }

// Set reports whether the field was given.
func (d Duration) Set() bool { return d.raw != "" }

// Dur makes a Duration.
func Dur(d time.Duration) Duration { return Duration{d: d, raw: d.String()} }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	d.raw = n.Value
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		d.bad = true
		return nil
	}
	d.d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.d.String(), nil }

// Distribution is a random delay: fixed (value), uniform (min, max), normal (mean, stddev, clamped at
// min) or lognormal (median via mean, stddev as the sigma of the log).
type Distribution struct {
	Kind   string   `yaml:"distribution"`
	Value  Duration `yaml:"value"`
	Min    Duration `yaml:"min"`
	Max    Duration `yaml:"max"`
	Mean   Duration `yaml:"mean"`
	Stddev Duration `yaml:"stddev"`
	Sigma  float64  `yaml:"sigma"`
}

// Sample draws a delay.
func (d Distribution) Sample(rng *rand.Rand) time.Duration {
	var v time.Duration
	switch d.Kind {
	case "uniform":
		span := d.Max.D() - d.Min.D()
		v = d.Min.D()
		if span > 0 {
			v += time.Duration(rng.Int63n(int64(span)))
		}
	case "normal":
		v = d.Mean.D() + time.Duration(rng.NormFloat64()*float64(d.Stddev.D()))
	case "lognormal":
		sigma := d.Sigma
		if sigma == 0 {
			sigma = 0.25
		}
		v = time.Duration(float64(d.Mean.D()) * math.Exp(rng.NormFloat64()*sigma))
	default:
		v = d.Value.D()
	}
	if d.Min.Set() && v < d.Min.D() {
		v = d.Min.D()
	}
	if d.Max.Set() && d.Kind != "uniform" && v > d.Max.D() {
		v = d.Max.D()
	}
	if v < 0 {
		v = 0
	}
	return v
}

// ValidationErrors lists every problem found in a scenario, each with its field path.
type ValidationErrors []string

func (e ValidationErrors) Error() string {
	return "invalid scenario:\n  " + strings.Join(e, "\n  ")
}

//go:embed scenarios/*.yaml
var builtins embed.FS

// Builtins lists the names of the built-in scenarios.
func Builtins() []string {
	entries, _ := builtins.ReadDir("scenarios")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// LoadScenario loads a built-in scenario by name, or a YAML file by path.
func LoadScenario(nameOrFile string) (*Scenario, error) {
	data, err := builtins.ReadFile("scenarios/" + nameOrFile + ".yaml")
	if err != nil {
		data, err = os.ReadFile(nameOrFile)
		if err != nil {
			return nil, fmt.Errorf("scenario %q is neither a built-in (%s) nor a readable file: %w", nameOrFile, strings.Join(Builtins(), ", "), err)
		}
	}
	return ParseScenario(data)
}

// ParseScenario decodes a YAML scenario, fills in defaults and validates it. Every problem is reported
// at once, each with its field path: unknown keys, values of the wrong type, and invalid values. Only a
// YAML syntax error stops early (it is reported with its line).
func ParseScenario(data []byte) (*Scenario, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	errs := ValidationErrors(checkShape(&doc))
	var sc Scenario
	if len(doc.Content) > 0 {
		// The decoder stops at nothing: what is well formed is decoded, so that Validate can report the
		// value problems in the same pass as the shape problems checkShape found.
		_ = doc.Decode(&sc)
	}
	sc.Defaults()
	errs = append(errs, sc.Validate()...)
	if len(errs) > 0 {
		return nil, errs
	}
	return &sc, nil
}

// Defaults fills in every unset field with its documented default.
func (sc *Scenario) Defaults() {
	if sc.Start == "" {
		sc.Start = "2026-01-05T00:00:00Z"
	}
	if sc.Seed == 0 {
		sc.Seed = 1
	}
	if sc.Region == "" {
		sc.Region = "us-east-1"
	}
	if sc.Network == "" {
		sc.Network = "10.0.0.0/16"
	}
	if sc.Mesos.Version == "" {
		sc.Mesos.Version = "1.10.0"
	}
	if sc.Mesos.Masters == 0 {
		sc.Mesos.Masters = 1
	}
	if sc.Marathon.Instances == 0 {
		sc.Marathon.Instances = 1
	}
	t := &sc.Timing
	if t.BootDelay.Kind == "" && !t.BootDelay.Value.Set() {
		t.BootDelay = Distribution{Kind: "uniform", Min: Dur(60 * time.Second), Max: Dur(120 * time.Second)}
	}
	if !t.InstancePending.Set() {
		t.InstancePending = Dur(20 * time.Second)
	}
	if !t.Termination.Set() {
		t.Termination = Dur(30 * time.Second)
	}
	if !t.TaskStart.Set() {
		t.TaskStart = Dur(5 * time.Second)
	}
	if len(sc.InstanceTypes) == 0 {
		sc.InstanceTypes = DefaultInstanceTypes()
	}
	for i := range sc.Pools {
		for j := range sc.Pools[i].Groups {
			g := &sc.Pools[i].Groups[j]
			if len(g.Zones) == 0 {
				g.Zones = []string{sc.Region + "a", sc.Region + "b"}
			}
			if !g.Cooldown.Set() {
				g.Cooldown = Dur(300 * time.Second)
			}
		}
	}
	for i := range sc.Apps {
		// Marathon's defaults: an app that names no cpus or mem gets 1 cpu and 128 MB, not a free ride.
		a := &sc.Apps[i]
		if a.CPUs == 0 {
			a.CPUs = 1
		}
		if a.Mem == 0 {
			a.Mem = 128
		}
	}
	for i := range sc.Workload {
		if d := sc.Workload[i].Diurnal; d != nil {
			if !d.Period.Set() {
				d.Period = Dur(24 * time.Hour)
			}
			if !d.Every.Set() {
				d.Every = Dur(time.Minute)
			}
		}
	}
}

// DefaultInstanceTypes is the instance table used when a scenario names none (us-east-1 on-demand
// Linux prices; Mem and Disk are what a Mesos agent typically offers after the OS reserve).
func DefaultInstanceTypes() []InstanceTypeSpec {
	return []InstanceTypeSpec{
		{Name: "m5.large", CPUs: 2, Mem: 7168, Disk: 50000, Price: 0.096},
		{Name: "m5.xlarge", CPUs: 4, Mem: 14848, Disk: 100000, Price: 0.192},
		{Name: "m5.2xlarge", CPUs: 8, Mem: 30208, Disk: 100000, Price: 0.384},
		{Name: "c5.2xlarge", CPUs: 8, Mem: 14848, Disk: 100000, Price: 0.34},
		{Name: "r5.2xlarge", CPUs: 8, Mem: 62464, Disk: 100000, Price: 0.504},
		{Name: "m5.4xlarge", CPUs: 16, Mem: 61440, Disk: 200000, Price: 0.768},
	}
}

func (sc *Scenario) pool(name string) *PoolSpec {
	for i := range sc.Pools {
		if sc.Pools[i].Name == name {
			return &sc.Pools[i]
		}
	}
	return nil
}

// StartTime is the model time the scenario starts at.
func (sc *Scenario) StartTime() time.Time {
	t, err := time.Parse(time.RFC3339, sc.Start)
	if err != nil {
		return time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	return t
}

// Validate returns every problem of the scenario with its field path (nil when it is valid). It
// expects Defaults to have run.
func (sc *Scenario) Validate() ValidationErrors {
	var errs ValidationErrors
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	dur := func(p string, d Duration) {
		if d.bad {
			add("%s: %q is not a duration, e.g. \"90s\" or \"10m\"", p, d.raw)
		} else if d.d < 0 {
			add("%s: %s must not be negative", p, d.raw)
		}
	}
	if _, err := time.Parse(time.RFC3339, sc.Start); err != nil {
		add("start: %q is not an RFC 3339 time, e.g. \"2026-01-05T00:00:00Z\"", sc.Start)
	}
	if pf, err := netip.ParsePrefix(sc.Network); err != nil || !pf.Addr().Is4() || pf.Bits() > 24 {
		add("network: %q is not an IPv4 network of /24 or larger, e.g. \"10.0.0.0/16\"", sc.Network)
	}
	if !VersionAtLeast(sc.Mesos.Version, 1, 0) {
		add("mesos.version: %q is not a Mesos version (X.Y.Z, 1.0.0 or later)", sc.Mesos.Version)
	}
	if sc.Mesos.Masters < 1 || sc.Mesos.Masters > 5 {
		add("mesos.masters: %d must be between 1 and 5", sc.Mesos.Masters)
	}
	if sc.Marathon.Instances < 1 || sc.Marathon.Instances > 5 {
		add("marathon.instances: %d must be between 1 and 5", sc.Marathon.Instances)
	}
	sc.validateTiming(add, dur)
	types := map[string]bool{}
	for i, t := range sc.InstanceTypes {
		p := fmt.Sprintf("instance_types[%d]", i)
		if t.Name == "" {
			add("%s.name: required", p)
		}
		if types[t.Name] {
			add("%s.name: %q appears twice", p, t.Name)
		}
		types[t.Name] = true
		if t.CPUs <= 0 || t.Mem <= 0 {
			add("%s: cpus and mem must be more than 0", p)
		}
		if t.Price < 0 {
			add("%s.price: %g must not be negative", p, t.Price)
		}
	}
	groups, pools := map[string]bool{}, map[string]bool{}
	for i, pl := range sc.Pools {
		p := fmt.Sprintf("pools[%d]", i)
		if pl.Name == "" {
			add("%s.name: required", p)
		}
		if pools[pl.Name] {
			add("%s.name: %q appears twice", p, pl.Name)
		}
		pools[pl.Name] = true
		if pl.StaticAgents < 0 {
			add("%s.static_agents: %d must be 0 or more", p, pl.StaticAgents)
		}
		if pl.StaticAgents > 0 && !types[pl.StaticType] {
			add("%s.static_type: %q is not one of instance_types", p, pl.StaticType)
		}
		for j, g := range pl.Groups {
			gp := fmt.Sprintf("%s.groups[%d]", p, j)
			if g.Name == "" {
				add("%s.name: required", gp)
			}
			if groups[g.Name] {
				add("%s.name: %q appears twice", gp, g.Name)
			}
			groups[g.Name] = true
			if !types[g.InstanceType] {
				add("%s.instance_type: %q is not one of instance_types", gp, g.InstanceType)
			}
			if g.Min < 0 || g.Max < g.Min || g.Desired < g.Min || g.Desired > g.Max {
				add("%s: need 0 <= min (%d) <= desired (%d) <= max (%d)", gp, g.Min, g.Desired, g.Max)
			}
			dur(gp+".cooldown", g.Cooldown)
		}
	}
	apps := sc.validateApps(add, dur)
	for i, wl := range sc.Workload {
		p := fmt.Sprintf("workload[%d]", i)
		dur(p+".at", wl.At)
		if wl.Diurnal != nil {
			d := wl.Diurnal
			if wl.App != "" || wl.Instances != nil || wl.RequestsPerSecond != nil {
				add("%s: diurnal takes its apps from diurnal.apps; app, instances and requests_per_second do not combine with it", p)
			}
			if d.Apps == "" {
				add("%s.diurnal.apps: required, an app id or glob such as \"/web/*\"", p)
			} else if !matchesAny(d.Apps, apps) {
				add("%s.diurnal.apps: %q matches no app", p, d.Apps)
			}
			if d.MinInstances < 0 || d.MaxInstances < d.MinInstances {
				add("%s.diurnal: need 0 <= min_instances (%d) <= max_instances (%d)", p, d.MinInstances, d.MaxInstances)
			}
			dur(p+".diurnal.peak", d.Peak)
			dur(p+".diurnal.period", d.Period)
			dur(p+".diurnal.every", d.Every)
			dur(p+".diurnal.spread", d.Spread)
			if d.Period.D() <= 0 || d.Every.D() <= 0 {
				add("%s.diurnal: period and every must be more than 0", p)
			}
			continue
		}
		if !matchesAny(wl.App, apps) {
			add("%s.app: %q matches no app", p, wl.App)
		}
		if wl.Instances == nil && wl.RequestsPerSecond == nil {
			add("%s: set instances, requests_per_second, or diurnal", p)
		}
		if wl.Instances != nil && *wl.Instances < 0 {
			add("%s.instances: %d must be 0 or more", p, *wl.Instances)
		}
	}
	for i, f := range sc.Faults {
		p := fmt.Sprintf("faults[%d]", i)
		dur(p+".at", f.At)
		dur(p+".delay", f.Delay)
		ff := f.Fault
		ff.Delay = f.Delay.D()
		errs = append(errs, ff.Validate(p)...)
		sc.validateFaultTarget(p, ff, groups, add)
	}
	return errs
}

// validateFaultTarget checks what a scheduled fault refers to, which only the scenario can tell.
func (sc *Scenario) validateFaultTarget(p string, f Fault, groups map[string]bool, add func(string, ...any)) {
	if f.Target != nil {
		n := 0
		switch f.Kind {
		case FaultMesosLeaderChange:
			n = sc.Mesos.Masters
		case FaultMarathonLeaderChange:
			n = sc.Marathon.Instances
		default:
			add("%s.target: only for %s and %s", p, FaultMesosLeaderChange, FaultMarathonLeaderChange)
		}
		if n > 0 && (*f.Target < 0 || *f.Target >= n) {
			add("%s.target: %d is not an instance index in [0, %d)", p, *f.Target, n)
		}
	}
	if f.Group != "" && !groups[f.Group] {
		add("%s.group: %q is not one of the scenario's groups", p, f.Group)
	}
}

func (sc *Scenario) validateTiming(add func(string, ...any), dur func(string, Duration)) {
	t := sc.Timing
	bd := t.BootDelay
	p := "timing.boot_delay"
	for _, f := range []struct {
		name string
		d    Duration
	}{{"value", bd.Value}, {"min", bd.Min}, {"max", bd.Max}, {"mean", bd.Mean}, {"stddev", bd.Stddev}} {
		dur(p+"."+f.name, f.d)
	}
	need := func(kind string, fields ...string) {
		for _, f := range fields {
			set := map[string]bool{"value": bd.Value.Set(), "min": bd.Min.Set(), "max": bd.Max.Set(), "mean": bd.Mean.Set()}[f]
			if !set {
				add("%s.%s: required for distribution %s", p, f, kind)
			}
		}
	}
	switch bd.Kind {
	case "", "fixed":
		need("fixed", "value")
	case "uniform":
		need("uniform", "min", "max")
		if bd.Min.Set() && bd.Max.Set() && bd.Max.D() < bd.Min.D() {
			add("%s: max (%s) is below min (%s)", p, bd.Max.raw, bd.Min.raw)
		}
	case "normal", "lognormal":
		need(bd.Kind, "mean")
	default:
		add("%s.distribution: %q is not one of fixed, uniform, normal, lognormal", p, bd.Kind)
	}
	if bd.Sigma < 0 {
		add("%s.sigma: %g must not be negative", p, bd.Sigma)
	}
	dur("timing.instance_pending", t.InstancePending)
	dur("timing.termination", t.Termination)
	dur("timing.task_start", t.TaskStart)
}

func (sc *Scenario) validateApps(add func(string, ...any), dur func(string, Duration)) []string {
	var ids []string
	seen := map[string]bool{}
	for i, a := range sc.Apps {
		p := fmt.Sprintf("apps[%d]", i)
		for _, id := range a.ids() {
			if !ValidAppID(id) {
				add("%s.id: %q is not a valid app id (absolute path of lowercase letters, digits, '-' and '.')", p, id)
			}
			if seen[id] {
				add("%s.id: %q appears twice", p, id)
			}
			seen[id] = true
			ids = append(ids, id)
		}
		if a.Instances < 0 {
			add("%s.instances: %d must be 0 or more", p, a.Instances)
		}
		if a.CPUs < 0 || a.Mem < 0 || a.Disk < 0 || a.GPUs < 0 {
			add("%s: cpus, mem, disk and gpus must be 0 or more", p)
		}
		if a.Count < 0 {
			add("%s.count: %d must be 0 or more", p, a.Count)
		}
		if a.Ports != nil && (*a.Ports < 0 || *a.Ports > 64) {
			add("%s.ports: %d must be between 0 and 64", p, *a.Ports)
		}
		dur(p+".start_delay", a.StartDelay)
		for j, c := range a.Constraints {
			if msg := validateConstraint(c); msg != "" {
				add("%s.constraints[%d]: %s", p, j, msg)
			}
		}
	}
	return ids
}

func (a AppSpec) ids() []string {
	id := NormalizeAppID(a.ID)
	if a.Count <= 1 {
		return []string{id}
	}
	out := make([]string, a.Count)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", id, i+1)
	}
	return out
}

func matchesAny(pattern string, ids []string) bool {
	for _, id := range ids {
		if appMatches(pattern, id) {
			return true
		}
	}
	return false
}

func appMatches(pattern, id string) bool {
	pattern = NormalizeAppID(pattern)
	if pattern == id {
		return true
	}
	ok, _ := path.Match(pattern, id)
	return ok
}

// bootstrap brings up the scenario's initial state: groups at their desired size with agents
// registered, static agents, and apps running; then schedules the workload and faults.
func (w *World) bootstrap(sc *Scenario) error {
	start := w.now
	for _, pl := range sc.Pools {
		for _, gs := range pl.Groups {
			g := &Group{
				Name: gs.Name, Pool: pl.Name, InstanceType: gs.InstanceType, Spot: gs.Spot,
				ARN:            fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", sc.Region, w.accountID, w.uuid(), gs.Name),
				LaunchTemplate: "marmot-" + pl.Name,
				Min:            gs.Min, Max: gs.Max, Desired: gs.Desired, DefaultCooldown: gs.Cooldown.D(),
				AZs: gs.Zones, NewInstancesProtected: gs.NewInstancesProtected, CreatedAt: start,
				HealthCheckType: "EC2", TerminationPolicies: []string{"Default"},
			}
			g.Tags = append(g.Tags, Tag{Key: "marmot:pool", Value: pl.Name, PropagateAtLaunch: true})
			keys := make([]string, 0, len(gs.Tags))
			for k := range gs.Tags {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				g.Tags = append(g.Tags, Tag{Key: k, Value: gs.Tags[k], PropagateAtLaunch: true})
			}
			w.groups[g.Name] = g
			w.groupList = append(w.groupList, g)
			for i := 0; i < gs.Desired; i++ {
				inst := w.launchInstance(g, "At "+start.UTC().Format("2006-01-02T15:04:05Z")+" the group was created.")
				inst.State, inst.Lifecycle = InstanceRunning, LifecycleInService
				inst.LaunchTime = start.Add(-time.Hour)
				g.activities[0].StatusCode, g.activities[0].Progress, g.activities[0].EndTime = "Successful", 100, start
				w.joinMesos(inst, w.types[g.InstanceType])
			}
		}
		for i := 0; i < pl.StaticAgents; i++ {
			it := w.types[pl.StaticType]
			ip := w.allocIP()
			hostname := ip
			if !w.network.Addr().IsLoopback() {
				hostname = "static-" + pl.Name + "-" + itoa(i) + ".cluster.internal"
			}
			role := pl.Role
			if role == "" {
				role = "*"
			}
			w.registerAgent(hostname, ip, pl.Name, agentAttributes(pl.Name, pl.Attributes, nil), role,
				Resources{CPUs: it.CPUs, Mem: it.MemMiB, Disk: it.DiskMiB, GPUs: it.GPUs}, []PortRange{{31000, 32000}}, "")
		}
	}
	// Drop the registration timers of the instances bootstrapped as already running.
	w.timeline = w.timeline[:0]
	for _, as := range sc.Apps {
		for _, id := range as.ids() {
			spec := *defaultApp(id)
			spec.Instances, spec.CPUs, spec.Mem, spec.Disk, spec.GPUs = as.Instances, as.CPUs, as.Mem, as.Disk, as.GPUs
			if as.Ports != nil {
				spec.Ports = *as.Ports
			}
			spec.StartDelay = sc.Timing.TaskStart.D()
			if as.StartDelay.Set() {
				spec.StartDelay = as.StartDelay.D()
			}
			spec.Constraints = cloneConstraints(as.Constraints)
			spec.Labels = cloneLabels(as.Labels)
			spec.AcceptedResourceRoles = as.AcceptedResourceRoles
			spec.RequestRate = as.RequestsPerSecond
			if as.HealthCheck != nil {
				spec.HealthChecks = []HealthCheck{{Protocol: "MARATHON_HTTP", Path: as.HealthCheck.Path, GracePeriodSeconds: 300, IntervalSeconds: 60, TimeoutSeconds: 20, MaxConsecutiveFailures: 3}}
			}
			app := w.addApp(spec)
			w.reconcileApp(app)
		}
	}
	w.place()
	// Tasks of the initial state are already running when the scenario starts.
	for _, app := range w.appList {
		for _, t := range slices.Clone(app.tasks) {
			w.advanceTask(t, TaskRunning)
		}
	}
	w.timeline = w.timeline[:0]
	w.scheduleWorkload(sc, start)
	for _, f := range sc.Faults {
		fault := f.Fault
		fault.Delay = f.Delay.D()
		w.at(start.Add(f.At.D()), func() { _ = w.injectFault(fault) })
	}
	return nil
}

func (w *World) matchingApps(pattern string) []*App {
	var out []*App
	for _, app := range w.appList {
		if appMatches(pattern, app.ID) {
			out = append(out, app)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// setInstances is how the workload scales an app: a forced PUT, as an operator's script would send. An
// app on its way out (DELETE in progress) is left alone, or the workload would resurrect it.
func (w *World) setInstances(app *App, n int) {
	if d := app.deployment; d != nil && d.deleteOnDone {
		return
	}
	if n != app.Instances {
		_, _, _ = w.updateApp(app.ID, AppUpdate{Instances: &n}, true, false)
	}
}

func (w *World) scheduleWorkload(sc *Scenario, start time.Time) {
	for _, wl := range sc.Workload {
		if wl.Diurnal != nil {
			w.scheduleDiurnal(*wl.Diurnal, start.Add(wl.At.D()))
			continue
		}
		w.at(start.Add(wl.At.D()), func() {
			for _, app := range w.matchingApps(wl.App) {
				if wl.RequestsPerSecond != nil {
					app.RequestRate = *wl.RequestsPerSecond
				}
				if wl.Instances != nil {
					w.setInstances(app, *wl.Instances)
				}
			}
		})
	}
}

// diurnalApp is one app a diurnal workload drives: its stable peak offset, the instance count the wave
// last asked for, and the cosine and sine of its phase at the last tick.
type diurnalApp struct {
	app      *App
	offset   time.Duration
	last     int
	cos, sin float64
}

// diurnalResync is how many ticks the wave is advanced by rotation before its phase is computed
// exactly again, so that rounding cannot accumulate (a day of one-minute ticks).
const diurnalResync = 1440

// scheduleDiurnal moves each matching app along a cosine wave peaking at the time of day d.Peak,
// shifted per app by a stable offset within ±d.Spread so that apps do not all peak at once.
//
// The wave writes an app's instance count only when the count it asks for changes. Someone else's
// change (the hibernator putting the app to sleep, an operator) therefore stands until the wave moves
// on; a flat wave (min_instances = max_instances) only ever drives the request rate.
//
// Cost: a month-long replay evaluates the wave for every app every minute. Ticks are exactly d.Every
// apart, so each app's phase advances by the same angle per tick: the tick rotates the app's
// (cos, sin) pair by that angle (four multiplications) instead of calling math.Cos, and recomputes the
// phase exactly when the app set changes, when a tick comes off schedule, and every diurnalResync ticks.
func (w *World) scheduleDiurnal(d DiurnalSpec, from time.Time) {
	var (
		apps     []diurnalApp
		gen      = ^uint64(0)
		lastTick time.Time
		ticks    int
	)
	period := d.Period.D()
	// Phases are measured from a peak at d.Peak after the Unix epoch (a UTC midnight), so a 24h wave
	// peaks at that time of day and any other period stays continuous across midnight.
	epochPeak := time.Unix(0, 0).Add(d.Peak.D())
	stepSin, stepCos := math.Sincos(2 * math.Pi * d.Every.D().Seconds() / period.Seconds())
	span := float64(d.MaxInstances - d.MinInstances)
	// The app set is re-matched only when apps come or go: matching every app id against the glob each
	// minute would cost more than the wave itself.
	refresh := func() {
		prev := make(map[*App]int, len(apps))
		for _, da := range apps {
			prev[da.app] = da.last
		}
		apps = apps[:0]
		for _, app := range w.matchingApps(d.Apps) {
			last, ok := prev[app]
			if !ok {
				last = -1
			}
			apps = append(apps, diurnalApp{app: app, offset: appOffset(app.ID, d.Spread.D()), last: last})
		}
		gen = w.appsChanged
	}
	var tick func()
	tick = func() {
		exact := gen != w.appsChanged || ticks%diurnalResync == 0 || !w.now.Equal(lastTick.Add(d.Every.D()))
		if gen != w.appsChanged {
			refresh()
		}
		base := w.now.Sub(epochPeak) % period
		for i := range apps {
			da := &apps[i]
			if exact {
				phase := (base + da.offset) % period
				da.sin, da.cos = math.Sincos(2 * math.Pi * phase.Seconds() / period.Seconds())
			} else {
				da.cos, da.sin = da.cos*stepCos-da.sin*stepSin, da.sin*stepCos+da.cos*stepSin
			}
			x := min(max(0.5+0.5*da.cos, 0), 1)
			n := d.MinInstances + int(x*span+0.5) // x*span ≥ 0: rounds half up, as math.Round does
			da.app.RequestRate = d.RPSMin + x*(d.RPSMax-d.RPSMin)
			if n != da.last {
				da.last = n
				w.setInstances(da.app, n)
			}
		}
		lastTick = w.now
		ticks++
		w.after(d.Every.D(), tick)
	}
	w.at(from, tick)
}

func appOffset(id string, spread time.Duration) time.Duration {
	if spread <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return time.Duration(int64(h.Sum64()%uint64(2*spread+1)) - int64(spread))
}
