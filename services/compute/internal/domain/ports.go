package domain

import "context"

// RuntimeResolver maps a runtime name to the container image and namespace it runs in.
// Resolve returns an apierr NotFound error when the runtime is unknown.
type RuntimeResolver interface {
	Resolve(ctx context.Context, runtime string) (image string, namespace string, err error)
}

// ConfigGetter reads a cluster_configs value such as "cloud_env".
// Get returns an apierr NotFound error when the key is missing.
type ConfigGetter interface {
	Get(ctx context.Context, key string) (string, error)
}

// ClusterInfo is the view of a cluster that other compute packages need. KubeCluster and Namespace say where its
// release lives (pass them as kube_cluster / kube_namespace to cluster-manager's Exec).
type ClusterInfo struct {
	ClusterID, Name, UIStatus, InternalStatus, RunID, ArtifactName string
	KubeCluster, Namespace                                         string
	Values                                                         map[string]any
}

// ClusterLookup returns the current state of a cluster (implemented by compute-core).
type ClusterLookup interface {
	ClusterInfo(ctx context.Context, clusterID string) (ClusterInfo, error)
}

// ArtifactUpdater bumps a cluster's artifact version and re-applies its values document with
// remoteCommand.commands set to the given head and worker commands (implemented by compute-core).
type ArtifactUpdater interface {
	AddRemoteCommands(ctx context.Context, clusterID string, head, worker []RemoteCommand) (artifactName string, err error)
}

// RemoteCommand is one command executed on the head or the workers of a cluster.
type RemoteCommand struct {
	ExecutionID, Command string
	Target               string
	TimeoutSeconds       int
}

// StartHook is told when a cluster starts and stops (implemented by compute-aux for libraries).
type StartHook interface {
	OnClusterStart(ctx context.Context, clusterID string) error
	OnClusterStop(ctx context.Context, clusterID string) error
}
