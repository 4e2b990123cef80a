package hibernator

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeApp is a Marathon app as the activator sees it through Waker: asleep until woken, then a real
// HTTP task that starts listening after startDelay. It records every call.
type fakeApp struct {
	mu         sync.Mutex
	wakes      atomic.Int32
	startDelay time.Duration
	addr       string // reserved before the task listens, as Marathon reports host:port at staging
	server     *http.Server
	wakeErr    error
	t          *testing.T
}

func newFakeApp(t *testing.T, startDelay time.Duration) *fakeApp {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // free the port: the task binds it only once it has started
	f := &fakeApp{startDelay: startDelay, addr: addr, t: t}
	t.Cleanup(f.stop)
	return f
}

func (f *fakeApp) Wake(ctx context.Context, app string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wakeErr != nil {
		return f.wakeErr
	}
	f.wakes.Add(1)
	if f.server == nil {
		f.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "app=%s host=%s path=%s body=%s", app, r.Host, r.URL.Path, body)
		})}
		srv := f.server
		time.AfterFunc(f.startDelay, func() {
			l, err := net.Listen("tcp", f.addr)
			if err != nil {
				f.t.Errorf("task listen: %v", err)
				return
			}
			go srv.Serve(l)
		})
	}
	return nil
}

func (f *fakeApp) Endpoints(ctx context.Context, app string) ([]string, string, error) {
	return []string{f.addr}, "/health", nil
}

func (f *fakeApp) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.server != nil {
		f.server.Close()
		f.server = nil
	}
}

func startActivator(t *testing.T, cfg ActivatorConfig, waker Waker) (*Activator, *httptest.Server) {
	t.Helper()
	a := NewActivator(cfg, waker, nil, nil, nil)
	a.SetRoutes(map[string]Route{"docs.example.com": {App: "/web/docs", HoldTimeout: 30 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	srv := httptest.NewServer(a)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return a, srv
}

func request(t *testing.T, srv *httptest.Server, host, path, body string, header http.Header) *http.Response {
	t.Helper()
	method := http.MethodGet
	var r io.Reader
	if body != "" {
		method, r = http.MethodPost, strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, r)
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUnknownHostIs404AndWakesNothing(t *testing.T) {
	app := newFakeApp(t, 0)
	_, srv := startActivator(t, ActivatorConfig{}, app)
	for _, host := range []string{"evil.example.com", "127.0.0.1", "docs.example.com.evil.com", ""} {
		resp := request(t, srv, host, "/", "", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("host %q: status %d, want 404", host, resp.StatusCode)
		}
		resp.Body.Close()
	}
	// An absolute URL in the request line must not be used as the upstream either.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET http://docs.example.com.attacker.net/ HTTP/1.1\r\nHost: attacker.net\r\nConnection: close\r\n\r\n")
	reply, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.HasPrefix(string(reply), "HTTP/1.1 404") {
		t.Errorf("absolute-form request answered %q", firstLine(string(reply)))
	}
	if n := app.wakes.Load(); n != 0 {
		t.Fatalf("unknown hosts caused %d wakes", n)
	}
}

func firstLine(s string) string { return strings.SplitN(s, "\r\n", 2)[0] }

func TestConcurrentRequestsCauseOneWakeAndAllGetTheAppsResponse(t *testing.T) {
	app := newFakeApp(t, 300*time.Millisecond)
	a, srv := startActivator(t, ActivatorConfig{ProbeInterval: 10 * time.Millisecond}, app)
	const n = 500
	var wg sync.WaitGroup
	errs := make(chan string, n)
	var cold atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp := request(t, srv, "Docs.Example.com:80", fmt.Sprintf("/page/%d", i), fmt.Sprintf("body-%d", i), nil)
			got := readAll(t, resp)
			want := fmt.Sprintf("app=/web/docs host=Docs.Example.com:80 path=/page/%d body=body-%d", i, i)
			if resp.StatusCode != 200 || got != want {
				errs <- fmt.Sprintf("request %d: %d %q", i, resp.StatusCode, got)
				return
			}
			// Requests that arrive after the task answered go straight to it: only held ones are cold.
			if resp.Header.Get(HeaderColdStart) == "true" {
				cold.Add(1)
				if resp.Header.Get(HeaderWakeTime) == "" {
					errs <- fmt.Sprintf("request %d: cold start without its wake duration", i)
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if w := app.wakes.Load(); w != 1 {
		t.Fatalf("%d wakes for %d concurrent requests, want exactly 1", w, n)
	}
	if cold.Load() == 0 {
		t.Fatal("no request reported a cold start, though the app was asleep")
	}
	if h := a.Held(); h != 0 {
		t.Fatalf("%d requests still counted as held", h)
	}
	// Later requests that the load balancer still sends here go straight to the task.
	resp := request(t, srv, "docs.example.com", "/again", "", nil)
	if got := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(got, "path=/again") || resp.Header.Get(HeaderColdStart) != "" {
		t.Fatalf("warm request: %d %q cold=%q", resp.StatusCode, got, resp.Header.Get(HeaderColdStart))
	}
	if w := app.wakes.Load(); w != 1 {
		t.Fatalf("a warm request woke the app again (%d wakes)", w)
	}
}

func TestHoldBoundsAnswer503WithRetryAfter(t *testing.T) {
	app := newFakeApp(t, time.Hour) // never starts within the test
	a, srv := startActivator(t, ActivatorConfig{MaxHeldPerApp: 2, ProbeInterval: 10 * time.Millisecond}, app)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/", nil)
		req.Host = "docs.example.com"
		go func() {
			if resp, err := srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	waitUntil(t, func() bool { return a.Held() == 2 })
	resp := request(t, srv, "docs.example.com", "/", "", nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too many") {
		t.Fatalf("third request: %d %q, want 503 too many", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") != "30" {
		t.Fatalf("Retry-After %q, want the hold timeout in seconds", resp.Header.Get("Retry-After"))
	}
	cancel()
	waitUntil(t, func() bool { return a.Held() == 0 })
}

// waitUntil polls cond with a generous bound: nothing here depends on how fast the machine is.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHoldTimeoutAnswers503(t *testing.T) {
	app := newFakeApp(t, time.Hour)
	a, srv := startActivator(t, ActivatorConfig{ProbeInterval: 10 * time.Millisecond}, app)
	a.SetRoutes(map[string]Route{"docs.example.com": {App: "/web/docs", HoldTimeout: 200 * time.Millisecond}})
	resp := request(t, srv, "docs.example.com", "/", "", nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, "did not wake in time") {
		t.Fatalf("got %d Retry-After=%q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestBodyOverLimitIs413(t *testing.T) {
	app := newFakeApp(t, 0)
	_, srv := startActivator(t, ActivatorConfig{MaxBodyBytes: 10}, app)
	resp := request(t, srv, "docs.example.com", "/", strings.Repeat("x", 11), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	if app.wakes.Load() != 0 {
		t.Fatal("a refused request woke the app")
	}
}

func TestBrowsersGetAWaitingPageAndTheWakeStarts(t *testing.T) {
	app := newFakeApp(t, 50*time.Millisecond)
	_, srv := startActivator(t, ActivatorConfig{WaitingPage: true, ProbeInterval: 10 * time.Millisecond}, app)
	resp := request(t, srv, "docs.example.com", "/", "", http.Header{"Accept": {"text/html,application/xhtml+xml"}})
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `http-equiv="refresh"`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("waiting page: %d %q", resp.StatusCode, body)
	}
	// The refresh then reaches the app.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp := request(t, srv, "docs.example.com", "/", "", http.Header{"Accept": {"text/html"}})
		body := readAll(t, resp)
		if resp.StatusCode == 200 && strings.Contains(body, "app=/web/docs") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app never answered the refreshed page: %d %q", resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if w := app.wakes.Load(); w != 1 {
		t.Fatalf("%d wakes, want 1", w)
	}
}

func TestATaskThatWentAwayIsWokenAgain(t *testing.T) {
	app := newFakeApp(t, 0)
	_, srv := startActivator(t, ActivatorConfig{ProbeInterval: 10 * time.Millisecond}, app)
	if resp := request(t, srv, "docs.example.com", "/one", "", nil); readAll(t, resp) == "" || resp.StatusCode != 200 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	app.stop() // the app went back to sleep behind the activator's back
	resp := request(t, srv, "docs.example.com", "/two", "", nil)
	if got := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(got, "path=/two") {
		t.Fatalf("request after the task went away: %d %q", resp.StatusCode, got)
	}
	if w := app.wakes.Load(); w != 2 {
		t.Fatalf("%d wakes, want 2", w)
	}
}

func FuzzHostOf(f *testing.F) {
	for _, s := range []string{"Docs.Example.com:8080", "[::1]:80", "a.b.", "", ":", "x:y:z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := hostOf(h)
		if got != strings.ToLower(got) {
			t.Fatalf("hostOf(%q) = %q is not lowercase", h, got)
		}
	})
}
