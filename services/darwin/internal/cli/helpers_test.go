package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// recorded is one request the fake compute API received.
type recorded struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

type reply struct {
	status int
	body   string
}

func ok(data string) reply {
	return reply{status: http.StatusOK, body: `{"status":"SUCCESS","message":"OK","data":` + data + `}`}
}

func okMsg(status int, message, data string) reply {
	b, _ := json.Marshal(message)
	return reply{status: status, body: `{"status":"SUCCESS","message":` + string(b) + `,"data":` + data + `}`}
}

func fail(status int, message string) reply {
	b, _ := json.Marshal(message)
	return reply{status: status, body: `{"status":"ERROR","message":` + string(b) + `,"data":null}`}
}

// fakeAPI is a scripted compute API: each "METHOD /path" has a queue of
// replies; the last one repeats. Unknown routes answer 404 in the envelope.
type fakeAPI struct {
	mu     sync.Mutex
	reqs   []recorded
	routes map[string][]reply
}

func newFakeAPI(t *testing.T) (*fakeAPI, *httptest.Server) {
	t.Helper()
	f := &fakeAPI{routes: map[string][]reply{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAPI) on(method, path string, replies ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[method+" "+path] = replies
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	key := r.Method + " " + r.URL.EscapedPath()
	q := f.routes[key]
	var rep reply
	switch len(q) {
	case 0:
		rep = fail(http.StatusNotFound, "no route "+key)
	case 1:
		rep = q[0]
	default:
		rep = q[0]
		f.routes[key] = q[1:]
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (f *fakeAPI) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeAPI) count(method, path string) int {
	n := 0
	for _, r := range f.requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// fakeClock advances by the requested duration whenever After is called, so
// --wait runs instantly with deterministic elapsed times.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

type runResult struct {
	stdout, stderr string
	err            error
}

// runCLI runs `darwin --url <url> args...` the way the lead's main wires it.
func runCLI(t *testing.T, url string, stdin string, args ...string) runResult {
	t.Helper()
	return runCLIEnv(t, map[string]string{"DARWIN_URL": url}, stdin, args...)
}

func runCLIEnv(t *testing.T, environ map[string]string, stdin string, args ...string) runResult {
	t.Helper()
	opts := &GlobalOptions{}
	root := &cobra.Command{Use: "darwin", SilenceErrors: true}
	addGlobalFlags(root, opts, func(k string) string { return environ[k] })
	root.AddCommand(NewComputeCommand(opts))
	opts.Clock = newFakeClock()
	opts.PollInterval = 2 * time.Second
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return runResult{stdout: out.String(), stderr: errb.String(), err: err}
}

// canonicalJSON re-indents JSON with sorted keys so bodies compare stably.
func canonicalJSON(t *testing.T, b []byte) string {
	t.Helper()
	if len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out) + "\n"
}

// golden compares got with testdata/golden/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s (run with -update to create): %v", path, err)
	}
	if got != string(want) {
		t.Errorf("%s mismatch (run with -update to accept)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
