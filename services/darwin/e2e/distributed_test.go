package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/pkg/testutil"
)

// TestE2ESeparateBinariesMySQL runs compute and cluster-manager as their own
// binaries, compute on MariaDB (migrated by `compute migrate`), talking gRPC
// to each other, and walks the quick start through them.
func TestE2ESeparateBinariesMySQL(t *testing.T) {
	dsn := dbtest.FreshDSN(t, db.MySQL)
	if dsn == "" {
		return
	}
	computeBin := buildBinary(t, "github.com/darwinml/darwin/services/compute/cmd/compute")
	cmBin := buildBinary(t, "github.com/darwinml/darwin/services/cluster-manager/cmd/cluster-manager")

	if out, err := exec.Command(computeBin, "migrate", "-compute.db.dsn="+dsn).CombinedOutput(); err != nil {
		t.Fatalf("compute migrate: %v\n%s", err, out)
	}

	cmHTTP, cmGRPC := testutil.FreePort(t), testutil.FreePort(t)
	cm := startProcess(t, cmBin, fmt.Sprintf("http://127.0.0.1:%d", cmHTTP),
		fmt.Sprintf("-server.http-addr=127.0.0.1:%d", cmHTTP), fmt.Sprintf("-server.grpc-addr=127.0.0.1:%d", cmGRPC),
		"-cluster-manager.data-dir="+t.TempDir())

	compHTTP := testutil.FreePort(t)
	// Dashboards link to cluster-manager's HTTP listener, which serves the
	// ingress-style dashboard paths in this layout.
	comp := startProcess(t, computeBin, fmt.Sprintf("http://127.0.0.1:%d", compHTTP),
		fmt.Sprintf("-server.http-addr=127.0.0.1:%d", compHTTP), fmt.Sprintf("-server.grpc-addr=127.0.0.1:%d", testutil.FreePort(t)),
		"-compute.db.dsn="+dsn, fmt.Sprintf("-compute.cluster-manager-addr=127.0.0.1:%d", cmGRPC),
		"-compute.poll-interval=300ms", "-compute.public-url="+cm.base)

	id := createSeedCluster(t, comp)
	stopOnCleanup(t, comp, id)
	waitStatus(t, comp, id, "active", 90*time.Second)

	// The DCM REST surface of the original sees the same cluster.
	var status struct {
		ClusterName string
		Resources   []struct{ Name, Status string }
	}
	form := "cluster_name=" + id + "&namespace=ray&kube_cluster=kind-0"
	req, _ := http.NewRequest(http.MethodPut, cm.base+"/cluster-manager/compute/v2/cluster/status", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DCM status = %d", resp.StatusCode)
	}
	decodeBody(t, resp, &status)
	if status.ClusterName != id || len(status.Resources) != 2 {
		t.Fatalf("DCM status = %+v, want head + 1 worker of %s", status, id)
	}

	job, logs := runJob(t, getDashboards(t, comp, id).Ray+"api/jobs/", `{"entrypoint": "echo distributed $MODE", "runtime_env": {"env_vars": {"MODE": "mysql"}}}`)
	if job.Status != "SUCCEEDED" || !strings.Contains(logs, "distributed mysql") {
		t.Fatalf("job: %s %q", job.Status, logs)
	}

	if code := comp.call(http.MethodPost, "/compute/cluster/stop-cluster/"+id, map[string]string{"msd-user": seedUser}, "", nil); code != http.StatusAccepted {
		t.Fatalf("stop = %d", code)
	}
	waitStatus(t, comp, id, "inactive", 30*time.Second)
	testutil.Eventually(t, 15*time.Second, func() bool { return len(processesOf(id)) == 0 }, "no process of %s left", id)
}
