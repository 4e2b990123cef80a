package mesos

import (
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// Conversions from mesos-go's protobuf types to ours. Everything here reads outside input, so nothing
// may assume a field is set: use the generated getters, which are nil-safe.

func agentFromProto(a *master.Response_GetAgents_Agent) Agent {
	info := a.GetAgentInfo()
	ip, pidPort := addressFromPID(a.GetPID())
	out := Agent{
		ID:           info.GetID().GetValue(),
		Hostname:     info.GetHostname(),
		IP:           ip,
		Port:         pidPort,
		Attributes:   attributesFromProto(info.GetAttributes()),
		Total:        resourcesFromProto(a.GetTotalResources()),
		Allocated:    resourcesFromProto(a.GetAllocatedResources()),
		Active:       a.GetActive(),
		Deactivated:  a.GetDeactivated(),
		Drain:        drainFromProto(a.GetDrainInfo()),
		RegisteredAt: timeFromProto(a.GetRegisteredTime()),
		Version:      a.GetVersion(),
		Capabilities: capabilitiesFromProto(a.GetCapabilities()),
	}
	if p := info.GetPort(); info.Port != nil && p > 0 && p <= 65535 {
		out.Port = int(p)
	}
	out.Pool = out.Attributes[PoolAttribute]
	if out.Pool == "" {
		out.Pool = DefaultPool
	}
	return out
}

func agentsFromProto(r *master.Response_GetAgents) []Agent {
	in := r.GetAgents()
	out := make([]Agent, 0, len(in))
	for i := range in {
		out = append(out, agentFromProto(&in[i]))
	}
	return out
}

// addressFromPID splits a libprocess pid, "slave(1)@10.0.0.5:5051", into its IP and port. Anything
// that is not of that shape gives "" and 0.
func addressFromPID(pid string) (string, int) {
	at := strings.LastIndexByte(pid, '@')
	if at < 0 {
		return "", 0
	}
	host, port, err := net.SplitHostPort(pid[at+1:])
	if err != nil || net.ParseIP(host) == nil {
		return "", 0
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return host, 0
	}
	return host, int(p)
}

func attributesFromProto(attrs []mesoslib.Attribute) map[string]string {
	out := make(map[string]string, len(attrs))
	for i := range attrs {
		out[attrs[i].GetName()] = attributeValue(&attrs[i])
	}
	return out
}

// attributeValue formats an attribute's value as the v0 endpoints print it. The type decides, not
// which value happens to be set, because `--attributes=pool:1` makes a SCALAR (wire-facts §1.4).
func attributeValue(a *mesoslib.Attribute) string {
	switch a.GetType() {
	case mesoslib.SCALAR:
		return formatScalar(a.GetScalar().GetValue())
	case mesoslib.RANGES:
		return formatRanges(a.GetRanges())
	case mesoslib.SET:
		return "{" + strings.Join(a.GetSet().GetItem(), ",") + "}"
	default:
		return a.GetText().GetValue()
	}
}

// formatScalar prints a scalar with Mesos' precision (fixed point, three decimals) and no trailing
// zeros: 1 → "1", 2.5 → "2.5".
func formatScalar(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

func formatRanges(r *mesoslib.Value_Ranges) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range r.GetRange() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(x.GetBegin(), 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(x.GetEnd(), 10))
	}
	b.WriteByte(']')
	return b.String()
}

// resourcesFromProto sums the scalar resources Marmot plans with. A resource may appear several times
// (one entry per role or reservation), so entries are added up rather than keyed on role (wire-facts
// §1.4). Revocable resources are left out, as the master's own *_used metrics leave them out.
func resourcesFromProto(rs []mesoslib.Resource) Resources {
	var out Resources
	for i := range rs {
		r := &rs[i]
		if r.Revocable != nil || r.GetType() != mesoslib.SCALAR {
			continue
		}
		v := r.GetScalar().GetValue()
		switch r.GetName() {
		case "cpus":
			out.CPUs += v
		case "mem":
			out.Mem += v
		case "disk":
			out.Disk += v
		case "gpus":
			out.GPUs += v
		}
	}
	return out
}

func drainFromProto(d *mesoslib.DrainInfo) *Drain {
	if d == nil {
		return nil
	}
	cfg := d.GetConfig()
	out := &Drain{State: DrainState(d.GetState().String()), MarkGone: cfg.GetMarkGone()}
	if g := cfg.GetMaxGracePeriod(); g != nil {
		p := time.Duration(g.GetNanoseconds())
		out.MaxGracePeriod = &p
	}
	return out
}

func capabilitiesFromProto(cs []mesoslib.AgentInfo_Capability) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.GetType().String())
	}
	return out
}

func timeFromProto(t *mesoslib.TimeInfo) time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Unix(0, t.GetNanoseconds()).UTC()
}

func taskFromProto(t *mesoslib.Task) Task {
	return Task{
		ID:          t.TaskID.Value,
		Name:        t.GetName(),
		FrameworkID: t.FrameworkID.Value,
		AgentID:     t.AgentID.Value,
		State:       taskStateName(t.State),
		Resources:   resourcesFromProto(t.GetResources()),
		Labels:      labelsFromProto(t.GetLabels()),
	}
}

func taskStateName(s *mesoslib.TaskState) string {
	if s == nil {
		return ""
	}
	return s.String()
}

func labelsFromProto(l *mesoslib.Labels) map[string]string {
	ls := l.GetLabels()
	if len(ls) == 0 {
		return nil
	}
	out := make(map[string]string, len(ls))
	for _, x := range ls {
		out[x.GetKey()] = x.GetValue()
	}
	return out
}

// tasksFromProto returns the live tasks: running ones and those on unreachable agents.
func tasksFromProto(r *master.Response_GetTasks) []Task {
	out := make([]Task, 0, len(r.GetTasks())+len(r.GetUnreachableTasks()))
	for _, list := range [][]mesoslib.Task{r.GetTasks(), r.GetUnreachableTasks()} {
		for i := range list {
			out = append(out, taskFromProto(&list[i]))
		}
	}
	return out
}

func frameworksFromProto(r *master.Response_GetFrameworks) []Framework {
	in := r.GetFrameworks()
	out := make([]Framework, 0, len(in))
	for i := range in {
		f := &in[i]
		info := f.GetFrameworkInfo()
		roles := info.GetRoles()
		if len(roles) == 0 && info.Role != nil {
			roles = []string{info.GetRole()}
		}
		out = append(out, Framework{
			ID:        info.GetID().GetValue(),
			Name:      info.GetName(),
			Roles:     roles,
			Active:    f.GetActive(),
			Connected: f.GetConnected(),
		})
	}
	return out
}

func stateFromProto(s *master.Response_GetState) *State {
	return &State{
		Agents:     agentsFromProto(s.GetGetAgents()),
		Tasks:      tasksFromProto(s.GetGetTasks()),
		Frameworks: frameworksFromProto(s.GetGetFrameworks()),
	}
}

func machineFromProto(m mesoslib.MachineID) MachineID {
	return MachineID{Hostname: m.GetHostname(), IP: m.GetIP()}
}

func machinesFromProto(ms []mesoslib.MachineID) []MachineID {
	out := make([]MachineID, 0, len(ms))
	for _, m := range ms {
		out = append(out, machineFromProto(m))
	}
	return out
}

// machineToProto leaves an empty field unset: the master requires at least one of the two and
// rejects an empty IP as invalid (wire-facts §1.5).
func machineToProto(m MachineID) mesoslib.MachineID {
	var out mesoslib.MachineID
	if m.Hostname != "" {
		h := m.Hostname
		out.Hostname = &h
	}
	if m.IP != "" {
		ip := m.IP
		out.IP = &ip
	}
	return out
}

func machinesToProto(ms []MachineID) []mesoslib.MachineID {
	out := make([]mesoslib.MachineID, 0, len(ms))
	for _, m := range ms {
		out = append(out, machineToProto(m))
	}
	return out
}

func windowsFromProto(s *maintenance.Schedule) []Window {
	in := s.GetWindows()
	out := make([]Window, 0, len(in))
	for i := range in {
		u := in[i].GetUnavailability()
		w := Window{Machines: machinesFromProto(in[i].GetMachineIDs()), Start: timeFromProto(&u.Start), Duration: -1}
		if u.Duration != nil {
			w.Duration = time.Duration(u.Duration.GetNanoseconds())
		}
		out = append(out, w)
	}
	return out
}

func windowsToProto(ws []Window) maintenance.Schedule {
	out := maintenance.Schedule{Windows: make([]maintenance.Window, 0, len(ws))}
	for _, w := range ws {
		u := mesoslib.Unavailability{Start: mesoslib.TimeInfo{Nanoseconds: w.Start.UnixNano()}}
		if w.Duration >= 0 {
			u.Duration = &mesoslib.DurationInfo{Nanoseconds: w.Duration.Nanoseconds()}
		}
		out.Windows = append(out.Windows, maintenance.Window{MachineIDs: machinesToProto(w.Machines), Unavailability: u})
	}
	return out
}

func maintenanceStatusFromProto(s *maintenance.ClusterStatus) MaintenanceStatus {
	out := MaintenanceStatus{Down: machinesFromProto(s.GetDownMachines())}
	for _, d := range s.GetDrainingMachines() {
		dm := DrainingMachine{Machine: machineFromProto(d.GetID())}
		for _, st := range d.GetStatuses() {
			dm.Statuses = append(dm.Statuses, InverseOfferStatus{
				FrameworkID: st.FrameworkID.Value,
				Status:      st.GetStatus().String(),
				At:          timeFromProto(&st.Timestamp),
			})
		}
		out.Draining = append(out.Draining, dm)
	}
	return out
}
