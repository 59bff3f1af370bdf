package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
)

// fakeWriter records what it is asked to write. fail (when set) makes a Write fail; reject (when set) rejects
// single rows.
type fakeWriter struct {
	mu      sync.Mutex
	batches []ingest.Batch
	seen    map[string]int // row id -> times written
	calls   int
	fail    func(call int) error
	reject  func(b ingest.Batch, row []json.RawMessage) (code, msg string, rejected bool)
	onWrite func(totalRows int)
}

func newFakeWriter() *fakeWriter { return &fakeWriter{seen: map[string]int{}} }

func rowID(b ingest.Batch, row []json.RawMessage) string {
	for i, n := range b.Names {
		if n == "id" {
			return b.FeatureGroup + "/" + string(row[i])
		}
	}
	return b.FeatureGroup + "/?"
}

func (w *fakeWriter) Write(ctx context.Context, batches []ingest.Batch) ([]ingest.Result, error) {
	w.mu.Lock()
	w.calls++
	if w.fail != nil {
		if err := w.fail(w.calls); err != nil {
			w.mu.Unlock()
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		w.mu.Unlock()
		return nil, err
	}
	res := make([]ingest.Result, len(batches))
	for i, b := range batches {
		w.batches = append(w.batches, b)
		res[i].Version = b.Version
		for j, r := range b.Rows {
			if w.reject != nil {
				if code, msg, ok := w.reject(b, r); ok {
					res[i].Failed = append(res[i].Failed, ingest.RowError{Row: j, Code: code, Error: msg})
					continue
				}
			}
			w.seen[rowID(b, r)]++
			res[i].Written++
		}
	}
	total := len(w.seen)
	cb := w.onWrite
	w.mu.Unlock()
	if cb != nil {
		cb(total)
	}
	return res, nil
}

func (w *fakeWriter) distinctRows() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

func (w *fakeWriter) snapshot() ([]ingest.Batch, map[string]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := make(map[string]int, len(w.seen))
	for k, v := range w.seen {
		seen[k] = v
	}
	return append([]ingest.Batch(nil), w.batches...), seen
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CONSUMER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startBroker starts an embedded broker on a free loopback port for one test.
func startBroker(t *testing.T) string {
	t.Helper()
	b, err := StartEmbeddedBroker(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addr()
}

func testConfig(addr, group string) Config {
	return Config{
		Brokers:        []string{addr},
		GroupID:        group,
		BatchSize:      100,
		Linger:         10 * time.Millisecond,
		RetryBackoff:   5 * time.Millisecond,
		RejoinBackoff:  50 * time.Millisecond,
		CommitInterval: 100 * time.Millisecond,
		DrainTimeout:   2 * time.Second,
	}
}

type running struct {
	c      *Consumer
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's result, once done is closed
}

// stop cancels the consumer and waits for Run to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("Run: %v", r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func startConsumer(t *testing.T, cfg Config, w ingest.Writer) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Deps{Writer: w, Logger: testLogger(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	c.tuneGroup = func(sc *sarama.Config) {
		sc.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
		sc.Consumer.Group.Session.Timeout = 6 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, reg: reg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
		}
	})
	return r
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func saramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = KafkaVersion
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	return sc
}

type testMsg struct {
	key     string
	value   string
	headers map[string]string
}

func v2Headers(fg, version, runID string) map[string]string {
	h := map[string]string{HeaderSDKVersion: "v2", HeaderFeatureGroupName: fg, HeaderReplicatedWrites: "true"}
	if version != "" {
		h[HeaderFeatureGroupVer] = version
	}
	if runID != "" {
		h[HeaderRunID] = runID
	}
	return h
}

func produce(t *testing.T, addr, topic string, msgs []testMsg) {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pms := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pm := &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(m.value)}
		if m.key != "" {
			pm.Key = sarama.StringEncoder(m.key)
		}
		keys := make([]string, 0, len(m.headers))
		for k := range m.headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(m.headers[k])})
		}
		pms[i] = pm
	}
	if err := p.SendMessages(pms); err != nil {
		t.Fatal(err)
	}
}

// readTopic reads n messages from every partition of topic (from the oldest offset).
func readTopic(t *testing.T, addr, topic string, n int, timeout time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	cons, err := sarama.NewConsumer([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	parts, err := cons.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *sarama.ConsumerMessage, 1024)
	for _, p := range parts {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				out <- m
			}
		}()
	}
	var got []*sarama.ConsumerMessage
	timer := time.After(timeout)
	for len(got) < n {
		select {
		case m := <-out:
			got = append(got, m)
		case <-timer:
			t.Fatalf("read %d of %d messages from %s", len(got), n, topic)
		}
	}
	return got
}

// assertCommittedToEnd checks that group's committed offset of every partition of topic is its high watermark.
func assertCommittedToEnd(t *testing.T, addr, group, topic string) {
	t.Helper()
	client, err := sarama.NewClient([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: parts})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		hw, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		blk := resp.GetBlock(topic, p)
		if blk == nil {
			t.Fatalf("no committed offset block for %s/%d", topic, p)
		}
		if blk.Offset != hw {
			t.Errorf("%s/%d: committed offset %d, high watermark %d", topic, p, blk.Offset, hw)
		}
	}
}

func header(m *sarama.ConsumerMessage, k string) string {
	for _, h := range m.Headers {
		if string(h.Key) == k {
			return string(h.Value)
		}
	}
	return ""
}

func counter(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

func rowJSON(id int, extra map[string]any) string {
	m := map[string]any{"id": id}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

var errStoreDown = errors.New("online store unavailable")

func ids(n int, fg string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fg + "/" + strconv.Itoa(i)
	}
	return out
}
