package httpapi

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/bus"
	"github.com/darwinml/darwin/services/compute/internal/domain"
)

func iso(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func metadataView(s domain.StatusRow) map[string]any {
	return map[string]any{
		"cluster_id":           s.ClusterID,
		"artifact_id":          s.ArtifactID,
		"status":               s.Status,
		"active_pods":          s.ActivePods,
		"available_memory":     s.AvailableMemory,
		"active_cluster_runid": nullable(s.ActiveRunID),
		"cluster_name":         s.ClusterName,
		"last_updated_at":      iso(s.LastUpdatedAt),
		"last_picked_at":       iso(s.LastPickedAt),
		"last_used_at":         iso(s.LastUsedAt),
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func roleView(r domain.InstanceRole) map[string]any {
	return map[string]any{"id": r.ID, "display_name": r.DisplayName, "service_account_name": r.ServiceAccountName}
}

func advanceView(a domain.AdvanceConfig) map[string]any {
	var az any
	if a.AvailabilityZone != nil {
		az = map[string]any{"az_id": a.AvailabilityZone.ID, "display_name": a.AvailabilityZone.DisplayName}
	}
	spark := a.SparkConfig
	if spark == nil {
		spark = map[string]string{}
	}
	return map[string]any{
		"environment_variables": a.EnvironmentVariables,
		"log_path":              a.LogPath,
		"init_script":           strings.Join(a.InitScript, "\n"),
		"instance_role":         roleView(a.InstanceRole),
		"availability_zone":     az,
		"ray_params": map[string]any{
			"object_store_memory": a.RayParams.ObjectStoreMemoryPct,
			"cpus_on_head":        a.RayParams.CPUsOnHead,
		},
		"spark_config": spark,
	}
}

func clusterView(cs domain.ClusterWithStatus, dashboards map[string]string) map[string]any {
	c := cs.Cluster
	workers := []any{}
	for _, w := range c.WorkerGroups {
		workers = append(workers, map[string]any{
			"cores": w.Cores, "memory": w.Memory, "min_pods": w.MinPods, "max_pods": w.MaxPods,
			"disk_setting": w.DiskSetting, "node_type": nullable(w.NodeType), "node_capacity_type": w.NodeCapacityType, "gpu_pod": w.GPUPod,
		})
	}
	tags := c.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		"cluster_id":                c.ID,
		"name":                      c.Name,
		"tags":                      tags,
		"labels":                    c.Labels,
		"runtime":                   c.Runtime,
		"auto_termination_policies": c.AutoTerminationPolicies,
		"inactive_time":             c.InactiveTime,
		"status":                    domain.UIStatus(cs.Status.Status),
		"user":                      c.User,
		"head_node_config": map[string]any{
			"head_node_cores": c.HeadNode.Cores, "head_node_memory": c.HeadNode.Memory, "node_type": nullable(c.HeadNode.NodeType),
			"node_capacity_type": c.HeadNode.NodeCapacityType, "gpu_pod": c.HeadNode.GPUPod, "disk_setting": c.HeadNode.DiskSetting,
		},
		"worker_node_configs": workers,
		"advance_config":      advanceView(c.AdvanceConfig),
		"dashboards":          map[string]any{"status": "SUCCESS", "data": dashboards},
		"created_on":          iso(c.CreatedOn),
		"is_job_cluster":      c.IsJobCluster,
		"cloud_env":           c.CloudEnv,
	}
}

// costBounds is a rough local hourly estimate: 0.05 per core-hour and 0.005 per GB-hour, at min_pods and max_pods.
// (The original priced AWS instance tables; nothing is billed locally.)
func costBounds(c *domain.Cluster) (lo, hi float64) {
	lo = c.HeadNode.Cores*0.05 + c.HeadNode.Memory*0.005
	hi = lo
	for _, w := range c.WorkerGroups {
		per := w.Cores*0.05 + w.Memory*0.005
		lo += float64(w.MinPods) * per
		hi += float64(w.MaxPods) * per
	}
	return math.Round(lo*100) / 100, math.Round(hi*100) / 100
}

func costRange(c *domain.Cluster) string {
	lo, hi := costBounds(c)
	return trimFloat(lo) + "-" + trimFloat(hi)
}

func trimFloat(f float64) string { return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) }

// eventView renders an outbox event like the body posted to chronos (bus.ToChronos): the run id and the
// artifact name, top-level fields there, go into metadata here; metadata is {} when there is nothing.
func eventView(e bus.Event) map[string]any {
	ce := bus.ToChronos(e)
	meta := map[string]any{}
	for k, v := range ce.Metadata {
		meta[k] = v
	}
	if ce.SessionID != "" {
		meta["session_id"] = ce.SessionID
	}
	if ce.ArtifactName != "" {
		meta["artifact_name"] = ce.ArtifactName
	}
	return map[string]any{
		"event_type":   ce.EventType,
		"timestamp":    iso(e.Time),
		"cluster_id":   ce.ClusterID,
		"cluster_name": ce.ClusterName,
		"message":      ce.Message,
		"metadata":     meta,
	}
}
