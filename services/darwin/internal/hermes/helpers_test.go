package hermes

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	mlserve "github.com/darwinml/darwin/services/ml-serve"
)

const adminToken = mlserve.DefaultAdminToken

// platform is a real in-process ml-serve on a temporary SQLite database, mounted at /ml-serve.
type platform struct {
	URL      string
	requests atomic.Int64
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	svc, err := mlserve.New(mlserve.Config{DataDir: t.TempDir(), PublicURL: "http://localhost:8080", DefaultRuntime: "docker.io/darwin/serve-md-runtime:latest"}, mlserve.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := &platform{}
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			p.requests.Add(1)
			next.ServeHTTP(w, req)
		})
	})
	r.Route("/ml-serve", svc.RegisterHTTP)
	srv := httptest.NewServer(r)
	p.URL = srv.URL
	t.Cleanup(func() { srv.Close(); _ = mod.Stop(t.Context()) })
	return p
}

// get calls the platform directly (not through hermes) and returns the status and the decoded body.
func (p *platform) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/ml-serve/api/v1"+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, out
}

// data returns the envelope's data of a successful GET.
func (p *platform) data(t *testing.T, path string) map[string]any {
	t.Helper()
	code, body := p.get(t, path)
	if code != 200 {
		t.Fatalf("GET %s: %d %v", path, code, body)
	}
	d, _ := body["data"].(map[string]any)
	return d
}

type result struct {
	code           int
	stdout, stderr string
}

// cli runs hermes in-process with its own environment (HOME is a temporary directory unless env sets it).
type cli struct {
	t     *testing.T
	env   map[string]string
	stdin string
	use   string
}

func newCLI(t *testing.T, url string) *cli {
	env := map[string]string{"HOME": t.TempDir()}
	if url != "" {
		env["DARWIN_URL"] = url
	}
	return &cli{t: t, env: env}
}

func (c *cli) home() string { return c.env["HOME"] }

func (c *cli) run(args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	code := Run(c.t.Context(), args, Options{
		Use:          c.use,
		In:           strings.NewReader(c.stdin),
		Out:          &out,
		Err:          &errb,
		Getenv:       func(k string) string { return c.env[k] },
		PollInterval: time.Millisecond,
	})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs a command that must succeed.
func (c *cli) ok(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("hermes %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// fail runs a command that must exit with code and mention every want on stderr.
func (c *cli) fail(code int, wants []string, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != code {
		c.t.Fatalf("hermes %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			c.t.Fatalf("hermes %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, r.stderr)
		}
	}
	return r
}

// shellWords splits one pasted shell command: quotes, backslash-newline continuations.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\' && i+1 < len(rs) && rs[i+1] == '\n':
			i++
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func credentialPath(home string) string { return filepath.Join(home, ".hermes", "credential.txt") }

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}
