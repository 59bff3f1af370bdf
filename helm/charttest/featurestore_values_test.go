package charttest

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// fsConfig decodes the parts of the rendered feature-store config file the chart fills in.
type fsConfig struct {
	Server struct {
		HTTPAddr string `json:"http_addr"`
		GRPCAddr string `json:"grpc_addr"`
	} `json:"server"`
	FeatureStore struct {
		DataDir  string `json:"data_dir"`
		CacheTTL string `json:"cache_ttl"`
		DB       struct {
			DSN         string `json:"dsn"`
			AutoMigrate *bool  `json:"auto_migrate"`
		} `json:"db"`
		Online    map[string]any `json:"online"`
		Offline   map[string]any `json:"offline"`
		Consumer  map[string]any `json:"consumer"`
		Populator *struct {
			AllowedDirs []string `json:"allowed_dirs"`
		} `json:"populator"`
	} `json:"feature_store"`
	raw string
}

// renderedFSConfig decodes config.yaml of the darwin-feature-store-config ConfigMap.
func renderedFSConfig(t *testing.T, m manifests) fsConfig {
	t.Helper()
	cm, ok := m.configMaps[fsName+"-config"]
	if !ok {
		t.Fatalf("no ConfigMap %s-config in %v", fsName, m.kinds)
	}
	cfg := fsConfig{raw: cm.Data["config.yaml"]}
	if err := yaml.Unmarshal([]byte(cfg.raw), &cfg); err != nil {
		t.Fatalf("config.yaml: %v\n%s", err, cfg.raw)
	}
	return cfg
}

// renderFS renders the feature-store chart alone and decodes it, failing the test on a render error.
func renderFS(t *testing.T, files []string, set ...string) (manifests, string) {
	t.Helper()
	out, err := renderService(t, "feature-store", files, set...)
	if err != nil {
		t.Fatalf("render %v %v: %v", files, set, err)
	}
	return parseManifests(t, out), out
}

// fsDeployment returns the Deployment and its single container.
func fsDeployment(t *testing.T, m manifests) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	dep, ok := m.deployments[fsName]
	if !ok {
		t.Fatalf("no Deployment %s in %v", fsName, m.kinds)
	}
	if n := len(dep.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment has %d containers, want 1", n)
	}
	return dep, dep.Spec.Template.Spec.Containers[0]
}

func envNames(env []corev1.EnvVar) []string {
	var names []string
	for _, e := range env {
		names = append(names, e.Name)
	}
	return names
}

// checkSecretEnv asserts env var name is read from Secret secret, key key.
func checkSecretEnv(t *testing.T, env []corev1.EnvVar, name, secret, key string) {
	t.Helper()
	e := envVar(env, name)
	if e == nil || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Name != secret || e.ValueFrom.SecretKeyRef.Key != key {
		t.Errorf("%s = %+v, want from Secret %s key %s", name, e, secret, key)
	}
}

// checkFSPodShape asserts what both CI variants share: the binary started with the mounted config, the http port,
// the probes on /healthz and /readyz, the three volumes mounted where the config expects them, and the config
// checksum annotation matching the ConfigMap.
func checkFSPodShape(t *testing.T, m manifests, dep *appsv1.Deployment, c corev1.Container) {
	t.Helper()
	if c.Name != "feature-store" || c.Image != "darwin/feature-store:0.1.0" {
		t.Errorf("container %s image %s", c.Name, c.Image)
	}
	if len(c.Command) != 0 || !slices.Equal(c.Args, []string{"-config.file=/etc/darwin/config.yaml"}) {
		t.Errorf("command %q args %q, want the image entrypoint with -config.file=/etc/darwin/config.yaml", c.Command, c.Args)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 || c.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("ports %+v, want http 8080/TCP", c.Ports)
	}
	if ns := envVar(c.Env, "POD_NAMESPACE"); ns == nil || ns.ValueFrom == nil || ns.ValueFrom.FieldRef == nil || ns.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE %+v", ns)
	}
	for _, p := range []struct {
		what           string
		probe          *corev1.Probe
		path           string
		period, failAt int32
	}{
		{"startup", c.StartupProbe, "/healthz", 5, 30},
		{"liveness", c.LivenessProbe, "/healthz", 10, 3},
		{"readiness", c.ReadinessProbe, "/readyz", 5, 3},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe %+v, want an httpGet", p.what, p.probe)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("http") ||
			p.probe.PeriodSeconds != p.period || p.probe.FailureThreshold != p.failAt {
			t.Errorf("%s probe %+v, want GET %s on http every %ds, %d failures", p.what, p.probe, p.path, p.period, p.failAt)
		}
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm
	}
	if vm := mounts["config"]; vm.MountPath != "/etc/darwin" || !vm.ReadOnly {
		t.Errorf("config mount %+v, want /etc/darwin read-only", vm)
	}
	if vm := mounts["tmp"]; vm.MountPath != "/tmp" {
		t.Errorf("tmp mount %+v, want /tmp", vm)
	}
	if vm := mounts["data"]; vm.MountPath != "/data" || vm.ReadOnly {
		t.Errorf("data mount %+v, want /data writable", vm)
	}
	vols := dep.Spec.Template.Spec.Volumes
	if v := volumeByName(vols, "config"); v == nil || v.ConfigMap == nil || v.ConfigMap.Name != fsName+"-config" {
		t.Errorf("config volume %+v, want ConfigMap %s-config", v, fsName)
	}
	if v := volumeByName(vols, "tmp"); v == nil || v.EmptyDir == nil {
		t.Errorf("tmp volume %+v, want an emptyDir", v)
	}
	checkSecurity(t, "feature-store", dep.Spec.Template.Spec.SecurityContext, c.SecurityContext)
	// The checksum annotation rolls the pods when the config changes: it is the hash of the ConfigMap's file.
	cfg := renderedFSConfig(t, m)
	sum := sha256.Sum256([]byte(strings.TrimSuffix(cfg.raw, "\n")))
	if got := dep.Spec.Template.Annotations["checksum/config"]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("checksum/config %q, want sha256 of config.yaml %x", got, sum)
	}
	if svc := m.services[fsName]; svc == nil || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") ||
		svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("service %+v, want ClusterIP port http -> http", svc)
	}
}

// TestFeatureStoreChartSQLite checks the single-pod shape: SQLite metadata and the Pebble online store on the
// chart's ReadWriteOnce claim, one replica replaced (not rolled), and no migration Job (SQLite migrates on start).
func TestFeatureStoreChartSQLite(t *testing.T) {
	t.Parallel()
	m, out := renderFS(t, []string{"ci/sqlite-values.yaml"})
	dep, c := fsDeployment(t, m)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", dep.Spec.Replicas)
	}
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q, want Recreate (RWO claim, Pebble directory lock)", dep.Spec.Strategy.Type)
	}
	checkFSPodShape(t, m, dep, c)

	// The data volume is the chart's claim, mounted at /data.
	data := volumeByName(dep.Spec.Template.Spec.Volumes, "data")
	if data == nil || data.PersistentVolumeClaim == nil || data.PersistentVolumeClaim.ClaimName != fsName+"-data" {
		t.Errorf("data volume %+v, want claim %s-data", data, fsName)
	}
	pvc, ok := m.claims[fsName+"-data"]
	if !ok {
		t.Fatalf("no PersistentVolumeClaim %s-data in %v", fsName, m.kinds)
	}
	if !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) ||
		pvc.Spec.Resources.Requests.Storage().String() != "10Gi" || pvc.Spec.StorageClassName != nil {
		t.Errorf("claim %+v, want RWO 10Gi on the default storage class", pvc.Spec)
	}

	// The DSN is a SQLite file on that volume, set inline (no Secret, no password).
	if names := envNames(c.Env); !slices.Equal(names, []string{"POD_NAMESPACE", "DARWIN_DB_DSN"}) {
		t.Errorf("env %v, want POD_NAMESPACE and DARWIN_DB_DSN only", names)
	}
	if dsn := envVar(c.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.Value != "sqlite:///data/feature-store.db" || dsn.ValueFrom != nil {
		t.Errorf("DARWIN_DB_DSN %+v, want sqlite:///data/feature-store.db", dsn)
	}

	cfg := renderedFSConfig(t, m)
	if cfg.Server.HTTPAddr != ":8080" || cfg.Server.GRPCAddr != "" {
		t.Errorf("server %+v, want http :8080 and no gRPC", cfg.Server)
	}
	fs := cfg.FeatureStore
	if fs.DataDir != "/data" || fs.DB.DSN != "${DARWIN_DB_DSN}" || fs.DB.AutoMigrate == nil || *fs.DB.AutoMigrate || fs.CacheTTL != "30s" {
		t.Errorf("feature_store data_dir %q dsn %q auto_migrate %v cache_ttl %q", fs.DataDir, fs.DB.DSN, fs.DB.AutoMigrate, fs.CacheTTL)
	}
	wantOnline := map[string]any{"backend": "pebble", "pebble_dir": "/data/online", "pebble_no_sync": true}
	if !mapsEqualJSON(fs.Online, wantOnline) {
		t.Errorf("online %v, want %v (only the pebble keys)", fs.Online, wantOnline)
	}
	// Offline history on (it lives on /data), consumer off, no populator restriction: none of them written.
	if fs.Offline != nil || fs.Consumer != nil || fs.Populator != nil {
		t.Errorf("offline %v consumer %v populator %v, want none", fs.Offline, fs.Consumer, fs.Populator)
	}

	checkFSIngress(t, m)
	if ing := m.ingresses[fsName]; ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" ||
		ing.Spec.Rules[0].Host != "localhost" || ing.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"] != "64m" {
		t.Errorf("ingress class %v host %q annotations %v", ing.Spec.IngressClassName, ing.Spec.Rules[0].Host, ing.Annotations)
	}

	// SQLite migrates when the binary opens it, so no migration Job and no hook at all.
	if len(m.jobs) != 0 || strings.Contains(out, "helm.sh/hook") {
		t.Errorf("migration Job or hook rendered for SQLite: %v", m.kinds)
	}
	if len(m.pdbs) != 0 || strings.Contains(out, "kind: HorizontalPodAutoscaler") {
		t.Errorf("PDB/HPA rendered by default: %v", m.kinds)
	}
}

// mapsEqualJSON compares decoded YAML maps (numbers as float64, bools, strings, nested maps and lists).
func mapsEqualJSON(got, want map[string]any) bool {
	a, err1 := yaml.Marshal(got)
	b, err2 := yaml.Marshal(want)
	return err1 == nil && err2 == nil && string(a) == string(b)
}

// TestFeatureStoreChartMySQLCassandra checks the scaled-out shape: MySQL metadata migrated by a pre-install hook,
// Cassandra online store with credentials from a Secret, the Kafka consumer, no offline history and no volume.
func TestFeatureStoreChartMySQLCassandra(t *testing.T) {
	t.Parallel()
	m, _ := renderFS(t, []string{"ci/mysql-cassandra-values.yaml"})
	dep, c := fsDeployment(t, m)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", dep.Spec.Replicas)
	}
	if dep.Spec.Strategy.Type != "" {
		t.Errorf("strategy %q, want the default rolling update without a claim", dep.Spec.Strategy.Type)
	}
	checkFSPodShape(t, m, dep, c)
	if len(m.claims) != 0 {
		t.Errorf("claims rendered without state on the volume: %v", m.kinds)
	}
	if data := volumeByName(dep.Spec.Template.Spec.Volumes, "data"); data == nil || data.EmptyDir == nil || data.PersistentVolumeClaim != nil {
		t.Errorf("data volume %+v, want an emptyDir", data)
	}

	// DSN assembled from the global MySQL settings; its password comes from the Secret and must be declared
	// before DARWIN_DB_DSN for $(DARWIN_DB_PASSWORD) to expand.
	const wantDSN = "mysql://darwin:$(DARWIN_DB_PASSWORD)@tcp(mysql.databases.svc:3306)/darwin_feature_store"
	wantEnv := []string{"POD_NAMESPACE", "DARWIN_DB_PASSWORD", "DARWIN_DB_DSN", "DARWIN_CASSANDRA_USERNAME", "DARWIN_CASSANDRA_PASSWORD"}
	if names := envNames(c.Env); !slices.Equal(names, wantEnv) {
		t.Errorf("env %v, want %v", names, wantEnv)
	}
	checkSecretEnv(t, c.Env, "DARWIN_DB_PASSWORD", "darwin-mysql", "mysql-password")
	if dsn := envVar(c.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.Value != wantDSN {
		t.Errorf("DARWIN_DB_DSN %+v, want %s", dsn, wantDSN)
	}
	checkSecretEnv(t, c.Env, "DARWIN_CASSANDRA_USERNAME", "cassandra-creds", "username")
	checkSecretEnv(t, c.Env, "DARWIN_CASSANDRA_PASSWORD", "cassandra-creds", "password")
	if envVar(c.Env, "DARWIN_REDIS_URL") != nil {
		t.Error("DARWIN_REDIS_URL set for the cassandra backend")
	}

	// The migration runs before the new pods as a hook, with the same DSN passed as a flag.
	job, ok := m.jobs[fsName+"-migrate"]
	if !ok {
		t.Fatalf("no migration Job in %v", m.kinds)
	}
	if job.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" ||
		job.Annotations["helm.sh/hook-delete-policy"] != "before-hook-creation,hook-succeeded" {
		t.Errorf("migration Job annotations %v", job.Annotations)
	}
	js := job.Spec.Template.Spec
	if len(js.Containers) != 1 {
		t.Fatalf("migration Job has %d containers", len(js.Containers))
	}
	mc := js.Containers[0]
	if !slices.Equal(mc.Args, []string{"migrate", "-feature-store.db.dsn=$(DARWIN_DB_DSN)"}) || len(mc.Command) != 0 || mc.Image != c.Image {
		t.Errorf("migration container command %q args %q image %s", mc.Command, mc.Args, mc.Image)
	}
	if names := envNames(mc.Env); !slices.Equal(names, []string{"DARWIN_DB_PASSWORD", "DARWIN_DB_DSN"}) {
		t.Errorf("migration env %v", names)
	}
	checkSecretEnv(t, mc.Env, "DARWIN_DB_PASSWORD", "darwin-mysql", "mysql-password")
	if dsn := envVar(mc.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.Value != wantDSN {
		t.Errorf("migration DARWIN_DB_DSN %+v", dsn)
	}
	if js.RestartPolicy != corev1.RestartPolicyNever || job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 3 ||
		job.Spec.ActiveDeadlineSeconds == nil || *job.Spec.ActiveDeadlineSeconds != 600 {
		t.Errorf("migration Job restart %q backoff %v deadline %v", js.RestartPolicy, job.Spec.BackoffLimit, job.Spec.ActiveDeadlineSeconds)
	}
	checkSecurity(t, "migrate", js.SecurityContext, mc.SecurityContext)

	cfg := renderedFSConfig(t, m)
	fs := cfg.FeatureStore
	if fs.DB.DSN != "${DARWIN_DB_DSN}" || fs.DataDir != "/data" {
		t.Errorf("dsn %q data_dir %q", fs.DB.DSN, fs.DataDir)
	}
	wantOnline := map[string]any{"backend": "cassandra", "cassandra": map[string]any{
		"hosts":       "cassandra-0.cassandra.databases.svc:9042,cassandra-1.cassandra.databases.svc",
		"keyspace":    "ofs",
		"local_dc":    "dc1",
		"replication": "network:dc1=3",
		"consistency": "LOCAL_QUORUM",
		"username":    "${DARWIN_CASSANDRA_USERNAME}",
		"password":    "${DARWIN_CASSANDRA_PASSWORD}",
	}}
	if !mapsEqualJSON(fs.Online, wantOnline) {
		t.Errorf("online %v, want %v (no pebble or redis keys)", fs.Online, wantOnline)
	}
	wantConsumer := map[string]any{"enabled": true, "brokers": []any{"kafka.databases.svc:9092"}, "topics": []any{"default", "t1"},
		"group_id": "darwin-feature-store", "environment": "darwin-local"}
	if !mapsEqualJSON(fs.Consumer, wantConsumer) {
		t.Errorf("consumer %v, want %v", fs.Consumer, wantConsumer)
	}
	if !mapsEqualJSON(fs.Offline, map[string]any{"disabled": true}) {
		t.Errorf("offline %v, want disabled", fs.Offline)
	}
	if fs.Populator == nil || !slices.Equal(fs.Populator.AllowedDirs, []string{"/mnt/features"}) {
		t.Errorf("populator %+v, want allowed_dirs [/mnt/features]", fs.Populator)
	}

	pdb, ok := m.pdbs[fsName]
	if !ok {
		t.Fatalf("no PodDisruptionBudget in %v", m.kinds)
	}
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PDB minAvailable %v maxUnavailable %v, want minAvailable 1", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
	if pdb.Spec.Selector == nil || !mapsEqualStr(pdb.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) {
		t.Errorf("PDB selector %v, want the Deployment's %v", pdb.Spec.Selector, dep.Spec.Selector.MatchLabels)
	}
	checkFSIngress(t, m)
}

func mapsEqualStr(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// scaledOut is the base of the multi-replica variants: no state on the volume (MySQL, a shared online store,
// no offline history).
var scaledOut = []string{"global.db.driver=mysql", "offline.enabled=false"}

func with(base []string, more ...string) []string {
	return append(slices.Clone(base), more...)
}

// TestFeatureStoreChartVariants covers values the chart must refuse at render time (values.schema.json or the
// feature-store.check template) and settings between the two CI files that must render.
func TestFeatureStoreChartVariants(t *testing.T) {
	t.Parallel()
	const redisURL = "online.redis.url=redis://redis:6379/0"
	bad := []struct {
		name    string
		set     []string
		wantErr string
	}{
		// The single-replica rule names every piece of state that pins the pods to one volume.
		{"defaults with two replicas", []string{"replicas=2"},
			"feature-store.replicas > 1 needs global.db.driver=mysql, feature-store.online.backend=redis or cassandra and feature-store.offline.enabled=false (state on one volume: the SQLite metadata, the Pebble online store, the offline history)"},
		{"sqlite metadata with two replicas", []string{"replicas=2", "online.backend=redis", redisURL, "offline.enabled=false"},
			"feature-store.replicas > 1 needs global.db.driver=mysql, feature-store.online.backend=redis or cassandra and feature-store.offline.enabled=false (state on one volume: the SQLite metadata)"},
		{"no database (SQLite fallback) with two replicas", with(scaledOut, "db.enabled=false", "replicas=2", "online.backend=redis", redisURL),
			"(state on one volume: the SQLite metadata)"},
		{"pebble with two replicas", with(scaledOut, "replicas=2"), "feature-store.replicas > 1 needs global.db.driver=mysql, feature-store.online.backend=redis or cassandra and feature-store.offline.enabled=false (state on one volume: the Pebble online store)"},
		{"pebble with two replicas and no claim", with(scaledOut, "replicas=2", "persistence.enabled=false"), "(state on one volume: the Pebble online store)"},
		{"offline history with two replicas", []string{"global.db.driver=mysql", "online.backend=redis", redisURL, "replicas=2"},
			"feature-store.replicas > 1 needs global.db.driver=mysql, feature-store.online.backend=redis or cassandra and feature-store.offline.enabled=false (state on one volume: the offline history)"},
		{"autoscaling with pebble", with(scaledOut, "autoscaling.enabled=true"),
			"feature-store.autoscaling.enabled needs global.db.driver=mysql, feature-store.online.backend=redis or cassandra and feature-store.offline.enabled=false (state on one volume: the Pebble online store)"},
		{"autoscaling on sqlite", []string{"online.backend=cassandra", "offline.enabled=false", "autoscaling.enabled=true"},
			"feature-store.autoscaling.enabled needs global.db.driver=mysql, feature-store.online.backend=redis or cassandra and feature-store.offline.enabled=false (state on one volume: the SQLite metadata)"},
		{"disruption budget on one pod", []string{"podDisruptionBudget.enabled=true"},
			"feature-store.podDisruptionBudget.enabled with a single replica would block every node drain: scale out first"},
		// Online store settings.
		{"unknown online backend", []string{"online.backend=memcached"}, "at '/online/backend': value must be one of"},
		{"redis without URL or Secret", with(scaledOut, "online.backend=redis"), "feature-store.online.backend=redis needs feature-store.online.redis.url or .existingSecret"},
		{"redis URL without scheme", []string{"online.backend=redis", "online.redis.url=redis:6379"}, "at '/online/redis/url'"},
		{"cassandra without hosts", with(scaledOut, "online.backend=cassandra", "online.cassandra.hosts=null"), "feature-store.online.backend=cassandra needs feature-store.online.cassandra.hosts"},
		// --set x={} is a list holding one empty string, which the schema refuses.
		{"cassandra with an empty host", with(scaledOut, "online.backend=cassandra", "online.cassandra.hosts={}"), "at '/online/cassandra/hosts/0'"},
		{"cassandra host with a scheme", []string{"online.backend=cassandra", "online.cassandra.hosts[0]=tcp://cassandra:9042"}, "at '/online/cassandra/hosts/0'"},
		{"cassandra hosts joined in one string", []string{"online.backend=cassandra", `online.cassandra.hosts[0]=a:9042\,b:9042`}, "at '/online/cassandra/hosts/0'"},
		{"cassandra bad keyspace", []string{"online.backend=cassandra", "online.cassandra.keyspace=1ofs"}, "at '/online/cassandra/keyspace'"},
		{"cassandra bad replication", []string{"online.backend=cassandra", "online.cassandra.replication=network:dc1"}, "at '/online/cassandra/replication'"},
		{"cassandra unknown consistency", []string{"online.backend=cassandra", "online.cassandra.consistency=MOST"}, "at '/online/cassandra/consistency'"},
		{"cassandra unknown auth key", []string{"online.cassandra.auth.user=x"}, "additional properties 'user' not allowed"},
		// Consumer.
		{"consumer without brokers", []string{"consumer.enabled=true", "consumer.brokers=null"}, "feature-store.consumer.enabled needs feature-store.consumer.brokers and feature-store.consumer.topics"},
		{"consumer without topics", []string{"consumer.enabled=true", "consumer.topics=null"}, "feature-store.consumer.enabled needs feature-store.consumer.brokers and feature-store.consumer.topics"},
		{"consumer with an empty topic", []string{"consumer.topics={}"}, "at '/consumer/topics/0'"},
		{"consumer broker URL", []string{"consumer.brokers[0]=kafka://k:9092"}, "at '/consumer/brokers/0'"},
		{"consumer topic with a space", []string{"consumer.topics[0]=my topic"}, "at '/consumer/topics/0'"},
		{"consumer empty group", []string{"consumer.group="}, "at '/consumer/group'"},
		// Populator: local sources are restricted to absolute directories.
		{"relative populator dir", []string{"populator.allowedDirs[0]=mnt/features"}, "at '/populator/allowedDirs/0': 'mnt/features' does not match pattern '^/'"},
		{"empty populator dir", []string{"populator.allowedDirs[0]="}, "at '/populator/allowedDirs/0'"},
		// Ports, counts and unknown keys.
		{"negative http port", []string{"ports.http=-1"}, "at '/ports/http': minimum"},
		{"http port out of range", []string{"ports.http=70000"}, "at '/ports/http': maximum"},
		{"zero service port", []string{"service.port=0"}, "at '/service/port': minimum"},
		{"replicas not a number", []string{"replicas=two"}, "at '/replicas': got string, want integer"},
		{"negative replicas", []string{"replicas=-1"}, "at '/replicas': minimum"},
		{"unknown top-level key", []string{"replica=2"}, "additional properties 'replica' not allowed"},
		{"config sets the online store directly", []string{"config.feature_store.online.backend=redis"}, "at '/config/feature_store'"},
		{"ingress path without slash", []string{"ingress.paths[0]=feature-store"}, "at '/ingress/paths/0'"},
		{"bad claim size", []string{"persistence.size=lots"}, "at '/persistence/size'"},
	}
	for _, tc := range bad {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := renderService(t, "feature-store", nil, tc.set...)
			if err == nil {
				t.Fatalf("render with %v succeeded, want an error mentioning %q", tc.set, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("render with %v: error %q does not mention %q", tc.set, err, tc.wantErr)
			}
		})
	}

	t.Run("redis from a Secret scales out without a volume", func(t *testing.T) {
		t.Parallel()
		m, out := renderFS(t, nil, with(scaledOut, "online.backend=redis", "online.redis.existingSecret=redis-creds", "replicas=3")...)
		dep, c := fsDeployment(t, m)
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 || dep.Spec.Strategy.Type != "" {
			t.Errorf("replicas %v strategy %q, want 3 rolling", dep.Spec.Replicas, dep.Spec.Strategy.Type)
		}
		checkSecretEnv(t, c.Env, "DARWIN_REDIS_URL", "redis-creds", "redis-url")
		if envVar(c.Env, "DARWIN_CASSANDRA_USERNAME") != nil {
			t.Error("cassandra credentials set for the redis backend")
		}
		online := renderedFSConfig(t, m).FeatureStore.Online
		if want := map[string]any{"backend": "redis", "redis_url": "${DARWIN_REDIS_URL}", "redis_prefix": "ofs:"}; !mapsEqualJSON(online, want) {
			t.Errorf("online %v, want %v", online, want)
		}
		if len(m.claims) != 0 || !strings.Contains(out, "kind: Job") {
			t.Errorf("want no claim and a migration Job: %v", m.kinds)
		}
	})
	t.Run("redis URL inline", func(t *testing.T) {
		t.Parallel()
		m, _ := renderFS(t, nil, "online.backend=redis", "online.redis.url=rediss://r.example:6380/2", "online.redis.prefix=fs:")
		_, c := fsDeployment(t, m)
		if envVar(c.Env, "DARWIN_REDIS_URL") != nil {
			t.Error("DARWIN_REDIS_URL set without online.redis.existingSecret")
		}
		online := renderedFSConfig(t, m).FeatureStore.Online
		if want := map[string]any{"backend": "redis", "redis_url": "rediss://r.example:6380/2", "redis_prefix": "fs:"}; !mapsEqualJSON(online, want) {
			t.Errorf("online %v, want %v", online, want)
		}
		// SQLite and the offline history still need the claim.
		if _, ok := m.claims[fsName+"-data"]; !ok {
			t.Errorf("no data claim for SQLite: %v", m.kinds)
		}
	})
	t.Run("cassandra without auth writes no credentials", func(t *testing.T) {
		t.Parallel()
		m, _ := renderFS(t, nil, with(scaledOut, "online.backend=cassandra", "replicas=2")...)
		_, c := fsDeployment(t, m)
		if envVar(c.Env, "DARWIN_CASSANDRA_USERNAME") != nil || envVar(c.Env, "DARWIN_CASSANDRA_PASSWORD") != nil {
			t.Errorf("cassandra credentials env without auth.existingSecret: %v", envNames(c.Env))
		}
		online := renderedFSConfig(t, m).FeatureStore.Online
		want := map[string]any{"backend": "cassandra", "cassandra": map[string]any{"hosts": "darwin-cassandra:9042", "keyspace": "ofs"}}
		if !mapsEqualJSON(online, want) {
			t.Errorf("online %v, want %v", online, want)
		}
	})
	t.Run("consumer with explicit group and topics", func(t *testing.T) {
		t.Parallel()
		m, _ := renderFS(t, nil, "consumer.enabled=true", "consumer.brokers={k1:9092,k2}", "consumer.topics={tenant-a,tenant_b.x}",
			"consumer.group=fs-prod", "consumer.environment=prod")
		got := renderedFSConfig(t, m).FeatureStore.Consumer
		want := map[string]any{"enabled": true, "brokers": []any{"k1:9092", "k2"}, "topics": []any{"tenant-a", "tenant_b.x"},
			"group_id": "fs-prod", "environment": "prod"}
		if !mapsEqualJSON(got, want) {
			t.Errorf("consumer %v, want %v", got, want)
		}
	})
	t.Run("ingress disabled", func(t *testing.T) {
		t.Parallel()
		for _, set := range []string{"ingress.enabled=false", "global.ingress.enabled=false"} {
			m, _ := renderFS(t, nil, set)
			if len(m.ingresses) != 0 {
				t.Errorf("%s: Ingress rendered: %v", set, m.kinds)
			}
			if _, ok := m.services[fsName]; !ok {
				t.Errorf("%s: no Service: %v", set, m.kinds)
			}
		}
	})
	t.Run("ingress host and class override the global ones", func(t *testing.T) {
		t.Parallel()
		m, _ := renderFS(t, nil, "ingress.host=fs.example.com", "ingress.className=internal", "ingress.proxyBodySize=256m")
		checkFSIngress(t, m)
		ing := m.ingresses[fsName]
		if ing.Spec.Rules[0].Host != "fs.example.com" || ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "internal" ||
			ing.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"] != "256m" {
			t.Errorf("ingress host %q class %v annotations %v", ing.Spec.Rules[0].Host, ing.Spec.IngressClassName, ing.Annotations)
		}
	})
	t.Run("autoscaling with a shared online store", func(t *testing.T) {
		t.Parallel()
		m, out := renderFS(t, nil, with(scaledOut, "online.backend=cassandra", "autoscaling.enabled=true")...)
		dep, _ := fsDeployment(t, m)
		if dep.Spec.Replicas != nil {
			t.Errorf("replicas %d set while the HPA owns them", *dep.Spec.Replicas)
		}
		if !strings.Contains(out, "kind: HorizontalPodAutoscaler") {
			t.Error("no HorizontalPodAutoscaler")
		}
	})
	t.Run("persistence off keeps one replica on an emptyDir", func(t *testing.T) {
		t.Parallel()
		m, _ := renderFS(t, nil, "persistence.enabled=false")
		dep, _ := fsDeployment(t, m)
		if data := volumeByName(dep.Spec.Template.Spec.Volumes, "data"); len(m.claims) != 0 || data == nil || data.EmptyDir == nil {
			t.Errorf("claims %v data volume %+v, want an emptyDir", m.kinds, data)
		}
		if dep.Spec.Strategy.Type != "" {
			t.Errorf("strategy %q without a claim", dep.Spec.Strategy.Type)
		}
	})
	t.Run("existing claim and storage class", func(t *testing.T) {
		t.Parallel()
		m, _ := renderFS(t, nil, "persistence.existingClaim=fs-data", "global.storageClass=fast")
		dep, _ := fsDeployment(t, m)
		data := volumeByName(dep.Spec.Template.Spec.Volumes, "data")
		if len(m.claims) != 0 || data == nil || data.PersistentVolumeClaim == nil || data.PersistentVolumeClaim.ClaimName != "fs-data" {
			t.Errorf("existingClaim: claims %v, data volume %+v", m.kinds, data)
		}
		m, _ = renderFS(t, nil, "global.storageClass=fast")
		if pvc := m.claims[fsName+"-data"]; pvc == nil || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "fast" {
			t.Errorf("claim %+v, want storageClassName fast", pvc)
		}
	})
	t.Run("no database falls back to SQLite on the claim", func(t *testing.T) {
		t.Parallel()
		// No DARWIN_DB_DSN: ${DARWIN_DB_DSN} expands to "" and the binary opens sqlite://<data_dir>/feature-store.db.
		m, _ := renderFS(t, nil, "db.enabled=false", "global.db.driver=mysql")
		_, c := fsDeployment(t, m)
		if names := envNames(c.Env); !slices.Equal(names, []string{"POD_NAMESPACE"}) {
			t.Errorf("env %v, want no database variables", names)
		}
		if _, ok := m.claims[fsName+"-data"]; !ok || len(m.jobs) != 0 {
			t.Errorf("want the data claim and no migration Job: %v", m.kinds)
		}
	})
	t.Run("DSN from a Secret migrates", func(t *testing.T) {
		t.Parallel()
		m, _ := renderFS(t, nil, "db.existingSecret=fs-dsn", "migration.hook=false")
		_, c := fsDeployment(t, m)
		checkSecretEnv(t, c.Env, "DARWIN_DB_DSN", "fs-dsn", "dsn")
		if envVar(c.Env, "DARWIN_DB_PASSWORD") != nil {
			t.Error("DARWIN_DB_PASSWORD set for a Secret DSN")
		}
		job, ok := m.jobs[fsName+"-migrate"]
		if !ok {
			t.Fatalf("no migration Job for a Secret DSN: %v", m.kinds)
		}
		if _, hook := job.Annotations["helm.sh/hook"]; hook {
			t.Errorf("migration.hook=false still renders a hook: %v", job.Annotations)
		}
		checkSecretEnv(t, job.Spec.Template.Spec.Containers[0].Env, "DARWIN_DB_DSN", "fs-dsn", "dsn")
	})
}
