package domain

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/pkg/metrics"
)

// Metrics are compute's Prometheus metrics; a nil *Metrics records nothing.
type Metrics struct {
	pollPasses  prometheus.Counter
	transitions *prometheus.CounterVec
	stops       *prometheus.CounterVec
}

// NewMetrics registers compute's metrics on reg (nil reg: unregistered collectors).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		pollPasses: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "darwin_compute_poll_passes_total", Help: "Status poller passes."})),
		transitions: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "darwin_compute_status_transitions_total", Help: "Cluster status changes by new status."}, []string{"status"})),
		stops: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "darwin_compute_cluster_stops_total", Help: "Cluster stops by reason (user, auto_termination, timeout)."}, []string{"reason"})),
	}
}

func (m *Metrics) poll() {
	if m != nil {
		m.pollPasses.Inc()
	}
}

func (m *Metrics) transition(status string) {
	if m != nil {
		m.transitions.WithLabelValues(status).Inc()
	}
}

func (m *Metrics) stop(extra []string) {
	if m == nil {
		return
	}
	reason := "user"
	for _, e := range extra {
		switch e {
		case "AUTO_TERMINATED":
			reason = "auto_termination"
		case "CLUSTER_TIMEOUT":
			reason = "timeout"
		}
	}
	m.stops.WithLabelValues(reason).Inc()
}
