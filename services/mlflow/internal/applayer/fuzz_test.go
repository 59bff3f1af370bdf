package applayer

import (
	"encoding/base64"
	"net/http/httptest"
	"testing"

	"github.com/darwinml/darwin/pkg/auth"
)

// FuzzDecoders feeds arbitrary bodies to every app-layer request decoder and the identity parsers: a bad body
// must be a 4xx error, never a panic or a 5xx, and an accepted log-data body must satisfy the documented limits.
func FuzzDecoders(f *testing.F) {
	seeds := []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"experiment_name": "e"}`, `{"experiment_name": 5}`,
		`{"run_name": "r", "tags": [{"k": "v"}, {"a": 1, "b": true}]}`, `{"tags": {"k": "v"}}`,
		`{"tags": [{"key": "k", "value": "v"}]}`, `{"tags": [{"k": null}]}`, `{"tags": [[1]]}`, `{"tags": "x"}`,
		`{"metrics": {"key": "m", "value": 1.5}, "params": {"key": "p", "value": "v"}}`,
		`{"metrics": [{"key": "m", "value": "NaN", "step": "3", "timestamp": 9}], "params": [{"key": "p", "value": 7}]}`,
		`{"metrics": {"key": "m", "value": "1e999"}}`, `{"metrics": {"key": "m", "value": {}}}`,
		`{"metrics": {"key": "m", "value": 1, "step": 1.5}}`, `{"params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]}`,
		`{"username": "a@b.co", "permission": "READ"}`, `{"username": 1}`, `{"permission": []}`,
		`{"a": 1} {}`, `{"experiment_id": 3}`, `{"experiment_id": "3"}`, `{"run_id": "abc"}`, `{"run_uuid": "abc"}`, `{"run_id": 5}`, `{"a":`, "\x00", `{"metrics": null, "params": null}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), "a@b.co")
	}
	f.Add([]byte(`{}`), "Basic "+base64.StdEncoding.EncodeToString([]byte("a@b.co:a@b.co")))
	f.Add([]byte(`{}`), "Bearer tok")
	f.Add([]byte(`{}`), "<a@b.co>")
	f.Fuzz(func(t *testing.T, body []byte, ident string) {
		check := func(what string, err error) {
			if err == nil {
				return
			}
			if code := StatusOf(err); code < 400 || code > 499 {
				t.Fatalf("%s: body %q gave status %d (%v)", what, body, code, err)
			}
		}
		var ld logDataReq
		if err := decodeJSON(body, &ld); err != nil {
			check("log-data", err)
		} else {
			metrics, params, err := validateLogData(ld, 1)
			check("log-data validate", err)
			if err == nil {
				if len(metrics)+len(params) == 0 {
					t.Fatalf("accepted an empty log-data body %q", body)
				}
				for _, p := range params {
					if len(p.Key) == 0 || len(p.Key) > MaxParamKeyBytes || len(p.Value) > MaxParamValueBytes {
						t.Fatalf("accepted param %q=%q over the limits", p.Key, p.Value)
					}
				}
				for _, m := range metrics {
					if m.Key == "" || len(m.Key) > MaxParamKeyBytes {
						t.Fatalf("accepted metric key %q", m.Key)
					}
				}
			}
		}
		for _, onRun := range []bool{false, true} {
			if id, ok := ajaxTarget(body, onRun, !onRun); ok && id == "" {
				t.Fatalf("ajaxTarget(%q, %v) ok with an empty id", body, onRun)
			}
		}
		var cr createRunReq
		check("create run", decodeJSON(body, &cr))
		var er experimentReq
		check("experiment", decodeJSON(body, &er))
		var pr permissionReq
		check("permission", decodeJSON(body, &pr))
		if _, err := ParseTokens(body); err != nil && err.Error() == "" {
			t.Fatal("tokens error without a message")
		}
		if email, err := NormalizeEmail(ident); err == nil {
			if again, err := NormalizeEmail(email); err != nil || again != email {
				t.Fatalf("NormalizeEmail not idempotent: %q → %q → %q (%v)", ident, email, again, err)
			}
		} else {
			check("email", err)
		}
		h, err := New(Config{Tokens: map[string]string{"tok": "t@b.co"}}, Deps{})
		if err != nil {
			t.Fatal(err)
		}
		for _, hdr := range []string{auth.HeaderAuthorization, HeaderEmail} {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set(hdr, ident)
			id, err := h.identify(r)
			if err != nil {
				check("identify", err)
				continue
			}
			if _, err := NormalizeEmail(id.Email); err != nil {
				t.Fatalf("identified %q from %s: %q", id.Email, hdr, ident)
			}
		}
	})
}

func TestAjaxTarget(t *testing.T) {
	for _, c := range []struct {
		body               string
		onRun, defaultZero bool
		id                 string
		ok                 bool
	}{
		{`{"experiment_id": "4"}`, false, false, "4", true},
		{`{"experiment_id": 4}`, false, false, "4", true},
		{`{}`, false, false, "", false},
		{`{}`, false, true, "0", true},
		{`{"experiment_id": null}`, false, true, "0", true},
		{`{"run_id": "r1", "run_uuid": "r2"}`, true, false, "r1", true},
		{`{"run_uuid": "r2"}`, true, false, "r2", true},
		{`{"run_id": 7}`, true, false, "", false},
		{`not json`, false, true, "", false},
	} {
		id, ok := ajaxTarget([]byte(c.body), c.onRun, c.defaultZero)
		if id != c.id || ok != c.ok {
			t.Errorf("ajaxTarget(%s, %v, %v) = %q %v, want %q %v", c.body, c.onRun, c.defaultZero, id, ok, c.id, c.ok)
		}
	}
}
