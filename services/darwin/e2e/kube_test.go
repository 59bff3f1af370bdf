package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/server"
	"github.com/darwinml/darwin/pkg/testutil"
	"github.com/darwinml/darwin/services/cluster-manager/kubetest"
	"github.com/darwinml/darwin/services/compute"
)

// TestMain shares one real kube-apiserver (+ etcd) across the package; the
// tests that need it skip, or fail under DARWIN_TEST_REQUIRE_ALL=1, when the
// binaries of scripts/k8s-test-binaries.sh are missing.
func TestMain(m *testing.M) { kubetest.Main(m) }

var rayClusterGVR = schema.GroupVersionResource{Group: "ray.io", Version: "v1", Resource: "rayclusters"}

// probe stands in for the cluster heads, which do not run without a kubelet:
// Jupyter answers, and activity is what the test sets.
type probe struct{ busy atomic.Bool }

func (p *probe) JupyterUp(context.Context, string) bool { return true }
func (p *probe) RayJobRunning(context.Context, string) (bool, error) {
	return p.busy.Load(), nil
}
func (p *probe) JupyterActive(context.Context, string, time.Time, bool, bool) (bool, error) {
	return false, nil
}
func (p *probe) CPUUsage(context.Context, string) (float64, []float64, error) { return 0, nil, nil }

// kubePlatform is compute (in process, on a fake clock) driving the real
// cluster-manager binary with the Kubernetes driver against kube-apiserver.
type kubePlatform struct {
	api   *kubetest.Server
	cm    *platform
	comp  *compute.Service
	base  string // compute REST base, .../compute
	clk   *clock.Fake
	probe *probe
	kc    kubernetes.Interface
	dyn   dynamic.Interface
}

func startKubePlatform(t testing.TB, extraKubeconfigs string) *kubePlatform {
	t.Helper()
	api := kubetest.Shared(t)
	kc, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	cmBin := buildBinary(t, "github.com/darwinml/darwin/services/cluster-manager/cmd/cluster-manager")
	httpPort, grpcPort := testutil.FreePort(t), testutil.FreePort(t)
	kubeconfigs := "kind-0=" + api.Kubeconfig
	if extraKubeconfigs != "" {
		kubeconfigs += "," + extraKubeconfigs
	}
	cm := startProcess(t, cmBin, fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		fmt.Sprintf("-server.http-addr=127.0.0.1:%d", httpPort), fmt.Sprintf("-server.grpc-addr=127.0.0.1:%d", grpcPort),
		"-cluster-manager.driver=kubernetes", "-cluster-manager.kubeconfigs="+kubeconfigs,
		"-cluster-manager.data-dir="+t.TempDir(), "-cluster-manager.helm-timeout=60s")

	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &kubePlatform{api: api, cm: cm, clk: clock.NewFake(time.Now().UTC()), probe: &probe{}, kc: kc, dyn: dyn}
	cfg := compute.Config{DataDir: filepath.Join(t.TempDir(), "compute"), PublicURL: "http://localhost:8080", PollInterval: time.Hour}
	comp, err := compute.New(cfg, compute.Deps{Logger: log.Discard(), Clock: p.clk, ClusterManager: conn, Probe: p.probe})
	if err != nil {
		t.Fatal(err)
	}
	mod := comp.Module()
	if err := mod.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mod.Stop(context.Background()) })
	srv, err := server.New(server.Config{HTTPAddr: "127.0.0.1:0"}, log.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.HTTP.Route("/compute", comp.RegisterHTTP)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	p.comp, p.base = comp, "http://"+srv.HTTPAddr()
	return p
}

func (p *kubePlatform) call(t testing.TB, method, path, body string, out any, headers ...string) int {
	t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return doJSON(t, method, p.base+path, h, body, out)
}

func (p *kubePlatform) rayCluster(t testing.TB, id string) (*unstructured.Unstructured, bool) {
	t.Helper()
	rc, err := p.dyn.Resource(rayClusterGVR).Namespace("ray").Get(context.Background(), id+"-kuberay", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("get RayCluster %s: %v", id, err)
	}
	return rc, true
}

// runPods does what the KubeRay operator and the kubelet would: it creates
// the head and worker pods of a cluster and marks them Running and Ready.
func (p *kubePlatform) runPods(t testing.TB, id string, workers int) {
	t.Helper()
	ctx := context.Background()
	make1 := func(name, nodeType, container string) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				"rayCluster": id + "-kuberay", "ray.io/cluster": id + "-kuberay", "ray.io/node-type": nodeType, "ray.io/group": nodeType,
			}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: container, Image: "localhost:5000/ray:2.37.0"}}},
		}
		created, err := p.kc.CoreV1().Pods("ray").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod %s: %v", name, err)
		}
		created.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: container, Ready: true, Image: "localhost:5000/ray:2.37.0",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		}}}
		if _, err := p.kc.CoreV1().Pods("ray").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("pod status %s: %v", name, err)
		}
	}
	make1(id+"-kuberay-head-0", "head", "ray-head")
	for i := range workers {
		make1(fmt.Sprintf("%s-kuberay-worker-worker-%d", id, i), "worker", "ray-worker")
	}
}

// pollUntil runs compute's poller (one pass per step of the fake clock) until
// the cluster's internal status is want.
func (p *kubePlatform) pollUntil(t testing.TB, id, want string) {
	t.Helper()
	var last string
	for range 20 {
		if _, err := p.comp.PollOnce(context.Background()); err != nil {
			t.Fatalf("poll: %v", err)
		}
		var env envelope
		p.call(t, http.MethodGet, "/compute/cluster/"+id+"/metadata", "", &env)
		var md metadata
		_ = json.Unmarshal(env.Data, &md)
		if last = md.Status; last == want {
			return
		}
		p.clk.Advance(3 * time.Second)
	}
	t.Fatalf("cluster %s status %q, want %q", id, last, want)
}

func nestedInt(t testing.TB, obj map[string]any, fields ...string) int64 {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if err != nil || !ok {
		t.Fatalf("field %v missing: %v", fields, err)
	}
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	t.Fatalf("field %v is %T", fields, v)
	return 0
}

// TestE2EKubernetesLifecycle drives a cluster through compute's REST API onto
// a real API server: create → release and RayCluster with the expected spec →
// pods made Running by the test → active → update upgrades the release →
// idle → auto-terminated (release gone) → start, restart, stop.
func TestE2EKubernetesLifecycle(t *testing.T) {
	p := startKubePlatform(t, "")
	var env envelope
	if code := p.call(t, http.MethodPost, "/compute/cluster", seedClusterBody, &env); code != http.StatusOK {
		t.Fatalf("create: %d %s", code, env.Message)
	}
	var created struct {
		ClusterID string `json:"cluster_id"`
	}
	_ = json.Unmarshal(env.Data, &created)
	id := created.ClusterID
	t.Cleanup(func() {
		p.call(t, http.MethodPost, "/compute/cluster/stop-cluster/"+id, "", nil, "msd-user", seedUser)
	})

	rc, ok := p.rayCluster(t, id)
	if !ok {
		t.Fatalf("no RayCluster for %s after create with start_cluster", id)
	}
	groups, _, _ := unstructured.NestedSlice(rc.Object, "spec", "workerGroupSpecs")
	if len(groups) != 1 {
		t.Fatalf("worker groups = %v", groups)
	}
	g := groups[0].(map[string]any)
	if nestedInt(t, g, "replicas") != 1 || nestedInt(t, g, "minReplicas") != 1 || nestedInt(t, g, "maxReplicas") != 2 {
		t.Errorf("worker group replicas/min/max = %v/%v/%v, want 1/1/2", g["replicas"], g["minReplicas"], g["maxReplicas"])
	}
	raw, _ := json.Marshal(rc.Object["spec"])
	for _, want := range []string{"localhost:5000/ray:2.37.0", `"ray-head"`, `"ray-worker"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("RayCluster spec lacks %s", want)
		}
	}
	if _, err := p.kc.CoreV1().Secrets("ray").Get(context.Background(), "sh.helm.release.v1."+id+".v1", metav1.GetOptions{}); err != nil {
		t.Errorf("Helm release record of %s: %v", id, err)
	}

	p.runPods(t, id, 1)
	p.pollUntil(t, id, "active")

	// Raising max_pods is not a restart-worthy change: compute upgrades the release in place.
	update := strings.Replace(seedClusterBody, `"max_pods": 2`, `"max_pods": 3`, 1)
	if code := p.call(t, http.MethodPut, "/compute/cluster/"+id, update, nil, "msd-user", seedUser); code != http.StatusOK {
		t.Fatalf("update: %d", code)
	}
	rc, _ = p.rayCluster(t, id)
	groups, _, _ = unstructured.NestedSlice(rc.Object, "spec", "workerGroupSpecs")
	if got := nestedInt(t, groups[0].(map[string]any), "maxReplicas"); got != 3 {
		t.Errorf("maxReplicas after update = %d, want 3", got)
	}

	// A running Ray job keeps the cluster alive past inactive_time (30 min).
	p.probe.busy.Store(true)
	p.clk.Advance(31 * time.Minute)
	p.pollUntil(t, id, "active")
	// Idle for longer than inactive_time: auto-terminated, release uninstalled.
	p.probe.busy.Store(false)
	p.clk.Advance(31 * time.Minute)
	p.pollUntil(t, id, "inactive")
	if _, ok := p.rayCluster(t, id); ok {
		t.Fatalf("RayCluster of %s still exists after auto-termination", id)
	}
	var events envelope
	p.call(t, http.MethodGet, "/compute/cluster/"+id+"/events?limit=100", "", &events)
	if !strings.Contains(string(events.Data), "AUTO_TERMINATED") {
		t.Errorf("events lack AUTO_TERMINATED: %s", events.Data)
	}

	// Start, restart and stop go through Helm too.
	if code := p.call(t, http.MethodPost, "/compute/cluster/start-cluster/"+id, "", nil, "msd-user", seedUser); code != http.StatusAccepted {
		t.Fatalf("start: %d", code)
	}
	if _, ok := p.rayCluster(t, id); !ok {
		t.Fatal("no RayCluster after start")
	}
	if code := p.call(t, http.MethodPost, "/compute/cluster/restart-cluster/"+id, "", nil, "msd-user", seedUser); code != http.StatusAccepted {
		t.Fatalf("restart: %d", code)
	}
	if _, ok := p.rayCluster(t, id); !ok {
		t.Fatal("no RayCluster after restart")
	}
	if code := p.call(t, http.MethodPost, "/compute/cluster/stop-cluster/"+id, "", nil, "msd-user", seedUser); code != http.StatusAccepted {
		t.Fatalf("stop: %d", code)
	}
	if _, ok := p.rayCluster(t, id); ok {
		t.Fatal("RayCluster still exists after stop")
	}
}

// TestE2EKubernetesBrokenKubeconfig: a cluster placed on a Kubernetes cluster
// whose kubeconfig is broken fails to start with an error naming it, stays
// inactive, and nothing of it is installed.
func TestE2EKubernetesBrokenKubeconfig(t *testing.T) {
	p := startKubePlatform(t, "eks-1="+filepath.Join(t.TempDir(), "missing-kubeconfig"))
	body := strings.Replace(seedClusterBody, `"tags": ["demo"]`, `"tags": ["demo", "eks-1"]`, 1)
	body = strings.Replace(body, `"my-first-cluster"`, `"broken-kubeconfig"`, 1)
	var env envelope
	code := p.call(t, http.MethodPost, "/compute/cluster", body, &env)
	if code < 400 || code >= 500 && code != http.StatusServiceUnavailable {
		t.Fatalf("create on a broken kube_cluster = %d, want a clear 4xx/503", code)
	}
	t.Logf("create on a broken kube_cluster: %d %s", code, env.Message)
	if env.Status != "ERROR" || !strings.Contains(string(env.Message), "eks-1") {
		t.Errorf("error does not name the kube_cluster: %s", env.Message)
	}
	var search map[string]any
	p.call(t, http.MethodPost, "/compute/search", `{"query": "broken-kubeconfig", "filters": {}, "page_size": 10, "offset": 0}`, &search)
	data, _ := search["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("search for the cluster = %v, want it stored once (inactive)", search)
	}
	for _, d := range data {
		c := d.(map[string]any)
		if c["status"] != "inactive" {
			t.Errorf("cluster %v is %v after a failed start, want inactive", c["cluster_id"], c["status"])
		}
		if _, ok := p.rayCluster(t, c["cluster_id"].(string)); ok {
			t.Errorf("RayCluster of %v exists after a failed start", c["cluster_id"])
		}
	}
}
