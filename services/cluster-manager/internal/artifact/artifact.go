// Package artifact stores the versioned values documents ("<cluster>-vN")
// that clusters are installed from. FS keeps them in a local directory; an
// object-storage (pkg/blob / S3) backend can implement Store later.
package artifact

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/fsutil"
)

// Store keeps artifacts by name.
type Store interface {
	// Put stores (or replaces) an artifact and returns its URL.
	Put(ctx context.Context, name string, data []byte) (string, error)
	// Get returns an artifact; apierr NotFound when it does not exist.
	Get(ctx context.Context, name string) ([]byte, error)
	// URL is where an artifact is (or would be) stored.
	URL(name string) string
}

// FS is a Store in a local directory, one file per artifact.
type FS struct {
	dir string
}

// NewFS returns a store under dir, creating it.
func NewFS(dir string) (*FS, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create artifact dir: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve artifact dir: %w", err)
	}
	return &FS{dir: abs}, nil
}

func (s *FS) path(name string) string { return filepath.Join(s.dir, name+".json") }

// URL returns the file:// URL of an artifact.
func (s *FS) URL(name string) string {
	return (&url.URL{Scheme: "file", Path: s.path(name)}).String()
}

// Put writes the artifact atomically (temp file + rename).
func (s *FS) Put(_ context.Context, name string, data []byte) (string, error) {
	if err := fsutil.WriteFileAtomic(s.path(name), data, 0o644); err != nil {
		return "", apierr.Wrap(apierr.Internal, err, "store artifact %q", name)
	}
	return s.URL(name), nil
}

// Get reads an artifact.
func (s *FS) Get(_ context.Context, name string) ([]byte, error) {
	data, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apierr.New(apierr.NotFound, "artifact %q not found", name)
	}
	if err != nil {
		return nil, apierr.Wrap(apierr.Internal, err, "read artifact %q", name)
	}
	return data, nil
}
