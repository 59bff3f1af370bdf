package kube

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
	"github.com/darwinml/darwin/services/cluster-manager/kubetest"
)

// BenchmarkStartAndStatus installs one cluster per iteration (Apply + atomic
// Helm install of the RayCluster, Service, Ingresses, ConfigMap) and reads
// its Status, against the real API server:
//
//	go test -run '^$' -bench StartAndStatus -benchtime 100x ./services/cluster-manager/internal/driver/kube/
func BenchmarkStartAndStatus(b *testing.B) {
	srv := kubetest.Shared(b)
	store, err := artifact.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ns := fmt.Sprintf("bench-%d", time.Now().UnixNano()%100000)
	drv, err := New(Config{Kubeconfigs: map[string]string{"test": srv.Kubeconfig}, Namespace: ns, HelmTimeout: time.Minute},
		store, newFakeExecutor(), nil, clock.Real())
	if err != nil {
		b.Fatal(err)
	}
	defer drv.Close()
	ctx := b.Context()
	var startTotal, statusTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("id-bench-%d", i)
		if _, err := drv.Apply(ctx, id, id+"-v1", values(id)); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := drv.Start(ctx, id, ""); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if st, err := drv.Status(ctx, id); err != nil || !st.Installed {
			b.Fatalf("status %+v %v", st, err)
		}
		startTotal += t1.Sub(t0)
		statusTotal += time.Since(t1)
	}
	b.ReportMetric(float64(startTotal.Milliseconds())/float64(b.N), "ms/start")
	b.ReportMetric(float64(statusTotal.Microseconds())/1000/float64(b.N), "ms/status")
}
