package store

import (
	"context"
	"sort"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
)

// batchRows bounds the rows of one multi-row statement (6 columns × 500 rows stays far below every dialect's
// placeholder limit).
const batchRows = 500

// insertRows renders a multi-row INSERT of n rows into table; ignoreDup makes rows whose primary key exists
// no-ops (MLflow logs an identical metric point idempotently).
func insertRows(d db.Dialect, table string, cols []string, n int, ignoreDup bool) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	row := "(" + db.Placeholders(len(cols)) + ")"
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	if ignoreDup {
		if d == db.MySQL {
			b.WriteString(" ON DUPLICATE KEY UPDATE " + cols[0] + " = " + cols[0])
		} else {
			b.WriteString(" ON CONFLICT DO NOTHING")
		}
	}
	return b.String()
}

// execChunks runs a multi-row statement per batchRows rows; row(i) returns the i-th row's values.
func execChunks(ctx context.Context, tx *db.Tx, table string, cols []string, n int, ignoreDup bool, row func(i int) []any) error {
	for start := 0; start < n; start += batchRows {
		end := min(start+batchRows, n)
		args := make([]any, 0, (end-start)*len(cols))
		for i := start; i < end; i++ {
			args = append(args, row(i)...)
		}
		if _, err := tx.Exec(ctx, insertRows(tx.Dialect, table, cols, end-start, ignoreDup), args...); err != nil {
			return err
		}
	}
	return nil
}

// keyArgs returns runID followed by keys, for `run_uuid = ? AND <key> IN (...)` lookups.
func keyArgs(runID string, keys []string) []any {
	args := make([]any, 0, len(keys)+1)
	args = append(args, runID)
	for _, k := range keys {
		args = append(args, k)
	}
	return args
}

// logParams inserts the params a run does not have yet in one statement per chunk. Params are immutable: a key
// already logged with another value is INVALID_PARAMETER_VALUE and nothing is written (the caller's
// transaction rolls back). The batch itself has no conflicting duplicates (domain.ValidateBatch).
func logParams(ctx context.Context, tx *db.Tx, runID string, params []domain.Param) error {
	if len(params) == 0 {
		return nil
	}
	want := make(map[string]string, len(params))
	keys := make([]string, 0, len(params))
	for _, p := range params {
		if _, dup := want[p.Key]; !dup {
			keys = append(keys, p.Key)
		}
		want[p.Key] = p.Value
	}
	sort.Strings(keys)
	existing := make(map[string]bool, len(keys))
	for start := 0; start < len(keys); start += batchRows {
		part := keys[start:min(start+batchRows, len(keys))]
		rows, err := tx.Query(ctx, `SELECT param_key, param_value FROM mlflow_params WHERE run_uuid = ? AND param_key IN (`+
			db.Placeholders(len(part))+`)`, keyArgs(runID, part)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k, old string
			if err := rows.Scan(&k, &old); err != nil {
				rows.Close()
				return err
			}
			if old != want[k] {
				rows.Close()
				return apierr.InvalidField("params", "Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.", k, old, runID, want[k])
			}
			existing[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	fresh := keys[:0:0]
	for _, k := range keys {
		if !existing[k] {
			fresh = append(fresh, k)
		}
	}
	return execChunks(ctx, tx, "mlflow_params", []string{"run_uuid", "param_key", "param_value"}, len(fresh), false,
		func(i int) []any { return []any{runID, fresh[i], want[fresh[i]]} })
}

// logMetrics appends the points to the run's metric series (an identical point is a no-op) and moves each
// key's latest value forward by (step, timestamp, value): one multi-row insert per chunk for the series, one
// lookup for the current latest values, one insert for new keys and an update per key that moved.
func logMetrics(ctx context.Context, tx *db.Tx, runID string, metrics []domain.Metric) error {
	if len(metrics) == 0 {
		return nil
	}
	type point struct {
		value float64
		nan   bool
	}
	stored := make([]point, len(metrics))
	latest := map[string]domain.Metric{}
	var keys []string
	for i, m := range metrics {
		v, nanFlag := domain.StoredValue(m.Value)
		stored[i] = point{v, nanFlag}
		s := m
		if nanFlag {
			s.Value = nan()
		} else {
			s.Value = v
		}
		if cur, ok := latest[m.Key]; !ok || after(s, cur) {
			if !ok {
				keys = append(keys, m.Key)
			}
			latest[m.Key] = s
		}
	}
	cols := []string{"run_uuid", "metric_key", "metric_value", "ts", "step", "is_nan"}
	if err := execChunks(ctx, tx, "mlflow_metrics", cols, len(metrics), true, func(i int) []any {
		m := metrics[i]
		return []any{runID, m.Key, stored[i].value, m.Timestamp, m.Step, stored[i].nan}
	}); err != nil {
		return err
	}
	sort.Strings(keys)
	current := make(map[string]domain.Metric, len(keys))
	for start := 0; start < len(keys); start += batchRows {
		part := keys[start:min(start+batchRows, len(keys))]
		rows, err := tx.Query(ctx, `SELECT run_uuid, metric_key, metric_value, ts, step, is_nan FROM mlflow_latest_metrics WHERE run_uuid = ? AND metric_key IN (`+
			db.Placeholders(len(part))+`)`, keyArgs(runID, part)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			m, err := scanMetric(rows, &id)
			if err != nil {
				rows.Close()
				return err
			}
			current[m.Key] = m
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	var fresh []string
	for _, k := range keys {
		m := latest[k]
		cur, ok := current[k]
		switch {
		case !ok:
			fresh = append(fresh, k)
		case after(m, cur):
			v, nanFlag := domain.StoredValue(m.Value)
			if _, err := tx.Exec(ctx, `UPDATE mlflow_latest_metrics SET metric_value = ?, ts = ?, step = ?, is_nan = ? WHERE run_uuid = ? AND metric_key = ?`,
				v, m.Timestamp, m.Step, nanFlag, runID, k); err != nil {
				return err
			}
		}
	}
	return execChunks(ctx, tx, "mlflow_latest_metrics", cols, len(fresh), false, func(i int) []any {
		m := latest[fresh[i]]
		v, nanFlag := domain.StoredValue(m.Value)
		return []any{runID, m.Key, v, m.Timestamp, m.Step, nanFlag}
	})
}
