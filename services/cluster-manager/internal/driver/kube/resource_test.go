package kube

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	k8serrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/charts"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

func serveDoc(t *testing.T, artifactID string, values map[string]any) resource.Doc {
	t.Helper()
	merged, err := resource.MergeDefaults(charts.FastAPIServe, values)
	if err != nil {
		t.Fatal(err)
	}
	return resource.Doc{ArtifactID: artifactID, DarwinResource: charts.FastAPIServe, Version: "1.0.0", Values: merged}
}

func (e *env) servePod(id, name string, phase corev1.PodPhase, ready bool) {
	e.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelResourceInstance: id}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "localhost:5000/serve-md-runtime:1.2"}}},
	}
	created, err := e.kc.CoreV1().Pods(e.ns).Create(e.t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create pod %s: %v", name, err)
	}
	created.Status = corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: ready}}}
	if phase == corev1.PodRunning {
		created.Status.ContainerStatuses[0].State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.Now()}
	} else {
		created.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	if _, err := e.kc.CoreV1().Pods(e.ns).UpdateStatus(e.t.Context(), created, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("update pod status %s: %v", name, err)
	}
}

// TestResourceInstanceLifecycle installs a darwin-fastapi-serve release on the real API server, checks the
// objects (image, env, labels, HPA bounds, Service, Ingress path), reads pod status by the
// resource-instance label, upgrades it with new values and uninstalls it.
func TestResourceInstanceLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := driver.WithPlacement(t.Context(), driver.Placement{KubeCluster: "test", Namespace: e.ns})
	const id = "local-iris"
	doc := serveDoc(t, "local-iris-1", map[string]any{
		"name": "iris", "image": "localhost:5000/serve-md-runtime:1.2",
		"replicas":  map[string]any{"min": 2, "max": 5},
		"envs":      map[string]any{"MLFLOW_MODEL_URI": "models:/iris/1", "MODEL_VERSION": "1"},
		"resources": map[string]any{"cores": 2, "memory_gb": 4},
	})
	if st, err := e.drv.ResourceStatus(ctx, id); err != nil || st.Installed || len(st.Pods) != 0 {
		t.Fatalf("status before install: %+v %v", st, err)
	}
	if err := e.drv.StartResource(ctx, id, doc); err != nil {
		t.Fatal(err)
	}
	dep, err := e.kc.AppsV1().Deployments(e.ns).Get(t.Context(), id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Image != "localhost:5000/serve-md-runtime:1.2" {
		t.Fatalf("image %q", c.Image)
	}
	env := map[string]string{}
	for _, ev := range c.Env {
		env[ev.Name] = ev.Value
	}
	if env["MLFLOW_MODEL_URI"] != "models:/iris/1" || env["MODEL_VERSION"] != "1" || env["SERVE_NAME"] != "iris" || env["RESOURCE_INSTANCE_ID"] != id {
		t.Fatalf("env %v", env)
	}
	if got := dep.Spec.Template.Labels[LabelResourceInstance]; got != id {
		t.Fatalf("pod template label %q", got)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/ready" || c.LivenessProbe.HTTPGet.Path != "/healthcheck" {
		t.Fatalf("probes %+v %+v", c.ReadinessProbe, c.LivenessProbe)
	}
	if q := c.Resources.Limits[corev1.ResourceCPU]; q.String() != "2" {
		t.Fatalf("cpu limit %s", q.String())
	}
	if q := c.Resources.Limits[corev1.ResourceMemory]; q.String() != "4Gi" {
		t.Fatalf("memory limit %s", q.String())
	}
	hpa, err := e.kc.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Get(t.Context(), id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 5 || hpa.Spec.ScaleTargetRef.Name != id {
		t.Fatalf("hpa %+v", hpa.Spec)
	}
	if _, err := e.kc.CoreV1().Services(e.ns).Get(t.Context(), id, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	ing, err := e.kc.NetworkingV1().Ingresses(e.ns).Get(t.Context(), id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := ing.Spec.Rules[0].HTTP.Paths[0]; p.Path != "/"+id+"(/|$)(.*)" || p.Backend.Service.Name != id {
		t.Fatalf("ingress path %+v", p)
	}

	e.servePod(id, id+"-a", corev1.PodRunning, true)
	e.servePod(id, id+"-b", corev1.PodPending, false)
	e.servePod("someone-else", "other-pod", corev1.PodRunning, true)
	st, err := e.drv.ResourceStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]resource.Pod{}
	for _, p := range st.Pods {
		byName[p.Name] = p
	}
	if !st.Installed || st.ArtifactID != "local-iris-1" || len(st.Pods) != 2 || byName[id+"-a"].Status != driver.PodRunning ||
		byName[id+"-b"].Status != driver.PodPending || !strings.Contains(byName[id+"-b"].Message, "ContainerCreating") {
		t.Fatalf("status %+v", st)
	}
	if st.URL != "http://"+id+"."+e.ns+".svc:80" {
		t.Fatalf("url %q", st.URL)
	}

	// Upgrade with new values: new image, more replicas, custom ingress path.
	doc2 := serveDoc(t, "local-iris-2", map[string]any{
		"name": "iris", "image": map[string]any{"repository": "localhost:5000/serve-md-runtime", "tag": "1.3"},
		"hpa": map[string]any{"minReplicas": 3, "maxReplicas": 6}, "ingress": map[string]any{"path": "/iris-local/"},
	})
	if err := e.drv.StartResource(ctx, id, doc2); err != nil {
		t.Fatal(err)
	}
	dep, err = e.kc.AppsV1().Deployments(e.ns).Get(t.Context(), id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "localhost:5000/serve-md-runtime:1.3" {
		t.Fatalf("image after upgrade %q", img)
	}
	hpa, _ = e.kc.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Get(t.Context(), id, metav1.GetOptions{})
	if *hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 6 {
		t.Fatalf("hpa after upgrade %+v", hpa.Spec)
	}
	ing, _ = e.kc.NetworkingV1().Ingresses(e.ns).Get(t.Context(), id, metav1.GetOptions{})
	if p := ing.Spec.Rules[0].HTTP.Paths[0].Path; p != "/iris-local(/|$)(.*)" {
		t.Fatalf("ingress path after upgrade %q", p)
	}
	if st, _ := e.drv.ResourceStatus(ctx, id); st.ArtifactID != "local-iris-2" {
		t.Fatalf("artifact after upgrade %q", st.ArtifactID)
	}

	// A release of another chart under the same name is refused.
	e.apply("taken", "taken-v1", values("taken"))
	if err := e.drv.Start(ctx, "taken", "taken-v1"); err != nil {
		t.Fatal(err)
	}
	if err := e.drv.StartResource(ctx, "taken", doc); apierr.KindOf(err) != apierr.AlreadyExists {
		t.Fatalf("start over a ray-cluster release: %v", err)
	}

	if err := e.drv.StopResource(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kc.AppsV1().Deployments(e.ns).Get(t.Context(), id, metav1.GetOptions{}); !k8serrors.IsNotFound(err) {
		t.Fatalf("deployment after stop: %v", err)
	}
	if st, err := e.drv.ResourceStatus(ctx, id); err != nil || st.Installed {
		t.Fatalf("status after stop: %+v %v", st, err)
	}
	if err := e.drv.StopResource(ctx, id); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("second stop: %v", err)
	}
	if err := e.drv.StartResource(ctx, "Bad_ID", doc); apierr.KindOf(err) != apierr.InvalidArgument {
		t.Fatalf("bad id: %v", err)
	}
}
