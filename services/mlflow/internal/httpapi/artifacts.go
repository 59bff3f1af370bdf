package httpapi

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/blob"
)

// The artifact proxy serves MLflow's mlflow-artifacts API (what `mlflow server --serve-artifacts` offers and
// the Python client's proxied artifact repository calls) over h.opts.Artifacts: the artifact
// mlflow-artifacts:/<path> is the blob object <path>, and directories are key prefixes.
//
//	PUT    artifacts/<path>        streamed upload (any size), {}
//	GET    artifacts/<path>        download with Content-Type and Content-Length
//	GET    artifacts?path=<dir>    one level of <dir>: {"files": [{"path", "is_dir", "file_size"}]}, paths
//	                               relative to <dir>
//	DELETE artifacts/<path>        a file or a whole directory, {}

// mountArtifactProxy registers the artifact proxy (artifacts/{path}: upload, download, list, delete).
func (h *Handler) mountArtifactProxy(r chi.Router) {
	r.Get("/artifacts", h.wrap(h.listProxyArtifacts))
	r.Get("/artifacts/*", h.downloadArtifact)
	r.Put("/artifacts/*", h.wrap(h.uploadArtifact))
	r.Delete("/artifacts/*", h.wrap(h.deleteArtifact))
}

type fileInfoJSON struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

func (h *Handler) artifactStore() (blob.Store, error) {
	if h.opts.Artifacts == nil {
		return nil, apierr.New(apierr.Unavailable, "The artifact proxy is not configured on this server")
	}
	return h.opts.Artifacts, nil
}

func invalidPath(p string) error {
	return apierr.InvalidField("path", "Invalid path: %s", truncateBytes([]byte(p)))
}

// cleanArtifactPath validates an artifact path as MLflow's validate_path_is_safe does (no "..", no absolute or
// drive-letter paths, no backslashes, NUL or "#") and also rejects what object keys cannot hold (empty or "."
// segments, control characters, invalid UTF-8, over-long paths). A trailing slash is dropped for directories
// (dir); "" is only valid as a directory (the root).
func cleanArtifactPath(p string, dir bool) (string, error) {
	orig := p
	if dir {
		p = strings.TrimSuffix(p, "/")
		if p == "" && orig != "" && orig != "/" {
			return "", invalidPath(orig)
		}
		if orig == "/" {
			return "", invalidPath(orig)
		}
	}
	if p == "" {
		if dir {
			return "", nil
		}
		return "", invalidPath(orig)
	}
	if strings.ContainsAny(p, "\\\x00#") || strings.HasPrefix(p, "/") ||
		len(p) >= 2 && p[1] == ':' && (p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z') {
		return "", invalidPath(orig)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return "", invalidPath(orig)
		}
	}
	if blob.ValidateKey(p) != nil {
		return "", invalidPath(orig)
	}
	return p, nil
}

// proxyPath is the artifact path of a request to artifacts/*, unescaped.
func proxyPath(r *http.Request) (string, error) {
	p := chi.URLParam(r, "*")
	if r.URL.RawPath != "" {
		u, err := url.PathUnescape(p)
		if err != nil {
			return "", invalidPath(p)
		}
		p = u
	}
	return cleanArtifactPath(p, false)
}

// listArtifactDir lists one level of the directory dir ("" is the root): files with their sizes and
// subdirectories, sorted by name, with paths relative to dir. A missing directory is empty.
func listArtifactDir(ctx context.Context, bs blob.Store, dir string) ([]fileInfoJSON, error) {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	var out []fileInfoJSON
	lastDir := ""
	tok := ""
	for {
		page, err := bs.List(ctx, prefix, blob.ListOptions{Limit: blob.MaxListLimit, PageToken: tok})
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			rest := strings.TrimPrefix(it.Key, prefix)
			if rest == "" {
				continue // a directory marker written by another S3 tool
			}
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				// Keys under one subdirectory are contiguous in key order.
				if name := rest[:i]; name != lastDir {
					lastDir = name
					out = append(out, fileInfoJSON{Path: name, IsDir: true})
				}
				continue
			}
			size := it.Size
			out = append(out, fileInfoJSON{Path: rest, FileSize: &size})
		}
		if page.NextPageToken == "" {
			break
		}
		tok = page.NextPageToken
	}
	sortFiles(out)
	return out, nil
}

func (h *Handler) listProxyArtifacts(_ http.ResponseWriter, r *http.Request) (any, error) {
	dir, err := cleanArtifactPath(r.URL.Query().Get("path"), true)
	if err != nil {
		return nil, err
	}
	bs, err := h.artifactStore()
	if err != nil {
		return nil, err
	}
	files, err := listArtifactDir(r.Context(), bs, dir)
	if err != nil {
		return nil, err
	}
	return struct {
		Files []fileInfoJSON `json:"files,omitempty"`
	}{files}, nil
}

func (h *Handler) downloadArtifact(w http.ResponseWriter, r *http.Request) {
	key, err := proxyPath(r)
	if err == nil {
		var bs blob.Store
		if bs, err = h.artifactStore(); err == nil {
			var rc io.ReadCloser
			var info blob.Info
			if rc, info, err = bs.Get(r.Context(), key); err == nil {
				defer rc.Close()
				ct := info.ContentType
				if ct == "" {
					ct = "application/octet-stream"
				}
				w.Header().Set("Content-Type", ct)
				w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
				w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(key)}))
				w.WriteHeader(http.StatusOK)
				_, _ = io.Copy(w, rc)
				return
			}
			if apierr.Is(err, apierr.NotFound) {
				err = apierr.New(apierr.NotFound, "Artifact %s does not exist or is a directory", key)
			}
		}
	}
	h.writeError(r.Context(), w, err)
}

func (h *Handler) uploadArtifact(_ http.ResponseWriter, r *http.Request) (any, error) {
	key, err := proxyPath(r)
	if err != nil {
		return nil, err
	}
	bs, err := h.artifactStore()
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	// A path cannot be both a file and a directory: refuse to write over a directory or below a file.
	page, err := bs.List(ctx, key+"/", blob.ListOptions{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Items) > 0 {
		return nil, apierr.New(apierr.InvalidArgument, "Cannot upload to %s: it is a directory", key)
	}
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if _, err := bs.Stat(ctx, dir); err == nil {
			return nil, apierr.New(apierr.InvalidArgument, "Cannot upload to %s: %s is a file", key, dir)
		} else if !apierr.Is(err, apierr.NotFound) {
			return nil, err
		}
	}
	size := r.ContentLength // -1 when the body is chunked
	if err := bs.Put(ctx, key, r.Body, size, blob.PutOptions{}); err != nil {
		if ctx.Err() != nil {
			return nil, apierr.Wrap(apierr.InvalidArgument, err, "Upload of %s was interrupted", key)
		}
		return nil, err
	}
	return emptyObject, nil
}

func (h *Handler) deleteArtifact(_ http.ResponseWriter, r *http.Request) (any, error) {
	key, err := proxyPath(r)
	if err != nil {
		return nil, err
	}
	bs, err := h.artifactStore()
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	if err := bs.Delete(ctx, key); err != nil {
		return nil, err
	}
	// Then everything below key, page by page (tokens resume after the last key seen, so deleting as we go
	// is safe).
	tok := ""
	for {
		page, err := bs.List(ctx, key+"/", blob.ListOptions{Limit: blob.MaxListLimit, PageToken: tok})
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			if err := bs.Delete(ctx, it.Key); err != nil {
				return nil, err
			}
		}
		if page.NextPageToken == "" {
			return emptyObject, nil
		}
		tok = page.NextPageToken
	}
}
