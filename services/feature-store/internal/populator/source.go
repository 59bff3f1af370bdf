package populator

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// sourceFile is one Parquet file of a job's source.
type sourceFile struct {
	name string // path or blob URL, for checkpoints and logs
	open func(ctx context.Context) (*openFile, error)
}

// openFile is an opened Parquet file: random access for the reader, Close releases it (and removes a downloaded copy).
type openFile struct {
	r     io.ReaderAt
	size  int64
	close func() error
}

// isParquetName reports whether a listed file belongs to the data set: *.parquet, not hidden or metadata (names or
// directories starting with "." or "_", as Spark's _SUCCESS, _delta_log and .crc files).
func isParquetName(rel string) bool {
	if !strings.HasSuffix(rel, ".parquet") {
		return false
	}
	for seg := range strings.SplitSeq(rel, "/") {
		if strings.HasPrefix(seg, ".") || strings.HasPrefix(seg, "_") {
			return false
		}
	}
	return true
}

// resolveSource lists the Parquet files of source, in name order:
//
//	/abs/path or file:///abs/path   a local file, or a directory (walked recursively)
//	blob://key-or-prefix            the service's configured blob store (Config.Blob)
//	s3://bucket/key-or-prefix[?endpoint=…&region=…&path_style=true]  an S3 bucket (credentials as for pkg/blob)
//
// Bad sources are ErrPopulatorRequest errors.
func (p *Populator) resolveSource(ctx context.Context, source string) ([]sourceFile, error) {
	source = strings.TrimSpace(source)
	switch {
	case source == "":
		return nil, domain.E(ErrPopulatorRequest, "source is empty")
	case strings.HasPrefix(source, "s3://"):
		u, err := url.Parse(source)
		if err != nil || u.Host == "" {
			return nil, domain.E(ErrPopulatorRequest, "source %q is not a valid s3:// URI", redactSource(source))
		}
		dsn := "s3://" + u.Host
		if u.RawQuery != "" {
			dsn += "?" + u.RawQuery
		}
		st, err := blob.Open(ctx, dsn)
		if err != nil {
			return nil, domain.E(ErrPopulatorRequest, "source: %v", err)
		}
		return p.blobFiles(ctx, st, strings.Trim(u.Path, "/"))
	case strings.HasPrefix(source, "blob://"):
		if p.cfg.Blob == nil {
			return nil, domain.E(ErrPopulatorRequest, "source %q: no blob store is configured", source)
		}
		return p.blobFiles(ctx, p.cfg.Blob, strings.Trim(strings.TrimPrefix(source, "blob://"), "/"))
	case strings.HasPrefix(source, "file:"):
		u, err := url.Parse(source)
		if err != nil || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
			return nil, domain.E(ErrPopulatorRequest, "source %q is not a valid file:///abs/path URI", source)
		}
		return p.localFiles(filepath.FromSlash(u.Path))
	case filepath.IsAbs(source):
		return p.localFiles(source)
	}
	return nil, domain.E(ErrPopulatorRequest, "source %q must be an absolute path or a file://, blob:// or s3:// URI", redactSource(source))
}

// redactSource drops an s3 URI's query (it may carry credentials).
func redactSource(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 && strings.HasPrefix(s, "s3://") {
		return s[:i] + "?…"
	}
	return s
}

func (p *Populator) localFiles(path string) ([]sourceFile, error) {
	path = filepath.Clean(path)
	if len(p.cfg.AllowedDirs) > 0 {
		ok := false
		for _, d := range p.cfg.AllowedDirs {
			if rel, err := filepath.Rel(filepath.Clean(d), path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				ok = true
				break
			}
		}
		if !ok {
			return nil, domain.E(ErrPopulatorRequest, "source %q is outside the allowed directories", path)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, domain.E(ErrPopulatorRequest, "source %q: %v", path, err)
	}
	var names []string
	if !fi.IsDir() {
		names = []string{path}
	} else {
		err := filepath.WalkDir(path, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(path, f)
			if !d.IsDir() && isParquetName(filepath.ToSlash(rel)) {
				names = append(names, f)
			}
			return nil
		})
		if err != nil {
			return nil, domain.E(ErrPopulatorRequest, "source %q: %v", path, err)
		}
		slices.Sort(names)
	}
	if len(names) == 0 {
		return nil, domain.E(ErrPopulatorRequest, "source %q holds no .parquet files", path)
	}
	out := make([]sourceFile, len(names))
	for i, n := range names {
		out[i] = sourceFile{name: n, open: func(context.Context) (*openFile, error) {
			f, err := os.Open(n)
			if err != nil {
				return nil, err
			}
			fi, err := f.Stat()
			if err != nil {
				f.Close()
				return nil, err
			}
			return &openFile{r: f, size: fi.Size(), close: f.Close}, nil
		}}
	}
	return out, nil
}

// blobFiles lists key (one object) or the objects under key/ (all objects when key is empty).
func (p *Populator) blobFiles(ctx context.Context, st blob.Store, key string) ([]sourceFile, error) {
	var keys []string
	if key != "" {
		if _, err := st.Stat(ctx, key); err == nil {
			keys = []string{key}
		} else if !apierr.Is(err, apierr.NotFound) && !apierr.Is(err, apierr.InvalidArgument) {
			return nil, fmt.Errorf("source %s: %w", st.URL(key), err)
		}
	}
	if keys == nil {
		prefix := key
		if prefix != "" {
			prefix += "/"
		}
		token := ""
		for {
			page, err := st.List(ctx, prefix, blob.ListOptions{PageToken: token})
			if err != nil {
				if apierr.Is(err, apierr.InvalidArgument) {
					return nil, domain.E(ErrPopulatorRequest, "source: %v", err)
				}
				return nil, fmt.Errorf("list source %s: %w", st.URL(prefix), err)
			}
			for _, it := range page.Items {
				if isParquetName(strings.TrimPrefix(it.Key, prefix)) {
					keys = append(keys, it.Key)
				}
			}
			if page.NextPageToken == "" {
				break
			}
			token = page.NextPageToken
		}
	}
	if len(keys) == 0 {
		return nil, domain.E(ErrPopulatorRequest, "source %s holds no .parquet files", st.URL(key))
	}
	out := make([]sourceFile, len(keys))
	for i, k := range keys {
		out[i] = sourceFile{name: st.URL(k), open: func(ctx context.Context) (*openFile, error) {
			return p.download(ctx, st, k)
		}}
	}
	return out, nil
}

// download copies an object to a temporary file (Parquet needs random access; blob stores stream), removed on close.
func (p *Populator) download(ctx context.Context, st blob.Store, key string) (*openFile, error) {
	rc, _, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp(p.cfg.TempDir, "populator-*.parquet")
	if err != nil {
		return nil, err
	}
	cleanup := func() error {
		err := f.Close()
		_ = os.Remove(f.Name())
		return err
	}
	n, err := io.Copy(f, rc)
	if err != nil {
		_ = cleanup()
		return nil, fmt.Errorf("download %s: %w", st.URL(key), err)
	}
	return &openFile{r: f, size: n, close: cleanup}, nil
}
