package hermes

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
)

// templates holds the serve repository templates; a file ending in .tmpl is rendered with text/template
// (delimiters [% %]) and written without the suffix, any other file is copied as is.
//
//go:embed all:templates
var templates embed.FS

const defaultTemplate = "fastapi"

// RepoContext is the data a serve repository template is rendered with (the original's cookiecutter keys).
type RepoContext struct {
	RepositoryName        string     `json:"repository_name"`
	RepositoryDescription string     `json:"repository_description"`
	RepositoryAuthor      string     `json:"repository_author"`
	RepositoryType        string     `json:"repository_type"`
	InferenceType         string     `json:"repository_inference_type"`
	GithubUsername        string     `json:"github_username"`
	ModelPath             string     `json:"model_path"`
	ModelFlavor           string     `json:"model_flavor"`
	ModelAuthor           string     `json:"model_author"`
	Space                 string     `json:"space"`
	FeatureStore          bool       `json:"feature_store"`
	Endpoints             []Endpoint `json:"serve_endpoint_schemas"`
	ModelInputs           []Param    `json:"model_input_parameters"`
	ModelOutputs          []Param    `json:"model_output_parameters"`
}

// Endpoint is one generated route: request → preprocess → inference → postprocess → response.
type Endpoint struct {
	Name    string  `json:"name"`
	Path    string  `json:"path"`
	Inputs  []Param `json:"input_parameters"`
	Outputs []Param `json:"output_parameters"`
}

// Param is a request or response field.
type Param struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

var (
	repoNameRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,49}$`)
	identRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	routePathRe = regexp.MustCompile(`^(/[A-Za-z0-9_-]+)+$`)
	pyTypes     = map[string]string{"int": "int", "integer": "int", "float": "float", "double": "float", "number": "float",
		"str": "str", "string": "str", "bool": "bool", "boolean": "bool", "list": "list", "array": "list", "dict": "dict", "object": "dict"}
	reservedEndpoint = map[string]bool{"app": true, "config": true, "model": true, "pipeline": true, "schemas": true,
		"healthcheck": true, "ready": true, "lifespan": true, "logger": true, "logging": true, "asynccontextmanager": true,
		"FastAPI": true, "HTTPException": true, "JSONResponse": true, "pd": true, "schemas_": true}
	reservedField = map[string]bool{"schema": true, "json": true, "dict": true, "copy": true, "construct": true,
		"validate": true, "fields": true, "parse_obj": true, "parse_raw": true, "parse_file": true, "from_orm": true,
		"schema_json": true, "update_forward_refs": true}
	pyKeywords = map[string]bool{"False": true, "None": true, "True": true, "and": true, "as": true, "assert": true, "async": true,
		"await": true, "break": true, "class": true, "continue": true, "def": true, "del": true, "elif": true, "else": true,
		"except": true, "finally": true, "for": true, "from": true, "global": true, "if": true, "import": true, "in": true,
		"is": true, "lambda": true, "nonlocal": true, "not": true, "or": true, "pass": true, "raise": true, "return": true,
		"try": true, "while": true, "with": true, "yield": true}
)

// normalize fills defaults and validates the context, so every generated file is valid Python/JSON.
func (c *RepoContext) normalize() error {
	if !repoNameRe.MatchString(c.RepositoryName) {
		return usagef("invalid repository name %q: want 1-50 lower-case letters, digits and '-', starting with a letter or digit (it becomes the serve name)", c.RepositoryName)
	}
	def := func(p *string, v string) {
		if strings.TrimSpace(*p) == "" {
			*p = v
		}
	}
	def(&c.RepositoryDescription, "Model serving API for "+c.RepositoryName)
	def(&c.RepositoryAuthor, "darwin")
	def(&c.RepositoryType, "api")
	def(&c.InferenceType, "online")
	def(&c.GithubUsername, "your-github-user")
	def(&c.ModelPath, "models:/"+c.RepositoryName+"/latest")
	def(&c.ModelFlavor, "pyfunc")
	def(&c.ModelAuthor, c.RepositoryAuthor)
	def(&c.Space, "serve")
	if c.RepositoryType != "api" {
		return usagef("invalid repository_type %q: the fastapi template generates api serves", c.RepositoryType)
	}
	if len(c.ModelInputs) == 0 {
		c.ModelInputs = []Param{{Name: "features", Type: "dict"}}
	}
	if len(c.ModelOutputs) == 0 {
		c.ModelOutputs = []Param{{Name: "scores", Type: "list"}}
	}
	if len(c.Endpoints) == 0 {
		c.Endpoints = []Endpoint{{Name: "predict"}}
	}
	seen := map[string]bool{}
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		if !identRe.MatchString(e.Name) || pyKeywords[e.Name] || reservedEndpoint[e.Name] || strings.HasPrefix(e.Name, "_") {
			return usagef("invalid endpoint name %q: want a Python identifier other than app, config, model, pipeline, schemas, healthcheck, ready, lifespan, logger", e.Name)
		}
		if seen[e.Name] {
			return usagef("duplicate endpoint %q", e.Name)
		}
		seen[e.Name] = true
		def(&e.Path, "/"+e.Name)
		if !routePathRe.MatchString(e.Path) || reservedRoute(e.Path) {
			return usagef("invalid path %q of endpoint %q: want /segment[/segment...] of letters, digits, '-', '_', not /health, /healthcheck, /ready", e.Path, e.Name)
		}
		if len(e.Inputs) == 0 {
			e.Inputs = c.ModelInputs
		}
		if len(e.Outputs) == 0 {
			e.Outputs = c.ModelOutputs
		}
		for _, ps := range [][]Param{e.Inputs, e.Outputs} {
			names := map[string]bool{}
			for j := range ps {
				p := &ps[j]
				if !identRe.MatchString(p.Name) || pyKeywords[p.Name] || strings.HasPrefix(p.Name, "_") || strings.HasPrefix(p.Name, "model_") || reservedField[p.Name] {
					return usagef("invalid parameter name %q of endpoint %q: want a Python identifier", p.Name, e.Name)
				}
				if names[p.Name] {
					return usagef("duplicate parameter %q of endpoint %q", p.Name, e.Name)
				}
				names[p.Name] = true
				t, ok := pyTypes[strings.ToLower(strings.TrimSpace(p.Type))]
				if !ok {
					return usagef("invalid type %q of parameter %q: want int, float, str, bool, list or dict", p.Type, p.Name)
				}
				p.Type = t
			}
		}
	}
	return nil
}

func reservedRoute(p string) bool {
	switch p {
	case "/health", "/healthcheck", "/ready", "/docs", "/openapi.json":
		return true
	}
	return false
}

// camel turns snake/kebab names into CamelCase class names.
func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func repoCreateCmd(g *globals, use string) *cobra.Command {
	var name, tmpl, file, outDir, desc, author, ghUser, modelPath string
	ex := "hermes " + use
	if use == "create" {
		ex = "hermes repo create"
	}
	c := &cobra.Command{
		Use:   use,
		Short: "Generate a FastAPI model-serving repository from a template",
		Long: `Generates a serve repository <output>/<repository_name>: a FastAPI app whose endpoints run
preprocess → inference → postprocess around an MLflow model, a Dockerfile, tests, monitors tfvars and the
.hermes/ folder (serve_config.json, deployment_{local,uat,prod}.json) the other commands read.

--file is a YAML/JSON context with the original's cookiecutter keys: repository_name, repository_description,
repository_author, github_username, model_path, model_flavor, model_author, model_input_parameters,
model_output_parameters ([{name, type}]) and serve_endpoint_schemas ([{name, path, input_parameters,
output_parameters}]); flags override it. An existing target directory is never overwritten.
Note: here -o is the output directory, not the output format.`,
		Example: "  " + ex + " --name iris-classifier --model-path models:/iris/1\n  " + ex + " -f context.yaml -o ~/src",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := RepoContext{}
			if file != "" {
				m, err := readStructured(file)
				if err != nil {
					return err
				}
				b, _ := json.Marshal(m)
				if err := json.Unmarshal(b, &ctx); err != nil {
					return fmt.Errorf("parse %s: %w", file, err)
				}
			}
			for _, o := range []struct {
				v string
				p *string
			}{{name, &ctx.RepositoryName}, {desc, &ctx.RepositoryDescription},
				{author, &ctx.RepositoryAuthor}, {ghUser, &ctx.GithubUsername}, {modelPath, &ctx.ModelPath}} {
				if o.v != "" {
					*o.p = o.v
				}
			}
			if ctx.RepositoryName == "" {
				return usagef("required flag(s) --name not set (or repository_name in --file)")
			}
			if err := ctx.normalize(); err != nil {
				return err
			}
			src, err := templateFS(tmpl)
			if err != nil {
				return err
			}
			target := filepath.Join(outDir, ctx.RepositoryName)
			files, err := generate(src, target, &ctx)
			if err != nil {
				return err
			}
			out := g.opts.Out
			if out == nil {
				out = cmd.OutOrStdout()
			}
			fmt.Fprintf(out, "Created serve repository %s (%d files)\n", target, len(files))
			for _, f := range files {
				fmt.Fprintln(out, "  "+f)
			}
			fmt.Fprintf(out, "Next: cd %s && hermes create-serve --name %s --type api --space %s --description %q\n", target, ctx.RepositoryName, ctx.Space, ctx.RepositoryDescription)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&name, "name", "", "repository (and serve) name")
	f.StringVarP(&tmpl, "template", "t", defaultTemplate, "template: fastapi (built in) or a directory of template files")
	f.StringVarP(&file, "file", "f", "", "template context YAML/JSON (cookiecutter keys)")
	f.StringVarP(&outDir, "output", "o", ".", "directory the repository is created in")
	f.StringVar(&desc, "description", "", "repository description")
	f.StringVar(&author, "author", "", "repository author")
	f.StringVar(&ghUser, "github-username", "", "GitHub user or organisation of the repository")
	f.StringVar(&modelPath, "model-path", "", "MLflow model URI the server loads (default models:/<name>/latest)")
	return c
}

// templateFS resolves -t: the built-in name (also the original's path hermes/src/templates/fastapi_template/),
// or a directory.
func templateFS(name string) (fs.FS, error) {
	switch strings.TrimRight(name, "/") {
	case "", defaultTemplate, "fastapi_template", "hermes/src/templates/fastapi_template":
		return fs.Sub(templates, "templates/"+defaultTemplate)
	}
	st, err := os.Stat(name)
	if err != nil {
		return nil, usagef("unknown template %q: want %q or a template directory (%v)", name, defaultTemplate, err)
	}
	if !st.IsDir() {
		return nil, usagef("template %q is not a directory", name)
	}
	return os.DirFS(name), nil
}

type renderedFile struct {
	path string // slash-separated, relative
	data []byte
	mode os.FileMode
}

// render renders every file of src with ctx, in memory.
func render(src fs.FS, ctx *RepoContext) ([]renderedFile, error) {
	funcs := template.FuncMap{
		"camel": camel,
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}
	var files []renderedFile
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("template file %s is not a regular file", p)
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".tmpl") {
			t, err := template.New(path.Base(p)).Delims("[%", "%]").Funcs(funcs).Option("missingkey=error").Parse(string(b))
			if err != nil {
				return fmt.Errorf("template %s: %w", p, err)
			}
			var buf bytes.Buffer
			if err := t.Execute(&buf, ctx); err != nil {
				return fmt.Errorf("template %s: %w", p, err)
			}
			b = buf.Bytes()
		}
		out := strings.TrimSuffix(p, ".tmpl")
		mode := os.FileMode(0o644)
		if strings.HasSuffix(out, ".sh") {
			mode = 0o755
		}
		files = append(files, renderedFile{path: out, data: b, mode: mode})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, nil
}

// generate renders src into a temporary directory beside target and renames it into place, so a failure
// leaves nothing behind and an existing target is never touched. It returns the relative paths written.
func generate(src fs.FS, target string, ctx *RepoContext) ([]string, error) {
	if _, err := os.Lstat(target); err == nil {
		return nil, fmt.Errorf("%s already exists: refusing to overwrite it", target)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("check %s: %w", target, err)
	}
	files, err := render(src, ctx)
	if err != nil {
		return nil, fmt.Errorf("generate %s: %w", target, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("generate %s: the template has no files", target)
	}
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create a temporary directory in %s: %w", parent, err)
	}
	defer os.RemoveAll(tmp)
	written := make([]string, 0, len(files))
	for _, f := range files {
		dst := filepath.Join(tmp, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, fmt.Errorf("generate %s: %w", target, err)
		}
		if err := os.WriteFile(dst, f.data, f.mode); err != nil {
			return nil, fmt.Errorf("generate %s: %w", target, err)
		}
		written = append(written, f.path)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	// Rename would replace an empty directory created meanwhile: check again right before.
	if _, err := os.Lstat(target); err == nil {
		return nil, fmt.Errorf("%s already exists: refusing to overwrite it", target)
	}
	if err := os.Rename(tmp, target); err != nil {
		return nil, fmt.Errorf("move the generated repository to %s: %w", target, err)
	}
	return written, nil
}
