package mesosapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpmaster"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"go.uber.org/zap/zaptest"

	"github.com/marmot-project/marmot/simulate"
)

// cluster is the "small" scenario served by two simulated masters on loopback.
type cluster struct {
	t       *testing.T
	world   *simulate.World
	clock   *simulate.VirtualClock
	servers []*httptest.Server
	addrs   []string
}

// testHeartbeat is short so that the SUBSCRIBE tests see heartbeats; nothing waits for one to pass.
const testHeartbeat = 20 * time.Millisecond

func newCluster(t *testing.T) *cluster {
	t.Helper()
	return newClusterWith(t, func(*simulate.Scenario) {})
}

// newClusterWith serves the small scenario after tweak changed it.
func newClusterWith(t *testing.T, tweak func(*simulate.Scenario)) *cluster {
	t.Helper()
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	tweak(sc)
	clock := simulate.NewVirtualClock(sc.StartTime())
	w, err := simulate.New(sc, clock, simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, world: w, clock: clock}
	for i := 0; i < 2; i++ {
		srv := httptest.NewUnstartedServer(nil)
		c.servers = append(c.servers, srv)
		c.addrs = append(c.addrs, srv.Listener.Addr().String())
	}
	for i, srv := range c.servers {
		srv.Config.Handler = New(w, i, c.addrs, WithHeartbeat(testHeartbeat), WithLogger(zaptest.NewLogger(t)))
		srv.Start()
		t.Cleanup(srv.Close)
	}
	return c
}

var (
	jsonCodec  = codecs.ByMediaType[codecs.MediaTypeJSON]
	protoCodec = codecs.ByMediaType[codecs.MediaTypeProtobuf]
)

// sender is a mesos-go v0.0.11 operator client for master i, set up as wire-facts §2 shows.
func (c *cluster) sender(i int, codec encoding.Codec) calls.Sender {
	return httpmaster.NewSender(httpcli.New(
		httpcli.Endpoint(c.servers[i].URL+"/api/v1"),
		httpcli.Codec(codec),
		httpcli.Do(httpcli.With(httpcli.Timeout(30*time.Second))),
	).Send)
}

// get sends a GET_* call to the leader with codec and decodes the reply.
func (c *cluster) get(codec encoding.Codec, call *master.Call) *master.Response {
	c.t.Helper()
	resp, err := c.sender(0, codec).Send(context.Background(), calls.NonStreaming(call))
	if err != nil {
		c.t.Fatalf("%v: %v", call.GetType(), err)
	}
	defer resp.Close()
	var r master.Response
	if err := resp.Decode(&r); err != nil {
		c.t.Fatalf("%v: decode: %v", call.GetType(), err)
	}
	if r.GetType().String() != call.GetType().String() {
		c.t.Fatalf("reply type %v to %v", r.GetType(), call.GetType())
	}
	return &r
}

// do sends a mutating call to the leader with the JSON codec.
func (c *cluster) do(call *master.Call) error {
	return calls.SendNoData(context.Background(), c.sender(0, jsonCodec), calls.NonStreaming(call))
}

func (c *cluster) mustDo(call *master.Call) {
	c.t.Helper()
	if err := c.do(call); err != nil {
		c.t.Fatalf("%v: %v", call.GetType(), err)
	}
}

// advance moves virtual time on and brings the world up to it.
func (c *cluster) advance(d time.Duration) {
	c.clock.Advance(d)
	c.world.Step()
}

func (c *cluster) agents() []master.Response_GetAgents_Agent {
	return c.get(jsonCodec, calls.GetAgents()).GetGetAgents().Agents
}

func (c *cluster) tasks() *master.Response_GetTasks {
	return c.get(jsonCodec, calls.GetTasks()).GetGetTasks()
}

// busiestAgent is the agent that runs the most tasks.
func (c *cluster) busiestAgent() master.Response_GetAgents_Agent {
	c.t.Helper()
	count := map[string]int{}
	for _, t := range c.tasks().Tasks {
		count[t.AgentID.Value]++
	}
	var best master.Response_GetAgents_Agent
	for _, a := range c.agents() {
		if count[a.AgentInfo.GetID().Value] > count[best.AgentInfo.GetID().GetValue()] {
			best = a
		}
	}
	if best.AgentInfo.ID == nil {
		c.t.Fatal("no agent runs a task")
	}
	return best
}

// agentByID finds an agent in GET_AGENTS.
func (c *cluster) agentByID(id string) (master.Response_GetAgents_Agent, bool) {
	for _, a := range c.agents() {
		if a.AgentInfo.GetID().Value == id {
			return a, true
		}
	}
	return master.Response_GetAgents_Agent{}, false
}

// machineOf is an agent's maintenance MachineID: hostname and the IP of its pid.
func machineOf(a master.Response_GetAgents_Agent) mesos.MachineID {
	host := a.AgentInfo.Hostname
	ip := strings.TrimPrefix(a.GetPID(), "slave(1)@")
	ip = ip[:strings.LastIndex(ip, ":")]
	return mesos.MachineID{Hostname: &host, IP: &ip}
}

// post sends a raw request to master i.
func (c *cluster) post(i int, path, contentType, body string, header ...string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.servers[i].URL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k := 0; k+1 < len(header); k += 2 {
		req.Header.Set(header[k], header[k+1])
	}
	return c.roundTrip(req)
}

// getURL sends a raw GET to master i.
func (c *cluster) getURL(i int, path string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.servers[i].URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.roundTrip(req)
}

// roundTrip does not follow redirects: the tests look at them.
func (c *cluster) roundTrip(req *http.Request) *http.Response {
	c.t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// size counts the model's agents, their tasks and the cpus the tasks hold.
func (c *cluster) size() (agents, tasks int, cpusUsed float64) {
	c.world.View(func(v *simulate.View) {
		for _, a := range v.Agents() {
			agents++
			tasks += len(a.Tasks())
			for _, t := range a.Tasks() {
				cpusUsed += t.Resources.CPUs
			}
		}
	})
	return agents, tasks, cpusUsed
}
