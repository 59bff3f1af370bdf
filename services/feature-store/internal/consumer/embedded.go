package consumer

import (
	"context"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedPartitions is the partition count of the embedded broker's topics (seeded and auto-created).
const EmbeddedPartitions = 4

// EmbeddedBroker is an in-process Kafka broker (the Kafka wire protocol, served by franz-go's kfake) for a laptop
// install (`darwin up`), where no Kafka server runs. Clients (this consumer, the admin routes, the Python SDK or
// Spark) connect to Addr exactly as to a real broker.
//
// It keeps every message, topic and committed offset IN MEMORY ONLY: everything is lost when the process stops,
// including messages produced but not yet consumed. Use a real Kafka cluster (-feature-store.consumer.brokers) for
// anything that must survive a restart.
type EmbeddedBroker struct {
	cluster *kfake.Cluster
	addr    string
	stop    func() bool
}

// StartEmbeddedBroker starts an embedded broker listening on addr (host:port; an empty host means 127.0.0.1,
// port 0 picks a free port; the usual value is DefaultBroker, the SDK's local Kafka address). It creates the
// topics "default" and "darwin_default_dlq", plus topics, with EmbeddedPartitions partitions each, and allows
// producers to auto-create other topics. The broker stops when ctx is done or Close is called.
func StartEmbeddedBroker(ctx context.Context, addr string, topics ...string) (*EmbeddedBroker, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	listenAddr := net.JoinHostPort(host, port)
	seed := append([]string{DefaultTopic, (&Config{}).DLQTopic()}, topics...)
	for _, t := range seed {
		if err := validTopicName(t); err != nil {
			return nil, fmt.Errorf("embedded kafka: topic %q: %w", t, err)
		}
	}
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ClusterID("darwin-embedded"),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, listenAddr) }),
		kfake.SeedTopics(EmbeddedPartitions, seed...),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(EmbeddedPartitions),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: listen on %s: %w", listenAddr, err)
	}
	b := &EmbeddedBroker{cluster: cluster, addr: cluster.ListenAddrs()[0]}
	b.stop = context.AfterFunc(ctx, cluster.Close)
	return b, nil
}

// Addr is the broker's host:port (the bootstrap address for clients).
func (b *EmbeddedBroker) Addr() string { return b.addr }

// Close stops the broker and drops everything it held.
func (b *EmbeddedBroker) Close() {
	b.stop()
	b.cluster.Close()
}
