// Package artifact stores the versioned values documents ("<cluster>-vN")
// that cluster-manager installs, through pkg/blob: a local directory by
// default, or any S3 API, under the original's key layout
// mlp/cluster_manager/<artifact>.
package artifact

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/blob"
)

// KeyPrefix is where artifacts live in the object store (as in the original).
const KeyPrefix = "mlp/cluster_manager/"

// MaxSize bounds one values document.
const MaxSize = 4 << 20

// Store keeps artifacts by name.
type Store interface {
	// Put stores (or replaces) an artifact and returns its URL.
	Put(ctx context.Context, name string, data []byte) (string, error)
	// Get returns an artifact; apierr NotFound when there is none.
	Get(ctx context.Context, name string) ([]byte, error)
	// URL names an artifact's location (file:// or s3://).
	URL(name string) string
}

// Blob is a Store over an object store.
type Blob struct {
	objects blob.Store
}

// Open opens the object store behind dsn ("file:///dir", a path, or "s3://bucket/prefix?...").
func Open(ctx context.Context, dsn string, opts ...blob.Option) (*Blob, error) {
	objects, err := blob.Open(ctx, dsn, opts...)
	if err != nil {
		return nil, fmt.Errorf("open artifact store: %w", err)
	}
	return New(objects), nil
}

// New wraps an object store.
func New(objects blob.Store) *Blob { return &Blob{objects: objects} }

func key(name string) string { return KeyPrefix + name + ".json" }

// URL implements Store.
func (s *Blob) URL(name string) string { return s.objects.URL(key(name)) }

// Put implements Store.
func (s *Blob) Put(ctx context.Context, name string, data []byte) (string, error) {
	if len(data) > MaxSize {
		return "", apierr.InvalidField("values", "values document of %d bytes is larger than %d", len(data), MaxSize)
	}
	err := s.objects.Put(ctx, key(name), bytes.NewReader(data), int64(len(data)), blob.PutOptions{ContentType: "application/json"})
	if err != nil {
		return "", fmt.Errorf("store artifact %q: %w", name, err)
	}
	return s.URL(name), nil
}

// Get implements Store.
func (s *Blob) Get(ctx context.Context, name string) ([]byte, error) {
	rc, _, err := s.objects.Get(ctx, key(name))
	if err != nil {
		if apierr.KindOf(err) == apierr.NotFound {
			return nil, apierr.New(apierr.NotFound, "artifact %q not found", name)
		}
		return nil, fmt.Errorf("read artifact %q: %w", name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read artifact %q: %w", name, err)
	}
	return data, nil
}
