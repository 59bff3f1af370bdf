package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
)

// A fixture is a sequence of hermes HTTP calls (written from spec §10.1 and §17). Each step sends its body with
// the admin bearer token (token "none" sends no header; any other value is sent as the token) and checks the
// status and the response. Responses match as subsets: expected object keys must be present and equal, arrays
// must have the same length, "*" matches any present non-null value and "<absent>" requires the key to be
// missing. bare_response is compared to the whole body exactly (trimmed). "${name}" in paths is replaced by
// values captured from earlier responses (capture: name → dotted path).
type fixture struct {
	Description string `json:"description"`
	Steps       []struct {
		Name         string            `json:"name"`
		Token        string            `json:"token"`
		Method       string            `json:"method"`
		Path         string            `json:"path"`
		Body         json.RawMessage   `json:"body"`
		Status       int               `json:"status"`
		Response     json.RawMessage   `json:"response"`
		BareResponse *string           `json:"bare_response"`
		Capture      map[string]string `json:"capture"`
	} `json:"steps"`
}

func TestFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/fixtures/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	sort.Strings(files)
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		for _, f := range files {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
				// Each fixture starts from an empty database (tables emptied, users re-created).
				for _, table := range []string{"active_deployments", "app_layer_deployments", "deployments", "api_serve_configs", "workflow_serve_configs", "artifacts", "artifact_builder_job", "serves", "environments", "users"} {
					if _, err := d.Exec(t.Context(), "DELETE FROM "+table); err != nil {
						t.Fatal(err)
					}
				}
				replay(t, newEnv(t, d), f)
			})
		}
	})
}

var varRe = regexp.MustCompile(`\$\{([a-z_0-9]+)\}`)

func replay(t *testing.T, e *env, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	vars := map[string]string{}
	subst := func(s string) string {
		return varRe.ReplaceAllStringFunc(s, func(m string) string {
			v, ok := vars[varRe.FindStringSubmatch(m)[1]]
			if !ok {
				t.Fatalf("unknown variable %s", m)
			}
			return v
		})
	}
	for i, st := range fx.Steps {
		var body io.Reader
		if len(st.Body) > 0 {
			body = bytes.NewReader(st.Body)
		}
		req, err := http.NewRequest(st.Method, e.srv.URL+subst(st.Path), body)
		if err != nil {
			t.Fatal(err)
		}
		switch st.Token {
		case "":
			req.Header.Set("Authorization", "Bearer "+adminToken)
		case "none":
		default:
			req.Header.Set("Authorization", "Bearer "+st.Token)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		where := fmt.Sprintf("step %d (%s)", i, st.Name)
		if res.StatusCode != st.Status {
			t.Fatalf("%s: status %d, want %d: %s", where, res.StatusCode, st.Status, got)
		}
		if st.BareResponse != nil {
			if strings.TrimSpace(string(got)) != *st.BareResponse {
				t.Fatalf("%s: body %s, want exactly %s", where, got, *st.BareResponse)
			}
		}
		var gotV any
		if err := json.Unmarshal(got, &gotV); err != nil {
			t.Fatalf("%s: response is not JSON: %s", where, got)
		}
		if len(st.Response) > 0 {
			var want any
			if err := json.Unmarshal(st.Response, &want); err != nil {
				t.Fatalf("%s: bad expected response: %v", where, err)
			}
			if msg := match(want, gotV, "$"); msg != "" {
				t.Fatalf("%s: %s\ngot: %s", where, msg, got)
			}
		}
		for name, path := range st.Capture {
			v := get(gotV, path)
			if v == nil {
				t.Fatalf("%s: capture %s: %s missing", where, name, path)
			}
			switch x := v.(type) {
			case float64:
				vars[name] = fmt.Sprintf("%d", int64(x))
			default:
				vars[name] = fmt.Sprint(x)
			}
		}
	}
}

func match(want, got any, path string) string {
	if s, ok := want.(string); ok && s == "*" {
		if got == nil {
			return path + ": missing"
		}
		return ""
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %v", path, got)
		}
		for k, wv := range w {
			gv, present := g[k]
			if s, ok := wv.(string); ok && s == "<absent>" {
				if present {
					return fmt.Sprintf("%s.%s: want absent, got %v", path, k, gv)
				}
				continue
			}
			if !present {
				return fmt.Sprintf("%s.%s: missing", path, k)
			}
			if msg := match(wv, gv, path+"."+k); msg != "" {
				return msg
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want %d elements, got %v", path, len(w), got)
		}
		for i := range w {
			if msg := match(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); msg != "" {
				return msg
			}
		}
		return ""
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return fmt.Sprintf("%s: want %v, got %v", path, want, got)
		}
		return ""
	}
}
