package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
	"github.com/darwinml/darwin/services/feature-store/internal/store"
	"github.com/darwinml/darwin/services/feature-store/migrations"
)

var fsMigrations = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

// countingStore counts store calls so tests can assert one round trip per request.
type countingStore struct {
	online.Store
	reads, writes atomic.Int64
}

func (c *countingStore) Read(ctx context.Context, ops []online.ReadOp) ([]online.ReadResult, error) {
	c.reads.Add(1)
	return c.Store.Read(ctx, ops)
}

func (c *countingStore) Write(ctx context.Context, ops []online.WriteOp) error {
	c.writes.Add(1)
	return c.Store.Write(ctx, ops)
}

type env struct {
	t     testing.TB
	h     *Handler
	admin http.Handler
	app   http.Handler
	st    *countingStore
	clk   *clock.Fake
}

func newEnv(t testing.TB, d *db.DB) *env {
	clk := clock.NewFake(time.UnixMilli(1_750_000_000_000))
	p, err := online.OpenPebble("", online.PebbleOptions{InMemory: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	cs := &countingStore{Store: p}
	h := New(store.New(d, clk), cs, Options{CacheTTL: -1})
	admin, app := chi.NewRouter(), chi.NewRouter()
	h.RegisterAdmin(admin)
	h.RegisterApp(app)
	return &env{t: t, h: h, admin: admin, app: app, st: cs, clk: clk}
}

// resp is a decoded envelope.
type resp struct {
	Status int
	Data   json.RawMessage
	Error  struct {
		Message string `json:"message"`
		Cause   string `json:"cause"`
		Code    string `json:"code"`
	}
	raw string
}

func (e *env) do(h http.Handler, method, path string, body any, headers ...string) resp {
	e.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out resp
	out.Status, out.raw = rec.Code, rec.Body.String()
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error *struct {
			Message *string `json:"message"`
			Cause   *string `json:"cause"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		e.t.Fatalf("%s %s: non-JSON response %d %q", method, path, rec.Code, rec.Body.String())
	}
	if rec.Code == http.StatusOK {
		if env.Data == nil || env.Error != nil {
			e.t.Fatalf("%s %s: 200 without data envelope: %s", method, path, out.raw)
		}
	} else {
		if env.Error == nil || env.Error.Message == nil || env.Error.Cause == nil || env.Error.Code == nil {
			e.t.Fatalf("%s %s: error %d without message/cause/code: %s", method, path, rec.Code, out.raw)
		}
		out.Error.Message, out.Error.Cause, out.Error.Code = *env.Error.Message, *env.Error.Cause, *env.Error.Code
	}
	out.Data = env.Data
	return out
}

func (e *env) adminDo(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	return e.do(e.admin, method, path, body, headers...)
}

func (e *env) appDo(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	return e.do(e.app, method, path, body, headers...)
}

func (r resp) ok(t testing.TB) resp {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("want 200, got %d: %s", r.Status, r.raw)
	}
	return r
}

func (r resp) fails(t testing.TB, status int, code string) resp {
	t.Helper()
	if r.Status != status || r.Error.Code != code {
		t.Fatalf("want %d %s, got %d: %s", status, code, r.Status, r.raw)
	}
	return r
}

func (r resp) into(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Data, err)
	}
}

func (r resp) has(t testing.TB, sub string) {
	t.Helper()
	if !strings.Contains(r.raw, sub) {
		t.Fatalf("response lacks %q: %s", sub, r.raw)
	}
}

func col(name, typ string) map[string]any { return map[string]any{"name": name, "type": typ} }

// userEntity is a two-column-key entity: user_id BIGINT, region TEXT, plus a non-key entity column.
func userEntity(table string) map[string]any {
	return map[string]any{
		"entity": map[string]any{
			"tableName":   table,
			"features":    []any{col("user_id", "BIGINT"), col("region", "text"), col("signup_ts", "TIMESTAMP")},
			"primaryKeys": []string{"user_id", "region"},
		},
		"owner": "alice@example.com", "tags": []string{"core"}, "description": "users",
	}
}

func fgReq(name, entity string, versionEnabled *bool, cols ...map[string]any) map[string]any {
	fg := map[string]any{"featureGroupName": name, "entityName": entity, "features": cols}
	if versionEnabled != nil {
		fg["versionEnabled"] = *versionEnabled
	}
	return map[string]any{"featureGroup": fg, "owner": "bob@example.com", "tags": []string{"fraud"}}
}

// setup creates entity users and feature group stats v1 (clicks INT, score DOUBLE, label TEXT).
func (e *env) setup() {
	e.t.Helper()
	e.adminDo("POST", "/entity", userEntity("users")).ok(e.t)
	e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("clicks", "INT"), col("score", "DOUBLE"), col("label", "TEXT"))).ok(e.t)
}
