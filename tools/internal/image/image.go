// Package image assembles Darwin's service images without a Docker daemon or a registry: an empty base, one
// small "base" layer (a non-root user, CA certificates, /tmp) and one layer holding the static service binary.
// The result is an ordinary OCI image that can be written as a `docker save` tarball (docker load, kind load,
// ctr import) or as an OCI image layout directory (skopeo, crane, oras).
package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The runtime user of every image: distroless' "nonroot" numbers, so volumes and security contexts written
// for distroless images fit ours too.
const (
	UID      = 65532
	GID      = 65532
	User     = "darwin"
	HomeDir  = "/home/darwin"
	CertPath = "/etc/ssl/certs/ca-certificates.crt"
	// DefaultPath is the PATH of the image environment.
	DefaultPath = "/usr/local/bin:/usr/bin:/bin"
)

// Standard OCI annotation keys used as image labels.
const (
	LabelTitle    = "org.opencontainers.image.title"
	LabelVersion  = "org.opencontainers.image.version"
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
)

// ErrNotStatic is returned (wrapped) for a binary that needs a dynamic loader or shared libraries: the base has
// neither a libc nor a loader, so such a binary could not start in the image.
var ErrNotStatic = errors.New("binary is not statically linked")

// Spec describes one image.
type Spec struct {
	Binary     string            // path of the binary on this machine (required)
	Name       string            // repository, e.g. "darwin/compute" (required)
	Tag        string            // tag, default "dev"
	Entrypoint string            // where the binary goes in the image; default /usr/local/bin/<basename of Binary>
	Args       []string          // image Cmd: default arguments after the entrypoint
	Ports      []string          // exposed ports: "8000" (tcp) or "8000/tcp", "53/udp"
	Labels     map[string]string // extra labels; override the OCI labels built from the fields below
	Title      string            // org.opencontainers.image.title; default the last element of Name
	Version    string            // org.opencontainers.image.version; default "dev"
	Revision   string            // org.opencontainers.image.revision; omitted when empty
	Source     string            // org.opencontainers.image.source; omitted when empty
	Env        []string          // extra KEY=VALUE environment entries
	// Healthcheck, when not empty, are the arguments after the entrypoint of the image's health check
	// (e.g. ["healthcheck"] → CMD <entrypoint> healthcheck), run every 30 s with a 5 s timeout.
	Healthcheck []string
	CACerts     string    // CA bundle to copy to /etc/ssl/certs/ca-certificates.crt; "" omits it
	Created     time.Time // timestamp of the config and of every file; zero: the Unix epoch (reproducible)
	// AllowDynamic builds the image even when the binary is dynamically linked (Build then reports a warning
	// instead of failing with ErrNotStatic).
	AllowDynamic bool
}

// Result is a built image.
type Result struct {
	Image    v1.Image
	Ref      name.Tag
	Warnings []string
}

// Build assembles the image described by spec.
func Build(spec Spec) (*Result, error) {
	if spec.Binary == "" || spec.Name == "" {
		return nil, errors.New("image: binary and name are required")
	}
	if spec.Tag == "" {
		spec.Tag = "dev"
	}
	ref, err := name.NewTag(spec.Name+":"+spec.Tag, name.WeakValidation)
	if err != nil {
		return nil, fmt.Errorf("image: bad name %q: %w", spec.Name+":"+spec.Tag, err)
	}
	if spec.Entrypoint == "" {
		spec.Entrypoint = "/usr/local/bin/" + path.Base(spec.Binary)
	}
	if !path.IsAbs(spec.Entrypoint) || path.Clean(spec.Entrypoint) != spec.Entrypoint || spec.Entrypoint == "/" {
		return nil, fmt.Errorf("image: entrypoint %q must be a clean absolute file path", spec.Entrypoint)
	}
	bin, err := os.ReadFile(spec.Binary)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	res := &Result{Ref: ref}
	arch, err := CheckStatic(bin)
	if err != nil {
		if !errors.Is(err, ErrNotStatic) || !spec.AllowDynamic {
			return nil, fmt.Errorf("image: %s: %w", spec.Binary, err)
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %v; it will not start in an image without a libc", spec.Binary, err))
	}
	ports, err := exposedPorts(spec.Ports)
	if err != nil {
		return nil, err
	}
	created := spec.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()

	var certs []byte
	if spec.CACerts != "" {
		if certs, err = os.ReadFile(spec.CACerts); err != nil {
			return nil, fmt.Errorf("image: CA certificates: %w", err)
		}
	}
	baseTar, err := baseLayer(certs, created)
	if err != nil {
		return nil, err
	}
	binTar, err := binaryLayer(spec.Entrypoint, bin, created)
	if err != nil {
		return nil, err
	}
	base, err := layerFromBytes(baseTar)
	if err != nil {
		return nil, err
	}
	binLayer, err := layerFromBytes(binTar)
	if err != nil {
		return nil, err
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: created}, CreatedBy: "imagebuild: base (user darwin 65532:65532, CA certificates, /tmp)", Comment: "darwin minimal base"}},
		mutate.Addendum{Layer: binLayer, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: created}, CreatedBy: "imagebuild: COPY " + path.Base(spec.Binary) + " " + spec.Entrypoint}},
	)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = arch, "linux"
	cf.Created = v1.Time{Time: created}
	cf.Author = "darwin imagebuild"
	env := []string{"PATH=" + DefaultPath, "HOME=" + HomeDir}
	if certs != nil {
		env = append(env, "SSL_CERT_FILE="+CertPath)
	}
	cf.Config = v1.Config{
		Entrypoint:   []string{spec.Entrypoint},
		Cmd:          spec.Args,
		User:         fmt.Sprintf("%d:%d", UID, GID),
		Env:          append(env, spec.Env...),
		WorkingDir:   HomeDir,
		ExposedPorts: ports,
		Labels:       labels(spec),
	}
	if len(spec.Healthcheck) > 0 {
		cf.Config.Healthcheck = &v1.HealthConfig{
			Test:     append([]string{"CMD", spec.Entrypoint}, spec.Healthcheck...),
			Interval: 30 * time.Second, Timeout: 5 * time.Second, StartPeriod: 10 * time.Second, Retries: 3,
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	res.Image = img
	return res, nil
}

// WriteTarball writes the image as a `docker save` compatible tarball (manifest.json + repositories + blobs),
// tagged with the result's reference, to path.
func (r *Result) WriteTarball(path string) error {
	return tarball.WriteToFile(path, r.Ref, r.Image)
}

// WriteLayout adds the image to the OCI image layout directory dir (created when missing), annotated with its
// tag as org.opencontainers.image.ref.name.
func (r *Result) WriteLayout(dir string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("image: OCI layout %s: %w", dir, err)
		}
	}
	return p.AppendImage(r.Image, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": r.Ref.TagStr(),
		"io.containerd.image.name":          r.FullName(),
	}))
}

// FullName is the fully qualified reference as containerd spells it, e.g. docker.io/darwin/compute:dev.
func (r *Result) FullName() string {
	reg := r.Ref.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + r.Ref.RepositoryStr() + ":" + r.Ref.TagStr()
}

// CheckStatic reports the image architecture (GOARCH spelling) of the Linux ELF executable bin, and an error
// wrapping ErrNotStatic when it asks for a program interpreter (dynamic loader) or shared libraries.
func CheckStatic(bin []byte) (arch string, err error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return "", fmt.Errorf("not a Linux ELF executable (build with GOOS=linux): %w", err)
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		arch = "amd64"
	case elf.EM_AARCH64:
		arch = "arm64"
	case elf.EM_386:
		arch = "386"
	case elf.EM_ARM:
		arch = "arm"
	case elf.EM_PPC64:
		arch = "ppc64le"
	case elf.EM_S390:
		arch = "s390x"
	case elf.EM_RISCV:
		arch = "riscv64"
	default:
		return "", fmt.Errorf("unsupported ELF machine %v", f.Machine)
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return arch, fmt.Errorf("ELF OS ABI %v is not Linux", f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return arch, fmt.Errorf("%w: it needs a dynamic loader (build with CGO_ENABLED=0)", ErrNotStatic)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return arch, fmt.Errorf("%w: it needs shared libraries %s (build with CGO_ENABLED=0)", ErrNotStatic, strings.Join(libs, ", "))
	}
	return arch, nil
}

func labels(spec Spec) map[string]string {
	l := map[string]string{}
	title := spec.Title
	if title == "" {
		title = path.Base(spec.Name)
	}
	l[LabelTitle] = title
	version := spec.Version
	if version == "" {
		version = "dev"
	}
	l[LabelVersion] = version
	if spec.Revision != "" {
		l[LabelRevision] = spec.Revision
	}
	if spec.Source != "" {
		l[LabelSource] = spec.Source
	}
	for k, v := range spec.Labels {
		l[k] = v
	}
	return l
}

func exposedPorts(ports []string) (map[string]struct{}, error) {
	if len(ports) == 0 {
		return nil, nil
	}
	out := map[string]struct{}{}
	for _, p := range ports {
		num, proto, found := strings.Cut(p, "/")
		if !found {
			proto = "tcp"
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp" && proto != "sctp") {
			return nil, fmt.Errorf("image: bad port %q (want N, N/tcp, N/udp or N/sctp)", p)
		}
		out[fmt.Sprintf("%d/%s", n, proto)] = struct{}{}
	}
	return out, nil
}

type entry struct {
	name string
	mode int64
	uid  int
	gid  int
	data []byte // nil for a directory
	dir  bool
}

func baseLayer(certs []byte, created time.Time) ([]byte, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
		"%s:x:%d:%d:%s:%s:/sbin/nologin\n", User, UID, GID, User, HomeDir)
	group := fmt.Sprintf("root:x:0:\nnobody:x:65534:\n%s:x:%d:\n", User, GID)
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		// Go's resolver reads it: look in /etc/hosts before DNS, like glibc's default.
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "home/", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(HomeDir, "/") + "/", mode: 0o700, uid: UID, gid: GID, dir: true},
		{name: "root/", mode: 0o700, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/local/", mode: 0o755, dir: true},
		{name: "usr/local/bin/", mode: 0o755, dir: true},
	}
	if certs != nil {
		entries = append(entries,
			entry{name: "etc/ssl/", mode: 0o755, dir: true},
			entry{name: "etc/ssl/certs/", mode: 0o755, dir: true},
			entry{name: strings.TrimPrefix(CertPath, "/"), mode: 0o644, data: certs})
	}
	return writeTar(entries, created)
}

func binaryLayer(entrypoint string, bin []byte, created time.Time) ([]byte, error) {
	var entries []entry
	rel := strings.TrimPrefix(entrypoint, "/")
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		entries = append(entries, entry{name: d + "/", mode: 0o755, dir: true})
	}
	entries = append(entries, entry{name: rel, mode: 0o755, data: bin})
	return writeTar(entries, created)
}

// writeTar writes the entries sorted by name (parents before children) with fixed times and owners, so the same
// inputs give the same layer digest.
func writeTar(entries []entry, created time.Time) ([]byte, error) {
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: created, Format: tar.FormatPAX,
			Uname: unameOf(e.uid), Gname: unameOf(e.gid),
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !e.dir {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func unameOf(id int) string {
	switch id {
	case 0:
		return "root"
	case UID:
		return User
	}
	return ""
}

func layerFromBytes(b []byte) (v1.Layer, error) {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	return l, nil
}
