package hibernator

import "github.com/prometheus/client_golang/prometheus"

// Reasons a request was not forwarded by the activator (label values of
// marmot_hibernator_activator_rejected_requests_total).
const (
	RejectUnknownHost  = "unknown_host"
	RejectQueueFull    = "queue_full"
	RejectTimeout      = "hold_timeout"
	RejectWakeFailed   = "wake_failed"
	RejectBodyTooLarge = "body_too_large"
	RejectClientGone   = "client_gone"
	RejectWaitingPage  = "waiting_page"
)

// ActivatorMetrics are the activator's Prometheus series.
type ActivatorMetrics struct {
	held        prometheus.Gauge
	rejected    *prometheus.CounterVec
	forwarded   *prometheus.CounterVec
	wakes       *prometheus.CounterVec
	wakeLatency prometheus.Histogram
}

// NewActivatorMetrics makes the series and registers them on reg (nil: not registered). Every label
// value starts at zero so that rates and alerts work from the first scrape.
func NewActivatorMetrics(reg prometheus.Registerer) *ActivatorMetrics {
	m := &ActivatorMetrics{
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "marmot_hibernator_activator_held_requests", Help: "Requests the activator holds now while their app wakes.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_activator_rejected_requests_total", Help: "Requests the activator answered itself instead of forwarding, by reason.",
		}, []string{"reason"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_activator_forwarded_requests_total", Help: "Requests forwarded to a task: cold (held during a wake) or warm (load balancer lag).",
		}, []string{"kind"}),
		wakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marmot_hibernator_activator_wakes_total", Help: "Wakes the activator ran, by result.",
		}, []string{"result"}),
		wakeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "marmot_hibernator_wake_duration_seconds",
			Help:    "From a held request's arrival to its forwarding to the woken task.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
		}),
	}
	for _, r := range []string{RejectUnknownHost, RejectQueueFull, RejectTimeout, RejectWakeFailed, RejectBodyTooLarge, RejectClientGone, RejectWaitingPage} {
		m.rejected.WithLabelValues(r)
	}
	m.forwarded.WithLabelValues("cold")
	m.forwarded.WithLabelValues("warm")
	m.wakes.WithLabelValues("ok")
	m.wakes.WithLabelValues("failed")
	if reg != nil {
		reg.MustRegister(m.held, m.rejected, m.forwarded, m.wakes, m.wakeLatency)
	}
	return m
}
