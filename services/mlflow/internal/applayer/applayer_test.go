package applayer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/mlflow/internal/applayer"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
	"github.com/darwinml/darwin/services/mlflow/migrations"
)

var migs = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
	carol = "carol@example.com"
	admin = "root@example.com"
)

// fakeTracking records what the app layer forwards to the tracking API.
type fakeTracking struct {
	mu   sync.Mutex
	reqs []forwarded
}

type forwarded struct {
	method, path, email, authz, body string
}

func (f *fakeTracking) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, forwarded{r.Method, r.URL.Path, r.Header.Get("email"), r.Header.Get("Authorization"), string(b)})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"forwarded":true}`)
}

func (f *fakeTracking) all() []forwarded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]forwarded(nil), f.reqs...)
}

type env struct {
	t        *testing.T
	url      string
	d        *db.DB
	st       *store.Store
	h        *applayer.Handler
	arts     blob.Store
	tracking *fakeTracking
}

func newEnv(t *testing.T, d *db.DB, cfg applayer.Config) *env {
	t.Helper()
	arts, err := blob.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(d, nil, "mlflow-artifacts:")
	ft := &fakeTracking{}
	h, err := applayer.New(cfg, applayer.Deps{DB: d, Store: st, Artifacts: arts, Tracking: ft})
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.Route("/mlflow-app", h.Routes)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL + "/mlflow-app", d: d, st: st, h: h, arts: arts, tracking: ft}
}

// with returns a copy of e served by a handler built from cfg and deps.
func (e *env) with(t *testing.T, cfg applayer.Config, deps applayer.Deps) *env {
	t.Helper()
	h, err := applayer.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.Route("/mlflow-app", h.Routes)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	c := *e
	c.t, c.url, c.h = t, srv.URL+"/mlflow-app", h
	return &c
}

func as(email string) map[string]string { return map[string]string{"email": email} }

func basic(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

// do sends a request and returns the status and the decoded JSON object.
func (e *env) do(method, path string, hdr map[string]string, body string) (int, map[string]any) {
	e.t.Helper()
	code, raw := e.raw(method, path, hdr, body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: status %d, body not a JSON object: %q", method, path, code, raw)
	}
	return code, out
}

func (e *env) raw(method, path string, hdr map[string]string, body string) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// wantDetail asserts an error answer in FastAPI's {"detail": ...} shape.
func wantDetail(t *testing.T, code int, body map[string]any, wantCode int, part string) {
	t.Helper()
	d, ok := body["detail"].(string)
	if code != wantCode || !ok || !strings.Contains(d, part) || len(body) != 1 {
		t.Fatalf("got %d %v, want %d with detail containing %q", code, body, wantCode, part)
	}
}

func wantOK(t *testing.T, code int, body map[string]any) map[string]any {
	t.Helper()
	if code != http.StatusOK || body["status"] != "SUCCESS" {
		t.Fatalf("got %d %v, want 200 SUCCESS", code, body)
	}
	data, _ := body["data"].(map[string]any)
	return data
}

func (e *env) count(table, where string, args ...any) int {
	e.t.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int
	if err := e.d.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) createExperiment(user, name string) string {
	e.t.Helper()
	data := e.ok(e.t, "POST", "/v1/experiment", as(user), fmt.Sprintf(`{"experiment_name": %q}`, name))
	id, _ := data["experiment_id"].(string)
	if id == "" || data["experiment_name"] != name {
		e.t.Fatalf("create experiment data = %v", data)
	}
	return id
}

func (e *env) createRun(user, exp, body string) string {
	e.t.Helper()
	data := e.ok(e.t, "POST", "/v1/experiment/"+exp+"/run", as(user), body)
	id, _ := data["run_id"].(string)
	if len(id) != 32 {
		e.t.Fatalf("create run data = %v", data)
	}
	return id
}

// ok sends a request that must succeed and returns its data.
func (e *env) ok(t *testing.T, method, path string, hdr map[string]string, body string) map[string]any {
	t.Helper()
	code, out := e.do(method, path, hdr, body)
	return wantOK(t, code, out)
}

func TestAppLayer(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# ci tokens\nt0k-alice alice@example.com\nt0k-bob: Bob@Example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		e := newEnv(t, d, applayer.Config{TokensFile: tokens, Admins: []string{admin}})
		t.Run("identity", func(t *testing.T) { testIdentity(t, e) })
		t.Run("user", func(t *testing.T) { testUser(t, e) })
		t.Run("experiments", func(t *testing.T) { testExperiments(t, e) })
		t.Run("permissions", func(t *testing.T) { testPermissions(t, e) })
		t.Run("runs", func(t *testing.T) { testRuns(t, e) })
		t.Run("log-data", func(t *testing.T) { testLogData(t, e) })
		t.Run("delete", func(t *testing.T) { testDelete(t, e) })
		t.Run("artifacts", func(t *testing.T) { testArtifacts(t, e) })
		t.Run("ajax", func(t *testing.T) { testAjax(t, e) })
		t.Run("experiment-created", func(t *testing.T) { testExperimentCreated(t, e) })
		t.Run("models", func(t *testing.T) { testModels(t, e) })
		t.Run("guard", func(t *testing.T) { testGuard(t, e) })
		t.Run("routing", func(t *testing.T) { testRouting(t, e) })
	})
}

func testIdentity(t *testing.T, e *env) {
	code, body := e.do("GET", "/healthcheck", nil, "")
	if code != 200 || body["status"] != "SUCCESS" {
		t.Fatalf("healthcheck = %d %v", code, body)
	}
	cases := []struct {
		name string
		hdr  map[string]string
		code int
		part string
		user string
	}{
		{"missing", nil, 401, "email header is required", ""},
		{"empty", as("  "), 401, "email header is required", ""},
		{"invalid", as("not-an-email"), 400, "not a valid email", ""},
		{"display name", as("Alice <alice@example.com>"), 400, "not a valid email", ""},
		{"no dot in domain", as("alice@localhost"), 400, "not a valid email", ""},
		{"email", as("Alice@Example.COM"), 200, "", alice},
		{"bearer", map[string]string{"Authorization": "Bearer t0k-bob"}, 200, "", bob},
		{"bearer wins over email", map[string]string{"Authorization": "Bearer t0k-alice", "email": bob}, 200, "", alice},
		{"unknown bearer", map[string]string{"Authorization": "Bearer nope", "email": alice}, 401, "invalid bearer token", ""},
		{"empty bearer", map[string]string{"Authorization": "Bearer"}, 401, "invalid bearer token", ""},
		{"basic email password", basic(alice, alice), 200, "", alice},
		{"basic token password", basic(bob, "t0k-bob"), 200, "", bob},
		{"basic wrong password", basic(alice, "secret"), 401, "invalid basic credentials", ""},
		{"basic other user's token", basic(alice, "t0k-bob"), 401, "invalid basic credentials", ""},
		{"basic invalid user", basic("alice", "alice"), 400, "not a valid email", ""},
		{"basic garbage", map[string]string{"Authorization": "Basic !!!"}, 401, "invalid basic credentials", ""},
		{"other scheme falls back to email", map[string]string{"Authorization": "Digest x", "email": carol}, 200, "", carol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.count("mlflow_app_users", "")
			code, body := e.do("POST", "/v1/user", c.hdr, "")
			if c.code != 200 {
				wantDetail(t, code, body, c.code, c.part)
				if after := e.count("mlflow_app_users", ""); after != before {
					t.Fatalf("rejected identity wrote a user (%d → %d)", before, after)
				}
				return
			}
			data := wantOK(t, code, body)
			if data["username"] != c.user {
				t.Fatalf("username = %v, want %s", data["username"], c.user)
			}
		})
	}
	code, raw := e.raw("GET", "/v1/experiment/0", nil, "")
	if code != 401 || !bytes.Contains(raw, []byte(`"detail"`)) {
		t.Fatalf("GET without identity = %d %s", code, raw)
	}
}

func testUser(t *testing.T, e *env) {
	const dave = "dave@example.com"
	code, body := e.do("POST", "/v1/user", as(dave), "")
	if wantOK(t, code, body)["created"] != true || body["message"] != "User created successfully" {
		t.Fatalf("first POST /v1/user = %v", body)
	}
	code, body = e.do("POST", "/v1/user", as(dave), `{}`)
	if wantOK(t, code, body)["created"] != false {
		t.Fatalf("second POST /v1/user = %v", body)
	}
	if n := e.count("mlflow_app_users", "username = ?", dave); n != 1 {
		t.Fatalf("users rows for %s = %d", dave, n)
	}
}

func testExperiments(t *testing.T, e *env) {
	id := e.createExperiment(alice, "exp-a")
	code, body := e.do("GET", "/v1/experiment/"+id, as(bob), "")
	data := wantOK(t, code, body)
	if data["experiment_id"] != id || data["experiment_name"] != "exp-a" || data["created_by"] != alice ||
		data["artifact_location"] != "mlflow-artifacts:/"+id || data["lifecycle_stage"] != "active" {
		t.Fatalf("GET experiment data = %v", data)
	}
	if n := e.count("mlflow_experiment_permissions", "experiment_id = ? AND username = ? AND permission = 'MANAGE'", mustInt(id), alice); n != 1 {
		t.Fatal("creator has no MANAGE grant")
	}
	exps := e.count("mlflow_experiments", "")
	rejected := []struct {
		name, body string
		hdr        map[string]string
		code       int
		part       string
	}{
		{"duplicate", `{"experiment_name": "exp-a"}`, as(bob), 409, "already exists"},
		{"missing name", `{}`, as(alice), 400, "experiment_name"},
		{"empty body", ``, as(alice), 400, "experiment_name"},
		{"blank name", `{"experiment_name": "  "}`, as(alice), 400, "experiment_name"},
		{"wrong type", `{"experiment_name": 5}`, as(alice), 400, "experiment_name"},
		{"not json", `{"experiment_name": `, as(alice), 400, "not valid JSON"},
		{"array", `[1]`, as(alice), 400, "JSON object"},
		{"trailing", `{"experiment_name": "x"} {}`, as(alice), 400, "trailing"},
		{"too long", fmt.Sprintf(`{"experiment_name": %q}`, strings.Repeat("n", 600)), as(alice), 400, "exceeded"},
		{"no identity", `{"experiment_name": "nobody"}`, nil, 401, "email header is required"},
		{"bad identity", `{"experiment_name": "nobody"}`, as("x"), 400, "not a valid email"},
	}
	for _, c := range rejected {
		t.Run("create "+c.name, func(t *testing.T) {
			code, body := e.do("POST", "/v1/experiment", c.hdr, c.body)
			wantDetail(t, code, body, c.code, c.part)
		})
	}
	if got := e.count("mlflow_experiments", ""); got != exps {
		t.Fatalf("rejected creates wrote experiments: %d → %d", exps, got)
	}
	code, body = e.do("POST", "/v1/experiment", as(alice), fmt.Sprintf(`{"experiment_name": %q}`, strings.Repeat("x", 1<<20)))
	wantDetail(t, code, body, 400, "exceeds the limit")

	// Rename: only MANAGE.
	code, body = e.do("PUT", "/v1/experiment/"+id, as(bob), `{"experiment_name": "stolen"}`)
	wantDetail(t, code, body, 403, "User is not authorized to perform the action")
	code, body = e.do("PUT", "/v1/experiment/"+id, as(alice), `{"experiment_name": "exp-a2"}`)
	if d := wantOK(t, code, body); d["experiment_name"] != "exp-a2" || d["experiment_id"] != id {
		t.Fatalf("rename data = %v", d)
	}
	e.createExperiment(alice, "exp-other")
	code, body = e.do("PUT", "/v1/experiment/"+id, as(alice), `{"experiment_name": "exp-other"}`)
	wantDetail(t, code, body, 409, "already exists")
	code, body = e.do("PUT", "/v1/experiment/"+id, as(alice), `{}`)
	wantDetail(t, code, body, 400, "experiment_name")
	code, body = e.do("PUT", "/v1/experiment/987654", as(alice), `{"experiment_name": "zzz"}`)
	wantDetail(t, code, body, 404, "No Experiment with id=987654")
	code, body = e.do("GET", "/v1/experiment/abc", as(alice), "")
	wantDetail(t, code, body, 404, "No Experiment")
	code, body = e.do("GET", "/v1/experiment/"+id, as(alice), "")
	if wantOK(t, code, body)["experiment_name"] != "exp-a2" {
		t.Fatalf("after rename: %v", body)
	}
	// Experiments without a recorded creator: created_by null.
	code, body = e.do("GET", "/v1/experiment/0", as(alice), "")
	if d := wantOK(t, code, body); d["created_by"] != nil || d["experiment_name"] != "Default" {
		t.Fatalf("Default experiment = %v", d)
	}
	// Admins manage everything.
	code, body = e.do("PUT", "/v1/experiment/"+id, as(admin), `{"experiment_name": "exp-a"}`)
	wantOK(t, code, body)
}

func mustInt(s string) int64 {
	var n int64
	_, _ = fmt.Sscan(s, &n)
	return n
}

func testPermissions(t *testing.T, e *env) {
	id := e.createExperiment(alice, "perm-exp")
	path := "/v1/experiment/" + id + "/permissions"
	code, body := e.do("GET", path, as(bob), "")
	data := wantOK(t, code, body)
	perms, _ := data["permissions"].([]any)
	if len(perms) != 1 || data["default_permission"] != "EDIT" || data["your_permission"] != "EDIT" {
		t.Fatalf("permissions = %v", data)
	}
	if p := perms[0].(map[string]any); p["username"] != alice || p["permission"] != "MANAGE" {
		t.Fatalf("grant = %v", p)
	}
	rows := e.count("mlflow_experiment_permissions", "")
	rejected := []struct {
		name, method, body string
		user               string
		code               int
		part               string
	}{
		{"non-manager grant", "PUT", `{"username": "bob@example.com", "permission": "MANAGE"}`, bob, 403, "not authorized"},
		{"non-manager revoke", "DELETE", `{"username": "alice@example.com"}`, bob, 403, "not authorized"},
		{"bad permission", "PUT", `{"username": "bob@example.com", "permission": "OWNER"}`, alice, 400, "permission"},
		{"no permission", "PUT", `{"username": "bob@example.com"}`, alice, 400, "permission"},
		{"no username", "PUT", `{"permission": "READ"}`, alice, 400, "username"},
		{"bad username", "PUT", `{"username": "bob", "permission": "READ"}`, alice, 400, "username"},
		{"username type", "PUT", `{"username": 7, "permission": "READ"}`, alice, 400, "username"},
		{"not json", "PUT", `{`, alice, 400, "not valid JSON"},
		{"last manager demoted", "PUT", `{"username": "alice@example.com", "permission": "EDIT"}`, alice, 400, "at least one user with MANAGE"},
		{"last manager revoked", "DELETE", `{"username": "alice@example.com"}`, alice, 400, "at least one user with MANAGE"},
		{"revoke missing", "DELETE", `{"username": "carol@example.com"}`, alice, 404, "no permission"},
	}
	for _, c := range rejected {
		t.Run(c.name, func(t *testing.T) {
			code, body := e.do(c.method, path, as(c.user), c.body)
			wantDetail(t, code, body, c.code, c.part)
		})
	}
	if got := e.count("mlflow_experiment_permissions", ""); got != rows {
		t.Fatalf("rejected permission changes wrote rows: %d → %d", rows, got)
	}
	code, body = e.do("PUT", "/v1/experiment/424242/permissions", as(alice), `{"username": "bob@example.com", "permission": "READ"}`)
	wantDetail(t, code, body, 404, "No Experiment")

	// READ granted explicitly overrides the EDIT default: bob can read but not log.
	code, body = e.do("PUT", path, as(alice), `{"username": "Bob@example.com", "permission": "read"}`)
	if d := wantOK(t, code, body); d["username"] != bob || d["permission"] != "READ" {
		t.Fatalf("grant = %v", d)
	}
	e.ok(t, "GET", "/v1/experiment/"+id, as(bob), "")
	runs := e.count("mlflow_runs", "")
	code, body = e.do("POST", "/v1/experiment/"+id+"/run", as(bob), `{"run_name": "r"}`)
	wantDetail(t, code, body, 403, "User is not authorized to perform the action")
	if e.count("mlflow_runs", "") != runs {
		t.Fatal("forbidden run create wrote a run")
	}
	// MANAGE for bob: he may rename, and alice may then step down.
	e.ok(t, "PUT", path, as(alice), `{"username": "bob@example.com", "permission": "MANAGE"}`)
	e.ok(t, "PUT", "/v1/experiment/"+id, as(bob), `{"experiment_name": "perm-exp-bob"}`)
	e.ok(t, "PUT", path, as(alice), `{"username": "alice@example.com", "permission": "EDIT"}`)
	code, body = e.do("DELETE", path+"?username=alice@example.com", as(bob), "")
	wantOK(t, code, body)
	code, body = e.do("GET", path, as(alice), "")
	if d := wantOK(t, code, body); len(d["permissions"].([]any)) != 1 || d["your_permission"] != "EDIT" {
		t.Fatalf("after revoke = %v", d)
	}

	// Default permission NO_PERMISSIONS / READ.
	for _, c := range []struct {
		def       string
		readCode  int
		writeCode int
	}{{"NO_PERMISSIONS", 403, 403}, {"READ", 200, 403}, {"MANAGE", 200, 200}} {
		t.Run("default "+c.def, func(t *testing.T) {
			e2 := newEnv(t, e.d, applayer.Config{DefaultPermission: c.def})
			exp := e2.createExperiment(alice, "default-"+c.def)
			code, _ := e2.do("GET", "/v1/experiment/"+exp, as(carol), "")
			if code != c.readCode {
				t.Fatalf("read with default %s = %d", c.def, code)
			}
			code, _ = e2.do("POST", "/v1/experiment/"+exp+"/run", as(carol), `{}`)
			if code != c.writeCode {
				t.Fatalf("run create with default %s = %d", c.def, code)
			}
			code, _ = e2.do("DELETE", "/v1/experiment/"+exp, as(carol), "")
			if want := map[bool]int{true: 200, false: 403}[c.def == "MANAGE"]; code != want {
				t.Fatalf("delete with default %s = %d", c.def, code)
			}
		})
	}
}

func testRuns(t *testing.T, e *env) {
	exp := e.createExperiment(alice, "runs-exp")
	other := e.createExperiment(alice, "runs-other")
	rid := e.createRun(bob, exp, `{"run_name": "first", "tags": [{"team": "ds"}, {"k2": 5, "k3": true}]}`)
	code, body := e.do("GET", "/v1/experiment/"+exp+"/run/"+rid, as(carol), "")
	data := wantOK(t, code, body)
	tags, _ := data["tags"].(map[string]any)
	if data["run_name"] != "first" || data["user_id"] != bob || data["experiment_id"] != exp || data["status"] != "RUNNING" ||
		tags["team"] != "ds" || tags["k2"] != "5" || tags["k3"] != "true" || tags["mlflow.user"] != bob || tags["mlflow.runName"] != "first" {
		t.Fatalf("run = %v", data)
	}
	if uri, _ := data["artifact_uri"].(string); !strings.HasPrefix(uri, "mlflow-artifacts:/"+exp+"/"+rid) {
		t.Fatalf("artifact_uri = %v", data["artifact_uri"])
	}
	// MLflow-style tags and a generated name.
	rid2 := e.createRun(alice, exp, `{"tags": [{"key": "a", "value": "b"}]}`)
	code, body = e.do("GET", "/v1/experiment/"+exp+"/run/"+rid2, as(alice), "")
	if d := wantOK(t, code, body); d["tags"].(map[string]any)["a"] != "b" || d["run_name"] == "" {
		t.Fatalf("run 2 = %v", d)
	}
	runs := e.count("mlflow_runs", "")
	rejected := []struct {
		name, path, body string
		code             int
		part             string
	}{
		{"tags string", exp, `{"tags": "x"}`, 400, "tags"},
		{"tags nested", exp, `{"tags": [{"a": {"b": 1}}]}`, 400, "tags"},
		{"tag null value", exp, `{"tags": [{"a": null}]}`, 400, "tags"},
		{"bad tag key", exp, `{"tags": [{"/abs": "x"}]}`, 400, "Invalid"},
		{"run_name type", exp, `{"run_name": 3}`, 400, "run_name"},
		{"run_name too long", exp, fmt.Sprintf(`{"run_name": %q}`, strings.Repeat("r", 300)), 400, "run"},
		{"not json", exp, `nope`, 400, "not valid JSON"},
		{"unknown experiment", "777777", `{}`, 404, "No Experiment"},
	}
	for _, c := range rejected {
		t.Run("create "+c.name, func(t *testing.T) {
			code, body := e.do("POST", "/v1/experiment/"+c.path+"/run", as(bob), c.body)
			wantDetail(t, code, body, c.code, c.part)
		})
	}
	if got := e.count("mlflow_runs", ""); got != runs {
		t.Fatalf("rejected run creates wrote runs: %d → %d", runs, got)
	}
	code, body = e.do("GET", "/v1/experiment/"+other+"/run/"+rid, as(alice), "")
	wantDetail(t, code, body, 404, "not found in experiment")
	code, body = e.do("GET", "/v1/experiment/"+exp+"/run/ffffffffffffffffffffffffffffffff", as(alice), "")
	wantDetail(t, code, body, 404, "not found")
	code, body = e.do("DELETE", "/v1/experiment/"+other+"/run/"+rid, as(alice), "")
	wantDetail(t, code, body, 404, "not found in experiment")

	// Delete: carol (default EDIT, not the creator) is refused; bob deletes his own run; alice (MANAGE)
	// deletes any run.
	code, body = e.do("DELETE", "/v1/experiment/"+exp+"/run/"+rid, as(carol), "")
	wantDetail(t, code, body, 403, "User is not authorized to perform the action")
	if n := e.count("mlflow_runs", "run_uuid = ? AND lifecycle_stage = 'active'", rid); n != 1 {
		t.Fatal("forbidden delete changed the run")
	}
	e.ok(t, "DELETE", "/v1/experiment/"+exp+"/run/"+rid, as(bob), "")
	if n := e.count("mlflow_runs", "run_uuid = ? AND lifecycle_stage = 'deleted'", rid); n != 1 {
		t.Fatal("run not deleted")
	}
	code, body = e.do("DELETE", "/v1/experiment/"+exp+"/run/"+rid2, as(bob), "")
	wantDetail(t, code, body, 403, "not authorized")
	e.ok(t, "DELETE", "/v1/experiment/"+exp+"/run/"+rid2, as(alice), "")
	// A deleted run can still be read, with its stage.
	code, body = e.do("GET", "/v1/experiment/"+exp+"/run/"+rid2, as(alice), "")
	if wantOK(t, code, body)["lifecycle_stage"] != "deleted" {
		t.Fatalf("deleted run = %v", body)
	}
}

func testLogData(t *testing.T, e *env) {
	exp := e.createExperiment(alice, "log-exp")
	rid := e.createRun(alice, exp, `{}`)
	path := "/v1/run/" + rid + "/log-data"
	code, body := e.do("POST", path, as(bob), `{"metrics": {"key": "rmse", "value": 0.25}, "params": {"key": "alpha", "value": "0.5"}}`)
	if d := wantOK(t, code, body); d["metrics"] != float64(1) || d["params"] != float64(1) {
		t.Fatalf("log-data = %v", body)
	}
	code, body = e.do("POST", path, as(alice), `{"metrics": [{"key": "rmse", "value": "0.125", "step": 3, "timestamp": 10}, {"key": "loss", "value": 1}], "params": [{"key": "depth", "value": 7}]}`)
	wantOK(t, code, body)
	check := func() {
		t.Helper()
		code, body := e.do("GET", "/v1/experiment/"+exp+"/run/"+rid, as(alice), "")
		d := wantOK(t, code, body)
		m := d["metrics"].(map[string]any)
		p := d["params"].(map[string]any)
		if m["rmse"] != 0.125 || m["loss"] != float64(1) || len(m) != 2 || p["alpha"] != "0.5" || p["depth"] != "7" || len(p) != 2 {
			t.Fatalf("run data = %v / %v", m, p)
		}
	}
	check()
	metricRows := e.count("mlflow_metrics", "run_uuid = ?", rid)
	rejected := []struct {
		name, body string
		user       string
		code       int
		part       string
	}{
		{"nothing", `{}`, alice, 400, "At least one"},
		{"empty body", ``, alice, 400, "At least one"},
		{"param key too long", fmt.Sprintf(`{"metrics": {"key": "m", "value": 1}, "params": {"key": %q, "value": "v"}}`, strings.Repeat("k", 256)), alice, 400, "params.key"},
		{"param value too long", fmt.Sprintf(`{"params": {"key": "big", "value": %q}}`, strings.Repeat("v", 6001)), alice, 400, "params.value"},
		{"param changed", `{"metrics": {"key": "m2", "value": 1}, "params": {"key": "alpha", "value": "0.9"}}`, alice, 400, "Changing param values is not allowed"},
		{"param twice", `{"params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]}`, alice, 400, "twice"},
		{"param no value", `{"params": {"key": "p"}}`, alice, 400, "params.value"},
		{"param no key", `{"params": {"value": "p"}}`, alice, 400, "params.key"},
		{"metric no value", `{"metrics": {"key": "m"}}`, alice, 400, "metrics.value"},
		{"metric no key", `{"metrics": {"value": 1}}`, alice, 400, "metrics.key"},
		{"metric value text", `{"metrics": {"key": "m", "value": "abc"}}`, alice, 400, "not a number"},
		{"metric value bool", `{"metrics": {"key": "m", "value": true}}`, alice, 400, "number"},
		{"metric step text", `{"metrics": {"key": "m", "value": 1, "step": "x"}}`, alice, 400, "integer"},
		{"metric key bad", `{"metrics": {"key": "../m", "value": 1}}`, alice, 400, "Invalid"},
		{"metrics wrong type", `{"metrics": 5}`, alice, 400, "metrics"},
		{"not json", `{"metrics":`, alice, 400, "not valid JSON"},
		{"no identity", `{"metrics": {"key": "m", "value": 1}}`, "", 401, "email header is required"},
	}
	for _, c := range rejected {
		t.Run(c.name, func(t *testing.T) {
			hdr := as(c.user)
			if c.user == "" {
				hdr = nil
			}
			code, body := e.do("POST", path, hdr, c.body)
			wantDetail(t, code, body, c.code, c.part)
		})
	}
	code, body = e.do("POST", "/v1/run/ffffffffffffffffffffffffffffffff/log-data", as(alice), `{"metrics": {"key": "m", "value": 1}}`)
	wantDetail(t, code, body, 404, "not found")
	// READ-only users cannot log.
	e.ok(t, "PUT", "/v1/experiment/"+exp+"/permissions", as(alice), `{"username": "carol@example.com", "permission": "READ"}`)
	code, body = e.do("POST", path, as(carol), `{"metrics": {"key": "m3", "value": 1}}`)
	wantDetail(t, code, body, 403, "User is not authorized to perform the action")
	if got := e.count("mlflow_metrics", "run_uuid = ?", rid); got != metricRows {
		t.Fatalf("rejected log-data wrote metrics: %d → %d", metricRows, got)
	}
	check()
	// A deleted run cannot be logged to.
	e.ok(t, "DELETE", "/v1/experiment/"+exp+"/run/"+rid, as(alice), "")
	code, body = e.do("POST", path, as(alice), `{"metrics": {"key": "m", "value": 1}}`)
	wantDetail(t, code, body, 400, "active")
}

func testDelete(t *testing.T, e *env) {
	exp := e.createExperiment(alice, "del-exp")
	rid := e.createRun(bob, exp, `{}`)
	code, body := e.do("DELETE", "/v1/experiment/"+exp, as(bob), "")
	wantDetail(t, code, body, 403, "User is not authorized to perform the action")
	if n := e.count("mlflow_experiments", "experiment_id = ? AND lifecycle_stage = 'active'", mustInt(exp)); n != 1 {
		t.Fatal("forbidden delete changed the experiment")
	}
	code, body = e.do("DELETE", "/v1/experiment/"+exp, as(alice), "")
	if wantOK(t, code, body)["experiment_id"] != exp {
		t.Fatalf("delete = %v", body)
	}
	code, body = e.do("GET", "/v1/experiment/"+exp, as(alice), "")
	if wantOK(t, code, body)["lifecycle_stage"] != "deleted" {
		t.Fatalf("deleted experiment = %v", body)
	}
	if n := e.count("mlflow_runs", "run_uuid = ? AND lifecycle_stage = 'deleted'", rid); n != 1 {
		t.Fatal("experiment delete did not delete its runs")
	}
	code, body = e.do("POST", "/v1/experiment/"+exp+"/run", as(alice), `{}`)
	wantDetail(t, code, body, 400, "active")
	code, body = e.do("DELETE", "/v1/experiment/55555", as(alice), "")
	wantDetail(t, code, body, 404, "No Experiment")
	code, body = e.do("DELETE", "/v1/experiment/0", as(admin), "")
	wantDetail(t, code, body, 400, "default experiment")
}

func testArtifacts(t *testing.T, e *env) {
	exp := e.createExperiment(alice, "art-exp")
	rid := e.createRun(alice, exp, `{}`)
	key := exp + "/" + rid + "/artifacts/model/MLmodel"
	if err := e.arts.Put(t.Context(), key, strings.NewReader("flavors: {}\n"), -1, blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/artifacts/" + key, "/get-artifact?path=model/MLmodel&run_uuid=" + rid, "/get-artifact?path=" + key} {
		code, raw := e.raw("GET", p, as(bob), "")
		if code != 200 || string(raw) != "flavors: {}\n" {
			t.Fatalf("GET %s = %d %q", p, code, raw)
		}
	}
	for _, c := range []struct {
		path string
		hdr  map[string]string
		code int
		part string
	}{
		{"/artifacts/" + exp + "/" + rid + "/artifacts/missing", as(bob), 404, "not found"},
		{"/artifacts/" + exp + "/../etc/passwd", as(bob), 400, "Invalid artifact path"},
		{"/artifacts/" + exp + "//x", as(bob), 400, "Invalid artifact path"},
		{"/get-artifact?path=", as(bob), 400, "path"},
		{"/get-artifact?run_uuid=" + rid, as(bob), 400, "path"},
		{"/get-artifact?path=x&run_uuid=ffffffffffffffffffffffffffffffff", as(bob), 404, "not found"},
		{"/artifacts/" + key, nil, 401, "email header is required"},
	} {
		code, body := e.do("GET", c.path, c.hdr, "")
		wantDetail(t, code, body, c.code, c.part)
	}
	// Users without READ are refused.
	e2 := e.with(t, applayer.Config{DefaultPermission: "NO_PERMISSIONS"}, applayer.Deps{DB: e.d, Store: e.st, Artifacts: e.arts})
	code, body := e2.do("GET", "/artifacts/"+key, as(bob), "")
	wantDetail(t, code, body, 403, "not authorized")
	code, raw := e2.raw("GET", "/artifacts/"+key, as(alice), "")
	if code != 200 || string(raw) != "flavors: {}\n" {
		t.Fatalf("owner GET = %d %q", code, raw)
	}
	// Without a database every endpoint but the healthcheck is unavailable, not broken.
	e4 := e.with(t, applayer.Config{}, applayer.Deps{})
	for _, p := range []string{"/v1/experiment/1", "/artifacts/" + key, "/ajax-api/2.0/mlflow/experiments/get", "/v1/models"} {
		code, body := e4.do("GET", p, as(alice), "")
		wantDetail(t, code, body, 503, "no database")
	}
	if code, _ := e4.do("GET", "/healthcheck", nil, ""); code != 200 {
		t.Fatalf("healthcheck without a database = %d", code)
	}
	// Without an artifact store the endpoints are unavailable, not broken.
	e3 := e.with(t, applayer.Config{}, applayer.Deps{DB: e.d, Store: e.st})
	code, body = e3.do("GET", "/artifacts/"+key, as(alice), "")
	wantDetail(t, code, body, 503, "not configured")
}

func testAjax(t *testing.T, e *env) {
	exp := e.createExperiment(alice, "ajax-exp")
	rid := e.createRun(alice, exp, `{}`)
	before := len(e.tracking.all())
	code, body := e.do("POST", "/ajax-api/2.0/mlflow/experiments/delete", as(bob), fmt.Sprintf(`{"experiment_id": %q}`, exp))
	wantDetail(t, code, body, 403, "not authorized")
	code, body = e.do("POST", "/ajax-api/2.0/mlflow/runs/delete", as(bob), fmt.Sprintf(`{"run_id": %q}`, rid))
	wantDetail(t, code, body, 403, "not authorized")
	code, body = e.do("POST", "/ajax-api/2.0/mlflow/experiments/search", nil, `{}`)
	wantDetail(t, code, body, 401, "email header is required")
	if got := len(e.tracking.all()); got != before {
		t.Fatalf("rejected ajax calls were forwarded (%d → %d)", before, got)
	}
	code, body = e.do("POST", "/ajax-api/2.0/mlflow/experiments/delete", map[string]string{"email": alice, "Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(alice+":"+alice))}, fmt.Sprintf(`{"experiment_id": %q}`, exp))
	if code != 200 || body["forwarded"] != true {
		t.Fatalf("owner delete via ajax = %d %v", code, body)
	}
	code, body = e.do("POST", "/ajax-api/2.0/mlflow/runs/log-batch", map[string]string{"Authorization": "Bearer t0k-bob"}, fmt.Sprintf(`{"run_id": %q}`, rid))
	if code != 200 || body["forwarded"] != true {
		t.Fatalf("EDIT log-batch via ajax = %d %v", code, body)
	}
	code, body = e.do("GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id="+exp, as(carol), "")
	if code != 200 || body["forwarded"] != true {
		t.Fatalf("ajax GET = %d %v", code, body)
	}
	// Bodies the tracking API would reject pass through to get MLflow's own error.
	if code, body = e.do("POST", "/ajax-api/2.0/mlflow/runs/delete", as(carol), `not json`); code != 200 || body["forwarded"] != true {
		t.Fatalf("unparsable ajax body = %d %v", code, body)
	}
	got := e.tracking.all()[before:]
	if len(got) != 4 {
		t.Fatalf("forwarded = %+v", got)
	}
	want := []forwarded{
		{"POST", "/ajax-api/2.0/mlflow/experiments/delete", alice, "", fmt.Sprintf(`{"experiment_id": %q}`, exp)},
		{"POST", "/ajax-api/2.0/mlflow/runs/log-batch", bob, "", fmt.Sprintf(`{"run_id": %q}`, rid)},
		{"GET", "/ajax-api/2.0/mlflow/experiments/get", carol, "", ""},
		{"POST", "/ajax-api/2.0/mlflow/runs/delete", carol, "", "not json"},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("forwarded[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func testExperimentCreated(t *testing.T, e *env) {
	for _, c := range []struct {
		name string
		hdr  map[string]string
		want string
	}{
		{"basic", basic(alice, alice), alice},
		{"email", as("Carol@example.com"), carol},
		{"bearer", map[string]string{"Authorization": "Bearer t0k-bob"}, bob},
		{"none", nil, ""},
		{"invalid", as("nope"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, err := e.st.CreateExperiment(t.Context(), "created-"+c.name, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/api/2.0/mlflow/experiments/create", nil)
			for k, v := range c.hdr {
				r.Header.Set(k, v)
			}
			if err := e.h.ExperimentCreated(t.Context(), r, id); err != nil {
				t.Fatal(err)
			}
			code, body := e.do("GET", "/v1/experiment/"+id, as(alice), "")
			d := wantOK(t, code, body)
			if c.want == "" {
				if d["created_by"] != nil || e.count("mlflow_experiment_permissions", "experiment_id = ?", mustInt(id)) != 0 {
					t.Fatalf("owner recorded without identity: %v", d)
				}
				return
			}
			if d["created_by"] != c.want || e.count("mlflow_experiment_permissions", "experiment_id = ? AND username = ? AND permission = 'MANAGE'", mustInt(id), c.want) != 1 {
				t.Fatalf("created_by = %v, want %s", d["created_by"], c.want)
			}
		})
	}
}

func testModels(t *testing.T, e *env) {
	code, body := e.do("GET", "/v1/models", nil, "")
	wantDetail(t, code, body, 401, "email header is required")
	exp := e.createExperiment(alice, "models-exp")
	rid := e.createRun(alice, exp, `{}`)
	for _, m := range []struct {
		name string
		tags []domain.Tag
	}{
		{"churn-model", []domain.Tag{{Key: "team", Value: "growth"}, {Key: "tier", Value: "gold"}}},
		{"Churn-v2", []domain.Tag{{Key: "team", Value: "growth"}}},
		{"fraud", []domain.Tag{{Key: "team", Value: "risk"}}},
	} {
		if _, err := e.st.CreateRegisteredModel(t.Context(), m.name, "desc "+m.name, m.tags); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.st.CreateModelVersion(t.Context(), store.CreateModelVersionInput{Name: "churn-model", Source: "mlflow-artifacts:/" + exp + "/" + rid + "/artifacts/model", RunID: rid}); err != nil {
		t.Fatal(err)
	}
	names := func(data map[string]any) []string {
		var out []string
		for _, m := range data["models"].([]any) {
			out = append(out, m.(map[string]any)["name"].(string))
		}
		return out
	}
	for _, c := range []struct {
		query string
		want  string
	}{
		{"", "Churn-v2,churn-model,fraud"},
		{"?name=churn", "Churn-v2,churn-model"},
		{"?name=CHURN&tags=tier:gold", "churn-model"},
		{"?tags=team:growth", "Churn-v2,churn-model"},
		{"?tags=team=growth,tier=gold", "churn-model"},
		{"?tags=team:growth&tags=tier:silver", ""},
		{"?tags=" + url.QueryEscape(`{"team": "risk"}`), "fraud"},
		{"?name=nothing", ""},
	} {
		d := e.ok(t, "GET", "/v1/models"+c.query, as(bob), "")
		if got := strings.Join(names(d), ","); got != c.want {
			t.Errorf("GET /v1/models%s = %s, want %s", c.query, got, c.want)
		}
	}
	d := e.ok(t, "GET", "/v1/models?max_results=2", as(bob), "")
	tok, _ := d["next_page_token"].(string)
	if len(names(d)) != 2 || tok == "" {
		t.Fatalf("page 1 = %v", d)
	}
	d = e.ok(t, "GET", "/v1/models?max_results=2&page_token="+tok, as(bob), "")
	if got := names(d); len(got) != 1 || got[0] != "fraud" || d["next_page_token"] != nil {
		t.Fatalf("page 2 = %v", d)
	}
	d = e.ok(t, "GET", "/v1/models/churn-model", as(bob), "")
	if d["latest_version"] != "1" || d["tags"].(map[string]any)["tier"] != "gold" || d["description"] != "desc churn-model" {
		t.Fatalf("model = %v", d)
	}
	if v := d["latest_versions"].([]any)[0].(map[string]any); v["run_id"] != rid || v["current_stage"] != "None" {
		t.Fatalf("latest version = %v", v)
	}
	for _, c := range []struct {
		path string
		code int
		part string
	}{
		{"/v1/models?max_results=0", 400, "max_results"},
		{"/v1/models?max_results=abc", 400, "max_results"},
		{"/v1/models?page_token=%21%21", 400, "page_token"},
		{"/v1/models?tags=novalue", 400, "tags"},
		{"/v1/models?tags=" + url.QueryEscape(`{"a": [1]}`), 400, "tags"},
		{"/v1/models?tags=" + url.QueryEscape("../x:1"), 400, "tags"},
		{"/v1/models?name=" + strings.Repeat("n", 300), 400, "name"},
		{"/v1/models/missing-model", 404, "missing-model"},
	} {
		code, body := e.do("GET", c.path, as(bob), "")
		wantDetail(t, code, body, c.code, c.part)
	}
}

func testGuard(t *testing.T, e *env) {
	exp := e.createExperiment(alice, "guard-exp")
	rid := e.createRun(alice, exp, `{}`)
	e.ok(t, "PUT", "/v1/experiment/"+exp+"/permissions", as(alice), `{"username": "carol@example.com", "permission": "READ"}`)
	ft := &fakeTracking{}
	r := chi.NewRouter()
	r.Route("/mlflow-lib", func(r chi.Router) { r.Mount("/", e.h.Guard(ft)) })
	srv := httptest.NewServer(r)
	defer srv.Close()
	lib := *e
	lib.url = srv.URL + "/mlflow-lib"
	delExp := fmt.Sprintf(`{"experiment_id": %q}`, exp)
	logRun := fmt.Sprintf(`{"run_id": %q, "metrics": []}`, rid)
	for _, c := range []struct {
		name, path, body string
		hdr              map[string]string
		code             int
		errCode          string
	}{
		{"non-owner delete", "/api/2.0/mlflow/experiments/delete", delExp, basic(bob, bob), 403, "PERMISSION_DENIED"},
		{"non-owner delete (ajax, email)", "/ajax-api/2.0/mlflow/experiments/delete", delExp, as(bob), 403, "PERMISSION_DENIED"},
		{"read-only log", "/api/2.0/mlflow/runs/log-batch", logRun, as(carol), 403, "PERMISSION_DENIED"},
		{"bad credentials", "/api/2.0/mlflow/experiments/delete", delExp, basic(bob, "x"), 401, "UNAUTHENTICATED"},
		{"bad email", "/api/2.0/mlflow/experiments/delete", delExp, as("bob"), 400, "INVALID_PARAMETER_VALUE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := lib.do("POST", c.path, c.hdr, c.body)
			if code != c.code || body["error_code"] != c.errCode || body["message"] == "" {
				t.Fatalf("got %d %v, want %d %s", code, body, c.code, c.errCode)
			}
		})
	}
	if n := len(ft.all()); n != 0 {
		t.Fatalf("rejected calls reached the tracking API: %+v", ft.all())
	}
	for _, c := range []struct {
		method, path, body string
		hdr                map[string]string
	}{
		{"POST", "/api/2.0/mlflow/experiments/delete", delExp, nil},                 // no identity: unchanged
		{"POST", "/api/2.0/mlflow/runs/log-batch", logRun, basic(bob, bob)},         // EDIT by default
		{"POST", "/api/2.0/mlflow/experiments/delete", delExp, basic(alice, alice)}, // the owner
		{"POST", "/api/2.0/mlflow/experiments/search", `{}`, as(carol)},             // not guarded
		{"GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + exp, "", as(carol)},
	} {
		code, body := lib.do(c.method, c.path, c.hdr, c.body)
		if code != 200 || body["forwarded"] != true {
			t.Fatalf("%s %s = %d %v", c.method, c.path, code, body)
		}
		last := ft.all()[len(ft.all())-1]
		if last.body != c.body {
			t.Fatalf("forwarded body %q, want %q", last.body, c.body)
		}
	}
}

func testRouting(t *testing.T, e *env) {
	code, body := e.do("GET", "/v1/nothing", as(alice), "")
	wantDetail(t, code, body, 404, "Not Found")
	code, body = e.do("PATCH", "/v1/experiment/1", as(alice), "")
	wantDetail(t, code, body, 405, "Method Not Allowed")
}

func TestNewConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := []applayer.Config{
		{},
		{DefaultPermission: "read"},
		{DefaultPermission: "NO_PERMISSIONS"},
		{TokensFile: write("json", `{"a": "a@example.com"}`)},
		{Tokens: map[string]string{"x": "x@example.com"}, Admins: []string{"Root@Example.com"}},
	}
	for i, c := range good {
		if _, err := applayer.New(c, applayer.Deps{}); err != nil {
			t.Errorf("good config %d: %v", i, err)
		}
	}
	bad := []struct {
		cfg  applayer.Config
		part string
	}{
		{applayer.Config{DefaultPermission: "OWNER"}, "default-permission"},
		{applayer.Config{TokensFile: filepath.Join(dir, "missing")}, "tokens-file"},
		{applayer.Config{TokensFile: write("bad-email", "tok not-an-email\n")}, "line 1"},
		{applayer.Config{TokensFile: write("no-email", "tok\n")}, "line 1"},
		{applayer.Config{TokensFile: write("bad-json", `{"a": 1}`)}, "JSON"},
		{applayer.Config{Tokens: map[string]string{"": "a@example.com"}}, "tokens"},
		{applayer.Config{Admins: []string{"root"}}, "admin"},
	}
	for _, c := range bad {
		if _, err := applayer.New(c.cfg, applayer.Deps{}); err == nil || !strings.Contains(err.Error(), c.part) {
			t.Errorf("config %+v: err = %v, want mention of %q", c.cfg, err, c.part)
		}
	}
	toks, err := applayer.ParseTokens([]byte("a a@example.com # first\n\nb=B@example.com\nc: \"c@example.com\"\n"))
	if err != nil || len(toks) != 3 || toks["a"] != "a@example.com" || toks["b"] != "b@example.com" || toks["c"] != "c@example.com" {
		t.Fatalf("ParseTokens = %v, %v", toks, err)
	}
	if _, err := applayer.ParseTokens([]byte("a a@example.com\na b@example.com\n")); err == nil {
		t.Fatal("a token mapped to two emails was accepted")
	}
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{"A@B.co": "a@b.co", " x.y+z@sub.example.org ": "x.y+z@sub.example.org"} {
		if got, err := applayer.NormalizeEmail(in); err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "a", "a@b", "@b.co", "a@.b.co", "a@b.co.", "a@b..co", "a b@c.co", "<a@b.co>", "A <a@b.co>", "a@[1.2.3.4]",
		strings.Repeat("a", 65) + "@b.co", "a@" + strings.Repeat("b", 250) + ".co", "a,b@c.co", "a@b.co\x00"} {
		if got, err := applayer.NormalizeEmail(in); err == nil {
			t.Errorf("NormalizeEmail(%q) accepted as %q", in, got)
		}
	}
}
