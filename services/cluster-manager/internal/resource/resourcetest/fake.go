// Package resourcetest holds a recording resource.Runner for handler tests.
package resourcetest

import (
	"context"
	"sync"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

// Call is one recorded runner call.
type Call struct {
	Method     string
	ResourceID string
	Doc        resource.Doc // StartResource only
	Placement  driver.Placement
}

// Runner records calls and keeps started instances in memory: StartResource installs (or replaces),
// StopResource removes (NotFound for an unknown id), ResourceStatus reports Pods[id] of installed ones.
type Runner struct {
	mu      sync.Mutex
	Calls   []Call
	running map[string]resource.Doc
	// Pods are reported for installed instances.
	Pods map[string][]resource.Pod
	// FailStart, when set, is returned by StartResource.
	FailStart error
}

// NewRunner returns an empty fake.
func NewRunner() *Runner {
	return &Runner{running: map[string]resource.Doc{}, Pods: map[string][]resource.Pod{}}
}

// StartResource implements resource.Runner.
func (r *Runner) StartResource(ctx context.Context, id string, doc resource.Doc) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Calls = append(r.Calls, Call{Method: "start", ResourceID: id, Doc: doc, Placement: driver.PlacementFrom(ctx)})
	if r.FailStart != nil {
		return r.FailStart
	}
	r.running[id] = doc
	return nil
}

// StopResource implements resource.Runner.
func (r *Runner) StopResource(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Calls = append(r.Calls, Call{Method: "stop", ResourceID: id, Placement: driver.PlacementFrom(ctx)})
	if _, ok := r.running[id]; !ok {
		return apierr.New(apierr.NotFound, "resource instance %s not found", id)
	}
	delete(r.running, id)
	return nil
}

// ResourceStatus implements resource.Runner.
func (r *Runner) ResourceStatus(ctx context.Context, id string) (resource.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Calls = append(r.Calls, Call{Method: "status", ResourceID: id, Placement: driver.PlacementFrom(ctx)})
	doc, ok := r.running[id]
	if !ok {
		return resource.Status{ResourceID: id}, nil
	}
	return resource.Status{ResourceID: id, Installed: true, ArtifactID: doc.ArtifactID, Pods: r.Pods[id], URL: "http://127.0.0.1:1/"}, nil
}

// Running returns the document an instance runs.
func (r *Runner) Running(id string) (resource.Doc, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.running[id]
	return d, ok
}

// Last returns the last recorded call.
func (r *Runner) Last() Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.Calls) == 0 {
		return Call{}
	}
	return r.Calls[len(r.Calls)-1]
}
