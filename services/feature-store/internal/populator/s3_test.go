package populator

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/blob/blobtest"
)

// TestS3Source reads a prefix of an (in-process) S3 bucket through an s3:// source.
func TestS3Source(t *testing.T) {
	dsn := blobtest.StartS3(t)
	st, err := blob.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"data/fg/part-0.parquet", "data/fg/part-1.parquet", "data/fg/_SUCCESS", "data/other/part-0.parquet"} {
		var buf bytes.Buffer
		if strings.HasSuffix(key, ".parquet") {
			rows := make([][]any, 10)
			for i := range rows {
				rows[i] = []any{int64(i), "eu", float64(i), int64(1000 + i)}
			}
			if err := writeParquetTo(&buf, seqCols(), rows, 4); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Put(t.Context(), key, bytes.NewReader(buf.Bytes()), int64(buf.Len()), blob.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := url.Parse(dsn)
	source := "s3://" + u.Host + "/data/fg?" + u.RawQuery
	w := &fakeWriter{}
	p := newPopulator(t, Config{Resolver: seqResolver(), Writer: w, TempDir: t.TempDir()})
	rs, err := p.Run(t.Context(), Job{Source: source, FeatureGroupName: "user_stats", RunID: "s3"}, nil)
	if err != nil || rs.RowsDone != 20 || rs.RowsTotal != 20 || len(w.values("user_id")) != 20 {
		t.Fatalf("s3 run: %v %+v", err, rs)
	}
	if !strings.HasPrefix(rs.FileName, "s3://") || !strings.HasSuffix(rs.FileName, "data/fg/part-1.parquet") {
		t.Fatalf("file name %q", rs.FileName)
	}
	if got := redactSource(source); strings.Contains(got, "secret") {
		t.Fatalf("redacted source %q", got)
	}
}
