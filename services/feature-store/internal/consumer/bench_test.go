package consumer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkConsume measures end-to-end consumption (embedded broker, real sarama, fake writer) of 20000 v2
// messages per iteration, each iteration a fresh consumer group.
func BenchmarkConsume(b *testing.B) {
	const n = 20000
	broker, err := StartEmbeddedBroker(b.Context(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	p, err := sarama.NewSyncProducer([]string{broker.Addr()}, saramaConfig())
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: DefaultTopic, Value: sarama.StringEncoder(rowJSON(i, map[string]any{"f1": i, "f2": "abc"})),
			Headers: []sarama.RecordHeader{{Key: []byte(HeaderSDKVersion), Value: []byte("v2")}, {Key: []byte(HeaderFeatureGroupName), Value: []byte("fg")}}}
	}
	if err := p.SendMessages(msgs); err != nil {
		b.Fatal(err)
	}
	p.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		w := newFakeWriter()
		cfg := testConfig(broker.Addr(), fmt.Sprintf("bench-%d", i))
		cfg.BatchSize = 500
		c, err := New(cfg, Deps{Writer: w, Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = c.Run(ctx) }()
		for w.distinctRows() < n {
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "msgs/s")
}
