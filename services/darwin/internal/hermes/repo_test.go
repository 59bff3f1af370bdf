package hermes

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/darwinml/darwin/pkg/testutil"
)

var wantRepoFiles = []string{
	".dockerignore", ".gitignore", ".hermes/deployment_local.json", ".hermes/deployment_prod.json",
	".hermes/deployment_uat.json", ".hermes/serve_config.json", "Dockerfile", "README.md", "monitors/monitors.tfvars",
	"requirements.txt", "src/__init__.py", "src/config.py", "src/main.py", "src/model.py", "src/pipeline.py",
	"src/schemas.py", "tests/__init__.py", "tests/test_main.py",
}

func listTree(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

func TestRepoCreate(t *testing.T) {
	c := newCLI(t, "")
	out := t.TempDir()
	r := c.ok("repo", "create", "--name", "iris-classifier", "-o", out, "--model-path", "models:/iris/3", "--github-username", "acme")
	root := filepath.Join(out, "iris-classifier")
	if got := listTree(t, root); strings.Join(got, "\n") != strings.Join(wantRepoFiles, "\n") {
		t.Fatalf("tree:\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(r.stdout, "Created serve repository "+root+" (18 files)") {
		t.Fatalf("stdout: %q", r.stdout)
	}
	var sc map[string]any
	b, _ := os.ReadFile(filepath.Join(root, ".hermes/serve_config.json"))
	if err := json.Unmarshal(b, &sc); err != nil || sc["name"] != "iris-classifier" || sc["type"] != "api" ||
		sc["github_repo_url"] != "https://github.com/acme/iris-classifier" {
		t.Fatalf("serve_config.json: %v %s", err, b)
	}
	for _, env := range []string{"local", "uat", "prod"} {
		var d map[string]any
		b, _ := os.ReadFile(filepath.Join(root, ".hermes/deployment_"+env+".json"))
		if err := json.Unmarshal(b, &d); err != nil || d["env"] != env || mapAt(mapAt(d, "infrastructure_config"), "api_serve_config") == nil {
			t.Fatalf("deployment_%s.json: %v %s", env, err, b)
		}
		if !strings.Contains(string(b), `"MLFLOW_MODEL_URI": "models:/iris/3"`) {
			t.Fatalf("deployment_%s.json lacks the model URI: %s", env, b)
		}
	}
	main, _ := os.ReadFile(filepath.Join(root, "src/main.py"))
	for _, want := range []string{`@app.get("/healthcheck")`, `@app.get("/ready")`, `@app.post("/predict", response_model=schemas.PredictResponse)`, "pipeline.run_predict(request)"} {
		if !strings.Contains(string(main), want) {
			t.Fatalf("main.py lacks %q:\n%s", want, main)
		}
	}
	pipe, _ := os.ReadFile(filepath.Join(root, "src/pipeline.py"))
	for _, want := range []string{"def preprocess_predict(", "def inference_predict(", "def postprocess_predict(", "return postprocess_predict(inference_predict(preprocess_predict(request)))"} {
		if !strings.Contains(string(pipe), want) {
			t.Fatalf("pipeline.py lacks %q", want)
		}
	}
	if strings.Contains(string(main)+string(pipe), "[%") {
		t.Fatal("unrendered template markers")
	}

	// never overwrite: an existing target fails and is left as it was
	if err := os.WriteFile(filepath.Join(root, "README.md"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.fail(1, []string{"already exists", "refusing to overwrite"}, "repo", "create", "--name", "iris-classifier", "-o", out)
	if b, _ := os.ReadFile(filepath.Join(root, "README.md")); string(b) != "mine" {
		t.Fatal("existing repository was modified")
	}
	empty := filepath.Join(out, "empty-dir")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	c.fail(1, []string{"already exists"}, "create-serve-repo", "--name", "empty-dir", "-o", out)
	if entries, _ := os.ReadDir(out); len(entries) != 2 {
		t.Fatalf("leftovers in %s: %v", out, entries)
	}
}

func TestRepoCreateFromContextFile(t *testing.T) {
	c := newCLI(t, "")
	dir := t.TempDir()
	ctxFile := filepath.Join(dir, "ctx.yaml")
	err := os.WriteFile(ctxFile, []byte(`repository_name: house-prices
repository_description: House price regression
repository_author: data-team
model_path: models:/house/2
serve_endpoint_schemas:
  - name: price
    path: /v1/price
    input_parameters:
      - {name: rooms, type: int}
      - {name: area, type: float}
    output_parameters:
      - {name: price, type: float}
  - name: explain
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	c.ok("repo", "create", "-f", ctxFile, "-o", dir, "-t", "hermes/src/templates/fastapi_template/")
	root := filepath.Join(dir, "house-prices")
	schemas, _ := os.ReadFile(filepath.Join(root, "src/schemas.py"))
	for _, want := range []string{"class PriceRequest(BaseModel):\n    rooms: int\n    area: float", "class PriceResponse(BaseModel):\n    price: float", "class ExplainRequest(BaseModel):\n    features: dict"} {
		if !strings.Contains(string(schemas), want) {
			t.Fatalf("schemas.py lacks %q:\n%s", want, schemas)
		}
	}
	main, _ := os.ReadFile(filepath.Join(root, "src/main.py"))
	if !strings.Contains(string(main), `@app.post("/v1/price"`) || !strings.Contains(string(main), `@app.post("/explain"`) {
		t.Fatalf("main.py routes:\n%s", main)
	}
	tf, _ := os.ReadFile(filepath.Join(root, "monitors/monitors.tfvars"))
	if !strings.Contains(string(tf), `owner             = "data-team"`) {
		t.Fatalf("tfvars:\n%s", tf)
	}

	// a custom template directory
	tdir := filepath.Join(dir, "tpl")
	if err := os.MkdirAll(filepath.Join(tdir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(tdir, "app", "NAME.txt.tmpl"), []byte("[% .RepositoryName %] by [% .RepositoryAuthor %]\n"), 0o644)
	_ = os.WriteFile(filepath.Join(tdir, "static.txt"), []byte("[% not rendered %]"), 0o644)
	c.ok("repo", "create", "--name", "custom", "-t", tdir, "-o", dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "custom", "app", "NAME.txt")); string(b) != "custom by darwin\n" {
		t.Fatalf("custom template: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "custom", "static.txt")); string(b) != "[% not rendered %]" {
		t.Fatalf("static file: %q", b)
	}
	// a broken template leaves nothing behind
	_ = os.WriteFile(filepath.Join(tdir, "bad.tmpl"), []byte("[% .Nope %]"), 0o644)
	c.fail(1, []string{"bad.tmpl"}, "repo", "create", "--name", "broken", "-t", tdir, "-o", dir)
	if _, err := os.Stat(filepath.Join(dir, "broken")); !os.IsNotExist(err) {
		t.Fatalf("broken repository left behind: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".broken.tmp-*")); len(m) != 0 {
		t.Fatalf("temporary directory left behind: %v", m)
	}
}

func TestRepoCreateRejectsBadContext(t *testing.T) {
	c := newCLI(t, "")
	dir := t.TempDir()
	for _, tc := range []struct {
		ctx, want string
	}{
		{"repository_name: Bad_Name\n", "invalid repository name"},
		{"repository_name: ok\nserve_endpoint_schemas: [{name: model}]\n", "invalid endpoint name"},
		{"repository_name: ok\nserve_endpoint_schemas: [{name: a}, {name: a}]\n", "duplicate endpoint"},
		{"repository_name: ok\nserve_endpoint_schemas: [{name: a, path: /health}]\n", "invalid path"},
		{"repository_name: ok\nserve_endpoint_schemas: [{name: a, path: \"/x\\\"); import os #\"}]\n", "invalid path"},
		{"repository_name: ok\nmodel_input_parameters: [{name: class, type: int}]\n", "invalid parameter name"},
		{"repository_name: ok\nmodel_input_parameters: [{name: x, type: tensor}]\n", "invalid type"},
		{"repository_name: ok\nrepository_type: workflow\n", "repository_type"},
		{"- a\n- b\n", "mapping"},
	} {
		f := filepath.Join(dir, "ctx.yaml")
		if err := os.WriteFile(f, []byte(tc.ctx), 0o644); err != nil {
			t.Fatal(err)
		}
		r := c.run("repo", "create", "-f", f, "-o", dir)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want failure mentioning %q", tc.ctx, r.code, r.stderr, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("rejected contexts wrote files: %v", entries)
	}
	c.fail(2, []string{"--name"}, "repo", "create", "-o", dir)
	c.fail(2, []string{"unknown template"}, "repo", "create", "--name", "x", "-t", filepath.Join(dir, "missing"))
}

// TestHelpEveryCommand runs --help on every command of both trees (hermes and darwin serve) without calling
// the server.
func TestHelpEveryCommand(t *testing.T) {
	p := startPlatform(t)
	for _, use := range []string{"hermes", "serve"} {
		var paths [][]string
		var walkTree func(c *cobra.Command, path []string)
		walkTree = func(c *cobra.Command, path []string) {
			paths = append(paths, path)
			for _, sub := range c.Commands() {
				if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
					continue
				}
				walkTree(sub, append(append([]string(nil), path...), sub.Name()))
			}
		}
		walkTree(NewCommand(Options{Use: use}), nil)
		if len(paths) < 35 {
			t.Fatalf("%s: %d commands: %v", use, len(paths), paths)
		}
		prefix := "hermes"
		if use == "serve" {
			prefix = "darwin serve"
		}
		for _, path := range paths {
			c := newCLI(t, p.URL)
			c.use = use
			c.env["HERMES_USER_TOKEN"] = adminToken
			r := c.run(append(path, "--help")...)
			if r.code != 0 {
				t.Fatalf("%v --help: exit %d %s", path, r.code, r.stderr)
			}
			for _, want := range []string{"Usage:", "Examples:", "  " + prefix + " ", "--url", "-h, --help"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("%s %v --help lacks %q:\n%s", use, path, want, r.stdout)
				}
			}
			if use == "serve" && strings.Contains(r.stdout, "  hermes ") {
				t.Errorf("darwin serve %v help shows hermes examples", path)
			}
		}
	}
	if p.requests.Load() != 0 {
		t.Fatalf("--help sent %d requests", p.requests.Load())
	}
	// every README/CLI.md flat name exists
	root := NewCommand(Options{})
	for _, name := range []string{"configure", "create-environment", "create-serve", "create-serve-config", "update-serve-config",
		"create-artifact", "deploy-artifact", "deploy-model", "undeploy-model", "get-serve-status", "get-artifact-status", "create-serve-repo"} {
		if c, _, err := root.Find([]string{name}); err != nil || c.Name() != name {
			t.Errorf("flat command %s missing", name)
		}
	}
	// a group without a sub-command prints its help
	c := newCLI(t, p.URL)
	if r := c.ok("environment"); !strings.Contains(r.stdout, "Available Commands:") {
		t.Fatalf("environment: %q", r.stdout)
	}
}

// TestGeneratedPythonParses checks that every generated .py file is valid Python, for the default context and
// for one with several endpoints and every parameter type.
func TestGeneratedPythonParses(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		testutil.NeedServer(t, "python3", "scripts/python-deps.sh")
		return
	}
	c := newCLI(t, "")
	dir := t.TempDir()
	ctxFile := filepath.Join(dir, "ctx.yaml")
	if err := os.WriteFile(ctxFile, []byte(`repository_name: many
repository_description: 'quotes " and \\ backslashes'
serve_endpoint_schemas:
  - {name: a, path: /v1/a, input_parameters: [{name: i, type: int}, {name: f, type: float}, {name: s, type: str}, {name: b, type: bool}, {name: l, type: list}, {name: d, type: dict}], output_parameters: [{name: o, type: str}, {name: n, type: int}]}
  - {name: b_two}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("repo", "create", "--name", "plain", "-o", dir)
	c.ok("repo", "create", "-f", ctxFile, "-o", dir)
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*.py"))
	if len(files) != 16 {
		t.Fatalf("python files: %v", files)
	}
	args := append([]string{"-c", "import ast, sys\nfor f in sys.argv[1:]:\n    ast.parse(open(f).read(), f)"}, files...)
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("generated Python does not parse: %v\n%s", err, out)
	}
}
