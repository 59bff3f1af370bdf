package clusterconfig_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/compute/internal/clusterconfig"
	"github.com/darwinml/darwin/services/compute/migrations"
)

// fuzzServer is newServer for a fuzz target.
func fuzzServer(f *testing.F) http.Handler {
	f.Helper()
	d := dbtest.Open(f, db.SQLite)
	if err := db.Migrate(f.Context(), d, migrations.Component, migrations.FS); err != nil {
		f.Fatal(err)
	}
	r := chi.NewRouter()
	clusterconfig.NewHandler(clusterconfig.NewStore(d), nil).Routes(r)
	return r
}

// answer checks the envelope contract of one fuzzed request: JSON envelope, never a 5xx, a 400 names a field.
func answer(t *testing.T, h http.Handler, req *http.Request, allowed ...int) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%s %s: answer is not an envelope: %s", req.Method, req.URL, rec.Body.String())
	}
	ok := false
	for _, c := range allowed {
		ok = ok || rec.Code == c
	}
	if !ok {
		t.Fatalf("%s %s: status %d (allowed %v): %s", req.Method, req.URL, rec.Code, allowed, rec.Body.String())
	}
	if rec.Code == http.StatusBadRequest && !strings.Contains(string(env.Data), `"field"`) {
		t.Fatalf("%s %s: 400 without a field: %s", req.Method, req.URL, rec.Body.String())
	}
}

// FuzzUpdateBody covers PUT /cluster-config/{key} (no public decoder): 201 or a 400 naming the field.
func FuzzUpdateBody(f *testing.F) {
	for _, s := range []string{`{"value":"kind-1"}`, `{"value":null}`, `{"value":1}`, `{}`, `[]`, ``, `{"value":"\u0000"}`, `{"value":"a"} {}`} {
		f.Add(s)
	}
	h := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body string) {
		answer(t, h, httptest.NewRequest(http.MethodPut, "/cluster-config/cloud_env", strings.NewReader(body)), http.StatusCreated, http.StatusBadRequest)
	})
}

// FuzzListQuery covers GET /cluster-config?offset=&limit=: 200, 404 (empty page) or a 400 naming the parameter.
func FuzzListQuery(f *testing.F) {
	f.Add("0", "100")
	f.Add("-1", "10")
	f.Add("0", "0")
	f.Add("x", "")
	f.Add("99999999999999999999", "1")
	h := fuzzServer(f)
	f.Fuzz(func(t *testing.T, offset, limit string) {
		q := url.Values{"offset": {offset}, "limit": {limit}}
		answer(t, h, httptest.NewRequest(http.MethodGet, "/cluster-config?"+q.Encode(), nil), http.StatusOK, http.StatusNotFound, http.StatusBadRequest)
	})
}

// FuzzDecodeCreateErrors: DecodeCreate gives a valid entry or an InvalidArgument naming a field
// (FuzzDecodeCreate in handler_test.go checks the accepted entries).
func FuzzDecodeCreateErrors(f *testing.F) {
	for _, s := range []string{`{"key":"a","value":"b"}`, `{"key":1}`, `{"value":"x"}`, `{"key":"","value":""}`, `[]`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if _, err := clusterconfig.DecodeCreate(httptest.NewRequest(http.MethodPost, "/cluster-config", strings.NewReader(body))); err != nil {
			if e := apierr.From(err); e.Kind != apierr.InvalidArgument || e.Field == "" {
				t.Fatalf("%q: error is not an InvalidArgument naming a field: %v", body, err)
			}
		}
	})
}
