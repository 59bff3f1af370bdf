package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/blob/blobtest"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/mlflow/internal/httpapi"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
	"github.com/darwinml/darwin/services/mlflow/migrations"
)

// A fixture is a sequence of HTTP exchanges written from MLflow's REST API reference and the requests the
// stock Python client sends. Strings "${name}" in paths, bodies and expected responses are replaced by values
// captured from earlier responses (capture: name → dotted path into the response, e.g. "run.info.run_id").
// Expected responses are matched as subsets: every expected object key must be present and match, arrays
// must have the same length, "*" matches any present value and "<absent>" requires the key to be missing.
type fixture struct {
	Description string `json:"description"`
	Steps       []step `json:"steps"`
}

type step struct {
	Name     string          `json:"name"`
	Method   string          `json:"method"`
	Path     string          `json:"path"`
	Body     json.RawMessage `json:"body"`
	RawBody  *string         `json:"raw_body"`
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
	// RawResponse, when set, is the exact expected body of a non-JSON response (an artifact download).
	RawResponse *string           `json:"raw_response"`
	Capture     map[string]string `json:"capture"`
}

func newServer(t *testing.T, d *db.DB) *httptest.Server {
	clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
	r := chi.NewRouter()
	h := httpapi.New(store.New(d, clk, "mlflow-artifacts:"), nil, httpapi.Options{Artifacts: blobtest.NewLocal(t)})
	r.Route("/mlflow-lib", h.Routes)
	h.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

var migs = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

func TestFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/fixtures/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	sort.Strings(files)
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		srv := newServer(t, d)
		for _, f := range files {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) { replay(t, srv, f) })
		}
	})
}

var varRe = regexp.MustCompile(`\$\{([a-z_0-9]+)\}`)

func subst(t *testing.T, s string, vars map[string]string) string {
	return varRe.ReplaceAllStringFunc(s, func(m string) string {
		name := varRe.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			t.Fatalf("variable %s not captured yet", name)
		}
		return v
	})
}

func replay(t *testing.T, srv *httptest.Server, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	vars := map[string]string{}
	for i, st := range fx.Steps {
		label := fmt.Sprintf("step %d (%s %s %s)", i, st.Name, st.Method, st.Path)
		var body io.Reader
		switch {
		case st.RawBody != nil:
			body = strings.NewReader(*st.RawBody)
		case len(st.Body) > 0:
			body = strings.NewReader(subst(t, string(st.Body), vars))
		}
		req, err := http.NewRequest(st.Method, srv.URL+subst(t, st.Path, vars), body)
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != st.Status {
			t.Fatalf("%s: status %d, want %d; body %s", label, resp.StatusCode, st.Status, got)
		}
		if st.RawResponse != nil {
			if string(got) != subst(t, *st.RawResponse, vars) {
				t.Fatalf("%s: body %q, want %q", label, got, *st.RawResponse)
			}
			continue
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: content type %q", label, ct)
		}
		var gotV any
		if err := json.Unmarshal(got, &gotV); err != nil {
			t.Fatalf("%s: response is not JSON: %s", label, got)
		}
		if len(st.Response) > 0 {
			var want any
			if err := json.Unmarshal([]byte(subst(t, string(st.Response), vars)), &want); err != nil {
				t.Fatalf("%s: bad expected response: %v", label, err)
			}
			if msg := match("$", want, gotV); msg != "" {
				t.Fatalf("%s: %s\nresponse: %s", label, msg, got)
			}
		}
		for name, path := range st.Capture {
			v, ok := lookup(gotV, path)
			if !ok {
				t.Fatalf("%s: capture %s: no %s in %s", label, name, path, got)
			}
			vars[name] = fmt.Sprint(v)
		}
	}
}

func lookup(v any, path string) (any, bool) {
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[part]; !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscan(part, &i); err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func match(path string, want, got any) string {
	switch w := want.(type) {
	case string:
		if w == "*" {
			return ""
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: got %T, want object", path, got)
		}
		for k, wv := range w {
			gv, present := g[k]
			if wv == "<absent>" {
				if present {
					return fmt.Sprintf("%s.%s: present (%v), want absent", path, k, gv)
				}
				continue
			}
			if !present {
				return fmt.Sprintf("%s.%s: missing", path, k)
			}
			if msg := match(path+"."+k, wv, gv); msg != "" {
				return msg
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %v, want array of %d", path, got, len(w))
		}
		for i := range w {
			if msg := match(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); msg != "" {
				return msg
			}
		}
		return ""
	}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	if !bytes.Equal(wb, gb) {
		return fmt.Sprintf("%s: got %s, want %s", path, gb, wb)
	}
	return ""
}
