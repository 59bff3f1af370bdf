package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MigrationFile is one NNNN_name.up.sql file of a migration tree.
type MigrationFile struct {
	Version int
	Name    string // the part between "NNNN_" and ".up.sql"
	Path    string // path inside the fs.FS
}

var migrationName = regexp.MustCompile(`^(\d+)_([A-Za-z0-9_\-]+)\.up\.sql$`)

// migrateLockKey is the PostgreSQL advisory lock key and the MySQL GET_LOCK name used while migrating.
const (
	migrateLockKey  int64 = 0x6461727769 // "darwi"
	migrateLockName       = "darwin_migrate"
)

// ListMigrations returns the up-migrations of one dialect's tree (fsys/<dialect>/), ordered by version.
// Files that are not *.up.sql are ignored; a malformed *.up.sql name or a duplicated version is an error.
func ListMigrations(fsys fs.FS, dialect Dialect) ([]MigrationFile, error) {
	dir := string(dialect)
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations directory %q: %w", dir, err)
	}
	var out []MigrationFile
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".up.sql") {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_name.up.sql", dir, e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("migration %s/%s: version: %w", dir, e.Name(), err)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s/%s and %s/%s share version %d", dir, prev, dir, e.Name(), v)
		}
		seen[v] = e.Name()
		out = append(out, MigrationFile{Version: v, Name: m[2], Path: path.Join(dir, e.Name())})
	}
	slices.SortFunc(out, func(a, b MigrationFile) int { return a.Version - b.Version })
	return out, nil
}

// CheckMigrationTrees verifies that the sqlite, mysql and postgres trees hold the same versions with the same
// names. Use it in a test next to each service's embedded migrations.
func CheckMigrationTrees(fsys fs.FS) error {
	trees := map[Dialect][]MigrationFile{}
	for _, d := range Dialects {
		files, err := ListMigrations(fsys, d)
		if err != nil {
			return err
		}
		trees[d] = files
	}
	var problems []string
	ref := trees[SQLite]
	for _, d := range Dialects[1:] {
		other := trees[d]
		byVersion := map[int]string{}
		for _, f := range other {
			byVersion[f.Version] = f.Name
		}
		for _, f := range ref {
			name, ok := byVersion[f.Version]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s lacks %04d_%s (present in sqlite)", d, f.Version, f.Name))
			case name != f.Name:
				problems = append(problems, fmt.Sprintf("version %04d is %q in sqlite but %q in %s", f.Version, f.Name, name, d))
			}
			delete(byVersion, f.Version)
		}
		for v, name := range byVersion {
			problems = append(problems, fmt.Sprintf("%s has %04d_%s that sqlite lacks", d, v, name))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("migration trees differ: %s", strings.Join(problems, "; "))
	}
	return nil
}

// SplitStatements splits a SQL script into statements at ';' that ends a line (trailing spaces and a "--"
// comment allowed), ignoring semicolons inside quotes and PostgreSQL dollar-quoted bodies. Empty statements
// and comment-only chunks are dropped.
func SplitStatements(script string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s != "" && !commentOnly(s) {
			out = append(out, s)
		}
	}
	inQuote := byte(0)
	dollarTag := ""
	for i := 0; i < len(script); i++ {
		c := script[i]
		switch {
		case dollarTag != "":
			if strings.HasPrefix(script[i:], dollarTag) {
				cur.WriteString(dollarTag)
				i += len(dollarTag) - 1
				dollarTag = ""
				continue
			}
		case inQuote != 0:
			if c == inQuote {
				inQuote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			inQuote = c
		case c == '-' && i+1 < len(script) && script[i+1] == '-':
			j := strings.IndexByte(script[i:], '\n')
			if j < 0 {
				j = len(script) - i
			}
			cur.WriteString(script[i : i+j])
			i += j - 1
			continue
		case c == '$':
			if m := dollarQuote.FindString(script[i:]); m != "" {
				dollarTag = m
				cur.WriteString(m)
				i += len(m) - 1
				continue
			}
		case c == ';':
			rest := script[i+1:]
			line, _, _ := strings.Cut(rest, "\n")
			trimmed := strings.TrimSpace(line)
			if trimmed == "" || strings.HasPrefix(trimmed, "--") {
				cur.WriteByte(';')
				flush()
				continue
			}
		}
		cur.WriteByte(c)
	}
	flush()
	return out
}

var dollarQuote = regexp.MustCompile(`^\$[A-Za-z_]*\$`)

func commentOnly(s string) bool {
	for line := range strings.SplitSeq(s, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && t != ";" && !strings.HasPrefix(t, "--") {
			return false
		}
	}
	return true
}

// Migrate applies fsys/<dialect>/NNNN_name.up.sql files that are not yet recorded for component in
// schema_migrations(component, version, name, applied_at). It is idempotent and safe when several processes
// migrate at once: MySQL holds GET_LOCK, PostgreSQL pg_advisory_lock, and SQLite applies each file inside a
// BEGIN IMMEDIATE transaction after re-checking it is still pending. On SQLite and PostgreSQL each file and its
// schema_migrations row commit atomically; MySQL DDL is not transactional, so a failed file leaves the
// statements before the failure applied (split on ';' at line ends and run one by one, the error names the
// statement).
func Migrate(ctx context.Context, d *DB, component string, fsys fs.FS) error {
	files, err := ListMigrations(fsys, d.Dialect)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	conn, err := d.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: get connection: %w", component, err)
	}
	defer conn.Close()

	switch d.Dialect {
	case MySQL:
		var got sql.NullInt64
		// GET_LOCK is server-wide; include the database name so migrations of different databases don't queue.
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(LEFT(CONCAT(?, COALESCE(DATABASE(), '')), 64), 300)", migrateLockName+":").Scan(&got); err != nil {
			return fmt.Errorf("migrate %s: take lock: %w", component, err)
		}
		if !got.Valid || got.Int64 != 1 {
			return fmt.Errorf("migrate %s: lock %s not granted", component, migrateLockName)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(LEFT(CONCAT(?, COALESCE(DATABASE(), '')), 64))", migrateLockName+":")
		}()
	case Postgres:
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
			return fmt.Errorf("migrate %s: take advisory lock: %w", component, err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey)
		}()
	}

	if err := createMigrationsTable(ctx, conn, d.Dialect); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	for _, f := range files {
		body, err := fs.ReadFile(fsys, f.Path)
		if err != nil {
			return fmt.Errorf("migrate %s: read %s: %w", component, f.Path, err)
		}
		if err := applyOne(ctx, conn, d.Dialect, component, f, string(body)); err != nil {
			return fmt.Errorf("migrate %s: %s: %w", component, f.Path, err)
		}
	}
	return nil
}

func createMigrationsTable(ctx context.Context, conn *sql.Conn, dl Dialect) error {
	var ddl string
	switch dl {
	case MySQL:
		ddl = `CREATE TABLE IF NOT EXISTS schema_migrations (
			component VARCHAR(100) NOT NULL,
			version INT NOT NULL,
			name VARCHAR(255) NOT NULL,
			applied_at DATETIME(6) NOT NULL,
			PRIMARY KEY (component, version)
		)`
	case Postgres:
		ddl = `CREATE TABLE IF NOT EXISTS schema_migrations (
			component VARCHAR(100) NOT NULL,
			version INTEGER NOT NULL,
			name VARCHAR(255) NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL,
			PRIMARY KEY (component, version)
		)`
	default:
		ddl = `CREATE TABLE IF NOT EXISTS schema_migrations (
			component TEXT NOT NULL,
			version INTEGER NOT NULL,
			name TEXT NOT NULL,
			applied_at TIMESTAMP NOT NULL,
			PRIMARY KEY (component, version)
		)`
	}
	if _, err := conn.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func applied(ctx context.Context, q execer, dl Dialect, component string, version int) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, dl.Rebind("SELECT COUNT(*) FROM schema_migrations WHERE component = ? AND version = ?"),
		component, version).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read schema_migrations: %w", err)
	}
	return n > 0, nil
}

func record(ctx context.Context, q execer, dl Dialect, component string, f MigrationFile) error {
	_, err := q.ExecContext(ctx,
		dl.Rebind("INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)"),
		component, f.Version, f.Name, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("record version %d: %w", f.Version, err)
	}
	return nil
}

func applyOne(ctx context.Context, conn *sql.Conn, dl Dialect, component string, f MigrationFile, body string) error {
	if dl == MySQL {
		done, err := applied(ctx, conn, dl, component, f.Version)
		if err != nil || done {
			return err
		}
		for i, stmt := range SplitStatements(body) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("statement %d: %w", i+1, err)
			}
		}
		return record(ctx, conn, dl, component, f)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	done, err := applied(ctx, tx, dl, component, f.Version)
	if err != nil || done {
		return err
	}
	if strings.TrimSpace(body) != "" {
		if _, err := tx.ExecContext(ctx, body); err != nil {
			return err
		}
	}
	if err := record(ctx, tx, dl, component, f); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// AppliedVersions returns the versions recorded for component, ascending.
func AppliedVersions(ctx context.Context, d *DB, component string) ([]int, error) {
	rows, err := d.Query(ctx, "SELECT version FROM schema_migrations WHERE component = ? ORDER BY version", component)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, errors.Join(rows.Err())
}

// MigrateDSN opens the database at dsn, applies component's migrations and closes it: a service binary's
// `migrate` subcommand.
func MigrateDSN(ctx context.Context, dsn, component string, fsys fs.FS) error {
	d, err := Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("open %s database: %w", component, err)
	}
	defer d.Close()
	return Migrate(ctx, d, component, fsys)
}

// MigrateOnStart applies component's migrations when a service starts: always on SQLite (the embedded default,
// one process owns the file), and on MySQL/PostgreSQL only when autoMigrate is set (production runs the
// `migrate` subcommand as a deployment step instead).
func MigrateOnStart(ctx context.Context, d *DB, autoMigrate bool, component string, fsys fs.FS) error {
	if d.Dialect != SQLite && !autoMigrate {
		return nil
	}
	return Migrate(ctx, d, component, fsys)
}
