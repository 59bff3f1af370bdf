package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
)

func rawRow(vals ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(vals))
	for i, v := range vals {
		out[i] = json.RawMessage(v)
	}
	return out
}

// failingStore fails every write.
type failingStore struct{ online.Store }

func (failingStore) Write(context.Context, []online.WriteOp) error { return errors.New("disk on fire") }

func TestIngestWriterReportsRowsAndWritesOnce(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setup()
		names := []string{"user_id", "region", "clicks", "label"}
		res, err := e.h.Write(t.Context(), []ingest.Batch{
			// Row 1 has a bad type, row 2 a null key, the others are fine.
			{FeatureGroup: "stats", Names: names, Rows: [][]json.RawMessage{
				rawRow(`1`, `"in"`, `10`, `"a"`), rawRow(`2`, `"us"`, `"many"`, `"b"`), rawRow(`null`, `"us"`, `3`, `"c"`), rawRow(`4`, `"eu"`, `40`, `null`),
			}},
			// An unknown group fails every row of its batch with the admin error.
			{FeatureGroup: "nope", Names: names, Rows: [][]json.RawMessage{rawRow(`1`, `"in"`, `1`, `"x"`), rawRow(`2`, `"in"`, `1`, `"x"`)}},
			// A column outside the group fails the batch.
			{FeatureGroup: "stats", Version: "v1", Names: []string{"user_id", "region", "bogus"}, Rows: [][]json.RawMessage{rawRow(`1`, `"in"`, `1`)}},
			// An explicit version.
			{FeatureGroup: "stats", Version: "v1", Names: []string{"region", "user_id", "score"}, Rows: [][]json.RawMessage{rawRow(`"in"`, `1`, `0.25`)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if e.st.writes.Load() != 1 {
			t.Fatalf("store writes = %d, want one call for all batches", e.st.writes.Load())
		}
		if res[0].Version != "v1" || res[0].Written != 2 || len(res[0].Failed) != 2 || res[0].Failed[0].Row != 1 || res[0].Failed[1].Row != 2 ||
			res[0].Failed[0].Code != "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION" {
			t.Fatalf("batch 0: %+v", res[0])
		}
		if res[1].Version != "" || res[1].Written != 0 || len(res[1].Failed) != 2 || res[1].Failed[1].Code != "OFS-V2-ADMIN-SERVICE-EXCEPTION" {
			t.Fatalf("batch 1: %+v", res[1])
		}
		if res[2].Written != 0 || len(res[2].Failed) != 1 || res[2].Failed[0].Code != "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION" {
			t.Fatalf("batch 2: %+v", res[2])
		}
		if res[3].Version != "v1" || res[3].Written != 1 || len(res[3].Failed) != 0 {
			t.Fatalf("batch 3: %+v", res[3])
		}
		var r ReadResponse
		e.appDo("POST", "/feature-group/read-features", readBody2("stats", nil, []string{"clicks", "label", "score"}, []string{"user_id", "region"},
			[]any{1, "in"}, []any{2, "us"}, []any{4, "eu"})).ok(t).into(t, &r)
		if got := asJSON(r.SuccessfulKeys); got != `[{"key":[1,"in"],"features":[10,"a",0.25]},{"key":[4,"eu"],"features":[40,null,null]}]` {
			t.Fatalf("read back %s", got)
		}
		if asJSON(r.FailedKeys) != `[[2,"us"]]` {
			t.Fatalf("failed keys %s", asJSON(r.FailedKeys))
		}
	})
}

func TestIngestWriterStoreFailureIsAnError(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setup()
		e.h.online = failingStore{e.st}
		_, err := e.h.Write(t.Context(), []ingest.Batch{{FeatureGroup: "stats", Names: []string{"user_id", "region", "clicks"}, Rows: [][]json.RawMessage{rawRow(`1`, `"in"`, `1`)}}})
		if err == nil {
			t.Fatal("a store failure must be returned so the caller retries")
		}
		// Nothing valid to write: no store call, no error.
		res, err := e.h.Write(t.Context(), []ingest.Batch{{FeatureGroup: "stats", Names: []string{"user_id"}, Rows: [][]json.RawMessage{rawRow(`1`)}}})
		if err != nil || len(res[0].Failed) != 1 {
			t.Fatalf("all-invalid batch: %+v %v", res, err)
		}
	})
}
