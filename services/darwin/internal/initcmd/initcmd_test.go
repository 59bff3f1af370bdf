package initcmd

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestResolveDependencies(t *testing.T) {
	cases := []struct {
		features []string
		want     map[string]string
	}{
		{[]string{"compute"}, map[string]string{"compute": Direct, "cluster-manager": Direct}},
		{[]string{"workspace"}, map[string]string{"workspace": Direct, "compute": Dependency, "cluster-manager": Dependency}},
		{[]string{"workflow"}, map[string]string{"workflow": Direct, "compute": Dependency, "cluster-manager": Dependency}},
		// serve pulls artifact-builder (its own feature), cluster-manager and mlflow.
		{[]string{"serve"}, map[string]string{"ml-serve": Direct, "artifact-builder": Direct, "cluster-manager": Dependency,
			"mlflow": Dependency}},
		// workflow → compute → cluster-manager (recursive; also direct).
		{[]string{"chronos"}, map[string]string{"chronos": Direct}},
		{[]string{"feature_store"}, map[string]string{"feature-store": Direct}},
		// A service both chosen and pulled in is direct.
		{[]string{"workspace", "compute"}, map[string]string{"workspace": Direct, "compute": Direct, "cluster-manager": Direct}},
		{[]string{"catalog"}, map[string]string{"catalog": Direct}},
	}
	for _, c := range cases {
		got, err := Resolve(c.features)
		if err != nil {
			t.Fatalf("Resolve(%v): %v", c.features, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Resolve(%v) = %v, want %v", c.features, got, c.want)
		}
	}
	if _, err := Resolve([]string{"spark"}); err == nil || !strings.Contains(err.Error(), `unknown feature "spark"`) {
		t.Errorf("Resolve(spark) error = %v", err)
	}
}

func TestCatalogIsConsistent(t *testing.T) {
	for _, f := range Features {
		for _, s := range f.Services {
			if _, ok := serviceByName(s); !ok {
				t.Errorf("feature %s names unknown service %s", f.Name, s)
			}
		}
	}
	known := map[string]bool{}
	for _, ds := range Datastores {
		known[ds] = true
	}
	for _, s := range Services {
		for _, r := range s.Requires {
			if _, ok := serviceByName(r); !ok {
				t.Errorf("%s requires unknown service %s", s.Name, r)
			}
		}
		for _, ds := range s.Datastores {
			if !known[ds] {
				t.Errorf("%s needs unknown datastore %s", s.Name, ds)
			}
		}
	}
	for name := range Built {
		if _, ok := serviceByName(name); !ok {
			t.Errorf("built service %s is not in Services", name)
		}
	}
}

// values is the parsed shape of the written file.
type values = map[string]any

func enabled(t *testing.T, v values, path ...string) bool {
	t.Helper()
	var cur any = v
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%v: %v is not a mapping", path, cur)
		}
		cur, ok = m[p]
		if !ok {
			t.Fatalf("values lack %s", strings.Join(path, "."))
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		t.Fatalf("%s is %v, want a mapping", strings.Join(path, "."), cur)
	}
	b, ok := m["enabled"].(bool)
	if !ok {
		t.Fatalf("%s.enabled = %v, want a bool", strings.Join(path, "."), m["enabled"])
	}
	return b
}

// run executes the command with args and stdin, returning stdout and the
// parsed values file.
func run(t *testing.T, stdin string, args ...string) (string, values, string) {
	t.Helper()
	outFile := filepath.Join(t.TempDir(), "nested", "values.yaml")
	var out, errOut bytes.Buffer
	cmd := NewCommand(&out, &errOut, strings.NewReader(stdin))
	cmd.SetArgs(append(args, "-o", outFile))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("darwin init %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), errOut.String())
	}
	raw, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatalf("values file not written: %v", err)
	}
	var v values
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("written values are not YAML: %v\n%s", err, raw)
	}
	return out.String(), v, string(raw)
}

// enabledServices lists the services whose enabled flag is true; every service
// must be present in the file either way.
func enabledServices(t *testing.T, v values) []string {
	t.Helper()
	var on []string
	for _, s := range Services {
		if enabled(t, v, s.Name) {
			on = append(on, s.Name)
		}
	}
	return on
}

func TestPresetTraining(t *testing.T) {
	out, v, raw := run(t, "", "--preset", "training")
	// Spec §13: Training = Compute + MLflow, all three built.
	if got := enabledServices(t, v); !reflect.DeepEqual(got, []string{"compute", "cluster-manager", "mlflow"}) {
		t.Errorf("training enables %v, want compute + cluster-manager + mlflow", got)
	}
	if !enabled(t, v, "datastores", "mysql") {
		t.Errorf("compute and mlflow need MySQL but datastores.mysql.enabled is false:\n%s", raw)
	}
	for _, ds := range []string{"kafka", "cassandra", "s3"} {
		if enabled(t, v, "datastores", ds) {
			t.Errorf("datastores.%s enabled for training", ds)
		}
	}
	if strings.Contains(out, "not built yet") {
		t.Errorf("every training service is built but a notice was printed:\n%s", out)
	}
	if !strings.Contains(raw, "mlflow:\n  enabled: true  # direct\n  migration:\n    hook: false") {
		t.Errorf("mlflow is not enabled as a direct choice with an in-release migration Job:\n%s", raw)
	}
	if !strings.Contains(raw, "  mysql:\n    enabled: true  # needed by compute, mlflow\n") {
		t.Errorf("MySQL not attributed to compute and mlflow:\n%s", raw)
	}
}

func TestPresetInference(t *testing.T) {
	out, v, raw := run(t, "", "--preset", "inference")
	// Spec §13: Inference = Serve + MLflow; serve pulls artifact-builder, and ml-serve pulls cluster-manager
	// and mlflow. All of them are built.
	want := []string{"cluster-manager", "mlflow", "ml-serve", "artifact-builder"}
	if got := enabledServices(t, v); !reflect.DeepEqual(got, want) {
		t.Errorf("inference enables %v, want %v", got, want)
	}
	if strings.Contains(out, "not built yet") {
		t.Errorf("every inference service is built but a notice was printed:\n%s", out)
	}
	if enabled(t, v, "compute") {
		t.Error("inference enabled compute")
	}
	// mlflow, ml-serve and artifact-builder keep their state in MySQL; the Go port's ml-serve and
	// artifact-builder need no S3 (images go to a container registry).
	if !enabled(t, v, "datastores", "mysql") {
		t.Error("datastores.mysql disabled although mlflow, ml-serve and artifact-builder need it")
	}
	for _, ds := range []string{"s3", "kafka", "cassandra"} {
		if enabled(t, v, "datastores", ds) {
			t.Errorf("datastores.%s enabled although no enabled service needs it", ds)
		}
	}
	if g, ok := v["global"].(map[string]any); !ok || g["db"].(map[string]any)["driver"] != "mysql" {
		t.Errorf("global.db.driver not mysql: %v", v["global"])
	}
	if !strings.Contains(out, "cluster-manager          dependency enabled") {
		t.Errorf("summary does not mark cluster-manager as a dependency:\n%s", out)
	}
	// The in-release MySQL does not exist when pre-install hooks run: every migrating service uses a plain Job.
	for _, svc := range []string{"mlflow", "ml-serve", "artifact-builder"} {
		if !strings.Contains(raw, svc+":\n  enabled: true  # direct\n  migration:\n    hook: false") {
			t.Errorf("%s is not enabled as a direct choice with an in-release migration Job:\n%s", svc, raw)
		}
	}
	if !strings.Contains(raw, "  mysql:\n    enabled: true  # needed by mlflow, ml-serve, artifact-builder\n") {
		t.Errorf("MySQL not attributed to mlflow, ml-serve and artifact-builder:\n%s", raw)
	}
}

func TestAll(t *testing.T) {
	out, v, _ := run(t, "", "--all")
	if got := enabledServices(t, v); !reflect.DeepEqual(got, []string{"compute", "cluster-manager", "feature-store", "mlflow", "ml-serve", "artifact-builder"}) {
		t.Errorf("--all enables %v, want the built services", got)
	}
	for _, s := range Services {
		if Built[s.Name] {
			continue
		}
		if !strings.Contains(out, s.Name+" is not built yet; it is left disabled") {
			t.Errorf("--all: no notice for %s", s.Name)
		}
	}
	if !enabled(t, v, "datastores", "mysql") {
		t.Error("--all: datastores.mysql disabled")
	}
}

func TestDevModeAnswers(t *testing.T) {
	// Features in order: compute, workspace, feature_store, mlflow, serve, catalog, chronos, workflow.
	// "maybe" is invalid and asked again; the last question hits end of input → default (no).
	out, v, raw := run(t, "n\nyes\nN\nmaybe\ny\n\nno\nn\n", "--dev-mode")
	if !strings.Contains(out, "Please answer y or n.") {
		t.Errorf("invalid answer not re-asked:\n%s", out)
	}
	if n := strings.Count(out, "Enable "); n != len(Features)+1 {
		t.Errorf("asked %d questions, want %d (one per feature + one repeat):\n%s", n, len(Features)+1, out)
	}
	// workspace chosen → pulls compute + cluster-manager (workspace is not built); mlflow chosen and built.
	if got := enabledServices(t, v); !reflect.DeepEqual(got, []string{"compute", "cluster-manager", "mlflow"}) {
		t.Errorf("dev-mode enables %v", got)
	}
	if !strings.Contains(raw, "compute:\n  enabled: true  # dependency\n") {
		t.Errorf("compute should be enabled as a dependency of workspace:\n%s", raw)
	}
	if !strings.Contains(raw, "# Features: workspace, mlflow\n") {
		t.Errorf("features header wrong:\n%s", raw)
	}
	if !strings.Contains(out, "workspace is not built yet; it is left disabled") {
		t.Error("no notice for workspace")
	}
	if strings.Contains(out, "mlflow is not built yet") {
		t.Errorf("mlflow is built but reported as not built:\n%s", out)
	}
}

func TestDevModeDefaultsFromPreset(t *testing.T) {
	// Empty answers take the preset's choices (compute + mlflow for training).
	_, _, raw := run(t, strings.Repeat("\n", len(Features)), "--dev-mode", "--preset", "training")
	if !strings.Contains(raw, "# Features: compute, mlflow\n") {
		t.Errorf("dev-mode with preset defaults:\n%s", raw)
	}
}

func TestDevModeNothingChosen(t *testing.T) {
	var out, errOut bytes.Buffer
	cmd := NewCommand(&out, &errOut, strings.NewReader(strings.Repeat("n\n", len(Features))))
	cmd.SetArgs([]string{"--dev-mode", "-o", filepath.Join(t.TempDir(), "v.yaml")})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "nothing to deploy") {
		t.Fatalf("all-no dev mode: err = %v", err)
	}
}

func TestInteractivePreset(t *testing.T) {
	cases := []struct {
		stdin, wantFeatures string
		invalid             int
		defaulted           bool
	}{
		{"2\n", "mlflow, serve", 0, false},
		{"inference\n", "mlflow, serve", 0, false},
		{"x\n1\n", "compute, mlflow", 1, false},
		{"x\n9\n2\n", "mlflow, serve", 2, false},
		// three invalid answers → training; the fourth line is never read.
		{"a\nb\nc\n2\n", "compute, mlflow", 3, true},
		// end of input → training.
		{"", "compute, mlflow", 0, true},
	}
	for _, c := range cases {
		out, _, raw := run(t, c.stdin)
		if !strings.Contains(out, "1) Training (Compute + MLFlow)") || !strings.Contains(out, "2) Inference (Serve + MLFlow)") {
			t.Errorf("menu missing:\n%s", out)
		}
		if !strings.Contains(raw, "# Features: "+c.wantFeatures+"\n") {
			t.Errorf("stdin %q: values header:\n%s\nwant features %s", c.stdin, raw, c.wantFeatures)
		}
		if got := strings.Count(out, "Invalid choice"); got != c.invalid {
			t.Errorf("stdin %q: %d invalid-choice messages, want %d", c.stdin, got, c.invalid)
		}
		if got := strings.Contains(out, "using the default: Training"); got != c.defaulted {
			t.Errorf("stdin %q: defaulted = %v, want %v\n%s", c.stdin, got, c.defaulted, out)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"--preset", "serving"}, {"--all", "--preset", "training"}, {"--all", "--dev-mode"}, {"extra"}} {
		var out, errOut bytes.Buffer
		cmd := NewCommand(&out, &errOut, strings.NewReader(""))
		cmd.SetArgs(append(args, "-o", filepath.Join(t.TempDir(), "v.yaml")))
		if err := cmd.Execute(); err == nil {
			t.Errorf("darwin init %v succeeded", args)
		}
	}
}

func TestWrittenYAML(t *testing.T) {
	_, _, raw := run(t, "", "--preset", "training")
	want := "# Written by `darwin init` (--preset training) for the umbrella chart helm/darwin.\n" +
		"# Features: compute, mlflow\n" +
		"compute:\n  enabled: true  # direct\n" +
		"  migration:\n    hook: false  # MySQL comes with this release: migrate in a Job that retries\n" +
		"cluster-manager:\n  enabled: true  # direct\n" +
		"workspace:\n  enabled: false\n" +
		"feature-store:\n  enabled: false\n" +
		"mlflow:\n  enabled: true  # direct\n" +
		"  migration:\n    hook: false  # MySQL comes with this release: migrate in a Job that retries\n" +
		"ml-serve:\n  enabled: false\n" +
		"artifact-builder:\n  enabled: false\n" +
		"catalog:\n  enabled: false\n" +
		"chronos:\n  enabled: false\n" +
		"workflow:\n  enabled: false\n" +
		"global:\n  db:\n    driver: mysql\n" +
		"datastores:\n" +
		"  mysql:\n    enabled: true  # needed by compute, mlflow\n" +
		"  kafka:\n    enabled: false\n" +
		"  cassandra:\n    enabled: false\n" +
		"  s3:\n    enabled: false\n"
	if raw != want {
		t.Errorf("values file:\n%s\nwant:\n%s", raw, want)
	}
}

func TestDefaultOutputAndStdout(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(wd) })
	var out bytes.Buffer
	cmd := NewCommand(&out, &out, strings.NewReader(""))
	cmd.SetArgs([]string{"--preset", "training"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".setup", "values.yaml")); err != nil {
		t.Fatalf("default output not written: %v", err)
	}
	if !strings.Contains(out.String(), "helm upgrade --install darwin ./helm/darwin -n darwin --create-namespace -f .setup/values.yaml") {
		t.Errorf("no install hint:\n%s", out.String())
	}

	out.Reset()
	cmd = NewCommand(&out, &out, strings.NewReader(""))
	cmd.SetArgs([]string{"--all", "-o", "-"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "datastores:\n  mysql:\n    enabled: true") {
		t.Errorf("-o - did not print the values:\n%s", out.String())
	}
}

// TestValuesMatchUmbrellaChart checks that every key written exists in the
// umbrella chart's own values.yaml: its values.schema.json forbids any other
// (additionalProperties: false), so a stray key would fail `helm install`.
func TestValuesMatchUmbrellaChart(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "helm", "darwin", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart map[string]any
	if err := yaml.Unmarshal(raw, &chart); err != nil {
		t.Fatal(err)
	}
	var check func(path string, ours, theirs map[string]any)
	check = func(path string, ours, theirs map[string]any) {
		for k, v := range ours {
			tv, ok := theirs[k]
			if !ok {
				t.Errorf("written key %s%s is not in helm/darwin/values.yaml", path, k)
				continue
			}
			if om, ok := v.(map[string]any); ok {
				tm, ok := tv.(map[string]any)
				if !ok {
					t.Errorf("%s%s is a mapping here but not in the chart", path, k)
					continue
				}
				check(path+k+".", om, tm)
			}
		}
	}
	for _, args := range [][]string{{"--preset", "training"}, {"--preset", "inference"}, {"--all"}} {
		_, v, _ := run(t, "", args...)
		check("", v, chart)
	}
	// Every service the chart knows is one init can write.
	for k := range chart {
		if k == "global" || k == "datastores" {
			continue
		}
		if _, ok := serviceByName(k); !ok {
			t.Errorf("chart service %s is unknown to darwin init", k)
		}
	}
}
