package deploy

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
)

// ClusterManager is the Deployer over cluster-manager's resource-instance gRPC API, what the original did
// with darwin-cluster-manager's /resource-instance REST calls: Apply stores the values as the artifact
// (CreateResourceArtifact) and installs or upgrades the release (StartResource); Stop uninstalls it; Status
// lists its pods. Which driver runs the release (local processes or Kubernetes) is cluster-manager's business.
type ClusterManager struct {
	client clustermanagerv1.ClusterManagerServiceClient
}

// NewClusterManager returns a Deployer over conn.
func NewClusterManager(conn grpc.ClientConnInterface) *ClusterManager {
	return &ClusterManager{client: clustermanagerv1.NewClusterManagerServiceClient(conn)}
}

// Apply implements Deployer.
func (c *ClusterManager) Apply(ctx context.Context, r Resource) error {
	values, err := json.Marshal(r.Values)
	if err != nil {
		return fmt.Errorf("encode values of %s: %w", r.ArtifactID, err)
	}
	if _, err := c.client.CreateResourceArtifact(ctx, &clustermanagerv1.CreateResourceArtifactRequest{
		ArtifactId: r.ArtifactID, DarwinResource: r.Chart, Version: r.ChartVersion, ValuesJson: values,
	}); err != nil {
		return fmt.Errorf("store artifact %s: %w", r.ArtifactID, err)
	}
	if _, err := c.client.StartResource(ctx, &clustermanagerv1.StartResourceRequest{
		ResourceId: r.ResourceID, ArtifactId: r.ArtifactID, DarwinResource: r.Chart,
		KubeCluster: r.KubeCluster, KubeNamespace: r.KubeNamespace,
	}); err != nil {
		return fmt.Errorf("start %s: %w", r.ResourceID, err)
	}
	return nil
}

// Stop implements Deployer; a release cluster-manager does not know is ErrNotFound.
func (c *ClusterManager) Stop(ctx context.Context, ref Ref) error {
	_, err := c.client.StopResource(ctx, &clustermanagerv1.StopResourceRequest{
		ResourceId: ref.ResourceID, KubeCluster: ref.KubeCluster, KubeNamespace: ref.KubeNamespace,
	})
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("stop %s: %w", ref.ResourceID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", ref.ResourceID, err)
	}
	return nil
}

// Status implements Deployer: ready when the release has pods and every one of them runs (cluster-manager's
// local driver reports Running only once the replica's /ready answers).
func (c *ClusterManager) Status(ctx context.Context, ref Ref) (ResourceStatus, error) {
	resp, err := c.client.GetResourceStatus(ctx, &clustermanagerv1.GetResourceStatusRequest{
		ResourceId: ref.ResourceID, KubeCluster: ref.KubeCluster, KubeNamespace: ref.KubeNamespace,
	})
	if status.Code(err) == codes.NotFound {
		return ResourceStatus{}, nil
	}
	if err != nil {
		return ResourceStatus{}, fmt.Errorf("status of %s: %w", ref.ResourceID, err)
	}
	st := ResourceStatus{Exists: resp.GetInstalled(), Ready: resp.GetInstalled() && len(resp.GetPods()) > 0}
	for _, p := range resp.GetPods() {
		if p.GetStatus() != "Running" {
			st.Ready = false
			st.Message = p.GetName() + ": " + p.GetStatus()
			if p.GetMessage() != "" {
				st.Message += " (" + p.GetMessage() + ")"
			}
		}
	}
	return st, nil
}
