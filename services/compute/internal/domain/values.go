package domain

import (
	"fmt"
	"strconv"
	"strings"
)

// Image is a container image split into repository and tag.
type Image struct{ Repository, Tag string }

// ParseImage splits "repo:tag" (a port in the registry host is not a tag).
func ParseImage(s string) Image {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		return Image{Repository: s, Tag: "latest"}
	}
	return Image{Repository: s[:i], Tag: s[i+1:]}
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func resources(cores, memGB float64) map[string]any {
	r := map[string]any{"cpu": fmtNum(cores), "memory": fmtNum(memGB) + "G"}
	return map[string]any{"limits": r, "requests": map[string]any{"cpu": r["cpu"], "memory": r["memory"]}}
}

func containerEnv(c *Cluster) []any {
	env := []any{}
	for _, kv := range c.AdvanceConfig.EnvVars() {
		env = append(env, map[string]any{"name": kv[0], "value": kv[1]})
	}
	return env
}

// ObjectStoreBytes is the object store memory for a node of memGB GB at the configured percentage.
func (c *Cluster) ObjectStoreBytes(memGB float64) int64 {
	pct := c.AdvanceConfig.RayParams.ObjectStoreMemoryPct
	if pct <= 0 {
		pct = 25
	}
	return int64(memGB * pct / 100 * 1024 * 1024 * 1024)
}

func commandList(cmds []RemoteCommand) []any {
	out := []any{}
	for _, rc := range cmds {
		out = append(out, map[string]any{"execution_id": rc.ExecutionID, "command": rc.Command, "timeout": rc.TimeoutSeconds})
	}
	return out
}

// BuildValues generates the values document (the KubeRay ray-cluster chart shape, spec §1.7) for cluster-manager.
func BuildValues(c *Cluster, image, namespace string) map[string]any {
	user := c.User
	if at := strings.Index(user, "@"); at > 0 {
		user = user[:at]
	}
	clusterType := "all_purpose_cluster"
	if c.IsJobCluster {
		clusterType = "job_cluster"
	}
	img := ParseImage(image)
	head := map[string]any{
		"enableInTreeAutoscaling": true,
		"rayStartParams": map[string]any{
			"port": "6379", "dashboard-host": "0.0.0.0", "block": "true", "metrics-export-port": "8080",
			"num-cpus":            fmtNum(c.AdvanceConfig.RayParams.CPUsOnHead),
			"object-store-memory": strconv.FormatInt(c.ObjectStoreBytes(c.HeadNode.Memory), 10),
		},
		"resources":          resources(c.HeadNode.Cores, c.HeadNode.Memory),
		"containerEnv":       containerEnv(c),
		"serviceAccountName": c.AdvanceConfig.InstanceRole.ServiceAccountName,
		"nodeType":           c.HeadNode.NodeType,
		"capacityType":       c.HeadNode.NodeCapacityType,
	}
	v := map[string]any{
		"nameOverride":            "kuberay",
		"cluster_id":              c.ID,
		"cluster_name":            c.Name,
		"user":                    user,
		"email":                   c.User,
		"terminate_after_minutes": c.InactiveTime,
		"cluster_type":            clusterType,
		"cloud_env":               c.CloudEnv,
		"namespace":               namespace,
		"image":                   map[string]any{"repository": img.Repository, "tag": img.Tag},
		"head":                    head,
		"labels":                  c.Labels,
		"commands":                append([]string{}, c.AdvanceConfig.InitScript...),
		"sparkConfig":             c.AdvanceConfig.SparkConfig,
	}
	groups := map[string]any{}
	for i, w := range c.WorkerGroups {
		g := map[string]any{
			"groupName":   "worker",
			"replicas":    w.MinPods,
			"minReplicas": w.MinPods,
			"maxReplicas": w.MaxPods,
			"rayStartParams": map[string]any{
				"num-cpus":            fmtNum(w.Cores),
				"object-store-memory": strconv.FormatInt(c.ObjectStoreBytes(w.Memory), 10),
			},
			"resources":    resources(w.Cores, w.Memory),
			"containerEnv": containerEnv(c),
			"nodeType":     w.NodeType,
			"capacityType": w.NodeCapacityType,
		}
		if i == 0 {
			v["worker"] = g
			continue
		}
		name := fmt.Sprintf("wg%d", i)
		g["groupName"] = name
		g["disabled"] = false
		groups[name] = g
	}
	if len(c.WorkerGroups) == 0 {
		v["worker"] = map[string]any{"groupName": "worker", "disabled": true, "replicas": 0, "minReplicas": 0, "maxReplicas": 0,
			"resources": resources(1, 1), "containerEnv": []any{}}
	}
	v["additionalWorkerGroups"] = groups
	rc := map[string]any{"head": []any{}, "worker": []any{}}
	if c.RemoteCommands != nil {
		rc["head"] = commandList(c.RemoteCommands.Head)
		rc["worker"] = commandList(c.RemoteCommands.Worker)
	}
	v["remoteCommand"] = map[string]any{"commands": rc}
	if az := c.AdvanceConfig.AvailabilityZone; az != nil && az.ID != "" {
		v["nodeSelector"] = map[string]any{"topology.kubernetes.io/zone": az.ID}
	}
	return v
}
