package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marmot-project/marmot/cloud"
	awscloud "github.com/marmot-project/marmot/cloud/aws"
	"github.com/marmot-project/marmot/marathon"
	"github.com/marmot-project/marmot/mesos"
)

// started runs "simulate serve" in-process as a user would from the shell, and returns the endpoint
// lines it printed.
func started(t *testing.T, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	})
	endpoints := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var mu sync.Mutex
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("serve stopped before printing its endpoints")
			}
			if name, url, found := strings.Cut(l, " "); found && strings.HasPrefix(url, "http://") {
				mu.Lock()
				endpoints[name] = url
				mu.Unlock()
			}
			if _, ok := endpoints["control"]; ok {
				go func() {
					for range lines { // keep draining the summary lines
					}
				}()
				return endpoints
			}
		case <-timeout:
			t.Fatal("serve printed no endpoints within 30s")
		}
	}
}

var free = []string{"--mesos-addr", "127.0.0.1:0,127.0.0.1:0,127.0.0.1:0", "--marathon-addr", "127.0.0.1:0,127.0.0.1:0", "--aws-addr", "127.0.0.1:0", "--control-addr", "127.0.0.1:0"}

func TestServeAnswersTheRealClients(t *testing.T) {
	// Static credentials, and never the instance metadata service: tests talk to loopback only.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDSIMULATED")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "simulated")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ep := started(t, append([]string{"--scenario", "small", "--real-tasks", "--speed", "30", "--log-level", "error"}, free...)...)
	for _, name := range []string{"mesos", "marathon", "aws", "control", "mesos-standby", "marathon-standby"} {
		if ep[name] == "" {
			t.Fatalf("no %q endpoint line in %v", name, ep)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Mesos, through mesos-go, started on a standby: it must follow the leader.
	mc, err := mesos.New(mesos.Config{URLs: []string{ep["mesos-standby"]}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	agents, err := mc.Agents(ctx)
	if err != nil || len(agents) != 3 {
		t.Fatalf("mesos agents: %d, %v", len(agents), err)
	}
	if mc.Leader() != ep["mesos"] {
		t.Errorf("mesos client leads to %s, want %s", mc.Leader(), ep["mesos"])
	}

	// AWS, through aws-sdk-go-v2.
	provider, err := awscloud.New(ctx, awscloud.WithEndpoint(ep["aws"]), awscloud.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	groups, err := provider.Groups(ctx, cloud.GroupQuery{Tags: map[string]string{"marmot:pool": "default"}})
	if err != nil || len(groups) != 1 || len(groups[0].Instances) != 3 {
		t.Fatalf("groups: %+v, %v", groups, err)
	}
	agentIPs := map[string]bool{}
	for _, a := range agents {
		agentIPs[a.IP] = true
	}
	for _, i := range groups[0].Instances {
		if !agentIPs[i.PrivateIP] {
			t.Errorf("instance %s (%s) has no Mesos agent on its IP", i.ID, i.PrivateIP)
		}
	}

	// Marathon, through go-marathon, and a request that reaches a real task it started.
	mar, err := marathon.New(marathon.Config{URLs: []string{ep["marathon-standby"]}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	app, err := mar.App(ctx, "/web/frontend")
	if err != nil || len(app.Tasks) == 0 {
		t.Fatalf("app: %+v, %v", app, err)
	}
	var reply struct{ App, Task string }
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + app.Tasks[0].Addr(0) + "/hello")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&reply)
			resp.Body.Close()
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s never answered: %v", app.Tasks[0].Addr(0), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if reply.App != "/web/frontend" || reply.Task != app.Tasks[0].ID {
		t.Fatalf("task answered %+v, want app /web/frontend task %s", reply, app.Tasks[0].ID)
	}

	// A fault through the control endpoint: the Mesos leader moves, the client follows.
	resp, err := http.Post(ep["control"]+"/faults", "application/json", strings.NewReader(`{"kind":"mesos_leader_change"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("inject fault: %v %v", err, resp)
	}
	resp.Body.Close()
	if _, err := mc.Agents(ctx); err != nil {
		t.Fatalf("after a leader change: %v", err)
	}
	if mc.Leader() == ep["mesos"] {
		t.Errorf("mesos client still on the old leader %s", mc.Leader())
	}
}

func TestBadInputIsRefusedWithTheFieldNamed(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--speed", "0"}, "--speed"},
		{[]string{"serve", "--log-level", "loud"}, "--log-level"},
		{[]string{"serve", "--scenario", "no-such-scenario"}, "neither a built-in"},
		{[]string{"frobnicate"}, "unknown command"},
	} {
		var stderr strings.Builder
		if code := run(context.Background(), c.args, io.Discard, &stderr); code == 0 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want a failure naming %q", c.args, code, stderr.String(), c.want)
		}
	}
}

func TestControlRejectsBadFaults(t *testing.T) {
	ep := started(t, append([]string{"--scenario", "small", "--log-level", "error"}, free...)...)
	for body, want := range map[string]string{
		`{"kind":"meteor_strike"}`:                                  "fault.kind",
		`{"kind":"http_error","service":"dns"}`:                     "fault.service",
		`{"kind":"slow_response","service":"mesos","delay":"soon"}`: "fault.delay",
		`{"kind":"aws_throttle","rate":2}`:                          "fault.rate",
		`not json`:                                                  "fault:",
	} {
		resp, err := http.Post(ep["control"]+"/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s; want 400 naming %s", body, resp.StatusCode, b, want)
		}
	}

}

func TestVersionIsPrinted(t *testing.T) {
	var out strings.Builder
	if code := run(context.Background(), []string{"--version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "simulate ") {
		t.Fatalf("--version: exit %d, %q", code, out.String())
	}
}
