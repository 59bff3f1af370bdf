package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
)

func writeBody(fg string, version any, names []string, rows ...[]any) map[string]any {
	return map[string]any{"featureGroupName": fg, "featureGroupVersion": version, "features": map[string]any{"names": names, "values": rows}}
}

func readBody2(fg string, version any, cols []string, keyNames []string, keys ...[]any) map[string]any {
	return map[string]any{"featureGroupName": fg, "featureGroupVersion": version, "featureColumns": cols,
		"primaryKeys": map[string]any{"names": keyNames, "values": keys}}
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAppWriteAndRead(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setup()
		var w WriteResponse
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, []string{"region", "user_id", "clicks", "score", "label"},
			[]any{"in", 1, 10, 0.5, "a"}, []any{"us", 2, 20, 1.5, nil}, []any{"in", "3", 30, "2.5", "c"})).ok(t).into(t, &w)
		if w.FeatureGroupVersion != "v1" || len(w.SuccessfulRows) != 3 || len(w.FailedRows) != 0 || asJSON(w.FeatureColumns) != `["region","user_id","clicks","score","label"]` {
			t.Fatalf("write response %+v", w)
		}
		if e.st.writes.Load() != 1 {
			t.Fatalf("writes = %d", e.st.writes.Load())
		}
		var r ReadResponse
		req := readBody2("stats", nil, []string{"label", "clicks", "user_id", "score"}, []string{"user_id", "region"},
			[]any{1, "in"}, []any{2, "us"}, []any{9, "in"}, []any{1, "us"}, []any{3, "in"})
		e.appDo("GET", "/feature-group/read-features", req).ok(t).into(t, &r)
		if r.FeatureGroupName != "stats" || r.FeatureGroupVersion != "v1" || len(r.SuccessfulKeys) != 3 {
			t.Fatalf("read %+v", r)
		}
		if got := asJSON(r.SuccessfulKeys); got != `[{"key":[1,"in"],"features":["a",10,1,0.5]},{"key":[2,"us"],"features":[null,20,2,1.5]},{"key":[3,"in"],"features":["c",30,3,2.5]}]` {
			t.Fatalf("successful keys %s", got)
		}
		if got := asJSON(r.FailedKeys); got != `[[9,"in"],[1,"us"]]` {
			t.Fatalf("failed keys %s", got)
		}
		if e.st.reads.Load() != 1 {
			t.Fatalf("reads = %d", e.st.reads.Load())
		}
		// POST is the same read; key names in another order; an explicit version.
		e.appDo("POST", "/feature-group/read-features", readBody2("stats", "v1", []string{"score"}, []string{"region", "user_id"}, []any{"in", 1})).ok(t).into(t, &r)
		if asJSON(r.SuccessfulKeys) != `[{"key":["in",1],"features":[0.5]}]` {
			t.Fatalf("post read %s", asJSON(r.SuccessfulKeys))
		}
		// Upsert: a partial write keeps the other columns, null clears one.
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, []string{"user_id", "region", "clicks", "label"}, []any{1, "in", 11, nil})).ok(t)
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", nil, []string{"clicks", "score", "label", "signup_ts"}, []string{"user_id", "region"}, []any{1, "in"})).ok(t).into(t, &r)
		if asJSON(r.SuccessfulKeys[0].Features) != `[11,0.5,null,null]` {
			t.Fatalf("upsert %s", asJSON(r.SuccessfulKeys))
		}

		// v2 of the group has its own columns: v1 values are not visible through it.
		e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("clicks", "BIGINT")), "upgrade", "true").ok(t)
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", nil, []string{"clicks"}, []string{"user_id", "region"}, []any{1, "in"})).ok(t).into(t, &r)
		if r.FeatureGroupVersion != "v2" || asJSON(r.SuccessfulKeys[0].Features) != `[null]` {
			t.Fatalf("v2 read %+v", r)
		}
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", "v2", []string{"user_id", "region", "clicks"}, []any{1, "in", 5000000000})).ok(t)
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", "v1", []string{"clicks"}, []string{"user_id", "region"}, []any{1, "in"})).ok(t).into(t, &r)
		if asJSON(r.SuccessfulKeys[0].Features) != `[11]` {
			t.Fatalf("v1 after v2 write %s", asJSON(r.SuccessfulKeys))
		}
		// score is not in v2.
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", nil, []string{"score"}, []string{"user_id", "region"}, []any{1, "in"})).fails(t, 400, "READ-FEATURE-GROUP-REQUEST-EXCEPTION")

		// A version-disabled group's columns are <fg>__<col> and survive nothing else.
		off := false
		e.adminDo("POST", "/feature-group", fgReq("flat", "users", &off, col("a", "BOOLEAN"))).ok(t)
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("flat", nil, []string{"user_id", "region", "a"}, []any{7, "eu", true})).ok(t)
		res, err := e.st.Store.Read(t.Context(), []online.ReadOp{{Table: "users", Keys: [][]byte{[]byte("7\x00\"eu\"")}, Columns: []string{"flat__a", "stats__v1__clicks"}}})
		if err != nil || !res[0].Found[0] || string(res[0].Values[0][0]) != "true" || res[0].Values[0][1] != nil {
			t.Fatalf("store layout: %+v %v", res, err)
		}
	})
}

func TestAppErrors(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setup()
		names := []string{"user_id", "region", "clicks"}
		wfail := func(body any, status int, code string) resp {
			t.Helper()
			return e.appDo("POST", "/feature-group/write-features-v2", body).fails(t, status, code)
		}
		r := wfail(writeBody("nope", nil, names, []any{1, "in", 1}), 400, "OFS-V2-ADMIN-SERVICE-EXCEPTION")
		if !strings.Contains(r.Error.Message, "not found") {
			t.Fatalf("message %q", r.Error.Message)
		}
		wfail(writeBody("stats", "v7", names, []any{1, "in", 1}), 400, "OFS-V2-ADMIN-SERVICE-EXCEPTION")
		wfail(writeBody("stats", nil, []string{"user_id", "region", "bogus"}, []any{1, "in", 1}), 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")
		wfail(writeBody("stats", nil, []string{"user_id", "clicks"}, []any{1, 1}), 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")
		wfail(writeBody("stats", nil, []string{"user_id", "region", "clicks", "clicks"}, []any{1, "in", 1, 2}), 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")
		wfail(writeBody("stats", nil, names, []any{1, "in"}), 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")
		wfail(writeBody("stats", nil, names), 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")
		wfail(writeBody("", nil, names, []any{1, "in", 1}), 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")
		wfail(writeBody("stats", nil, names, []any{nil, "in", 1}), 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")
		wfail(`{"featureGroupName":"stats","features":{"names":"x"}}`, 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")
		wfail(`{`, 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")
		// Type errors anywhere reject the whole request: the good first row is not written.
		for _, bad := range [][]any{{"x", "in", 1}, {1, 5, 1}, {1, "in", 3000000000}, {1, "in", 1.5}, {1, "in", "1x"}, {1, "in", true}, {1.5, "in", 1}} {
			wfail(writeBody("stats", nil, names, []any{100, "in", 1}, bad), 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")
		}
		if n := e.st.writes.Load(); n != 0 {
			t.Fatalf("%d store writes for rejected requests", n)
		}
		var rr ReadResponse
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", nil, []string{"clicks"}, []string{"user_id", "region"}, []any{100, "in"})).ok(t).into(&testing.T{}, &rr)
		if len(rr.SuccessfulKeys) != 0 {
			t.Fatalf("half-written: %+v", rr)
		}

		rfail := func(body any, code string) {
			t.Helper()
			e.appDo("GET", "/feature-group/read-features", body).fails(t, 400, code)
		}
		pk := []string{"user_id", "region"}
		rfail(readBody2("nope", nil, []string{"clicks"}, pk, []any{1, "in"}), "OFS-V2-ADMIN-SERVICE-EXCEPTION")
		rfail(readBody2("stats", nil, []string{"bogus"}, pk, []any{1, "in"}), "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		rfail(readBody2("stats", nil, []string{}, pk, []any{1, "in"}), "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		rfail(readBody2("stats", nil, []string{"clicks"}, []string{"user_id"}, []any{1}), "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		rfail(readBody2("stats", nil, []string{"clicks"}, []string{"user_id", "user_id"}, []any{1, 1}), "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		rfail(readBody2("stats", nil, []string{"clicks"}, []string{"user_id", "clicks"}, []any{1, 1}), "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		rfail(readBody2("stats", nil, []string{"clicks"}, pk, []any{1}), "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		rfail(readBody2("stats", nil, []string{"clicks"}, pk, []any{"a", "in"}), "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		rfail(readBody2("stats", nil, []string{"clicks"}, pk, []any{nil, "in"}), "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		rfail(readBody2("stats", nil, []string{"clicks"}, pk), "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		rfail(``, "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		rfail(`{"featureColumns":[1]}`, "READ-FEATURE-GROUP-REQUEST-EXCEPTION")

		// Archiving through admin is seen by the app at once (cache invalidation), and so is reviving.
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, names, []any{1, "in", 1})).ok(t)
		e.adminDo("PUT", "/feature-group?name=stats", map[string]string{"state": "ARCHIVED"}).ok(t)
		wfail(writeBody("stats", nil, names, []any{1, "in", 1}), 400, "FEATURE-GROUP-STATE-EXCEPTION")
		rfail(readBody2("stats", nil, []string{"clicks"}, pk, []any{1, "in"}), "FEATURE-GROUP-STATE-EXCEPTION")
		e.adminDo("PUT", "/feature-group?name=stats", map[string]string{"state": "LIVE"}).ok(t)
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", nil, []string{"clicks"}, pk, []any{1, "in"})).ok(t)
		e.appDo("GET", "/feature-group/write-features-v2", nil).fails(t, 405, "METHOD-NOT-ALLOWED")
	})
}

func TestAppWriteV1MultiReadAndTTL(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setup()
		e.adminDo("POST", "/entity", map[string]any{"entity": map[string]any{"tableName": "items", "features": []any{col("id", "TEXT")}, "primaryKeys": []string{"id"}}, "owner": "a@b.co"}).ok(t)
		e.adminDo("POST", "/feature-group", fgReq("price", "items", nil, col("p", "DECIMAL"))).ok(t)
		var v1 struct {
			Batches       []WriteResponse
			FailedBatches []struct {
				Batch WriteRequest
				Error errorBody
			}
		}
		e.appDo("POST", "/feature-group/write-features-v1", map[string]any{"batches": []any{
			writeBody("stats", nil, []string{"user_id", "region", "clicks"}, []any{1, "in", 5}),
			writeBody("nope", nil, []string{"id"}, []any{"x"}),
			writeBody("price", nil, []string{"id", "p"}, []any{"i1", "12.50"}),
			writeBody("price", nil, []string{"id", "p"}, []any{"i2", "abc"}),
		}}).ok(t).into(t, &v1)
		if len(v1.Batches) != 2 || len(v1.FailedBatches) != 2 || v1.FailedBatches[0].Error.Code != "OFS-V2-ADMIN-SERVICE-EXCEPTION" ||
			v1.FailedBatches[1].Error.Code != "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION" || v1.FailedBatches[1].Batch.FeatureGroupName != "price" {
			t.Fatalf("v1 %+v", v1)
		}
		if e.st.writes.Load() != 1 {
			t.Fatalf("v1 store writes = %d", e.st.writes.Load())
		}
		e.appDo("POST", "/feature-group/write-features-v1", `{"batches":[]}`).fails(t, 400, "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION")

		var multi []ReadResponse
		e.appDo("GET", "/feature-group/multi-read-features", map[string]any{"batches": []any{
			readBody2("stats", nil, []string{"clicks"}, []string{"user_id", "region"}, []any{1, "in"}, []any{2, "in"}),
			readBody2("price", "v1", []string{"p", "id"}, []string{"id"}, []any{"i1"}, []any{"i2"}),
		}}).ok(t).into(t, &multi)
		if got := asJSON(multi); got != `[{"featureGroupName":"stats","featureGroupVersion":"v1","successfulKeys":[{"key":[1,"in"],"features":[5]}],"failedKeys":[[2,"in"]]},{"featureGroupName":"price","featureGroupVersion":"v1","successfulKeys":[{"key":["i1"],"features":[12.50,"i1"]}],"failedKeys":[["i2"]]}]` {
			t.Fatalf("multi %s", got)
		}
		if e.st.reads.Load() != 1 {
			t.Fatalf("multi reads = %d", e.st.reads.Load())
		}
		batches := make([]any, 11)
		for i := range batches {
			batches[i] = readBody2("stats", nil, []string{"clicks"}, []string{"user_id", "region"}, []any{1, "in"})
		}
		e.appDo("GET", "/feature-group/multi-read-features", map[string]any{"batches": batches}).fails(t, 400, "MULTI-READ-FEATURE-GROUP-INVALID-BATCH-SIZE-EXCEPTION")
		e.appDo("GET", "/feature-group/multi-read-features", `{"batches":[]}`).fails(t, 400, "MULTI-READ-FEATURE-GROUP-INVALID-BATCH-SIZE-EXCEPTION")
		r := e.appDo("POST", "/feature-group/multi-read-features", map[string]any{"batches": []any{
			readBody2("stats", nil, []string{"clicks"}, []string{"user_id", "region"}, []any{1, "in"}),
			readBody2("stats", nil, []string{"nope"}, []string{"user_id", "region"}, []any{1, "in"}),
		}}).fails(t, 400, "MULTI-READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		if !strings.HasPrefix(r.Error.Message, "batches[1]") {
			t.Fatalf("message %q", r.Error.Message)
		}
		e.appDo("GET", "/feature-group/multi-read-features", map[string]any{"batches": []any{readBody2("gone", nil, []string{"x"}, []string{"id"}, []any{1})}}).
			fails(t, 400, "OFS-V2-ADMIN-SERVICE-EXCEPTION")
		e.appDo("GET", "/feature-group/multi-read-features", `[]`).fails(t, 400, "MULTI-READ-FEATURE-GROUP-REQUEST-EXCEPTION")
		if e.st.reads.Load() != 1 {
			t.Fatalf("rejected multi-reads reached the store: %d", e.st.reads.Load())
		}

		// A TTL set through admin applies to the following writes at once.
		e.adminDo("PUT", "/feature-group/ttl", map[string]any{"name": "price", "ttl": 1}).ok(t)
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("price", nil, []string{"id", "p"}, []any{"short", 1})).ok(t)
		var rr ReadResponse
		e.appDo("GET", "/feature-group/read-features", readBody2("price", nil, []string{"p"}, []string{"id"}, []any{"short"})).ok(t).into(t, &rr)
		if len(rr.SuccessfulKeys) != 1 {
			t.Fatalf("before expiry %+v", rr)
		}
		time.Sleep(1100 * time.Millisecond)
		e.appDo("GET", "/feature-group/read-features", readBody2("price", nil, []string{"p"}, []string{"id"}, []any{"short"}, []any{"i1"})).ok(t).into(t, &rr)
		if len(rr.SuccessfulKeys) != 1 || asJSON(rr.FailedKeys) != `[["short"]]` {
			t.Fatalf("after expiry %s", asJSON(rr))
		}
	})
}
