package db_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
)

// A SQLite writer waits for the one ahead of it for as long as its context allows, even past SQLite's
// busy_timeout (5 s), and a cancelled wait neither begins a transaction nor holds up the writers behind it.
func TestSQLiteWritersQueue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d, err := db.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if _, err := d.Exec(ctx, "CREATE TABLE n (v INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	first, err := d.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Exec(ctx, "INSERT INTO n (v) VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	// A writer whose context ends while it waits gets the context's error.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := d.Begin(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Begin with an expiring context while another writer is open: %v, want DeadlineExceeded", err)
	}

	// A writer that waits longer than busy_timeout still gets its turn.
	done := make(chan error, 1)
	go func() {
		done <- d.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO n (v) VALUES (2)")
			return err
		})
	}()
	select {
	case err := <-done:
		t.Fatalf("second writer finished while the first was open: %v", err)
	case <-time.After(5500 * time.Millisecond):
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("second writer: %v", err)
	}
	var sum int
	if err := d.QueryRow(ctx, "SELECT SUM(v) FROM n").Scan(&sum); err != nil || sum != 3 {
		t.Fatalf("sum = %d, %v; want 3", sum, err)
	}
	// Rollback frees the slot too.
	tx, err := d.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	again, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	tx, err = d.Begin(again)
	if err != nil {
		t.Fatalf("Begin after a rollback: %v", err)
	}
	_ = tx.Rollback()
}

// Opening a SQLite file in a directory that does not exist yet creates the directory.
func TestSQLiteCreatesDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "b", "x.db")
	d, err := db.Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(t.Context(), "CREATE TABLE t (v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

// MigrateOnStart migrates SQLite always and MySQL/PostgreSQL only when auto-migrate is set.
func TestMigrateOnStart(t *testing.T) {
	dbtest.ForEachDialect(t, nil, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		if err := db.MigrateOnStart(ctx, d, false, "widgets", testMigrations); err != nil {
			t.Fatal(err)
		}
		got, err := db.AppliedVersions(ctx, d, "widgets")
		if d.Dialect == db.SQLite {
			if err != nil || len(got) == 0 {
				t.Fatalf("sqlite without auto-migrate: applied %v, %v; want migrated", got, err)
			}
			return
		}
		if err == nil && len(got) != 0 {
			t.Fatalf("%s without auto-migrate: applied %v; want nothing", d.Dialect, got)
		}
		if err := db.MigrateOnStart(ctx, d, true, "widgets", testMigrations); err != nil {
			t.Fatal(err)
		}
		if got, err := db.AppliedVersions(ctx, d, "widgets"); err != nil || len(got) == 0 {
			t.Fatalf("%s with auto-migrate: applied %v, %v", d.Dialect, got, err)
		}
	})
}
