package search

import (
	"fmt"
	"strings"

	"github.com/darwinml/darwin/pkg/db"
)

// String matching semantics, identical on every dialect:
//
//	=, !=, IN, NOT IN   exact, case-sensitive
//	LIKE                case-sensitive pattern; % any run, _ one character, \ escapes the next character
//	ILIKE               case-insensitive pattern (same wildcards and escape)
//
// How each dialect gets there:
//
//	             =, !=, IN            LIKE                         ILIKE
//	sqlite       col = ?              col GLOB ?  (pattern         LOWER(col) LIKE LOWER(?) ESCAPE '\'
//	                                  rewritten LIKE→GLOB)
//	mysql        CAST(col AS BINARY)  CAST(col AS BINARY) LIKE ?   LOWER(col) LIKE LOWER(?)
//	             = ?                  (binary ⇒ case-sensitive)    (default escape is \)
//	postgres     col = ?              col LIKE ?                   col ILIKE ?
//
// SQLite's LIKE ignores ASCII case, so case-sensitive LIKE uses GLOB with the pattern translated (% → *,
// _ → ?, GLOB metacharacters * ? [ bracketed, \x → literal x). MySQL compares with the column's collation,
// usually case-insensitive, so case-sensitive operators compare the column as a binary string. SQLite's LOWER
// folds ASCII only; the others fold Unicode.
//
// Each metric/param/tag comparison becomes a correlated EXISTS subquery (aliases f0, f1, ... — runAlias must
// not be one of them nor o0, o1, ...). EXISTS keeps one row per run without DISTINCT, composes with AND
// trivially and, like MLflow's inner joins, never matches runs lacking the key (so `!=` does not match them).

// Table names a key/value table and its columns.
//
// NaN optionally names a boolean column flagging NaN metric values (whose Value column then holds a
// placeholder). When set, a NaN metric fails every comparison except != (IEEE semantics), and sorts after all
// numbers but before runs lacking the metric, in either direction.
type Table struct {
	Name, Key, Value string
	NaN              string
}

// Schema names the tables and columns the SQL is generated against. Every table is joined to runs on a
// run_uuid column.
type Schema struct {
	Runs    string            // runs table
	Columns map[string]string // attribute name (run_id, status, run_name, ...) → runs column
	Metrics Table             // latest metric value per (run, key)
	Params  Table
	Tags    Table
}

// DefaultSchema is the schema agreed for the tracking store:
//
//	runs(run_uuid, experiment_id, name, status, user_id, start_time, end_time, artifact_uri, lifecycle_stage)
//	latest_metrics(run_uuid, key, value, timestamp, step)
//	params(run_uuid, key, value)
//	tags(run_uuid, key, value)
//
// Filter.SQL and OrderSQL use it.
var DefaultSchema = Schema{
	Runs: "runs",
	Columns: map[string]string{
		"run_id": "run_uuid", "status": "status", "run_name": "name", "user_id": "user_id",
		"artifact_uri": "artifact_uri", "lifecycle_stage": "lifecycle_stage",
		"start_time": "start_time", "end_time": "end_time",
	},
	Metrics: Table{Name: "latest_metrics", Key: "key", Value: "value"},
	Params:  Table{Name: "params", Key: "key", Value: "value"},
	Tags:    Table{Name: "tags", Key: "key", Value: "value"},
}

// TrackingSchema matches services/mlflow/migrations/*/0001_tracking.up.sql as written (mlflow_-prefixed tables,
// prefixed key/value columns). Use it with Schema.FilterSQL / Schema.OrderSQL if the store keeps those names.
var TrackingSchema = Schema{
	Runs:    "mlflow_runs",
	Columns: DefaultSchema.Columns,
	Metrics: Table{Name: "mlflow_latest_metrics", Key: "metric_key", Value: "metric_value", NaN: "is_nan"},
	Params:  Table{Name: "mlflow_params", Key: "param_key", Value: "param_value"},
	Tags:    Table{Name: "mlflow_run_tags", Key: "tag_key", Value: "tag_value"},
}

func (s Schema) table(e Entity) Table {
	switch e {
	case Metric:
		return s.Metrics
	case Param:
		return s.Params
	default:
		return s.Tags
	}
}

// SQL is DefaultSchema.FilterSQL(f, d, runAlias).
func (f Filter) SQL(d db.Dialect, runAlias string) (string, []any) {
	return DefaultSchema.FilterSQL(f, d, runAlias)
}

// OrderSQL is DefaultSchema.OrderSQL(keys, d, runAlias).
func OrderSQL(keys []OrderKey, d db.Dialect, runAlias string) (joins string, orderBy string, args []any) {
	return DefaultSchema.OrderSQL(keys, d, runAlias)
}

// FilterSQL renders the filter as a WHERE fragment with ? placeholders (pkg/db rebinds them for PostgreSQL), and
// its arguments in order. runAlias is the alias of the runs table in the enclosing query. The empty filter
// yields "" and no arguments.
func (s Schema) FilterSQL(f Filter, d db.Dialect, runAlias string) (string, []any) {
	var parts []string
	var args []any
	for i, c := range f.Comparisons {
		if c.Entity == Attribute {
			cond, cargs := condition(d, runAlias+"."+s.Columns[c.Key], c)
			parts = append(parts, cond)
			args = append(args, cargs...)
			continue
		}
		t := s.table(c.Entity)
		cond, cargs := condition(d, fmt.Sprintf("f%d.%s", i, t.Value), c)
		if c.Entity == Metric && t.NaN != "" {
			nan := fmt.Sprintf("f%d.%s", i, t.NaN)
			if c.Op == OpNe {
				cond = "(" + nan + " OR " + cond + ")"
			} else {
				cond = "NOT " + nan + " AND " + cond
			}
		}
		sub := fmt.Sprintf("EXISTS (SELECT 1 FROM %s f%d WHERE f%d.run_uuid = %s.run_uuid AND f%d.%s = ? AND %s)",
			t.Name, i, i, runAlias, i, t.Key, cond)
		parts = append(parts, sub)
		args = append(args, c.Key)
		args = append(args, cargs...)
	}
	return strings.Join(parts, " AND "), args
}

// condition renders one comparison against column expression col.
func condition(d db.Dialect, col string, c Comparison) (string, []any) {
	switch v := c.Value.(type) {
	case float64, int64:
		return fmt.Sprintf("%s %s ?", col, c.Op), []any{v}
	case []string:
		args := make([]any, len(v))
		for i, s := range v {
			args[i] = s
		}
		return fmt.Sprintf("%s %s (%s)", exactCol(d, col), c.Op, db.Placeholders(len(v))), args
	case string:
		switch c.Op {
		case OpLike:
			switch d {
			case db.SQLite:
				return col + " GLOB ?", []any{likeToGlob(v)}
			case db.MySQL:
				return exactCol(d, col) + " LIKE ?", []any{v}
			default:
				return col + " LIKE ?", []any{v}
			}
		case OpILike:
			switch d {
			case db.Postgres:
				return col + " ILIKE ?", []any{v}
			case db.SQLite:
				return "LOWER(" + col + ") LIKE LOWER(?) ESCAPE '\\'", []any{v}
			default:
				return "LOWER(" + col + ") LIKE LOWER(?)", []any{v}
			}
		default: // = !=
			return fmt.Sprintf("%s %s ?", exactCol(d, col), c.Op), []any{v}
		}
	}
	// Unreachable for filters built by ParseFilter; match nothing rather than everything.
	return "1 = 0", nil
}

// exactCol wraps col so that comparisons are case-sensitive on MySQL.
func exactCol(d db.Dialect, col string) string {
	if d == db.MySQL {
		return "CAST(" + col + " AS BINARY)"
	}
	return col
}

// likeToGlob translates a LIKE pattern (with \ as escape) into an equivalent SQLite GLOB pattern.
func likeToGlob(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			if i+1 < len(p) {
				i++
				c = p[i]
			}
			writeGlobLiteral(&b, c)
		case '%':
			b.WriteByte('*')
		case '_':
			b.WriteByte('?')
		default:
			writeGlobLiteral(&b, c)
		}
	}
	return b.String()
}

func writeGlobLiteral(b *strings.Builder, c byte) {
	switch c {
	case '*', '?', '[':
		b.WriteByte('[')
		b.WriteByte(c)
		b.WriteByte(']')
	default:
		b.WriteByte(c)
	}
}

// OrderSQL renders order_by keys. joins holds one LEFT JOIN per metric/param/tag key (aliases o0, o1, ...), to
// be placed after the runs table in FROM; args are the join arguments and precede the WHERE arguments. orderBy
// is the ORDER BY list (without the keywords): NULLs (runs lacking the key) sort last in either direction, as
// in MLflow, and it always ends with the tiebreaker `<alias>.start_time DESC, <alias>.run_uuid` so paging is
// stable. Attribute keys order by the runs column. String ordering follows the dialect's collation.
func (s Schema) OrderSQL(keys []OrderKey, d db.Dialect, runAlias string) (joins string, orderBy string, args []any) {
	_ = d // ordering SQL is portable; d is accepted for symmetry with Filter.SQL
	var js, obs []string
	for i, k := range keys {
		var col, nan string
		if k.Entity == Attribute {
			col = runAlias + "." + s.Columns[k.Key]
		} else {
			t := s.table(k.Entity)
			alias := fmt.Sprintf("o%d", i)
			js = append(js, fmt.Sprintf("LEFT JOIN %s %s ON %s.run_uuid = %s.run_uuid AND %s.%s = ?",
				t.Name, alias, alias, runAlias, alias, t.Key))
			args = append(args, k.Key)
			col = alias + "." + t.Value
			if k.Entity == Metric && t.NaN != "" {
				nan = alias + "." + t.NaN
			}
		}
		dir := "ASC"
		if k.Desc {
			dir = "DESC"
		}
		if nan != "" {
			obs = append(obs, fmt.Sprintf("CASE WHEN %s IS NULL THEN 2 WHEN %s THEN 1 ELSE 0 END, %s %s", col, nan, col, dir))
		} else {
			obs = append(obs, fmt.Sprintf("CASE WHEN %s IS NULL THEN 1 ELSE 0 END, %s %s", col, col, dir))
		}
	}
	obs = append(obs, runAlias+"."+s.Columns["start_time"]+" DESC", runAlias+"."+s.Columns["run_id"])
	return strings.Join(js, " "), strings.Join(obs, ", "), args
}
