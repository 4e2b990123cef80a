package marathonapi

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/marmot-project/marmot/simulate"
)

// listDeployments is GET /v2/deployments. The list changes in the same model step as the PUT that
// starts a deployment: go-marathon's WaitOnDeployment takes an absent id for a finished deployment.
func (s *server) listDeployments(w http.ResponseWriter, _ *http.Request) {
	out := []map[string]any{}
	s.world.View(func(v *simulate.View) {
		for _, d := range v.Deployments() {
			out = append(out, deploymentJSON(d))
		}
	})
	writeJSON(w, http.StatusOK, out)
}

// deleteDeployment is DELETE /v2/deployments/{id}: 200 with the rollback deployment, or with
// force=true 202 and no body (deployments.raml).
func (s *server) deleteDeployment(w http.ResponseWriter, r *http.Request) {
	force := query(r.URL.Query()).flag("force", false)
	ref, err := s.world.DeleteDeployment(r.PathValue("id"), force)
	if err != nil {
		writeErr(w, err)
		return
	}
	if force {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	deploymentResult(w, http.StatusOK, ref)
}

// queue is GET /v2/queue[?embed=lastUnusedOffers].
func (s *server) queue(w http.ResponseWriter, r *http.Request) {
	offers := query(r.URL.Query()).set("embed")["lastUnusedOffers"]
	out := []map[string]any{}
	s.world.View(func(v *simulate.View) {
		for _, e := range v.Queue() {
			out = append(out, queueJSON(v, e, offers))
		}
	})
	writeJSON(w, http.StatusOK, map[string]any{"queue": out})
}

// resetDelay is DELETE /v2/queue/{id}/delay: 204 (QueueResource answers noContent).
func (s *server) resetDelay(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("rest"), "/delay")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := s.world.ResetDelay(id); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ping is GET /ping; Marathon answers "pong\n" as text/plain (its HTTP integration tests).
func (s *server) ping(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("pong\n"))
}

// getLeader is GET /v2/leader.
func (s *server) getLeader(w http.ResponseWriter, _ *http.Request) {
	leader := s.leader()
	if leader < 0 || leader >= len(s.instances) {
		writeError(w, http.StatusNotFound, "There is no leader")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"leader": s.instances[leader]})
}

// abdicate is DELETE /v2/leader: leadership passes to the next instance (a lone instance is re-elected
// at once, as it would be after its restart).
func (s *server) abdicate(w http.ResponseWriter, _ *http.Request) {
	next := (s.index + 1) % len(s.instances)
	if err := s.world.SetMarathonLeader(next); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "Leadership abdicated"})
}

// marathonVersion is the Marathon release the simulator answers as: the last one (v1.10.26).
const marathonVersion = "1.10.26"

// info is GET /v2/info, shaped as info.json; the configuration values are Marathon's defaults, with the
// addresses of this cluster.
func (s *server) info(w http.ResponseWriter, _ *http.Request) {
	var frameworkID string
	var instances int
	s.world.View(func(v *simulate.View) { frameworkID, instances = v.FrameworkID(), v.MarathonInstances() })
	self := s.instances[s.index]
	host, portText, _ := net.SplitHostPort(self)
	port, _ := strconv.Atoi(portText)
	writeJSON(w, http.StatusOK, map[string]any{
		"name":        "marathon",
		"version":     marathonVersion,
		"buildref":    "simulated",
		"elected":     true, // only the leader answers; a standby forwards
		"leader":      self,
		"frameworkId": frameworkID,
		"marathon_config": map[string]any{
			"access_control_allow_origin":        nil,
			"checkpoint":                         true,
			"decline_offer_duration":             120000,
			"default_network_name":               nil,
			"env_vars_prefix":                    nil,
			"executor":                           "//cmd",
			"failover_timeout":                   604800,
			"features":                           []string{},
			"framework_name":                     "marathon",
			"ha":                                 instances > 1,
			"hostname":                           host,
			"launch_token":                       100,
			"launch_token_refresh_interval":      30000,
			"leader_proxy_connection_timeout_ms": proxyConnectTimeout.Milliseconds(),
			"leader_proxy_read_timeout_ms":       proxyReadTimeout.Milliseconds(),
			"local_port_max":                     servicePortMax,
			"local_port_min":                     servicePortMin,
			"master":                             "zk://localhost:2181/mesos",
			"max_instances_per_offer":            5,
			"mesos_bridge_name":                  "mesos-bridge",
			"mesos_heartbeat_failure_threshold":  5,
			"mesos_heartbeat_interval":           15000,
			"mesos_leader_ui_url":                nil,
			"mesos_role":                         nil,
			"mesos_user":                         "root",
			"min_revive_offers_interval":         5000,
			"offer_matching_timeout":             3000,
			"on_elected_prepare_timeout":         180000,
			"reconciliation_initial_delay":       15000,
			"reconciliation_interval":            600000,
			"scale_apps_initial_delay":           15000,
			"scale_apps_interval":                300000,
			"store_cache":                        true,
			"task_launch_confirm_timeout":        300000,
			"task_launch_timeout":                300000,
			"task_lost_expunge_initial_delay":    300000,
			"task_lost_expunge_interval":         30000,
			"task_reservation_timeout":           20000,
			"webui_url":                          "http://" + self,
		},
		"zookeeper_config": map[string]any{
			"zk":                       "zk://localhost:2181/marathon",
			"zk_compression":           true,
			"zk_compression_threshold": 65536,
			"zk_connection_timeout":    10000,
			"zk_max_node_size":         1024000,
			"zk_max_versions":          50,
			"zk_session_timeout":       10000,
			"zk_timeout":               10000,
		},
		"http_config": map[string]any{"http_port": port, "https_port": 8443},
	})
}
