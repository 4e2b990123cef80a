// Package mesosapi serves the simulated cluster as a Mesos master over HTTP: the v1 operator API
// (POST /api/v1, including the SUBSCRIBE event stream) and the v0 JSON endpoints, with the wire
// behaviour described in wire-facts.md §1, so that mesos-go and plain HTTP clients work against it
// unchanged. One handler is one master; the world model decides which master leads.
package mesosapi

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/simulate"
)

// Option changes how a master handler behaves.
type Option func(*server)

// WithHeartbeat sets the wall-clock interval of SUBSCRIBE heartbeats (Mesos' DEFAULT_HEARTBEAT_INTERVAL,
// 15 s, by default). Tests make it small.
func WithHeartbeat(d time.Duration) Option {
	return func(s *server) {
		if d > 0 {
			s.heartbeat = d
		}
	}
}

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *zap.Logger) Option {
	return func(s *server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithEventBuffer sets how many SUBSCRIBE events may wait for a slow client before the world drops
// its stream (the client then resubscribes, as it must after any stream loss). Default 4096.
func WithEventBuffer(n int) Option {
	return func(s *server) {
		if n > 0 {
			s.buffer = n
		}
	}
}

// server is one simulated Mesos master.
type server struct {
	world     *simulate.World
	index     int
	masters   []string
	heartbeat time.Duration
	buffer    int
	log       *zap.Logger
	sizes     replySizes
	tasks     taskCache

	// Facts of the world that never change, read once so that streams can render events without
	// taking the world lock.
	frameworkID   string
	frameworkJSON []byte // frameworkID encoded as {"value":"…"}
	masterID      string
	version       string
	drainAPI      bool
	startedAt     time.Time
}

// New returns the HTTP face of master number index of the world's Mesos masters. masters[i] is the
// "host:port" master i is reachable at; it appears in redirects (Location //host:port/path), in the
// master's pid ("master@ip:port") and in leader information.
func New(w *simulate.World, index int, masters []string, opts ...Option) http.Handler {
	s := &server{
		world:     w,
		index:     index,
		masters:   append([]string(nil), masters...),
		heartbeat: 15 * time.Second,
		buffer:    4096,
		log:       zap.NewNop(),
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With(zap.Int("master", index))
	w.View(func(v *simulate.View) {
		s.frameworkID = v.FrameworkID()
		s.masterID = v.MasterID()
		s.version = v.MesosVersion()
		s.startedAt = v.Now()
	})
	s.drainAPI = simulate.VersionAtLeast(s.version, 1, 9)
	s.frameworkJSON = idValue(s.frameworkID)
	return s
}

// ServeHTTP applies the injected faults, then routes: /metrics/snapshot on any master; /api/v1,
// /redirect and the v0 endpoints with or without their /master prefix.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.intercept(w, r) {
		return
	}
	if r.URL.Path == "/metrics/snapshot" {
		// Metrics belong to each master process and never redirect (wire-facts §1.2).
		s.metricsSnapshot(w, r)
		return
	}
	// The master process is libprocess' delegate, so every /master/<x> endpoint also answers as /<x>
	// (that is where /state.json and /api/v1 come from).
	path := r.URL.Path
	if strings.HasPrefix(path, "/master/") {
		path = path[len("/master"):]
	}
	switch path {
	case "/api/v1":
		s.api(w, r)
	case "/redirect":
		s.redirectEndpoint(w, r)
	default:
		h, ok := v0Endpoints[path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if s.leads(w, r) {
			h(s, w, r)
		}
	}
}

// intercept applies the faults injected for the Mesos service. It reports whether to go on serving.
func (s *server) intercept(w http.ResponseWriter, r *http.Request) bool {
	in := s.world.Intercept(simulate.ServiceMesos)
	if in.Delay > 0 {
		t := time.NewTimer(in.Delay)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return false
		case <-t.C:
		}
	}
	if in.Status != 0 {
		writeText(w, in.Status, http.StatusText(in.Status))
		return false
	}
	return true
}

// leader returns the "host:port" of the leading master and whether this master is it; ok is false
// while no master leads.
func (s *server) leader() (addr string, self, ok bool) {
	var idx int
	s.world.View(func(v *simulate.View) { idx, _, ok = v.MesosLeader() })
	if !ok {
		return "", false, false
	}
	if idx < 0 || idx >= len(s.masters) {
		s.log.Warn("leading master has no address", zap.Int("leader", idx), zap.Int("masters", len(s.masters)))
		return "", false, false
	}
	return s.masters[idx], idx == s.index, true
}

// leads answers for a master that does not lead: 307 to the leader with the original path and query,
// or 503 "No leader elected" (Master::Http::redirect). It reports whether this master may serve.
func (s *server) leads(w http.ResponseWriter, r *http.Request) bool {
	addr, self, ok := s.leader()
	switch {
	case !ok:
		writeText(w, http.StatusServiceUnavailable, "No leader elected")
		return false
	case self:
		return true
	}
	// The Location is protocol-relative: the client keeps its own scheme.
	w.Header().Set("Location", "//"+addr+r.URL.RequestURI())
	w.WriteHeader(http.StatusTemporaryRedirect)
	return false
}

// redirectEndpoint is /redirect: a 307 to the leader's address without a path, on every master,
// the leader included. Clusterman finds the leader this way.
func (s *server) redirectEndpoint(w http.ResponseWriter, r *http.Request) {
	addr, _, ok := s.leader()
	if !ok {
		writeText(w, http.StatusServiceUnavailable, "No leader elected")
		return
	}
	w.Header().Set("Location", "//"+addr)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// hostIP splits this master's "host:port"; ip is the host when it is an IPv4 address, else 127.0.0.1
// (the simulator does no DNS).
func (s *server) hostIP() (host, ip string, port int) {
	addr := ""
	if s.index >= 0 && s.index < len(s.masters) {
		addr = s.masters[s.index]
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		host, p = addr, "5050"
	}
	port = atoi(p, 5050)
	ip = "127.0.0.1"
	if parsed := net.ParseIP(host); parsed != nil && parsed.To4() != nil {
		ip = parsed.To4().String()
	}
	return host, ip, port
}

func atoi(s string, def int) int {
	n := 0
	if s == "" || len(s) > 9 {
		return def
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return def
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// statusError is a failure with the HTTP status Mesos answers it with.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func fail(status int, msg string) *statusError { return &statusError{status: status, msg: msg} }

// statusOf maps an error to the status Mesos answers it with (wire-facts §1.5).
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	switch simulate.KindOf(err) {
	case simulate.KindBadRequest:
		return http.StatusBadRequest
	case simulate.KindNotFound:
		return http.StatusNotFound
	case simulate.KindConflict:
		return http.StatusConflict
	case simulate.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers err as Mesos does: a text/plain body with the status of its kind.
func (s *server) writeError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	if status == http.StatusInternalServerError {
		s.log.Error("unexpected failure", zap.Error(err))
	}
	writeText(w, status, err.Error())
}

// writeText answers a libprocess-style error: a plain-text body (never JSON).
func writeText(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// writeOK answers a mutating call: 200 with no body and no Content-Type (libprocess OK()). mesos-go
// rejects a 200 that carries a Content-Type for these calls; the nil entry stops net/http from sniffing
// one.
func writeOK(w http.ResponseWriter) {
	w.Header()["Content-Type"] = nil
	w.WriteHeader(http.StatusOK)
}
