package hibernator

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHeldBodiesAreBoundedInAll(t *testing.T) {
	app := newFakeApp(t, time.Hour) // never starts within the test
	a, srv := startActivator(t, ActivatorConfig{MaxHeldBodyBytes: 10, ProbeInterval: 10 * time.Millisecond}, app)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hold := func(body string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/", strings.NewReader(body))
		req.Host = "docs.example.com"
		go func() {
			if resp, err := srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	hold("123456")
	waitUntil(t, func() bool { return a.Held() == 1 })
	resp := request(t, srv, "docs.example.com", "/", "7890ab", nil)
	if body := readAll(t, resp); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a body over the total: %d %q", resp.StatusCode, body)
	}
	hold("") // without a body: still held
	waitUntil(t, func() bool { return a.Held() == 2 })
	cancel()
	waitUntil(t, func() bool { return a.Held() == 0 })
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.heldBody != 0 {
		t.Fatalf("%d body bytes still counted", a.heldBody)
	}
}
