package artifactbuilder_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/darwinml/darwin/pkg/testutil"
	artifactbuilder "github.com/darwinml/darwin/services/artifact-builder"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
)

func defaults(t *testing.T) artifactbuilder.Config {
	t.Helper()
	var cfg artifactbuilder.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestConfig(t *testing.T) {
	cfg := defaults(t)
	if cfg.Registry != "localhost:5000/darwin" || cfg.Concurrency != 2 || cfg.PollInterval != 5*time.Second || !cfg.Worker ||
		cfg.PublicURL != "http://localhost/artifact-builder" || !strings.HasSuffix(cfg.DSN(), "artifact-builder.db") {
		t.Fatalf("defaults %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mut := range []func(*artifactbuilder.Config){
		func(c *artifactbuilder.Config) { c.Registry = "" },
		func(c *artifactbuilder.Config) { c.Registry = "Bad Registry" },
		func(c *artifactbuilder.Config) { c.PublicURL = "ftp://x" },
		func(c *artifactbuilder.Config) { c.DB.DSN = "oracle://x" },
		func(c *artifactbuilder.Config) { c.ModelRoot = "/does/not/exist" },
		func(c *artifactbuilder.Config) { c.Concurrency = -1 },
	} {
		c := cfg
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

type client struct {
	t    *testing.T
	base string
}

func (c client) json(method, path, ctype, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func (c client) text(path string) string {
	c.t.Helper()
	res, err := http.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestEndToEnd runs the service (SQLite, worker on) with an in-process registry: a model build goes
// waiting → running → completed and its image can be pulled; a Dockerfile build fails for want of a builder.
func TestEndToEnd(t *testing.T) {
	regSrv := httptest.NewServer(registry.New(registry.Logger(stdlog.New(io.Discard, "", 0))))
	defer regSrv.Close()
	reg := strings.TrimPrefix(regSrv.URL, "http://")

	root := t.TempDir()
	model := filepath.Join(root, "iris")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, "MLmodel"), []byte("artifact_path: model\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cfg := defaults(t)
	cfg.DataDir = t.TempDir()
	cfg.Registry = reg + "/darwin"
	cfg.ModelRoot = root
	cfg.PollInterval = 20 * time.Millisecond
	svc, err := artifactbuilder.New(cfg, artifactbuilder.Deps{Owner: "test-replica"})
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = mod.Stop(t.Context())
		}
	}()
	r := chi.NewRouter()
	r.Route("/artifact-builder", svc.RegisterHTTP)
	svc.RegisterHTTP(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	c := client{t, srv.URL + "/artifact-builder"}

	code, body := c.json(http.MethodPost, "/build_model_image", "application/json",
		`{"app_name":"iris","image_tag":"iris_v1","model_dir":"`+model+`","entrypoint":["/serve"]}`)
	id, _ := body["task_id"].(string)
	if code != 200 || id == "" {
		t.Fatalf("submit: %d %v", code, body)
	}
	form := url.Values{"app_name": {"iris"}, "image_tag": {"iris_v2"}, "git_repo": {"https://github.com/o/r"}}.Encode()
	code, body = c.json(http.MethodPost, "/build_with_dockerfile", "application/x-www-form-urlencoded", form)
	dfID, _ := body["task_id"].(string)
	if code != 200 || dfID == "" {
		t.Fatalf("submit dockerfile: %d %v", code, body)
	}
	var final map[string]any
	testutil.Eventually(t, 30*time.Second, func() bool {
		_, final = c.json(http.MethodGet, "/task/status?task_id="+id, "", "")
		return final["build_status"] == "completed" || final["build_status"] == "failed"
	}, "model build did not finish")
	want := reg + "/darwin/iris:iris_v1"
	if final["build_status"] != "completed" || final["image_url"] != want {
		t.Fatalf("status %v\nlogs:\n%s", final, c.text("/static/"+id+".log"))
	}
	logs := c.text("/static/" + id + ".log")
	for _, s := range []string{"model build of iris:iris_v1 started", "model layer: 1 files", "pushed " + want + "@sha256:", "build completed"} {
		if !strings.Contains(logs, s) {
			t.Fatalf("log lacks %q:\n%s", s, logs)
		}
	}
	ref, _ := name.ParseReference(want)
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	if !slices.Contains(cf.Config.Env, "MODEL_LOCAL_PATH=/opt/model") || !slices.Equal(cf.Config.Entrypoint, []string{"/serve"}) {
		t.Fatalf("pushed config %+v", cf.Config)
	}

	testutil.Eventually(t, 30*time.Second, func() bool {
		_, final = c.json(http.MethodGet, "/task/status?task_id="+dfID, "", "")
		return final["build_status"] == "failed"
	}, "dockerfile build did not fail")
	if msg, _ := final["message"].(string); !strings.HasPrefix(msg, "needs a builder: no Kubernetes builder is configured (") {
		t.Fatalf("dockerfile message %q", msg)
	}
	code, body = c.json(http.MethodGet, "/task", "", "")
	if data, _ := body["data"].([]any); code != 200 || len(data) != 2 {
		t.Fatalf("list %d %v", code, body)
	}
	// model_dir outside the model root is refused up front.
	if code, body = c.json(http.MethodPost, "/build_model_image", "application/json",
		`{"app_name":"iris","image_tag":"x","model_dir":"`+t.TempDir()+`"}`); code != 400 || body["field"] != "model_dir" {
		t.Fatalf("outside root: %d %v", code, body)
	}
	if err := mod.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	stopped = true
}

// gitBuilder stands in for a Kubernetes Dockerfile builder: it logs a line, then waits to be released.
type gitBuilder struct {
	started chan struct{}
	release chan struct{}
}

func (g gitBuilder) Build(ctx context.Context, t domain.Task, log io.Writer) (string, error) {
	fmt.Fprintf(log, "cloning %s@%s\n", t.Params.GitRepo, t.Params.Branch)
	close(g.started)
	select {
	case <-g.release:
		fmt.Fprintln(log, "pushed")
		return "registry/" + t.AppName + ":" + t.ImageTag, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// TestLogsServedWhileRunning reads a build's log over HTTP while the build is still running.
func TestLogsServedWhileRunning(t *testing.T) {
	cfg := defaults(t)
	cfg.DataDir = t.TempDir()
	cfg.PollInterval = 20 * time.Millisecond
	g := gitBuilder{started: make(chan struct{}), release: make(chan struct{})}
	svc, err := artifactbuilder.New(cfg, artifactbuilder.Deps{DockerfileBuilder: g})
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mod.Stop(context.Background()) }()
	r := chi.NewRouter()
	svc.RegisterHTTP(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	c := client{t, srv.URL}
	form := url.Values{"app_name": {"fraud"}, "image_tag": {"fraud_v1"}, "git_repo": {"https://github.com/o/fraud"}, "branch": {"dev"}}.Encode()
	_, body := c.json(http.MethodPost, "/build_with_dockerfile", "application/x-www-form-urlencoded", form)
	id, _ := body["task_id"].(string)
	<-g.started
	if _, st := c.json(http.MethodGet, "/task/status?task_id="+id, "", ""); st["build_status"] != "running" {
		t.Fatalf("status %v", st)
	}
	if logs := c.text("/static/" + id + ".log"); !strings.Contains(logs, "cloning https://github.com/o/fraud@dev\n") || strings.Contains(logs, "pushed") {
		t.Fatalf("running log %q", logs)
	}
	close(g.release)
	testutil.Eventually(t, 20*time.Second, func() bool {
		_, st := c.json(http.MethodGet, "/task/status?task_id="+id, "", "")
		return st["build_status"] == "completed"
	}, "build did not complete")
	if logs := c.text("/static/" + id + ".log"); !strings.Contains(logs, "pushed\n") || !strings.Contains(logs, "build completed: registry/fraud:fraud_v1") {
		t.Fatalf("final log %q", logs)
	}
}
