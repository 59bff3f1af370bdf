package httpapi_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/httpapi"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource/resourcetest"
)

func newResourceServer(t *testing.T) (*httptest.Server, *resourcetest.Runner, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := artifact.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	runner := resourcetest.NewRunner()
	r := chi.NewRouter()
	httpapi.NewResourceAPI(resource.New(store, runner, clock.Real()), slog.New(slog.DiscardHandler)).Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, runner, dir
}

func envelope(t *testing.T, data []byte) httpapi.Envelope {
	t.Helper()
	var e httpapi.Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("envelope %q: %v", data, err)
	}
	return e
}

func storedValues(t *testing.T, dir, artifactID string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "mlp", "cluster_manager", "darwin-fastapi-serve", artifactID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var d resource.Doc
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if d.ArtifactID != artifactID || d.DarwinResource != "darwin-fastapi-serve" || d.Version != "1.0.0" {
		t.Fatalf("stored doc %+v", d)
	}
	return d.Values
}

// TestResourceInstanceRoutes walks ml-serve's calls: create the artifact, start, status, patch values,
// re-pack the chart, start again (upgrade), stop.
func TestResourceInstanceRoutes(t *testing.T) {
	t.Parallel()
	srv, runner, dir := newResourceServer(t)
	base := srv.URL + "/resource-instance"

	create := `{"artifact_id":"local-iris-1","darwin_resource":"darwin-fastapi-serve","version":"1.0.0",
		"values":{"name":"iris","image":"localhost:5000/serve-md-runtime:latest","replicas":{"min":2,"max":3},
		"env":{"MLFLOW_MODEL_URI":"models:/iris/1","MODEL_VERSION":"1"},"port":8000,"healthcheck":"/healthcheck"}}`
	code, data := do(t, http.MethodPost, base+"/", "application/json", strings.NewReader(create))
	env := envelope(t, data)
	d, _ := env.Data.(map[string]any)
	if code != http.StatusCreated || env.Status != "SUCCESS" || env.Message != "Artifact Creation Success" || d["artifact_id"] != "local-iris-1" ||
		!strings.HasSuffix(d["artifact_url"].(string), "mlp/cluster_manager/darwin-fastapi-serve/local-iris-1.json") {
		t.Fatalf("create: %d %s", code, data)
	}
	vals := storedValues(t, dir, "local-iris-1")
	hpa := vals["hpa"].(map[string]any)
	envs := vals["envs"].(map[string]any)
	img := vals["image"].(map[string]any)
	if hpa["minReplicas"] != 2.0 || hpa["maxReplicas"] != 3.0 || hpa["targetCPUUtilizationPercentage"] != 70.0 || vals["replicaCount"] != 2.0 ||
		envs["MLFLOW_MODEL_URI"] != "models:/iris/1" || img["repository"] != "localhost:5000/serve-md-runtime" || img["tag"] != "latest" ||
		vals["containerPort"] != 8000.0 || vals["service"].(map[string]any)["port"] != 80.0 {
		t.Fatalf("merged values %v", vals)
	}

	start := `{"resource_id":"local-iris","artifact_id":"local-iris-1","kube_cluster":"kind-0","kube_namespace":"serve","darwin_resource":"darwin-fastapi-serve"}`
	code, data = do(t, http.MethodPost, base+"/start", "application/json", strings.NewReader(start))
	if env := envelope(t, data); code != http.StatusAccepted || env.Message != "Resource Instance Start Accepted" || env.Data.(map[string]any)["resource_id"] != "local-iris" {
		t.Fatalf("start: %d %s", code, data)
	}
	if c := runner.Last(); c.Method != "start" || c.ResourceID != "local-iris" || c.Doc.ArtifactID != "local-iris-1" ||
		c.Placement != (driver.Placement{KubeCluster: "kind-0", Namespace: "serve"}) {
		t.Fatalf("runner call %+v", c)
	}

	runner.Pods["local-iris"] = []resource.Pod{{Name: "local-iris-abc", Status: "Running"}, {Name: "local-iris-def", Status: "Pending", Message: "waiting for /ready"}}
	code, data = do(t, http.MethodPost, base+"/status", "application/json", strings.NewReader(`{"resource_id":"local-iris","kube_cluster":"kind-0","kube_namespace":"serve"}`))
	var stResp struct {
		Status string `json:"status"`
		Data   struct {
			ResourceID string `json:"resource_id"`
			Status     struct {
				Pods []httpapi.PodStatus `json:"pods"`
			} `json:"status"`
			Installed bool `json:"installed"`
		} `json:"data"`
	}
	_ = json.Unmarshal(data, &stResp)
	if code != http.StatusOK || stResp.Data.ResourceID != "local-iris" || !stResp.Data.Installed || len(stResp.Data.Status.Pods) != 2 ||
		stResp.Data.Status.Pods[1] != (httpapi.PodStatus{Name: "local-iris-def", Status: "Pending", Message: "waiting for /ready"}) {
		t.Fatalf("status: %d %s", code, data)
	}
	// An unknown instance has no pods (not an error: ml-serve reads "nothing running").
	code, data = do(t, http.MethodPost, base+"/status", "application/json", strings.NewReader(`{"resource_id":"nothing-here"}`))
	if code != http.StatusOK || !strings.Contains(string(data), `"pods":[]`) {
		t.Fatalf("status of unknown: %d %s", code, data)
	}

	patch := `{"artifact_id":"local-iris-1","darwin_resource":"darwin-fastapi-serve","values":{"replicas":{"min":3,"max":5},"envs":{"MODEL_VERSION":null,"NEW":"x"}}}`
	code, data = do(t, http.MethodPatch, base+"/values", "application/json", strings.NewReader(patch))
	if env := envelope(t, data); code != http.StatusOK || env.Message != "Values Updation Success" {
		t.Fatalf("patch: %d %s", code, data)
	}
	vals = storedValues(t, dir, "local-iris-1")
	envs = vals["envs"].(map[string]any)
	if vals["hpa"].(map[string]any)["minReplicas"] != 3.0 || envs["NEW"] != "x" || envs["MLFLOW_MODEL_URI"] != "models:/iris/1" {
		t.Fatalf("patched values %v", vals)
	}
	if _, still := envs["MODEL_VERSION"]; still {
		t.Fatalf("null did not remove MODEL_VERSION: %v", envs)
	}

	code, data = do(t, http.MethodPut, base+"/chart", "application/json", strings.NewReader(`{"artifact_id":"local-iris-1","darwin_resource":"darwin-fastapi-serve","version":"1.0.0"}`))
	if env := envelope(t, data); code != http.StatusOK || env.Message != "Chart Updation Success" {
		t.Fatalf("chart: %d %s", code, data)
	}

	code, data = do(t, http.MethodPost, base+"/start", "application/json", strings.NewReader(start))
	if code != http.StatusAccepted {
		t.Fatalf("restart: %d %s", code, data)
	}
	if doc, _ := runner.Running("local-iris"); doc.Values["hpa"].(map[string]any)["minReplicas"] != 3.0 {
		t.Fatalf("upgrade did not carry the patched values: %v", doc.Values)
	}

	code, data = do(t, http.MethodPost, base+"/stop", "application/json", strings.NewReader(`{"resource_id":"local-iris","kube_cluster":"kind-0","kube_namespace":"serve"}`))
	if env := envelope(t, data); code != http.StatusAccepted || env.Message != "Resource Instance Stop Accepted" {
		t.Fatalf("stop: %d %s", code, data)
	}
	code, data = do(t, http.MethodPost, base+"/stop", "application/json", strings.NewReader(`{"resource_id":"local-iris"}`))
	if e := decodeErr(t, data); code != http.StatusNotFound || e.Error != "not_found" || e.Status != 404 {
		t.Fatalf("second stop: %d %s", code, data)
	}
}

func TestResourceInstanceBadInput(t *testing.T) {
	t.Parallel()
	srv, runner, dir := newResourceServer(t)
	base := srv.URL + "/resource-instance"
	cases := []struct {
		name, method, path, body string
		status                   int
		cause                    string
	}{
		{"not json", http.MethodPost, "/", `{`, 400, ""},
		{"array", http.MethodPost, "/", `[]`, 400, ""},
		{"two objects", http.MethodPost, "/", `{} {}`, 400, ""},
		{"no artifact_id", http.MethodPost, "/", `{"darwin_resource":"darwin-fastapi-serve","values":{}}`, 400, "artifact_id"},
		{"artifact_id not a string", http.MethodPost, "/", `{"artifact_id":5,"darwin_resource":"darwin-fastapi-serve"}`, 400, "artifact_id"},
		{"bad artifact_id", http.MethodPost, "/", `{"artifact_id":"../x","darwin_resource":"darwin-fastapi-serve"}`, 400, "artifact_id"},
		{"unknown chart", http.MethodPost, "/", `{"artifact_id":"a","darwin_resource":"darwin-ray-serve"}`, 400, "darwin_resource"},
		{"unknown version", http.MethodPost, "/", `{"artifact_id":"a","darwin_resource":"darwin-fastapi-serve","version":"9.9.9"}`, 400, "version"},
		{"values not an object", http.MethodPost, "/", `{"artifact_id":"a","darwin_resource":"darwin-fastapi-serve","values":[1]}`, 400, "values"},
		{"values rejected by schema", http.MethodPost, "/", `{"artifact_id":"a","darwin_resource":"darwin-fastapi-serve","values":{"hpa":{"minReplicas":0}}}`, 400, "values"},
		{"hpa min above max", http.MethodPost, "/", `{"artifact_id":"a","darwin_resource":"darwin-fastapi-serve","values":{"replicas":{"min":5,"max":2}}}`, 400, "values"},
		{"bad ingress path", http.MethodPost, "/", `{"artifact_id":"a","darwin_resource":"darwin-fastapi-serve","values":{"ingress":{"path":"/a b/"}}}`, 400, "values"},
		{"patch without values", http.MethodPatch, "/values", `{"artifact_id":"a","darwin_resource":"darwin-fastapi-serve"}`, 400, "values"},
		{"patch unknown artifact", http.MethodPatch, "/values", `{"artifact_id":"nope","darwin_resource":"darwin-fastapi-serve","values":{}}`, 404, ""},
		{"chart unknown artifact", http.MethodPut, "/chart", `{"artifact_id":"nope","darwin_resource":"darwin-fastapi-serve"}`, 404, ""},
		{"start without resource_id", http.MethodPost, "/start", `{"artifact_id":"a","darwin_resource":"darwin-fastapi-serve"}`, 400, "resource_id"},
		{"start bad resource_id", http.MethodPost, "/start", `{"resource_id":"Local_Iris","artifact_id":"a","darwin_resource":"darwin-fastapi-serve"}`, 400, "resource_id"},
		{"start unknown artifact", http.MethodPost, "/start", `{"resource_id":"x","artifact_id":"nope","darwin_resource":"darwin-fastapi-serve"}`, 404, ""},
		{"stop without resource_id", http.MethodPost, "/stop", `{}`, 400, "resource_id"},
		{"status without resource_id", http.MethodPost, "/status", `{"resource_id":""}`, 400, "resource_id"},
		{"status resource_id too long", http.MethodPost, "/status", `{"resource_id":"` + strings.Repeat("a", 54) + `"}`, 400, "resource_id"},
	}
	for _, c := range cases {
		code, data := do(t, c.method, base+c.path, "application/json", strings.NewReader(c.body))
		e := decodeErr(t, data)
		if code != c.status || e.Status != c.status || e.Message == "" || (c.cause != "" && (len(e.Causes) != 1 || e.Causes[0] != c.cause)) {
			t.Errorf("%s: %d %s", c.name, code, data)
		}
	}
	for _, c := range runner.Calls {
		if c.Method == "start" {
			t.Errorf("runner started despite bad input: %+v", c)
		}
	}
	// Nothing was stored by the rejected creates.
	if entries, _ := os.ReadDir(filepath.Join(dir, "mlp", "cluster_manager", "darwin-fastapi-serve")); len(entries) != 0 {
		t.Errorf("rejected requests stored %d artifacts", len(entries))
	}
	// A runner failure maps to the envelope.
	code, _ := do(t, http.MethodPost, base+"/", "application/json", strings.NewReader(`{"artifact_id":"a","darwin_resource":"darwin-fastapi-serve"}`))
	if code != http.StatusCreated {
		t.Fatalf("create a: %d", code)
	}
	runner.FailStart = errors.New("boom")
	code, data := do(t, http.MethodPost, base+"/start", "application/json", strings.NewReader(`{"resource_id":"x","artifact_id":"a","darwin_resource":"darwin-fastapi-serve"}`))
	if e := decodeErr(t, data); code != http.StatusInternalServerError || e.Message == "boom" {
		t.Fatalf("runner failure: %d %s", code, data)
	}
}

type fakeRoutes map[string]string

func (f fakeRoutes) Route(seg string) (string, func(), bool, error) {
	base, ok := f[seg]
	if !ok {
		return "", nil, false, nil
	}
	if base == "" {
		return "", nil, true, errUnavailable
	}
	return base, func() {}, true, nil
}

func TestServeProxyRouting(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery))
	}))
	t.Cleanup(backend.Close)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	proxy := httptest.NewServer(httpapi.NewServeProxy(fakeRoutes{"iris": backend.URL, "down": ""}, next, slog.New(slog.DiscardHandler)))
	t.Cleanup(proxy.Close)
	code, data := do(t, http.MethodPost, proxy.URL+"/iris/predict?x=1", "application/json", strings.NewReader(`{}`))
	if code != http.StatusOK || string(data) != "POST /predict?x=1" {
		t.Fatalf("proxied: %d %s", code, data)
	}
	code, data = do(t, http.MethodGet, proxy.URL+"/down/predict", "", nil)
	if e := decodeErr(t, data); code != http.StatusServiceUnavailable || e.Error != "service_unavailable" {
		t.Fatalf("no ready replica: %d %s", code, data)
	}
	if code, _ := do(t, http.MethodGet, proxy.URL+"/elsewhere/x", "", nil); code != http.StatusTeapot {
		t.Fatalf("unknown route not passed on: %d", code)
	}
}

var errUnavailable = apierr.New(apierr.Unavailable, "resource instance down has no ready replica")
