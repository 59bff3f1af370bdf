package consumer

import (
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func hdrs(kv ...string) []*sarama.RecordHeader {
	var out []*sarama.RecordHeader
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, &sarama.RecordHeader{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return out
}

func TestParseMessage(t *testing.T) {
	t.Parallel()
	v2 := hdrs("sdk-version", "v2", "feature-group-name", "fg", "feature-group-version", "v3", "run-id", "r", "replicated-writes", "false")
	tests := []struct {
		name    string
		headers []*sarama.RecordHeader
		value   string
		code    string // "" = accepted
		names   string
	}{
		{"ok", v2, `{"b": 1, "a": "x", "c": null}`, "", "a,b,c"},
		{"header case", hdrs("SDK-Version", "V2", "Feature-Group-Name", "fg"), `{"a":1}`, "", "a"},
		{"no sdk-version", hdrs("feature-group-name", "fg"), `{"a":1}`, CodeUnsupportedVersion, ""},
		{"v1", hdrs("sdk-version", "v1", "feature-group-name", "fg"), `{"a":1}`, CodeUnsupportedVersion, ""},
		{"no fg", hdrs("sdk-version", "v2"), `{"a":1}`, CodeMissingHeader, ""},
		{"blank fg", hdrs("sdk-version", "v2", "feature-group-name", "  "), `{"a":1}`, CodeMissingHeader, ""},
		{"nil value", v2, ``, CodeInvalidMessage, ""},
		{"array", v2, `[{"a":1}]`, CodeInvalidMessage, ""},
		{"truncated", v2, `{"a":`, CodeInvalidMessage, ""},
		{"trailing", v2, `{"a":1} x`, CodeInvalidMessage, ""},
		{"empty object", v2, `{}`, CodeInvalidMessage, ""},
		{"empty name", v2, `{"":1}`, CodeInvalidMessage, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, rej := parseMessage(tc.headers, []byte(tc.value))
			if tc.code != "" {
				if rej == nil || rej.code != tc.code || rej.message == "" {
					t.Fatalf("rejection = %+v, want code %s", rej, tc.code)
				}
				return
			}
			if rej != nil {
				t.Fatalf("rejected: %+v", rej)
			}
			if got := strings.Join(r.names, ","); got != tc.names {
				t.Errorf("names = %s, want %s", got, tc.names)
			}
			if r.featureGroup != "fg" || len(r.values) != len(r.names) {
				t.Errorf("row = %+v", r)
			}
		})
	}
	r, _ := parseMessage(v2, []byte(`{"b": 1, "a": "x"}`))
	if r.version != "v3" || r.runID != "r" || string(r.values[0]) != `"x"` || string(r.values[1]) != `1` {
		t.Errorf("row = %+v", r)
	}
	if _, rej := parseMessage(hdrs("feature-group-name", "fg"), []byte(`{"a":1}`)); rej.message != ErrLegacyV1 {
		t.Errorf("legacy message = %q", rej.message)
	}
}

func TestPlanBatchesKeepsPerGroupOrder(t *testing.T) {
	t.Parallel()
	mk := func(fg, run string, names ...string) row {
		vals := make([]json.RawMessage, len(names))
		for i := range vals {
			vals[i] = json.RawMessage(`1`)
		}
		return row{featureGroup: fg, runID: run, names: names, values: vals}
	}
	rows := []row{
		mk("a", "", "id", "x"),   // 0 batch 0
		mk("b", "", "id", "y"),   // 1 batch 1 (other group: a's batch stays open)
		mk("a", "", "id", "x"),   // 2 batch 0
		mk("a", "", "id"),        // 3 batch 2 (new column set)
		mk("a", "", "id", "x"),   // 4 batch 3: joining batch 0 would move it before row 3
		mk("b", "", "id", "y"),   // 5 batch 1
		mk("b", "r2", "id", "y"), // 6 batch 4 (other run)
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6}
	plan := planBatches(rows, idx)
	var got [][]int
	for _, p := range plan {
		got = append(got, p.msgs)
		if len(p.batch.Rows) != len(p.msgs) {
			t.Fatal("rows and message indexes differ")
		}
	}
	want := [][]int{{0, 2}, {1, 5}, {3}, {4}, {6}}
	if len(got) != len(want) {
		t.Fatalf("plan = %v, want %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("plan = %v, want %v", got, want)
		}
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("plan = %v, want %v", got, want)
			}
		}
	}
	if plan[4].batch.RunID != "r2" {
		t.Errorf("run id = %q", plan[4].batch.RunID)
	}
}

func TestConfigFlags(t *testing.T) {
	t.Parallel()
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{
		"-feature-store.consumer.enabled",
		"-feature-store.consumer.brokers=k1:9092, k2:9092",
		"-feature-store.consumer.topics=default,t1",
		"-feature-store.consumer.environment=prod",
		"-feature-store.consumer.batch-size=10",
		"-feature-store.consumer.linger=5ms",
		"-feature-store.consumer.initial-offset=newest",
	}); err != nil {
		t.Fatal(err)
	}
	if !c.Enabled || len(c.Brokers) != 2 || c.Brokers[1] != "k2:9092" || len(c.Topics) != 2 || c.BatchSize != 10 ||
		c.Linger != 5*time.Millisecond || c.DLQTopic() != "prod_default_dlq" || c.GroupID != DefaultGroupID || c.Retries != 3 {
		t.Errorf("config = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"batch":   func(c *Config) { c.BatchSize = 0 },
		"offset":  func(c *Config) { c.InitialOffset = "middle" },
		"dlq sub": func(c *Config) { c.Topics = []string{"prod_default_dlq"} },
		"brokers": func(c *Config) { c.Brokers = nil },
		"env":     func(c *Config) { c.Environment = "bad env" },
	} {
		bad := c
		mut(&bad)
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, bad)
		}
	}
	var d Config
	d.RegisterFlags(flag.NewFlagSet("y", flag.ContinueOnError))
	if d.Brokers[0] != DefaultBroker || d.Topics[0] != "default" || d.InitialOffset != "oldest" {
		t.Errorf("defaults = %+v", d)
	}
}

func TestValidTopicName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"default", "darwin_default_dlq", "a.b-c", strings.Repeat("x", 249)} {
		if err := validTopicName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a b", "a/b", "é", strings.Repeat("x", 250)} {
		if err := validTopicName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add("v2", "fg", "v1", []byte(`{"id": 1, "f": [1,2], "g": {"x": null}}`))
	f.Add("", "fg", "", []byte(`{"id":1}`))
	f.Add("v2", "", "", []byte(`{"id":1}`))
	f.Add("v2", "fg", "", []byte(`[1]`))
	f.Add("v2", "fg", "", []byte(`{"a":1,"a":2}`))
	f.Add("v2", "fg", "", []byte("{\"\xff\":1}"))
	f.Add("v2", "fg", "", []byte(`{`))
	f.Fuzz(func(t *testing.T, ver, fg, fgv string, value []byte) {
		var h []*sarama.RecordHeader
		if ver != "" {
			h = append(h, &sarama.RecordHeader{Key: []byte(HeaderSDKVersion), Value: []byte(ver)})
		}
		h = append(h, &sarama.RecordHeader{Key: []byte(HeaderFeatureGroupName), Value: []byte(fg)},
			&sarama.RecordHeader{Key: []byte(HeaderFeatureGroupVer), Value: []byte(fgv)}, nil)
		r, rej := parseMessage(h, value)
		if rej != nil {
			if rej.code == "" || rej.message == "" || rej.reason == "" {
				t.Fatalf("incomplete rejection %+v", rej)
			}
			return
		}
		if r.featureGroup == "" || len(r.names) == 0 || len(r.names) != len(r.values) {
			t.Fatalf("accepted bad row %+v", r)
		}
		for i, v := range r.values {
			if !json.Valid(v) {
				t.Fatalf("value %d is not JSON: %q", i, v)
			}
			if i > 0 && r.names[i-1] >= r.names[i] {
				t.Fatalf("names not sorted and unique: %v", r.names)
			}
		}
	})
}
