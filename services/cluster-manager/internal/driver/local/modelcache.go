package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/fsutil"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

// The model cache: before replicas of a deployment whose env names a remote MLFLOW_MODEL_URI (and no
// MODEL_LOCAL_PATH) start, the model is downloaded once, by the runtime's fetch mode
// (`<RuntimeCommand> fetch --model-uri URI --dest DIR`), into <DataDir>/model-cache/<sha256 of the URI>; the
// replicas get MODEL_LOCAL_PATH=<that dir>.

const (
	envModelURI  = "MLFLOW_MODEL_URI"
	envModelPath = "MODEL_LOCAL_PATH"
	cacheDirName = "model-cache"
)

// fetchLock serialises fetches of one cache key; gen counts the fetches that completed under it.
type fetchLock struct {
	mu  sync.Mutex
	gen uint64 // guarded by mu
}

// modelCache holds the per-key locks.
type modelCache struct {
	mu    sync.Mutex
	locks map[string]*fetchLock
}

func (c *modelCache) lock(key string) *fetchLock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locks == nil {
		c.locks = map[string]*fetchLock{}
	}
	l, ok := c.locks[key]
	if !ok {
		l = &fetchLock{}
		c.locks[key] = l
	}
	return l
}

// fetchResult is the JSON line the runtime's fetch mode prints.
type fetchResult struct {
	Status     string  `json:"status"`
	Dest       string  `json:"dest"`
	Files      int64   `json:"files"`
	Bytes      int64   `json:"bytes"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error"`
}

// modelFetchError is a failed fetch; its message goes to the pods.
type modelFetchError struct{ msg string }

func (e *modelFetchError) Error() string { return "model fetch failed: " + e.msg }

// remoteModelURI reports whether the runtime would download uri (mirrors darwin_serve.fetch.local_path): local
// paths and file:// URIs are used in place.
func remoteModelURI(uri string) bool {
	if strings.HasPrefix(uri, "file://") {
		return false
	}
	scheme, _, found := strings.Cut(uri, ":")
	if strings.Contains(uri, "://") {
		return true
	}
	if !found {
		return false
	}
	switch scheme {
	case "mlflow-artifacts", "runs", "models", "s3", "gs", "dbfs":
		return true
	}
	return false
}

// immutableModelURI reports whether uri always names the same files: mlflow-artifacts:/…, runs:/…, and
// models:/<name>/<version number>. Stages (models:/<name>/Production), aliases (models:/<name>@champion),
// models:/<name>/latest and anything else may move and are fetched again on every deployment.
func immutableModelURI(uri string) bool {
	scheme, rest, _ := strings.Cut(uri, ":")
	switch scheme {
	case "mlflow-artifacts", "runs":
		return true
	case "models":
		parts := strings.Split(strings.Trim(rest, "/"), "/")
		if len(parts) != 2 || parts[0] == "" || strings.Contains(parts[0], "@") || parts[1] == "" {
			return false
		}
		for _, c := range parts[1] {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	return false
}

func envValue(env []driver.EnvVar, name string) (string, bool) {
	for _, e := range env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func (s *Serves) cacheRoot() string { return filepath.Join(s.cfg.DataDir, cacheDirName) }

// ModelCacheDir is the cache directory of a model URI: <DataDir>/model-cache/<hex sha256 of the URI>.
func (s *Serves) ModelCacheDir(uri string) string {
	sum := sha256.Sum256([]byte(uri))
	return filepath.Join(s.cacheRoot(), hex.EncodeToString(sum[:]))
}

// baseSpec drops a MODEL_LOCAL_PATH that prepareModel added (one pointing into the cache).
func (s *Serves) baseSpec(spec resource.ServeSpec) resource.ServeSpec {
	v, ok := envValue(spec.Env, envModelPath)
	if !ok || !strings.HasPrefix(v, s.cacheRoot()+string(filepath.Separator)) {
		return spec
	}
	spec.Env = slices.DeleteFunc(slices.Clone(spec.Env), func(e driver.EnvVar) bool { return e.Name == envModelPath })
	return spec
}

// prepareModel fetches the deployment's model into the cache when its env has a remote MLFLOW_MODEL_URI and no
// MODEL_LOCAL_PATH, and returns the spec with MODEL_LOCAL_PATH set to the cache directory (MLFLOW_MODEL_URI
// stays, for information). Other specs come back unchanged. A complete entry of an immutable URI is reused;
// one fetched while this call waited for the key's lock is reused too (concurrent deployments share a fetch).
// Errors are *modelFetchError.
func (s *Serves) prepareModel(id string, spec resource.ServeSpec) (resource.ServeSpec, error) {
	if !s.needsFetch(spec) {
		return spec, nil
	}
	uri, _ := envValue(spec.Env, envModelURI)
	dir := s.ModelCacheDir(uri)
	key := filepath.Base(dir)
	l := s.cache.lock(key)
	s.cache.mu.Lock()
	seen := l.gen
	s.cache.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	s.cache.mu.Lock()
	fetchedMeanwhile := l.gen != seen
	s.cache.mu.Unlock()
	withPath := func() resource.ServeSpec {
		out := spec
		out.Env = append(slices.Clone(spec.Env), driver.EnvVar{Name: envModelPath, Value: dir})
		slices.SortStableFunc(out.Env, func(a, b driver.EnvVar) int { return strings.Compare(a.Name, b.Name) })
		return out
	}
	if cacheComplete(dir) && (fetchedMeanwhile || immutableModelURI(uri)) {
		s.logger.Info("model cache hit", "resource_id", id, "uri", uri, "dir", dir)
		return withPath(), nil
	}
	res, err := s.runFetch(spec, uri, dir)
	if err != nil {
		s.logger.Warn("model fetch failed", "resource_id", id, "uri", uri, "err", err)
		return spec, err
	}
	s.cache.mu.Lock()
	l.gen++
	s.cache.mu.Unlock()
	_ = fsutil.WriteJSONAtomic(dir+".json", map[string]any{"uri": uri, "fetched_at": s.clk.Now().UTC(),
		"files": res.Files, "bytes": res.Bytes, "immutable": immutableModelURI(uri)})
	s.logger.Info("model fetched", "resource_id", id, "uri", uri, "dir", dir, "files", res.Files, "bytes", res.Bytes,
		"duration", time.Duration(res.DurationMS*float64(time.Millisecond)).Round(time.Millisecond))
	return withPath(), nil
}

// cacheComplete: the fetch mode renames a complete download into place, so a directory with an MLmodel file
// is a complete entry.
func cacheComplete(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "MLmodel"))
	return err == nil && fi.Mode().IsRegular()
}

// runFetch runs the runtime's fetch mode with the deployment's environment.
func (s *Serves) runFetch(spec resource.ServeSpec, uri, dir string) (fetchResult, error) {
	if err := os.MkdirAll(s.cacheRoot(), 0o755); err != nil {
		return fetchResult{}, &modelFetchError{msg: fmt.Sprintf("create model cache: %v", err)}
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.FetchTimeout)
	defer cancel()
	args := append(append([]string{}, s.cfg.RuntimeCommand[1:]...), "fetch", "--model-uri", uri, "--dest", dir)
	cmd := exec.CommandContext(ctx, s.cfg.RuntimeCommand[0], args...)
	cmd.Dir = s.cacheRoot()
	cmd.Env = fetchEnv(spec)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	var res fetchResult
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	jsonErr := json.Unmarshal([]byte(lines[len(lines)-1]), &res)
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return res, &modelFetchError{msg: fmt.Sprintf("%s: not done within %s", uri, s.cfg.FetchTimeout)}
	case ctx.Err() != nil:
		return res, &modelFetchError{msg: fmt.Sprintf("%s: cluster-manager is shutting down", uri)}
	case runErr == nil && jsonErr == nil && res.Status == "ok" && cacheComplete(dir):
		return res, nil
	case jsonErr == nil && res.Status == "error" && res.Error != "":
		return res, &modelFetchError{msg: res.Error}
	}
	why := strings.TrimSpace(lastLines(stderr.String(), 3))
	if runErr != nil {
		_, msg := exitStatus(runErr)
		why = strings.TrimSpace(msg + "; " + why)
	}
	if why == "" {
		why = fmt.Sprintf("unexpected fetch output %q", strings.TrimSpace(stdout.String()))
	}
	return res, &modelFetchError{msg: uri + ": " + why}
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	out := strings.Join(ls, "\n")
	if len(out) > 2048 {
		out = out[len(out)-2048:]
	}
	return out
}

// fetchEnv: the manager's environment without instance markers or model settings, then the values' envs.
func fetchEnv(spec resource.ServeSpec) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case envResourceID, envPodName, envClusterID, envModelPath, envModelURI, "MODEL_VERSION", "ROOT_PATH", "PORT", "HOST":
			continue
		}
		env = append(env, kv)
	}
	for _, e := range spec.Env {
		if e.Name == envResourceID || e.Name == envPodName {
			continue
		}
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// placeholderReplicas are replicas without a process in set (setFetch: Pending, setFailed: Failed) carrying msg.
func placeholderReplicas(id, artifactID string, n int, set, msg string) []ReplicaState {
	out := make([]ReplicaState, 0, n)
	for range n {
		out = append(out, ReplicaState{Name: id + "-" + randomSuffix() + "-" + randomSuffix(), Set: set,
			Artifact: artifactID, Message: msg})
	}
	return out
}

// needsFetch reports whether prepareModel would look at the cache for spec.
func (s *Serves) needsFetch(spec resource.ServeSpec) bool {
	uri, ok := envValue(spec.Env, envModelURI)
	_, hasPath := envValue(spec.Env, envModelPath)
	return ok && !hasPath && strings.TrimSpace(uri) != "" && remoteModelURI(uri)
}
