package populator

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/darwinml/darwin/pkg/db"
)

// RunState is a run's job, status, progress and checkpoint: the next row group to read is RowGroup of file
// FileIndex (named FileName) in the source's name-ordered file list.
type RunState struct {
	RunID           string `json:"runId"`
	Source          string `json:"source"`
	FeatureGroup    string `json:"featureGroupName"`
	Version         string `json:"featureGroupVersion"`
	Mode            string `json:"mode"`
	TimestampColumn string `json:"timestampColumn"`
	Status          string `json:"status"`
	FileIndex       int    `json:"fileIndex"`
	FileName        string `json:"file"`
	RowGroup        int    `json:"rowGroup"`
	// FilesCounted is how many files' rows RowsTotal includes.
	FilesCounted int    `json:"-"`
	RowsDone     int64  `json:"rowsDone"`
	RowsTotal    int64  `json:"rowsTotal"`
	FailedRows   int64  `json:"failedRows"`
	Error        string `json:"error"`
	StartedAt    int64  `json:"startedAt"`
	UpdatedAt    int64  `json:"updatedAt"`
}

// Checkpoints persists run states.
type Checkpoints interface {
	// Load returns the run's state; found is false for an unknown run.
	Load(ctx context.Context, runID string) (st RunState, found bool, err error)
	// Save creates or replaces the run's state.
	Save(ctx context.Context, st RunState) error
}

// MemCheckpoints keeps run states in memory (tests, single-process setups without a database).
type MemCheckpoints struct {
	mu   sync.Mutex
	runs map[string]RunState
}

// NewMemCheckpoints returns an empty in-memory store.
func NewMemCheckpoints() *MemCheckpoints { return &MemCheckpoints{runs: map[string]RunState{}} }

// Load implements Checkpoints.
func (m *MemCheckpoints) Load(_ context.Context, runID string) (RunState, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.runs[runID]
	return st, ok, nil
}

// Save implements Checkpoints.
func (m *MemCheckpoints) Save(_ context.Context, st RunState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs[st.RunID] = st
	return nil
}

// SQLCheckpoints keeps run states in the populator_runs table (migration 0003 of the feature store's schema).
type SQLCheckpoints struct {
	db *db.DB
}

// NewSQLCheckpoints returns the SQL-backed store.
func NewSQLCheckpoints(d *db.DB) *SQLCheckpoints { return &SQLCheckpoints{db: d} }

const runColumns = `run_id, source, feature_group, version, mode, timestamp_column, status, file_index, file_name,
	row_group, files_counted, rows_done, rows_total, failed_rows, error_message, started_at, updated_at`

// maxErrorLen bounds the stored error message.
const maxErrorLen = 4000

// Load implements Checkpoints.
func (s *SQLCheckpoints) Load(ctx context.Context, runID string) (RunState, bool, error) {
	var st RunState
	err := s.db.QueryRow(ctx, `SELECT `+runColumns+` FROM populator_runs WHERE run_id = ?`, runID).Scan(
		&st.RunID, &st.Source, &st.FeatureGroup, &st.Version, &st.Mode, &st.TimestampColumn, &st.Status, &st.FileIndex,
		&st.FileName, &st.RowGroup, &st.FilesCounted, &st.RowsDone, &st.RowsTotal, &st.FailedRows, &st.Error,
		&st.StartedAt, &st.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return RunState{}, false, nil
	}
	if err != nil {
		return RunState{}, false, err
	}
	return st, true, nil
}

// Save implements Checkpoints (one upsert statement per dialect).
func (s *SQLCheckpoints) Save(ctx context.Context, st RunState) error {
	if len(st.Error) > maxErrorLen {
		st.Error = st.Error[:maxErrorLen]
	}
	args := []any{st.RunID, st.Source, st.FeatureGroup, st.Version, st.Mode, st.TimestampColumn, st.Status, st.FileIndex,
		st.FileName, st.RowGroup, st.FilesCounted, st.RowsDone, st.RowsTotal, st.FailedRows, st.Error, st.StartedAt,
		st.UpdatedAt}
	var upd string
	switch s.db.Dialect {
	case db.MySQL:
		upd = ` ON DUPLICATE KEY UPDATE status = VALUES(status), file_index = VALUES(file_index),
			file_name = VALUES(file_name), row_group = VALUES(row_group), files_counted = VALUES(files_counted),
			rows_done = VALUES(rows_done), rows_total = VALUES(rows_total), failed_rows = VALUES(failed_rows),
			error_message = VALUES(error_message), updated_at = VALUES(updated_at)`
	default:
		upd = ` ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, file_index = excluded.file_index,
			file_name = excluded.file_name, row_group = excluded.row_group, files_counted = excluded.files_counted,
			rows_done = excluded.rows_done, rows_total = excluded.rows_total, failed_rows = excluded.failed_rows,
			error_message = excluded.error_message, updated_at = excluded.updated_at`
	}
	_, err := s.db.Exec(ctx, `INSERT INTO populator_runs (`+runColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+upd, args...)
	return err
}
