package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/darwinml/darwin/pkg/apierr"
)

// localStore keeps each object in a file under root, at the key's path. All file system access goes through
// os.Root, so neither keys nor symbolic links can reach outside the directory.
//
// A key cannot be both an object and a prefix of other keys' directories here (S3 allows "a" and "a/b"
// together; a directory cannot): such a Put fails with FailedPrecondition.
type localStore struct {
	root string // absolute, cleaned
	log  *slog.Logger
}

func openLocal(dir string, o options) (*localStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, badDSN(err, "blob directory %q is not a valid path", dir)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, apierr.Wrap(apierr.Internal, err, "create blob directory")
	}
	return &localStore{root: abs, log: o.logger}, nil
}

// fileURLPath extracts the directory of a file:// DSN.
func fileURLPath(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", badDSN(err, "blob dsn is not a valid URL")
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", apierr.InvalidField("dsn", "file dsn must name a local directory (file:///abs/dir), got host %q", u.Host)
	}
	if u.Opaque != "" || !path.IsAbs(u.Path) {
		return "", apierr.InvalidField("dsn", "file dsn must hold an absolute path (file:///abs/dir)")
	}
	if u.RawQuery != "" {
		return "", apierr.InvalidField("dsn", "file dsn takes no query parameters")
	}
	return filepath.FromSlash(u.Path), nil
}

func (s *localStore) openRoot() (*os.Root, error) {
	r, err := os.OpenRoot(s.root)
	if err != nil {
		return nil, apierr.Wrap(apierr.Unavailable, err, "blob directory is not accessible")
	}
	return r, nil
}

func (s *localStore) URL(key string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(s.root, filepath.FromSlash(key)))}).String()
}

func (s *localStore) Put(ctx context.Context, key string, r io.Reader, size int64, _ PutOptions) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if size < -1 {
		return apierr.InvalidField("size", "size must be -1 (unknown) or at least 0")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	root, err := s.openRoot()
	if err != nil {
		return err
	}
	defer root.Close()

	name := filepath.FromSlash(key)
	if fi, err := root.Lstat(name); err == nil && fi.IsDir() {
		return apierr.New(apierr.FailedPrecondition, "key %q is the directory of other keys in the local store", key)
	}
	tmp, f, err := s.createTemp(root, filepath.Dir(name), key)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_ = f.Close()
			_ = root.Remove(tmp)
		}
	}()

	if _, err := io.Copy(f, &sizeCheckedReader{r: ctxReader{ctx: ctx, r: r}, want: size}); err != nil {
		return fmt.Errorf("put %s: write body: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return apierr.Wrap(apierr.Internal, err, "store object %q", key)
	}
	if err := f.Close(); err != nil {
		return apierr.Wrap(apierr.Internal, err, "store object %q", key)
	}
	if err := root.Rename(tmp, name); err != nil {
		if fi, serr := root.Lstat(name); serr == nil && fi.IsDir() {
			return apierr.New(apierr.FailedPrecondition, "key %q is the directory of other keys in the local store", key)
		}
		return apierr.Wrap(apierr.Internal, err, "store object %q", key)
	}
	committed = true
	s.syncDir(root, filepath.Dir(name))
	return nil
}

// createTemp creates the parent directories and an exclusive temporary file beside the final name. It retries
// when a concurrent Delete removes a freshly created (still empty) parent directory.
func (s *localStore) createTemp(root *os.Root, dir, key string) (string, *os.File, error) {
	var lastErr error
	for range 5 {
		if dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
					return "", nil, apierr.New(apierr.FailedPrecondition, "a parent of key %q is an object in the local store", key)
				}
				return "", nil, apierr.Wrap(apierr.Internal, err, "create directory for %q", key)
			}
		}
		var rnd [8]byte
		_, _ = rand.Read(rnd[:])
		tmp := filepath.Join(dir, tempPrefix+hex.EncodeToString(rnd[:]))
		f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return tmp, f, nil
		}
		lastErr = err
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return "", nil, apierr.Wrap(apierr.Internal, lastErr, "create temporary file for %q", key)
}

// syncDir makes a rename durable. Failures are logged: the object is already visible.
func (s *localStore) syncDir(root *os.Root, dir string) {
	d, err := root.Open(dir)
	if err != nil {
		s.log.Warn("blob directory sync", "dir", dir, "err", err)
		return
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		s.log.Warn("blob directory sync", "dir", dir, "err", err)
	}
}

func (s *localStore) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := ValidateKey(key); err != nil {
		return nil, Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, fmt.Errorf("get %s: %w", key, err)
	}
	root, err := s.openRoot()
	if err != nil {
		return nil, Info{}, err
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(key))
	if err != nil {
		return nil, Info{}, s.mapErr(err, key)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, Info{}, s.mapErr(err, key)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, Info{}, apierr.New(apierr.NotFound, "object %q not found", key)
	}
	return f, localInfo(key, fi), nil
}

func (s *localStore) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	root, err := s.openRoot()
	if err != nil {
		return Info{}, err
	}
	defer root.Close()
	fi, err := root.Stat(filepath.FromSlash(key))
	if err != nil {
		return Info{}, s.mapErr(err, key)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, apierr.New(apierr.NotFound, "object %q not found", key)
	}
	return localInfo(key, fi), nil
}

func (s *localStore) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	root, err := s.openRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	name := filepath.FromSlash(key)
	fi, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return s.mapErr(err, key)
	case fi.IsDir():
		return nil // a directory of other keys, not an object
	}
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return apierr.Wrap(apierr.Internal, err, "delete object %q", key)
	}
	// Prune directories left empty, so the names are free for objects again. Remove fails on a non-empty
	// directory, which ends the walk.
	for dir := filepath.Dir(name); dir != "."; dir = filepath.Dir(dir) {
		if root.Remove(dir) != nil {
			break
		}
	}
	return nil
}

func (s *localStore) List(ctx context.Context, prefix string, opts ListOptions) (ListPage, error) {
	limit, after, err := listArgs(prefix, opts)
	if err != nil {
		return ListPage{}, err
	}
	root, err := s.openRoot()
	if err != nil {
		return ListPage{}, err
	}
	defer root.Close()

	w := &lister{ctx: ctx, fsys: root.FS(), prefix: prefix, after: after, limit: limit}
	start := "" // every matching key lies under the prefix's complete segments
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	if err := w.walk(start); err != nil && !errors.Is(err, errPageFull) {
		if ctx.Err() != nil {
			return ListPage{}, fmt.Errorf("list %q: %w", prefix, err)
		}
		return ListPage{}, apierr.Wrap(apierr.Internal, err, "list objects")
	}
	page := ListPage{Items: w.items}
	if w.more {
		page.NextPageToken = encodePageToken(w.items[len(w.items)-1].Key)
	}
	return page, nil
}

var errPageFull = errors.New("page full")

// lister walks directories in key order. Sorting entries by name, with "/" appended to directory names,
// visits keys in byte-wise order: every key under directory d starts with d+"/".
type lister struct {
	ctx    context.Context
	fsys   fs.FS
	prefix string
	after  string
	limit  int
	items  []Info
	more   bool
}

func (w *lister) walk(dir string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	name := dir
	if name == "" {
		name = "."
	}
	entries, err := fs.ReadDir(w.fsys, name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	sortName := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(sortName(a), sortName(b)) })
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		key := e.Name()
		if dir != "" {
			key = dir + "/" + e.Name()
		}
		if e.IsDir() {
			sub := key + "/"
			if !strings.HasPrefix(sub, w.prefix) && !strings.HasPrefix(w.prefix, sub) {
				continue // no key below can match the prefix
			}
			if w.after != "" && sub < w.after && !strings.HasPrefix(w.after, sub) {
				continue // every key below sorts before the page token
			}
			if err := w.walk(key); err != nil {
				return err
			}
			continue
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, w.prefix) || key <= w.after || ValidateKey(key) != nil {
			continue
		}
		if len(w.items) == w.limit {
			w.more = true
			return errPageFull
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		w.items = append(w.items, localInfo(key, fi))
	}
	return nil
}

func (s *localStore) mapErr(err error, key string) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return apierr.Wrap(apierr.NotFound, err, "object %q not found", key)
	}
	return apierr.Wrap(apierr.Internal, err, "read object %q", key)
}

func localInfo(key string, fi fs.FileInfo) Info {
	return Info{
		Key:         key,
		Size:        fi.Size(),
		ModTime:     fi.ModTime().UTC(),
		ContentType: contentTypeFor(key),
		ETag:        fileETag(fi),
	}
}
