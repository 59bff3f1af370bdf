package charttest

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden manifests under helm/testdata/golden")

// helmDir is the helm/ directory of the repository.
func helmDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("runtime.Caller failed")
	}
	return filepath.Dir(filepath.Dir(file))
}

// stage copies helm/ into root and builds the dependencies of every chart there with Helm's dependency
// manager (what `helm dependency build` does: the library into each service chart, the service and datastore
// charts into the umbrella), so the repository itself is never touched.
func stage(t testing.TB, root string) {
	t.Helper()
	src := helmDir(t)
	for _, d := range []string{"charts", "darwin"} {
		if err := copyDir(filepath.Join(src, d), filepath.Join(root, d)); err != nil {
			t.Fatalf("stage charts: %v", err)
		}
	}
	if err := vendorDeps(filepath.Join(root, "darwin")); err != nil {
		t.Fatalf("stage charts: %v", err)
	}
}

var (
	umbrellaOnce sync.Once
	umbrellaTgz  []byte
	umbrellaErr  error
)

// umbrellaArchive packages the staged umbrella chart (dependencies included) once per test binary.
func umbrellaArchive(t testing.TB) []byte {
	t.Helper()
	umbrellaOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "darwin-helm-")
		if err != nil {
			umbrellaErr = err
			return
		}
		defer os.RemoveAll(tmp)
		stage(t, tmp)
		ch, err := loader.Load(filepath.Join(tmp, "darwin"))
		if err != nil {
			umbrellaErr = err
			return
		}
		path, err := chartutil.Save(ch, tmp)
		if err != nil {
			umbrellaErr = err
			return
		}
		umbrellaTgz, umbrellaErr = os.ReadFile(path)
	})
	if umbrellaErr != nil {
		t.Fatalf("package umbrella: %v", umbrellaErr)
	}
	return umbrellaTgz
}

// vendorDeps builds the file:// dependencies of the chart in dir into dir/charts, theirs first.
func vendorDeps(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return err
	}
	var meta chart.Metadata
	if err := yaml.Unmarshal(data, &meta); err != nil {
		return fmt.Errorf("%s/Chart.yaml: %w", dir, err)
	}
	for _, dep := range meta.Dependencies {
		rel, ok := strings.CutPrefix(dep.Repository, "file://")
		if !ok {
			return fmt.Errorf("%s: dependency %s is not a file:// dependency", dir, dep.Name)
		}
		if err := vendorDeps(filepath.Join(dir, rel)); err != nil {
			return err
		}
	}
	if len(meta.Dependencies) == 0 {
		return nil
	}
	var out bytes.Buffer
	m := &downloader.Manager{
		Out:              &out,
		ChartPath:        dir,
		SkipUpdate:       true,
		Getters:          getter.Providers{},
		RepositoryConfig: filepath.Join(filepath.Dir(dir), ".helm-repositories.yaml"),
		RepositoryCache:  filepath.Join(filepath.Dir(dir), ".helm-cache"),
	}
	if err := m.Update(); err != nil {
		return fmt.Errorf("helm dependency update %s: %w\n%s", dir, err, out.String())
	}
	return nil
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// chartDirs stages the charts into a temporary directory and lists them (library, services, datastores, umbrella).
func chartDirs(t testing.TB) map[string]string {
	root := t.TempDir()
	stage(t, root)
	return map[string]string{
		"darwin-lib":       filepath.Join(root, "charts", "darwin-lib"),
		"compute":          filepath.Join(root, "charts", "compute"),
		"cluster-manager":  filepath.Join(root, "charts", "cluster-manager"),
		"mlflow":           filepath.Join(root, "charts", "mlflow"),
		"ml-serve":         filepath.Join(root, "charts", "ml-serve"),
		"artifact-builder": filepath.Join(root, "charts", "artifact-builder"),
		"feature-store":    filepath.Join(root, "charts", "feature-store"),
		"datastores":       filepath.Join(root, "charts", "datastores"),
		"darwin":           filepath.Join(root, "darwin"),
	}
}

// loadValues merges values files (relative to helm/darwin) and --set style overrides like `helm -f ... --set`.
func loadValues(t testing.TB, files []string, set ...string) map[string]any {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(helmDir(t), "darwin", f))
	}
	vals, err := (&values.Options{ValueFiles: paths, Values: set}).MergeValues(getter.Providers{})
	if err != nil {
		t.Fatalf("values %v: %v", files, err)
	}
	return vals
}

func loadUmbrella(t testing.TB) *chart.Chart {
	t.Helper()
	// A fresh copy per render: installing prunes disabled dependencies from the *chart.Chart.
	ch, err := loader.LoadArchive(bytes.NewReader(umbrellaArchive(t)))
	if err != nil {
		t.Fatalf("load umbrella: %v", err)
	}
	return ch
}

// render renders the umbrella like `helm template darwin helm/darwin -n darwin`, hooks included, and returns the
// manifests in a stable order.
func render(t testing.TB, vals map[string]any) (string, error) {
	t.Helper()
	return renderChart(t, loadUmbrella(t), vals)
}

// renderChart renders ch as release "darwin" in namespace "darwin", hooks included, in a stable order.
func renderChart(t testing.TB, ch *chart.Chart, vals map[string]any) (string, error) {
	t.Helper()
	inst := action.NewInstall(&action.Configuration{})
	inst.DryRun = true
	inst.DryRunOption = "client"
	inst.ClientOnly = true
	inst.Replace = true
	inst.ReleaseName = "darwin"
	inst.Namespace = "darwin"
	inst.KubeVersion = &chartutil.KubeVersion{Version: "v1.37.2", Major: "1", Minor: "37"}
	rel, err := inst.Run(ch, vals)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	b.WriteString(strings.TrimSpace(rel.Manifest))
	b.WriteString("\n")
	sort.Slice(rel.Hooks, func(i, j int) bool { return rel.Hooks[i].Path < rel.Hooks[j].Path })
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "---\n# Source: %s (hook: %v)\n%s\n", h.Path, h.Events, strings.TrimSpace(h.Manifest))
	}
	return b.String(), nil
}

func TestLintEveryChart(t *testing.T) {
	t.Parallel()
	for name, dir := range chartDirs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := action.NewLint()
			l.Strict = true
			l.Namespace = "darwin"
			res := l.Run([]string{dir}, nil)
			for _, m := range res.Messages {
				t.Logf("lint %s: %s", name, m)
			}
			if len(res.Errors) > 0 {
				t.Fatalf("lint %s: %v", name, res.Errors)
			}
			if res.TotalChartsLinted != 1 {
				t.Fatalf("lint %s: linted %d charts, want 1", name, res.TotalChartsLinted)
			}
		})
	}
}

// matrix is every values combination kept as a golden file: each preset, SQLite vs MySQL, ingress on/off.
var matrix = []struct {
	name  string
	files []string
}{
	{"default", nil},
	{"training", []string{"presets/training.yaml"}},
	{"inference", []string{"presets/inference.yaml"}},
	{"all", []string{"presets/all.yaml"}},
	{"training-sqlite-ingress-off", []string{"presets/training.yaml", "ci/sqlite-ingress-off.yaml"}},
	{"training-mysql-ingress-on", []string{"presets/training.yaml", "ci/mysql-ingress-on.yaml"}},
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range matrix {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := render(t, loadValues(t, tc.files))
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			got = maskRandomTokens(got)
			golden := filepath.Join(helmDir(t), "testdata", "golden", tc.name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run go test ./charttest -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("rendered manifests differ from %s (rerun with -update if intended):\n%s", golden, firstDiff(string(want), got))
			}
		})
	}
}

// firstDiff shows the first differing line with some context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %q\n  got:  %q", i+1, wl, gl)
		}
	}
	return "(no line difference)"
}

// TestRenderContents checks the properties the golden files are meant to pin, so a careless -update cannot
// silently drop them.
func TestRenderContents(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		files       []string
		contains    []string
		notContains []string
	}{
		{
			name:  "training has both services behind the original ingress paths",
			files: []string{"presets/training.yaml"},
			contains: []string{
				`image: "localhost:5000/darwin/compute:latest"`,
				`image: "localhost:5000/darwin/cluster-manager:latest"`,
				`path: "/compute(/|$)(.*)"`,
				`path: "/cluster-manager(/|$)(.*)"`,
				`nginx.ingress.kubernetes.io/rewrite-target: /$2`,
				`value: "sqlite:///data/compute.db"`,
				"readOnlyRootFilesystem: true",
				// mlflow (spec §13: training = compute + MLflow) on SQLite, state on its claim, no rewrite.
				`image: "localhost:5000/darwin/mlflow:latest"`,
				"path: \"/mlflow-lib\"\n            pathType: Prefix",
				"path: \"/mlflow-app\"\n            pathType: Prefix",
				`value: "sqlite:///data/mlflow.db"`,
				"kind: PersistentVolumeClaim\nmetadata:\n  name: darwin-mlflow-data",
				"claimName: darwin-mlflow-data",
				"strategy:\n    type: Recreate",
				"artifact_store: /data/artifacts",
			},
			notContains: []string{"kind: Job", "darwin-mysql\n", "kind: StatefulSet"},
		},
		{
			name:        "ingress off renders no Ingress",
			files:       []string{"presets/training.yaml", "ci/sqlite-ingress-off.yaml"},
			contains:    []string{"name: darwin-compute"},
			notContains: []string{"kind: Ingress"},
		},
		{
			name:  "external mysql runs the migration as a pre-install hook",
			files: []string{"presets/training.yaml", "ci/mysql-ingress-on.yaml"},
			contains: []string{
				"helm.sh/hook: pre-install,pre-upgrade",
				`- "-compute.db.dsn=$(DARWIN_DB_DSN)"`,
				`value: "mysql://darwin:$(DARWIN_DB_PASSWORD)@tcp(mysql.databases.svc:3306)/darwin"`,
				"name: darwin-mlflow-migrate",
				`- "-mlflow.db.dsn=$(DARWIN_DB_DSN)"`,
				`value: "mysql://darwin:$(DARWIN_DB_PASSWORD)@tcp(mysql.databases.svc:3306)/darwin_mlflow"`,
			},
		},
		{
			name:  "inference has serving without compute",
			files: []string{"presets/inference.yaml"},
			contains: []string{
				"name: darwin-cluster-manager", "name: darwin-mlflow",
				`image: "localhost:5000/darwin/ml-serve:latest"`,
				`image: "localhost:5000/darwin/artifact-builder:latest"`,
				`path: "/ml-serve(/|$)(.*)"`,
				`path: "/artifact-builder(/|$)(.*)"`,
				`value: "sqlite:///data/ml-serve.db"`,
				`value: "sqlite:///data/artifact-builder.db"`,
				"kind: Secret\nmetadata:\n  name: darwin-ml-serve-admin-token",
				"cluster_manager_addr: darwin-cluster-manager:9091",
				"mlflow_url: http://darwin-mlflow:5000/mlflow-lib",
				"artifact_builder_url: http://darwin-artifact-builder:8000",
				"claimName: darwin-ml-serve-data",
				"claimName: darwin-artifact-builder-data",
			},
			notContains: []string{"darwin-compute", "kind: Job"},
		},
		{
			name:  "all runs datastores and a plain migration Job",
			files: []string{"presets/all.yaml"},
			contains: []string{
				"kind: StatefulSet\nmetadata:\n  name: darwin-mysql",
				"name: darwin-kafka", "name: darwin-cassandra", "name: darwin-s3",
				"CREATE DATABASE IF NOT EXISTS `darwin_mlflow`;",
				"name: darwin-compute-migrate",
				"name: darwin-mlflow-migrate",
				"name: darwin-ml-serve-migrate",
				"name: darwin-artifact-builder-migrate",
				"CREATE DATABASE IF NOT EXISTS `darwin_ml_serve`;",
				"CREATE DATABASE IF NOT EXISTS `darwin_artifact_builder`;",
				"name: darwin-feature-store-migrate",
				"CREATE DATABASE IF NOT EXISTS `darwin_feature_store`;",
				`value: "mysql://darwin:$(DARWIN_DB_PASSWORD)@tcp(darwin-mysql:3306)/darwin_feature_store"`,
				`image: "localhost:5000/darwin/feature-store:latest"`,
				"path: \"/feature-store-admin\"\n            pathType: Prefix",
				`value: "mysql://darwin:$(DARWIN_DB_PASSWORD)@tcp(darwin-mysql:3306)/darwin_ml_serve"`,
				`value: "mysql://darwin:$(DARWIN_DB_PASSWORD)@tcp(darwin-mysql:3306)/darwin_artifact_builder"`,
				"kind: HorizontalPodAutoscaler", "kind: PodDisruptionBudget",
			},
			notContains: []string{"helm.sh/hook"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := render(t, loadValues(t, tc.files))
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			for _, s := range tc.contains {
				if !strings.Contains(out, s) {
					t.Errorf("rendered manifests lack %q", s)
				}
			}
			for _, s := range tc.notContains {
				if strings.Contains(out, s) {
					t.Errorf("rendered manifests contain %q", s)
				}
			}
		})
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		set     []string
		wantErr string
	}{
		{"replicas not a number", []string{"compute.replicas=x"}, "replicas"},
		{"unknown cluster-manager driver", []string{"cluster-manager.config.cluster_manager.driver=docker"}, "driver"},
		{"unknown db driver", []string{"global.db.driver=oracle"}, "driver"},
		{"unknown top-level key", []string{"computee.enabled=true"}, "computee"},
		{"port out of range", []string{"compute.ports.http=70000"}, "http"},
		{"bad datastore quantity", []string{"datastores.mysql.storage=lots"}, "storage"},
		{"service not built yet", []string{"chronos.enabled=true"}, "chronos.enabled: the chronos service is not built yet"},
		{"feature-store unknown key", []string{"feature-store.enabled=true", "feature-store.replica=2"}, "replica"},
		{"feature-store unknown online backend", []string{"feature-store.enabled=true", "feature-store.online.backend=memcached"}, "backend"},
		{"feature-store sqlite with several replicas", []string{"feature-store.enabled=true", "feature-store.replicas=2"}, "feature-store.replicas > 1 needs global.db.driver=mysql, feature-store.online.backend=redis or cassandra and feature-store.offline.enabled=false (state on one volume: the SQLite metadata, the Pebble online store, the offline history)"},
		{"another service not built yet", []string{"workflow.enabled=true"}, "workflow service is not built yet"},
		{"ml-serve unknown key", []string{"ml-serve.enabled=true", "ml-serve.replica=2"}, "replica"},
		{"ml-serve port out of range", []string{"ml-serve.enabled=true", "ml-serve.ports.http=70000"}, "http"},
		{"ml-serve mlflow url not a URL", []string{"ml-serve.enabled=true", "ml-serve.config.ml_serve.mlflow_url=darwin-mlflow"}, "mlflow_url"},
		{"ml-serve cluster-manager addr with scheme", []string{"ml-serve.enabled=true", "ml-serve.config.ml_serve.cluster_manager_addr=http://cm:9091"}, "cluster_manager_addr"},
		{"ml-serve bad ingress prefix", []string{"ml-serve.enabled=true", "ml-serve.ingress.prefix=/ml-serve"}, "prefix"},
		{"ml-serve admin token key", []string{"ml-serve.enabled=true", "ml-serve.adminToken.key=a b"}, "key"},
		{"ml-serve sqlite with several replicas", []string{"ml-serve.enabled=true", "ml-serve.replicas=2"}, "ml-serve.replicas > 1 needs global.db.driver=mysql"},
		{"ml-serve sqlite autoscaled", []string{"ml-serve.enabled=true", "ml-serve.autoscaling.enabled=true"}, "ml-serve.autoscaling.enabled needs global.db.driver=mysql"},
		{"artifact-builder unknown key", []string{"artifact-builder.enabled=true", "artifact-builder.registry=x"}, "registry"},
		{"artifact-builder concurrency zero", []string{"artifact-builder.enabled=true", "artifact-builder.config.artifact_builder.concurrency=0"}, "concurrency"},
		{"artifact-builder public url not a URL", []string{"artifact-builder.enabled=true", "artifact-builder.config.artifact_builder.public_url=localhost/ab"}, "public_url"},
		{"artifact-builder sqlite with several replicas", []string{"artifact-builder.enabled=true", "artifact-builder.replicas=3"}, "artifact-builder.replicas > 1 needs global.db.driver=mysql"},
		{"artifact-builder sqlite autoscaled", []string{"artifact-builder.enabled=true", "artifact-builder.autoscaling.enabled=true"}, "artifact-builder.autoscaling.enabled needs"},
		{"sqlite with several replicas", []string{"compute.replicas=2"}, "needs global.db.driver=mysql"},
		{"mlflow unknown key", []string{"mlflow.replica=2"}, "replica"},
		{"mlflow unknown artifact store", []string{"mlflow.artifacts.type=gcs"}, "type"},
		{"mlflow s3 without bucket", []string{"mlflow.artifacts.type=s3"}, "bucket"},
		{"mlflow s3 endpoint not a URL", []string{"mlflow.artifacts.type=s3", "mlflow.artifacts.s3.bucket=b1b", "mlflow.artifacts.s3.endpoint=darwin-s3:9000"}, "endpoint"},
		{"mlflow bad default permission", []string{"mlflow.app.defaultPermission=WRITE"}, "defaultPermission"},
		{"mlflow admin not an email", []string{"mlflow.app.admins[0]=root"}, "admins"},
		{"mlflow ingress path without slash", []string{"mlflow.ingress.paths[0]=mlflow-lib"}, "paths"},
		{"mlflow port out of range", []string{"mlflow.ports.http=0"}, "http"},
		{"mlflow sqlite with several replicas", []string{"mlflow.replicas=2"}, "mlflow.replicas > 1 needs global.db.driver=mysql and mlflow.artifacts.type=s3 (SQLite with local artifacts"},
		{"mlflow local artifacts with several replicas", []string{"global.db.driver=mysql", "mlflow.replicas=2"}, "(a local artifact directory keeps state on one volume)"},
		{"mlflow sqlite autoscaled", []string{"mlflow.artifacts.type=s3", "mlflow.artifacts.s3.bucket=b1b", "mlflow.autoscaling.enabled=true"}, "mlflow.autoscaling.enabled needs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := render(t, loadValues(t, []string{"presets/training.yaml"}, tc.set...))
			if err == nil {
				t.Fatalf("render with %v succeeded, want an error mentioning %q", tc.set, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("render with %v: error %q does not mention %q", tc.set, err, tc.wantErr)
			}
		})
	}
	// The same values without the bad override render fine, so the failures above come from the overrides.
	if _, err := render(t, loadValues(t, []string{"presets/training.yaml"})); err != nil {
		t.Fatalf("baseline render: %v", err)
	}
}

// TestServiceChartsAreThin keeps each service chart template a one-line include of the library, so shared
// behaviour lives in darwin-lib only.
func TestServiceChartsAreThin(t *testing.T) {
	t.Parallel()
	// mlflow's own templates: a Deployment with the artifact store's Secret env, the tokens volume and the
	// data claim, the claim itself, an Ingress for two prefixes without rewrite, the config with app settings
	// merged in, and the helpers behind them. Everything else is the library's.
	// ml-serve and artifact-builder own their Deployment (admin token Secret env / registry credentials volume,
	// SQLite claim), the claim, ml-serve's admin token Secret and the helpers behind them.
	own := map[string]bool{
		"mlflow/deployment.yaml": true, "mlflow/pvc.yaml": true, "mlflow/ingress.yaml": true,
		"mlflow/configmap.yaml": true, "mlflow/_helpers.tpl": true,
		"ml-serve/deployment.yaml": true, "ml-serve/pvc.yaml": true, "ml-serve/secret.yaml": true, "ml-serve/_helpers.tpl": true,
		"artifact-builder/deployment.yaml": true, "artifact-builder/pvc.yaml": true, "artifact-builder/_helpers.tpl": true,
		// feature-store, like mlflow: the data claim (SQLite + Pebble), two prefixes without rewrite, online store
		// and consumer settings merged into the config, a Secret-backed Redis URL.
		"feature-store/deployment.yaml": true, "feature-store/pvc.yaml": true, "feature-store/ingress.yaml": true,
		"feature-store/configmap.yaml": true, "feature-store/_helpers.tpl": true,
	}
	for _, svc := range []string{"compute", "cluster-manager", "mlflow", "ml-serve", "artifact-builder", "feature-store"} {
		files, err := filepath.Glob(filepath.Join(helmDir(t), "charts", svc, "templates", "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s templates: %v (%d files)", svc, err, len(files))
		}
		for _, f := range files {
			if own[svc+"/"+filepath.Base(f)] {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			line := strings.TrimSpace(string(data))
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, `{{ include "darwin-lib.`) || !strings.HasSuffix(line, `" . }}`) {
				t.Errorf("%s is not a one-line darwin-lib include: %q", f, line)
			}
		}
	}
}
