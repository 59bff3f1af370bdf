// Package store is artifact-builder's SQL persistence and build queue (SQLite, MySQL/MariaDB, PostgreSQL).
//
// Tasks move waiting → running → completed | failed. A worker claims a waiting task with a lease (owner +
// expiry): on MySQL/MariaDB and PostgreSQL the candidate row is selected FOR UPDATE SKIP LOCKED, on SQLite the
// claim transaction holds the single writer lock; either way the claim's UPDATE is conditional on the task still
// waiting, so two workers never run the same task. Running tasks renew their lease; a task whose lease expired
// (its worker died) is put back to waiting, or failed after MaxAttempts claims. Build logs are rows of
// darwin_image_builder_logs appended while the build runs. Timestamps are Unix milliseconds.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
)

// MaxAttempts is how many times a task is claimed before an expired lease fails it instead of re-queueing it.
const MaxAttempts = 3

// MaxLogChunk bounds one appended log chunk; longer chunks are cut.
const MaxLogChunk = 64 << 10

// Store is the database handle.
type Store struct {
	DB  *db.DB
	clk clock.Clock
}

// New returns a Store over d.
func New(d *db.DB, clk clock.Clock) *Store {
	if clk == nil {
		clk = clock.Real()
	}
	return &Store{DB: d, clk: clk}
}

func (s *Store) nowMs() int64 { return s.clk.Now().UnixMilli() }

func internal(err error, what string) error {
	return apierr.Wrap(apierr.Internal, err, "internal error: %s", what)
}

const taskCols = "task_id, kind, app_name, image_tag, logs_url, build_params, status, image_url, message, attempts, lease_owner, lease_expires_at, created_at, updated_at"

type scanner interface{ Scan(dest ...any) error }

func scanTask(r scanner) (domain.Task, error) {
	var t domain.Task
	var kind, status, params string
	var lease, created, updated int64
	if err := r.Scan(&t.TaskID, &kind, &t.AppName, &t.ImageTag, &t.LogsURL, &params, &status, &t.ImageURL, &t.Message,
		&t.Attempts, &t.LeaseOwner, &lease, &created, &updated); err != nil {
		return t, err
	}
	t.Kind, t.Status = domain.Kind(kind), domain.Status(status)
	if err := json.Unmarshal([]byte(params), &t.Params); err != nil {
		return t, err
	}
	if lease != 0 {
		t.LeaseExpiresAt = time.UnixMilli(lease).UTC()
	}
	t.CreatedAt, t.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return t, nil
}

// CreateTask records a waiting task; TaskID, Kind, AppName, ImageTag, LogsURL and Params come from t.
func (s *Store) CreateTask(ctx context.Context, t domain.Task) (domain.Task, error) {
	params, err := json.Marshal(t.Params)
	if err != nil {
		return t, internal(err, "encode build params")
	}
	now := s.nowMs()
	if _, err := s.DB.Exec(ctx, "INSERT INTO darwin_image_builder ("+taskCols+") VALUES (?, ?, ?, ?, ?, ?, ?, '', '', 0, '', 0, ?, ?)",
		t.TaskID, string(t.Kind), t.AppName, t.ImageTag, t.LogsURL, string(params), string(domain.Waiting), now, now); err != nil {
		if db.IsUniqueViolation(err) {
			return t, apierr.New(apierr.AlreadyExists, "task %s already exists", t.TaskID)
		}
		return t, internal(err, "create task")
	}
	t.Status, t.Attempts, t.LeaseOwner = domain.Waiting, 0, ""
	t.CreatedAt, t.UpdatedAt = time.UnixMilli(now).UTC(), time.UnixMilli(now).UTC()
	return t, nil
}

// Task returns a task by id; a missing task is an apierr NotFound.
func (s *Store) Task(ctx context.Context, id string) (domain.Task, error) {
	t, err := scanTask(s.DB.QueryRow(ctx, "SELECT "+taskCols+" FROM darwin_image_builder WHERE task_id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, apierr.New(apierr.NotFound, "task %s not found", id)
	}
	if err != nil {
		return t, internal(err, "load task")
	}
	return t, nil
}

// Tasks lists tasks newest first.
func (s *Store) Tasks(ctx context.Context, limit, offset int) ([]domain.Task, error) {
	rows, err := s.DB.Query(ctx, "SELECT "+taskCols+" FROM darwin_image_builder ORDER BY created_at DESC, task_id DESC"+s.DB.Dialect.LimitOffset(limit, offset))
	if err != nil {
		return nil, internal(err, "list tasks")
	}
	defer rows.Close()
	out := []domain.Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, internal(err, "scan task")
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, internal(err, "list tasks")
	}
	return out, nil
}

// Claim takes the oldest waiting task for owner with a lease of ttl, marking it running. ok is false when no
// task is waiting.
func (s *Store) Claim(ctx context.Context, owner string, ttl time.Duration) (t domain.Task, ok bool, err error) {
	err = s.DB.Tx(ctx, func(tx *db.Tx) error {
		var id string
		err := tx.QueryRow(ctx, "SELECT task_id FROM darwin_image_builder WHERE status = ? ORDER BY created_at, task_id"+
			tx.Dialect.LimitOffset(1, 0)+tx.Dialect.ForUpdateSkipLocked(), string(domain.Waiting)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		now := s.nowMs()
		res, err := tx.Exec(ctx, "UPDATE darwin_image_builder SET status = ?, lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1, message = '', updated_at = ? WHERE task_id = ? AND status = ?",
			string(domain.Running), owner, now+ttl.Milliseconds(), now, id, string(domain.Waiting))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err // another worker won the row (n == 0): nothing claimed
		}
		t, err = scanTask(tx.QueryRow(ctx, "SELECT "+taskCols+" FROM darwin_image_builder WHERE task_id = ?", id))
		ok = err == nil
		return err
	})
	if err != nil {
		return domain.Task{}, false, internal(err, "claim task")
	}
	return t, ok, nil
}

// Renew extends owner's lease on a running task. ok is false when owner no longer holds it.
func (s *Store) Renew(ctx context.Context, id, owner string, ttl time.Duration) (bool, error) {
	now := s.nowMs()
	res, err := s.DB.Exec(ctx, "UPDATE darwin_image_builder SET lease_expires_at = ?, updated_at = ? WHERE task_id = ? AND lease_owner = ? AND status = ?",
		now+ttl.Milliseconds(), now, id, owner, string(domain.Running))
	if err != nil {
		return false, internal(err, "renew lease")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, internal(err, "renew lease")
	}
	return n == 1, nil
}

// Finish records the outcome of owner's running task: completed with imageURL, or failed with message. ok is
// false (and nothing changes) when owner no longer holds the lease.
func (s *Store) Finish(ctx context.Context, id, owner string, status domain.Status, imageURL, message string) (bool, error) {
	if status != domain.Completed && status != domain.Failed {
		return false, apierr.New(apierr.Internal, "finish with status %q", status)
	}
	res, err := s.DB.Exec(ctx, "UPDATE darwin_image_builder SET status = ?, image_url = ?, message = ?, lease_owner = '', lease_expires_at = 0, updated_at = ? WHERE task_id = ? AND lease_owner = ? AND status = ?",
		string(status), imageURL, cut(message, 4000), s.nowMs(), id, owner, string(domain.Running))
	if err != nil {
		return false, internal(err, "finish task")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, internal(err, "finish task")
	}
	return n == 1, nil
}

// Release puts owner's running task back to waiting (a worker shutting down mid-build).
func (s *Store) Release(ctx context.Context, id, owner string) (bool, error) {
	res, err := s.DB.Exec(ctx, "UPDATE darwin_image_builder SET status = ?, lease_owner = '', lease_expires_at = 0, updated_at = ? WHERE task_id = ? AND lease_owner = ? AND status = ?",
		string(domain.Waiting), s.nowMs(), id, owner, string(domain.Running))
	if err != nil {
		return false, internal(err, "release task")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, internal(err, "release task")
	}
	return n == 1, nil
}

// RequeueStale puts running tasks whose lease expired back to waiting, or fails them once they were claimed
// MaxAttempts times, and logs why. It returns the ids it re-queued and failed.
func (s *Store) RequeueStale(ctx context.Context) (requeued, failed []string, err error) {
	now := s.nowMs()
	err = s.DB.Tx(ctx, func(tx *db.Tx) error {
		rows, err := tx.Query(ctx, "SELECT task_id, attempts FROM darwin_image_builder WHERE status = ? AND lease_expires_at < ? ORDER BY task_id"+
			tx.Dialect.LimitOffset(100, 0)+tx.Dialect.ForUpdateSkipLocked(), string(domain.Running), now)
		if err != nil {
			return err
		}
		type stale struct {
			id       string
			attempts int
		}
		var list []stale
		for rows.Next() {
			var st stale
			if err := rows.Scan(&st.id, &st.attempts); err != nil {
				rows.Close()
				return err
			}
			list = append(list, st)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, st := range list {
			status, msg, stored := domain.Waiting, "lease expired: the worker stopped renewing it; task re-queued", ""
			if st.attempts >= MaxAttempts {
				status, msg = domain.Failed, "lease expired after the maximum number of attempts; task failed"
				stored = msg
			}
			res, err := tx.Exec(ctx, "UPDATE darwin_image_builder SET status = ?, message = ?, lease_owner = '', lease_expires_at = 0, updated_at = ? WHERE task_id = ? AND status = ? AND lease_expires_at < ?",
				string(status), stored, now, st.id, string(domain.Running), now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				continue
			}
			if _, err := tx.Exec(ctx, "INSERT INTO darwin_image_builder_logs (task_id, chunk, created_at) VALUES (?, ?, ?)", st.id, "[artifact-builder] "+msg+"\n", now); err != nil {
				return err
			}
			if status == domain.Failed {
				failed = append(failed, st.id)
			} else {
				requeued = append(requeued, st.id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, internal(err, "re-queue stale tasks")
	}
	return requeued, failed, nil
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// AppendLog appends chunk to the task's build log.
func (s *Store) AppendLog(ctx context.Context, id, chunk string) error {
	if chunk == "" {
		return nil
	}
	chunk = strings.ToValidUTF8(strings.ReplaceAll(cut(chunk, MaxLogChunk), "\x00", ""), "?")
	if _, err := s.DB.Exec(ctx, "INSERT INTO darwin_image_builder_logs (task_id, chunk, created_at) VALUES (?, ?, ?)", id, chunk, s.nowMs()); err != nil {
		return internal(err, "append build log")
	}
	return nil
}

// Logs returns the task's build log so far (a missing task is NotFound).
func (s *Store) Logs(ctx context.Context, id string) (string, error) {
	if _, err := s.Task(ctx, id); err != nil {
		return "", err
	}
	rows, err := s.DB.Query(ctx, "SELECT chunk FROM darwin_image_builder_logs WHERE task_id = ? ORDER BY id", id)
	if err != nil {
		return "", internal(err, "read build log")
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return "", internal(err, "read build log")
		}
		b.WriteString(c)
	}
	if err := rows.Err(); err != nil {
		return "", internal(err, "read build log")
	}
	return b.String(), nil
}
