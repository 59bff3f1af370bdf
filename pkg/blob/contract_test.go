package blob_test

import (
	"testing"

	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/blob/blobtest"
)

func TestContract(t *testing.T) {
	t.Parallel()
	blobtest.ForEachBackend(t, func(t *testing.T, newStore func(t *testing.T) blob.Store) {
		t.Parallel()
		blobtest.RunContract(t, newStore)
	})
	t.Run("s3-prefixed", func(t *testing.T) {
		t.Parallel()
		blobtest.RunContract(t, func(t *testing.T) blob.Store {
			s, err := blob.Open(t.Context(), blobtest.WithPrefix(t, blobtest.StartS3(t), "tenant/a"))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		})
	})
}
