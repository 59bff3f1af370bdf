package dbtest

import (
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/testutil"
)

func TestMissingDSN(t *testing.T) {
	t.Setenv(EnvPostgres, "")
	t.Setenv(EnvRequireAll, "1")
	f := &testutil.RecordingTB{TB: t}
	if d := Open(f, db.Postgres); d != nil {
		t.Fatal("Open returned a database without a DSN")
	}
	if !strings.Contains(f.FatalMsg, Script) || !strings.Contains(f.FatalMsg, EnvPostgres) {
		t.Fatalf("RequireAll failure %q does not name %s and %s", f.FatalMsg, Script, EnvPostgres)
	}
	t.Setenv(EnvRequireAll, "")
	f = &testutil.RecordingTB{TB: t}
	Open(f, db.Postgres)
	if f.FatalMsg != "" || !strings.Contains(f.SkipMsg, Script) {
		t.Fatalf("without RequireAll: fatal=%q skip=%q", f.FatalMsg, f.SkipMsg)
	}
}

func TestFreshDatabasesAreIsolated(t *testing.T) {
	t.Parallel()
	seen := map[db.Dialect]int{}
	for range 2 {
		ForEachDialect(t, nil, func(t *testing.T, d *db.DB) {
			// Each run sees an empty database: the table created by the previous run is gone.
			if _, err := d.Exec(t.Context(), "CREATE TABLE isolation_probe (x INTEGER)"); err != nil {
				t.Fatalf("create table in fresh database: %v", err)
			}
			seen[d.Dialect]++
		})
	}
	if seen[db.SQLite] != 2 {
		t.Fatalf("sqlite ran %d times", seen[db.SQLite])
	}
}
