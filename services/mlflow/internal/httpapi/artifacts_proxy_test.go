package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/blob/blobtest"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/mlflow/internal/httpapi"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

// artifactServer serves the tracking API over d with bs as the artifact store (nil: no proxy), on a clock the
// test can move.
func artifactServer(t *testing.T, d *db.DB, bs blob.Store) (*httptest.Server, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
	r := chi.NewRouter()
	httpapi.New(store.New(d, clk, "mlflow-artifacts:"), nil, httpapi.Options{Artifacts: bs}).Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, clk
}

// sqliteDB is a migrated SQLite database, for tests whose subject does not depend on the dialect.
func sqliteDB(t *testing.T) *db.DB {
	t.Helper()
	d := dbtest.Open(t, db.SQLite)
	for _, m := range migs {
		if err := db.Migrate(t.Context(), d, m.Component, m.FS); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// do sends one request and returns status, headers and the raw body.
func do(t *testing.T, method, url string, body io.Reader, size int64) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = size
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

func jsonBody(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return out
}

// wantAPIError checks an error response's status, MLflow error code and message fragment.
func wantAPIError(t *testing.T, what string, status int, raw []byte, wantStatus int, code, msgPart string) {
	t.Helper()
	body := jsonBody(t, raw)
	if status != wantStatus || body["error_code"] != code || !strings.Contains(fmt.Sprint(body["message"]), msgPart) {
		t.Fatalf("%s: got %d %s, want %d %s containing %q", what, status, raw, wantStatus, code, msgPart)
	}
}

// listing returns "path:is_dir:size" entries of a files array.
func listing(t *testing.T, raw []byte) []string {
	t.Helper()
	var resp struct {
		Files []struct {
			Path     string `json:"path"`
			IsDir    bool   `json:"is_dir"`
			FileSize *int64 `json:"file_size"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("listing: %s", raw)
	}
	var out []string
	for _, f := range resp.Files {
		size := "-"
		if f.FileSize != nil {
			size = fmt.Sprint(*f.FileSize)
		}
		out = append(out, fmt.Sprintf("%s:%v:%s", f.Path, f.IsDir, size))
	}
	return out
}

// TestArtifactProxy uploads (streamed, several MB), lists, downloads and deletes through the proxy on the
// local and S3 blob backends.
func TestArtifactProxy(t *testing.T) {
	blobtest.ForEachBackend(t, func(t *testing.T, newStore func(t *testing.T) blob.Store) {
		bs := newStore(t)
		srv, _ := artifactServer(t, sqliteDB(t), bs)
		base := srv.URL + "/api/2.0/mlflow-artifacts/artifacts"
		root := "7/0123456789abcdef0123456789abcdef/artifacts"

		// A 6 MiB + 123 byte upload streamed with chunked encoding (no Content-Length), so it goes up in parts.
		big := make([]byte, 6<<20+123)
		rnd := rand.New(rand.NewPCG(1, 2))
		for i := range big {
			big[i] = byte(rnd.UintN(256))
		}
		pr, pw := io.Pipe()
		go func() {
			for off := 0; off < len(big); off += 64 << 10 {
				_, _ = pw.Write(big[off:min(off+64<<10, len(big))])
			}
			_ = pw.Close()
		}()
		st, _, raw := do(t, http.MethodPut, base+"/"+root+"/data/big.bin", pr, -1)
		if st != 200 || string(bytes.TrimSpace(raw)) != "{}" {
			t.Fatalf("put big: %d %s", st, raw)
		}
		for name, content := range map[string]string{"model/MLmodel": "flavors: {}\n", "model/model.pkl": "pickle", "notes.txt": "hello"} {
			st, _, raw := do(t, http.MethodPut, base+"/"+root+"/"+name, strings.NewReader(content), int64(len(content)))
			if st != 200 {
				t.Fatalf("put %s: %d %s", name, st, raw)
			}
		}
		// Overwrite keeps one object with the new content.
		if st, _, raw := do(t, http.MethodPut, base+"/"+root+"/notes.txt", strings.NewReader("hello again"), 11); st != 200 {
			t.Fatalf("overwrite: %d %s", st, raw)
		}

		st, hdr, raw := do(t, http.MethodGet, base+"/"+root+"/data/big.bin", nil, 0)
		if st != 200 || sha256.Sum256(raw) != sha256.Sum256(big) {
			t.Fatalf("download big: status %d, %d bytes, identical=%v", st, len(raw), bytes.Equal(raw, big))
		}
		if hdr.Get("Content-Length") != fmt.Sprint(len(big)) || hdr.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("download headers: %v", hdr)
		}
		st, hdr, raw = do(t, http.MethodGet, base+"/"+root+"/notes.txt", nil, 0)
		if st != 200 || string(raw) != "hello again" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
			t.Fatalf("download notes: %d %q %v", st, raw, hdr)
		}

		st, _, raw = do(t, http.MethodGet, base+"?path="+root, nil, 0)
		if got := fmt.Sprint(listing(t, raw)); st != 200 || got != fmt.Sprintf("[data:true:- model:true:- notes.txt:false:11]") {
			t.Fatalf("list root: %d %s", st, raw)
		}
		st, _, raw = do(t, http.MethodGet, base+"?path="+root+"/model/", nil, 0)
		if got := fmt.Sprint(listing(t, raw)); st != 200 || got != "[MLmodel:false:12 model.pkl:false:6]" {
			t.Fatalf("list model/: %d %s", st, raw)
		}
		st, _, raw = do(t, http.MethodGet, base+"?path=7", nil, 0)
		if got := fmt.Sprint(listing(t, raw)); st != 200 || got != "[0123456789abcdef0123456789abcdef:true:-]" {
			t.Fatalf("list 7: %d %s", st, raw)
		}
		for _, p := range []string{root + "/missing", root + "/notes.txt"} { // a missing dir and a file list as empty
			st, _, raw = do(t, http.MethodGet, base+"?path="+p, nil, 0)
			if st != 200 || string(bytes.TrimSpace(raw)) != "{}" {
				t.Fatalf("list %s: %d %s", p, st, raw)
			}
		}
		// The ajax prefix serves the same proxy.
		st, _, raw = do(t, http.MethodGet, srv.URL+"/ajax-api/2.0/mlflow-artifacts/artifacts?path="+root+"/model", nil, 0)
		if st != 200 || len(listing(t, raw)) != 2 {
			t.Fatalf("ajax list: %d %s", st, raw)
		}

		// Directories and missing files do not download.
		for _, p := range []string{root + "/model", root + "/nope.txt", root + "/notes.txt/x"} {
			st, _, raw = do(t, http.MethodGet, base+"/"+p, nil, 0)
			wantAPIError(t, "get "+p, st, raw, 404, "RESOURCE_DOES_NOT_EXIST", "")
		}
		// A path cannot become both a file and a directory.
		st, _, raw = do(t, http.MethodPut, base+"/"+root+"/model", strings.NewReader("x"), 1)
		wantAPIError(t, "put over a directory", st, raw, 400, "INVALID_PARAMETER_VALUE", "is a directory")
		st, _, raw = do(t, http.MethodPut, base+"/"+root+"/notes.txt/inner", strings.NewReader("x"), 1)
		wantAPIError(t, "put below a file", st, raw, 400, "INVALID_PARAMETER_VALUE", "is a file")

		// Delete a whole directory, then a file; deleting a missing path is fine.
		for _, p := range []string{root + "/model", root + "/notes.txt", root + "/never-there"} {
			if st, _, raw := do(t, http.MethodDelete, base+"/"+p, nil, 0); st != 200 || string(bytes.TrimSpace(raw)) != "{}" {
				t.Fatalf("delete %s: %d %s", p, st, raw)
			}
		}
		st, _, raw = do(t, http.MethodGet, base+"?path="+root, nil, 0)
		if got := fmt.Sprint(listing(t, raw)); st != 200 || got != "[data:true:-]" {
			t.Fatalf("list after delete: %d %s", st, raw)
		}
		st, _, raw = do(t, http.MethodGet, base+"/"+root+"/model/MLmodel", nil, 0)
		wantAPIError(t, "get deleted", st, raw, 404, "RESOURCE_DOES_NOT_EXIST", "")
		if _, err := bs.Stat(t.Context(), root+"/model/model.pkl"); err == nil {
			t.Fatal("model/model.pkl still stored after deleting model/")
		}
		// The name of a deleted directory is free for a file again.
		if st, _, raw := do(t, http.MethodPut, base+"/"+root+"/model", strings.NewReader("now a file"), 10); st != 200 {
			t.Fatalf("put after delete: %d %s", st, raw)
		}
	})
}

// TestArtifactProxyRejectsUnsafePaths checks path traversal and other unsafe paths on every operation.
func TestArtifactProxyRejectsUnsafePaths(t *testing.T) {
	bs := blobtest.NewLocal(t)
	srv, _ := artifactServer(t, sqliteDB(t), bs)
	base := srv.URL + "/api/2.0/mlflow-artifacts/artifacts"
	if st, _, raw := do(t, http.MethodPut, base+"/safe/file.txt", strings.NewReader("ok"), 2); st != 200 {
		t.Fatalf("put: %d %s", st, raw)
	}
	bad := []string{"a/../b", "..", "../secret", "%2e%2e/etc/passwd", "a/%2E%2E/b", "a%2F..%2Fb", "a\\b", "a%5Cb", "a%00b",
		"/etc/passwd", "%2Fetc%2Fpasswd", "C:%5Cwin", "C:/win", "a//b", "a/./b", "a/", "a%23b", ""}
	for _, p := range bad {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			var body io.Reader
			if method == http.MethodPut {
				body = strings.NewReader("evil")
			}
			st, _, raw := do(t, method, base+"/"+p, body, 4)
			wantAPIError(t, method+" "+p, st, raw, 400, "INVALID_PARAMETER_VALUE", "Invalid path")
		}
	}
	for _, p := range []string{"..", "a/../b", "/etc", "%2Fetc", "a%5Cb", "a%00b", "a//b", "/"} {
		st, _, raw := do(t, http.MethodGet, base+"?path="+p, nil, 0)
		wantAPIError(t, "list "+p, st, raw, 400, "INVALID_PARAMETER_VALUE", "Invalid path")
	}
	// Nothing was written or deleted by the rejected requests.
	page, err := bs.List(t.Context(), "", blob.ListOptions{})
	if err != nil || len(page.Items) != 1 || page.Items[0].Key != "safe/file.txt" {
		t.Fatalf("store after rejected requests: %+v %v", page.Items, err)
	}
}

// TestArtifactProxyUnavailable checks that a server without an artifact store answers 503.
func TestArtifactProxyUnavailable(t *testing.T) {
	srv, _ := artifactServer(t, sqliteDB(t), nil)
	base := srv.URL + "/api/2.0/mlflow-artifacts/artifacts"
	for _, c := range []struct{ method, path string }{{"GET", "?path=a"}, {"GET", "/a/b"}, {"PUT", "/a/b"}, {"DELETE", "/a/b"}} {
		var body io.Reader
		if c.method == "PUT" {
			body = strings.NewReader("x")
		}
		st, _, raw := do(t, c.method, base+c.path, body, 1)
		wantAPIError(t, c.method+" "+c.path, st, raw, 503, "TEMPORARILY_UNAVAILABLE", "not configured")
	}
}
