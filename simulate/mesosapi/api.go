package mesosapi

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/simulate"
)

// Media types of the v1 API. Mesos compares Content-Type exactly (not case-insensitively, and
// "application/json; charset=utf-8" is not application/json).
const (
	mediaJSON     = "application/json"
	mediaProtobuf = "application/x-protobuf"
	mediaRecordIO = "application/recordio"
)

// maxCallBytes bounds a request body; the largest real call, a maintenance schedule for every machine
// of a big cluster, is far below it.
const maxCallBytes = 8 << 20

// api serves POST /api/v1 with the checks of Master::Http::api in their order: leadership (307/503),
// method (405), Content-Type (400 missing, 415 other), parse (400), validation (400), Accept (406).
func (s *server) api(w http.ResponseWriter, r *http.Request) {
	if !s.leads(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeText(w, http.StatusMethodNotAllowed, fmt.Sprintf("Expecting one of { 'POST' }, but received '%s'", r.Method))
		return
	}
	c, err := readCallBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	out, ok := negotiate(r.Header, *c.Type == "SUBSCRIBE")
	if !ok {
		writeText(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow 'application/json' or 'application/x-protobuf'")
		return
	}
	s.dispatch(w, r, c, out)
}

// readCallBody reads, parses and validates the call in a request body.
func readCallBody(r *http.Request) (*call, error) {
	ct, present := r.Header["Content-Type"]
	if !present {
		return nil, fail(http.StatusBadRequest, "Expecting 'Content-Type' to be present")
	}
	var parse func([]byte) (*call, error)
	switch ct[0] {
	case mediaJSON:
		parse = parseJSONCall
	case mediaProtobuf:
		parse = parseProtoCall
	default:
		return nil, fail(http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxCallBytes))
	if err != nil {
		return nil, fail(http.StatusBadRequest, "Failed to read the request body: "+err.Error())
	}
	c, err := parse(body)
	if err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// dispatch serves a parsed call.
func (s *server) dispatch(w http.ResponseWriter, r *http.Request, c *call, out format) {
	typ := *c.Type
	if typ == "SUBSCRIBE" {
		s.subscribe(w, r, out)
		return
	}
	if read, ok := readCalls[typ]; ok {
		s.reply(w, out, typ, read)
		return
	}
	if write, ok := writeCalls[typ]; ok {
		if err := write(s, c); err != nil {
			s.log.Info("call refused", zap.String("call", typ), zap.Error(err))
			s.writeError(w, err)
			return
		}
		s.log.Info("call applied", zap.String("call", typ))
		writeOK(w)
		return
	}
	// UNKNOWN, and the calls of areas the model does not cover (quota, volumes, files, logging…).
	writeText(w, http.StatusNotImplemented, fmt.Sprintf("The simulated master does not implement %s", typ))
}

// reply answers a GET_* call: {"type":"GET_X","get_x":{…}}, rendered under the world lock.
func (s *server) reply(w http.ResponseWriter, out format, typ string, read readCall) {
	j := getWriter(s.sizes.get(typ))
	defer putWriter(j)
	s.world.View(func(v *simulate.View) {
		j.beginObject()
		j.field("type", typ)
		j.object(strings.ToLower(typ))
		read(s, j, v)
		j.endObject()
		j.endObject()
	})
	s.sizes.set(typ, len(j.b))
	body, err := out.response(j.b)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, out.media, body)
}

// writeCall applies a mutating call to the world.
type writeCall func(s *server, c *call) error

var writeCalls = map[string]writeCall{
	"UPDATE_MAINTENANCE_SCHEDULE": func(s *server, c *call) error {
		return s.world.UpdateMaintenanceSchedule(c.UpdateMaintenanceSchedule.Schedule.windows())
	},
	"START_MAINTENANCE": func(s *server, c *call) error { return s.startMaintenance(c.StartMaintenance.Machines) },
	"STOP_MAINTENANCE":  func(s *server, c *call) error { return s.stopMaintenance(c.StopMaintenance.Machines) },
	"DRAIN_AGENT":       func(s *server, c *call) error { return s.drainAgent(c.DrainAgent) },
	"DEACTIVATE_AGENT":  func(s *server, c *call) error { return s.world.DeactivateAgent(*c.DeactivateAgent.AgentID.Value) },
	"REACTIVATE_AGENT":  func(s *server, c *call) error { return s.world.ReactivateAgent(*c.ReactivateAgent.AgentID.Value) },
	"MARK_AGENT_GONE":   func(s *server, c *call) error { return s.world.MarkAgentGone(*c.MarkAgentGone.AgentID.Value) },
}

func (s *server) drainAgent(d *drainAgentCall) error {
	var grace *time.Duration
	if d.MaxGracePeriod != nil {
		g, err := d.MaxGracePeriod.duration()
		if err != nil {
			return err
		}
		grace = &g
	}
	markGone := d.MarkGone != nil && *d.MarkGone
	return s.world.DrainAgent(*d.AgentID.Value, grace, markGone)
}

func (s *server) startMaintenance(list []machineID) error {
	ms, err := machines(list)
	if err != nil {
		return err
	}
	return s.world.StartMaintenance(ms)
}

func (s *server) stopMaintenance(list []machineID) error {
	ms, err := machines(list)
	if err != nil {
		return err
	}
	return s.world.StopMaintenance(ms)
}

// format is how a reply is written: its media type, and for SUBSCRIBE over application/recordio the
// media type of the records.
type format struct {
	media    string // Content-Type of the reply
	message  string // the records' media type (application/json or application/x-protobuf)
	protobuf bool
}

// negotiate picks the reply's encoding from Accept as Master::Http::api does: JSON if acceptable,
// else protobuf; SUBSCRIBE may also ask for application/recordio with the record type in
// Message-Accept.
func negotiate(h http.Header, subscribe bool) (format, bool) {
	accept := h.Values("Accept")
	switch {
	case accepts(accept, mediaJSON):
		return format{media: mediaJSON, message: mediaJSON}, true
	case accepts(accept, mediaProtobuf):
		return format{media: mediaProtobuf, message: mediaProtobuf, protobuf: true}, true
	case subscribe && accepts(accept, mediaRecordIO):
		msg := h.Values("Message-Accept")
		switch {
		case accepts(msg, mediaJSON):
			return format{media: mediaRecordIO, message: mediaJSON}, true
		case accepts(msg, mediaProtobuf):
			return format{media: mediaRecordIO, message: mediaProtobuf, protobuf: true}, true
		}
	}
	return format{}, false
}

// accepts reports whether Accept header values allow a media type, as libprocess'
// Request::acceptsMediaType: no header accepts everything; the most specific matching range (exact,
// then type/*, then */*) decides, and q=0 refuses.
func accepts(values []string, media string) bool {
	if len(values) == 0 {
		return true
	}
	typ, _, _ := strings.Cut(media, "/")
	best, bestQ := -1, 0.0
	for _, v := range values {
		for _, entry := range strings.Split(v, ",") {
			rng, params, _ := strings.Cut(entry, ";")
			rng = strings.ToLower(strings.TrimSpace(rng))
			specificity := -1
			switch rng {
			case media:
				specificity = 2
			case typ + "/*":
				specificity = 1
			case "*/*":
				specificity = 0
			}
			if specificity > best {
				best, bestQ = specificity, quality(params)
			}
		}
	}
	return best >= 0 && bestQ > 0
}

// quality reads q from media range parameters ("q=0.5; level=1"); 1 when absent or malformed.
func quality(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || strings.TrimSpace(k) != "q" {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || q < 0 || q > 1 {
			return 1
		}
		return q
	}
	return 1
}
