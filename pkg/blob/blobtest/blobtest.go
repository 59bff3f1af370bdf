// Package blobtest gives tests real object storage: a local directory, an in-process S3-compatible server
// (gofakes3 over a loopback httptest server, driven through the real AWS SDK), and optionally a real S3 API
// named by DARWIN_TEST_S3_DSN. RunContract is the behaviour every blob.Store must have.
package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/darwinml/darwin/pkg/blob"
)

// EnvS3 names an S3 DSN (e.g. a MinIO or AWS bucket) that ForEachBackend also runs against when set. Each
// store gets a fresh random prefix under the DSN's prefix and is emptied at cleanup.
const EnvS3 = "DARWIN_TEST_S3_DSN"

// Bucket is the bucket StartS3 creates.
const Bucket = "darwin-test"

// StartS3 starts an in-memory S3-compatible server on a loopback listener, creates Bucket in it and returns
// a DSN for blob.Open (path-style addressing, static test credentials). The server stops at test cleanup.
func StartS3(t testing.TB) string {
	t.Helper()
	backend := replacingBackend{s3mem.New()}
	if err := backend.CreateBucket(Bucket); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	q := url.Values{
		"endpoint":   {srv.URL},
		"region":     {"us-east-1"},
		"path_style": {"true"},
		"access_key": {"darwin"},
		"secret_key": {"darwin-secret"},
	}
	return "s3://" + Bucket + "?" + q.Encode()
}

// NewLocal opens a local-directory store in a fresh temporary directory.
func NewLocal(t testing.TB) blob.Store {
	t.Helper()
	return open(t, t.TempDir())
}

// NewS3 starts an in-process S3 server (StartS3) and opens a store on it.
func NewS3(t testing.TB, opts ...blob.Option) blob.Store {
	t.Helper()
	return open(t, StartS3(t), opts...)
}

func open(t testing.TB, dsn string, opts ...blob.Option) blob.Store {
	t.Helper()
	s, err := blob.Open(t.Context(), dsn, opts...)
	if err != nil {
		t.Fatalf("open blob store: %v", err)
	}
	return s
}

// WithPrefix returns dsn (file or s3) with seg appended to its path.
func WithPrefix(t testing.TB, dsn, seg string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse dsn: %v", err)
	}
	u.Path = path.Join("/", u.Path, seg)
	return u.String()
}

// ForEachBackend runs fn as a subtest per backend, handing it a constructor of fresh, empty stores:
// "local", "s3" (in-process server) and, when EnvS3 is set, "s3-env".
func ForEachBackend(t *testing.T, fn func(t *testing.T, newStore func(t *testing.T) blob.Store)) {
	t.Helper()
	t.Run("local", func(t *testing.T) {
		fn(t, func(t *testing.T) blob.Store { return NewLocal(t) })
	})
	t.Run("s3", func(t *testing.T) {
		fn(t, func(t *testing.T) blob.Store { return NewS3(t) })
	})
	if dsn := os.Getenv(EnvS3); dsn != "" {
		t.Run("s3-env", func(t *testing.T) {
			fn(t, func(t *testing.T) blob.Store {
				var rnd [6]byte
				_, _ = rand.Read(rnd[:])
				s := open(t, WithPrefix(t, dsn, "darwin-test-"+hex.EncodeToString(rnd[:])))
				t.Cleanup(func() { empty(t, s) })
				return s
			})
		})
	}
}

// empty deletes every object in s (used to clean a shared real bucket).
func empty(t testing.TB, s blob.Store) {
	ctx := context.WithoutCancel(t.Context()) // cleanups run after the test context is cancelled
	token := ""
	for {
		page, err := s.List(ctx, "", blob.ListOptions{PageToken: token})
		if err != nil {
			t.Errorf("empty store: %v", err)
			return
		}
		for _, it := range page.Items {
			if err := s.Delete(ctx, it.Key); err != nil {
				t.Errorf("empty store: %v", err)
			}
		}
		if page.NextPageToken == "" {
			return
		}
		token = page.NextPageToken
	}
}

func mib(n int) int64 { return int64(n) << 20 }

func short(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%q... (%d bytes)", b[:32], len(b))
	}
	return fmt.Sprintf("%q", b)
}
