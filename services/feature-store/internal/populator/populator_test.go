package populator

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
	"github.com/darwinml/darwin/services/feature-store/internal/offline"
)

func newPopulator(t *testing.T, cfg Config) *Populator {
	t.Helper()
	if cfg.Checkpoints == nil {
		cfg.Checkpoints = NewMemCheckpoints()
	}
	if cfg.Retries == 0 {
		cfg.Retries = -1
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func openHistory(t *testing.T) *offline.History {
	t.Helper()
	h, err := offline.OpenHistory("", offline.HistoryOptions{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestTypesRoundTrip writes every supported Parquet type and checks the JSON values handed to the writer, that each
// is accepted by domain.Coerce for the matching feature type, and that the history answers them.
func TestTypesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cols := []column{
		{"user_id", parquet.Leaf(parquet.Int64Type)},
		{"region", parquet.String()},
		{"i32", parquet.Optional(parquet.Leaf(parquet.Int32Type))},
		{"f32", parquet.Optional(parquet.Leaf(parquet.FloatType))},
		{"f64", parquet.Optional(parquet.Leaf(parquet.DoubleType))},
		{"flag", parquet.Optional(parquet.Leaf(parquet.BooleanType))},
		{"name", parquet.Optional(parquet.String())},
		{"ts_ms", parquet.Optional(parquet.Timestamp(parquet.Millisecond))},
		{"ts_us", parquet.Optional(parquet.Timestamp(parquet.Microsecond))},
		{"ts_ns", parquet.Optional(parquet.Timestamp(parquet.Nanosecond))},
		{"raw", parquet.Optional(parquet.Leaf(parquet.ByteArrayType))},
		{"extra", parquet.Optional(parquet.String())},
		{"event_timestamp", parquet.Timestamp(parquet.Millisecond)},
	}
	rows := [][]any{
		{int64(1), "eu", int32(7), float32(1.5), 2.25, true, "a\"b\n\u00e9<\x01", int64(1700000000123), int64(1700000000123456),
			int64(1700000000123456789), []byte{0xff, 0x00}, "x", int64(1700000000000)},
		{int64(-2), "us", nil, nil, nil, nil, nil, nil, int64(-1500), int64(-1), nil, nil, int64(1700000001000)},
		{int64(3), "eu", int32(-2147483648), float32(0.1), 1e300, false, "", int64(0), int64(999), int64(1_000_000), []byte("ok"), nil, int64(1700000002000)},
	}
	writeParquet(t, filepath.Join(dir, "types.parquet"), cols, rows, 0)
	types := map[string]string{"i32": "INT", "f32": "FLOAT", "f64": "DOUBLE", "flag": "BOOLEAN", "name": "TEXT",
		"ts_ms": "TIMESTAMP", "ts_us": "TIMESTAMP", "ts_ns": "TIMESTAMP", "raw": "BLOB"}
	var feats []domain.FeatureColumn
	for _, c := range cols[2:11] {
		feats = append(feats, col(c.name, types[c.name]))
	}
	res := &fakeResolver{schemas: map[string][]offline.Schema{"user_stats": {userSchema("v1", feats...)}}}
	w := &fakeWriter{}
	h := openHistory(t)
	p := newPopulator(t, Config{Resolver: res, Writer: w, History: h})
	st, err := p.Run(t.Context(), Job{Source: dir, FeatureGroupName: "user_stats", RunID: "types"}, nil)
	if err != nil || st.Status != StatusSuccess {
		t.Fatalf("run: %v %+v", err, st)
	}
	if len(w.batches) != 1 {
		t.Fatalf("batches = %d", len(w.batches))
	}
	b := w.batches[0]
	if b.Version != "v1" || b.RunID != "types" || b.FeatureGroup != "user_stats" {
		t.Fatalf("batch header %+v", b)
	}
	if slices.Contains(b.Names, "extra") || slices.Contains(b.Names, "event_timestamp") {
		t.Fatalf("names include columns outside the group: %v", b.Names)
	}
	want := map[string][]string{
		"user_id": {"1", "-2", "3"},
		"region":  {`"eu"`, `"us"`, `"eu"`},
		"i32":     {"7", "null", "-2147483648"},
		"f32":     {"1.5", "null", "0.1"},
		"f64":     {"2.25", "null", "1e+300"},
		"flag":    {"true", "null", "false"},
		"name":    {`"a\"b\n\u00e9<\u0001"`, "null", `""`},
		"ts_ms":   {"1700000000123", "null", "0"},
		"ts_us":   {"1700000000123", "-2", "0"},
		"ts_ns":   {"1700000000123", "-1", "1"},
		"raw":     {`"/wA="`, "null", `"ok"`},
	}
	for name, vals := range want {
		got := w.values(name)
		for i := range vals {
			if name == "name" && i == 0 {
				var s string
				if err := json.Unmarshal([]byte(got[0]), &s); err != nil || s != "a\"b\n\u00e9<\x01" {
					t.Errorf("name[0] = %s (%q, %v)", got[0], s, err)
				}
				continue
			}
			if got[i] != vals[i] {
				t.Errorf("%s[%d] = %s, want %s", name, i, got[i], vals[i])
			}
		}
		typ := types[name]
		if typ == "" {
			continue
		}
		for _, v := range got {
			if _, err := domain.Coerce(typ, json.RawMessage(v)); err != nil {
				t.Errorf("%s value %s not accepted as %s: %v", name, v, typ, err)
			}
		}
	}
	// The history holds the rows at their event times.
	rt := &offline.Retriever{History: h, Resolver: res}
	out, err := rt.Retrieve(t.Context(), &offline.HistoricalRequest{
		EntityRows: offline.EntityRows{Names: []string{"user_id", "region", "event_timestamp"}, Values: [][]json.RawMessage{
			{json.RawMessage("1"), json.RawMessage(`"eu"`), json.RawMessage("1700000000000")},
			{json.RawMessage("1"), json.RawMessage(`"eu"`), json.RawMessage("1699999999999")},
			{json.RawMessage(`"-2"`), json.RawMessage(`"us"`), json.RawMessage(`"2030-01-01T00:00:00Z"`)},
		}},
		Features: []string{"user_stats:i32", "user_stats:v1:ts_us"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(rowsText(out.Rows))
	if want := "[[1 \"eu\" 1700000000000 7 1700000000123] [1 \"eu\" 1699999999999 null null] [\"-2\" \"us\" \"2030-01-01T00:00:00Z\" null -2]]"; got != want {
		t.Fatalf("history rows = %s\nwant %s", got, want)
	}
}

func rowsText(rows [][]json.RawMessage) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		for _, v := range r {
			out[i] = append(out[i], string(v))
		}
	}
	return out
}

// seqFile writes n rows (id 0..n-1, value id*10, ts 1000+id) in row groups of size g.
func seqFile(t *testing.T, path string, n, g int) {
	t.Helper()
	cols := seqCols()
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(i), "eu", float64(i * 10), int64(1000 + i)}
	}
	writeParquet(t, path, cols, rows, g)
}

func seqCols() []column {
	return []column{
		{"user_id", parquet.Leaf(parquet.Int64Type)},
		{"region", parquet.String()},
		{"score", parquet.Optional(parquet.Leaf(parquet.DoubleType))},
		{"event_timestamp", parquet.Timestamp(parquet.Millisecond)},
	}
}

func seqResolver() *fakeResolver {
	return &fakeResolver{schemas: map[string][]offline.Schema{"user_stats": {userSchema("v1", col("score", "DOUBLE")), userSchema("v2", col("score", "DOUBLE"))}}}
}

// TestResumeAfterFailure fails the store at row group k, then re-runs the job: the second run starts at row group
// k and every row from k on is written exactly once.
func TestResumeAfterFailure(t *testing.T) {
	dir := t.TempDir()
	const n, g, k = 50, 10, 2
	seqFile(t, filepath.Join(dir, "a.parquet"), n, g)
	w := &fakeWriter{}
	failing := true
	w.fail = func(b ingest.Batch) bool {
		id, _ := strconv.Atoi(field(b.Names, b.Rows[0], "user_id"))
		return failing && id >= k*g
	}
	cp := NewMemCheckpoints()
	rec := &fakeRecorder{}
	p := newPopulator(t, Config{Resolver: seqResolver(), Writer: w, Checkpoints: cp, Recorder: rec})
	job := Job{Source: dir, FeatureGroupName: "user_stats", RunID: "resume", BatchRows: 4}
	st, err := p.Run(t.Context(), job, nil)
	if err == nil || st.Status != StatusFailed || !strings.Contains(st.Error, "online store unavailable") {
		t.Fatalf("first run: err=%v state=%+v", err, st)
	}
	if st.RowGroup != k || st.RowsDone != k*g || st.Version != "v2" {
		t.Fatalf("checkpoint after failure = %+v, want row group %d, %d rows, version v2", st, k, k*g)
	}
	if len(rec.runs) != 1 || rec.runs[0].Status != StatusFailed || rec.runs[0].RowCount != k*g {
		t.Fatalf("run data after failure = %+v", rec.runs)
	}
	firstIDs := len(w.values("user_id"))
	if firstIDs != k*g {
		t.Fatalf("first run wrote %d rows, want %d", firstIDs, k*g)
	}
	failing = false
	var first Progress
	st, err = p.Run(t.Context(), job, func(pr Progress) {
		if first.RunID == "" {
			first = pr
		}
	})
	if err != nil || st.Status != StatusSuccess {
		t.Fatalf("second run: %v %+v", err, st)
	}
	if first.RowGroup != k || first.RowsDone != k*g {
		t.Fatalf("second run started at %+v, want row group %d", first, k)
	}
	ids := w.values("user_id")[firstIDs:]
	if len(ids) != n-k*g {
		t.Fatalf("second run wrote %d rows, want %d", len(ids), n-k*g)
	}
	for i, id := range ids {
		if id != strconv.Itoa(k*g+i) {
			t.Fatalf("second run row %d = %s, want %d", i, id, k*g+i)
		}
	}
	if st.RowsDone != n || st.RowsTotal != n || st.FailedRows != 0 {
		t.Fatalf("final state %+v", st)
	}
	// Version stays pinned although the job names none; a third run of the finished job writes nothing.
	for _, b := range w.batches {
		if b.Version != "v2" {
			t.Fatalf("batch version %s", b.Version)
		}
	}
	before := len(w.batches)
	st, err = p.Run(t.Context(), job, nil)
	if err != nil || st.Status != StatusSuccess || len(w.batches) != before {
		t.Fatalf("re-run of a finished job: %v %+v, %d new batches", err, st, len(w.batches)-before)
	}
	// Same run id, different job: refused.
	if _, err := p.Run(t.Context(), Job{Source: dir, FeatureGroupName: "user_stats", FeatureGroupVersion: "v1", RunID: "resume"}, nil); !domain.Is(err, ErrPopulatorRequest) {
		t.Fatalf("reused run id with another version: %v", err)
	}
}

// TestResumeAcrossFiles fails in the second file and checks the resume position and that a changed source is refused.
func TestResumeAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	seqFile(t, filepath.Join(dir, "part-0.parquet"), 20, 10)
	seqFile(t, filepath.Join(dir, "sub", "part-1.parquet"), 30, 10)
	if err := os.WriteFile(filepath.Join(dir, "_SUCCESS"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".part-0.parquet.crc"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	calls := 0
	w := &fakeWriter{fail: func(ingest.Batch) bool { calls++; return calls == 4 }}
	p := newPopulator(t, Config{Resolver: seqResolver(), Writer: w})
	job := Job{Source: "file://" + dir, FeatureGroupName: "user_stats", RunID: "files", BatchRows: 10}
	st, err := p.Run(t.Context(), job, nil)
	if err == nil || st.FileIndex != 1 || st.RowGroup != 1 || st.RowsDone != 30 || st.RowsTotal != 50 {
		t.Fatalf("after failure: %v %+v", err, st)
	}
	st, err = p.Run(t.Context(), job, nil)
	if err != nil || st.RowsDone != 50 || st.RowsTotal != 50 {
		t.Fatalf("resumed: %v %+v", err, st)
	}
	if got := len(w.values("user_id")); got != 50 {
		t.Fatalf("rows written = %d, want 50", got)
	}
	// A source whose files changed under a failed run is refused.
	w.fail = func(ingest.Batch) bool { return true }
	job.RunID = "changed"
	if _, err := p.Run(t.Context(), job, nil); err == nil {
		t.Fatal("expected failure")
	}
	if err := os.Rename(filepath.Join(dir, "part-0.parquet"), filepath.Join(dir, "part-9.parquet")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(t.Context(), job, nil); !domain.Is(err, ErrPopulatorRequest) || !strings.Contains(err.Error(), "source changed") {
		t.Fatalf("changed source: %v", err)
	}
}

// TestProgressAndFailedRows checks progress callbacks and that rejected rows are counted, not fatal, and kept out of
// the history and the sample.
func TestProgressAndFailedRows(t *testing.T) {
	dir := t.TempDir()
	seqFile(t, filepath.Join(dir, "a.parquet"), 25, 10)
	w := &fakeWriter{reject: func(names []string, row []json.RawMessage) bool {
		id, _ := strconv.Atoi(field(names, row, "user_id"))
		return id%5 == 0
	}}
	rec := &fakeRecorder{}
	h := openHistory(t)
	p := newPopulator(t, Config{Resolver: seqResolver(), Writer: w, Recorder: rec, History: h})
	var prs []Progress
	st, err := p.Run(t.Context(), Job{Source: dir, FeatureGroupName: "user_stats", FeatureGroupVersion: "v1", RunID: "prog", BatchRows: 4}, func(pr Progress) { prs = append(prs, pr) })
	if err != nil || st.FailedRows != 5 || st.RowsDone != 25 {
		t.Fatalf("run: %v %+v", err, st)
	}
	var last int64
	for _, pr := range prs {
		if pr.RowsDone < last || pr.RowsTotal != 25 || pr.Files != 1 || pr.RunID != "prog" {
			t.Fatalf("progress %+v after %d", pr, last)
		}
		last = pr.RowsDone
	}
	end := prs[len(prs)-1]
	if end.Status != StatusSuccess || end.RowsDone != 25 || end.FailedRows != 5 || end.RowsPerSecond <= 0 {
		t.Fatalf("final progress %+v", end)
	}
	if len(prs) < 10 { // 3 row groups × (start + batches + end)
		t.Fatalf("only %d progress reports", len(prs))
	}
	if len(rec.runs) != 1 {
		t.Fatalf("run data %+v", rec.runs)
	}
	d := rec.runs[0]
	if d.Status != StatusSuccess || d.RowCount != 20 || d.FailedRows != 5 || d.Name != "user_stats" || d.Version != "v1" || len(d.SampleData) != SampleRows {
		t.Fatalf("run data %+v", d)
	}
	if string(d.SampleData[0]) != `{"region":"eu","score":10,"user_id":1}` {
		t.Fatalf("sample[0] = %s", d.SampleData[0])
	}
	rt := &offline.Retriever{History: h, Resolver: seqResolver()}
	out, err := rt.Retrieve(t.Context(), &offline.HistoricalRequest{
		EntityRows: offline.EntityRows{Names: []string{"user_id", "region", "event_timestamp"}, Values: [][]json.RawMessage{
			{json.RawMessage("5"), json.RawMessage(`"eu"`), json.RawMessage("999999")},
			{json.RawMessage("6"), json.RawMessage(`"eu"`), json.RawMessage("999999")},
			{json.RawMessage("6"), json.RawMessage(`"eu"`), json.RawMessage("1005")},
		}},
		Features: []string{"user_stats:v1:score"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rowsText(out.Rows)); got != `[[5 "eu" 999999 null] [6 "eu" 999999 60] [6 "eu" 1005 null]]` {
		t.Fatalf("history = %s", got)
	}
}

// TestKafkaMode produces v2 messages with the expected headers and values.
func TestKafkaMode(t *testing.T) {
	dir := t.TempDir()
	seqFile(t, filepath.Join(dir, "a.parquet"), 7, 5)
	prod := &fakeProducer{}
	p := newPopulator(t, Config{Resolver: seqResolver(), Producer: prod})
	st, err := p.Run(t.Context(), Job{Source: dir, FeatureGroupName: "user_stats", RunID: "k1", Mode: "KAFKA", BatchRows: 3}, nil)
	if err != nil || st.Status != StatusSuccess || st.RowsDone != 7 {
		t.Fatalf("run: %v %+v", err, st)
	}
	if len(prod.msgs) != 7 {
		t.Fatalf("%d messages", len(prod.msgs))
	}
	for i, m := range prod.msgs {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if h["feature-group-name"] != "user_stats" || h["feature-group-version"] != "v2" || h["run-id"] != "k1" || h["sdk-version"] != "v2" || len(h) != 4 {
			t.Fatalf("headers %v", h)
		}
		var v map[string]any
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("value %s: %v", m.Value, err)
		}
		if v["user_id"] != float64(i) || v["region"] != "eu" || v["score"] != float64(i*10) || len(v) != 3 {
			t.Fatalf("value %s", m.Value)
		}
		if string(m.Key) != fmt.Sprintf(`[%d,"eu"]`, i) {
			t.Fatalf("key %s", m.Key)
		}
	}
	for _, fg := range prod.fg {
		if fg != "user_stats" {
			t.Fatalf("produced to %s", fg)
		}
	}
}

// TestBlobSource reads a prefix of a local blob store through blob://.
func TestBlobSource(t *testing.T) {
	root := t.TempDir()
	st, err := blob.Open(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	seqFile(t, filepath.Join(root, "data", "fg", "part-0.parquet"), 10, 5)
	seqFile(t, filepath.Join(root, "data", "fg", "part-1.parquet"), 10, 5)
	seqFile(t, filepath.Join(root, "data", "fg2", "part-0.parquet"), 10, 5)
	w := &fakeWriter{}
	p := newPopulator(t, Config{Resolver: seqResolver(), Writer: w, Blob: st, TempDir: t.TempDir()})
	rs, err := p.Run(t.Context(), Job{Source: "blob://data/fg", FeatureGroupName: "user_stats", RunID: "b"}, nil)
	if err != nil || rs.RowsDone != 20 || rs.RowsTotal != 20 {
		t.Fatalf("blob run: %v %+v", err, rs)
	}
	rs, err = p.Run(t.Context(), Job{Source: "blob://data/fg/part-1.parquet", FeatureGroupName: "user_stats", RunID: "b1"}, nil)
	if err != nil || rs.RowsDone != 10 {
		t.Fatalf("blob single object: %v %+v", err, rs)
	}
	if _, err := p.Run(t.Context(), Job{Source: "blob://nothing", FeatureGroupName: "user_stats", RunID: "b2"}, nil); !domain.Is(err, ErrPopulatorRequest) {
		t.Fatalf("empty prefix: %v", err)
	}
}

// TestBadJobs are request errors before anything runs.
func TestBadJobs(t *testing.T) {
	dir := t.TempDir()
	seqFile(t, filepath.Join(dir, "a.parquet"), 3, 0)
	if err := os.WriteFile(filepath.Join(dir, "junk.parquet"), []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newPopulator(t, Config{Resolver: seqResolver(), Writer: &fakeWriter{}, AllowedDirs: []string{dir}})
	cases := []struct {
		job  Job
		code domain.Code
	}{
		{Job{FeatureGroupName: "user_stats"}, ErrPopulatorRequest},
		{Job{Source: dir, FeatureGroupName: "bad name"}, ErrPopulatorRequest},
		{Job{Source: dir, FeatureGroupName: "user_stats", FeatureGroupVersion: "1"}, ErrPopulatorRequest},
		{Job{Source: dir, FeatureGroupName: "user_stats", Mode: "carrier-pigeon"}, ErrPopulatorRequest},
		{Job{Source: dir, FeatureGroupName: "user_stats", Mode: "kafka"}, ErrPopulatorRequest},
		{Job{Source: dir, FeatureGroupName: "user_stats", BatchRows: MaxBatchRows + 1}, ErrPopulatorRequest},
		{Job{Source: "relative/path", FeatureGroupName: "user_stats"}, ErrPopulatorRequest},
		{Job{Source: "/etc", FeatureGroupName: "user_stats"}, ErrPopulatorRequest},
		{Job{Source: "ftp://x/y", FeatureGroupName: "user_stats"}, ErrPopulatorRequest},
		{Job{Source: "blob://x", FeatureGroupName: "user_stats"}, ErrPopulatorRequest},
		{Job{Source: filepath.Join(dir, "missing.parquet"), FeatureGroupName: "user_stats"}, ErrPopulatorRequest},
		{Job{Source: dir, FeatureGroupName: "nope"}, domain.ErrFGNotFound},
		{Job{Source: dir, FeatureGroupName: "user_stats", FeatureGroupVersion: "v9"}, domain.ErrFGVersionNotFound},
	}
	for i, c := range cases {
		_, err := p.Run(t.Context(), c.job, nil)
		if !domain.Is(err, c.code) {
			t.Errorf("case %d (%+v): err = %v, want %s", i, c.job, err, c.code.Name)
		}
	}
	// A file that is not Parquet fails the run (not a request error: the source was readable).
	st, err := p.Run(t.Context(), Job{Source: filepath.Join(dir, "junk.parquet"), FeatureGroupName: "user_stats", RunID: "junk"}, nil)
	if err == nil || st.Status != StatusFailed || !strings.Contains(st.Error, "not a readable Parquet file") {
		t.Fatalf("junk: %v %+v", err, st)
	}
	// A file without the group's primary keys, or without a named timestamp column, fails the run.
	nokey := filepath.Join(t.TempDir(), "nokey.parquet")
	writeParquet(t, nokey, []column{{"user_id", parquet.Leaf(parquet.Int64Type)}}, [][]any{{int64(1)}}, 0)
	p = newPopulator(t, Config{Resolver: seqResolver(), Writer: &fakeWriter{}})
	if st, err := p.Run(t.Context(), Job{Source: nokey, FeatureGroupName: "user_stats"}, nil); err == nil || !strings.Contains(st.Error, `primary key column "region"`) {
		t.Fatalf("no key: %v %+v", err, st)
	}
	if st, err := p.Run(t.Context(), Job{Source: filepath.Join(dir, "a.parquet"), FeatureGroupName: "user_stats", TimestampColumn: "ts"}, nil); err == nil || !strings.Contains(st.Error, `timestamp column "ts"`) {
		t.Fatalf("no timestamp column: %v %+v", err, st)
	}
}

// TestCancelledRunIsResumable stops a run through its context and resumes it.
func TestCancelledRunIsResumable(t *testing.T) {
	dir := t.TempDir()
	seqFile(t, filepath.Join(dir, "a.parquet"), 40, 10)
	ctx, cancel := context.WithCancel(t.Context())
	w := &fakeWriter{fail: func(b ingest.Batch) bool {
		if field(b.Names, b.Rows[0], "user_id") == "20" {
			cancel()
		}
		return false
	}}
	p := newPopulator(t, Config{Resolver: seqResolver(), Writer: w})
	job := Job{Source: dir, FeatureGroupName: "user_stats", RunID: "c", BatchRows: 10}
	st, err := p.Run(ctx, job, nil)
	if err == nil || st.Status != StatusFailed || st.RowGroup != 3 || st.RowsDone != 30 {
		t.Fatalf("cancelled: %v %+v", err, st)
	}
	w.fail = nil
	st, err = p.Run(t.Context(), job, nil)
	if err != nil || st.RowsDone != 40 {
		t.Fatalf("resumed: %v %+v", err, st)
	}
	// Row groups 0-2 in the first run (the cancel came after group 2's last batch), 3 in the second.
	if got := len(w.values("user_id")); got != 40 {
		t.Fatalf("%d rows written, want 40", got)
	}
}
