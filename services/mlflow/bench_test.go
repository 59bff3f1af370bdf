package mlflow_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/services/mlflow"
)

// BenchmarkSearchRuns30k is issue #5's benchmark: 30,000 runs × 100 metrics and 100 params logged through the
// REST API (runs/create + runs/log-batch), then runs/search with a metric filter and a metric order, first page
// and a deep page (page 100, reached by following next_page_token), each a 100-run page with every run's
// data. The floor is a loopback HTTP round trip to a handler that writes a fixed body, measured in the same run.
//
// Loading takes minutes, so the loaded SQLite database is kept under <repo>/.cache/bench and reused while the
// data's shape is unchanged. DARWIN_BENCH_MLFLOW_RUNS overrides the run count;
// DARWIN_BENCH_MLFLOW_DSN runs it on MySQL/PostgreSQL instead (loaded afresh each time).
func BenchmarkSearchRuns30k(b *testing.B) {
	runs := 30000
	if v := os.Getenv("DARWIN_BENCH_MLFLOW_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 200 {
			b.Fatalf("DARWIN_BENCH_MLFLOW_RUNS=%q: want an integer ≥ 200", v)
		}
		runs = n
	}
	const keys = 100
	dsn, cached := benchDSN(b, runs, keys)
	cfg := mlflow.Config{DataDir: b.TempDir(), DB: mlflow.DBConfig{DSN: dsn, AutoMigrate: true}}
	svc, err := mlflow.New(cfg, mlflow.Deps{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mod.Stop(b.Context()) })
	r := chi.NewRouter()
	svc.RegisterHTTP(r)
	srv := httptest.NewServer(r)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	c := benchClient{b: b, base: srv.URL + "/api/2.0/mlflow", client: client}

	expID := c.experiment("bench-30k")
	if !cached {
		start := time.Now()
		c.load(expID, runs, keys)
		b.Logf("loaded %d runs × %d metrics + %d params in %s", runs, keys, keys, time.Since(start).Round(time.Second))
		markLoaded(b, dsn)
	}

	search := func(token string) (int, string) {
		body := map[string]any{
			"experiment_ids": []string{expID}, "filter": "metrics.m7 < 0.5 and params.p3 != 'x'",
			"order_by": []string{"metrics.m3 DESC"}, "max_results": 100, "page_token": token,
		}
		var resp struct {
			Runs []struct {
				Data struct {
					Metrics []json.RawMessage `json:"metrics"`
				} `json:"data"`
			} `json:"runs"`
			NextPageToken string `json:"next_page_token"`
		}
		c.post("/runs/search", body, &resp)
		if len(resp.Runs) > 0 && len(resp.Runs[0].Data.Metrics) != keys {
			b.Fatalf("a run came back with %d metrics, want %d", len(resp.Runs[0].Data.Metrics), keys)
		}
		return len(resp.Runs), resp.NextPageToken
	}
	// Walk to page 100 once: it checks paging end to end and yields the deep page's token.
	deepPage := min(100, runs/2/100-1)
	token := ""
	for range deepPage - 1 {
		n, next := search(token)
		if n != 100 || next == "" {
			b.Fatalf("page came back with %d runs, next token %q", n, next)
		}
		token = next
	}
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"runs":[]}`)
	}))
	b.Cleanup(floor.Close)

	b.Run("floor=loopback", func(b *testing.B) {
		fc := benchClient{b: b, base: floor.URL, client: client}
		for b.Loop() {
			fc.post("/", map[string]any{"experiment_ids": []string{"1"}}, nil)
		}
	})
	b.Run("first-page", func(b *testing.B) {
		for b.Loop() {
			if n, _ := search(""); n != 100 {
				b.Fatalf("first page: %d runs", n)
			}
		}
	})
	b.Run(fmt.Sprintf("page-%d", deepPage), func(b *testing.B) {
		for b.Loop() {
			if n, _ := search(token); n != 100 {
				b.Fatalf("deep page: %d runs", n)
			}
		}
	})
}

// benchDSN returns the DSN to benchmark and whether it already holds the loaded data.
func benchDSN(b *testing.B, runs, keys int) (string, bool) {
	if dsn := os.Getenv("DARWIN_BENCH_MLFLOW_DSN"); dsn != "" {
		return dsn, false
	}
	// The name depends on the data's shape only: migrations added later are applied to the cached database
	// when the service starts, as they would be to a production one.
	h := sha256.New()
	fmt.Fprintf(h, "runs=%d keys=%d v1", runs, keys)
	dir := filepath.Join("..", "..", ".cache", "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path, _ := filepath.Abs(filepath.Join(dir, "mlflow-"+hex.EncodeToString(h.Sum(nil))[:16]+".db"))
	_, err := os.Stat(path + ".loaded")
	if err != nil {
		// A partial load from an interrupted run is discarded.
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(path + suffix)
		}
	}
	return "sqlite://" + path, err == nil
}

func markLoaded(b *testing.B, dsn string) {
	if path, ok := cutPrefix(dsn, "sqlite://"); ok {
		if err := os.WriteFile(path+".loaded", []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

type benchClient struct {
	b      testing.TB
	base   string
	client *http.Client
}

func (c benchClient) post(path string, body, out any) {
	data, err := json.Marshal(body)
	if err != nil {
		c.b.Fatal(err)
	}
	resp, err := c.client.Post(c.base+path, "application/json", bytes.NewReader(data))
	if err != nil {
		c.b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		c.b.Fatalf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.b.Fatalf("POST %s: %v", path, err)
		}
	}
}

// experiment returns the id of the named experiment, creating it when missing.
func (c benchClient) experiment(name string) string {
	resp, err := c.client.Get(c.base + "/experiments/get-by-name?experiment_name=" + url.QueryEscape(name))
	if err != nil {
		c.b.Fatal(err)
	}
	var got struct {
		Experiment struct {
			ID string `json:"experiment_id"`
		} `json:"experiment"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK && err == nil {
		return got.Experiment.ID
	}
	var created struct {
		ID string `json:"experiment_id"`
	}
	c.post("/experiments/create", map[string]any{"name": name}, &created)
	return created.ID
}

// load logs runs × keys metrics and params the way a training loop's mlflow.log_metrics/log_params would, in
// parallel. Metric m<k> of run i is a deterministic value in [0, 1); param p<k> is "v<(i*k)%10>".
func (c benchClient) load(expID string, runs, keys int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= runs {
					return
				}
				mu.Lock()
				stop := failed != nil
				mu.Unlock()
				if stop {
					return
				}
				if err := c.loadRun(expID, i, keys); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				if i > 0 && i%5000 == 0 {
					c.b.Logf("loaded %d runs", i)
				}
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		c.b.Fatal(failed)
	}
}

func (c benchClient) loadRun(expID string, i, keys int) error {
	call := func(path string, body, out any) error {
		data, _ := json.Marshal(body)
		resp, err := c.client.Post(c.base+path, "application/json", bytes.NewReader(data))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, raw)
		}
		if out != nil {
			return json.Unmarshal(raw, out)
		}
		return nil
	}
	var created struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := call("/runs/create", map[string]any{"experiment_id": expID, "start_time": 1_700_000_000_000 + int64(i)}, &created); err != nil {
		return err
	}
	type kv struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	type metric struct {
		Key       string  `json:"key"`
		Value     float64 `json:"value"`
		Timestamp int64   `json:"timestamp"`
		Step      int64   `json:"step"`
	}
	metrics := make([]metric, 0, keys)
	params := make([]kv, 0, keys)
	for k := range keys {
		v := float64((i*7919+k*104729)%100000) / 100000
		metrics = append(metrics, metric{Key: "m" + strconv.Itoa(k), Value: v, Timestamp: 1_700_000_000_000 + int64(i), Step: 0})
		params = append(params, kv{Key: "p" + strconv.Itoa(k), Value: "v" + strconv.Itoa((i*k)%10)})
	}
	return call("/runs/log-batch", map[string]any{"run_id": created.Run.Info.RunID, "metrics": metrics, "params": params}, nil)
}
