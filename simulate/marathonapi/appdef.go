package marathonapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"

	"github.com/marmot-project/marmot/simulate"
)

// appDef is one app definition from a request body (POST, PUT and PATCH of /v2/apps) as the model's
// partial update.
type appDef struct {
	id     string // "" when the body has none
	update simulate.AppUpdate
}

// statusFields are what GET returns besides the definition. Marathon's readers ignore them, so a
// client that echoes a GET back does not store them (they must not land in Extra).
var statusFields = map[string]bool{
	"tasksStaged": true, "tasksRunning": true, "tasksHealthy": true, "tasksUnhealthy": true,
	"deployments": true, "tasks": true, "lastTaskFailure": true, "taskStats": true,
	"readinessCheckResults": true, "versionInfo": true,
}

// decodeAppDef parses one app definition object.
func decodeAppDef(body []byte) (appDef, *apiError) {
	if err := syntaxError(body); err != nil {
		return appDef{}, err
	}
	d := &defDecoder{}
	def := d.object(body, "")
	return def, d.err()
}

// decodeAppDefs parses the array of app definitions of PUT and PATCH /v2/apps.
func decodeAppDefs(body []byte) ([]appDef, *apiError) {
	if err := syntaxError(body); err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, errJSONTypes([]detail{{Path: "/", Errors: []string{"error.expected.jsarray"}}})
	}
	d := &defDecoder{}
	defs := make([]appDef, len(raws))
	for i, raw := range raws {
		defs[i] = d.object(raw, fmt.Sprintf("/%d", i))
	}
	return defs, d.err()
}

// syntaxError is Marathon's answer to a body that is not JSON at all: 400 "Invalid JSON" with the
// parser's words as details (MarathonExceptionMapper, JsonParseException).
func syntaxError(body []byte) *apiError {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return &apiError{status: http.StatusBadRequest, message: "Invalid JSON", details: err.Error()}
	}
	return nil
}

// defDecoder collects what is wrong with a definition, as play-json does, instead of stopping at the
// first problem: type errors (400) and rule violations (422).
type defDecoder struct {
	types   []detail
	invalid []detail
}

func (d *defDecoder) typeError(path, msg string) {
	d.types = append(d.types, detail{path, []string{msg}})
}
func (d *defDecoder) invalidAt(path, msg string) {
	d.invalid = append(d.invalid, detail{path, []string{msg}})
}

func (d *defDecoder) err() *apiError {
	if len(d.types) > 0 {
		return errJSONTypes(d.types)
	}
	if len(d.invalid) > 0 {
		return errInvalid(d.invalid)
	}
	return nil
}

func (d *defDecoder) object(raw json.RawMessage, prefix string) appDef {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		d.typeError(prefix+"/", "error.expected.jsobject")
		return appDef{}
	}
	var def appDef
	u := &def.update
	_, hasPortDefs := fields["portDefinitions"]
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		v := fields[key]
		path := prefix + "/" + key
		// A null is an absent field, not an order to clear it: go-marathon always sends "ports":null and
		// "dependencies":null, and a scale that way must stay a scale (wire-facts §4).
		if isNull(v) || statusFields[key] {
			continue
		}
		switch key {
		case "id":
			d.str(v, path, &def.id)
		case "version":
			u.Version = d.optStr(v, path)
		case "cmd":
			u.Cmd = d.optStr(v, path)
		case "role":
			u.Role = d.optStr(v, path)
		case "instances":
			u.Instances = d.optInt(v, path)
		case "cpus":
			u.CPUs = d.optFloat(v, path)
		case "mem":
			u.Mem = d.optFloat(v, path)
		case "disk":
			u.Disk = d.optFloat(v, path)
		case "gpus":
			u.GPUs = d.optFloat(v, path)
		case "backoffSeconds":
			u.BackoffSeconds = d.optFloat(v, path)
		case "backoffFactor":
			u.BackoffFactor = d.optFloat(v, path)
		case "maxLaunchDelaySeconds":
			u.MaxLaunchDelaySeconds = d.optFloat(v, path)
		case "ports":
			// The legacy form of portDefinitions, without names or labels; when both come,
			// portDefinitions counts.
			var ports []json.Number
			if d.decode(v, path, &ports, "error.expected.jsarray") && !hasPortDefs {
				n := len(ports)
				u.Ports = &n
				setExtra(u, "portDefinitions", json.RawMessage("null"))
			}
		case "portDefinitions":
			// The model counts ports; names, protocols and labels are kept verbatim for GET.
			var defs []map[string]json.RawMessage
			if d.decode(v, path, &defs, "error.expected.jsarray") {
				n := len(defs)
				u.Ports = &n
				setExtra(u, key, compact(v))
			}
		case "constraints":
			var cs [][]string
			if d.decode(v, path, &cs, "error.expected.jsarray") {
				u.Constraints = &cs
			}
		case "labels":
			labels := map[string]string{}
			if d.decode(v, path, &labels, "error.expected.jsobject") {
				u.Labels = &labels
			}
		case "acceptedResourceRoles":
			roles := []string{}
			if d.decode(v, path, &roles, "error.expected.jsarray") {
				u.AcceptedResourceRoles = &roles
			}
		case "healthChecks":
			u.HealthChecks = d.healthChecks(v, path)
		case "upgradeStrategy":
			u.UpgradeStrategy = d.upgradeStrategy(v, path)
		default:
			setExtra(u, key, compact(v))
		}
	}
	return def
}

func setExtra(u *simulate.AppUpdate, key string, v json.RawMessage) {
	if u.Extra == nil {
		u.Extra = map[string]json.RawMessage{}
	}
	u.Extra[key] = v
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func compact(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return append(json.RawMessage(nil), v...)
	}
	return b.Bytes()
}

// decode unmarshals v into dst, noting typeMsg at path when the JSON has the wrong shape.
func (d *defDecoder) decode(v json.RawMessage, path string, dst any, typeMsg string) bool {
	if err := json.Unmarshal(v, dst); err != nil {
		d.typeError(path, typeMsg)
		return false
	}
	return true
}

func (d *defDecoder) str(v json.RawMessage, path string, dst *string) bool {
	return d.decode(v, path, dst, "error.expected.jsstring")
}

func (d *defDecoder) optStr(v json.RawMessage, path string) *string {
	var s string
	if !d.str(v, path, &s) {
		return nil
	}
	return &s
}

func (d *defDecoder) optFloat(v json.RawMessage, path string) *float64 {
	var f float64
	if !d.decode(v, path, &f, "error.expected.jsnumber") {
		return nil
	}
	return &f
}

func (d *defDecoder) optInt(v json.RawMessage, path string) *int {
	var n json.Number
	if !d.decode(v, path, &n, "error.expected.jsnumber") {
		return nil
	}
	i, err := n.Int64()
	if err != nil || i > math.MaxInt32 || i < math.MinInt32 {
		d.typeError(path, "error.expected.int")
		return nil
	}
	out := int(i)
	return &out
}

// healthCheck is the wire form of one health check; absent fields take Marathon's defaults.
type healthCheck struct {
	Protocol               *string `json:"protocol"`
	Path                   *string `json:"path"`
	PortIndex              *int    `json:"portIndex"`
	GracePeriodSeconds     *int    `json:"gracePeriodSeconds"`
	IntervalSeconds        *int    `json:"intervalSeconds"`
	TimeoutSeconds         *int    `json:"timeoutSeconds"`
	MaxConsecutiveFailures *int    `json:"maxConsecutiveFailures"`
}

func (d *defDecoder) healthChecks(v json.RawMessage, path string) *[]simulate.HealthCheck {
	var wire []healthCheck
	if !d.decode(v, path, &wire, "error.expected.jsarray") {
		return nil
	}
	out := make([]simulate.HealthCheck, len(wire))
	for i, w := range wire {
		// Marathon's HealthCheck defaults (healthCheck.raml).
		hc := simulate.HealthCheck{Protocol: "HTTP", Path: "/", GracePeriodSeconds: 300, IntervalSeconds: 60,
			TimeoutSeconds: 20, MaxConsecutiveFailures: 3}
		setIf(&hc.Protocol, w.Protocol)
		setIf(&hc.Path, w.Path)
		setIf(&hc.PortIndex, w.PortIndex)
		setIf(&hc.GracePeriodSeconds, w.GracePeriodSeconds)
		setIf(&hc.IntervalSeconds, w.IntervalSeconds)
		setIf(&hc.TimeoutSeconds, w.TimeoutSeconds)
		setIf(&hc.MaxConsecutiveFailures, w.MaxConsecutiveFailures)
		out[i] = hc
	}
	return &out
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (d *defDecoder) upgradeStrategy(v json.RawMessage, path string) *simulate.UpgradeStrategy {
	var wire struct {
		MinimumHealthCapacity *float64 `json:"minimumHealthCapacity"`
		MaximumOverCapacity   *float64 `json:"maximumOverCapacity"`
	}
	if !d.decode(v, path, &wire, "error.expected.jsobject") {
		return nil
	}
	us := simulate.UpgradeStrategy{MinimumHealthCapacity: 1, MaximumOverCapacity: 1}
	setIf(&us.MinimumHealthCapacity, wire.MinimumHealthCapacity)
	setIf(&us.MaximumOverCapacity, wire.MaximumOverCapacity)
	ok := true
	bounded := []struct {
		name string
		f    float64
	}{{"minimumHealthCapacity", us.MinimumHealthCapacity}, {"maximumOverCapacity", us.MaximumOverCapacity}}
	for _, b := range bounded {
		name, f := b.name, b.f
		// The bounds and the wording of traits.raml's 422 example.
		switch {
		case f > 1:
			d.invalidAt(path+"/"+name, "is greater than 1")
			ok = false
		case f < 0:
			d.invalidAt(path+"/"+name, "is less than 0")
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return &us
}

// replacement turns a definition into a whole-app replacement (PUT with partialUpdate=false): what the
// body leaves out goes back to Marathon's default, and Extra fields it leaves out are removed.
func (def appDef) replacement(defaults simulate.App, extraKeys []string) simulate.AppUpdate {
	u := def.update
	d := defaults
	orDefault(&u.Instances, d.Instances)
	orDefault(&u.CPUs, d.CPUs)
	orDefault(&u.Mem, d.Mem)
	orDefault(&u.Disk, d.Disk)
	orDefault(&u.GPUs, d.GPUs)
	orDefault(&u.Ports, d.Ports)
	orDefault(&u.Cmd, d.Cmd)
	orDefault(&u.Constraints, [][]string{})
	orDefault(&u.Labels, map[string]string{})
	orDefault(&u.HealthChecks, []simulate.HealthCheck{})
	orDefault(&u.AcceptedResourceRoles, []string{})
	orDefault(&u.Role, d.Role)
	orDefault(&u.BackoffSeconds, d.BackoffSeconds)
	orDefault(&u.BackoffFactor, d.BackoffFactor)
	orDefault(&u.MaxLaunchDelaySeconds, d.MaxLaunchDelaySeconds)
	orDefault(&u.UpgradeStrategy, d.UpgradeStrategy)
	for _, k := range extraKeys {
		if _, ok := u.Extra[k]; !ok {
			setExtra(&u, k, json.RawMessage("null"))
		}
	}
	return u
}

func orDefault[T any](dst **T, def T) {
	if *dst == nil {
		*dst = &def
	}
}
