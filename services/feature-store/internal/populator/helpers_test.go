package populator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
	"github.com/darwinml/darwin/services/feature-store/internal/offline"
)

// column is one column of a generated test file.
type column struct {
	name string
	node parquet.Node
}

// writeParquetTo writes rows (one Go value per column, nil = null) with rowsPerGroup rows per row group.
func writeParquetTo(w io.Writer, cols []column, rows [][]any, rowsPerGroup int) error {
	group := parquet.Group{}
	for _, c := range cols {
		group[c.name] = c.node
	}
	schema := parquet.NewSchema("test", group)
	leaf := make([]int, len(cols))
	optional := make([]bool, len(cols))
	for i, c := range cols {
		lc, ok := schema.Lookup(c.name)
		if !ok {
			return fmt.Errorf("no column %q", c.name)
		}
		leaf[i] = lc.ColumnIndex
		optional[i] = lc.MaxDefinitionLevel > 0
	}
	pw := parquet.NewWriter(w, schema)
	for r, vals := range rows {
		row := make(parquet.Row, len(cols))
		for i, v := range vals {
			var pv parquet.Value
			def := 0
			if v != nil {
				pv = parquet.ValueOf(v)
				if optional[i] {
					def = 1
				}
			}
			row[leaf[i]] = pv.Level(0, def, leaf[i])
		}
		if _, err := pw.WriteRows([]parquet.Row{row}); err != nil {
			return err
		}
		if rowsPerGroup > 0 && (r+1)%rowsPerGroup == 0 {
			if err := pw.Flush(); err != nil {
				return err
			}
		}
	}
	return pw.Close()
}

func writeParquet(t testing.TB, path string, cols []column, rows [][]any, rowsPerGroup int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writeParquetTo(f, cols, rows, rowsPerGroup); err != nil {
		t.Fatal(err)
	}
}

// fakeResolver serves fixed schemas; versions[fg] lists versions oldest first.
type fakeResolver struct {
	schemas map[string][]offline.Schema
}

func (f *fakeResolver) Resolve(_ context.Context, fg, version string) (offline.Schema, error) {
	vs, ok := f.schemas[fg]
	if !ok || len(vs) == 0 {
		return offline.Schema{}, domain.E(domain.ErrFGNotFound, "feature group %s not found", fg)
	}
	if version == "" {
		return vs[len(vs)-1], nil
	}
	for _, s := range vs {
		if s.Version == version {
			return s, nil
		}
	}
	return offline.Schema{}, domain.E(domain.ErrFGVersionNotFound, "version %s not found", version)
}

// fakeWriter records batches; fail decides per batch whether the store fails; reject marks rows as invalid.
type fakeWriter struct {
	mu      sync.Mutex
	batches []ingest.Batch
	fail    func(b ingest.Batch) bool
	reject  func(names []string, row []json.RawMessage) bool
}

func (w *fakeWriter) Write(_ context.Context, bs []ingest.Batch) ([]ingest.Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ingest.Result, len(bs))
	for i, b := range bs {
		if w.fail != nil && w.fail(b) {
			return nil, fmt.Errorf("online store unavailable")
		}
		res := ingest.Result{Version: b.Version}
		for r, row := range b.Rows {
			if w.reject != nil && w.reject(b.Names, row) {
				res.Failed = append(res.Failed, ingest.RowError{Row: r, Code: domain.ErrWriteRequest.Name, Error: "bad row"})
				continue
			}
			res.Written++
		}
		w.batches = append(w.batches, b)
		out[i] = res
	}
	return out, nil
}

// column values of all written rows (by name), in write order.
func (w *fakeWriter) values(name string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, b := range w.batches {
		idx := -1
		for i, n := range b.Names {
			if n == name {
				idx = i
			}
		}
		for _, row := range b.Rows {
			if idx < 0 {
				out = append(out, "<absent>")
			} else {
				out = append(out, string(row[idx]))
			}
		}
	}
	return out
}

type fakeProducer struct {
	mu   sync.Mutex
	fg   []string
	msgs []Message
}

func (p *fakeProducer) Produce(_ context.Context, fg string, msgs []Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fg = append(p.fg, fg)
	p.msgs = append(p.msgs, msgs...)
	return nil
}

type fakeRecorder struct {
	mu   sync.Mutex
	runs []RunData
}

func (r *fakeRecorder) RecordRun(_ context.Context, d RunData) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, d)
	return nil
}

// userSchema is the test feature group: entity keys user_id (BIGINT) and region (TEXT).
func userSchema(version string, features ...domain.FeatureColumn) offline.Schema {
	return offline.Schema{Name: "user_stats", Version: version,
		PrimaryKeys: []domain.FeatureColumn{{Name: "user_id", Type: "BIGINT"}, {Name: "region", Type: "TEXT"}},
		Features:    features}
}

func col(name, typ string) domain.FeatureColumn { return domain.FeatureColumn{Name: name, Type: typ} }

// field returns the value of column name in row.
func field(names []string, row []json.RawMessage, name string) string {
	for i, n := range names {
		if n == name {
			return string(row[i])
		}
	}
	return ""
}
