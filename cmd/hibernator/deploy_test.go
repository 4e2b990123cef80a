package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/hibernator"
)

// The files in deploy/ agree with each other and with the binary: the app definition runs flags the
// hibernator has, on the ports that the marathon-lb template and the nginx snippet send requests to,
// under the Mesos-DNS name they use, and gives it time to answer the requests it holds when stopped.
func TestDeployFilesAgree(t *testing.T) {
	var app struct {
		ID              string
		Cmd             string
		RequirePorts    bool
		PortDefinitions []struct {
			Port int
			Name string
		}
		HealthChecks []struct {
			Path      string
			PortIndex int
		}
		ReadinessChecks []struct{ Path, PortName string }
		Constraints     [][]string
		KillGrace       int `json:"taskKillGracePeriodSeconds"`
	}
	data, err := os.ReadFile("../../deploy/hibernator.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &app); err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	run(t.Context(), []string{"--help"}, io.Discard, &help, env{})
	used := regexp.MustCompile(`--[a-z-]+`).FindAllString(app.Cmd, -1)
	for _, flag := range used {
		if !regexp.MustCompile(`(?m)^  ` + flag + `( |$)`).MatchString(help.String()) {
			t.Errorf("the app runs %s, which the hibernator does not have", flag)
		}
	}
	for _, flag := range []string{"--marathon-url", "--policy", "--listen", "--activator-listen"} {
		if !slices.Contains(used, flag) {
			t.Errorf("the app's command lacks %s", flag)
		}
	}

	ports := map[string]int{}
	for _, p := range app.PortDefinitions {
		ports[p.Name] = p.Port
	}
	status, activator := strconv.Itoa(ports["status"]), strconv.Itoa(ports["activator"])
	if !app.RequirePorts || !strings.Contains(app.Cmd, "--listen :"+status) || !strings.Contains(app.Cmd, "--activator-listen :"+activator) {
		t.Errorf("the load balancers need fixed ports: requirePorts %v, ports %v, cmd %s", app.RequirePorts, ports, app.Cmd)
	}
	if !slices.ContainsFunc(app.Constraints, func(c []string) bool { return slices.Equal(c, []string{"hostname", "UNIQUE"}) }) {
		t.Error("two instances on one agent would ask for the same ports: hostname UNIQUE is missing")
	}
	if len(app.HealthChecks) != 1 || app.HealthChecks[0].Path != "/healthz" || app.PortDefinitions[app.HealthChecks[0].PortIndex].Name != "status" {
		t.Errorf("health check %+v", app.HealthChecks)
	}
	if len(app.ReadinessChecks) != 1 || app.ReadinessChecks[0].Path != "/readyz" || app.ReadinessChecks[0].PortName != "status" {
		t.Errorf("readiness check %+v", app.ReadinessChecks)
	}
	if drain := 30 * time.Second; time.Duration(app.KillGrace)*time.Second <= drain {
		t.Errorf("taskKillGracePeriodSeconds %d: Marathon would kill the hibernator before its --drain-timeout (%s)", app.KillGrace, drain)
	}

	// Mesos-DNS names /marmot/hibernator hibernator-marmot.marathon.mesos.
	segments := strings.Split(strings.Trim(app.ID, "/"), "/")
	slices.Reverse(segments)
	name := strings.Join(segments, "-") + ".marathon.mesos"
	for _, snippet := range []string{"marathon-lb/templates/HAPROXY_HTTP_FRONTEND_HEAD", "nginx/marmot-default-server.conf"} {
		text, err := os.ReadFile("../../deploy/" + snippet)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), name+":"+activator) {
			t.Errorf("%s does not send requests to %s:%s", snippet, name, activator)
		}
	}
	if text, _ := os.ReadFile("../../deploy/marathon-lb/templates/HAPROXY_HTTP_FRONTEND_HEAD"); !strings.Contains(string(text), "check port "+status) {
		t.Errorf("the marathon-lb template does not health-check the status port %s", status)
	}
	if text, _ := os.ReadFile("../../deploy/nginx/marmot-log-format.conf"); !strings.Contains(string(text), hibernator.NginxLogFormat) {
		t.Errorf("deploy/nginx/marmot-log-format.conf does not hold the format the hibernator reads:\n%s", hibernator.NginxLogFormat)
	}
}
