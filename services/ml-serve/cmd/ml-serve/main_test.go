package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestMigrateSubcommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"migrate", "-ml-serve.data-dir", dir}, &out, &errb); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "ml-serve.db")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "ml-serve migrations applied") {
		t.Fatalf("log: %s", errb.String())
	}
	if err := run(t.Context(), []string{"-ml-serve.db.dsn", "oracle://x"}, &out, &errb); err == nil {
		t.Fatal("bad dsn accepted")
	}
}

// TestServe starts the binary and calls the API under /ml-serve and at / with the configured admin token.
func TestServe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var errb lockedBuf
	go func() {
		done <- run(ctx, []string{"-ml-serve.data-dir", t.TempDir(), "-ml-serve.bootstrap-admin-token", "tok", "-server.http-addr", addr, "-server.grpc-addr", "127.0.0.1:0"}, &bytes.Buffer{}, &errb)
	}()
	var hcErr error
	for range 100 {
		var out bytes.Buffer
		if hcErr = run(t.Context(), []string{"healthcheck", "http://" + addr + "/healthz"}, &out, &out); hcErr == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if hcErr != nil {
		cancel()
		t.Fatalf("healthcheck: %v\n%s", hcErr, errb.String())
	}
	for _, p := range []string{"/ml-serve/api/v1/serve", "/api/v1/serve"} {
		req, _ := http.NewRequest("GET", "http://"+addr+p, nil)
		req.Header.Set("Authorization", "Bearer tok")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", p, res.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
