package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/blob"
)

// RunContract checks the behaviour every blob.Store must have. newStore must return a fresh, empty store on
// each call; subtests run in parallel.
func RunContract(t *testing.T, newStore func(t *testing.T) blob.Store) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"PutGetStat", testPutGetStat},
		{"EmptyAndUnknownSize", testEmptyAndUnknownSize},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"BadKeys", testBadKeys},
		{"SizeMismatchKeepsOld", testSizeMismatch},
		{"ReaderErrorKeepsOld", testReaderError},
		{"CanceledContext", testCanceled},
		{"LargeStream", testLargeStream},
		{"LargeStreamFailureKeepsOld", testLargeStreamFailure},
		{"ListOrderAndPrefix", testListOrder},
		{"ListPagination", testListPagination},
		{"ListBadArguments", testListBadArguments},
		{"ConcurrentOverwrite", testConcurrentOverwrite},
		{"URL", testURL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newStore(t))
		})
	}
}

var errBoom = errors.New("boom")

// stream yields n deterministic pseudo-random bytes through a reader that is not an io.Seeker, so stores
// cannot learn the size by seeking.
func stream(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}), n)
}

func streamSum(seed uint64, n int64) [32]byte {
	h := sha256.New()
	if _, err := io.Copy(h, stream(seed, n)); err != nil {
		panic(err) // in-memory generator cannot fail
	}
	return [32]byte(h.Sum(nil))
}

// failingReader yields r's bytes and then fails with errBoom.
func failingReader(r io.Reader) io.Reader {
	return io.MultiReader(r, readerFunc(func([]byte) (int, error) { return 0, errBoom }))
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func put(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), blob.PutOptions{}); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s blob.Store, key string) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return data, info
}

func wantKind(t *testing.T, what string, err error, kind apierr.Kind) {
	t.Helper()
	if !apierr.Is(err, kind) {
		t.Fatalf("%s: error = %v (kind %v), want kind %v", what, err, apierr.KindOf(err), kind)
	}
}

func wantMissing(t *testing.T, s blob.Store, key string) {
	t.Helper()
	_, err := s.Stat(t.Context(), key)
	wantKind(t, "Stat("+key+")", err, apierr.NotFound)
}

func listAll(t *testing.T, s blob.Store, prefix string, limit int) []string {
	t.Helper()
	var keys []string
	token := ""
	for range 1000 {
		page, err := s.List(t.Context(), prefix, blob.ListOptions{Limit: limit, PageToken: token})
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		for _, it := range page.Items {
			keys = append(keys, it.Key)
		}
		if page.NextPageToken == "" {
			return keys
		}
		token = page.NextPageToken
	}
	t.Fatalf("List(%q) did not end after 1000 pages", prefix)
	return nil
}

func testPutGetStat(t *testing.T, s blob.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Minute)
	data := []byte(`{"chart":"ray-cluster","version":"1.2.0"}`)
	key := "mlp/cluster_manager/artifact-1/values.json"
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), blob.PutOptions{ContentType: "application/json"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, info := get(t, s, key)
	if !bytes.Equal(got, data) {
		t.Fatalf("Get = %s, want %s", short(got), short(data))
	}
	if info.Key != key || info.Size != int64(len(data)) {
		t.Errorf("Get info = %+v, want key %q size %d", info, key, len(data))
	}
	if info.ContentType != "application/json" {
		t.Errorf("Get content type = %q, want application/json", info.ContentType)
	}
	if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(time.Minute)) {
		t.Errorf("Get mod time = %v, want about now", info.ModTime)
	}
	if info.ETag == "" {
		t.Errorf("Get ETag is empty")
	}
	st, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if st.Key != key || st.Size != info.Size || st.ETag != info.ETag || !st.ModTime.Equal(info.ModTime) || st.ContentType != info.ContentType {
		t.Errorf("Stat = %+v, want it to match Get's %+v", st, info)
	}
	// A key with no extension and no content type given still gets one.
	put(t, s, "raw", []byte{0, 1, 2})
	if st, err := s.Stat(ctx, "raw"); err != nil || st.ContentType == "" {
		t.Errorf("Stat(raw) = %+v, %v; want a content type", st, err)
	}
}

func testEmptyAndUnknownSize(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "empty", nil)
	if got, info := get(t, s, "empty"); len(got) != 0 || info.Size != 0 {
		t.Errorf("empty object: %d bytes, size %d", len(got), info.Size)
	}
	if err := s.Put(ctx, "empty-stream", strings.NewReader(""), -1, blob.PutOptions{}); err != nil {
		t.Fatalf("Put empty stream: %v", err)
	}
	if st, err := s.Stat(ctx, "empty-stream"); err != nil || st.Size != 0 {
		t.Errorf("Stat(empty-stream) = %+v, %v", st, err)
	}
	if err := s.Put(ctx, "small-stream", io.MultiReader(strings.NewReader("hello "), strings.NewReader("world")), -1, blob.PutOptions{}); err != nil {
		t.Fatalf("Put small stream: %v", err)
	}
	if got, info := get(t, s, "small-stream"); string(got) != "hello world" || info.Size != 11 {
		t.Errorf("small stream = %q (size %d)", got, info.Size)
	}
	err := s.Put(ctx, "neg", strings.NewReader("x"), -2, blob.PutOptions{})
	wantKind(t, "Put with size -2", err, apierr.InvalidArgument)
}

func testOverwrite(t *testing.T, s blob.Store) {
	put(t, s, "a/obj.txt", []byte("the first, longer version"))
	_, first := get(t, s, "a/obj.txt")
	put(t, s, "a/obj.txt", []byte("v2"))
	got, second := get(t, s, "a/obj.txt")
	if string(got) != "v2" || second.Size != 2 {
		t.Fatalf("after overwrite Get = %q (size %d), want v2", got, second.Size)
	}
	if second.ETag == first.ETag {
		t.Errorf("ETag did not change on overwrite: %q", second.ETag)
	}
	if keys := listAll(t, s, "", 0); !slices.Equal(keys, []string{"a/obj.txt"}) {
		t.Errorf("List after overwrite = %q", keys)
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	ctx := t.Context()
	_, _, err := s.Get(ctx, "missing/key")
	wantKind(t, "Get(missing)", err, apierr.NotFound)
	_, err = s.Stat(ctx, "missing/key")
	wantKind(t, "Stat(missing)", err, apierr.NotFound)
	put(t, s, "dir/child", []byte("x"))
	// A prefix of existing keys is not an object.
	_, _, err = s.Get(ctx, "dir")
	wantKind(t, "Get(dir)", err, apierr.NotFound)
	_, err = s.Stat(ctx, "dir")
	wantKind(t, "Stat(dir)", err, apierr.NotFound)
	// Nor is a key below an object.
	_, _, err = s.Get(ctx, "dir/child/grandchild")
	wantKind(t, "Get(dir/child/grandchild)", err, apierr.NotFound)
	if err := s.Delete(ctx, "dir"); err != nil {
		t.Errorf("Delete(dir) = %v, want nil", err)
	}
	if got, _ := get(t, s, "dir/child"); string(got) != "x" {
		t.Errorf("Delete of a prefix touched dir/child: %q", got)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "d/e/f", []byte("1"))
	put(t, s, "d/e2", []byte("2"))
	if err := s.Delete(ctx, "d/e/f"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, s, "d/e/f")
	if err := s.Delete(ctx, "d/e/f"); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Errorf("Delete(never/existed) = %v, want nil", err)
	}
	if keys := listAll(t, s, "", 0); !slices.Equal(keys, []string{"d/e2"}) {
		t.Errorf("List after delete = %q, want [d/e2]", keys)
	}
	// The deleted key's parent is free to become an object.
	put(t, s, "d/e", []byte("3"))
	if got, _ := get(t, s, "d/e"); string(got) != "3" {
		t.Errorf("Get(d/e) = %q", got)
	}
}

var badKeys = []string{
	"", "/abs", "a//b", "a/../b", "..", ".", "./a", "a/.", "a/", "a\\b", "a\x00b", "tab\there", "a\x7fb",
	".blobtmp-123", "dir/.blobtmp-x", "bad\xffutf8", strings.Repeat("k", blob.MaxKeyLength+1),
}

func testBadKeys(t *testing.T, s blob.Store) {
	ctx := t.Context()
	for _, key := range badKeys {
		err := s.Put(ctx, key, strings.NewReader("x"), 1, blob.PutOptions{})
		wantKind(t, "Put("+short([]byte(key))+")", err, apierr.InvalidArgument)
		if f := apierr.From(err).Field; f != "key" {
			t.Errorf("Put(%s) error field = %q, want key", short([]byte(key)), f)
		}
		_, _, err = s.Get(ctx, key)
		wantKind(t, "Get", err, apierr.InvalidArgument)
		_, err = s.Stat(ctx, key)
		wantKind(t, "Stat", err, apierr.InvalidArgument)
		err = s.Delete(ctx, key)
		wantKind(t, "Delete", err, apierr.InvalidArgument)
	}
	if keys := listAll(t, s, "", 0); len(keys) != 0 {
		t.Errorf("bad keys left objects: %q", keys)
	}
	// Names that look odd but are valid.
	for _, key := range []string{"a..b", ".hidden", "dir/.env", "spaces in name", "ünïcødé/κλειδί", "a=b&c?d#e", "x%2Fy"} {
		put(t, s, key, []byte(key))
		if got, _ := get(t, s, key); string(got) != key {
			t.Errorf("Get(%q) = %q", key, got)
		}
	}
}

func testSizeMismatch(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "sized", []byte("old"))
	for _, c := range []struct {
		body string
		size int64
	}{{"short", 10}, {"longer than declared", 3}, {"", 1}} {
		err := s.Put(ctx, "sized", strings.NewReader(c.body), c.size, blob.PutOptions{})
		wantKind(t, "Put with wrong size", err, apierr.InvalidArgument)
		err = s.Put(ctx, "fresh", strings.NewReader(c.body), c.size, blob.PutOptions{})
		wantKind(t, "Put with wrong size", err, apierr.InvalidArgument)
	}
	if got, _ := get(t, s, "sized"); string(got) != "old" {
		t.Errorf("failed Put changed the object: %q", got)
	}
	wantMissing(t, s, "fresh")
}

func testReaderError(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "r", []byte("old"))
	for _, size := range []int64{-1, 100} {
		err := s.Put(ctx, "r", failingReader(strings.NewReader("partial")), size, blob.PutOptions{})
		if !errors.Is(err, errBoom) {
			t.Errorf("Put(size %d) error = %v, want the reader's error", size, err)
		}
	}
	if got, _ := get(t, s, "r"); string(got) != "old" {
		t.Errorf("failed Put changed the object: %q", got)
	}
	if keys := listAll(t, s, "", 0); !slices.Equal(keys, []string{"r"}) {
		t.Errorf("List after failed puts = %q", keys)
	}
}

func testCanceled(t *testing.T, s blob.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, "c", strings.NewReader("x"), 1, blob.PutOptions{}); err == nil {
		t.Fatalf("Put with a cancelled context succeeded")
	}
	wantMissing(t, s, "c")
	// A context cancelled while the body streams stops the upload.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	body := io.MultiReader(stream(1, mib(1)), readerFunc(func([]byte) (int, error) {
		cancel()
		return 0, io.EOF
	}), stream(2, mib(1)))
	if err := s.Put(ctx, "c", body, -1, blob.PutOptions{}); err == nil {
		t.Fatalf("Put cancelled mid-body succeeded")
	}
	wantMissing(t, s, "c")
}

func testLargeStream(t *testing.T, s blob.Store) {
	ctx := t.Context()
	n := mib(12)
	for i, size := range []int64{-1, n} {
		key := []string{"large/unknown-size.bin", "large/known-size.bin"}[i]
		put(t, s, key, []byte("a small object the large one replaces"))
		if err := s.Put(ctx, key, stream(7, n), size, blob.PutOptions{}); err != nil {
			t.Fatalf("Put(%s, size %d): %v", key, size, err)
		}
		st, err := s.Stat(ctx, key)
		if err != nil || st.Size != n {
			t.Fatalf("Stat(%s) = %+v, %v; want size %d", key, st, err, n)
		}
		rc, info, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%s): %v", key, err)
		}
		h := sha256.New()
		copied, err := io.Copy(h, rc)
		_ = rc.Close()
		if err != nil || copied != n || info.Size != n {
			t.Fatalf("Get(%s) read %d bytes (info size %d), err %v; want %d", key, copied, info.Size, err, n)
		}
		if [32]byte(h.Sum(nil)) != streamSum(7, n) {
			t.Errorf("Get(%s): content differs from what was put", key)
		}
	}
}

func testLargeStreamFailure(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "big", []byte("old"))
	err := s.Put(ctx, "big", failingReader(stream(3, mib(9))), -1, blob.PutOptions{})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Put error = %v, want the reader's error", err)
	}
	if got, _ := get(t, s, "big"); string(got) != "old" {
		t.Errorf("failed large Put changed the object: %s", short(got))
	}
	err = s.Put(ctx, "big-new", failingReader(stream(3, mib(9))), -1, blob.PutOptions{})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Put error = %v, want the reader's error", err)
	}
	wantMissing(t, s, "big-new")
}

func testListOrder(t *testing.T, s blob.Store) {
	ctx := t.Context()
	// Byte order puts '-' (0x2d) before '/' (0x2f) before '0' and letters.
	for _, k := range []string{"m/b", "m/a/c/d", "n/x", "m/aa", "m/a-c", "m0", "m/a/b"} {
		put(t, s, k, []byte(k+"!"))
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"m/a-c", "m/a/b", "m/a/c/d", "m/aa", "m/b", "m0", "n/x"}},
		{"m/", []string{"m/a-c", "m/a/b", "m/a/c/d", "m/aa", "m/b"}},
		{"m/a", []string{"m/a-c", "m/a/b", "m/a/c/d", "m/aa"}},
		{"m/a/", []string{"m/a/b", "m/a/c/d"}},
		{"m", []string{"m/a-c", "m/a/b", "m/a/c/d", "m/aa", "m/b", "m0"}},
		{"m/a/c/d", []string{"m/a/c/d"}},
		{"zzz", nil},
		{"m/zz/", nil},
	}
	for _, c := range cases {
		page, err := s.List(ctx, c.prefix, blob.ListOptions{})
		if err != nil {
			t.Fatalf("List(%q): %v", c.prefix, err)
		}
		var keys []string
		for _, it := range page.Items {
			keys = append(keys, it.Key)
			if it.Size != int64(len(it.Key)+1) {
				t.Errorf("List(%q): %s size = %d, want %d", c.prefix, it.Key, it.Size, len(it.Key)+1)
			}
			if it.ModTime.IsZero() || it.ETag == "" {
				t.Errorf("List(%q): %s has no mod time or ETag: %+v", c.prefix, it.Key, it)
			}
		}
		if !slices.Equal(keys, c.want) {
			t.Errorf("List(%q) = %q, want %q", c.prefix, keys, c.want)
		}
		if page.NextPageToken != "" {
			t.Errorf("List(%q) has a next page token on its only page", c.prefix)
		}
	}
}

func testListPagination(t *testing.T, s blob.Store) {
	ctx := t.Context()
	var want []string
	for _, k := range []string{"p/07", "p/01", "p/03/x", "p/02", "p/05", "p/04", "p/06", "q/01"} {
		put(t, s, k, []byte("v"))
		if strings.HasPrefix(k, "p/") {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	var sizes []int
	var got []string
	token := ""
	for {
		page, err := s.List(ctx, "p/", blob.ListOptions{Limit: 3, PageToken: token})
		if err != nil {
			t.Fatalf("List page %d: %v", len(sizes), err)
		}
		sizes = append(sizes, len(page.Items))
		for _, it := range page.Items {
			got = append(got, it.Key)
		}
		if page.NextPageToken == "" {
			break
		}
		if len(sizes) > 10 {
			t.Fatalf("pagination does not end")
		}
		token = page.NextPageToken
	}
	if !slices.Equal(got, want) || !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("pages %v of %q, want [3 3 1] of %q", sizes, got, want)
	}
	// Pages that end exactly at the last key carry no token.
	if keys := listAll(t, s, "p/", 7); !slices.Equal(keys, want) {
		t.Errorf("List limit 7 = %q", keys)
	}
	page, err := s.List(ctx, "p/", blob.ListOptions{Limit: 7})
	if err != nil || len(page.Items) != 7 || page.NextPageToken != "" {
		t.Errorf("List limit 7 = %d items, token %q, err %v; want 7 items and no token", len(page.Items), page.NextPageToken, err)
	}
	// A token stays valid when the key it resumes after is deleted.
	first, err := s.List(ctx, "p/", blob.ListOptions{Limit: 2})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if err := s.Delete(ctx, first.Items[1].Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	next, err := s.List(ctx, "p/", blob.ListOptions{Limit: 2, PageToken: first.NextPageToken})
	if err != nil {
		t.Fatalf("List after delete: %v", err)
	}
	if len(next.Items) != 2 || next.Items[0].Key != want[2] || next.Items[1].Key != want[3] {
		t.Errorf("page after deleted token key = %+v, want %q", next.Items, want[2:4])
	}
	// Tokens belong to their prefix.
	_, err = s.List(ctx, "q/", blob.ListOptions{PageToken: first.NextPageToken})
	wantKind(t, "List with another prefix's token", err, apierr.InvalidArgument)
}

func testListBadArguments(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "k/v", []byte("x"))
	for _, prefix := range []string{"/abs", "../", "a//b", "a/../", "k\\", "a\x00"} {
		_, err := s.List(ctx, prefix, blob.ListOptions{})
		wantKind(t, "List("+short([]byte(prefix))+")", err, apierr.InvalidArgument)
	}
	_, err := s.List(ctx, "", blob.ListOptions{Limit: -1})
	wantKind(t, "List with limit -1", err, apierr.InvalidArgument)
	// Limits above the maximum are clamped, not rejected.
	if page, err := s.List(ctx, "", blob.ListOptions{Limit: blob.MaxListLimit * 5}); err != nil || len(page.Items) != 1 {
		t.Errorf("List with a large limit = %d items, %v", len(page.Items), err)
	}
	for _, token := range []string{"!!not-base64!!", "AA", "Zm9v=="} {
		_, err := s.List(ctx, "k/", blob.ListOptions{PageToken: token})
		wantKind(t, "List with token "+token, err, apierr.InvalidArgument)
	}
	// A partial last segment is a valid prefix, dots included.
	put(t, s, "k/.dot", []byte("x"))
	if keys := listAll(t, s, "k/.", 0); !slices.Equal(keys, []string{"k/.dot"}) {
		t.Errorf("List(k/.) = %q", keys)
	}
}

func testConcurrentOverwrite(t *testing.T, s blob.Store) {
	ctx := t.Context()
	const size = 256 << 10
	const writers, rounds = 4, 3
	put(t, s, "hot", bytes.Repeat([]byte{'0'}, size))
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds+64)
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for range rounds {
				body := bytes.Repeat([]byte{byte('a' + w)}, size)
				if err := s.Put(ctx, "hot", bytes.NewReader(body), size, blob.PutOptions{}); err != nil {
					errs <- err
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc, _, err := s.Get(ctx, "hot")
				if err != nil {
					errs <- err
					return
				}
				data, err := io.ReadAll(rc)
				_ = rc.Close()
				if err != nil {
					errs <- err
					return
				}
				if len(data) != size || bytes.Count(data, data[:1]) != size {
					errs <- errors.New("read a torn object")
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent overwrite: %v", err)
	}
}

func testURL(t *testing.T, s blob.Store) {
	u := s.URL("mlp/cluster_manager/a.tgz")
	if !strings.HasPrefix(u, "file:///") && !strings.HasPrefix(u, "s3://") {
		t.Errorf("URL = %q, want file:/// or s3://", u)
	}
	if !strings.HasSuffix(u, "/mlp/cluster_manager/a.tgz") {
		t.Errorf("URL = %q, want it to end with the key", u)
	}
}
