package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver/drivertest"
	"github.com/darwinml/darwin/services/cluster-manager/internal/httpapi"
)

func newServer(t *testing.T) (*httptest.Server, *drivertest.Fake) {
	t.Helper()
	fake := drivertest.New()
	r := chi.NewRouter()
	httpapi.New(fake, slog.New(slog.DiscardHandler), clock.Real()).Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, fake
}

type part struct {
	name, value string
	file        bool
}

func multipartBody(t *testing.T, parts ...part) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		if p.file {
			w, err := mw.CreateFormFile(p.name, "values.json")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = w.Write([]byte(p.value))
		} else {
			_ = mw.WriteField(p.name, p.value)
		}
	}
	_ = mw.Close()
	return mw.FormDataContentType(), &buf
}

func do(t *testing.T, method, u, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func form(vals map[string]string) (string, io.Reader) {
	v := url.Values{}
	for k, s := range vals {
		v.Set(k, s)
	}
	return "application/x-www-form-urlencoded", strings.NewReader(v.Encode())
}

func decodeErr(t *testing.T, data []byte) httpapi.ErrorBody {
	t.Helper()
	var e httpapi.ErrorBody
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("error body %q: %v", data, err)
	}
	return e
}

const values = `{"cluster_id":"id-1","worker":{"replicas":1}}`

func TestHealth(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t)
	for _, p := range []string{"/healthcheck", "/health"} {
		code, body := do(t, http.MethodGet, srv.URL+p, "", nil)
		if code != http.StatusOK || strings.TrimSpace(string(body)) != `{"message":"OK","status":"SUCCESS"}` {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
}

func TestClusterLifecycleRoutes(t *testing.T) {
	t.Parallel()
	srv, fake := newServer(t)
	base := srv.URL + "/compute/v2/cluster"

	for _, method := range []string{http.MethodPost, http.MethodPut} {
		ct, body := multipartBody(t, part{name: "cluster_name", value: "id-1"}, part{name: "artifact_name", value: "id-1-v1"}, part{name: "file", value: values, file: true})
		code, data := do(t, method, base, ct, body)
		var resp map[string]string
		_ = json.Unmarshal(data, &resp)
		if code != http.StatusCreated || resp["ClusterName"] != "id-1" || resp["ClusterHelmArtifact"] != "id-1-v1" || resp["ArtifactS3Url"] != "file:///artifacts/id-1-v1.json" {
			t.Fatalf("%s cluster: %d %s", method, code, data)
		}
	}

	// Start with a multipart form, the others urlencoded: both are accepted.
	ct, body := multipartBody(t, part{name: "cluster_name", value: "id-1"}, part{name: "artifact_name", value: "id-1-v1"}, part{name: "namespace", value: "ray"}, part{name: "kube_cluster", value: "kind"})
	code, data := do(t, http.MethodPut, base+"/start", ct, body)
	if code != http.StatusAccepted || strings.TrimSpace(string(data)) != `{"ClusterName":"id-1","Namespace":"ray","KubeCluster":"kind"}` {
		t.Fatalf("start: %d %s", code, data)
	}
	fake.Pods["id-1"] = []driver.Pod{
		{Name: "id-1-kuberay-head-abcde", Status: driver.PodRunning, NodeType: driver.NodeHead},
		{Name: "id-1-kuberay-worker-worker-fghij", Status: driver.PodFailed, Message: "process exited with code 1", NodeType: driver.NodeWorker},
	}
	ct, rd := form(map[string]string{"cluster_name": "id-1", "namespace": "ray", "kube_cluster": "kind"})
	code, data = do(t, http.MethodPut, base+"/status", ct, rd)
	var st httpapi.ClusterStatusResponse
	_ = json.Unmarshal(data, &st)
	if code != http.StatusAccepted || st.ClusterName != "id-1" || len(st.Resources) != 2 ||
		st.Resources[1] != (httpapi.Resource{Name: "id-1-kuberay-worker-worker-fghij", Type: "pod", Status: "Failed", Message: "process exited with code 1"}) {
		t.Fatalf("status: %d %s", code, data)
	}
	code, data = do(t, http.MethodGet, base+"?namespace=ray&kube_cluster=kind", "", nil)
	if code != http.StatusAccepted || strings.TrimSpace(string(data)) != `[{"Name":"id-1","Status":"Running"}]` {
		t.Fatalf("list: %d %s", code, data)
	}
	wantPlace := driver.Placement{KubeCluster: "kind", Namespace: "ray"}
	for _, call := range []string{"start", "status", "list"} {
		if p := fake.Placements[call]; p != wantPlace {
			t.Errorf("%s: placement passed to the driver = %+v, want %+v", call, p, wantPlace)
		}
	}
	ct, rd = form(map[string]string{"cluster_name": "id-1", "artifact_name": "id-1-v1"})
	if code, data = do(t, http.MethodPut, base+"/restart", ct, rd); code != http.StatusAccepted {
		t.Fatalf("restart: %d %s", code, data)
	}
	ct, rd = form(map[string]string{"cluster_name": "id-1"})
	code, data = do(t, http.MethodPut, base+"/stop", ct, rd)
	if code != http.StatusAccepted || strings.TrimSpace(string(data)) != `"clusterv2 Stopped"` {
		t.Fatalf("stop: %d %s", code, data)
	}
	ct, rd = form(map[string]string{"cluster_name": "id-1"})
	code, data = do(t, http.MethodPut, base+"/status", ct, rd)
	if code != http.StatusAccepted || !strings.Contains(string(data), `"Resources":[]`) {
		t.Fatalf("status after stop: %d %s", code, data)
	}
	code, data = do(t, http.MethodGet, base, "", nil)
	if code != http.StatusAccepted || strings.TrimSpace(string(data)) != `[]` {
		t.Fatalf("empty list: %d %s", code, data)
	}
	want := []string{"apply id-1 id-1-v1", "apply id-1 id-1-v1", "start id-1 id-1-v1", "stop id-1", "start id-1 id-1-v1", "stop id-1"}
	if strings.Join(fake.Calls, "|") != strings.Join(want, "|") {
		t.Errorf("driver calls %q", fake.Calls)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	srv, fake := newServer(t)
	fake.Applied["known"] = "known-v1"
	base := srv.URL + "/compute/v2/cluster"
	full := []part{{name: "cluster_name", value: "id-1"}, {name: "artifact_name", value: "id-1-v1"}, {name: "file", value: values, file: true}}
	without := func(name string) []part {
		var out []part
		for _, p := range full {
			if p.name != name {
				out = append(out, p)
			}
		}
		return out
	}
	replace := func(name, value string) []part {
		out := append([]part(nil), full...)
		for i := range out {
			if out[i].name == name {
				out[i].value = value
			}
		}
		return out
	}
	type req struct {
		name, method, path, ct string
		body                   io.Reader
		status                 int
		cause                  string
	}
	mp := func(parts ...part) (string, io.Reader) { return multipartBody(t, parts...) }
	fm := func(vals map[string]string) (string, io.Reader) { return form(vals) }
	var tests []req
	add := func(name, method, path string, ctBody func() (string, io.Reader), status int, cause string) {
		ct, body := ctBody()
		tests = append(tests, req{name, method, path, ct, body, status, cause})
	}
	add("create without cluster_name", http.MethodPost, "", func() (string, io.Reader) { return mp(without("cluster_name")...) }, 400, "cluster_name")
	add("create without artifact_name", http.MethodPost, "", func() (string, io.Reader) { return mp(without("artifact_name")...) }, 400, "artifact_name")
	add("create without file", http.MethodPost, "", func() (string, io.Reader) { return mp(without("file")...) }, 400, "file")
	add("create with underscore", http.MethodPut, "", func() (string, io.Reader) { return mp(replace("cluster_name", "my_cluster")...) }, 400, "cluster_name")
	add("create with bad values", http.MethodPost, "", func() (string, io.Reader) { return mp(replace("file", `{"worker":{"replicas":-1}}`)...) }, 400, "worker.replicas")
	add("create with empty file", http.MethodPost, "", func() (string, io.Reader) { return mp(replace("file", " ")...) }, 400, "file")
	add("create as json", http.MethodPost, "", func() (string, io.Reader) { return "application/json", strings.NewReader(`{}`) }, 400, "")
	add("create with broken multipart", http.MethodPost, "", func() (string, io.Reader) {
		return "multipart/form-data; boundary=xyz", strings.NewReader("--xyz\r\nbroken")
	}, 400, "")
	add("start without artifact", http.MethodPut, "/start", func() (string, io.Reader) { return fm(map[string]string{"cluster_name": "known"}) }, 400, "artifact_name")
	add("start without cluster", http.MethodPut, "/start", func() (string, io.Reader) { return fm(map[string]string{"artifact_name": "a"}) }, 400, "cluster_name")
	add("start unknown artifact", http.MethodPut, "/start", func() (string, io.Reader) {
		return fm(map[string]string{"cluster_name": "known", "artifact_name": "nope-v1"})
	}, 404, "")
	add("stop without cluster", http.MethodPut, "/stop", func() (string, io.Reader) { return fm(nil) }, 400, "cluster_name")
	add("stop unknown", http.MethodPut, "/stop", func() (string, io.Reader) { return fm(map[string]string{"cluster_name": "ghost"}) }, 404, "")
	add("status unknown", http.MethodPut, "/status", func() (string, io.Reader) { return fm(map[string]string{"cluster_name": "ghost"}) }, 404, "")
	add("status without cluster", http.MethodPut, "/status", func() (string, io.Reader) { return fm(nil) }, 400, "cluster_name")
	add("restart unknown", http.MethodPut, "/restart", func() (string, io.Reader) {
		return fm(map[string]string{"cluster_name": "ghost", "artifact_name": "a"})
	}, 404, "")
	add("status with xml", http.MethodPut, "/status", func() (string, io.Reader) { return "application/xml", strings.NewReader("<a/>") }, 400, "")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, data := do(t, tc.method, base+tc.path, tc.ct, tc.body)
			e := decodeErr(t, data)
			wantName := map[int]string{400: "bad_request", 404: "not_found"}[tc.status]
			if code != tc.status || e.Status != tc.status || e.Error != wantName || e.Message == "" {
				t.Fatalf("%d %s", code, data)
			}
			if tc.cause != "" && (len(e.Causes) != 1 || e.Causes[0] != tc.cause || !strings.Contains(e.Message, tc.cause)) {
				t.Fatalf("causes %v message %q, want %q", e.Causes, e.Message, tc.cause)
			}
		})
	}
}

func TestExecute(t *testing.T) {
	t.Parallel()
	srv, fake := newServer(t)
	fake.Applied["id-1"] = "id-1-v1"
	fake.Artifacts["id-1-v1"] = []byte(values)
	fake.Running["id-1"] = "id-1-v1"
	fake.Pods["id-1"] = []driver.Pod{{Name: "id-1-kuberay-head-abcde"}}
	fake.Execs["*"] = []driver.PodExec{{Pod: "id-1-kuberay-head-abcde", Status: driver.ExecSuccess}}

	tests := []struct {
		name, body   string
		status       int
		cause        string
		target, cmd  string
		clusterCheck string
	}{
		{"head by selector, argv command", `{"kube_cluster":"kind","kube_namespace":"ray","label_selector":"rayCluster=id-1-kuberay,ray.io/node-type=head","container_name":"ray-head","command":["sh","-c","echo hi"]}`,
			200, "", "head", "echo hi", "id-1"},
		{"whole cluster, string command", `{"label_selector":"rayCluster=id-1-kuberay","command":"pip install x"}`, 200, "", "cluster", "pip install x", "id-1"},
		{"argv quoted", `{"label_selector":"rayCluster=id-1-kuberay, ray.io/node-type==worker","command":["echo","a b","it's"]}`, 200, "", "worker", `echo 'a b' 'it'\''s'`, "id-1"},
		{"missing selector", `{"command":"ls"}`, 400, "label_selector", "", "", ""},
		{"selector without cluster", `{"label_selector":"ray.io/node-type=head","command":"ls"}`, 400, "label_selector", "", "", ""},
		{"bad node type", `{"label_selector":"rayCluster=id-1-kuberay,ray.io/node-type=gpu","command":"ls"}`, 400, "label_selector", "", "", ""},
		{"bad selector term", `{"label_selector":"rayCluster","command":"ls"}`, 400, "label_selector", "", "", ""},
		{"missing command", `{"label_selector":"rayCluster=id-1-kuberay"}`, 400, "command", "", "", ""},
		{"empty argv", `{"label_selector":"rayCluster=id-1-kuberay","command":[]}`, 400, "command", "", "", ""},
		{"not json", `command=ls`, 400, "", "", "", ""},
		{"unknown cluster", `{"label_selector":"rayCluster=ghost-kuberay","command":"ls"}`, 404, "", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, data := do(t, http.MethodPost, srv.URL+"/execute", "application/json", strings.NewReader(tc.body))
			if code != tc.status {
				t.Fatalf("%d %s", code, data)
			}
			if tc.status == 200 {
				if strings.TrimSpace(string(data)) != `{"message":"Command executed successfully","status":"SUCCESS"}` {
					t.Fatalf("body %s", data)
				}
				if fake.LastExec.Target != tc.target || fake.LastExec.Command != tc.cmd || fake.LastExec.Cluster != tc.clusterCheck {
					t.Fatalf("exec request %+v", fake.LastExec)
				}
				return
			}
			e := decodeErr(t, data)
			if tc.cause != "" && (len(e.Causes) != 1 || e.Causes[0] != tc.cause) {
				t.Fatalf("causes %v", e.Causes)
			}
		})
	}

	fake.Execs["*"] = []driver.PodExec{{Pod: "id-1-kuberay-head-abcde", Status: driver.ExecFailed, ExitCode: 2, Output: "x\nno such file"}}
	code, data := do(t, http.MethodPost, srv.URL+"/execute", "application/json", strings.NewReader(`{"label_selector":"rayCluster=id-1-kuberay","command":"ls /nope"}`))
	e := decodeErr(t, data)
	if code != http.StatusUnprocessableEntity || len(e.Causes) != 1 || e.Causes[0] != "id-1-kuberay-head-abcde: exit code 2: no such file" {
		t.Fatalf("failing command: %d %s", code, data)
	}
}

func TestDashboardProxy(t *testing.T) {
	t.Parallel()
	head := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "head saw "+r.URL.Path+"?"+r.URL.RawQuery)
	}))
	t.Cleanup(head.Close)
	fake := drivertest.New()
	fake.Head = head.URL
	fake.Applied["id-1"], fake.Applied["id-2"] = "a", "b"
	fake.Running["id-1"] = "a"
	proxy := httptest.NewServer(httpapi.NewDashboardProxy(fake, slog.New(slog.DiscardHandler)))
	t.Cleanup(proxy.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		path     string
		status   int
		contains string
	}{
		{"/kind-0/id-1-dashboard/", 200, "head saw /?"},
		{"/kind-0/id-1-dashboard/api/jobs/?x=1", 200, "head saw /api/jobs/?x=1"},
		{"/kind-0/id-1-jupyter/api/status", 200, "head saw /jupyter/api/status?"},
		{"/kind-0/id-1-jupyter/", 200, "head saw /jupyter/?"},
		{"/kind-0/id-1-sparkui/", 404, "not available"},
		{"/kind-0/id-2-dashboard/", 503, "not running"},
		{"/kind-0/ghost-dashboard/", 404, "not found"},
		{"/kind-0/id-1-unknown/", 404, "not found"},
		{"/kind-0/", 404, "not found"},
	}
	for _, tc := range tests {
		resp, err := client.Get(proxy.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(data), tc.contains) {
			t.Errorf("%s: %d %s", tc.path, resp.StatusCode, data)
		}
	}
	resp, err := client.Get(proxy.URL + "/kind-0/id-1-dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "id-1-dashboard/" {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	head.Close()
	resp, err = client.Get(proxy.URL + "/kind-0/id-1-dashboard/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("dead head: %d", resp.StatusCode)
	}
}
