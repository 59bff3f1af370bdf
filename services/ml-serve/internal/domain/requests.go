package domain

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/darwinml/darwin/pkg/apierr"
)

// Int is an integer request field. Like pydantic's lax int it accepts a JSON integer, a float with no
// fractional part (4.0) or a string holding an integer ("4"); anything else is a type error naming the field.
type Int int64

// UnmarshalJSON implements json.Unmarshaler.
func (i *Int) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return typeErr("string", int64(0))
		}
		s = strings.TrimSpace(str)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*i = Int(n)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return typeErr(jsonKind(b), int64(0))
	}
	*i = Int(int64(f))
	return nil
}

// Number is a numeric request field: a finite JSON number or a string holding one.
type Number float64

// UnmarshalJSON implements json.Unmarshaler.
func (n *Number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return typeErr("string", float64(0))
		}
		s = strings.TrimSpace(str)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return typeErr(jsonKind(b), float64(0))
	}
	*n = Number(f)
	return nil
}

// StrList is a list-of-strings field that also accepts one comma-separated string (hermes --subnets) or null.
type StrList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *StrList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*l = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return typeErr("string", []string{})
		}
		out := StrList{}
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		*l = out
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return typeErr(jsonKind(b), []string{})
	}
	*l = list
	return nil
}

// EnvValue is an environment-variable value: a string, or a number/boolean rendered as text; null is "".
type EnvValue string

// UnmarshalJSON implements json.Unmarshaler.
func (v *EnvValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return typeErr("string", "")
		}
		*v = EnvValue(s)
	case string(b) == "true" || string(b) == "false":
		*v = EnvValue(b)
	case string(b) == "null":
		*v = ""
	default:
		var f json.Number
		if err := json.Unmarshal(b, &f); err != nil {
			return typeErr(jsonKind(b), "")
		}
		*v = EnvValue(f.String())
	}
	return nil
}

func typeErr(value string, t any) error {
	return &json.UnmarshalTypeError{Value: value, Type: reflect.TypeOf(t)}
}

func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

func required(field string) error { return apierr.InvalidField(field, "%s is required", field) }

var nameRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// ValidateServeName checks a serve name: 1-50 characters, no "_" (the original's rule) and, because the name
// becomes a Kubernetes release name and a URL path, only letters, digits, '-' and '.', starting and ending with
// a letter or digit; "deploy-model" and "undeploy-model" are reserved.
func ValidateServeName(field, name string) error {
	switch {
	case name == "":
		return required(field)
	case len(name) > 50:
		return apierr.InvalidField(field, "%s must be at most 50 characters", field)
	case strings.Contains(name, "_"):
		return apierr.InvalidField(field, "%s must not contain '_'", field)
	case !nameRe.MatchString(name):
		return apierr.InvalidField(field, "%s may contain only letters, digits, '-' and '.', and must start and end with a letter or digit", field)
	case reservedServeNames[strings.ToLower(name)]:
		return apierr.InvalidField(field, "%s %q is reserved", field, name)
	}
	return nil
}

// reservedServeNames are path segments of the serve API that a serve name would shadow.
var reservedServeNames = map[string]bool{"deploy-model": true, "undeploy-model": true}

// ValidateEnvName checks an environment name (same character rules as serve names, at most 50 characters).
func ValidateEnvName(field, name string) error {
	switch {
	case name == "":
		return required(field)
	case len(name) > 50:
		return apierr.InvalidField(field, "%s must be at most 50 characters", field)
	case !nameRe.MatchString(name):
		return apierr.InvalidField(field, "%s may contain only letters, digits, '-' and '.', and must start and end with a letter or digit", field)
	}
	return nil
}

// ValidateVersion checks an artifact version: 1-50 printable characters without '/', whitespace or "..".
func ValidateVersion(field, v string) error {
	switch {
	case v == "":
		return required(field)
	case len(v) > 50:
		return apierr.InvalidField(field, "%s must be at most 50 characters", field)
	case !nameRe.MatchString(strings.ReplaceAll(v, "_", "-")) || strings.Contains(v, ".."):
		return apierr.InvalidField(field, "%s may contain only letters, digits, '-', '_' and '.'", field)
	}
	return nil
}

// checkText rejects invalid UTF-8, control characters and over-long values in free-text fields.
func checkText(field, v string, maxLen int) error {
	if len(v) > maxLen {
		return apierr.InvalidField(field, "%s must be at most %d bytes", field, maxLen)
	}
	if !utf8.ValidString(v) {
		return apierr.InvalidField(field, "%s must be valid UTF-8", field)
	}
	for _, r := range v {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return apierr.InvalidField(field, "%s must not contain control characters", field)
		}
	}
	return nil
}

// NormalizeCapacity maps the accepted spellings (spot, on-demand, ondemand, on_demand; any case) to the stored
// form; ok is false for anything else.
func NormalizeCapacity(v string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "spot":
		return CapacitySpot, true
	case "on-demand", "ondemand", "on_demand":
		return CapacityOnDemand, true
	}
	return "", false
}

func capacity(field string, v *string, def string) (string, error) {
	if v == nil {
		return def, nil
	}
	c, ok := NormalizeCapacity(*v)
	if !ok {
		return "", apierr.InvalidField(field, "%s must be one of spot, on-demand (or ondemand)", field)
	}
	return c, nil
}

// ---- environments ----

// EnvConfigInput is environment_configs on the wire (also the body of PATCH, flat or nested).
type EnvConfigInput struct {
	DomainSuffix  *string  `json:"domain_suffix"`
	ClusterName   *string  `json:"cluster_name"`
	SecurityGroup *string  `json:"security_group"`
	Subnets       *StrList `json:"subnets"`
	FTRedisURL    *string  `json:"ft_redis_url"`
	WorkflowURL   *string  `json:"workflow_url"`
	Namespace     *string  `json:"namespace"`
}

// CreateEnvironmentRequest is the body of POST /api/v1/environment.
type CreateEnvironmentRequest struct {
	Name               *string         `json:"name"`
	EnvironmentConfigs *EnvConfigInput `json:"environment_configs"`
}

// UpdateEnvironmentRequest is the body of PATCH /api/v1/environment/{name}: any subset of the config fields,
// either at top level or under environment_configs.
type UpdateEnvironmentRequest struct {
	EnvConfigInput
	EnvironmentConfigs *EnvConfigInput `json:"environment_configs"`
}

func (c *EnvConfigInput) fields() []struct {
	name string
	v    *string
} {
	return []struct {
		name string
		v    *string
	}{
		{"domain_suffix", c.DomainSuffix}, {"cluster_name", c.ClusterName}, {"security_group", c.SecurityGroup},
		{"ft_redis_url", c.FTRedisURL}, {"workflow_url", c.WorkflowURL}, {"namespace", c.Namespace},
	}
}

// apply copies the present fields onto cfg, validating each.
func (c *EnvConfigInput) apply(prefix string, cfg *EnvConfig) error {
	for _, f := range c.fields() {
		if f.v == nil {
			continue
		}
		if err := checkText(prefix+f.name, *f.v, 1024); err != nil {
			return err
		}
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&cfg.DomainSuffix, c.DomainSuffix)
	set(&cfg.ClusterName, c.ClusterName)
	set(&cfg.SecurityGroup, c.SecurityGroup)
	set(&cfg.FTRedisURL, c.FTRedisURL)
	set(&cfg.WorkflowURL, c.WorkflowURL)
	set(&cfg.Namespace, c.Namespace)
	if c.Subnets != nil {
		if len(*c.Subnets) > 64 {
			return apierr.InvalidField(prefix+"subnets", "%ssubnets has more than 64 entries", prefix)
		}
		cfg.Subnets = append([]string{}, (*c.Subnets)...)
		for i, s := range cfg.Subnets {
			if err := checkText(prefix+"subnets["+strconv.Itoa(i)+"]", s, 255); err != nil {
				return err
			}
		}
	}
	if cfg.Subnets == nil {
		cfg.Subnets = []string{}
	}
	return checkEnvConfig(prefix, cfg)
}

func checkEnvConfig(prefix string, cfg *EnvConfig) error {
	if cfg.ClusterName == "" {
		return apierr.InvalidField(prefix+"cluster_name", "%scluster_name must not be empty", prefix)
	}
	if cfg.Namespace == "" {
		return apierr.InvalidField(prefix+"namespace", "%snamespace must not be empty", prefix)
	}
	return nil
}

// Validate returns the environment name and configuration. Every config field but subnets is required (as in
// the original's pydantic model); cluster_name and namespace must also be non-empty because deployments need
// them.
func (r *CreateEnvironmentRequest) Validate() (string, EnvConfig, error) {
	if r.Name == nil {
		return "", EnvConfig{}, required("name")
	}
	name := strings.TrimSpace(*r.Name)
	if err := ValidateEnvName("name", name); err != nil {
		return "", EnvConfig{}, err
	}
	if r.EnvironmentConfigs == nil {
		return "", EnvConfig{}, required("environment_configs")
	}
	for _, f := range r.EnvironmentConfigs.fields() {
		if f.v == nil {
			return "", EnvConfig{}, required("environment_configs." + f.name)
		}
	}
	var cfg EnvConfig
	if err := r.EnvironmentConfigs.apply("environment_configs.", &cfg); err != nil {
		return "", EnvConfig{}, err
	}
	return name, cfg, nil
}

// Apply merges the present fields into cfg (nested environment_configs wins over top-level fields).
func (r *UpdateEnvironmentRequest) Apply(cfg *EnvConfig) error {
	if err := r.EnvConfigInput.apply("", cfg); err != nil {
		return err
	}
	if r.EnvironmentConfigs != nil {
		return r.EnvironmentConfigs.apply("environment_configs.", cfg)
	}
	return nil
}

// ---- serves ----

// CreateServeRequest is the body of POST /api/v1/serve.
type CreateServeRequest struct {
	Name        *string `json:"name"`
	Type        *string `json:"type"`
	Description *string `json:"description"`
	Space       *string `json:"space"`
}

// Validate returns the serve to create (ID, user and timestamps unset).
func (r *CreateServeRequest) Validate() (Serve, error) {
	var s Serve
	if r.Name == nil {
		return s, required("name")
	}
	s.Name = strings.TrimSpace(*r.Name)
	if err := ValidateServeName("name", s.Name); err != nil {
		return s, err
	}
	if r.Type == nil {
		return s, required("type")
	}
	s.Type = strings.ToLower(strings.TrimSpace(*r.Type))
	if s.Type != ServeTypeAPI && s.Type != ServeTypeWorkflow {
		return s, apierr.InvalidField("type", "type must be one of api, workflow")
	}
	if r.Description != nil {
		s.Description = *r.Description
	}
	if r.Space != nil {
		s.Space = strings.TrimSpace(*r.Space)
	}
	if err := checkText("description", s.Description, 4096); err != nil {
		return s, err
	}
	if err := checkText("space", s.Space, 255); err != nil {
		return s, err
	}
	return s, nil
}

// ---- infra configs ----

// FastAPIConfigInput is fast_api_config on the wire.
type FastAPIConfigInput struct {
	Cores            *Number `json:"cores"`
	Memory           *Number `json:"memory"`
	NodeCapacityType *string `json:"node_capacity_type"`
	MinReplicas      *Int    `json:"min_replicas"`
	MaxReplicas      *Int    `json:"max_replicas"`
}

// APIServeConfigInput is api_serve_config on the wire. The sizing fields may also appear flat (the layout of
// hermes' .hermes/deployment_*.json files); fast_api_config wins when both are present.
type APIServeConfigInput struct {
	BackendType     *string             `json:"backend_type"`
	AdditionalHosts *StrList            `json:"additional_hosts"`
	FastAPIConfig   *FastAPIConfigInput `json:"fast_api_config"`
	FastAPIConfigInput
}

// HeadNodeInput is head_node_config on the wire.
type HeadNodeInput struct {
	Cores            *Number `json:"cores"`
	Memory           *Number `json:"memory"`
	NodeCapacityType *string `json:"node_capacity_type"`
}

// WorkerNodeInput is one worker_node_config entry on the wire.
type WorkerNodeInput struct {
	CoresPerPods     *Number `json:"cores_per_pods"`
	MemoryPerPods    *Number `json:"memory_per_pods"`
	MinPods          *Int    `json:"min_pods"`
	MaxPods          *Int    `json:"max_pods"`
	NodeCapacityType *string `json:"node_capacity_type"`
}

// WorkflowServeConfigInput is workflow_serve_config on the wire.
type WorkflowServeConfigInput struct {
	Schedule         *string           `json:"schedule"`
	HeadNodeConfig   *HeadNodeInput    `json:"head_node_config"`
	WorkerNodeConfig []WorkerNodeInput `json:"worker_node_config"`
}

// ServeConfigRequest is the body of POST/PATCH /api/v1/serve/{serve}/infra-config/{env}.
type ServeConfigRequest struct {
	APIServeConfig      *APIServeConfigInput      `json:"api_serve_config"`
	WorkflowServeConfig *WorkflowServeConfigInput `json:"workflow_serve_config"`
}

// ServeConfig is a validated infra config: exactly one of API and Workflow is set.
type ServeConfig struct {
	API      *APIServeConfig
	Workflow *WorkflowServeConfig
}

func positive(field string, v *Number) (float64, error) {
	if v == nil {
		return 0, required(field)
	}
	if *v <= 0 {
		return 0, apierr.InvalidField(field, "%s must be greater than 0", field)
	}
	if *v > 1e6 {
		return 0, apierr.InvalidField(field, "%s is too large", field)
	}
	return float64(*v), nil
}

func intRange(field string, v *Int, def, lo, hi int64) (int64, error) {
	if v == nil {
		if def < lo {
			return 0, required(field)
		}
		return def, nil
	}
	if int64(*v) < lo || int64(*v) > hi {
		return 0, apierr.InvalidField(field, "%s must be between %d and %d", field, lo, hi)
	}
	return int64(*v), nil
}

// Validate checks the body against the serve's type: an api serve needs api_serve_config and a workflow serve
// workflow_serve_config; the other one must be absent (a mismatch is a 400).
func (r *ServeConfigRequest) Validate(serveType string) (ServeConfig, error) {
	switch serveType {
	case ServeTypeAPI:
		if r.WorkflowServeConfig != nil {
			return ServeConfig{}, apierr.InvalidField("workflow_serve_config", "workflow_serve_config is not valid for an api serve; send api_serve_config")
		}
		if r.APIServeConfig == nil {
			return ServeConfig{}, apierr.InvalidField("api_serve_config", "api_serve_config is required for an api serve")
		}
		c, err := r.APIServeConfig.validate()
		return ServeConfig{API: c}, err
	case ServeTypeWorkflow:
		if r.APIServeConfig != nil {
			return ServeConfig{}, apierr.InvalidField("api_serve_config", "api_serve_config is not valid for a workflow serve; send workflow_serve_config")
		}
		if r.WorkflowServeConfig == nil {
			return ServeConfig{}, apierr.InvalidField("workflow_serve_config", "workflow_serve_config is required for a workflow serve")
		}
		c, err := r.WorkflowServeConfig.validate()
		return ServeConfig{Workflow: c}, err
	}
	return ServeConfig{}, apierr.New(apierr.Internal, "unknown serve type %q", serveType)
}

func (in *APIServeConfigInput) validate() (*APIServeConfig, error) {
	const p = "api_serve_config."
	c := &APIServeConfig{BackendType: BackendFastAPI, AdditionalHosts: []string{}}
	if in.BackendType != nil {
		c.BackendType = strings.ToLower(strings.TrimSpace(*in.BackendType))
		if c.BackendType != BackendFastAPI && c.BackendType != BackendRay {
			return nil, apierr.InvalidField(p+"backend_type", "%sbackend_type must be one of fastapi, ray", p)
		}
	}
	if in.AdditionalHosts != nil {
		if len(*in.AdditionalHosts) > 64 {
			return nil, apierr.InvalidField(p+"additional_hosts", "%sadditional_hosts has more than 64 entries", p)
		}
		for i, h := range *in.AdditionalHosts {
			h = strings.TrimSpace(h)
			f := p + "additional_hosts[" + strconv.Itoa(i) + "]"
			if h == "" || strings.ContainsAny(h, " /\\,") {
				return nil, apierr.InvalidField(f, "%s must be a host name", f)
			}
			if err := checkText(f, h, 255); err != nil {
				return nil, err
			}
			c.AdditionalHosts = append(c.AdditionalHosts, h)
		}
	}
	fa, fp := in.FastAPIConfig, p+"fast_api_config."
	if fa == nil {
		flat := in.FastAPIConfigInput
		if flat.Cores == nil && flat.Memory == nil && flat.MinReplicas == nil && flat.MaxReplicas == nil && flat.NodeCapacityType == nil {
			return nil, required(p + "fast_api_config")
		}
		fa, fp = &flat, p
	}
	var err error
	if c.FastAPI.Cores, err = positive(fp+"cores", fa.Cores); err != nil {
		return nil, err
	}
	if c.FastAPI.Memory, err = positive(fp+"memory", fa.Memory); err != nil {
		return nil, err
	}
	if c.FastAPI.NodeCapacityType, err = capacity(fp+"node_capacity_type", fa.NodeCapacityType, CapacitySpot); err != nil {
		return nil, err
	}
	if c.FastAPI.MinReplicas, err = intRange(fp+"min_replicas", fa.MinReplicas, 0, 1, 1000); err != nil {
		return nil, err
	}
	if c.FastAPI.MaxReplicas, err = intRange(fp+"max_replicas", fa.MaxReplicas, 0, 1, 1000); err != nil {
		return nil, err
	}
	if c.FastAPI.MinReplicas > c.FastAPI.MaxReplicas {
		return nil, apierr.InvalidField(fp+"min_replicas", "%smin_replicas must not exceed max_replicas", fp)
	}
	return c, nil
}

func (in *WorkflowServeConfigInput) validate() (*WorkflowServeConfig, error) {
	const p = "workflow_serve_config."
	c := &WorkflowServeConfig{Workers: []WorkerNodeConfig{}}
	if in.Schedule == nil {
		return nil, required(p + "schedule")
	}
	c.Schedule = strings.TrimSpace(*in.Schedule)
	if err := checkText(p+"schedule", c.Schedule, 255); err != nil {
		return nil, err
	}
	if in.HeadNodeConfig == nil {
		return nil, required(p + "head_node_config")
	}
	var err error
	hp := p + "head_node_config."
	if c.Head.Cores, err = positive(hp+"cores", in.HeadNodeConfig.Cores); err != nil {
		return nil, err
	}
	if c.Head.Memory, err = positive(hp+"memory", in.HeadNodeConfig.Memory); err != nil {
		return nil, err
	}
	if c.Head.NodeCapacityType, err = capacity(hp+"node_capacity_type", in.HeadNodeConfig.NodeCapacityType, CapacityOnDemand); err != nil {
		return nil, err
	}
	if len(in.WorkerNodeConfig) > 20 {
		return nil, apierr.InvalidField(p+"worker_node_config", "%sworker_node_config has more than 20 groups", p)
	}
	for i, w := range in.WorkerNodeConfig {
		wp := p + "worker_node_config[" + strconv.Itoa(i) + "]."
		var wc WorkerNodeConfig
		if wc.CoresPerPods, err = positive(wp+"cores_per_pods", w.CoresPerPods); err != nil {
			return nil, err
		}
		if wc.MemoryPerPods, err = positive(wp+"memory_per_pods", w.MemoryPerPods); err != nil {
			return nil, err
		}
		if wc.MinPods, err = intRange(wp+"min_pods", w.MinPods, 0, 0, 1000); err != nil {
			return nil, err
		}
		if wc.MaxPods, err = intRange(wp+"max_pods", w.MaxPods, 0, 1, 1000); err != nil {
			return nil, err
		}
		if wc.MinPods > wc.MaxPods {
			return nil, apierr.InvalidField(wp+"min_pods", "%smin_pods must not exceed max_pods", wp)
		}
		if wc.NodeCapacityType, err = capacity(wp+"node_capacity_type", w.NodeCapacityType, CapacitySpot); err != nil {
			return nil, err
		}
		c.Workers = append(c.Workers, wc)
	}
	return c, nil
}

// ---- artifacts ----

// CreateArtifactRequest is the body of POST /api/v1/artifact.
type CreateArtifactRequest struct {
	ServeName     *string `json:"serve_name"`
	GithubRepoURL *string `json:"github_repo_url"`
	Version       *string `json:"version"`
	Branch        *string `json:"branch"`
	FilePath      *string `json:"file_path"`
}

// ArtifactInput is a validated artifact request; empty strings mean "not given".
type ArtifactInput struct {
	ServeName, GithubRepoURL, Version, Branch, FilePath string
}

// Validate checks field shapes; the serve-dependent rules (defaults, workflow requirements) are the handler's.
func (r *CreateArtifactRequest) Validate() (ArtifactInput, error) {
	var a ArtifactInput
	if r.ServeName == nil {
		return a, required("serve_name")
	}
	a.ServeName = strings.TrimSpace(*r.ServeName)
	if err := ValidateServeName("serve_name", a.ServeName); err != nil {
		return a, err
	}
	if r.Version == nil {
		return a, required("version")
	}
	a.Version = strings.TrimSpace(*r.Version)
	if err := ValidateVersion("version", a.Version); err != nil {
		return a, err
	}
	if r.GithubRepoURL != nil {
		a.GithubRepoURL = strings.TrimSpace(*r.GithubRepoURL)
		if a.GithubRepoURL != "" {
			if err := ValidateGitURL("github_repo_url", a.GithubRepoURL); err != nil {
				return a, err
			}
		}
	}
	if r.Branch != nil {
		a.Branch = strings.TrimSpace(*r.Branch)
		if err := checkText("branch", a.Branch, 255); err != nil {
			return a, err
		}
		if strings.ContainsAny(a.Branch, " ~^:?*[\\") || strings.Contains(a.Branch, "..") || strings.HasPrefix(a.Branch, "-") {
			return a, apierr.InvalidField("branch", "branch is not a valid git branch name")
		}
	}
	if r.FilePath != nil {
		a.FilePath = strings.TrimSpace(*r.FilePath)
		if err := checkText("file_path", a.FilePath, 1024); err != nil {
			return a, err
		}
	}
	return a, nil
}

// ValidateGitURL accepts http(s)://, ssh://, git:// URLs and scp-like git@host:path locations.
func ValidateGitURL(field, u string) error {
	if err := checkText(field, u, 1024); err != nil {
		return err
	}
	lower := strings.ToLower(u)
	ok := false
	for _, p := range []string{"https://", "http://", "ssh://", "git://", "git@"} {
		if strings.HasPrefix(lower, p) && len(u) > len(p) {
			ok = true
		}
	}
	if !ok || strings.ContainsAny(u, " \t\n") {
		return apierr.InvalidField(field, "%s must be a git repository URL (https://, ssh://, git:// or git@host:path)", field)
	}
	return nil
}

// ---- deployments ----

// APIDeploymentConfigInput is api_serve_deployment_config on the wire.
type APIDeploymentConfigInput struct {
	DeploymentStrategy       *string             `json:"deployment_strategy"`
	DeploymentStrategyConfig map[string]any      `json:"deployment_strategy_config"`
	EnvironmentVariables     map[string]EnvValue `json:"environment_variables"`
}

// WorkflowDeploymentConfigInput is workflow_serve_deployment_config on the wire.
type WorkflowDeploymentConfigInput struct {
	InputParameters map[string]any `json:"input_parameters"`
}

// DeployRequest is the body of POST /api/v1/serve/{serve}/deploy.
type DeployRequest struct {
	Env                           *string                        `json:"env"`
	ArtifactVersion               *string                        `json:"artifact_version"`
	APIServeDeploymentConfig      *APIDeploymentConfigInput      `json:"api_serve_deployment_config"`
	WorkflowServeDeploymentConfig *WorkflowDeploymentConfigInput `json:"workflow_serve_deployment_config"`
}

// Deploy is a validated deploy request; Strategy/Params/EnvVars are nil when not given (inherit the previous
// deployment's).
type Deploy struct {
	Env, ArtifactVersion string
	Strategy             *string
	Params               map[string]any
	EnvVars              map[string]string
}

var envVarRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Validate checks the deploy body.
func (r *DeployRequest) Validate() (Deploy, error) {
	var d Deploy
	if r.Env == nil {
		return d, required("env")
	}
	d.Env = strings.TrimSpace(*r.Env)
	if err := ValidateEnvName("env", d.Env); err != nil {
		return d, err
	}
	if r.ArtifactVersion == nil {
		return d, required("artifact_version")
	}
	d.ArtifactVersion = strings.TrimSpace(*r.ArtifactVersion)
	if err := ValidateVersion("artifact_version", d.ArtifactVersion); err != nil {
		return d, err
	}
	if c := r.APIServeDeploymentConfig; c != nil {
		const p = "api_serve_deployment_config."
		if c.DeploymentStrategy != nil {
			s := strings.TrimSpace(*c.DeploymentStrategy)
			if err := checkText(p+"deployment_strategy", s, 64); err != nil {
				return d, err
			}
			d.Strategy = &s
		}
		d.Params = c.DeploymentStrategyConfig
		if c.EnvironmentVariables != nil {
			vars, err := EnvVars(p+"environment_variables", c.EnvironmentVariables)
			if err != nil {
				return d, err
			}
			d.EnvVars = vars
		}
	}
	return d, nil
}

// EnvVars validates environment variable names and values.
func EnvVars(field string, in map[string]EnvValue) (map[string]string, error) {
	if len(in) > 200 {
		return nil, apierr.InvalidField(field, "%s has more than 200 entries", field)
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		if !envVarRe.MatchString(k) || len(k) > 255 {
			return nil, apierr.InvalidField(field+"."+k, "%s: %q is not a valid environment variable name", field, k)
		}
		if err := checkText(field+"."+k, string(v), 32<<10); err != nil {
			return nil, err
		}
		out[k] = string(v)
	}
	return out, nil
}

// DeployModelRequest is the body of POST /api/v1/serve/deploy-model (one-click).
type DeployModelRequest struct {
	ServeName       *string `json:"serve_name"`
	ArtifactVersion *string `json:"artifact_version"`
	ModelURI        *string `json:"model_uri"`
	Env             *string `json:"env"`
	StorageStrategy *string `json:"storage_strategy"`
	Cores           *Int    `json:"cores"`
	Memory          *Int    `json:"memory"`
	NodeCapacity    *string `json:"node_capacity"`
	MinReplicas     *Int    `json:"min_replicas"`
	MaxReplicas     *Int    `json:"max_replicas"`
}

// DeployModel is a validated one-click request.
type DeployModel struct {
	ServeName, ArtifactVersion, ModelURI, Env, StorageStrategy string
	Cores, Memory, MinReplicas, MaxReplicas                    int64
	NodeCapacity                                               string
}

// DefaultModelArtifactVersion is used when deploy-model omits artifact_version (the seed README's iris example
// does).
const DefaultModelArtifactVersion = "v1"

// Validate checks the one-click body and applies the original's defaults (storage auto, 4 cores, 8 GB, spot,
// 1..1 replicas). The serve name is lower-cased.
func (r *DeployModelRequest) Validate() (DeployModel, error) {
	var d DeployModel
	if r.ServeName == nil {
		return d, required("serve_name")
	}
	d.ServeName = strings.ToLower(strings.TrimSpace(*r.ServeName))
	if err := ValidateServeName("serve_name", d.ServeName); err != nil {
		return d, err
	}
	d.ArtifactVersion = DefaultModelArtifactVersion
	if r.ArtifactVersion != nil {
		d.ArtifactVersion = strings.TrimSpace(*r.ArtifactVersion)
		if err := ValidateVersion("artifact_version", d.ArtifactVersion); err != nil {
			return d, err
		}
	}
	if r.ModelURI == nil || strings.TrimSpace(*r.ModelURI) == "" {
		return d, required("model_uri")
	}
	d.ModelURI = strings.TrimSpace(*r.ModelURI)
	if err := checkText("model_uri", d.ModelURI, 1024); err != nil {
		return d, err
	}
	if r.Env == nil {
		return d, required("env")
	}
	d.Env = strings.TrimSpace(*r.Env)
	if err := ValidateEnvName("env", d.Env); err != nil {
		return d, err
	}
	d.StorageStrategy = StorageAuto
	if r.StorageStrategy != nil {
		d.StorageStrategy = strings.ToLower(strings.TrimSpace(*r.StorageStrategy))
		if d.StorageStrategy != StorageAuto && d.StorageStrategy != StorageEmptyDir && d.StorageStrategy != StoragePVC {
			return d, apierr.InvalidField("storage_strategy", "storage_strategy must be one of auto, emptydir, pvc")
		}
	}
	var err error
	if d.Cores, err = intRange("cores", r.Cores, 4, 1, 64); err != nil {
		return d, err
	}
	if d.Memory, err = intRange("memory", r.Memory, 8, 1, 512); err != nil {
		return d, err
	}
	if d.NodeCapacity, err = capacity("node_capacity", r.NodeCapacity, CapacitySpot); err != nil {
		return d, err
	}
	if d.MinReplicas, err = intRange("min_replicas", r.MinReplicas, 1, 1, 100); err != nil {
		return d, err
	}
	if d.MaxReplicas, err = intRange("max_replicas", r.MaxReplicas, 1, 1, 100); err != nil {
		return d, err
	}
	if d.MinReplicas > d.MaxReplicas {
		return d, apierr.InvalidField("min_replicas", "min_replicas must not exceed max_replicas")
	}
	return d, nil
}

// UndeployModelRequest is the body of POST /api/v1/serve/undeploy-model.
type UndeployModelRequest struct {
	ServeName *string `json:"serve_name"`
	Env       *string `json:"env"`
}

// Validate returns the (lower-cased) serve name and the environment.
func (r *UndeployModelRequest) Validate() (serve, env string, err error) {
	if r.ServeName == nil {
		return "", "", required("serve_name")
	}
	serve = strings.ToLower(strings.TrimSpace(*r.ServeName))
	if err := ValidateServeName("serve_name", serve); err != nil {
		return "", "", err
	}
	if r.Env == nil {
		return "", "", required("env")
	}
	env = strings.TrimSpace(*r.Env)
	if err := ValidateEnvName("env", env); err != nil {
		return "", "", err
	}
	return serve, env, nil
}

// SanitizeSpace turns a username into a serve space: lower-case letters, digits and '-', at most 50 characters,
// "default" when nothing is left.
func SanitizeSpace(username string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(username) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 50 {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return "default"
	}
	return s
}
