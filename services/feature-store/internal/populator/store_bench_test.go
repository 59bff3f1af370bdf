package populator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/feature-store/internal/httpapi"
	"github.com/darwinml/darwin/services/feature-store/internal/offline"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
	"github.com/darwinml/darwin/services/feature-store/internal/store"
	"github.com/darwinml/darwin/services/feature-store/migrations"
)

// storeResolver answers schemas from the metadata store, as the service wires it.
type storeResolver struct{ meta *store.Store }

func (r storeResolver) Resolve(ctx context.Context, fg, version string) (offline.Schema, error) {
	g, err := r.meta.GetFeatureGroup(ctx, fg, version)
	if err != nil {
		return offline.Schema{}, err
	}
	e, err := r.meta.GetEntity(ctx, g.FeatureGroup.EntityName)
	if err != nil {
		return offline.Schema{}, err
	}
	return offline.SchemaFrom(e, g), nil
}

// BenchmarkPopulateIntoStore is BenchmarkPopulate through the service's real write path: the ingest writer of the
// REST handler (metadata in SQLite, rows validated and coerced) into the embedded Pebble online store on disk (a
// durable write per batch), with the offline history on disk.
func BenchmarkPopulateIntoStore(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run("rows="+strconv.Itoa(n), func(b *testing.B) {
			path := benchFile(b, n)
			var rate, peak, rss float64
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				ctx := context.Background()
				d, err := db.Open(ctx, "sqlite://"+filepath.Join(dir, "fs.db"))
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Migrate(ctx, d, migrations.Component, migrations.FS); err != nil {
					b.Fatal(err)
				}
				on, err := online.OpenPebble(filepath.Join(dir, "online"), online.PebbleOptions{})
				if err != nil {
					b.Fatal(err)
				}
				meta := store.New(d, clock.Real())
				h := httpapi.New(meta, on, httpapi.Options{})
				admin := chi.NewRouter()
				h.RegisterAdmin(admin)
				for _, req := range []struct{ path, body string }{
					{"/entity", `{"entity":{"tableName":"users","features":[{"name":"user_id","type":"BIGINT"},{"name":"region","type":"TEXT"}],"primaryKeys":["user_id","region"]},"owner":"bench@example.com"}`},
					{"/feature-group", `{"featureGroup":{"featureGroupName":"user_stats","entityName":"users","features":[{"name":"score","type":"DOUBLE"},{"name":"clicks","type":"INT"},{"name":"active","type":"BOOLEAN"},{"name":"segment","type":"TEXT"},{"name":"amount","type":"FLOAT"},{"name":"updated_at","type":"TIMESTAMP"},{"name":"note","type":"TEXT"}]},"owner":"bench@example.com"}`},
				} {
					rec := httptest.NewRecorder()
					admin.ServeHTTP(rec, httptest.NewRequest("POST", req.path, strings.NewReader(req.body)))
					if rec.Code != http.StatusOK {
						b.Fatalf("%s: %d %s", req.path, rec.Code, rec.Body)
					}
				}
				hist, err := offline.OpenHistory(filepath.Join(dir, offline.DirName), offline.HistoryOptions{})
				if err != nil {
					b.Fatal(err)
				}
				p, err := New(Config{Resolver: storeResolver{meta}, Writer: h, History: hist, Checkpoints: NewSQLCheckpoints(d)})
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				stop := peakHeap()
				b.StartTimer()
				start := time.Now()
				st, err := p.Run(ctx, Job{Source: path, FeatureGroupName: "user_stats", RunID: "bench"}, nil)
				el := time.Since(start)
				b.StopTimer()
				peak = max(peak, stop())
				rss = max(rss, peakRSS)
				if err != nil || st.RowsDone != int64(n) || st.FailedRows != 0 {
					b.Fatalf("run: %v %+v", err, st)
				}
				rate = float64(n) / el.Seconds()
				_ = hist.Close()
				_ = on.Close()
				_ = d.Close()
			}
			b.ReportMetric(rate, "rows/s")
			b.ReportMetric(peak, "peak-MB")
			b.ReportMetric(rss, "peak-RSS-MB")
		})
	}
}
