package builder

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
)

// ModelPath is where the model directory goes in the image; MODEL_LOCAL_PATH points at it.
const ModelPath = "/opt/model"

// DefaultMaxModelBytes bounds a downloaded model (and the files of a model directory) unless configured.
const DefaultMaxModelBytes = 8 << 30

// ModelImage builds model images without a Docker daemon.
type ModelImage struct {
	// Registry is where images are pushed: <Registry>/<app_name>:<image_tag>, e.g. localhost:5000/darwin.
	Registry string
	// Insecure allows plain-HTTP registries other than localhost/127.0.0.1 (which go-containerregistry already
	// reaches over HTTP).
	Insecure bool
	// Transport carries registry traffic (nil: http.DefaultTransport); credentials come from the Docker
	// keychain (~/.docker/config.json).
	Transport http.RoundTripper
	// HTTPClient downloads model_uri (nil: a client with no overall timeout; the task context bounds it).
	HTTPClient *http.Client
	// ModelRoot is the server directory model_dir must lie in; "" refuses model_dir requests.
	ModelRoot string
	// MaxModelBytes bounds the model's size (0: DefaultMaxModelBytes).
	MaxModelBytes int64
	// Platform picks the base image from a multi-platform index and labels empty-base images (default
	// linux/amd64).
	Platform v1.Platform
	// TempDir holds downloads and layer files while a build runs ("" = os.TempDir()).
	TempDir string
}

func (b *ModelImage) platform() v1.Platform {
	if b.Platform.OS == "" {
		return v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	return b.Platform
}

func (b *ModelImage) nameOpts() []name.Option {
	opts := []name.Option{name.WeakValidation}
	if b.Insecure {
		opts = append(opts, name.Insecure)
	}
	return opts
}

// Target returns the reference a build of app:tag is pushed to.
func (b *ModelImage) Target(app, tag string) (name.Tag, error) {
	return name.NewTag(strings.TrimRight(b.Registry, "/")+"/"+app+":"+tag, b.nameOpts()...)
}

// ValidateConfig checks the registry.
func (b *ModelImage) ValidateConfig() error {
	if b.Registry == "" {
		return errors.New("registry is required")
	}
	if _, err := b.Target("app", "tag"); err != nil {
		return fmt.Errorf("registry %q: %w", b.Registry, err)
	}
	return nil
}

func isScratch(base string) bool { return base == "" || base == "scratch" }

// Check validates a request when it is accepted, so bad requests are 4xx rather than failed tasks: the base
// image reference parses, the target reference is valid, and model_dir lies under ModelRoot.
func (b *ModelImage) Check(req domain.ModelRequest) error {
	if !isScratch(req.BaseImage) {
		if _, err := name.ParseReference(req.BaseImage, b.nameOpts()...); err != nil {
			return apierr.InvalidField("base_image", "base_image %q is not an image reference: %v", req.BaseImage, err)
		}
	}
	if _, err := b.Target(req.AppName, req.ImageTag); err != nil {
		return apierr.InvalidField("app_name", "image %s/%s:%s is not a valid reference: %v", b.Registry, req.AppName, req.ImageTag, err)
	}
	if req.ModelDir != "" {
		if _, err := b.modelDir(req.ModelDir); err != nil {
			return err
		}
	}
	return nil
}

// modelDir resolves dir (symlinks included) and checks that it is a directory under ModelRoot.
func (b *ModelImage) modelDir(dir string) (string, error) {
	if b.ModelRoot == "" {
		return "", apierr.InvalidField("model_dir", "model_dir is disabled: the server has no -artifact-builder.model-root; use model_uri")
	}
	root, err := filepath.EvalSymlinks(b.ModelRoot)
	if err != nil {
		return "", apierr.Wrap(apierr.Unavailable, err, "model root %s is unavailable", b.ModelRoot)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", apierr.InvalidField("model_dir", "model_dir %s does not exist", dir)
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", apierr.InvalidField("model_dir", "model_dir %s is outside the model root %s", dir, b.ModelRoot)
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.IsDir() {
		return "", apierr.InvalidField("model_dir", "model_dir %s is not a directory", dir)
	}
	return real, nil
}

func (b *ModelImage) maxBytes() int64 {
	if b.MaxModelBytes > 0 {
		return b.MaxModelBytes
	}
	return DefaultMaxModelBytes
}

// Build downloads or reads the model, builds the image and pushes it.
func (b *ModelImage) Build(ctx context.Context, t domain.Task, log io.Writer) (string, error) {
	p := t.Params
	target, err := b.Target(t.AppName, t.ImageTag)
	if err != nil {
		return "", fmt.Errorf("target image: %w", err)
	}
	tmp, err := os.MkdirTemp(b.TempDir, "artifact-builder-"+t.TaskID+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)

	dir := p.ModelDir
	if p.ModelURI != "" {
		dir = filepath.Join(tmp, "model")
		if err := b.download(ctx, p.ModelURI, dir, tmp, log); err != nil {
			return "", err
		}
	} else {
		if dir, err = b.modelDir(p.ModelDir); err != nil {
			return "", err
		}
		fmt.Fprintf(log, "using model directory %s\n", p.ModelDir)
	}

	layerPath := filepath.Join(tmp, "layer.tar")
	n, err := b.writeLayer(dir, layerPath, log)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(log, "model layer: %d files under %s\n", n, ModelPath)
	layer, err := tarball.LayerFromFile(layerPath)
	if err != nil {
		return "", fmt.Errorf("model layer: %w", err)
	}

	base, err := b.base(ctx, p.BaseImage, log)
	if err != nil {
		return "", err
	}
	img, err := b.assemble(base, layer, t)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(log, "pushing %s\n", target.String())
	if err := remote.Write(target, img, remote.WithContext(ctx), remote.WithTransport(b.transport()),
		remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("push %s: %w", target.String(), err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(log, "pushed %s@%s\n", target.String(), digest)
	return target.String(), nil
}

func (b *ModelImage) transport() http.RoundTripper {
	if b.Transport != nil {
		return b.Transport
	}
	return http.DefaultTransport
}

func (b *ModelImage) base(ctx context.Context, ref string, log io.Writer) (v1.Image, error) {
	if isScratch(ref) {
		fmt.Fprintln(log, "base image: scratch (empty)")
		img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		plat := b.platform()
		cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
		return mutate.ConfigFile(img, cf)
	}
	r, err := name.ParseReference(ref, b.nameOpts()...)
	if err != nil {
		return nil, fmt.Errorf("base image %q: %w", ref, err)
	}
	fmt.Fprintf(log, "pulling base image %s\n", r.String())
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithTransport(b.transport()),
		remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithPlatform(b.platform()))
	if err != nil {
		return nil, fmt.Errorf("pull base image %s: %w", r.String(), err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("pull base image %s: %w", r.String(), err)
	}
	fmt.Fprintf(log, "base image %s@%s\n", r.String(), d)
	return img, nil
}

func (b *ModelImage) assemble(base v1.Image, layer v1.Layer, t domain.Task) (v1.Image, error) {
	mt, err := base.MediaType()
	if err != nil {
		return nil, fmt.Errorf("base image: %w", err)
	}
	layerType := types.OCILayer
	if mt == types.DockerManifestSchema2 {
		layerType = types.DockerLayer
	}
	source := t.Params.ModelURI
	if source == "" {
		source = t.Params.ModelDir
	}
	now := time.Now().UTC()
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: layerType, History: v1.History{
		Created: v1.Time{Time: now}, CreatedBy: "artifact-builder: COPY " + source + " " + ModelPath}})
	if err != nil {
		return nil, fmt.Errorf("add model layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: now}
	env := slices.DeleteFunc(slices.Clone(cf.Config.Env), func(e string) bool { return strings.HasPrefix(e, "MODEL_LOCAL_PATH=") })
	cf.Config.Env = append(env, "MODEL_LOCAL_PATH="+ModelPath)
	if len(t.Params.Entrypoint) > 0 {
		cf.Config.Entrypoint = slices.Clone(t.Params.Entrypoint)
		cf.Config.Cmd = nil // like a Dockerfile ENTRYPOINT, a new entrypoint drops the base's CMD
	}
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	cf.Config.Labels["io.darwin.artifact-builder.task"] = t.TaskID
	cf.Config.Labels["io.darwin.model.source"] = source
	return mutate.ConfigFile(img, cf)
}

// download fetches uri into dir: a .tar, .tar.gz or .tgz archive is unpacked, any other file is saved under
// its base name.
func (b *ModelImage) download(ctx context.Context, uri, dir, tmp string, log io.Writer) error {
	fmt.Fprintf(log, "downloading model %s\n", redactURL(uri))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return fmt.Errorf("model_uri: %w", err)
	}
	client := b.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download model: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download model: %s answered %s", redactURL(uri), resp.Status)
	}
	f, err := os.CreateTemp(tmp, "download-")
	if err != nil {
		return err
	}
	defer f.Close()
	limit := b.maxBytes()
	n, err := io.Copy(f, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("download model: %w", err)
	}
	if n > limit {
		return fmt.Errorf("download model: larger than the limit of %d bytes", limit)
	}
	fmt.Fprintf(log, "downloaded %d bytes\n", n)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	u, _ := url.Parse(uri)
	base := path.Base(u.Path)
	switch lower := strings.ToLower(base); {
	case strings.HasSuffix(lower, ".tar.gz") || strings.HasSuffix(lower, ".tgz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("model archive: %w", err)
		}
		return b.extract(zr, dir, limit, log)
	case strings.HasSuffix(lower, ".tar"):
		return b.extract(f, dir, limit, log)
	}
	if base == "" || base == "/" || base == "." || base == ".." {
		base = "model"
	}
	out, err := os.OpenFile(filepath.Join(dir, base), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, f); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<model uri>"
	}
	return u.Redacted()
}

// extract unpacks a tar stream into dir (through os.Root, so no entry can land outside it). Only regular files
// and directories are kept; links and devices are skipped.
func (b *ModelImage) extract(r io.Reader, dir string, limit int64, log io.Writer) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	var total int64
	files := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("model archive: %w", err)
		}
		rel := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if rel == "" {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(rel, 0o755); err != nil {
				return fmt.Errorf("model archive: %s: %w", h.Name, err)
			}
		case tar.TypeReg:
			total += h.Size
			if total > limit {
				return fmt.Errorf("model archive: unpacked size exceeds the limit of %d bytes", limit)
			}
			if d := path.Dir(rel); d != "." {
				if err := root.MkdirAll(d, 0o755); err != nil {
					return fmt.Errorf("model archive: %s: %w", h.Name, err)
				}
			}
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			out, err := root.OpenFile(rel, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
			if err != nil {
				return fmt.Errorf("model archive: %s: %w", h.Name, err)
			}
			_, err = io.Copy(out, io.LimitReader(tr, h.Size))
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("model archive: %s: %w", h.Name, err)
			}
			files++
		default:
			fmt.Fprintf(log, "skipping %s (not a regular file or directory)\n", h.Name)
		}
	}
	fmt.Fprintf(log, "unpacked %d files\n", files)
	return nil
}

// writeLayer writes dir as an uncompressed layer tar at out, under ModelPath. Entries are sorted, owned by root
// with a fixed timestamp, so the same model gives the same layer digest; symlinks are skipped.
func (b *ModelImage) writeLayer(dir, out string, log io.Writer) (int, error) {
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	epoch := time.Unix(0, 0).UTC()
	prefix := strings.TrimPrefix(ModelPath, "/")
	for _, d := range []string{path.Dir(prefix), prefix} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return 0, err
		}
	}
	files := 0
	var total int64
	limit := b.maxBytes()
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		name := prefix + "/" + filepath.ToSlash(rel)
		switch {
		case e.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
		case e.Type().IsRegular():
			fi, err := e.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
			if total > limit {
				return fmt.Errorf("model is larger than the limit of %d bytes", limit)
			}
			mode := int64(0o644)
			if fi.Mode()&0o111 != 0 {
				mode = 0o755
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: fi.Size(), Mode: mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return err
			}
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			if _, err := io.CopyN(tw, src, fi.Size()); err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			files++
			return nil
		default:
			fmt.Fprintf(log, "skipping %s (not a regular file or directory)\n", filepath.ToSlash(rel))
			return nil
		}
	})
	if err != nil {
		return 0, fmt.Errorf("model layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	return files, f.Close()
}
