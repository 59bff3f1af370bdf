// Package drivertest has an in-memory driver.Driver for API tests.
package drivertest

import (
	"context"
	"sync"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

// Fake is an in-memory driver: clusters are "running" after Start.
type Fake struct {
	mu        sync.Mutex
	Artifacts map[string][]byte // artifact → values
	Applied   map[string]string // cluster → last artifact
	Running   map[string]string // cluster → artifact
	Pods      map[string][]driver.Pod
	Execs     map[string][]driver.PodExec // execution id → result
	LastExec  driver.ExecRequest
	Head      string // HeadURL answer
	Calls     []string
	// Placements records driver.PlacementFrom(ctx) per call, keyed like
	// Calls' first word ("start", "stop", "status", "exec", ...).
	Placements map[string]driver.Placement
	// Events and Conditions are reported by Status for running clusters.
	Events     map[string][]driver.PodEvent
	Conditions map[string][]driver.Condition
}

func (f *Fake) place(ctx context.Context, call string) {
	if f.Placements == nil {
		f.Placements = map[string]driver.Placement{}
	}
	f.Placements[call] = driver.PlacementFrom(ctx)
}

// New returns an empty fake.
func New() *Fake {
	return &Fake{Artifacts: map[string][]byte{}, Applied: map[string]string{}, Running: map[string]string{},
		Pods: map[string][]driver.Pod{}, Execs: map[string][]driver.PodExec{},
		Events: map[string][]driver.PodEvent{}, Conditions: map[string][]driver.Condition{}}
}

func (f *Fake) known(cluster string) error {
	if _, ok := f.Applied[cluster]; ok {
		return nil
	}
	if _, ok := f.Running[cluster]; ok {
		return nil
	}
	return apierr.New(apierr.NotFound, "cluster %s not found", cluster)
}

// Apply stores values after validating names and the document.
func (f *Fake) Apply(_ context.Context, cluster, artifact string, values []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, "apply "+cluster+" "+artifact)
	if err := driver.ValidateName("cluster_name", cluster); err != nil {
		return "", err
	}
	if err := driver.ValidateName("artifact_name", artifact); err != nil {
		return "", err
	}
	if _, err := driver.ParseValues(values); err != nil {
		return "", err
	}
	f.Artifacts[artifact] = values
	f.Applied[cluster] = artifact
	return "file:///artifacts/" + artifact + ".json", nil
}

// Start marks the cluster running.
func (f *Fake) Start(ctx context.Context, cluster, artifact string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.place(ctx, "start")
	f.Calls = append(f.Calls, "start "+cluster+" "+artifact)
	if artifact == "" {
		artifact = f.Applied[cluster]
	}
	if _, ok := f.Artifacts[artifact]; !ok {
		return apierr.New(apierr.NotFound, "artifact %q not found", artifact)
	}
	f.Running[cluster] = artifact
	return nil
}

// Stop marks the cluster stopped.
func (f *Fake) Stop(ctx context.Context, cluster string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.place(ctx, "stop")
	f.Calls = append(f.Calls, "stop "+cluster)
	if err := f.known(cluster); err != nil {
		return err
	}
	delete(f.Running, cluster)
	return nil
}

// Restart is Stop + Start.
func (f *Fake) Restart(ctx context.Context, cluster, artifact string) error {
	if err := f.Stop(ctx, cluster); err != nil {
		return err
	}
	return f.Start(ctx, cluster, artifact)
}

// Status returns the configured pods of a running cluster.
func (f *Fake) Status(ctx context.Context, cluster string) (driver.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.place(ctx, "status")
	if err := f.known(cluster); err != nil {
		return driver.Status{}, err
	}
	art, ok := f.Running[cluster]
	if !ok {
		return driver.Status{Cluster: cluster}, nil
	}
	return driver.Status{Cluster: cluster, Installed: true, Artifact: art, Pods: f.Pods[cluster], DashboardURL: f.Head, JupyterURL: f.Head + "/jupyter",
		Events: f.Events[cluster], Conditions: f.Conditions[cluster]}, nil
}

// List returns running clusters.
func (f *Fake) List(ctx context.Context) ([]driver.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.place(ctx, "list")
	var out []driver.Release
	for c, a := range f.Running {
		out = append(out, driver.Release{Name: c, Status: driver.PodRunning, Artifact: a})
	}
	return out, nil
}

// Exec records the request and answers with the pods of the cluster.
func (f *Fake) Exec(ctx context.Context, req driver.ExecRequest) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.place(ctx, "exec")
	f.LastExec = req
	if err := f.known(req.Cluster); err != nil {
		return nil, err
	}
	if _, ok := f.Running[req.Cluster]; !ok {
		return nil, apierr.New(apierr.FailedPrecondition, "cluster %s is not running", req.Cluster)
	}
	var names []string
	for _, p := range f.Pods[req.Cluster] {
		names = append(names, p.Name)
	}
	if res, ok := f.Execs["*"]; ok {
		f.Execs[req.ExecutionID] = res
	}
	return names, nil
}

// ExecStatus returns the configured result.
func (f *Fake) ExecStatus(_ context.Context, cluster, id string) ([]driver.PodExec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.known(cluster); err != nil {
		return nil, err
	}
	res, ok := f.Execs[id]
	if !ok {
		return nil, apierr.New(apierr.NotFound, "execution %s not found", id)
	}
	return res, nil
}

// HeadURL returns Head for running clusters.
func (f *Fake) HeadURL(_ context.Context, cluster string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.known(cluster); err != nil {
		return "", err
	}
	if _, ok := f.Running[cluster]; !ok {
		return "", apierr.New(apierr.FailedPrecondition, "cluster %s is not running", cluster)
	}
	return f.Head, nil
}

var _ driver.Driver = (*Fake)(nil)
