// Package domain holds ml-serve's entities (environments, serves, infra configs, artifacts, builder jobs,
// deployments) and the validation of every request body: each request type's Validate method turns the
// decoded wire shape into a checked value or an apierr InvalidArgument naming the field at fault.
package domain

import (
	"time"
)

// Serve types.
const (
	ServeTypeAPI      = "api"
	ServeTypeWorkflow = "workflow"
)

// Builder job statuses (artifact-builder's waiting/running → PENDING, completed → SUCCESSFUL, failed → FAILED).
const (
	JobPending    = "PENDING"
	JobSuccessful = "SUCCESSFUL"
	JobFailed     = "FAILED"
)

// Deployment statuses.
const (
	DeploymentActive = "ACTIVE"
	DeploymentEnded  = "ENDED"
)

// Backend types of an API serve.
const (
	BackendFastAPI = "fastapi"
	BackendRay     = "ray"
)

// Node capacity types as stored (the wire also accepts "ondemand" and "on_demand" for on-demand).
const (
	CapacitySpot     = "spot"
	CapacityOnDemand = "on-demand"
)

// Storage strategies of a one-click model deployment.
const (
	StorageAuto     = "auto"
	StorageEmptyDir = "emptydir"
	StoragePVC      = "pvc"
)

// PVCThresholdBytes is the model size from which the auto storage strategy picks a PVC (1 GiB).
const PVCThresholdBytes int64 = 1 << 30

// OneClickDescription is the description of serves auto-created by deploy-model.
const OneClickDescription = "Auto-generated serve for one-click deployments"

// User is an API user; only the hash of its bearer token is stored.
type User struct {
	ID       int64
	Username string
}

// EnvConfig is an environment's configuration document (environments.env_configs).
type EnvConfig struct {
	DomainSuffix  string   `json:"domain_suffix"`
	ClusterName   string   `json:"cluster_name"`
	SecurityGroup string   `json:"security_group"`
	Subnets       []string `json:"subnets"`
	FTRedisURL    string   `json:"ft_redis_url"`
	WorkflowURL   string   `json:"workflow_url"`
	Namespace     string   `json:"namespace"`
}

// Environment is a deployment target (a cluster + namespace).
type Environment struct {
	ID          int64
	Name        string
	Configs     EnvConfig
	IsProtected bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Serve is a named deployable (an API service or a scheduled workflow).
type Serve struct {
	ID          int64
	Name        string
	Type        string
	Description string
	Space       string
	UserID      *int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// FastAPIConfig sizes an API serve's pods.
type FastAPIConfig struct {
	Cores            float64 `json:"cores"`
	Memory           float64 `json:"memory"`
	NodeCapacityType string  `json:"node_capacity_type"`
	MinReplicas      int64   `json:"min_replicas"`
	MaxReplicas      int64   `json:"max_replicas"`
}

// APIServeConfig is the infra config of an API serve in one environment.
type APIServeConfig struct {
	ServeID         int64
	EnvironmentID   int64
	EnvName         string
	BackendType     string
	AdditionalHosts []string
	FastAPI         FastAPIConfig
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// HeadNodeConfig sizes a workflow serve's job-cluster head node.
type HeadNodeConfig struct {
	Cores            float64 `json:"cores"`
	Memory           float64 `json:"memory"`
	NodeCapacityType string  `json:"node_capacity_type"`
}

// WorkerNodeConfig is one worker group of a workflow serve's job cluster.
type WorkerNodeConfig struct {
	CoresPerPods     float64 `json:"cores_per_pods"`
	MemoryPerPods    float64 `json:"memory_per_pods"`
	MinPods          int64   `json:"min_pods"`
	MaxPods          int64   `json:"max_pods"`
	NodeCapacityType string  `json:"node_capacity_type"`
}

// WorkflowServeConfig is the infra config of a workflow serve in one environment.
type WorkflowServeConfig struct {
	ServeID       int64
	EnvironmentID int64
	EnvName       string
	Schedule      string
	Head          HeadNodeConfig
	Workers       []WorkerNodeConfig
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Artifact is a deployable version of a serve: a built image (API serves), a git location (workflow serves)
// or, for one-click deployments, the model URI run by the default runtime image.
type Artifact struct {
	ID            int64
	ServeID       int64
	Version       string
	GithubRepoURL string
	ImageURL      string
	Branch        string
	FilePath      string
	JobID         *int64
	CreatedAt     time.Time
	CreatedBy     *int64
}

// Job is an artifact-builder job row.
type Job struct {
	ID                  int64
	ServeID             int64
	ServeName           string
	Version             string
	GithubRepoURL       string
	Branch              string
	FilePath            string
	TaskID              string
	Status              string
	CreatedAt           time.Time
	StatusLastUpdatedAt time.Time
	CreatedBy           *int64
}

// Deployment is one deployment of an artifact of a serve into an environment.
type Deployment struct {
	ID              int64
	ServeID         int64
	ServeName       string
	ArtifactID      int64
	ArtifactVersion string
	EnvironmentID   int64
	EnvName         string
	ResourceID      string
	CreatedBy       string
	CreatedAt       time.Time
	Status          string
	EndedAt         *time.Time
}

// AppLayerDeployment is the API-serve part of a deployment: strategy and environment variables.
type AppLayerDeployment struct {
	DeploymentID int64
	Strategy     string
	Params       map[string]any
	EnvVars      map[string]string
}

// ResourceID is the cluster-manager resource (Helm release) of a regular deployment: <env>-<serve>.
func ResourceID(env, serve string) string { return env + "-" + serve }

// ArtifactID is the cluster-manager artifact of a deployment: <env>-<serve>-<version>.
func ArtifactID(env, serve, version string) string { return env + "-" + serve + "-" + version }

// StorageFor resolves the auto storage strategy: unknown size or below PVCThresholdBytes → emptydir, else pvc.
// Explicit strategies are returned unchanged.
func StorageFor(strategy string, size int64, known bool) string {
	if strategy != StorageAuto {
		return strategy
	}
	if !known || size < PVCThresholdBytes {
		return StorageEmptyDir
	}
	return StoragePVC
}
