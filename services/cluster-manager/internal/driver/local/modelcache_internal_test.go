package local

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

func TestModelURIKinds(t *testing.T) {
	cases := []struct {
		uri               string
		remote, immutable bool
	}{
		{"mlflow-artifacts:/1/abc/artifacts/model", true, true},
		{"mlflow-artifacts://host:5000/1/abc/artifacts/model", true, true},
		{"runs:/abc/model", true, true},
		{"models:/iris/3", true, true},
		{"models:/iris/Production", true, false},
		{"models:/iris/latest", true, false},
		{"models:/iris@champion", true, false},
		{"models:/iris/3/extra", true, false},
		{"models:/iris", true, false},
		{"s3://bucket/model", true, false},
		{"file:///srv/models/iris", false, false},
		{"/srv/models/iris", false, false},
		{"relative/dir", false, false},
	}
	for _, c := range cases {
		if got := remoteModelURI(c.uri); got != c.remote {
			t.Errorf("remoteModelURI(%q) = %v", c.uri, got)
		}
		if got := immutableModelURI(c.uri); got != c.immutable {
			t.Errorf("immutableModelURI(%q) = %v", c.uri, got)
		}
	}
}

// fakeFetcher is a RuntimeCommand whose fetch mode writes <dest>/MLmodel after a pause and counts its runs in
// a file; a URI containing "broken" fails like the runtime does, one containing "mute" fails without output.
const fakeFetcher = `#!/bin/sh
[ "$1" = fetch ] || exit 3
uri=$3 dest=$5
echo "$uri" >> "$COUNT_FILE"
sleep 0.3
case "$uri" in
*broken*) echo '{"status":"error","model_uri":"'"$uri"'","error":"GET /x answered HTTP 404: gone"}'; exit 1 ;;
*mute*) echo "traceback: boom" >&2; exit 7 ;;
esac
mkdir -p "$dest.tmp" && echo "flavors: {}" > "$dest.tmp/MLmodel" && rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo '{"status":"ok","model_uri":"'"$uri"'","dest":"'"$dest"'","files":1,"bytes":12,"duration_ms":300}'
`

func TestPrepareModel(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "runtime.sh")
	if err := os.WriteFile(script, []byte(fakeFetcher), 0o755); err != nil {
		t.Fatal(err)
	}
	count := filepath.Join(dir, "count")
	t.Setenv("COUNT_FILE", count)
	s, err := NewServes(ServeConfig{DataDir: filepath.Join(dir, "data"), RuntimeCommand: []string{"/bin/sh", script}}, nil, clock.Real())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	fetches := func(uri string) int {
		data, _ := os.ReadFile(count)
		n := 0
		for _, l := range strings.Split(string(data), "\n") {
			if l == uri {
				n++
			}
		}
		return n
	}
	spec := func(uri string, extra ...driver.EnvVar) resource.ServeSpec {
		return resource.ServeSpec{Name: "x", Replicas: 1, Env: append([]driver.EnvVar{{Name: "MLFLOW_MODEL_URI", Value: uri}, {Name: "A", Value: "1"}}, extra...)}
	}
	check := func(got resource.ServeSpec, uri string) {
		t.Helper()
		p, ok := envValue(got.Env, "MODEL_LOCAL_PATH")
		if !ok || p != s.ModelCacheDir(uri) {
			t.Fatalf("MODEL_LOCAL_PATH = %q %v, want %s", p, ok, s.ModelCacheDir(uri))
		}
		if u, _ := envValue(got.Env, "MLFLOW_MODEL_URI"); u != uri {
			t.Fatalf("MLFLOW_MODEL_URI dropped: %v", got.Env)
		}
		if got.Env[0].Name != "A" || s.baseSpec(got).Env[len(got.Env)-2].Name != "MLFLOW_MODEL_URI" {
			t.Fatalf("env not sorted / baseSpec wrong: %v", got.Env)
		}
	}

	// Immutable: fetched once, then reused.
	for range 3 {
		got, err := s.prepareModel("r", spec("models:/m/3"))
		if err != nil {
			t.Fatal(err)
		}
		check(got, "models:/m/3")
	}
	if n := fetches("models:/m/3"); n != 1 {
		t.Fatalf("immutable URI fetched %d times", n)
	}

	// Moving: every deployment fetches again, but deployments waiting on a fetch in progress share it.
	moving := "models:/m/Production"
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.prepareModel("r", spec(moving))
			if err != nil {
				t.Error(err)
				return
			}
			check(got, moving)
		}()
	}
	wg.Wait()
	if n := fetches(moving); n != 1 {
		t.Fatalf("3 concurrent deployments of a moving URI fetched %d times, want 1", n)
	}
	if _, err := s.prepareModel("r", spec(moving)); err != nil {
		t.Fatal(err)
	}
	if n := fetches(moving); n != 2 {
		t.Fatalf("a later deployment of a moving URI fetched %d times in all, want 2", n)
	}

	// Untouched: local URIs, an explicit MODEL_LOCAL_PATH, no URI.
	for _, sp := range []resource.ServeSpec{spec("/srv/model"), spec("file:///srv/model"), spec("runs:/abc/m", driver.EnvVar{Name: "MODEL_LOCAL_PATH", Value: "/m"}), {Name: "x", Replicas: 1}} {
		got, err := s.prepareModel("r", sp)
		if err != nil || len(got.Env) != len(sp.Env) {
			t.Fatalf("prepareModel(%v) = %v, %v", sp.Env, got.Env, err)
		}
	}
	if fetches("runs:/abc/m") != 0 {
		t.Fatal("fetched despite MODEL_LOCAL_PATH")
	}

	// Failures carry the fetch's message.
	start := time.Now()
	_, err = s.prepareModel("r", spec("runs:/broken/m"))
	if err == nil || err.Error() != "model fetch failed: GET /x answered HTTP 404: gone" {
		t.Fatalf("broken: %v", err)
	}
	_, err = s.prepareModel("r", spec("runs:/mute/m"))
	if err == nil || !strings.Contains(err.Error(), "code 7") || !strings.Contains(err.Error(), "traceback: boom") {
		t.Fatalf("mute: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("failures took too long")
	}
	if _, err := os.Stat(s.ModelCacheDir("runs:/broken/m")); err == nil {
		t.Fatal("a failed fetch left a cache entry")
	}

	// A fetch past FetchTimeout is killed.
	s.cfg.FetchTimeout = 100 * time.Millisecond
	_, err = s.prepareModel("r", spec("runs:/slow/m"))
	if err == nil || !strings.Contains(err.Error(), "not done within") {
		t.Fatalf("timeout: %v", err)
	}
}

// FuzzModelURIKinds: the classification never panics, an immutable URI is always remote, and the cache
// directory is always one level under <data-dir>/model-cache.
func FuzzModelURIKinds(f *testing.F) {
	for _, seed := range []string{"mlflow-artifacts:/1/a/artifacts/m", "runs:/abc/m", "models:/m/3", "models:/m/Production",
		"models:/m@alias", "file:///x", "/x", "", "models:", "models:/", "models://3", "s3://b/k", "runs:", ":"} {
		f.Add(seed)
	}
	s := &Serves{cfg: ServeConfig{DataDir: "/data"}}
	f.Fuzz(func(t *testing.T, uri string) {
		if immutableModelURI(uri) && !remoteModelURI(uri) {
			t.Fatalf("%q immutable but not remote", uri)
		}
		if d := s.ModelCacheDir(uri); filepath.Dir(d) != "/data/model-cache" || len(filepath.Base(d)) != 64 {
			t.Fatalf("cache dir %q", d)
		}
	})
}
