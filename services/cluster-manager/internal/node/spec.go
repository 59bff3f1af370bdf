// Package node holds the head and worker programs that the local driver
// runs as a cluster's "pods": real OS processes started as
// `<exe> node head|worker ...`. The head serves a Ray-Jobs-compatible API,
// a node summary, a small dashboard and Jupyter-compatible activity
// endpoints; workers heartbeat to the head. Both run init commands, remote
// commands and ad-hoc exec requests inside their own environment.
package node

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

// Spec configures one node process. The driver writes it as JSON into the
// pod's state dir and passes --spec; the flags below override its fields.
type Spec struct {
	ClusterID      string                 `json:"cluster_id"`
	ClusterName    string                 `json:"cluster_name,omitempty"`
	PodName        string                 `json:"pod_name"`
	NodeType       string                 `json:"node_type"`
	Group          string                 `json:"group,omitempty"`
	Port           int                    `json:"port"`
	HeadURL        string                 `json:"head_url,omitempty"`
	StateDir       string                 `json:"state_dir"`
	InitCommands   []string               `json:"init_commands,omitempty"`
	RemoteCommands []driver.RemoteCommand `json:"remote_commands,omitempty"`
	CPU            float64                `json:"cpu,omitempty"`
	Memory         int64                  `json:"memory,omitempty"`
	// Intervals in milliseconds.
	HeartbeatIntervalMS int64 `json:"heartbeat_interval_ms,omitempty"`
	NodeTimeoutMS       int64 `json:"node_timeout_ms,omitempty"`
	StopGraceMS         int64 `json:"stop_grace_ms,omitempty"`
	MaxConcurrentJobs   int   `json:"max_concurrent_jobs,omitempty"`
}

// Defaults for zero Spec fields.
const (
	DefaultHeartbeatInterval = time.Second
	DefaultNodeTimeout       = 5 * time.Second
	DefaultStopGrace         = 5 * time.Second
	DefaultMaxConcurrentJobs = 8
	// RayVersion is what /api/version reports (the runtime image's Ray).
	RayVersion = "2.37.0"
)

func (s Spec) heartbeatInterval() time.Duration {
	return msOr(s.HeartbeatIntervalMS, DefaultHeartbeatInterval)
}
func (s Spec) nodeTimeout() time.Duration { return msOr(s.NodeTimeoutMS, DefaultNodeTimeout) }
func (s Spec) stopGrace() time.Duration   { return msOr(s.StopGraceMS, DefaultStopGrace) }
func (s Spec) maxJobs() int {
	if s.MaxConcurrentJobs > 0 {
		return s.MaxConcurrentJobs
	}
	return DefaultMaxConcurrentJobs
}

func msOr(ms int64, d time.Duration) time.Duration {
	if ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return d
}

// ParseArgs reads `head|worker [flags]` into a Spec.
func ParseArgs(args []string, stderr io.Writer) (Spec, error) {
	var spec Spec
	if len(args) == 0 || (args[0] != driver.NodeHead && args[0] != driver.NodeWorker) {
		return spec, fmt.Errorf("usage: node head|worker [flags]")
	}
	kind := args[0]
	fs := flag.NewFlagSet("node "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	specPath := fs.String("spec", "", "path of the node spec JSON written by the driver")
	clusterID := fs.String("cluster-id", "", "cluster id")
	port := fs.Int("port", 0, "loopback port to serve on")
	stateDir := fs.String("state-dir", "", "pod state dir (working dir, logs)")
	name := fs.String("name", "", "pod name")
	head := fs.String("head", "", "head base URL (workers)")
	group := fs.String("group", "", "worker group (workers)")
	if err := fs.Parse(args[1:]); err != nil {
		return spec, err
	}
	if *specPath != "" {
		data, err := os.ReadFile(*specPath)
		if err != nil {
			return spec, fmt.Errorf("read node spec: %w", err)
		}
		if err := json.Unmarshal(data, &spec); err != nil {
			return spec, fmt.Errorf("decode node spec: %w", err)
		}
	}
	spec.NodeType = kind
	setStr(&spec.ClusterID, *clusterID)
	setStr(&spec.StateDir, *stateDir)
	setStr(&spec.PodName, *name)
	setStr(&spec.HeadURL, *head)
	setStr(&spec.Group, *group)
	if *port != 0 {
		spec.Port = *port
	}
	switch {
	case spec.ClusterID == "":
		return spec, errors.New("--cluster-id is required")
	case spec.StateDir == "":
		return spec, errors.New("--state-dir is required")
	case spec.PodName == "":
		return spec, errors.New("--name is required")
	case kind == driver.NodeWorker && spec.HeadURL == "":
		return spec, errors.New("--head is required for workers")
	case spec.Port < 0 || spec.Port > 65535:
		return spec, fmt.Errorf("--port %d out of range", spec.Port)
	}
	return spec, nil
}

func setStr(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}
