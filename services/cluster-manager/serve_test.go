package clustermanager_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/testutil"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	clustermanager "github.com/darwinml/darwin/services/cluster-manager"
)

// TestServeThroughService deploys a real scikit-learn model the way ml-serve and darwin up do: the artifact
// over REST, start/status/stop over gRPC, predictions through Service.ServeProxy, which passes other paths on.
func TestServeThroughService(t *testing.T) {
	runtime := clustermanager.DefaultServeRuntimeCommand()
	if len(runtime) != 2 || !strings.HasSuffix(runtime[1], filepath.Join("runtimes", "serve", "darwin_serve_runtime.py")) {
		t.Fatalf("default runtime command %v", runtime)
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import sklearn, numpy, pandas, yaml").Run(); err != nil {
		testutil.NeedServer(t, "Debian python3-sklearn (with numpy, pandas, yaml)", "bash scripts/python-deps.sh")
	}
	modelDir := filepath.Join(t.TempDir(), "iris")
	out, err := exec.Command("/usr/bin/python3", filepath.Join(filepath.Dir(filepath.Dir(runtime[1])), "serve", "tools", "make_model.py"),
		"--kind", "iris", "--out", modelDir).Output()
	if err != nil {
		t.Fatalf("make_model: %v", err)
	}
	var made struct {
		Predictions []struct {
			Features map[string]any `json:"features"`
			Scores   []any          `json:"scores"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(out, &made); err != nil || len(made.Predictions) == 0 {
		t.Fatalf("make_model output %s: %v", out, err)
	}

	h := start(t, t.TempDir(), func(c *clustermanager.Config) { c.StopClustersOnShutdown = true })
	body := `{"artifact_id":"local-iris-1","darwin_resource":"darwin-fastapi-serve","version":"1.0.0",
		"values":{"name":"iris","env":{"MLFLOW_MODEL_URI":"` + modelDir + `","MODEL_VERSION":"1"}}}`
	resp, err := http.Post(h.http.URL+"/cluster-manager/resource-instance/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create artifact: %d %s", resp.StatusCode, data)
	}
	ctx := t.Context()
	if _, err := h.grpc.StartResource(ctx, &clustermanagerv1.StartResourceRequest{ResourceId: "iris", ArtifactId: "local-iris-1",
		DarwinResource: "darwin-fastapi-serve", KubeCluster: "kind-0", KubeNamespace: "serve"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 90*time.Second, func() bool {
		st, err := h.grpc.GetResourceStatus(ctx, &clustermanagerv1.GetResourceStatusRequest{ResourceId: "iris"})
		return err == nil && len(st.GetPods()) == 1 && st.GetPods()[0].GetStatus() == "Running"
	}, "serve running")
	u, err := h.svc.ServeURL(ctx, "iris")
	if err != nil || !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("ServeURL: %q %v", u, err)
	}

	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	proxy := httptest.NewServer(h.svc.ServeProxy(next))
	t.Cleanup(proxy.Close)
	req, _ := json.Marshal(map[string]any{"features": made.Predictions[0].Features})
	resp, err = http.Post(proxy.URL+"/iris/predict", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Scores []any `json:"scores"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(got.Scores) != 1 || got.Scores[0] != made.Predictions[0].Scores[0] {
		t.Fatalf("predict: %d %v, want %v", resp.StatusCode, got.Scores, made.Predictions[0].Scores)
	}
	if resp, err := http.Get(proxy.URL + "/kind-0/id-1-dashboard/"); err != nil || resp.StatusCode != http.StatusTeapot {
		t.Fatalf("other paths are not passed on: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	if _, err := h.grpc.StopResource(ctx, &clustermanagerv1.StopResourceRequest{ResourceId: "iris"}); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Post(proxy.URL+"/iris/predict", "application/json", bytes.NewReader(req)); err != nil || resp.StatusCode != http.StatusTeapot {
		t.Fatalf("route after stop: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if _, err := h.svc.ServeURL(ctx, "iris"); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("ServeURL after stop: %v", err)
	}
}
