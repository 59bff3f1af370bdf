package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
)

// ClaimJob leases the oldest PENDING builder job not picked in the last leaseMs milliseconds: its
// last_picked_at becomes now, so other replicas' pollers skip it until the lease runs out (a poller that dies
// mid-job leaves it to be retaken). MySQL and PostgreSQL skip rows another claimer holds (SKIP LOCKED); SQLite
// transactions are serialised. found is false when no job is due.
func (s *Store) ClaimJob(ctx context.Context, leaseMs int64) (domain.Job, bool, error) {
	var (
		j     domain.Job
		found bool
	)
	err := s.Tx(ctx, func(q *Queries) error {
		now := q.nowMs()
		lock := ""
		if q.dl != db.SQLite {
			lock = " FOR UPDATE OF j SKIP LOCKED"
			if q.dl == db.MySQL {
				lock = " FOR UPDATE SKIP LOCKED"
			}
		}
		var err error
		j, err = scanJob(q.q.QueryRow(ctx, jobSelect+" WHERE j.status = ? AND (j.last_picked_at IS NULL OR j.last_picked_at <= ?) ORDER BY j.id"+
			q.dl.LimitOffset(1, 0)+lock, domain.JobPending, now-leaseMs))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return internal(err, "claim artifact builder job")
		}
		if _, err := q.q.Exec(ctx, "UPDATE artifact_builder_job SET last_picked_at = ? WHERE id = ?", now, j.ID); err != nil {
			return internal(err, "claim artifact builder job")
		}
		found = true
		return nil
	})
	return j, found, err
}

// SetJobTask records the builder's task id of a job.
func (q *Queries) SetJobTask(ctx context.Context, id int64, taskID string) error {
	if _, err := q.q.Exec(ctx, "UPDATE artifact_builder_job SET task_id = ? WHERE id = ?", taskID, id); err != nil {
		return internal(err, "record builder task")
	}
	return nil
}

// FinishJob moves a PENDING job to SUCCESSFUL or FAILED; it reports false when the job was not PENDING any
// more (another poller finished it first).
func (q *Queries) FinishJob(ctx context.Context, id int64, status string) (bool, error) {
	res, err := q.q.Exec(ctx, "UPDATE artifact_builder_job SET status = ?, status_last_updated_at = ? WHERE id = ? AND status = ?",
		status, q.nowMs(), id, domain.JobPending)
	if err != nil {
		return false, internal(err, "finish builder job")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, internal(err, "finish builder job")
	}
	return n == 1, nil
}
