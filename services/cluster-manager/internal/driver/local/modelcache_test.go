package local_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/testutil"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver/local"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

// fakeArtifacts is a tiny Go fake of the two MLflow artifact-proxy endpoints the runtime's fetch uses, over a
// directory that plays the artifact store (mlflow-artifacts:/<path> is <root>/<path>):
//
//	GET /api/2.0/mlflow-artifacts/artifacts?path=<dir>  -> {"files":[{"path","is_dir","file_size"}]}
//	GET /api/2.0/mlflow-artifacts/artifacts/<path>      -> the file's bytes
//
// (services/mlflow is not imported: its go.mod would bring its SQL drivers into cluster-manager's.) It counts
// the listings of each directory, so a test can tell how many times a model was fetched.
type fakeArtifacts struct {
	root  string
	delay time.Duration // per file download, to make concurrent deployments overlap

	mu    sync.Mutex
	lists map[string]int
	gets  int
}

func newFakeArtifacts(t *testing.T, root string) (*fakeArtifacts, string) {
	f := &fakeArtifacts{root: root, lists: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeArtifacts) listings(dir string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists[dir]
}

func (f *fakeArtifacts) downloads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets
}

func (f *fakeArtifacts) setDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

func (f *fakeArtifacts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/api/2.0/mlflow-artifacts/artifacts"
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == prefix:
		dir := r.URL.Query().Get("path")
		f.mu.Lock()
		f.lists[dir]++
		f.mu.Unlock()
		entries, err := os.ReadDir(filepath.Join(f.root, filepath.FromSlash(dir)))
		if err != nil {
			_, _ = io.WriteString(w, `{}`) // what MLflow answers for a missing directory
			return
		}
		type file struct {
			Path     string `json:"path"`
			IsDir    bool   `json:"is_dir"`
			FileSize int64  `json:"file_size,omitempty"`
		}
		out := struct {
			Files []file `json:"files"`
		}{}
		for _, e := range entries {
			fi, _ := e.Info()
			out.Files = append(out.Files, file{Path: e.Name(), IsDir: e.IsDir(), FileSize: fi.Size()})
		}
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, prefix+"/"):
		rel, _ := url.PathUnescape(strings.TrimPrefix(r.URL.Path, prefix+"/"))
		f.mu.Lock()
		f.gets++
		delay := f.delay
		f.mu.Unlock()
		time.Sleep(delay)
		data, err := os.ReadFile(filepath.Join(f.root, filepath.FromSlash(rel)))
		if err != nil || strings.Contains(rel, "..") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no such artifact"}`)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(data)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error_code":"ENDPOINT_NOT_FOUND","message":"not faked"}`)
	}
}

// copyDir copies a model directory (flat, as make_model.py writes it) into the fake store.
func copyDir(t *testing.T, src, dst string) int {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			n += copyDir(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func procEnv(t *testing.T, pid int) []byte {
	t.Helper()
	env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func waitFailed(t *testing.T, s *local.Serves, id string, want int, contains ...string) resource.Status {
	t.Helper()
	var st resource.Status
	testutil.Eventually(t, 60*time.Second, func() bool {
		st, _ = s.ResourceStatus(t.Context(), id)
		n := 0
		for _, p := range st.Pods {
			ok := p.Status == driver.PodFailed
			for _, c := range contains {
				ok = ok && strings.Contains(p.Message, c)
			}
			if ok {
				n++
			}
		}
		return n == want
	}, "failed pods of "+id)
	return st
}

// TestModelCache: a remote model URI is fetched once into <data-dir>/model-cache/<sha256 of the URI> by the
// runtime's fetch mode, both replicas load it from there (MODEL_LOCAL_PATH), a second deployment of the same
// immutable URI (even two at once) does not fetch again, and a URI that cannot be fetched fails the pods with
// the fetch's message without starting anything, or, for an upgrade, keeps the old replicas serving.
func TestModelCache(t *testing.T) {
	root := repoRoot(t)
	m := makeModel(t, root, "iris", "logistic")
	store := t.TempDir()
	const modelPath = "1/0a1b2c/artifacts/model"
	nfiles := copyDir(t, m.Dir, filepath.Join(store, filepath.FromSlash(modelPath)))
	copyDir(t, m.Dir, filepath.Join(store, "1", "0a1b2c", "artifacts", "model2"))
	fake, trackingURL := newFakeArtifacts(t, store)
	uri := "mlflow-artifacts:/" + modelPath

	dataDir := t.TempDir()
	s := newServes(t, root, dataDir)
	t.Cleanup(func() { _ = s.StopAll(t.Context()) })
	envs := func(u string) map[string]any {
		return map[string]any{"MLFLOW_MODEL_URI": u, "MLFLOW_TRACKING_URI": trackingURL}
	}
	sum := sha256.Sum256([]byte(uri))
	cacheDir := filepath.Join(dataDir, "model-cache", hex.EncodeToString(sum[:]))
	if got := s.ModelCacheDir(uri); got != cacheDir {
		t.Fatalf("ModelCacheDir = %s, want %s", got, cacheDir)
	}

	// Two replicas, one fetch.
	doc := serveDoc(t, "iris-a-1", map[string]any{"replicas": map[string]any{"min": 2, "max": 2}, "envs": envs(uri)})
	if err := s.StartResource(t.Context(), "iris-a", doc); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, s, "iris-a", 2, "iris-a-1")
	if n := fake.listings(modelPath); n != 1 {
		t.Fatalf("model directory listed %d times, want 1 fetch", n)
	}
	if gets := fake.downloads(); gets != nfiles {
		t.Fatalf("%d file downloads, want %d (one per file)", gets, nfiles)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "MLmodel")); err != nil {
		t.Fatalf("cache entry: %v", err)
	}
	state := readState(t, dataDir, "iris-a")
	client := &http.Client{Timeout: 20 * time.Second}
	for _, p := range state.Replicas {
		env := procEnv(t, p.Pid)
		for _, kv := range []string{"MODEL_LOCAL_PATH=" + cacheDir, "MLFLOW_MODEL_URI=" + uri} {
			if !bytes.Contains(env, []byte(kv+"\x00")) {
				t.Fatalf("replica %s lacks %s", p.Name, kv)
			}
		}
		code, scores, body := predict(client, "http://127.0.0.1:"+strconv.Itoa(p.Port)+"/predict", m.Predictions[0].Features)
		if code != http.StatusOK || len(scores) != 1 || scores[0] != m.Predictions[0].Scores[0] {
			t.Fatalf("replica %s predict: %d %s, want %v", p.Name, code, body, m.Predictions[0].Scores)
		}
	}

	// Another deployment of the same immutable URI reuses the cache entry.
	if err := s.StartResource(t.Context(), "iris-b", serveDoc(t, "iris-b-1", map[string]any{"envs": envs(uri)})); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, s, "iris-b", 1, "iris-b-1")
	if n := fake.listings(modelPath); n != 1 {
		t.Fatalf("second deployment fetched again: %d listings", n)
	}
	if env := procEnv(t, readState(t, dataDir, "iris-b").Replicas[0].Pid); !bytes.Contains(env, []byte("MODEL_LOCAL_PATH="+cacheDir+"\x00")) {
		t.Fatal("second deployment does not use the cache entry")
	}

	// Two deployments of a new URI at once share one fetch.
	const model2 = "1/0a1b2c/artifacts/model2"
	fake.setDelay(100 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{"iris-c", "iris-d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.StartResource(t.Context(), id, serveDoc(t, id+"-1", map[string]any{"envs": envs("mlflow-artifacts:/" + model2)}))
		}()
	}
	wg.Wait()
	fake.setDelay(0)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitRunning(t, s, "iris-c", 1, "iris-c-1")
	waitRunning(t, s, "iris-d", 1, "iris-d-1")
	if n := fake.listings(model2); n != 1 {
		t.Fatalf("concurrent deployments fetched %d times, want 1", n)
	}

	// A URI that cannot be fetched: Failed pods with the fetch's message, no process.
	bad := "mlflow-artifacts:/1/0a1b2c/artifacts/no-such-model"
	if err := s.StartResource(t.Context(), "bad", serveDoc(t, "bad-1", map[string]any{"replicas": map[string]any{"min": 2, "max": 2}, "envs": envs(bad)})); err != nil {
		t.Fatal(err)
	}
	st := waitFailed(t, s, "bad", 2, "model fetch failed", "no artifacts under")
	if !st.Installed || st.ArtifactID != "bad-1" || len(st.Pods) != 2 {
		t.Fatalf("status of failed fetch: %+v", st)
	}
	for _, p := range readState(t, dataDir, "bad").Replicas {
		if p.Pid != 0 {
			t.Fatalf("a replica was started after a failed fetch: %+v", p)
		}
	}
	badSum := sha256.Sum256([]byte(bad))
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "model-cache")); len(entries) != 4 { // 2 dirs + 2 .json
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("model cache holds %v (a failed fetch must leave nothing, e.g. %x)", names, badSum[:4])
	}

	// An upgrade whose fetch fails keeps the old replicas serving.
	pids := []int{state.Replicas[0].Pid, state.Replicas[1].Pid}
	up := serveDoc(t, "iris-a-2", map[string]any{"replicas": map[string]any{"min": 2, "max": 2}, "envs": envs(bad)})
	if err := s.StartResource(t.Context(), "iris-a", up); err != nil {
		t.Fatal(err)
	}
	st = waitFailed(t, s, "iris-a", 2, "upgrade failed: model fetch failed", "no artifacts under")
	if st.ArtifactID != "iris-a-1" || len(st.Pods) != 4 {
		t.Fatalf("status after failed upgrade fetch: %+v", st)
	}
	for _, pid := range pids {
		if !pidAlive(pid) {
			t.Fatalf("old replica %d stopped by a failed upgrade fetch", pid)
		}
	}
	base, err := s.URL("iris-a")
	if err != nil {
		t.Fatal(err)
	}
	if code, scores, body := predict(client, base+"/predict", m.Predictions[0].Features); code != http.StatusOK || scores[0] != m.Predictions[0].Scores[0] {
		t.Fatalf("old replicas after failed upgrade fetch: %d %s", code, body)
	}

	// A restarted driver replaces a dead replica from the cache entry, without fetching again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dead := readState(t, dataDir, "iris-b").Replicas[0].Pid
	if err := syscall.Kill(dead, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return !pidAlive(dead) }, "replica killed")
	s2 := newServes(t, root, dataDir)
	t.Cleanup(func() { _ = s2.StopAll(t.Context()) })
	if err := s2.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, s2, "iris-b", 1, "iris-b-1")
	re := readState(t, dataDir, "iris-b").Replicas[0]
	if re.Pid == dead || !bytes.Contains(procEnv(t, re.Pid), []byte("MODEL_LOCAL_PATH="+cacheDir+"\x00")) {
		t.Fatalf("restarted replica %+v does not use the cache entry", re)
	}
	if n := fake.listings(modelPath); n != 1 {
		t.Fatalf("recovery fetched again: %d listings", n)
	}
	// The instance whose fetch failed is retried (and fails again) rather than started without its model.
	waitFailed(t, s2, "bad", 2, "model fetch failed")
}
