package charttest

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/darwinml/darwin/pkg/testutil"
)

// randomToken matches the admin token the ml-serve chart generates when none is given (data key admin-token).
var randomToken = regexp.MustCompile(`(?m)^  admin-token: "[A-Za-z0-9+/=]+"$`)

// maskRandomTokens replaces generated admin tokens, which differ on every render, so goldens stay stable.
// Fixed tokens (adminToken.value) are masked too; the tests below check them on the decoded Secret.
func maskRandomTokens(s string) string {
	return randomToken.ReplaceAllString(s, `  admin-token: "<random>"`)
}

var serviceCharts sync.Map // chart name -> *chartArchive

type chartArchive struct {
	once sync.Once
	tgz  []byte
	err  error
}

// loadServiceChart loads helm/charts/<name> on its own (darwin-lib vendored), packaged once per test binary.
func loadServiceChart(t testing.TB, name string) *chart.Chart {
	t.Helper()
	v, _ := serviceCharts.LoadOrStore(name, new(chartArchive))
	a := v.(*chartArchive)
	a.once.Do(func() {
		tmp, err := os.MkdirTemp("", "darwin-"+name+"-chart-")
		if err != nil {
			a.err = err
			return
		}
		defer os.RemoveAll(tmp)
		stage(t, tmp)
		ch, err := loader.Load(filepath.Join(tmp, "charts", name))
		if err != nil {
			a.err = err
			return
		}
		path, err := chartutil.Save(ch, tmp)
		if err != nil {
			a.err = err
			return
		}
		a.tgz, a.err = os.ReadFile(path)
	})
	if a.err != nil {
		t.Fatalf("package %s chart: %v", name, a.err)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(a.tgz))
	if err != nil {
		t.Fatalf("load %s chart: %v", name, err)
	}
	return ch
}

// renderService renders helm/charts/<name> alone with values files relative to that chart and --set overrides.
func renderService(t testing.TB, name string, files []string, set ...string) (string, error) {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(helmDir(t), "charts", name, f))
	}
	vals, err := (&values.Options{ValueFiles: paths, Values: set}).MergeValues(getter.Providers{})
	if err != nil {
		t.Fatalf("values %v: %v", files, err)
	}
	return renderChart(t, loadServiceChart(t, name), vals)
}

// secrets returns the rendered Secrets by name (parseManifests skips them).
func secrets(t *testing.T, out string) map[string]*corev1.Secret {
	t.Helper()
	m := map[string]*corev1.Secret{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var s corev1.Secret
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil || s.Kind != "Secret" {
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
			t.Fatalf("Secret does not decode strictly: %v", err)
		}
		m[s.Name] = &s
	}
	return m
}

// TestServeChartsGolden renders ml-serve and artifact-builder alone in their SQLite and MySQL shapes against
// helm/testdata/golden/<chart>-<variant>.yaml (-update rewrites them).
func TestServeChartsGolden(t *testing.T) {
	t.Parallel()
	for _, svc := range []string{"ml-serve", "artifact-builder"} {
		for _, variant := range []string{"sqlite", "mysql"} {
			t.Run(svc+"-"+variant, func(t *testing.T) {
				t.Parallel()
				got, err := renderService(t, svc, []string{"ci/" + variant + "-values.yaml"})
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				golden := filepath.Join(helmDir(t), "testdata", "golden", svc+"-"+variant+".yaml")
				if *update {
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
}

// checkServeDeployment asserts what both serving charts share: one container on http 8000, the config
// mounted read-only, probes, non-root, and the data volume.
func checkServeDeployment(t *testing.T, m manifests, name, image string, replicas int32, claim string) *appsv1.Deployment {
	t.Helper()
	dep, ok := m.deployments[name]
	if !ok {
		t.Fatalf("no Deployment %s in %v", name, m.kinds)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != replicas {
		t.Errorf("%s replicas %v, want %d", name, dep.Spec.Replicas, replicas)
	}
	wantStrategy := appsv1.DeploymentStrategyType("")
	if claim != "" {
		wantStrategy = appsv1.RecreateDeploymentStrategyType
	}
	if dep.Spec.Strategy.Type != wantStrategy {
		t.Errorf("%s strategy %q, want %q", name, dep.Spec.Strategy.Type, wantStrategy)
	}
	checkDeployment(t, dep, image, 8000, 0, name)
	data := volumeByName(dep.Spec.Template.Spec.Volumes, "data")
	switch {
	case data == nil:
		t.Errorf("%s has no data volume", name)
	case claim != "" && (data.PersistentVolumeClaim == nil || data.PersistentVolumeClaim.ClaimName != claim):
		t.Errorf("%s data volume %+v, want claim %s", name, data, claim)
	case claim == "" && data.EmptyDir == nil:
		t.Errorf("%s data volume %+v, want an emptyDir", name, data)
	}
	if claim != "" {
		if _, ok := m.claims[claim]; !ok && claim == name+"-data" {
			t.Errorf("no PersistentVolumeClaim %s in %v", claim, m.kinds)
		}
	} else if len(m.claims) != 0 {
		t.Errorf("%s: claims rendered on MySQL: %v", name, m.kinds)
	}
	ing, ok := m.ingresses[name]
	if !ok {
		t.Fatalf("no Ingress %s in %v", name, m.kinds)
	}
	prefix := strings.TrimPrefix(name, "darwin-")
	if p := ing.Spec.Rules[0].HTTP.Paths; len(p) != 1 || p[0].Path != "/"+prefix+"(/|$)(.*)" || p[0].Backend.Service.Name != name ||
		ing.Annotations["nginx.ingress.kubernetes.io/rewrite-target"] != "/$2" {
		t.Errorf("%s ingress %+v %v, want /%s(/|$)(.*) rewritten to /$2", name, p, ing.Annotations, prefix)
	}
	if svc := m.services[name]; svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8000 {
		t.Errorf("service %s %+v, want one port 8000", name, svc)
	}
	return dep
}

func renderedConfig(t *testing.T, m manifests, name string) map[string]any {
	t.Helper()
	cm, ok := m.configMaps[name+"-config"]
	if !ok {
		t.Fatalf("no ConfigMap %s-config in %v", name, m.kinds)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	return cfg
}

func TestMlServeChartSQLite(t *testing.T) {
	t.Parallel()
	out, err := renderService(t, "ml-serve", []string{"ci/sqlite-values.yaml"})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	m := parseManifests(t, out)
	dep := checkServeDeployment(t, m, "darwin-ml-serve", "darwin/ml-serve:0.1.0", 1, "darwin-ml-serve-data")
	c := dep.Spec.Template.Spec.Containers[0]
	if dsn := envVar(c.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.Value != "sqlite:///data/ml-serve.db" {
		t.Errorf("DARWIN_DB_DSN %+v, want sqlite:///data/ml-serve.db", dsn)
	}
	tok := envVar(c.Env, "DARWIN_ADMIN_TOKEN")
	if tok == nil || tok.ValueFrom == nil || tok.ValueFrom.SecretKeyRef == nil ||
		tok.ValueFrom.SecretKeyRef.Name != "darwin-ml-serve-admin-token" || tok.ValueFrom.SecretKeyRef.Key != "admin-token" {
		t.Errorf("DARWIN_ADMIN_TOKEN %+v, want secretKeyRef darwin-ml-serve-admin-token/admin-token", tok)
	}
	sec := secrets(t, out)["darwin-ml-serve-admin-token"]
	if sec == nil || string(sec.Data["admin-token"]) != "golden-admin-token" {
		t.Fatalf("admin token Secret %+v, want admin-token=golden-admin-token", sec)
	}
	if sec.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("admin token Secret annotations %v, want resource-policy keep", sec.Annotations)
	}
	// The token is only in the Secret, never in the ConfigMap.
	if cm := m.configMaps["darwin-ml-serve-config"]; strings.Contains(cm.Data["config.yaml"], "golden-admin-token") {
		t.Errorf("admin token leaked into the ConfigMap:\n%s", cm.Data["config.yaml"])
	}
	ms, _ := renderedConfig(t, m, "darwin-ml-serve")["ml_serve"].(map[string]any)
	for k, want := range map[string]any{
		"bootstrap_admin_token": "${DARWIN_ADMIN_TOKEN}", "cluster_manager_addr": "darwin-cluster-manager:9091",
		"mlflow_url": "http://darwin-mlflow:5000/mlflow-lib", "artifact_builder_url": "http://darwin-artifact-builder:8000",
		"data_dir": "/data",
	} {
		if ms[k] != want {
			t.Errorf("ml_serve.%s = %v, want %v", k, ms[k], want)
		}
	}
	if len(m.jobs) != 0 {
		t.Errorf("SQLite migrates on start, but Jobs rendered: %v", m.kinds)
	}
}

func TestMlServeChartMySQL(t *testing.T) {
	t.Parallel()
	out, err := renderService(t, "ml-serve", []string{"ci/mysql-values.yaml"})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	m := parseManifests(t, out)
	dep := checkServeDeployment(t, m, "darwin-ml-serve", "darwin/ml-serve:0.1.0", 2, "")
	c := dep.Spec.Template.Spec.Containers[0]
	if dsn := envVar(c.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.Value != "mysql://darwin:$(DARWIN_DB_PASSWORD)@tcp(mysql.databases.svc:3306)/darwin_ml_serve" {
		t.Errorf("DARWIN_DB_DSN %+v", dsn)
	}
	if tok := envVar(c.Env, "DARWIN_ADMIN_TOKEN"); tok == nil || tok.ValueFrom == nil || tok.ValueFrom.SecretKeyRef == nil ||
		tok.ValueFrom.SecretKeyRef.Name != "ml-serve-admin" || tok.ValueFrom.SecretKeyRef.Key != "token" {
		t.Errorf("DARWIN_ADMIN_TOKEN %+v, want the existing Secret ml-serve-admin/token", tok)
	}
	if s := secrets(t, out); len(s) != 0 {
		t.Errorf("chart created Secrets although adminToken.existingSecret is set: %v", s)
	}
	job, ok := m.jobs["darwin-ml-serve-migrate"]
	if !ok {
		t.Fatalf("no migration Job in %v", m.kinds)
	}
	if job.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" {
		t.Errorf("migration hook annotation %q", job.Annotations["helm.sh/hook"])
	}
	if mc := job.Spec.Template.Spec.Containers[0]; !slices.Equal(mc.Args, []string{"migrate", "-ml-serve.db.dsn=$(DARWIN_DB_DSN)"}) {
		t.Errorf("migration args %q", mc.Args)
	}
	if _, ok := m.pdbs["darwin-ml-serve"]; !ok {
		t.Errorf("no PodDisruptionBudget in %v", m.kinds)
	}
}

// TestMlServeAdminTokenGenerated: without a value the chart makes a fresh 40-character token per install.
func TestMlServeAdminTokenGenerated(t *testing.T) {
	t.Parallel()
	var tokens []string
	for range 2 {
		out, err := renderService(t, "ml-serve", nil)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		sec := secrets(t, out)["darwin-ml-serve-admin-token"]
		if sec == nil {
			t.Fatal("no admin token Secret")
		}
		tok := string(sec.Data["admin-token"])
		if len(tok) != 40 || strings.Trim(tok, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			t.Errorf("generated token %q, want 40 alphanumerics", tok)
		}
		if masked := maskRandomTokens(out); strings.Contains(masked, base64.StdEncoding.EncodeToString([]byte(tok))) {
			t.Error("maskRandomTokens left the generated token in place")
		}
		tokens = append(tokens, tok)
	}
	if tokens[0] == tokens[1] {
		t.Errorf("two installs got the same token %q", tokens[0])
	}
}

func TestArtifactBuilderChartSQLite(t *testing.T) {
	t.Parallel()
	out, err := renderService(t, "artifact-builder", []string{"ci/sqlite-values.yaml"})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	m := parseManifests(t, out)
	dep := checkServeDeployment(t, m, "darwin-artifact-builder", "darwin/artifact-builder:0.1.0", 1, "darwin-artifact-builder-data")
	c := dep.Spec.Template.Spec.Containers[0]
	if dsn := envVar(c.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.Value != "sqlite:///data/artifact-builder.db" {
		t.Errorf("DARWIN_DB_DSN %+v", dsn)
	}
	if envVar(c.Env, "DOCKER_CONFIG") != nil || volumeByName(dep.Spec.Template.Spec.Volumes, "registry-auth") != nil {
		t.Error("registry credentials wired without registryAuth.existingSecret")
	}
	ab, _ := renderedConfig(t, m, "darwin-artifact-builder")["artifact_builder"].(map[string]any)
	if ab["registry"] != "registry.example.com/darwin" || ab["concurrency"] != float64(1) || ab["worker"] != true {
		t.Errorf("artifact_builder config %v", ab)
	}
	if len(m.jobs) != 0 || len(secrets(t, out)) != 0 {
		t.Errorf("SQLite: unexpected Jobs or Secrets: %v", m.kinds)
	}
}

func TestArtifactBuilderChartMySQL(t *testing.T) {
	t.Parallel()
	out, err := renderService(t, "artifact-builder", []string{"ci/mysql-values.yaml"})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	m := parseManifests(t, out)
	dep := checkServeDeployment(t, m, "darwin-artifact-builder", "darwin/artifact-builder:0.1.0", 3, "")
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	if dsn := envVar(c.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.Value != "mysql://darwin:$(DARWIN_DB_PASSWORD)@tcp(mysql.databases.svc:3306)/darwin_artifact_builder" {
		t.Errorf("DARWIN_DB_DSN %+v", dsn)
	}
	if e := envVar(c.Env, "DOCKER_CONFIG"); e == nil || e.Value != "/etc/artifact-builder/docker" {
		t.Errorf("DOCKER_CONFIG %+v", e)
	}
	v := volumeByName(spec.Volumes, "registry-auth")
	if v == nil || v.Secret == nil || v.Secret.SecretName != "registry-push" || len(v.Secret.Items) != 1 ||
		v.Secret.Items[0].Key != ".dockerconfigjson" || v.Secret.Items[0].Path != "config.json" {
		t.Errorf("registry-auth volume %+v", v)
	}
	var mounted bool
	for _, vm := range c.VolumeMounts {
		mounted = mounted || (vm.Name == "registry-auth" && vm.MountPath == "/etc/artifact-builder/docker" && vm.ReadOnly)
	}
	if !mounted {
		t.Errorf("registry-auth not mounted read-only at /etc/artifact-builder/docker: %+v", c.VolumeMounts)
	}
	job, ok := m.jobs["darwin-artifact-builder-migrate"]
	if !ok {
		t.Fatalf("no migration Job in %v", m.kinds)
	}
	if mc := job.Spec.Template.Spec.Containers[0]; !slices.Equal(mc.Args, []string{"migrate", "-artifact-builder.db.dsn=$(DARWIN_DB_DSN)"}) ||
		job.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" {
		t.Errorf("migration Job args %q annotations %v", mc.Args, job.Annotations)
	}
}

func TestServeChartVariants(t *testing.T) {
	t.Parallel()
	for _, svc := range []string{"ml-serve", "artifact-builder"} {
		t.Run(svc+" persistence off keeps one replica on an emptyDir", func(t *testing.T) {
			t.Parallel()
			out, err := renderService(t, svc, nil, "persistence.enabled=false")
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			m := parseManifests(t, out)
			if len(m.claims) != 0 {
				t.Errorf("claims with persistence off: %v", m.kinds)
			}
			if _, err := renderService(t, svc, nil, "persistence.enabled=false", "replicas=2"); err == nil ||
				!strings.Contains(err.Error(), svc+".replicas > 1 needs global.db.driver=mysql") {
				t.Errorf("2 replicas on SQLite: %v, want the single-replica error", err)
			}
		})
		t.Run(svc+" DSN from a Secret scales and migrates", func(t *testing.T) {
			t.Parallel()
			out, err := renderService(t, svc, nil, "db.existingSecret="+svc+"-dsn", "replicas=2", "autoscaling.enabled=true")
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			m := parseManifests(t, out)
			if _, ok := m.jobs["darwin-"+svc+"-migrate"]; !ok || len(m.claims) != 0 {
				t.Errorf("want a migration Job and no claim for a Secret DSN: %v", m.kinds)
			}
			if !strings.Contains(out, "kind: HorizontalPodAutoscaler") {
				t.Error("no HPA with autoscaling on a server database")
			}
		})
		t.Run(svc+" existing claim and storage class", func(t *testing.T) {
			t.Parallel()
			out, err := renderService(t, svc, nil, "persistence.existingClaim=mine", "global.storageClass=fast")
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			m := parseManifests(t, out)
			data := volumeByName(m.deployments["darwin-"+svc].Spec.Template.Spec.Volumes, "data")
			if len(m.claims) != 0 || data == nil || data.PersistentVolumeClaim == nil || data.PersistentVolumeClaim.ClaimName != "mine" {
				t.Errorf("existingClaim: claims %v, data volume %+v", m.kinds, data)
			}
			out, err = renderService(t, svc, nil, "global.storageClass=fast")
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			pvc := parseManifests(t, out).claims["darwin-"+svc+"-data"]
			if pvc == nil || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "fast" {
				t.Errorf("claim %+v, want storageClassName fast", pvc)
			}
		})
		t.Run(svc+" ingress off globally", func(t *testing.T) {
			t.Parallel()
			out, err := renderService(t, svc, nil, "global.ingress.enabled=false")
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if m := parseManifests(t, out); len(m.ingresses) != 0 {
				t.Errorf("Ingress rendered with global.ingress.enabled=false: %v", m.kinds)
			}
		})
	}
}

// TestServeChartConfigsLoad feeds the rendered ConfigMaps to the real binaries (-print.config, strict loader)
// with the environment the Deployments set, so the config keys and ${VAR} references are ones they accept.
func TestServeChartConfigsLoad(t *testing.T) {
	if testing.Short() {
		if testutil.RequireAll() {
			t.Fatalf("%s: cannot run here, and DARWIN_TEST_REQUIRE_ALL=1", "builds the ml-serve and artifact-builder binaries")
		}
		t.Skip("builds the ml-serve and artifact-builder binaries")
	}
	t.Parallel()
	bin := t.TempDir()
	for _, tc := range []struct {
		svc, variant string
		env, want    []string
	}{
		{"ml-serve", "sqlite", []string{"DARWIN_DB_DSN=sqlite:///data/ml-serve.db", "DARWIN_ADMIN_TOKEN=tok-from-secret"},
			[]string{"http_addr: :8000", `grpc_addr: ""`, "dsn: sqlite:///data/ml-serve.db", "bootstrap_admin_token: tok-from-secret",
				"cluster_manager_addr: darwin-cluster-manager:9091", "mlflow_url: http://darwin-mlflow:5000/mlflow-lib",
				"artifact_builder_url: http://darwin-artifact-builder:8000"}},
		{"artifact-builder", "mysql", []string{"DARWIN_DB_DSN=mysql://darwin:pw@tcp(mysql.databases.svc:3306)/darwin_artifact_builder"},
			[]string{"http_addr: :8000", "tcp(mysql.databases.svc:3306)/darwin_artifact_builder", "registry: localhost:5000/darwin",
				"worker: true", "concurrency: 2", "public_url: http://localhost/artifact-builder"}},
	} {
		t.Run(tc.svc, func(t *testing.T) {
			exe := filepath.Join(bin, tc.svc)
			build := exec.CommandContext(t.Context(), "go", "build", "-o", exe, "./services/"+tc.svc+"/cmd/"+tc.svc)
			build.Dir = filepath.Dir(helmDir(t))
			if b, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build %s: %v\n%s", tc.svc, err, b)
			}
			out, err := renderService(t, tc.svc, []string{"ci/" + tc.variant + "-values.yaml"})
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			cm, ok := parseManifests(t, out).configMaps["darwin-"+tc.svc+"-config"]
			if !ok {
				t.Fatal("no ConfigMap")
			}
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(cm.Data["config.yaml"]), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), exe, "-config.file="+file, "-print.config")
			cmd.Env = append(os.Environ(), tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s -print.config: %v\nstderr: %s\nconfig:\n%s", tc.svc, err, stderr.String(), cm.Data["config.yaml"])
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("effective %s config lacks %q:\n%s", tc.svc, w, stdout.String())
				}
			}
		})
	}
}
