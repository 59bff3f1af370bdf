package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/bus"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/metrics"
	"github.com/darwinml/darwin/pkg/testutil"
)

var epoch = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

var busMigrations = []dbtest.Migration{{Component: bus.Component, FS: bus.Migrations}}

func TestMigrationTrees(t *testing.T) {
	t.Parallel()
	if err := db.CheckMigrationTrees(bus.Migrations); err != nil {
		t.Fatal(err)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempts int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {10, time.Minute}, {500, time.Minute}}
	for _, tt := range tests {
		if got := bus.Backoff(tt.attempts, time.Second, time.Minute); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}

// recorder is a handler that counts deliveries per event id and can be made to fail.
type recorder struct {
	mu     sync.Mutex
	seen   map[string]int
	events []bus.Event
	fail   atomic.Bool
}

func newRecorder() *recorder { return &recorder{seen: map[string]int{}} }

func (r *recorder) handle(_ context.Context, e bus.Event) error {
	if r.fail.Load() {
		return errors.New("sink down")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[e.ID]++
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, busMigrations, func(t *testing.T, d *db.DB) {
		t.Parallel()

		t.Run("publish follows the caller's transaction", func(t *testing.T) {
			ctx := t.Context()
			clk := clock.NewFake(epoch)
			o := bus.NewOutbox(d, "tx-test", clk, log.Discard())
			rec := newRecorder()
			o.Subscribe("rec", rec.handle)
			boom := errors.New("rollback")
			err := d.Tx(ctx, func(tx *db.Tx) error {
				if err := o.Publish(ctx, tx, bus.Event{ID: "rolled-back", Type: "CLUSTER_CREATED", Subject: "tx-c1"}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			err = d.Tx(ctx, func(tx *db.Tx) error {
				return o.Publish(ctx, tx, bus.Event{ID: "committed", Type: "CLUSTER_CREATED", Subject: "tx-c1",
					Data: map[string]any{"cluster_name": "first", "n": 3}})
			})
			if err != nil {
				t.Fatal(err)
			}
			n, err := o.DeliverPending(ctx)
			if err != nil || n != 1 {
				t.Fatalf("DeliverPending = %d, %v", n, err)
			}
			if rec.count("committed") != 1 || rec.count("rolled-back") != 0 {
				t.Fatalf("seen = %v", rec.seen)
			}
			got := rec.events[0]
			if got.Source != "tx-test" || got.Subject != "tx-c1" || !got.Time.Equal(epoch) ||
				got.Data["cluster_name"] != "first" || got.Data["n"] != float64(3) {
				t.Fatalf("delivered event = %+v", got)
			}
			if n, _ := o.DeliverPending(ctx); n != 0 || rec.count("committed") != 1 {
				t.Fatalf("redelivered: n=%d", n)
			}
		})

		t.Run("failed delivery is retried with backoff and not lost", func(t *testing.T) {
			ctx := t.Context()
			clk := clock.NewFake(epoch)
			o := bus.NewOutbox(d, "retry-test", clk, log.Discard())
			o.SetOptions(bus.Options{MinBackoff: 10 * time.Second, MaxBackoff: time.Hour})
			rec := newRecorder()
			good := newRecorder()
			o.Subscribe("flaky", rec.handle)
			o.Subscribe("good", good.handle)
			rec.fail.Store(true)
			if err := o.Publish(ctx, nil, bus.Event{ID: "retry-1", Type: "CLUSTER_STARTED", Subject: "retry-c1"}); err != nil {
				t.Fatal(err)
			}
			if n, err := o.DeliverPending(ctx); n != 0 || err == nil || !strings.Contains(err.Error(), "flaky") {
				t.Fatalf("first pass = %d, %v", n, err)
			}
			clk.Advance(9 * time.Second) // backoff after attempt 1 is 10s
			if n, err := o.DeliverPending(ctx); n != 0 || err != nil {
				t.Fatalf("retried before backoff: %d, %v", n, err)
			}
			clk.Advance(time.Second)
			if n, err := o.DeliverPending(ctx); n != 0 || err == nil {
				t.Fatalf("second attempt = %d, %v", n, err)
			}
			clk.Advance(19 * time.Second) // attempt 2 → 20s
			if n, _ := o.DeliverPending(ctx); n != 0 {
				t.Fatal("retried before doubled backoff")
			}
			rec.fail.Store(false)
			clk.Advance(time.Second)
			if n, err := o.DeliverPending(ctx); n != 1 || err != nil {
				t.Fatalf("after recovery = %d, %v", n, err)
			}
			if rec.count("retry-1") != 1 {
				t.Fatalf("flaky sink saw %d deliveries", rec.count("retry-1"))
			}
			if good.count("retry-1") != 3 { // at-least-once: the healthy sink sees every attempt
				t.Fatalf("good sink saw %d deliveries", good.count("retry-1"))
			}
			clk.Advance(time.Hour)
			if n, _ := o.DeliverPending(ctx); n != 0 {
				t.Fatal("delivered event delivered again")
			}
		})

		t.Run("two relays never double-deliver", func(t *testing.T) {
			ctx := t.Context()
			clk := clock.NewFake(epoch)
			rec := newRecorder()
			a := bus.NewOutbox(d, "pair-test", clk, log.Discard())
			b := bus.NewOutbox(d, "pair-test", clk, log.Discard())
			a.Subscribe("rec", rec.handle)
			b.Subscribe("rec", rec.handle)
			const total = 40
			for i := range total {
				if err := a.Publish(ctx, nil, bus.Event{Type: "EVT", Subject: "pair", Data: map[string]any{"i": i}}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			for _, o := range []*bus.Outbox{a, b, a, b} {
				wg.Go(func() {
					for rec.total() < total && ctx.Err() == nil {
						if _, err := o.DeliverPending(ctx); err != nil {
							t.Errorf("DeliverPending: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.seen) != total {
				t.Fatalf("delivered %d distinct events, want %d", len(rec.seen), total)
			}
			for id, n := range rec.seen {
				if n != 1 {
					t.Errorf("event %s delivered %d times", id, n)
				}
			}
		})

		t.Run("metrics and purge", func(t *testing.T) {
			ctx := t.Context()
			clk := clock.NewFake(epoch)
			reg := metrics.NewRegistry()
			o := bus.NewOutbox(d, "purge-test", clk, log.Discard())
			o.RegisterMetrics(reg)
			rec := newRecorder()
			o.Subscribe("rec", rec.handle)
			for _, id := range []string{"p-old", "p-pending"} {
				if err := o.Publish(ctx, nil, bus.Event{ID: id, Type: "EVT", Subject: "purge"}); err != nil {
					t.Fatal(err)
				}
				if id == "p-old" {
					if _, err := o.DeliverPending(ctx); err != nil {
						t.Fatal(err)
					}
					rec.fail.Store(true)
				}
			}
			if _, err := o.DeliverPending(ctx); err == nil {
				t.Fatal("expected a failed delivery")
			}
			if got := testutil.ToFloat64(t, reg, "darwin_bus_deliveries_total", "result", "failed"); got != 1 {
				t.Fatalf("failed deliveries = %v", got)
			}
			if got := testutil.ToFloat64(t, reg, "darwin_bus_events_published_total", "type", "EVT"); got != 2 {
				t.Fatalf("published = %v", got)
			}
			n, err := o.Purge(ctx, epoch.Add(time.Hour))
			if err != nil || n != 1 {
				t.Fatalf("Purge = %d, %v", n, err)
			}
			left, err := o.Recent(ctx, "purge", 10)
			if err != nil || len(left) != 1 || left[0].ID != "p-pending" {
				t.Fatalf("after purge: %+v, %v", left, err)
			}
		})

		t.Run("relays only their own source", func(t *testing.T) {
			ctx := t.Context()
			clk := clock.NewFake(epoch)
			mine := bus.NewOutbox(d, "src-a", clk, log.Discard())
			other := bus.NewOutbox(d, "src-b", clk, log.Discard())
			rec := newRecorder()
			other.Subscribe("rec", rec.handle)
			if err := mine.Publish(ctx, nil, bus.Event{Type: "EVT", Subject: "src"}); err != nil {
				t.Fatal(err)
			}
			if n, _ := other.DeliverPending(ctx); n != 0 || rec.total() != 0 {
				t.Fatal("outbox delivered another source's event")
			}
		})

		t.Run("recent newest first", func(t *testing.T) {
			ctx := t.Context()
			clk := clock.NewFake(epoch)
			o := bus.NewOutbox(d, "recent-test", clk, log.Discard())
			for _, typ := range []string{"A", "B", "C"} {
				clk.Advance(time.Second)
				if err := o.Publish(ctx, nil, bus.Event{Type: typ, Subject: "recent-c1"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := o.Publish(ctx, nil, bus.Event{Type: "X", Subject: "recent-other"}); err != nil {
				t.Fatal(err)
			}
			got, err := o.Recent(ctx, "recent-c1", 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Type != "C" || got[1].Type != "B" || !got[0].Time.Equal(epoch.Add(3*time.Second)) {
				t.Fatalf("Recent = %+v", got)
			}
			if err := o.Publish(ctx, nil, bus.Event{Subject: "x"}); err == nil {
				t.Fatal("event without type accepted")
			}
		})

		t.Run("run loop delivers on publish and tick", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			clk := clock.NewFake(epoch)
			o := bus.NewOutbox(d, "run-test", clk, log.Discard())
			o.SetOptions(bus.Options{PollInterval: time.Minute, MinBackoff: time.Second})
			rec := newRecorder()
			o.Subscribe("rec", rec.handle)
			done := make(chan struct{})
			go func() { defer close(done); o.Run(ctx) }()
			defer func() { cancel(); <-done }()
			if err := o.Publish(ctx, nil, bus.Event{ID: "run-1", Type: "EVT"}); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 10*time.Second, func() bool { return rec.count("run-1") == 1 }, "run-1 delivered")
			// A row published by another relay is picked up on the next tick.
			other := bus.NewOutbox(d, "run-test", clk, log.Discard())
			if err := other.Publish(ctx, nil, bus.Event{ID: "run-2", Type: "EVT"}); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 10*time.Second, func() bool {
				clk.Advance(time.Minute)
				return rec.count("run-2") == 1
			}, "run-2 delivered after a tick")
		})
	})
}

func TestHTTPSink(t *testing.T) {
	t.Parallel()
	type got struct {
		path, source, ts string
		body             map[string]any
	}
	var mu sync.Mutex
	var last got
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		last = got{path: r.URL.Path, source: r.Header.Get("x-event-source"), ts: r.Header.Get("x-event-timestamp")}
		_ = json.NewDecoder(r.Body).Decode(&last.body)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	sink := bus.HTTPSink(srv.URL+"/", srv.Client())
	e := bus.Event{ID: "e1", Type: "CLUSTER_CREATED", Source: "compute", Time: epoch, Subject: "id-1",
		Data: map[string]any{"cluster_name": "c", "message": "created", "runtime": "2.37", "metadata": map[string]any{"k": "v"}}}
	if err := sink(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if last.path != "/api/v1/event" || last.source != "compute" || last.ts != "2026-05-01 12:00:00" {
		t.Fatalf("request = %+v", last)
	}
	b := last.body
	meta, _ := b["metadata"].(map[string]any)
	if b["event_type"] != "CLUSTER_CREATED" || b["cluster_id"] != "id-1" || b["cluster_name"] != "c" ||
		b["message"] != "created" || b["timestamp"] != "2026-05-01T12:00:00Z" || meta["k"] != "v" || meta["runtime"] != "2.37" {
		t.Fatalf("body = %v", b)
	}
	mu.Unlock()
	status.Store(503)
	if err := sink(t.Context(), e); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503 not reported: %v", err)
	}
}
