// Package store keeps MLflow experiments, runs, params, tags and metric series in SQL (SQLite, MySQL,
// PostgreSQL) through pkg/db. Methods return apierr errors: NotFound for unknown ids, InvalidArgument for
// MLflow's INVALID_PARAMETER_VALUE cases, AlreadyExists for duplicate experiment names.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
)

// Store is the tracking store.
type Store struct {
	db          *db.DB
	clk         clock.Clock
	defaultRoot string
}

// New returns a store; defaultArtifactRoot is the prefix of experiments' default artifact locations.
func New(d *db.DB, clk clock.Clock, defaultArtifactRoot string) *Store {
	if clk == nil {
		clk = clock.Real()
	}
	return &Store{db: d, clk: clk, defaultRoot: strings.TrimRight(defaultArtifactRoot, "/")}
}

func (s *Store) nowMillis() int64 { return s.clk.Now().UnixMilli() }

// retry runs fn in a transaction, again (up to 8 attempts, with a short jittered pause) when it fails on a
// conflict with a concurrent writer: a unique violation, a deadlock or a serialization failure. fn re-reads
// state on each attempt.
func (s *Store) retry(ctx context.Context, fn func(tx *db.Tx) error) error {
	var err error
	for attempt := range 8 {
		err = s.db.Tx(ctx, fn)
		if err == nil || !retryable(err) {
			return err
		}
		var b [1]byte
		_, _ = rand.Read(b[:])
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1)*time.Millisecond + time.Duration(b[0])*20*time.Microsecond):
		}
	}
	return err
}

func retryable(err error) bool {
	if db.IsUniqueViolation(err) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205 // deadlock, lock wait timeout
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" // serialization failure, deadlock
	}
	return false
}

// lockClause is " FOR UPDATE" where row locks exist (SQLite transactions already hold the write lock).
func lockClause(d db.Dialect) string {
	if d == db.SQLite {
		return ""
	}
	return " FOR UPDATE"
}

func internal(err error, what string) error {
	if err == nil {
		return nil
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return err
	}
	return apierr.Wrap(apierr.Internal, err, "%s", what)
}

func parseExperimentID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, domain.NotFound("No Experiment with id=%s exists", id)
	}
	return n, nil
}

// ---------------------------------------------------------------------------------------------- experiments

// CreateExperiment creates an experiment and returns its id.
func (s *Store) CreateExperiment(ctx context.Context, name, artifactLocation string, tags []domain.Tag) (string, error) {
	if err := domain.ValidateExperimentName(name); err != nil {
		return "", err
	}
	if len(artifactLocation) > domain.MaxArtifactLocationLen {
		return "", apierr.InvalidField("artifact_location", "artifact_location had length %d, which exceeded length limit of %d", len(artifactLocation), domain.MaxArtifactLocationLen)
	}
	for _, t := range tags {
		if err := domain.ValidateExperimentTag(t); err != nil {
			return "", err
		}
	}
	var id int64
	err := s.retry(ctx, func(tx *db.Tx) error {
		// Creators serialise on the Default experiment's row, so id allocation (MAX+1) and the name check
		// do not race; retry covers what remains (e.g. a rename to the same name).
		var zero int64
		if err := tx.QueryRow(ctx, `SELECT experiment_id FROM mlflow_experiments WHERE experiment_id = 0`+lockClause(tx.Dialect)).Scan(&zero); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM mlflow_experiments WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return apierr.New(apierr.AlreadyExists, "Experiment '%s' already exists.", name)
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(experiment_id), 0) + 1 FROM mlflow_experiments`).Scan(&id); err != nil {
			return err
		}
		loc := artifactLocation
		if loc == "" {
			loc = s.defaultRoot + "/" + strconv.FormatInt(id, 10)
		}
		now := s.nowMillis()
		if _, err := tx.Exec(ctx, `INSERT INTO mlflow_experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?, ?)`,
			id, name, loc, domain.StageActive, now, now); err != nil {
			return err
		}
		for _, t := range tags {
			if err := setExperimentTag(ctx, tx, id, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", internal(err, "create experiment")
	}
	return strconv.FormatInt(id, 10), nil
}

func setExperimentTag(ctx context.Context, tx *db.Tx, id int64, t domain.Tag) error {
	if _, err := tx.Exec(ctx, `DELETE FROM mlflow_experiment_tags WHERE experiment_id = ? AND tag_key = ?`, id, t.Key); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO mlflow_experiment_tags (experiment_id, tag_key, tag_value) VALUES (?, ?, ?)`, id, t.Key, t.Value)
	return err
}

const experimentCols = `experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time`

// qualifiedExperimentCols are experimentCols on the alias e.
const qualifiedExperimentCols = `e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time`

type querier interface {
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) scanExperiment(sc interface{ Scan(...any) error }) (domain.Experiment, error) {
	var e domain.Experiment
	var id int64
	if err := sc.Scan(&id, &e.Name, &e.ArtifactLocation, &e.LifecycleStage, &e.CreationTime, &e.LastUpdateTime); err != nil {
		return e, err
	}
	e.ID = strconv.FormatInt(id, 10)
	if e.ArtifactLocation == "" {
		e.ArtifactLocation = s.defaultRoot + "/" + e.ID
	}
	return e, nil
}

func (s *Store) experimentTags(ctx context.Context, q querier, ids []int64) (map[int64][]domain.Tag, error) {
	out := map[int64][]domain.Tag{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.Query(ctx, `SELECT experiment_id, tag_key, tag_value FROM mlflow_experiment_tags WHERE experiment_id IN (`+db.Placeholders(len(ids))+`) ORDER BY experiment_id, tag_key`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var t domain.Tag
		if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
			return nil, err
		}
		out[id] = append(out[id], t)
	}
	for _, tags := range out {
		sortByKey(tags, func(t domain.Tag) string { return t.Key })
	}
	return out, rows.Err()
}

func (s *Store) getExperiment(ctx context.Context, q querier, id int64, idStr string) (domain.Experiment, error) {
	e, err := s.scanExperiment(q.QueryRow(ctx, `SELECT `+experimentCols+` FROM mlflow_experiments WHERE experiment_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, domain.NotFound("No Experiment with id=%s exists", idStr)
	}
	return e, err
}

// GetExperiment returns an experiment with its tags.
func (s *Store) GetExperiment(ctx context.Context, id string) (domain.Experiment, error) {
	n, err := parseExperimentID(id)
	if err != nil {
		return domain.Experiment{}, err
	}
	e, err := s.getExperiment(ctx, s.db, n, id)
	if err != nil {
		return e, internal(err, "get experiment")
	}
	tags, err := s.experimentTags(ctx, s.db, []int64{n})
	if err != nil {
		return e, internal(err, "get experiment tags")
	}
	e.Tags = tags[n]
	return e, nil
}

// GetExperimentByName returns the experiment with that name (active or deleted).
func (s *Store) GetExperimentByName(ctx context.Context, name string) (domain.Experiment, error) {
	var id int64
	err := s.db.QueryRow(ctx, `SELECT experiment_id FROM mlflow_experiments WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Experiment{}, domain.NotFound("Could not find experiment with name '%s'", name)
	}
	if err != nil {
		return domain.Experiment{}, internal(err, "get experiment by name")
	}
	return s.GetExperiment(ctx, strconv.FormatInt(id, 10))
}

func stageClause(view string) (string, []any) {
	switch view {
	case domain.ViewDeletedOnly:
		return ` AND lifecycle_stage = ?`, []any{domain.StageDeleted}
	case domain.ViewAll:
		return ``, nil
	default:
		return ` AND lifecycle_stage = ?`, []any{domain.StageActive}
	}
}

// SearchExperiments returns up to limit experiments of the view from offset, newest first (creation_time desc,
// experiment_id asc), and whether more follow.
func (s *Store) SearchExperiments(ctx context.Context, view string, limit, offset int) ([]domain.Experiment, bool, error) {
	return s.SearchExperimentsFiltered(ctx, view, search.Filter{}, nil, limit, offset)
}

// SearchExperimentsFiltered is SearchExperiments with an experiment filter (name, tags, creation_time,
// last_update_time; search.ParseExperimentFilter) and order_by keys (search.ParseExperimentOrderBy); ties are
// broken by experiment_id so pages are stable.
func (s *Store) SearchExperimentsFiltered(ctx context.Context, view string, filter search.Filter, order []search.OrderKey, limit, offset int) ([]domain.Experiment, bool, error) {
	clause, args := stageClause(view)
	clause = strings.ReplaceAll(clause, "lifecycle_stage", "e.lifecycle_stage")
	if where, whereArgs := search.ExperimentFilterSQL(filter, s.db.Dialect, "e"); where != "" {
		clause += " AND " + where
		args = append(args, whereArgs...)
	}
	rows, err := s.db.Query(ctx, `SELECT `+qualifiedExperimentCols+` FROM mlflow_experiments e WHERE 1 = 1`+clause+
		` ORDER BY `+search.ExperimentOrderSQL(order, s.db.Dialect, "e")+s.db.Dialect.LimitOffset(limit+1, offset), args...)
	if err != nil {
		return nil, false, internal(err, "search experiments")
	}
	var out []domain.Experiment
	var ids []int64
	for rows.Next() {
		e, err := s.scanExperiment(rows)
		if err != nil {
			rows.Close()
			return nil, false, internal(err, "search experiments")
		}
		n, _ := strconv.ParseInt(e.ID, 10, 64)
		out, ids = append(out, e), append(ids, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, internal(err, "search experiments")
	}
	more := len(out) > limit
	if more {
		out, ids = out[:limit], ids[:limit]
	}
	tags, err := s.experimentTags(ctx, s.db, ids)
	if err != nil {
		return nil, false, internal(err, "search experiment tags")
	}
	for i := range out {
		out[i].Tags = tags[ids[i]]
	}
	return out, more, nil
}

// RenameExperiment renames an active experiment.
func (s *Store) RenameExperiment(ctx context.Context, id, newName string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	if err := domain.ValidateExperimentName(newName); err != nil {
		return err
	}
	err = s.retry(ctx, func(tx *db.Tx) error {
		e, err := s.getExperiment(ctx, tx, n, id)
		if err != nil {
			return err
		}
		if e.LifecycleStage != domain.StageActive {
			return domain.Invalid("Cannot rename a non-active experiment.")
		}
		if e.Name == newName {
			return nil
		}
		var c int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM mlflow_experiments WHERE name = ?`, newName).Scan(&c); err != nil {
			return err
		}
		if c > 0 {
			return apierr.New(apierr.AlreadyExists, "Experiment '%s' already exists.", newName)
		}
		_, err = tx.Exec(ctx, `UPDATE mlflow_experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?`, newName, s.nowMillis(), n)
		return err
	})
	return internal(err, "rename experiment")
}

// SetExperimentStage deletes (stage deleted) or restores (stage active) an experiment and its runs.
func (s *Store) SetExperimentStage(ctx context.Context, id, stage string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	err = s.retry(ctx, func(tx *db.Tx) error {
		e, err := s.getExperiment(ctx, tx, n, id)
		if err != nil {
			return err
		}
		if stage == domain.StageDeleted && n == 0 {
			return domain.Invalid("Cannot delete the default experiment '0'. This is an internally reserved experiment.")
		}
		if stage == domain.StageActive && e.LifecycleStage != domain.StageDeleted {
			return domain.Invalid("Cannot restore an experiment that is not deleted. Experiment id=%s is %s", id, e.LifecycleStage)
		}
		now := s.nowMillis()
		if _, err := tx.Exec(ctx, `UPDATE mlflow_experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?`, stage, now, n); err != nil {
			return err
		}
		// MLflow moves the experiment's runs with it.
		var deleted any
		from := domain.StageActive
		if stage == domain.StageDeleted {
			deleted = now
		} else {
			from = domain.StageDeleted
		}
		_, err = tx.Exec(ctx, `UPDATE mlflow_runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ? AND lifecycle_stage = ?`, stage, deleted, n, from)
		return err
	})
	return internal(err, "update experiment lifecycle")
}

// SetExperimentTag sets (overwrites) a tag on an active experiment.
func (s *Store) SetExperimentTag(ctx context.Context, id string, t domain.Tag) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	if err := domain.ValidateExperimentTag(t); err != nil {
		return err
	}
	err = s.retry(ctx, func(tx *db.Tx) error {
		e, err := s.getExperiment(ctx, tx, n, id)
		if err != nil {
			return err
		}
		if e.LifecycleStage != domain.StageActive {
			return domain.Invalid("The experiment %s must be in the 'active' state. Current state is %s.", id, e.LifecycleStage)
		}
		return setExperimentTag(ctx, tx, n, t)
	})
	return internal(err, "set experiment tag")
}

// ------------------------------------------------------------------------------------------------------ runs

// CreateRunInput is what runs/create carries.
type CreateRunInput struct {
	ExperimentID string
	UserID       string
	RunName      string
	StartTime    int64
	Tags         []domain.Tag
}

func newRunID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CreateRun creates a RUNNING run in an active experiment. The run name comes from run_name, else the
// mlflow.runName tag, else a generated one; the mlflow.runName tag is set to it.
func (s *Store) CreateRun(ctx context.Context, in CreateRunInput) (domain.Run, error) {
	expID := in.ExperimentID
	if expID == "" {
		expID = "0"
	}
	n, err := parseExperimentID(expID)
	if err != nil {
		return domain.Run{}, err
	}
	name := in.RunName
	user := in.UserID
	for _, t := range in.Tags {
		if err := domain.ValidateTag(t); err != nil {
			return domain.Run{}, err
		}
		if t.Key == domain.TagRunName && name == "" {
			name = t.Value
		}
		if t.Key == domain.TagUser && user == "" {
			user = t.Value
		}
	}
	for _, t := range in.Tags {
		if t.Key == domain.TagRunName && t.Value != name {
			return domain.Run{}, domain.Invalid("Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='%s', mlflow.runName='%s').", name, t.Value)
		}
	}
	if name == "" {
		name = generatedRunName()
	}
	if len(user) > domain.MaxUserIDLength {
		return domain.Run{}, apierr.InvalidField("user_id", "user_id had length %d, which exceeded length limit of %d", len(user), domain.MaxUserIDLength)
	}
	if err := domain.ValidateRunName(name); err != nil {
		return domain.Run{}, err
	}
	start := in.StartTime
	if start == 0 {
		start = s.nowMillis()
	}
	id := newRunID()
	err = s.retry(ctx, func(tx *db.Tx) error {
		e, err := s.getExperiment(ctx, tx, n, expID)
		if err != nil {
			return err
		}
		if e.LifecycleStage != domain.StageActive {
			return domain.Invalid("The experiment %s must be in the 'active' state. Current state is %s.", expID, e.LifecycleStage)
		}
		uri := strings.TrimRight(e.ArtifactLocation, "/") + "/" + id + "/artifacts"
		if _, err := tx.Exec(ctx, `INSERT INTO mlflow_runs (run_uuid, name, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri, deleted_time) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL)`,
			id, name, n, user, domain.StatusRunning, start, domain.StageActive, uri); err != nil {
			return err
		}
		tags := append([]domain.Tag{}, in.Tags...)
		if !hasTag(tags, domain.TagRunName) {
			tags = append(tags, domain.Tag{Key: domain.TagRunName, Value: name})
		}
		for _, t := range tags {
			if err := setRunTag(ctx, tx, id, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return domain.Run{}, internal(err, "create run")
	}
	return s.GetRun(ctx, id)
}

func hasTag(tags []domain.Tag, key string) bool {
	for _, t := range tags {
		if t.Key == key {
			return true
		}
	}
	return false
}

var nameWords = [2][]string{
	{"bold", "calm", "eager", "gentle", "happy", "keen", "lucky", "merry", "quiet", "swift", "wise", "brave"},
	{"owl", "fox", "lynx", "hawk", "seal", "wolf", "crab", "moth", "bear", "deer", "finch", "otter"},
}

// generatedRunName returns an adjective-animal-number name like MLflow's.
func generatedRunName() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%d", nameWords[0][int(b[0])%len(nameWords[0])], nameWords[1][int(b[1])%len(nameWords[1])], int(b[2])%1000)
}

func setRunTag(ctx context.Context, tx *db.Tx, runID string, t domain.Tag) error {
	if _, err := tx.Exec(ctx, `DELETE FROM mlflow_run_tags WHERE run_uuid = ? AND tag_key = ?`, runID, t.Key); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO mlflow_run_tags (run_uuid, tag_key, tag_value) VALUES (?, ?, ?)`, runID, t.Key, t.Value)
	return err
}

const runCols = `run_uuid, name, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri`

// qualifiedRunCols are runCols on the alias r, for queries that join other tables.
const qualifiedRunCols = `r.run_uuid, r.name, r.experiment_id, r.user_id, r.status, r.start_time, r.end_time, r.lifecycle_stage, r.artifact_uri`

func scanRunInfo(sc interface{ Scan(...any) error }) (domain.RunInfo, error) {
	var r domain.RunInfo
	var exp int64
	var end sql.NullInt64
	if err := sc.Scan(&r.RunID, &r.RunName, &exp, &r.UserID, &r.Status, &r.StartTime, &end, &r.LifecycleStage, &r.ArtifactURI); err != nil {
		return r, err
	}
	r.ExperimentID = strconv.FormatInt(exp, 10)
	if end.Valid {
		v := end.Int64
		r.EndTime = &v
	}
	return r, nil
}

func getRunInfo(ctx context.Context, q querier, id string) (domain.RunInfo, error) {
	r, err := scanRunInfo(q.QueryRow(ctx, `SELECT `+runCols+` FROM mlflow_runs WHERE run_uuid = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, domain.NotFound("Run with id=%s not found", id)
	}
	return r, err
}

// activeRun loads and locks a run (writes to one run are serialised, which keeps the latest-metric and
// param checks race-free without gap-lock deadlocks) and checks it can be written to.
func activeRun(ctx context.Context, tx *db.Tx, id string) (domain.RunInfo, error) {
	r, err := scanRunInfo(tx.QueryRow(ctx, `SELECT `+runCols+` FROM mlflow_runs WHERE run_uuid = ?`+lockClause(tx.Dialect), id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, domain.NotFound("Run with id=%s not found", id)
	}
	if err != nil {
		return r, err
	}
	if r.LifecycleStage != domain.StageActive {
		return r, domain.Invalid("The run %s must be in the 'active' state. Current state is %s.", id, r.LifecycleStage)
	}
	return r, nil
}

// GetRun returns a run with its latest metrics, params and tags.
func (s *Store) GetRun(ctx context.Context, id string) (domain.Run, error) {
	info, err := getRunInfo(ctx, s.db, id)
	if err != nil {
		return domain.Run{}, internal(err, "get run")
	}
	runs, err := s.loadRunData(ctx, []domain.RunInfo{info})
	if err != nil {
		return domain.Run{}, internal(err, "get run data")
	}
	return runs[0], nil
}

// loadRunData loads tags, params and latest metrics of runs, in chunks that stay under every dialect's
// placeholder limit.
func (s *Store) loadRunData(ctx context.Context, infos []domain.RunInfo) ([]domain.Run, error) {
	const chunk = 500
	out := make([]domain.Run, 0, len(infos))
	for i := 0; i < len(infos) || i == 0; i += chunk {
		part, err := s.loadRunDataChunk(ctx, infos[i:min(i+chunk, len(infos))])
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	return out, nil
}

func (s *Store) loadRunDataChunk(ctx context.Context, infos []domain.RunInfo) ([]domain.Run, error) {
	out := make([]domain.Run, len(infos))
	if len(infos) == 0 {
		return out, nil
	}
	idx := make(map[string]int, len(infos))
	args := make([]any, len(infos))
	for i, r := range infos {
		out[i].Info = r
		idx[r.RunID] = i
		args[i] = r.RunID
	}
	in := `(` + db.Placeholders(len(infos)) + `)`
	// The three reads run side by side on separate connections: a page of 100 runs × 100 metrics and params
	// is 20,000 rows, and row decoding, not the lookups, is what a page costs.
	loads := []struct {
		query string
		scan  func(rows *sql.Rows) error
	}{
		{`SELECT run_uuid, tag_key, tag_value FROM mlflow_run_tags WHERE run_uuid IN ` + in, func(rows *sql.Rows) error {
			var id string
			var t domain.Tag
			if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
				return err
			}
			out[idx[id]].Tags = append(out[idx[id]].Tags, t)
			return nil
		}},
		{`SELECT run_uuid, param_key, param_value FROM mlflow_params WHERE run_uuid IN ` + in, func(rows *sql.Rows) error {
			var id string
			var p domain.Param
			if err := rows.Scan(&id, &p.Key, &p.Value); err != nil {
				return err
			}
			out[idx[id]].Params = append(out[idx[id]].Params, p)
			return nil
		}},
		{`SELECT run_uuid, metric_key, metric_value, ts, step, is_nan FROM mlflow_latest_metrics WHERE run_uuid IN ` + in, func(rows *sql.Rows) error {
			var id string
			m, err := scanMetric(rows, &id)
			if err != nil {
				return err
			}
			out[idx[id]].Metrics = append(out[idx[id]].Metrics, m)
			return nil
		}},
	}
	errs := make([]error, len(loads))
	var wg sync.WaitGroup
	for i, l := range loads {
		wg.Go(func() {
			// Each load writes only its own field of the runs.
			rows, err := s.db.Query(ctx, l.query, args...)
			if err != nil {
				errs[i] = err
				return
			}
			defer rows.Close()
			for rows.Next() {
				if err := l.scan(rows); err != nil {
					errs[i] = err
					return
				}
			}
			errs[i] = rows.Err()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Byte-wise key order on every dialect (PostgreSQL's ORDER BY follows the database collation).
	for i := range out {
		sortByKey(out[i].Tags, func(t domain.Tag) string { return t.Key })
		sortByKey(out[i].Params, func(p domain.Param) string { return p.Key })
		sortByKey(out[i].Metrics, func(m domain.Metric) string { return m.Key })
	}
	return out, nil
}

func sortByKey[T any](s []T, key func(T) string) {
	sort.SliceStable(s, func(i, j int) bool { return key(s[i]) < key(s[j]) })
}

func scanMetric(sc interface{ Scan(...any) error }, runID *string) (domain.Metric, error) {
	var m domain.Metric
	var isNaN bool
	if err := sc.Scan(runID, &m.Key, &m.Value, &m.Timestamp, &m.Step, &isNaN); err != nil {
		return m, err
	}
	if isNaN {
		m.Value = nan()
	}
	return m, nil
}

// UpdateRunInput is what runs/update carries; nil fields are left unchanged.
type UpdateRunInput struct {
	RunID   string
	Status  *string
	EndTime *int64
	RunName *string
}

// UpdateRun updates an active run's status, end time or name and returns its info.
func (s *Store) UpdateRun(ctx context.Context, in UpdateRunInput) (domain.RunInfo, error) {
	if in.Status != nil && !domain.ValidStatus(*in.Status) {
		return domain.RunInfo{}, apierr.InvalidField("status", "Invalid value %q for parameter 'status'", *in.Status)
	}
	if in.RunName != nil {
		if err := domain.ValidateRunName(*in.RunName); err != nil {
			return domain.RunInfo{}, err
		}
	}
	var info domain.RunInfo
	err := s.retry(ctx, func(tx *db.Tx) error {
		r, err := activeRun(ctx, tx, in.RunID)
		if err != nil {
			return err
		}
		if in.Status != nil {
			r.Status = *in.Status
		}
		if in.EndTime != nil {
			v := *in.EndTime
			r.EndTime = &v
		}
		if in.RunName != nil && *in.RunName != "" {
			r.RunName = *in.RunName
			if err := setRunTag(ctx, tx, r.RunID, domain.Tag{Key: domain.TagRunName, Value: r.RunName}); err != nil {
				return err
			}
		}
		var end any
		if r.EndTime != nil {
			end = *r.EndTime
		}
		if _, err := tx.Exec(ctx, `UPDATE mlflow_runs SET status = ?, end_time = ?, name = ? WHERE run_uuid = ?`, r.Status, end, r.RunName, r.RunID); err != nil {
			return err
		}
		info = r
		return nil
	})
	return info, internal(err, "update run")
}

// SetRunStage deletes or restores a run.
func (s *Store) SetRunStage(ctx context.Context, id, stage string) error {
	err := s.retry(ctx, func(tx *db.Tx) error {
		r, err := getRunInfo(ctx, tx, id)
		if err != nil {
			return err
		}
		if stage == domain.StageActive && r.LifecycleStage != domain.StageDeleted {
			return domain.Invalid("The run %s must be in the 'deleted' state. Current state is %s.", id, r.LifecycleStage)
		}
		var deleted any
		if stage == domain.StageDeleted {
			deleted = s.nowMillis()
		}
		_, err = tx.Exec(ctx, `UPDATE mlflow_runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?`, stage, deleted, id)
		return err
	})
	return internal(err, "update run lifecycle")
}

// SetTag sets (overwrites) a tag on an active run; setting mlflow.runName also renames the run.
func (s *Store) SetTag(ctx context.Context, runID string, t domain.Tag) error {
	return s.LogBatch(ctx, runID, nil, nil, []domain.Tag{t})
}

// DeleteTag deletes a tag of an active run; a missing tag is RESOURCE_DOES_NOT_EXIST.
func (s *Store) DeleteTag(ctx context.Context, runID, key string) error {
	err := s.retry(ctx, func(tx *db.Tx) error {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM mlflow_run_tags WHERE run_uuid = ? AND tag_key = ?`, runID, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return domain.NotFound("No tag with name: %s in run with id %s", key, runID)
		}
		return nil
	})
	return internal(err, "delete tag")
}

// LogMetric appends one metric point.
func (s *Store) LogMetric(ctx context.Context, runID string, m domain.Metric) error {
	return s.LogBatch(ctx, runID, []domain.Metric{m}, nil, nil)
}

// LogParam logs a param (immutable: the same value again is fine, a different one is INVALID_PARAMETER_VALUE).
func (s *Store) LogParam(ctx context.Context, runID string, p domain.Param) error {
	return s.LogBatch(ctx, runID, nil, []domain.Param{p}, nil)
}

// LogBatch writes metrics, params and tags to an active run in one transaction: on any error nothing is written.
func (s *Store) LogBatch(ctx context.Context, runID string, metrics []domain.Metric, params []domain.Param, tags []domain.Tag) error {
	if err := domain.ValidateBatch(metrics, params, tags); err != nil {
		return err
	}
	err := s.retry(ctx, func(tx *db.Tx) error {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return err
		}
		if err := logParams(ctx, tx, runID, params); err != nil {
			return err
		}
		for _, t := range tags {
			if err := setRunTag(ctx, tx, runID, t); err != nil {
				return err
			}
			if t.Key == domain.TagRunName {
				if _, err := tx.Exec(ctx, `UPDATE mlflow_runs SET name = ? WHERE run_uuid = ?`, t.Value, runID); err != nil {
					return err
				}
			}
		}
		return logMetrics(ctx, tx, runID, metrics)
	})
	return internal(err, "log batch")
}

// after reports whether a is newer than b by (step, timestamp, value), MLflow's latest-metric order; NaN
// sorts below every number.
func after(a, b domain.Metric) bool {
	if a.Step != b.Step {
		return a.Step > b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	if isNaN(b.Value) {
		return !isNaN(a.Value)
	}
	return !isNaN(a.Value) && a.Value > b.Value
}

// MetricHistory returns up to limit points of a run's metric series from offset, ordered by (step, timestamp),
// and whether more follow.
func (s *Store) MetricHistory(ctx context.Context, runID, key string, limit, offset int) ([]domain.Metric, bool, error) {
	if _, err := getRunInfo(ctx, s.db, runID); err != nil {
		return nil, false, internal(err, "get metric history")
	}
	rows, err := s.db.Query(ctx, `SELECT run_uuid, metric_key, metric_value, ts, step, is_nan FROM mlflow_metrics WHERE run_uuid = ? AND metric_key = ? ORDER BY step, ts, is_nan, metric_value`+
		s.db.Dialect.LimitOffset(limit+1, offset), runID, key)
	if err != nil {
		return nil, false, internal(err, "get metric history")
	}
	defer rows.Close()
	var out []domain.Metric
	for rows.Next() {
		var id string
		m, err := scanMetric(rows, &id)
		if err != nil {
			return nil, false, internal(err, "get metric history")
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, internal(err, "get metric history")
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// SearchRuns returns up to limit runs of the experiments and view from offset, ordered by start_time desc then
// run id, and whether more follow.
func (s *Store) SearchRuns(ctx context.Context, experimentIDs []string, view string, limit, offset int) ([]domain.Run, bool, error) {
	return s.SearchRunsFiltered(ctx, experimentIDs, view, search.Filter{}, nil, limit, offset)
}

// SearchRunsFiltered is SearchRuns with an MLflow filter (metrics/params/tags/attributes comparisons) and
// order_by keys; the default order (start_time DESC, run id) breaks ties so pages are stable.
func (s *Store) SearchRunsFiltered(ctx context.Context, experimentIDs []string, view string, filter search.Filter, order []search.OrderKey, limit, offset int) ([]domain.Run, bool, error) {
	if len(experimentIDs) == 0 {
		return nil, false, nil
	}
	args := make([]any, 0, len(experimentIDs)+1)
	for _, id := range experimentIDs {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, false, apierr.InvalidField("experiment_ids", "Invalid experiment id %q", id)
		}
		args = append(args, n)
	}
	clause, more := stageClause(view)
	args = append(args, more...)
	clause = strings.ReplaceAll(clause, "lifecycle_stage", "r.lifecycle_stage")
	where, whereArgs := search.TrackingSchema.FilterSQL(filter, s.db.Dialect, "r")
	if where != "" {
		clause += " AND " + where
	}
	joins, orderBy, joinArgs := search.TrackingSchema.OrderSQL(order, s.db.Dialect, "r")
	// Placeholders appear in the order: joins, experiment ids + stage, filter.
	all := append(append(joinArgs, args...), whereArgs...)
	rows, err := s.db.Query(ctx, `SELECT `+qualifiedRunCols+` FROM mlflow_runs r `+joins+` WHERE r.experiment_id IN (`+
		db.Placeholders(len(experimentIDs))+`)`+clause+` ORDER BY `+orderBy+s.db.Dialect.LimitOffset(limit+1, offset), all...)
	if err != nil {
		return nil, false, internal(err, "search runs")
	}
	var infos []domain.RunInfo
	for rows.Next() {
		r, err := scanRunInfo(rows)
		if err != nil {
			rows.Close()
			return nil, false, internal(err, "search runs")
		}
		infos = append(infos, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, internal(err, "search runs")
	}
	hasMore := len(infos) > limit
	if hasMore {
		infos = infos[:limit]
	}
	runs, err := s.loadRunData(ctx, infos)
	if err != nil {
		return nil, false, internal(err, "search runs data")
	}
	return runs, hasMore, nil
}
