package domain_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/fakes"
)

// TestKubeClusterSentOnEveryCall checks that start, status, restart and stop all tell cluster-manager the cluster's
// Kubernetes cluster (its cloud_env: from a tag, cloud_env, or cloud_env_job for job clusters) and namespace, and that
// the values document carries the same key.
func TestKubeClusterSentOnEveryCall(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"cloud_env config", nil, "kind-7"},
		{"tag selects the cloud env", func(m map[string]any) { m["tags"] = []any{"demo", "eks-1"} }, "eks-1"},
		{"job cluster uses cloud_env_job", func(m map[string]any) { m["is_job_cluster"] = true }, "kind-jobs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := sqliteHarness(t)
			svc := domain.NewService(h.st, h.cm, fakes.Runtimes{"0.0": "localhost:5000/ray:2.37.0"},
				fakes.Configs{"cloud_env": "kind-7", "cloud_env_job": "kind-jobs"}, h.probe, nil, h.clk, log.Discard(),
				domain.Options{PublicURL: "http://localhost:8080", Owner: "test"})
			ctx := t.Context()
			res, err := svc.Create(ctx, quickstart(t, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			id := res.Cluster.ID
			want := domain.Placement{KubeCluster: tc.want, Namespace: "ray"}
			var v struct {
				KubeClusterKey string `json:"kube_cluster_key"`
				Namespace      string `json:"namespace"`
			}
			if err := json.Unmarshal(h.cm.Artifact(id+"-v1"), &v); err != nil || v.KubeClusterKey != tc.want || v.Namespace != "ray" {
				t.Fatalf("values kube_cluster_key/namespace = %+v (%v), want %s/ray", v, err, tc.want)
			}
			h.cm.SetPods(id, 1, 1)
			h.clk.Advance(time.Minute)
			if _, err := svc.PollOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Pods(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Restart(ctx, id, "ana@example.com"); err != nil {
				t.Fatal(err)
			}
			if err := svc.Stop(ctx, id, "ana@example.com"); err != nil {
				t.Fatal(err)
			}
			for _, op := range []string{"start", "status", "restart", "stop"} {
				if got, ok := h.cm.Placement(op, id); !ok || got != want {
					t.Errorf("%s placement = %+v (called %v), want %+v", op, got, ok, want)
				}
			}
			info, err := svc.ClusterInfo(ctx, id)
			if err != nil || info.KubeCluster != tc.want || info.Namespace != "ray" || info.Values["kube_cluster_key"] != tc.want {
				t.Fatalf("cluster info %+v %v", info, err)
			}
		})
	}
}

// TestValuesErrorStopsCreate checks that a definition the values chain rejects is a 4xx naming the field and leaves
// nothing behind (no artifact, no stored cluster).
func TestValuesErrorStopsCreate(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	req := quickstart(t, func(m map[string]any) {
		m["head_node_config"] = map[string]any{"node_type": "gpu", "gpu_pod": map[string]any{"name": "???", "cores": 4, "memory": 16}}
	})
	_, err := h.svc.Create(t.Context(), req)
	if e := apierr.From(err); err == nil || e.Kind != apierr.InvalidArgument || e.Field != "head_node_config.gpu_pod.name" {
		t.Fatalf("want InvalidArgument on head_node_config.gpu_pod.name, got %v", err)
	}
	if calls := h.cm.Calls(); len(calls) != 0 {
		t.Fatalf("cluster-manager called: %v", calls)
	}
	list, n, err := h.svc.Search(t.Context(), domain.SearchQuery{Limit: 10})
	if err != nil || n != 0 || len(list) != 0 {
		t.Fatalf("cluster stored: %d %v", n, err)
	}
}

// TestUpdateMovingKubeClusterStopsOldRelease checks that a tag change moving a running cluster to another Kubernetes
// cluster removes the release where it ran and starts it on the new one.
func TestUpdateMovingKubeClusterStopsOldRelease(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := t.Context()
	res, err := h.svc.Create(ctx, quickstart(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Cluster.ID
	up, err := h.svc.Update(ctx, id, quickstart(t, func(m map[string]any) { m["tags"] = []any{"demo", "eks-2"} }), "ana@example.com")
	if err != nil || up.Cluster.CloudEnv != "eks-2" {
		t.Fatalf("update: %+v %v", up.Cluster.CloudEnv, err)
	}
	if got, _ := h.cm.Placement("stop", id); got.KubeCluster != "kind-0" {
		t.Fatalf("old release stopped at %+v, want kind-0 (calls %v)", got, h.cm.Calls())
	}
	if got, _ := h.cm.Placement("start", id); got.KubeCluster != "eks-2" || !h.cm.Installed(id) {
		t.Fatalf("started at %+v installed=%v, want eks-2 (calls %v)", got, h.cm.Installed(id), h.cm.Calls())
	}
	if st := h.status(t, id); st.Status != domain.StatusCreating {
		t.Fatalf("status %s after the move, want creating", st.Status)
	}
}
