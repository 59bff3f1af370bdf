package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
	"github.com/darwinml/darwin/services/artifact-builder/internal/store"
	"github.com/darwinml/darwin/services/artifact-builder/migrations"
)

var migs = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

func newTask(t *testing.T, st *store.Store, app string) domain.Task {
	t.Helper()
	id := domain.NewTaskID()
	task, err := st.CreateTask(t.Context(), domain.Task{TaskID: id, Kind: domain.KindModel, AppName: app, ImageTag: "v1",
		LogsURL: "http://x/static/" + id + ".log", Params: domain.BuildParams{ModelURI: "http://m/model.tgz", Entrypoint: []string{"/serve"}}})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func TestTasksCRUDAndLogs(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
		st := store.New(d, clk)
		a := newTask(t, st, "a")
		clk.Advance(time.Second)
		b := newTask(t, st, "b")
		got, err := st.Task(ctx, a.TaskID)
		if err != nil || got.Status != domain.Waiting || got.AppName != "a" || got.Params.ModelURI != "http://m/model.tgz" ||
			len(got.Params.Entrypoint) != 1 || got.Kind != domain.KindModel || !got.CreatedAt.Equal(clk.Now().Add(-time.Second)) {
			t.Fatalf("task: %+v %v", got, err)
		}
		if _, err := st.Task(ctx, "id-00000000000000000000000000000000"); !apierr.Is(err, apierr.NotFound) {
			t.Fatalf("missing task: %v", err)
		}
		if _, err := st.CreateTask(ctx, a); !apierr.Is(err, apierr.AlreadyExists) {
			t.Fatalf("duplicate: %v", err)
		}
		list, err := st.Tasks(ctx, 10, 0)
		if err != nil || len(list) != 2 || list[0].TaskID != b.TaskID || list[1].TaskID != a.TaskID {
			t.Fatalf("list: %+v %v", list, err)
		}
		if list, _ := st.Tasks(ctx, 1, 1); len(list) != 1 || list[0].TaskID != a.TaskID {
			t.Fatalf("page 2: %+v", list)
		}
		if err := st.AppendLog(ctx, a.TaskID, "line 1\n"); err != nil {
			t.Fatal(err)
		}
		if err := st.AppendLog(ctx, a.TaskID, "línea 2 \xff\x00\n"); err != nil {
			t.Fatal(err)
		}
		logs, err := st.Logs(ctx, a.TaskID)
		if err != nil || logs != "line 1\nlínea 2 ?\n" {
			t.Fatalf("logs %q %v", logs, err)
		}
		if logs, _ := st.Logs(ctx, b.TaskID); logs != "" {
			t.Fatalf("other task's logs %q", logs)
		}
		if _, err := st.Logs(ctx, "id-00000000000000000000000000000000"); !apierr.Is(err, apierr.NotFound) {
			t.Fatalf("missing logs: %v", err)
		}
	})
}

func TestClaimFinishAndFencing(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
		st := store.New(d, clk)
		first := newTask(t, st, "first")
		clk.Advance(time.Millisecond)
		second := newTask(t, st, "second")

		got, ok, err := st.Claim(ctx, "A", 10*time.Second)
		if err != nil || !ok || got.TaskID != first.TaskID || got.Status != domain.Running || got.Attempts != 1 || got.LeaseOwner != "A" {
			t.Fatalf("claim oldest: %+v %v %v", got, ok, err)
		}
		got2, ok, err := st.Claim(ctx, "B", 10*time.Second)
		if err != nil || !ok || got2.TaskID != second.TaskID {
			t.Fatalf("claim second: %+v %v %v", got2, ok, err)
		}
		if _, ok, err := st.Claim(ctx, "B", 10*time.Second); err != nil || ok {
			t.Fatalf("empty queue: %v %v", ok, err)
		}
		// Only the lease holder can renew or finish.
		if ok, _ := st.Renew(ctx, first.TaskID, "B", time.Minute); ok {
			t.Fatal("B renewed A's lease")
		}
		if ok, _ := st.Finish(ctx, first.TaskID, "B", domain.Completed, "img", ""); ok {
			t.Fatal("B finished A's task")
		}
		if ok, err := st.Finish(ctx, first.TaskID, "A", domain.Completed, "reg/first:v1", ""); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		if ok, _ := st.Finish(ctx, first.TaskID, "A", domain.Failed, "", "again"); ok {
			t.Fatal("finished twice")
		}
		done, _ := st.Task(ctx, first.TaskID)
		if done.Status != domain.Completed || done.ImageURL != "reg/first:v1" || done.LeaseOwner != "" {
			t.Fatalf("completed: %+v", done)
		}
		if _, err := st.Finish(ctx, second.TaskID, "B", domain.Running, "", ""); err == nil {
			t.Fatal("finish with running accepted")
		}
		if ok, err := st.Finish(ctx, second.TaskID, "B", domain.Failed, "", strings.Repeat("x", 5000)); err != nil || !ok {
			t.Fatalf("fail: %v %v", ok, err)
		}
		failed, _ := st.Task(ctx, second.TaskID)
		if failed.Status != domain.Failed || len(failed.Message) != 4000 {
			t.Fatalf("failed: %s %d", failed.Status, len(failed.Message))
		}
	})
}

func TestStaleLeaseRetaken(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
		st := store.New(d, clk)
		task := newTask(t, st, "stale")
		if _, ok, _ := st.Claim(ctx, "A", 10*time.Second); !ok {
			t.Fatal("claim")
		}
		// A renews in time: nothing is stale.
		clk.Advance(8 * time.Second)
		if ok, err := st.Renew(ctx, task.TaskID, "A", 10*time.Second); err != nil || !ok {
			t.Fatalf("renew: %v %v", ok, err)
		}
		clk.Advance(8 * time.Second)
		if rq, fl, err := st.RequeueStale(ctx); err != nil || len(rq)+len(fl) != 0 {
			t.Fatalf("fresh lease re-queued: %v %v %v", rq, fl, err)
		}
		// A dies: the lease expires and B takes the task over.
		clk.Advance(3 * time.Second)
		rq, fl, err := st.RequeueStale(ctx)
		if err != nil || len(rq) != 1 || rq[0] != task.TaskID || len(fl) != 0 {
			t.Fatalf("requeue: %v %v %v", rq, fl, err)
		}
		got, ok, err := st.Claim(ctx, "B", 10*time.Second)
		if err != nil || !ok || got.TaskID != task.TaskID || got.Attempts != 2 || got.LeaseOwner != "B" {
			t.Fatalf("retake: %+v %v %v", got, ok, err)
		}
		// A comes back: fenced off.
		if ok, _ := st.Renew(ctx, task.TaskID, "A", time.Minute); ok {
			t.Fatal("stale owner renewed")
		}
		if ok, _ := st.Finish(ctx, task.TaskID, "A", domain.Completed, "x", ""); ok {
			t.Fatal("stale owner finished")
		}
		logs, _ := st.Logs(ctx, task.TaskID)
		if !strings.Contains(logs, "lease expired") {
			t.Fatalf("no re-queue log line: %q", logs)
		}
		// Third expiry: failed instead of re-queued.
		clk.Advance(11 * time.Second)
		if rq, _, _ := st.RequeueStale(ctx); len(rq) != 1 {
			t.Fatal("second requeue")
		}
		if _, ok, _ := st.Claim(ctx, "C", 10*time.Second); !ok {
			t.Fatal("third claim")
		}
		clk.Advance(11 * time.Second)
		rq, fl, err = st.RequeueStale(ctx)
		if err != nil || len(rq) != 0 || len(fl) != 1 {
			t.Fatalf("max attempts: %v %v %v", rq, fl, err)
		}
		final, _ := st.Task(ctx, task.TaskID)
		if final.Status != domain.Failed || final.Attempts != store.MaxAttempts || !strings.Contains(final.Message, "maximum number of attempts") {
			t.Fatalf("final: %+v", final)
		}
		// Release gives a running task back.
		other := newTask(t, st, "other")
		if _, ok, _ := st.Claim(ctx, "D", time.Minute); !ok {
			t.Fatal("claim other")
		}
		if ok, err := st.Release(ctx, other.TaskID, "D"); err != nil || !ok {
			t.Fatalf("release: %v %v", ok, err)
		}
		if got, _ := st.Task(ctx, other.TaskID); got.Status != domain.Waiting || got.LeaseOwner != "" {
			t.Fatalf("released: %+v", got)
		}
	})
}

// TestConcurrentClaims races several claimers over one queue: every task is claimed exactly once.
func TestConcurrentClaims(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		st := store.New(d, nil)
		const n = 30
		for i := range n {
			newTask(t, st, fmt.Sprintf("app%d", i))
		}
		var mu sync.Mutex
		claims := map[string][]string{}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("w%d", w)
				misses := 0
				for misses < 3 {
					task, ok, err := st.Claim(t.Context(), owner, time.Minute)
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					if !ok {
						misses++
						continue
					}
					mu.Lock()
					claims[task.TaskID] = append(claims[task.TaskID], owner)
					mu.Unlock()
					if ok, err := st.Finish(t.Context(), task.TaskID, owner, domain.Completed, "img", ""); err != nil || !ok {
						t.Errorf("finish %s: %v %v", task.TaskID, ok, err)
					}
				}
			}()
		}
		wg.Wait()
		if len(claims) != n {
			t.Fatalf("%d tasks claimed, want %d", len(claims), n)
		}
		for id, owners := range claims {
			if len(owners) != 1 {
				t.Fatalf("task %s claimed by %v", id, owners)
			}
		}
	})
}
