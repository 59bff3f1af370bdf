// Package driver defines how cluster-manager runs Ray clusters: a Driver
// installs a cluster's values document (artifact) as a running release,
// reports its pods and runs commands inside them. The local process driver
// lives in driver/local, the Kubernetes (KubeRay + Helm) one in driver/kube.
package driver

import (
	"context"
	"regexp"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
)

// Defaults of the Kubernetes driver, here so that configuration can name them without linking the driver.
const (
	DefaultKubeNamespace = "ray"
	DefaultHelmTimeout   = 5 * time.Minute
)

// Driver runs clusters. Errors are *apierr.Error: NotFound for an unknown
// cluster or artifact, InvalidArgument for a bad values document or name.
type Driver interface {
	// Apply validates and stores the values document as artifact and
	// returns where it is stored.
	Apply(ctx context.Context, cluster, artifact string, values []byte) (url string, err error)
	// Start installs (or upgrades) the release of cluster from artifact;
	// an empty artifact means the last one applied.
	Start(ctx context.Context, cluster, artifact string) error
	// Stop removes the release; nothing of the cluster keeps running.
	Stop(ctx context.Context, cluster string) error
	// Restart is Stop followed by Start.
	Restart(ctx context.Context, cluster, artifact string) error
	// Status reports the pods of the cluster.
	Status(ctx context.Context, cluster string) (Status, error)
	// List reports the installed releases.
	List(ctx context.Context) ([]Release, error)
	// Exec starts a command in the target pods and returns the pods it was
	// started on.
	Exec(ctx context.Context, req ExecRequest) (started []string, err error)
	// ExecStatus reports per-pod progress of an execution.
	ExecStatus(ctx context.Context, cluster, executionID string) ([]PodExec, error)
	// HeadURL is the internal base URL of the head's HTTP endpoints
	// (dashboard, jobs API, Jupyter under /jupyter/).
	HeadURL(ctx context.Context, cluster string) (string, error)
}

// Pod statuses, as KubeRay pods report them.
const (
	PodRunning = "Running"
	PodPending = "Pending"
	PodFailed  = "Failed"
)

// Node types.
const (
	NodeHead   = "head"
	NodeWorker = "worker"
)

// Exec targets.
const (
	TargetHead    = "head"
	TargetWorker  = "worker"
	TargetCluster = "cluster"
)

// Execution statuses per pod.
const (
	ExecRunning = "running"
	ExecSuccess = "success"
	ExecFailed  = "failed"
)

// Status is a cluster's runtime state.
type Status struct {
	Cluster   string
	Installed bool
	Artifact  string
	Pods      []Pod
	// Internal base URLs of the head's dashboard and Jupyter endpoints.
	DashboardURL string
	JupyterURL   string
	// Events are lifecycle events about the cluster's pods (Kubernetes
	// driver: from Kubernetes Events and pod states), oldest first.
	Events []PodEvent
	// Conditions are the RayCluster's status conditions (Kubernetes driver).
	Conditions []Condition
}

// Pod lifecycle event types, as chronos knows them (spec §1.6).
const (
	EventPodFailedScheduling = "POD_FAILED_SCHEDULING"
	EventPodEvicted          = "POD_EVICTED"
	EventPodFailed           = "POD_FAILED"
	EventPodStarted          = "POD_STARTED"
)

// PodEvent is something that happened to one pod of a cluster.
type PodEvent struct {
	// Type is one of the EventPod* constants.
	Type string
	Pod  string
	// Reason is the Kubernetes reason (FailedScheduling, Evicted, BackOff, OOMKilled, ...).
	Reason  string
	Message string
	// Time of the last occurrence; Count how often it happened.
	Time  time.Time
	Count int
	// ID identifies the event for de-duplication by consumers.
	ID string
}

// Condition is one status condition of the cluster's custom resource.
type Condition struct {
	Type    string
	Status  string
	Reason  string
	Message string
}

// Pod is one process of a cluster.
type Pod struct {
	Name     string
	Status   string
	Message  string
	NodeType string
	Group    string
}

// Release is an installed cluster.
type Release struct {
	Name     string
	Status   string
	Artifact string
}

// ExecRequest asks for a command in the pods of a cluster.
type ExecRequest struct {
	Cluster     string
	Target      string // TargetHead, TargetWorker or TargetCluster ("" = cluster)
	Command     string
	ExecutionID string // generated when empty
	Timeout     time.Duration
}

// PodExec is the progress of one execution in one pod.
type PodExec struct {
	Pod      string
	Status   string
	ExitCode int
	Output   string
	Message  string
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$`)

// ValidateName checks that a cluster or artifact name is usable as a release
// name and a file name.
func ValidateName(field, name string) error {
	if name == "" {
		return apierr.InvalidField(field, "%s is required", field)
	}
	if !namePattern.MatchString(name) || name == "." || name == ".." {
		return apierr.InvalidField(field, "%s %q must be 1-128 letters, digits, '-' or '.', starting with a letter or digit", field, name)
	}
	return nil
}

// NormalizeTarget validates an exec target.
func NormalizeTarget(t string) (string, error) {
	switch t {
	case "", TargetCluster:
		return TargetCluster, nil
	case TargetHead, TargetWorker:
		return t, nil
	}
	return "", apierr.InvalidField("target", "target %q must be head, worker or cluster", t)
}
