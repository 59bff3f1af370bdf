package search

import (
	"reflect"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
)

func mustParse(t *testing.T, s string) Filter {
	t.Helper()
	f, err := ParseFilter(s)
	if err != nil {
		t.Fatalf("ParseFilter(%q): %v", s, err)
	}
	return f
}

func TestFilterSQLGolden(t *testing.T) {
	tests := []struct {
		filter string
		d      db.Dialect
		where  string
		args   []any
	}{
		{"", db.SQLite, "", nil},
		{"metrics.rmse < 0.5", db.SQLite,
			"EXISTS (SELECT 1 FROM latest_metrics f0 WHERE f0.run_uuid = r.run_uuid AND f0.key = ? AND f0.value < ?)",
			[]any{"rmse", 0.5}},
		{"params.alpha = '0.1' AND tags.`a b` != 'x'", db.Postgres,
			"EXISTS (SELECT 1 FROM params f0 WHERE f0.run_uuid = r.run_uuid AND f0.key = ? AND f0.value = ?) AND " +
				"EXISTS (SELECT 1 FROM tags f1 WHERE f1.run_uuid = r.run_uuid AND f1.key = ? AND f1.value != ?)",
			[]any{"alpha", "0.1", "a b", "x"}},
		{"params.alpha = '0.1'", db.MySQL,
			"EXISTS (SELECT 1 FROM params f0 WHERE f0.run_uuid = runs.run_uuid AND f0.key = ? AND CAST(f0.value AS BINARY) = ?)",
			[]any{"alpha", "0.1"}},
		{"tags.mlflow.runName LIKE 'a_b%*'", db.SQLite,
			"EXISTS (SELECT 1 FROM tags f0 WHERE f0.run_uuid = r.run_uuid AND f0.key = ? AND f0.value GLOB ?)",
			[]any{"mlflow.runName", "a?b*[*]"}},
		{"tags.t LIKE 'a%'", db.MySQL,
			"EXISTS (SELECT 1 FROM tags f0 WHERE f0.run_uuid = runs.run_uuid AND f0.key = ? AND CAST(f0.value AS BINARY) LIKE ?)",
			[]any{"t", "a%"}},
		{"tags.t LIKE 'a%'", db.Postgres,
			"EXISTS (SELECT 1 FROM tags f0 WHERE f0.run_uuid = r.run_uuid AND f0.key = ? AND f0.value LIKE ?)",
			[]any{"t", "a%"}},
		{"tags.t ILIKE 'A%'", db.SQLite,
			"EXISTS (SELECT 1 FROM tags f0 WHERE f0.run_uuid = r.run_uuid AND f0.key = ? AND LOWER(f0.value) LIKE LOWER(?) ESCAPE '\\')",
			[]any{"t", "A%"}},
		{"tags.t ILIKE 'A%'", db.MySQL,
			"EXISTS (SELECT 1 FROM tags f0 WHERE f0.run_uuid = runs.run_uuid AND f0.key = ? AND LOWER(f0.value) LIKE LOWER(?))",
			[]any{"t", "A%"}},
		{"tags.t ILIKE 'A%'", db.Postgres,
			"EXISTS (SELECT 1 FROM tags f0 WHERE f0.run_uuid = r.run_uuid AND f0.key = ? AND f0.value ILIKE ?)",
			[]any{"t", "A%"}},
		{"attributes.status IN ('FINISHED', 'FAILED') AND attributes.start_time >= 100 AND run_name != 'x'", db.SQLite,
			"r.status IN (?, ?) AND r.start_time >= ? AND r.name != ?",
			[]any{"FINISHED", "FAILED", int64(100), "x"}},
		{"attributes.run_id NOT IN ('a') AND attributes.user_id LIKE 'b%'", db.MySQL,
			"CAST(runs.run_uuid AS BINARY) NOT IN (?) AND CAST(runs.user_id AS BINARY) LIKE ?",
			[]any{"a", "b%"}},
		{"params.p IN ('1', '2') AND attributes.artifact_uri ILIKE 's3://%' AND lifecycle_stage = 'active' AND attributes.end_time != 7", db.Postgres,
			"EXISTS (SELECT 1 FROM params f0 WHERE f0.run_uuid = r.run_uuid AND f0.key = ? AND f0.value IN (?, ?)) AND " +
				"r.artifact_uri ILIKE ? AND r.lifecycle_stage = ? AND r.end_time != ?",
			[]any{"p", "1", "2", "s3://%", "active", int64(7)}},
	}
	for _, tt := range tests {
		t.Run(string(tt.d)+" "+tt.filter, func(t *testing.T) {
			alias := "r"
			if tt.d == db.MySQL {
				alias = "runs" // exercise a different alias
			}
			where, args := mustParse(t, tt.filter).SQL(tt.d, alias)
			if where != tt.where {
				t.Errorf("where =\n %s\nwant\n %s", where, tt.where)
			}
			if !reflect.DeepEqual(args, tt.args) {
				t.Errorf("args = %#v, want %#v", args, tt.args)
			}
		})
	}
}

func TestTrackingSchemaSQLGolden(t *testing.T) {
	where, args := TrackingSchema.FilterSQL(mustParse(t, "metrics.m > 1 AND metrics.m != 2 AND params.p = 'x' AND run_name = 'n'"), db.Postgres, "r")
	want := "EXISTS (SELECT 1 FROM mlflow_latest_metrics f0 WHERE f0.run_uuid = r.run_uuid AND f0.metric_key = ? AND NOT f0.is_nan AND f0.metric_value > ?) AND " +
		"EXISTS (SELECT 1 FROM mlflow_latest_metrics f1 WHERE f1.run_uuid = r.run_uuid AND f1.metric_key = ? AND (f1.is_nan OR f1.metric_value != ?)) AND " +
		"EXISTS (SELECT 1 FROM mlflow_params f2 WHERE f2.run_uuid = r.run_uuid AND f2.param_key = ? AND f2.param_value = ?) AND " +
		"r.name = ?"
	if where != want {
		t.Errorf("where =\n %s\nwant\n %s", where, want)
	}
	if wantArgs := []any{"m", 1.0, "m", 2.0, "p", "x", "n"}; !reflect.DeepEqual(args, wantArgs) {
		t.Errorf("args = %#v, want %#v", args, wantArgs)
	}
	keys, err := ParseOrderBy([]string{"metrics.m DESC", "tags.t"})
	if err != nil {
		t.Fatal(err)
	}
	joins, orderBy, jargs := TrackingSchema.OrderSQL(keys, db.Postgres, "r")
	if want := "LEFT JOIN mlflow_latest_metrics o0 ON o0.run_uuid = r.run_uuid AND o0.metric_key = ? " +
		"LEFT JOIN mlflow_run_tags o1 ON o1.run_uuid = r.run_uuid AND o1.tag_key = ?"; joins != want {
		t.Errorf("joins =\n %s\nwant\n %s", joins, want)
	}
	if want := "CASE WHEN o0.metric_value IS NULL THEN 2 WHEN o0.is_nan THEN 1 ELSE 0 END, o0.metric_value DESC, " +
		"CASE WHEN o1.tag_value IS NULL THEN 1 ELSE 0 END, o1.tag_value ASC, r.start_time DESC, r.run_uuid"; orderBy != want {
		t.Errorf("orderBy =\n %s\nwant\n %s", orderBy, want)
	}
	if want := []any{"m", "t"}; !reflect.DeepEqual(jargs, want) {
		t.Errorf("join args = %#v", jargs)
	}
}

func TestLikeToGlob(t *testing.T) {
	for in, want := range map[string]string{
		"abc":     "abc",
		"a%b_c":   "a*b?c",
		`a\%b\_c`: "a%b_c",
		"*?[]":    "[*][?][[]]",
		`a\\b`:    `a\b`,
		`trail\`:  `trail\`,
		`\*`:      "[*]",
		"%Ü_é%":   "*Ü?é*",
		"":        "",
	} {
		if got := likeToGlob(in); got != want {
			t.Errorf("likeToGlob(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOrderSQLGolden(t *testing.T) {
	keys, err := ParseOrderBy([]string{"metrics.rmse DESC", "attributes.start_time", "params.alpha ASC", "`tags`.`a b` DESC", "run_name"})
	if err != nil {
		t.Fatal(err)
	}
	joins, orderBy, args := OrderSQL(keys, db.SQLite, "r")
	wantJoins := "LEFT JOIN latest_metrics o0 ON o0.run_uuid = r.run_uuid AND o0.key = ? " +
		"LEFT JOIN params o2 ON o2.run_uuid = r.run_uuid AND o2.key = ? " +
		"LEFT JOIN tags o3 ON o3.run_uuid = r.run_uuid AND o3.key = ?"
	wantOrder := "CASE WHEN o0.value IS NULL THEN 1 ELSE 0 END, o0.value DESC, " +
		"CASE WHEN r.start_time IS NULL THEN 1 ELSE 0 END, r.start_time ASC, " +
		"CASE WHEN o2.value IS NULL THEN 1 ELSE 0 END, o2.value ASC, " +
		"CASE WHEN o3.value IS NULL THEN 1 ELSE 0 END, o3.value DESC, " +
		"CASE WHEN r.name IS NULL THEN 1 ELSE 0 END, r.name ASC, " +
		"r.start_time DESC, r.run_uuid"
	if joins != wantJoins {
		t.Errorf("joins =\n %s\nwant\n %s", joins, wantJoins)
	}
	if orderBy != wantOrder {
		t.Errorf("orderBy =\n %s\nwant\n %s", orderBy, wantOrder)
	}
	if want := []any{"rmse", "alpha", "a b"}; !reflect.DeepEqual(args, want) {
		t.Errorf("args = %#v, want %#v", args, want)
	}

	joins, orderBy, args = OrderSQL(nil, db.Postgres, "runs")
	if joins != "" || orderBy != "runs.start_time DESC, runs.run_uuid" || args != nil {
		t.Errorf("OrderSQL(nil) = %q, %q, %v", joins, orderBy, args)
	}
}
