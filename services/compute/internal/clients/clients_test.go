package clients_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/darwinml/darwin/pkg/apierr"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	"github.com/darwinml/darwin/services/compute/internal/clients"
	"github.com/darwinml/darwin/services/compute/internal/domain"
)

// fakeCM is a gRPC ClusterManagerService that remembers what it was asked.
type fakeCM struct {
	clustermanagerv1.UnimplementedClusterManagerServiceServer
	applied map[string]string
	started string
	// placed records "<rpc>" → "<kube_cluster>/<namespace>" of the last call.
	placed map[string]string
}

func (f *fakeCM) ApplyCluster(_ context.Context, r *clustermanagerv1.ApplyClusterRequest) (*clustermanagerv1.ApplyClusterResponse, error) {
	f.applied[r.GetArtifactName()] = string(r.GetValuesJson())
	return &clustermanagerv1.ApplyClusterResponse{ClusterName: r.GetClusterName(), ArtifactName: r.GetArtifactName()}, nil
}

func (f *fakeCM) StartCluster(_ context.Context, r *clustermanagerv1.StartClusterRequest) (*clustermanagerv1.StartClusterResponse, error) {
	if _, ok := f.applied[r.GetArtifactName()]; !ok {
		return nil, apierr.ToGRPC(apierr.New(apierr.NotFound, "artifact %s not found", r.GetArtifactName()))
	}
	f.started = r.GetClusterName()
	f.placed["start"] = r.GetKubeCluster() + "/" + r.GetNamespace()
	return &clustermanagerv1.StartClusterResponse{ClusterName: r.GetClusterName(), Namespace: r.GetNamespace(), KubeCluster: r.GetKubeCluster()}, nil
}

func (f *fakeCM) RestartCluster(_ context.Context, r *clustermanagerv1.StartClusterRequest) (*clustermanagerv1.StartClusterResponse, error) {
	if r.GetKubeCluster() == "" {
		return nil, apierr.ToGRPC(apierr.InvalidField("kube_cluster", "kube_cluster is required"))
	}
	f.started = r.GetClusterName()
	f.placed["restart"] = r.GetKubeCluster() + "/" + r.GetNamespace()
	return &clustermanagerv1.StartClusterResponse{ClusterName: r.GetClusterName(), Namespace: r.GetNamespace(), KubeCluster: r.GetKubeCluster()}, nil
}

func (f *fakeCM) GetClusterStatus(_ context.Context, r *clustermanagerv1.GetClusterStatusRequest) (*clustermanagerv1.GetClusterStatusResponse, error) {
	f.placed["status"] = r.GetKubeCluster() + "/" + r.GetNamespace()
	return &clustermanagerv1.GetClusterStatusResponse{ClusterName: r.GetClusterName(), Installed: f.started == r.GetClusterName(),
		DashboardUrl: "http://127.0.0.1:1234/", JupyterUrl: "http://127.0.0.1:1234/jupyter",
		Resources: []*clustermanagerv1.Pod{{Name: "h", Type: "pod", Status: "Running", NodeType: "head"}, {Name: "w", Status: "Pending", NodeType: "worker", Group: "worker"}},
		Events: []*clustermanagerv1.PodEvent{
			{Type: "POD_FAILED_SCHEDULING", Pod: "w", Reason: "FailedScheduling", Message: "0/3 nodes are available", Count: 3, Id: "uid-1",
				Time: timestamppb.New(eventTime)},
			{Type: "POD_EVICTED", Pod: "h", Reason: "Evicted", Count: 1, Id: "uid-2/evicted"},
		},
		Conditions: []*clustermanagerv1.Condition{{Type: "RayClusterProvisioned", Status: "False", Reason: "Pending", Message: "waiting"}},
	}, nil
}

var eventTime = time.Date(2026, 3, 1, 10, 0, 0, 5e6, time.UTC)

func (f *fakeCM) StopCluster(_ context.Context, r *clustermanagerv1.StopClusterRequest) (*clustermanagerv1.StopClusterResponse, error) {
	f.started = ""
	f.placed["stop"] = r.GetKubeCluster() + "/" + r.GetNamespace()
	return &clustermanagerv1.StopClusterResponse{}, nil
}

func TestClusterManagerOverGRPC(t *testing.T) {
	t.Parallel()
	fake := &fakeCM{applied: map[string]string{}, placed: map[string]string{}}
	g := grpc.NewServer()
	clustermanagerv1.RegisterClusterManagerServiceServer(g, fake)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	cm := clients.NewClusterManager(conn)
	ctx := t.Context()

	at := domain.Placement{KubeCluster: "eks-1", Namespace: "ray"}
	if _, err := cm.Start(ctx, "id-a", "id-a-v1", at); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("start before apply: %v", err)
	}
	if err := cm.Apply(ctx, "id-a", "id-a-v1", []byte(`{"cluster_id":"id-a"}`)); err != nil {
		t.Fatal(err)
	}
	if fake.applied["id-a-v1"] != `{"cluster_id":"id-a"}` {
		t.Fatalf("values not sent: %v", fake.applied)
	}
	res, err := cm.Start(ctx, "id-a", "id-a-v1", at)
	if err != nil || res.ClusterName != "id-a" || res.Namespace != "ray" || res.KubeCluster != "eks-1" {
		t.Fatalf("start: %+v %v", res, err)
	}
	st, err := cm.Status(ctx, "id-a", at)
	if err != nil || !st.Installed || len(st.Pods) != 2 || st.Pods[0].NodeType != "head" || st.Pods[1].Group != "worker" || st.JupyterURL == "" {
		t.Fatalf("status: %+v %v", st, err)
	}
	wantEvents := []domain.PodEvent{
		{Type: "POD_FAILED_SCHEDULING", Pod: "w", Reason: "FailedScheduling", Message: "0/3 nodes are available", Time: eventTime, Count: 3, ID: "uid-1"},
		{Type: "POD_EVICTED", Pod: "h", Reason: "Evicted", Count: 1, ID: "uid-2/evicted"},
	}
	if !reflect.DeepEqual(st.Events, wantEvents) {
		t.Errorf("events = %+v, want %+v", st.Events, wantEvents)
	}
	if want := []domain.ResourceCondition{{Type: "RayClusterProvisioned", Status: "False", Reason: "Pending", Message: "waiting"}}; !reflect.DeepEqual(st.Conditions, want) {
		t.Errorf("conditions = %+v, want %+v", st.Conditions, want)
	}
	if err := cm.Stop(ctx, "id-a", at); err != nil {
		t.Fatal(err)
	}
	if res, err := cm.Restart(ctx, "id-a", "id-a-v1", at); err != nil || res.KubeCluster != "eks-1" {
		t.Fatalf("restart: %+v %v", res, err)
	}
	for _, rpc := range []string{"start", "status", "stop", "restart"} {
		if fake.placed[rpc] != "eks-1/ray" {
			t.Errorf("%s sent kube_cluster/namespace %q, want eks-1/ray", rpc, fake.placed[rpc])
		}
	}
	if _, err := cm.Restart(ctx, "id-a", "id-a-v1", domain.Placement{Namespace: "ray"}); apierr.KindOf(err) != apierr.InvalidArgument || apierr.From(err).Field != "kube_cluster" {
		t.Fatalf("server errors must come back with their kind and field: %v", err)
	}
}

func TestHTTPActivity(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	var jobs, kernels, terminals string
	mux := http.NewServeMux()
	mux.HandleFunc("/api/jobs/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(jobs)) })
	mux.HandleFunc("/jupyter/api/status", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{}`)) })
	mux.HandleFunc("/jupyter/api/kernels", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(kernels)) })
	mux.HandleFunc("/jupyter/api/terminals", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(terminals)) })
	mux.HandleFunc("/nodes", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"summary":[{"cpu":12.5,"raylet":{"isHeadNode":true}},{"cpu":55,"raylet":{"isHeadNode":false}}]}}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := clients.NewHTTPActivity(2 * time.Second)
	ctx := t.Context()
	dash, jup := srv.URL+"/", srv.URL+"/jupyter"

	if !p.JupyterUp(ctx, jup) || p.JupyterUp(ctx, srv.URL+"/missing") {
		t.Fatal("JupyterUp")
	}
	jobs = `[{"status":"SUCCEEDED"},{"status":"RUNNING"}]`
	if ok, err := p.RayJobRunning(ctx, dash); !ok || err != nil {
		t.Fatalf("running job not seen: %v", err)
	}
	jobs = `[{"status":"SUCCEEDED"}]`
	if ok, _ := p.RayJobRunning(ctx, dash); ok {
		t.Fatal("finished job counted")
	}
	old := now.Add(-time.Hour).Format(time.RFC3339)
	kernels = `[{"execution_state":"idle","last_activity":"` + old + `"}]`
	terminals = `[{"last_activity":"` + now.Format(time.RFC3339) + `"}]`
	if ok, _ := p.JupyterActive(ctx, jup, now.Add(-5*time.Minute), true, false); ok {
		t.Fatal("idle kernel counted")
	}
	if ok, _ := p.JupyterActive(ctx, jup, now.Add(-5*time.Minute), true, true); !ok {
		t.Fatal("recent terminal not counted")
	}
	kernels = `[{"execution_state":"busy","last_activity":"` + old + `"}]`
	if ok, _ := p.JupyterActive(ctx, jup, now.Add(-5*time.Minute), true, false); !ok {
		t.Fatal("busy kernel not counted")
	}
	head, workers, err := p.CPUUsage(ctx, dash)
	if err != nil || head != 12.5 || len(workers) != 1 || workers[0] != 55 {
		t.Fatalf("cpu: %v %v %v", head, workers, err)
	}
	if _, err := p.RayJobRunning(ctx, "http://127.0.0.1:1/"); err == nil {
		t.Fatal("unreachable head must error")
	}
}
