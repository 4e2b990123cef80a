package whatif

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/marmot-project/marmot/cost"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
)

// The shape of an app made from a trace function: "Serverless in the Wild" finds that half the apps
// allocate at most 170 MB and 90% never exceed 400 MB; a quarter cpu is Marathon's smallest common
// share.
const (
	traceAppCPUs = 0.25
	traceAppMem  = 256
)

// study is a Config made ready to replay: the scenario with the trace's apps added, the apps that opt
// in to hibernation, and the notes the report carries about what was assumed.
type study struct {
	cfg        Config
	scenario   *simulate.Scenario
	candidates map[string]bool
	functions  map[string]*Function // by app id
	notes      []string
}

var vhostLabel = regexp.MustCompile(`^HAPROXY_[0-9]{1,3}_VHOST$`)

func prepare(cfg Config) (*study, error) {
	s := &study{cfg: cfg, candidates: map[string]bool{}, functions: map[string]*Function{}}
	sc := *cfg.Scenario
	sc.Apps = make([]simulate.AppSpec, 0, len(cfg.Scenario.Apps))
	for _, a := range cfg.Scenario.Apps {
		a.Labels = maps.Clone(a.Labels)
		sc.Apps = append(sc.Apps, a)
	}
	if cfg.Trace != nil {
		pool, err := tracePool(&sc)
		if err != nil {
			return nil, err
		}
		for i := range cfg.Trace.Functions {
			f := &cfg.Trace.Functions[i]
			sc.Apps = append(sc.Apps, traceApp(f, pool))
			s.functions[f.App] = f
		}
		s.notes = append(s.notes, fmt.Sprintf("%d trace functions replayed as apps /trace/fn-… (%g cpu, %d MiB, one instance, opted in to hibernation, in pool %s); the trace's %d minutes repeat",
			len(cfg.Trace.Functions), float64(traceAppCPUs), traceAppMem, pool, cfg.Trace.Minutes))
	}
	synthetic := 0
	for i := range sc.Apps {
		a := &sc.Apps[i]
		if a.Labels[policy.LabelHibernate] != "true" {
			continue
		}
		for _, id := range appIDs(*a) {
			s.candidates[id] = true
		}
		if !hasHost(a.Labels) {
			// The replay's activator wakes apps by id; a real one needs a host name to route by.
			a.Labels[policy.LabelHibernateHosts] = hostFor(a.ID)
			synthetic++
		}
	}
	if synthetic > 0 {
		s.notes = append(s.notes, fmt.Sprintf("%d opted-in app definitions had no host name (HAPROXY_n_VHOST or %s); the replay gave them one so that the planner does not skip them", synthetic, policy.LabelHibernateHosts))
	}
	if err := checkSeries(cfg.Instances, &sc); err != nil {
		return nil, err
	}
	if errs := sc.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("whatif: the scenario with the trace's apps: %w", errs)
	}
	s.scenario = &sc
	return s, nil
}

// tracePool is the pool trace apps run in: default if the scenario has it, else its first pool.
func tracePool(sc *simulate.Scenario) (string, error) {
	for _, p := range sc.Pools {
		if p.Name == "default" {
			return p.Name, nil
		}
	}
	if len(sc.Pools) == 0 {
		return "", errors.New("whatif: the scenario has no pool for the trace's apps")
	}
	return sc.Pools[0].Name, nil
}

func traceApp(f *Function, pool string) simulate.AppSpec {
	team := "trace"
	if len(f.Owner) >= 8 {
		team = "owner-" + strings.ToLower(f.Owner[:8])
	}
	return simulate.AppSpec{
		ID: f.App, Instances: 1, CPUs: traceAppCPUs, Mem: traceAppMem,
		Constraints: [][]string{{"pool", "CLUSTER", pool}},
		Labels: map[string]string{
			cost.DefaultTeamLabel: team, policy.LabelHibernate: "true", policy.LabelHibernateHosts: hostFor(f.App),
		},
	}
}

// appIDs lists the apps an app spec makes (count > 1 makes <id>-1 … <id>-N).
func appIDs(a simulate.AppSpec) []string {
	id := simulate.NormalizeAppID(a.ID)
	if a.Count <= 1 {
		return []string{id}
	}
	out := make([]string, a.Count)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", id, i+1)
	}
	return out
}

func hasHost(labels map[string]string) bool {
	if labels[policy.LabelHibernateHosts] != "" || labels[policy.LabelHibernateGroup] != "" {
		return true
	}
	for k := range labels {
		if vhostLabel.MatchString(k) {
			return true
		}
	}
	return false
}

// hostFor makes a host name from an app id: /tools/dash becomes tools-dash.whatif.internal.
func hostFor(id string) string {
	name := strings.NewReplacer("/", "-", ".", "-").Replace(strings.Trim(id, "/"))
	if len(name) > 63 {
		name = strings.Trim(name[len(name)-63:], "-")
	}
	return name + ".whatif.internal"
}

// checkSeries checks that every app an instance series names exists.
func checkSeries(points []InstancePoint, sc *simulate.Scenario) error {
	known := map[string]bool{}
	for _, a := range sc.Apps {
		for _, id := range appIDs(a) {
			known[id] = true
		}
	}
	var errs []error
	for _, p := range points {
		if !known[p.App] {
			errs = append(errs, fmt.Errorf("line %d: app %s is not in the scenario or the trace", p.Line, p.App))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("instances: %w", errors.Join(errs...))
	}
	return nil
}
