// Package queue is the build worker: every poll interval it re-queues tasks whose lease expired and claims
// waiting tasks up to its concurrency, runs each with the builder of its kind while renewing the lease, streams
// the build output into the task's log, and records the outcome. Several replicas may run workers on the same
// database: the store's claim guarantees a task runs on one worker at a time.
package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/artifact-builder/internal/builder"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
	"github.com/darwinml/darwin/services/artifact-builder/internal/store"
)

// Options configure a worker.
type Options struct {
	// Owner names this worker in leases (host name + random suffix in production).
	Owner string
	// Builders run the tasks by kind; a kind without one fails its tasks with "needs a builder".
	Builders map[domain.Kind]builder.Builder
	// Concurrency bounds the builds running at once on this worker (default 1).
	Concurrency int
	// Poll is how often the worker looks for tasks (default 5 s, the original's interval).
	Poll time.Duration
	// Lease is how long a claim lasts without renewal (default 60 s); it is renewed every Lease/3.
	Lease time.Duration
	// Timeout bounds one build (default 1 h).
	Timeout time.Duration
	Clock   clock.Clock
	Logger  *slog.Logger
}

// Worker runs builds from the store's queue.
type Worker struct {
	st   *store.Store
	opts Options
	sem  chan struct{}
	wg   sync.WaitGroup
	log  *slog.Logger
}

// New returns a worker over st.
func New(st *store.Store, opts Options) *Worker {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Hour
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Owner == "" {
		opts.Owner = domain.NewTaskID()[3:]
	}
	return &Worker{st: st, opts: opts, sem: make(chan struct{}, opts.Concurrency), log: opts.Logger.With("worker", opts.Owner)}
}

// Run polls until ctx ends, then waits for the running builds: each is cancelled and put back to waiting so
// another worker takes it up.
func (w *Worker) Run(ctx context.Context) {
	clock.Every(ctx, w.opts.Clock, w.opts.Poll, true, w.Tick)
	w.wg.Wait()
}

// Tick runs one poll: re-queue stale tasks, then claim as many tasks as there are free build slots.
func (w *Worker) Tick(ctx context.Context) {
	requeued, failed, err := w.st.RequeueStale(ctx)
	if err != nil {
		w.log.Warn("re-queue stale tasks", "err", err)
	}
	for _, id := range requeued {
		w.log.Info("task lease expired; re-queued", "task_id", id)
	}
	for _, id := range failed {
		w.log.Warn("task lease expired too often; failed", "task_id", id)
	}
	for ctx.Err() == nil {
		select {
		case w.sem <- struct{}{}:
		default:
			return // every slot busy
		}
		t, ok, err := w.st.Claim(ctx, w.opts.Owner, w.opts.Lease)
		if err != nil || !ok {
			<-w.sem
			if err != nil && ctx.Err() == nil {
				w.log.Warn("claim task", "err", err)
			}
			return
		}
		w.wg.Add(1)
		go func() {
			defer func() { <-w.sem; w.wg.Done() }()
			w.run(ctx, t)
		}()
	}
}

// run builds t while renewing its lease, then records the outcome.
func (w *Worker) run(parent context.Context, t domain.Task) {
	ctx, cancel := context.WithTimeout(parent, w.opts.Timeout)
	defer cancel()
	lost := make(chan struct{})
	renewCtx, stopRenew := context.WithCancel(ctx)
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		clock.Every(renewCtx, w.opts.Clock, w.opts.Lease/3, false, func(c context.Context) {
			ok, err := w.st.Renew(c, t.TaskID, w.opts.Owner, w.opts.Lease)
			if err == nil && !ok {
				select {
				case <-lost:
				default:
					close(lost)
					cancel() // another worker owns the task now: stop building
				}
			}
		})
	}()

	logw := &taskLog{st: w.st, id: t.TaskID}
	fmt.Fprintf(logw, "[artifact-builder] %s build of %s:%s started (attempt %d, worker %s)\n", t.Kind, t.AppName, t.ImageTag, t.Attempts, w.opts.Owner)
	w.log.Info("build started", "task_id", t.TaskID, "kind", t.Kind)
	b := w.opts.Builders[t.Kind]
	if b == nil {
		b = builder.Unconfigured{Reason: fmt.Sprintf("no builder is configured for %s builds", t.Kind)}
	}
	image, err := safeBuild(ctx, b, t, logw)
	stopRenew()
	<-renewDone
	logw.Flush()

	// Record with a fresh context: the build context may be cancelled by shutdown or timeout.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(parent), 30*time.Second)
	defer rcancel()
	select {
	case <-lost:
		w.log.Warn("lease lost during build; outcome dropped", "task_id", t.TaskID)
		return
	default:
	}
	if parent.Err() != nil {
		if ok, rerr := w.st.Release(rctx, t.TaskID, w.opts.Owner); rerr == nil && ok {
			_ = w.st.AppendLog(rctx, t.TaskID, "[artifact-builder] worker stopping; task re-queued\n")
		}
		return
	}
	status, msg := domain.Completed, ""
	if err != nil {
		status, msg = domain.Failed, err.Error()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			msg = fmt.Sprintf("build timed out after %s: %v", w.opts.Timeout, err)
		}
		_ = w.st.AppendLog(rctx, t.TaskID, "[artifact-builder] build failed: "+msg+"\n")
	} else {
		_ = w.st.AppendLog(rctx, t.TaskID, "[artifact-builder] build completed: "+image+"\n")
	}
	if ok, rerr := w.st.Finish(rctx, t.TaskID, w.opts.Owner, status, image, msg); rerr != nil || !ok {
		w.log.Warn("record build outcome", "task_id", t.TaskID, "ok", ok, "err", rerr)
		return
	}
	w.log.Info("build finished", "task_id", t.TaskID, "status", status, "image", image)
}

func safeBuild(ctx context.Context, b builder.Builder, t domain.Task, logw *taskLog) (image string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("builder panicked: %v", r)
		}
	}()
	return b.Build(ctx, t, logw)
}

// MaxLogBytes bounds the builder output kept per build; later output is dropped with one notice.
const MaxLogBytes = 8 << 20

// taskLog appends complete lines to the task's log as they are written, so the log is readable while the
// build runs; Flush writes a trailing partial line.
type taskLog struct {
	mu        sync.Mutex
	st        *store.Store
	id        string
	buf       bytes.Buffer
	written   int
	truncated bool
}

func (l *taskLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.truncated {
		return len(p), nil
	}
	l.buf.Write(p)
	if i := bytes.LastIndexByte(l.buf.Bytes(), '\n'); i >= 0 || l.buf.Len() > store.MaxLogChunk {
		if i < 0 {
			i = l.buf.Len() - 1 // a very long line: cut it
		}
		chunk := string(l.buf.Next(i + 1))
		if l.written+len(chunk) > MaxLogBytes {
			chunk, l.truncated = "[artifact-builder] log truncated: more than 8 MiB of build output\n", true
			l.buf.Reset()
		}
		l.written += len(chunk)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.st.AppendLog(ctx, l.id, chunk); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush appends whatever partial line is buffered.
func (l *taskLog) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 0 && !l.truncated {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = l.st.AppendLog(ctx, l.id, l.buf.String()+"\n")
		l.buf.Reset()
	}
}
