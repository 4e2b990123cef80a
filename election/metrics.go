package election

import "github.com/prometheus/client_golang/prometheus"

// Reason says why this replica's leadership began or ended. It is the reason label of
// marmot_<component>_leader_transitions_total and the reason field of the election's logs.
type Reason string

const (
	// Elected: this replica's znode became the lowest.
	Elected Reason = "elected"
	// Resigned: Run's context ended; the znode was deleted so that a follower takes over at once.
	Resigned Reason = "resigned"
	// SessionExpired: ZooKeeper expired the session; the znode is gone and others may already lead.
	SessionExpired Reason = "session_expired"
	// LeaseLapsed: ZooKeeper did not answer within the lease (disconnected, partitioned or too slow).
	LeaseLapsed Reason = "lease_lapsed"
	// ZnodeDeleted: someone deleted this replica's znode.
	ZnodeDeleted Reason = "znode_deleted"
	// CallbackReturned: the leader callback returned by itself; Run resigns and returns its error.
	CallbackReturned Reason = "callback_returned"
)

var reasons = []Reason{Elected, Resigned, SessionExpired, LeaseLapsed, ZnodeDeleted, CallbackReturned}

// Metrics are the election's Prometheus series for one daemon.
type Metrics struct {
	leader      prometheus.Gauge
	transitions *prometheus.CounterVec
	connected   prometheus.Gauge
	candidates  prometheus.Gauge
}

// NewMetrics makes the series of the daemon named component ("autoscaler", "hibernator") and registers
// them on reg (nil: not registered). Every series starts at zero. It panics, like MustRegister, when
// component makes an invalid metric name or the series are already registered.
//
//	marmot_<component>_leader                      1 while this replica leads
//	marmot_<component>_leader_transitions_total     leadership gained or lost, by reason
//	marmot_<component>_zookeeper_connected          1 while this replica has a ZooKeeper session
//	marmot_<component>_election_candidates          replicas standing for election, as last seen
func NewMetrics(component string, reg prometheus.Registerer) *Metrics {
	p := "marmot_" + component + "_"
	m := &Metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: p + "leader", Help: "1 while this replica leads, 0 otherwise.",
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: p + "leader_transitions_total", Help: "Times this replica gained (elected) or lost leadership, by reason.",
		}, []string{"reason"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: p + "zookeeper_connected", Help: "1 while this replica has a live ZooKeeper session, 0 otherwise.",
		}),
		candidates: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: p + "election_candidates", Help: "Replicas standing for election (this one included), as this replica last saw them.",
		}),
	}
	for _, r := range reasons {
		m.transitions.WithLabelValues(string(r))
	}
	if reg != nil {
		reg.MustRegister(m.leader, m.transitions, m.connected, m.candidates)
	}
	return m
}

func (m *Metrics) setLeader(leading bool, r Reason) {
	if m == nil {
		return
	}
	m.leader.Set(b2f(leading))
	m.transitions.WithLabelValues(string(r)).Inc()
}

func (m *Metrics) setConnected(up bool) {
	if m != nil {
		m.connected.Set(b2f(up))
	}
}

func (m *Metrics) setCandidates(n int) {
	if m != nil {
		m.candidates.Set(float64(n))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
