package libraries_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/libraries"
	"github.com/darwinml/darwin/services/compute/migrations"
)

var computeMigrations = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type fakeClusters struct {
	mu       sync.Mutex
	clusters map[string]domain.ClusterInfo
}

func newFakeClusters() *fakeClusters { return &fakeClusters{clusters: map[string]domain.ClusterInfo{}} }

func (f *fakeClusters) set(id, uiStatus, runID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clusters[id] = domain.ClusterInfo{ClusterID: id, Name: "name-" + id, UIStatus: uiStatus, RunID: runID, KubeCluster: "kind-0", Namespace: "ray"}
}

func (f *fakeClusters) ClusterInfo(_ context.Context, id string) (domain.ClusterInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.clusters[id]
	if !ok {
		return c, apierr.New(apierr.NotFound, "cluster %s not found", id)
	}
	return c, nil
}

type chartCall struct {
	ClusterID    string
	Head, Worker []domain.RemoteCommand
}

type fakeArtifacts struct {
	mu    sync.Mutex
	calls []chartCall
	fail  error
}

func (f *fakeArtifacts) AddRemoteCommands(_ context.Context, id string, head, worker []domain.RemoteCommand) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	f.calls = append(f.calls, chartCall{id, head, worker})
	return fmt.Sprintf("%s-v%d", id, len(f.calls)+1), nil
}

func (f *fakeArtifacts) last() chartCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return chartCall{}
	}
	return f.calls[len(f.calls)-1]
}

type execCall struct {
	ClusterID, ExecutionID, Target, Command string
	Timeout                                 int
	KubeCluster, Namespace                  string
}

type fakeExec struct {
	mu          sync.Mutex
	execs       []execCall
	failExec    error
	pods        map[string][]libraries.PodStatus // by execution id
	statusErr   error
	statusCalls map[string]int
}

func newFakeExec() *fakeExec {
	return &fakeExec{pods: map[string][]libraries.PodStatus{}, statusCalls: map[string]int{}}
}

func (f *fakeExec) Exec(_ context.Context, req libraries.ExecRequest) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failExec != nil {
		return nil, f.failExec
	}
	f.execs = append(f.execs, execCall{req.ClusterID, req.ExecutionID, req.Target, req.Command, req.TimeoutSeconds, req.KubeCluster, req.Namespace})
	return []string{req.ClusterID + "-head"}, nil
}

func (f *fakeExec) ExecStatus(_ context.Context, _ string, executionID string) ([]libraries.PodStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statusCalls[executionID]++
	if f.statusErr != nil {
		return nil, f.statusErr
	}
	return f.pods[executionID], nil
}

func (f *fakeExec) setPods(execID string, pods ...libraries.PodStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods[execID] = pods
}

func (f *fakeExec) calls(execID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.statusCalls[execID]
}

func (f *fakeExec) execCalls() []execCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]execCall(nil), f.execs...)
}

type env struct {
	svc      *libraries.Service
	store    *libraries.Store
	clusters *fakeClusters
	charts   *fakeArtifacts
	exec     *fakeExec
	clock    *clock.Fake
	db       *db.DB
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	e := &env{store: libraries.NewStore(d), clusters: newFakeClusters(), charts: &fakeArtifacts{}, exec: newFakeExec(),
		clock: clock.NewFake(t0), db: d}
	n := 0
	var mu sync.Mutex
	svc, err := libraries.NewService(libraries.Config{}, libraries.Deps{Store: e.store, Clusters: e.clusters, Artifacts: e.charts,
		Executor: e.exec, Clock: e.clock, NewID: func() string {
			mu.Lock()
			defer mu.Unlock()
			n++
			return fmt.Sprintf("exec%04d", n)
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

func sqliteDB(t *testing.T) *db.DB {
	t.Helper()
	d := dbtest.Open(t, db.SQLite)
	if err := db.Migrate(t.Context(), d, migrations.Component, migrations.FS); err != nil {
		t.Fatal(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }
