package libraries_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/libraries"
)

func mustSpec(t *testing.T, req libraries.InstallRequest) libraries.Spec {
	t.Helper()
	s, err := req.Validate()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func execIDs(cmds []domain.RemoteCommand) []string {
	out := []string{}
	for _, c := range cmds {
		out = append(out, c.ExecutionID)
	}
	return out
}

func statusOf(t *testing.T, e *env, cluster string, id int64) libraries.Library {
	t.Helper()
	l, err := e.store.GetLibrary(t.Context(), cluster, id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLifecycleContract(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, computeMigrations, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		e := newEnv(t, d)
		e.clusters.set("c1", "inactive", "run1")
		numpy := mustSpec(t, install("pypi", ptr("numpy"), ptr("1.26.4"), nil, nil))
		pandas := mustSpec(t, install("pypi", ptr("pandas"), nil, nil, nil))

		// Unknown cluster.
		if _, err := e.svc.Install(ctx, "ghost", []libraries.Spec{numpy}); !apierr.Is(err, apierr.NotFound) {
			t.Fatalf("install on unknown cluster err = %v", err)
		}

		// Inactive cluster: created, in the chart on head and workers, not executed.
		libs, err := e.svc.Install(ctx, "c1", []libraries.Spec{numpy})
		if err != nil {
			t.Fatal(err)
		}
		np := libs[0]
		if np.Status != "created" || np.ExecutionID == nil || *np.ExecutionID != "exec0001" || np.Type != "pypi" || *np.Version != "1.26.4" {
			t.Fatalf("install = %+v", np)
		}
		chart := e.charts.last()
		if chart.ClusterID != "c1" || !slices.Equal(execIDs(chart.Head), []string{"exec0001"}) || !slices.Equal(execIDs(chart.Worker), []string{"exec0001"}) ||
			chart.Head[0].Command != "pip install numpy==1.26.4" || chart.Head[0].TimeoutSeconds != 300 || chart.Head[0].Target != "cluster" {
			t.Errorf("chart = %+v", chart)
		}
		if len(e.exec.execCalls()) != 0 {
			t.Errorf("inactive install executed: %+v", e.exec.execCalls())
		}

		// Dedup against the stored library and within a batch.
		nCharts := len(e.charts.calls)
		libs, err = e.svc.Install(ctx, "c1", []libraries.Spec{numpy, pandas, pandas})
		if err != nil {
			t.Fatal(err)
		}
		if libs[0].ID != np.ID || libs[1].ID != libs[2].ID || libs[1].ID == np.ID || len(e.charts.calls) != nCharts+1 {
			t.Errorf("batch dedup = %v %v %v, charts %d", libs[0].ID, libs[1].ID, libs[2].ID, len(e.charts.calls))
		}
		pd := libs[1]

		// Commands added to the chart.
		added, err := e.svc.AddCommands(ctx, "c1", []libraries.CommandSpec{{Command: "echo hi", Target: "head", TimeoutSeconds: 20}})
		if err != nil {
			t.Fatal(err)
		}
		echo := added.RemoteCommands[0].ExecutionID
		chart = e.charts.last()
		if added.ArtifactName != "c1-v4" || !slices.Equal(execIDs(chart.Head), []string{"exec0001", "exec0002", echo}) ||
			!slices.Equal(execIDs(chart.Worker), []string{"exec0001", "exec0002"}) {
			t.Errorf("add commands = %+v, chart %+v", added, chart)
		}

		// Start: everything created runs through the chart.
		if err := e.svc.OnClusterStart(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		e.clusters.set("c1", "active", "run1")
		if l := statusOf(t, e, "c1", np.ID); l.Status != "running" {
			t.Errorf("after start numpy = %s", l.Status)
		}
		c, _ := e.store.GetCommand(ctx, "c1", echo)
		if c.Status != "running" || c.StartedAt == nil || !c.StartedAt.Equal(t0) {
			t.Errorf("after start echo = %+v", c)
		}

		// Poll: numpy succeeded everywhere, pandas failed on a worker, echo has no verdict yet.
		e.exec.setPods("exec0001", libraries.PodStatus{PodName: "c1-head", Status: "success"}, libraries.PodStatus{PodName: "c1-worker-1", Status: "success"})
		e.exec.setPods("exec0002", libraries.PodStatus{PodName: "c1-head", Status: "success"}, libraries.PodStatus{PodName: "c1-worker-1", Status: "failed"})
		e.exec.setPods(echo, libraries.PodStatus{PodName: "c1-head", Status: "running"})
		if err := e.svc.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if l := statusOf(t, e, "c1", np.ID); l.Status != "success" || l.Error != nil {
			t.Errorf("numpy after poll = %+v", l)
		}
		l := statusOf(t, e, "c1", pd.ID)
		if l.Status != "failed" || l.Error == nil || l.Error.ErrorCode != "REMOTE_COMMAND_FAILED" ||
			!strings.Contains(l.Error.ErrorMessage, "s3://darwin/mlp/logs/remote-command/exec0002/c1-worker-1/remote-command.log") {
			t.Errorf("pandas after poll = %+v %+v", l, l.Error)
		}
		pc, _ := e.store.GetCommand(ctx, "c1", "exec0002")
		if pc.Status != "failed" || *pc.ErrorCode != "REMOTE_COMMAND_FAILED" || *pc.ErrorLogsPath != "s3://darwin/mlp/logs/remote-command/exec0002/c1-worker-1/remote-command.log" {
			t.Errorf("pandas command = %+v", pc)
		}
		if e.exec.calls(echo) != 0 {
			t.Errorf("batch size 2 exceeded: echo polled %d times", e.exec.calls(echo))
		}
		// Second poll picks echo (no verdict), a third one at the same time finds nothing (lease).
		if err := e.svc.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.PollOnce(ctx); err != nil || e.exec.calls(echo) != 1 {
			t.Errorf("echo polled %d times within its lease (err %v)", e.exec.calls(echo), err)
		}
		// A pod report decides when the cluster manager has no record.
		e.exec.setPods(echo)
		e.exec.mu.Lock()
		e.exec.statusErr = apierr.New(apierr.NotFound, "no such execution")
		e.exec.mu.Unlock()
		if err := e.svc.ReportPodStatus(ctx, libraries.PodReport{ClusterID: "c1", ExecutionID: echo, PodName: "c1-head", Status: "started"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.ReportPodStatus(ctx, libraries.PodReport{ClusterID: "c1", ExecutionID: echo, PodName: "c1-head", Status: "success"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.ReportPodStatus(ctx, libraries.PodReport{ClusterID: "c1", ExecutionID: "nope", PodName: "p", Status: "success"}); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("report for unknown execution err = %v", err)
		}
		e.clock.Advance(10 * time.Second)
		if err := e.svc.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if c, _ := e.store.GetCommand(ctx, "c1", echo); c.Status != "success" {
			t.Errorf("echo after pod report = %s", c.Status)
		}
		e.exec.mu.Lock()
		e.exec.statusErr = nil
		e.exec.mu.Unlock()
		// A new start re-runs every command of the chart in fresh pods: all of them are running again and
		// settle anew. Reports of an older run do not count.
		added, _ = e.svc.AddCommands(ctx, "c1", []libraries.CommandSpec{{Command: "sleep 1", Target: "cluster", TimeoutSeconds: 20}})
		slow := added.RemoteCommands[0].ExecutionID
		if err := e.svc.OnClusterStart(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		e.clusters.set("c1", "active", "run2")
		if err := e.store.UpsertPodStatus(ctx, "run1", slow, "c1-head", "success", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"exec0001", "exec0002", echo, slow} {
			if c, _ := e.store.GetCommand(ctx, "c1", id); c.Status != "running" || c.ErrorCode != nil || !c.StartedAt.Equal(e.clock.Now()) {
				t.Errorf("after the second start %s = %+v", id, c)
			}
		}
		if l := statusOf(t, e, "c1", np.ID); l.Status != "running" {
			t.Errorf("numpy after the second start = %s", l.Status)
		}
		for range 2 { // batch size 2: numpy and pandas, then echo and slow
			if err := e.svc.PollOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if l := statusOf(t, e, "c1", np.ID); l.Status != "success" {
			t.Errorf("numpy after the second start's poll = %s", l.Status)
		}
		if l := statusOf(t, e, "c1", pd.ID); l.Status != "failed" {
			t.Errorf("pandas after the second start's poll = %s", l.Status)
		}
		if e.exec.calls(slow) != 1 {
			t.Errorf("slow polled %d times, want 1", e.exec.calls(slow))
		}
		if c, _ := e.store.GetCommand(ctx, "c1", slow); c.Status != "running" {
			t.Errorf("slow settled from another run's report: %s", c.Status)
		}
		// Timeout: 20 s + 60 s grace.
		e.clock.Advance(79 * time.Second)
		_ = e.svc.PollOnce(ctx)
		if c, _ := e.store.GetCommand(ctx, "c1", slow); c.Status != "running" {
			t.Errorf("slow failed before timeout+grace: %s", c.Status)
		}
		e.clock.Advance(10 * time.Second) // past the deadline and past the lease taken by the previous poll
		_ = e.svc.PollOnce(ctx)
		if c, _ := e.store.GetCommand(ctx, "c1", slow); c.Status != "failed" || c.ErrorCode == nil || *c.ErrorCode != "REMOTE_COMMAND_TIMEOUT" {
			t.Errorf("slow after timeout = %+v", c)
		}

		// Active cluster: installs run now.
		torch := mustSpec(t, install("pypi", ptr("torch"), nil, nil, nil))
		libs, err = e.svc.Install(ctx, "c1", []libraries.Spec{torch})
		if err != nil {
			t.Fatal(err)
		}
		tr := libs[0]
		calls := e.exec.execCalls()
		last := calls[len(calls)-1]
		if tr.Status != "running" || last != (execCall{"c1", *tr.ExecutionID, "cluster", "pip install torch", 300, "kind-0", "ray"}) {
			t.Errorf("active install = %+v, exec %+v", tr, last)
		}
		// Exec refused → failed with its own code.
		e.exec.mu.Lock()
		e.exec.failExec = apierr.New(apierr.Unavailable, "cluster manager down")
		e.exec.mu.Unlock()
		libs, err = e.svc.Install(ctx, "c1", []libraries.Spec{mustSpec(t, install("pypi", ptr("scipy"), nil, nil, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if libs[0].Status != "failed" || libs[0].Error == nil || libs[0].Error.ErrorCode != "REMOTE_COMMAND_EXEC_FAILED" {
			t.Errorf("install with exec down = %+v", libs[0])
		}
		if _, err := e.svc.Execute(ctx, "c1", libraries.CommandSpec{Command: "ls", Target: "head", TimeoutSeconds: 5}); !apierr.Is(err, apierr.Unavailable) {
			t.Errorf("execute with exec down err = %v", err)
		}
		e.exec.mu.Lock()
		e.exec.failExec = nil
		e.exec.mu.Unlock()

		// Retry the failed pandas: new command, old one gone, runs now.
		before := len(e.exec.execCalls())
		rl, err := e.svc.Retry(ctx, "c1", pd.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rl.Status != "running" || *rl.ExecutionID == "exec0002" || len(e.exec.execCalls()) != before+1 {
			t.Errorf("retry = %+v", rl)
		}
		if _, err := e.store.GetCommand(ctx, "c1", "exec0002"); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("old command survived retry: %v", err)
		}
		if _, err := e.svc.Retry(ctx, "c1", pd.ID); !apierr.Is(err, apierr.FailedPrecondition) {
			t.Errorf("retry of a running library err = %v", err)
		}
		if _, err := e.svc.Retry(ctx, "c1", 99999); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("retry of unknown library err = %v", err)
		}

		// Uninstall on an active cluster: pending, out of the chart now, deleted at stop.
		if _, err := e.svc.Uninstall(ctx, "c1", []int64{np.ID}); err != nil {
			t.Fatal(err)
		}
		if l := statusOf(t, e, "c1", np.ID); l.Status != "uninstall_pending" {
			t.Errorf("uninstalled numpy = %s", l.Status)
		}
		if slices.Contains(execIDs(e.charts.last().Head), "exec0001") {
			t.Errorf("uninstall_pending command still in chart")
		}
		if _, err := e.svc.Uninstall(ctx, "c1", []int64{np.ID, 424242}); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("uninstall of unknown id err = %v", err)
		}
		if _, err := e.svc.Uninstall(ctx, "c1", nil); apierr.From(err).Field != "id" {
			t.Errorf("uninstall of nothing err = %v", err)
		}
		// Installing numpy again while it waits for uninstall makes a new library.
		again, err := e.svc.Install(ctx, "c1", []libraries.Spec{numpy})
		if err != nil || again[0].ID == np.ID {
			t.Errorf("reinstall while pending = %+v, %v", again, err)
		}

		// Stop: pending rows gone, running back to created.
		if err := e.svc.OnClusterStop(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		e.clusters.set("c1", "inactive", "run2")
		if _, err := e.store.GetLibrary(ctx, "c1", np.ID); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("uninstall_pending library survived stop: %v", err)
		}
		if _, err := e.store.GetCommand(ctx, "c1", "exec0001"); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("its command survived stop: %v", err)
		}
		if l := statusOf(t, e, "c1", tr.ID); l.Status != "created" {
			t.Errorf("running torch after stop = %s", l.Status)
		}
		if c, _ := e.store.GetCommand(ctx, "c1", *tr.ExecutionID); c.Status != "created" || c.StartedAt != nil {
			t.Errorf("torch command after stop = %+v", c)
		}

		// Uninstall on an inactive cluster deletes right away.
		if _, err := e.svc.Uninstall(ctx, "c1", []int64{tr.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.GetLibrary(ctx, "c1", tr.ID); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("inactive uninstall kept the row: %v", err)
		}

		// Execute needs an active cluster.
		if _, err := e.svc.Execute(ctx, "c1", libraries.CommandSpec{Command: "ls", Target: "head", TimeoutSeconds: 5}); !apierr.Is(err, apierr.FailedPrecondition) {
			t.Errorf("execute on inactive err = %v", err)
		}
		e.clusters.set("c1", "active", "run3")
		res, err := e.svc.Execute(ctx, "c1", libraries.CommandSpec{Command: "ls ; pwd", Target: "worker", TimeoutSeconds: 5})
		if err != nil || res.Status != "running" || !slices.Contains(execIDs(e.charts.last().Worker), res.ExecutionID) {
			t.Errorf("execute = %+v, %v", res, err)
		}
		calls = e.exec.execCalls()
		if calls[len(calls)-1] != (execCall{"c1", res.ExecutionID, "worker", "ls ; pwd", 5, "kind-0", "ray"}) {
			t.Errorf("exec call = %+v", calls[len(calls)-1])
		}

		// Delete: library commands refused, plain commands leave the chart, unknown → 404.
		if _, err := e.svc.DeleteCommand(ctx, "c1", *again[0].ExecutionID); !apierr.Is(err, apierr.FailedPrecondition) {
			t.Errorf("deleting a library's command err = %v", err)
		}
		ids, err := e.svc.DeleteCommand(ctx, "c1", res.ExecutionID)
		if err != nil || !slices.Equal(ids, []string{res.ExecutionID}) || slices.Contains(execIDs(e.charts.last().Worker), res.ExecutionID) {
			t.Errorf("delete = %v, %v", ids, err)
		}
		if _, err := e.svc.DeleteCommand(ctx, "c1", "nope"); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("delete unknown err = %v", err)
		}

		// Chart failure rolls back the new rows.
		e.charts.mu.Lock()
		e.charts.fail = errors.New("apply failed")
		e.charts.mu.Unlock()
		if _, err := e.svc.Install(ctx, "c1", []libraries.Spec{mustSpec(t, install("pypi", ptr("boom"), nil, nil, nil))}); err == nil {
			t.Error("install with a failing chart succeeded")
		}
		if _, err := e.svc.AddCommands(ctx, "c1", []libraries.CommandSpec{{Command: "x", Target: "head", TimeoutSeconds: 1}}); err == nil {
			t.Error("add commands with a failing chart succeeded")
		}
		e.charts.mu.Lock()
		e.charts.fail = nil
		e.charts.mu.Unlock()
		all, _ := e.store.AllLibraries(ctx, "c1")
		for _, l := range all {
			if l.Name == "boom" {
				t.Errorf("rolled-back library is stored: %+v", l)
			}
		}
		cmds, _ := e.svc.ListCommands(ctx, "c1")
		for _, c := range cmds {
			if c.Command == "x" {
				t.Errorf("rolled-back command is stored: %+v", c)
			}
		}

		// Clone to a new cluster and install from a cluster request.
		e.clusters.set("c2", "inactive", "")
		cloned, err := e.svc.CloneLibraries(ctx, "c1", "c2")
		if err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, l := range cloned {
			names = append(names, l.Name)
			if l.ClusterID != "c2" || l.Status != "created" {
				t.Errorf("cloned = %+v", l)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"numpy", "pandas", "scipy"}) {
			t.Errorf("cloned names = %v", names)
		}
		_, err = e.svc.InstallPackages(ctx, "c2", []any{
			map[string]any{"source": "pypi", "body": map[string]any{"name": "polars"}},
			map[string]any{"source": "maven", "body": map[string]any{"name": "g:a"}},
		})
		if apierr.From(err).Field != "packages[1].body.version" {
			t.Errorf("InstallPackages err = %v", err)
		}
		_, err = e.svc.InstallPackages(ctx, "c2", []any{map[string]any{"source": 5}})
		if f := apierr.From(err).Field; f != "packages[0].source" {
			t.Errorf("InstallPackages type error field = %q (%v)", f, err)
		}
		pk, err := e.svc.InstallPackages(ctx, "c2", []any{map[string]any{"source": "pypi", "body": map[string]any{"name": "polars", "version": "1.0"}}})
		if err != nil || pk[0].Name != "polars" || pk[0].Status != "created" {
			t.Errorf("InstallPackages = %+v, %v", pk, err)
		}

		// Listing: filter, sort, page, result_size.
		page, err := e.svc.ListLibraries(ctx, "c2", libraries.ListParams{Key: "PAN", SortBy: "id", SortOrder: "desc", PageSize: 10})
		if err != nil || page.ResultSize != 1 || page.Packages[0].Name != "pandas" {
			t.Errorf("list key = %+v, %v", page, err)
		}
		page, err = e.svc.ListLibraries(ctx, "c2", libraries.ListParams{SortBy: "name", SortOrder: "asc", Offset: 1, PageSize: 2})
		if err != nil || page.ResultSize != 4 || len(page.Packages) != 2 || page.Packages[0].Name != "pandas" || page.Packages[1].Name != "polars" {
			t.Errorf("list page = %+v, %v", page, err)
		}
		if _, err := e.svc.ListLibraries(ctx, "ghost", libraries.ListParams{PageSize: 10}); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("list unknown cluster err = %v", err)
		}

		// The longest accepted values fit every dialect.
		bigCmd, err := libraries.CommandRequest{Command: []string{strings.Repeat("x", libraries.MaxCommandBytes)}}.Validate()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (libraries.CommandRequest{Command: []string{strings.Repeat("x", libraries.MaxCommandBytes/2), strings.Repeat("x", libraries.MaxCommandBytes/2)}}).Validate(); apierr.From(err).Field != "command" {
			t.Errorf("joined command over the limit err = %v", err)
		}
		big, err := e.svc.AddCommands(ctx, "c2", []libraries.CommandSpec{bigCmd})
		if err != nil {
			t.Fatalf("AddCommands at the limit: %v", err)
		}
		if c, err := e.store.GetCommand(ctx, "c2", big.RemoteCommands[0].ExecutionID); err != nil || len(c.Command) != libraries.MaxCommandBytes {
			t.Errorf("stored command = %d bytes, %v", len(c.Command), err)
		}
		meta := map[string]any{"repository": "maven", "exclusions": []any{strings.Repeat("e", libraries.MaxMetadataBytes-60)}}
		bigLib := mustSpec(t, install("pypi", ptr(strings.Repeat("p", 512)), ptr(strings.Repeat("1", 128)), ptr("https://"+strings.Repeat("h", 1900)+".example.com/simple"), meta))
		if got, err := e.svc.Install(ctx, "c2", []libraries.Spec{bigLib}); err != nil || got[0].Name != bigLib.Name || got[0].Metadata["repository"] != "maven" {
			t.Errorf("Install at the limits: %v", err)
		}
		meta["exclusions"] = []any{strings.Repeat("e", libraries.MaxMetadataBytes)}
		if _, err := install("pypi", ptr("x"), nil, nil, meta).Validate(); apierr.From(err).Field != "body.metadata" {
			t.Errorf("oversized metadata err = %v", err)
		}

		// Deleting a cluster's data.
		if err := e.svc.DeleteCluster(ctx, "c2"); err != nil {
			t.Fatal(err)
		}
		if all, _ := e.store.AllLibraries(ctx, "c2"); len(all) != 0 {
			t.Errorf("libraries left after DeleteCluster: %d", len(all))
		}
		if cmds, _ := e.store.ListCommands(ctx, "c2"); len(cmds) != 0 {
			t.Errorf("commands left after DeleteCluster: %d", len(cmds))
		}
	})
}

// Two replicas polling the same database never work on the same command within one lease.
func TestPollLeaseTwoReplicas(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, computeMigrations, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		a := newEnv(t, d)
		b := newEnv(t, d)
		b.clock, b.clusters, b.exec = a.clock, a.clusters, a.exec
		svcB, err := libraries.NewService(libraries.Config{}, libraries.Deps{Store: libraries.NewStore(d), Clusters: a.clusters,
			Artifacts: a.charts, Executor: a.exec, Clock: a.clock})
		if err != nil {
			t.Fatal(err)
		}
		a.clusters.set("c", "inactive", "r")
		specs := make([]libraries.CommandSpec, 6)
		for i := range specs {
			specs[i] = libraries.CommandSpec{Command: "echo", Target: "cluster", TimeoutSeconds: 3600}
		}
		added, err := a.svc.AddCommands(ctx, "c", specs)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.svc.OnClusterStart(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(added.RemoteCommands))
		for i, r := range added.RemoteCommands {
			ids[i] = r.ExecutionID
		}
		polled := func() (total int, max int) {
			for _, id := range ids {
				n := a.exec.calls(id)
				total += n
				if n > max {
					max = n
				}
			}
			return
		}
		for round := 0; round < 5; round++ {
			var wg sync.WaitGroup
			for _, s := range []*libraries.Service{a.svc, svcB, a.svc, svcB} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := s.PollOnce(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		// 6 running commands, each poll takes at most 2: every command is polled exactly once before the leases expire.
		if total, mx := polled(); total != 6 || mx != 1 {
			t.Fatalf("before lease expiry: %d polls, max %d per command; want 6 and 1", total, mx)
		}
		a.clock.Advance(9 * time.Second)
		_ = svcB.PollOnce(ctx)
		if total, _ := polled(); total != 6 {
			t.Fatalf("a command was re-polled inside its 10 s lease: %d polls", total)
		}
		a.clock.Advance(time.Second)
		_ = svcB.PollOnce(ctx)
		_ = a.svc.PollOnce(ctx)
		if total, mx := polled(); total != 10 || mx != 2 {
			t.Fatalf("after lease expiry: %d polls, max %d; want 10 and 2", total, mx)
		}
	})
}
