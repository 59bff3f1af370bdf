package runtimes_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/auth"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/compute/internal/envelope/envelopetest"
	"github.com/darwinml/darwin/services/compute/internal/runtimes"
	"github.com/darwinml/darwin/services/compute/migrations"
)

func newServer(t *testing.T, withAuth bool) http.Handler {
	t.Helper()
	d := dbtest.Open(t, db.SQLite)
	if err := db.Migrate(t.Context(), d, migrations.Component, migrations.FS); err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	if withAuth {
		r.Use(auth.Middleware(nil))
	}
	runtimes.NewHandler(runtimes.NewStore(d, clock.NewFake(t0)), nil).Routes(r)
	return r
}

const alice = `{"email":"alice@example.com"}`

func TestHandlerValidation(t *testing.T) {
	t.Parallel()
	h := newServer(t, true)
	cases := []struct {
		name, method, path, body string
		field                    string
	}{
		{"create: runtime missing", "POST", "/runtime/v2/create", `{"class":"CPU","type":"Ray Only","image":"i","user":"u"}`, "runtime"},
		{"create: bad class", "POST", "/runtime/v2/create", `{"runtime":"x","class":"TPU","type":"Ray Only","image":"i","user":"u"}`, "class"},
		{"create: CUSTOM with type", "POST", "/runtime/v2/create", `{"runtime":"x","class":"CUSTOM","type":"Ray Only","image":"i","user":"u"}`, "type"},
		{"create: CPU without type", "POST", "/runtime/v2/create", `{"runtime":"x","class":"CPU","image":"i","user":"u"}`, "type"},
		{"create: GPU null type", "POST", "/runtime/v2/create", `{"runtime":"x","class":"GPU","type":null,"image":"i","user":"u"}`, "type"},
		{"create: bad type", "POST", "/runtime/v2/create", `{"runtime":"x","class":"GPU","type":"Spark Only","image":"i","user":"u"}`, "type"},
		{"create: default CUSTOM", "POST", "/runtime/v2/create", `{"runtime":"x","class":"CUSTOM","image":"i","user":"u","set_as_default":true}`, "set_as_default"},
		{"create: image missing", "POST", "/runtime/v2/create", `{"runtime":"x","class":"CUSTOM","user":"u"}`, "image"},
		{"create: user missing", "POST", "/runtime/v2/create", `{"runtime":"x","class":"CUSTOM","image":"i"}`, "user"},
		{"create: bad component", "POST", "/runtime/v2/create", `{"runtime":"x","class":"CUSTOM","image":"i","user":"u","components":[{"name":"Java","version":"1"}]}`, "components[0].name"},
		{"create: component version", "POST", "/runtime/v2/create", `{"runtime":"x","class":"CUSTOM","image":"i","user":"u","components":[{"name":"Ray"}]}`, "components[0].version"},
		{"create: duplicate component", "POST", "/runtime/v2/create", `{"runtime":"x","class":"CUSTOM","image":"i","user":"u","components":[{"name":"Ray","version":"1"},{"name":"Ray","version":"2"}]}`, "components[1].name"},
		{"create: name with slash", "POST", "/runtime/v2/create", `{"runtime":"a/b","class":"CUSTOM","image":"i","user":"u"}`, "runtime"},
		{"create: wrong json type", "POST", "/runtime/v2/create", `{"runtime":1}`, "runtime"},
		{"create: bool as string", "POST", "/runtime/v2/create", `{"runtime":"x","set_as_default":"yes"}`, "set_as_default"},
		{"update: CUSTOM with type", "POST", "/runtime/v2/update", `{"runtime":"0.0","class":"CUSTOM","type":"Others","image":"i","user":"u"}`, "type"},
		{"update: missing runtime", "POST", "/runtime/v2/update", `{"runtime":"ghost","class":"CPU","type":"Others","image":"i","user":"u"}`, "runtime"},
		{"update: default changes class", "POST", "/runtime/v2/update", `{"runtime":"0.0","class":"GPU","type":"Others","image":"i","user":"u"}`, "class"},
		{"details: missing", "GET", "/runtime/v2/get-details/ghost", ``, "runtime"},
		{"delete: default", "DELETE", "/runtime/v2/soft-delete/0.0", ``, "runtime"},
		{"delete: missing", "DELETE", "/runtime/v2/soft-delete/ghost", ``, "runtime"},
		{"get-all: bad class", "POST", "/runtime/v2/get-all", `{"class":"TPU"}`, "class"},
		{"get-all: bad page size", "POST", "/runtime/v2/get-all", `{"page_size":100000}`, "page_size"},
		{"custom-runtime: missing image", "POST", "/custom-runtime", `{"runtime":"c"}`, "image"},
		{"custom-runtime: bad type", "POST", "/custom-runtime", `{"runtime":"c","image":"i","type":"tpu"}`, "type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := envelopetest.Do(t, h, c.method, c.path, c.body, map[string]string{"msd-user": alice})
			if env.Code != 400 || env.Status != "ERROR" || env.Field != c.field || !strings.Contains(env.Message, c.field) {
				t.Errorf("got %d %s %q field %q, want 400 naming %q", env.Code, env.Status, env.Message, env.Field, c.field)
			}
		})
	}
}

func TestHandlerFlow(t *testing.T) {
	t.Parallel()
	for _, withAuth := range []bool{true, false} {
		h := newServer(t, withAuth)
		hdr := map[string]string{"msd-user": alice}

		code, env := doReq(t, h, "GET", "/get-runtimes", "", nil)
		if code != 200 || string(env.Data) != `{"cpu":[{"name":"0.0","created_by":"Darwin","image":"localhost:5000/ray:2.37.0"},{"name":"0.1","created_by":"Darwin","image":"localhost:5000/ray:2.53.0"}],"custom":[],"gpu":[]}` {
			t.Errorf("get-runtimes = %d %s", code, env.Data)
		}
		code, env = doReq(t, h, "POST", "/custom-runtime", `{"runtime":"c1","image":"img/c1","namespace":"ns","created_by":"bob","type":"gpu"}`, nil)
		if code != 201 || string(env.Data) != `{"runtime":"c1","image":"img/c1","namespace":"ns","created_by":"bob","type":"gpu"}` {
			t.Errorf("custom-runtime = %d %s %s", code, env.Message, env.Data)
		}
		if code, _ = doReq(t, h, "POST", "/custom-runtime", `{"runtime":"c1","image":"img/other"}`, nil); code != 409 {
			t.Errorf("duplicate custom-runtime = %d, want 409", code)
		}

		code, env = doReq(t, h, "POST", "/runtime/v2/create", `{"runtime":"mine","class":"CUSTOM","type":null,"image":"img/mine","user":"alice@example.com","components":[{"name":"Python","version":"3.12"}]}`, nil)
		var rt runtimes.V2
		if err := json.Unmarshal(env.Data, &rt); code != 201 || err != nil || rt.Runtime != "mine" || rt.Type != nil || rt.Components[0].Version != "3.12" {
			t.Errorf("create = %d %s", code, env.Data)
		}
		if !strings.Contains(string(env.Data), `"created_at":"2026-01-02T03:04:05.123456Z"`) {
			t.Errorf("created_at not ISO with Z: %s", env.Data)
		}
		if code, _ = doReq(t, h, "POST", "/runtime/v2/create", `{"runtime":"mine","class":"CUSTOM","image":"img/mine2","user":"u"}`, nil); code != 409 {
			t.Errorf("duplicate create = %d, want 409", code)
		}
		code, env = doReq(t, h, "GET", "/runtime/v2/get-details/mine", "", nil)
		if code != 200 || !strings.Contains(string(env.Data), `"runtime":"mine"`) {
			t.Errorf("get-details = %d %s", code, env.Data)
		}

		// get-all: msd-user required and must be well-formed.
		if code, env = doReq(t, h, "POST", "/runtime/v2/get-all", `{}`, nil); code != 400 || !strings.Contains(env.Message, "msd-user") {
			t.Errorf("get-all without msd-user = %d %q", code, env.Message)
		}
		if code, env = doReq(t, h, "POST", "/runtime/v2/get-all", `{}`, map[string]string{"msd-user": "not json"}); code != 400 || !strings.Contains(env.Message, "msd-user") {
			t.Errorf("get-all with malformed msd-user = %d %q", code, env.Message)
		}
		code, env = doReq(t, h, "POST", "/runtime/v2/get-all", `{"class":"CUSTOM"}`, hdr)
		if code != 200 || !strings.Contains(string(env.Data), `"type":"Created By Me","count":1`) {
			t.Errorf("get-all = %d %s", code, env.Data)
		}

		code, env = doReq(t, h, "POST", "/runtime/v2/update", `{"runtime":"mine","class":"CPU","type":"Others","image":"img/mine","user":"bob"}`, nil)
		if code != 200 || !strings.Contains(string(env.Data), `"class":"CPU","type":"Others"`) || !strings.Contains(string(env.Data), `"last_updated_by":"bob"`) {
			t.Errorf("update = %d %s", code, env.Data)
		}
		if code, _ = doReq(t, h, "DELETE", "/runtime/v2/soft-delete/mine", "", hdr); code != 200 {
			t.Errorf("soft-delete = %d", code)
		}
		if code, _ = doReq(t, h, "DELETE", "/runtime/v2/soft-delete/mine", "", hdr); code != 400 {
			t.Errorf("second soft-delete = %d, want 400", code)
		}
		if code, _ = doReq(t, h, "GET", "/runtime/v2/get-details/mine", "", nil); code != 400 {
			t.Errorf("get-details of deleted = %d, want 400", code)
		}
		// Re-creating the soft-deleted name updates it.
		code, env = doReq(t, h, "POST", "/runtime/v2/create", `{"runtime":"mine","class":"GPU","type":"Ray Only","image":"img/mine-gpu","user":"carol"}`, nil)
		if code != 201 || !strings.Contains(string(env.Data), `"is_deleted":false`) || !strings.Contains(string(env.Data), `"created_by":"alice@example.com"`) {
			t.Errorf("re-create = %d %s", code, env.Data)
		}
	}
}

func doReq(t *testing.T, h http.Handler, method, path, body string, header map[string]string) (int, envelopetest.Response) {
	t.Helper()
	r := envelopetest.Do(t, h, method, path, body, header)
	return r.Code, r
}

func FuzzDecodeV2(f *testing.F) {
	for _, s := range []string{
		`{"runtime":"r","class":"CPU","type":"Ray Only","image":"i","user":"u","components":[{"name":"Ray","version":"1"}]}`,
		`{"runtime":"r","class":"CUSTOM","type":null,"image":"i","user":"u","set_as_default":true}`,
		`{"components":[null]}`, `{"runtime":"` + "\x01" + `"}`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		spec, err := runtimes.DecodeV2(httptest.NewRequest("POST", "/", strings.NewReader(body)))
		if err != nil {
			return
		}
		if (spec.Class == runtimes.ClassCustom) != (spec.Type == nil) {
			t.Fatalf("accepted class %q with type %v", spec.Class, spec.Type)
		}
		if spec.SetAsDefault && spec.Class == runtimes.ClassCustom {
			t.Fatal("accepted a CUSTOM default")
		}
		if runtimes.ValidateName("runtime", spec.Runtime) != nil || spec.Image == "" || spec.User == "" {
			t.Fatalf("accepted invalid spec %+v", spec)
		}
	})
}

func FuzzDecodeV1(f *testing.F) {
	for _, s := range []string{`{"runtime":"r","image":"i","type":"gpu"}`, `{"runtime":"r"}`, `{"type":5}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		rt, err := runtimes.DecodeV1(httptest.NewRequest("POST", "/", strings.NewReader(body)))
		if err == nil && (rt.Runtime == "" || rt.Image == "" || rt.Namespace == "" || rt.Type == "") {
			t.Fatalf("accepted incomplete runtime %+v", rt)
		}
	})
}
