package charttest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/darwinml/darwin/services/cluster-manager/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

const ns = "darwin"

// TestInstallUmbrella installs the umbrella (training preset: compute, cluster-manager and mlflow, plus
// ml-serve and artifact-builder; external MySQL so the migration hooks render; datastores off) into a real kube-apiserver with the Helm SDK and checks the objects with client-go.
//
// There is no kubelet or job controller, and Helm waits for pre-install hook Jobs to complete even with
// Wait: false. Instead of DisableHooks (which would leave the hook path untested), a goroutine plays the job
// controller: it waits for the hook Job to appear, records it, and writes a Complete status. That proves the
// Job is created before the release's other objects and that Helm proceeds once it succeeds.
func TestInstallUmbrella(t *testing.T) {
	srv := kubetest.Shared(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	kc, err := kubernetes.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}

	settings := cli.New()
	settings.KubeConfig = srv.Kubeconfig
	settings.SetNamespace(ns)
	cfg := new(action.Configuration)
	if err := cfg.Init(settings.RESTClientGetter(), ns, "secret", t.Logf); err != nil {
		t.Fatalf("helm init: %v", err)
	}
	inst := action.NewInstall(cfg)
	inst.ReleaseName = "darwin"
	inst.Namespace = ns
	inst.CreateNamespace = true
	inst.Wait = false
	inst.Timeout = time.Minute

	// Every service on MySQL migrates in a pre-install hook: compute, mlflow, ml-serve and artifact-builder.
	hookJobs := []string{"darwin-compute-migrate", "darwin-mlflow-migrate", "darwin-ml-serve-migrate", "darwin-artifact-builder-migrate"}
	seen := map[string]chan hookSeen{}
	playJobController := func() {
		for _, name := range hookJobs {
			seen[name] = make(chan hookSeen, 1)
			go func() { seen[name] <- completeHookJob(ctx, kc, name) }()
		}
	}
	playJobController()

	serving := []string{"ml-serve.enabled=true", "artifact-builder.enabled=true"}
	vals := loadValues(t, []string{"presets/training.yaml", "ci/mysql-ingress-on.yaml"}, serving...)
	start := time.Now()
	rel, err := inst.RunWithContext(ctx, loadUmbrella(t), vals)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Logf("helm install took %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if _, err := action.NewUninstall(cfg).Run("darwin"); err != nil {
			t.Logf("uninstall: %v", err)
		}
	})
	if rel.Info.Status != release.StatusDeployed {
		t.Fatalf("release status %s, want deployed", rel.Info.Status)
	}

	// The hook Jobs ran first, with the migrate command and the DSN from the Secret-backed env.
	for _, hj := range []struct{ name, svc, dsnEnd string }{
		{"darwin-compute-migrate", "compute", "/darwin"},
		{"darwin-mlflow-migrate", "mlflow", "/darwin_mlflow"},
		{"darwin-ml-serve-migrate", "ml-serve", "/darwin_ml_serve"},
		{"darwin-artifact-builder-migrate", "artifact-builder", "/darwin_artifact_builder"},
	} {
		h := <-seen[hj.name]
		if h.err != nil {
			t.Fatalf("hook job %s: %v", hj.name, h.err)
		}
		if len(h.otherObjsFirst) > 0 {
			t.Errorf("release objects existed before the pre-install hook Job %s: %v", hj.name, h.otherObjsFirst)
		}
		if got := h.job.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
			t.Errorf("%s hook annotation %q", hj.name, got)
		}
		mc := h.job.Spec.Template.Spec.Containers[0]
		if want := []string{"migrate", "-" + hj.svc + ".db.dsn=$(DARWIN_DB_DSN)"}; !slices.Equal(mc.Args, want) {
			t.Errorf("%s args %q, want %q", hj.name, mc.Args, want)
		}
		if want := "localhost:5000/darwin/" + hj.svc + ":latest"; mc.Image != want {
			t.Errorf("%s image %q, want %q", hj.name, mc.Image, want)
		}
		checkSecurity(t, hj.name, h.job.Spec.Template.Spec.SecurityContext, mc.SecurityContext)
		if pw := envVar(mc.Env, "DARWIN_DB_PASSWORD"); pw == nil || pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef == nil ||
			pw.ValueFrom.SecretKeyRef.Name != "darwin-mysql" || pw.ValueFrom.SecretKeyRef.Key != "mysql-password" {
			t.Errorf("%s DARWIN_DB_PASSWORD env %+v, want secretKeyRef darwin-mysql/mysql-password", hj.name, pw)
		}
		if dsn := envVar(mc.Env, "DARWIN_DB_DSN"); dsn == nil || !strings.HasSuffix(dsn.Value, hj.dsnEnd) {
			t.Errorf("%s DARWIN_DB_DSN %+v, want database %s", hj.name, dsn, hj.dsnEnd)
		}
		// hook-delete-policy hook-succeeded: Helm removes the Job once it completed.
		waitGone(ctx, t, func() error {
			_, err := kc.BatchV1().Jobs(ns).Get(ctx, hj.name, metav1.GetOptions{})
			return err
		})
	}

	// Deployments: image, args, probes, security context, ports.
	for _, d := range []struct {
		name, image string
		http, grpc  int32
		sa          string
	}{
		{"darwin-compute", "localhost:5000/darwin/compute:latest", 8000, 9092, "darwin-compute"},
		{"darwin-cluster-manager", "localhost:5000/darwin/cluster-manager:latest", 8080, 9091, "darwin-cluster-manager"},
		{"darwin-mlflow", "localhost:5000/darwin/mlflow:latest", 5000, 0, "darwin-mlflow"},
		{"darwin-ml-serve", "localhost:5000/darwin/ml-serve:latest", 8000, 0, "darwin-ml-serve"},
		{"darwin-artifact-builder", "localhost:5000/darwin/artifact-builder:latest", 8000, 0, "darwin-artifact-builder"},
	} {
		dep, err := kc.AppsV1().Deployments(ns).Get(ctx, d.name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("deployment %s: %v", d.name, err)
		}
		checkDeployment(t, dep, d.image, d.http, d.grpc, d.sa)
		svc, err := kc.CoreV1().Services(ns).Get(ctx, d.name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("service %s: %v", d.name, err)
		}
		var ports []int32
		for _, p := range svc.Spec.Ports {
			ports = append(ports, p.Port)
		}
		if want := portList(d.http, d.grpc); !slices.Equal(ports, want) {
			t.Errorf("service %s ports %v, want %v", d.name, ports, want)
		}
		if _, err := kc.CoreV1().ConfigMaps(ns).Get(ctx, d.name+"-config", metav1.GetOptions{}); err != nil {
			t.Errorf("configmap %s-config: %v", d.name, err)
		}
		if _, err := kc.CoreV1().ServiceAccounts(ns).Get(ctx, d.sa, metav1.GetOptions{}); err != nil {
			t.Errorf("serviceaccount %s: %v", d.sa, err)
		}
	}

	// compute's DSN comes from the MySQL password Secret and reaches the config as ${DARWIN_DB_DSN}.
	cm, err := kc.CoreV1().ConfigMaps(ns).Get(ctx, "darwin-compute-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["config.yaml"], "dsn: ${DARWIN_DB_DSN}") {
		t.Errorf("compute config lacks the DSN reference:\n%s", cm.Data["config.yaml"])
	}

	// mlflow keeps SQLite-free state (local artifacts) on its claim: one pod, replaced rather than rolled.
	mdep, err := kc.AppsV1().Deployments(ns).Get(ctx, "darwin-mlflow", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mdep.Spec.Replicas == nil || *mdep.Spec.Replicas != 1 || mdep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("darwin-mlflow replicas %v strategy %q, want 1 and Recreate", mdep.Spec.Replicas, mdep.Spec.Strategy.Type)
	}
	var claim string
	for _, v := range mdep.Spec.Template.Spec.Volumes {
		if v.Name == "data" && v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	pvc, err := kc.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "darwin-mlflow-data", metav1.GetOptions{})
	if err != nil || claim != pvc.Name {
		t.Errorf("darwin-mlflow data claim %q, PVC darwin-mlflow-data: %v", claim, err)
	} else if !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("darwin-mlflow-data access modes %v", pvc.Spec.AccessModes)
	}
	mcm, err := kc.CoreV1().ConfigMaps(ns).Get(ctx, "darwin-mlflow-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dsn: ${DARWIN_DB_DSN}", "artifact_store: /data/artifacts", "default_permission: EDIT"} {
		if !strings.Contains(mcm.Data["config.yaml"], want) {
			t.Errorf("mlflow config lacks %q:\n%s", want, mcm.Data["config.yaml"])
		}
	}
	mc := mdep.Spec.Template.Spec.Containers[0]
	if dsn := envVar(mc.Env, "DARWIN_DB_DSN"); dsn == nil || dsn.Value != "mysql://darwin:$(DARWIN_DB_PASSWORD)@tcp(mysql.databases.svc:3306)/darwin_mlflow" {
		t.Errorf("darwin-mlflow DARWIN_DB_DSN %+v", dsn)
	}
	// The binary serves /mlflow-lib and /mlflow-app itself: plain prefixes, no rewrite.
	ming, err := kc.NetworkingV1().Ingresses(ns).Get(ctx, "darwin-mlflow", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ingress darwin-mlflow: %v", err)
	}
	if _, ok := ming.Annotations["nginx.ingress.kubernetes.io/rewrite-target"]; ok {
		t.Errorf("ingress darwin-mlflow rewrites: %v", ming.Annotations)
	}
	var mpaths []string
	for _, r := range ming.Spec.Rules {
		for _, p := range r.HTTP.Paths {
			if p.PathType != nil && *p.PathType == "Prefix" && p.Backend.Service.Name == "darwin-mlflow" {
				mpaths = append(mpaths, r.Host+p.Path)
			}
		}
	}
	if !slices.Equal(mpaths, []string{"localhost/mlflow-lib", "localhost/mlflow-app"}) {
		t.Errorf("ingress darwin-mlflow prefix paths %v", mpaths)
	}
	if _, err := kc.RbacV1().Roles(ns).Get(ctx, "darwin-mlflow", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("role darwin-mlflow: %v, want not found", err)
	}

	// Ingresses with the original regex paths and rewrite.
	for name, path := range map[string]string{
		"darwin-compute":          "/compute(/|$)(.*)",
		"darwin-cluster-manager":  "/cluster-manager(/|$)(.*)",
		"darwin-ml-serve":         "/ml-serve(/|$)(.*)",
		"darwin-artifact-builder": "/artifact-builder(/|$)(.*)",
	} {
		ing, err := kc.NetworkingV1().Ingresses(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("ingress %s: %v", name, err)
		}
		if got := ing.Annotations["nginx.ingress.kubernetes.io/rewrite-target"]; got != "/$2" {
			t.Errorf("ingress %s rewrite-target %q", name, got)
		}
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
			t.Errorf("ingress %s class %v", name, ing.Spec.IngressClassName)
		}
		r := ing.Spec.Rules
		if len(r) != 1 || r[0].Host != "localhost" || r[0].HTTP == nil || len(r[0].HTTP.Paths) != 1 ||
			r[0].HTTP.Paths[0].Path != path || r[0].HTTP.Paths[0].Backend.Service.Name != name {
			t.Errorf("ingress %s rules %+v, want host localhost path %s -> %s", name, r, path, name)
		}
	}

	// RBAC: cluster-manager may manage KubeRay clusters, pods (exec, log), and Helm release Secrets.
	role, err := kc.RbacV1().Roles(ns).Get(ctx, "darwin-cluster-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("role: %v", err)
	}
	for _, want := range []struct{ group, resource, verb string }{
		{"ray.io", "rayclusters", "create"}, {"ray.io", "rayclusters", "delete"},
		{"", "pods", "list"}, {"", "pods/exec", "create"}, {"", "pods/log", "get"}, {"", "events", "list"},
		{"", "secrets", "create"}, {"", "configmaps", "create"}, {"", "services", "create"},
		{"networking.k8s.io", "ingresses", "create"},
	} {
		if !allows(role.Rules, want.group, want.resource, want.verb) {
			t.Errorf("role darwin-cluster-manager does not allow %s %s/%s", want.verb, want.group, want.resource)
		}
	}
	rb, err := kc.RbacV1().RoleBindings(ns).Get(ctx, "darwin-cluster-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("rolebinding: %v", err)
	}
	if rb.RoleRef.Name != "darwin-cluster-manager" || len(rb.Subjects) != 1 || rb.Subjects[0].Name != "darwin-cluster-manager" ||
		rb.Subjects[0].Namespace != ns {
		t.Errorf("rolebinding %+v", rb)
	}
	// compute needs no Kubernetes API access.
	if _, err := kc.RbacV1().Roles(ns).Get(ctx, "darwin-compute", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("role darwin-compute: %v, want not found", err)
	}

	// ml-serve: MySQL, so no claim and a rolling update; its admin token comes from the Secret the chart
	// generated, and the wiring to cluster-manager, mlflow and artifact-builder is in its config.
	sdep, err := kc.AppsV1().Deployments(ns).Get(ctx, "darwin-ml-serve", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sdep.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		t.Error("darwin-ml-serve uses Recreate on MySQL")
	}
	if tok := envVar(sdep.Spec.Template.Spec.Containers[0].Env, "DARWIN_ADMIN_TOKEN"); tok == nil || tok.ValueFrom == nil ||
		tok.ValueFrom.SecretKeyRef == nil || tok.ValueFrom.SecretKeyRef.Name != "darwin-ml-serve-admin-token" {
		t.Errorf("darwin-ml-serve DARWIN_ADMIN_TOKEN %+v", tok)
	}
	sec, err := kc.CoreV1().Secrets(ns).Get(ctx, "darwin-ml-serve-admin-token", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("admin token Secret: %v", err)
	}
	token := string(sec.Data["admin-token"])
	if len(token) != 40 {
		t.Errorf("generated admin token %q, want 40 characters", token)
	}
	scm, err := kc.CoreV1().ConfigMaps(ns).Get(ctx, "darwin-ml-serve-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cluster_manager_addr: darwin-cluster-manager:9091", "mlflow_url: http://darwin-mlflow:5000/mlflow-lib",
		"artifact_builder_url: http://darwin-artifact-builder:8000", "bootstrap_admin_token: ${DARWIN_ADMIN_TOKEN}"} {
		if !strings.Contains(scm.Data["config.yaml"], want) {
			t.Errorf("ml-serve config lacks %q:\n%s", want, scm.Data["config.yaml"])
		}
	}
	if strings.Contains(scm.Data["config.yaml"], token) {
		t.Error("the admin token is in the ConfigMap")
	}
	for _, name := range []string{"darwin-ml-serve-data", "darwin-artifact-builder-data"} {
		if _, err := kc.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("claim %s on MySQL: %v, want not found", name, err)
		}
	}

	// An upgrade runs the migrations again (pre-upgrade) before scaling compute out.
	playJobController()
	up := action.NewUpgrade(cfg)
	up.Namespace = ns
	up.Timeout = time.Minute
	rel, err = up.RunWithContext(ctx, "darwin", loadUmbrella(t), loadValues(t,
		[]string{"presets/training.yaml", "ci/mysql-ingress-on.yaml"}, append(serving, "compute.replicas=2")...))
	if err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	if rel.Version != 2 || rel.Info.Status != release.StatusDeployed {
		t.Fatalf("after upgrade: revision %d status %s, want 2 deployed", rel.Version, rel.Info.Status)
	}
	for _, name := range hookJobs {
		if h := <-seen[name]; h.err != nil || h.job == nil {
			t.Fatalf("pre-upgrade hook job %s: %+v", name, h)
		}
	}
	dep, err := kc.AppsV1().Deployments(ns).Get(ctx, "darwin-compute", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("darwin-compute replicas after upgrade %v, want 2", dep.Spec.Replicas)
	}
	// The upgrade read the generated admin token back (lookup) instead of rotating it.
	sec, err = kc.CoreV1().Secrets(ns).Get(ctx, "darwin-ml-serve-admin-token", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(sec.Data["admin-token"]); got != token {
		t.Errorf("admin token after upgrade %q, want the installed %q", got, token)
	}
}

// completeHookJob waits for the named Job, notes which release objects already exist, and marks the Job
// complete the way the job controller would.
// hookSeen is what completeHookJob observed.
type hookSeen struct {
	job            *batchv1.Job
	otherObjsFirst []string
	err            error
}

func completeHookJob(ctx context.Context, kc kubernetes.Interface, name string) (h hookSeen) {
	for {
		job, err := kc.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			h.job = job.DeepCopy()
			break
		}
		if !apierrors.IsNotFound(err) && !strings.Contains(err.Error(), "not found") {
			h.err = err
			return h
		}
		select {
		case <-ctx.Done():
			h.err = ctx.Err()
			return h
		case <-time.After(50 * time.Millisecond):
		}
	}
	if ds, err := kc.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range ds.Items {
			h.otherObjsFirst = append(h.otherObjsFirst, "deployment/"+d.Name)
		}
	}
	now := metav1.Now()
	job := h.job.DeepCopy()
	job.Status.StartTime = &now
	job.Status.CompletionTime = &now
	job.Status.Succeeded = 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
	}
	if _, err := kc.BatchV1().Jobs(ns).UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		h.err = err
	}
	return h
}

func checkDeployment(t *testing.T, dep *appsv1.Deployment, image string, http, grpc int32, sa string) {
	t.Helper()
	spec := dep.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers", dep.Name, len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image != image {
		t.Errorf("%s image %q, want %q", dep.Name, c.Image, image)
	}
	if !slices.Equal(c.Args, []string{"-config.file=/etc/darwin/config.yaml"}) {
		t.Errorf("%s args %q", dep.Name, c.Args)
	}
	var ports []int32
	for _, p := range c.Ports {
		ports = append(ports, p.ContainerPort)
	}
	if want := portList(http, grpc); !slices.Equal(ports, want) {
		t.Errorf("%s container ports %v, want %v", dep.Name, ports, want)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		want := "/healthz"
		if name == "readiness" {
			want = "/readyz"
		}
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.StrVal != "http" {
			t.Errorf("%s %s probe %+v, want GET %s on port http", dep.Name, name, p, want)
		}
	}
	if spec.ServiceAccountName != sa {
		t.Errorf("%s serviceAccountName %q, want %q", dep.Name, spec.ServiceAccountName, sa)
	}
	checkSecurity(t, dep.Name, spec.SecurityContext, c.SecurityContext)
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	if m, ok := mounts["/etc/darwin"]; !ok || !m.ReadOnly {
		t.Errorf("%s: config not mounted read-only at /etc/darwin: %+v", dep.Name, c.VolumeMounts)
	}
	if _, ok := mounts["/tmp"]; !ok {
		t.Errorf("%s: no writable /tmp with a read-only root filesystem", dep.Name)
	}
}

// portList is the expected port list: http, then grpc when the service has one.
func portList(http, grpc int32) []int32 {
	if grpc == 0 {
		return []int32{http}
	}
	return []int32{http, grpc}
}

func checkSecurity(t *testing.T, what string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	t.Helper()
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.RunAsUser == nil || *pod.RunAsUser != 65532 ||
		pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s pod securityContext %+v", what, pod)
	}
	if c == nil || c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem || c.AllowPrivilegeEscalation == nil ||
		*c.AllowPrivilegeEscalation || c.Capabilities == nil || !slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		c.RunAsNonRoot == nil || !*c.RunAsNonRoot {
		t.Errorf("%s container securityContext %+v", what, c)
	}
}

func envVar(env []corev1.EnvVar, name string) *corev1.EnvVar {
	for i := range env {
		if env[i].Name == name {
			return &env[i]
		}
	}
	return nil
}

type rbacRule = rbacv1.PolicyRule

func allows(rules []rbacRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func waitGone(ctx context.Context, t *testing.T, get func() error) {
	t.Helper()
	for {
		err := get()
		if apierrors.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("hook Job still present after install (hook-delete-policy hook-succeeded): %v", err)
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
