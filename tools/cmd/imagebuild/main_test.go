package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// repoRoot is the workspace root (this package is tools/cmd/imagebuild).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "services", "compute", "cmd", "compute")); err != nil {
		t.Fatalf("compute sources not found under %s: %v", root, err)
	}
	return root
}

// TestComputeImage builds the real compute binary the way scripts/build-images.sh does, makes its image with the
// CLI, loads the docker-save tarball back, checks the config and the filesystem, and runs the binary taken out of
// the image's layers.
func TestComputeImage(t *testing.T) {
	if runtime.GOOS != "linux" {
		if os.Getenv("DARWIN_TEST_REQUIRE_ALL") == "1" {
			t.Fatalf("%s: cannot run here, and DARWIN_TEST_REQUIRE_ALL=1", "runs the linux binary from the image")
		}
		t.Skip("runs the linux binary from the image")
	}
	root := repoRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "compute")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", bin, "./services/compute/cmd/compute")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build compute: %v\n%s", err, out)
	}

	certs := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "compute.tar")
	ociDir := filepath.Join(dir, "oci")
	var stdout, stderr bytes.Buffer
	err := run([]string{
		"-binary", bin, "-name", "darwin/compute", "-tag", "dev",
		"-entrypoint", "/usr/local/bin/compute", "-healthcheck", "healthcheck", "-port", "8000", "-port", "9092/tcp",
		"-version", "v0.1.0-test", "-revision", "0123abcd", "-source", "https://example.invalid/darwin",
		"-label", "team=ml-platform", "-ca-certs", certs, "-o", out, "-oci-layout", ociDir,
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("imagebuild: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "darwin/compute:dev sha256:") {
		t.Errorf("stdout = %q", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(ociDir, "index.json")); err != nil {
		t.Errorf("OCI layout not written: %v", err)
	}

	tag, err := name.NewTag("darwin/compute:dev")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag) // fails unless the tarball carries this tag
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s", cf.OS, cf.Architecture)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/compute"}) || len(c.Cmd) != 0 {
		t.Errorf("Entrypoint = %q Cmd = %q", c.Entrypoint, c.Cmd)
	}
	if c.Healthcheck == nil || !slices.Equal(c.Healthcheck.Test, []string{"CMD", "/usr/local/bin/compute", "healthcheck"}) {
		t.Errorf("Healthcheck = %+v, want CMD /usr/local/bin/compute healthcheck", c.Healthcheck)
	}
	if c.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532", c.User)
	}
	if c.WorkingDir != "/home/darwin" {
		t.Errorf("WorkingDir = %q", c.WorkingDir)
	}
	if !slices.Contains(c.Env, "PATH=/usr/local/bin:/usr/bin:/bin") || !slices.Contains(c.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") {
		t.Errorf("Env = %q", c.Env)
	}
	if len(c.ExposedPorts) != 2 {
		t.Errorf("ExposedPorts = %v, want 8000/tcp and 9092/tcp", c.ExposedPorts)
	}
	for _, p := range []string{"8000/tcp", "9092/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("ExposedPorts = %v, missing %s", c.ExposedPorts, p)
		}
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.title":    "compute",
		"org.opencontainers.image.version":  "v0.1.0-test",
		"org.opencontainers.image.revision": "0123abcd",
		"org.opencontainers.image.source":   "https://example.invalid/darwin",
		"team":                              "ml-platform",
	}
	for k, v := range wantLabels {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("layers = %d, %v; want base + binary", len(layers), err)
	}

	// Unpack the flattened filesystem.
	rootfs := filepath.Join(dir, "rootfs")
	modes := extract(t, img, rootfs)
	passwd, err := os.ReadFile(filepath.Join(rootfs, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(passwd), "\ndarwin:x:65532:65532:darwin:/home/darwin:") {
		t.Errorf("/etc/passwd lacks the darwin user:\n%s", passwd)
	}
	if m := modes["usr/local/bin/compute"]; m != 0o755 {
		t.Errorf("binary mode in the layer = %o, want 755", m)
	}
	if m := modes["tmp"]; m != 0o1777 {
		t.Errorf("/tmp mode in the layer = %o, want 1777", m)
	}
	inImage := filepath.Join(rootfs, "usr", "local", "bin", "compute")
	st, err := os.Stat(inImage)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o755 {
		t.Errorf("extracted binary mode = %v, want 0755", st.Mode().Perm())
	}
	orig, _ := os.ReadFile(bin)
	got, _ := os.ReadFile(inImage)
	if !bytes.Equal(orig, got) {
		t.Errorf("binary in the image differs from the built one (%d vs %d bytes)", len(got), len(orig))
	}

	// compute -help prints the usage on stderr and exits 0 (pkg/app treats flag.ErrHelp as success).
	for _, helpFlag := range []string{"-help", "--help"} {
		cmd := exec.Command(inImage, helpFlag)
		cmd.Dir = rootfs
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		outb, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("compute %s from the image: %v\n%s", helpFlag, err, outb)
		}
		if !strings.Contains(string(outb), "Usage:") || !strings.Contains(string(outb), "-server.http-addr") {
			t.Errorf("compute %s output lacks the usage:\n%s", helpFlag, outb)
		}
	}

	// The image's health check command works: healthy against a server answering /healthz, failing otherwise.
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer healthy.Close()
	if outb, err := exec.Command(inImage, "healthcheck", healthy.URL+"/healthz").CombinedOutput(); err != nil {
		t.Errorf("healthcheck against a healthy server: %v\n%s", err, outb)
	}
	if outb, err := exec.Command(inImage, "healthcheck", healthy.URL+"/missing").CombinedOutput(); err == nil {
		t.Errorf("healthcheck against a 404 passed:\n%s", outb)
	}
}

// extract writes the image's flattened filesystem (mutate.Extract) under dir and returns each entry's mode bits
// (with the sticky bit) as the layers record them, since files written here are subject to the umask.
func extract(t *testing.T, img v1.Image, dir string) map[string]int64 {
	t.Helper()
	modes := map[string]int64{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return modes
		}
		if err != nil {
			t.Fatal(err)
		}
		rel := filepath.Clean(strings.TrimSuffix(h.Name, "/"))
		if !filepath.IsLocal(rel) {
			t.Fatalf("unsafe path %q in the image", h.Name)
		}
		modes[rel] = h.Mode & 0o7777
		target := filepath.Join(dir, rel)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode&0o777))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(target, os.FileMode(h.Mode&0o777)); err != nil { // not subject to the umask
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected entry type %c for %s", h.Typeflag, h.Name)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-binary", "x"},
		{"-binary", "x", "-name", "darwin/x"},
		{"-binary", "x", "-name", "darwin/x", "-o", "x.tar", "extra"},
		{"-binary", "x", "-name", "darwin/x", "-o", "x.tar", "-label", "novalue"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(args, &stdout, &stderr); err == nil {
			t.Errorf("run(%q) succeeded, want a usage error", args)
		}
	}
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-help"}, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "-oci-layout") {
		t.Errorf("run(-help) = %v, stderr %q", err, stderr.String())
	}
}
