package mlflow_test

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/services/mlflow"
)

func TestConfigDefaults(t *testing.T) {
	var c mlflow.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-mlflow.data-dir", "/tmp/x"}); err != nil {
		t.Fatal(err)
	}
	if c.DSN() != "sqlite:///tmp/x/mlflow.db" || c.ArtifactRoot() != "mlflow-artifacts:" {
		t.Fatalf("dsn %s root %s", c.DSN(), c.ArtifactRoot())
	}
	bad := mlflow.Config{DB: mlflow.DBConfig{DSN: "oracle://x"}}
	if err := bad.Validate(); err == nil {
		t.Fatal("bad dsn accepted")
	}
}

// TestServiceEndToEnd starts the module on a fresh SQLite file and serves a request under /mlflow-lib.
func TestServiceEndToEnd(t *testing.T) {
	dir := t.TempDir()
	svc, err := mlflow.New(mlflow.Config{DataDir: filepath.Join(dir, "data"), DefaultArtifactRoot: "file:///art"}, mlflow.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mod.Stop(t.Context()) })
	r := chi.NewRouter()
	r.Route("/mlflow-lib", svc.RegisterHTTP)
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/mlflow-lib/api/2.0/mlflow/experiments/create", "application/json", strings.NewReader(`{"name":"e2e"}`))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	resp, err = http.Get(srv.URL + "/mlflow-lib/api/2.0/mlflow/experiments/get?experiment_id=" + out["experiment_id"])
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Experiment struct {
			ArtifactLocation string `json:"artifact_location"`
		} `json:"experiment"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Experiment.ArtifactLocation != "file:///art/"+out["experiment_id"] {
		t.Fatalf("artifact location = %q", got.Experiment.ArtifactLocation)
	}
	// Migrate is idempotent on an already-migrated database.
	if err := mlflow.Migrate(t.Context(), "sqlite://"+filepath.Join(dir, "data", "mlflow.db")); err != nil {
		t.Fatal(err)
	}
}

// The tracking API under /mlflow-lib applies the app layer's experiment permissions to identified callers:
// alice (HTTP Basic, as the darwin_mlflow SDK sends) owns what she creates, bob's delete is 403
// PERMISSION_DENIED in MLflow's envelope and changes nothing, alice's delete works, and a caller with no
// identity is not checked.
func TestTrackingAPIGuard(t *testing.T) {
	svc, err := mlflow.New(mlflow.Config{DataDir: t.TempDir()}, mlflow.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mod.Stop(t.Context()) })
	r := chi.NewRouter()
	r.Route("/mlflow-lib", svc.RegisterHTTP)
	srv := httptest.NewServer(r)
	defer srv.Close()

	call := func(user, path, body string) (int, map[string]string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mlflow-lib/api/2.0/mlflow/"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.SetBasicAuth(user, user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]string{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := call("alice@example.com", "experiments/create", `{"name":"owned"}`)
	if code != http.StatusOK {
		t.Fatalf("alice creates: %d %v", code, out)
	}
	id := out["experiment_id"]
	code, out = call("bob@example.com", "experiments/delete", `{"experiment_id":"`+id+`"}`)
	if code != http.StatusForbidden || out["error_code"] != "PERMISSION_DENIED" {
		t.Fatalf("bob deletes alice's experiment: %d %v, want 403 PERMISSION_DENIED", code, out)
	}
	resp, err := http.Get(srv.URL + "/mlflow-lib/api/2.0/mlflow/experiments/get?experiment_id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Experiment struct {
			Stage string `json:"lifecycle_stage"`
		} `json:"experiment"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Experiment.Stage != "active" {
		t.Fatalf("after bob's refused delete the experiment is %q", got.Experiment.Stage)
	}
	if code, out = call("alice@example.com", "experiments/delete", `{"experiment_id":"`+id+`"}`); code != http.StatusOK {
		t.Fatalf("alice deletes her experiment: %d %v", code, out)
	}
	if code, out = call("", "experiments/create", `{"name":"anonymous"}`); code != http.StatusOK {
		t.Fatalf("a caller with no identity: %d %v", code, out)
	}
}
