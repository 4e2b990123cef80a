package mesosapi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/types"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"

	"github.com/marmot-project/marmot/simulate"
)

var codecsUnderTest = []struct {
	name  string
	codec encoding.Codec
}{{"json", jsonCodec}, {"protobuf", protoCodec}}

// TestReadCalls sends every GET_* call with mesos-go, in both of its codecs, and checks that the
// decoded replies describe the model.
func TestReadCalls(t *testing.T) {
	for _, cc := range codecsUnderTest {
		t.Run(cc.name, func(t *testing.T) {
			c := newCluster(t)
			var model struct {
				agents, tasks int
				cpusUsed      float64
				version       string
				labels        map[string]string
			}
			model.agents, model.tasks, model.cpusUsed = c.size()
			c.world.View(func(v *simulate.View) {
				model.version = v.MesosVersion()
				app, _ := v.App("/web/frontend")
				model.labels = app.Labels
			})

			agents := c.get(cc.codec, calls.GetAgents()).GetGetAgents().Agents
			if len(agents) != model.agents {
				t.Fatalf("GET_AGENTS: %d agents, want %d", len(agents), model.agents)
			}
			checkAgent(t, agents[0], model.version)
			allocated := 0.0
			for _, a := range agents {
				allocated += scalar(a.AllocatedResources, "cpus")
			}
			if allocated != model.cpusUsed {
				t.Errorf("GET_AGENTS: %v cpus allocated, want %v (what the tasks hold)", allocated, model.cpusUsed)
			}

			tasks := c.get(cc.codec, calls.GetTasks()).GetGetTasks().Tasks
			if len(tasks) != model.tasks {
				t.Fatalf("GET_TASKS: %d tasks, want %d", len(tasks), model.tasks)
			}
			checkFrontendTask(t, tasks, model.labels)

			state := c.get(cc.codec, calls.GetState()).GetGetState()
			if n := len(state.GetGetAgents().Agents); n != model.agents {
				t.Errorf("GET_STATE: %d agents, want %d", n, model.agents)
			}
			if n := len(state.GetGetTasks().Tasks); n != model.tasks {
				t.Errorf("GET_STATE: %d tasks, want %d", n, model.tasks)
			}

			fws := c.get(cc.codec, calls.GetFrameworks()).GetGetFrameworks().Frameworks
			if len(fws) != 1 || fws[0].FrameworkInfo.Name != "marathon" || !fws[0].Active {
				t.Errorf("GET_FRAMEWORKS: %+v", fws)
			}
			if fws[0].FrameworkInfo.GetID().Value != tasks[0].FrameworkID.Value {
				t.Errorf("framework id %q, tasks say %q", fws[0].FrameworkInfo.GetID().Value, tasks[0].FrameworkID.Value)
			}

			checkMetrics(t, c.get(cc.codec, calls.GetMetrics(nil)).GetGetMetrics().Metrics, map[string]float64{
				"master/elected": 1, "master/slaves_active": float64(model.agents), "master/cpus_total": float64(model.agents) * 4,
				"master/tasks_running": float64(model.tasks), "master/cpus_used": model.cpusUsed,
			})

			if v := c.get(cc.codec, calls.GetVersion()).GetGetVersion().VersionInfo.Version; v != model.version {
				t.Errorf("GET_VERSION: %q, want %q", v, model.version)
			}
			if !c.get(cc.codec, calls.GetHealth()).GetGetHealth().Healthy {
				t.Error("GET_HEALTH: not healthy")
			}
			mi := c.get(cc.codec, calls.GetMaster()).GetGetMaster().GetMasterInfo()
			if want := "master@" + c.addrs[0]; mi.GetPID() != want || mi.GetAddress().GetIP() != "127.0.0.1" {
				t.Errorf("GET_MASTER: pid %q address %+v, want %s", mi.GetPID(), mi.GetAddress(), want)
			}
			if mi.IP != 16777343 { // 127.0.0.1, bytes in network order read little-endian
				t.Errorf("GET_MASTER: ip %d", mi.IP)
			}
			if n := len(c.get(cc.codec, calls.GetExecutors()).GetGetExecutors().Executors); n != 0 {
				t.Errorf("GET_EXECUTORS: %d executors, want none (command tasks)", n)
			}
			if n := len(c.get(cc.codec, calls.GetFlags()).GetGetFlags().Flags); n == 0 {
				t.Error("GET_FLAGS: no flags")
			}
			if s := c.get(cc.codec, calls.GetMaintenanceSchedule()).GetGetMaintenanceSchedule().Schedule; len(s.Windows) != 0 {
				t.Errorf("GET_MAINTENANCE_SCHEDULE: %+v, want empty", s)
			}
			st := c.get(cc.codec, calls.GetMaintenanceStatus()).GetGetMaintenanceStatus().Status
			if len(st.DrainingMachines)+len(st.DownMachines) != 0 {
				t.Errorf("GET_MAINTENANCE_STATUS: %+v, want empty", st)
			}
		})
	}
}

func checkAgent(t *testing.T, a master.Response_GetAgents_Agent, version string) {
	t.Helper()
	if !a.Active || a.GetDeactivated() || a.Version != version || !strings.HasPrefix(a.GetPID(), "slave(1)@10.") {
		t.Errorf("agent: active %v deactivated %v version %q pid %q", a.Active, a.GetDeactivated(), a.Version, a.GetPID())
	}
	if a.RegisteredTime == nil || a.RegisteredTime.Nanoseconds == 0 {
		t.Error("agent: no registered_time")
	}
	if cpus := scalar(a.TotalResources, "cpus"); cpus != 4 {
		t.Errorf("agent: cpus %v, want 4 (m5.xlarge)", cpus)
	}
	if ports := ranges(a.TotalResources, "ports"); len(ports) != 1 || ports[0].Begin != 31000 || ports[0].End != 32000 {
		t.Errorf("agent: ports %v", ports)
	}
	attrs := map[string]string{}
	for _, at := range a.AgentInfo.Attributes {
		switch at.GetType() {
		case mesos.TEXT:
			attrs[at.Name] = at.GetText().Value
		default:
			t.Errorf("agent: attribute %s is %v", at.Name, at.GetType())
		}
	}
	if attrs["pool"] != "default" || attrs["rack"] != "r1" {
		t.Errorf("agent: attributes %v", attrs)
	}
	caps := map[string]bool{}
	for _, c := range a.Capabilities {
		caps[c.Type.String()] = true
	}
	if !caps["AGENT_DRAINING"] {
		t.Errorf("agent: capabilities %v lack AGENT_DRAINING", caps)
	}
}

func checkFrontendTask(t *testing.T, tasks []mesos.Task, labels map[string]string) {
	t.Helper()
	for _, task := range tasks {
		if task.Name != "frontend.web" {
			continue
		}
		if task.GetState() != mesos.TASK_RUNNING || len(task.Statuses) == 0 {
			t.Fatalf("frontend task: state %v, %d statuses", task.GetState(), len(task.Statuses))
		}
		last := task.Statuses[len(task.Statuses)-1]
		if last.GetSource() != mesos.SOURCE_EXECUTOR || last.AgentID.Value != task.AgentID.Value || last.GetTimestamp() == 0 {
			t.Errorf("frontend task: last status %+v", last)
		}
		if ip := last.GetContainerStatus().NetworkInfos[0].IPAddresses[0].GetIPAddress(); !strings.HasPrefix(ip, "10.") {
			t.Errorf("frontend task: ip %q", ip)
		}
		got := map[string]string{}
		for _, l := range task.GetLabels().Labels {
			got[l.Key] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				t.Errorf("frontend task: label %s=%q, want %q", k, got[k], v)
			}
		}
		if cpus := scalar(task.Resources, "cpus"); cpus != 0.5 {
			t.Errorf("frontend task: cpus %v, want 0.5", cpus)
		}
		if ports := ranges(task.Resources, "ports"); len(ports) != 1 {
			t.Errorf("frontend task: ports %v, want one", ports)
		}
		return
	}
	t.Fatal("no task named frontend.web")
}

func checkMetrics(t *testing.T, metrics []mesos.Metric, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	for _, m := range metrics {
		got[m.Name] = m.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("GET_METRICS %s = %v, want %v", k, got[k], v)
		}
	}
}

// TestMaintenanceFlow takes a machine UP → DRAINING → DOWN → UP with mesos-go: it is scheduled,
// brought down (its agent is removed, its tasks are LOST and Marathon replaces them elsewhere) and
// brought back up.
func TestMaintenanceFlow(t *testing.T) {
	c := newCluster(t)
	victim := c.busiestAgent()
	victimID := victim.AgentInfo.GetID().Value
	machine := machineOf(victim)
	before := map[string]bool{}
	for _, task := range c.tasks().Tasks {
		if task.AgentID.Value == victimID {
			before[task.TaskID.Value] = true
		}
	}

	start := c.world.Now()
	c.mustDo(calls.UpdateMaintenanceSchedule(maintenance.Schedule{Windows: []maintenance.Window{{
		MachineIDs:     []mesos.MachineID{machine},
		Unavailability: mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: start.UnixNano()}, Duration: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)}},
	}}}))
	status := c.get(jsonCodec, calls.GetMaintenanceStatus()).GetGetMaintenanceStatus().Status
	if len(status.DrainingMachines) != 1 || status.DrainingMachines[0].ID.GetIP() != machine.GetIP() {
		t.Fatalf("after scheduling: status %+v, want %v draining", status, machine)
	}
	sched := c.get(jsonCodec, calls.GetMaintenanceSchedule()).GetGetMaintenanceSchedule().Schedule
	if len(sched.Windows) != 1 || sched.Windows[0].Unavailability.Duration.GetNanoseconds() != int64(time.Hour) {
		t.Fatalf("schedule %+v", sched)
	}
	if a, _ := c.agentByID(victimID); a.EstimatedDrainStartTime.GetNanoseconds() != start.UnixNano() {
		t.Errorf("estimated_drain_start_time %v, want the window start", a.EstimatedDrainStartTime)
	}

	c.mustDo(calls.StartMaintenance(machine))
	if _, ok := c.agentByID(victimID); ok {
		t.Fatal("agent still registered after START_MAINTENANCE")
	}
	lost := 0
	for _, task := range c.tasks().CompletedTasks {
		if before[task.TaskID.Value] && task.GetState() == mesos.TASK_LOST {
			lost++
		}
	}
	if lost != len(before) {
		t.Errorf("%d of the agent's %d tasks are LOST", lost, len(before))
	}
	status = c.get(jsonCodec, calls.GetMaintenanceStatus()).GetGetMaintenanceStatus().Status
	if len(status.DownMachines) != 1 || len(status.DrainingMachines) != 0 {
		t.Errorf("after START_MAINTENANCE: status %+v, want the machine down", status)
	}

	c.advance(30 * time.Second)
	checkAllRunningElsewhere(t, c, victimID)

	c.mustDo(calls.StopMaintenance(machine))
	status = c.get(jsonCodec, calls.GetMaintenanceStatus()).GetGetMaintenanceStatus().Status
	sched = c.get(jsonCodec, calls.GetMaintenanceSchedule()).GetGetMaintenanceSchedule().Schedule
	if len(status.DownMachines)+len(status.DrainingMachines)+len(sched.Windows) != 0 {
		t.Errorf("after STOP_MAINTENANCE: status %+v schedule %+v, want both empty", status, sched)
	}
}

// checkAllRunningElsewhere checks that every app runs its instances, none of them on agent id.
func checkAllRunningElsewhere(t *testing.T, c *cluster, id string) {
	t.Helper()
	want := map[string]int{}
	c.world.View(func(v *simulate.View) {
		for _, app := range v.Apps() {
			if app.Instances > 0 {
				want[taskName(app.ID)] = app.Instances
			}
		}
	})
	got := map[string]int{}
	for _, task := range c.tasks().Tasks {
		if task.AgentID.Value == id {
			t.Errorf("task %s still on %s", task.TaskID.Value, id)
		}
		if task.GetState() == mesos.TASK_RUNNING {
			got[task.Name]++
		}
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s: %d running, want %d", name, got[name], n)
		}
	}
}

// TestMaintenanceErrors checks the 400s of the maintenance calls as mesos-go reports them.
func TestMaintenanceErrors(t *testing.T) {
	c := newCluster(t)
	machine := machineOf(c.agents()[0])
	for name, call := range map[string]*master.Call{
		"start unscheduled": calls.StartMaintenance(machine),
		"stop not down":     calls.StopMaintenance(machine),
		"start nothing":     calls.StartMaintenance(),
		"bad ip":            calls.StartMaintenance(mesos.MachineID{IP: proto("10.0.0.256")}),
	} {
		if err := c.do(call); !apierrors.CodeMalformedRequest.Matches(err) {
			t.Errorf("%s: %v, want 400", name, err)
		}
	}
}

func proto(s string) *string { return &s }

// TestDrainAgent drains agents with DRAIN_AGENT: tasks are killed and relaunched elsewhere, drain_info
// goes DRAINING → DRAINED, the agent comes back with REACTIVATE_AGENT, and with mark_gone it is removed.
func TestDrainAgent(t *testing.T) {
	c := newCluster(t)
	victim := c.busiestAgent()
	id := victim.AgentInfo.GetID()
	c.mustDo(calls.DrainAgent(*id, func(d *master.Call_DrainAgent) {
		d.MaxGracePeriod = &types.Duration{Seconds: 600}
		f := false
		d.MarkGone = &f
	}))
	a, _ := c.agentByID(id.Value)
	if a.Active || !a.GetDeactivated() || a.GetDrainInfo().GetState() != mesos.DrainState_DRAINING {
		t.Fatalf("after DRAIN_AGENT: active %v deactivated %v drain %v", a.Active, a.GetDeactivated(), a.GetDrainInfo())
	}
	if g := a.GetDrainInfo().GetConfig().MaxGracePeriod.GetNanoseconds(); g != int64(600*time.Second) {
		t.Errorf("max_grace_period %d ns, want 600 s", g)
	}
	for _, task := range c.tasks().Tasks {
		if task.AgentID.Value == id.Value && task.GetState() != mesos.TASK_KILLING {
			t.Errorf("task %s on the draining agent is %v, want TASK_KILLING", task.TaskID.Value, task.GetState())
		}
	}

	c.advance(30 * time.Second)
	a, _ = c.agentByID(id.Value)
	if a.GetDrainInfo().GetState() != mesos.DrainState_DRAINED {
		t.Fatalf("drain state %v, want DRAINED", a.GetDrainInfo().GetState())
	}
	checkAllRunningElsewhere(t, c, id.Value)
	if err := c.do(calls.DrainAgent(*id)); err != nil {
		t.Errorf("draining a drained agent again: %v", err)
	}

	c.mustDo(calls.ReactivateAgent(*id))
	a, _ = c.agentByID(id.Value)
	if !a.Active || a.GetDeactivated() || a.DrainInfo != nil {
		t.Errorf("after REACTIVATE_AGENT: active %v deactivated %v drain %v", a.Active, a.GetDeactivated(), a.DrainInfo)
	}

	busiest := c.busiestAgent()
	gone := busiest.AgentInfo.GetID()
	c.mustDo(calls.DrainAgent(*gone, func(d *master.Call_DrainAgent) { tr := true; d.MarkGone = &tr }))
	c.advance(30 * time.Second)
	if _, ok := c.agentByID(gone.Value); ok {
		t.Fatal("agent drained with mark_gone is still registered")
	}
	checkAllRunningElsewhere(t, c, gone.Value)
	if err := c.do(calls.MarkAgentGone(*gone)); err != nil {
		t.Errorf("MARK_AGENT_GONE is idempotent, got %v", err)
	}
	if err := c.do(calls.ReactivateAgent(*gone)); !apierrors.CodeIncompatibleVersion.Matches(err) {
		t.Errorf("REACTIVATE_AGENT of a removed agent: %v, want 409", err)
	}
}

// TestAgentCalls covers DEACTIVATE_AGENT, REACTIVATE_AGENT and MARK_AGENT_GONE and their errors.
func TestAgentCalls(t *testing.T) {
	c := newCluster(t)
	busiest := c.busiestAgent()
	id := *busiest.AgentInfo.GetID()
	unknown := mesos.AgentID{Value: "no-such-agent"}

	if err := c.do(calls.ReactivateAgent(id)); !apierrors.CodeMalformedRequest.Matches(err) || !strings.Contains(err.Error(), "Agent is not deactivated") {
		t.Errorf("REACTIVATE_AGENT of an active agent: %v, want 400 Agent is not deactivated", err)
	}
	c.mustDo(calls.DeactivateAgent(id))
	if a, _ := c.agentByID(id.Value); a.Active || !a.GetDeactivated() || a.DrainInfo != nil {
		t.Errorf("after DEACTIVATE_AGENT: active %v deactivated %v drain %v", a.Active, a.GetDeactivated(), a.DrainInfo)
	}
	c.mustDo(calls.ReactivateAgent(id))
	if a, _ := c.agentByID(id.Value); !a.Active {
		t.Error("after REACTIVATE_AGENT the agent is not active")
	}
	if err := c.do(calls.DeactivateAgent(unknown)); !apierrors.CodeMalformedRequest.Matches(err) {
		t.Errorf("DEACTIVATE_AGENT unknown: %v, want 400", err)
	}
	if err := c.do(calls.MarkAgentGone(unknown)); !apierrors.CodeNotFound.Matches(err) {
		t.Errorf("MARK_AGENT_GONE unknown: %v, want 404", err)
	}
	c.mustDo(calls.MarkAgentGone(id))
	if _, ok := c.agentByID(id.Value); ok {
		t.Error("agent marked gone is still registered")
	}
	c.advance(30 * time.Second)
	lost := 0
	for _, task := range c.tasks().CompletedTasks {
		if task.AgentID.Value == id.Value && task.GetState() == mesos.TASK_GONE_BY_OPERATOR {
			lost++
		}
	}
	if lost == 0 {
		t.Error("no task of the agent ended TASK_GONE_BY_OPERATOR")
	}
	checkAllRunningElsewhere(t, c, id.Value)
}

// TestNonLeader checks that a standby answers 307 with the leader's protocol-relative Location, which
// mesos-go reports as "call sent to a non-leading master" and exposes on its Response.
func TestNonLeader(t *testing.T) {
	c := newCluster(t)
	resp, err := c.sender(1, jsonCodec).Send(context.Background(), calls.NonStreaming(calls.GetAgents()))
	if !apierrors.CodeNotLeader.Matches(err) {
		t.Fatalf("GET_AGENTS on the standby: %v, want not-leader", err)
	}
	hr, ok := resp.(*httpcli.Response)
	if !ok {
		t.Fatalf("response %T, want *httpcli.Response", resp)
	}
	if loc, want := hr.Header.Get("Location"), "//"+c.addrs[0]+"/api/v1"; loc != want {
		t.Errorf("Location %q, want %q", loc, want)
	}
	resp.Close()

	if err := c.world.SetMesosLeader(1); err != nil {
		t.Fatal(err)
	}
	if err := calls.SendNoData(context.Background(), c.sender(1, jsonCodec), calls.NonStreaming(calls.DeactivateAgent(*c.agentsFrom(1)[0].AgentInfo.ID))); err != nil {
		t.Errorf("DEACTIVATE_AGENT on the new leader: %v", err)
	}
	if err := c.do(calls.GetHealth()); !apierrors.CodeNotLeader.Matches(err) {
		t.Errorf("old leader: %v, want not-leader", err)
	}
}

func (c *cluster) agentsFrom(i int) []master.Response_GetAgents_Agent {
	resp, err := c.sender(i, jsonCodec).Send(context.Background(), calls.NonStreaming(calls.GetAgents()))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Close()
	var r master.Response
	if err := resp.Decode(&r); err != nil {
		c.t.Fatal(err)
	}
	return r.GetGetAgents().Agents
}

// TestNoLeader checks 503 "No leader elected", a temporary error for mesos-go.
func TestNoLeader(t *testing.T) {
	c := newCluster(t)
	if err := c.world.SetMesosLeader(-1); err != nil {
		t.Fatal(err)
	}
	for i := range c.servers {
		_, err := c.sender(i, jsonCodec).Send(context.Background(), calls.NonStreaming(calls.GetState()))
		var apiErr *apierrors.Error
		if !errors.As(err, &apiErr) || !apierrors.CodeMesosUnavailable.Matches(err) || !apiErr.Temporary() || !strings.Contains(err.Error(), "No leader elected") {
			t.Errorf("master %d: %v, want a temporary 503 No leader elected", i, err)
		}
	}
}

func scalar(rs []mesos.Resource, name string) float64 {
	sum := 0.0
	for _, r := range rs {
		if r.Name == name && r.GetType() == mesos.SCALAR {
			sum += r.GetScalar().Value
		}
	}
	return sum
}

func ranges(rs []mesos.Resource, name string) []mesos.Value_Range {
	var out []mesos.Value_Range
	for _, r := range rs {
		if r.Name == name && r.GetType() == mesos.RANGES {
			out = append(out, r.GetRanges().Range...)
		}
	}
	return out
}
