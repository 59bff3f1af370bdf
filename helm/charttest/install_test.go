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

// TestInstallUmbrella installs the umbrella (training preset, external MySQL so the migration hook renders,
// datastores off) into a real kube-apiserver with the Helm SDK and checks the objects with client-go.
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

	seen := make(chan hookSeen, 1)
	go func() { seen <- completeHookJob(ctx, kc, "darwin-compute-migrate") }()

	vals := loadValues(t, []string{"presets/training.yaml", "ci/mysql-ingress-on.yaml"})
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

	// The hook Job ran first, with the migrate command and the DSN from the Secret-backed env.
	h := <-seen
	if h.err != nil {
		t.Fatalf("hook job: %v", h.err)
	}
	if len(h.otherObjsFirst) > 0 {
		t.Errorf("release objects existed before the pre-install hook Job: %v", h.otherObjsFirst)
	}
	if got := h.job.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
		t.Errorf("hook annotation %q", got)
	}
	mc := h.job.Spec.Template.Spec.Containers[0]
	if want := []string{"migrate", "-compute.db.dsn=$(DARWIN_DB_DSN)"}; !slices.Equal(mc.Args, want) {
		t.Errorf("migration args %q, want %q", mc.Args, want)
	}
	if mc.Image != "localhost:5000/darwin/compute:latest" {
		t.Errorf("migration image %q", mc.Image)
	}
	checkSecurity(t, "migration job", h.job.Spec.Template.Spec.SecurityContext, mc.SecurityContext)
	if pw := envVar(mc.Env, "DARWIN_DB_PASSWORD"); pw == nil || pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef == nil ||
		pw.ValueFrom.SecretKeyRef.Name != "darwin-mysql" || pw.ValueFrom.SecretKeyRef.Key != "mysql-password" {
		t.Errorf("DARWIN_DB_PASSWORD env %+v, want secretKeyRef darwin-mysql/mysql-password", pw)
	}
	// hook-delete-policy hook-succeeded: Helm removes the Job once it completed.
	waitGone(ctx, t, func() error {
		_, err := kc.BatchV1().Jobs(ns).Get(ctx, "darwin-compute-migrate", metav1.GetOptions{})
		return err
	})

	// Deployments: image, args, probes, security context, ports.
	for _, d := range []struct {
		name, image string
		http, grpc  int32
		sa          string
	}{
		{"darwin-compute", "localhost:5000/darwin/compute:latest", 8000, 9092, "darwin-compute"},
		{"darwin-cluster-manager", "localhost:5000/darwin/cluster-manager:latest", 8080, 9091, "darwin-cluster-manager"},
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
		if !slices.Equal(ports, []int32{d.http, d.grpc}) {
			t.Errorf("service %s ports %v, want [%d %d]", d.name, ports, d.http, d.grpc)
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

	// Ingresses with the original regex paths and rewrite.
	for name, path := range map[string]string{
		"darwin-compute":         "/compute(/|$)(.*)",
		"darwin-cluster-manager": "/cluster-manager(/|$)(.*)",
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

	// An upgrade runs the migration again (pre-upgrade) before scaling compute out.
	go func() { seen <- completeHookJob(ctx, kc, "darwin-compute-migrate") }()
	up := action.NewUpgrade(cfg)
	up.Namespace = ns
	up.Timeout = time.Minute
	rel, err = up.RunWithContext(ctx, "darwin", loadUmbrella(t), loadValues(t,
		[]string{"presets/training.yaml", "ci/mysql-ingress-on.yaml"}, "compute.replicas=2"))
	if err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	if rel.Version != 2 || rel.Info.Status != release.StatusDeployed {
		t.Fatalf("after upgrade: revision %d status %s, want 2 deployed", rel.Version, rel.Info.Status)
	}
	if h := <-seen; h.err != nil || h.job == nil {
		t.Fatalf("pre-upgrade hook job: %+v", h)
	}
	dep, err := kc.AppsV1().Deployments(ns).Get(ctx, "darwin-compute", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("darwin-compute replicas after upgrade %v, want 2", dep.Spec.Replicas)
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
	if !slices.Equal(ports, []int32{http, grpc}) {
		t.Errorf("%s container ports %v, want [%d %d]", dep.Name, ports, http, grpc)
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
