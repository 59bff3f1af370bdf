package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/darwinml/darwin/services/mlflow"
)

// mlflowServer runs a real in-process MLflow service (tracking under /mlflow-lib, app layer under /mlflow-app)
// on a fresh SQLite database.
func mlflowServer(t *testing.T) string {
	t.Helper()
	svc, err := mlflow.New(mlflow.Config{DataDir: filepath.Join(t.TempDir(), "data")}, mlflow.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mod.Stop(t.Context()) })
	r := chi.NewRouter()
	r.Route("/mlflow-lib", svc.RegisterHTTP)
	r.Route("/mlflow-app", svc.RegisterAppHTTP)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

// runMLflowCLI runs `darwin args...` with the mlflow command tree and the given environment.
func runMLflowCLI(t *testing.T, environ map[string]string, args ...string) runResult {
	t.Helper()
	opts := &GlobalOptions{}
	root := &cobra.Command{Use: "darwin", SilenceErrors: true, SilenceUsage: true}
	getenv := func(k string) string { return environ[k] }
	addGlobalFlags(root, opts, getenv)
	root.AddCommand(newMLflowCommand(opts, getenv))
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return runResult{stdout: out.String(), stderr: errb.String(), err: err}
}

// asUser runs the CLI against url as user (via --user) and fails the test on error.
func mustMLflow(t *testing.T, url, user string, args ...string) string {
	t.Helper()
	res := runMLflowCLI(t, map[string]string{"DARWIN_URL": url}, append(args, "--user", user)...)
	if res.err != nil {
		t.Fatalf("darwin %s: %v\nstdout: %s", strings.Join(args, " "), res.err, res.stdout)
	}
	return res.stdout
}

func decodeOut(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("output is not a JSON object: %q", out)
	}
	return m
}

func postJSON(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s = %d %s", url, resp.StatusCode, raw)
	}
}

const (
	owner = "owner@example.com"
	other = "other@example.com"
)

func TestMLflowCLILifecycle(t *testing.T) {
	t.Parallel()
	url := mlflowServer(t)

	created := decodeOut(t, mustMLflow(t, url, owner, "mlflow", "experiment", "create", "churn", "-o", "json"))
	exp, _ := created["experiment_id"].(string)
	if exp == "" || created["experiment_name"] != "churn" {
		t.Fatalf("experiment create = %v", created)
	}
	got := decodeOut(t, mustMLflow(t, url, other, "mlflow", "experiment", "get", exp, "-o", "json"))
	if got["created_by"] != owner || got["experiment_name"] != "churn" || got["artifact_location"] != "mlflow-artifacts:/"+exp {
		t.Fatalf("experiment get = %v", got)
	}
	table := mustMLflow(t, url, owner, "mlflow", "experiment", "get", exp)
	for _, want := range []string{"experiment_id:", "churn", "created_by:", owner} {
		if !strings.Contains(table, want) {
			t.Fatalf("experiment get table lacks %q:\n%s", want, table)
		}
	}
	var y map[string]any
	if err := yaml.Unmarshal([]byte(mustMLflow(t, url, owner, "mlflow", "experiment", "get", exp, "-o", "yaml")), &y); err != nil || y["experiment_name"] != "churn" {
		t.Fatalf("experiment get -o yaml = %v (%v)", y, err)
	}

	// Another user may log a run to the shared experiment.
	run := decodeOut(t, mustMLflow(t, url, other, "mlflow", "run", "create", exp, "--name", "baseline", "--tag", "team=growth", "--tag", "eq=a=b", "-o", "json"))
	rid, _ := run["run_id"].(string)
	if len(rid) != 32 || run["run_name"] != "baseline" || run["user_id"] != other {
		t.Fatalf("run create = %v", run)
	}
	logged := mustMLflow(t, url, other, "mlflow", "run", "log", rid, "--metric", "rmse=0.25", "--metric", "mae=0.5", "--param", "alpha=0.1", "--step", "2")
	if !strings.Contains(logged, "Data logged successfully") {
		t.Fatalf("run log output = %q", logged)
	}
	r := decodeOut(t, mustMLflow(t, url, owner, "mlflow", "run", "get", exp, rid, "-o", "json"))
	metrics, _ := r["metrics"].(map[string]any)
	params, _ := r["params"].(map[string]any)
	tags, _ := r["tags"].(map[string]any)
	if metrics["rmse"] != 0.25 || metrics["mae"] != 0.5 || params["alpha"] != "0.1" || tags["team"] != "growth" || tags["eq"] != "a=b" {
		t.Fatalf("run get = %v", r)
	}
	runTable := mustMLflow(t, url, owner, "mlflow", "run", "get", exp, rid)
	if !strings.Contains(runTable, "rmse=0.25") || !strings.Contains(runTable, "alpha=0.1") {
		t.Fatalf("run get table:\n%s", runTable)
	}

	// A param cannot change; the rejected call writes nothing (the metric in it is not logged either).
	res := runMLflowCLI(t, map[string]string{"DARWIN_URL": url}, "mlflow", "run", "log", rid, "--metric", "late=1", "--param", "alpha=0.9", "--user", owner)
	if res.err == nil || !strings.Contains(res.err.Error(), "Changing param values is not allowed") || !strings.Contains(res.err.Error(), "HTTP 400") {
		t.Fatalf("changed param: %v", res.err)
	}
	r = decodeOut(t, mustMLflow(t, url, owner, "mlflow", "run", "get", exp, rid, "-o", "json"))
	if _, ok := r["metrics"].(map[string]any)["late"]; ok {
		t.Fatal("rejected log-data wrote a metric")
	}

	// Only the owner renames and deletes the experiment.
	res = runMLflowCLI(t, map[string]string{"DARWIN_URL": url}, "mlflow", "experiment", "update", exp, "--name", "x", "--user", other)
	if res.err == nil || !strings.Contains(res.err.Error(), "User is not authorized to perform the action (HTTP 403") {
		t.Fatalf("non-owner rename: %v", res.err)
	}
	upd := decodeOut(t, mustMLflow(t, url, owner, "mlflow", "experiment", "update", exp, "--name", "churn-v2", "-o", "json"))
	if upd["experiment_name"] != "churn-v2" {
		t.Fatalf("rename = %v", upd)
	}
	res = runMLflowCLI(t, map[string]string{"DARWIN_URL": url}, "mlflow", "experiment", "delete", exp, "--user", other)
	if res.err == nil || !strings.Contains(res.err.Error(), "HTTP 403 from DELETE /mlflow-app/v1/experiment/"+exp) {
		t.Fatalf("non-owner delete: %v", res.err)
	}
	// The run's creator may delete their run.
	if out := mustMLflow(t, url, other, "mlflow", "run", "delete", exp, rid); !strings.Contains(out, "Run deleted successfully") {
		t.Fatalf("run delete = %q", out)
	}
	if out := mustMLflow(t, url, owner, "mlflow", "experiment", "delete", exp); !strings.Contains(out, "Experiment deleted successfully") {
		t.Fatalf("experiment delete = %q", out)
	}
	got = decodeOut(t, mustMLflow(t, url, owner, "mlflow", "experiment", "get", exp, "-o", "json"))
	if got["lifecycle_stage"] != "deleted" {
		t.Fatalf("after delete = %v", got)
	}
	res = runMLflowCLI(t, map[string]string{"DARWIN_URL": url}, "mlflow", "experiment", "get", "99999", "--user", owner)
	if res.err == nil || !strings.Contains(res.err.Error(), "HTTP 404") {
		t.Fatalf("unknown experiment: %v", res.err)
	}
}

func TestMLflowCLIModels(t *testing.T) {
	t.Parallel()
	url := mlflowServer(t)
	api := url + "/mlflow-lib/api/2.0/mlflow/"
	res := runMLflowCLI(t, map[string]string{"DARWIN_URL": url}, "mlflow", "model", "list", "--user", owner)
	if res.err != nil || !strings.Contains(res.stdout, "No registered models.") {
		t.Fatalf("empty list = %q %v", res.stdout, res.err)
	}
	for _, m := range []string{
		`{"name": "churn-model", "tags": [{"key": "team", "value": "growth"}], "description": "predicts churn"}`,
		`{"name": "fraud", "tags": [{"key": "team", "value": "risk"}]}`,
		`{"name": "churn-lite", "tags": [{"key": "team", "value": "growth"}]}`,
	} {
		postJSON(t, api+"registered-models/create", m)
	}
	postJSON(t, api+"model-versions/create", `{"name": "churn-model", "source": "mlflow-artifacts:/0/x/artifacts/model"}`)

	names := func(out string) []string {
		var got struct {
			Models []struct {
				Name string `json:"name"`
			} `json:"models"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("not JSON: %q", out)
		}
		var ns []string
		for _, m := range got.Models {
			ns = append(ns, m.Name)
		}
		return ns
	}
	if got := strings.Join(names(mustMLflow(t, url, owner, "mlflow", "model", "list", "-o", "json")), ","); got != "churn-lite,churn-model,fraud" {
		t.Fatalf("model list = %s", got)
	}
	if got := strings.Join(names(mustMLflow(t, url, owner, "mlflow", "model", "list", "--max-results", "2", "-o", "json")), ","); got != "churn-lite,churn-model" {
		t.Fatalf("model list --max-results 2 = %s", got)
	}
	if got := strings.Join(names(mustMLflow(t, url, owner, "mlflow", "model", "search", "CHURN", "-o", "json")), ","); got != "churn-lite,churn-model" {
		t.Fatalf("model search churn = %s", got)
	}
	if got := strings.Join(names(mustMLflow(t, url, owner, "mlflow", "model", "search", "--tag", "team=risk", "-o", "json")), ","); got != "fraud" {
		t.Fatalf("model search --tag team=risk = %s", got)
	}
	table := mustMLflow(t, url, owner, "mlflow", "model", "list")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(table, "predicts churn") {
		t.Fatalf("model list table:\n%s", table)
	}
	m := decodeOut(t, mustMLflow(t, url, owner, "mlflow", "model", "get", "churn-model", "-o", "json"))
	if m["latest_version"] != "1" || m["description"] != "predicts churn" {
		t.Fatalf("model get = %v", m)
	}
	res = runMLflowCLI(t, map[string]string{"DARWIN_URL": url}, "mlflow", "model", "get", "nope", "--user", owner)
	if res.err == nil || !strings.Contains(res.err.Error(), "HTTP 404") {
		t.Fatalf("model get nope: %v", res.err)
	}
}

func TestMLflowCLIIdentityAndArguments(t *testing.T) {
	t.Parallel()
	url := mlflowServer(t)
	var (
		mu   sync.Mutex
		seen []string
	)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Header.Get("email")+" "+r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"SUCCESS","data":{"experiment_id":"1"}}`)
	}))
	defer rec.Close()
	// Identity: --user, then DARWIN_USER, then the SDK's "user" variable.
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"DARWIN_USER": "a@example.com", "user": "b@example.com"}, nil, "a@example.com"},
		{map[string]string{"user": "b@example.com"}, nil, "b@example.com"},
		{map[string]string{"user": "b@example.com"}, []string{"--user", "c@example.com"}, "c@example.com"},
	} {
		mu.Lock()
		seen = nil
		mu.Unlock()
		c.env["DARWIN_URL"] = rec.URL + "/"
		res := runMLflowCLI(t, c.env, append([]string{"mlflow", "experiment", "get", "1"}, c.args...)...)
		mu.Lock()
		got := append([]string(nil), seen...)
		mu.Unlock()
		if res.err != nil || len(got) != 1 || got[0] != c.want+" GET /mlflow-app/v1/experiment/1" {
			t.Fatalf("env %v args %v: seen %v err %v", c.env, c.args, got, res.err)
		}
	}
	failures := []struct {
		args []string
		part string
	}{
		{[]string{"mlflow", "experiment", "get", "1"}, "user email"}, // default user "sdk" is not an email
		{[]string{"mlflow", "experiment", "get", "--user", owner}, "takes 1 argument"},
		{[]string{"mlflow", "experiment", "get", " ", "--user", owner}, "must not be empty"},
		{[]string{"mlflow", "experiment", "update", "1", "--user", owner}, "--name is required"},
		{[]string{"mlflow", "run", "get", "1", "--user", owner}, "takes 2 argument"},
		{[]string{"mlflow", "run", "log", "r", "--user", owner}, "nothing to log"},
		{[]string{"mlflow", "run", "log", "r", "--metric", "x", "--user", owner}, "KEY=VALUE"},
		{[]string{"mlflow", "run", "log", "r", "--metric", "x=abc", "--user", owner}, "must be a number"},
		{[]string{"mlflow", "run", "create", "1", "--tag", "=v", "--user", owner}, "KEY=VALUE"},
		{[]string{"mlflow", "model", "search", "--user", owner}, "give a NAME"},
		{[]string{"mlflow", "model", "list", "--max-results", "-1", "--user", owner}, "--max-results"},
		{[]string{"mlflow", "experiment", "get", "1", "--user", owner, "-o", "xml"}, "invalid --output"},
		{[]string{"mlflow", "experiment", "create", "x", "--user", "not-an-email@"}, "not a valid email"},
		{[]string{"mlflow", "run", "log", "ffffffffffffffffffffffffffffffff", "--metric", "a=1", "--user", owner}, "HTTP 404"},
	}
	for _, f := range failures {
		res := runMLflowCLI(t, map[string]string{"DARWIN_URL": url}, f.args...)
		if res.err == nil || !strings.Contains(res.err.Error(), f.part) {
			t.Errorf("%v: err = %v, want %q", f.args, res.err, f.part)
		}
	}
}

func TestMLflowCommandsHaveHelp(t *testing.T) {
	t.Parallel()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(NewMLflowCommand(&GlobalOptions{}), []string{"mlflow"})
	if len(paths) != 15 {
		t.Fatalf("mlflow command tree = %v", paths)
	}
	for _, p := range paths {
		res := runMLflowCLI(t, nil, append(p, "--help")...)
		if res.err != nil {
			t.Fatal(res.err)
		}
		for _, want := range []string{"Usage:", "Examples:", "darwin " + strings.Join(p, " "), "--url", "--output", "--user"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("%v help lacks %q", p, want)
			}
		}
	}
	for _, p := range [][]string{{"mlflow"}, {"mlflow", "run"}} {
		res := runMLflowCLI(t, nil, p...)
		if res.err != nil || !strings.Contains(res.stdout, "Available Commands:") {
			t.Errorf("%v: %v %q", p, res.err, res.stdout)
		}
	}
}
