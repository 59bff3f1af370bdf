package blob_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/blob/blobtest"
)

func open(t *testing.T, dsn string, opts ...blob.Option) blob.Store {
	t.Helper()
	s, err := blob.Open(t.Context(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	return s
}

func putString(t *testing.T, s blob.Store, key, body string, opts blob.PutOptions) {
	t.Helper()
	if err := s.Put(t.Context(), key, strings.NewReader(body), int64(len(body)), opts); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func getString(t *testing.T, s blob.Store, key string) (string, blob.Info) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return string(b), info
}

func listKeys(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	page, err := s.List(t.Context(), prefix, blob.ListOptions{})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	var keys []string
	for _, it := range page.Items {
		keys = append(keys, it.Key)
	}
	return keys
}

func TestOpenRejectsBadDSNs(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"",
		"ftp://host/dir",
		"file://otherhost/dir",
		"file:relative/dir",
		"file:///tmp/x?mode=1",
		"s3://",
		"s3:///prefix-without-bucket",
		"s3://user:pw@bucket",
		"s3://bucket?unknown=1",
		"s3://bucket?path_style=maybe",
		"s3://bucket?endpoint=ftp://x",
		"s3://bucket?endpoint=http://",
		"s3://bucket?access_key=a",
		"s3://bucket?secret_key=s",
		"s3://bucket?session_token=t",
		"s3://bucket?region=a&region=b",
		"s3://bucket/a//b",
		"s3://bucket/a/../b",
		"s3://bucket/%zz",
		"s3://bucket?checksums=sometimes",
		"file:///tmp/%zz",
	} {
		t.Run(dsn, func(t *testing.T) {
			t.Parallel()
			_, err := blob.Open(t.Context(), dsn)
			if !apierr.Is(err, apierr.InvalidArgument) {
				t.Fatalf("Open(%q) = %v, want InvalidArgument", dsn, err)
			}
			if f := apierr.From(err).Field; f != "dsn" {
				t.Errorf("field = %q, want dsn", f)
			}
		})
	}
	for _, part := range []int64{1 << 20, 6 << 30} {
		_, err := blob.Open(t.Context(), t.TempDir(), blob.WithPartSize(part))
		if !apierr.Is(err, apierr.InvalidArgument) {
			t.Errorf("Open with part size %d = %v, want InvalidArgument", part, err)
		}
	}
}

func TestOpenDSNForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		dsn     string
		wantURL string
	}{
		{dir, "file://" + filepath.ToSlash(dir) + "/k/v.txt"},
		{"file://" + filepath.ToSlash(dir), "file://" + filepath.ToSlash(dir) + "/k/v.txt"},
		{"file://localhost" + filepath.ToSlash(dir) + "/sub/", "file://" + filepath.ToSlash(dir) + "/sub/k/v.txt"},
		{filepath.Join(dir, "x", "..", "y"), "file://" + filepath.ToSlash(dir) + "/y/k/v.txt"},
		{"s3://bucket", "s3://bucket/k/v.txt"},
		{"s3://bucket/pre/fix/?endpoint=http://127.0.0.1:1&region=eu-west-1&path_style=1&access_key=a&secret_key=b&session_token=c", "s3://bucket/pre/fix/k/v.txt"},
		{"s3://bucket?checksums=when_required", "s3://bucket/k/v.txt"},
		{"s3://bucket?checksums=when_supported", "s3://bucket/k/v.txt"},
	}
	for _, c := range cases {
		s := open(t, c.dsn)
		if got := s.URL("k/v.txt"); got != c.wantURL {
			t.Errorf("Open(%q).URL = %q, want %q", c.dsn, got, c.wantURL)
		}
	}
	// The local directory is created, nested directories included.
	nested := filepath.Join(dir, "new", "nested")
	open(t, nested)
	if fi, err := os.Stat(nested); err != nil || !fi.IsDir() {
		t.Errorf("Open did not create %s: %v", nested, err)
	}
	// URL escapes what a URL must escape.
	if got := open(t, dir).URL("a b/c#d"); got != "file://"+filepath.ToSlash(dir)+"/a%20b/c%23d" {
		t.Errorf("URL with special characters = %q", got)
	}
}

func TestLocalKeyConflicts(t *testing.T) {
	t.Parallel()
	s := blobtest.NewLocal(t)
	ctx := t.Context()
	putString(t, s, "a/b", "x", blob.PutOptions{})
	err := s.Put(ctx, "a", strings.NewReader("y"), 1, blob.PutOptions{})
	if !apierr.Is(err, apierr.FailedPrecondition) {
		t.Errorf("Put over a directory of keys = %v, want FailedPrecondition", err)
	}
	err = s.Put(ctx, "a/b/c", strings.NewReader("y"), 1, blob.PutOptions{})
	if !apierr.Is(err, apierr.FailedPrecondition) {
		t.Errorf("Put below an object = %v, want FailedPrecondition", err)
	}
	if got, _ := getString(t, s, "a/b"); got != "x" {
		t.Errorf("conflicting Puts changed a/b: %q", got)
	}
}

func TestLocalFilesOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir)
	ctx := t.Context()

	putString(t, s, "x/y/z.txt", "data", blob.PutOptions{})
	b, err := os.ReadFile(filepath.Join(dir, "x", "y", "z.txt"))
	if err != nil || string(b) != "data" {
		t.Fatalf("file on disk = %q, %v", b, err)
	}

	// Failed writes leave no temporary files behind.
	err = s.Put(ctx, "x/y/fail", io.MultiReader(strings.NewReader("part"), errReader{}), -1, blob.PutOptions{})
	if err == nil {
		t.Fatalf("Put with a failing reader succeeded")
	}
	if leftovers := tempFiles(t, dir); len(leftovers) != 0 {
		t.Errorf("temporary files left: %q", leftovers)
	}

	// Temporary files of writes in flight (or of a crashed process) and names that are not valid keys are
	// not listed.
	for _, name := range []string{".blobtmp-0123", "x/.blobtmp-4567", "x/back\\slash"} {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"x/y/z.txt"}) {
		t.Errorf("List = %q, want only x/y/z.txt", keys)
	}

	// Deleting the last key of a directory removes the emptied directories, not the store's root.
	if err := s.Delete(ctx, "x/y/z.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x", "y")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("x/y still exists after deleting its last object: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err != nil {
		t.Errorf("x (still holding files) was removed: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("root removed: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".blobtmp-") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLocalSymlinkCannotEscape(t *testing.T) {
	t.Parallel()
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("top secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir)
	ctx := t.Context()
	if rc, _, err := s.Get(ctx, "link/secret"); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		t.Fatalf("Get through a symlink out of the store read %q", b)
	}
	if err := s.Put(ctx, "link/planted", strings.NewReader("x"), 1, blob.PutOptions{}); err == nil {
		t.Errorf("Put through a symlink out of the store succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Put wrote outside the store: %v", err)
	}
}

func TestLocalContentTypeFromExtension(t *testing.T) {
	t.Parallel()
	s := blobtest.NewLocal(t)
	for key, want := range map[string]string{
		"a.json":   "application/json",
		"b.txt":    "text/plain; charset=utf-8",
		"c":        "application/octet-stream",
		"d.nope42": "application/octet-stream",
	} {
		putString(t, s, key, "x", blob.PutOptions{})
		st, err := s.Stat(t.Context(), key)
		if err != nil || st.ContentType != want {
			t.Errorf("Stat(%q).ContentType = %q, %v; want %q", key, st.ContentType, err, want)
		}
	}
}

func TestS3ContentTypeAndPrefix(t *testing.T) {
	t.Parallel()
	dsn := blobtest.StartS3(t)
	root := open(t, dsn)
	tenant := open(t, blobtest.WithPrefix(t, dsn, "tenant"))

	putString(t, tenant, "model.pkl", "weights", blob.PutOptions{ContentType: "application/x-darwin-model"})
	putString(t, root, "other", "x", blob.PutOptions{})

	st, err := tenant.Stat(t.Context(), "model.pkl")
	if err != nil || st.ContentType != "application/x-darwin-model" {
		t.Errorf("Stat content type = %q, %v", st.ContentType, err)
	}
	if got, info := getString(t, root, "tenant/model.pkl"); got != "weights" || info.ContentType != "application/x-darwin-model" {
		t.Errorf("root store sees %q (%q) at tenant/model.pkl", got, info.ContentType)
	}
	if keys := listKeys(t, tenant, ""); !slices.Equal(keys, []string{"model.pkl"}) {
		t.Errorf("prefixed List = %q, want [model.pkl]", keys)
	}
	if keys := listKeys(t, root, ""); !slices.Equal(keys, []string{"other", "tenant/model.pkl"}) {
		t.Errorf("root List = %q", keys)
	}
	if u := tenant.URL("model.pkl"); u != "s3://"+blobtest.Bucket+"/tenant/model.pkl" {
		t.Errorf("URL = %q", u)
	}
}

func TestS3MissingBucket(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(blobtest.StartS3(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "no-such-bucket"
	s := open(t, u.String())
	err = s.Put(t.Context(), "k", strings.NewReader("x"), 1, blob.PutOptions{})
	if !apierr.Is(err, apierr.Internal) || !strings.Contains(apierr.From(err).Message, "no-such-bucket") {
		t.Errorf("Put into a missing bucket = %v, want Internal naming the bucket", err)
	}
}

// recorder notes the S3 operations a client sends.
type recorder struct {
	mu  sync.Mutex
	ops []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	op := req.Method
	switch {
	case q.Has("uploads"):
		op += " create-upload"
	case q.Has("partNumber"):
		op += " part"
	case q.Has("uploadId"):
		op += " upload"
	}
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

func TestS3UploadStrategy(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	const part = 5 << 20
	s := open(t, blobtest.StartS3(t), blob.WithHTTPClient(&http.Client{Transport: rec}), blob.WithPartSize(part))
	ctx := t.Context()
	body := func(n int) []byte { return bytes.Repeat([]byte("0123456789abcdef"), n/16) }

	cases := []struct {
		name string
		n    int
		size int64 // -1 or n
		want []string
	}{
		{"small known size", 1 << 10, 1 << 10, []string{"PUT"}},
		{"small unknown size", 1 << 10, -1, []string{"PUT"}},
		{"exactly one part, known size", part, part, []string{"PUT"}},
		{"12 MiB unknown size", 12 << 20, -1, []string{"POST create-upload", "PUT part", "PUT part", "PUT part", "POST upload"}},
		{"two full parts, unknown size", 2 * part, -1, []string{"POST create-upload", "PUT part", "PUT part", "POST upload"}},
	}
	for _, c := range cases {
		data := body(c.n)
		size := c.size
		if err := s.Put(ctx, "obj", io.MultiReader(bytes.NewReader(data)), size, blob.PutOptions{}); err != nil {
			t.Fatalf("%s: Put: %v", c.name, err)
		}
		if ops := rec.take(); !slices.Equal(ops, c.want) {
			t.Errorf("%s: requests %q, want %q", c.name, ops, c.want)
		}
		got, _ := getString(t, s, "obj")
		rec.take()
		if got != string(data) {
			t.Errorf("%s: content differs (%d bytes, want %d)", c.name, len(got), len(data))
		}
	}

	// A body failing after the first part aborts the upload.
	err := s.Put(ctx, "obj", io.MultiReader(bytes.NewReader(body(6<<20)), errReader{}), -1, blob.PutOptions{})
	if err == nil {
		t.Fatalf("Put with a failing body succeeded")
	}
	if ops := rec.take(); !slices.Equal(ops, []string{"POST create-upload", "PUT part", "DELETE upload"}) {
		t.Errorf("failed upload requests %q, want create, one part, abort", ops)
	}
}

// checksumHeaders notes which requests carry x-amz-checksum-* or x-amz-checksum-mode headers.
type checksumHeaders struct {
	mu   sync.Mutex
	with []string
}

func (c *checksumHeaders) RoundTrip(req *http.Request) (*http.Response, error) {
	for k := range req.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
			c.mu.Lock()
			c.with = append(c.with, req.Method+" "+req.URL.Query().Get("x-id"))
			c.mu.Unlock()
			break
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestS3ChecksumsOption(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("checksum"), (11<<20)/8) // two parts of 5 MiB and a short third
	for _, c := range []struct {
		param string
		want  bool
	}{{"", true}, {"&checksums=when_supported", true}, {"&checksums=when_required", false}} {
		rec := &checksumHeaders{}
		s := open(t, blobtest.StartS3(t)+c.param, blob.WithHTTPClient(&http.Client{Transport: rec}), blob.WithPartSize(5<<20))
		if err := s.Put(t.Context(), "multi", bytes.NewReader(body), -1, blob.PutOptions{}); err != nil {
			t.Fatalf("%q: Put multipart: %v", c.param, err)
		}
		putString(t, s, "single", "one request", blob.PutOptions{})
		if got, _ := getString(t, s, "multi"); got != string(body) {
			t.Errorf("%q: multipart object differs", c.param)
		}
		if got := len(rec.with) > 0; got != c.want {
			t.Errorf("%q: requests with checksum headers = %q, want some: %v", c.param, rec.with, c.want)
		}
	}
}

func TestCopy(t *testing.T) {
	t.Parallel()
	local, remote := blobtest.NewLocal(t), blobtest.NewS3(t)
	ctx := t.Context()
	putString(t, local, "charts/ray.json", `{"a":1}`, blob.PutOptions{})

	info, err := blob.Copy(ctx, remote, "mlp/cluster_manager/ray.json", local, "charts/ray.json")
	if err != nil {
		t.Fatalf("Copy local→s3: %v", err)
	}
	if info.Size != 7 {
		t.Errorf("Copy info = %+v", info)
	}
	got, rinfo := getString(t, remote, "mlp/cluster_manager/ray.json")
	if got != `{"a":1}` || rinfo.ContentType != "application/json" {
		t.Errorf("copied object = %q (%q)", got, rinfo.ContentType)
	}
	if _, err := blob.Copy(ctx, local, "back/ray.json", remote, "mlp/cluster_manager/ray.json"); err != nil {
		t.Fatalf("Copy s3→local: %v", err)
	}
	if got, _ := getString(t, local, "back/ray.json"); got != `{"a":1}` {
		t.Errorf("copied back = %q", got)
	}

	_, err = blob.Copy(ctx, remote, "x", local, "missing")
	if !apierr.Is(err, apierr.NotFound) {
		t.Errorf("Copy of a missing object = %v, want NotFound", err)
	}
	_, err = blob.Copy(ctx, remote, "../x", local, "charts/ray.json")
	if !apierr.Is(err, apierr.InvalidArgument) {
		t.Errorf("Copy to a bad key = %v, want InvalidArgument", err)
	}
}
