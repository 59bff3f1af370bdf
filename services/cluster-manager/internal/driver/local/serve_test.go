package local_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/testutil"
	"github.com/darwinml/darwin/services/cluster-manager/internal/charts"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver/local"
	"github.com/darwinml/darwin/services/cluster-manager/internal/httpapi"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

const python = "/usr/bin/python3"

// repoRoot finds the directory holding runtimes/serve above the test's working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "runtimes", "serve", "darwin_serve_runtime.py")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatal("runtimes/serve not found above the working directory")
		}
	}
}

type madeModel struct {
	Dir         string `json:"model_dir"`
	Predictions []struct {
		Features map[string]any `json:"features"`
		Scores   []float64      `json:"scores"`
	} `json:"predictions"`
}

// makeModel trains a real scikit-learn model with tools/make_model.py.
func makeModel(t *testing.T, root, kind, estimator string) madeModel {
	t.Helper()
	if err := exec.Command(python, "-c", "import sklearn, numpy, pandas, yaml").Run(); err != nil {
		testutil.NeedServer(t, "Debian python3-sklearn (with numpy, pandas, yaml)", "bash scripts/python-deps.sh")
	}
	out := filepath.Join(t.TempDir(), "model")
	cmd := exec.Command(python, filepath.Join(root, "runtimes", "serve", "tools", "make_model.py"), "--kind", kind, "--estimator", estimator, "--out", out)
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("make_model: %v", err)
	}
	var m madeModel
	if err := json.Unmarshal(data, &m); err != nil || len(m.Predictions) == 0 {
		t.Fatalf("make_model output %q: %v", data, err)
	}
	return m
}

func newServes(t *testing.T, root, dataDir string) *local.Serves {
	t.Helper()
	s, err := local.NewServes(local.ServeConfig{
		DataDir:        dataDir,
		RuntimeCommand: []string{python, filepath.Join(root, "runtimes", "serve", "darwin_serve_runtime.py")},
		StopGrace:      3 * time.Second, ReadyTimeout: 90 * time.Second, ProbeInterval: 100 * time.Millisecond,
	}, testLogger(t), clock.Real())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func serveDoc(t *testing.T, artifactID string, values map[string]any) resource.Doc {
	t.Helper()
	merged, err := resource.MergeDefaults(charts.FastAPIServe, values)
	if err != nil {
		t.Fatal(err)
	}
	return resource.Doc{ArtifactID: artifactID, DarwinResource: charts.FastAPIServe, Version: "1.0.0", Values: merged}
}

func waitRunning(t *testing.T, s *local.Serves, id string, pods int, artifactID string) resource.Status {
	t.Helper()
	var st resource.Status
	deadline := time.Now().Add(90 * time.Second)
	for {
		var err error
		st, err = s.ResourceStatus(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, p := range st.Pods {
			if p.Status == driver.PodRunning {
				running++
			}
			if p.Status == driver.PodFailed {
				t.Fatalf("pod failed: %+v", p)
			}
		}
		if running == pods && len(st.Pods) == pods && st.ArtifactID == artifactID {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not running with %d pods of %s: %+v", id, pods, artifactID, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readState(t *testing.T, dataDir, id string) local.ServeState {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "resources", id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st local.ServeState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func predict(client *http.Client, url string, features map[string]any) (int, []float64, string) {
	body, _ := json.Marshal(map[string]any{"features": features})
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out struct {
		Scores []float64 `json:"scores"`
	}
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out.Scores, string(data)
}

func pidAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && !strings.HasPrefix(strings.TrimSpace(string(data[i+1:])), "Z")
}

// TestServeLifecycle runs a real scikit-learn model through the whole life of a resource instance:
// install with two replicas, predictions through the proxy, an upgrade to another model under load without
// one failed request, re-attachment by a new driver instance, and stop.
func TestServeLifecycle(t *testing.T) {
	root := repoRoot(t)
	m1 := makeModel(t, root, "housing", "forest")
	m2 := makeModel(t, root, "housing", "linear")
	if m1.Predictions[0].Scores[0] == m2.Predictions[0].Scores[0] {
		t.Fatal("the two models predict the same; the upgrade check would prove nothing")
	}
	dataDir := t.TempDir()
	s := newServes(t, root, dataDir)
	const id = "local-housing"
	t.Cleanup(func() { _ = s.StopAll(t.Context()) })

	doc1 := serveDoc(t, "local-housing-1", map[string]any{
		"name": "housing", "replicas": map[string]any{"min": 2, "max": 4},
		"envs": map[string]any{"MLFLOW_MODEL_URI": m1.Dir, "MODEL_VERSION": "1", "EXTRA_FLAG": "yes"},
	})
	if err := s.StartResource(t.Context(), id, doc1); err != nil {
		t.Fatal(err)
	}
	st := waitRunning(t, s, id, 2, "local-housing-1")
	if !st.Installed || st.URL == "" {
		t.Fatalf("status %+v", st)
	}
	state := readState(t, dataDir, id)
	if len(state.Replicas) != 2 || state.Replicas[0].Port == state.Replicas[1].Port {
		t.Fatalf("replicas %+v", state.Replicas)
	}
	// The values' environment reaches the runtime.
	for _, p := range state.Replicas {
		env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid), "environ"))
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range []string{"MLFLOW_MODEL_URI=" + m1.Dir, "MODEL_VERSION=1", "EXTRA_FLAG=yes", "SERVE_NAME=housing"} {
			if !bytes.Contains(env, []byte(kv+"\x00")) {
				t.Fatalf("replica %s lacks %s", p.Name, kv)
			}
		}
	}
	// Round-robin over both replicas.
	seen := map[string]bool{}
	for range 4 {
		base, done, found, err := s.Route(id)
		if err != nil || !found {
			t.Fatalf("Route: %v %v", found, err)
		}
		done()
		seen[base] = true
	}
	if len(seen) != 2 {
		t.Fatalf("round-robin used %v", seen)
	}

	proxy := httptest.NewServer(httpapi.NewServeProxy(s, nil, slog.New(slog.DiscardHandler)))
	t.Cleanup(proxy.Close)
	client := &http.Client{Timeout: 20 * time.Second}
	code, scores, body := predict(client, proxy.URL+"/"+id+"/predict", m1.Predictions[0].Features)
	if code != http.StatusOK || len(scores) != 1 || scores[0] != m1.Predictions[0].Scores[0] {
		t.Fatalf("predict through proxy: %d %s, want %v", code, body, m1.Predictions[0].Scores)
	}
	resp, err := client.Get(proxy.URL + "/" + id + "/ready")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("ready through proxy: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := client.Get(proxy.URL + "/no-such-serve/predict"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown route: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Upgrade under load: every request during the switch must succeed, with one model or the other.
	oldPids := []int{state.Replicas[0].Pid, state.Replicas[1].Pid}
	var stopLoad atomic.Bool
	var failures []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	var requests, newAnswers atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopLoad.Load() {
				code, scores, body := predict(client, proxy.URL+"/"+id+"/predict", m1.Predictions[0].Features)
				requests.Add(1)
				ok := code == http.StatusOK && len(scores) == 1 && (scores[0] == m1.Predictions[0].Scores[0] || scores[0] == m2.Predictions[0].Scores[0])
				if !ok {
					mu.Lock()
					failures = append(failures, strconv.Itoa(code)+" "+body)
					mu.Unlock()
				} else if scores[0] == m2.Predictions[0].Scores[0] {
					newAnswers.Add(1)
				}
			}
		}()
	}
	doc2 := serveDoc(t, "local-housing-2", map[string]any{
		"name": "housing", "replicas": map[string]any{"min": 2, "max": 4},
		"envs": map[string]any{"MLFLOW_MODEL_URI": m2.Dir, "MODEL_VERSION": "2"},
	})
	if err := s.StartResource(t.Context(), id, doc2); err != nil {
		t.Fatal(err)
	}
	// During the rollout the new replicas are listed (Pending) next to the serving ones.
	if st, err := s.ResourceStatus(t.Context(), id); err != nil || len(st.Pods) != 4 {
		t.Fatalf("status during upgrade: %+v %v", st, err)
	}
	waitRunning(t, s, id, 2, "local-housing-2")
	testutil.Eventually(t, 30*time.Second, func() bool { return !pidAlive(oldPids[0]) && !pidAlive(oldPids[1]) }, "old replicas stopped")
	time.Sleep(300 * time.Millisecond)
	stopLoad.Store(true)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during the upgrade, e.g. %s", len(failures), requests.Load(), failures[0])
	}
	if newAnswers.Load() == 0 {
		t.Fatalf("no request was answered by the new model (%d requests)", requests.Load())
	}
	code, scores, body = predict(client, proxy.URL+"/"+id+"/predict", m2.Predictions[0].Features)
	if code != http.StatusOK || scores[0] != m2.Predictions[0].Scores[0] {
		t.Fatalf("after upgrade: %d %s", code, body)
	}
	// Starting again with the same artifact and values changes nothing.
	before := readState(t, dataDir, id)
	if err := s.StartResource(t.Context(), id, doc2); err != nil {
		t.Fatal(err)
	}
	if after := readState(t, dataDir, id); after.Replicas[0].Pid != before.Replicas[0].Pid || after.Next != nil {
		t.Fatalf("idempotent start replaced replicas: %+v -> %+v", before.Replicas, after.Replicas)
	}

	// A second driver instance (a restarted cluster-manager) re-attaches to the running replicas and
	// restarts a dead one.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	state = readState(t, dataDir, id)
	if err := syscall.Kill(state.Replicas[1].Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return !pidAlive(state.Replicas[1].Pid) }, "replica killed")
	s2 := newServes(t, root, dataDir)
	if err := s2.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, s2, id, 2, "local-housing-2")
	re := readState(t, dataDir, id)
	if re.Replicas[0].Pid != state.Replicas[0].Pid {
		t.Fatalf("live replica was not adopted: %d vs %d", re.Replicas[0].Pid, state.Replicas[0].Pid)
	}
	proxy2 := httptest.NewServer(httpapi.NewServeProxy(s2, nil, slog.New(slog.DiscardHandler)))
	t.Cleanup(proxy2.Close)
	for range 4 {
		if code, scores, body := predict(client, proxy2.URL+"/"+id+"/predict", m2.Predictions[0].Features); code != http.StatusOK || scores[0] != m2.Predictions[0].Scores[0] {
			t.Fatalf("after re-attach: %d %s", code, body)
		}
	}

	// Stop: the processes end and the route is gone.
	if err := s2.StopResource(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	for _, p := range re.Replicas {
		if pidAlive(p.Pid) {
			t.Fatalf("replica %d still alive after stop", p.Pid)
		}
	}
	if resp, err := client.Post(proxy2.URL+"/"+id+"/predict", "application/json", strings.NewReader(`{}`)); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("route after stop: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if st, err := s2.ResourceStatus(t.Context(), id); err != nil || st.Installed || len(st.Pods) != 0 {
		t.Fatalf("status after stop: %+v %v", st, err)
	}
	if err := s2.StopResource(t.Context(), id); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("second stop: %v", err)
	}
}

// TestServeFailures: a model that cannot load makes the pods Failed with the reason and log lines and the
// proxy answers 503; an upgrade to a broken model leaves the old replicas serving.
func TestServeFailures(t *testing.T) {
	root := repoRoot(t)
	m := makeModel(t, root, "iris", "logistic")
	dataDir := t.TempDir()
	s := newServes(t, root, dataDir)
	t.Cleanup(func() { _ = s.StopAll(t.Context()) })
	proxy := httptest.NewServer(httpapi.NewServeProxy(s, nil, slog.New(slog.DiscardHandler)))
	t.Cleanup(proxy.Close)

	missing := filepath.Join(t.TempDir(), "no-model")
	if err := s.StartResource(t.Context(), "broken", serveDoc(t, "broken-1", map[string]any{"envs": map[string]any{"MLFLOW_MODEL_URI": missing}})); err != nil {
		t.Fatal(err)
	}
	var st resource.Status
	testutil.Eventually(t, 60*time.Second, func() bool {
		st, _ = s.ResourceStatus(t.Context(), "broken")
		return len(st.Pods) == 1 && st.Pods[0].Status == driver.PodFailed
	}, "broken model reported Failed")
	if msg := st.Pods[0].Message; !strings.Contains(msg, "failed to load") || !strings.Contains(msg, "last log lines") {
		t.Fatalf("failure message %q", msg)
	}
	resp, err := http.Get(proxy.URL + "/broken/predict")
	if err != nil {
		t.Fatal(err)
	}
	var eb httpapi.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || eb.Status != 503 || eb.Error != "service_unavailable" {
		t.Fatalf("proxy to broken instance: %d %+v", resp.StatusCode, eb)
	}
	if _, err := s.URL("broken"); apierr.KindOf(err) != apierr.Unavailable {
		t.Fatalf("URL of broken: %v", err)
	}

	// A good instance, then an upgrade to a broken model: the old replica keeps serving.
	if err := s.StartResource(t.Context(), "iris", serveDoc(t, "iris-1", map[string]any{"envs": map[string]any{"MLFLOW_MODEL_URI": m.Dir}})); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, s, "iris", 1, "iris-1")
	// Another instance cannot take its path.
	err = s.StartResource(t.Context(), "other", serveDoc(t, "o-1", map[string]any{"ingress": map[string]any{"path": "/iris/"}}))
	if apierr.KindOf(err) != apierr.AlreadyExists {
		t.Fatalf("route clash: %v", err)
	}
	if err := s.StartResource(t.Context(), "iris", serveDoc(t, "iris-2", map[string]any{"envs": map[string]any{"MLFLOW_MODEL_URI": missing}})); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() bool {
		st, _ = s.ResourceStatus(t.Context(), "iris")
		failed := 0
		for _, p := range st.Pods {
			if p.Status == driver.PodFailed && strings.Contains(p.Message, "upgrade failed") {
				failed++
			}
		}
		return failed == 1
	}, "failed upgrade reported")
	if st.ArtifactID != "iris-1" {
		t.Fatalf("artifact after failed upgrade: %s", st.ArtifactID)
	}
	code, scores, body := predict(http.DefaultClient, proxy.URL+"/iris/predict", m.Predictions[0].Features)
	if code != http.StatusOK || len(scores) != 1 || scores[0] != m.Predictions[0].Scores[0] {
		t.Fatalf("old replica after failed upgrade: %d %s", code, body)
	}
	// Without a slash the proxy redirects to the prefix.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noRedirect.Get(proxy.URL + "/iris"); err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "iris/" {
		t.Fatalf("redirect: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// testLogger logs to the test's output when -v is given.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
