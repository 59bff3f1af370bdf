package hermes

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseCredential: any credential file yields a token without line breaks, never a panic.
func FuzzParseCredential(f *testing.F) {
	for _, s := range []string{"HERMES_USER_TOKEN=abc", "HERMES_USER_TOKEN=abc\n", "# c\nHERMES_USER_TOKEN = 'x'\n", "bare-token\n", "OTHER=1\n", "", "=\n", "HERMES_USER_TOKEN=\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := parseCredential(s)
		if strings.ContainsAny(tok, "\n") {
			t.Fatalf("token %q spans lines", tok)
		}
		// what configure writes reads back
		if tok != "" && !strings.ContainsAny(tok, " \t\r\n") && !strings.HasPrefix(tok, "#") {
			if got := parseCredential(tokenEnv + "=" + tok + "\n"); got != strings.Trim(tok, `"'`) {
				t.Fatalf("round trip %q -> %q", tok, got)
			}
		}
	})
}

// FuzzConfigFile: every infra-config / deployment file is either rejected or turned into a JSON body.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		`{"api_serve_config":{"backend_type":"fastapi","fast_api_config":{"cores":2,"memory":4,"node_capacity_type":"spot","min_replicas":1,"max_replicas":2}}}`,
		"backend_type: fastapi\ncores: 2\nmemory: 4\nmin_replicas: 1\nmax_replicas: 2\nadditional_hosts: [a.example]\n",
		`{"infrastructure_config":{"api_serve_config":{"cores":"3"}}}`,
		"workflow_serve_config: {schedule: '@daily'}\n",
		"env: uat\ndeployment_config: {artifact_version: v1}\n",
		"- 1\n", "{1: 2}\n", "a: &x [*x]\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseStructured("fuzz.yaml", b)
		if err != nil {
			return
		}
		body := nestAPIConfig(flattenAPIConfig(m))
		if _, err := json.Marshal(body); err != nil {
			t.Fatalf("body not JSON: %v", err)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("file not JSON-compatible: %v", err)
		}
	})
}

// FuzzRepoContext: a context either fails validation or renders every file of the built-in template.
func FuzzRepoContext(f *testing.F) {
	for _, s := range []string{
		`{"repository_name":"iris"}`,
		`{"repository_name":"h","serve_endpoint_schemas":[{"name":"price","path":"/v1/price","input_parameters":[{"name":"rooms","type":"int"}]}]}`,
		`{"repository_name":"x","repository_description":"a \"quoted\" [% .Nope %] {{x}}\n","model_path":"models:/x/1"}`,
		`{"repository_name":"x","model_input_parameters":[{"name":"a","type":"string"},{"name":"b","type":"object"}]}`,
		`{"repository_name":"Bad"}`, `{}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	src, err := fs.Sub(templates, "templates/"+defaultTemplate)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ctx RepoContext
		if json.Unmarshal(b, &ctx) != nil || ctx.normalize() != nil {
			return
		}
		files, err := render(src, &ctx)
		if err != nil {
			t.Fatalf("valid context failed to render: %v", err)
		}
		for _, fl := range files {
			if strings.HasSuffix(fl.path, ".json") && !json.Valid(fl.data) {
				t.Fatalf("%s is not valid JSON:\n%s", fl.path, fl.data)
			}
		}
	})
}

// FuzzServerReply: any answer of the server is decoded or reported as an error, never a panic, and an
// error answer always yields a non-empty message.
func FuzzServerReply(f *testing.F) {
	for _, s := range []struct {
		code int
		body string
	}{
		{200, `{"status":"SUCCESS","data":{"status":"READY"}}`},
		{200, `{"service_url":"http://x/"}`},
		{200, `null`},
		{403, `{"status":"ERROR","message":"Invalid or expired token."}`},
		{400, `{"status":"ERROR","message":[{"loc":["body","cores"],"msg":"bad"}]}`},
		{400, `{"status":"ERROR","message":"Invalid model URI","error":"scheme","hint":"models:/..."}`},
		{500, `<html>oops</html>`},
		{200, `{"a":1e999}`},
		{502, ``},
	} {
		f.Add(s.code, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		if code < 200 || code > 599 {
			return
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write(body)
		}))
		defer srv.Close()
		c := newClient(srv.URL, "t", srv.Client())
		_, err := c.do(t.Context(), http.MethodGet, "/serve", nil, nil)
		if code >= 300 {
			var apiErr *APIError
			if err == nil {
				t.Fatalf("HTTP %d accepted", code)
			}
			if ok := asAPIError(err, &apiErr); ok && strings.TrimSpace(apiErr.Message) == "" {
				t.Fatalf("empty message for HTTP %d %q", code, body)
			}
		}
	})
}

func asAPIError(err error, target **APIError) bool {
	e, ok := err.(*APIError)
	if ok {
		*target = e
	}
	return ok
}
