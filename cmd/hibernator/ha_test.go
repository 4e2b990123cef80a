package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marmot-project/marmot/election"
	"github.com/marmot-project/marmot/hibernator"
	"github.com/marmot-project/marmot/hibernator/daemontest"
	"github.com/marmot-project/marmot/internal/daemon/zktest"
	"github.com/marmot-project/marmot/policy"
	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
)

// labelDocsAsleep scales /web/docs to zero with the labels a hibernator writes, remembering
// instances to wake it with, as a hibernator that ran before the one under test would have left it.
// It returns the app as it was before.
func labelDocsAsleep(t *testing.T, g marathonGlue, instances string) hibernator.App {
	t.Helper()
	ctx := context.Background()
	docs, err := g.App(ctx, "/web/docs")
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	labels := docs.Labels
	labels[policy.LabelHibernatedInstances], labels[policy.LabelHibernatedAt] = instances, "2026-01-05T00:00:00Z"
	if err := g.Update(ctx, "/web/docs", hibernator.AppUpdate{Instances: &zero, Labels: labels}); err != nil {
		t.Fatal(err)
	}
	return docs
}

// putDocsToSleep puts /web/docs to sleep as a hibernator would have, and returns a counter of the
// PUTs Marathon receives for it from now on.
func putDocsToSleep(t *testing.T, c *serve.Cluster) func() int {
	t.Helper()
	g := newGlue(t, c)
	ctx := context.Background()
	labelDocsAsleep(t, g, "1")
	daemontest.Eventually(t, "/web/docs at zero", func() error {
		if deps, _ := g.Deployments(ctx); len(deps) > 0 {
			return io.ErrNoProgress
		}
		return nil
	})
	var mu sync.Mutex
	puts := 0
	sub := c.World.SubscribeMarathon(1 << 12)
	t.Cleanup(sub.Close)
	go func() {
		for e := range sub.C {
			if e.Type == simulate.EventAPIPost && e.AppID == "/web/docs" {
				mu.Lock()
				puts++
				mu.Unlock()
			}
		}
	}()
	return func() int { mu.Lock(); defer mu.Unlock(); return puts }
}

func statusElection(t *testing.T, status string) election.Status {
	t.Helper()
	var doc struct {
		Election election.Status `json:"election"`
	}
	resp, err := http.Get("http://" + status + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Election
}

// TestTwoReplicasWakeAnAppOnce: two hibernator replicas share a ZooKeeper election; the activator
// answers in both, the follower's included. Requests for a sleeping app reach both activators at
// once; the app is woken by exactly one PUT to Marathon and ends at its remembered instance count.
func TestTwoReplicasWakeAnAppOnce(t *testing.T) {
	zk := zktest.Start(t)
	c := simulated(t)
	puts := putDocsToSleep(t, c)
	ha := []string{"--zk", "zk://" + zk + "/marmot/hibernator/leader", "--traffic-interval", "200ms"}
	statusA, actA, _ := daemonUnderTest(t, c, nil, ha...)
	statusB, actB, _ := daemonUnderTest(t, c, nil, ha...)
	daemontest.Eventually(t, "one leader, one follower", func() error {
		a, b := statusElection(t, statusA), statusElection(t, statusB)
		if a.Leading == b.Leading || a.Leader != b.Leader || a.Candidates != 2 {
			return io.ErrNoProgress
		}
		return nil
	})
	// Both activators know the app's hosts: the follower reads them from Marathon.
	client := &http.Client{Timeout: 3 * time.Second}
	var wg sync.WaitGroup
	for i := range 20 {
		act := actA
		if i%2 == 1 {
			act = actB
		}
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, "http://"+act+"/", nil)
			req.Host = "docs.example.com"
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	g := newGlue(t, c)
	daemontest.Eventually(t, "/web/docs awake", func() error {
		if a, err := g.App(context.Background(), "/web/docs"); err != nil || a.Instances != 1 {
			return io.ErrNoProgress
		}
		return nil
	})
	time.Sleep(2 * time.Second) // a second wake would come now
	if n := puts(); n != 1 {
		t.Fatalf("%d PUTs for /web/docs, want exactly one wake", n)
	}
	for _, s := range []string{statusA, statusB} {
		if !strings.Contains(metricsOf(t, s), `marmot_hibernator_leader `) {
			t.Errorf("%s: no leader metric", s)
		}
	}
	if a, _ := g.App(context.Background(), "/web/docs"); a.Instances != 1 {
		t.Fatalf("/web/docs has %d instances, want 1", a.Instances)
	}
}

// TestActivatorCutsSlowClientsAndSecretsStayHidden: a client that sends its headers a byte at a time
// is cut off at the read-header timeout, headers over the limit get 431, the activator does not serve
// metrics or status, and the Marathon password and ZooKeeper credentials appear neither in the logs
// nor in /status.
func TestActivatorCutsSlowClientsAndSecretsStayHidden(t *testing.T) {
	c := simulated(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "marathon-password")
	if err := os.WriteFile(pw, []byte("marathon-Pa55-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MARMOT_ZK_AUTH", "marmot:zk-Pa55-secret")
	status, act, logs := daemonUnderTest(t, c, nil, "--marathon-user", "marmot", "--marathon-password-file", pw,
		"--activator-read-header-timeout", "500ms", "--activator-max-header-bytes", "8192", "--log-level", "debug")

	conn, err := net.Dial("tcp", act)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		closed <- time.Since(start)
	}()
	slow := "GET / HTTP/1.1\r\nHost: docs.example.com\r\nX-Slow: " + strings.Repeat("a", 40)
	for _, b := range []byte(slow) {
		if _, err := conn.Write([]byte{b}); err != nil {
			break
		}
		select {
		case took := <-closed:
			t.Logf("the slow client was cut off after %s", took.Round(time.Millisecond))
			if took > 3*time.Second {
				t.Errorf("cut off after %s; the read-header timeout is 500ms", took)
			}
			goto cut
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatal("the slow client was never cut off")
cut:
	req, _ := http.NewRequest(http.MethodGet, "http://"+act+"/", nil)
	req.Host = "docs.example.com"
	req.Header.Set("X-Big", strings.Repeat("b", 16<<10))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 16 KiB header: %v %v, want 431", err, resp)
	} else {
		resp.Body.Close()
	}
	if resp, err := http.Get("http://" + act + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "go_goroutines") {
			t.Error("the activator serves metrics")
		}
	}

	resp, err := http.Get("http://" + status + "/status")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := io.ReadAll(bufio.NewReader(resp.Body))
	resp.Body.Close()
	for _, secret := range []string{"marathon-Pa55-secret", "zk-Pa55-secret"} {
		if strings.Contains(logs.String(), secret) || strings.Contains(string(st), secret) || strings.Contains(metricsOf(t, status), secret) {
			t.Errorf("%s shows in the logs, /status or /metrics", secret)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	var out strings.Builder
	if code := run(context.Background(), []string{"--version"}, &out, io.Discard, env{now: time.Now}); code != 0 || !strings.HasPrefix(out.String(), "hibernator ") {
		t.Fatalf("--version: %d %q", code, out.String())
	}
}
