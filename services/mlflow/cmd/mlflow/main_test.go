package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMigrateSubcommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"migrate", "-mlflow.data-dir", dir}, &out, &errb); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "mlflow.db")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "mlflow migrations applied") {
		t.Fatalf("log: %s", errb.String())
	}
}

func TestServeAndHealthcheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-mlflow.data-dir", t.TempDir(), "-server.http-addr", addr, "-server.grpc-addr", "127.0.0.1:0"}, &bytes.Buffer{}, &errb)
	}()
	var hcErr error
	for range 100 {
		var out bytes.Buffer
		if hcErr = run(t.Context(), []string{"healthcheck", "http://" + addr + "/healthz"}, &out, &out); hcErr == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if hcErr != nil {
		t.Fatalf("healthcheck: %v\n%s", hcErr, errb.String())
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
