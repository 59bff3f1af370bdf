package artifact_test

import (
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/blob/blobtest"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
)

// The artifact store behaves the same on a local directory and on an S3 API
// (the in-process S3-compatible server), under mlp/cluster_manager/.
func TestStore(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) blob.Store{
		"local": func(t *testing.T) blob.Store { return blobtest.NewLocal(t) },
		"s3":    func(t *testing.T) blob.Store { return blobtest.NewS3(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			objects := open(t)
			s := artifact.New(objects)
			if _, err := s.Get(ctx, "id-1-v1"); apierr.KindOf(err) != apierr.NotFound {
				t.Fatalf("missing artifact: %v", err)
			}
			url, err := s.Put(ctx, "id-1-v1", []byte(`{"a":1}`))
			if err != nil || url != s.URL("id-1-v1") || !strings.HasSuffix(url, "mlp/cluster_manager/id-1-v1.json") {
				t.Fatalf("put: %q %v", url, err)
			}
			if _, err := s.Put(ctx, "id-1-v1", []byte(`{"a":2}`)); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "id-1-v1")
			if err != nil || string(got) != `{"a":2}` {
				t.Fatalf("get after overwrite: %q %v", got, err)
			}
			// The object is where the original kept it.
			if _, err := objects.Stat(ctx, "mlp/cluster_manager/id-1-v1.json"); err != nil {
				t.Errorf("object not under mlp/cluster_manager/: %v", err)
			}
			if _, err := s.Put(ctx, "big", make([]byte, artifact.MaxSize+1)); apierr.KindOf(err) != apierr.InvalidArgument {
				t.Errorf("oversized artifact: %v", err)
			}
		})
	}
}
