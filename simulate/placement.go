package simulate

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Placement: Mesos offers each active agent's free resources to Marathon, Marathon matches them against
// the waiting instances, and what fits is launched. What does not fit stays in the queue, and the queue
// reports why each offer was declined, with Marathon's reason names and funnel order
// (NoOfferMatchReason.scala): only the first failing reason counts for an offer.

// Offer rejection reasons, in Marathon's funnel order.
const (
	ReasonUnfulfilledRole        = "UnfulfilledRole"
	ReasonUnfulfilledConstraint  = "UnfulfilledConstraint"
	ReasonNoReservation          = "NoCorrespondingReservationFound"
	ReasonAgentMaintenance       = "AgentMaintenance"
	ReasonInsufficientCpus       = "InsufficientCpus"
	ReasonInsufficientMemory     = "InsufficientMemory"
	ReasonInsufficientDisk       = "InsufficientDisk"
	ReasonInsufficientGpus       = "InsufficientGpus"
	ReasonInsufficientPorts      = "InsufficientPorts"
	ReasonDeclinedScarceResource = "DeclinedScarceResources"
)

// Reasons lists the offer rejection reasons in funnel order.
var Reasons = []string{
	ReasonUnfulfilledRole, ReasonUnfulfilledConstraint, ReasonNoReservation, ReasonAgentMaintenance,
	ReasonInsufficientCpus, ReasonInsufficientMemory, ReasonInsufficientDisk, ReasonInsufficientGpus,
	ReasonInsufficientPorts, ReasonDeclinedScarceResource,
}

// eps absorbs float drift: Mesos scalars have three decimals of fixed-point precision.
const eps = 1e-6

type placeKey struct {
	res   Resources
	ports int
	roles string
	app   string // set for apps with constraints, whose fit depends on their own tasks
}

func (w *World) placeKeyOf(app *App) placeKey {
	k := placeKey{res: app.PerInstance(), ports: app.Ports, roles: strings.Join(acceptedRoles(app), ",")}
	if len(app.Constraints) > 0 {
		k.app = app.ID
	}
	return k
}

func acceptedRoles(app *App) []string {
	if len(app.AcceptedResourceRoles) > 0 {
		return app.AcceptedResourceRoles
	}
	return []string{"*"}
}

// place launches waiting instances on agents with room. It must be called with the lock held.
func (w *World) place() {
	if !w.placeDirty {
		return
	}
	w.placeDirty = false
	var waiting []*App
	for _, app := range w.appList {
		if !app.queueSince.IsZero() {
			waiting = append(waiting, app)
		}
	}
	if len(waiting) == 0 || len(w.agentList) == 0 {
		return
	}
	sort.Slice(waiting, func(i, j int) bool {
		if !waiting[i].queueSince.Equal(waiting[j].queueSince) {
			return waiting[i].queueSince.Before(waiting[j].queueSince)
		}
		return waiting[i].ID < waiting[j].ID
	})
	for _, app := range waiting {
		if app.delayUntil.After(w.now) {
			w.at(app.delayUntil, func() { w.placeDirty = true })
			continue
		}
		key := w.placeKeyOf(app)
		if gen, ok := w.failedAt[key]; ok && gen == w.freedGeneration {
			continue // nothing was freed since this shape last failed to fit anywhere
		}
		for n := w.need(app); n > 0; n-- {
			cs := newConstraintState(app).bind(w)
			a, ports := w.findAgent(app, cs)
			if a == nil {
				w.failedAt[key] = w.freedGeneration
				break
			}
			w.launchTask(app, a, ports)
		}
		if w.need(app) == 0 {
			app.queueSince = time.Time{}
		}
	}
}

// findAgent scans the agents from a random start, as offers arrive in no particular order, and returns
// the first that fits.
func (w *World) findAgent(app *App, cs *constraintState) (*Agent, []uint64) {
	n := len(w.agentList)
	if n == 0 {
		return nil, nil
	}
	start := w.rng.Intn(n)
	need := app.PerInstance()
	for i := 0; i < n; i++ {
		a := w.agentList[(start+i)%n]
		if !a.Active {
			continue
		}
		free := a.Free()
		if free.CPUs+eps < need.CPUs || free.Mem+eps < need.Mem || free.Disk+eps < need.Disk || free.GPUs+eps < need.GPUs {
			continue
		}
		if reason := w.declineReason(app, a, cs); reason != "" {
			continue
		}
		return a, w.pickPorts(a, app.Ports)
	}
	return nil, nil
}

// declineReason returns the first funnel reason for which an offer of a's free resources does not fit
// one instance of app, or "" when it fits.
func (w *World) declineReason(app *App, a *Agent, cs *constraintState) string {
	if !roleAccepted(app, a.Role) {
		return ReasonUnfulfilledRole
	}
	if !cs.fits(a) {
		return ReasonUnfulfilledConstraint
	}
	if w.mode(a.Machine()) != ModeUp {
		return ReasonAgentMaintenance
	}
	free, need := a.Free(), app.PerInstance()
	switch {
	case free.CPUs+eps < need.CPUs:
		return ReasonInsufficientCpus
	case free.Mem+eps < need.Mem:
		return ReasonInsufficientMemory
	case free.Disk+eps < need.Disk:
		return ReasonInsufficientDisk
	case free.GPUs+eps < need.GPUs:
		return ReasonInsufficientGpus
	case freePorts(a) < app.Ports:
		return ReasonInsufficientPorts
	}
	return ""
}

func roleAccepted(app *App, role string) bool {
	if role == "" {
		role = "*"
	}
	for _, r := range acceptedRoles(app) {
		if r == role {
			return true
		}
	}
	return false
}

func freePorts(a *Agent) int {
	n := 0
	for _, r := range a.Ports {
		n += int(r.End - r.Begin + 1)
	}
	return n - len(a.usedPorts)
}

func (w *World) pickPorts(a *Agent, n int) []uint64 {
	var out []uint64
	for _, r := range a.Ports {
		for p := r.Begin; p <= r.End && len(out) < n; p++ {
			if !a.usedPorts[p] {
				out = append(out, p)
			}
		}
	}
	return out
}

// constraintState holds what Marathon's constraint checks need: how the app's tasks spread over the
// values of each constrained field.
type constraintState struct {
	w      *World
	app    *App
	counts map[string]map[string]int // field → value → tasks of the app
}

func newConstraintState(app *App) *constraintState {
	if len(app.Constraints) == 0 {
		return nil
	}
	cs := &constraintState{app: app, counts: map[string]map[string]int{}}
	for _, c := range app.Constraints {
		cs.counts[c[0]] = map[string]int{}
	}
	return cs
}

func (cs *constraintState) bind(w *World) *constraintState {
	if cs != nil && cs.w == nil {
		cs.w = w
		for _, t := range cs.app.tasks {
			if t.State == TaskKilling {
				continue
			}
			a, ok := w.agents[t.AgentID]
			if !ok {
				continue
			}
			for field := range cs.counts {
				if v, ok := fieldValue(a, field); ok {
					cs.counts[field][v]++
				}
			}
		}
	}
	return cs
}

func fieldValue(a *Agent, field string) (string, bool) {
	if field == "hostname" {
		return a.Hostname, true
	}
	for _, at := range a.Attributes {
		if at.Name == field {
			return at.Value(), true
		}
	}
	return "", false
}

// fullMatch reports whether s matches a LIKE/UNLIKE pattern as a whole, as Marathon's constraints do.
// Compiled patterns are kept per world (under its lock), never in a package variable that two worlds
// would share.
func (w *World) fullMatch(pattern, s string) bool {
	re, ok := w.regexps[pattern]
	if !ok {
		var err error
		re, err = regexp.Compile("^(?:" + pattern + ")$")
		if err != nil {
			return false
		}
		w.regexps[pattern] = re
	}
	return re.MatchString(s)
}

func (cs *constraintState) fits(a *Agent) bool {
	if cs == nil {
		return true
	}
	for _, c := range cs.app.Constraints {
		field, op := c[0], strings.ToUpper(c[1])
		arg := ""
		if len(c) > 2 {
			arg = c[2]
		}
		v, has := fieldValue(a, field)
		counts := cs.counts[field]
		switch op {
		case "UNIQUE":
			if !has || counts[v] > 0 {
				return false
			}
		case "CLUSTER", "IS":
			if !has {
				return false
			}
			if arg != "" && v != arg {
				return false
			}
			if arg == "" && len(counts) > 0 && counts[v] == 0 {
				return false
			}
		case "LIKE":
			if !has || !cs.w.fullMatch(arg, v) {
				return false
			}
		case "UNLIKE":
			if has && cs.w.fullMatch(arg, v) {
				return false
			}
		case "MAX_PER":
			limit, _ := strconv.Atoi(arg)
			if !has || counts[v] >= limit {
				return false
			}
		case "GROUP_BY":
			if !has || !groupByFits(v, arg, counts) {
				return false
			}
		}
	}
	return true
}

// groupByFits is Marathon's GROUP_BY check (Constraints.checkGroupBy): an offer whose value holds none
// of the app's tasks yet always fits; otherwise there must be at least the asked number of groups
// already, and the offer's group must be one of the smallest. Without a number, nothing forces new
// groups, so tasks may pile up on the first value: Marathon users pass the number of groups for an
// even spread.
func groupByFits(v, arg string, counts map[string]int) bool {
	n := counts[v]
	if n == 0 {
		return true
	}
	groups, smallest := 0, -1
	for _, c := range counts {
		if c > 0 {
			groups++
			if smallest < 0 || c < smallest {
				smallest = c
			}
		}
	}
	minimum, _ := strconv.Atoi(arg)
	return groups >= minimum && n == smallest
}

// validateConstraint returns what is wrong with a constraint, or "".
func validateConstraint(c []string) string {
	if len(c) < 2 || len(c) > 3 {
		return "Each constraint must have either 2 or 3 fields"
	}
	switch strings.ToUpper(c[1]) {
	case "UNIQUE":
		return ""
	case "CLUSTER", "IS":
		if strings.ToUpper(c[1]) == "IS" && len(c) != 3 {
			return "IS requires a value"
		}
		return ""
	case "GROUP_BY":
		if len(c) == 3 {
			if n, err := strconv.Atoi(c[2]); err != nil || n < 0 {
				return "GROUP_BY takes an optional number of groups"
			}
		}
		return ""
	case "LIKE", "UNLIKE":
		if len(c) != 3 {
			return c[1] + " requires a regular expression"
		}
		if _, err := regexp.Compile(c[2]); err != nil {
			return "'" + c[2] + "' is not a valid regular expression"
		}
		return ""
	case "MAX_PER":
		if len(c) != 3 {
			return "MAX_PER requires a number"
		}
		if n, err := strconv.Atoi(c[2]); err != nil || n < 1 {
			return "MAX_PER requires a positive number"
		}
		return ""
	}
	return "Constraint operator must be one of the following: UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS"
}

// QueueEntry is one app waiting in Marathon's launch queue.
type QueueEntry struct {
	App   *App
	Count int // instances still to launch
	Since time.Time
	// DelayLeft is the launch backoff left; zero with Overdue true means the app waits for offers.
	DelayLeft time.Duration
	Overdue   bool
	Summary   OfferSummary
}

// OfferSummary is Marathon's processedOffersSummary for the last round of offers.
type OfferSummary struct {
	Processed      int
	Unused         int
	LastUnusedAt   time.Time
	LastUsedAt     time.Time
	Reasons        []ReasonCount
	LastUnusedFrom []UnusedOffer
}

// ReasonCount is one row of rejectSummaryLastOffers: how many offers reached this step of the funnel
// (Processed) and how many were declined first for it (Declined).
type ReasonCount struct {
	Reason    string
	Declined  int
	Processed int
}

// UnusedOffer is one declined offer (lastUnusedOffers).
type UnusedOffer struct {
	AgentID  string
	Hostname string
	Free     Resources
	Reasons  []string
}

func (w *World) queue() []QueueEntry {
	var out []QueueEntry
	for _, app := range w.appList {
		n := w.need(app)
		if n == 0 {
			continue
		}
		e := QueueEntry{App: app, Count: n, Since: app.queueSince, Overdue: true}
		if e.Since.IsZero() {
			e.Since = w.now
		}
		if app.delayUntil.After(w.now) {
			e.DelayLeft, e.Overdue = app.delayUntil.Sub(w.now), false
		}
		e.Summary = w.offerSummary(app)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].App.ID < out[j].App.ID })
	return out
}

// offerSummary evaluates one offer per active agent against the app, through the funnel.
func (w *World) offerSummary(app *App) OfferSummary {
	cs := newConstraintState(app).bind(w)
	declined := map[string]int{}
	s := OfferSummary{}
	for _, a := range w.agentList {
		if !a.Active {
			continue
		}
		s.Processed++
		reason := w.declineReason(app, a, cs)
		if reason == "" {
			s.LastUsedAt = w.now
			continue
		}
		s.Unused++
		s.LastUnusedAt = w.now
		declined[reason]++
		if len(s.LastUnusedFrom) < 10 {
			s.LastUnusedFrom = append(s.LastUnusedFrom, UnusedOffer{AgentID: a.ID, Hostname: a.Hostname, Free: a.Free(), Reasons: []string{reason}})
		}
	}
	remaining := s.Processed
	for _, r := range Reasons {
		s.Reasons = append(s.Reasons, ReasonCount{Reason: r, Declined: declined[r], Processed: remaining})
		remaining -= declined[r]
	}
	return s
}
