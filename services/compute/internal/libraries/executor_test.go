package libraries_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/darwinml/darwin/pkg/apierr"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	"github.com/darwinml/darwin/services/compute/internal/libraries"
)

type fakeCMClient struct {
	clustermanagerv1.ClusterManagerServiceClient // unused methods panic
	gotExec                                      *clustermanagerv1.ExecRequest
	gotStatus                                    *clustermanagerv1.GetExecStatusRequest
	err                                          error
}

func (f *fakeCMClient) Exec(_ context.Context, in *clustermanagerv1.ExecRequest, _ ...grpc.CallOption) (*clustermanagerv1.ExecResponse, error) {
	f.gotExec = in
	if f.err != nil {
		return nil, f.err
	}
	return &clustermanagerv1.ExecResponse{ExecutionId: in.GetExecutionId(), PodNames: []string{"h", "w"}}, nil
}

func (f *fakeCMClient) GetExecStatus(_ context.Context, in *clustermanagerv1.GetExecStatusRequest, _ ...grpc.CallOption) (*clustermanagerv1.GetExecStatusResponse, error) {
	f.gotStatus = in
	if f.err != nil {
		return nil, f.err
	}
	return &clustermanagerv1.GetExecStatusResponse{ExecutionId: in.GetExecutionId(), Pods: []*clustermanagerv1.PodExecStatus{
		{PodName: "h", Status: "success", ExitCode: 0, Output: "ok"}, {PodName: "w", Status: "failed", ExitCode: 2, Output: "boom"},
	}}, nil
}

func TestGRPCExecutor(t *testing.T) {
	t.Parallel()
	c := &fakeCMClient{}
	x := libraries.NewGRPCExecutor(c)
	pods, err := x.Exec(t.Context(), libraries.ExecRequest{ClusterID: "id-1", ExecutionID: "e1", Target: "worker", Command: "ls ; pwd",
		TimeoutSeconds: 30, KubeCluster: "kind-0", Namespace: "ray"})
	if err != nil || len(pods) != 2 {
		t.Fatalf("Exec = %v, %v", pods, err)
	}
	if g := c.gotExec; g.GetClusterName() != "id-1" || g.GetExecutionId() != "e1" || g.GetTarget() != "worker" || g.GetCommand() != "ls ; pwd" || g.GetTimeoutSeconds() != 30 ||
		g.GetKubeCluster() != "kind-0" || g.GetKubeNamespace() != "ray" {
		t.Errorf("ExecRequest = %v", g)
	}
	st, err := x.ExecStatus(t.Context(), "id-1", "e1")
	if err != nil || len(st) != 2 || st[1] != (libraries.PodStatus{PodName: "w", Status: "failed", ExitCode: 2, Output: "boom"}) {
		t.Errorf("ExecStatus = %+v, %v", st, err)
	}
	if c.gotStatus.GetClusterName() != "id-1" || c.gotStatus.GetExecutionId() != "e1" {
		t.Errorf("GetExecStatusRequest = %v", c.gotStatus)
	}
	c.err = status.Error(codes.NotFound, "no such execution")
	if _, err := x.ExecStatus(t.Context(), "id-1", "e2"); !apierr.Is(err, apierr.NotFound) {
		t.Errorf("NotFound status mapped to %v", err)
	}
	c.err = status.Error(codes.Unavailable, "down")
	if _, err := x.Exec(t.Context(), libraries.ExecRequest{ClusterID: "id-1", ExecutionID: "e2", Target: "head", Command: "x", TimeoutSeconds: 1}); !apierr.Is(err, apierr.Unavailable) {
		t.Errorf("Unavailable status mapped to %v", err)
	}
}
