package mesos

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// decodeResponse decodes a GET_* body the way the client does: mesos-go's JSON codec.
func decodeResponse(data []byte) (*master.Response, error) {
	dec := codecs.ByMediaType[codecs.MediaTypeJSON].NewDecoder(encoding.SourceReader(bytes.NewReader(data)))
	var r master.Response
	return &r, dec.Decode(&r)
}

func TestDrainingAgentFromTheDerived19Fixture(t *testing.T) {
	r, err := decodeResponse(fixture(t, "derived/get_agents.agent-1.9-draining.from-master-proto.json"))
	if err != nil {
		t.Fatal(err)
	}
	agents := agentsFromProto(r.GetGetAgents())
	grace := 10 * time.Minute
	want := Agent{
		ID: "628984d0-4213-4140-bcb0-99d7ef46b1df-S0", Hostname: "10.0.1.23", IP: "10.0.1.23", Port: 5051,
		// rack:3 is a SCALAR: it reads "3", as Mesos v0 prints it.
		Attributes:   map[string]string{"pool": "batch", "rack": "3"},
		Pool:         "batch",
		Total:        Resources{CPUs: 8, Mem: 30000},
		Active:       false,
		Deactivated:  true,
		Drain:        &Drain{State: DrainDraining, MaxGracePeriod: &grace, MarkGone: true},
		RegisteredAt: time.Unix(0, 1470820172046531840).UTC(),
		Version:      "1.9.0",
		Capabilities: []string{"MULTI_ROLE", "AGENT_DRAINING"},
	}
	if len(agents) != 1 || !reflect.DeepEqual(agents[0], want) {
		t.Fatalf("agent =\n%+v\nwant\n%+v", agents, want)
	}
	if !agents[0].CanDrain() {
		t.Error("CanDrain() = false with AGENT_DRAINING")
	}
	if m := agents[0].Machine(); m != (MachineID{Hostname: "10.0.1.23", IP: "10.0.1.23"}) {
		t.Errorf("Machine() = %+v", m)
	}
}

func TestAttributeValuesReadAsMesosV0PrintsThem(t *testing.T) {
	for _, tc := range []struct {
		attr mesoslib.Attribute
		want string
	}{
		{mesoslib.Attribute{Name: "pool", Type: mesoslib.TEXT, Text: &mesoslib.Value_Text{Value: "batch"}}, "batch"},
		{mesoslib.Attribute{Name: "pool", Type: mesoslib.SCALAR, Scalar: &mesoslib.Value_Scalar{Value: 1}}, "1"},
		{mesoslib.Attribute{Name: "w", Type: mesoslib.SCALAR, Scalar: &mesoslib.Value_Scalar{Value: 2.5}}, "2.5"},
		{mesoslib.Attribute{Name: "w", Type: mesoslib.SCALAR, Scalar: &mesoslib.Value_Scalar{Value: 0.1 + 0.2}}, "0.3"},
		{mesoslib.Attribute{Name: "p", Type: mesoslib.RANGES, Ranges: &mesoslib.Value_Ranges{Range: []mesoslib.Value_Range{{Begin: 1, End: 2}, {Begin: 5, End: 9}}}}, "[1-2,5-9]"},
		{mesoslib.Attribute{Name: "s", Type: mesoslib.SET, Set: &mesoslib.Value_Set{Item: []string{"a", "b"}}}, "{a,b}"},
		// The type decides: a SCALAR with no scalar set reads 0, a TEXT with none reads "".
		{mesoslib.Attribute{Name: "x", Type: mesoslib.SCALAR}, "0"},
		{mesoslib.Attribute{Name: "x", Type: mesoslib.TEXT}, ""},
	} {
		if got := attributeValue(&tc.attr); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.attr, got, tc.want)
		}
	}
}

func TestAddressFromPID(t *testing.T) {
	for pid, want := range map[string]struct {
		ip   string
		port int
	}{
		"slave(1)@10.40.31.172:5051": {"10.40.31.172", 5051},
		"slave(3)@127.0.1.1:34626":   {"127.0.1.1", 34626},
		"slave(1)@[::1]:5051":        {"::1", 5051},
		"a@b@10.0.0.1:1":             {"10.0.0.1", 1},
		"slave(1)@host.example:5051": {"", 0}, // not an IP: nothing to map to an instance
		"slave(1)@10.0.0.1":          {"", 0},
		"10.0.0.1:5051":              {"", 0},
		"slave(1)@10.0.0.1:99999":    {"10.0.0.1", 0},
		"":                           {"", 0},
	} {
		ip, port := addressFromPID(pid)
		if ip != want.ip || port != want.port {
			t.Errorf("addressFromPID(%q) = %q, %d; want %q, %d", pid, ip, port, want.ip, want.port)
		}
	}
}

func TestResourcesSumRolesAndSkipRevocable(t *testing.T) {
	scalar := func(name string, v float64, revocable bool) mesoslib.Resource {
		typ := mesoslib.SCALAR
		r := mesoslib.Resource{Name: name, Type: &typ, Scalar: &mesoslib.Value_Scalar{Value: v}}
		if revocable {
			r.Revocable = &mesoslib.Resource_RevocableInfo{}
		}
		return r
	}
	got := resourcesFromProto([]mesoslib.Resource{
		scalar("cpus", 2, false), scalar("cpus", 1.5, false), scalar("cpus", 4, true),
		scalar("mem", 1024, false), scalar("disk", 10, false), scalar("gpus", 1, false), scalar("other", 7, false),
		{Name: "ports"}, // no type: ignored
	})
	if want := (Resources{CPUs: 3.5, Mem: 1024, Disk: 10, GPUs: 1}); got != want {
		t.Errorf("resources = %+v, want %+v", got, want)
	}
}

func TestWindowsRoundTrip(t *testing.T) {
	in := []Window{
		{Machines: []MachineID{{Hostname: "h1", IP: "10.0.0.1"}, {Hostname: "h2"}}, Start: time.Unix(100, 5).UTC(), Duration: time.Hour},
		{Machines: []MachineID{{IP: "10.0.0.3"}}, Start: time.Unix(200, 0).UTC(), Duration: -1},
		{Machines: []MachineID{{IP: "10.0.0.4"}}, Start: time.Unix(300, 0).UTC(), Duration: 0},
	}
	s := windowsToProto(in)
	if out := windowsFromProto(&s); !reflect.DeepEqual(out, in) {
		t.Errorf("round trip =\n%+v\nwant\n%+v", out, in)
	}
}

func TestTaskLabels(t *testing.T) {
	v := "web"
	task := taskFromProto(&mesoslib.Task{Labels: &mesoslib.Labels{Labels: []mesoslib.Label{{Key: "marmot.team", Value: &v}, {Key: "flag"}}}})
	if want := map[string]string{"marmot.team": "web", "flag": ""}; !reflect.DeepEqual(task.Labels, want) {
		t.Errorf("labels = %v", task.Labels)
	}
}

// FuzzAgentFromJSON feeds GET_AGENTS bodies (outside input) through the client's decoding and
// conversion: whatever the master sends, converting must not panic, and every agent gets a pool and a
// valid port. Run it with a short -fuzzminimizetime (e.g. 3s): minimizing a new multi-KB input through
// mesos-go's large generated decoders takes long, and the progress line shows 0 execs/sec meanwhile.
func FuzzAgentFromJSON(f *testing.F) {
	f.Add(fixture(f, "operator-v1/get_agents.response.json"))
	f.Add(fixture(f, "derived/get_agents.agent-1.9-draining.from-master-proto.json"))
	f.Add([]byte(`{"type":"GET_AGENTS","get_agents":{"agents":[{"agent_info":{"hostname":"h","attributes":[{"name":"pool","type":"SCALAR"},{"name":"r","type":"RANGES","ranges":{}},{"name":"s","type":"SET"}]},"pid":"@:","drain_info":{"state":"DRAINED","config":{}}}]}}`))
	f.Add([]byte(`{"type":"GET_AGENTS","get_agents":{"agents":[{"pid":"slave(1)@[fe80::1%eth0]:5051","total_resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1e308}},{"name":"cpus","type":"SCALAR","scalar":{"value":1e308}}]}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeResponse(body)
		if err != nil {
			return
		}
		for _, a := range agentsFromProto(r.GetGetAgents()) {
			if a.Pool == "" {
				t.Errorf("agent %q has no pool", a.ID)
			}
			if a.Port < 0 || a.Port > 65535 {
				t.Errorf("agent %q port %d", a.ID, a.Port)
			}
		}
		_ = stateFromProto(r.GetGetState())
	})
}

// FuzzEventFromJSON feeds SUBSCRIBE records (outside input) through the client's event decoding.
func FuzzEventFromJSON(f *testing.F) {
	for _, name := range []string{
		"events/agent_added.doc.json", "events/agent_removed.doc.json", "events/task_added.doc.json",
		"events/heartbeat.doc.json", "derived/task_updated.event.from-master-proto.json",
	} {
		f.Add(fixture(f, name))
	}
	f.Add([]byte(`{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_agents":{"agents":[{}]},"get_tasks":{"tasks":[{}]}},"heartbeat_interval_seconds":-1e300}}`))
	f.Add([]byte(`{"type":"TASK_UPDATED","task_updated":{}}`))
	f.Add([]byte(`{"type":"TASK_UPDATED"}`)) // once panicked: no task_updated at all
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := codecs.ByMediaType[codecs.MediaTypeJSON].NewDecoder(encoding.SourceReader(bytes.NewReader(body)))
		var ev master.Event
		if dec.Decode(&ev) != nil {
			return
		}
		if e, ok := eventFromProto(&ev, "http://m1:5050"); ok && e.Type == EventResync && e.State == nil {
			t.Error("resync without a snapshot")
		}
	})
}
