package mesosapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/marmot-project/marmot/simulate"
)

// call is the part of master::Call the simulator reads. Like stout's JSON→protobuf conversion it
// ignores unknown keys and takes null as unset; one difference remains: encoding/json matches keys
// case-insensitively where stout does not.
type call struct {
	Type                      *string         `json:"type"`
	UpdateMaintenanceSchedule *scheduleCall   `json:"update_maintenance_schedule"`
	StartMaintenance          *machinesCall   `json:"start_maintenance"`
	StopMaintenance           *machinesCall   `json:"stop_maintenance"`
	DrainAgent                *drainAgentCall `json:"drain_agent"`
	DeactivateAgent           *agentCall      `json:"deactivate_agent"`
	ReactivateAgent           *agentCall      `json:"reactivate_agent"`
	MarkAgentGone             *agentCall      `json:"mark_agent_gone"`
}

type scheduleCall struct {
	Schedule *schedule `json:"schedule"`
}

type machinesCall struct {
	Machines []machineID `json:"machines"`
}

type agentCall struct {
	AgentID *value `json:"agent_id"`
}

type drainAgentCall struct {
	AgentID *value `json:"agent_id"`
	// MaxGracePeriod is a google.protobuf.Duration, {seconds, nanos}: unlike DurationInfo elsewhere in
	// the API (wire-facts §1.4). mesos-go sends {"seconds":600}.
	MaxGracePeriod *protoDuration `json:"max_grace_period"`
	MarkGone       *bool          `json:"mark_gone"`
}

type protoDuration struct {
	Seconds int64 `json:"seconds"`
	Nanos   int32 `json:"nanos"`
}

type value struct {
	Value *string `json:"value"`
}

// schedule is maintenance.Schedule; the v0 /maintenance/schedule endpoint takes it as its body.
type schedule struct {
	Windows []window `json:"windows"`
}

type window struct {
	MachineIDs     []machineID     `json:"machine_ids"`
	Unavailability *unavailability `json:"unavailability"`
}

type unavailability struct {
	Start    *nanos `json:"start"`
	Duration *nanos `json:"duration"`
}

// nanos is TimeInfo or DurationInfo.
type nanos struct {
	Nanoseconds *int64 `json:"nanoseconds"`
}

type machineID struct {
	Hostname string `json:"hostname"`
	IP       string `json:"ip"`
}

// parseJSONCall turns a request body into a call, failing as stout's conversion does: malformed JSON,
// wrong value types, unknown enum names and missing required fields (400 "Failed to convert JSON into
// Call protobuf: …").
func parseJSONCall(body []byte) (*call, error) {
	var c call
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, convertError(err.Error())
	}
	if c.Type != nil {
		if _, known := master.Call_Type_value[*c.Type]; !known {
			return nil, convertError(fmt.Sprintf("Failed to find enum for '%s'", *c.Type))
		}
	}
	if missing := c.missingRequired(); missing != "" {
		return nil, convertError("Message missing required fields: " + missing)
	}
	return &c, nil
}

func convertError(msg string) error {
	return fail(http.StatusBadRequest, "Failed to convert JSON into Call protobuf: "+msg)
}

// parseProtoCall reads an application/x-protobuf body. It goes through mesos-go's generated types and
// their JSON form, so that both encodings share one parser and one set of rules.
func parseProtoCall(body []byte) (*call, error) {
	var pc master.Call
	if err := pc.Unmarshal(body); err != nil {
		return nil, fail(http.StatusBadRequest, "Failed to parse body into Call protobuf: "+err.Error())
	}
	js, err := pc.MarshalJSON()
	if err != nil {
		return nil, fail(http.StatusBadRequest, "Failed to parse body into Call protobuf: "+err.Error())
	}
	return parseJSONCall(js)
}

// missingRequired names the first required protobuf field the call lacks ("" when complete).
func (c *call) missingRequired() string {
	if c.UpdateMaintenanceSchedule != nil {
		if c.UpdateMaintenanceSchedule.Schedule == nil {
			return "update_maintenance_schedule.schedule"
		}
		if m := c.UpdateMaintenanceSchedule.Schedule.missingRequired(); m != "" {
			return "update_maintenance_schedule.schedule." + m
		}
	}
	noID := func(id *value) bool { return id == nil || id.Value == nil }
	switch {
	case c.DeactivateAgent != nil && noID(c.DeactivateAgent.AgentID):
		return "deactivate_agent.agent_id"
	case c.ReactivateAgent != nil && noID(c.ReactivateAgent.AgentID):
		return "reactivate_agent.agent_id"
	case c.MarkAgentGone != nil && noID(c.MarkAgentGone.AgentID):
		return "mark_agent_gone.agent_id"
	case c.DrainAgent != nil && noID(c.DrainAgent.AgentID):
		return "drain_agent.agent_id"
	}
	return ""
}

func (s *schedule) missingRequired() string {
	for i, w := range s.Windows {
		u := w.Unavailability
		switch {
		case u == nil:
			return fmt.Sprintf("windows[%d].unavailability", i)
		case u.Start == nil || u.Start.Nanoseconds == nil:
			return fmt.Sprintf("windows[%d].unavailability.start", i)
		case u.Duration != nil && u.Duration.Nanoseconds == nil:
			return fmt.Sprintf("windows[%d].unavailability.duration.nanoseconds", i)
		}
	}
	return ""
}

// validate checks what master/validation.cpp checks before a call is served (400 "Failed to validate
// master::Call: …"): the type is present, and a call that takes a message has it.
func (c *call) validate() error {
	if c.Type == nil {
		return validationError("Expecting 'type' to be present")
	}
	field := map[string]bool{
		"UPDATE_MAINTENANCE_SCHEDULE": c.UpdateMaintenanceSchedule != nil,
		"START_MAINTENANCE":           c.StartMaintenance != nil,
		"STOP_MAINTENANCE":            c.StopMaintenance != nil,
		"DRAIN_AGENT":                 c.DrainAgent != nil,
		"DEACTIVATE_AGENT":            c.DeactivateAgent != nil,
		"REACTIVATE_AGENT":            c.ReactivateAgent != nil,
		"MARK_AGENT_GONE":             c.MarkAgentGone != nil,
	}
	if present, needs := field[*c.Type]; needs && !present {
		return validationError(fmt.Sprintf("Expecting '%s' to be present", strings.ToLower(*c.Type)))
	}
	if d := c.DrainAgent; d != nil && d.MaxGracePeriod != nil {
		if _, err := d.MaxGracePeriod.duration(); err != nil {
			return err
		}
	}
	return nil
}

func validationError(msg string) error {
	return fail(http.StatusBadRequest, "Failed to validate master::Call: "+msg)
}

func (d protoDuration) duration() (time.Duration, error) {
	if d.Seconds < 0 || d.Nanos < 0 {
		return 0, validationError("'max_grace_period' must be non-negative")
	}
	if d.Seconds > (math.MaxInt64-math.MaxInt32)/int64(time.Second) {
		return 0, validationError("'max_grace_period' is too large")
	}
	return time.Duration(d.Seconds)*time.Second + time.Duration(d.Nanos), nil
}

// machines validates a list of machines as maintenance::validation::machines does and turns it into
// the model's MachineIDs. The model checks each machine's hostname and IP.
func machines(list []machineID) ([]simulate.MachineID, error) {
	if len(list) == 0 {
		return nil, fail(http.StatusBadRequest, "List of machines is empty")
	}
	seen := map[simulate.MachineID]bool{}
	out := make([]simulate.MachineID, 0, len(list))
	for _, m := range list {
		id := simulate.MachineID{Hostname: m.Hostname, IP: m.IP}
		key := simulate.MachineID{Hostname: strings.ToLower(m.Hostname), IP: m.IP}
		if seen[key] {
			return nil, fail(http.StatusBadRequest, fmt.Sprintf("Repeated machine in machines: %s (%s)", m.Hostname, m.IP))
		}
		seen[key] = true
		out = append(out, id)
	}
	return out, nil
}

// windows turns a schedule into the model's maintenance windows. A window without a duration is
// unbounded in Mesos; the model keeps it as a zero duration.
func (s *schedule) windows() []simulate.MaintenanceWindow {
	out := make([]simulate.MaintenanceWindow, 0, len(s.Windows))
	for _, w := range s.Windows {
		mw := simulate.MaintenanceWindow{Start: time.Unix(0, *w.Unavailability.Start.Nanoseconds).UTC()}
		if d := w.Unavailability.Duration; d != nil {
			mw.Duration = time.Duration(*d.Nanoseconds)
		}
		for _, m := range w.MachineIDs {
			mw.Machines = append(mw.Machines, simulate.MachineID{Hostname: m.Hostname, IP: m.IP})
		}
		out = append(out, mw)
	}
	return out
}

// parseSchedule reads a v0 /maintenance/schedule body.
func parseSchedule(body []byte) (*schedule, error) {
	var s schedule
	if err := decodeStrict(body, &s); err != nil {
		return nil, fail(http.StatusBadRequest, "Failed to parse the schedule: "+err.Error())
	}
	if m := s.missingRequired(); m != "" {
		return nil, fail(http.StatusBadRequest, "Failed to parse the schedule: missing required field "+m)
	}
	return &s, nil
}

// parseMachines reads a v0 /machine/down or /machine/up body: a JSON array of MachineIDs.
func parseMachines(body []byte) ([]machineID, error) {
	var list []machineID
	if err := decodeStrict(body, &list); err != nil {
		return nil, fail(http.StatusBadRequest, "Failed to parse the machine ids: "+err.Error())
	}
	if list == nil {
		return nil, fail(http.StatusBadRequest, "Failed to parse the machine ids: expecting a JSON array")
	}
	return list, nil
}

// decodeStrict decodes one JSON value that must be an object or array (stout's JSON::parse<Object>
// or <Array> refuses null and scalars, which encoding/json would accept as "nothing").
func decodeStrict(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		return fmt.Errorf("expecting a JSON object or array")
	}
	return json.Unmarshal(body, v)
}
