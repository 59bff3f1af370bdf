package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	k8serrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/testutil"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/kubetest"
)

var nsSeq atomic.Int64

type env struct {
	t    *testing.T
	srv  *kubetest.Server
	drv  *Driver
	exec *fakeExecutor
	ns   string
	kc   kubernetes.Interface
	dyn  dynamic.Interface
}

// newEnv returns a driver on the shared API server whose default namespace
// is fresh for this test.
func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	srv := kubetest.Shared(t)
	e := &env{t: t, srv: srv, exec: newFakeExecutor(), ns: fmt.Sprintf("t%d-%d", time.Now().UnixNano()%100000, nsSeq.Add(1))}
	store, err := artifact.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Kubeconfigs:        map[string]string{"test": srv.Kubeconfig},
		DefaultKubeCluster: "test", Namespace: e.ns, HelmTimeout: time.Minute, RetryBackoff: 10 * time.Millisecond,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	e.drv, err = New(cfg, store, e.exec, nil, clock.Real())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.drv.Close() })
	if e.kc, err = kubernetes.NewForConfig(srv.Config); err != nil {
		t.Fatal(err)
	}
	if e.dyn, err = dynamic.NewForConfig(srv.Config); err != nil {
		t.Fatal(err)
	}
	return e
}

// values is a values document like compute's quick start (spec §1.7).
func values(cluster string, mutate ...func(map[string]any)) []byte {
	v := map[string]any{
		"cluster_id": cluster, "cluster_name": "my-first-cluster", "user": "user", "email": "user@example.com",
		"terminate_after_minutes": 30, "cluster_type": "all_purpose_cluster", "cloud_env": "kind-0",
		"image":  map[string]any{"repository": "localhost:5000/ray", "tag": "2.37.0"},
		"labels": map[string]any{"team": "ml"},
		"head": map[string]any{
			"enableInTreeAutoscaling": true,
			"rayStartParams":          map[string]any{"num-cpus": "0", "dashboard-host": "0.0.0.0"},
			"resources":               map[string]any{"limits": map[string]any{"cpu": "4", "memory": "8G"}, "requests": map[string]any{"cpu": "4", "memory": "8G"}},
			"containerEnv":            []any{map[string]any{"name": "MODE", "value": "v1"}},
		},
		"worker": map[string]any{
			"groupName": "worker", "replicas": 1, "minReplicas": 1, "maxReplicas": 2,
			"resources":    map[string]any{"limits": map[string]any{"cpu": "2", "memory": "4G"}},
			"containerEnv": []any{map[string]any{"name": "MODE", "value": "v1"}},
		},
		"additionalWorkerGroups": map[string]any{
			"wg1": map[string]any{"groupName": "wg1", "disabled": false, "replicas": 1, "minReplicas": 1, "maxReplicas": 3},
			"wg2": map[string]any{"groupName": "wg2", "disabled": true, "replicas": 1, "minReplicas": 1, "maxReplicas": 1},
		},
		"commands": []any{"echo init"},
	}
	for _, m := range mutate {
		m(v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

func (e *env) apply(cluster, art string, vals []byte) {
	e.t.Helper()
	if _, err := e.drv.Apply(e.t.Context(), cluster, art, vals); err != nil {
		e.t.Fatalf("Apply %s: %v", art, err)
	}
}

func (e *env) rayCluster(cluster string) *unstructured.Unstructured {
	e.t.Helper()
	rc, err := e.dyn.Resource(RayClusterGVR).Namespace(e.ns).Get(e.t.Context(), ResourceName(cluster), metav1.GetOptions{})
	if k8serrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("get RayCluster: %v", err)
	}
	return rc
}

// makePod creates a pod like the KubeRay operator would and, when running,
// writes its status as a kubelet would (there is none).
func (e *env) makePod(cluster, name, nodeType, group string, phase corev1.PodPhase, ready bool) {
	e.t.Helper()
	container := ContainerWorker
	if nodeType == driver.NodeHead {
		container = ContainerHead
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			LabelRayCluster: ResourceName(cluster), LabelNodeType: nodeType, LabelGroup: group, "ray.io/cluster": ResourceName(cluster),
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: container, Image: "localhost:5000/ray:2.37.0",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
	}
	created, err := e.kc.CoreV1().Pods(e.ns).Create(e.t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create pod %s: %v", name, err)
	}
	created.Status = corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
		Name: container, Ready: ready, Image: "localhost:5000/ray:2.37.0",
	}}}
	if phase == corev1.PodRunning {
		created.Status.ContainerStatuses[0].State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.Now()}
	} else {
		created.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	if _, err := e.kc.CoreV1().Pods(e.ns).UpdateStatus(e.t.Context(), created, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("update pod status %s: %v", name, err)
	}
}

func (e *env) status(cluster string) driver.Status {
	e.t.Helper()
	st, err := e.drv.Status(e.t.Context(), cluster)
	if err != nil {
		e.t.Fatalf("Status: %v", err)
	}
	return st
}

func (e *env) helmSecrets(cluster string) int {
	e.t.Helper()
	// Background: also called from cleanups, after the test context ended.
	list, err := e.kc.CoreV1().Secrets(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + cluster})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(list.Items)
}

func str(obj map[string]any, path ...string) string {
	v, _, _ := unstructured.NestedString(obj, path...)
	return v
}

func groupsOf(t *testing.T, rc *unstructured.Unstructured) map[string]map[string]any {
	t.Helper()
	list, _, err := unstructured.NestedSlice(rc.Object, "spec", "workerGroupSpecs")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, g := range list {
		m := g.(map[string]any)
		out[m["groupName"].(string)] = m
	}
	return out
}

func container(t *testing.T, tmpl map[string]any) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(tmpl, "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("want one container, got %d", len(cs))
	}
	return cs[0].(map[string]any)
}

func envValue(c map[string]any, name string) string {
	list, _ := c["env"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		if m["name"] == name {
			s, _ := m["value"].(string)
			return s
		}
	}
	return "<unset>"
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const id = "id-life"
	e.apply(id, id+"-v1", values(id))

	if err := e.drv.Start(ctx, id, id+"-v1"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	// The release exists and the RayCluster has the expected spec.
	rels, err := e.drv.List(ctx)
	if err != nil || len(rels) != 1 || rels[0].Name != id || rels[0].Artifact != id+"-v1" {
		t.Fatalf("List = %+v, %v", rels, err)
	}
	rc := e.rayCluster(id)
	if rc == nil {
		t.Fatal("RayCluster not created")
	}
	if v, _, _ := unstructured.NestedBool(rc.Object, "spec", "enableInTreeAutoscaling"); !v {
		t.Error("enableInTreeAutoscaling is not on")
	}
	head, _, _ := unstructured.NestedMap(rc.Object, "spec", "headGroupSpec")
	if got := str(head, "rayStartParams", "num-cpus"); got != "0" {
		t.Errorf("head num-cpus = %q", got)
	}
	hc := container(t, head)
	if hc["name"] != ContainerHead || hc["image"] != "localhost:5000/ray:2.37.0" || envValue(hc, "MODE") != "v1" {
		t.Errorf("head container = %v %v MODE=%s", hc["name"], hc["image"], envValue(hc, "MODE"))
	}
	if got := str(hc, "resources", "limits", "memory"); got != "8G" {
		t.Errorf("head memory limit = %q", got)
	}
	if got := str(head, "template", "metadata", "labels", "rayCluster"); got != id+"-kuberay" {
		t.Errorf("head pod label rayCluster = %q", got)
	}
	if got := str(head, "template", "metadata", "labels", "team"); got != "ml" {
		t.Errorf("head pod label team = %q", got)
	}
	groups := groupsOf(t, rc)
	if len(groups) != 2 || groups["worker"] == nil || groups["wg1"] == nil {
		t.Fatalf("worker groups = %v (wg2 is disabled)", slices.Collect(func(yield func(string) bool) {
			for k := range groups {
				if !yield(k) {
					return
				}
			}
		}))
	}
	for name, want := range map[string][3]int64{"worker": {1, 1, 2}, "wg1": {1, 1, 3}} {
		g := groups[name]
		got := [3]int64{g["replicas"].(int64), g["minReplicas"].(int64), g["maxReplicas"].(int64)}
		if got != want {
			t.Errorf("group %s replicas/min/max = %v, want %v", name, got, want)
		}
		if c := container(t, g); c["name"] != ContainerWorker {
			t.Errorf("group %s container = %v", name, c["name"])
		}
	}
	// Ingress paths for every public endpoint.
	ings, err := e.kc.NetworkingV1().Ingresses(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, ing := range ings.Items {
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				paths = append(paths, p.Path)
			}
		}
	}
	for _, want := range []string{"jupyter", "dashboard", "sparkui", "metrics", "vscode"} {
		prefix := "/kind-0/" + id + "-" + want
		if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasPrefix(p, prefix) }) {
			t.Errorf("no Ingress path for %s in %v", prefix, paths)
		}
	}

	// Installed, no pods yet; URLs from the head Service.
	st := e.status(id)
	if !st.Installed || len(st.Pods) != 0 || st.Artifact != id+"-v1" {
		t.Errorf("status before pods = %+v", st)
	}
	if want := fmt.Sprintf("http://%s-kuberay-head.%s.svc:8265", id, e.ns); st.DashboardURL != want {
		t.Errorf("DashboardURL = %q, want %q", st.DashboardURL, want)
	}
	if want := fmt.Sprintf("http://%s-kuberay-head.%s.svc:8888/kind-0/%s-jupyter", id, e.ns, id); st.JupyterURL != want {
		t.Errorf("JupyterURL = %q, want %q", st.JupyterURL, want)
	}
	if u, err := e.drv.HeadURL(ctx, id); err != nil || u != st.DashboardURL {
		t.Errorf("HeadURL = %q, %v", u, err)
	}

	// Pods made Running by the test (no kubelet) → Running.
	e.makePod(id, id+"-kuberay-head-abcde", "head", "headgroup", corev1.PodRunning, true)
	e.makePod(id, id+"-kuberay-worker-worker-fghij", "worker", "worker", corev1.PodRunning, true)
	e.makePod(id, id+"-kuberay-worker-wg1-klmno", "worker", "wg1", corev1.PodRunning, false)
	e.makePod("other", "other-kuberay-head-zzzzz", "head", "headgroup", corev1.PodRunning, true)
	st = e.status(id)
	want := []driver.Pod{
		{Name: id + "-kuberay-head-abcde", Status: driver.PodRunning, NodeType: "head", Group: "headgroup"},
		{Name: id + "-kuberay-worker-wg1-klmno", Status: driver.PodPending, Message: "containers not ready", NodeType: "worker", Group: "wg1"},
		{Name: id + "-kuberay-worker-worker-fghij", Status: driver.PodRunning, NodeType: "worker", Group: "worker"},
	}
	if !slices.Equal(st.Pods, want) {
		t.Errorf("pods =\n%+v\nwant\n%+v", st.Pods, want)
	}
	if rels, _ := e.drv.List(ctx); len(rels) != 1 || rels[0].Status != driver.PodRunning {
		t.Errorf("List after pods = %+v, want head Running", rels)
	}

	// Apply new values + Start → upgrade changes the RayCluster.
	e.apply(id, id+"-v2", values(id, func(v map[string]any) {
		v["worker"].(map[string]any)["maxReplicas"] = 4
		v["head"].(map[string]any)["containerEnv"] = []any{map[string]any{"name": "MODE", "value": "v2"}}
		v["additionalWorkerGroups"].(map[string]any)["wg2"].(map[string]any)["disabled"] = false
	}))
	if err := e.drv.Start(ctx, id, ""); err != nil { // "" = last applied
		t.Fatalf("Start v2: %v", err)
	}
	rc = e.rayCluster(id)
	groups = groupsOf(t, rc)
	if groups["worker"]["maxReplicas"] != int64(4) || groups["wg2"] == nil {
		t.Errorf("after upgrade worker max = %v, wg2 present = %v", groups["worker"]["maxReplicas"], groups["wg2"] != nil)
	}
	head, _, _ = unstructured.NestedMap(rc.Object, "spec", "headGroupSpec")
	if got := envValue(container(t, head), "MODE"); got != "v2" {
		t.Errorf("after upgrade MODE = %q", got)
	}
	if st := e.status(id); st.Artifact != id+"-v2" || !st.Installed {
		t.Errorf("status after upgrade: artifact %q installed %v", st.Artifact, st.Installed)
	}
	if n := e.helmSecrets(id); n != 2 {
		t.Errorf("helm revisions after upgrade = %d, want 2", n)
	}

	// Restart: the old pods are removed, the release is installed afresh.
	if err := e.drv.Restart(ctx, id, ""); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	st = e.status(id)
	if !st.Installed || len(st.Pods) != 0 || st.Artifact != id+"-v2" {
		t.Errorf("after restart = %+v", st)
	}
	if n := e.helmSecrets(id); n != 1 {
		t.Errorf("helm revisions after restart = %d, want 1 (fresh install)", n)
	}
	if e.rayCluster(id) == nil {
		t.Error("RayCluster missing after restart")
	}

	// Stop → release, RayCluster and pods gone; other clusters untouched.
	e.makePod(id, id+"-kuberay-head-second", "head", "headgroup", corev1.PodRunning, true)
	if err := e.drv.Stop(ctx, id); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if e.rayCluster(id) != nil {
		t.Error("RayCluster still there after Stop")
	}
	if n := e.helmSecrets(id); n != 0 {
		t.Errorf("helm release records after Stop = %d", n)
	}
	st = e.status(id)
	if st.Installed || len(st.Pods) != 0 || st.DashboardURL != "" {
		t.Errorf("status after Stop = %+v", st)
	}
	if rels, _ := e.drv.List(ctx); len(rels) != 0 {
		t.Errorf("List after Stop = %+v", rels)
	}
	if _, err := e.kc.CoreV1().Pods(e.ns).Get(ctx, "other-kuberay-head-zzzzz", metav1.GetOptions{}); err != nil {
		t.Errorf("another cluster's pod was touched: %v", err)
	}
	if err := e.drv.Stop(ctx, id); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := e.drv.HeadURL(ctx, id); apierr.KindOf(err) != apierr.FailedPrecondition {
		t.Errorf("HeadURL of stopped cluster: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	if err := e.drv.Start(ctx, "id-none", ""); apierr.KindOf(err) != apierr.NotFound {
		t.Errorf("Start without artifact: %v", err)
	}
	if err := e.drv.Start(ctx, "id-none", "id-none-v9"); apierr.KindOf(err) != apierr.NotFound {
		t.Errorf("Start with unknown artifact: %v", err)
	}
	if err := e.drv.Start(ctx, "bad_name", "x"); apierr.KindOf(err) != apierr.InvalidArgument {
		t.Errorf("Start with bad name: %v", err)
	}
}

func TestApplyRejectsBadValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name string
		vals []byte
		want string
	}{
		{"not json", []byte("{"), "not valid JSON"},
		{"array", []byte("[]"), "JSON object"},
		{"negative replicas", values("id-x", func(v map[string]any) { v["worker"].(map[string]any)["replicas"] = -2 }), "replicas"},
		{"min above max", values("id-x", func(v map[string]any) {
			v["additionalWorkerGroups"].(map[string]any)["wg1"].(map[string]any)["minReplicas"] = 9
		}), "additionalWorkerGroups.wg1.minReplicas (9) exceeds"},
		{"no image repository", values("id-x", func(v map[string]any) { v["image"] = map[string]any{"repository": ""} }), "repository"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.drv.Apply(t.Context(), "id-x", "id-x-v1", tc.vals)
			if err == nil {
				t.Fatal("Apply accepted bad values")
			}
			ae := apierr.From(err)
			if ae.Kind != apierr.InvalidArgument || ae.Field != "values" || !strings.Contains(ae.Message, tc.want) {
				t.Errorf("Apply = %v (kind %v field %q), want InvalidArgument on values mentioning %q", err, ae.Kind, ae.Field, tc.want)
			}
		})
	}
}

func TestBrokenKubeconfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("this: [is not a kubeconfig"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := filepath.Join(dir, "closed")
	if err := kubetest.WriteKubeconfig(closed, fmt.Sprintf("https://127.0.0.1:%d", testutil.FreePort(t)), "x"); err != nil {
		t.Fatal(err)
	}
	badToken := filepath.Join(dir, "badtoken")
	e := newEnv(t, func(c *Config) {
		c.Kubeconfigs["garbage"] = garbage
		c.Kubeconfigs["closed"] = closed
		c.Kubeconfigs["missing"] = filepath.Join(dir, "nope")
		c.Kubeconfigs["badtoken"] = badToken
	})
	if err := kubetest.WriteKubeconfig(badToken, e.srv.URL, "wrong-token"); err != nil {
		t.Fatal(err)
	}
	const id = "id-broken"
	e.apply(id, id+"-v1", values(id))
	cases := []struct {
		kubeCluster string
		kind        apierr.Kind
		want        string
	}{
		{"unknown", apierr.FailedPrecondition, `kube_cluster "unknown" is not configured`},
		{"garbage", apierr.FailedPrecondition, `kube_cluster "garbage": kubeconfig`},
		{"missing", apierr.FailedPrecondition, `kube_cluster "missing": kubeconfig`},
		{"closed", apierr.Unavailable, `kube_cluster "closed" is unreachable`},
		{"badtoken", apierr.FailedPrecondition, `kube_cluster "badtoken" rejected our credentials`},
	}
	for _, tc := range cases {
		t.Run(tc.kubeCluster, func(t *testing.T) {
			t.Parallel()
			ctx := driver.WithPlacement(t.Context(), driver.Placement{KubeCluster: tc.kubeCluster})
			err := e.drv.Start(ctx, id, "")
			ae := apierr.From(err)
			if ae.Kind != tc.kind || !strings.Contains(ae.Message, tc.want) {
				t.Errorf("Start on %s = %v (kind %v), want %v containing %q", tc.kubeCluster, err, ae.Kind, tc.kind, tc.want)
			}
			if _, err := e.drv.Status(ctx, id); apierr.KindOf(err) != tc.kind {
				t.Errorf("Status on %s = %v, want kind %v", tc.kubeCluster, err, tc.kind)
			}
		})
	}
	t.Cleanup(func() {
		// Nothing reached the real server.
		if n := e.helmSecrets(id); n != 0 {
			t.Errorf("release records on the real server: %d", n)
		}
	})
}

// A failure in the middle of an install (the API server refuses the
// RayCluster after the ConfigMap and Services were accepted) is rolled back:
// nothing of the cluster is left, and a later Start succeeds.
func TestAtomicInstallLeavesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const id = "id-atomic"
	e.apply(id, id+"-v1", values(id))
	if _, err := e.kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A quota of zero RayClusters, with its usage written by hand (there is
	// no quota controller).
	rq := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "no-rayclusters"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/rayclusters.ray.io": resource.MustParse("0")}},
	}
	created, err := e.kc.CoreV1().ResourceQuotas(e.ns).Create(ctx, rq, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = corev1.ResourceQuotaStatus{Hard: rq.Spec.Hard, Used: corev1.ResourceList{"count/rayclusters.ray.io": resource.MustParse("0")}}
	if _, err := e.kc.CoreV1().ResourceQuotas(e.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	err = e.drv.Start(ctx, id, "")
	if ae := apierr.From(err); ae.Kind != apierr.FailedPrecondition || !strings.Contains(ae.Message, "quota") {
		t.Fatalf("Start under quota = %v (kind %v), want FailedPrecondition mentioning the quota", err, ae.Kind)
	}
	if e.rayCluster(id) != nil {
		t.Error("RayCluster exists after failed install")
	}
	if _, err := e.kc.CoreV1().ConfigMaps(e.ns).Get(ctx, id+"-script", metav1.GetOptions{}); !k8serrors.IsNotFound(err) {
		t.Errorf("ConfigMap left behind: %v", err)
	}
	if _, err := e.kc.CoreV1().Services(e.ns).Get(ctx, HeadServiceName(id), metav1.GetOptions{}); !k8serrors.IsNotFound(err) {
		t.Errorf("head Service left behind: %v", err)
	}
	if n := e.helmSecrets(id); n != 0 {
		t.Errorf("release records left behind: %d", n)
	}
	if st := e.status(id); st.Installed {
		t.Error("status says installed after failed install")
	}

	if err := e.kc.CoreV1().ResourceQuotas(e.ns).Delete(ctx, "no-rayclusters", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return e.drv.Start(ctx, id, "") == nil }, "Start after removing the quota")
	if e.rayCluster(id) == nil {
		t.Error("RayCluster missing after successful Start")
	}
}

func TestPlacementFromRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const id = "id-placed"
	other := e.ns + "-b"
	e.apply(id, id+"-v1", values(id))
	pctx := driver.WithPlacement(ctx, driver.Placement{KubeCluster: "test", Namespace: other})
	if err := e.drv.Start(pctx, id, ""); err != nil {
		t.Fatalf("Start in %s: %v", other, err)
	}
	if _, err := e.dyn.Resource(RayClusterGVR).Namespace(other).Get(ctx, ResourceName(id), metav1.GetOptions{}); err != nil {
		t.Fatalf("RayCluster not in the requested namespace: %v", err)
	}
	// Later calls without a placement find the cluster where it was started.
	if st := e.status(id); !st.Installed || !strings.Contains(st.DashboardURL, "."+other+".svc") {
		t.Errorf("status without placement = %+v", st)
	}
	if err := e.drv.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dyn.Resource(RayClusterGVR).Namespace(other).Get(ctx, ResourceName(id), metav1.GetOptions{}); !k8serrors.IsNotFound(err) {
		t.Errorf("RayCluster after Stop: %v", err)
	}
}

func TestInClusterConfig(t *testing.T) {
	t.Parallel()
	srv := kubetest.Shared(t)
	e := newEnv(t, func(c *Config) {
		c.Kubeconfigs, c.DefaultKubeCluster = nil, ""
		c.InClusterConfig = func() (*rest.Config, error) { return rest.CopyConfig(srv.Config), nil }
	})
	const id = "id-incluster"
	e.apply(id, id+"-v1", values(id))
	// Any kube_cluster name maps to the in-cluster config when no kubeconfig is configured.
	ctx := driver.WithPlacement(t.Context(), driver.Placement{KubeCluster: "kind-0"})
	if err := e.drv.Start(ctx, id, ""); err != nil {
		t.Fatalf("Start in-cluster: %v", err)
	}
	if e.rayCluster(id) == nil {
		t.Error("RayCluster not created through the in-cluster config")
	}

	store, _ := artifact.Open(context.Background(), t.TempDir())
	outside, err := New(Config{InClusterConfig: func() (*rest.Config, error) { return nil, rest.ErrNotInCluster }}, store, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	if _, err := outside.Apply(t.Context(), id, id+"-v1", values(id)); err != nil {
		t.Fatal(err)
	}
	err = outside.Start(t.Context(), id, "")
	if ae := apierr.From(err); ae.Kind != apierr.FailedPrecondition || !strings.Contains(ae.Message, "in-cluster config is unavailable") {
		t.Errorf("Start outside a cluster = %v", err)
	}
}

func TestExecThroughExecutor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const id = "id-exec"
	e.apply(id, id+"-v1", values(id))
	if err := e.drv.Start(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.drv.Exec(ctx, driver.ExecRequest{Cluster: id, Command: "ls"}); apierr.KindOf(err) != apierr.FailedPrecondition {
		t.Errorf("Exec without running pods = %v", err)
	}
	head, w1, w2, pending := id+"-kuberay-head-aaaaa", id+"-kuberay-worker-worker-bbbbb", id+"-kuberay-worker-wg1-ccccc", id+"-kuberay-worker-wg1-ddddd"
	e.makePod(id, head, "head", "headgroup", corev1.PodRunning, true)
	e.makePod(id, w1, "worker", "worker", corev1.PodRunning, true)
	e.makePod(id, w2, "worker", "wg1", corev1.PodRunning, true)
	e.makePod(id, pending, "worker", "wg1", corev1.PodPending, false)

	wait := func(execID string) []driver.PodExec {
		t.Helper()
		var res []driver.PodExec
		testutil.Eventually(t, 5*time.Second, func() bool {
			var err error
			res, err = e.drv.ExecStatus(ctx, id, execID)
			if err != nil {
				t.Fatalf("ExecStatus: %v", err)
			}
			for _, p := range res {
				if p.Status == driver.ExecRunning {
					return false
				}
			}
			return true
		}, "execution %s to finish", execID)
		return res
	}

	// Workers only; the pending worker is skipped.
	pods, err := e.drv.Exec(ctx, driver.ExecRequest{Cluster: id, Target: driver.TargetWorker, Command: "pip install x", ExecutionID: "ex-1"})
	if err != nil || !slices.Equal(pods, []string{w2, w1}) {
		t.Fatalf("Exec workers = %v, %v", pods, err)
	}
	res := wait("ex-1")
	for _, p := range res {
		if p.Status != driver.ExecSuccess || p.ExitCode != 0 || !strings.Contains(p.Output, "ray-worker: sh -c pip install x") {
			t.Errorf("worker exec = %+v", p)
		}
	}

	// Whole cluster: one pod fails with a status, one cannot run at all.
	e.exec.mu.Lock()
	e.exec.fail[w1] = 3
	e.exec.broken[w2] = true
	e.exec.mu.Unlock()
	pods, err = e.drv.Exec(ctx, driver.ExecRequest{Cluster: id, Command: "echo hi", ExecutionID: "ex-2"})
	if err != nil || len(pods) != 3 {
		t.Fatalf("Exec cluster = %v, %v", pods, err)
	}
	got := map[string]driver.PodExec{}
	for _, p := range wait("ex-2") {
		got[p.Pod] = p
	}
	if p := got[head]; p.Status != driver.ExecSuccess || !strings.Contains(p.Output, "ray-head:") {
		t.Errorf("head = %+v", p)
	}
	if p := got[w1]; p.Status != driver.ExecFailed || p.ExitCode != 3 || !strings.Contains(p.Output, "boom") {
		t.Errorf("failing worker = %+v", p)
	}
	if p := got[w2]; p.Status != driver.ExecFailed || p.ExitCode != -1 || !strings.Contains(p.Message, "not found") {
		t.Errorf("broken worker = %+v", p)
	}

	// A command still running is reported running; a timeout fails it.
	block := make(chan struct{})
	e.exec.mu.Lock()
	e.exec.block[head] = block
	e.exec.mu.Unlock()
	if _, err := e.drv.Exec(ctx, driver.ExecRequest{Cluster: id, Target: driver.TargetHead, Command: "sleep", ExecutionID: "ex-3"}); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.drv.ExecStatus(ctx, id, "ex-3"); len(res) != 1 || res[0].Status != driver.ExecRunning {
		t.Errorf("blocked exec = %+v", res)
	}
	close(block)
	if res := wait("ex-3"); res[0].Status != driver.ExecSuccess {
		t.Errorf("unblocked exec = %+v", res)
	}
	e.exec.mu.Lock()
	e.exec.block[head] = make(chan struct{})
	e.exec.mu.Unlock()
	if _, err := e.drv.Exec(ctx, driver.ExecRequest{Cluster: id, Target: driver.TargetHead, Command: "sleep", ExecutionID: "ex-4", Timeout: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if res := wait("ex-4"); res[0].Status != driver.ExecFailed || !strings.Contains(res[0].Message, "timed out") {
		t.Errorf("timed-out exec = %+v", res)
	}

	if _, err := e.drv.ExecStatus(ctx, id, "nope"); apierr.KindOf(err) != apierr.NotFound {
		t.Errorf("unknown execution = %v", err)
	}
	if _, err := e.drv.Exec(ctx, driver.ExecRequest{Cluster: id, Target: "nodes", Command: "x"}); apierr.KindOf(err) != apierr.InvalidArgument {
		t.Errorf("bad target = %v", err)
	}
	calls := e.exec.called()
	for _, c := range calls {
		if c.Namespace != e.ns {
			t.Errorf("exec in namespace %q, want %q", c.Namespace, e.ns)
		}
	}
}

// The real executor against the real API server: without a kubelet the
// exec subresource cannot run, and the executor must say so as an error
// (not an exit status), as the contract requires.
func TestRemoteExecutorReportsUnrunnableCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	const id = "id-rexec"
	if _, err := e.kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.makePod(id, id+"-kuberay-head-aaaaa", "head", "headgroup", corev1.PodRunning, true)
	var out strings.Builder
	code, err := NewRemoteExecutor().Exec(ctx, e.srv.Config, PodRef{Namespace: e.ns, Pod: id + "-kuberay-head-aaaaa", Container: ContainerHead},
		[]string{"true"}, &out, &out)
	if err == nil {
		t.Fatalf("exec without a kubelet succeeded (code %d)", code)
	}
	if !strings.Contains(err.Error(), id+"-kuberay-head-aaaaa") {
		t.Errorf("error does not name the pod: %v", err)
	}
}

// Kubernetes Events about the cluster's pods and the RayCluster's status
// conditions, as the operator and kubelet would write them, come back
// through Status.
func TestStatusEventsAndConditions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const id = "id-events"
	e.apply(id, id+"-v1", values(id))
	if err := e.drv.Start(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	head, worker := id+"-kuberay-head-aaaaa", id+"-kuberay-worker-worker-bbbbb"
	e.makePod(id, head, "head", "headgroup", corev1.PodRunning, true)
	e.makePod(id, worker, "worker", "worker", corev1.PodPending, false)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i, ev := range []struct{ pod, reason, typ string }{
		{worker, "FailedScheduling", corev1.EventTypeWarning},
		{head, "Started", corev1.EventTypeNormal},
		{id + "-kuberay-worker-worker-gone1", "Evicted", corev1.EventTypeWarning},
		{head, "Pulled", corev1.EventTypeNormal},
		{"unrelated-pod", "BackOff", corev1.EventTypeWarning},
	} {
		_, err := e.kc.CoreV1().Events(e.ns).Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("ev-%d", i)},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: e.ns, Name: ev.pod},
			Reason:         ev.reason, Message: ev.reason + " message", Type: ev.typ, Count: 1,
			FirstTimestamp: metav1.NewTime(t0.Add(time.Duration(i) * time.Second)), LastTimestamp: metav1.NewTime(t0.Add(time.Duration(i) * time.Second)),
			Source: corev1.EventSource{Component: "test"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create event: %v", err)
		}
	}
	rc := e.rayCluster(id)
	if err := unstructured.SetNestedField(rc.Object, map[string]any{
		"state": "ready",
		"conditions": []any{map[string]any{"type": "RayClusterReplicaFailure", "status": "True", "reason": "FailedCreateWorkerPod",
			"message": "pods is forbidden: exceeded quota", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}},
	}, "status"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dyn.Resource(RayClusterGVR).Namespace(e.ns).UpdateStatus(ctx, rc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update RayCluster status: %v", err)
	}

	st := e.status(id)
	var got []string
	for _, ev := range st.Events {
		got = append(got, ev.Type+" "+ev.Pod)
	}
	want := []string{
		driver.EventPodFailedScheduling + " " + worker,
		driver.EventPodStarted + " " + head,
		driver.EventPodEvicted + " " + id + "-kuberay-worker-worker-gone1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events =\n%q\nwant\n%q", got, want)
	}
	if !slices.Contains(st.Conditions, driver.Condition{Type: "RayClusterReplicaFailure", Status: "True", Reason: "FailedCreateWorkerPod", Message: "pods is forbidden: exceeded quota"}) {
		t.Errorf("conditions = %+v", st.Conditions)
	}
	// The pending worker has a waiting container: its own reason wins.
	for _, p := range st.Pods {
		if p.Name == worker && (p.Status != driver.PodPending || p.Message != "ray-worker: ContainerCreating") {
			t.Errorf("pending worker = %+v", p)
		}
	}

	// A RayCluster deleted behind Helm's back: not installed.
	if err := e.dyn.Resource(RayClusterGVR).Namespace(e.ns).Delete(ctx, ResourceName(id), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := e.status(id); st.Installed || !slices.ContainsFunc(st.Conditions, func(c driver.Condition) bool { return c.Type == "RayClusterMissing" }) {
		t.Errorf("status with the RayCluster gone = installed %v, conditions %+v", st.Installed, st.Conditions)
	}
	// Start repairs it (upgrade recreates the missing object).
	if err := e.drv.Start(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	if e.rayCluster(id) == nil || !e.status(id).Installed {
		t.Error("Start did not recreate the RayCluster")
	}
}

// A server answering 503 is retried three times, then reported Unavailable.
func TestStartRetriesTransientErrors(t *testing.T) {
	t.Parallel()
	var secretLists atomic.Int64
	flaky := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/secrets") {
			secretLists.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503,"message":"etcd is down"}`))
	}))
	t.Cleanup(flaky.Close)
	path := filepath.Join(t.TempDir(), "flaky")
	if err := kubetest.WriteKubeconfig(path, flaky.URL, "x"); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Kubeconfigs["flaky"] = path })
	const id = "id-flaky"
	e.apply(id, id+"-v1", values(id))
	ctx := driver.WithPlacement(t.Context(), driver.Placement{KubeCluster: "flaky"})
	err := e.drv.Start(ctx, id, "")
	if ae := apierr.From(err); ae.Kind != apierr.Unavailable || !strings.Contains(ae.Message, `kube_cluster "flaky"`) {
		t.Fatalf("Start = %v (kind %v), want Unavailable naming the kube_cluster", err, ae.Kind)
	}
	if n := secretLists.Load(); n != attempts {
		t.Errorf("release lookups = %d, want %d attempts", n, attempts)
	}
}
