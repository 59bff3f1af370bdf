package hermes

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAuthErrors(t *testing.T) {
	p := startPlatform(t)

	bad := newCLI(t, p.URL)
	bad.env["HERMES_USER_TOKEN"] = "wrong-token"
	r := bad.fail(1, []string{"Invalid or expired token.", "HTTP 403"}, "list")
	if r.stdout != "" {
		t.Fatalf("stdout on error: %q", r.stdout)
	}
	bad.fail(1, []string{"Invalid or expired token."}, "create-environment", "--name", "local")
	if code, _ := p.get(t, "/environment/local"); code != 200 {
		t.Fatal(code)
	}
	if _, env := p.get(t, "/environment/local"); len(env) != 0 {
		t.Fatalf("a bad token created the environment: %v", env)
	}

	// no token anywhere: a local error before any request
	none := newCLI(t, p.URL)
	before := p.requests.Load()
	none.fail(1, []string{"no hermes token", "HERMES_USER_TOKEN", "hermes configure"}, "list")
	if p.requests.Load() != before {
		t.Fatal("a request was sent without a token")
	}

	// a credential file without the token line
	empty := newCLI(t, p.URL)
	if err := os.MkdirAll(filepath.Join(empty.home(), ".hermes"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(credentialPath(empty.home()), []byte("# nothing\nOTHER=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty.fail(1, []string{"has no token"}, "list")
}

func TestServerAndUsageErrors(t *testing.T) {
	p := startPlatform(t)
	c := newCLI(t, p.URL)
	c.env["HERMES_USER_TOKEN"] = adminToken

	c.fail(1, []string{"HTTP 404", "GET /ml-serve/api/v1/serve/ghost"}, "get", "--name", "ghost")
	c.fail(1, []string{"HTTP 404"}, "status", "--name", "ghost", "--env", "local")
	c.fail(1, []string{"HTTP 404"}, "config", "get", "--serve-name", "ghost", "--env", "local")
	// the server's validation message reaches the user
	c.ok("create-environment", "--name", "local")
	c.fail(1, []string{"HTTP 400", "cores"}, "deploy-model", "--serve-name", "m", "--model-uri", "models:/m/1", "--cores", "0")
	c.fail(1, []string{"Invalid model URI", "hint:"}, "deploy-model", "--serve-name", "m", "--model-uri", "ftp://nowhere/model")
	c.fail(1, []string{"HTTP 400", "name"}, "create-serve", "--name", "bad_name", "--type", "api")

	before := p.requests.Load()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create-serve", "--type", "api"}, "--name"},
		{[]string{"create-serve", "--name", "x", "--type", "batch"}, "invalid --type"},
		{[]string{"get"}, "--name"},
		{[]string{"status", "--name", "x"}, "--env"},
		{[]string{"deploy-model", "--serve-name", "x"}, "--model-uri"},
		{[]string{"deploy-model", "--serve-name", "x", "--model-uri", "m", "--storage-strategy", "disk"}, "storage-strategy"},
		{[]string{"deploy-model", "--serve-name", "x", "--model-uri", "m", "--env", ""}, "--env"},
		{[]string{"deploy-model", "--cores", "many"}, "invalid argument"},
		{[]string{"list", "--bogus"}, "unknown flag"},
		{[]string{"list", "extra"}, "takes no arguments"},
		{[]string{"nonsense"}, "unknown command"},
		{[]string{"environment", "nonsense"}, "unknown command"},
		{[]string{"artifact", "status"}, "--job-id"},
		{[]string{"list", "-o", "xml"}, "invalid --output"},
		{[]string{"list", "--url", "localhost:1"}, "invalid platform URL"},
	} {
		r := c.run(tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if p.requests.Load() != before {
		t.Fatal("usage errors must not call the server")
	}

	// nothing listens: a network error is exit 1
	dead := newCLI(t, "http://127.0.0.1:1")
	dead.env["HERMES_USER_TOKEN"] = adminToken
	dead.fail(1, []string{"127.0.0.1:1"}, "list")
}

func TestURLResolution(t *testing.T) {
	p := startPlatform(t)
	c := newCLI(t, "")
	c.env["HERMES_USER_TOKEN"] = adminToken
	// default http://localhost:8080 is not our server: DARWIN_URL, --url and the config file are
	c.env["DARWIN_URL"] = p.URL
	c.ok("list")
	c.env["DARWIN_URL"] = p.URL + "/ml-serve/" // a URL that already names ml-serve is not doubled
	c.ok("list")
	c.env["DARWIN_URL"] = "http://127.0.0.1:1"
	c.ok("list", "--url", p.URL) // the flag beats the environment
	delete(c.env, "DARWIN_URL")
	c.ok("configure", "--token", adminToken, "--url", p.URL)
	b, err := os.ReadFile(filepath.Join(c.home(), ".hermes", "config.yaml"))
	if err != nil || !strings.Contains(string(b), p.URL) {
		t.Fatalf("config.yaml: %q %v", b, err)
	}
	delete(c.env, "HERMES_USER_TOKEN")
	c.ok("list") // token from credential.txt, URL from config.yaml
}

func TestConfigure(t *testing.T) {
	t.Run("env token", func(t *testing.T) {
		c := newCLI(t, "")
		c.env["HERMES_USER_TOKEN"] = "tok-from-env"
		r := c.ok("configure")
		checkCredential(t, c.home(), "tok-from-env")
		if strings.Contains(r.stdout, "tok-from-env") {
			t.Fatalf("configure printed the token: %q", r.stdout)
		}
		if st, _ := os.Stat(filepath.Join(c.home(), ".hermes")); st.Mode().Perm() != 0o700 {
			t.Fatalf("~/.hermes mode %v", st.Mode())
		}
	})
	t.Run("flag beats env and replaces a loose file", func(t *testing.T) {
		c := newCLI(t, "")
		c.env["HERMES_USER_TOKEN"] = "tok-from-env"
		if err := os.MkdirAll(filepath.Join(c.home(), ".hermes"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(credentialPath(c.home()), []byte("HERMES_USER_TOKEN=old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c.ok("configure", "--token", "tok-flag")
		checkCredential(t, c.home(), "tok-flag")
		c.fail(2, []string{"--token must not be empty"}, "configure", "--token", "")
		c.fail(2, []string{"whitespace"}, "configure", "--token", "a b")
		checkCredential(t, c.home(), "tok-flag")
	})
	t.Run("prompt", func(t *testing.T) {
		c := newCLI(t, "")
		c.stdin = "typed-token\n"
		r := c.ok("configure")
		if !strings.Contains(r.stdout, "Hermes token ["+DefaultToken+"]") {
			t.Fatalf("no prompt: %q", r.stdout)
		}
		checkCredential(t, c.home(), "typed-token")
		c.stdin = "\n"
		c.ok("configure")
		checkCredential(t, c.home(), DefaultToken)
		c.stdin = ""
		c.fail(2, []string{"no token given"}, "configure")
	})
	t.Run("env token is used by later commands", func(t *testing.T) {
		p := startPlatform(t)
		c := newCLI(t, p.URL)
		c.ok("configure", "--token", "stale")
		c.env["HERMES_USER_TOKEN"] = adminToken // the environment beats the file
		c.ok("list")
		delete(c.env, "HERMES_USER_TOKEN")
		c.fail(1, []string{"HTTP 403"}, "list")
	})
}

func checkCredential(t *testing.T, home, token string) {
	t.Helper()
	p := credentialPath(home)
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "HERMES_USER_TOKEN="+token+"\n" {
		t.Fatalf("credential file: %q %v", b, err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credential file mode: %v %v", st.Mode(), err)
	}
	if got := parseCredential(string(b)); got != token {
		t.Fatalf("parseCredential = %q", got)
	}
}

// statusServer answers deploy-model and then the given status sequence (its last entry repeats).
func statusServer(t *testing.T, statuses []int, bodies []string) (*httptest.Server, *atomic.Int64) {
	var polls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+adminToken {
			w.WriteHeader(403)
			return
		}
		if r.URL.Path == "/ml-serve/api/v1/serve/deploy-model" {
			_, _ = w.Write([]byte(`{"service_url":"http://localhost:8080/m/"}`))
			return
		}
		if r.URL.Path != "/ml-serve/api/v1/serve/m/status/local" {
			w.WriteHeader(404)
			return
		}
		i := int(polls.Add(1)) - 1
		if i >= len(statuses) {
			i = len(statuses) - 1
		}
		w.WriteHeader(statuses[i])
		_, _ = w.Write([]byte(bodies[i]))
	}))
	t.Cleanup(srv.Close)
	return srv, &polls
}

func TestDeployModelWait(t *testing.T) {
	notReady := `{"status":"SUCCESS","data":{"status":"NOT_READY"}}`
	ready := `{"status":"SUCCESS","data":{"status":"READY"}}`
	t.Run("progress until ready, retrying server errors", func(t *testing.T) {
		srv, polls := statusServer(t, []int{200, 200, 503, 200}, []string{notReady, notReady, `{"status":"ERROR","message":"busy"}`, ready})
		c := newCLI(t, srv.URL)
		c.env["HERMES_USER_TOKEN"] = adminToken
		r := c.ok("deploy-model", "--serve-name", "m", "--model-uri", "models:/m/1")
		if polls.Load() != 4 {
			t.Fatalf("polls = %d", polls.Load())
		}
		for _, want := range []string{"NOT_READY", "retrying", "busy", "READY", `serve "m" is READY`} {
			if !strings.Contains(r.stderr, want) {
				t.Fatalf("progress lacks %q:\n%s", want, r.stderr)
			}
		}
		if strings.Count(r.stderr, "NOT_READY") != 1 {
			t.Fatalf("a status line per poll instead of per change:\n%s", r.stderr)
		}
		if !strings.Contains(r.stdout, "http://localhost:8080/m/") {
			t.Fatalf("stdout: %q", r.stdout)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv, _ := statusServer(t, []int{200}, []string{notReady})
		c := newCLI(t, srv.URL)
		c.env["HERMES_USER_TOKEN"] = adminToken
		start := time.Now()
		c.fail(1, []string{"not READY after 50ms", "last status NOT_READY"}, "deploy-model", "--serve-name", "m", "--model-uri", "models:/m/1", "--timeout", "50ms")
		if time.Since(start) > 5*time.Second {
			t.Fatal("timeout not honoured")
		}
	})
	t.Run("4xx ends the wait", func(t *testing.T) {
		srv, polls := statusServer(t, []int{404}, []string{`{"status":"ERROR","message":"No active deployment"}`})
		c := newCLI(t, srv.URL)
		c.env["HERMES_USER_TOKEN"] = adminToken
		c.fail(1, []string{"No active deployment", "HTTP 404"}, "deploy-model", "--serve-name", "m", "--model-uri", "models:/m/1")
		if polls.Load() != 1 {
			t.Fatalf("polls = %d", polls.Load())
		}
	})
}
