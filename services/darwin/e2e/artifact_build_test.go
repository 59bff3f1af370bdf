package e2e

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestE2EArtifactBuilds drives both kinds of build through darwin up:
//   - `hermes create-artifact` for an api serve records a job that ml-serve's poller submits to the in-process
//     artifact-builder; with no Kubernetes builder configured the build fails with "needs a builder", the job
//     becomes FAILED and the build log says why;
//   - a model-image build (`POST /artifact-builder/build_model_image`) of a model directory is pushed to a real
//     OCI registry, and the image pulled back holds the model files and MODEL_LOCAL_PATH.
func TestE2EArtifactBuilds(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	regHost := strings.TrimPrefix(reg.URL, "http://")
	models := t.TempDir()
	modelDir := filepath.Join(models, "iris")
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"MLmodel": "artifact_path: model\nflavors: {}\n", "model.pkl": "not really a pickle", "requirements.txt": "scikit-learn\n"}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(modelDir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := startDarwin(t, "", "-artifact-builder.registry="+regHost+"/darwin", "-artifact-builder.model-root="+models,
		"-artifact-builder.poll-interval=200ms")
	h := newHermes(t, p.base)
	h.must(t, "configure")
	h.must(t, "create-environment", "--name", "local", "--domain-suffix", ".local", "--cluster-name", "kind")
	h.must(t, "create-serve", "--name", "churn", "--type", "api", "--space", "serve", "--description", "churn model")
	h.must(t, "create-artifact", "--serve-name", "churn", "--version", "v1", "--github-repo-url", "https://github.com/example/churn", "--branch", "main")

	type job struct {
		Status  string `json:"status"`
		TaskID  string `json:"task_id"`
		Version string `json:"version"`
	}
	var jobs struct {
		Data []job `json:"data"`
	}
	ok := eventually(60*time.Second, func() bool {
		out := h.must(t, "artifact", "jobs", "--serve-name", "churn", "-o", "json")
		if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &jobs); err != nil {
			return false
		}
		return len(jobs.Data) == 1 && jobs.Data[0].Status == "FAILED"
	})
	if !ok {
		t.Fatalf("the builder job did not fail as expected: %+v", jobs)
	}
	if jobs.Data[0].TaskID == "" || jobs.Data[0].Version != "v1" {
		t.Fatalf("job %+v", jobs.Data[0])
	}
	resp, err := http.Get(p.url("/artifact-builder/static/" + jobs.Data[0].TaskID + ".log"))
	if err != nil {
		t.Fatal(err)
	}
	logText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(logText), "needs a builder") {
		t.Fatalf("build log: %d %q", resp.StatusCode, logText)
	}

	// A model image, pushed to the registry and pulled back.
	var submitted struct {
		Status string `json:"status"`
		TaskID string `json:"task_id"`
	}
	if code := doJSON(t, http.MethodPost, p.url("/artifact-builder/build_model_image"), nil,
		`{"app_name":"iris","image_tag":"iris_v1","model_dir":"`+modelDir+`"}`, &submitted); code != http.StatusOK || submitted.TaskID == "" {
		t.Fatalf("build_model_image: %d %+v", code, submitted)
	}
	var st struct {
		BuildStatus string `json:"build_status"`
	}
	if !eventually(60*time.Second, func() bool {
		doJSON(t, http.MethodGet, p.url("/artifact-builder/task/status?task_id="+submitted.TaskID), nil, "", &st)
		return st.BuildStatus == "completed" || st.BuildStatus == "failed"
	}) || st.BuildStatus != "completed" {
		t.Fatalf("model image build: %q\n%s", st.BuildStatus, tail(p.logs.String(), 40))
	}
	ref, err := name.ParseReference(regHost+"/darwin/iris:iris_v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull the built image: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !contains(cfg.Config.Env, "MODEL_LOCAL_PATH=/opt/model") {
		t.Fatalf("image env %v", cfg.Config.Env)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers: %d %v", len(layers), err)
	}
	found := map[string]string{}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			found[strings.TrimPrefix(hdr.Name, "/")] = string(b)
		}
	}
	for f, body := range files {
		if found["opt/model/"+f] != body {
			t.Fatalf("image layer: %s = %q, want %q (layer has %v)", f, found["opt/model/"+f], body, keys(found))
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
