package charttest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/darwinml/darwin/pkg/testutil"
)

// TestRenderedConfigsLoad feeds each service's rendered ConfigMap to the real binary (-print.config), with the
// environment the Deployment sets, so a config key the binary does not know (the loader is strict) or a broken
// ${VAR} reference fails here rather than in a crash-looping pod.
func TestRenderedConfigsLoad(t *testing.T) {
	if testing.Short() {
		if testutil.RequireAll() {
			t.Fatalf("%s: cannot run here, and DARWIN_TEST_REQUIRE_ALL=1", "builds the service binaries")
		}
		t.Skip("builds the service binaries")
	}
	t.Parallel()
	out, err := render(t, loadValues(t, []string{"presets/training.yaml", "ci/mysql-ingress-on.yaml"}))
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	configs := map[string]string{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil || cm.Kind != "ConfigMap" {
			continue
		}
		configs[cm.Name] = cm.Data["config.yaml"]
	}
	repo := filepath.Dir(helmDir(t))
	bin := t.TempDir()
	for _, tc := range []struct {
		binary, pkg, configMap string
		env                    []string
		want                   []string
	}{
		{
			binary: "compute", pkg: "./services/compute/cmd/compute", configMap: "darwin-compute-config",
			env:  []string{"DARWIN_DB_DSN=mysql://darwin:pw@tcp(mysql.databases.svc:3306)/darwin", "POD_NAMESPACE=darwin"},
			want: []string{"http_addr: :8000", "grpc_addr: :9092", "cluster_manager_addr: darwin-cluster-manager:9091", "tcp(mysql.databases.svc:3306)/darwin"},
		},
		{
			binary: "cluster-manager", pkg: "./services/cluster-manager/cmd/cluster-manager", configMap: "darwin-cluster-manager-config",
			env:  []string{"POD_NAMESPACE=darwin"},
			want: []string{"http_addr: :8080", "grpc_addr: :9091", "driver: kubernetes", "namespace: darwin"},
		},
		{
			binary: "mlflow", pkg: "./services/mlflow/cmd/mlflow", configMap: "darwin-mlflow-config",
			env: []string{"DARWIN_DB_DSN=mysql://darwin:pw@tcp(mysql.databases.svc:3306)/darwin_mlflow", "POD_NAMESPACE=darwin"},
			want: []string{"http_addr: :5000", `grpc_addr: ""`, "tcp(mysql.databases.svc:3306)/darwin_mlflow",
				"artifact_store: /data/artifacts", "default_permission: EDIT", "data_dir: /data"},
		},
	} {
		t.Run(tc.binary, func(t *testing.T) {
			cfg, ok := configs[tc.configMap]
			if !ok {
				t.Fatalf("no ConfigMap %s rendered", tc.configMap)
			}
			exe := filepath.Join(bin, tc.binary)
			build := exec.CommandContext(t.Context(), "go", "build", "-o", exe, tc.pkg)
			build.Dir = repo
			if b, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build %s: %v\n%s", tc.pkg, err, b)
			}
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), exe, "-config.file="+file, "-print.config")
			cmd.Env = append(os.Environ(), tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s -print.config: %v\nstderr: %s\nconfig:\n%s", tc.binary, err, stderr.String(), cfg)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("effective %s config lacks %q:\n%s", tc.binary, w, stdout.String())
				}
			}
		})
	}
}

// TestMlflowChartConfigsLoad does the same for the mlflow chart's own variants: the config with app-layer
// settings and a tokens file (SQLite) and with an S3 artifact store (MySQL) loads in the real binary.
func TestMlflowChartConfigsLoad(t *testing.T) {
	if testing.Short() {
		if testutil.RequireAll() {
			t.Fatalf("%s: cannot run here, and DARWIN_TEST_REQUIRE_ALL=1", "builds the mlflow binary")
		}
		t.Skip("builds the mlflow binary")
	}
	t.Parallel()
	exe := filepath.Join(t.TempDir(), "mlflow")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", exe, "./services/mlflow/cmd/mlflow")
	build.Dir = filepath.Dir(helmDir(t))
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build mlflow: %v\n%s", err, b)
	}
	for _, tc := range []struct {
		variant, dsn string
		want         []string
	}{
		{"sqlite", "sqlite:///data/mlflow.db", []string{
			"artifact_store: /data/artifacts", "default_permission: READ", "- admin@example.com",
			"tokens_file: /etc/mlflow/tokens/tokens", "dsn: sqlite:///data/mlflow.db"}},
		{"mysql-s3", "mysql://darwin:pw@tcp(mysql.databases.svc:3306)/darwin_mlflow", []string{
			"artifact_store: s3://mlflow-artifacts/darwin?endpoint=http%3A%2F%2Fdarwin-s3%3A9000&region=us-east-1&path_style=true",
			"default_permission: EDIT", "tcp(mysql.databases.svc:3306)/darwin_mlflow"}},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			out, err := renderMlflow(t, []string{"ci/" + tc.variant + "-values.yaml"})
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			cm, ok := parseManifests(t, out).configMaps["darwin-mlflow-config"]
			if !ok {
				t.Fatal("no ConfigMap darwin-mlflow-config")
			}
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(cm.Data["config.yaml"]), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), exe, "-config.file="+file, "-print.config")
			cmd.Env = append(os.Environ(), "DARWIN_DB_DSN="+tc.dsn)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("mlflow -print.config: %v\nstderr: %s\nconfig:\n%s", err, stderr.String(), cm.Data["config.yaml"])
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("effective mlflow config lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

// TestDarwinInitValuesInstall renders the umbrella with what `darwin init` writes for each preset, so the
// written keys, the enabled services (mlflow in both presets, spec §13) and the migration Jobs of an
// in-release MySQL (no pre-install hook, which would run before MySQL exists) are what the chart accepts.
func TestDarwinInitValuesInstall(t *testing.T) {
	if testing.Short() {
		if testutil.RequireAll() {
			t.Fatalf("%s: cannot run here, and DARWIN_TEST_REQUIRE_ALL=1", "builds the darwin binary")
		}
		t.Skip("builds the darwin binary")
	}
	t.Parallel()
	exe := filepath.Join(t.TempDir(), "darwin")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", exe, "./services/darwin/cmd/darwin")
	build.Dir = filepath.Dir(helmDir(t))
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build darwin: %v\n%s", err, b)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		contains []string
		absent   []string
	}{
		{"training", []string{"--preset", "training"},
			[]string{"name: darwin-compute\n", "name: darwin-mlflow\n", "name: darwin-mlflow-migrate", "name: darwin-compute-migrate",
				"kind: StatefulSet\nmetadata:\n  name: darwin-mysql"},
			[]string{"helm.sh/hook"}},
		{"inference", []string{"--preset", "inference"},
			[]string{"name: darwin-cluster-manager\n", "name: darwin-mlflow\n", "name: darwin-mlflow-migrate",
				"name: darwin-ml-serve\n", "name: darwin-ml-serve-migrate", "name: darwin-artifact-builder\n",
				"name: darwin-artifact-builder-migrate", "CREATE DATABASE IF NOT EXISTS `darwin_ml_serve`;"},
			[]string{"helm.sh/hook", "name: darwin-compute\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "values.yaml")
			cmd := exec.CommandContext(t.Context(), exe, append([]string{"init", "-o", file}, tc.args...)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("darwin init %v: %v\n%s", tc.args, err, b)
			}
			vals, err := (&values.Options{ValueFiles: []string{file}}).MergeValues(getter.Providers{})
			if err != nil {
				t.Fatal(err)
			}
			out, err := render(t, vals)
			if err != nil {
				raw, _ := os.ReadFile(file)
				t.Fatalf("render with darwin init's values: %v\n%s", err, raw)
			}
			for _, s := range tc.contains {
				if !strings.Contains(out, s) {
					t.Errorf("rendered manifests lack %q", s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(out, s) {
					t.Errorf("rendered manifests contain %q", s)
				}
			}
		})
	}
}
