package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/parquet-go/parquet-go"

	"github.com/darwinml/darwin/pkg/testutil"
)

// fsEnvelope is the feature store's response shape.
type fsEnvelope struct {
	Data  json.RawMessage `json:"data"`
	Error *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
}

// fsCall sends a feature-store request and returns the data, failing the test unless the status is want.
func fsCall(t *testing.T, p *platform, method, path, body string, want int, headers ...string) json.RawMessage {
	t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	var env fsEnvelope
	if got := p.call(method, path, h, body, &env); got != want {
		t.Fatalf("%s %s: status %d, want %d (error %+v, data %s)", method, path, got, want, env.Error, env.Data)
	}
	if want == 200 {
		return env.Data
	}
	raw, _ := json.Marshal(env.Error)
	return raw
}

type fsRead struct {
	FeatureGroupVersion string `json:"featureGroupVersion"`
	SuccessfulKeys      []struct {
		Key      []json.RawMessage `json:"key"`
		Features []json.RawMessage `json:"features"`
	} `json:"successfulKeys"`
	FailedKeys [][]json.RawMessage `json:"failedKeys"`
}

func readKeys(t *testing.T, p *platform, cols []string, keys ...int64) fsRead {
	t.Helper()
	vals := make([][]int64, len(keys))
	for i, k := range keys {
		vals[i] = []int64{k}
	}
	body, _ := json.Marshal(map[string]any{"featureGroupName": "user_stats", "featureColumns": cols,
		"primaryKeys": map[string]any{"names": []string{"user_id"}, "values": vals}})
	var r fsRead
	if err := json.Unmarshal(fsCall(t, p, "GET", "/feature-store/feature-group/read-features", string(body), 200), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func featuresOf(r fsRead) map[string]string {
	out := map[string]string{}
	for _, k := range r.SuccessfulKeys {
		b, _ := json.Marshal(k.Features)
		out[string(k.Key[0])] = string(b)
	}
	return out
}

// statRow is one row of the populator's Parquet input.
type statRow struct {
	UserID         int64     `parquet:"user_id"`
	Clicks         int64     `parquet:"clicks"`
	CTR            float64   `parquet:"ctr"`
	Country        string    `parquet:"country"`
	EventTimestamp time.Time `parquet:"event_timestamp,timestamp(millisecond)"`
}

// TestE2EFeatureStore walks the feature store's paths against `darwin up`: an entity and a feature group made
// through ofs-admin, rows written through REST and streamed through Kafka (the embedded broker, consumed by the
// consumer; a bad message lands in the dead-letter topic), a Parquet file populated with its run recorded, and a
// point-in-time training set that never leaks a value from after an entity row's timestamp.
func TestE2EFeatureStore(t *testing.T) {
	kafkaPort := testutil.FreePort(t)
	kafkaAddr := fmt.Sprintf("127.0.0.1:%d", kafkaPort)
	p := startDarwin(t, "", "-log.level=warn", "-feature-store.kafka.embedded-addr="+kafkaAddr, "-feature-store.consumer.linger=20ms")

	fsCall(t, p, "POST", "/feature-store-admin/entity", `{"entity":{"tableName":"users","features":[{"name":"user_id","type":"BIGINT"}],"primaryKeys":["user_id"]},"owner":"ds@example.com"}`, 200)
	fsCall(t, p, "POST", "/feature-store-admin/feature-group", `{"featureGroup":{"featureGroupName":"user_stats","entityName":"users","features":[
		{"name":"clicks","type":"BIGINT"},{"name":"ctr","type":"DOUBLE"},{"name":"country","type":"TEXT"}]},"owner":"ds@example.com","tags":["e2e"]}`, 200)

	// REST write and read.
	fsCall(t, p, "POST", "/feature-store/feature-group/write-features-v2", `{"featureGroupName":"user_stats","features":{"names":["user_id","clicks","ctr","country"],
		"values":[[1,10,0.1,"in"],[2,20,0.2,"us"]]}}`, 200)
	got := featuresOf(readKeys(t, p, []string{"clicks", "ctr", "country"}, 1, 2, 3))
	if got["1"] != `[10,0.1,"in"]` || got["2"] != `[20,0.2,"us"]` || len(got) != 2 {
		t.Fatalf("REST read back: %v", got)
	}

	// Kafka: v2 messages for users 3 and 4 on the default tenant's topic, one bad message to the DLQ.
	var topic struct {
		Topic string `json:"topic"`
	}
	if err := json.Unmarshal(fsCall(t, p, "GET", "/feature-store-admin/feature-group/topic?name=user_stats", "", 200), &topic); err != nil || topic.Topic != "default" {
		t.Fatalf("topic %+v %v", topic, err)
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer([]string{kafkaAddr}, sc)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer prod.Close()
	hdr := func(kv ...string) []sarama.RecordHeader {
		var hs []sarama.RecordHeader
		for i := 0; i+1 < len(kv); i += 2 {
			hs = append(hs, sarama.RecordHeader{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
		}
		return hs
	}
	v2 := hdr("sdk-version", "v2", "feature-group-name", "user_stats", "run-id", "stream-1")
	err = prod.SendMessages([]*sarama.ProducerMessage{
		{Topic: topic.Topic, Value: sarama.StringEncoder(`{"user_id":3,"clicks":30,"ctr":0.3,"country":"uk"}`), Headers: v2},
		{Topic: topic.Topic, Value: sarama.StringEncoder(`{"user_id":4,"clicks":40,"ctr":0.4,"country":"de"}`), Headers: hdr("sdk-version", "v2", "feature-group-name", "user_stats", "feature-group-version", "v1")},
		{Topic: topic.Topic, Value: sarama.StringEncoder(`{"user_id":5,"clicks":"lots"}`), Headers: v2},
	})
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = featuresOf(readKeys(t, p, []string{"clicks", "ctr", "country"}, 3, 4, 5))
		if len(got) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got["3"] != `[30,0.3,"uk"]` || got["4"] != `[40,0.4,"de"]` || len(got) != 2 {
		t.Fatalf("streamed rows read back: %v", got)
	}
	dlq := consumeOne(t, kafkaAddr, "darwin_default_dlq")
	if errHdr := headerOf(dlq, "error"); !strings.Contains(errHdr, "clicks") || headerOf(dlq, "feature-group-name") != "user_stats" || string(dlq.Value) != `{"user_id":5,"clicks":"lots"}` {
		t.Fatalf("dead letter: value %s headers %v", dlq.Value, dlq.Headers)
	}

	// Populate: two snapshots per user (t1 and t2), 3,000 rows in several row groups.
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	dir := t.TempDir()
	src := filepath.Join(dir, "user_stats.parquet")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[statRow](f, parquet.MaxRowsPerRowGroup(500))
	var rows []statRow
	for _, ts := range []time.Time{t1, t2} {
		for u := int64(100); u < 1600; u++ {
			day := int64(ts.Sub(t1) / (24 * time.Hour))
			rows = append(rows, statRow{UserID: u, Clicks: u*10 + day, CTR: float64(day) / 10, Country: "c" + fmt.Sprint(day), EventTimestamp: ts})
		}
	}
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var run struct {
		RunID     string `json:"runId"`
		Status    string `json:"status"`
		RowsDone  int64  `json:"rowsDone"`
		RowsTotal int64  `json:"rowsTotal"`
		Failed    int64  `json:"failedRows"`
		Error     string `json:"error"`
	}
	body, _ := json.Marshal(map[string]any{"source": src, "featureGroupName": "user_stats", "runId": "backfill-1"})
	if err := json.Unmarshal(fsCall(t, p, "POST", "/feature-store-admin/populator/run", string(body), 200), &run); err != nil || run.RunID != "backfill-1" {
		t.Fatalf("populator run: %+v %v", run, err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for run.Status != "SUCCESS" && run.Status != "FAILED" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if err := json.Unmarshal(fsCall(t, p, "GET", "/feature-store-admin/populator/run?runId=backfill-1", "", 200), &run); err != nil {
			t.Fatal(err)
		}
	}
	if run.Status != "SUCCESS" || run.RowsDone != 3000 || run.RowsTotal != 3000 || run.Failed != 0 {
		t.Fatalf("populator run ended as %+v", run)
	}
	got = featuresOf(readKeys(t, p, []string{"clicks", "ctr", "country"}, 100, 1599))
	if got["100"] != `[1001,0.1,"c1"]` || got["1599"] != `[15991,0.1,"c1"]` {
		t.Fatalf("populated rows online (want the t2 snapshot): %v", got)
	}
	var runs []struct {
		RunID  string `json:"runId"`
		Count  int64  `json:"count"`
		Status string `json:"status"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal(fsCall(t, p, "GET", "/feature-store-admin/feature-group/run-data?name=user_stats&version=v1", "", 200), &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].RunID != "backfill-1" || runs[0].Count != 3000 || runs[0].Status != "SUCCESS" {
		t.Fatalf("run data %+v", runs)
	}

	// Training set: user 100 before t1 (nothing yet), between t1 and t2 (the t1 snapshot), after t2; user 7 has
	// no history.
	ms := func(tm time.Time) int64 { return tm.UnixMilli() }
	body, _ = json.Marshal(map[string]any{
		"entityRows": map[string]any{"names": []string{"user_id", "event_timestamp"}, "values": [][]any{
			{100, ms(t1.Add(-time.Hour))}, {100, ms(t1.Add(time.Hour))}, {100, ms(t2)}, {101, ms(t2.Add(time.Hour))}, {7, ms(t2)},
		}},
		"features": []string{"user_stats:clicks", "user_stats:v1:country"},
	})
	var ts struct {
		Columns []string            `json:"columns"`
		Rows    [][]json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(fsCall(t, p, "POST", "/feature-store/feature-group/historical-features", string(body), 200), &ts); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range ts.Rows {
		b, _ := json.Marshal(r)
		lines = append(lines, string(b))
	}
	t.Logf("training set columns %v", ts.Columns)
	want := []string{
		fmt.Sprintf(`[100,%d,null,null]`, ms(t1.Add(-time.Hour))),
		fmt.Sprintf(`[100,%d,1000,"c0"]`, ms(t1.Add(time.Hour))),
		fmt.Sprintf(`[100,%d,1001,"c1"]`, ms(t2)),
		fmt.Sprintf(`[101,%d,1011,"c1"]`, ms(t2.Add(time.Hour))),
		fmt.Sprintf(`[7,%d,null,null]`, ms(t2)),
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("training set:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// Populate through Kafka: the rows travel the default tenant's topic and the consumer writes them.
	ksrc := filepath.Join(dir, "kafka.parquet")
	kf, err := os.Create(ksrc)
	if err != nil {
		t.Fatal(err)
	}
	kw := parquet.NewGenericWriter[statRow](kf)
	var krows []statRow
	for u := int64(5000); u < 5200; u++ {
		krows = append(krows, statRow{UserID: u, Clicks: u, CTR: 0.5, Country: "k", EventTimestamp: t2})
	}
	if _, err := kw.Write(krows); err != nil {
		t.Fatal(err)
	}
	if err := kw.Close(); err != nil {
		t.Fatal(err)
	}
	kf.Close()
	body, _ = json.Marshal(map[string]any{"source": ksrc, "featureGroupName": "user_stats", "runId": "via-kafka", "mode": "kafka"})
	fsCall(t, p, "POST", "/feature-store-admin/populator/run", string(body), 200)
	deadline = time.Now().Add(60 * time.Second)
	for {
		got = featuresOf(readKeys(t, p, []string{"clicks", "country"}, 5000, 5100, 5199))
		if len(got) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got["5000"] != `[5000,"k"]` || got["5199"] != `[5199,"k"]` {
		t.Fatalf("rows populated through kafka: %v", got)
	}
	if err := json.Unmarshal(fsCall(t, p, "GET", "/feature-store-admin/populator/run?runId=via-kafka", "", 200), &run); err != nil || run.Status != "SUCCESS" || run.RowsDone != 200 {
		t.Fatalf("kafka populator run %+v %v", run, err)
	}

	// The platform's /metrics counts both populator runs, the dead letter and the feature-store requests.
	_, metrics := getRaw(t, p.url("/metrics"))
	for _, want := range []string{
		`darwin_feature_store_populator_runs_total{status="SUCCESS"} 2`,
		`darwin_feature_store_populator_rows_total 3200`,
		`darwin_feature_store_consumer_dlq_messages_total{reason="rejected"} 1`,
		`darwin_feature_store_requests_total{api="app",code="200",route="/feature-group/read-features"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The consumer's own routes (the original darwin-ofs-v2-consumer's): health and this member's partitions.
	fsCall(t, p, "GET", "/feature-store-consumer/healthcheck", "", 200)
	var asg struct {
		GroupID string             `json:"groupId"`
		Ready   bool               `json:"ready"`
		Claims  map[string][]int32 `json:"claims"`
	}
	if err := json.Unmarshal(fsCall(t, p, "GET", "/feature-store-consumer/assignments", "", 200), &asg); err != nil {
		t.Fatal(err)
	}
	if !asg.Ready || asg.GroupID != "ofs-consumer" || len(asg.Claims["default"]) != 4 || len(asg.Claims["t1"]) != 4 || len(asg.Claims["t2"]) != 4 {
		t.Fatalf("assignments %+v: the only member holds every partition of the tenants' topics default, t1 and t2", asg)
	}

	// Move the group to tenant t1: its topic becomes t1, which the embedded broker carries and the consumer reads.
	fsCall(t, p, "POST", "/feature-store-admin/feature-group/tenant", `{"featureGroupName":"user_stats","tenantConfig":{"consumerTenant":"t1"}}`, 200)
	if err := json.Unmarshal(fsCall(t, p, "GET", "/feature-store-admin/feature-group/topic?name=user_stats", "", 200), &topic); err != nil || topic.Topic != "t1" {
		t.Fatalf("topic after the tenant move: %+v %v", topic, err)
	}
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "t1", Value: sarama.StringEncoder(`{"user_id":6,"clicks":60,"ctr":0.6,"country":"fr"}`), Headers: v2}); err != nil {
		t.Fatalf("produce to t1: %v", err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		got = featuresOf(readKeys(t, p, []string{"clicks", "country"}, 6))
		if len(got) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got["6"] != `[60,"fr"]` {
		t.Fatalf("row streamed on tenant t1's topic: %v", got)
	}

	// Bad input is a 400 in the envelope, never a 500.
	fsCall(t, p, "POST", "/feature-store/feature-group/historical-features", `{"entityRows":{"names":["user_id"],"values":[[1]]},"features":["user_stats:clicks"]}`, 400)
	fsCall(t, p, "POST", "/feature-store-admin/populator/run", `{"source":"relative/path.parquet","featureGroupName":"user_stats"}`, 400)
}

// consumeOne reads the first message of topic (partitions scanned from the oldest offset).
func consumeOne(t *testing.T, addr, topic string) *sarama.ConsumerMessage {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	c, err := sarama.NewConsumer([]string{addr}, sc)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	msgs := make(chan *sarama.ConsumerMessage, 16)
	for _, part := range parts {
		pc, err := c.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume %s/%d: %v", topic, part, err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				msgs <- m
			}
		}()
	}
	select {
	case m := <-msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatalf("no message on %s within 30s", topic)
		return nil
	}
}

func headerOf(m *sarama.ConsumerMessage, key string) string {
	for _, h := range m.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}
