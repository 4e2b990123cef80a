package election_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/marmot-project/marmot/election"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// How a daemon wires the election: every replica serves /status and /metrics; only the leader runs the
// reconcile loop, under the context Run gives it.
func ExampleElector_Run() {
	log, _ := zap.NewProduction()
	reg := prometheus.NewRegistry()
	id, err := election.DefaultID(":9090") // the /status address: others see hostname:9090
	if err != nil {
		log.Fatal("election id", zap.Error(err))
	}
	e, err := election.New(election.Config{
		Servers: []string{"zk1.mesos:2181", "zk2.mesos:2181", "zk3.mesos:2181"},
		Path:    "/marmot/autoscaler/leader",
		ID:      id,
		Logger:  log,
		Metrics: election.NewMetrics("autoscaler", reg),
	})
	if err != nil {
		log.Fatal("election config", zap.Error(err)) // lists every bad field
	}
	http.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"election": e.Status()})
	})

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = e.Run(ctx, func(leaderCtx context.Context) error {
		// The reconcile loop: it must return soon after leaderCtx is done (within the session timeout
		// minus the lease, 5 s by default), and re-check leaderCtx before every destructive step.
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-leaderCtx.Done():
				return nil
			case <-t.C:
				// reconcile(leaderCtx)
			}
		}
	})
	if err != nil {
		log.Error("the leader's loop stopped", zap.Error(err)) // exit non-zero: a replica restarts it
	}
}
