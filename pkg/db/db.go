// Package db opens SQL databases by DSN and smooths over the differences between the three supported dialects:
// SQLite (modernc.org/sqlite, pure Go), MySQL/MariaDB (go-sql-driver/mysql) and PostgreSQL (pgx stdlib).
//
// DSNs:
//
//	sqlite://PATH                 file database (relative or absolute: sqlite:///var/lib/x.db)
//	sqlite://memory, sqlite::memory:  private shared-cache in-memory database (unique name per Open)
//	mysql://user:pass@tcp(host:port)/db?params
//	postgres://user:pass@host:port/db?sslmode=disable   (postgresql:// also accepted)
//
// Write portable SQL with '?' placeholders: DB and Tx rebind them to $1.. on PostgreSQL in Exec/Query/QueryRow
// and in the *Context variants. time.Time arguments are converted to UTC so stored times compare correctly on
// every dialect (SQLite stores them as sortable text "2006-01-02 15:04:05.999999999+00:00"; declare such columns
// TIMESTAMP/DATETIME so they scan back into time.Time).
//
// SQLite concurrency: file databases run in WAL mode with busy_timeout(5000), foreign_keys(1) and
// BEGIN IMMEDIATE transactions (_txlock=immediate), with a small connection pool (readers run concurrently,
// writers queue on the busy timeout instead of failing with SQLITE_BUSY). In-memory databases use a single
// connection, so do not hold a Rows open while issuing other statements on the same in-memory DB.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL backend.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	MySQL    Dialect = "mysql"
	Postgres Dialect = "postgres"
)

// Dialects lists every supported dialect, in the order migration trees are checked.
var Dialects = []Dialect{SQLite, MySQL, Postgres}

// MySQLSQLMode is the sql_mode set on every MySQL connection.
const MySQLSQLMode = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"

// DB is a *sql.DB that knows its dialect and rebinds placeholders.
type DB struct {
	*sql.DB
	Dialect Dialect
	// writers admits one transaction at a time to a SQLite file database. SQLite has a single writer and
	// transactions begin IMMEDIATE, so they queue anyway; queueing here is first come, first served and bounded
	// by the context, where SQLite's busy handler lets a waiting writer starve past busy_timeout under load.
	writers chan struct{}
}

// Config is the conventional DSN config block for services (yaml "dsn", flag "<prefix>.dsn").
type Config struct {
	DSN string `yaml:"dsn"`
}

// ParseDialect returns the dialect a DSN selects.
func ParseDialect(dsn string) (Dialect, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return SQLite, nil
	case strings.HasPrefix(dsn, "mysql://"):
		return MySQL, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return Postgres, nil
	case dsn == "":
		return "", errors.New("empty database dsn")
	default:
		return "", fmt.Errorf("unsupported database dsn scheme in %q (want sqlite://, mysql:// or postgres://)", Redact(dsn))
	}
}

// Open opens and pings the database named by dsn.
func Open(ctx context.Context, dsn string) (*DB, error) {
	dialect, err := ParseDialect(dsn)
	if err != nil {
		return nil, err
	}
	var sdb *sql.DB
	switch dialect {
	case SQLite:
		sdb, err = openSQLite(dsn)
	case MySQL:
		sdb, err = openMySQL(dsn)
	case Postgres:
		sdb, err = sql.Open("pgx", dsn)
		if err == nil {
			sdb.SetMaxOpenConns(20)
			sdb.SetMaxIdleConns(5)
			sdb.SetConnMaxLifetime(30 * time.Minute)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	if err := sdb.PingContext(ctx); err != nil {
		_ = sdb.Close()
		return nil, fmt.Errorf("ping %s database %s: %w", dialect, Redact(dsn), err)
	}
	d := &DB{DB: sdb, Dialect: dialect}
	if dialect == SQLite {
		d.writers = make(chan struct{}, 1)
	}
	return d, nil
}

func openSQLite(dsn string) (*sql.DB, error) {
	rest := strings.TrimPrefix(dsn, "sqlite:")
	rest = strings.TrimPrefix(rest, "//")
	path, query, _ := strings.Cut(rest, "?")
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("parse sqlite dsn parameters: %w", err)
	}
	memory := path == "memory" || path == ":memory:"
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "busy_timeout(5000)")
	if params.Get("_time_format") == "" {
		params.Set("_time_format", "sqlite")
	}
	var name string
	if memory {
		params.Set("mode", "memory")
		params.Set("cache", "shared")
		name = "file:darwin-" + uuid.NewString()
	} else {
		if path == "" {
			return nil, errors.New("sqlite dsn has no path")
		}
		// The database file's directory is created on first use, so a fresh data directory just works.
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("create sqlite directory: %w", err)
		}
		params.Add("_pragma", "journal_mode(WAL)")
		params.Add("_pragma", "synchronous(NORMAL)")
		// Reads go through the OS page cache by mmap instead of a pread per page, and each connection keeps
		// 16 MiB of pages (the default is 2 MiB).
		params.Add("_pragma", "mmap_size(1073741824)")
		params.Add("_pragma", "cache_size(-16384)")
		if params.Get("_txlock") == "" {
			params.Set("_txlock", "immediate")
		}
		// SQLite URI filenames treat '?' and '#' specially and decode %HH: escape them so any path works.
		name = "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	}
	sdb, err := sql.Open("sqlite", name+"?"+params.Encode())
	if err != nil {
		return nil, err
	}
	if memory {
		// One connection keeps the in-memory database alive and avoids shared-cache table locks.
		sdb.SetMaxOpenConns(1)
		sdb.SetMaxIdleConns(1)
		sdb.SetConnMaxLifetime(0)
		sdb.SetConnMaxIdleTime(0)
	} else {
		sdb.SetMaxOpenConns(8)
		sdb.SetMaxIdleConns(8)
	}
	return sdb, nil
}

// MySQLConfig parses a mysql:// DSN into a driver config with Darwin's defaults applied (parseTime, UTC,
// multiStatements, strict sql_mode, utf8mb4).
func MySQLConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
	if err != nil {
		return nil, fmt.Errorf("parse mysql dsn: %w", err)
	}
	cfg.ParseTime = true
	cfg.MultiStatements = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["sql_mode"]; !ok {
		cfg.Params["sql_mode"] = "'" + MySQLSQLMode + "'"
	}
	if _, ok := cfg.Params["time_zone"]; !ok {
		cfg.Params["time_zone"] = "'+00:00'"
	}
	if cfg.Collation == "" || cfg.Collation == "utf8mb4_general_ci" {
		cfg.Collation = "utf8mb4_unicode_ci"
	}
	return cfg, nil
}

func openMySQL(dsn string) (*sql.DB, error) {
	cfg, err := MySQLConfig(dsn)
	if err != nil {
		return nil, err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	sdb := sql.OpenDB(connector)
	sdb.SetMaxOpenConns(20)
	sdb.SetMaxIdleConns(5)
	sdb.SetConnMaxLifetime(5 * time.Minute)
	return sdb, nil
}

// Redact hides the password in a DSN for logs and errors.
func Redact(dsn string) string {
	if strings.HasPrefix(dsn, "mysql://") {
		if cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql://")); err == nil && cfg.Passwd != "" {
			cfg.Passwd = "xxxxx"
			return "mysql://" + cfg.FormatDSN()
		}
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsn
}

// Rebind rewrites '?' placeholders to $1, $2, ... for PostgreSQL; other dialects get the query unchanged.
func (d *DB) Rebind(query string) string { return d.Dialect.Rebind(query) }

// Rebind rewrites '?' placeholders for the dialect. Question marks inside quoted strings, quoted identifiers
// and comments are left alone.
func (dl Dialect) Rebind(query string) string {
	if dl != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < len(query) {
				if query[j] == c {
					if j+1 < len(query) && query[j+1] == c { // doubled quote escapes itself
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(query) {
				j = len(query) - 1
			}
			b.WriteString(query[i : j+1])
			i = j
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i - 1
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			end := len(query) - 1
			if j >= 0 {
				end = i + 2 + j + 1
			}
			b.WriteString(query[i : end+1])
			i = end
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Placeholder returns the n-th (1-based) bind placeholder as written for the dialect: "?" or "$n".
func (dl Dialect) Placeholder(n int) string {
	if dl == Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// Placeholders returns n comma-separated '?' placeholders, e.g. for IN lists ("?, ?, ?"); Rebind handles PostgreSQL.
func Placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// LimitOffset returns a " LIMIT n OFFSET m" clause valid on every dialect (negative values are clamped to 0;
// limit 0 means no rows).
func (dl Dialect) LimitOffset(limit, offset int) string {
	return fmt.Sprintf(" LIMIT %d OFFSET %d", max(limit, 0), max(offset, 0))
}

// ForUpdateSkipLocked returns " FOR UPDATE SKIP LOCKED" on MySQL/MariaDB and PostgreSQL and "" on SQLite, where a
// write transaction already holds the database lock.
func (dl Dialect) ForUpdateSkipLocked() string {
	if dl == SQLite {
		return ""
	}
	return " FOR UPDATE SKIP LOCKED"
}

func normArgs(args []any) []any {
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			args[i] = v.UTC()
		case *time.Time:
			if v != nil {
				u := v.UTC()
				args[i] = u
			}
		}
	}
	return args
}

// Exec executes a statement, rebinding placeholders.
func (d *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.DB.ExecContext(ctx, d.Rebind(query), normArgs(args)...)
}

// Query runs a query, rebinding placeholders.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.DB.QueryContext(ctx, d.Rebind(query), normArgs(args)...)
}

// QueryRow runs a single-row query, rebinding placeholders.
func (d *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return d.DB.QueryRowContext(ctx, d.Rebind(query), normArgs(args)...)
}

// ExecContext is Exec (kept so code written against *sql.DB also rebinds).
func (d *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.Exec(ctx, query, args...)
}

// QueryContext is Query.
func (d *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.Query(ctx, query, args...)
}

// QueryRowContext is QueryRow.
func (d *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return d.QueryRow(ctx, query, args...)
}

// Tx is a *sql.Tx that knows its dialect and rebinds placeholders.
type Tx struct {
	*sql.Tx
	Dialect Dialect
	release func() // frees the SQLite writer slot; nil when there is none
}

// Rebind rewrites placeholders for the transaction's dialect.
func (tx *Tx) Rebind(query string) string { return tx.Dialect.Rebind(query) }

// Exec executes a statement in the transaction, rebinding placeholders.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.Rebind(query), normArgs(args)...)
}

// Query runs a query in the transaction, rebinding placeholders.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, tx.Rebind(query), normArgs(args)...)
}

// QueryRow runs a single-row query in the transaction, rebinding placeholders.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.Rebind(query), normArgs(args)...)
}

// ExecContext is Exec.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.Exec(ctx, query, args...)
}

// QueryContext is Query.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.Query(ctx, query, args...)
}

// QueryRowContext is QueryRow.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.QueryRow(ctx, query, args...)
}

// Begin starts a transaction. Prefer Tx, which always commits or rolls back.
func (d *DB) Begin(ctx context.Context) (*Tx, error) {
	release := func() {}
	if d.writers != nil {
		select {
		case d.writers <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("begin transaction: %w", ctx.Err())
		}
		var once sync.Once
		release = func() { once.Do(func() { <-d.writers }) }
	}
	stx, err := d.DB.BeginTx(ctx, nil)
	if err != nil {
		release()
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return &Tx{Tx: stx, Dialect: d.Dialect, release: release}, nil
}

// Commit commits the transaction.
func (tx *Tx) Commit() error {
	err := tx.Tx.Commit()
	tx.done()
	return err
}

// Rollback aborts the transaction.
func (tx *Tx) Rollback() error {
	err := tx.Tx.Rollback()
	tx.done()
	return err
}

func (tx *Tx) done() {
	if tx.release != nil {
		tx.release()
	}
}

// Tx runs fn in a transaction: committed when fn returns nil, rolled back when it returns an error or panics
// (the panic is re-raised). fn's error is returned unwrapped so apierr kinds survive.
func (d *DB) Tx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	tx, err := d.Begin(ctx)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		done = true
		_ = tx.Rollback()
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// IsUniqueViolation reports whether err is a unique or primary-key constraint violation on any dialect.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062 || me.Number == 1586
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// IsForeignKeyViolation reports whether err is a foreign-key constraint violation on any dialect.
func IsForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1451 || me.Number == 1452 || me.Number == 1216 || me.Number == 1217
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	return false
}
