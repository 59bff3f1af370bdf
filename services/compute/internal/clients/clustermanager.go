// Package clients wraps the services compute talks to: cluster-manager over gRPC and the cluster heads over HTTP.
package clients

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/darwinml/darwin/pkg/apierr"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	"github.com/darwinml/darwin/services/compute/internal/domain"
)

// ClusterManager implements domain.ClusterManager over the generated gRPC client.
type ClusterManager struct {
	c clustermanagerv1.ClusterManagerServiceClient
}

var _ domain.ClusterManager = (*ClusterManager)(nil)

// NewClusterManager wraps a connection to cluster-manager.
func NewClusterManager(conn grpc.ClientConnInterface) *ClusterManager {
	return &ClusterManager{c: clustermanagerv1.NewClusterManagerServiceClient(conn)}
}

func wrap(op string, err error) error {
	return fmt.Errorf("cluster-manager %s: %w", op, apierr.FromGRPC(err))
}

// Apply stores the artifact (values document) of a cluster.
func (m *ClusterManager) Apply(ctx context.Context, clusterID, artifactName string, values []byte) error {
	_, err := m.c.ApplyCluster(ctx, &clustermanagerv1.ApplyClusterRequest{ClusterName: clusterID, ArtifactName: artifactName, ValuesJson: values})
	if err != nil {
		return wrap("apply", err)
	}
	return nil
}

// Start installs the cluster's release on the Kubernetes cluster and namespace of at.
func (m *ClusterManager) Start(ctx context.Context, clusterID, artifactName string, at domain.Placement) (domain.StartResult, error) {
	r, err := m.c.StartCluster(ctx, &clustermanagerv1.StartClusterRequest{ClusterName: clusterID, ArtifactName: artifactName,
		Namespace: at.Namespace, KubeCluster: at.KubeCluster})
	if err != nil {
		return domain.StartResult{}, wrap("start", err)
	}
	return domain.StartResult{ClusterName: r.GetClusterName(), Namespace: r.GetNamespace(), KubeCluster: r.GetKubeCluster()}, nil
}

// Restart stops and starts the release.
func (m *ClusterManager) Restart(ctx context.Context, clusterID, artifactName string, at domain.Placement) (domain.StartResult, error) {
	r, err := m.c.RestartCluster(ctx, &clustermanagerv1.StartClusterRequest{ClusterName: clusterID, ArtifactName: artifactName,
		Namespace: at.Namespace, KubeCluster: at.KubeCluster})
	if err != nil {
		return domain.StartResult{}, wrap("restart", err)
	}
	return domain.StartResult{ClusterName: r.GetClusterName(), Namespace: r.GetNamespace(), KubeCluster: r.GetKubeCluster()}, nil
}

// Stop removes the release.
func (m *ClusterManager) Stop(ctx context.Context, clusterID string, at domain.Placement) error {
	if _, err := m.c.StopCluster(ctx, &clustermanagerv1.StopClusterRequest{ClusterName: clusterID, Namespace: at.Namespace, KubeCluster: at.KubeCluster}); err != nil {
		return wrap("stop", err)
	}
	return nil
}

// Status lists the cluster's pods, pod lifecycle events and resource conditions, and the head's internal URLs.
func (m *ClusterManager) Status(ctx context.Context, clusterID string, at domain.Placement) (domain.RuntimeStatus, error) {
	r, err := m.c.GetClusterStatus(ctx, &clustermanagerv1.GetClusterStatusRequest{ClusterName: clusterID, Namespace: at.Namespace, KubeCluster: at.KubeCluster})
	if err != nil {
		return domain.RuntimeStatus{}, wrap("status", err)
	}
	out := domain.RuntimeStatus{Installed: r.GetInstalled(), DashboardURL: r.GetDashboardUrl(), JupyterURL: r.GetJupyterUrl()}
	for _, p := range r.GetResources() {
		out.Pods = append(out.Pods, domain.PodState{Name: p.GetName(), Type: p.GetType(), Status: p.GetStatus(),
			Message: p.GetMessage(), NodeType: p.GetNodeType(), Group: p.GetGroup()})
	}
	for _, e := range r.GetEvents() {
		ev := domain.PodEvent{Type: e.GetType(), Pod: e.GetPod(), Reason: e.GetReason(), Message: e.GetMessage(),
			Count: int(e.GetCount()), ID: e.GetId()}
		if e.GetTime() != nil {
			ev.Time = e.GetTime().AsTime()
		}
		out.Events = append(out.Events, ev)
	}
	for _, c := range r.GetConditions() {
		out.Conditions = append(out.Conditions, domain.ResourceCondition{Type: c.GetType(), Status: c.GetStatus(),
			Reason: c.GetReason(), Message: c.GetMessage()})
	}
	return out, nil
}
