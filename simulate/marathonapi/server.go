// Package marathonapi serves the simulated cluster over Marathon's REST API (v2) and its SSE event
// stream, so that go-marathon and any other Marathon client work against the simulator unchanged.
//
// One handler is one Marathon instance. Which instance leads comes from the model; the leader serves
// and names itself in X-Marathon-Leader, a standby forwards every request to the leader except the
// event stream, which it redirects, as Marathon's LeaderProxyFilter does (wire-facts §3.1).
package marathonapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/simulate"
)

// Option configures a Marathon instance.
type Option func(*server)

// WithHeartbeat sets how often the event stream writes its keep-alive ("\r", then "\n"). Marathon's
// Jetty EventSourceServlet does it every 10 s, the default.
func WithHeartbeat(d time.Duration) Option {
	return func(s *server) {
		if d > 0 {
			s.heartbeat = d
		}
	}
}

// WithLogger logs every request at debug level and proxy failures at warn level.
func WithLogger(l *zap.Logger) Option {
	return func(s *server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithLeaderWait sets how long a standby holds a request while no instance leads before it answers 503.
// Marathon retries 10 times 250 ms (LeaderProxyFilter.waitForConsistentLeadership), the default 2.5 s.
func WithLeaderWait(d time.Duration) Option {
	return func(s *server) {
		if d >= 0 {
			s.leaderWait = d
		}
	}
}

// Marathon's own defaults: leader_proxy_connection_timeout_ms 5000 and leader_proxy_read_timeout_ms
// 10000 (they appear in /v2/info's marathon_config).
const (
	proxyConnectTimeout = 5 * time.Second
	proxyReadTimeout    = 10 * time.Second
	leaderPoll          = 250 * time.Millisecond
)

// Headers of Marathon's leader proxying (LeaderProxyFilter, RequestForwarder).
const (
	headerLeader       = "X-Marathon-Leader"
	headerVia          = "X-Marathon-Via"
	headerForwardedFor = "X-Forwarded-For"
	headerDeploymentID = "Marathon-Deployment-Id"
)

type server struct {
	world      *simulate.World
	index      int
	instances  []string // host:port of every instance, by index
	via        string   // this instance's X-Marathon-Via value, "1.1 host:port"
	heartbeat  time.Duration
	leaderWait time.Duration
	log        *zap.Logger
	proxy      *http.Client
	mux        *http.ServeMux
}

// New returns the handler of Marathon instance index of w; instances[i] is the "host:port" instance i
// listens on, which is what the leader header, the proxy and the event-stream redirect use. It panics
// when index is not an index of instances, a wiring mistake.
func New(w *simulate.World, index int, instances []string, opts ...Option) http.Handler {
	if index < 0 || index >= len(instances) {
		panic(fmt.Sprintf("marathonapi: instance index %d out of range [0,%d)", index, len(instances)))
	}
	s := &server{
		world:      w,
		index:      index,
		instances:  append([]string(nil), instances...),
		via:        "1.1 " + instances[index],
		heartbeat:  10 * time.Second,
		leaderWait: 10 * leaderPoll,
		log:        zap.NewNop(),
	}
	for _, o := range opts {
		o(s)
	}
	s.proxy = &http.Client{
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: proxyConnectTimeout}).DialContext,
			ResponseHeaderTimeout: proxyReadTimeout,
		},
		// The forwarder hands redirects back to the client untouched (setInstanceFollowRedirects(false)).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.routes()
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.log.Debug("request", zap.String("method", r.Method), zap.String("uri", r.RequestURI))
	if !s.fromSibling(r) && !s.intercept(w, r) {
		return
	}
	s.route(w, r)
}

// route serves r when this instance leads; a standby forwards it to the leader, or redirects it there
// for the event stream.
func (s *server) route(w http.ResponseWriter, r *http.Request) {
	for {
		leader := s.leader()
		switch {
		case leader == s.index:
			w.Header().Set(headerLeader, "http://"+s.instances[s.index])
			s.mux.ServeHTTP(w, r)
			return
		case leader >= 0 && leader < len(s.instances):
			if strings.HasPrefix(r.URL.Path, "/v2/events") {
				// Marathon 1.7+ no longer proxies the event stream: a standby redirects it.
				http.Redirect(w, r, "http://"+s.instances[leader]+r.URL.RequestURI(), http.StatusFound)
				return
			}
			s.forward(w, r, s.instances[leader])
			return
		}
		// No leader (or one this handler has no address for): hold the request while an election may
		// finish, then give up. LeaderProxyFilter answers 503 here (sendError(ServiceUnavailable, …) in
		// every 1.x version); wire-facts §3.1 says 502, which the Scala source does not bear out.
		if !s.awaitLeader(r.Context()) {
			if r.Context().Err() == nil {
				writeError(w, http.StatusServiceUnavailable, "Could not determine the current leader")
			}
			return
		}
	}
}

// fromSibling reports whether another instance of this cluster forwarded r. Such a request already went
// through fault injection on that instance: one client request must consume one counted fault.
func (s *server) fromSibling(r *http.Request) bool {
	for _, v := range r.Header.Values(headerVia) {
		for i, inst := range s.instances {
			if i != s.index && v == "1.1 "+inst {
				return true
			}
		}
	}
	return false
}

// intercept applies the faults injected into the Marathon service; it reports whether to go on serving.
func (s *server) intercept(w http.ResponseWriter, r *http.Request) bool {
	in := s.world.Intercept(simulate.ServiceMarathon)
	if in.Delay > 0 && !sleep(r.Context(), in.Delay) {
		return false // the client gave up; nobody reads an answer
	}
	if in.Status != 0 {
		writeError(w, in.Status, http.StatusText(in.Status))
		return false
	}
	return true
}

func (s *server) leader() int {
	leader := -1
	s.world.View(func(v *simulate.View) { leader = v.MarathonLeader() })
	return leader
}

// awaitLeader polls the model's leadership every 250 ms, as Marathon does, for up to the leader wait.
// It reports whether some instance leads now.
func (s *server) awaitLeader(ctx context.Context) bool {
	deadline := time.NewTimer(s.leaderWait)
	defer deadline.Stop()
	tick := time.NewTicker(leaderPoll)
	defer tick.Stop()
	for {
		if l := s.leader(); l >= 0 && l < len(s.instances) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			l := s.leader()
			return l >= 0 && l < len(s.instances)
		case <-tick.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /ping", s.ping)
	m.HandleFunc("GET /v2/info", s.info)
	m.HandleFunc("GET /v2/leader", s.getLeader)
	m.HandleFunc("DELETE /v2/leader", s.abdicate)
	m.HandleFunc("GET /v2/apps", s.listApps)
	m.HandleFunc("POST /v2/apps", s.createApp)
	m.HandleFunc("PUT /v2/apps", s.updateApps)
	m.HandleFunc("PATCH /v2/apps", s.updateApps)
	m.HandleFunc("/v2/apps/", s.appSubtree)
	m.HandleFunc("GET /v2/deployments", s.listDeployments)
	m.HandleFunc("DELETE /v2/deployments/{id}", s.deleteDeployment)
	m.HandleFunc("GET /v2/queue", s.queue)
	m.HandleFunc("DELETE /v2/queue/{rest...}", s.resetDelay)
	m.HandleFunc("GET /v2/tasks", s.listTasks)
	m.HandleFunc("POST /v2/tasks/delete", s.killTasks)
	m.HandleFunc("GET /v2/events", s.events)
	s.mux = m
}
