package featurestore

import (
	"flag"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.Online.Backend != "pebble" || c.CacheTTL != 30*time.Second || c.DSN() != "sqlite://"+filepath.Join("data", "feature-store.db") {
		t.Fatalf("defaults %+v %s", c, c.DSN())
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Online.Backend = "mongodb"
	if err := c.Validate(); err == nil {
		t.Fatal("unknown backend accepted")
	}
}

// TestPersistsAcrossRestart writes through one service instance and reads through a second one over the same
// data directory (SQLite metadata + Pebble online store).
func TestPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Service, http.Handler) {
		svc, err := New(Config{DataDir: dir}, Deps{})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Module().Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		r := chi.NewRouter()
		r.Route("/feature-store", svc.RegisterHTTP)
		r.Route("/feature-store-admin", svc.RegisterAdminHTTP)
		return svc, r
	}
	call := func(h http.Handler, method, path, body, want string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
	svc, h := start()
	call(h, "POST", "/feature-store-admin/entity", `{"entity":{"tableName":"users","features":[{"name":"id","type":"TEXT"}],"primaryKeys":["id"]},"owner":"a@b.co"}`, "users")
	call(h, "POST", "/feature-store-admin/feature-group", `{"featureGroup":{"featureGroupName":"g","entityName":"users","features":[{"name":"x","type":"INT"}]},"owner":"a@b.co"}`, `"v1"`)
	call(h, "POST", "/feature-store/feature-group/write-features-v2", `{"featureGroupName":"g","features":{"names":["id","x"],"values":[["u1",7]]}}`, "successfulRows")
	if err := svc.Module().Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	svc, h = start()
	defer func() { _ = svc.Module().Stop(t.Context()) }()
	call(h, "GET", "/feature-store/feature-group/read-features", `{"featureGroupName":"g","featureColumns":["x"],"primaryKeys":{"names":["id"],"values":[["u1"]]}}`, `"features":[7]`)
}

// TestConsumerRoutesWithoutConsumer: a process without the consumer says so on the consumer's routes, in the
// envelope, rather than claiming health.
func TestConsumerRoutesWithoutConsumer(t *testing.T) {
	svc, err := New(Config{DataDir: t.TempDir()}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Module().Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svc.Module().Stop(t.Context()) }()
	r := chi.NewRouter()
	r.Route("/feature-store-consumer", svc.RegisterConsumerHTTP)
	for _, path := range []string{"/feature-store-consumer/healthcheck", "/feature-store-consumer/assignments"} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"code":"OFS-V2-CONSUMER-CONFIG-NOT-FOUND-EXCEPTION"`) {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}
}
