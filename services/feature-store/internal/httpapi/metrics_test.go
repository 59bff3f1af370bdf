package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/pkg/metrics"
	"github.com/darwinml/darwin/services/feature-store/internal/store"
)

func scrape(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestMetrics(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	if err := db.Migrate(t.Context(), d, fsMigrations[0].Component, fsMigrations[0].FS); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, d)
	e.setup()
	names := []string{"user_id", "region", "clicks"}
	e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, names, []any{1, "in", 3})).ok(t)
	for range 3 {
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", nil, []string{"clicks"}, []string{"user_id", "region"}, []any{1, "in"})).ok(t)
	}
	e.appDo("GET", "/feature-group/read-features", `{`).fails(t, 400, "READ-FEATURE-GROUP-REQUEST-EXCEPTION")
	e.adminDo("GET", "/feature-group/stats/topic", nil).ok(t)
	e.adminDo("GET", "/tenant/list", nil).ok(t)
	out := scrape(t, e.app, "/metrics")
	for _, want := range []string{
		`darwin_feature_store_requests_total{api="app",code="200",route="/feature-group/read-features"} 3`,
		`darwin_feature_store_requests_total{api="app",code="400",route="/feature-group/read-features"} 1`,
		`darwin_feature_store_requests_total{api="app",code="200",route="/feature-group/write-features-v2"} 1`,
		`darwin_feature_store_requests_total{api="admin",code="200",route="/feature-group/{name}/topic"} 1`,
		`darwin_feature_store_requests_total{api="admin",code="200",route="/tenant/list"} 1`,
		`darwin_feature_store_request_duration_seconds_count{api="app",route="/feature-group/read-features"} 4`,
		`darwin_feature_store_online_store_duration_seconds_count{op="read",result="ok"} 3`,
		`darwin_feature_store_online_store_duration_seconds_count{op="write",result="ok"} 1`,
		// The write resolves the group (miss); the three reads hit the cache.
		`darwin_feature_store_metadata_cache_requests_total{result="hit"} 3`,
		`darwin_feature_store_metadata_cache_requests_total{result="miss"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(out, `route="/metrics"`) {
		t.Error("/metrics observes itself")
	}

	// A shared registry (the binary's) receives the metrics too; two handlers on one registry do not panic.
	reg := metrics.NewRegistry()
	for range 2 {
		h := New(store.New(d, nil), e.st, Options{Registry: reg})
		r := chi.NewRouter()
		h.RegisterApp(r)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", "/healthcheck", nil))
	}
	out = scrape(t, metrics.Handler(reg), "/metrics")
	if !strings.Contains(out, `darwin_feature_store_requests_total{api="app",code="200",route="/healthcheck"} 2`) {
		t.Errorf("shared registry lacks the health checks:\n%s", out)
	}
}
