// Package values generates the values document compute hands to cluster-manager: the values of the KubeRay
// `ray-cluster` chart (spec §1.7). Generation starts from the packaged base document (base_values.yaml) and runs an
// ordered chain of handlers, each owning a few keys:
//
//	HeadNode → ServiceAccount → WorkerGroups → Image → Resources → Env → Additional → Capacity → Zone → Labels →
//	RemoteCommands → Ingress
//
// The local driver of cluster-manager reads head/worker/additionalWorkerGroups (replicas, resources, containerEnv),
// commands, remoteCommand and cluster_id/cluster_name; the Kubernetes chart renders the rest.
package values

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed base_values.yaml
var baseValues []byte

// Capacity types of a node (request field node_capacity_type).
const (
	CapacityOnDemand = "ondemand"
	CapacitySpot     = "spot"
)

// Kubernetes label and resource keys written by the chain.
const (
	// LabelCapacityType is the pod label (and, for spot, the node selector and toleration key) of the capacity type.
	LabelCapacityType = "node_capacity_type"
	// LabelGPUType selects nodes by GPU model; its value is the slug of the GPU name ("nvidia-t4").
	LabelGPUType = "darwin.dream11.com/gpu-type"
	// LabelZone is the well-known zone label used as node selector when an availability zone is set.
	LabelZone = "topology.kubernetes.io/zone"
	// LabelResource marks the pods of long-running clusters (terminate_after_minutes -1).
	LabelResource = "darwin_resource"
	// LongRunningResource is the LabelResource value of long-running clusters.
	LongRunningResource = "long-running-cluster"
	// ResourceGPU is the extended resource of NVIDIA GPUs.
	ResourceGPU = "nvidia.com/gpu"
)

// Input is the part of a cluster definition the chain reads. compute's domain builds it from a stored cluster.
type Input struct {
	ClusterID   string
	ClusterName string
	// User is the owner: an email address or a bare user name ("sdk").
	User string
	// Env is the deployment environment name (e.g. "darwin-local").
	Env string
	// CloudEnv is the key of the Kubernetes cluster the cluster runs on (cluster_configs cloud_env, e.g. "kind-0").
	CloudEnv string
	// Namespace is the runtime's namespace.
	Namespace string
	// Image is the runtime's container image, "repository:tag".
	Image                 string
	IsJobCluster          bool
	TerminateAfterMinutes int
	Labels                map[string]string
	Head                  Node
	Workers               []Worker
	// EnvironmentVariables is advance_config.environment_variables: "NAME=value" lines.
	EnvironmentVariables string
	// InitScript holds the init script lines (advance_config.init_script).
	InitScript         []string
	ServiceAccountName string
	AvailabilityZone   string
	// ObjectStoreMemoryPct is the share of a node's memory for Ray's object store (default 25).
	ObjectStoreMemoryPct float64
	CPUsOnHead           float64
	GPUsOnHead           float64
	SparkConfig          map[string]string
	RemoteCommands       Commands
	// StatusReportAPI is where in-cluster scripts report remote command progress (compute's
	// POST /cluster/command/pod/status); StatusReportInterval is in seconds (0 keeps the base value).
	StatusReportAPI      string
	StatusReportInterval int
}

// Node is the shape of the head or of one worker pod.
type Node struct {
	Cores    float64
	MemoryGB float64
	// CapacityType is "ondemand" (also spelled "on-demand" or "") or "spot".
	CapacityType string
	GPU          *GPU
}

// GPU is a node's GPU model and count.
type GPU struct {
	Name  string
	Count int
}

// Worker is one worker group.
type Worker struct {
	Node
	MinPods, MaxPods int
}

// Command is a remote command run on the pods of a running cluster.
type Command struct {
	ExecutionID    string
	Command        string
	TimeoutSeconds int
}

// Commands are the remote commands for head and worker pods.
type Commands struct {
	Head, Worker []Command
}

// Handler fills in the keys of the values document it owns.
type Handler interface {
	Apply(doc map[string]any, in Input) error
}

// Chain returns the handlers in the order Build runs them.
func Chain() []Handler {
	return []Handler{
		HeadNode{}, ServiceAccount{}, WorkerGroups{}, Image{}, Resources{}, Env{}, Additional{}, Capacity{}, Zone{},
		Labels{}, RemoteCommands{}, Ingress{},
	}
}

// Base returns a fresh copy of the packaged base values document.
func Base() (map[string]any, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(baseValues, &doc); err != nil {
		return nil, fmt.Errorf("decode base values: %w", err)
	}
	return doc, nil
}

// Build runs the chain over a fresh base document. Errors about the definition are apierr InvalidArgument errors
// naming the request field.
func Build(in Input) (map[string]any, error) {
	doc, err := Base()
	if err != nil {
		return nil, err
	}
	for _, h := range Chain() {
		if err := h.Apply(doc, in); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// ObjectStoreBytes is Ray's object store memory for a node of memGB at pct percent (25 when pct ≤ 0),
// pct × memory × 1024³ / 100 as the original computes it.
func ObjectStoreBytes(memGB, pct float64) int64 {
	if pct <= 0 {
		pct = 25
	}
	return int64(memGB * pct / 100 * 1024 * 1024 * 1024)
}

// ImageRef is a container image split for the chart.
type ImageRef struct{ Repository, Tag string }

// ParseImage splits "repo:tag"; a port in the registry host is not a tag, and a missing tag is "latest".
func ParseImage(s string) ImageRef {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		return ImageRef{Repository: s, Tag: "latest"}
	}
	return ImageRef{Repository: s[:i], Tag: s[i+1:]}
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// sub returns m[key] as a map, creating (or replacing a non-map value with) an empty one.
func sub(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	return m
}

// appendList appends items to the list at m[key] (a missing or non-list value starts empty).
func appendList(m map[string]any, key string, items ...any) {
	l, _ := m[key].([]any)
	m[key] = append(l, items...)
}

// deepCopy copies the maps and lists of a decoded document.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

// pod is one pod template of the document (head or a worker group) with the definition it comes from.
type pod struct {
	field    string // document path, e.g. "additionalWorkerGroups.wg1"
	reqField string // request path, e.g. "worker_node_configs[1]"
	doc      map[string]any
	node     Node
	worker   bool
}

// groupField is the document path of worker group i.
func groupField(i int) string {
	if i == 0 {
		return "worker"
	}
	return "additionalWorkerGroups." + groupName(i)
}

func groupName(i int) string {
	if i == 0 {
		return "worker"
	}
	return "wg" + strconv.Itoa(i)
}

// pods lists the head and the worker groups of a document; the worker groups must have been created by WorkerGroups.
func pods(doc map[string]any, in Input) ([]pod, error) {
	out := []pod{{field: "head", reqField: "head_node_config", doc: sub(doc, "head"), node: in.Head}}
	for i, w := range in.Workers {
		var g map[string]any
		var ok bool
		if i == 0 {
			g, ok = doc["worker"].(map[string]any)
		} else {
			g, ok = sub(doc, "additionalWorkerGroups")[groupName(i)].(map[string]any)
		}
		if !ok {
			return nil, fmt.Errorf("values: %s is missing: the WorkerGroups handler must run first", groupField(i))
		}
		out = append(out, pod{field: groupField(i), reqField: fmt.Sprintf("worker_node_configs[%d]", i), doc: g, node: w.Node, worker: true})
	}
	return out, nil
}
