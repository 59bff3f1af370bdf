package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

type fakeResolver map[string][]Schema

func (f fakeResolver) Resolve(_ context.Context, fg, version string) (Schema, error) {
	vs := f[fg]
	if len(vs) == 0 {
		return Schema{}, domain.E(domain.ErrFGNotFound, "feature group %s not found", fg)
	}
	if version == "" {
		return vs[len(vs)-1], nil
	}
	for _, s := range vs {
		if s.Version == version {
			return s, nil
		}
	}
	return Schema{}, domain.E(domain.ErrFGVersionNotFound, "version %s not found", version)
}

var keys = []domain.FeatureColumn{{Name: "user_id", Type: "BIGINT"}, {Name: "region", Type: "TEXT"}}

func testResolver() fakeResolver {
	feats := []domain.FeatureColumn{{Name: "score", Type: "DOUBLE"}, {Name: "label", Type: "TEXT"}}
	return fakeResolver{
		"user_stats": {{Name: "user_stats", Version: "v1", PrimaryKeys: keys, Features: feats},
			{Name: "user_stats", Version: "v2", PrimaryKeys: keys, Features: feats}},
		"clicks": {{Name: "clicks", Version: "v1", PrimaryKeys: keys[:1], Features: []domain.FeatureColumn{{Name: "n", Type: "INT"}}, TTL: 100 * time.Millisecond}},
	}
}

func raw(vals ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(vals))
	for i, v := range vals {
		out[i] = json.RawMessage(v)
	}
	return out
}

func mustAppend(t testing.TB, h *History, fg, ver string, names []string, keyIdx []int, ts int64, vals ...string) {
	t.Helper()
	if err := h.Append(t.Context(), Batch{FeatureGroup: fg, Version: ver, Names: names, KeyIdx: keyIdx,
		Rows: [][]json.RawMessage{raw(vals...)}, EventTimes: []int64{ts}}); err != nil {
		t.Fatal(err)
	}
}

func newHistory(t testing.TB) *History {
	t.Helper()
	h, err := OpenHistory("", HistoryOptions{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func fixture(t testing.TB) *Retriever {
	h := newHistory(t)
	full := []string{"user_id", "region", "score", "label"}
	k := []int{0, 1}
	// Appended out of time order on purpose.
	mustAppend(t, h, "user_stats", "v1", full, k, 300, "1", `"eu"`, "3", `"c"`)
	mustAppend(t, h, "user_stats", "v1", full, k, 100, "1", `"eu"`, "1", `"a"`)
	mustAppend(t, h, "user_stats", "v1", full, k, 200, "1", `"eu"`, "2", `"b"`)
	mustAppend(t, h, "user_stats", "v1", full, k, 150, "2", `"eu"`, "20", `"z"`)
	mustAppend(t, h, "user_stats", "v1", full, k, -50, "3", `"eu"`, "-5", `"neg"`)
	// A row carrying only label: score stays what it was.
	mustAppend(t, h, "user_stats", "v1", []string{"region", "label", "user_id"}, []int{2, 0}, 400, `"eu"`, `"d"`, "1")
	// A stored null ends the search.
	mustAppend(t, h, "user_stats", "v1", full, k, 500, "1", `"eu"`, "null", `"e"`)
	mustAppend(t, h, "user_stats", "v2", full, k, 250, "1", `"eu"`, "99", `"v2"`)
	mustAppend(t, h, "clicks", "v1", []string{"user_id", "n"}, []int{0}, 1000, "1", "7")
	return &Retriever{History: h, Resolver: testResolver()}
}

func retrieve(t *testing.T, r *Retriever, q *HistoricalRequest) string {
	t.Helper()
	res, err := r.Retrieve(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, row := range res.Rows {
		for i, v := range row {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.Write(v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestPointInTime(t *testing.T) {
	r := fixture(t)
	q := &HistoricalRequest{
		EntityRows: EntityRows{Names: []string{"user_id", "region", "ts"}, Values: [][]json.RawMessage{
			raw("1", `"eu"`, "99"),    // before any history
			raw("1", `"eu"`, "100"),   // exactly at an event
			raw("1", `"eu"`, "199"),   // between events
			raw("1", `"eu"`, "200"),   //
			raw(`"1"`, `"eu"`, "299"), // numeric string key
			raw("1", `"eu"`, "450"),   // label-only row at 400: score from 300
			raw("1", `"eu"`, "10000"), // null score at 500
			raw("2", `"eu"`, "149"),   //
			raw("2", `"eu"`, "150"),   //
			raw("2", `"us"`, "150"),   // unknown entity
			raw("3", `"eu"`, "-50"),   // before 1970
			raw("3", `"eu"`, `"1970-01-01T00:00:00.001Z"`),
			raw("null", `"eu"`, "500"), // null key
		}},
		TimestampColumn: "ts",
		Features:        []string{"user_stats:v1:score", "user_stats:v1:label", "user_stats:score"},
	}
	got := retrieve(t, r, q)
	want := `1 "eu" 99 null null null
1 "eu" 100 1 "a" null
1 "eu" 199 1 "a" null
1 "eu" 200 2 "b" null
"1" "eu" 299 2 "b" 99
1 "eu" 450 3 "d" 99
1 "eu" 10000 null "e" 99
2 "eu" 149 null null null
2 "eu" 150 20 "z" null
2 "us" 150 null null null
3 "eu" -50 -5 "neg" null
3 "eu" "1970-01-01T00:00:00.001Z" -5 "neg" null
null "eu" 500 null null null
`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTTL(t *testing.T) {
	r := fixture(t)
	q := &HistoricalRequest{
		EntityRows: EntityRows{Names: []string{"event_timestamp", "user_id"}, Values: [][]json.RawMessage{
			raw("999", "1"), raw("1000", "1"), raw("1100", "1"), raw("1101", "1"),
		}},
		Features: []string{"clicks:n"},
	}
	if got, want := retrieve(t, r, q), "999 1 null\n1000 1 7\n1100 1 7\n1101 1 null\n"; got != want {
		t.Fatalf("with TTL got\n%s\nwant\n%s", got, want)
	}
	q.IgnoreTTL = true
	if got, want := retrieve(t, r, q), "999 1 null\n1000 1 7\n1100 1 7\n1101 1 7\n"; got != want {
		t.Fatalf("ignoring TTL got\n%s\nwant\n%s", got, want)
	}
}

// TestPointInTimeRandom compares retrieval with a brute-force answer over random interleaved histories.
func TestPointInTimeRandom(t *testing.T) {
	h := newHistory(t)
	rng := rand.New(rand.NewPCG(1, 2))
	type ev struct {
		ts    int64
		score int
	}
	hist := map[int][]ev{}
	names := []string{"user_id", "region", "score", "label"}
	for i := 0; i < 2000; i++ {
		id := rng.IntN(20)
		ts := rng.Int64N(10_000) - 5000
		score := i
		dup := false
		for _, e := range hist[id] {
			if e.ts == ts {
				dup = true // same key: the later write replaces it; keep the brute force simple
			}
		}
		if dup {
			continue
		}
		hist[id] = append(hist[id], ev{ts, score})
		mustAppend(t, h, "user_stats", "v1", names, []int{0, 1}, ts, strconv.Itoa(id), `"eu"`, strconv.Itoa(score), `"x"`)
	}
	r := &Retriever{History: h, Resolver: testResolver()}
	q := &HistoricalRequest{EntityRows: EntityRows{Names: []string{"user_id", "region", "event_timestamp"}}, Features: []string{"user_stats:v1:score"}}
	var want strings.Builder
	for i := 0; i < 3000; i++ {
		id := rng.IntN(22)
		at := rng.Int64N(12_000) - 6000
		q.EntityRows.Values = append(q.EntityRows.Values, raw(strconv.Itoa(id), `"eu"`, strconv.FormatInt(at, 10)))
		best, bestTS := "null", int64(-1<<62)
		for _, e := range hist[id] {
			if e.ts <= at && e.ts > bestTS {
				best, bestTS = strconv.Itoa(e.score), e.ts
			}
		}
		fmt.Fprintf(&want, "%d \"eu\" %d %s\n", id, at, best)
	}
	if got := retrieve(t, r, q); got != want.String() {
		t.Fatal("random point-in-time answers differ from brute force")
	}
}

func post(t *testing.T, h http.Handler, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/feature-group/historical-features", strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHTTP(t *testing.T) {
	h := &Handler{Retriever: fixture(t)}
	ok := `{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",250],[2,"eu",100]]},"features":["user_stats:v1:score","user_stats:label"]}`
	rec := post(t, h, ok)
	if rec.Code != 200 {
		t.Fatalf("ok: %d %s", rec.Code, rec.Body)
	}
	if want := `{"data":{"columns":["user_id","region","event_timestamp","user_stats:v1:score","user_stats:label"],"rows":[[1,"eu",250,2,"v2"],[2,"eu",100,null,null]]}}`; rec.Body.String() != want {
		t.Fatalf("body %s\nwant %s", rec.Body, want)
	}
	bad := []struct {
		body   string
		status int
		code   string
	}{
		{``, 400, ErrHistoricalRequest.Name},
		{`{`, 400, ErrHistoricalRequest.Name},
		{`[]`, 400, ErrHistoricalRequest.Name},
		{`{} {}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[]}}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":[],"values":[]},"features":["user_stats:score"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region"],"values":[]},"features":["user_stats:score"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","user_id","event_timestamp"],"values":[]},"features":["user_stats:score"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu"]]},"features":["user_stats:score"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu","yesterday"]]},"features":["user_stats:score"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",null]]},"features":["user_stats:score"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1.5,"eu",1]]},"features":["user_stats:score"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",1]]},"features":["user_stats"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",1]]},"features":["user_stats:1:score"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",1]]},"features":["user_stats:a:b:c"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",1]]},"features":["user_stats:nope"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",1]]},"features":["user_stats:user_id"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","event_timestamp"],"values":[[1,1]]},"features":["user_stats:score"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",1]]},"features":["user_stats:score"],"format":"csv"}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":"user_id"},"features":["user_stats:score"]}`, 400, ErrHistoricalRequest.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",1]]},"features":["ghost:score"]}`, 404, domain.ErrFGNotFound.Name},
		{`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",1]]},"features":["user_stats:v7:score"]}`, 404, domain.ErrFGVersionNotFound.Name},
	}
	for _, c := range bad {
		rec := post(t, h, c.body)
		var env struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &env)
		if rec.Code != c.status || env.Error.Code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.body, rec.Code, rec.Body, c.status, c.code)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/feature-group/historical-features", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Fatalf("GET: %d", rec.Code)
	}
}

func TestParquetOutput(t *testing.T) {
	h := &Handler{Retriever: fixture(t)}
	rec := post(t, h, `{"format":"parquet","entityRows":{"names":["user_id","region","event_timestamp","note"],"values":[[1,"eu","1970-01-01T00:00:00.250Z",{"a":1}],[2,"eu",100,null]]},"features":["user_stats:v1:score","user_stats:v1:label"]}`)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/vnd.apache.parquet" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if f.NumRows() != 2 {
		t.Fatalf("%d rows", f.NumRows())
	}
	rows := make([]parquet.Row, 2)
	rr := f.RowGroups()[0].Rows()
	n, _ := rr.ReadRows(rows)
	rr.Close()
	if n != 2 {
		t.Fatalf("read %d rows", n)
	}
	get := func(r int, name string) parquet.Value {
		lc, ok := f.Schema().Lookup(name)
		if !ok {
			t.Fatalf("no column %q", name)
		}
		return rows[r][lc.ColumnIndex]
	}
	if v := get(0, "user_stats:v1:score"); v.Kind() != parquet.Double || v.Double() != 2 {
		t.Fatalf("score = %v", v)
	}
	if v := get(0, "event_timestamp"); v.Int64() != 250 {
		t.Fatalf("ts = %v", v)
	}
	if v := get(0, "user_id"); v.Int64() != 1 {
		t.Fatalf("user_id = %v", v)
	}
	if v := get(0, "note"); string(v.ByteArray()) != `{"a":1}` {
		t.Fatalf("note = %v", v)
	}
	if v := get(1, "user_stats:v1:label"); !v.IsNull() {
		t.Fatalf("label = %v", v)
	}
	if v := get(0, "user_stats:v1:label"); string(v.ByteArray()) != "b" {
		t.Fatalf("label = %v", v)
	}
}

// FuzzParseHistoricalRequest: the decoder never panics and fails only with request errors; accepted requests are
// well formed.
func FuzzParseHistoricalRequest(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",250]]},"features":["user_stats:v1:score"]}`,
		`{"entityRows":{"names":["k","ts"],"values":[[1,"2020-01-01T00:00:00Z"]]},"timestampColumn":"ts","features":["g:c"],"format":"parquet","ignoreTtl":true}`,
		`{"entityRows":{"names":["k","event_timestamp"],"values":[[1]]},"features":["g:c"]}`,
		`{"entityRows":{"names":["k","event_timestamp"],"values":[[1,2,3]]},"features":["g:v0:c"]}`,
		`{"entityRows":{"names":["user_id","region","event_timestamp"],"values":[[1,"eu",250],["x",1,2]]},"features":["user_stats:v1:score","clicks:n"],"format":"parquet"}`,
		`{"features":[":"]}`, `null`, `{"entityRows":null}`, `{"entityRows":{"values":[[]]}}`,
	} {
		f.Add([]byte(s))
	}
	r := fixture(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := ParseHistoricalRequest(body)
		if err != nil {
			if !domain.Is(err, ErrHistoricalRequest) {
				t.Fatalf("non-request error %v", err)
			}
			return
		}
		if len(q.Features) == 0 || q.TimestampColumn == "" {
			t.Fatalf("accepted %+v", q)
		}
		for _, row := range q.EntityRows.Values {
			if len(row) != len(q.EntityRows.Names) {
				t.Fatalf("accepted ragged row %v", row)
			}
		}
		res, err := r.Retrieve(t.Context(), q)
		if err != nil {
			if e := domain.As(err); e.Code.Status >= 500 {
				t.Fatalf("retrieve: server error %v", err)
			}
			return
		}
		if len(res.Rows) != len(q.EntityRows.Values) {
			t.Fatalf("%d rows for %d entity rows", len(res.Rows), len(q.EntityRows.Values))
		}
		if q.Format == "parquet" {
			if err := WriteParquet(io.Discard, res); err != nil {
				t.Fatalf("write parquet: %v", err)
			}
		}
	})
}
