package mlserve_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"

	mlserve "github.com/darwinml/darwin/services/ml-serve"
	"github.com/darwinml/darwin/services/ml-serve/internal/deploy"
	"github.com/darwinml/darwin/services/mlflow"
)

func TestConfigDefaults(t *testing.T) {
	var c mlserve.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-ml-serve.data-dir", "/tmp/x"}); err != nil {
		t.Fatal(err)
	}
	if c.DSN() != "sqlite:///tmp/x/ml-serve.db" || c.BootstrapAdminUsername != "admin" || c.PublicURL != "http://localhost:8080" || c.BootstrapAdminToken != "" {
		t.Fatalf("%+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []mlserve.Config{{DB: mlserve.DBConfig{DSN: "oracle://x"}}, {PublicURL: "localhost:8080"}, {MLflowURL: "ftp://m"}} {
		if err := bad.Validate(); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// start runs the service on cfg and serves it under /ml-serve.
func start(t *testing.T, cfg mlserve.Config, deps mlserve.Deps) (*httptest.Server, func()) {
	t.Helper()
	svc, err := mlserve.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.Route("/ml-serve", svc.RegisterHTTP)
	srv := httptest.NewServer(r)
	return srv, func() { srv.Close(); _ = mod.Stop(t.Context()) }
}

func send(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func TestBootstrapAdmin(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuf
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	srv, stop := start(t, mlserve.Config{DataDir: dir}, mlserve.Deps{Logger: logger})
	if !strings.Contains(logs.String(), "admin token is the public default") || !strings.Contains(logs.String(), mlserve.DefaultAdminToken) {
		t.Fatalf("no default-token warning: %s", logs.String())
	}
	if code, _ := send(t, "GET", srv.URL+"/ml-serve/api/v1/serve", mlserve.DefaultAdminToken, ""); code != 200 {
		t.Fatalf("default token: %d", code)
	}
	stop()

	// Restart with a configured token: the admin's token is rotated, the default stops working.
	logs = syncBuf{}
	srv, stop = start(t, mlserve.Config{DataDir: dir, BootstrapAdminToken: "s3cret", BootstrapAdminUsername: "root"}, mlserve.Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer stop()
	if strings.Contains(logs.String(), "admin token is the public default") {
		t.Fatalf("default-token warning with a configured token: %s", logs.String())
	}
	if code, _ := send(t, "GET", srv.URL+"/ml-serve/api/v1/serve", "s3cret", ""); code != 200 {
		t.Fatalf("configured token: %d", code)
	}
	// "admin" (from the first start) still holds the default token; "root" is new. Rotating root again works.
	stop()
	srv, stop = start(t, mlserve.Config{DataDir: dir, BootstrapAdminToken: "s3cret-2", BootstrapAdminUsername: "root"}, mlserve.Deps{})
	if code, _ := send(t, "GET", srv.URL+"/ml-serve/api/v1/serve", "s3cret", ""); code != 403 {
		t.Fatalf("rotated-away token: %d", code)
	}
	if code, _ := send(t, "GET", srv.URL+"/ml-serve/api/v1/serve", "s3cret-2", ""); code != 200 {
		t.Fatalf("rotated token: %d", code)
	}
	if err := mlserve.Migrate(t.Context(), "sqlite://"+filepath.Join(dir, "ml-serve.db")); err != nil {
		t.Fatalf("migrate is not idempotent: %v", err)
	}
}

// TestOneClickAgainstMLflow runs deploy-model through the service with the MLflow resolver pointed at the
// real in-process MLflow server.
func TestOneClickAgainstMLflow(t *testing.T) {
	mf, err := mlflow.New(mlflow.Config{DataDir: filepath.Join(t.TempDir(), "mlflow")}, mlflow.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	mod := mf.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mod.Stop(t.Context()) }()
	r := chi.NewRouter()
	r.Route("/mlflow-lib", mf.RegisterHTTP)
	msrv := httptest.NewServer(r)
	defer msrv.Close()
	api := msrv.URL + "/mlflow-lib/api/2.0/mlflow"
	for _, c := range []struct{ path, body string }{
		{"/registered-models/create", `{"name":"iris"}`},
		{"/model-versions/create", `{"name":"iris","source":"s3://bucket/iris/1"}`},
	} {
		res, err := http.Post(api+c.path, "application/json", strings.NewReader(c.body))
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: %v %v", c.path, err, res)
		}
		res.Body.Close()
	}
	rec := deploy.NewRecorder()
	srv, stop := start(t, mlserve.Config{DataDir: t.TempDir(), BootstrapAdminToken: "tok", MLflowURL: msrv.URL + "/mlflow-lib", PublicURL: "http://localhost"}, mlserve.Deps{Deployer: rec})
	defer stop()
	base := srv.URL + "/ml-serve/api/v1"
	if code, out := send(t, "POST", base+"/environment", "tok", `{"name":"local","environment_configs":{"domain_suffix":".local","cluster_name":"kind","namespace":"serve","ft_redis_url":"","workflow_url":"","security_group":""}}`); code != 200 {
		t.Fatalf("env: %d %v", code, out)
	}
	code, out := send(t, "POST", base+"/serve/deploy-model", "tok", `{"env":"local","serve_name":"iris","artifact_version":"v1","model_uri":"models:/iris/1"}`)
	if code != 200 || out["service_url"] != "http://localhost/iris/" {
		t.Fatalf("deploy-model: %d %v", code, out)
	}
	res, ok := rec.Running("iris")
	if !ok {
		t.Fatal("resource iris not applied")
	}
	env := res.Values["env"].(map[string]any)
	if env["MLFLOW_TRACKING_URI"] != msrv.URL+"/mlflow-lib" || env["MLFLOW_MODEL_URI"] != "models:/iris/1" {
		t.Fatalf("env: %v", env)
	}
	code, out = send(t, "POST", base+"/serve/deploy-model", "tok", `{"env":"local","serve_name":"iris","artifact_version":"v2","model_uri":"models:/iris/7"}`)
	if code != 400 || out["message"] != "Invalid model URI" || out["error"] == "" {
		t.Fatalf("unknown version: %d %v", code, out)
	}
}
