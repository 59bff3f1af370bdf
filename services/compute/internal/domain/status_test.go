package domain

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func pods(heads, workers int, extra ...PodState) []PodState {
	var out []PodState
	for range heads {
		out = append(out, PodState{Name: "id-x-kuberay-head-abc", Status: "Running"})
	}
	for range workers {
		out = append(out, PodState{Name: "p", NodeType: "worker", Status: "Running"})
	}
	return append(out, extra...)
}

func TestComputeStatus(t *testing.T) {
	t.Parallel()
	pending := PodState{Name: "id-x-worker-1", Status: "Pending"}
	cases := []struct {
		name    string
		old     string
		pods    []PodState
		jupyter bool
		min     int
		want    string
	}{
		{"creating no head", StatusCreating, nil, false, 1, StatusCreating},
		{"creating pending worker only", StatusCreating, pods(0, 0, pending), false, 1, StatusCreating},
		{"active lost everything", StatusActive, nil, false, 1, StatusClusterDied},
		{"active lost head", StatusActive, pods(0, 1), false, 1, StatusHeadNodeDied},
		{"head up jupyter down", StatusCreating, pods(1, 0), false, 1, StatusHeadNodeUp},
		{"jupyter up waiting workers", StatusHeadNodeUp, pods(1, 0, pending), true, 1, StatusJupyterUp},
		{"all workers", StatusJupyterUp, pods(1, 1), true, 1, StatusActive},
		{"no workers wanted", StatusCreating, pods(1, 0), true, 0, StatusActive},
		{"scaled", StatusActive, pods(1, 3), true, 1, StatusWorkerNodesScaled},
		{"worker died", StatusActive, pods(1, 0), true, 1, StatusWorkerNodesDied},
		{"head by node_type", StatusCreating, []PodState{{Name: "x", NodeType: "head", Status: "Running"}}, false, 0, StatusHeadNodeUp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ComputeStatus(tc.old, tc.pods, tc.jupyter, tc.min); got != tc.want {
				t.Fatalf("got %s want %s", got, tc.want)
			}
		})
	}
}

func TestUIStatus(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		StatusInactive: UIInactive, StatusCreating: UICreating, StatusHeadNodeUp: UICreating, StatusJupyterUp: UICreating,
		StatusHeadNodeDied: UICreating, StatusClusterDied: UICreating, StatusActive: UIActive, StatusWorkerNodesScaled: UIActive,
		StatusWorkerNodesDied: UIActive,
	}
	for in, out := range want {
		if got := UIStatus(in); got != out {
			t.Errorf("UIStatus(%s)=%s want %s", in, got, out)
		}
	}
}

func TestTransitionPath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		from, to string
		actions  []string
		events   []string
		ok       bool
	}{
		{StatusCreating, StatusActive, []string{"Head Node Up", "Jupyter Up", "Worker Nodes Up", "Running"},
			[]string{"HEAD_NODE_UP", "JUPYTER_UP", "WORKER_NODES_UP", "CLUSTER_READY"}, true},
		{StatusActive, StatusWorkerNodesDied, []string{"Worker Nodes Died"}, nil, true},
		{StatusClusterDied, StatusInactive, []string{"Cluster Inactive"}, []string{"CLUSTER_INACTIVE"}, true},
		{StatusHeadNodeDied, StatusActive, []string{"Head Node Up", "Jupyter Up", "Worker Nodes Up", "Running"},
			[]string{"HEAD_NODE_UP", "JUPYTER_UP", "WORKER_NODES_UP", "CLUSTER_READY"}, true},
		{StatusActive, StatusActive, nil, nil, true},
		{StatusInactive, StatusActive, nil, nil, false},
	}
	for _, tc := range cases {
		path, ok := TransitionPath(tc.from, tc.to)
		if ok != tc.ok {
			t.Fatalf("%s→%s ok=%v", tc.from, tc.to, ok)
		}
		var actions, events []string
		for i, s := range path {
			if i > 0 && path[i-1].To != s.From {
				t.Fatalf("%s→%s path not contiguous", tc.from, tc.to)
			}
			actions = append(actions, s.Actions...)
			events = append(events, s.Events...)
		}
		if !slices.Equal(actions, tc.actions) || !slices.Equal(events, tc.events) {
			t.Errorf("%s→%s: actions %v events %v", tc.from, tc.to, actions, events)
		}
	}
}

func TestUpdatePlan(t *testing.T) {
	t.Parallel()
	r, err := DecodeClusterRequest(readFixture(t, "quickstart.json"))
	if err != nil {
		t.Fatal(err)
	}
	base := r.Cluster
	cases := []struct {
		name             string
		edit             func(c *Cluster)
		changed, restart bool
	}{
		{"same", func(*Cluster) {}, false, false},
		{"min pods", func(c *Cluster) { c.WorkerGroups[0].MinPods = 2 }, true, false},
		{"max pods", func(c *Cluster) { c.WorkerGroups[0].MaxPods = 5 }, true, false},
		{"inactive time", func(c *Cluster) { c.InactiveTime = 90 }, true, false},
		{"tags", func(c *Cluster) { c.Tags = []string{"x"} }, true, false},
		{"runtime", func(c *Cluster) { c.Runtime = "0.1" }, true, true},
		{"worker cores", func(c *Cluster) { c.WorkerGroups[0].Cores = 3 }, true, true},
		{"head memory", func(c *Cluster) { c.HeadNode.Memory = 16 }, true, true},
		{"advance env", func(c *Cluster) { c.AdvanceConfig.EnvironmentVariables = "A=1" }, true, true},
		{"extra group", func(c *Cluster) { c.WorkerGroups = append(c.WorkerGroups, c.WorkerGroups[0]) }, true, true},
	}
	for _, tc := range cases {
		n := base
		n.WorkerGroups = slices.Clone(base.WorkerGroups)
		tc.edit(&n)
		changed, restart := UpdatePlan(base, n)
		if changed != tc.changed || restart != tc.restart {
			t.Errorf("%s: changed=%v restart=%v", tc.name, changed, restart)
		}
	}
}

type fakeProbe struct {
	job, jupyter bool
	err          error
	head         float64
	since        time.Time
}

func (f *fakeProbe) JupyterUp(context.Context, string) bool { return true }
func (f *fakeProbe) RayJobRunning(context.Context, string) (bool, error) {
	return f.job, f.err
}
func (f *fakeProbe) JupyterActive(_ context.Context, _ string, since time.Time, _, _ bool) (bool, error) {
	f.since = since
	return f.jupyter, f.err
}
func (f *fakeProbe) CPUUsage(context.Context, string) (float64, []float64, error) {
	return f.head, nil, f.err
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ctx := t.Context()
	def := DefaultPolicies()
	if AnyPolicyActive(ctx, &fakeProbe{}, def, ClusterURLs{}, now) {
		t.Fatal("idle cluster reported active")
	}
	if !AnyPolicyActive(ctx, &fakeProbe{job: true}, def, ClusterURLs{}, now) {
		t.Fatal("running job not seen")
	}
	p := &fakeProbe{jupyter: true}
	if !AnyPolicyActive(ctx, p, def, ClusterURLs{}, now) || !p.since.Equal(now.Add(-5*time.Minute)) {
		t.Fatalf("jupyter activity: since %v", p.since)
	}
	if AnyPolicyActive(ctx, &fakeProbe{job: true, err: errors.New("down")}, def, ClusterURLs{}, now) {
		t.Fatal("probe errors must count as inactive")
	}
	disabled := []Policy{{PolicyName: PolicyActiveRayJob, Enabled: false}}
	if AnyPolicyActive(ctx, &fakeProbe{job: true}, disabled, ClusterURLs{}, now) {
		t.Fatal("disabled policy used")
	}
	if !AnyPolicyActive(ctx, &fakeProbe{head: 100}, def, ClusterURLs{}, now) {
		t.Fatal("cpu threshold not applied")
	}
	if IdleExpired(now.Add(-29*time.Minute), now, 30) || !IdleExpired(now.Add(-30*time.Minute), now, 30) || IdleExpired(now.Add(-time.Hour*100), now, -1) {
		t.Fatal("IdleExpired thresholds")
	}
}
