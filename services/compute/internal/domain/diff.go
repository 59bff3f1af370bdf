package domain

import (
	"encoding/json"
	"reflect"
	"slices"
)

// UpdatePlan compares the stored and the requested definitions (PUT /cluster/{id}, spec §1.2).
// changed is false when nothing the user controls differs (then the cluster is just started);
// restart is true when the runtime, advance_config, head node or worker groups changed other than in
// min_pods/max_pods (then the update is followed by a restart instead of a start).
func UpdatePlan(old, updated Cluster) (changed, restart bool) {
	restart = old.Runtime != updated.Runtime ||
		!jsonEqual(old.AdvanceConfig, updated.AdvanceConfig) ||
		!jsonEqual(old.HeadNode, updated.HeadNode) ||
		!jsonEqual(withoutPods(old.WorkerGroups), withoutPods(updated.WorkerGroups))
	changed = restart ||
		old.Name != updated.Name ||
		!slices.Equal(old.Tags, updated.Tags) ||
		!reflect.DeepEqual(old.Labels, updated.Labels) ||
		old.InactiveTime != updated.InactiveTime ||
		!jsonEqual(old.AutoTerminationPolicies, updated.AutoTerminationPolicies) ||
		old.IsJobCluster != updated.IsJobCluster ||
		!jsonEqual(old.WorkerGroups, updated.WorkerGroups)
	return changed, restart
}

func withoutPods(gs []WorkerGroup) []WorkerGroup {
	out := make([]WorkerGroup, len(gs))
	for i, g := range gs {
		g.MinPods, g.MaxPods = 0, 0
		out[i] = g
	}
	return out
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
