package envelope_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/envelope"
)

func TestOKAndBare(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	envelope.OK(rec, http.StatusCreated, "made", map[string]int{"n": 1})
	if rec.Code != 201 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("code %d ct %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if got := strings.TrimSpace(rec.Body.String()); got != `{"status":"SUCCESS","message":"made","data":{"n":1}}` {
		t.Errorf("body = %s", got)
	}
	rec = httptest.NewRecorder()
	envelope.Bare(rec, 200, map[string]any{"status": "SUCCESS", "data": nil})
	if got := strings.TrimSpace(rec.Body.String()); got != `{"data":null,"status":"SUCCESS"}` {
		t.Errorf("bare body = %s", got)
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err      error
		code     int
		message  string
		wantData string
	}{
		{apierr.InvalidField("runtime", "runtime is required"), 400, "runtime is required", `{"field":"runtime"}`},
		{apierr.New(apierr.FailedPrecondition, "not active"), 400, "not active", "null"},
		{apierr.New(apierr.NotFound, "cluster x not found"), 404, "cluster x not found", "null"},
		{apierr.New(apierr.AlreadyExists, "dup"), 409, "dup", "null"},
		{apierr.New(apierr.Unavailable, "down"), 503, "down", "null"},
		{errors.New("db exploded with secret dsn"), 500, "internal error", "null"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		envelope.Error(rec, httptest.NewRequest("GET", "/x", nil), c.err, nil)
		var body struct {
			Status  string          `json:"status"`
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if rec.Code != c.code || body.Status != "ERROR" || body.Message != c.message || string(body.Data) != c.wantData {
			t.Errorf("%v: got %d %+v (data %s), want %d %q %s", c.err, rec.Code, body, body.Data, c.code, c.message, c.wantData)
		}
	}
}

type inner struct {
	Cores int `json:"cores"`
}
type sample struct {
	Name string  `json:"name"`
	Head inner   `json:"head_node_config"`
	List []inner `json:"list"`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body, field string
	}{
		{`{"name":"a"}`, ""},
		{`{"name":"a","unknown":1}`, ""},
		{`{"name":1}`, "name"},
		{`{"head_node_config":{"cores":"4"}}`, "head_node_config.cores"},
		{`{"list":[{"cores":true}]}`, "list.cores"},
		{`[1]`, "body"},
		{`{"name":"a"} {"name":"b"}`, "body"},
		{`{"name":`, "body"},
		{`{"name" "a"}`, "body"},
		{``, "body"},
		{`   `, "body"},
		{`{"name":"` + strings.Repeat("x", envelope.MaxBodyBytes) + `"}`, "body"},
	}
	for _, c := range cases {
		var dst sample
		err := envelope.DecodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(c.body)), &dst)
		if c.field == "" {
			if err != nil {
				t.Errorf("%.40q: unexpected error %v", c.body, err)
			}
			continue
		}
		e := apierr.From(err)
		if err == nil || e.Kind != apierr.InvalidArgument || e.Field != c.field || !strings.Contains(e.Message, c.field) {
			t.Errorf("%.40q: err = %v (field %q), want InvalidArgument naming %q", c.body, err, e.Field, c.field)
		}
	}
}

func TestQueryInt(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/?a=5&b=x", nil)
	if v, err := envelope.QueryInt(r, "a", 1); v != 5 || err != nil {
		t.Errorf("a = %d, %v", v, err)
	}
	if v, err := envelope.QueryInt(r, "missing", 7); v != 7 || err != nil {
		t.Errorf("missing = %d, %v", v, err)
	}
	if _, err := envelope.QueryInt(r, "b", 1); apierr.From(err).Field != "b" {
		t.Errorf("b err = %v", err)
	}
}

func FuzzDecodeBytes(f *testing.F) {
	for _, s := range []string{`{"name":"a","head_node_config":{"cores":1}}`, `{"list":[{}]}`, `nul`, `{"name":"\ud800"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var dst sample
		err := envelope.DecodeBytes([]byte(body), &dst)
		if err != nil && apierr.KindOf(err) != apierr.InvalidArgument {
			t.Fatalf("decode error of kind %v: %v", apierr.KindOf(err), err)
		}
	})
}
