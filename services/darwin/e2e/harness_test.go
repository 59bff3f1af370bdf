// Package e2e starts the real `darwin` binary and drives it over HTTP exactly
// as the README's quick start does.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/testutil"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
	binDir  string
)

// buildBinary builds a command of the workspace once per test process and
// returns its path.
func buildBinary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if path, ok := built[pkg]; ok {
		return path
	}
	if binDir == "" {
		dir, err := os.MkdirTemp("", "darwin-e2e-bin-")
		if err != nil {
			t.Fatal(err)
		}
		binDir = dir
	}
	path := filepath.Join(binDir, filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = path
	return path
}

// darwinBinary builds the darwin command once per test process.
func darwinBinary(t testing.TB) string {
	return buildBinary(t, "github.com/darwinml/darwin/services/darwin/cmd/darwin")
}

// platform is one running `darwin up`.
type platform struct {
	t       testing.TB
	base    string
	dataDir string
	cmd     *exec.Cmd
	logs    *syncBuffer
	waited  chan struct{}
	started time.Time
	ready   time.Duration
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startDarwin runs `darwin up` on a free loopback port over dataDir (a fresh
// one when empty) and waits until /readyz answers 200.
func startDarwin(t testing.TB, dataDir string, extra ...string) *platform {
	t.Helper()
	return startDarwinOn(t, dataDir, testutil.FreePort(t), extra...)
}

// startDarwinOn is startDarwin on a given port (to restart on the same one).
func startDarwinOn(t testing.TB, dataDir string, port int, extra ...string) *platform {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{"up", "--http-addr", addr, "--data-dir", dataDir, "-compute.poll-interval=300ms"}, extra...)
	p := startProcess(t, darwinBinary(t), "http://"+addr, args...)
	p.dataDir = dataDir
	return p
}

// startProcess runs bin with args and waits until base+"/readyz" answers 200.
func startProcess(t testing.TB, bin, base string, args ...string) *platform {
	t.Helper()
	p := &platform{t: t, base: base, logs: &syncBuffer{}, waited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.waited) }()
	name := filepath.Base(bin)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output (last 120 lines):\n%s", name, tail(p.logs.String(), 120))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.waited:
			t.Fatalf("%s exited before becoming ready:\n%s", name, tail(p.logs.String(), 120))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s within 60s:\n%s", name, p.base, tail(p.logs.String(), 120))
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.ready = time.Since(p.started)
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *platform) stop() {
	if p.cmd.Process == nil {
		return
	}
	select {
	case <-p.waited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.waited
		p.t.Errorf("darwin up did not exit within 20s of SIGTERM")
	}
}

// envelope is the Python-era services' response shape.
type envelope struct {
	Status  string          `json:"status"`
	Message json.RawMessage `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call sends a request and decodes the JSON answer into out (when non-nil),
// returning the status code.
func (p *platform) call(method, path string, headers map[string]string, body string, out any) int {
	p.t.Helper()
	return doJSON(p.t, method, p.url(path), headers, body, out)
}

func (p *platform) url(path string) string {
	if strings.HasPrefix(path, "http://") {
		return path
	}
	return p.base + path
}

func doJSON(t testing.TB, method, url string, headers map[string]string, body string, out any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatalf("build %s %s: %v", method, url, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, url, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: status %d, undecodable body %q: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// processesOf lists live processes whose command line mentions s.
func processesOf(s string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if fields := strings.Fields(string(stat)); len(fields) > 2 && fields[2] == "Z" {
			continue // a zombie holds no resources and runs nothing
		}
		cmdline := strings.ReplaceAll(string(raw), "\x00", " ")
		if strings.Contains(cmdline, s) {
			found = append(found, e.Name()+": "+cmdline)
		}
	}
	return found
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func decodeBody(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s response: %v", resp.Request.URL, err)
	}
}
