package consumer

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-chi/chi/v5"
)

type respEnvelope struct {
	Data  json.RawMessage `json:"data"`
	Error *struct {
		Message string `json:"message"`
		Cause   string `json:"cause"`
		Code    string `json:"code"`
	} `json:"error"`
}

func call(t *testing.T, h http.Handler, method, path, body string) (int, respEnvelope) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	var env respEnvelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, rec.Body.String(), err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	return rec.Code, env
}

func TestKafkaAdminRoutes(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	r := chi.NewRouter()
	NewAdmin([]string{addr}, testLogger(t)).RegisterKafkaAdmin(r)

	code, env := call(t, r, "POST", "/kafka/topic", `{"topicName":"t1","numPartitions":3}`)
	if code != 200 || env.Error != nil || string(env.Data) != `{"topicName":"t1","numPartitions":3}` {
		t.Fatalf("create = %d %s %+v", code, env.Data, env.Error)
	}
	code, env = call(t, r, "POST", "/kafka/topic", `{"topicName":"t1","numPartitions":3}`)
	if code != 400 || env.Error == nil || env.Error.Code != "OFS-V2-KAFKA-ADMIN-EXCEPTION" || !strings.Contains(env.Error.Message, "t1") {
		t.Errorf("duplicate create = %d %+v", code, env.Error)
	}
	for _, body := range []string{``, `{`, `[]`, `{"topicName":"t2"}`, `{"topicName":"t2","numPartitions":0}`,
		`{"topicName":"bad name","numPartitions":1}`, `{"topicName":"t2","numPartitions":"3"}`, `{"topicName":"t2","numPartitions":1} {}`,
		`{"topicName":"t2","numPartitions":100000}`} {
		code, env = call(t, r, "POST", "/kafka/topic", body)
		if code != 400 || env.Error == nil || env.Error.Code != "OFS-V2-KAFKA-ADMIN-EXCEPTION" || env.Error.Message == "" {
			t.Errorf("create %q = %d %+v", body, code, env.Error)
		}
	}

	code, env = call(t, r, "GET", "/kafka/topic-metadata", "")
	if code != 200 {
		t.Fatalf("metadata = %d %+v", code, env.Error)
	}
	var topics []TopicMetadata
	if err := json.Unmarshal(env.Data, &topics); err != nil {
		t.Fatal(err)
	}
	names := map[string]TopicMetadata{}
	for _, tm := range topics {
		names[tm.TopicName] = tm
		if strings.HasPrefix(tm.TopicName, "__") {
			t.Errorf("internal topic listed: %s", tm.TopicName)
		}
	}
	if tm := names["t1"]; tm.NumPartitions != 3 || len(tm.Partitions) != 3 || tm.ReplicationFactor != 1 || tm.Partitions[2].Partition != 2 {
		t.Errorf("t1 = %+v", tm)
	}
	if names["default"].NumPartitions != EmbeddedPartitions || names["darwin_default_dlq"].NumPartitions != EmbeddedPartitions {
		t.Errorf("seeded topics = %+v", topics)
	}

	code, env = call(t, r, "GET", "/kafka/topic-metadata?topicName=t1", "")
	if code != 200 || !strings.Contains(string(env.Data), `"topicName":"t1"`) || strings.Contains(string(env.Data), "default") {
		t.Errorf("one topic = %d %s", code, env.Data)
	}
	code, env = call(t, r, "GET", "/kafka/topic-metadata?topicName=bad%20name", "")
	if code != 400 || env.Error == nil {
		t.Errorf("bad topic name = %d %+v", code, env.Error)
	}
}

func TestKafkaAdminBrokerDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := chi.NewRouter()
	NewAdmin([]string{addr}, testLogger(t)).RegisterKafkaAdmin(r)
	start := time.Now()
	code, env := call(t, r, "GET", "/kafka/topic-metadata", "")
	if code != 400 || env.Error == nil || env.Error.Code != "OFS-V2-KAFKA-ADMIN-EXCEPTION" {
		t.Errorf("broker down = %d %+v", code, env.Error)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestEmbeddedBroker(t *testing.T) {
	t.Parallel()
	if _, err := StartEmbeddedBroker(t.Context(), "no-port", "x"); err == nil {
		t.Error("address without a port accepted")
	}
	if _, err := StartEmbeddedBroker(t.Context(), ":0", "bad topic"); err == nil {
		t.Error("bad topic accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	b, err := StartEmbeddedBroker(ctx, ":0", "tenant1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.Addr(), "127.0.0.1:") {
		t.Errorf("Addr = %q, want loopback", b.Addr())
	}
	ca, err := sarama.NewClusterAdmin([]string{b.Addr()}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	topics, err := ca.ListTopics()
	ca.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"default", "darwin_default_dlq", "tenant1"} {
		if topics[name].NumPartitions != EmbeddedPartitions {
			t.Errorf("topic %s: %+v", name, topics[name])
		}
	}
	// A second broker cannot take the same address.
	if _, err := StartEmbeddedBroker(t.Context(), b.Addr()); err == nil {
		t.Error("second broker on the same address started")
	}
	cancel()
	waitFor(t, "the broker to stop listening", 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	b.Close() // idempotent after ctx
}

func FuzzDecodeCreateTopic(f *testing.F) {
	for _, s := range []string{`{"topicName":"t","numPartitions":3}`, `{"topicName":"","numPartitions":1}`, `{}`, `[]`, `{"numPartitions":-1}`,
		`{"topicName":"a.b_c-d","numPartitions":10000}`, `{"topicName":"t","numPartitions":1e3}`, `{"topicName":"t","numPartitions":1} 1`, "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeCreateTopic(body)
		if err != nil {
			if e, ok := err.(interface{ Error() string }); !ok || e.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if validTopicName(req.TopicName) != nil || req.NumPartitions < 1 || req.NumPartitions > MaxTopicPartitions {
			t.Fatalf("accepted invalid request %+v", req)
		}
	})
}
