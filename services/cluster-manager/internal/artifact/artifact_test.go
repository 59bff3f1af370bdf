package artifact_test

import (
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
)

func TestFSStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := artifact.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "id-1-v1"); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("missing artifact: %v", err)
	}
	url, err := s.Put(ctx, "id-1-v1", []byte(`{"a":1}`))
	if err != nil || !strings.HasPrefix(url, "file:///") || !strings.HasSuffix(url, "/id-1-v1.json") || url != s.URL("id-1-v1") {
		t.Fatalf("put: %q %v", url, err)
	}
	if _, err := s.Put(ctx, "id-1-v1", []byte(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "id-1-v1")
	if err != nil || string(got) != `{"a":2}` {
		t.Fatalf("get after overwrite: %q %v", got, err)
	}
}
