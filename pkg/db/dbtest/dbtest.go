// Package dbtest runs database tests against every configured SQL backend, each subtest on a fresh database.
//
// SQLite always runs (a temp file). MySQL/MariaDB runs when DARWIN_TEST_MYSQL_DSN is set and PostgreSQL when
// DARWIN_TEST_POSTGRES_DSN is set; scripts/test-databases.sh starts both locally and prints the exports. With
// DARWIN_TEST_REQUIRE_ALL=1 a missing DSN fails the test instead of skipping the backend.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/testutil"
)

// Environment variables read by ForEachDialect.
const (
	EnvMySQL      = "DARWIN_TEST_MYSQL_DSN"
	EnvPostgres   = "DARWIN_TEST_POSTGRES_DSN"
	EnvRequireAll = testutil.EnvRequireAll
	Script        = "scripts/test-databases.sh"
)

// Migration is one component's migration tree to apply before the test body runs.
type Migration struct {
	Component string
	FS        fs.FS
}

// ForEachDialect runs fn as a subtest per backend ("sqlite", "mysql", "postgres"), each on a fresh database
// already migrated with migrations (in order). MySQL and PostgreSQL subtests CREATE DATABASE darwin_test_<rand>
// on the configured server and drop it at cleanup. fn may call t.Parallel.
func ForEachDialect(t *testing.T, migrations []Migration, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	backends := []struct {
		name db.Dialect
		env  string
	}{
		{db.SQLite, ""},
		{db.MySQL, EnvMySQL},
		{db.Postgres, EnvPostgres},
	}
	for _, b := range backends {
		t.Run(string(b.name), func(t *testing.T) {
			d := Open(t, b.name)
			if d == nil {
				return
			}
			for _, m := range migrations {
				if err := db.Migrate(t.Context(), d, m.Component, m.FS); err != nil {
					t.Fatalf("migrate %s on %s: %v", m.Component, b.name, err)
				}
			}
			fn(t, d)
		})
	}
}

// Open returns a fresh, empty database of the given dialect, closed (and dropped) at test cleanup. When the
// dialect's DSN variable is unset it skips the test — or fails it under DARWIN_TEST_REQUIRE_ALL=1 — and
// returns nil.
func Open(t testing.TB, dialect db.Dialect) *db.DB {
	t.Helper()
	dsn := FreshDSN(t, dialect)
	if dsn == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open %s test database: %v", dialect, err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// FreshDSN creates a fresh, empty database of the given dialect (dropped at test cleanup) and returns its DSN,
// for tests that hand a DSN to a separate process. When the dialect's DSN variable is unset it skips the test —
// or fails it under DARWIN_TEST_REQUIRE_ALL=1 — and returns "".
func FreshDSN(t testing.TB, dialect db.Dialect) string {
	t.Helper()
	switch dialect {
	case db.SQLite:
		return "sqlite://" + filepath.Join(t.TempDir(), "test.db")
	case db.MySQL, db.Postgres:
		env := EnvMySQL
		if dialect == db.Postgres {
			env = EnvPostgres
		}
		base := os.Getenv(env)
		if base == "" {
			testutil.NeedServer(t, fmt.Sprintf("%s (%s unset)", dialect, env), `eval "$(`+Script+`)"`)
			return ""
		}
		return freshDatabase(t, dialect, base)
	default:
		t.Fatalf("unknown dialect %q", dialect)
		return ""
	}
}

// freshDatabase creates darwin_test_<rand> on the server behind base, registers its drop, and returns a DSN
// pointing at it.
func freshDatabase(t testing.TB, dialect db.Dialect, base string) string {
	t.Helper()
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	name := "darwin_test_" + hex.EncodeToString(buf)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := db.Open(ctx, base)
	if err != nil {
		t.Fatalf("open %s admin connection (%s; start it with %s): %v", dialect, db.Redact(base), Script, err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		t.Fatalf("create %s database %s: %v", dialect, name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		drop := "DROP DATABASE IF EXISTS " + name
		if dialect == db.Postgres {
			drop += " WITH (FORCE)"
		}
		if _, err := admin.Exec(ctx, drop); err != nil {
			t.Logf("drop %s database %s: %v", dialect, name, err)
		}
	})
	dsn, err := WithDatabase(base, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// WithDatabase rewrites a mysql:// or postgres:// DSN to use database name.
func WithDatabase(dsn, name string) (string, error) {
	switch {
	case strings.HasPrefix(dsn, "mysql://"):
		if _, err := db.MySQLConfig(dsn); err != nil {
			return "", err
		}
		rest := strings.TrimPrefix(dsn, "mysql://")
		// Keep the user's DSN text (Open re-applies defaults); swap only the path segment after the address.
		slash := strings.LastIndex(rest[:indexOrLen(rest, "?")], "/")
		if slash < 0 {
			return "", fmt.Errorf("mysql dsn %s has no database path", db.Redact(dsn))
		}
		return "mysql://" + rest[:slash+1] + name + rest[indexOrLen(rest, "?"):], nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse postgres dsn: %w", err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return "", fmt.Errorf("cannot rewrite database of dsn %s", db.Redact(dsn))
}

func indexOrLen(s, sub string) int {
	if i := strings.Index(s, sub); i >= 0 {
		return i
	}
	return len(s)
}
