package populator

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
	"github.com/darwinml/darwin/services/feature-store/internal/offline"
)

// Benchmarks populate generated files of 100k and 1M rows (10 columns: 2 primary keys, a timestamp, 7 features;
// row groups of 50k rows) cached under <repo>/.cache/bench/ (override with DARWIN_BENCH_DIR), through a writer that
// only counts, with the offline history on disk. They report rows/s and the peak heap; BenchmarkParquetRead is the
// floor: the raw parquet-go read rate of the same file.
//
//	go test -run '^$' -bench . -benchtime 1x ./services/feature-store/internal/populator/

const benchRowGroup = 50_000

func benchDir(b *testing.B) string {
	if d := os.Getenv("DARWIN_BENCH_DIR"); d != "" {
		return d
	}
	wd, _ := os.Getwd()
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return filepath.Join(d, ".cache", "bench")
		}
	}
	return filepath.Join(os.TempDir(), "darwin-bench")
}

var benchCols = []column{
	{"user_id", parquet.Leaf(parquet.Int64Type)},
	{"region", parquet.String()},
	{"event_timestamp", parquet.Timestamp(parquet.Millisecond)},
	{"score", parquet.Leaf(parquet.DoubleType)},
	{"clicks", parquet.Leaf(parquet.Int32Type)},
	{"active", parquet.Leaf(parquet.BooleanType)},
	{"segment", parquet.String()},
	{"amount", parquet.Leaf(parquet.FloatType)},
	{"updated_at", parquet.Timestamp(parquet.Microsecond)},
	{"note", parquet.Optional(parquet.String())},
}

func benchSchema() offline.Schema {
	return userSchema("v1", col("score", "DOUBLE"), col("clicks", "INT"), col("active", "BOOLEAN"), col("segment", "TEXT"),
		col("amount", "FLOAT"), col("updated_at", "TIMESTAMP"), col("note", "TEXT"))
}

// benchFile returns the cached file of n rows, generating it once (streamed, one row group at a time).
func benchFile(b *testing.B, n int) string {
	b.Helper()
	dir := benchDir(b)
	path := filepath.Join(dir, fmt.Sprintf("populator-%d.parquet", n))
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp, err := os.CreateTemp(dir, ".gen-*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := generate(bw, n); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		b.Fatal(err)
	}
	return path
}

// generate streams n synthetic rows into w.
func generate(w io.Writer, n int) error {
	group := parquet.Group{}
	for _, c := range benchCols {
		group[c.name] = c.node
	}
	schema := parquet.NewSchema("bench", group)
	leaf := make([]int, len(benchCols))
	for i, c := range benchCols {
		lc, _ := schema.Lookup(c.name)
		leaf[i] = lc.ColumnIndex
	}
	pw := parquet.NewWriter(w, schema)
	regions := []string{"eu", "us", "apac", "latam"}
	segments := []string{"casual", "regular", "power", "churned", "new"}
	rows := make([]parquet.Row, 0, 1000)
	base := int64(1_700_000_000_000)
	for i := 0; i < n; i++ {
		vals := []parquet.Value{
			parquet.Int64Value(int64(i % (n / 4))), parquet.ByteArrayValue([]byte(regions[i%4])),
			parquet.Int64Value(base + int64(i)*1000), parquet.DoubleValue(float64(i) * 0.37),
			parquet.Int32Value(int32(i % 1000)), parquet.BooleanValue(i%3 == 0),
			parquet.ByteArrayValue([]byte(segments[i%5])), parquet.FloatValue(float32(i%10000) / 7),
			parquet.Int64Value((base + int64(i)*1000) * 1000), parquet.ByteArrayValue([]byte("note-" + strconv.Itoa(i))),
		}
		row := make(parquet.Row, len(vals))
		for c, v := range vals {
			def := 0
			if benchCols[c].name == "note" {
				if i%7 == 0 {
					v = parquet.NullValue()
				} else {
					def = 1
				}
			}
			row[leaf[c]] = v.Level(0, def, leaf[c])
		}
		rows = append(rows, row)
		if len(rows) == cap(rows) || i == n-1 {
			if _, err := pw.WriteRows(rows); err != nil {
				return err
			}
			rows = rows[:0]
		}
		if (i+1)%benchRowGroup == 0 {
			if err := pw.Flush(); err != nil {
				return err
			}
		}
	}
	return pw.Close()
}

// countingWriter accepts every row.
type countingWriter struct{ rows atomic.Int64 }

func (w *countingWriter) Write(_ context.Context, bs []ingest.Batch) ([]ingest.Result, error) {
	out := make([]ingest.Result, len(bs))
	for i, b := range bs {
		w.rows.Add(int64(len(b.Rows)))
		out[i] = ingest.Result{Version: b.Version, Written: len(b.Rows)}
	}
	return out, nil
}

// rssBytes reads the process's resident set size (0 when /proc is unavailable).
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, rss uint64
	if _, err := fmt.Sscan(string(b), &size, &rss); err != nil {
		return 0
	}
	return rss * uint64(os.Getpagesize())
}

// peakRSS is the highest RSS seen by the last peakHeap sampler, in MB.
var peakRSS float64

// peakHeap samples the live heap (and RSS) every 5ms until stopped and returns the heap's maximum in MB.
func peakHeap() (stop func() float64) {
	var peak, rss uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			rss = max(rss, rssBytes())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		wg.Wait()
		peakRSS = float64(rss) / (1 << 20)
		return float64(peak) / (1 << 20)
	}
}

func BenchmarkPopulate(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			path := benchFile(b, n)
			res := &fakeResolver{schemas: map[string][]offline.Schema{"user_stats": {benchSchema()}}}
			b.ResetTimer()
			var rate, peak, rss float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				h, err := offline.OpenHistory(filepath.Join(b.TempDir(), offline.DirName), offline.HistoryOptions{})
				if err != nil {
					b.Fatal(err)
				}
				w := &countingWriter{}
				p, _ := New(Config{Resolver: res, Writer: w, History: h, Checkpoints: NewMemCheckpoints()})
				runtime.GC()
				stop := peakHeap()
				b.StartTimer()
				start := time.Now()
				st, err := p.Run(context.Background(), Job{Source: path, FeatureGroupName: "user_stats", RunID: "bench-" + strconv.Itoa(i)}, nil)
				el := time.Since(start)
				b.StopTimer()
				peak = max(peak, stop())
				rss = max(rss, peakRSS)
				if err != nil || st.RowsDone != int64(n) || w.rows.Load() != int64(n) {
					b.Fatalf("run: %v %+v written %d", err, st, w.rows.Load())
				}
				rate = float64(n) / el.Seconds()
				h.Close()
			}
			b.ReportMetric(rate, "rows/s")
			b.ReportMetric(peak, "peak-MB")
			b.ReportMetric(rss, "peak-RSS-MB")
		})
	}
}

// BenchmarkPopulateNoHistory is the same run without the offline history writes.
func BenchmarkPopulateNoHistory(b *testing.B) {
	n := 1_000_000
	path := benchFile(b, n)
	res := &fakeResolver{schemas: map[string][]offline.Schema{"user_stats": {benchSchema()}}}
	b.ResetTimer()
	var rate float64
	for i := 0; i < b.N; i++ {
		w := &countingWriter{}
		p, _ := New(Config{Resolver: res, Writer: w, Checkpoints: NewMemCheckpoints()})
		start := time.Now()
		if _, err := p.Run(context.Background(), Job{Source: path, FeatureGroupName: "user_stats", RunID: "nh-" + strconv.Itoa(i)}, nil); err != nil {
			b.Fatal(err)
		}
		rate = float64(n) / time.Since(start).Seconds()
	}
	b.ReportMetric(rate, "rows/s")
}

// BenchmarkParquetRead is the floor: reading every row of the 1M-row file with parquet-go, no conversion.
func BenchmarkParquetRead(b *testing.B) {
	path := benchFile(b, 1_000_000)
	b.ResetTimer()
	var rate, peak float64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		stop := peakHeap()
		start := time.Now()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		fi, _ := f.Stat()
		pf, err := parquet.OpenFile(f, fi.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		if err != nil {
			b.Fatal(err)
		}
		total := 0
		buf := make([]parquet.Row, 256)
		for _, rg := range pf.RowGroups() {
			rr := rg.Rows()
			for {
				n, err := rr.ReadRows(buf)
				total += n
				if err != nil {
					break
				}
			}
			rr.Close()
		}
		f.Close()
		rate = float64(total) / time.Since(start).Seconds()
		peak = max(peak, stop())
		if total != 1_000_000 {
			b.Fatalf("read %d rows", total)
		}
	}
	b.ReportMetric(rate, "rows/s")
	b.ReportMetric(peak, "peak-MB")
}
