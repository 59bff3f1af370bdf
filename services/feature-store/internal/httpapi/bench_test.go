package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
)

// latencies collects request latencies of one benchmark run.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

func (l *latencies) pct(p float64) time.Duration {
	if len(l.all) == 0 {
		return 0
	}
	slices.Sort(l.all)
	return l.all[min(len(l.all)-1, int(float64(len(l.all))*p))]
}

// floorStats are the loopback floor's figures at one concurrency, for the ratios of the cases run after it.
type floorStats struct{ p50, p99, rps float64 }

// runLoad runs do b.N times from conc goroutines (GOMAXPROCS × parallelism, so conc is rounded up to a multiple
// of GOMAXPROCS) and reports p50/p99 in µs and throughput in requests/s.
func runLoad(b *testing.B, conc int, do func(b *testing.B)) floorStats {
	var lat latencies
	start := time.Now()
	if conc <= 1 {
		local := make([]time.Duration, 0, 1024)
		for b.Loop() {
			t0 := time.Now()
			do(b)
			local = append(local, time.Since(t0))
		}
		lat.add(local)
	} else {
		procs := runtime.GOMAXPROCS(0)
		b.SetParallelism((conc + procs - 1) / procs)
		b.ResetTimer()
		start = time.Now()
		b.RunParallel(func(pb *testing.PB) {
			local := make([]time.Duration, 0, 1024)
			for pb.Next() {
				t0 := time.Now()
				do(b)
				local = append(local, time.Since(t0))
			}
			lat.add(local)
		})
	}
	elapsed := time.Since(start)
	s := floorStats{
		p50: float64(lat.pct(0.50).Nanoseconds()) / 1e3,
		p99: float64(lat.pct(0.99).Nanoseconds()) / 1e3,
		rps: float64(len(lat.all)) / elapsed.Seconds(),
	}
	b.ReportMetric(s.p50, "p50-µs")
	b.ReportMetric(s.p99, "p99-µs")
	b.ReportMetric(s.rps, "req/s")
	return s
}

// BenchmarkReadFeatures reads 50 DOUBLE features of 1 and 10 keys through real HTTP (loopback, keep-alive, GET
// with a JSON body, embedded Pebble store, SQLite metadata) at concurrency 1 and 8, beside a loopback floor measured
// in the same run at the same concurrency: the same client against a trivial handler answering a fixed body of the
// 1-key response's size. Each case reports p50/p99 (µs), req/s and, for reads, the ratios to the floor
// (p50-x-floor, p99-x-floor, rps-x-floor). Goal: keys=1 at conc=1 under 1 ms p99 and within 3× the floor.
//
//	go test -run '^$' -bench ReadFeatures -benchtime 3s ./services/feature-store/internal/httpapi/
func BenchmarkReadFeatures(b *testing.B) {
	d := dbtest.Open(b, db.SQLite)
	if err := db.Migrate(b.Context(), d, fsMigrations[0].Component, fsMigrations[0].FS); err != nil {
		b.Fatal(err)
	}
	e := newEnvWith(b, d, pebbleStore(b))
	e.adminDo("POST", "/entity", map[string]any{"entity": map[string]any{"tableName": "users", "features": []any{col("user_id", "BIGINT")}, "primaryKeys": []string{"user_id"}}, "owner": "a@b.co"}).ok(b)
	cols, names := []map[string]any{}, []string{"user_id"}
	for i := range 50 {
		cols = append(cols, col(fmt.Sprintf("f%02d", i), "DOUBLE"))
		names = append(names, fmt.Sprintf("f%02d", i))
	}
	e.adminDo("POST", "/feature-group", fgReq("bench", "users", nil, cols...)).ok(b)
	var rows [][]any
	for k := range 10 {
		row := []any{k}
		for i := range 50 {
			row = append(row, float64(k*100+i)+0.25)
		}
		rows = append(rows, row)
	}
	e.appDo("POST", "/feature-group/write-features-v2", writeBody("bench", nil, names, rows...)).ok(b)

	srv := httptest.NewServer(e.app)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	read := func(b *testing.B, url string, body []byte) int {
		req, err := http.NewRequest(http.MethodGet, url, bytes.NewReader(body))
		if err != nil {
			b.Error(err)
			return 0
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Errorf("status %d", res.StatusCode)
		}
		return int(n)
	}
	body := func(keys int) []byte {
		var ks [][]any
		for k := range keys {
			ks = append(ks, []any{k})
		}
		return []byte(asJSON(readBody2("bench", nil, names[1:], []string{"user_id"}, ks...)))
	}
	one := body(1)
	size := read(b, srv.URL+"/feature-group/read-features", one)
	fixed := bytes.Repeat([]byte("x"), size)
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(fixed)
	}))
	defer floor.Close()

	for _, conc := range []int{1, 8} {
		var fl floorStats
		b.Run(fmt.Sprintf("conc=%d/loopback-floor", conc), func(b *testing.B) {
			fl = runLoad(b, conc, func(b *testing.B) { read(b, floor.URL, one) })
		})
		for _, keys := range []int{1, 10} {
			req := body(keys)
			b.Run(fmt.Sprintf("conc=%d/keys=%d/features=50", conc, keys), func(b *testing.B) {
				s := runLoad(b, conc, func(b *testing.B) { read(b, srv.URL+"/feature-group/read-features", req) })
				if fl.p50 > 0 {
					b.ReportMetric(s.p50/fl.p50, "p50-x-floor")
					b.ReportMetric(s.p99/fl.p99, "p99-x-floor")
					b.ReportMetric(s.rps/fl.rps, "rps-x-floor")
				}
			})
		}
	}
}

// BenchmarkInstrument is the metrics middleware's own cost per request (route lookup, status capture, histogram
// and counter updates), beside the same handler unwrapped.
func BenchmarkInstrument(b *testing.B) {
	d := dbtest.Open(b, db.SQLite)
	e := newEnvWith(b, d, pebbleStore(b))
	noop := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	req := httptest.NewRequest(http.MethodGet, "/feature-group/read-features", nil)
	w := httptest.NewRecorder()
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			noop.ServeHTTP(w, req)
		}
	})
	wrapped := e.h.instrument("app")(noop)
	b.Run("instrumented", func(b *testing.B) {
		for b.Loop() {
			wrapped.ServeHTTP(w, req)
		}
	})
}
