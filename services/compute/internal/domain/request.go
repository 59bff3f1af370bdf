package domain

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/values"
)

// Limits published by GET /get-limits and enforced on requests.
const (
	HeadCoresMin, HeadCoresMax     = 1, 90
	HeadMemoryMin, HeadMemoryMax   = 1, 736
	WorkerCoresMin, WorkerCoresMax = 1, 90
	WorkerMemMin, WorkerMemMax     = 1, 736
	MaxPodsPerGroup                = 100
	MaxWorkerGroups                = 10
	JobClusterInactiveTime         = 720
	MaxLabelLen                    = 25
	MaxClusterNameLen              = 100
)

var (
	labelRe = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	userRe  = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9](@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?$`)
)

// Policy names of auto-termination.
const (
	PolicyJupyterLabActivity = "JupyterLabActivity"
	PolicyClusterCPUUsage    = "ClusterCPUUsage"
	PolicyActiveRayJob       = "ActiveRayJob"
)

// NodeTypes maps node type ids to their labels (GET /node-types).
var NodeTypes = map[string]string{
	"general": "General Purpose", "compute": "Compute Intensive", "memory": "Memory Intensive",
	"gpu": "GPU Accelerator", "disk": "Disk Intensive",
}

// InstanceRole is one of the fixed service account roles.
type InstanceRole struct {
	ID                 string `json:"id"`
	DisplayName        string `json:"display_name"`
	ServiceAccountName string `json:"service_account_name"`
}

// InstanceRoles is the hardcoded list of roles (GET /get-instance-role).
var InstanceRoles = []InstanceRole{
	{"1", "darwin-ds-role", "darwin-ds-role"},
	{"2", "prod-finance-server-role", "prod-finance-server-role"},
	{"3", "emr-ec2-default-role", "emr-ec2-default-role"},
	{"4", "d11-prod-dspm-darwin-role", "d11-prod-dspm-darwin-role"},
}

// GPUPods lists the GPU node specs (GET /gpu-pods).
var GPUPods = []GPUPod{
	{Name: "NVIDIA T4", Cores: 4, Memory: 16, GPUCount: 1, GRAMMemory: 16, GRAMType: "GDDR6"},
	{Name: "NVIDIA A10", Cores: 8, Memory: 32, GPUCount: 1, GRAMMemory: 24, GRAMType: "GDDR6"},
	{Name: "NVIDIA A100 40GB", Cores: 12, Memory: 85, GPUCount: 1, GRAMMemory: 40, GRAMType: "HBM2"},
	{Name: "NVIDIA A100 80GB", Cores: 12, Memory: 170, GPUCount: 1, GRAMMemory: 80, GRAMType: "HBM2e"},
}

// Policy is one auto-termination policy.
type Policy struct {
	PolicyName string         `json:"policy_name"`
	Enabled    bool           `json:"enabled"`
	Params     map[string]any `json:"params"`
}

// DefaultPolicies are applied when a request has no auto_termination_policies.
func DefaultPolicies() []Policy {
	return []Policy{
		{PolicyName: PolicyJupyterLabActivity, Enabled: true, Params: map[string]any{"expiry_time": 5, "kernel_activity": true, "terminal_activity": false}},
		{PolicyName: PolicyClusterCPUUsage, Enabled: true, Params: map[string]any{"head_node_cpu_usage_threshold": 100, "worker_node_cpu_usage_threshold": 10}},
		{PolicyName: PolicyActiveRayJob, Enabled: true, Params: map[string]any{}},
	}
}

// DiskSetting is a node's disk.
type DiskSetting struct {
	DiskType    string  `json:"disk_type"`
	StorageSize float64 `json:"storage_size"`
}

// GPUPod describes a GPU node.
type GPUPod struct {
	Name       string  `json:"name"`
	Cores      float64 `json:"cores"`
	Memory     float64 `json:"memory"`
	GPUCount   int     `json:"gpu_count"`
	GRAMMemory float64 `json:"g_ram_memory"`
	GRAMType   string  `json:"g_ram_type"`
}

// HeadNode is the head node configuration.
type HeadNode struct {
	Cores            float64      `json:"cores"`
	Memory           float64      `json:"memory"`
	DiskSetting      *DiskSetting `json:"disk_setting"`
	NodeType         string       `json:"node_type,omitempty"`
	NodeCapacityType string       `json:"node_capacity_type"`
	GPUPod           *GPUPod      `json:"gpu_pod,omitempty"`
}

// WorkerGroup is one worker group.
type WorkerGroup struct {
	Cores            float64      `json:"cores"`
	Memory           float64      `json:"memory"`
	MinPods          int          `json:"min_pods"`
	MaxPods          int          `json:"max_pods"`
	DiskSetting      *DiskSetting `json:"disk_setting"`
	NodeType         string       `json:"node_type,omitempty"`
	NodeCapacityType string       `json:"node_capacity_type"`
	GPUPod           *GPUPod      `json:"gpu_pod,omitempty"`
}

// AvailabilityZone is the requested zone.
type AvailabilityZone struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
}

// RayParams are ray start parameters.
type RayParams struct {
	ObjectStoreMemoryPct float64 `json:"object_store_memory"`
	CPUsOnHead           float64 `json:"cpus_on_head"`
	GPUsOnHead           float64 `json:"gpus_on_head"`
}

// AdvanceConfig holds the advanced settings.
type AdvanceConfig struct {
	EnvironmentVariables string            `json:"environment_variables"`
	LogPath              string            `json:"log_path"`
	InitScript           []string          `json:"init_script"`
	InstanceRole         InstanceRole      `json:"instance_role"`
	AvailabilityZone     *AvailabilityZone `json:"availability_zone"`
	RayParams            RayParams         `json:"ray_params"`
	SparkConfig          map[string]string `json:"spark_config"`
}

// Cluster is a stored cluster definition.
type Cluster struct {
	ID                      string            `json:"cluster_id"`
	Name                    string            `json:"name"`
	Tags                    []string          `json:"tags"`
	Labels                  map[string]string `json:"labels"`
	Runtime                 string            `json:"runtime"`
	InactiveTime            int               `json:"terminate_after_minutes"`
	AutoTerminationPolicies []Policy          `json:"auto_termination_policies"`
	HeadNode                HeadNode          `json:"head_node"`
	WorkerGroups            []WorkerGroup     `json:"worker_group"`
	AdvanceConfig           AdvanceConfig     `json:"advance_config"`
	User                    string            `json:"user"`
	IsJobCluster            bool              `json:"is_job_cluster"`
	StartCluster            bool              `json:"start_cluster"`
	PackagesCloneFrom       *string           `json:"packages_clone_from,omitempty"`
	Packages                []any             `json:"packages,omitempty"`
	CloudEnv                string            `json:"cloud_env"`
	CreatedOn               time.Time         `json:"created_on"`
	ArtifactVersion         int               `json:"artifact_version"`
	RemoteCommands          *RemoteCommandSet `json:"remote_commands,omitempty"`
}

// RemoteCommandSet are commands baked into the values document.
type RemoteCommandSet struct {
	Head   []RemoteCommand `json:"head"`
	Worker []RemoteCommand `json:"worker"`
}

// ArtifactName is "<id>-v<N>".
func (c *Cluster) ArtifactName() string { return fmt.Sprintf("%s-v%d", c.ID, c.ArtifactVersion) }

// MinWorkers is Σ min_pods.
func (c *Cluster) MinWorkers() int {
	n := 0
	for _, w := range c.WorkerGroups {
		n += w.MinPods
	}
	return n
}

// TotalCores is head + Σ max_pods × cores.
func (c *Cluster) TotalCores() float64 {
	t := c.HeadNode.Cores
	for _, w := range c.WorkerGroups {
		t += float64(w.MaxPods) * w.Cores
	}
	return t
}

// TotalMemory is head + Σ max_pods × memory (GB).
func (c *Cluster) TotalMemory() float64 {
	t := c.HeadNode.Memory
	for _, w := range c.WorkerGroups {
		t += float64(w.MaxPods) * w.Memory
	}
	return t
}

// ClusterRequest is a decoded, validated POST /cluster or PUT /cluster/{id} body.
type ClusterRequest struct {
	Cluster
}

// DecodeClusterRequest parses and validates a ClusterRequest body (spec §1.1, §17).
// Every violation is an apierr InvalidArgument naming the JSON field path.
func DecodeClusterRequest(body []byte) (ClusterRequest, error) {
	o, err := decodeObject(body)
	if err != nil {
		return ClusterRequest{}, err
	}
	var r ClusterRequest
	c := &r.Cluster

	if c.Name, err = o.str("cluster_name", true, ""); err != nil {
		return r, err
	}
	if c.Name == "" || len(c.Name) > MaxClusterNameLen || !labelRe.MatchString(c.Name) {
		return r, apierr.InvalidField("cluster_name", "cluster_name must be 1-%d characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit", MaxClusterNameLen)
	}
	if c.Tags, err = o.strList("tags"); err != nil {
		return r, err
	}
	for i, t := range c.Tags {
		if strings.TrimSpace(t) == "" || len(t) > 100 {
			f := fmt.Sprintf("tags[%d]", i)
			return r, apierr.InvalidField(f, "%s must be a non-empty string of at most 100 characters", f)
		}
	}
	labels, given, err := o.strMap("labels")
	if err != nil {
		return r, err
	}
	for k, v := range labels {
		if len(k) == 0 || len(k) > MaxLabelLen || !labelRe.MatchString(k) {
			return r, apierr.InvalidField("labels."+k, "label key %q must be 1-%d characters matching the label pattern", k, MaxLabelLen)
		}
		if len(v) > MaxLabelLen || !labelRe.MatchString(v) {
			return r, apierr.InvalidField("labels."+k, "label value %q must be at most %d characters matching the label pattern", v, MaxLabelLen)
		}
	}
	c.Labels = labels
	if !given {
		c.Labels = map[string]string{"project": "darwin", "service": "darwin", "squad": "data-science", "environment": "darwin-local"}
	}
	if c.Runtime, err = o.str("runtime", true, ""); err != nil {
		return r, err
	}
	if strings.TrimSpace(c.Runtime) == "" {
		return r, apierr.InvalidField("runtime", "runtime must not be empty")
	}
	if c.IsJobCluster, err = o.boolean("is_job_cluster", false); err != nil {
		return r, err
	}
	if c.StartCluster, err = o.boolean("start_cluster", true); err != nil {
		return r, err
	}
	if c.InactiveTime, err = o.integer("inactive_time", true, 0); err != nil {
		return r, err
	}
	if c.InactiveTime != -1 && c.InactiveTime < 5 {
		return r, apierr.InvalidField("inactive_time", "inactive_time must be at least 5 minutes, or -1 to never terminate")
	}
	if c.IsJobCluster {
		c.InactiveTime = JobClusterInactiveTime
	}
	if c.AutoTerminationPolicies, err = decodePolicies(o); err != nil {
		return r, err
	}
	head, _, err := o.object("head_node_config", true)
	if err != nil {
		return r, err
	}
	if c.HeadNode, err = decodeHead(head); err != nil {
		return r, err
	}
	workers, _, err := o.list("worker_node_configs", true)
	if err != nil {
		return r, err
	}
	if len(workers) > MaxWorkerGroups {
		return r, apierr.InvalidField("worker_node_configs", "worker_node_configs may hold at most %d groups", MaxWorkerGroups)
	}
	for i, w := range workers {
		wo, err := o.elem("worker_node_configs", i, w)
		if err != nil {
			return r, err
		}
		g, err := decodeWorker(wo)
		if err != nil {
			return r, err
		}
		c.WorkerGroups = append(c.WorkerGroups, g)
	}
	adv, _, err := o.object("advance_config", false)
	if err != nil {
		return r, err
	}
	if c.AdvanceConfig, err = decodeAdvance(adv, c); err != nil {
		return r, err
	}
	if c.User, err = o.str("user", true, ""); err != nil {
		return r, err
	}
	if !userRe.MatchString(c.User) || len(c.User) > 254 {
		return r, apierr.InvalidField("user", "user must be a user name or an email address")
	}
	if c.PackagesCloneFrom, err = o.optStr("packages_clone_from"); err != nil {
		return r, err
	}
	pk, _, err := o.list("packages", false)
	if err != nil {
		return r, err
	}
	for i, p := range pk {
		po, err := o.elem("packages", i, p)
		if err != nil {
			return r, err
		}
		src, err := po.str("source", true, "")
		if err != nil {
			return r, err
		}
		switch src {
		case "pypi", "maven", "s3", "workspace":
		default:
			return r, apierr.InvalidField(po.field("source"), "%s must be one of pypi, maven, s3, workspace", po.field("source"))
		}
		if _, _, err := po.object("body", true); err != nil {
			return r, err
		}
		c.Packages = append(c.Packages, plain(p))
	}
	return r, nil
}

func decodePolicies(o obj) ([]Policy, error) {
	l, ok, err := o.list("auto_termination_policies", false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return DefaultPolicies(), nil
	}
	out := make([]Policy, 0, len(l))
	for i, v := range l {
		po, err := o.elem("auto_termination_policies", i, v)
		if err != nil {
			return nil, err
		}
		var p Policy
		if p.PolicyName, err = po.str("policy_name", true, ""); err != nil {
			return nil, err
		}
		switch p.PolicyName {
		case PolicyJupyterLabActivity, PolicyClusterCPUUsage, PolicyActiveRayJob:
		default:
			return nil, apierr.InvalidField(po.field("policy_name"), "%s must be one of %s, %s, %s", po.field("policy_name"),
				PolicyJupyterLabActivity, PolicyClusterCPUUsage, PolicyActiveRayJob)
		}
		if p.Enabled, err = po.boolean("enabled", true); err != nil {
			return nil, err
		}
		params, ok, err := po.object("params", false)
		if err != nil {
			return nil, err
		}
		p.Params = map[string]any{}
		if ok {
			p.Params = plain(params.m).(map[string]any)
		}
		out = append(out, p)
	}
	return out, nil
}

func decodeNodeCommon(o obj) (nodeType, capacity string, disk *DiskSetting, gpu *GPUPod, err error) {
	if nodeType, err = o.str("node_type", false, ""); err != nil {
		return
	}
	if _, ok := NodeTypes[nodeType]; nodeType != "" && !ok {
		err = apierr.InvalidField(o.field("node_type"), "%s must be one of general, compute, memory, gpu, disk", o.field("node_type"))
		return
	}
	if capacity, err = o.str("node_capacity_type", false, "ondemand"); err != nil {
		return
	}
	capacity = strings.ReplaceAll(strings.ToLower(capacity), "-", "")
	if capacity != "ondemand" && capacity != "spot" {
		err = apierr.InvalidField(o.field("node_capacity_type"), "%s must be ondemand or spot", o.field("node_capacity_type"))
		return
	}
	d, ok, err := o.object("disk_setting", false)
	if err != nil {
		return
	}
	if ok {
		disk = &DiskSetting{}
		if disk.DiskType, err = d.str("disk_type", false, "gp2"); err != nil {
			return
		}
		if disk.DiskType != "gp2" {
			err = apierr.InvalidField(d.field("disk_type"), "%s must be gp2", d.field("disk_type"))
			return
		}
		if disk.StorageSize, err = d.number("storage_size", false, 0); err != nil {
			return
		}
		if disk.StorageSize < 0 || disk.StorageSize > 16384 {
			err = apierr.InvalidField(d.field("storage_size"), "%s must be between 0 and 16384", d.field("storage_size"))
			return
		}
	}
	g, ok, err := o.object("gpu_pod", false)
	if err != nil {
		return
	}
	if ok {
		gpu = &GPUPod{}
		if gpu.Name, err = g.str("name", true, ""); err != nil {
			return
		}
		if gpu.Cores, err = g.number("cores", false, 0); err != nil {
			return
		}
		if gpu.Memory, err = g.number("memory", false, 0); err != nil {
			return
		}
		if gpu.GPUCount, err = g.integer("gpu_count", false, 1); err != nil {
			return
		}
		if gpu.GRAMMemory, err = g.number("g_ram_memory", false, 0); err != nil {
			return
		}
		if gpu.GRAMType, err = g.str("g_ram_type", false, ""); err != nil {
			return
		}
	}
	if nodeType == "gpu" && gpu == nil {
		err = apierr.InvalidField(o.field("gpu_pod"), "%s is required when node_type is gpu", o.field("gpu_pod"))
	}
	return
}

func rangeCheck(o obj, key string, v, lo, hi float64) error {
	if v < lo || v > hi {
		return apierr.InvalidField(o.field(key), "%s must be between %g and %g", o.field(key), lo, hi)
	}
	return nil
}

func decodeHead(o obj) (HeadNode, error) {
	var h HeadNode
	var err error
	if h.NodeType, h.NodeCapacityType, h.DiskSetting, h.GPUPod, err = decodeNodeCommon(o); err != nil {
		return h, err
	}
	if h.Cores, err = o.number("cores", h.GPUPod == nil, 0); err != nil {
		return h, err
	}
	if h.Memory, err = o.number("memory", h.GPUPod == nil, 0); err != nil {
		return h, err
	}
	if h.GPUPod != nil && h.Cores == 0 {
		h.Cores, h.Memory = h.GPUPod.Cores, h.GPUPod.Memory
	}
	if err := rangeCheck(o, "cores", h.Cores, HeadCoresMin, HeadCoresMax); err != nil {
		return h, err
	}
	if err := rangeCheck(o, "memory", h.Memory, HeadMemoryMin, HeadMemoryMax); err != nil {
		return h, err
	}
	return h, nil
}

func decodeWorker(o obj) (WorkerGroup, error) {
	var w WorkerGroup
	var err error
	if w.NodeType, w.NodeCapacityType, w.DiskSetting, w.GPUPod, err = decodeNodeCommon(o); err != nil {
		return w, err
	}
	coresKey, memKey := "cores_per_pods", "memory_per_pods"
	if !o.has(coresKey) && o.has("cores") {
		coresKey = "cores"
	}
	if !o.has(memKey) && o.has("memory") {
		memKey = "memory"
	}
	if w.Cores, err = o.number(coresKey, w.GPUPod == nil, 0); err != nil {
		return w, err
	}
	if w.Memory, err = o.number(memKey, w.GPUPod == nil, 0); err != nil {
		return w, err
	}
	if w.GPUPod != nil && w.Cores == 0 {
		w.Cores, w.Memory = w.GPUPod.Cores, w.GPUPod.Memory
	}
	if err := rangeCheck(o, coresKey, w.Cores, WorkerCoresMin, WorkerCoresMax); err != nil {
		return w, err
	}
	if err := rangeCheck(o, memKey, w.Memory, WorkerMemMin, WorkerMemMax); err != nil {
		return w, err
	}
	if w.MinPods, err = o.integer("min_pods", true, 0); err != nil {
		return w, err
	}
	if w.MaxPods, err = o.integer("max_pods", true, 0); err != nil {
		return w, err
	}
	if w.MinPods < 0 || w.MinPods > MaxPodsPerGroup {
		return w, apierr.InvalidField(o.field("min_pods"), "%s must be between 0 and %d", o.field("min_pods"), MaxPodsPerGroup)
	}
	if w.MaxPods < w.MinPods || w.MaxPods > MaxPodsPerGroup || w.MaxPods < 1 {
		return w, apierr.InvalidField(o.field("max_pods"), "%s must be at least 1, at least min_pods and at most %d", o.field("max_pods"), MaxPodsPerGroup)
	}
	return w, nil
}

func firstKey(o obj, keys ...string) string {
	for _, k := range keys {
		if o.has(k) {
			return k
		}
	}
	return keys[0]
}

func decodeAdvance(o obj, c *Cluster) (AdvanceConfig, error) {
	a := AdvanceConfig{InstanceRole: InstanceRoles[0], RayParams: RayParams{ObjectStoreMemoryPct: 25}, SparkConfig: map[string]string{}}
	if o.m == nil {
		o = obj{m: map[string]any{}, path: "advance_config"}
	}
	var err error
	envK := firstKey(o, "environment_variables", "env_variables")
	if a.EnvironmentVariables, err = o.str(envK, false, ""); err != nil {
		return a, err
	}
	if _, err := values.ParseEnv(o.field(envK), a.EnvironmentVariables); err != nil {
		return a, err
	}
	if a.LogPath, err = o.str("log_path", false, ""); err != nil {
		return a, err
	}
	if v, ok := o.get("init_script"); ok {
		switch s := v.(type) {
		case string:
			for _, line := range strings.Split(s, "\n") {
				if strings.TrimSpace(line) != "" {
					a.InitScript = append(a.InitScript, line)
				}
			}
		case []any:
			if a.InitScript, err = o.strList("init_script"); err != nil {
				return a, err
			}
		default:
			return a, apierr.InvalidField(o.field("init_script"), "%s must be a string or a list of strings", o.field("init_script"))
		}
	}
	role, ok, err := o.object("instance_role", false)
	if err != nil {
		return a, err
	}
	if ok {
		id, err := role.scalarString("id", "1")
		if err != nil {
			return a, err
		}
		found := false
		for _, r := range InstanceRoles {
			if r.ID == id {
				a.InstanceRole, found = r, true
			}
		}
		if !found {
			return a, apierr.InvalidField(role.field("id"), "%s must be one of 1, 2, 3, 4", role.field("id"))
		}
	}
	az, ok, err := o.object("availability_zone", false)
	if err != nil {
		return a, err
	}
	if ok {
		a.AvailabilityZone = &AvailabilityZone{}
		if a.AvailabilityZone.ID, err = az.scalarString("id", ""); err != nil {
			return a, err
		}
		if a.AvailabilityZone.DisplayName, err = az.str("display_name", false, ""); err != nil {
			return a, err
		}
	}
	rp, ok, err := o.object(firstKey(o, "ray_params", "ray_start_params"), false)
	if err != nil {
		return a, err
	}
	if ok {
		osK := firstKey(rp, "object_store_memory", "object_store_memory_perc")
		if a.RayParams.ObjectStoreMemoryPct, err = rp.number(osK, false, 25); err != nil {
			return a, err
		}
		if a.RayParams.ObjectStoreMemoryPct <= 0 || a.RayParams.ObjectStoreMemoryPct > 100 {
			return a, apierr.InvalidField(rp.field(osK), "%s must be a percentage between 1 and 100", rp.field(osK))
		}
		minMem := c.HeadNode.Memory
		for _, w := range c.WorkerGroups {
			if w.Memory < minMem {
				minMem = w.Memory
			}
		}
		if a.RayParams.ObjectStoreMemoryPct*minMem*1024/100 < 100 {
			return a, apierr.InvalidField(rp.field(osK), "%s gives less than 100 MB of object store memory on the smallest node", rp.field(osK))
		}
		cpuK := firstKey(rp, "cpus_on_head", "num_cpus_on_head")
		if a.RayParams.CPUsOnHead, err = rp.number(cpuK, false, 0); err != nil {
			return a, err
		}
		if a.RayParams.CPUsOnHead < 0 || a.RayParams.CPUsOnHead > c.HeadNode.Cores {
			return a, apierr.InvalidField(rp.field(cpuK), "%s must be between 0 and the head node cores (%g)", rp.field(cpuK), c.HeadNode.Cores)
		}
		gpuK := firstKey(rp, "gpus_on_head", "num_gpus_on_head")
		if a.RayParams.GPUsOnHead, err = rp.number(gpuK, false, 0); err != nil {
			return a, err
		}
		if a.RayParams.GPUsOnHead != 0 {
			return a, apierr.InvalidField(rp.field(gpuK), "%s must be 0: GPUs on the head node are not supported", rp.field(gpuK))
		}
	}
	sc, ok, err := o.strMap("spark_config")
	if err != nil {
		return a, err
	}
	if ok {
		a.SparkConfig = sc
	}
	return a, nil
}

// MarshalDefinition encodes the stored JSON document.
func MarshalDefinition(c Cluster) ([]byte, error) { return json.Marshal(c) }

// UnmarshalDefinition decodes the stored JSON document.
func UnmarshalDefinition(b []byte) (Cluster, error) {
	var c Cluster
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("decode cluster definition: %w", err)
	}
	return c, nil
}
