package search

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
)

const defaultSchemaDDL = `
CREATE TABLE runs (run_uuid TEXT PRIMARY KEY, experiment_id BIGINT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
  user_id TEXT NOT NULL, start_time BIGINT NOT NULL, end_time BIGINT NULL, artifact_uri TEXT NOT NULL,
  lifecycle_stage TEXT NOT NULL);
CREATE TABLE latest_metrics (run_uuid TEXT NOT NULL, key TEXT NOT NULL, value REAL NOT NULL, timestamp BIGINT NOT NULL,
  step BIGINT NOT NULL, PRIMARY KEY (run_uuid, key));
CREATE TABLE params (run_uuid TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_uuid, key));
CREATE TABLE tags (run_uuid TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_uuid, key));
`

type fixtureRun struct {
	id, name, status string
	start            int64
	end              any // nil or int64
	metrics          map[string]float64
	params, tags     map[string]string
}

var fixtureRuns = []fixtureRun{
	{id: "r1", name: "Alpha", status: "FINISHED", start: 100,
		metrics: map[string]float64{"rmse": 0.5}, params: map[string]string{"alpha": "0.1"},
		tags: map[string]string{"t": "Hello_World", "mlflow.runName": "Alpha"}},
	{id: "r2", name: "alpha", status: "FAILED", start: 200, end: int64(300),
		metrics: map[string]float64{"rmse": 0.3}, params: map[string]string{"alpha": "0.2"},
		tags: map[string]string{"t": "hello%world"}},
	{id: "r3", name: "beta", status: "RUNNING", start: 300,
		params: map[string]string{"alpha": "x*y"}, tags: map[string]string{"t": "HELLO world"}},
	{id: "r4", name: "a_b", status: "FINISHED", start: 200, tags: map[string]string{"a b": "Ünï"}},
}

// openFixture creates the schema, loads fixtureRuns and returns the database.
func openFixture(t *testing.T, s Schema, ddl string) *db.DB {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite://memory")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if _, err := d.Exec(ctx, ddl); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := d.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	metricInsert := "INSERT INTO " + s.Metrics.Name + " (run_uuid, " + s.Metrics.Key + ", " + s.Metrics.Value + ", timestamp, step) VALUES (?, ?, ?, 0, 0)"
	if s.Metrics.Name == TrackingSchema.Metrics.Name {
		metricInsert = "INSERT INTO mlflow_latest_metrics (run_uuid, metric_key, metric_value, ts, step, is_nan) VALUES (?, ?, ?, 0, 0, false)"
	}
	for _, r := range fixtureRuns {
		exec("INSERT INTO "+s.Runs+" (run_uuid, experiment_id, name, status, user_id, start_time, end_time, artifact_uri, lifecycle_stage) VALUES (?, 0, ?, ?, 'u', ?, ?, 'file:///a', 'active')",
			r.id, r.name, r.status, r.start, r.end)
		for k, v := range r.metrics {
			exec(metricInsert, r.id, k, v)
		}
		if s.Metrics.NaN != "" && r.id == "r3" {
			// r3 logged rmse = NaN: stored as a placeholder value with the NaN flag set.
			exec("INSERT INTO "+s.Metrics.Name+" (run_uuid, "+s.Metrics.Key+", "+s.Metrics.Value+", ts, step, "+s.Metrics.NaN+") VALUES (?, 'rmse', 0, 0, 0, true)", r.id)
		}
		for k, v := range r.params {
			exec("INSERT INTO "+s.Params.Name+" (run_uuid, "+s.Params.Key+", "+s.Params.Value+") VALUES (?, ?, ?)", r.id, k, v)
		}
		for k, v := range r.tags {
			exec("INSERT INTO "+s.Tags.Name+" (run_uuid, "+s.Tags.Key+", "+s.Tags.Value+") VALUES (?, ?, ?)", r.id, k, v)
		}
	}
	return d
}

func search(t *testing.T, d *db.DB, s Schema, filter string, orderBy []string) []string {
	t.Helper()
	f := mustParse(t, filter)
	keys, err := ParseOrderBy(orderBy)
	if err != nil {
		t.Fatal(err)
	}
	where, wargs := s.FilterSQL(f, d.Dialect, "r")
	joins, order, jargs := s.OrderSQL(keys, d.Dialect, "r")
	q := "SELECT r.run_uuid FROM " + s.Runs + " r " + joins
	if where != "" {
		q += " WHERE " + where
	}
	q += " ORDER BY " + order
	rows, err := d.Query(context.Background(), q, append(jargs, wargs...)...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func ids(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// semanticsCases checks filter semantics (results ordered by the default tiebreaker start_time DESC, run_uuid)
// and ordering semantics.
var semanticsCases = []struct {
	filter  string
	orderBy []string
	want    string
}{
	{"", nil, "r3,r2,r4,r1"},
	// LIKE is case-sensitive, ILIKE is not; \ escapes wildcards; GLOB metacharacters are literal.
	{"attributes.run_name LIKE 'a%'", nil, "r2,r4"},
	{"attributes.run_name ILIKE 'A%'", nil, "r2,r4,r1"},
	{`attributes.run_name LIKE 'a\_b'`, nil, "r4"},
	{"attributes.run_name LIKE 'a_b'", nil, "r4"},
	{`tags.t LIKE '%\%%'`, nil, "r2"},
	{"tags.t LIKE 'hello%'", nil, "r2"},
	{"tags.t ILIKE 'hello%world'", nil, "r3,r2,r1"},
	{"tags.t ILIKE 'HELLO_WORLD'", nil, "r3,r2,r1"},
	{"params.alpha LIKE 'x*%'", nil, "r3"},
	{"params.alpha LIKE 'x?y'", nil, ""},
	{"params.alpha LIKE 'x_y'", nil, "r3"},
	{"tags.`a b` LIKE 'Ü%'", nil, "r4"},
	{"tags.mlflow.runName = 'Alpha'", nil, "r1"},
	// Equality is case-sensitive; != does not match runs lacking the key.
	{"attributes.run_name = 'alpha'", nil, "r2"},
	{"attributes.status = 'finished'", nil, ""},
	{"params.alpha = '0.1'", nil, "r1"},
	{"params.alpha != '0.1'", nil, "r3,r2"},
	{"params.alpha IN ('0.1', '0.2')", nil, "r2,r1"},
	{"params.alpha NOT IN ('0.1', '0.2')", nil, "r3"},
	{"attributes.status IN ('FINISHED', 'RUNNING')", nil, "r3,r4,r1"},
	{"attributes.run_id NOT IN ('r1', 'r3')", nil, "r2,r4"},
	{"metrics.rmse < 0.4", nil, "r2"},
	{"metrics.rmse >= 0.3 AND metrics.rmse != 0.3", nil, "r1"},
	{"metrics.missing > -1e9", nil, ""},
	{"attributes.end_time > 0", nil, "r2"},
	{"attributes.start_time >= 200 AND attributes.status != 'FAILED'", nil, "r3,r4"},
	// Ordering: NULLs last in both directions, then start_time DESC, run_uuid.
	{"", []string{"metrics.rmse ASC"}, "r2,r1,r3,r4"},
	{"", []string{"metrics.rmse DESC"}, "r1,r2,r3,r4"},
	{"", []string{"params.alpha DESC"}, "r3,r2,r1,r4"},
	{"", []string{"params.alpha"}, "r1,r2,r3,r4"},
	{"", []string{"attributes.end_time"}, "r2,r3,r4,r1"},
	{"", []string{"attributes.end_time DESC"}, "r2,r3,r4,r1"},
	{"", []string{"attributes.start_time ASC"}, "r1,r2,r4,r3"},
	{"", []string{"tags.t", "run_name DESC"}, "r3,r1,r2,r4"},
	// Join arguments precede filter arguments.
	{"metrics.rmse > 0 AND tags.t ILIKE '%world'", []string{"metrics.rmse", "tags.t DESC"}, "r2,r1"},
}

func TestSQLiteSemantics(t *testing.T) {
	schemas := []struct {
		name   string
		schema Schema
		ddl    string
	}{{"default", DefaultSchema, defaultSchemaDDL}}
	ddl, err := os.ReadFile("../../migrations/sqlite/0001_tracking.up.sql")
	if err != nil {
		t.Fatalf("read the tracking migration: %v", err)
	}
	schemas = append(schemas, struct {
		name   string
		schema Schema
		ddl    string
	}{"tracking-migration", TrackingSchema, string(ddl)})
	for _, sc := range schemas {
		t.Run(sc.name, func(t *testing.T) {
			d := openFixture(t, sc.schema, sc.ddl)
			for _, tt := range semanticsCases {
				got := search(t, d, sc.schema, tt.filter, tt.orderBy)
				if want := ids(tt.want); !reflect.DeepEqual(got, want) {
					t.Errorf("filter %q order_by %q: got %v, want %v", tt.filter, tt.orderBy, got, want)
				}
			}
		})
	}
}

// TestSQLiteNaNMetrics checks the NaN column handling of TrackingSchema (r3 has rmse = NaN, r4 has no rmse).
func TestSQLiteNaNMetrics(t *testing.T) {
	ddl, err := os.ReadFile("../../migrations/sqlite/0001_tracking.up.sql")
	if err != nil {
		t.Fatalf("read the tracking migration: %v", err)
	}
	d := openFixture(t, TrackingSchema, string(ddl))
	for _, tt := range []struct {
		filter  string
		orderBy []string
		want    string
	}{
		{"metrics.rmse = 0", nil, ""},
		{"metrics.rmse <= 0.5", nil, "r2,r1"},
		{"metrics.rmse != 0.5", nil, "r3,r2"},
		{"", []string{"metrics.rmse ASC"}, "r2,r1,r3,r4"},
		{"", []string{"metrics.rmse DESC"}, "r1,r2,r3,r4"},
	} {
		got := search(t, d, TrackingSchema, tt.filter, tt.orderBy)
		if want := ids(tt.want); !reflect.DeepEqual(got, want) {
			t.Errorf("filter %q order_by %q: got %v, want %v", tt.filter, tt.orderBy, got, want)
		}
	}
}

func TestSchemasCoverAllAttributes(t *testing.T) {
	for name := range attributes {
		for _, s := range []Schema{DefaultSchema, TrackingSchema} {
			if s.Columns[name] == "" {
				t.Errorf("schema %s has no column for attribute %q", s.Runs, name)
			}
		}
	}
}
