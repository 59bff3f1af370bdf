// Package grpcapi serves ClusterManagerService over a driver. Errors are
// mapped to gRPC codes once, here, with apierr.ToGRPC.
package grpcapi

import (
	"context"
	"log/slog"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/darwinml/darwin/pkg/apierr"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

// Server implements clustermanagerv1.ClusterManagerServiceServer.
type Server struct {
	clustermanagerv1.UnimplementedClusterManagerServiceServer
	drv    driver.Driver
	res    *resource.Service
	logger *slog.Logger
}

// New returns a server over drv; res serves the resource-instance RPCs (nil: FailedPrecondition).
func New(drv driver.Driver, res *resource.Service, logger *slog.Logger) *Server {
	return &Server{drv: drv, res: res, logger: logger}
}

func (s *Server) fail(ctx context.Context, method string, err error) error {
	e := apierr.From(err)
	if e.Kind == apierr.Internal || e.Cause != nil {
		s.logger.ErrorContext(ctx, "grpc request failed", "method", method, "err", err)
	}
	return apierr.ToGRPC(err)
}

// ApplyCluster stores the cluster's artifact.
func (s *Server) ApplyCluster(ctx context.Context, req *clustermanagerv1.ApplyClusterRequest) (*clustermanagerv1.ApplyClusterResponse, error) {
	url, err := s.drv.Apply(ctx, req.GetClusterName(), req.GetArtifactName(), req.GetValuesJson())
	if err != nil {
		return nil, s.fail(ctx, "ApplyCluster", err)
	}
	return &clustermanagerv1.ApplyClusterResponse{ClusterName: req.GetClusterName(), ArtifactName: req.GetArtifactName(), ArtifactUrl: url}, nil
}

// placed carries the request's kube_cluster/namespace to the driver.
func placed(ctx context.Context, kubeCluster, namespace string) context.Context {
	return driver.WithPlacement(ctx, driver.Placement{KubeCluster: kubeCluster, Namespace: namespace})
}

// StartCluster installs the release.
func (s *Server) StartCluster(ctx context.Context, req *clustermanagerv1.StartClusterRequest) (*clustermanagerv1.StartClusterResponse, error) {
	ctx = placed(ctx, req.GetKubeCluster(), req.GetNamespace())
	if err := s.drv.Start(ctx, req.GetClusterName(), req.GetArtifactName()); err != nil {
		return nil, s.fail(ctx, "StartCluster", err)
	}
	return &clustermanagerv1.StartClusterResponse{ClusterName: req.GetClusterName(), Namespace: req.GetNamespace(), KubeCluster: req.GetKubeCluster()}, nil
}

// StopCluster removes the release.
func (s *Server) StopCluster(ctx context.Context, req *clustermanagerv1.StopClusterRequest) (*clustermanagerv1.StopClusterResponse, error) {
	ctx = placed(ctx, req.GetKubeCluster(), req.GetNamespace())
	if err := s.drv.Stop(ctx, req.GetClusterName()); err != nil {
		return nil, s.fail(ctx, "StopCluster", err)
	}
	return &clustermanagerv1.StopClusterResponse{}, nil
}

// RestartCluster stops and starts the release.
func (s *Server) RestartCluster(ctx context.Context, req *clustermanagerv1.StartClusterRequest) (*clustermanagerv1.StartClusterResponse, error) {
	ctx = placed(ctx, req.GetKubeCluster(), req.GetNamespace())
	if err := s.drv.Restart(ctx, req.GetClusterName(), req.GetArtifactName()); err != nil {
		return nil, s.fail(ctx, "RestartCluster", err)
	}
	return &clustermanagerv1.StartClusterResponse{ClusterName: req.GetClusterName(), Namespace: req.GetNamespace(), KubeCluster: req.GetKubeCluster()}, nil
}

// GetClusterStatus lists the cluster's pods, its pod lifecycle events and its resource's conditions.
func (s *Server) GetClusterStatus(ctx context.Context, req *clustermanagerv1.GetClusterStatusRequest) (*clustermanagerv1.GetClusterStatusResponse, error) {
	ctx = placed(ctx, req.GetKubeCluster(), req.GetNamespace())
	st, err := s.drv.Status(ctx, req.GetClusterName())
	if err != nil {
		return nil, s.fail(ctx, "GetClusterStatus", err)
	}
	resp := &clustermanagerv1.GetClusterStatusResponse{
		ClusterName: req.GetClusterName(), Installed: st.Installed, DashboardUrl: st.DashboardURL, JupyterUrl: st.JupyterURL,
	}
	for _, p := range st.Pods {
		resp.Resources = append(resp.Resources, &clustermanagerv1.Pod{
			Name: p.Name, Type: "pod", Status: p.Status, Message: p.Message, NodeType: p.NodeType, Group: p.Group,
		})
	}
	for _, e := range st.Events {
		pe := &clustermanagerv1.PodEvent{Type: e.Type, Pod: e.Pod, Reason: e.Reason, Message: e.Message,
			Count: int32(min(e.Count, math.MaxInt32)), Id: e.ID}
		if !e.Time.IsZero() {
			pe.Time = timestamppb.New(e.Time)
		}
		resp.Events = append(resp.Events, pe)
	}
	for _, c := range st.Conditions {
		resp.Conditions = append(resp.Conditions, &clustermanagerv1.Condition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
	}
	return resp, nil
}

// ListClusters lists installed releases.
func (s *Server) ListClusters(ctx context.Context, req *clustermanagerv1.ListClustersRequest) (*clustermanagerv1.ListClustersResponse, error) {
	ctx = placed(ctx, req.GetKubeCluster(), req.GetNamespace())
	rels, err := s.drv.List(ctx)
	if err != nil {
		return nil, s.fail(ctx, "ListClusters", err)
	}
	resp := &clustermanagerv1.ListClustersResponse{}
	for _, r := range rels {
		resp.Clusters = append(resp.Clusters, &clustermanagerv1.ClusterRelease{Name: r.Name, Status: r.Status})
	}
	return resp, nil
}

// Exec starts a command in the cluster's pods.
func (s *Server) Exec(ctx context.Context, req *clustermanagerv1.ExecRequest) (*clustermanagerv1.ExecResponse, error) {
	ctx = placed(ctx, req.GetKubeCluster(), req.GetKubeNamespace())
	if req.GetTimeoutSeconds() < 0 {
		return nil, s.fail(ctx, "Exec", apierr.InvalidField("timeout_seconds", "timeout_seconds must not be negative"))
	}
	execID := req.GetExecutionId()
	if execID != "" {
		if err := driver.ValidateExecutionID("execution_id", execID); err != nil {
			return nil, s.fail(ctx, "Exec", err)
		}
	}
	// The driver fills in a generated id; pass it through explicitly so the
	// response carries it.
	if execID == "" {
		execID = newExecID()
	}
	pods, err := s.drv.Exec(ctx, driver.ExecRequest{
		Cluster: req.GetClusterName(), Target: req.GetTarget(), Command: req.GetCommand(), ExecutionID: execID,
		Timeout: time.Duration(req.GetTimeoutSeconds()) * time.Second,
	})
	if err != nil {
		return nil, s.fail(ctx, "Exec", err)
	}
	return &clustermanagerv1.ExecResponse{ExecutionId: execID, PodNames: pods}, nil
}

// GetExecStatus reports per-pod progress of an execution.
func (s *Server) GetExecStatus(ctx context.Context, req *clustermanagerv1.GetExecStatusRequest) (*clustermanagerv1.GetExecStatusResponse, error) {
	pods, err := s.drv.ExecStatus(ctx, req.GetClusterName(), req.GetExecutionId())
	if err != nil {
		return nil, s.fail(ctx, "GetExecStatus", err)
	}
	resp := &clustermanagerv1.GetExecStatusResponse{ExecutionId: req.GetExecutionId()}
	for _, p := range pods {
		out := p.Output
		if p.Message != "" && p.Status == driver.ExecFailed {
			if out != "" && out[len(out)-1] != '\n' {
				out += "\n"
			}
			out += p.Message
		}
		resp.Pods = append(resp.Pods, &clustermanagerv1.PodExecStatus{PodName: p.Pod, Status: p.Status, ExitCode: int32(p.ExitCode), Output: out})
	}
	return resp, nil
}
