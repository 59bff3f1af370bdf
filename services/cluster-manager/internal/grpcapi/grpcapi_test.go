package grpcapi_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver/drivertest"
	"github.com/darwinml/darwin/services/cluster-manager/internal/grpcapi"
)

func newClient(t *testing.T) (clustermanagerv1.ClusterManagerServiceClient, *drivertest.Fake) {
	t.Helper()
	fake := drivertest.New()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	clustermanagerv1.RegisterClusterManagerServiceServer(srv, grpcapi.New(fake, nil, slog.New(slog.DiscardHandler)))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return clustermanagerv1.NewClusterManagerServiceClient(conn), fake
}

func TestClusterFlow(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t)
	ctx := t.Context()
	ap, err := c.ApplyCluster(ctx, &clustermanagerv1.ApplyClusterRequest{ClusterName: "id-1", ArtifactName: "id-1-v1", ValuesJson: []byte(`{"worker":{"replicas":1}}`)})
	if err != nil || ap.GetArtifactUrl() != "file:///artifacts/id-1-v1.json" || ap.GetArtifactName() != "id-1-v1" {
		t.Fatalf("apply: %v %v", ap, err)
	}
	st, err := c.StartCluster(ctx, &clustermanagerv1.StartClusterRequest{ClusterName: "id-1", ArtifactName: "id-1-v1", Namespace: "ray", KubeCluster: "kind"})
	if err != nil || st.GetNamespace() != "ray" || st.GetKubeCluster() != "kind" {
		t.Fatalf("start: %v %v", st, err)
	}
	if p := fake.Placements["start"]; p != (driver.Placement{KubeCluster: "kind", Namespace: "ray"}) {
		t.Errorf("placement passed to the driver = %+v", p)
	}
	fake.Head = "http://127.0.0.1:1234"
	fake.Pods["id-1"] = []driver.Pod{
		{Name: "id-1-kuberay-head-aaaaa", Status: driver.PodRunning, NodeType: driver.NodeHead},
		{Name: "id-1-kuberay-worker-worker-bbbbb", Status: driver.PodPending, Message: "node is starting", NodeType: driver.NodeWorker, Group: "worker"},
	}
	gs, err := c.GetClusterStatus(ctx, &clustermanagerv1.GetClusterStatusRequest{ClusterName: "id-1"})
	if err != nil || !gs.GetInstalled() || len(gs.GetResources()) != 2 || gs.GetDashboardUrl() != fake.Head || gs.GetJupyterUrl() != fake.Head+"/jupyter" {
		t.Fatalf("status: %v %v", gs, err)
	}
	w := gs.GetResources()[1]
	if w.GetType() != "pod" || w.GetStatus() != "Pending" || w.GetGroup() != "worker" || w.GetNodeType() != "worker" || w.GetMessage() != "node is starting" {
		t.Errorf("worker pod %v", w)
	}
	ls, err := c.ListClusters(ctx, &clustermanagerv1.ListClustersRequest{})
	if err != nil || len(ls.GetClusters()) != 1 || ls.GetClusters()[0].GetName() != "id-1" {
		t.Fatalf("list: %v %v", ls, err)
	}

	fake.Execs["*"] = []driver.PodExec{{Pod: "id-1-kuberay-head-aaaaa", Status: driver.ExecFailed, ExitCode: 2, Output: "out", Message: "timed out"}}
	ex, err := c.Exec(ctx, &clustermanagerv1.ExecRequest{ClusterName: "id-1", Target: "head", Command: "ls", TimeoutSeconds: 30, ExecutionId: "e-1"})
	if err != nil || ex.GetExecutionId() != "e-1" || len(ex.GetPodNames()) != 2 {
		t.Fatalf("exec: %v %v", ex, err)
	}
	if fake.LastExec.Timeout.Seconds() != 30 || fake.LastExec.Target != "head" {
		t.Errorf("exec request %+v", fake.LastExec)
	}
	ex2, err := c.Exec(ctx, &clustermanagerv1.ExecRequest{ClusterName: "id-1", Command: "ls"})
	if err != nil || ex2.GetExecutionId() == "" || ex2.GetExecutionId() != fake.LastExec.ExecutionID {
		t.Fatalf("exec without id: %v %v (driver got %q)", ex2, err, fake.LastExec.ExecutionID)
	}
	es, err := c.GetExecStatus(ctx, &clustermanagerv1.GetExecStatusRequest{ClusterName: "id-1", ExecutionId: "e-1"})
	if err != nil || len(es.GetPods()) != 1 || es.GetPods()[0].GetExitCode() != 2 || es.GetPods()[0].GetOutput() != "out\ntimed out" {
		t.Fatalf("exec status: %v %v", es, err)
	}
	if _, err := c.RestartCluster(ctx, &clustermanagerv1.StartClusterRequest{ClusterName: "id-1", ArtifactName: "id-1-v1"}); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if _, err := c.StopCluster(ctx, &clustermanagerv1.StopClusterRequest{ClusterName: "id-1"}); err != nil {
		t.Fatalf("stop: %v", err)
	}
	gs, err = c.GetClusterStatus(ctx, &clustermanagerv1.GetClusterStatusRequest{ClusterName: "id-1"})
	if err != nil || gs.GetInstalled() || len(gs.GetResources()) != 0 {
		t.Fatalf("status after stop: %v %v", gs, err)
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t)
	ctx := t.Context()
	fake.Applied["known"] = "known-v1"
	tests := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"apply without name", func() error {
			_, err := c.ApplyCluster(ctx, &clustermanagerv1.ApplyClusterRequest{ArtifactName: "a", ValuesJson: []byte(`{}`)})
			return err
		}, codes.InvalidArgument},
		{"apply bad values", func() error {
			_, err := c.ApplyCluster(ctx, &clustermanagerv1.ApplyClusterRequest{ClusterName: "x", ArtifactName: "a", ValuesJson: []byte(`nope`)})
			return err
		}, codes.InvalidArgument},
		{"start unknown artifact", func() error {
			_, err := c.StartCluster(ctx, &clustermanagerv1.StartClusterRequest{ClusterName: "known", ArtifactName: "x-v1"})
			return err
		}, codes.NotFound},
		{"status unknown", func() error {
			_, err := c.GetClusterStatus(ctx, &clustermanagerv1.GetClusterStatusRequest{ClusterName: "ghost"})
			return err
		}, codes.NotFound},
		{"stop unknown", func() error {
			_, err := c.StopCluster(ctx, &clustermanagerv1.StopClusterRequest{ClusterName: "ghost"})
			return err
		}, codes.NotFound},
		{"exec not running", func() error {
			_, err := c.Exec(ctx, &clustermanagerv1.ExecRequest{ClusterName: "known", Command: "ls"})
			return err
		}, codes.FailedPrecondition},
		{"exec bad id", func() error {
			_, err := c.Exec(ctx, &clustermanagerv1.ExecRequest{ClusterName: "known", Command: "ls", ExecutionId: "a/b"})
			return err
		}, codes.InvalidArgument},
		{"exec negative timeout", func() error {
			_, err := c.Exec(ctx, &clustermanagerv1.ExecRequest{ClusterName: "known", Command: "ls", TimeoutSeconds: -1})
			return err
		}, codes.InvalidArgument},
		{"exec status unknown", func() error {
			_, err := c.GetExecStatus(ctx, &clustermanagerv1.GetExecStatusRequest{ClusterName: "known", ExecutionId: "nope"})
			return err
		}, codes.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code || status.Convert(err).Message() == "" {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
		})
	}
}

func TestStatusCarriesEventsAndConditions(t *testing.T) {
	t.Parallel()
	c, fake := newClient(t)
	ctx := t.Context()
	if _, err := c.ApplyCluster(ctx, &clustermanagerv1.ApplyClusterRequest{ClusterName: "id-2", ArtifactName: "id-2-v1", ValuesJson: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartCluster(ctx, &clustermanagerv1.StartClusterRequest{ClusterName: "id-2", ArtifactName: "id-2-v1"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 123e6, time.UTC)
	fake.Events["id-2"] = []driver.PodEvent{
		{Type: driver.EventPodFailedScheduling, Pod: "id-2-kuberay-head-x", Reason: "FailedScheduling", Message: "0/3 nodes are available",
			Time: at, Count: 4, ID: "uid-1"},
		{Type: driver.EventPodFailed, Pod: "id-2-kuberay-worker-y", Reason: "OOMKilled", Message: "container ray-worker was killed", Count: 1, ID: "uid-2/ray-worker/oom/0"},
	}
	fake.Conditions["id-2"] = []driver.Condition{{Type: "RayClusterReplicaFailure", Status: "True", Reason: "FailedCreateHeadPod", Message: "quota"}}

	gs, err := c.GetClusterStatus(ctx, &clustermanagerv1.GetClusterStatusRequest{ClusterName: "id-2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(gs.GetEvents()) != 2 {
		t.Fatalf("events = %v", gs.GetEvents())
	}
	e := gs.GetEvents()[0]
	if e.GetType() != "POD_FAILED_SCHEDULING" || e.GetPod() != "id-2-kuberay-head-x" || e.GetReason() != "FailedScheduling" ||
		e.GetMessage() != "0/3 nodes are available" || e.GetCount() != 4 || e.GetId() != "uid-1" || !e.GetTime().AsTime().Equal(at) {
		t.Errorf("event 0 = %v", e)
	}
	if e := gs.GetEvents()[1]; e.GetType() != "POD_FAILED" || e.GetReason() != "OOMKilled" || e.GetCount() != 1 ||
		e.GetId() != "uid-2/ray-worker/oom/0" || e.GetTime() != nil {
		t.Errorf("event 1 = %v (a zero time must stay unset)", e)
	}
	if len(gs.GetConditions()) != 1 {
		t.Fatalf("conditions = %v", gs.GetConditions())
	}
	if cd := gs.GetConditions()[0]; cd.GetType() != "RayClusterReplicaFailure" || cd.GetStatus() != "True" ||
		cd.GetReason() != "FailedCreateHeadPod" || cd.GetMessage() != "quota" {
		t.Errorf("condition = %v", cd)
	}
}
