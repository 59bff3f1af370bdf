package libraries

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
)

// Store reads and writes library, remote_command_status and pod_command_execution_status.
type Store struct {
	db *db.DB
}

// NewStore returns a store over d (migrated with the compute migrations).
func NewStore(d *db.DB) *Store { return &Store{db: d} }

type sqlRunner interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func strPtr(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	v := ns.String
	return &v
}

// ---- remote commands ----

const commandColumns = "execution_id, cluster_id, command, status, target, timeout, error_logs_path, error_code, created_at, started_at, updated_at"

func scanCommand(sc interface{ Scan(...any) error }) (Command, error) {
	var c Command
	var logs, code sql.NullString
	var started sql.NullTime
	if err := sc.Scan(&c.ExecutionID, &c.ClusterID, &c.Command, &c.Status, &c.Target, &c.Timeout, &logs, &code,
		&c.CreatedAt, &started, &c.UpdatedAt); err != nil {
		return c, err
	}
	c.ErrorLogsPath, c.ErrorCode = strPtr(logs), strPtr(code)
	if started.Valid {
		t := started.Time.UTC()
		c.StartedAt = &t
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

func insertCommand(ctx context.Context, q sqlRunner, c Command) error {
	_, err := q.Exec(ctx, "INSERT INTO remote_command_status (execution_id, cluster_id, command, status, target, timeout, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		c.ExecutionID, c.ClusterID, c.Command, c.Status, c.Target, c.Timeout, c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return fmt.Errorf("insert remote command %s: %w", c.ExecutionID, err)
	}
	return nil
}

// InsertCommands stores new commands.
func (s *Store) InsertCommands(ctx context.Context, cmds []Command) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		for _, c := range cmds {
			if err := insertCommand(ctx, tx, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetCommand returns one command of a cluster, or an apierr NotFound error.
func (s *Store) GetCommand(ctx context.Context, clusterID, executionID string) (Command, error) {
	c, err := scanCommand(s.db.QueryRow(ctx, "SELECT "+commandColumns+" FROM remote_command_status WHERE execution_id = ? AND cluster_id = ?", executionID, clusterID))
	if errors.Is(err, sql.ErrNoRows) {
		return c, apierr.New(apierr.NotFound, "execution %q not found for cluster %q", executionID, clusterID)
	}
	if err != nil {
		return c, fmt.Errorf("get remote command %s: %w", executionID, err)
	}
	return c, nil
}

func (s *Store) queryCommands(ctx context.Context, where string, args ...any) ([]Command, error) {
	rows, err := s.db.Query(ctx, "SELECT "+commandColumns+" FROM remote_command_status "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list remote commands: %w", err)
	}
	defer rows.Close()
	out := []Command{}
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			return nil, fmt.Errorf("scan remote command: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ListCommands returns every command of a cluster in creation order.
func (s *Store) ListCommands(ctx context.Context, clusterID string) ([]Command, error) {
	return s.queryCommands(ctx, "WHERE cluster_id = ? ORDER BY created_at, execution_id", clusterID)
}

// ChartCommands returns the commands that belong in the cluster's chart: all of them except the commands of
// libraries waiting to be uninstalled.
func (s *Store) ChartCommands(ctx context.Context, clusterID string) ([]Command, error) {
	return s.queryCommands(ctx, `WHERE cluster_id = ? AND NOT EXISTS (SELECT 1 FROM library l
		WHERE l.execution_id = remote_command_status.execution_id AND l.status = ?) ORDER BY created_at, execution_id`,
		clusterID, LibUninstallPending)
}

// DeleteCommands deletes commands (and their pod reports) of a cluster and returns the ids that existed.
func (s *Store) DeleteCommands(ctx context.Context, clusterID string, executionIDs []string) ([]string, error) {
	var deleted []string
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		for _, id := range executionIDs {
			res, err := tx.Exec(ctx, "DELETE FROM remote_command_status WHERE execution_id = ? AND cluster_id = ?", id, clusterID)
			if err != nil {
				return fmt.Errorf("delete remote command %s: %w", id, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				deleted = append(deleted, id)
			}
			if _, err := tx.Exec(ctx, "DELETE FROM pod_command_execution_status WHERE execution_id = ?", id); err != nil {
				return fmt.Errorf("delete pod reports of %s: %w", id, err)
			}
		}
		return nil
	})
	return deleted, err
}

// MarkStarted moves commands (and the libraries installed by them) to running, stamping started_at.
func (s *Store) MarkStarted(ctx context.Context, executionIDs []string, now time.Time) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		for _, id := range executionIDs {
			if _, err := tx.Exec(ctx, `UPDATE remote_command_status SET status = ?, started_at = ?, updated_at = ?, last_picked_at = NULL,
				error_code = NULL, error_logs_path = NULL WHERE execution_id = ?`, CmdRunning, now, now, id); err != nil {
				return fmt.Errorf("start remote command %s: %w", id, err)
			}
			if _, err := tx.Exec(ctx, "UPDATE library SET status = ?, updated_at = ? WHERE execution_id = ? AND status <> ?",
				LibRunning, now, id, LibUninstallPending); err != nil {
				return fmt.Errorf("start libraries of %s: %w", id, err)
			}
		}
		return nil
	})
}

// Settle finishes a running command with status success or failed (errCode/logsPath only for failures); the
// libraries it installs follow. It reports false when the command was no longer running.
func (s *Store) Settle(ctx context.Context, executionID, status, errCode, logsPath string, now time.Time) (bool, error) {
	settled := false
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE remote_command_status SET status = ?, error_code = ?, error_logs_path = ?, updated_at = ?
			WHERE execution_id = ? AND status = ?`, status, nullStr(errCode), nullStr(logsPath), now, executionID, CmdRunning)
		if err != nil {
			return fmt.Errorf("settle remote command %s: %w", executionID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		settled = true
		if _, err := tx.Exec(ctx, "UPDATE library SET status = ?, updated_at = ? WHERE execution_id = ? AND status = ?",
			status, now, executionID, LibRunning); err != nil {
			return fmt.Errorf("settle libraries of %s: %w", executionID, err)
		}
		return nil
	})
	return settled, err
}

// LeaseRunning leases up to max running commands whose last lease is older than lease (or that were never
// leased), with a conditional UPDATE of last_picked_at so that concurrent replicas never lease the same
// command within one lease period.
func (s *Store) LeaseRunning(ctx context.Context, now time.Time, lease time.Duration, max int) ([]Command, error) {
	cutoff := now.Add(-lease)
	rows, err := s.db.Query(ctx, `SELECT execution_id FROM remote_command_status WHERE status = ? AND (last_picked_at IS NULL OR last_picked_at <= ?)
		ORDER BY updated_at, execution_id`+s.db.Dialect.LimitOffset(max*5, 0), CmdRunning, cutoff)
	if err != nil {
		return nil, fmt.Errorf("find running remote commands: %w", err)
	}
	var candidates []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan running remote command: %w", err)
		}
		candidates = append(candidates, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find running remote commands: %w", err)
	}
	var leased []Command
	for _, id := range candidates {
		if len(leased) >= max {
			break
		}
		res, err := s.db.Exec(ctx, `UPDATE remote_command_status SET last_picked_at = ? WHERE execution_id = ? AND status = ?
			AND (last_picked_at IS NULL OR last_picked_at <= ?)`, now, id, CmdRunning, cutoff)
		if err != nil {
			return leased, fmt.Errorf("lease remote command %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue // another replica holds it
		}
		c, err := scanCommand(s.db.QueryRow(ctx, "SELECT "+commandColumns+" FROM remote_command_status WHERE execution_id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			continue // deleted meanwhile
		}
		if err != nil {
			return leased, fmt.Errorf("read leased remote command %s: %w", id, err)
		}
		leased = append(leased, c)
	}
	return leased, nil
}

// UpsertPodStatus records a pod's report for one run of a command.
func (s *Store) UpsertPodStatus(ctx context.Context, runID, executionID, pod, status string, now time.Time) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM pod_command_execution_status WHERE cluster_run_id = ? AND execution_id = ? AND pod_name = ?",
			runID, executionID, pod).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.Exec(ctx, "INSERT INTO pod_command_execution_status (cluster_run_id, execution_id, pod_name, status, updated_at) VALUES (?, ?, ?, ?, ?)",
				runID, executionID, pod, status, now)
		case err == nil:
			_, err = tx.Exec(ctx, "UPDATE pod_command_execution_status SET status = ?, updated_at = ? WHERE cluster_run_id = ? AND execution_id = ? AND pod_name = ?",
				status, now, runID, executionID, pod)
		}
		if err != nil {
			return fmt.Errorf("record pod %s status of %s: %w", pod, executionID, err)
		}
		return nil
	})
}

// PodStatuses returns pod name → status reported for one run of a command.
func (s *Store) PodStatuses(ctx context.Context, runID, executionID string) (map[string]string, error) {
	rows, err := s.db.Query(ctx, "SELECT pod_name, status FROM pod_command_execution_status WHERE cluster_run_id = ? AND execution_id = ?", runID, executionID)
	if err != nil {
		return nil, fmt.Errorf("list pod reports of %s: %w", executionID, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var pod, st string
		if err := rows.Scan(&pod, &st); err != nil {
			return nil, fmt.Errorf("scan pod report: %w", err)
		}
		out[pod] = st
	}
	return out, rows.Err()
}

// ---- libraries ----

const libraryColumns = `l.id, l.cluster_id, l.name, l.version, l.type, l.source, l.path, l.metadata, l.status, l.execution_id,
	l.created_at, l.updated_at, c.error_code, c.error_logs_path`

const libraryFrom = " FROM library l LEFT JOIN remote_command_status c ON c.execution_id = l.execution_id "

func scanLibrary(sc interface{ Scan(...any) error }) (Library, error) {
	var l Library
	var version, p, meta, execID, code, logs sql.NullString
	if err := sc.Scan(&l.ID, &l.ClusterID, &l.Name, &version, &l.Type, &l.Source, &p, &meta, &l.Status, &execID,
		&l.CreatedAt, &l.UpdatedAt, &code, &logs); err != nil {
		return l, err
	}
	l.Version, l.Path, l.ExecutionID = strPtr(version), strPtr(p), strPtr(execID)
	if meta.Valid && meta.String != "" {
		if err := json.Unmarshal([]byte(meta.String), &l.Metadata); err != nil {
			return l, fmt.Errorf("decode metadata of library %d: %w", l.ID, err)
		}
	}
	if l.Status == LibFailed {
		l.Error = &LibraryError{ErrorCode: ErrCodeFailed, ErrorMessage: "library installation failed"}
		if code.Valid {
			l.Error.ErrorCode = code.String
		}
		if logs.Valid {
			l.Error.ErrorMessage = "library installation failed; logs: " + logs.String
		}
	}
	l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
	return l, nil
}

func (s *Store) insertID(ctx context.Context, tx *db.Tx, query string, args ...any) (int64, error) {
	if tx.Dialect == db.Postgres {
		var id int64
		err := tx.QueryRow(ctx, query+" RETURNING id", args...).Scan(&id)
		return id, err
	}
	res, err := tx.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// NewLibrary is a library to insert together with its install command.
type NewLibrary struct {
	Spec    Spec
	Command Command
}

// CreateLibraries inserts libraries with status created and their commands, in one transaction.
func (s *Store) CreateLibraries(ctx context.Context, clusterID string, libs []NewLibrary, now time.Time) ([]int64, error) {
	ids := make([]int64, 0, len(libs))
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		ids = ids[:0]
		for _, nl := range libs {
			if err := insertCommand(ctx, tx, nl.Command); err != nil {
				return err
			}
			var meta any
			if nl.Spec.Metadata != nil {
				buf, err := json.Marshal(nl.Spec.Metadata)
				if err != nil {
					return apierr.InvalidField("body.metadata", "body.metadata cannot be encoded")
				}
				meta = string(buf)
			}
			id, err := s.insertID(ctx, tx, `INSERT INTO library (cluster_id, name, version, type, source, path, metadata, status, execution_id, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				clusterID, nl.Spec.Name, nullStr(nl.Spec.Version), nl.Spec.Type, nl.Spec.Source, nullStr(nl.Spec.Path), meta, LibCreated,
				nl.Command.ExecutionID, now, now)
			if err != nil {
				return fmt.Errorf("insert library %q: %w", nl.Spec.Name, err)
			}
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}

// FindDuplicate returns a library of the cluster with the same source, name, version and path that is not
// being uninstalled.
func (s *Store) FindDuplicate(ctx context.Context, clusterID string, spec Spec) (Library, bool, error) {
	l, err := scanLibrary(s.db.QueryRow(ctx, "SELECT "+libraryColumns+libraryFrom+`WHERE l.cluster_id = ? AND l.source = ? AND l.name = ?
		AND COALESCE(l.version, '') = ? AND COALESCE(l.path, '') = ? AND l.status <> ? ORDER BY l.id`+s.db.Dialect.LimitOffset(1, 0),
		clusterID, spec.Source, spec.Name, spec.Version, spec.Path, LibUninstallPending))
	if errors.Is(err, sql.ErrNoRows) {
		return Library{}, false, nil
	}
	if err != nil {
		return Library{}, false, fmt.Errorf("find duplicate library %q: %w", spec.Name, err)
	}
	return l, true, nil
}

// GetLibrary returns one library of a cluster, or an apierr NotFound error.
func (s *Store) GetLibrary(ctx context.Context, clusterID string, id int64) (Library, error) {
	l, err := scanLibrary(s.db.QueryRow(ctx, "SELECT "+libraryColumns+libraryFrom+"WHERE l.id = ? AND l.cluster_id = ?", id, clusterID))
	if errors.Is(err, sql.ErrNoRows) {
		return l, apierr.New(apierr.NotFound, "library %d not found for cluster %q", id, clusterID)
	}
	if err != nil {
		return l, fmt.Errorf("get library %d: %w", id, err)
	}
	return l, nil
}

// LibrariesByIDs returns libraries of a cluster by id (in the given order), or an apierr NotFound error
// naming the first unknown id.
func (s *Store) LibrariesByIDs(ctx context.Context, clusterID string, ids []int64) ([]Library, error) {
	out := make([]Library, 0, len(ids))
	for _, id := range ids {
		l, err := s.GetLibrary(ctx, clusterID, id)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// LibraryForExecution returns the id of the library installed by a command, if any.
func (s *Store) LibraryForExecution(ctx context.Context, clusterID, executionID string) (int64, bool, error) {
	var id int64
	err := s.db.QueryRow(ctx, "SELECT id FROM library WHERE cluster_id = ? AND execution_id = ?", clusterID, executionID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("find library of execution %s: %w", executionID, err)
	}
	return id, true, nil
}

// ListParams selects a page of libraries.
type ListParams struct {
	Key       string
	SortBy    string
	SortOrder string
	Offset    int
	PageSize  int
}

// SortColumns are the accepted sort_by values.
var SortColumns = []string{"id", "name", "version", "type", "source", "status", "created_at", "updated_at"}

// ListLibraries returns a page of a cluster's libraries and the number of libraries matching the filter.
func (s *Store) ListLibraries(ctx context.Context, clusterID string, p ListParams) ([]Library, int, error) {
	where := "WHERE l.cluster_id = ?"
	args := []any{clusterID}
	if p.Key != "" {
		if s.db.Dialect == db.Postgres {
			where += " AND STRPOS(LOWER(l.name), ?) > 0"
		} else {
			where += " AND INSTR(LOWER(l.name), ?) > 0"
		}
		args = append(args, strings.ToLower(p.Key))
	}
	var total int
	if err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM library l "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count libraries: %w", err)
	}
	order := "DESC"
	if p.SortOrder == "asc" {
		order = "ASC"
	}
	col := "id"
	for _, c := range SortColumns {
		if c == p.SortBy {
			col = c
		}
	}
	rows, err := s.db.Query(ctx, "SELECT "+libraryColumns+libraryFrom+where+" ORDER BY l."+col+" "+order+", l.id "+order+
		s.db.Dialect.LimitOffset(p.PageSize, p.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list libraries: %w", err)
	}
	defer rows.Close()
	out := []Library{}
	for rows.Next() {
		l, err := scanLibrary(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan library: %w", err)
		}
		out = append(out, l)
	}
	return out, total, rows.Err()
}

// AllLibraries returns every library of a cluster in id order.
func (s *Store) AllLibraries(ctx context.Context, clusterID string) ([]Library, error) {
	out, _, err := s.ListLibraries(ctx, clusterID, ListParams{SortBy: "id", SortOrder: "asc", PageSize: 1 << 30})
	return out, err
}

// DeleteLibraries deletes libraries and their commands.
func (s *Store) DeleteLibraries(ctx context.Context, libs []Library) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		for _, l := range libs {
			if _, err := tx.Exec(ctx, "DELETE FROM library WHERE id = ?", l.ID); err != nil {
				return fmt.Errorf("delete library %d: %w", l.ID, err)
			}
			if l.ExecutionID != nil {
				if err := deleteCommandTx(ctx, tx, *l.ExecutionID); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func deleteCommandTx(ctx context.Context, tx *db.Tx, executionID string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM remote_command_status WHERE execution_id = ?", executionID); err != nil {
		return fmt.Errorf("delete remote command %s: %w", executionID, err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM pod_command_execution_status WHERE execution_id = ?", executionID); err != nil {
		return fmt.Errorf("delete pod reports of %s: %w", executionID, err)
	}
	return nil
}

// MarkUninstallPending marks libraries to be removed at the next stop.
func (s *Store) MarkUninstallPending(ctx context.Context, libs []Library, now time.Time) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		for _, l := range libs {
			if _, err := tx.Exec(ctx, "UPDATE library SET status = ?, updated_at = ? WHERE id = ?", LibUninstallPending, now, l.ID); err != nil {
				return fmt.Errorf("mark library %d for uninstall: %w", l.ID, err)
			}
		}
		return nil
	})
}

// ReplaceCommand gives a library a fresh install command (status created), deleting the old one.
func (s *Store) ReplaceCommand(ctx context.Context, lib Library, cmd Command, now time.Time) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		if lib.ExecutionID != nil {
			if err := deleteCommandTx(ctx, tx, *lib.ExecutionID); err != nil {
				return err
			}
		}
		if err := insertCommand(ctx, tx, cmd); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE library SET status = ?, execution_id = ?, updated_at = ? WHERE id = ?",
			LibCreated, cmd.ExecutionID, now, lib.ID); err != nil {
			return fmt.Errorf("reset library %d: %w", lib.ID, err)
		}
		return nil
	})
}

// OnStart moves every command of a cluster, and every library not waiting for uninstall, to running: the
// chart runs all of them again in the fresh pods, so earlier verdicts no longer hold.
func (s *Store) OnStart(ctx context.Context, clusterID string, now time.Time) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE remote_command_status SET status = ?, started_at = ?, updated_at = ?, last_picked_at = NULL,
			error_code = NULL, error_logs_path = NULL WHERE cluster_id = ?`, CmdRunning, now, now, clusterID); err != nil {
			return fmt.Errorf("start remote commands of %s: %w", clusterID, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE library SET status = ?, updated_at = ? WHERE cluster_id = ? AND status <> ?",
			LibRunning, now, clusterID, LibUninstallPending); err != nil {
			return fmt.Errorf("start libraries of %s: %w", clusterID, err)
		}
		return nil
	})
}

// OnStop deletes libraries waiting for uninstall (with their commands) and moves running libraries and
// commands back to created.
func (s *Store) OnStop(ctx context.Context, clusterID string, now time.Time) error {
	pending, _, err := s.ListLibraries(ctx, clusterID, ListParams{SortBy: "id", SortOrder: "asc", PageSize: 1 << 30})
	if err != nil {
		return err
	}
	var drop []Library
	for _, l := range pending {
		if l.Status == LibUninstallPending {
			drop = append(drop, l)
		}
	}
	if err := s.DeleteLibraries(ctx, drop); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE remote_command_status SET status = ?, started_at = NULL, updated_at = ?, last_picked_at = NULL
			WHERE cluster_id = ? AND status = ?`, CmdCreated, now, clusterID, CmdRunning); err != nil {
			return fmt.Errorf("reset remote commands of %s: %w", clusterID, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE library SET status = ?, updated_at = ? WHERE cluster_id = ? AND status = ?",
			LibCreated, now, clusterID, LibRunning); err != nil {
			return fmt.Errorf("reset libraries of %s: %w", clusterID, err)
		}
		return nil
	})
}

// DeleteCluster removes every library, command and pod report of a cluster.
func (s *Store) DeleteCluster(ctx context.Context, clusterID string) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		for _, q := range []string{
			"DELETE FROM pod_command_execution_status WHERE execution_id IN (SELECT execution_id FROM remote_command_status WHERE cluster_id = ?)",
			"DELETE FROM library WHERE cluster_id = ?",
			"DELETE FROM remote_command_status WHERE cluster_id = ?",
		} {
			if _, err := tx.Exec(ctx, q, clusterID); err != nil {
				return fmt.Errorf("delete cluster %s data: %w", clusterID, err)
			}
		}
		return nil
	})
}
