package charttest

import (
	"bytes"
	"os"
	"path/filepath"
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
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/darwinml/darwin/pkg/blob"
)

var (
	mlflowOnce sync.Once
	mlflowTgz  []byte
	mlflowErr  error
)

// loadMlflowChart loads the mlflow chart on its own (darwin-lib vendored), as `helm template helm/charts/mlflow`
// would, packaged once per test binary.
func loadMlflowChart(t testing.TB) *chart.Chart {
	t.Helper()
	mlflowOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "darwin-mlflow-chart-")
		if err != nil {
			mlflowErr = err
			return
		}
		defer os.RemoveAll(tmp)
		stage(t, tmp)
		ch, err := loader.Load(filepath.Join(tmp, "charts", "mlflow"))
		if err != nil {
			mlflowErr = err
			return
		}
		path, err := chartutil.Save(ch, tmp)
		if err != nil {
			mlflowErr = err
			return
		}
		mlflowTgz, mlflowErr = os.ReadFile(path)
	})
	if mlflowErr != nil {
		t.Fatalf("package mlflow chart: %v", mlflowErr)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(mlflowTgz))
	if err != nil {
		t.Fatalf("load mlflow chart: %v", err)
	}
	return ch
}

// renderMlflow renders the mlflow chart alone with values files relative to helm/charts/mlflow and --set
// overrides.
func renderMlflow(t testing.TB, files []string, set ...string) (string, error) {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(helmDir(t), "charts", "mlflow", f))
	}
	vals, err := (&values.Options{ValueFiles: paths, Values: set}).MergeValues(getter.Providers{})
	if err != nil {
		t.Fatalf("values %v: %v", files, err)
	}
	return renderChart(t, loadMlflowChart(t), vals)
}

// manifests splits a render into typed objects by kind and name.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	configMaps  map[string]*corev1.ConfigMap
	services    map[string]*corev1.Service
	claims      map[string]*corev1.PersistentVolumeClaim
	ingresses   map[string]*networkingv1.Ingress
	jobs        map[string]*batchv1.Job
	pdbs        map[string]*policyv1.PodDisruptionBudget
	kinds       []string
}

func parseManifests(t *testing.T, out string) manifests {
	t.Helper()
	m := manifests{
		deployments: map[string]*appsv1.Deployment{}, configMaps: map[string]*corev1.ConfigMap{},
		services: map[string]*corev1.Service{}, claims: map[string]*corev1.PersistentVolumeClaim{},
		ingresses: map[string]*networkingv1.Ingress{}, jobs: map[string]*batchv1.Job{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{},
	}
	for _, doc := range strings.Split(out, "\n---\n") {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("rendered document is not YAML: %v\n%s", err, doc)
		}
		if meta.Kind == "" {
			continue
		}
		m.kinds = append(m.kinds, meta.Kind+"/"+meta.Metadata.Name)
		var target any
		switch meta.Kind {
		case "Deployment":
			o := new(appsv1.Deployment)
			m.deployments[meta.Metadata.Name], target = o, o
		case "ConfigMap":
			o := new(corev1.ConfigMap)
			m.configMaps[meta.Metadata.Name], target = o, o
		case "Service":
			o := new(corev1.Service)
			m.services[meta.Metadata.Name], target = o, o
		case "PersistentVolumeClaim":
			o := new(corev1.PersistentVolumeClaim)
			m.claims[meta.Metadata.Name], target = o, o
		case "Ingress":
			o := new(networkingv1.Ingress)
			m.ingresses[meta.Metadata.Name], target = o, o
		case "Job":
			o := new(batchv1.Job)
			m.jobs[meta.Metadata.Name], target = o, o
		case "PodDisruptionBudget":
			o := new(policyv1.PodDisruptionBudget)
			m.pdbs[meta.Metadata.Name], target = o, o
		default:
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Fatalf("%s/%s does not decode strictly: %v", meta.Kind, meta.Metadata.Name, err)
		}
	}
	return m
}

// mlflowConfig decodes the mlflow section of the rendered config file.
type mlflowConfig struct {
	Server struct {
		HTTPAddr string `json:"http_addr"`
		GRPCAddr string `json:"grpc_addr"`
	} `json:"server"`
	MLflow struct {
		DataDir       string `json:"data_dir"`
		ArtifactStore string `json:"artifact_store"`
		DB            struct {
			DSN string `json:"dsn"`
		} `json:"db"`
		App struct {
			DefaultPermission string   `json:"default_permission"`
			Admins            []string `json:"admins"`
			TokensFile        string   `json:"tokens_file"`
		} `json:"app"`
	} `json:"mlflow"`
}

func renderedMlflowConfig(t *testing.T, m manifests) mlflowConfig {
	t.Helper()
	cm, ok := m.configMaps["darwin-mlflow-config"]
	if !ok {
		t.Fatalf("no ConfigMap darwin-mlflow-config in %v", m.kinds)
	}
	var cfg mlflowConfig
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("config.yaml: %v\n%s", err, cm.Data["config.yaml"])
	}
	return cfg
}

func volumeByName(vs []corev1.Volume, name string) *corev1.Volume {
	for i := range vs {
		if vs[i].Name == name {
			return &vs[i]
		}
	}
	return nil
}

// TestMlflowChartGolden renders the mlflow chart alone in its two shapes, SQLite with local artifacts and
// MySQL with S3, against helm/testdata/golden/mlflow-*.yaml (-update rewrites them).
func TestMlflowChartGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "mysql-s3"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := renderMlflow(t, []string{"ci/" + name + "-values.yaml"})
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			golden := filepath.Join(helmDir(t), "testdata", "golden", "mlflow-"+name+".yaml")
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

// TestMlflowChartSQLite pins what the SQLite golden is for: one pod with state on a ReadWriteOnce claim,
// replaced rather than rolled, the app-layer settings and the tokens Secret in the config.
func TestMlflowChartSQLite(t *testing.T) {
	t.Parallel()
	out, err := renderMlflow(t, []string{"ci/sqlite-values.yaml"})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	m := parseManifests(t, out)
	dep, ok := m.deployments["darwin-mlflow"]
	if !ok {
		t.Fatalf("no Deployment darwin-mlflow in %v", m.kinds)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", dep.Spec.Replicas)
	}
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q, want Recreate (a ReadWriteOnce claim cannot be shared during a rollout)", dep.Spec.Strategy.Type)
	}
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	if c.Image != "darwin/mlflow:0.1.0" {
		t.Errorf("image %q, want darwin/mlflow:0.1.0 (no registry or tag outside the umbrella)", c.Image)
	}
	if dsn := envVar(c.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.Value != "sqlite:///data/mlflow.db" {
		t.Errorf("DARWIN_DB_DSN %+v, want sqlite:///data/mlflow.db", dsn)
	}
	for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DARWIN_DB_PASSWORD"} {
		if envVar(c.Env, name) != nil {
			t.Errorf("env %s set for SQLite with local artifacts", name)
		}
	}
	data := volumeByName(spec.Volumes, "data")
	if data == nil || data.PersistentVolumeClaim == nil || data.PersistentVolumeClaim.ClaimName != "darwin-mlflow-data" {
		t.Errorf("data volume %+v, want claim darwin-mlflow-data", data)
	}
	tokens := volumeByName(spec.Volumes, "tokens")
	if tokens == nil || tokens.Secret == nil || tokens.Secret.SecretName != "mlflow-tokens" ||
		len(tokens.Secret.Items) != 1 || tokens.Secret.Items[0].Key != "tokens.json" || tokens.Secret.Items[0].Path != "tokens" {
		t.Errorf("tokens volume %+v, want Secret mlflow-tokens key tokens.json as file tokens", tokens)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm
	}
	if vm := mounts["tokens"]; vm.MountPath != "/etc/mlflow/tokens" || !vm.ReadOnly {
		t.Errorf("tokens mount %+v, want read-only /etc/mlflow/tokens", vm)
	}
	if vm := mounts["data"]; vm.MountPath != "/data" || vm.ReadOnly {
		t.Errorf("data mount %+v, want writable /data", vm)
	}

	pvc, ok := m.claims["darwin-mlflow-data"]
	if !ok {
		t.Fatalf("no PersistentVolumeClaim darwin-mlflow-data in %v", m.kinds)
	}
	if !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("claim access modes %v", pvc.Spec.AccessModes)
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "10Gi" {
		t.Errorf("claim size %s, want 10Gi", q.String())
	}

	cfg := renderedMlflowConfig(t, m)
	if cfg.Server.HTTPAddr != ":5000" || cfg.Server.GRPCAddr != "" {
		t.Errorf("server %+v, want :5000 and no gRPC", cfg.Server)
	}
	if cfg.MLflow.DataDir != "/data" || cfg.MLflow.ArtifactStore != "/data/artifacts" || cfg.MLflow.DB.DSN != "${DARWIN_DB_DSN}" {
		t.Errorf("mlflow config %+v", cfg.MLflow)
	}
	app := cfg.MLflow.App
	if app.DefaultPermission != "READ" || !slices.Equal(app.Admins, []string{"admin@example.com"}) || app.TokensFile != "/etc/mlflow/tokens/tokens" {
		t.Errorf("app config %+v", app)
	}

	if len(m.jobs) != 0 {
		t.Errorf("SQLite migrates on start, but Jobs rendered: %v", m.kinds)
	}
	ing, ok := m.ingresses["darwin-mlflow"]
	if !ok {
		t.Fatalf("no Ingress darwin-mlflow in %v", m.kinds)
	}
	if _, ok := ing.Annotations["nginx.ingress.kubernetes.io/rewrite-target"]; ok {
		t.Errorf("mlflow Ingress rewrites paths, but the binary serves /mlflow-lib and /mlflow-app itself: %v", ing.Annotations)
	}
	if got := ing.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"]; got != "512m" {
		t.Errorf("proxy-body-size %q, want 512m (artifact uploads)", got)
	}
	var paths []string
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		if p.PathType == nil || *p.PathType != networkingv1.PathTypePrefix || p.Backend.Service.Name != "darwin-mlflow" || p.Backend.Service.Port.Name != "http" {
			t.Errorf("ingress path %+v, want Prefix to darwin-mlflow:http", p)
		}
		paths = append(paths, p.Path)
	}
	if !slices.Equal(paths, []string{"/mlflow-lib", "/mlflow-app"}) {
		t.Errorf("ingress paths %v", paths)
	}
	svc := m.services["darwin-mlflow"]
	if svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 5000 || svc.Spec.Ports[0].Name != "http" {
		t.Errorf("service %+v, want one http port 5000", svc)
	}
}

// TestMlflowChartMySQLS3 pins the scalable shape: a migration hook, the DB password and the S3 key pair from
// Secrets, an S3 DSN the blob store accepts, no claim, and more than one replica.
func TestMlflowChartMySQLS3(t *testing.T) {
	t.Parallel()
	out, err := renderMlflow(t, []string{"ci/mysql-s3-values.yaml"})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	m := parseManifests(t, out)
	dep, ok := m.deployments["darwin-mlflow"]
	if !ok {
		t.Fatalf("no Deployment darwin-mlflow in %v", m.kinds)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", dep.Spec.Replicas)
	}
	if dep.Spec.Strategy.Type != "" {
		t.Errorf("strategy %q, want the default rolling update without a claim", dep.Spec.Strategy.Type)
	}
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	for name, key := range map[string][2]string{
		"DARWIN_DB_PASSWORD":    {"darwin-mysql", "mysql-password"},
		"AWS_ACCESS_KEY_ID":     {"darwin-s3", "access-key"},
		"AWS_SECRET_ACCESS_KEY": {"darwin-s3", "secret-key"},
	} {
		e := envVar(c.Env, name)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != key[0] || e.ValueFrom.SecretKeyRef.Key != key[1] {
			t.Errorf("env %s %+v, want secretKeyRef %s/%s", name, e, key[0], key[1])
		}
	}
	if dsn := envVar(c.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.Value != "mysql://darwin:$(DARWIN_DB_PASSWORD)@tcp(mysql.databases.svc:3306)/darwin_mlflow" {
		t.Errorf("DARWIN_DB_DSN %+v", dsn)
	}
	if data := volumeByName(spec.Volumes, "data"); data == nil || data.EmptyDir == nil {
		t.Errorf("data volume %+v, want an emptyDir (nothing stateful on it)", data)
	}
	if volumeByName(spec.Volumes, "tokens") != nil {
		t.Error("tokens volume without app.tokensSecret")
	}
	if len(m.claims) != 0 {
		t.Errorf("claims rendered for MySQL + S3: %v", m.kinds)
	}
	if _, ok := m.pdbs["darwin-mlflow"]; !ok {
		t.Errorf("no PodDisruptionBudget in %v", m.kinds)
	}

	job, ok := m.jobs["darwin-mlflow-migrate"]
	if !ok {
		t.Fatalf("no migration Job in %v", m.kinds)
	}
	if job.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" {
		t.Errorf("migration hook annotation %q", job.Annotations["helm.sh/hook"])
	}
	mc := job.Spec.Template.Spec.Containers[0]
	if !slices.Equal(mc.Args, []string{"migrate", "-mlflow.db.dsn=$(DARWIN_DB_DSN)"}) || mc.Image != "darwin/mlflow:0.1.0" {
		t.Errorf("migration container %q %q", mc.Image, mc.Args)
	}

	cfg := renderedMlflowConfig(t, m)
	const wantStore = "s3://mlflow-artifacts/darwin?endpoint=http%3A%2F%2Fdarwin-s3%3A9000&region=us-east-1&path_style=true"
	if cfg.MLflow.ArtifactStore != wantStore {
		t.Errorf("artifact_store %q, want %q", cfg.MLflow.ArtifactStore, wantStore)
	}
	if cfg.MLflow.App.DefaultPermission != "EDIT" || cfg.MLflow.App.TokensFile != "" || len(cfg.MLflow.App.Admins) != 0 {
		t.Errorf("app config %+v, want the defaults", cfg.MLflow.App)
	}
	// The store the server opens on start accepts the DSN (Open makes no network call).
	st, err := blob.Open(t.Context(), cfg.MLflow.ArtifactStore)
	if err != nil {
		t.Fatalf("blob.Open(%q): %v", cfg.MLflow.ArtifactStore, err)
	}
	if c, ok := st.(interface{ Close() error }); ok {
		_ = c.Close()
	}
}

// TestMlflowChartVariants covers the settings between the two goldens.
func TestMlflowChartVariants(t *testing.T) {
	t.Parallel()
	t.Run("persistence off uses an emptyDir and still one replica", func(t *testing.T) {
		t.Parallel()
		out, err := renderMlflow(t, nil, "persistence.enabled=false")
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		m := parseManifests(t, out)
		if len(m.claims) != 0 {
			t.Errorf("claims rendered with persistence off: %v", m.kinds)
		}
		if data := volumeByName(m.deployments["darwin-mlflow"].Spec.Template.Spec.Volumes, "data"); data == nil || data.EmptyDir == nil {
			t.Errorf("data volume %+v, want emptyDir", data)
		}
		if _, err := renderMlflow(t, nil, "persistence.enabled=false", "replicas=3"); err == nil || !strings.Contains(err.Error(), "replicas > 1") {
			t.Errorf("3 replicas on SQLite with persistence off: %v, want the single-replica error", err)
		}
	})
	t.Run("existing claim is used and not created", func(t *testing.T) {
		t.Parallel()
		out, err := renderMlflow(t, nil, "persistence.existingClaim=mine", "global.storageClass=fast")
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		m := parseManifests(t, out)
		if len(m.claims) != 0 {
			t.Errorf("claim created although existingClaim is set: %v", m.kinds)
		}
		data := volumeByName(m.deployments["darwin-mlflow"].Spec.Template.Spec.Volumes, "data")
		if data == nil || data.PersistentVolumeClaim == nil || data.PersistentVolumeClaim.ClaimName != "mine" {
			t.Errorf("data volume %+v, want claim mine", data)
		}
	})
	t.Run("storage class falls back to global", func(t *testing.T) {
		t.Parallel()
		out, err := renderMlflow(t, nil, "global.storageClass=fast")
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		pvc := parseManifests(t, out).claims["darwin-mlflow-data"]
		if pvc == nil || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "fast" {
			t.Errorf("claim %+v, want storageClassName fast", pvc)
		}
	})
	t.Run("DSN from a Secret migrates and needs no password", func(t *testing.T) {
		t.Parallel()
		out, err := renderMlflow(t, nil, "db.existingSecret=mlflow-dsn", "artifacts.type=s3", "artifacts.s3.bucket=arts", "replicas=2")
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		m := parseManifests(t, out)
		c := m.deployments["darwin-mlflow"].Spec.Template.Spec.Containers[0]
		if dsn := envVar(c.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.ValueFrom == nil || dsn.ValueFrom.SecretKeyRef == nil || dsn.ValueFrom.SecretKeyRef.Name != "mlflow-dsn" {
			t.Errorf("DARWIN_DB_DSN %+v, want from Secret mlflow-dsn", dsn)
		}
		// No key pair Secret: the SDK's default chain (e.g. IRSA) supplies credentials.
		if envVar(c.Env, "AWS_ACCESS_KEY_ID") != nil {
			t.Error("AWS_ACCESS_KEY_ID set without artifacts.s3.existingSecret")
		}
		if _, ok := m.jobs["darwin-mlflow-migrate"]; !ok {
			t.Errorf("no migration Job for a Secret DSN: %v", m.kinds)
		}
		if cfg := renderedMlflowConfig(t, m); cfg.MLflow.ArtifactStore != "s3://arts" {
			t.Errorf("artifact_store %q, want s3://arts", cfg.MLflow.ArtifactStore)
		}
	})
	t.Run("db disabled falls back to SQLite on the claim", func(t *testing.T) {
		t.Parallel()
		out, err := renderMlflow(t, nil, "db.enabled=false", "global.db.driver=mysql", "artifacts.type=s3", "artifacts.s3.bucket=arts")
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		m := parseManifests(t, out)
		if _, ok := m.claims["darwin-mlflow-data"]; !ok || len(m.jobs) != 0 {
			t.Errorf("want the data claim and no migration Job without a DSN: %v", m.kinds)
		}
		if _, err := renderMlflow(t, nil, "db.enabled=false", "global.db.driver=mysql", "artifacts.type=s3",
			"artifacts.s3.bucket=arts", "replicas=2"); err == nil || !strings.Contains(err.Error(), "(SQLite keeps state on one volume)") {
			t.Errorf("2 replicas without a database: %v, want the single-replica error", err)
		}
	})
	t.Run("ingress off globally", func(t *testing.T) {
		t.Parallel()
		out, err := renderMlflow(t, nil, "global.ingress.enabled=false")
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		if m := parseManifests(t, out); len(m.ingresses) != 0 {
			t.Errorf("Ingress rendered with global.ingress.enabled=false: %v", m.kinds)
		}
	})
}

// TestUmbrellaMlflowScalesOnMySQLAndS3 renders the umbrella with mlflow on MySQL and S3 at three replicas and
// autoscaling, which the single-replica rule must allow.
func TestUmbrellaMlflowScalesOnMySQLAndS3(t *testing.T) {
	t.Parallel()
	out, err := render(t, loadValues(t, []string{"presets/training.yaml", "ci/mysql-ingress-on.yaml"},
		"mlflow.artifacts.type=s3", "mlflow.artifacts.s3.bucket=arts", "mlflow.replicas=3",
		"mlflow.autoscaling.enabled=true", "mlflow.autoscaling.minReplicas=2"))
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	if !strings.Contains(out, "kind: HorizontalPodAutoscaler\nmetadata:\n  name: darwin-mlflow") {
		t.Error("no HPA for darwin-mlflow")
	}
	if strings.Contains(out, "kind: PersistentVolumeClaim") {
		t.Error("claim rendered for MySQL + S3")
	}
}
