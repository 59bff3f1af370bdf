package libraries

import (
	"context"

	"github.com/darwinml/darwin/pkg/apierr"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
)

// PodStatus is the progress of a command on one pod.
type PodStatus struct {
	PodName  string
	Status   string // "running", "success" or "failed"
	ExitCode int
	Output   string
}

// ExecRequest is one command to start on a cluster's pods.
type ExecRequest struct {
	ClusterID, ExecutionID string
	Target                 string // "head", "worker" or "cluster"
	Command                string
	TimeoutSeconds         int
	// KubeCluster and Namespace place the cluster (compute's cloud env and the runtime's namespace).
	KubeCluster, Namespace string
}

// Executor runs commands on a running cluster's pods (the cluster manager's Exec / GetExecStatus).
type Executor interface {
	// Exec starts the command on the target pods and returns their names.
	Exec(ctx context.Context, req ExecRequest) ([]string, error)
	// ExecStatus reports per-pod progress; an apierr NotFound error means the cluster manager has no record.
	ExecStatus(ctx context.Context, clusterID, executionID string) ([]PodStatus, error)
}

// GRPCExecutor adapts the cluster-manager gRPC client to Executor.
type GRPCExecutor struct {
	client clustermanagerv1.ClusterManagerServiceClient
}

// NewGRPCExecutor returns an Executor calling client.Exec and client.GetExecStatus.
func NewGRPCExecutor(client clustermanagerv1.ClusterManagerServiceClient) *GRPCExecutor {
	return &GRPCExecutor{client: client}
}

// Exec implements Executor.
func (g *GRPCExecutor) Exec(ctx context.Context, req ExecRequest) ([]string, error) {
	resp, err := g.client.Exec(ctx, &clustermanagerv1.ExecRequest{
		ClusterName:    req.ClusterID,
		KubeCluster:    req.KubeCluster,
		KubeNamespace:  req.Namespace,
		Target:         req.Target,
		Command:        req.Command,
		TimeoutSeconds: int32(min(req.TimeoutSeconds, MaxTimeoutSeconds)),
		ExecutionId:    req.ExecutionID,
	})
	if err != nil {
		return nil, apierr.FromGRPC(err)
	}
	return resp.GetPodNames(), nil
}

// ExecStatus implements Executor.
func (g *GRPCExecutor) ExecStatus(ctx context.Context, clusterID, executionID string) ([]PodStatus, error) {
	resp, err := g.client.GetExecStatus(ctx, &clustermanagerv1.GetExecStatusRequest{ClusterName: clusterID, ExecutionId: executionID})
	if err != nil {
		return nil, apierr.FromGRPC(err)
	}
	out := make([]PodStatus, 0, len(resp.GetPods()))
	for _, p := range resp.GetPods() {
		out = append(out, PodStatus{PodName: p.GetPodName(), Status: p.GetStatus(), ExitCode: int(p.GetExitCode()), Output: p.GetOutput()})
	}
	return out, nil
}
