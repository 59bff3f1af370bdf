package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// fuzzRoutes are every route that decodes a request body.
var fuzzRoutes = []struct {
	admin        bool
	method, path string
}{
	{true, "POST", "/entity"},
	{true, "PUT", "/entity?name=users"},
	{true, "POST", "/feature-group"},
	{true, "PUT", "/feature-group?name=stats"},
	{true, "PUT", "/feature-group/ttl"},
	{true, "GET", "/search/feature-groups"},
	{true, "GET", "/search/entities"},
	{false, "POST", "/feature-group/write-features-v2"},
	{false, "POST", "/feature-group/write-features-v1"},
	{false, "GET", "/feature-group/read-features"},
	{false, "GET", "/feature-group/multi-read-features"},
}

func fuzzEnv(f *testing.F) *env {
	var d *db.DB
	f.Cleanup(func() {})
	d = dbtest.Open(f, db.SQLite)
	if err := db.Migrate(f.Context(), d, fsMigrations[0].Component, fsMigrations[0].FS); err != nil {
		f.Fatal(err)
	}
	e := newEnv(f, d)
	e.setup()
	return e
}

// FuzzRequestBodies sends arbitrary bodies to every decoding route: the answer is 200 with data or a 4xx error
// envelope with a catalogue code, never a 5xx or a panic.
func FuzzRequestBodies(f *testing.F) {
	e := fuzzEnv(f)
	seeds := []string{
		asJSON(userEntity("fz")),
		asJSON(fgReq("fzg", "users", nil, col("a", "INT"))),
		`{"state":"ARCHIVED"}`, `{"state":"LIVE"}`,
		`{"name":"stats","ttl":5}`,
		`{"searchPattern":"s","tags":["core"],"owners":["alice@example.com"]}`,
		asJSON(writeBody("stats", nil, []string{"user_id", "region", "clicks", "score", "label"}, []any{1, "in", 1, 0.5, "x"})),
		asJSON(map[string]any{"batches": []any{writeBody("stats", "v1", []string{"user_id", "region"}, []any{"1", "us"})}}),
		asJSON(readBody2("stats", nil, []string{"clicks", "user_id"}, []string{"region", "user_id"}, []any{"in", 1})),
		asJSON(map[string]any{"batches": []any{readBody2("stats", nil, []string{"clicks"}, []string{"user_id", "region"}, []any{1, "in"})}}),
		``, `null`, `{}`, `[]`, `{"features":{"names":[],"values":[[]]}}`, `{"primaryKeys":{"names":["user_id"],"values":[[1e999]]}}`,
	}
	for i := range fuzzRoutes {
		for _, s := range seeds {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		h := e.app
		if rt.admin {
			h = e.admin
		}
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var env struct {
			Data  json.RawMessage `json:"data"`
			Error *errorBody      `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("%s %s %q: non-JSON answer %d %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
		switch {
		case rec.Code == http.StatusOK:
			if env.Data == nil {
				t.Fatalf("200 without data: %s", rec.Body)
			}
		case rec.Code >= 400 && rec.Code < 500:
			if env.Error == nil || env.Error.Code == "" || env.Error.Message == "" {
				t.Fatalf("%d without error envelope: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("%s %s %q: status %d: %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
	})
}

// FuzzCoerce checks that canonical values are stable: coercing a canonical value gives it back.
func FuzzCoerce(f *testing.F) {
	for _, s := range []string{`1`, `-0`, `1.50`, `"1"`, `1e3`, `"x"`, `true`, `"0f8fad5b-d9cb-469f-a165-70867728950e"`, `"::1"`, `null`, `2147483648`, `"\u00e9"`} {
		for typ := range domain.ColumnTypes {
			f.Add(typ, s)
		}
	}
	f.Fuzz(func(t *testing.T, typ, raw string) {
		if !domain.ColumnTypes[typ] {
			return
		}
		v, err := domain.Coerce(typ, json.RawMessage(raw))
		if err != nil || v == nil {
			return
		}
		if !json.Valid(v) {
			t.Fatalf("%s %q: invalid canonical JSON %q", typ, raw, v)
		}
		again, err := domain.Coerce(typ, v)
		if err != nil || string(again) != string(v) {
			t.Fatalf("%s %q: canonical %q re-coerces to %q (%v)", typ, raw, v, again, err)
		}
	})
}
