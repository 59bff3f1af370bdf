package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The YAML accepted by `create -f` / `update -f` is the SDK's
// ComputeClusterDefinition (what `create_with_yaml` reads). convert() turns it
// into the REST ClusterRequest exactly as the SDK's convert() does.

type definition struct {
	Name                    string        `yaml:"name"`
	Tags                    []string      `yaml:"tags"`
	Runtime                 string        `yaml:"runtime"`
	TerminateAfterMinutes   *int          `yaml:"terminate_after_minutes"`
	Labels                  *labelMap     `yaml:"labels"`
	HeadNode                *nodeGroup    `yaml:"head_node"`
	WorkerGroup             []workerGroup `yaml:"worker_group"`
	AutoTerminationPolicies *[]policy     `yaml:"auto_termination_policies"`
	AdvanceConfig           advanceConfig `yaml:"advance_config"`
	User                    string        `yaml:"user"`
	IsJobCluster            bool          `yaml:"is_job_cluster"`
	StartCluster            *bool         `yaml:"start_cluster"`
	Packages                []pkgSpec     `yaml:"packages"`

	// Accepted for compatibility with SDK files, never sent (the SDK drops
	// cloud_env; the others are server-assigned).
	CloudEnv      any `yaml:"cloud_env"`
	ClusterID     any `yaml:"cluster_id"`
	CreatedOn     any `yaml:"created_on"`
	EstimatedCost any `yaml:"estimated_cost"`
}

type labelMap map[string]string

type nodeGroup struct {
	Node     *node   `yaml:"node"`
	NodeType *string `yaml:"node_type"`
}

type workerGroup struct {
	Node     *node   `yaml:"node"`
	NodeType *string `yaml:"node_type"`
	MinPods  *int    `yaml:"min_pods"`
	MaxPods  *int    `yaml:"max_pods"`
}

// node is the union of the SDK's CPUNode and GPUNode.
type node struct {
	Cores            int     `yaml:"cores"`
	Memory           int     `yaml:"memory"`
	Disk             *disk   `yaml:"disk"`
	NodeCapacityType string  `yaml:"node_capacity_type"`
	NodeType         *string `yaml:"node_type"`
	// GPU nodes only.
	Name       string `yaml:"name"`
	GPUCount   int    `yaml:"gpu_count"`
	GRAMMemory int    `yaml:"g_ram_memory"`
	GRAMType   string `yaml:"g_ram_type"`
}

type disk struct {
	DiskType string `yaml:"disk_type"`
	DiskSize int    `yaml:"disk_size"`
}

type policy struct {
	PolicyName string         `yaml:"policy_name"`
	Params     map[string]any `yaml:"params"`
	Enabled    *bool          `yaml:"enabled"`
}

type advanceConfig struct {
	EnvVariables     lines          `yaml:"env_variables"`
	LogPath          string         `yaml:"log_path"`
	InitScript       lines          `yaml:"init_script"`
	InstanceRole     string         `yaml:"instance_role"`
	AvailabilityZone string         `yaml:"availability_zone"`
	RayStartParams   rayStartParams `yaml:"ray_start_params"`
	SparkConfig      map[string]any `yaml:"spark_config"`
}

type rayStartParams struct {
	ObjectStoreMemoryPerc *int `yaml:"object_store_memory_perc"`
	NumCPUsOnHead         *int `yaml:"num_cpus_on_head"`
	NumGPUsOnHead         *int `yaml:"num_gpus_on_head"`
}

// pkgSpec is an InstallRequest, the same in the YAML and on the wire (absent
// body fields are sent as explicit nulls, like the SDK).
type pkgSpec struct {
	Source string  `yaml:"source" json:"source"`
	Body   pkgBody `yaml:"body" json:"body"`
}

type pkgBody struct {
	Name     *string      `yaml:"name" json:"name"`
	Version  *string      `yaml:"version" json:"version"`
	Path     *string      `yaml:"path" json:"path"`
	Metadata *pkgMetadata `yaml:"metadata" json:"metadata"`
}

type pkgMetadata struct {
	Repository string  `yaml:"repository" json:"repository"`
	Exclusions *string `yaml:"exclusions" json:"exclusions"`
}

// lines accepts a string (kept as is), a list of strings (joined by "\n") or,
// for env variables, a mapping (rendered as sorted KEY=VALUE lines).
type lines []string

func (l *lines) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*l = nil
			return nil
		}
		*l = lines{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = s
		return nil
	case yaml.MappingNode:
		var m map[string]string
		if err := n.Decode(&m); err != nil {
			return err
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(lines, 0, len(keys))
		for _, k := range keys {
			out = append(out, k+"="+m[k])
		}
		*l = out
		return nil
	default:
		return fmt.Errorf("line %d: want a string, a list of strings or a mapping", n.Line)
	}
}

func (l lines) joined() string { return strings.Join(l, "\n") }

// ClusterRequest wire shapes (JSON), field order as the SDK sends them.

type clusterRequest struct {
	ClusterName             string            `json:"cluster_name"`
	Tags                    []string          `json:"tags"`
	Labels                  map[string]string `json:"labels"`
	Runtime                 string            `json:"runtime"`
	HeadNodeConfig          map[string]any    `json:"head_node_config"`
	WorkerNodeConfigs       []map[string]any  `json:"worker_node_configs"`
	InactiveTime            int               `json:"inactive_time"`
	AutoTerminationPolicies []policyWire      `json:"auto_termination_policies"`
	AdvanceConfig           advanceWire       `json:"advance_config"`
	User                    string            `json:"user"`
	IsJobCluster            bool              `json:"is_job_cluster"`
	StartCluster            bool              `json:"start_cluster"`
	Packages                []pkgSpec         `json:"packages"`
}

type policyWire struct {
	PolicyName string         `json:"policy_name"`
	Enabled    bool           `json:"enabled"`
	Params     map[string]any `json:"params"`
}

type advanceWire struct {
	EnvironmentVariables string           `json:"environment_variables"`
	LogPath              string           `json:"log_path"`
	InitScript           string           `json:"init_script"`
	InstanceRole         instanceRoleWire `json:"instance_role"`
	RayParams            rayParamsWire    `json:"ray_params"`
	SparkConfig          map[string]any   `json:"spark_config"`
}

type instanceRoleWire struct {
	ID                 int    `json:"id"`
	DisplayName        string `json:"display_name"`
	ServiceAccountName string `json:"service_account_name"`
}

type rayParamsWire struct {
	ObjectStoreMemory int `json:"object_store_memory"`
	CPUsOnHead        int `json:"cpus_on_head"`
}

// SDK defaults.
const (
	defaultTerminateAfter   = 60
	defaultInstanceRole     = "darwin-ds-role"
	defaultObjectStorePerc  = 25
	defaultCapacityType     = "ondemand"
	labelSizeLimit          = 25
	minObjectStoreMegabytes = 100
	maxObjectStorePerc      = 93
)

func defaultLabels() map[string]string {
	return map[string]string{
		"project":     "darwin",
		"service":     "darwin",
		"squad":       "data-science",
		"environment": "darwin-local",
	}
}

func defaultPolicies() []policyWire {
	return []policyWire{
		{PolicyName: "JupyterLabActivity", Enabled: true, Params: map[string]any{}},
		{PolicyName: "ClusterCPUUsage", Enabled: true, Params: map[string]any{}},
		{PolicyName: "ActiveRayJob", Enabled: true, Params: map[string]any{}},
	}
}

var (
	k8sLabelRe = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	userRe     = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9](@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?$`)
	nodeTypes  = []string{"general", "compute", "memory", "gpu", "disk"}
	capacities = []string{"ondemand", "spot"}
	diskTypes  = []string{"gp2"}
	pkgSources = []string{"pypi", "maven", "s3", "workspace"}
)

// fieldError names the offending field of the cluster file.
type fieldError struct {
	Field string
	Msg   string
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Msg }

func errField(field, format string, args ...any) error {
	return &fieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// loadClusterRequest reads a cluster file and returns the REST ClusterRequest
// body. A file whose top level has `cluster_name` is taken as a REST request
// already and passed through; otherwise it is an SDK ComputeClusterDefinition.
// defaultUser fills `user` when the file has none.
func loadClusterRequest(data []byte, defaultUser string) (any, error) {
	var probe map[string]any
	if err := yaml.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("parse cluster file: %w", err)
	}
	if probe == nil {
		return nil, errors.New("parse cluster file: empty document")
	}
	var (
		req any
		err error
	)
	if _, ok := probe["cluster_name"]; ok {
		req, err = restRequest(probe, defaultUser)
	} else {
		var def definition
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&def); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("parse cluster file: %w", err)
		}
		req, err = def.convert(defaultUser)
	}
	if err != nil {
		return nil, err
	}
	// e.g. .inf or .nan values cannot be sent
	if _, err := json.Marshal(req); err != nil {
		return nil, fmt.Errorf("cluster file cannot be sent as JSON: %w", err)
	}
	return req, nil
}

// restRequest checks the few fields the CLI relies on in a REST-shaped file
// and fills `user`.
func restRequest(m map[string]any, defaultUser string) (map[string]any, error) {
	name, ok := m["cluster_name"].(string)
	if !ok || strings.TrimSpace(name) == "" {
		return nil, errField("cluster_name", "must be a non-empty string")
	}
	if u, ok := m["user"]; !ok || u == nil || u == "" {
		m["user"] = defaultUser
	}
	return stringKeys(m), nil
}

// stringKeys makes YAML-decoded values JSON-encodable: mappings with
// non-string keys (map[any]any) get their keys formatted as strings.
func stringKeys(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	for k, v := range m {
		m[k] = jsonable(v)
	}
	return m
}

func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return stringKeys(t)
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[fmt.Sprint(k)] = jsonable(x)
		}
		return out
	case []any:
		for i, x := range t {
			t[i] = jsonable(x)
		}
		return t
	default:
		return v
	}
}

func (d *definition) convert(defaultUser string) (*clusterRequest, error) {
	if strings.TrimSpace(d.Name) == "" {
		return nil, errField("name", "is required")
	}
	if !k8sLabelRe.MatchString(d.Name) {
		return nil, errField("name", "%q must match %s", d.Name, k8sLabelRe)
	}
	if d.Tags == nil {
		return nil, errField("tags", "is required (use [] for none)")
	}
	if strings.TrimSpace(d.Runtime) == "" {
		return nil, errField("runtime", "is required")
	}
	if d.HeadNode == nil || d.HeadNode.Node == nil {
		return nil, errField("head_node.node", "is required")
	}
	if d.WorkerGroup == nil {
		return nil, errField("worker_group", "is required (use [] for a head-only cluster)")
	}
	user := d.User
	if user == "" {
		user = defaultUser
	}
	if !userRe.MatchString(user) {
		return nil, errField("user", "%q is not a valid user", user)
	}
	terminate := defaultTerminateAfter
	if d.TerminateAfterMinutes != nil {
		terminate = *d.TerminateAfterMinutes
	}
	if terminate < 5 && terminate != -1 {
		return nil, errField("terminate_after_minutes", "%d must be >= 5 or -1 (never)", terminate)
	}
	labels := defaultLabels()
	if d.Labels != nil {
		labels = map[string]string(*d.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
	}
	if err := validateLabels(labels); err != nil {
		return nil, err
	}

	head, err := convertHead(d.HeadNode)
	if err != nil {
		return nil, err
	}
	minMemory := d.HeadNode.Node.Memory
	workers := make([]map[string]any, 0, len(d.WorkerGroup))
	for i := range d.WorkerGroup {
		w, err := convertWorker(&d.WorkerGroup[i], fmt.Sprintf("worker_group[%d]", i))
		if err != nil {
			return nil, err
		}
		workers = append(workers, w)
		minMemory = min(minMemory, d.WorkerGroup[i].Node.Memory)
	}

	policies := defaultPolicies()
	if d.AutoTerminationPolicies != nil {
		policies = make([]policyWire, 0, len(*d.AutoTerminationPolicies))
		for i, p := range *d.AutoTerminationPolicies {
			if strings.TrimSpace(p.PolicyName) == "" {
				return nil, errField(fmt.Sprintf("auto_termination_policies[%d].policy_name", i), "is required")
			}
			w := policyWire{PolicyName: p.PolicyName, Enabled: true, Params: stringKeys(p.Params)}
			if p.Enabled != nil {
				w.Enabled = *p.Enabled
			}
			if w.Params == nil {
				w.Params = map[string]any{}
			}
			policies = append(policies, w)
		}
	}

	adv, err := d.AdvanceConfig.convert(d.HeadNode.Node.Cores, minMemory)
	if err != nil {
		return nil, err
	}

	for i, p := range d.Packages {
		if err := validatePackage(fmt.Sprintf("packages[%d]", i), p); err != nil {
			return nil, err
		}
	}

	start := true
	if d.StartCluster != nil {
		start = *d.StartCluster
	}
	return &clusterRequest{
		ClusterName:             d.Name,
		Tags:                    d.Tags,
		Labels:                  labels,
		Runtime:                 d.Runtime,
		HeadNodeConfig:          head,
		WorkerNodeConfigs:       workers,
		InactiveTime:            terminate,
		AutoTerminationPolicies: policies,
		AdvanceConfig:           adv,
		User:                    user,
		IsJobCluster:            d.IsJobCluster,
		StartCluster:            start,
		Packages:                d.Packages,
	}, nil
}

func validateLabels(labels map[string]string) error {
	for k, v := range labels {
		f := "labels." + k
		switch {
		case len(k) > labelSizeLimit:
			return errField(f, "key is longer than %d characters", labelSizeLimit)
		case len(v) > labelSizeLimit:
			return errField(f, "value is longer than %d characters", labelSizeLimit)
		case !k8sLabelRe.MatchString(k) || !k8sLabelRe.MatchString(v):
			return errField(f, "%q: %q is not a valid label", k, v)
		}
	}
	return nil
}

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// validateNode checks a node and reports whether it is a GPU node.
func validateNode(n *node, nodeType *string, field string) (bool, error) {
	if n == nil {
		return false, errField(field+".node", "is required")
	}
	if nodeType != nil && !oneOf(*nodeType, nodeTypes) {
		return false, errField(field+".node_type", "%q must be one of %s", *nodeType, strings.Join(nodeTypes, ", "))
	}
	if n.Cores <= 0 {
		return false, errField(field+".node.cores", "must be > 0")
	}
	if n.Memory <= 0 {
		return false, errField(field+".node.memory", "must be > 0 (GB)")
	}
	gpu := nodeType != nil && *nodeType == "gpu"
	if gpu {
		if n.Name == "" {
			return true, errField(field+".node.name", "is required for a gpu node")
		}
		return true, nil
	}
	if n.NodeCapacityType != "" && !oneOf(n.NodeCapacityType, capacities) {
		return false, errField(field+".node.node_capacity_type", "%q must be ondemand or spot", n.NodeCapacityType)
	}
	if n.Disk != nil {
		if !oneOf(n.Disk.DiskType, diskTypes) {
			return false, errField(field+".node.disk.disk_type", "%q must be one of %s", n.Disk.DiskType, strings.Join(diskTypes, ", "))
		}
		if n.Disk.DiskSize <= 0 {
			return false, errField(field+".node.disk.disk_size", "must be > 0 (GB)")
		}
	}
	return false, nil
}

func gpuPod(n *node) map[string]any {
	return map[string]any{
		"name":         n.Name,
		"cores":        n.Cores,
		"memory":       n.Memory,
		"gpu_count":    n.GPUCount,
		"g_ram_memory": n.GRAMMemory,
		"g_ram_type":   n.GRAMType,
	}
}

func diskSetting(n *node) any {
	if n.Disk == nil {
		return nil
	}
	return map[string]any{"disk_type": n.Disk.DiskType, "storage_size": n.Disk.DiskSize}
}

func capacity(n *node) string {
	if n.NodeCapacityType == "" {
		return defaultCapacityType
	}
	return n.NodeCapacityType
}

func convertHead(h *nodeGroup) (map[string]any, error) {
	gpu, err := validateNode(h.Node, h.NodeType, "head_node")
	if err != nil {
		return nil, err
	}
	n := h.Node
	if gpu {
		return map[string]any{
			"cores":     n.Cores,
			"memory":    n.Memory,
			"node_type": "gpu",
			"gpu_pod":   gpuPod(n),
		}, nil
	}
	return map[string]any{
		"cores":              n.Cores,
		"memory":             n.Memory,
		"node_type":          h.NodeType,
		"disk_setting":       diskSetting(n),
		"node_capacity_type": capacity(n),
	}, nil
}

func convertWorker(w *workerGroup, field string) (map[string]any, error) {
	gpu, err := validateNode(w.Node, w.NodeType, field)
	if err != nil {
		return nil, err
	}
	if w.MinPods == nil {
		return nil, errField(field+".min_pods", "is required")
	}
	if w.MaxPods == nil {
		return nil, errField(field+".max_pods", "is required")
	}
	if *w.MinPods < 0 {
		return nil, errField(field+".min_pods", "%d must be >= 0", *w.MinPods)
	}
	if *w.MaxPods < *w.MinPods {
		return nil, errField(field+".max_pods", "%d must be >= min_pods (%d)", *w.MaxPods, *w.MinPods)
	}
	n := w.Node
	if gpu {
		return map[string]any{
			"cores_per_pods":  n.Cores,
			"memory_per_pods": n.Memory,
			"min_pods":        *w.MinPods,
			"max_pods":        *w.MaxPods,
			"node_type":       "gpu",
			"gpu_pod":         gpuPod(n),
		}, nil
	}
	return map[string]any{
		"cores_per_pods":     n.Cores,
		"memory_per_pods":    n.Memory,
		"min_pods":           *w.MinPods,
		"max_pods":           *w.MaxPods,
		"node_type":          w.NodeType,
		"disk_setting":       diskSetting(n),
		"node_capacity_type": capacity(n),
	}, nil
}

func (a *advanceConfig) convert(headCores, minMemoryGB int) (advanceWire, error) {
	perc := defaultObjectStorePerc
	if p := a.RayStartParams.ObjectStoreMemoryPerc; p != nil {
		perc = *p
	}
	if perc <= 0 || perc > maxObjectStorePerc {
		return advanceWire{}, errField("advance_config.ray_start_params.object_store_memory_perc", "%d must be in 1..%d", perc, maxObjectStorePerc)
	}
	cpus := 0
	if c := a.RayStartParams.NumCPUsOnHead; c != nil {
		cpus = *c
	}
	if cpus < 0 || cpus > headCores {
		return advanceWire{}, errField("advance_config.ray_start_params.num_cpus_on_head", "%d must be in 0..%d (head_node cores)", cpus, headCores)
	}
	if g := a.RayStartParams.NumGPUsOnHead; g != nil && *g != 0 {
		return advanceWire{}, errField("advance_config.ray_start_params.num_gpus_on_head", "is not supported")
	}
	if mb := perc * minMemoryGB * 1024 / 100; mb < minObjectStoreMegabytes {
		return advanceWire{}, errField("advance_config.ray_start_params.object_store_memory_perc",
			"%d%% of the smallest node (%d GB) is %d MB; the object store needs at least %d MB", perc, minMemoryGB, mb, minObjectStoreMegabytes)
	}
	role := a.InstanceRole
	if role == "" {
		role = defaultInstanceRole
	}
	spark := stringKeys(a.SparkConfig)
	if spark == nil {
		spark = map[string]any{}
	}
	return advanceWire{
		EnvironmentVariables: a.EnvVariables.joined(),
		LogPath:              a.LogPath,
		InitScript:           a.InitScript.joined(),
		InstanceRole:         instanceRoleWire{ID: 1, DisplayName: role, ServiceAccountName: role},
		RayParams:            rayParamsWire{ObjectStoreMemory: perc, CPUsOnHead: cpus},
		SparkConfig:          spark,
	}, nil
}

// validatePackage names the field of the first problem of a package.
func validatePackage(field string, w pkgSpec) error {
	if !oneOf(w.Source, pkgSources) {
		return errField(field+".source", "%q must be one of %s", w.Source, strings.Join(pkgSources, ", "))
	}
	if m := w.Body.Metadata; m != nil && m.Repository != "maven" && m.Repository != "spark" {
		return errField(field+".body.metadata.repository", "%q must be maven or spark", m.Repository)
	}
	empty := func(s *string) bool { return s == nil || strings.TrimSpace(*s) == "" }
	switch w.Source {
	case "pypi", "maven":
		if empty(w.Body.Name) {
			return errField(field+".body.name", "is required for source %s", w.Source)
		}
	case "s3", "workspace":
		if empty(w.Body.Path) {
			return errField(field+".body.path", "is required for source %s", w.Source)
		}
	}
	return nil
}
