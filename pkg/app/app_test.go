package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/log"
)

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) module(name string, startErr, stopErr error, deps ...string) Module {
	return Module{
		Name:  name,
		Deps:  deps,
		Start: func(context.Context) error { r.add("start " + name); return startErr },
		Stop:  func(context.Context) error { r.add("stop " + name); return stopErr },
	}
}

func newManager(r *recorder, mods ...Module) *Manager {
	m := NewManager(log.Discard())
	for _, mod := range mods {
		m.Register(mod)
	}
	return m
}

func TestResolve(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	m := newManager(r,
		r.module("server", nil, nil),
		r.module("db", nil, nil),
		r.module("cluster-manager", nil, nil, "server"),
		r.module("compute", nil, nil, "db", "server", "cluster-manager"),
		r.module("extra", nil, nil),
	)
	tests := []struct {
		name    string
		targets []string
		want    []string
		wantErr string
	}{
		{"all", []string{"all"}, []string{"server", "db", "cluster-manager", "compute", "extra"}, ""},
		{"transitive deps first", []string{"compute"}, []string{"db", "server", "cluster-manager", "compute"}, ""},
		{"comma list", []string{"extra,cluster-manager"}, []string{"extra", "server", "cluster-manager"}, ""},
		{"duplicates once", []string{"server", "server,cluster-manager"}, []string{"server", "cluster-manager"}, ""},
		{"unknown", []string{"nope"}, nil, `unknown module "nope"`},
		{"empty", []string{""}, nil, "no modules selected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := m.Resolve(tt.targets)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Resolve = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	m := newManager(r, r.module("a", nil, nil, "b"), r.module("b", nil, nil, "c"), r.module("c", nil, nil, "a"),
		r.module("d", nil, nil, "missing"))
	if _, err := m.Resolve([]string{"a"}); err == nil || !strings.Contains(err.Error(), "cycle: a -> b -> c -> a") {
		t.Fatalf("cycle err = %v", err)
	}
	if _, err := m.Resolve([]string{"d"}); err == nil || !strings.Contains(err.Error(), `unknown module "missing" (dependency of "d")`) {
		t.Fatalf("missing dep err = %v", err)
	}
}

func TestStartStopOrder(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	m := newManager(r, r.module("b", nil, nil, "a"), r.module("a", nil, nil), r.module("c", nil, nil, "b"))
	if err := m.Start(t.Context(), []string{"c"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}
	if !slices.Equal(r.events, want) {
		t.Fatalf("events = %v, want %v", r.events, want)
	}
	if err := m.Stop(t.Context()); err != nil || len(r.events) != len(want) {
		t.Fatal("second Stop stopped modules again")
	}
}

func TestStartFailureRollsBack(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	boom := errors.New("boom")
	m := newManager(r, r.module("a", nil, nil), r.module("b", nil, nil, "a"), r.module("c", boom, nil, "b"), r.module("d", nil, nil, "c"))
	err := m.Start(t.Context(), []string{"all"})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "start module c") {
		t.Fatalf("err = %v", err)
	}
	want := []string{"start a", "start b", "start c", "stop b", "stop a"}
	if !slices.Equal(r.events, want) {
		t.Fatalf("events = %v, want %v", r.events, want)
	}
}

func TestStopCollectsErrors(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	e1, e2 := errors.New("e1"), errors.New("e2")
	m := newManager(r, r.module("a", nil, e1), r.module("b", nil, nil, "a"), r.module("c", nil, e2, "b"), Module{Name: "nil-funcs"})
	if err := m.Start(t.Context(), []string{"all"}); err != nil {
		t.Fatal(err)
	}
	err := m.Stop(t.Context())
	if !errors.Is(err, e1) || !errors.Is(err, e2) {
		t.Fatalf("Stop err = %v", err)
	}
	want := []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}
	if !slices.Equal(r.events, want) {
		t.Fatalf("events = %v", r.events)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	m := newManager(r, r.module("a", nil, nil), r.module("b", nil, nil, "a"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"b"}, RunOptions{}) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if want := []string{"start a", "start b", "stop b", "stop a"}; !slices.Equal(r.events, want) {
		t.Fatalf("events = %v", r.events)
	}
}

func TestRunStopsOnFailure(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	m := newManager(r, r.module("a", nil, nil), r.module("b", nil, nil, "a"))
	failed := make(chan error, 1)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- m.Run(t.Context(), []string{"all"}, RunOptions{Failed: failed, ShutdownTimeout: time.Second, Started: func() { close(started) }})
	}()
	<-started
	failed <- errors.New("listener died")
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "listener died") {
		t.Fatalf("Run = %v, want the failure", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if want := []string{"start a", "start b", "stop b", "stop a"}; !slices.Equal(r.events, want) {
		t.Fatalf("events = %v", r.events)
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	code := http.StatusOK
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(code)
	}))
	defer srv.Close()
	var out strings.Builder
	if err := Healthcheck(t.Context(), nil, srv.URL+"/healthz", &out); err != nil || !strings.Contains(out.String(), "healthy") {
		t.Fatalf("healthy server: %v %q", err, out.String())
	}
	mu.Lock()
	code = http.StatusServiceUnavailable
	mu.Unlock()
	if err := Healthcheck(t.Context(), []string{srv.URL + "/readyz"}, "unused", &out); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unhealthy server: %v", err)
	}
	srv.Close()
	if err := Healthcheck(t.Context(), nil, srv.URL+"/healthz", &out); err == nil {
		t.Fatal("closed server counted as healthy")
	}
}
