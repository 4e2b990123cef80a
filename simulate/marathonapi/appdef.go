package marathonapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"

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
			if d.decode(v, path, &defs, "error.expected.jsarray") && d.ports(defs, path) {
				n := len(defs)
				u.Ports = &n
				setExtra(u, key, canonical(v))
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
			c := canonical(v)
			if def, ok := definitionDefaults[key]; ok && bytes.Equal(c, def) {
				// Sending the default (as a definition read with GET does) is having no value of one's
				// own: Marathon compares definitions with their defaults, so this is no change.
				c = json.RawMessage("null")
			}
			setExtra(u, key, c)
		}
	}
	return def
}

// ports checks the port of each port definition: a whole number from 0 (any port) to 65535.
func (d *defDecoder) ports(defs []map[string]json.RawMessage, path string) bool {
	ok := true
	for i, def := range defs {
		raw, given := def["port"]
		if !given || isNull(raw) {
			continue
		}
		p := path + "/" + strconv.Itoa(i) + "/port"
		n, isNum := d.number(raw, p)
		if !isNum {
			ok = false
			continue
		}
		if port, err := n.Int64(); err != nil || port < 0 || port > 65535 {
			d.invalidAt(p, "got "+n.String()+", expected between 0 and 65535")
			ok = false
		}
	}
	return ok
}

func setExtra(u *simulate.AppUpdate, key string, v json.RawMessage) {
	if u.Extra == nil {
		u.Extra = map[string]json.RawMessage{}
	}
	u.Extra[key] = v
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// defaultPortDefinitions is how n unnamed ports with no service port of their own look, canonically.
func defaultPortDefinitions(n int) []byte {
	defs := make([]map[string]any, n)
	for i := range defs {
		defs[i] = map[string]any{"port": 0, "protocol": "tcp", "labels": map[string]any{}}
	}
	out, _ := json.Marshal(defs)
	return out
}

// canonical re-encodes a JSON value with sorted keys and no spaces. The model compares Extra fields
// byte for byte to decide whether a change restarts tasks, while Marathon compares parsed definitions:
// the same object with its keys in another order (go-marathon marshals its structs) is no change.
func canonical(v json.RawMessage) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber() // keep numbers as written: no float rounding of large integers
	var x any
	if err := dec.Decode(&x); err != nil {
		return append(json.RawMessage(nil), v...)
	}
	out, err := json.Marshal(x)
	if err != nil {
		return append(json.RawMessage(nil), v...)
	}
	return out
}

// forApp finishes a definition for the app it goes to. In portDefinitions, a port that is the service
// port the simulator assigned (GET shows it) goes back to 0, "any port", and Marathon's defaults are
// filled in: a definition read with GET and sent back is then no change, and restarts nothing.
func (def *appDef) forApp(id string) {
	raw, ok := def.update.Extra["portDefinitions"]
	if !ok || isNull(raw) {
		return
	}
	var defs []map[string]any
	if json.Unmarshal(raw, &defs) != nil {
		return
	}
	base := servicePortBase(simulate.NormalizeAppID(id))
	for i, d := range defs {
		if d == nil {
			d = map[string]any{}
			defs[i] = d
		}
		if p, ok := d["port"].(float64); !ok || p == float64(base+i) {
			d["port"] = 0
		}
		if _, ok := d["protocol"]; !ok {
			d["protocol"] = "tcp"
		}
		if _, ok := d["labels"]; !ok {
			d["labels"] = map[string]any{}
		}
	}
	out, err := json.Marshal(defs)
	if err != nil {
		return
	}
	if bytes.Equal(out, defaultPortDefinitions(len(defs))) {
		out = json.RawMessage("null") // the definitions GET shows for ports nobody named: no value of one's own
	}
	def.update.Extra["portDefinitions"] = out
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
	n, ok := d.number(v, path)
	if !ok {
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

// number reads a JSON number as written. (encoding/json would also take a quoted number into a
// json.Number; Marathon does not.)
func (d *defDecoder) number(v json.RawMessage, path string) (json.Number, bool) {
	if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '"' {
		d.typeError(path, "error.expected.jsnumber")
		return "", false
	}
	var n json.Number
	if !d.decode(v, path, &n, "error.expected.jsnumber") {
		return "", false
	}
	return n, true
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
