package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
)

func TestHappyPathBatchesByGroupVersionAndColumns(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	var msgs []testMsg
	for i := range 150 {
		msgs = append(msgs, testMsg{key: fmt.Sprint(i), value: rowJSON(i, map[string]any{"f1": float64(i) / 2, "f2": "x"}), headers: v2Headers("fg1", "v2", "run-7")})
	}
	for i := range 40 {
		extra := map[string]any{"g1": i}
		if i%2 == 1 {
			extra = map[string]any{"g2": true} // a second column set
		}
		msgs = append(msgs, testMsg{value: rowJSON(i, extra), headers: v2Headers("fg2", "", "")})
	}
	produce(t, addr, DefaultTopic, msgs)

	w := newFakeWriter()
	r := startConsumer(t, testConfig(addr, "happy"), w)
	waitFor(t, "all rows written", 15*time.Second, func() bool { return w.distinctRows() == 190 })
	if err := r.c.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
	batches, seen := w.snapshot()
	for _, id := range append(ids(150, "fg1"), ids(40, "fg2")...) {
		if seen[id] != 1 {
			t.Errorf("row %s written %d times, want 1", id, seen[id])
		}
	}
	maxRows := 0
	for _, b := range batches {
		maxRows = max(maxRows, len(b.Rows))
		if !slices.IsSorted(b.Names) {
			t.Errorf("batch names not sorted: %v", b.Names)
		}
		for _, row := range b.Rows {
			if len(row) != len(b.Names) {
				t.Fatalf("row has %d values for %d names", len(row), len(b.Names))
			}
		}
		switch b.FeatureGroup {
		case "fg1":
			if b.Version != "v2" || b.RunID != "run-7" || strings.Join(b.Names, ",") != "f1,f2,id" {
				t.Errorf("fg1 batch = version %q run %q names %v", b.Version, b.RunID, b.Names)
			}
		case "fg2":
			if b.Version != "" || b.RunID != "" {
				t.Errorf("fg2 batch = version %q run %q, want latest and no run", b.Version, b.RunID)
			}
			if n := strings.Join(b.Names, ","); n != "g1,id" && n != "g2,id" {
				t.Errorf("fg2 batch mixes column sets: %v", b.Names)
			}
		default:
			t.Errorf("unexpected feature group %q", b.FeatureGroup)
		}
	}
	if maxRows < 2 || maxRows > 100 {
		t.Errorf("largest batch has %d rows, want batching within the batch size 100", maxRows)
	}
	// the fg1 values arrive as the producer wrote them
	for _, b := range batches {
		if b.FeatureGroup == "fg1" {
			var f1 float64
			var id int
			if err := json.Unmarshal(b.Rows[0][0], &f1); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b.Rows[0][2], &id); err != nil {
				t.Fatal(err)
			}
			if f1 != float64(id)/2 {
				t.Errorf("row %d: f1 = %v", id, f1)
			}
			break
		}
	}
	if got := counter(t, r.c.m.messages.WithLabelValues(DefaultTopic)); got != 190 {
		t.Errorf("messages_total = %v, want 190", got)
	}
	if got := counter(t, r.c.m.rowsWritten); got != 190 {
		t.Errorf("rows_written_total = %v, want 190", got)
	}
	r.stop(t)
	assertCommittedToEnd(t, addr, "happy", DefaultTopic)
	if err := r.c.Ready(); err == nil {
		t.Error("Ready after stop = nil, want an error")
	}
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	good := v2Headers("fg1", "v1", "r1")
	noFG := map[string]string{HeaderSDKVersion: "v2"}
	legacy := map[string]string{HeaderFeatureGroupName: "fg1"}
	v3 := map[string]string{HeaderSDKVersion: "v3", HeaderFeatureGroupName: "fg1"}
	withOldError := v2Headers("fg1", "v1", "r1")
	withOldError[HeaderError] = "stale"
	msgs := []testMsg{
		{key: "k-bad-json", value: `{"id": 1,`, headers: good},
		{key: "k-array", value: `[1,2]`, headers: good},
		{key: "k-empty", value: `{}`, headers: good},
		{key: "k-no-fg", value: rowJSON(2, nil), headers: noFG},
		{key: "k-legacy", value: `{"featureGroupName":"fg1","features":[]}`, headers: legacy},
		{key: "k-v3", value: rowJSON(3, nil), headers: v3},
		{key: "k-rejected", value: rowJSON(13, map[string]any{"f1": "not-a-number"}), headers: withOldError},
	}
	for i := 100; i < 120; i++ {
		msgs = append(msgs, testMsg{value: rowJSON(i, map[string]any{"f1": 1.5}), headers: good})
	}
	produce(t, addr, DefaultTopic, msgs)

	w := newFakeWriter()
	w.reject = func(b ingest.Batch, row []json.RawMessage) (string, string, bool) {
		if rowID(b, row) == "fg1/13" {
			return "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION", "invalid value for column f1: expected DOUBLE", true
		}
		return "", "", false
	}
	r := startConsumer(t, testConfig(addr, "dlq"), w)
	dead := readTopic(t, addr, "darwin_default_dlq", 7, 15*time.Second)
	byKey := map[string]*sarama.ConsumerMessage{}
	for _, m := range dead {
		byKey[string(m.Key)] = m
	}
	want := map[string]struct{ code, errPart string }{
		"k-bad-json": {CodeInvalidMessage, "not valid JSON"},
		"k-array":    {CodeInvalidMessage, "not a JSON object"},
		"k-empty":    {CodeInvalidMessage, "no columns"},
		"k-no-fg":    {CodeMissingHeader, "missing header feature-group-name"},
		"k-legacy":   {CodeUnsupportedVersion, "legacy v1 messages are not supported"},
		"k-v3":       {CodeUnsupportedVersion, `unsupported sdk-version "v3"`},
		"k-rejected": {"WRITE-FEATURE-GROUP-REQUEST-EXCEPTION", "invalid value for column f1"},
	}
	for key, wnt := range want {
		m := byKey[key]
		if m == nil {
			t.Errorf("no dead letter for %s", key)
			continue
		}
		if e := header(m, HeaderError); !strings.Contains(e, wnt.errPart) {
			t.Errorf("%s: error header %q lacks %q", key, e, wnt.errPart)
		}
		if c := header(m, HeaderErrorCode); c != wnt.code {
			t.Errorf("%s: error-code %q, want %q", key, c, wnt.code)
		}
		if header(m, HeaderSourceTopic) != DefaultTopic || header(m, HeaderSourceOffset) == "" || header(m, HeaderSourcePartition) == "" {
			t.Errorf("%s: source headers missing: %v", key, m.Headers)
		}
		n := 0
		for _, h := range m.Headers {
			if string(h.Key) == HeaderError {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d error headers, want 1", key, n)
		}
	}
	if m := byKey["k-rejected"]; m != nil {
		if header(m, HeaderFeatureGroupName) != "fg1" || header(m, HeaderRunID) != "r1" || header(m, HeaderSDKVersion) != "v2" || header(m, HeaderReplicatedWrites) != "true" {
			t.Errorf("original headers not kept: %v", m.Headers)
		}
		if string(m.Value) != rowJSON(13, map[string]any{"f1": "not-a-number"}) {
			t.Errorf("dead letter value %q", m.Value)
		}
	}
	waitFor(t, "good rows", 10*time.Second, func() bool { return w.distinctRows() == 20 })
	if got := counter(t, r.c.m.dlq.WithLabelValues("invalid")); got != 3 {
		t.Errorf("dlq invalid = %v, want 3", got)
	}
	if got := counter(t, r.c.m.dlq.WithLabelValues("rejected")); got != 1 {
		t.Errorf("dlq rejected = %v, want 1", got)
	}
	r.stop(t)
	assertCommittedToEnd(t, addr, "dlq", DefaultTopic)
}

func TestWriterFailureThenRecovery(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	var msgs []testMsg
	for i := range 300 {
		msgs = append(msgs, testMsg{value: rowJSON(i, map[string]any{"f": i}), headers: v2Headers("fg", "", "")})
	}
	produce(t, addr, DefaultTopic, msgs)

	var down atomic.Bool
	down.Store(true)
	w := newFakeWriter()
	w.fail = func(int) error {
		if down.Load() {
			return errStoreDown
		}
		return nil
	}
	cfg := testConfig(addr, "recover")
	cfg.RejoinBackoff = 100 * time.Millisecond
	r := startConsumer(t, cfg, w)
	waitFor(t, "a batch given up", 10*time.Second, func() bool { return counter(t, r.c.m.writeFailures) >= 1 })
	if counter(t, r.c.m.writeRetries) < 3 {
		t.Errorf("write_retries_total = %v, want >= 3 before giving up", counter(t, r.c.m.writeRetries))
	}
	if err := r.c.Ready(); err == nil || !strings.Contains(err.Error(), errStoreDown.Error()) {
		t.Errorf("Ready while the store is down = %v", err)
	}
	time.Sleep(300 * time.Millisecond) // at least one more session gives up and rejoins
	down.Store(false)
	waitFor(t, "every row after recovery", 15*time.Second, func() bool { return w.distinctRows() == 300 })
	waitFor(t, "ready again", 5*time.Second, func() bool { return r.c.Ready() == nil })
	r.stop(t)
	assertCommittedToEnd(t, addr, "recover", DefaultTopic)
}

func TestRestartMidStreamLosesNothing(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	const n = 2000
	var msgs []testMsg
	for i := range n {
		msgs = append(msgs, testMsg{key: fmt.Sprint(i), value: rowJSON(i, map[string]any{"f": i}), headers: v2Headers("fg", "v1", "")})
	}
	produce(t, addr, DefaultTopic, msgs)

	w := newFakeWriter()
	cfg := testConfig(addr, "restart")
	cfg.BatchSize = 50
	cfg.CommitInterval = 200 * time.Millisecond
	first := startConsumer(t, cfg, w)
	var once sync.Once
	w.mu.Lock()
	w.onWrite = func(total int) {
		if total >= 500 {
			once.Do(first.cancel) // stop the first consumer mid-stream
		}
	}
	w.mu.Unlock()
	select {
	case <-first.done:
		if first.err != nil {
			t.Fatalf("first Run: %v", first.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("first consumer did not stop")
	}
	stoppedAt := w.distinctRows()
	if stoppedAt >= n {
		t.Fatalf("first consumer wrote all %d rows before stopping; the test proves nothing", n)
	}
	w.mu.Lock()
	w.onWrite = nil
	w.mu.Unlock()

	second := startConsumer(t, cfg, w)
	waitFor(t, "every row", 15*time.Second, func() bool { return w.distinctRows() == n })
	second.stop(t)
	_, seen := w.snapshot()
	dups := 0
	for _, id := range ids(n, "fg") {
		if seen[id] == 0 {
			t.Fatalf("row %s never written", id)
		}
		dups += seen[id] - 1
	}
	t.Logf("first consumer stopped after %d distinct rows; %d rows were written again after the restart", stoppedAt, dups)
	assertCommittedToEnd(t, addr, "restart", DefaultTopic)
}

func TestTwoConsumersSharePartitions(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	wa, wb := newFakeWriter(), newFakeWriter()
	cfg := testConfig(addr, "shared")
	a := startConsumer(t, cfg, wa)
	b := startConsumer(t, cfg, wb)
	waitFor(t, "both consumers in a session", 15*time.Second, func() bool { return a.c.Ready() == nil && b.c.Ready() == nil })
	// wait for the rebalance that gives each member partitions
	waitFor(t, "both consumers own partitions", 15*time.Second, func() bool {
		return counter(t, a.c.m.sessions) >= 1 && counter(t, b.c.m.sessions) >= 1 && a.c.Ready() == nil && b.c.Ready() == nil
	})
	var msgs []testMsg
	for i := range 400 {
		msgs = append(msgs, testMsg{value: rowJSON(i, nil), headers: v2Headers("fg", "", "")})
	}
	produce(t, addr, DefaultTopic, msgs)
	waitFor(t, "every row by the group", 20*time.Second, func() bool {
		_, sa := wa.snapshot()
		_, sb := wb.snapshot()
		for k := range sb {
			sa[k]++
		}
		return len(sa) == 400
	})
	if wa.distinctRows() == 0 || wb.distinctRows() == 0 {
		t.Errorf("partitions not shared: consumer a wrote %d rows, b %d", wa.distinctRows(), wb.distinctRows())
	}
	// GET /assignments' view: each member holds its own partitions, together all of the topic's.
	aa, ab := a.c.Assignments(), b.c.Assignments()
	owner := map[int32]string{}
	for _, as := range []Assignments{aa, ab} {
		if !as.Ready || as.MemberID == "" || as.GroupID != "shared" || len(as.Claims[DefaultTopic]) == 0 {
			t.Fatalf("assignments %+v", as)
		}
		for _, p := range as.Claims[DefaultTopic] {
			if prev, dup := owner[p]; dup {
				t.Fatalf("partition %d held by %s and %s", p, prev, as.MemberID)
			}
			owner[p] = as.MemberID
		}
	}
	if len(owner) != EmbeddedPartitions {
		t.Errorf("members hold %d partitions, the topic has %d", len(owner), EmbeddedPartitions)
	}
	a.stop(t)
	b.stop(t)
	assertCommittedToEnd(t, addr, "shared", DefaultTopic)
}

func TestRunRetriesUntilBrokerIsUp(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w := newFakeWriter()
	r := startConsumer(t, testConfig(addr, "late-broker"), w)
	waitFor(t, "a connection error in Ready", 10*time.Second, func() bool {
		err := r.c.Ready()
		return err != nil && strings.Contains(err.Error(), "kafka")
	})
	// the broker comes up after the consumer (as when darwin up starts them concurrently)
	b, err := StartEmbeddedBroker(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	produce(t, addr, DefaultTopic, []testMsg{{value: rowJSON(1, nil), headers: v2Headers("fg", "", "")}})
	waitFor(t, "the row", 10*time.Second, func() bool { return w.distinctRows() == 1 })
	waitFor(t, "ready", 5*time.Second, func() bool { return r.c.Ready() == nil })
	r.stop(t)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}, Deps{}); err == nil {
		t.Error("New without a writer succeeded")
	}
	if _, err := New(Config{Topics: []string{"bad topic"}}, Deps{Writer: newFakeWriter()}); err == nil {
		t.Error("New with an invalid topic succeeded")
	}
	c, err := New(Config{}, Deps{Writer: newFakeWriter()})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Config(); got.GroupID != "ofs-consumer" || got.Topics[0] != "default" || got.BatchSize != 500 || c.DLQTopic() != "darwin_default_dlq" {
		t.Errorf("defaults = %+v", got)
	}
	if err := c.Ready(); err == nil {
		t.Error("Ready before Run = nil")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(ctx); err != nil {
		t.Errorf("Run with a done context: %v", err)
	}
	if err := c.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestDeadLetterTopicMissingLeavesBatchUncommitted(t *testing.T) {
	t.Parallel()
	// a broker without the dead-letter topic and without topic auto-creation
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, DefaultTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	addr := cluster.ListenAddrs()[0]
	produce(t, addr, DefaultTopic, []testMsg{
		{value: rowJSON(1, nil), headers: v2Headers("fg", "", "")},
		{key: "bad", value: `not json`, headers: v2Headers("fg", "", "")},
	})
	w := newFakeWriter()
	r := startConsumer(t, testConfig(addr, "no-dlq"), w)
	waitFor(t, "Ready to report the dead-letter failure", 15*time.Second, func() bool {
		err := r.c.Ready()
		return err != nil && strings.Contains(err.Error(), "dead-letter")
	})
	client, err := sarama.NewClient([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := admin.ListConsumerGroupOffsets("no-dlq", map[string][]int32{DefaultTopic: {0}})
	if err != nil {
		t.Fatal(err)
	}
	if blk := resp.GetBlock(DefaultTopic, 0); blk != nil && blk.Offset > 0 {
		t.Fatalf("offset %d committed although the dead letter was not produced", blk.Offset)
	}
	if err := admin.CreateTopic("darwin_default_dlq", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	dead := readTopic(t, addr, "darwin_default_dlq", 1, 15*time.Second)
	if string(dead[0].Key) != "bad" || header(dead[0], HeaderErrorCode) != CodeInvalidMessage {
		t.Errorf("dead letter = key %q headers %v", dead[0].Key, dead[0].Headers)
	}
	waitFor(t, "ready after the topic exists", 10*time.Second, func() bool { return r.c.Ready() == nil })
	r.stop(t)
	assertCommittedToEnd(t, addr, "no-dlq", DefaultTopic)
}
