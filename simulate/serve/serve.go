// Package serve puts a simulated world on the network: the Mesos masters, the Marathon instances and
// the AWS endpoint (Auto Scaling, EC2 and the SQS notice queue) on loopback listeners, real task
// listeners when asked, a control endpoint for faults and summaries, and the loop that moves the
// model along with its clock.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/awsapi"
	"github.com/marmot-project/marmot/simulate/marathonapi"
	"github.com/marmot-project/marmot/simulate/mesosapi"
	"github.com/marmot-project/marmot/simulate/realtask"
)

// Config says where to listen. Empty addresses mean "127.0.0.1:0" (a free port).
type Config struct {
	// MesosAddrs has one address per master; missing ones get free ports.
	MesosAddrs []string
	// MarathonAddrs has one address per Marathon instance; missing ones get free ports.
	MarathonAddrs []string
	AWSAddr       string
	ControlAddr   string
	// RealTasks runs a real HTTP listener for every running task (the world must use loopback addresses).
	RealTasks bool
	// Tick is the wall-clock interval at which the model catches up with its clock (default 50 ms).
	Tick   time.Duration
	Logger *zap.Logger
}

// Cluster is a served world. Its URLs are ready as soon as Start returns.
type Cluster struct {
	World       *simulate.World
	MesosURLs   []string // one per master, index = master number
	MarathonURL []string // one per Marathon instance
	AWSURL      string
	// NoticeQueueURL is the SQS URL of the world's notice queue (spot interruption warnings,
	// rebalance recommendations, state changes), served on the AWS endpoint.
	NoticeQueueURL string
	ControlURL     string
	Tasks          *realtask.Runner

	servers []*http.Server
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	log     *zap.Logger
}

// Start listens on every address, starts serving and stepping the model, and returns. Everything stops
// when ctx ends or Close is called.
func Start(ctx context.Context, w *simulate.World, cfg Config) (*Cluster, error) {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 50 * time.Millisecond
	}
	var masters, marathons int
	w.View(func(v *simulate.View) { masters, marathons = v.Masters(), v.MarathonInstances() })

	var listeners []net.Listener
	fail := func(err error) (*Cluster, error) {
		for _, l := range listeners {
			_ = l.Close()
		}
		return nil, err
	}
	listen := func(what, addr string) (net.Listener, error) {
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s: listen on %s: %w", what, addr, err)
		}
		listeners = append(listeners, l)
		return l, nil
	}
	mesosL, err := listenAll("mesos master", cfg.MesosAddrs, masters, listen)
	if err != nil {
		return fail(err)
	}
	marathonL, err := listenAll("marathon", cfg.MarathonAddrs, marathons, listen)
	if err != nil {
		return fail(err)
	}
	awsL, err := listen("aws", cfg.AWSAddr)
	if err != nil {
		return fail(err)
	}
	controlL, err := listen("control", cfg.ControlAddr)
	if err != nil {
		return fail(err)
	}

	ctx, cancel := context.WithCancel(ctx)
	c := &Cluster{World: w, cancel: cancel, log: log}
	mesosHosts, marathonHosts := hostPorts(mesosL), hostPorts(marathonL)
	for i, l := range mesosL {
		c.MesosURLs = append(c.MesosURLs, "http://"+mesosHosts[i])
		c.serve(l, mesosapi.New(w, i, mesosHosts, mesosapi.WithLogger(log.Named("mesos"))))
	}
	for i, l := range marathonL {
		c.MarathonURL = append(c.MarathonURL, "http://"+marathonHosts[i])
		c.serve(l, marathonapi.New(w, i, marathonHosts, marathonapi.WithLogger(log.Named("marathon"))))
	}
	c.AWSURL = "http://" + awsL.Addr().String()
	w.View(func(v *simulate.View) { c.NoticeQueueURL = awsapi.NoticeQueueURL(c.AWSURL, v.AccountID()) })
	c.serve(awsL, awsapi.New(w, awsapi.WithLogger(log.Named("aws"))))
	c.ControlURL = "http://" + controlL.Addr().String()
	c.serve(controlL, ControlHandler(w))

	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		step(ctx, w, cfg.Tick)
	}()
	if cfg.RealTasks {
		c.Tasks = realtask.NewRunner(w, log.Named("tasks"), 0)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			_ = c.Tasks.Run(ctx)
		}()
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		<-ctx.Done()
		c.shutdown()
	}()
	return c, nil
}

func listenAll(what string, addrs []string, n int, listen func(string, string) (net.Listener, error)) ([]net.Listener, error) {
	out := make([]net.Listener, 0, n)
	for i := 0; i < n; i++ {
		addr := ""
		if i < len(addrs) {
			addr = addrs[i]
		}
		l, err := listen(fmt.Sprintf("%s %d", what, i), addr)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func hostPorts(ls []net.Listener) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Addr().String()
	}
	return out
}

func (c *Cluster) serve(l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	c.servers = append(c.servers, srv)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("server stopped", zap.String("addr", l.Addr().String()), zap.Error(err))
		}
	}()
}

// step moves the model along with its clock until ctx ends.
func step(ctx context.Context, w *simulate.World, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.Step()
		}
	}
}

func (c *Cluster) shutdown() {
	// Streams (SUBSCRIBE, SSE) never end by themselves, so Close rather than a graceful Shutdown.
	for _, s := range c.servers {
		_ = s.Close()
	}
}

// Close stops everything and waits for it.
func (c *Cluster) Close() {
	c.cancel()
	c.wg.Wait()
}

// Wait blocks until the cluster has stopped (its context ended).
func (c *Cluster) Wait() { c.wg.Wait() }

// LeaderMesosURL is the URL of the master that leads now.
func (c *Cluster) LeaderMesosURL() string {
	idx := 0
	c.World.View(func(v *simulate.View) {
		if i, _, ok := v.MesosLeader(); ok {
			idx = i
		}
	})
	return c.MesosURLs[idx]
}
