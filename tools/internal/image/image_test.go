package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const hello = `package main

import "fmt"

func main() { fmt.Println("hello from the image") }
`

// buildGo builds a one-file Go program outside the workspace; cgo selects CGO_ENABLED and, with cgo, an
// import of "C" so the result links against libc.
func buildGo(t *testing.T, src string, cgo bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "prog")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", out, "main.go")
	cmd.Dir = dir
	cgoEnv := "CGO_ENABLED=0"
	if cgo {
		cgoEnv = "CGO_ENABLED=1"
	}
	cmd.Env = append(os.Environ(), cgoEnv, "GOWORK=off", "GOOS=linux", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func TestStaticBinaryAccepted(t *testing.T) {
	bin := buildGo(t, hello, false)
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	arch, err := CheckStatic(b)
	if err != nil {
		t.Fatalf("CheckStatic(static Go binary) = %v", err)
	}
	if arch != runtime.GOARCH {
		t.Errorf("arch = %q, want %q", arch, runtime.GOARCH)
	}
}

// A dynamically linked binary cannot start on the libc-less base: Build refuses it unless AllowDynamic, which
// turns the refusal into a warning.
func TestDynamicBinaryRejected(t *testing.T) {
	var bin string
	if _, err := exec.LookPath("gcc"); err == nil {
		bin = buildGo(t, "package main\n\n// int answer(void) { return 42; }\nimport \"C\"\n\nfunc main() { println(C.answer()) }\n", true)
	} else if _, err := os.Stat("/bin/true"); err == nil {
		bin = "/bin/true" // Debian's coreutils are dynamically linked
	} else {
		if os.Getenv("DARWIN_TEST_REQUIRE_ALL") == "1" {
			t.Fatalf("%s: cannot run here, and DARWIN_TEST_REQUIRE_ALL=1", "no C compiler and no /bin/true: no dynamic binary to test with")
		}
		t.Skip("no C compiler and no /bin/true: no dynamic binary to test with")
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckStatic(b); !errors.Is(err, ErrNotStatic) {
		t.Fatalf("CheckStatic(%s) = %v, want ErrNotStatic", bin, err)
	}
	spec := Spec{Binary: bin, Name: "darwin/dyn", CACerts: ""}
	if _, err := Build(spec); !errors.Is(err, ErrNotStatic) {
		t.Fatalf("Build(dynamic) = %v, want ErrNotStatic", err)
	}
	spec.AllowDynamic = true
	res, err := Build(spec)
	if err != nil {
		t.Fatalf("Build(dynamic, AllowDynamic) = %v", err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "not statically linked") {
		t.Errorf("warnings = %q, want one about static linking", res.Warnings)
	}
}

func TestNonELFRejected(t *testing.T) {
	script := filepath.Join(t.TempDir(), "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Build(Spec{Binary: script, Name: "darwin/script"})
	if err == nil || !strings.Contains(err.Error(), "not a Linux ELF") {
		t.Fatalf("Build(shell script) = %v, want a not-ELF error", err)
	}
}

func TestBadInputs(t *testing.T) {
	bin := buildGo(t, hello, false)
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"no name", Spec{Binary: bin}, "required"},
		{"relative entrypoint", Spec{Binary: bin, Name: "x", Entrypoint: "bin/x"}, "entrypoint"},
		{"bad port", Spec{Binary: bin, Name: "x", Ports: []string{"80/icmp"}}, "bad port"},
		{"port out of range", Spec{Binary: bin, Name: "x", Ports: []string{"70000"}}, "bad port"},
		{"bad name", Spec{Binary: bin, Name: "Darwin/UPPER"}, "bad name"},
		{"missing CA bundle", Spec{Binary: bin, Name: "x", CACerts: filepath.Join(t.TempDir(), "none.pem")}, "CA certificates"},
	} {
		if _, err := Build(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Build = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// The same inputs give the same image digest (fixed times, owners and file order), so rebuilding an unchanged
// binary does not produce a new image.
func TestReproducible(t *testing.T) {
	bin := buildGo(t, hello, false)
	spec := Spec{Binary: bin, Name: "darwin/hello", Ports: []string{"8000"}, Labels: map[string]string{"a": "b"}}
	var digests []string
	for range 2 {
		res, err := Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		d, err := res.Image.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		t.Errorf("digests differ: %v", digests)
	}
}

// The tarball and the OCI layout hold the same image; the base layer has the user, /tmp with the sticky bit and
// a home owned by the user; label overrides win over the defaults.
func TestWriteTarballAndLayout(t *testing.T) {
	bin := buildGo(t, hello, false)
	dir := t.TempDir()
	certs := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Build(Spec{Binary: bin, Name: "darwin/hello", Tag: "v1", CACerts: certs, Args: []string{"up"},
		Labels: map[string]string{LabelTitle: "Hello", "team": "ml"}, Revision: "abc123"})
	if err != nil {
		t.Fatal(err)
	}
	tarPath, ociDir := filepath.Join(dir, "hello.tar"), filepath.Join(dir, "oci")
	if err := res.WriteTarball(tarPath); err != nil {
		t.Fatal(err)
	}
	if err := res.WriteLayout(ociDir); err != nil {
		t.Fatal(err)
	}
	fromTar, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(ociDir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1" ||
		im.Manifests[0].Annotations["io.containerd.image.name"] != "docker.io/darwin/hello:v1" {
		t.Fatalf("OCI index = %+v", im.Manifests)
	}
	fromLayout, err := p.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf1, err := fromTar.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf2, err := fromLayout.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if d1, d2 := cf1.RootFS.DiffIDs, cf2.RootFS.DiffIDs; len(d1) != 2 || len(d2) != 2 || d1[0] != d2[0] || d1[1] != d2[1] {
		t.Errorf("layers differ between tarball %v and layout %v", d1, d2)
	}
	l := cf1.Config.Labels
	if l[LabelTitle] != "Hello" || l["team"] != "ml" || l[LabelRevision] != "abc123" || l[LabelVersion] != "dev" {
		t.Errorf("labels = %v", l)
	}
	if _, ok := l[LabelSource]; ok {
		t.Errorf("empty Source still labelled: %v", l)
	}
	if got := strings.Join(cf1.Config.Cmd, " "); got != "up" {
		t.Errorf("Cmd = %q, want up", got)
	}

	headers := map[string]*tar.Header{}
	files := map[string]string{}
	rc := mutate.Extract(fromTar)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		headers[strings.TrimSuffix(h.Name, "/")] = h
		if h.Typeflag == tar.TypeReg && h.Size < 1<<16 {
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
		}
	}
	if h := headers["tmp"]; h == nil || h.Mode&0o7777 != 0o1777 {
		t.Errorf("/tmp header = %+v, want mode 1777", h)
	}
	if h := headers["home/darwin"]; h == nil || h.Uid != UID || h.Gid != GID {
		t.Errorf("/home/darwin header = %+v, want owned by %d:%d", h, UID, GID)
	}
	if h := headers["usr/local/bin/prog"]; h == nil || h.Mode&0o777 != 0o755 || h.Uid != 0 {
		t.Errorf("binary header = %+v, want root-owned 0755", h)
	}
	if !strings.Contains(files["etc/group"], "darwin:x:65532:") {
		t.Errorf("/etc/group = %q", files["etc/group"])
	}
	if !strings.Contains(files["etc/ssl/certs/ca-certificates.crt"], "fake") {
		t.Errorf("CA bundle not copied: %q", files["etc/ssl/certs/ca-certificates.crt"])
	}
}
