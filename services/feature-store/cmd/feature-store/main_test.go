package main

import (
	"bytes"
	"context"
	"io"
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
	if err := run(t.Context(), []string{"migrate", "-feature-store.data-dir", dir}, &out, &errb); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "feature-store.db")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "feature-store migrations applied") {
		t.Fatalf("log: %s", errb.String())
	}
	for _, bad := range [][]string{{"-feature-store.db.dsn", "oracle://x"}, {"-feature-store.online.backend", "cassandra"},
		{"-feature-store.online.backend", "redis", "-feature-store.online.redis-url", "http://x"}} {
		if err := run(t.Context(), bad, &out, &errb); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
}

// TestServe starts the binary and uses the app under / and /feature-store and the admin under /feature-store-admin.
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
		done <- run(ctx, []string{"-feature-store.data-dir", t.TempDir(), "-server.http-addr", addr, "-server.grpc-addr", "127.0.0.1:0"}, &bytes.Buffer{}, &errb)
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
	call := func(method, path, body string, want int, contains string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want || !strings.Contains(string(b), contains) {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
	}
	call("POST", "/feature-store-admin/entity", `{"entity":{"tableName":"users","features":[{"name":"id","type":"BIGINT"}],"primaryKeys":["id"]},"owner":"a@b.co"}`, 200, `"tableName":"users"`)
	call("POST", "/feature-store-admin/feature-group", `{"featureGroup":{"featureGroupName":"g","entityName":"users","features":[{"name":"x","type":"TEXT"}]},"owner":"a@b.co"}`, 200, `"version":"v1"`)
	call("POST", "/feature-store/feature-group/write-features-v2", `{"featureGroupName":"g","featureGroupVersion":null,"features":{"names":["id","x"],"values":[[1,"hello"]]}}`, 200, `"successfulRows":[[1,"hello"]]`)
	call("GET", "/feature-store/feature-group/read-features", `{"featureGroupName":"g","featureColumns":["x"],"primaryKeys":{"names":["id"],"values":[[1]]}}`, 200, `"features":["hello"]`)
	call("GET", "/feature-group/read-features", `{"featureGroupName":"g","featureColumns":["x"],"primaryKeys":{"names":["id"],"values":[[2]]}}`, 200, `"failedKeys":[[2]]`)
	call("GET", "/feature-store-admin/feature-group/metadata?name=zz", "", 404, `"code":"FEATURE-GROUP-NOT-FOUND-EXCEPTION"`)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
