package hibernator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// upTask is an app that is awake: a task that answers at once.
type upTask struct{ addr string }

func (u upTask) Wake(context.Context, string) error { return nil }
func (u upTask) Endpoints(context.Context, string) ([]string, string, error) {
	return []string{u.addr}, "/health", nil
}

func TestRequestsThroughTheActivatorCountAsUseWhileOpen(t *testing.T) {
	release := make(chan struct{})
	task := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-release
		}
	}))
	defer task.Close()
	clock := newTestClock()
	traffic := NewActivatorTraffic(clock.Now())
	a, _ := startActivator(t, ActivatorConfig{ProbeInterval: 10 * time.Millisecond}, upTask{task.Listener.Addr().String()})
	front := httptest.NewServer(CountUse(a, traffic, clock.Now))
	defer front.Close()
	seen := func() TrafficSeen {
		r, _ := traffic.Traffic(context.Background(), clock.Now())
		return r.Apps["/web/docs"]
	}

	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, front.URL+"/stream", nil)
		req.Host = "docs.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	waitUntil(t, func() bool { return seen().Open == 1 })
	clock.Advance(time.Hour) // a long stream
	if s := seen(); s.Open != 1 || s.Requests != 1 {
		t.Fatalf("during the stream: %+v", s)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return seen().Open == 0 })
	if s := seen(); !s.Last.Equal(clock.Now()) {
		t.Fatalf("the stream ended at %s, last use %s", clock.Now(), s.Last)
	}

	req, _ := http.NewRequest(http.MethodGet, front.URL+"/", nil)
	req.Host = "unknown.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r, _ := traffic.Traffic(context.Background(), clock.Now()); resp.StatusCode != http.StatusNotFound || len(r.Apps) != 1 {
		t.Fatalf("unknown host: %d, apps %v", resp.StatusCode, fmt.Sprint(r.Apps))
	}
}
