package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sort"
	"strconv"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
)

// This file holds the tracking API's later additions: dataset inputs (runs/log-inputs), logged-model history
// (runs/log-model) and bulk metric history (metrics/get-history-bulk[-interval]).
//
// Datasets are shared by the runs of one experiment and deduplicated by (name, digest); an input links one
// dataset to one run (at most once) and carries the input's tags. Inputs keep the order they were logged in.

// LogInputs records dataset inputs of an active run in one transaction. A dataset whose (name, digest) already
// exists in the run's experiment is reused as stored; a dataset already linked to the run is skipped (its
// input tags are not changed), as in MLflow's SQL store. Within one request the first occurrence of a
// (name, digest) wins, and a repeated input tag key keeps its last value.
func (s *Store) LogInputs(ctx context.Context, runID string, inputs []domain.DatasetInput) error {
	if err := domain.ValidateDatasetInputs(inputs); err != nil {
		return err
	}
	err := s.retry(ctx, func(tx *db.Tx) error {
		run, err := activeRun(ctx, tx, runID)
		if err != nil {
			return err
		}
		exp, err := strconv.ParseInt(run.ExperimentID, 10, 64)
		if err != nil {
			return err
		}
		var pos int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(input_position), -1) + 1 FROM mlflow_inputs WHERE run_uuid = ?`, runID).Scan(&pos); err != nil {
			return err
		}
		seen := map[[2]string]bool{}
		for _, in := range inputs {
			d := in.Dataset
			k := [2]string{d.Name, d.Digest}
			if seen[k] {
				continue
			}
			seen[k] = true
			var dsID string
			err := tx.QueryRow(ctx, `SELECT dataset_uuid FROM mlflow_datasets WHERE experiment_id = ? AND name = ? AND digest = ?`, exp, d.Name, d.Digest).Scan(&dsID)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				dsID = newRunID()
				if _, err := tx.Exec(ctx, `INSERT INTO mlflow_datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type, dataset_source, dataset_schema, dataset_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
					dsID, exp, d.Name, d.Digest, d.SourceType, d.Source, optString(d.Schema), optString(d.Profile)); err != nil {
					return err
				}
			case err != nil:
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM mlflow_inputs WHERE run_uuid = ? AND dataset_uuid = ?`, runID, dsID).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			inputID := newRunID()
			if _, err := tx.Exec(ctx, `INSERT INTO mlflow_inputs (input_uuid, dataset_uuid, run_uuid, input_position) VALUES (?, ?, ?, ?)`, inputID, dsID, runID, pos); err != nil {
				return err
			}
			pos++
			tags := map[string]string{}
			var keys []string
			for _, t := range in.Tags {
				if _, ok := tags[t.Key]; !ok {
					keys = append(keys, t.Key)
				}
				tags[t.Key] = t.Value
			}
			for _, key := range keys {
				if _, err := tx.Exec(ctx, `INSERT INTO mlflow_input_tags (input_uuid, tag_key, tag_value) VALUES (?, ?, ?)`, inputID, key, tags[key]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return internal(err, "log inputs")
}

func optString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// RunInputs returns the dataset inputs of runs (in the order they were logged, input tags by key), keyed by run
// id; runs without inputs are absent.
func (s *Store) RunInputs(ctx context.Context, runIDs []string) (map[string][]domain.DatasetInput, error) {
	out := map[string][]domain.DatasetInput{}
	const chunk = 500
	for i := 0; i < len(runIDs); i += chunk {
		if err := s.runInputsChunk(ctx, runIDs[i:min(i+chunk, len(runIDs))], out); err != nil {
			return nil, internal(err, "load run inputs")
		}
	}
	return out, nil
}

func (s *Store) runInputsChunk(ctx context.Context, runIDs []string, out map[string][]domain.DatasetInput) error {
	args := make([]any, len(runIDs))
	for i, id := range runIDs {
		args[i] = id
	}
	in := `(` + db.Placeholders(len(runIDs)) + `)`
	rows, err := s.db.Query(ctx, `SELECT i.run_uuid, i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, d.dataset_schema, d.dataset_profile
		FROM mlflow_inputs i JOIN mlflow_datasets d ON d.dataset_uuid = i.dataset_uuid WHERE i.run_uuid IN `+in+` ORDER BY i.run_uuid, i.input_position`, args...)
	if err != nil {
		return err
	}
	type ref struct {
		run string
		idx int
	}
	byInput := map[string]ref{}
	for rows.Next() {
		var runID, inputID string
		var d domain.Dataset
		var schema, profile sql.NullString
		if err := rows.Scan(&runID, &inputID, &d.Name, &d.Digest, &d.SourceType, &d.Source, &schema, &profile); err != nil {
			rows.Close()
			return err
		}
		if schema.Valid {
			d.Schema = &schema.String
		}
		if profile.Valid {
			d.Profile = &profile.String
		}
		byInput[inputID] = ref{runID, len(out[runID])}
		out[runID] = append(out[runID], domain.DatasetInput{Dataset: d})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(byInput) == 0 {
		return nil
	}
	rows, err = s.db.Query(ctx, `SELECT t.input_uuid, t.tag_key, t.tag_value FROM mlflow_input_tags t JOIN mlflow_inputs i ON i.input_uuid = t.input_uuid WHERE i.run_uuid IN `+in, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var inputID string
		var t domain.InputTag
		if err := rows.Scan(&inputID, &t.Key, &t.Value); err != nil {
			return err
		}
		if r, ok := byInput[inputID]; ok {
			out[r.run][r.idx].Tags = append(out[r.run][r.idx].Tags, t)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, ins := range out {
		for i := range ins {
			sort.Slice(ins[i].Tags, func(a, b int) bool { return ins[i].Tags[a].Key < ins[i].Tags[b].Key })
		}
	}
	return nil
}

// LogModel appends model (a JSON object, MLflow's Model.to_dict()) to the run's mlflow.log-model.history tag,
// a JSON list, under the run's row lock so concurrent calls never lose an entry. The resulting tag value must
// fit MLflow's tag value limit.
func (s *Store) LogModel(ctx context.Context, runID string, model json.RawMessage) error {
	var compact bytes.Buffer
	if err := json.Compact(&compact, model); err != nil || len(bytes.TrimSpace(model)) == 0 || bytes.TrimSpace(model)[0] != '{' {
		return apierr.InvalidField("model_json", "model_json must be a JSON object")
	}
	err := s.retry(ctx, func(tx *db.Tx) error {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return err
		}
		var history []json.RawMessage
		var old string
		err := tx.QueryRow(ctx, `SELECT tag_value FROM mlflow_run_tags WHERE run_uuid = ? AND tag_key = ?`, runID, domain.TagLoggedModels).Scan(&old)
		switch {
		case err == nil:
			if jerr := json.Unmarshal([]byte(old), &history); jerr != nil {
				return domain.Invalid("The run's %s tag is not a JSON list; cannot append the model", domain.TagLoggedModels)
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		history = append(history, json.RawMessage(compact.Bytes()))
		value, err := json.Marshal(history)
		if err != nil {
			return err
		}
		tag := domain.Tag{Key: domain.TagLoggedModels, Value: string(value)}
		if err := domain.ValidateTag(tag); err != nil {
			return err
		}
		return setRunTag(ctx, tx, runID, tag)
	})
	return internal(err, "log model")
}

// RunMetric is a metric point with the run it belongs to.
type RunMetric struct {
	RunID string
	domain.Metric
}

// MetricHistoryBulk returns up to limit points of key over runs (sorted by run id, each run's points in
// (step, timestamp) order, at most limit from each run and limit in all). Unknown runs contribute nothing, as
// in MLflow.
func (s *Store) MetricHistoryBulk(ctx context.Context, runIDs []string, key string, limit int) ([]RunMetric, error) {
	var out []RunMetric
	for _, id := range sortedUnique(runIDs) {
		if len(out) >= limit {
			break
		}
		ms, _, err := s.metricPoints(ctx, id, key, limit-len(out))
		if err != nil {
			return nil, internal(err, "get metric history bulk")
		}
		out = append(out, ms...)
	}
	return out, nil
}

func sortedUnique(ids []string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	n := 0
	for i, id := range out {
		if i == 0 || id != out[n-1] {
			out[n] = id
			n++
		}
	}
	return out[:n]
}

func (s *Store) metricPoints(ctx context.Context, runID, key string, limit int) ([]RunMetric, bool, error) {
	rows, err := s.db.Query(ctx, `SELECT run_uuid, metric_key, metric_value, ts, step, is_nan FROM mlflow_metrics WHERE run_uuid = ? AND metric_key = ? ORDER BY step, ts, is_nan, metric_value`+
		s.db.Dialect.LimitOffset(limit, 0), runID, key)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []RunMetric
	for rows.Next() {
		var rm RunMetric
		if rm.Metric, err = scanMetric(rows, &rm.RunID); err != nil {
			return nil, false, err
		}
		out = append(out, rm)
	}
	return out, false, rows.Err()
}

// MetricHistoryInterval is metrics/get-history-bulk-interval: it samples at most maxResults steps of key
// across runs (within [start, end] when both are given), always keeping every run's first and last step in
// range, and returns the points at those steps, sorted by run id then (step, timestamp). Unknown runs
// contribute nothing.
func (s *Store) MetricHistoryInterval(ctx context.Context, runIDs []string, key string, start, end *int64, maxResults int) ([]RunMetric, error) {
	ids := sortedUnique(runIDs)
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{key}
	for _, id := range ids {
		args = append(args, id)
	}
	where := `metric_key = ? AND run_uuid IN (` + db.Placeholders(len(ids)) + `)`
	if start != nil && end != nil {
		where += ` AND step >= ? AND step <= ?`
		args = append(args, *start, *end)
	}
	steps, err := s.int64s(ctx, `SELECT DISTINCT step FROM mlflow_metrics WHERE `+where+` ORDER BY step`, args...)
	if err != nil {
		return nil, internal(err, "get metric history interval")
	}
	if len(steps) == 0 {
		return nil, nil
	}
	bounds, err := s.int64s(ctx, `SELECT MIN(step) FROM mlflow_metrics WHERE `+where+` GROUP BY run_uuid UNION SELECT MAX(step) FROM mlflow_metrics WHERE `+where+` GROUP BY run_uuid`,
		append(append([]any(nil), args...), args...)...)
	if err != nil {
		return nil, internal(err, "get metric history interval")
	}
	sampled := SampleSteps(steps, bounds, maxResults)
	qargs := []any{key}
	for _, id := range ids {
		qargs = append(qargs, id)
	}
	for _, st := range sampled {
		qargs = append(qargs, st)
	}
	// Each run returns at most perRun points: every sampled step once, more only when a step holds several
	// points (then the earliest timestamps win).
	perRun := max(len(sampled), maxResults)
	rows, err := s.db.Query(ctx, `SELECT run_uuid, metric_key, metric_value, ts, step, is_nan FROM mlflow_metrics WHERE metric_key = ? AND run_uuid IN (`+
		db.Placeholders(len(ids))+`) AND step IN (`+db.Placeholders(len(sampled))+`) ORDER BY run_uuid, step, ts, is_nan, metric_value`, qargs...)
	if err != nil {
		return nil, internal(err, "get metric history interval")
	}
	defer rows.Close()
	var out []RunMetric
	count := map[string]int{}
	for rows.Next() {
		var rm RunMetric
		if rm.Metric, err = scanMetric(rows, &rm.RunID); err != nil {
			return nil, internal(err, "get metric history interval")
		}
		if count[rm.RunID]++; count[rm.RunID] <= perRun {
			out = append(out, rm)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, internal(err, "get metric history interval")
	}
	// Run ids are hex; sort byte-wise so the order does not depend on the database collation.
	sort.SliceStable(out, func(i, j int) bool { return out[i].RunID < out[j].RunID })
	return out, nil
}

func (s *Store) int64s(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// SampleSteps picks at most max steps spread evenly over steps (sorted, distinct), first and last included,
// plus every step in keep (each run's first and last step). The result is sorted and distinct.
func SampleSteps(steps, keep []int64, max int) []int64 {
	set := map[int64]bool{}
	for _, k := range keep {
		set[k] = true
	}
	if len(steps) <= max {
		for _, st := range steps {
			set[st] = true
		}
	} else if max == 1 {
		set[steps[0]] = true
	} else {
		n := len(steps)
		for i := 0; i < max; i++ {
			set[steps[i*(n-1)/(max-1)]] = true
		}
	}
	out := make([]int64, 0, len(set))
	for st := range set {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
