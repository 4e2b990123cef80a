package mesos_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/marmot-project/marmot/mesos"
)

// The autoscaler's use: observe with State, drain with DRAIN_AGENT where the master has it, and let
// Watch trigger reconciles, starting over from each Resync's snapshot.
func Example() {
	c, err := mesos.New(mesos.Config{URLs: []string{"http://m1:5050", "http://m2:5050"}, Timeout: 10 * time.Second}, zap.NewNop())
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	st, err := c.State(ctx)
	if errors.Is(err, mesos.ErrUnavailable) {
		return // no master answered (or none leads): try again on the next tick
	}
	if err == nil && len(st.Agents) > 0 {
		a := st.Agents[0]
		if v, _ := c.Version(ctx); mesos.SupportsDrainAgent(v) && a.CanDrain() {
			_ = c.DrainAgent(ctx, a.ID, 10*time.Minute, false)
		}
	}

	go func() {
		_ = c.Watch(ctx, func(e mesos.Event) {
			if e.Type == mesos.EventResync {
				fmt.Println("resync with", len(e.State.Agents), "agents from", e.Master)
			}
		})
	}()
}
