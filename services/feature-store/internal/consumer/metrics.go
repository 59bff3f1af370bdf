package consumer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/pkg/metrics"
)

type consumerMetrics struct {
	messages      *prometheus.CounterVec // labels: topic
	rowsWritten   prometheus.Counter
	dlq           *prometheus.CounterVec // labels: reason
	batchSeconds  prometheus.Histogram
	writeRetries  prometheus.Counter
	writeFailures prometheus.Counter
	sessions      prometheus.Counter
	lag           *prometheus.GaugeVec // labels: topic, partition
}

func newMetrics(reg prometheus.Registerer) *consumerMetrics {
	const ns = "darwin_feature_store_consumer_"
	return &consumerMetrics{
		messages: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "messages_total", Help: "Kafka messages consumed by the feature store consumer.",
		}, []string{"topic"})),
		rowsWritten: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "rows_written_total", Help: "Rows the consumer wrote to the online store.",
		})),
		dlq: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "dlq_messages_total", Help: "Messages sent to the dead-letter topic, by reason (invalid, header, legacy, rejected).",
		}, []string{"reason"})),
		batchSeconds: metrics.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: ns + "batch_duration_seconds", Help: "Time to write one batch (parse, store writes with retries, dead letters).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		})),
		writeRetries: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "write_retries_total", Help: "Online-store writes retried after an error.",
		})),
		writeFailures: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "write_failures_total", Help: "Batches given up after every retry failed (left uncommitted for redelivery).",
		})),
		sessions: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "sessions_total", Help: "Consumer group sessions started (one per rebalance).",
		})),
		lag: metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ns + "lag_messages", Help: "Messages of an assigned partition not yet written (high watermark minus next offset).",
		}, []string{"topic", "partition"})),
	}
}
