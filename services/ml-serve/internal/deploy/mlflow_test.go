package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/services/ml-serve/internal/deploy"
	"github.com/darwinml/darwin/services/mlflow"
)

// mlflowServer starts Darwin's MLflow server in-process under /mlflow-lib on a fresh SQLite database.
func mlflowServer(t *testing.T) *httptest.Server {
	t.Helper()
	svc, err := mlflow.New(mlflow.Config{DataDir: filepath.Join(t.TempDir(), "mlflow")}, mlflow.Deps{})
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
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, method, url string, body any, out any) {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case []byte:
		rd = bytes.NewReader(b)
	case nil:
		rd = bytes.NewReader(nil)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		var e map[string]any
		_ = json.NewDecoder(res.Body).Decode(&e)
		t.Fatalf("%s %s: %d %v", method, url, res.StatusCode, e)
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// registry is what registerModel created.
type registry struct {
	base, expID, runID, artifactURI string
}

// registerModel logs a run with a 3-file model (1110 bytes) through the artifact proxy and registers it as
// "iris": version 1 from runs:/<run>/model (alias champion), version 2 from the artifact URI (Production).
func registerModel(t *testing.T, srv *httptest.Server) registry {
	t.Helper()
	api := srv.URL + "/mlflow-lib/api/2.0/mlflow"
	var exp struct {
		ID string `json:"experiment_id"`
	}
	call(t, "POST", api+"/experiments/create", map[string]any{"name": "iris"}, &exp)
	var run struct {
		Run struct {
			Info struct {
				RunID       string `json:"run_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	call(t, "POST", api+"/runs/create", map[string]any{"experiment_id": exp.ID}, &run)
	reg := registry{base: srv.URL + "/mlflow-lib", expID: exp.ID, runID: run.Run.Info.RunID, artifactURI: run.Run.Info.ArtifactURI}
	if !strings.HasPrefix(reg.artifactURI, "mlflow-artifacts:") {
		t.Fatalf("artifact uri %q", reg.artifactURI)
	}
	artPath := strings.TrimLeft(strings.TrimPrefix(reg.artifactURI, "mlflow-artifacts:"), "/")
	for name, size := range map[string]int{"model/MLmodel": 100, "model/model.pkl": 1000, "model/sub/conda.yaml": 10} {
		call(t, "PUT", srv.URL+"/mlflow-lib/api/2.0/mlflow-artifacts/artifacts/"+artPath+"/"+name, bytes.Repeat([]byte("x"), size), nil)
	}
	call(t, "POST", api+"/registered-models/create", map[string]any{"name": "iris"}, nil)
	call(t, "POST", api+"/model-versions/create", map[string]any{"name": "iris", "source": "runs:/" + reg.runID + "/model", "run_id": reg.runID}, nil)
	call(t, "POST", api+"/model-versions/create", map[string]any{"name": "iris", "source": reg.artifactURI + "/model", "run_id": reg.runID}, nil)
	call(t, "POST", api+"/model-versions/transition-stage", map[string]any{"name": "iris", "version": "2", "stage": "Production"}, nil)
	call(t, "POST", api+"/registered-models/alias", map[string]any{"name": "iris", "alias": "champion", "version": "1"}, nil)
	return reg
}

func TestMLflowResolver(t *testing.T) {
	srv := mlflowServer(t)
	reg := registerModel(t, srv)
	res := &deploy.MLflowResolver{BaseURL: reg.base}
	artPath := strings.TrimLeft(strings.TrimPrefix(reg.artifactURI, "mlflow-artifacts:"), "/")
	ok := map[string]int64{
		"models:/iris/1":                               1110,
		"models:/iris/2":                               1110,
		"models:/iris/Production":                      1110,
		"models:/iris/latest":                          1110,
		"models:/iris@champion":                        1110,
		"runs:/" + reg.runID + "/model":                1110,
		"runs:/" + reg.runID + "/model/MLmodel":        100,
		"runs:/" + reg.runID + "/model/sub":            10,
		"mlflow-artifacts:/" + artPath + "/model":      1110,
		"mlflow-artifacts:///" + artPath + "/model":    1110,
		"mlflow-artifacts:/" + artPath + "/model.pkl2": -1, // does not exist (checked below)
	}
	for uri, want := range ok {
		info, err := res.Resolve(t.Context(), uri)
		if want < 0 {
			var im *deploy.InvalidModelError
			if !errors.As(err, &im) {
				t.Fatalf("%s: want InvalidModelError, got %v", uri, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		if !info.SizeKnown || info.SizeBytes != want {
			t.Fatalf("%s: size %d known %v, want %d", uri, info.SizeBytes, info.SizeKnown, want)
		}
	}
	for _, uri := range []string{"models:/iris/9", "models:/ghost/1", "models:/iris/Staging", "models:/iris@nobody", "runs:/0123456789abcdef0123456789abcdef/model",
		"runs:/" + reg.runID + "/nothing-here", "mlflow-artifacts:/999/none/artifacts/model", "ftp://host/x", "models:/iris", "runs:/abc"} {
		_, err := res.Resolve(t.Context(), uri)
		var im *deploy.InvalidModelError
		if !errors.As(err, &im) || im.Reason == "" || im.Hint == "" {
			t.Fatalf("%s: want InvalidModelError, got %v", uri, err)
		}
	}
	// Storage URLs are checked for syntax only.
	info, err := res.Resolve(t.Context(), "s3://bucket/models/iris")
	if err != nil || info.SizeKnown || info.Scheme != "s3" {
		t.Fatalf("s3: %+v %v", info, err)
	}
	// An unreachable MLflow is an error, but not an invalid URI.
	down := &deploy.MLflowResolver{BaseURL: "http://127.0.0.1:1"}
	_, err = down.Resolve(t.Context(), "models:/iris/1")
	var im *deploy.InvalidModelError
	if err == nil || errors.As(err, &im) {
		t.Fatalf("unreachable: %v", err)
	}
	// A small MaxEntries makes the size unknown rather than wrong.
	capped := &deploy.MLflowResolver{BaseURL: reg.base, MaxEntries: 1}
	info, err = capped.Resolve(t.Context(), "models:/iris/1")
	if err != nil || info.SizeKnown {
		t.Fatalf("capped: %+v %v", info, err)
	}
}
