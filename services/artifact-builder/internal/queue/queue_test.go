package queue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/pkg/testutil"
	"github.com/darwinml/darwin/services/artifact-builder/internal/builder"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
	"github.com/darwinml/darwin/services/artifact-builder/internal/queue"
	"github.com/darwinml/darwin/services/artifact-builder/internal/store"
	"github.com/darwinml/darwin/services/artifact-builder/migrations"
)

var migs = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

// counting records how often each task was built and how many builds overlapped.
type counting struct {
	mu      sync.Mutex
	runs    map[string]int
	running int
	peak    int
}

func (c *counting) Build(ctx context.Context, t domain.Task, log io.Writer) (string, error) {
	c.mu.Lock()
	c.runs[t.TaskID]++
	c.running++
	c.peak = max(c.peak, c.running)
	c.mu.Unlock()
	fmt.Fprintf(log, "building %s\n", t.AppName)
	select {
	case <-time.After(5 * time.Millisecond):
	case <-ctx.Done():
	}
	c.mu.Lock()
	c.running--
	c.mu.Unlock()
	if strings.HasPrefix(t.AppName, "bad") {
		return "", errors.New("model download failed")
	}
	return "reg/" + t.AppName + ":" + t.ImageTag, nil
}

func create(t *testing.T, st *store.Store, kind domain.Kind, app string) domain.Task {
	t.Helper()
	task, err := st.CreateTask(t.Context(), domain.Task{TaskID: domain.NewTaskID(), Kind: kind, AppName: app, ImageTag: "v1", LogsURL: "u"})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func waitDone(t *testing.T, st *store.Store, ids []string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() bool {
		for _, id := range ids {
			task, err := st.Task(context.Background(), id)
			if err != nil || (task.Status != domain.Completed && task.Status != domain.Failed) {
				return false
			}
		}
		return true
	}, "tasks did not finish")
}

// TestTwoWorkersRunEachTaskOnce runs two workers (two replicas) over one database.
func TestTwoWorkersRunEachTaskOnce(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		st := store.New(d, nil)
		b := &counting{runs: map[string]int{}}
		var ids []string
		for i := range 16 {
			app := fmt.Sprintf("app%d", i)
			if i%5 == 0 {
				app = fmt.Sprintf("bad%d", i)
			}
			ids = append(ids, create(t, st, domain.KindModel, app).TaskID)
		}
		df := create(t, st, domain.KindDockerfile, "repo")
		ids = append(ids, df.TaskID)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, owner := range []string{"replica-a", "replica-b"} {
			w := queue.New(st, queue.Options{Owner: owner, Concurrency: 2, Poll: 10 * time.Millisecond, Lease: 2 * time.Second,
				Builders: map[domain.Kind]builder.Builder{domain.KindModel: b, domain.KindDockerfile: builder.Unconfigured{Reason: builder.NoKubernetesBuilder}}})
			wg.Add(1)
			go func() { defer wg.Done(); w.Run(ctx) }()
		}
		waitDone(t, st, ids)
		cancel()
		wg.Wait()
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.runs) != 16 {
			t.Fatalf("%d model tasks built, want 16", len(b.runs))
		}
		for id, n := range b.runs {
			if n != 1 {
				t.Fatalf("task %s built %d times", id, n)
			}
		}
		if b.peak > 4 {
			t.Fatalf("%d builds at once, want at most 2 per worker", b.peak)
		}
		for i, id := range ids[:16] {
			task, _ := st.Task(t.Context(), id)
			logs, _ := st.Logs(t.Context(), id)
			if i%5 == 0 {
				if task.Status != domain.Failed || task.Message != "model download failed" || !strings.Contains(logs, "build failed: model download failed") {
					t.Fatalf("bad task: %+v %q", task, logs)
				}
				continue
			}
			if task.Status != domain.Completed || task.ImageURL != "reg/"+task.AppName+":v1" || !strings.Contains(logs, "building "+task.AppName+"\n") ||
				!strings.Contains(logs, "build completed") {
				t.Fatalf("task: %+v %q", task, logs)
			}
		}
		got, _ := st.Task(t.Context(), df.TaskID)
		if got.Status != domain.Failed || !strings.HasPrefix(got.Message, "needs a builder: no Kubernetes builder is configured (") {
			t.Fatalf("dockerfile task: %+v", got)
		}
	})
}

// blocking writes a line, then waits until released (or cancelled).
type blocking struct {
	started chan string
	release chan struct{}
}

func (b *blocking) Build(ctx context.Context, t domain.Task, log io.Writer) (string, error) {
	fmt.Fprint(log, "step 1: downloading\npartial")
	b.started <- t.TaskID
	select {
	case <-b.release:
		fmt.Fprint(log, " line\n")
		return "reg/x:1", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func TestLogsWhileRunningAndShutdownRequeues(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		st := store.New(d, nil)
		b := &blocking{started: make(chan string, 1), release: make(chan struct{})}
		task := create(t, st, domain.KindModel, "slow")
		ctx, cancel := context.WithCancel(t.Context())
		w := queue.New(st, queue.Options{Owner: "a", Poll: 10 * time.Millisecond, Lease: time.Second,
			Builders: map[domain.Kind]builder.Builder{domain.KindModel: b}})
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }()
		<-b.started
		got, _ := st.Task(t.Context(), task.TaskID)
		logs, _ := st.Logs(t.Context(), task.TaskID)
		if got.Status != domain.Running || !strings.Contains(logs, "step 1: downloading\n") || strings.Contains(logs, "partial") {
			t.Fatalf("while running: %s %q", got.Status, logs)
		}
		// The lease is renewed while the build runs (lease 1 s, renewed every ~333 ms).
		time.Sleep(1500 * time.Millisecond)
		if rq, _, _ := st.RequeueStale(t.Context()); len(rq) != 0 {
			t.Fatal("running task's lease expired")
		}
		// Shutdown cancels the build and gives the task back.
		cancel()
		<-done
		got, _ = st.Task(t.Context(), task.TaskID)
		logs, _ = st.Logs(t.Context(), task.TaskID)
		if got.Status != domain.Waiting || !strings.Contains(logs, "re-queued") || !strings.Contains(logs, "partial\n") {
			t.Fatalf("after shutdown: %s %q", got.Status, logs)
		}
		// Another worker finishes it.
		ctx2, cancel2 := context.WithCancel(t.Context())
		defer cancel2()
		w2 := queue.New(st, queue.Options{Owner: "b", Poll: 10 * time.Millisecond, Builders: map[domain.Kind]builder.Builder{domain.KindModel: b}})
		go w2.Run(ctx2)
		<-b.started
		close(b.release)
		waitDone(t, st, []string{task.TaskID})
		got, _ = st.Task(t.Context(), task.TaskID)
		if got.Status != domain.Completed || got.Attempts != 2 || got.ImageURL != "reg/x:1" {
			t.Fatalf("final: %+v", got)
		}
	})
}

// TestStaleLeaseRetakenByWorker: a task left running by a dead replica is re-queued and built by a live one.
func TestStaleLeaseRetakenByWorker(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		clk := clock.NewFake(time.Now())
		st := store.New(d, clk)
		task := create(t, st, domain.KindModel, "orphan")
		if _, ok, err := st.Claim(t.Context(), "dead-replica", time.Minute); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
		b := &counting{runs: map[string]int{}}
		w := queue.New(st, queue.Options{Owner: "live", Clock: clk, Lease: time.Minute, Builders: map[domain.Kind]builder.Builder{domain.KindModel: b}})
		w.Tick(t.Context()) // lease still valid: nothing to do
		if got, _ := st.Task(t.Context(), task.TaskID); got.LeaseOwner != "dead-replica" {
			t.Fatalf("lease stolen early: %+v", got)
		}
		clk.Advance(61 * time.Second)
		w.Tick(t.Context())
		waitDone(t, st, []string{task.TaskID})
		got, _ := st.Task(t.Context(), task.TaskID)
		if got.Status != domain.Completed || got.Attempts != 2 || b.runs[task.TaskID] != 1 {
			t.Fatalf("retaken: %+v runs %v", got, b.runs)
		}
	})
}

// chatty writes more than MaxLogBytes of output.
type chatty struct{}

func (chatty) Build(_ context.Context, _ domain.Task, log io.Writer) (string, error) {
	line := strings.Repeat("x", 1023) + "\n"
	for range queue.MaxLogBytes/len(line) + 100 {
		if _, err := io.WriteString(log, line); err != nil {
			return "", err
		}
	}
	return "img", nil
}

func TestLogIsBounded(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	if err := db.Migrate(t.Context(), d, migrations.Component, migrations.FS); err != nil {
		t.Fatal(err)
	}
	st := store.New(d, nil)
	task := create(t, st, domain.KindModel, "chatty")
	w := queue.New(st, queue.Options{Builders: map[domain.Kind]builder.Builder{domain.KindModel: chatty{}}})
	w.Tick(t.Context())
	waitDone(t, st, []string{task.TaskID})
	logs, _ := st.Logs(t.Context(), task.TaskID)
	if len(logs) > queue.MaxLogBytes+4096 || !strings.Contains(logs, "log truncated") || !strings.Contains(logs, "build completed: img") {
		t.Fatalf("log of %d bytes, tail %q", len(logs), logs[max(0, len(logs)-300):])
	}
}
