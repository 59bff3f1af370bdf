package kubetest

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestMain(m *testing.M) { Main(m) }

func TestServerServesCoreAndRayCluster(t *testing.T) {
	t.Parallel()
	srv := Shared(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("get default namespace through the kubeconfig: %v", err)
	}
	res, err := kc.Discovery().ServerResourcesForGroupVersion("ray.io/v1")
	if err != nil {
		t.Fatalf("ray.io/v1 not served: %v", err)
	}
	if len(res.APIResources) == 0 || res.APIResources[0].Kind != "RayCluster" {
		t.Errorf("ray.io/v1 resources = %+v", res.APIResources)
	}
	t.Logf("server ready in %s", srv.StartTime)
}
