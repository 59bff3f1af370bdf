package domain

import "strings"

// Internal cluster statuses (spec §1.3). The stored value is exactly this string.
const (
	StatusInactive          = "inactive"
	StatusCreating          = "creating"
	StatusHeadNodeUp        = "head_node_up"
	StatusJupyterUp         = "jupyter_up"
	StatusActive            = "active"
	StatusHeadNodeDied      = "head_node_died"
	StatusWorkerNodesDied   = "worker_nodes_died"
	StatusClusterDied       = "cluster_died"
	StatusWorkerNodesScaled = "worker_nodes_scaled"
)

// AllStatuses lists every internal status.
var AllStatuses = []string{StatusInactive, StatusCreating, StatusHeadNodeUp, StatusJupyterUp, StatusActive,
	StatusHeadNodeDied, StatusWorkerNodesDied, StatusClusterDied, StatusWorkerNodesScaled}

// UI statuses.
const (
	UIInactive = "inactive"
	UICreating = "creating"
	UIActive   = "active"
)

// UIStatus maps an internal status to what the APIs show.
func UIStatus(internal string) string {
	switch internal {
	case StatusActive, StatusWorkerNodesScaled, StatusWorkerNodesDied:
		return UIActive
	case StatusCreating, StatusHeadNodeUp, StatusJupyterUp, StatusHeadNodeDied, StatusClusterDied:
		return UICreating
	}
	return UIInactive
}

// Manual actions recorded in cluster_actions.
const (
	ActionStarted    = "Started"
	ActionStopped    = "Stopped"
	ActionRestarting = "Restarting"
	ActionUpdating   = "Updating"
	ActionInitScript = "Init Script"
	ActionCreated    = "Created"
)

// Step is one edge of the transition graph: the actions recorded and events published when it is taken.
type Step struct {
	From, To string
	Actions  []string
	Events   []string
}

// transitions is the graph of §1.3 in declaration order (BFS explores neighbours in this order).
var transitions = []Step{
	{StatusCreating, StatusHeadNodeUp, []string{"Head Node Up"}, []string{"HEAD_NODE_UP"}},
	{StatusHeadNodeUp, StatusJupyterUp, []string{"Jupyter Up"}, []string{"JUPYTER_UP"}},
	{StatusHeadNodeUp, StatusHeadNodeDied, []string{"Head Node Died"}, nil},
	{StatusJupyterUp, StatusHeadNodeUp, []string{"Head Node Up"}, nil},
	{StatusJupyterUp, StatusActive, []string{"Worker Nodes Up", "Running"}, []string{"WORKER_NODES_UP", "CLUSTER_READY"}},
	{StatusJupyterUp, StatusHeadNodeDied, []string{"Head Node Died"}, nil},
	{StatusActive, StatusHeadNodeDied, []string{"Head Node Died"}, nil},
	{StatusActive, StatusWorkerNodesDied, []string{"Worker Nodes Died"}, nil},
	{StatusActive, StatusClusterDied, []string{"Cluster Died"}, nil},
	{StatusActive, StatusWorkerNodesScaled, []string{"Worker Nodes Scaled"}, nil},
	{StatusWorkerNodesScaled, StatusActive, []string{"Running"}, nil},
	{StatusHeadNodeDied, StatusHeadNodeUp, []string{"Head Node Up"}, []string{"HEAD_NODE_UP"}},
	{StatusHeadNodeDied, StatusClusterDied, []string{"Cluster Died"}, nil},
	{StatusWorkerNodesDied, StatusActive, []string{"Running"}, nil},
	{StatusWorkerNodesDied, StatusHeadNodeDied, []string{"Head Node Died"}, nil},
	{StatusClusterDied, StatusHeadNodeUp, []string{"Head Node Up"}, []string{"HEAD_NODE_UP"}},
	{StatusClusterDied, StatusInactive, []string{"Cluster Inactive"}, []string{"CLUSTER_INACTIVE"}},
}

// TransitionPath returns the shortest path of steps from one status to another (BFS over the graph).
// It returns nil when from == to or when no path exists; ok reports whether to is reachable.
func TransitionPath(from, to string) (path []Step, ok bool) {
	if from == to {
		return nil, true
	}
	prev := map[string]Step{}
	seen := map[string]bool{from: true}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, s := range transitions {
			if s.From != cur || seen[s.To] {
				continue
			}
			seen[s.To] = true
			prev[s.To] = s
			if s.To == to {
				for n := to; n != from; n = prev[n].From {
					path = append([]Step{prev[n]}, path...)
				}
				return path, true
			}
			queue = append(queue, s.To)
		}
	}
	return nil, false
}

// PodState is a pod as reported by cluster-manager.
type PodState struct {
	Name, Type, Status, Message, NodeType, Group string
}

func podRole(p PodState) string {
	switch p.NodeType {
	case "head", "worker":
		return p.NodeType
	}
	n := strings.ToLower(p.Name)
	if strings.Contains(n, "head") {
		return "head"
	}
	if strings.Contains(n, "worker") {
		return "worker"
	}
	return ""
}

// CountRunning counts running head and worker pods.
func CountRunning(pods []PodState) (heads, workers int) {
	for _, p := range pods {
		if p.Status != "Running" {
			continue
		}
		switch podRole(p) {
		case "head":
			heads++
		case "worker":
			workers++
		}
	}
	return heads, workers
}

// ComputeStatus derives the new internal status from the pods (spec §1.3).
func ComputeStatus(old string, pods []PodState, jupyterUp bool, minWorkers int) string {
	heads, workers := CountRunning(pods)
	if heads == 0 {
		switch {
		case old == StatusCreating:
			return StatusCreating
		case workers == 0:
			return StatusClusterDied
		default:
			return StatusHeadNodeDied
		}
	}
	if !jupyterUp {
		return StatusHeadNodeUp
	}
	switch {
	case workers == minWorkers:
		return StatusActive
	case workers > minWorkers:
		return StatusWorkerNodesScaled
	case old == StatusJupyterUp || old == StatusCreating || old == StatusHeadNodeUp:
		return StatusJupyterUp
	default:
		return StatusWorkerNodesDied
	}
}
