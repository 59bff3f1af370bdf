package driver

import "context"

// Placement says where a cluster runs on a Kubernetes driver: the target
// cluster (a key of the kubeconfigs map) and the namespace. Empty fields
// mean "the driver's default" (or where the cluster was last started).
// The local driver ignores it.
type Placement struct {
	KubeCluster string
	Namespace   string
}

type placementKey struct{}

// WithPlacement returns ctx carrying p; the API edges set it from the
// request's kube_cluster / namespace fields.
func WithPlacement(ctx context.Context, p Placement) context.Context {
	if p == (Placement{}) {
		return ctx
	}
	return context.WithValue(ctx, placementKey{}, p)
}

// PlacementFrom returns the placement carried by ctx (zero when none).
func PlacementFrom(ctx context.Context) Placement {
	p, _ := ctx.Value(placementKey{}).(Placement)
	return p
}
