// Package fakes holds in-memory stand-ins for compute's collaborators, shared by tests.
package fakes

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/domain"
)

// ClusterManager is an in-memory cluster-manager: Start marks a release installed, tests set its pods.
type ClusterManager struct {
	mu        sync.Mutex
	artifacts map[string][]byte
	installed map[string]string // cluster → artifact
	pods      map[string][]domain.PodState
	events    map[string][]domain.PodEvent
	calls     []string
	placed    map[string]domain.Placement // "<op> <cluster>" → placement of the last such call
	FailStart error
	// DashboardURL and JupyterURL are returned for installed clusters.
	DashboardURL, JupyterURL string
}

var _ domain.ClusterManager = (*ClusterManager)(nil)

// NewClusterManager returns an empty fake.
func NewClusterManager() *ClusterManager {
	return &ClusterManager{artifacts: map[string][]byte{}, installed: map[string]string{}, pods: map[string][]domain.PodState{},
		events: map[string][]domain.PodEvent{}, placed: map[string]domain.Placement{}, DashboardURL: "http://127.0.0.1:1/", JupyterURL: "http://127.0.0.1:1/jupyter"}
}

func (m *ClusterManager) record(format string, args ...any) {
	m.calls = append(m.calls, fmt.Sprintf(format, args...))
}

// Calls returns the calls made so far ("apply id-x-v1", "start id-x", ...).
func (m *ClusterManager) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

// Placement returns the placement (kube cluster, namespace) of the last call op ("start", "restart", "stop",
// "status") for a cluster, and whether there was one.
func (m *ClusterManager) Placement(op, id string) (domain.Placement, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.placed[op+" "+id]
	return p, ok
}

// Artifact returns the values stored under an artifact name.
func (m *ClusterManager) Artifact(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.artifacts[name]
}

// Installed reports whether a cluster's release is installed.
func (m *ClusterManager) Installed(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.installed[id]
	return ok
}

// SetPods sets the running head and worker pods of a cluster.
func (m *ClusterManager) SetPods(id string, heads, workers int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []domain.PodState
	for i := range heads {
		ps = append(ps, domain.PodState{Name: fmt.Sprintf("%s-kuberay-head-%d", id, i), Type: "pod", Status: "Running", NodeType: "head"})
	}
	for i := range workers {
		ps = append(ps, domain.PodState{Name: fmt.Sprintf("%s-kuberay-worker-%d", id, i), Type: "pod", Status: "Running", NodeType: "worker", Group: "worker"})
	}
	m.pods[id] = ps
}

// SetPodEvents sets the pod lifecycle events Status reports for a cluster (installed or not).
func (m *ClusterManager) SetPodEvents(id string, events ...domain.PodEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events[id] = append([]domain.PodEvent(nil), events...)
}

// Apply stores the artifact.
func (m *ClusterManager) Apply(_ context.Context, id, artifact string, values []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.record("apply %s", artifact)
	m.artifacts[artifact] = values
	return nil
}

// Start installs the release.
func (m *ClusterManager) Start(_ context.Context, id, artifact string, at domain.Placement) (domain.StartResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.record("start %s", id)
	m.placed["start "+id] = at
	if m.FailStart != nil {
		return domain.StartResult{}, m.FailStart
	}
	if _, ok := m.artifacts[artifact]; !ok {
		return domain.StartResult{}, apierr.New(apierr.NotFound, "artifact %s not found", artifact)
	}
	m.installed[id] = artifact
	return domain.StartResult{ClusterName: id, Namespace: at.Namespace, KubeCluster: at.KubeCluster}, nil
}

// Restart reinstalls the release.
func (m *ClusterManager) Restart(_ context.Context, id, artifact string, at domain.Placement) (domain.StartResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.record("restart %s", id)
	m.placed["restart "+id] = at
	m.installed[id] = artifact
	m.pods[id] = nil
	return domain.StartResult{ClusterName: id, Namespace: at.Namespace, KubeCluster: at.KubeCluster}, nil
}

// Stop removes the release and its pods.
func (m *ClusterManager) Stop(_ context.Context, id string, at domain.Placement) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.record("stop %s", id)
	m.placed["stop "+id] = at
	delete(m.installed, id)
	delete(m.pods, id)
	return nil
}

// Status returns the pods and pod events set for the cluster.
func (m *ClusterManager) Status(_ context.Context, id string, at domain.Placement) (domain.RuntimeStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.placed["status "+id] = at
	_, ok := m.installed[id]
	rs := domain.RuntimeStatus{Installed: ok, Pods: append([]domain.PodState(nil), m.pods[id]...),
		Events: append([]domain.PodEvent(nil), m.events[id]...)}
	if ok {
		rs.DashboardURL, rs.JupyterURL = m.DashboardURL, m.JupyterURL
	}
	return rs, nil
}

// Probe is a scripted activity probe.
type Probe struct {
	mu                         sync.Mutex
	Jupyter, Job, KernelActive bool
}

var _ domain.ActivityProbe = (*Probe)(nil)

// Set changes the probe's answers.
func (p *Probe) Set(jupyterUp, jobRunning, kernelActive bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Jupyter, p.Job, p.KernelActive = jupyterUp, jobRunning, kernelActive
}

// JupyterUp answers the scripted value.
func (p *Probe) JupyterUp(context.Context, string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Jupyter
}

// RayJobRunning answers the scripted value.
func (p *Probe) RayJobRunning(context.Context, string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Job, nil
}

// JupyterActive answers the scripted value.
func (p *Probe) JupyterActive(context.Context, string, time.Time, bool, bool) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.KernelActive, nil
}

// CPUUsage reports an idle cluster.
func (p *Probe) CPUUsage(context.Context, string) (float64, []float64, error) { return 0, nil, nil }

// Runtimes resolves runtime names from a map.
type Runtimes map[string]string

// Resolve returns the image of a runtime, NotFound otherwise.
func (r Runtimes) Resolve(_ context.Context, name string) (string, string, error) {
	img, ok := r[name]
	if !ok {
		return "", "", apierr.New(apierr.NotFound, "runtime %s not found", name)
	}
	return img, "ray", nil
}

// Configs is a ConfigGetter over a map.
type Configs map[string]string

// Get returns a value, NotFound otherwise.
func (c Configs) Get(_ context.Context, key string) (string, error) {
	v, ok := c[key]
	if !ok {
		return "", apierr.New(apierr.NotFound, "config %s not found", key)
	}
	return v, nil
}
