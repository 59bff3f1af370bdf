package domain_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/bus"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/fakes"
	"github.com/darwinml/darwin/services/compute/internal/store"
	"github.com/darwinml/darwin/services/compute/migrations"
)

var epoch = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

type harness struct {
	svc   *domain.Service
	st    *store.Store
	cm    *fakes.ClusterManager
	probe *fakes.Probe
	clk   *clock.Fake
	ob    *bus.Outbox
}

func newHarness(t *testing.T, d *db.DB) *harness {
	t.Helper()
	clk := clock.NewFake(epoch)
	ob := bus.NewOutbox(d, "compute", clk, log.Discard())
	st := store.New(d, ob)
	h := &harness{st: st, cm: fakes.NewClusterManager(), probe: &fakes.Probe{}, clk: clk, ob: ob}
	h.svc = domain.NewService(st, h.cm, fakes.Runtimes{"0.0": "localhost:5000/ray:2.37.0"}, fakes.Configs{"cloud_env": "kind-0"},
		h.probe, nil, clk, log.Discard(), domain.Options{PublicURL: "http://localhost:8080", Owner: "test"})
	return h
}

func sqliteHarness(t *testing.T) *harness {
	t.Helper()
	d := dbtest.Open(t, db.SQLite)
	for _, m := range []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}, {Component: "bus", FS: bus.Migrations}} {
		if err := db.Migrate(t.Context(), d, m.Component, m.FS); err != nil {
			t.Fatal(err)
		}
	}
	return newHarness(t, d)
}

func quickstart(t *testing.T, edit func(m map[string]any)) domain.ClusterRequest {
	t.Helper()
	b, err := os.ReadFile("testdata/quickstart.json")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		edit(m)
		b, _ = json.Marshal(m)
	}
	r, err := domain.DecodeClusterRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// poll advances past the lease and runs one poller pass.
func (h *harness) poll(t *testing.T, d time.Duration) {
	t.Helper()
	h.clk.Advance(d)
	if _, err := h.svc.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) status(t *testing.T, id string) domain.StatusRow {
	t.Helper()
	st, err := h.svc.Metadata(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (h *harness) events(t *testing.T, id string) []string {
	t.Helper()
	evs, err := h.ob.Recent(t.Context(), id, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	slices.Sort(out)
	return out
}

func (h *harness) actions(t *testing.T, id string) []string {
	t.Helper()
	as, err := h.st.ListActions(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Action)
	}
	return out
}

// TestQuickStartLifecycle drives create → start → status walk → stop → delete on every dialect.
func TestQuickStartLifecycle(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}, {Component: "bus", FS: bus.Migrations}},
		func(t *testing.T, d *db.DB) {
			h := newHarness(t, d)
			ctx := t.Context()
			res, err := h.svc.Create(ctx, quickstart(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			id := res.Cluster.ID
			if !strings.HasPrefix(id, "id-") || len(id) != 19 || strings.ContainsAny(id[3:], "01lA") {
				t.Fatalf("cluster id %q", id)
			}
			if h.cm.Artifact(id+"-v1") == nil || !h.cm.Installed(id) {
				t.Fatalf("artifact not applied/started: %v", h.cm.Calls())
			}
			st := h.status(t, id)
			if st.Status != domain.StatusCreating || !strings.HasPrefix(st.ActiveRunID, "run_id-") || st.ArtifactID != id+"-v1" {
				t.Fatalf("after create: %+v", st)
			}
			var walk []string
			h.cm.SetPods(id, 1, 0)
			h.poll(t, 11*time.Second)
			walk = append(walk, h.status(t, id).Status)
			h.probe.Set(true, false, false)
			h.poll(t, 11*time.Second)
			walk = append(walk, h.status(t, id).Status)
			h.cm.SetPods(id, 1, 1)
			h.poll(t, 11*time.Second)
			walk = append(walk, h.status(t, id).Status)
			if !slices.Equal(walk, []string{domain.StatusHeadNodeUp, domain.StatusJupyterUp, domain.StatusActive}) {
				t.Fatalf("walk %v", walk)
			}
			if st := h.status(t, id); st.ActivePods != 2 || st.AvailableMemory != 12 {
				t.Fatalf("active pods %d", st.ActivePods)
			}
			if err := h.svc.Delete(ctx, id); apierr.KindOf(err) != apierr.FailedPrecondition {
				t.Fatalf("delete active: %v", err)
			}
			if err := h.svc.Stop(ctx, id, "user@example.com"); err != nil {
				t.Fatal(err)
			}
			if st := h.status(t, id); st.Status != domain.StatusInactive || h.cm.Installed(id) {
				t.Fatalf("after stop: %+v", st)
			}
			wantActions := []string{"Created", "Started", "Head Node Up", "Jupyter Up", "Worker Nodes Up", "Running", "Stopped"}
			if got := h.actions(t, id); !slices.Equal(got, wantActions) {
				t.Fatalf("actions %v", got)
			}
			if err := h.svc.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := h.svc.Get(ctx, id); apierr.KindOf(err) != apierr.NotFound {
				t.Fatalf("after delete: %v", err)
			}
			want := []string{"CLUSTER_CREATED", "CLUSTER_CREATION_REQUEST_RECEIVED", "CLUSTER_DELETED", "CLUSTER_DELETION_REQUEST_RECEIVED",
				"CLUSTER_READY", "CLUSTER_START_REQUEST_RECEIVED", "CLUSTER_STOPPED", "CLUSTER_STOP_REQUEST_RECEIVED", "HEAD_NODE_UP",
				"JUPYTER_UP", "WORKER_NODES_UP"}
			if got := h.events(t, id); !slices.Equal(got, want) {
				t.Fatalf("events %v", got)
			}
		})
}

func TestMultiHopReplaysPath(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	res, err := h.svc.Create(t.Context(), quickstart(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Cluster.ID
	h.cm.SetPods(id, 1, 1)
	h.probe.Set(true, false, false)
	h.poll(t, 11*time.Second)
	if st := h.status(t, id); st.Status != domain.StatusActive {
		t.Fatalf("status %s", st.Status)
	}
	want := []string{"Created", "Started", "Head Node Up", "Jupyter Up", "Worker Nodes Up", "Running"}
	if got := h.actions(t, id); !slices.Equal(got, want) {
		t.Fatalf("actions %v", got)
	}
}

// TestPollLease: a finished poll releases its lease, so every pass re-polls the cluster; a cluster leased by
// another replica is skipped until that lease expires (default lease 10 s).
func TestPollLease(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	c, err := h.svc.Create(t.Context(), quickstart(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := h.svc.PollOnce(t.Context())
	h.clk.Advance(time.Second)
	m, _ := h.svc.PollOnce(t.Context())
	if n != 1 || m != 1 {
		t.Fatalf("released lease: polled %d then %d, want 1 and 1", n, m)
	}
	other, err := h.st.LeaseForPoll(t.Context(), "other-replica", h.clk.Now(), 10*time.Second, 10)
	if err != nil || len(other) != 1 || other[0] != c.Cluster.ID {
		t.Fatalf("other replica leased %v (%v)", other, err)
	}
	h.clk.Advance(5 * time.Second)
	k, _ := h.svc.PollOnce(t.Context())
	h.clk.Advance(6 * time.Second)
	j, _ := h.svc.PollOnce(t.Context())
	if k != 0 || j != 1 {
		t.Fatalf("with another replica's lease: polled %d then (after expiry) %d, want 0 and 1", k, j)
	}
}

// activeCluster creates a cluster and drives it to active.
func activeCluster(t *testing.T, h *harness, edit func(m map[string]any)) string {
	t.Helper()
	res, err := h.svc.Create(t.Context(), quickstart(t, edit))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Cluster.ID
	h.cm.SetPods(id, 1, 1)
	h.probe.Set(true, false, false)
	h.poll(t, 11*time.Second)
	if st := h.status(t, id); st.Status != domain.StatusActive {
		t.Fatalf("not active: %s", st.Status)
	}
	return id
}

func TestAutoTermination(t *testing.T) {
	t.Parallel()
	t.Run("idle cluster stops after inactive_time", func(t *testing.T) {
		t.Parallel()
		h := sqliteHarness(t)
		id := activeCluster(t, h, nil) // inactive_time 30
		h.poll(t, 28*time.Minute)
		if st := h.status(t, id); st.Status != domain.StatusActive {
			t.Fatalf("stopped too early: %s", st.Status)
		}
		h.poll(t, 2*time.Minute+time.Second)
		if st := h.status(t, id); st.Status != domain.StatusInactive {
			t.Fatalf("not auto-terminated: %s", st.Status)
		}
		if ev := h.events(t, id); !slices.Contains(ev, "AUTO_TERMINATED") {
			t.Fatalf("events %v", ev)
		}
		as, _ := h.st.ListActions(t.Context(), id)
		last := as[len(as)-1]
		if last.Action != domain.ActionStopped || !strings.Contains(last.Message, domain.AutoTerminationUser) {
			t.Fatalf("last action %+v", last)
		}
		if h.cm.Installed(id) {
			t.Fatal("release still installed")
		}
	})
	t.Run("running ray job keeps it alive", func(t *testing.T) {
		t.Parallel()
		h := sqliteHarness(t)
		id := activeCluster(t, h, nil)
		h.probe.Set(true, true, false)
		for range 4 {
			h.poll(t, 20*time.Minute)
		}
		st := h.status(t, id)
		if st.Status != domain.StatusActive || !st.LastUsedAt.Equal(h.clk.Now().UTC()) {
			t.Fatalf("job cluster: %+v now %v", st, h.clk.Now())
		}
		h.probe.Set(true, false, false)
		h.poll(t, 31*time.Minute)
		if st := h.status(t, id); st.Status != domain.StatusInactive {
			t.Fatalf("idle after job: %s", st.Status)
		}
	})
	t.Run("minus one never terminates", func(t *testing.T) {
		t.Parallel()
		h := sqliteHarness(t)
		id := activeCluster(t, h, func(m map[string]any) { m["inactive_time"] = -1 })
		h.poll(t, 100*time.Hour)
		if st := h.status(t, id); st.Status != domain.StatusActive {
			t.Fatalf("terminated: %s", st.Status)
		}
	})
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	t.Run("stuck creating", func(t *testing.T) {
		t.Parallel()
		h := sqliteHarness(t)
		res, err := h.svc.Create(t.Context(), quickstart(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		id := res.Cluster.ID
		h.poll(t, 39*time.Minute)
		if st := h.status(t, id); st.Status != domain.StatusCreating {
			t.Fatalf("early: %s", st.Status)
		}
		h.poll(t, 2*time.Minute)
		if st := h.status(t, id); st.Status != domain.StatusInactive {
			t.Fatalf("not timed out: %s", st.Status)
		}
		if ev := h.events(t, id); !slices.Contains(ev, "CLUSTER_TIMEOUT") {
			t.Fatalf("events %v", ev)
		}
	})
	t.Run("dead cluster forced inactive", func(t *testing.T) {
		t.Parallel()
		h := sqliteHarness(t)
		id := activeCluster(t, h, nil)
		h.cm.SetPods(id, 0, 0)
		h.poll(t, 11*time.Second)
		if st := h.status(t, id); st.Status != domain.StatusClusterDied {
			t.Fatalf("status %s", st.Status)
		}
		h.poll(t, 31*time.Minute)
		if st := h.status(t, id); st.Status != domain.StatusInactive {
			t.Fatalf("status %s", st.Status)
		}
		if ev := h.events(t, id); !slices.Contains(ev, "CLUSTER_INACTIVE") {
			t.Fatalf("events %v", ev)
		}
	})
}

func TestCreateRules(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := t.Context()
	a, err := h.svc.Create(ctx, quickstart(t, func(m map[string]any) { m["start_cluster"] = false }))
	if err != nil {
		t.Fatal(err)
	}
	if h.cm.Installed(a.Cluster.ID) || h.status(t, a.Cluster.ID).Status != domain.StatusInactive {
		t.Fatal("start_cluster false started the cluster")
	}
	b, err := h.svc.Create(ctx, quickstart(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if b.Cluster.Name != "my-first-cluster_"+b.Cluster.ID {
		t.Fatalf("duplicate name kept: %s", b.Cluster.Name)
	}
	_, err = h.svc.Create(ctx, quickstart(t, func(m map[string]any) { m["runtime"] = "9.9" }))
	if e := apierr.From(err); e.Kind != apierr.InvalidArgument || e.Field != "runtime" {
		t.Fatalf("unknown runtime: %v", err)
	}
	dash, err := h.svc.Dashboards(ctx, a.Cluster.ID, false)
	if err != nil || dash["jupyter_lab_url"] != "http://localhost:8080/kind-0/"+a.Cluster.ID+"-jupyter" ||
		dash["ray_dashboard_url"] != "http://localhost:8080/kind-0/"+a.Cluster.ID+"-dashboard/" {
		t.Fatalf("dashboards %v %v", dash, err)
	}
}

func TestUpdateRestartRules(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	ctx := t.Context()
	id := activeCluster(t, h, nil)
	// min/max pods change: no restart; the running cluster takes the new artifact in place (Helm upgrade) and
	// keeps its run.
	before := h.status(t, id)
	starts := func() int {
		return len(slices.DeleteFunc(h.cm.Calls(), func(c string) bool { return c != "start "+id }))
	}
	startsBefore := starts()
	res, err := h.svc.Update(ctx, id, quickstart(t, func(m map[string]any) {
		m["worker_node_configs"].([]any)[0].(map[string]any)["max_pods"] = 4
	}), "u@x.io")
	if err != nil || !res.Changed || res.Restarted || res.Cluster.ArtifactName() != id+"-v2" {
		t.Fatalf("pods update: %+v %v", res, err)
	}
	if starts() != startsBefore+1 {
		t.Fatalf("pods update did not upgrade the running release: %v", h.cm.Calls())
	}
	if st := h.status(t, id); st.Status != domain.StatusActive || st.ActiveRunID != before.ActiveRunID {
		t.Fatalf("pods update changed the run: %+v, was %+v", st, before)
	}
	// worker cores change: update + restart.
	res, err = h.svc.Update(ctx, id, quickstart(t, func(m map[string]any) {
		w := m["worker_node_configs"].([]any)[0].(map[string]any)
		w["max_pods"], w["cores_per_pods"] = 4, 3
	}), "u@x.io")
	if err != nil || !res.Restarted || !slices.Contains(h.cm.Calls(), "restart "+id) {
		t.Fatalf("shape update: %+v %v %v", res, err, h.cm.Calls())
	}
	if st := h.status(t, id); st.Status != domain.StatusCreating || st.ArtifactID != id+"-v3" {
		t.Fatalf("after restart: %+v", st)
	}
	// No change: just start.
	res, err = h.svc.Update(ctx, id, quickstart(t, func(m map[string]any) {
		w := m["worker_node_configs"].([]any)[0].(map[string]any)
		w["max_pods"], w["cores_per_pods"] = 4, 3
	}), "u@x.io")
	if err != nil || res.Changed {
		t.Fatalf("no-op update: %+v %v", res, err)
	}
}

func TestRemoteCommandsBumpArtifact(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	res, err := h.svc.Create(t.Context(), quickstart(t, func(m map[string]any) { m["start_cluster"] = false }))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Cluster.ID
	art, err := h.svc.AddRemoteCommands(t.Context(), id, []domain.RemoteCommand{{ExecutionID: "e1", Command: "pip install x", Target: "head", TimeoutSeconds: 300}}, nil)
	if err != nil || art != id+"-v2" {
		t.Fatalf("artifact %s %v", art, err)
	}
	var v struct {
		RemoteCommand struct {
			Commands struct {
				Head []struct {
					ExecutionID string `json:"execution_id"`
					Command     string `json:"command"`
				} `json:"head"`
			} `json:"commands"`
		} `json:"remoteCommand"`
	}
	if err := json.Unmarshal(h.cm.Artifact(art), &v); err != nil || len(v.RemoteCommand.Commands.Head) != 1 || v.RemoteCommand.Commands.Head[0].ExecutionID != "e1" {
		t.Fatalf("values %s", h.cm.Artifact(art))
	}
	info, err := h.svc.ClusterInfo(t.Context(), id)
	if err != nil || info.ArtifactName != art || info.UIStatus != domain.UIInactive || info.Values == nil {
		t.Fatalf("info %+v %v", info, err)
	}
}
