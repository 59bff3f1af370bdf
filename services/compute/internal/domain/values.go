package domain

import (
	"github.com/darwinml/darwin/services/compute/internal/values"
)

// DefaultEnv is the deployment environment written to values documents when Options.Env is empty.
const DefaultEnv = "darwin-local"

// ValuesEnv is the deployment-wide part of a values document.
type ValuesEnv struct {
	// Env is the deployment environment name ("darwin-local" when empty).
	Env string
	// PublicURL is compute's public base URL; in-cluster scripts report remote command progress to
	// <PublicURL>/compute/cluster/command/pod/status. Empty leaves the report URL unset.
	PublicURL string
}

// ValuesInput is the values chain's view of a stored cluster running image in namespace.
func ValuesInput(c *Cluster, image, namespace string, env ValuesEnv) values.Input {
	node := func(cores, mem float64, capacity string, gpu *GPUPod) values.Node {
		n := values.Node{Cores: cores, MemoryGB: mem, CapacityType: capacity}
		if gpu != nil {
			n.GPU = &values.GPU{Name: gpu.Name, Count: gpu.GPUCount}
		}
		return n
	}
	in := values.Input{
		ClusterID: c.ID, ClusterName: c.Name, User: c.User, Env: env.Env, CloudEnv: c.CloudEnv, Namespace: namespace,
		Image: image, IsJobCluster: c.IsJobCluster, TerminateAfterMinutes: c.InactiveTime, Labels: c.Labels,
		Head:                 node(c.HeadNode.Cores, c.HeadNode.Memory, c.HeadNode.NodeCapacityType, c.HeadNode.GPUPod),
		EnvironmentVariables: c.AdvanceConfig.EnvironmentVariables,
		InitScript:           c.AdvanceConfig.InitScript,
		ServiceAccountName:   c.AdvanceConfig.InstanceRole.ServiceAccountName,
		ObjectStoreMemoryPct: c.AdvanceConfig.RayParams.ObjectStoreMemoryPct,
		CPUsOnHead:           c.AdvanceConfig.RayParams.CPUsOnHead,
		GPUsOnHead:           c.AdvanceConfig.RayParams.GPUsOnHead,
		SparkConfig:          c.AdvanceConfig.SparkConfig,
	}
	if in.Env == "" {
		in.Env = DefaultEnv
	}
	if env.PublicURL != "" {
		in.StatusReportAPI = env.PublicURL + "/compute/cluster/command/pod/status"
	}
	for _, w := range c.WorkerGroups {
		in.Workers = append(in.Workers, values.Worker{Node: node(w.Cores, w.Memory, w.NodeCapacityType, w.GPUPod), MinPods: w.MinPods, MaxPods: w.MaxPods})
	}
	if az := c.AdvanceConfig.AvailabilityZone; az != nil {
		in.AvailabilityZone = az.ID
	}
	if c.RemoteCommands != nil {
		conv := func(cmds []RemoteCommand) []values.Command {
			out := make([]values.Command, 0, len(cmds))
			for _, rc := range cmds {
				out = append(out, values.Command{ExecutionID: rc.ExecutionID, Command: rc.Command, TimeoutSeconds: rc.TimeoutSeconds})
			}
			return out
		}
		in.RemoteCommands = values.Commands{Head: conv(c.RemoteCommands.Head), Worker: conv(c.RemoteCommands.Worker)}
	}
	return in
}

// BuildValues generates the values document (the KubeRay ray-cluster chart shape, spec §1.7) for cluster-manager
// through the handler chain of package values. Errors about the definition are InvalidArgument naming the field.
func BuildValues(c *Cluster, image, namespace string, env ValuesEnv) (map[string]any, error) {
	return values.Build(ValuesInput(c, image, namespace, env))
}
