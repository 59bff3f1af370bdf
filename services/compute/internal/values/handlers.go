package values

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
)

var (
	// envNameRe is the environment variable name rule (the local driver applies the same one).
	envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	// labelValueRe is a Kubernetes label value (at most 63 characters, checked separately).
	labelValueRe = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	// dnsLabelRe is an RFC 1035 label: release, Service and group names.
	dnsLabelRe = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	// dnsSubdomainRe is an RFC 1123 subdomain: service account names.
	dnsSubdomainRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// execIDRe is a remote command execution id (used in file names by the drivers).
	execIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
)

// maxClusterIDLen keeps the release name and the "<id>-dashboard" Service names within Kubernetes' limits.
const maxClusterIDLen = 40

func validLabelValue(s string) bool { return len(s) <= 63 && labelValueRe.MatchString(s) }

// gpuSlug turns a GPU model name into a label value: "NVIDIA A100 40GB" → "nvidia-a100-40gb".
func gpuSlug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// applyGPU writes a GPU pod's limit, node selector, toleration and the num-gpus ray start parameter.
func applyGPU(p map[string]any, gpu *GPU, reqField, numGPUs string) error {
	if gpu == nil {
		return nil
	}
	slug := gpuSlug(gpu.Name)
	if slug == "" || !validLabelValue(slug) {
		return apierr.InvalidField(reqField+".gpu_pod.name", "%s.gpu_pod.name %q is not a GPU model name", reqField, gpu.Name)
	}
	if gpu.Count < 1 {
		return apierr.InvalidField(reqField+".gpu_pod.gpu_count", "%s.gpu_pod.gpu_count must be at least 1", reqField)
	}
	sub(p, "resources", "limits")[ResourceGPU] = strconv.Itoa(gpu.Count)
	sub(p, "nodeSelector")[LabelGPUType] = slug
	appendList(p, "tolerations", map[string]any{"key": ResourceGPU, "operator": "Exists", "effect": "NoSchedule"})
	sub(p, "rayStartParams")["num-gpus"] = numGPUs
	return nil
}

// HeadNode owns head.rayStartParams num-cpus (ray_params.cpus_on_head) and object-store-memory (the object store
// percentage of the head's memory); for a GPU head also num-gpus (ray_params.gpus_on_head), the nvidia.com/gpu
// limit, the GPU type node selector and the GPU toleration.
type HeadNode struct{}

// Apply implements Handler.
func (HeadNode) Apply(doc map[string]any, in Input) error {
	if in.CPUsOnHead < 0 || in.CPUsOnHead > in.Head.Cores {
		return apierr.InvalidField("advance_config.ray_params.cpus_on_head",
			"advance_config.ray_params.cpus_on_head must be between 0 and the head node cores (%g)", in.Head.Cores)
	}
	if in.ObjectStoreMemoryPct < 0 || in.ObjectStoreMemoryPct > 100 {
		return apierr.InvalidField("advance_config.ray_params.object_store_memory",
			"advance_config.ray_params.object_store_memory must be a percentage between 1 and 100")
	}
	h := sub(doc, "head")
	p := sub(h, "rayStartParams")
	p["num-cpus"] = fmtNum(in.CPUsOnHead)
	p["object-store-memory"] = strconv.FormatInt(ObjectStoreBytes(in.Head.MemoryGB, in.ObjectStoreMemoryPct), 10)
	return applyGPU(h, in.Head.GPU, "head_node_config", fmtNum(in.GPUsOnHead))
}

// ServiceAccount owns head.serviceAccountName and the worker template's serviceAccountName
// (advance_config.instance_role.service_account_name); additional worker groups inherit it from the template.
type ServiceAccount struct{}

// Apply implements Handler.
func (ServiceAccount) Apply(doc map[string]any, in Input) error {
	name := in.ServiceAccountName
	if name == "" {
		return nil
	}
	if len(name) > 253 || !dnsSubdomainRe.MatchString(name) {
		return apierr.InvalidField("advance_config.instance_role.service_account_name",
			"advance_config.instance_role.service_account_name %q is not a Kubernetes service account name", name)
	}
	sub(doc, "head")["serviceAccountName"] = name
	sub(doc, "worker")["serviceAccountName"] = name
	return nil
}

// WorkerGroups owns worker (the first group) and additionalWorkerGroups.wg<N> (the others): groupName, disabled,
// replicas = minReplicas = min_pods, maxReplicas = max_pods, rayStartParams num-cpus and object-store-memory, and for
// GPU groups num-gpus, the nvidia.com/gpu limit, the GPU type node selector and toleration. Additional groups start as
// copies of the worker template left by the handlers before it.
type WorkerGroups struct{}

// Apply implements Handler.
func (WorkerGroups) Apply(doc map[string]any, in Input) error {
	tmpl := deepCopy(sub(doc, "worker")).(map[string]any)
	extra := map[string]any{}
	doc["additionalWorkerGroups"] = extra
	for i, w := range in.Workers {
		f := fmt.Sprintf("worker_node_configs[%d]", i)
		if w.MinPods < 0 {
			return apierr.InvalidField(f+".min_pods", "%s.min_pods must not be negative", f)
		}
		if w.MaxPods < 1 || w.MaxPods < w.MinPods {
			return apierr.InvalidField(f+".max_pods", "%s.max_pods must be at least 1 and at least min_pods", f)
		}
		var g map[string]any
		if i == 0 {
			g = sub(doc, "worker")
		} else {
			g = deepCopy(tmpl).(map[string]any)
			extra[groupName(i)] = g
		}
		g["groupName"] = groupName(i)
		g["disabled"] = false
		g["replicas"] = w.MinPods
		g["minReplicas"] = w.MinPods
		g["maxReplicas"] = w.MaxPods
		p := sub(g, "rayStartParams")
		p["num-cpus"] = fmtNum(w.Cores)
		p["object-store-memory"] = strconv.FormatInt(ObjectStoreBytes(w.MemoryGB, in.ObjectStoreMemoryPct), 10)
		if w.GPU != nil {
			if err := applyGPU(g, w.GPU, f, strconv.Itoa(w.GPU.Count)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Image owns image.repository and image.tag (the runtime's image).
type Image struct{}

// Apply implements Handler.
func (Image) Apply(doc map[string]any, in Input) error {
	img := strings.TrimSpace(in.Image)
	if img == "" || strings.ContainsAny(img, " \t\n") {
		return apierr.InvalidField("runtime", "runtime image %q is not a container image reference", in.Image)
	}
	ref := ParseImage(img)
	if ref.Repository == "" || ref.Tag == "" {
		return apierr.InvalidField("runtime", "runtime image %q is not a container image reference", in.Image)
	}
	m := sub(doc, "image")
	m["repository"] = ref.Repository
	m["tag"] = ref.Tag
	return nil
}

// Resources owns resources.limits and resources.requests cpu and memory ("<n>G") of the head and every worker group;
// other limits (nvidia.com/gpu) are kept.
type Resources struct{}

// Apply implements Handler.
func (Resources) Apply(doc map[string]any, in Input) error {
	ps, err := pods(doc, in)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.node.Cores <= 0 {
			return apierr.InvalidField(p.reqField+".cores", "%s.cores must be positive", p.reqField)
		}
		if p.node.MemoryGB <= 0 {
			return apierr.InvalidField(p.reqField+".memory", "%s.memory must be positive", p.reqField)
		}
		for _, kind := range []string{"limits", "requests"} {
			r := sub(p.doc, "resources", kind)
			r["cpu"] = fmtNum(p.node.Cores)
			r["memory"] = fmtNum(p.node.MemoryGB) + "G"
		}
	}
	return nil
}

// EnvVar is one containerEnv entry.
type EnvVar struct{ Name, Value string }

// ParseEnv parses "NAME=value" lines (blank lines and lines starting with '#' are skipped). A bad line is an
// InvalidArgument error naming field and the line number.
func ParseEnv(field, s string) ([]EnvVar, error) {
	var out []EnvVar
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !envNameRe.MatchString(k) || strings.ContainsRune(v, 0) {
			return nil, apierr.InvalidField(field, "%s line %d must look like NAME=value", field, i+1)
		}
		out = append(out, EnvVar{Name: k, Value: strings.TrimSpace(v)})
	}
	return out, nil
}

// Env owns containerEnv of the head and every worker group (advance_config.environment_variables).
type Env struct{}

// Apply implements Handler.
func (Env) Apply(doc map[string]any, in Input) error {
	vars, err := ParseEnv("advance_config.environment_variables", in.EnvironmentVariables)
	if err != nil {
		return err
	}
	ps, err := pods(doc, in)
	if err != nil {
		return err
	}
	for _, p := range ps {
		l, _ := p.doc["containerEnv"].([]any)
		if l == nil {
			l = []any{}
		}
		for _, v := range vars {
			l = append(l, map[string]any{"name": v.Name, "value": v.Value})
		}
		p.doc["containerEnv"] = l
	}
	return nil
}

// Additional owns the top-level values the chart's scripts read: env, user (the local part of the email), email,
// cluster_name, cluster_id, terminate_after_minutes, kube_cluster_key and cloud_env (the Kubernetes cluster key),
// namespace, cluster_type (job_cluster | all_purpose_cluster), commands (the init script lines) and sparkConfig.
type Additional struct{}

// Apply implements Handler.
func (Additional) Apply(doc map[string]any, in Input) error {
	if len(in.ClusterID) > maxClusterIDLen || !dnsLabelRe.MatchString(in.ClusterID) {
		return apierr.InvalidField("cluster_id", "cluster_id %q must be a lowercase DNS label of at most %d characters", in.ClusterID, maxClusterIDLen)
	}
	user := in.User
	if at := strings.Index(user, "@"); at > 0 {
		user = user[:at]
	}
	clusterType := "all_purpose_cluster"
	if in.IsJobCluster {
		clusterType = "job_cluster"
	}
	cmds := []any{}
	for i, line := range in.InitScript {
		if strings.ContainsRune(line, 0) {
			return apierr.InvalidField(fmt.Sprintf("advance_config.init_script[%d]", i), "advance_config.init_script[%d] contains a NUL byte", i)
		}
		if strings.TrimSpace(line) != "" {
			cmds = append(cmds, line)
		}
	}
	spark := map[string]any{}
	for k, v := range in.SparkConfig {
		spark[k] = v
	}
	doc["env"] = in.Env
	doc["user"] = user
	doc["email"] = in.User
	doc["cluster_name"] = in.ClusterName
	doc["cluster_id"] = in.ClusterID
	doc["terminate_after_minutes"] = in.TerminateAfterMinutes
	doc["kube_cluster_key"] = in.CloudEnv
	doc["cloud_env"] = in.CloudEnv
	doc["namespace"] = in.Namespace
	doc["cluster_type"] = clusterType
	doc["commands"] = cmds
	doc["sparkConfig"] = spark
	return nil
}

// NormalizeCapacity maps the capacity spellings ("", "ondemand", "on-demand", "spot", any case) to CapacityOnDemand or
// CapacitySpot; ok is false for anything else.
func NormalizeCapacity(s string) (string, bool) {
	switch strings.ReplaceAll(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", ""), "_", "") {
	case "", CapacityOnDemand:
		return CapacityOnDemand, true
	case CapacitySpot:
		return CapacitySpot, true
	}
	return "", false
}

// Capacity owns the node_capacity_type pod label of the head and every group and, for spot pods, the
// node_capacity_type node selector and the toleration of the spot taint. On-demand pods get no selector: spot nodes
// are tainted, so untolerating pods never land there, and unlabelled (e.g. kind) nodes still take them.
type Capacity struct{}

// Apply implements Handler.
func (Capacity) Apply(doc map[string]any, in Input) error {
	ps, err := pods(doc, in)
	if err != nil {
		return err
	}
	for _, p := range ps {
		c, ok := NormalizeCapacity(p.node.CapacityType)
		if !ok {
			return apierr.InvalidField(p.reqField+".node_capacity_type", "%s.node_capacity_type must be ondemand or spot", p.reqField)
		}
		sub(p.doc, "labels")[LabelCapacityType] = c
		if c == CapacitySpot {
			sub(p.doc, "nodeSelector")[LabelCapacityType] = CapacitySpot
			appendList(p.doc, "tolerations", map[string]any{"key": LabelCapacityType, "operator": "Equal", "value": CapacitySpot, "effect": "NoSchedule"})
		}
	}
	return nil
}

// Zone owns the topology.kubernetes.io/zone node selector of the head and every group (advance_config.availability_zone).
type Zone struct{}

// Apply implements Handler.
func (Zone) Apply(doc map[string]any, in Input) error {
	if in.AvailabilityZone == "" {
		return nil
	}
	if !validLabelValue(in.AvailabilityZone) {
		return apierr.InvalidField("advance_config.availability_zone.id", "advance_config.availability_zone.id %q is not a zone name", in.AvailabilityZone)
	}
	ps, err := pods(doc, in)
	if err != nil {
		return err
	}
	for _, p := range ps {
		sub(p.doc, "nodeSelector")[LabelZone] = in.AvailabilityZone
	}
	return nil
}

// Labels owns the top-level labels (the cluster's labels) and adds them to the pod labels of the head and every
// group without replacing labels set by earlier handlers; long-running clusters (terminate_after_minutes -1) also get
// darwin_resource=long-running-cluster.
type Labels struct{}

// Apply implements Handler.
func (Labels) Apply(doc map[string]any, in Input) error {
	top := map[string]any{}
	for k, v := range in.Labels {
		if k == "" || !validLabelValue(k) || !validLabelValue(v) {
			return apierr.InvalidField("labels."+k, "label %q=%q is not a valid Kubernetes label", k, v)
		}
		top[k] = v
	}
	if in.TerminateAfterMinutes == -1 {
		top[LabelResource] = LongRunningResource
	}
	doc["labels"] = top
	ps, err := pods(doc, in)
	if err != nil {
		return err
	}
	for _, p := range ps {
		l := sub(p.doc, "labels")
		for k, v := range top {
			if _, set := l[k]; !set {
				l[k] = v
			}
		}
	}
	return nil
}

// RemoteCommands owns remoteCommand: statusReportApi, statusReportInterval (when given) and commands.head/worker
// ([{execution_id, command, timeout}]).
type RemoteCommands struct{}

func commandList(field string, cmds []Command) ([]any, error) {
	out := []any{}
	for i, c := range cmds {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !execIDRe.MatchString(c.ExecutionID) {
			return nil, apierr.InvalidField(f+".execution_id", "%s.execution_id %q must be 1-128 letters, digits, '-', '_' or '.'", f, c.ExecutionID)
		}
		if strings.TrimSpace(c.Command) == "" {
			return nil, apierr.InvalidField(f+".command", "%s.command must not be empty", f)
		}
		out = append(out, map[string]any{"execution_id": c.ExecutionID, "command": c.Command, "timeout": c.TimeoutSeconds})
	}
	return out, nil
}

// Apply implements Handler.
func (RemoteCommands) Apply(doc map[string]any, in Input) error {
	head, err := commandList("remote_commands.head", in.RemoteCommands.Head)
	if err != nil {
		return err
	}
	worker, err := commandList("remote_commands.worker", in.RemoteCommands.Worker)
	if err != nil {
		return err
	}
	rc := sub(doc, "remoteCommand")
	if in.StatusReportAPI != "" {
		rc["statusReportApi"] = in.StatusReportAPI
	}
	if in.StatusReportInterval > 0 {
		rc["statusReportInterval"] = in.StatusReportInterval
	}
	c := sub(rc, "commands")
	c["head"] = head
	c["worker"] = worker
	return nil
}

// Dashboards are the public paths of a cluster, each served by the head port of the same name in head.ports.
var dashboards = []struct{ name, port string }{
	{"jupyter", "jupyter"}, {"dashboard", "dashboard"}, {"sparkui", "spark"}, {"metrics", "metrics"}, {"vscode", "vscode"},
}

// Ingress owns ingress.paths: for each dashboard (jupyter, dashboard, sparkui, metrics, vscode) the public path
// /<cloud_env>/<cluster_id>-<name>, the Service name <cluster_id>-<name> and the head port it forwards to.
type Ingress struct{}

// Apply implements Handler.
func (Ingress) Apply(doc map[string]any, in Input) error {
	if in.CloudEnv == "" || len(in.CloudEnv) > 63 || !labelValueRe.MatchString(in.CloudEnv) {
		return apierr.InvalidField("cloud_env", "cloud_env %q must be 1-63 letters, digits, '-', '_' or '.'", in.CloudEnv)
	}
	ports := map[string]any{}
	list, _ := sub(doc, "head")["ports"].([]any)
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				ports[n] = m["containerPort"]
			}
		}
	}
	paths := map[string]any{}
	for _, d := range dashboards {
		port, ok := ports[d.port]
		if !ok {
			return fmt.Errorf("values: head.ports has no %q port", d.port)
		}
		svc := in.ClusterID + "-" + d.name
		if len(svc) > 63 || !dnsLabelRe.MatchString(svc) {
			return apierr.InvalidField("cluster_id", "cluster_id %q does not make a valid Service name", in.ClusterID)
		}
		paths[d.name] = map[string]any{"path": "/" + in.CloudEnv + "/" + svc, "serviceName": svc, "port": port}
	}
	sub(doc, "ingress")["paths"] = paths
	return nil
}
