package builder_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/artifact-builder/internal/builder"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
)

// newRegistry starts an in-process OCI registry and returns its host:port.
func newRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(stdlog.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// files reads every regular file of an image's layer.
func layerFiles(t *testing.T, l v1.Layer) map[string]string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			out[h.Name] = string(b)
		}
	}
}

func pull(t *testing.T, ref string) (v1.Image, *v1.ConfigFile) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return img, cf
}

func writeModelDir(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(root, "iris")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"MLmodel": "flavors: {}\n", "data/model.pkl": "weights", "conda.yaml": "deps"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "leak")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestModelImageFromDirOnScratch(t *testing.T) {
	reg := newRegistry(t)
	root := t.TempDir()
	dir := writeModelDir(t, root)
	b := &builder.ModelImage{Registry: reg + "/darwin", ModelRoot: root}
	req := domain.ModelRequest{AppName: "iris", ImageTag: "iris_v1", ModelDir: dir, Entrypoint: []string{"/serve", "--port", "8000"}}
	if err := b.Check(req); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ref, err := b.Build(t.Context(), domain.Task{TaskID: domain.NewTaskID(), Kind: domain.KindModel, AppName: "iris", ImageTag: "iris_v1",
		Params: domain.BuildParams{ModelDir: dir, Entrypoint: req.Entrypoint}}, &log)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	if ref != reg+"/darwin/iris:iris_v1" {
		t.Fatalf("ref %q", ref)
	}
	img, cf := pull(t, ref)
	layers, _ := img.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers", len(layers))
	}
	files := layerFiles(t, layers[0])
	want := map[string]string{"opt/model/MLmodel": "flavors: {}\n", "opt/model/data/model.pkl": "weights", "opt/model/conda.yaml": "deps"}
	if len(files) != len(want) {
		t.Fatalf("files %v", files)
	}
	for k, v := range want {
		if files[k] != v {
			t.Fatalf("%s = %q (files %v)", k, files[k], files)
		}
	}
	if !slices.Contains(cf.Config.Env, "MODEL_LOCAL_PATH=/opt/model") || !slices.Equal(cf.Config.Entrypoint, req.Entrypoint) ||
		cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Fatalf("config %+v", cf.Config)
	}
	if !strings.Contains(log.String(), "skipping leak") || !strings.Contains(log.String(), "pushed "+ref+"@sha256:") {
		t.Fatalf("log:\n%s", log.String())
	}
}

func tgz(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if strings.HasPrefix(n, "link:") {
			_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(n, "link:"), Linkname: entries[n]})
			continue
		}
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Size: int64(len(entries[n])), Mode: 0o644})
		_, _ = tw.Write([]byte(entries[n]))
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

func TestModelImageFromURLOnPulledBase(t *testing.T) {
	reg := newRegistry(t)
	// A base image with a runtime layer, an entrypoint and an environment, pushed to the registry first.
	baseLayer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "usr/bin/serve", Size: 2, Mode: 0o755})
		_, _ = tw.Write([]byte("#!"))
		_ = tw.Close()
		return io.NopCloser(&buf), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	base, err := mutate.AppendLayers(empty.Image, baseLayer)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := base.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = []string{"/usr/bin/serve"}
	cf.Config.Cmd = []string{"--port", "8000"}
	cf.Config.Env = []string{"PATH=/usr/bin", "MODEL_LOCAL_PATH=/old"}
	base, _ = mutate.ConfigFile(base, cf)
	baseRef, _ := name.ParseReference(reg + "/runtime/serve-md-runtime:latest")
	if err := remote.Write(baseRef, base, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}

	archive := tgz(t, map[string]string{"model/MLmodel": "m", "../../escape.txt": "contained", "link:evil": "/etc/passwd"})
	models := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/iris.tar.gz":
			_, _ = w.Write(archive)
		case "/model.pkl":
			_, _ = w.Write([]byte("pickle"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer models.Close()

	b := &builder.ModelImage{Registry: reg + "/darwin"}
	var log bytes.Buffer
	task := domain.Task{TaskID: domain.NewTaskID(), AppName: "iris", ImageTag: "v2",
		Params: domain.BuildParams{ModelURI: models.URL + "/iris.tar.gz", BaseImage: baseRef.String()}}
	ref, err := b.Build(t.Context(), task, &log)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	img, got := pull(t, ref)
	layers, _ := img.Layers()
	if len(layers) != 2 {
		t.Fatalf("%d layers, want base + model", len(layers))
	}
	if f := layerFiles(t, layers[0]); f["usr/bin/serve"] != "#!" {
		t.Fatalf("base layer %v", f)
	}
	files := layerFiles(t, layers[1])
	if files["opt/model/model/MLmodel"] != "m" || files["opt/model/escape.txt"] != "contained" || len(files) != 2 {
		t.Fatalf("model layer %v", files)
	}
	if !slices.Equal(got.Config.Entrypoint, []string{"/usr/bin/serve"}) || !slices.Equal(got.Config.Cmd, []string{"--port", "8000"}) ||
		!slices.Equal(got.Config.Env, []string{"PATH=/usr/bin", "MODEL_LOCAL_PATH=/opt/model"}) {
		t.Fatalf("config %+v", got.Config)
	}
	if got.Config.Labels["io.darwin.artifact-builder.task"] != task.TaskID {
		t.Fatalf("labels %v", got.Config.Labels)
	}

	// A plain file is stored under its name.
	task.ImageTag, task.Params = "v3", domain.BuildParams{ModelURI: models.URL + "/model.pkl"}
	ref, err = b.Build(t.Context(), task, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	img, _ = pull(t, ref)
	layers, _ = img.Layers()
	if f := layerFiles(t, layers[0]); f["opt/model/model.pkl"] != "pickle" {
		t.Fatalf("single file %v", f)
	}

	// Failures: 404 download, size limit, unreachable base image, cancelled context.
	task.Params = domain.BuildParams{ModelURI: models.URL + "/missing.tgz"}
	if _, err := b.Build(t.Context(), task, io.Discard); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing model: %v", err)
	}
	small := &builder.ModelImage{Registry: reg + "/darwin", MaxModelBytes: 3}
	task.Params = domain.BuildParams{ModelURI: models.URL + "/model.pkl"}
	if _, err := small.Build(t.Context(), task, io.Discard); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("size limit: %v", err)
	}
	task.Params = domain.BuildParams{ModelURI: models.URL + "/model.pkl", BaseImage: reg + "/nope/missing:1"}
	if _, err := b.Build(t.Context(), task, io.Discard); err == nil || !strings.Contains(err.Error(), "pull base image") {
		t.Fatalf("missing base: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Build(ctx, task, io.Discard); err == nil {
		t.Fatal("cancelled build succeeded")
	}
}

func TestCheck(t *testing.T) {
	root := t.TempDir()
	dir := writeModelDir(t, root)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "sneaky")); err != nil {
		t.Fatal(err)
	}
	b := &builder.ModelImage{Registry: "localhost:5000/darwin", ModelRoot: root}
	for _, tc := range []struct {
		req   domain.ModelRequest
		field string
	}{
		{domain.ModelRequest{AppName: "a", ImageTag: "t", ModelDir: dir}, ""},
		{domain.ModelRequest{AppName: "a", ImageTag: "t", ModelDir: outside}, "model_dir"},
		{domain.ModelRequest{AppName: "a", ImageTag: "t", ModelDir: filepath.Join(root, "sneaky")}, "model_dir"},
		{domain.ModelRequest{AppName: "a", ImageTag: "t", ModelDir: filepath.Join(root, "nope")}, "model_dir"},
		{domain.ModelRequest{AppName: "a", ImageTag: "t", ModelDir: filepath.Join(dir, "MLmodel")}, "model_dir"},
		{domain.ModelRequest{AppName: "a", ImageTag: "t", ModelURI: "http://h/m", BaseImage: "UPPER/Case::x"}, "base_image"},
		{domain.ModelRequest{AppName: "a", ImageTag: "t", ModelURI: "http://h/m", BaseImage: "python:3.11-slim"}, ""},
	} {
		err := b.Check(tc.req)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.req, err)
			}
			continue
		}
		if e := apierr.From(err); err == nil || e.Kind != apierr.InvalidArgument || e.Field != tc.field {
			t.Errorf("%+v: %v, want InvalidArgument on %s", tc.req, err, tc.field)
		}
	}
	noRoot := &builder.ModelImage{Registry: "localhost:5000/darwin"}
	if err := noRoot.Check(domain.ModelRequest{AppName: "a", ImageTag: "t", ModelDir: dir}); apierr.From(err).Field != "model_dir" {
		t.Fatalf("model_dir without root: %v", err)
	}
	if err := (&builder.ModelImage{Registry: "bad registry"}).ValidateConfig(); err == nil {
		t.Fatal("bad registry accepted")
	}
}

func TestUnconfigured(t *testing.T) {
	var log bytes.Buffer
	_, err := builder.Unconfigured{Reason: builder.NoKubernetesBuilder}.Build(t.Context(), domain.Task{Kind: domain.KindDockerfile, AppName: "a", ImageTag: "t"}, &log)
	if err == nil || !strings.HasPrefix(err.Error(), "needs a builder: no Kubernetes builder is configured (") || !strings.Contains(log.String(), "cannot run") {
		t.Fatalf("%v %q", err, log.String())
	}
}
