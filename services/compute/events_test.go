package compute_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/pkg/bus"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/config"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/server"
	"github.com/darwinml/darwin/pkg/testutil"
	"github.com/darwinml/darwin/services/compute"
	"github.com/darwinml/darwin/services/compute/internal/fakes"
)

// chronos is a fake chronos ingestion endpoint recording every POST /api/v1/event.
type chronos struct {
	srv *httptest.Server

	mu       sync.Mutex
	status   int // answer of every request; 200 when 0
	hang     bool
	received []received // answered with 2xx, in arrival order
	refused  int        // answered with non-2xx
	arrived  chan string
	release  chan struct{} // closed at cleanup: ends hanging requests
}

type received struct {
	header http.Header
	event  bus.ChronosEvent
	raw    map[string]any
}

func newChronos(t *testing.T) *chronos {
	t.Helper()
	c := &chronos{arrived: make(chan string, 100), release: make(chan struct{})}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		status, hang := c.status, c.hang
		c.mu.Unlock()
		b, _ := io.ReadAll(r.Body) // read first, so the server notices when the client gives up
		if hang {
			select {
			case <-r.Context().Done():
			case <-c.release:
			}
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/event" {
			http.Error(w, "no such route", http.StatusNotFound)
			return
		}
		if status != 0 && status != http.StatusOK {
			c.mu.Lock()
			c.refused++
			c.mu.Unlock()
			http.Error(w, "unavailable", status)
			return
		}
		var rec received
		rec.header = r.Header.Clone()
		if err := json.Unmarshal(b, &rec.event); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		_ = json.Unmarshal(b, &rec.raw)
		c.mu.Lock()
		c.received = append(c.received, rec)
		c.mu.Unlock()
		select {
		case c.arrived <- rec.event.EventType:
		default:
		}
		_, _ = w.Write([]byte(`{"message":"Event created successfully and sent for processing via transformers","status_code":200}`))
	}))
	t.Cleanup(c.srv.Close)
	t.Cleanup(func() { close(c.release) }) // runs before Close
	return c
}

func (c *chronos) set(status int, hang bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status, c.hang = status, hang
}

func (c *chronos) events() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.received)
}

func (c *chronos) types() []string {
	var out []string
	for _, r := range c.events() {
		out = append(out, r.event.EventType)
	}
	return out
}

func (c *chronos) refusals() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused
}

// newEventEnv serves compute over HTTP with a chronos sink but without starting the module's loops, so the
// test drives delivery (Outbox().DeliverPending), polling (PollOnce) and purging (PurgeEvents) one pass at a time.
func newEventEnv(t *testing.T, cfg compute.Config, reg prometheus.Registerer) *env {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	e := &env{cm: fakes.NewClusterManager(), probe: &fakes.Probe{}, clk: clk}
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.PublicURL = "http://localhost:8080"
	svc, err := compute.New(cfg, compute.Deps{Logger: log.Discard(), Clock: clk, ClusterManagerClient: e.cm, Probe: e.probe, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Module().Stop(context.WithoutCancel(t.Context())) })
	if err := compute.Migrate(t.Context(), cfg.DSN()); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{HTTPAddr: "127.0.0.1:0"}, log.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.HTTP.Route("/compute", svc.RegisterHTTP)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.WithoutCancel(t.Context())) })
	e.svc, e.url, e.srv = svc, "http://"+srv.HTTPAddr()+"/compute", srv
	return e
}

// deliver runs one relay pass and returns how many events it delivered.
func (e *env) deliver(t *testing.T) (int, error) {
	t.Helper()
	return e.svc.Outbox().DeliverPending(t.Context())
}

func (e *env) pollTo(t *testing.T, id string, heads, workers int, jupyter bool) {
	t.Helper()
	e.cm.SetPods(id, heads, workers)
	e.probe.Set(jupyter, true, true)
	e.clk.Advance(11 * time.Second)
	if _, err := e.svc.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestLifecycleEventsReachChronos follows a cluster from create to delete and checks every event reaches
// chronos in order, in the chronos shape, with x-event-source: compute.
func TestLifecycleEventsReachChronos(t *testing.T) {
	t.Parallel()
	ch := newChronos(t)
	e := newEventEnv(t, compute.Config{ChronosURL: ch.srv.URL + "/"}, nil)

	create := e.do(t, http.MethodPost, "/cluster", seedBody(t))
	id, _ := create.data()["cluster_id"].(string)
	if create.code != 200 || id == "" {
		t.Fatalf("create: %s", create.raw)
	}
	if n, err := e.deliver(t); err != nil || n != 3 {
		t.Fatalf("first pass delivered %d: %v", n, err)
	}
	e.pollTo(t, id, 1, 0, false)
	e.pollTo(t, id, 1, 0, true)
	e.pollTo(t, id, 1, 1, true)
	if n, err := e.deliver(t); err != nil || n != 4 {
		t.Fatalf("poll events: delivered %d: %v", n, err)
	}
	runID := e.do(t, http.MethodGet, "/cluster/"+id+"/metadata", "").data()["active_cluster_runid"]
	if r := e.do(t, http.MethodPost, "/cluster/stop-cluster/"+id, "", "msd-user", sdkUser); r.code != 202 {
		t.Fatalf("stop: %s", r.raw)
	}

	// (c) the events endpoint shows the outbox, newest first, whether or not chronos has them yet.
	r := e.do(t, http.MethodGet, "/cluster/"+id+"/events?limit=3", "")
	if r.code != 200 || r.body["status"] != "SUCCESS" || r.body["message"] != "Cluster events fetched successfully" {
		t.Fatalf("events: %d %s", r.code, r.raw)
	}
	list, _ := r.body["data"].([]any)
	var newest []string
	for _, it := range list {
		m := it.(map[string]any)
		if got := keys(m); !slices.Equal(got, []string{"cluster_id", "cluster_name", "event_type", "message", "metadata", "timestamp"}) {
			t.Fatalf("event keys %v", got)
		}
		newest = append(newest, m["event_type"].(string))
	}
	if !slices.Equal(newest, []string{"CLUSTER_STOPPED", "CLUSTER_STOP_REQUEST_RECEIVED", "CLUSTER_READY"}) {
		t.Fatalf("newest events %v", newest)
	}
	stopped := list[0].(map[string]any)
	if stopped["cluster_id"] != id || stopped["cluster_name"] != "my-first-cluster" || stopped["message"] != "by user@example.com" ||
		stopped["timestamp"] != "2026-03-01T10:00:33.000Z" || stopped["metadata"].(map[string]any)["session_id"] != runID {
		t.Fatalf("stopped event %v", stopped)
	}
	if r := e.do(t, http.MethodGet, "/cluster/"+id+"/events?limit=501", ""); r.code != 400 || r.data()["field"] != "limit" {
		t.Fatalf("limit 501: %d %s", r.code, r.raw)
	}
	if r := e.do(t, http.MethodGet, "/cluster/id-unknown/events", ""); r.code != 404 || r.body["status"] != "ERROR" {
		t.Fatalf("unknown cluster: %d %s", r.code, r.raw)
	}

	if r := e.do(t, http.MethodDelete, "/cluster/"+id, ""); r.code != 200 {
		t.Fatalf("delete: %s", r.raw)
	}
	if n, err := e.deliver(t); err != nil || n != 4 {
		t.Fatalf("stop/delete events: delivered %d: %v", n, err)
	}
	want := []string{"CLUSTER_CREATION_REQUEST_RECEIVED", "CLUSTER_CREATED", "CLUSTER_START_REQUEST_RECEIVED",
		"HEAD_NODE_UP", "JUPYTER_UP", "WORKER_NODES_UP", "CLUSTER_READY",
		"CLUSTER_STOP_REQUEST_RECEIVED", "CLUSTER_STOPPED", "CLUSTER_DELETION_REQUEST_RECEIVED", "CLUSTER_DELETED"}
	if got := ch.types(); !slices.Equal(got, want) {
		t.Fatalf("chronos received\n %v\nwant\n %v", got, want)
	}
	for _, rec := range ch.events() {
		ev := rec.event
		if rec.header.Get("x-event-source") != "compute" || !strings.HasPrefix(rec.header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s headers %v", ev.EventType, rec.header)
		}
		if _, err := time.Parse("2006-01-02 15:04:05", rec.header.Get("x-event-timestamp")); err != nil {
			t.Fatalf("%s x-event-timestamp %q", ev.EventType, rec.header.Get("x-event-timestamp"))
		}
		if ev.ClusterID != id || ev.ClusterName != "my-first-cluster" {
			t.Fatalf("%s is about %s/%s", ev.EventType, ev.ClusterID, ev.ClusterName)
		}
		ts, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
		if err != nil || ts.Location() != time.UTC || ts.Before(e.clk.Now().Add(-time.Hour)) {
			t.Fatalf("%s timestamp %q: %v", ev.EventType, ev.Timestamp, err)
		}
		for k := range rec.raw {
			if !slices.Contains([]string{"event_type", "timestamp", "cluster_id", "cluster_name", "session_id", "message", "artifact_name", "metadata"}, k) {
				t.Fatalf("%s has key %q outside the chronos shape", ev.EventType, k)
			}
		}
		switch ev.EventType {
		case "CLUSTER_CREATED":
			if ev.ArtifactName != id+"-v1" {
				t.Fatalf("created artifact %q", ev.ArtifactName)
			}
		case "HEAD_NODE_UP", "CLUSTER_READY", "CLUSTER_STOPPED":
			if ev.SessionID != runID {
				t.Fatalf("%s session %q, want the run id %v", ev.EventType, ev.SessionID, runID)
			}
		}
	}
	if n, err := e.deliver(t); err != nil || n != 0 || len(ch.events()) != len(want) {
		t.Fatalf("a pass with nothing pending delivered %d (%v); chronos has %d", n, err, len(ch.events()))
	}
}

// TestEventsSurviveChronosOutage keeps events while chronos answers 503 and delivers them once it recovers.
func TestEventsSurviveChronosOutage(t *testing.T) {
	t.Parallel()
	ch := newChronos(t)
	ch.set(http.StatusServiceUnavailable, false)
	reg := prometheus.NewRegistry()
	e := newEventEnv(t, compute.Config{ChronosURL: ch.srv.URL}, reg)

	id, _ := e.do(t, http.MethodPost, "/cluster", seedBody(t)).data()["cluster_id"].(string)
	e.pollTo(t, id, 1, 1, true) // creating → active in one poll: the whole path is replayed
	if r := e.do(t, http.MethodPost, "/cluster/stop-cluster/"+id, "", "msd-user", sdkUser); r.code != 202 {
		t.Fatalf("stop: %s", r.raw)
	}
	want := []string{"CLUSTER_CREATION_REQUEST_RECEIVED", "CLUSTER_CREATED", "CLUSTER_START_REQUEST_RECEIVED",
		"HEAD_NODE_UP", "JUPYTER_UP", "WORKER_NODES_UP", "CLUSTER_READY", "CLUSTER_STOP_REQUEST_RECEIVED", "CLUSTER_STOPPED"}

	n, err := e.deliver(t)
	if err == nil || n != 0 || len(ch.events()) != 0 || ch.refusals() != len(want) {
		t.Fatalf("outage pass: delivered %d, err %v, refusals %d", n, err, ch.refusals())
	}
	if got := testutil.ToFloat64(t, reg, "darwin_bus_deliveries_total", "source", "compute", "result", "failed"); got != float64(len(want)) {
		t.Fatalf("failed deliveries metric %v", got)
	}
	// Still refused on the next due pass: the retry waits for the backoff, then fails again.
	e.clk.Advance(2 * time.Second)
	if n, err := e.deliver(t); err == nil || n != 0 || ch.refusals() != 2*len(want) {
		t.Fatalf("second outage pass: delivered %d, err %v, refusals %d", n, err, ch.refusals())
	}

	ch.set(http.StatusOK, false)
	if n, err := e.deliver(t); err != nil || n != 0 {
		t.Fatalf("before the backoff elapsed: delivered %d: %v", n, err)
	}
	e.clk.Advance(5 * time.Second)
	if n, err := e.deliver(t); err != nil || n != len(want) {
		t.Fatalf("recovery pass delivered %d: %v", n, err)
	}
	if got := ch.types(); !slices.Equal(got, want) {
		t.Fatalf("after recovery chronos has\n %v\nwant each once, in order:\n %v", got, want)
	}
	if n, err := e.deliver(t); err != nil || n != 0 || len(ch.events()) != len(want) {
		t.Fatalf("delivered events were sent again: %d %v", n, err)
	}
	if got := testutil.ToFloat64(t, reg, "darwin_bus_deliveries_total", "source", "compute", "result", "delivered"); got != float64(len(want)) {
		t.Fatalf("delivered metric %v", got)
	}
	if got := testutil.ToFloat64(t, reg, "darwin_bus_events_published_total", "source", "compute", "type", "CLUSTER_READY"); got != 1 {
		t.Fatalf("published metric %v", got)
	}
}

// TestChronosTimeoutIsBounded: a chronos that never answers costs one timeout per event and keeps the events.
func TestChronosTimeoutIsBounded(t *testing.T) {
	t.Parallel()
	ch := newChronos(t)
	ch.set(0, true)
	e := newEventEnv(t, compute.Config{ChronosURL: ch.srv.URL, ChronosTimeout: 100 * time.Millisecond}, nil)
	body := strings.Replace(seedBody(t), `"start_cluster": true`, `"start_cluster": false`, 1)
	if r := e.do(t, http.MethodPost, "/cluster", body); r.code != 200 {
		t.Fatalf("create: %s", r.raw)
	}
	began := time.Now()
	if n, err := e.deliver(t); err == nil || n != 0 {
		t.Fatalf("hanging chronos: delivered %d, err %v", n, err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("a pass over 2 events took %v with a 100ms timeout", took)
	}
	ch.set(0, false)
	e.clk.Advance(time.Minute)
	if n, err := e.deliver(t); err != nil || n != 2 {
		t.Fatalf("after chronos answers again: delivered %d: %v", n, err)
	}
}

// TestPurgeDeliveredEvents drops delivered events past the retention and keeps undelivered ones.
func TestPurgeDeliveredEvents(t *testing.T) {
	t.Parallel()
	ch := newChronos(t)
	e := newEventEnv(t, compute.Config{ChronosURL: ch.srv.URL, EventRetention: 48 * time.Hour}, nil)
	body := strings.Replace(seedBody(t), `"start_cluster": true`, `"start_cluster": false`, 1)
	first, _ := e.do(t, http.MethodPost, "/cluster", body).data()["cluster_id"].(string)
	if n, err := e.deliver(t); err != nil || n != 2 {
		t.Fatalf("delivered %d: %v", n, err)
	}
	ch.set(http.StatusServiceUnavailable, false)
	second, _ := e.do(t, http.MethodPost, "/cluster", body).data()["cluster_id"].(string)
	if _, err := e.deliver(t); err == nil {
		t.Fatal("delivery to a refusing chronos succeeded")
	}
	e.clk.Advance(47 * time.Hour)
	if n, err := e.svc.PurgeEvents(t.Context()); err != nil || n != 0 {
		t.Fatalf("purged %d within the retention: %v", n, err)
	}
	e.clk.Advance(2 * time.Hour)
	if n, err := e.svc.PurgeEvents(t.Context()); err != nil || n != 2 {
		t.Fatalf("purged %d past the retention, want the 2 delivered: %v", n, err)
	}
	if r := e.do(t, http.MethodGet, "/cluster/"+first+"/events", ""); r.code != 200 || len(r.body["data"].([]any)) != 0 {
		t.Fatalf("purged events still listed: %s", r.raw)
	}
	if r := e.do(t, http.MethodGet, "/cluster/"+second+"/events", ""); len(r.body["data"].([]any)) != 2 {
		t.Fatalf("undelivered events must be kept: %s", r.raw)
	}
}

// TestModuleRelaysEvents: with the module started, events reach chronos without any explicit pass.
func TestModuleRelaysEvents(t *testing.T) {
	t.Parallel()
	ch := newChronos(t)
	clk := clock.NewFake(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	cfg := compute.Config{DataDir: filepath.Join(t.TempDir(), "data"), PollInterval: time.Hour, ChronosURL: ch.srv.URL}
	svc, err := compute.New(cfg, compute.Deps{Logger: log.Discard(), Clock: clk, ClusterManagerClient: fakes.NewClusterManager(), Probe: &fakes.Probe{}})
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mod.Stop(context.WithoutCancel(t.Context())) })
	if err := svc.Outbox().Publish(t.Context(), nil, bus.Event{Type: "CLUSTER_CREATED", Subject: "id-x"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ch.arrived:
		if got != "CLUSTER_CREATED" {
			t.Fatalf("chronos got %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the started module did not relay the event to chronos")
	}
}

func TestChronosConfig(t *testing.T) {
	t.Parallel()
	var cfg compute.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if cfg.ChronosURL != "" || cfg.ChronosTimeout != 5*time.Second || cfg.EventRetention != 7*24*time.Hour {
		t.Fatalf("defaults %q %v %v", cfg.ChronosURL, cfg.ChronosTimeout, cfg.EventRetention)
	}
	if err := fs.Parse([]string{"-compute.chronos-url", "http://chronos:8000", "-compute.chronos-timeout", "2s", "-compute.event-retention", "24h"}); err != nil {
		t.Fatal(err)
	}
	if cfg.ChronosURL != "http://chronos:8000" || cfg.ChronosTimeout != 2*time.Second || cfg.EventRetention != 24*time.Hour {
		t.Fatalf("flags %q %v %v", cfg.ChronosURL, cfg.ChronosTimeout, cfg.EventRetention)
	}
	var y compute.Config
	if err := config.DecodeYAML([]byte("chronos_url: https://chronos.example\nchronos_timeout: 3s\nevent_retention: 72h\n"), &y); err != nil {
		t.Fatal(err)
	}
	if y.ChronosURL != "https://chronos.example" || y.ChronosTimeout != 3*time.Second || y.EventRetention != 72*time.Hour {
		t.Fatalf("yaml %+v", y)
	}
	for _, tc := range []struct {
		url string
		ok  bool
	}{{"", true}, {"http://chronos:8000", true}, {"https://c.example/base", true}, {"ftp://c", false}, {"http://", false}, {"chronos:8000", false}} {
		c := compute.Config{ChronosURL: tc.url}
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("chronos_url %q: validate %v", tc.url, err)
		}
	}
	if err := (&compute.Config{EventRetention: -time.Second}).Validate(); err == nil {
		t.Error("negative retention accepted")
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
