package db_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
)

var testMigrations = os.DirFS("testdata/migrations")

func TestRebind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain", "SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"string literal", "SELECT '?' , ? FROM t", "SELECT '?' , $1 FROM t"},
		{"escaped quote", "SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{"identifier", `SELECT "a?b" FROM t WHERE x = ?`, `SELECT "a?b" FROM t WHERE x = $1`},
		{"line comment", "SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{"block comment", "SELECT /* ? */ ?", "SELECT /* ? */ $1"},
		{"none", "SELECT 1", "SELECT 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := db.Postgres.Rebind(tt.in); got != tt.want {
				t.Errorf("Rebind(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := db.MySQL.Rebind(tt.in); got != tt.in {
				t.Errorf("mysql Rebind changed query: %q", got)
			}
		})
	}
}

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"two", "CREATE TABLE a (x INT);\nCREATE TABLE b (y INT);\n", []string{"CREATE TABLE a (x INT);", "CREATE TABLE b (y INT);"}},
		{"trailing comment", "INSERT INTO a VALUES ('x;y'); -- done\nSELECT 1;", []string{"INSERT INTO a VALUES ('x;y');", "-- done\nSELECT 1;"}},
		{"comment only dropped", "-- header;\n\nSELECT 1;\n-- trailer;\n", []string{"-- header;\n\nSELECT 1;"}},
		{"quoted newline", "INSERT INTO a VALUES ('a;\nb');\n", []string{"INSERT INTO a VALUES ('a;\nb');"}},
		{"dollar body", "CREATE FUNCTION f() AS $$\nBEGIN;\nEND;\n$$ LANGUAGE plpgsql;\nSELECT 2;", []string{"CREATE FUNCTION f() AS $$\nBEGIN;\nEND;\n$$ LANGUAGE plpgsql;", "SELECT 2;"}},
		{"no trailing semicolon", "SELECT 1", []string{"SELECT 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := db.SplitStatements(tt.in)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("SplitStatements = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseDialect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dsn     string
		want    db.Dialect
		wantErr bool
	}{
		{"sqlite://data/x.db", db.SQLite, false},
		{"sqlite::memory:", db.SQLite, false},
		{"mysql://root@tcp(127.0.0.1:3306)/test", db.MySQL, false},
		{"postgres://postgres@127.0.0.1/test", db.Postgres, false},
		{"postgresql://postgres@127.0.0.1/test", db.Postgres, false},
		{"oracle://x", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := db.ParseDialect(tt.dsn)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDialect(%q) = %q, %v", tt.dsn, got, err)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"mysql://u:s3cret@tcp(h:3306)/db", "postgres://u:s3cret@h:5432/db"} {
		if got := db.Redact(dsn); strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q", dsn, got)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"mysql://root@tcp(127.0.0.1:3306)/test", "mysql://root@tcp(127.0.0.1:3306)/darwin_x"},
		{"mysql://root:pw@tcp(127.0.0.1:3306)/test?tls=false", "mysql://root:pw@tcp(127.0.0.1:3306)/darwin_x?tls=false"},
		{"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "postgres://postgres@127.0.0.1:5432/darwin_x?sslmode=disable"},
	}
	for _, tt := range tests {
		got, err := dbtest.WithDatabase(tt.in, "darwin_x")
		if err != nil || got != tt.want {
			t.Errorf("WithDatabase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestOpenMemoryIsPrivate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for _, dsn := range []string{"sqlite://memory", "sqlite::memory:"} {
		a, err := db.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := db.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (x INTEGER)"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Exec(ctx, "INSERT INTO only_in_a VALUES (?)", 1); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Exec(ctx, "SELECT * FROM only_in_a"); err == nil {
			t.Fatalf("%s: second in-memory database sees the first one's table", dsn)
		}
	}
}

func TestCheckMigrationTrees(t *testing.T) {
	t.Parallel()
	if err := db.CheckMigrationTrees(testMigrations); err != nil {
		t.Fatalf("good tree: %v", err)
	}
	err := db.CheckMigrationTrees(os.DirFS("testdata/badtree"))
	if err == nil {
		t.Fatal("mismatched trees accepted")
	}
	for _, want := range []string{"postgres lacks 0002_extra", `"extra" in sqlite but "other" in mysql`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	dup := fstest.MapFS{
		"sqlite/0001_a.up.sql": {Data: []byte("SELECT 1;")},
		"sqlite/001_b.up.sql":  {Data: []byte("SELECT 1;")},
	}
	if _, err := db.ListMigrations(dup, db.SQLite); err == nil {
		t.Fatal("duplicate version accepted")
	}
}

// TestContract exercises DB behaviour that services rely on, on every configured dialect.
func TestContract(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, []dbtest.Migration{{Component: "widgets", FS: testMigrations}}, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := t.Context()
		now := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.FixedZone("X", 3600))

		t.Run("migrated idempotently", func(t *testing.T) {
			if err := db.Migrate(ctx, d, "widgets", testMigrations); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			got, err := db.AppliedVersions(ctx, d, "widgets")
			if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 2 {
				t.Fatalf("applied versions = %v, %v", got, err)
			}
		})

		t.Run("insert and read back with rebinding and UTC times", func(t *testing.T) {
			if _, err := d.Exec(ctx, "INSERT INTO widgets (id, name, created_at, size) VALUES (?, ?, ?, ?)", "w1", "first", now, 3); err != nil {
				t.Fatal(err)
			}
			var name, note string
			var created time.Time
			var size int
			err := d.QueryRow(ctx, "SELECT name, note, created_at, size FROM widgets WHERE id = ?", "w1").Scan(&name, &note, &created, &size)
			if err != nil {
				t.Fatal(err)
			}
			if name != "first" || note != "a;b" || size != 3 || !created.Equal(now) {
				t.Fatalf("got %q %q %v %d", name, note, created, size)
			}
		})

		t.Run("unique violation", func(t *testing.T) {
			_, err := d.Exec(ctx, "INSERT INTO widgets (id, name, created_at) VALUES (?, ?, ?)", "w2", "first", now)
			if !db.IsUniqueViolation(err) {
				t.Fatalf("duplicate name: IsUniqueViolation(%v) = false", err)
			}
			_, err = d.Exec(ctx, "INSERT INTO widgets (id, name, created_at) VALUES (?, ?, ?)", "w1", "other", now)
			if !db.IsUniqueViolation(err) {
				t.Fatalf("duplicate primary key: IsUniqueViolation(%v) = false", err)
			}
			if db.IsUniqueViolation(errors.New("x")) || db.IsUniqueViolation(nil) {
				t.Fatal("false positive")
			}
		})

		t.Run("foreign key enforced", func(t *testing.T) {
			_, err := d.Exec(ctx, "INSERT INTO parts (id, widget_id) VALUES (?, ?)", 1, "missing")
			if !db.IsForeignKeyViolation(err) {
				t.Fatalf("IsForeignKeyViolation(%v) = false", err)
			}
		})

		t.Run("tx rollback on error", func(t *testing.T) {
			sentinel := errors.New("boom")
			err := d.Tx(ctx, func(tx *db.Tx) error {
				if _, err := tx.Exec(ctx, "INSERT INTO widgets (id, name, created_at) VALUES (?, ?, ?)", "w3", "third", now); err != nil {
					return err
				}
				return sentinel
			})
			if !errors.Is(err, sentinel) {
				t.Fatalf("Tx err = %v", err)
			}
			var n int
			if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM widgets WHERE id = ?", "w3").Scan(&n); err != nil || n != 0 {
				t.Fatalf("rolled back row visible: n=%d err=%v", n, err)
			}
		})

		t.Run("tx rollback on panic", func(t *testing.T) {
			func() {
				defer func() { _ = recover() }()
				_ = d.Tx(ctx, func(tx *db.Tx) error {
					if _, err := tx.Exec(ctx, "INSERT INTO widgets (id, name, created_at) VALUES (?, ?, ?)", "w4", "fourth", now); err != nil {
						return err
					}
					panic("boom")
				})
			}()
			var n int
			if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM widgets WHERE id = ?", "w4").Scan(&n); err != nil || n != 0 {
				t.Fatalf("panicked tx row visible: n=%d err=%v", n, err)
			}
		})

		t.Run("tx commit and conditional update", func(t *testing.T) {
			err := d.Tx(ctx, func(tx *db.Tx) error {
				_, err := tx.Exec(ctx, "INSERT INTO widgets (id, name, created_at) VALUES (?, ?, ?)", "w5", "fifth", now)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := d.Exec(ctx, "UPDATE widgets SET size = ? WHERE id = ? AND size = ?", 9, "w5", 0)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("first conditional update affected %d rows", n)
			}
			res, err = d.Exec(ctx, "UPDATE widgets SET size = ? WHERE id = ? AND size = ?", 10, "w5", 0)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 0 {
				t.Fatalf("second conditional update affected %d rows", n)
			}
		})

		t.Run("skip locked", func(t *testing.T) {
			if d.Dialect == db.SQLite {
				if d.Dialect.ForUpdateSkipLocked() != "" {
					t.Fatal("sqlite has no row locks")
				}
				return
			}
			q := "SELECT id FROM widgets WHERE id IN (?, ?) ORDER BY id" + d.Dialect.ForUpdateSkipLocked()
			err := d.Tx(ctx, func(tx1 *db.Tx) error {
				var first string
				if err := tx1.QueryRow(ctx, q+"", "w1", "w5").Scan(&first); err != nil {
					return err
				}
				// tx1 now holds both rows (it read them all); a second locker skips them.
				return d.Tx(ctx, func(tx2 *db.Tx) error {
					rows, err := tx2.Query(ctx, q, "w1", "w5")
					if err != nil {
						return err
					}
					defer rows.Close()
					if rows.Next() {
						t.Error("second transaction saw a row locked by the first")
					}
					return rows.Err()
				})
			})
			if err != nil {
				t.Fatal(err)
			}
		})

		t.Run("limit offset and placeholders", func(t *testing.T) {
			rows, err := d.Query(ctx, "SELECT id FROM widgets WHERE id IN ("+db.Placeholders(3)+") ORDER BY id"+d.Dialect.LimitOffset(1, 1), "w1", "w5", "nope")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var ids []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			if len(ids) != 1 || ids[0] != "w5" {
				t.Fatalf("ids = %v", ids)
			}
		})
	})
}

// TestConcurrentMigrate runs several migrators at once against the same database: all succeed and every
// version is applied exactly once.
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, nil, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() { errs <- db.Migrate(ctx, d, "widgets", testMigrations) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent Migrate: %v", err)
			}
		}
		var n int
		if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE component = ?", "widgets").Scan(&n); err != nil || n != 2 {
			t.Fatalf("schema_migrations rows = %d, %v", n, err)
		}
	})
}

func TestMigrateFailureIsReported(t *testing.T) {
	t.Parallel()
	bad := fstest.MapFS{
		"sqlite/0001_ok.up.sql":       {Data: []byte("CREATE TABLE a (x INTEGER);\n")},
		"sqlite/0002_broken.up.sql":   {Data: []byte("CREATE TABLE b (x INTEGER);\nTHIS IS NOT SQL;\n")},
		"mysql/0001_ok.up.sql":        {Data: []byte("CREATE TABLE a (x INTEGER);\n")},
		"mysql/0002_broken.up.sql":    {Data: []byte("CREATE TABLE b (x INTEGER);\nTHIS IS NOT SQL;\n")},
		"postgres/0001_ok.up.sql":     {Data: []byte("CREATE TABLE a (x INTEGER);\n")},
		"postgres/0002_broken.up.sql": {Data: []byte("CREATE TABLE b (x INTEGER);\nTHIS IS NOT SQL;\n")},
	}
	dbtest.ForEachDialect(t, nil, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.WithoutCancel(t.Context())
		err := db.Migrate(ctx, d, "bad", bad)
		if err == nil || !strings.Contains(err.Error(), "0002_broken") {
			t.Fatalf("Migrate err = %v, want it to name 0002_broken", err)
		}
		got, err := db.AppliedVersions(ctx, d, "bad")
		if err != nil || len(got) != 1 || got[0] != 1 {
			t.Fatalf("applied = %v, %v; want [1]", got, err)
		}
		if d.Dialect != db.MySQL { // MySQL DDL is not transactional
			if _, err := d.Exec(ctx, "SELECT * FROM b"); err == nil {
				t.Fatal("failed migration left table b behind")
			}
		}
	})
}

func TestOpenSQLitePathWithURICharacters(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "odd#dir%20x")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a b.db") // a literal "?" would start DSN parameters
	d, err := db.Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(t.Context(), "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at the given path: %v", err)
	}
	var mode string
	if err := d.QueryRow(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	var fk int
	if err := d.QueryRow(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v", fk, err)
	}
}
