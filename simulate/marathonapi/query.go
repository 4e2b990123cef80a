package marathonapi

import (
	"net/url"
	"strings"

	"github.com/marmot-project/marmot/simulate"
)

// query reads query parameters the way Marathon's JAX-RS resources bind them.
type query url.Values

// flag is a boolean parameter. JAX-RS binds a Boolean with Boolean.valueOf, so "true" in any case is
// true and anything else, "yes" and "1" included, is false; only an absent parameter takes the
// resource's @DefaultValue.
func (q query) flag(name string, def bool) bool {
	vs, ok := q[name]
	if !ok || len(vs) == 0 {
		return def
	}
	return strings.EqualFold(vs[0], "true")
}

// str is a single-valued parameter: the first value.
func (q query) str(name string) (string, bool) {
	vs, ok := q[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// set is a multi-valued parameter bound to java.util.Set[String]: embed=a&embed=b. Commas do not split.
func (q query) set(name string) map[string]bool {
	out := map[string]bool{}
	for _, v := range q[name] {
		out[v] = true
	}
	return out
}

// appEmbed reads `embed` for the app endpoints. Marathon's InfoEmbedResolver takes both the "app." and
// the "apps." prefix on both endpoints; apps.failures is the deprecated shorthand for lastTaskFailure,
// tasks, counts and deployments.
func (q query) appEmbed() embed {
	var e embed
	for v := range q.set("embed") {
		name, ok := strings.CutPrefix(v, "apps.")
		if !ok {
			name, ok = strings.CutPrefix(v, "app.")
		}
		if !ok {
			continue
		}
		switch name {
		case "tasks":
			e.tasks = true
		case "lastTaskFailure":
			e.lastTaskFailure = true
		case "failures":
			e.tasks, e.lastTaskFailure = true, true
		case "readiness":
			e.readiness = true
		case "taskStats":
			e.taskStats = true
		}
	}
	return e
}

// taskStates reads the `status` (and `status[]`) filter of GET /v2/tasks. ok is false when there is
// no filter. Unknown names match nothing, as in Marathon.
func (q query) taskStates() (states map[simulate.TaskState]bool, ok bool) {
	names := append(append([]string(nil), q["status"]...), q["status[]"]...)
	if len(names) == 0 {
		return nil, false
	}
	states = map[simulate.TaskState]bool{}
	for _, n := range names {
		switch strings.ToLower(n) {
		case "staging":
			states[simulate.TaskStaging] = true
		case "starting":
			states[simulate.TaskStarting] = true
		case "running":
			states[simulate.TaskRunning] = true
		case "killing":
			states[simulate.TaskKilling] = true
		}
	}
	return states, true
}
