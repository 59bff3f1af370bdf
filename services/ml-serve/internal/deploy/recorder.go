package deploy

import (
	"context"
	"fmt"
	"sync"
)

// Call is one Deployer call seen by Recorder.
type Call struct {
	Method     string // "Apply", "Stop" or "Status"
	ResourceID string
	Resource   *Resource // Apply only
}

// Recorder is an in-memory Deployer for tests and for running ml-serve without a cluster. It follows the
// Deployer contract exactly:
//   - Apply records the resource as running (replacing an earlier Apply of the same ResourceID — an upgrade)
//     and marks it ready when Ready is true (the default of NewRecorder).
//   - Stop removes a running resource; a ResourceID that is not running returns an error wrapping ErrNotFound.
//   - Status returns Exists/Ready for running resources and {Exists: false} otherwise.
//
// Every call is appended to Calls (including failed ones). FailApply/FailStop/FailStatus, when set, make the
// next calls of that method fail with the given error without changing state.
type Recorder struct {
	mu         sync.Mutex
	running    map[string]Resource
	Ready      bool
	calls      []Call
	FailApply  error
	FailStop   error
	FailStatus error
}

// NewRecorder returns an empty Recorder whose resources become ready as soon as they are applied.
func NewRecorder() *Recorder { return &Recorder{running: map[string]Resource{}, Ready: true} }

// Apply implements Deployer.
func (r *Recorder) Apply(_ context.Context, res Resource) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := res
	r.calls = append(r.calls, Call{Method: "Apply", ResourceID: res.ResourceID, Resource: &cp})
	if r.FailApply != nil {
		return r.FailApply
	}
	if res.ResourceID == "" {
		return fmt.Errorf("apply: empty resource id")
	}
	r.running[res.ResourceID] = cp
	return nil
}

// Stop implements Deployer.
func (r *Recorder) Stop(_ context.Context, ref Ref) error {
	id := ref.ResourceID
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{Method: "Stop", ResourceID: id})
	if r.FailStop != nil {
		return r.FailStop
	}
	if _, ok := r.running[id]; !ok {
		return fmt.Errorf("stop %s: %w", id, ErrNotFound)
	}
	delete(r.running, id)
	return nil
}

// Status implements Deployer.
func (r *Recorder) Status(_ context.Context, ref Ref) (ResourceStatus, error) {
	id := ref.ResourceID
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{Method: "Status", ResourceID: id})
	if r.FailStatus != nil {
		return ResourceStatus{}, r.FailStatus
	}
	if _, ok := r.running[id]; !ok {
		return ResourceStatus{}, nil
	}
	return ResourceStatus{Exists: true, Ready: r.Ready}, nil
}

// Calls returns a copy of the calls so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Running returns the resource currently running under id.
func (r *Recorder) Running(id string) (Resource, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.running[id]
	return res, ok
}

// RunningIDs returns how many resources are running.
func (r *Recorder) RunningIDs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}
