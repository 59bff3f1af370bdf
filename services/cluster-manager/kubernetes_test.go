package clustermanager_test

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/darwinml/darwin/pkg/testutil"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	clustermanager "github.com/darwinml/darwin/services/cluster-manager"
	"github.com/darwinml/darwin/services/cluster-manager/kubetest"
)

// The service with driver: kubernetes, driven over gRPC as compute does,
// against a real API server of its own: kube_cluster and namespace from the
// request reach Helm.
func TestKubernetesDriverOverGRPC(t *testing.T) {
	t.Parallel()
	srv, err := kubetest.Start(t.Context(), t.TempDir())
	if errors.Is(err, kubetest.ErrNoBinaries) {
		testutil.NeedServer(t, "kube-apiserver", "scripts/k8s-test-binaries.sh")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	h := start(t, t.TempDir(), func(c *clustermanager.Config) {
		c.Driver = clustermanager.DriverKubernetes
		c.Kubeconfigs = clustermanager.StringMap{"kind-0": srv.Kubeconfig}
		c.Namespace = "ray-default"
	})
	ctx := t.Context()
	const id = "id-kgrpc"
	values := `{"cluster_id":"id-kgrpc","cloud_env":"kind-0","image":{"repository":"localhost:5000/ray","tag":"2.37.0"},` +
		`"worker":{"groupName":"worker","replicas":1,"minReplicas":1,"maxReplicas":2}}`
	if _, err := h.grpc.ApplyCluster(ctx, &clustermanagerv1.ApplyClusterRequest{ClusterName: id, ArtifactName: id + "-v1", ValuesJson: []byte(values)}); err != nil {
		t.Fatal(err)
	}
	_, err = h.grpc.ApplyCluster(ctx, &clustermanagerv1.ApplyClusterRequest{ClusterName: id, ArtifactName: id + "-v2",
		ValuesJson: []byte(`{"worker":{"replicas":-1}}`)})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad values: %v, want InvalidArgument", err)
	}
	if _, err := h.grpc.StartCluster(ctx, &clustermanagerv1.StartClusterRequest{ClusterName: id, ArtifactName: id + "-v1",
		Namespace: "ray-team", KubeCluster: "kind-0"}); err != nil {
		t.Fatalf("StartCluster: %v", err)
	}
	dyn, err := dynamic.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "ray.io", Version: "v1", Resource: "rayclusters"}
	if _, err := dyn.Resource(gvr).Namespace("ray-team").Get(ctx, id+"-kuberay", metav1.GetOptions{}); err != nil {
		t.Fatalf("RayCluster not in the requested namespace: %v", err)
	}
	st, err := h.grpc.GetClusterStatus(ctx, &clustermanagerv1.GetClusterStatusRequest{ClusterName: id, Namespace: "ray-team", KubeCluster: "kind-0"})
	if err != nil || !st.GetInstalled() || st.GetDashboardUrl() != "http://id-kgrpc-kuberay-head.ray-team.svc:8265" {
		t.Errorf("GetClusterStatus = %v, %v", st, err)
	}
	_, err = h.grpc.StartCluster(ctx, &clustermanagerv1.StartClusterRequest{ClusterName: id, KubeCluster: "elsewhere"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("unknown kube_cluster: %v, want FailedPrecondition", err)
	}
	if _, err := h.grpc.StopCluster(ctx, &clustermanagerv1.StopClusterRequest{ClusterName: id, Namespace: "ray-team", KubeCluster: "kind-0"}); err != nil {
		t.Fatalf("StopCluster: %v", err)
	}
	if _, err := dyn.Resource(gvr).Namespace("ray-team").Get(context.Background(), id+"-kuberay", metav1.GetOptions{}); err == nil {
		t.Error("RayCluster still there after StopCluster")
	}
}
