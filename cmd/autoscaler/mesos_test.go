package main

import (
	"testing"
	"time"

	"github.com/marmot-project/marmot/mesos"
	"github.com/marmot-project/marmot/policy"
)

func TestMarathonAppID(t *testing.T) {
	for id, want := range map[string]string{
		"data_etl.4f1c2a9e-0b8c-11f1-9c2b-0242ac110002":                        "/data/etl",
		"web.v2_frontend.4f1c2a9e-0b8c-11f1-9c2b-0242ac110002":                 "/web.v2/frontend",
		"data_etl.instance-4f1c2a9e-0b8c-11f1-9c2b-0242ac110002._app.1":        "/data/etl",
		"web.v2_frontend.instance-4f1c2a9e-0b8c-11f1-9c2b-0242ac110002._app.3": "/web.v2/frontend",
		"plain": "/plain",
	} {
		if got := marathonAppID(id); got != want {
			t.Errorf("marathonAppID(%q) = %q, want %q", id, got, want)
		}
	}
}

// The cache follows the event stream: tasks come and go with their resources, agents are added and
// removed, and allocation beyond the tasks (executors) is kept.
func TestMesosCacheFollowsEvents(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	s := &mesosSource{now: func() time.Time { return now }}
	agent := mesos.Agent{
		ID: "S1", Hostname: "Ip-10-0-0-1", IP: "10.0.0.1", Pool: "default", Active: true,
		Total: mesos.Resources{CPUs: 4, Mem: 8192}, Allocated: mesos.Resources{CPUs: 1.1, Mem: 1056},
		Capabilities: []string{"AGENT_DRAINING"},
	}
	task := mesos.Task{ID: "web.1", AgentID: "S1", State: "TASK_RUNNING", Resources: mesos.Resources{CPUs: 1, Mem: 1024}, Labels: map[string]string{"marmot.protect": "true"}}
	if changed := s.apply(mesos.Event{Type: mesos.EventResync, State: &mesos.State{Agents: []mesos.Agent{agent}, Tasks: []mesos.Task{task}}}); !changed {
		t.Error("a resync does not ask for a reconcile")
	}
	if !s.streaming() {
		t.Fatal("the cache is not trusted after a resync")
	}
	s.apply(mesos.Event{Type: mesos.EventTaskAdded, Task: &mesos.Task{ID: "batch.2", AgentID: "S1", State: "TASK_STAGING", Resources: mesos.Resources{CPUs: 2, Mem: 2048}}})
	st := s.cache.view(mesos.MaintenanceStatus{Draining: []mesos.DrainingMachine{{Machine: mesos.MachineID{Hostname: "ip-10-0-0-1", IP: "10.0.0.1"}}}})
	a := st.Agents[0]
	if len(a.Tasks) != 2 || a.Allocated.CPUs != 3.1 || a.Allocated.Mem != 3104 {
		t.Errorf("after a task was added: %+v", a)
	}
	if a.Maintenance != policy.MaintenanceDraining || len(st.Machines) != 1 || !st.CanDrain["S1"] {
		t.Errorf("maintenance %q, machines %+v, can drain %v", a.Maintenance, st.Machines, st.CanDrain)
	}
	if st.AppLabels["/web"]["marmot.protect"] != "true" || a.Tasks[1].AppID != "/web" {
		t.Errorf("app of a task: %+v, labels %v", a.Tasks, st.AppLabels)
	}

	if changed := s.apply(mesos.Event{Type: mesos.EventTaskUpdated, Task: &mesos.Task{ID: "batch.2", State: "TASK_RUNNING"}}); changed {
		t.Error("a task that starts asks for a reconcile")
	}
	if changed := s.apply(mesos.Event{Type: mesos.EventTaskUpdated, Task: &mesos.Task{ID: "web.1", State: "TASK_KILLED"}}); !changed {
		t.Error("a task that ends does not ask for a reconcile")
	}
	a = s.cache.view(mesos.MaintenanceStatus{}).Agents[0]
	if len(a.Tasks) != 1 || a.Allocated.CPUs != 2.1 {
		t.Errorf("after a task ended: %+v", a)
	}
	s.apply(mesos.Event{Type: mesos.EventAgentRemoved, AgentID: "S1"})
	if st := s.cache.view(mesos.MaintenanceStatus{}); len(st.Agents) != 0 {
		t.Errorf("agents after removal: %+v", st.Agents)
	}
	now = now.Add(time.Minute) // a silent stream is not trusted
	if s.streaming() {
		t.Error("the cache is trusted after a minute without a record")
	}
}
