package populator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
	"github.com/darwinml/darwin/services/feature-store/migrations"
)

type envelope struct {
	Data  json.RawMessage `json:"data"`
	Error *struct {
		Message string `json:"message"`
		Cause   string `json:"cause"`
		Code    string `json:"code"`
	} `json:"error"`
}

func call(t *testing.T, h http.Handler, method, target, body string) (int, envelope) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, target, rec.Body.String(), err)
	}
	return rec.Code, env
}

func TestHTTP(t *testing.T) {
	dir := t.TempDir()
	seqFile(t, filepath.Join(dir, "a.parquet"), 30, 10)
	w := &fakeWriter{}
	p := newPopulator(t, Config{Resolver: seqResolver(), Writer: w})
	r := NewRunner(p)
	defer r.Close()

	bad := []struct {
		method, target, body string
		status               int
		code                 string
	}{
		{"POST", "/populator/run", "", 400, ErrPopulatorRequest.Name},
		{"POST", "/populator/run", "{", 400, ErrPopulatorRequest.Name},
		{"POST", "/populator/run", `{"source":1}`, 400, ErrPopulatorRequest.Name},
		{"POST", "/populator/run", `{"source":"` + dir + `","featureGroupName":"user_stats","bogus":1}`, 400, ErrPopulatorRequest.Name},
		{"POST", "/populator/run", `{"source":"` + dir + `","featureGroupName":"user_stats"} {}`, 400, ErrPopulatorRequest.Name},
		{"POST", "/populator/run", `{"source":"` + dir + `"}`, 400, ErrPopulatorRequest.Name},
		{"POST", "/populator/run", `{"source":"` + dir + `","featureGroupName":"user_stats","mode":"x"}`, 400, ErrPopulatorRequest.Name},
		{"POST", "/populator/run", `{"source":"nope","featureGroupName":"user_stats"}`, 400, ErrPopulatorRequest.Name},
		{"POST", "/populator/run", `{"source":"` + dir + `","featureGroupName":"missing"}`, 404, domain.ErrFGNotFound.Name},
		{"POST", "/populator/run", `{"source":"` + dir + `","featureGroupName":"user_stats","runId":"` + strings.Repeat("x", 200) + `"}`, 400, ErrPopulatorRequest.Name},
		{"GET", "/populator/run", "", 400, ErrPopulatorRequest.Name},
		{"GET", "/populator/run?runId=unknown", "", 404, ErrRunNotFound.Name},
		{"DELETE", "/populator/run", "", 405, ErrPopulatorRequest.Name},
	}
	for _, c := range bad {
		status, env := call(t, r, c.method, c.target, c.body)
		if status != c.status || env.Error == nil || env.Error.Code != c.code {
			t.Errorf("%s %s %q: %d %+v, want %d %s", c.method, c.target, c.body, status, env.Error, c.status, c.code)
		}
	}

	status, env := call(t, r, "POST", "/populator/run", `{"source":"`+dir+`","featureGroupName":"user_stats","runId":"h1","batchRows":7}`)
	if status != 200 {
		t.Fatalf("start: %d %+v", status, env.Error)
	}
	var st Status
	_ = json.Unmarshal(env.Data, &st)
	if st.RunID != "h1" || st.FeatureGroupVersion != "v2" || (st.Status != StatusRunning && st.Status != StatusSuccess) {
		t.Fatalf("start answered %+v", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, env = call(t, r, "GET", "/populator/run?runId=h1", "")
		if status != 200 {
			t.Fatalf("status: %d %+v", status, env.Error)
		}
		_ = json.Unmarshal(env.Data, &st)
		if st.Status != StatusRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st.Status != StatusSuccess || st.RowsDone != 30 || st.RowsTotal != 30 || st.FailedRows != 0 {
		t.Fatalf("final status %+v", st)
	}
	// Answered from the checkpoint store after the runner forgot it.
	r.mu.Lock()
	delete(r.live, "h1")
	r.mu.Unlock()
	status, env = call(t, r, "GET", "/populator/run?runId=h1", "")
	_ = json.Unmarshal(env.Data, &st)
	if status != 200 || st.Status != StatusSuccess || st.RowsDone != 30 {
		t.Fatalf("stored status %d %+v", status, st)
	}
}

// TestSQLCheckpoints runs the checkpoint store and a resumed run on every dialect.
func TestSQLCheckpoints(t *testing.T) {
	dbtest.ForEachDialect(t, []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}, func(t *testing.T, d *db.DB) {
		cp := NewSQLCheckpoints(d)
		if _, found, err := cp.Load(t.Context(), "none"); err != nil || found {
			t.Fatalf("load unknown: %v %v", found, err)
		}
		st := RunState{RunID: "r1", Source: "/data", FeatureGroup: "fg", Version: "v1", Mode: ModeDirect, TimestampColumn: "ts",
			Status: StatusRunning, FileName: "/data/a.parquet", StartedAt: 1, UpdatedAt: 2}
		if err := cp.Save(t.Context(), st); err != nil {
			t.Fatal(err)
		}
		st.Status, st.FileIndex, st.RowGroup, st.FilesCounted, st.RowsDone, st.RowsTotal, st.FailedRows, st.Error, st.UpdatedAt =
			StatusFailed, 2, 3, 3, 1<<40, 1<<41, 5, strings.Repeat("é", 3000), 9
		if err := cp.Save(t.Context(), st); err != nil {
			t.Fatal(err)
		}
		got, found, err := cp.Load(t.Context(), "r1")
		if err != nil || !found {
			t.Fatalf("load: %v %v", found, err)
		}
		if len(got.Error) != maxErrorLen {
			t.Fatalf("error length %d", len(got.Error))
		}
		got.Error, st.Error = "", ""
		if got != st {
			t.Fatalf("load = %+v\nwant %+v", got, st)
		}

		dir := t.TempDir()
		seqFile(t, filepath.Join(dir, "a.parquet"), 30, 10)
		fail := true
		w := &fakeWriter{fail: func(b ingest.Batch) bool { return fail && field(b.Names, b.Rows[0], "user_id") == "20" }}
		p := newPopulator(t, Config{Resolver: seqResolver(), Writer: w, Checkpoints: cp})
		job := Job{Source: dir, FeatureGroupName: "user_stats", RunID: "sql-run", BatchRows: 10}
		if _, err := p.Run(t.Context(), job, nil); err == nil {
			t.Fatal("expected failure")
		}
		fail = false
		rs, err := p.Run(t.Context(), job, nil)
		if err != nil || rs.RowsDone != 30 || len(w.values("user_id")) != 30 {
			t.Fatalf("resume: %v %+v, %d rows", err, rs, len(w.values("user_id")))
		}
	})
}

// FuzzParseJob: the POST /populator/run decoder never panics and only fails with request errors.
func FuzzParseJob(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"source":"/data","featureGroupName":"fg"}`,
		`{"source":"s3://b/p?endpoint=http://x","featureGroupName":"fg","featureGroupVersion":"v2","runId":"r","mode":"kafka","timestampColumn":"ts","batchRows":10}`,
		`{"source":"/d","featureGroupName":"fg","batchRows":-1}`, `{"source":"/d","featureGroupName":"fg","mode":"KAFKA"}`,
		`[1]`, `{"source":null}`, `{"source":"/d","featureGroupName":"fg","runId":"\u0000"}`, `{"a":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := ParseJob(body)
		if err != nil {
			if !domain.Is(err, ErrPopulatorRequest) {
				t.Fatalf("non-request error %v", err)
			}
			return
		}
		if j.Source == "" || j.RunID == "" || (j.Mode != ModeDirect && j.Mode != ModeKafka) || j.BatchRows < 1 || j.BatchRows > MaxBatchRows || j.TimestampColumn == "" {
			t.Fatalf("accepted invalid job %+v", j)
		}
	})
}
