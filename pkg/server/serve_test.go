package server

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/health"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/metrics"
	"github.com/darwinml/darwin/pkg/testutil"
)

type fakeService struct {
	started, stopped atomic.Bool
	ready            atomic.Bool
}

func (f *fakeService) Module() app.Module {
	return app.Module{Name: "fake",
		Start: func(context.Context) error { f.started.Store(true); return nil },
		Stop:  func(context.Context) error { f.stopped.Store(true); return nil }}
}
func (f *fakeService) RegisterHTTP(r chi.Router) {
	r.Get("/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") })
}
func (f *fakeService) RegisterHealth(h *health.Checker) {
	h.Add("fake", func(context.Context) error {
		if !f.ready.Load() {
			return errors.New("not ready")
		}
		return nil
	})
}

func TestServe(t *testing.T) {
	t.Parallel()
	svc := &fakeService{}
	svc.ready.Store(true)
	ctx, cancel := context.WithCancel(t.Context())
	cfg := Config{HTTPAddr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), ShutdownTimeout: 5 * time.Second}

	notFound := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, cfg, log.Discard(), metrics.NewRegistry(), svc, ServeOptions{Prefix: "/fake", NotFound: notFound})
	}()
	base := "http://" + cfg.HTTPAddr
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := get("/healthz"); code != http.StatusOK; code, _ = get("/healthz") {
		if time.Now().After(deadline) {
			t.Fatal("Serve did not start listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !svc.started.Load() {
		t.Error("module not started before the listeners")
	}
	for _, p := range []string{"/hello", "/fake/hello"} {
		if code, body := get(p); code != http.StatusOK || body != "hi" {
			t.Errorf("GET %s = %d %q", p, code, body)
		}
	}
	if code, _ := get("/elsewhere"); code != http.StatusTeapot {
		t.Errorf("unmatched path = %d, want the NotFound handler's 418", code)
	}
	svc.ready.Store(false)
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "fake") {
		t.Errorf("readyz with a failing check = %d %s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if !svc.stopped.Load() {
		t.Error("module not stopped")
	}
}

func TestLoadBinaryConfigUsage(t *testing.T) {
	t.Parallel()
	var cfg Config
	var out, errOut bytes.Buffer
	err := LoadBinaryConfig("svc", []string{"migrate [flags]"}, []string{"-help"}, registerer{&cfg}, &out, &errOut)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut.String(), "svc migrate [flags]") || !strings.Contains(errOut.String(), "-server.http-addr") {
		t.Fatalf("help = %v\n%s", err, errOut.String())
	}
}

type registerer struct{ c *Config }

func (r registerer) RegisterFlags(f *flag.FlagSet) { r.c.RegisterFlags("server", f) }
