package cli

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	featurestore "github.com/darwinml/darwin/services/feature-store"
)

// featureStoreServer runs the real feature store (SQLite metadata, Pebble online store in a temp dir) with the
// app at /feature-store and the admin API at /feature-store-admin, as `darwin up` mounts them.
func featureStoreServer(t *testing.T) string {
	t.Helper()
	svc, err := featurestore.New(featurestore.Config{DataDir: t.TempDir()}, featurestore.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mod.Stop(t.Context()) })
	r := chi.NewRouter()
	r.Route("/feature-store", svc.RegisterHTTP)
	r.Route("/feature-store-admin", svc.RegisterAdminHTTP)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestFeatureStoreCLIAgainstService drives the real handlers through the CLI: entity, feature group and an
// upgrade, schema, version, a write and reads by file and by flags, and archiving.
func TestFeatureStoreCLIAgainstService(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DARWIN_URL": featureStoreServer(t), "DARWIN_USER": "me@example.com"}
	must := func(args ...string) string {
		t.Helper()
		res := runFSCLI(t, env, "", append([]string{"feature-store"}, args...)...)
		if res.err != nil {
			t.Fatalf("darwin feature-store %s: %v\n%s", strings.Join(args, " "), res.err, res.stderr)
		}
		return res.stdout
	}
	ent := decodeOut(t, must("entity", "create", "-f", "testdata/featurestore/entity.yaml", "-o", "json"))
	if lookup(ent, "entity.tableName") != "users" {
		t.Fatalf("entity create = %v", ent)
	}
	if got := decodeOut(t, must("entity", "get", "users", "-o", "json")); got["owner"] != "me@example.com" || got["state"] != "LIVE" {
		t.Fatalf("entity get = %v", got)
	}
	if fg := decodeOut(t, must("feature-group", "create", "-f", "testdata/featurestore/feature_group.yaml", "-o", "json")); fg["version"] != "v1" {
		t.Fatalf("fg create = %v", fg)
	}
	res := runFSCLI(t, env, "", "feature-store", "feature-group", "create", "-f", "testdata/featurestore/feature_group.yaml")
	if res.err == nil || !strings.Contains(res.err.Error(), "[FEATURE-GROUP-ALREADY-EXISTS-EXCEPTION]") {
		t.Fatalf("re-register without --upgrade: %v", res.err)
	}
	if fg := decodeOut(t, must("feature-group", "create", "-f", "testdata/featurestore/feature_group.yaml", "--upgrade", "-o", "json")); fg["version"] != "v2" {
		t.Fatalf("fg create --upgrade = %v", fg)
	}
	if v := decodeOut(t, must("feature-group", "version", "user_stats", "-o", "json")); v["latestVersion"] != "v2" {
		t.Fatalf("version = %v", v)
	}
	schema := must("feature-group", "schema", "user_stats", "--version", "v1")
	for _, want := range []string{"primaryKeys:       user_id", "user_id  TEXT    yes", "clicks   BIGINT", "spend    DOUBLE"} {
		if !strings.Contains(schema, want) {
			t.Fatalf("schema table lacks %q:\n%s", want, schema)
		}
	}
	write := filepath.Join(t.TempDir(), "w.json")
	if err := os.WriteFile(write, []byte(`{"featureGroupName":"user_stats","featureGroupVersion":"v1","features":{"names":["user_id","clicks","spend"],"values":[["u1",7,1.5],["u2","9",null]]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := must("features", "write", "--file", write); !strings.Contains(out, "successfulRows:       2") {
		t.Fatalf("write = %s", out)
	}
	res = runFSCLI(t, env, "", "feature-store", "features", "read", "--feature-group", "user_stats", "--version", "v1", "--columns", "clicks,spend", "--keys", "user_id=u1", "--keys", "user_id=u2", "--keys", "user_id=u3")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if want := "user_id  clicks  spend\nu1       7       1.5\nu2       9       -\n"; res.stdout != want || res.stderr != "1 key(s) not found: u3\n" {
		t.Fatalf("read table:\n%s\nstderr %q", res.stdout, res.stderr)
	}
	if out := must("features", "read", "--file", "testdata/featurestore/read.yaml", "-o", "json"); !strings.Contains(out, `"features": [`) || !strings.Contains(out, "1.5") {
		t.Fatalf("read --file = %s", out)
	}
	// Without --version the latest (v2) is read: the entity row exists, its v2 columns were never written.
	if out := must("features", "read", "--feature-group", "user_stats", "--columns", "clicks", "--keys", "user_id=u1"); out != "user_id  clicks\nu1       -\n" {
		t.Fatalf("read latest = %q", out)
	}
	if st := decodeOut(t, must("feature-group", "update-state", "user_stats", "--version", "v1", "--state", "ARCHIVED", "-o", "json")); st["state"] != "ARCHIVED" {
		t.Fatalf("update-state = %v", st)
	}
	res = runFSCLI(t, env, "", "feature-store", "features", "read", "--feature-group", "user_stats", "--version", "v1", "--columns", "clicks", "--keys", "user_id=u1")
	if res.err == nil || !strings.Contains(res.err.Error(), "[FEATURE-GROUP-STATE-EXCEPTION]") {
		t.Fatalf("read archived: %v", res.err)
	}
	res = runFSCLI(t, env, "", "feature-store", "feature-group", "get", "nope")
	if res.err == nil || !strings.Contains(res.err.Error(), "FEATURE-GROUP-NOT-FOUND-EXCEPTION") || !strings.Contains(res.err.Error(), "HTTP 404") {
		t.Fatalf("get unknown: %v", res.err)
	}
	// Training sets and population go to the pipeline's routes: no history was populated, so the spine comes back
	// with null features; a missing source is the populator's 400.
	if out := must("training-set", "-f", "testdata/featurestore/training_set.json"); out != "user_id  ts             user_stats:v1:clicks  user_stats:v1:spend\nu1       1767225600000  -                     -\nu2       1767312000000  -                     -\n" {
		t.Fatalf("training-set = %q", out)
	}
	res = runFSCLI(t, env, "", "feature-store", "populate", "--source", filepath.Join(t.TempDir(), "none.parquet"), "--feature-group", "user_stats", "--wait")
	if res.err == nil || !strings.Contains(res.err.Error(), "[POPULATOR-REQUEST-EXCEPTION] (HTTP 400 from POST /feature-store-admin/populator/run)") {
		t.Fatalf("populate missing source: %v", res.err)
	}
}
