package online

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// EnsureKeyspace creates the keyspace with the configured replication when it does not exist.
func (c *Cassandra) EnsureKeyspace(ctx context.Context) error {
	q := "CREATE KEYSPACE IF NOT EXISTS " + quote(c.ks) + " WITH replication = " + c.repl
	if err := c.s.exec(ctx, c.cl, cqlStatement{CQL: q}); err != nil {
		return fmt.Errorf("cassandra: create keyspace %s: %w", c.ks, err)
	}
	return nil
}

// schemaQuery reads one table's columns.
const schemaQuery = "SELECT column_name, kind, position, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?"

// schemaFor returns table's schema from the cache, re-reading system_schema when reload is set, when it is not
// cached, or when it misses the table or one of need and was read more than schemaRecheck ago.
func (c *Cassandra) schemaFor(ctx context.Context, table string, need []string, reload bool) (*tableInfo, error) {
	c.mu.RLock()
	ti := c.tables[table]
	c.mu.RUnlock()
	if ti != nil && !reload {
		if ti.exists && ti.hasAll(need) {
			return ti, nil
		}
		if c.now().Sub(ti.loaded) < schemaRecheck {
			return ti, nil
		}
	}
	return c.loadSchema(ctx, table)
}

// loadSchema reads table's columns from system_schema.columns and caches them.
func (c *Cassandra) loadSchema(ctx context.Context, table string) (*tableInfo, error) {
	rows, err := c.s.query(ctx, gocql.LocalOne, cqlStatement{CQL: schemaQuery, Values: []any{c.ks, table}}, 4)
	if err != nil {
		return nil, fmt.Errorf("cassandra: read schema of %s.%s: %w", c.ks, table, err)
	}
	ti := &tableInfo{types: map[string]string{}, loaded: c.now()}
	type keyCol struct {
		col       ColumnSchema
		partition bool
		pos       int
	}
	var keys []keyCol
	text := gocql.NewNativeType(cqlProto, gocql.TypeText, "")
	for _, r := range rows {
		var name, kind, typ string
		var pos int
		if err := errors.Join(gocql.Unmarshal(text, r[0], &name), gocql.Unmarshal(text, r[1], &kind),
			gocql.Unmarshal(gocql.NewNativeType(cqlProto, gocql.TypeInt, ""), r[2], &pos), gocql.Unmarshal(text, r[3], &typ)); err != nil {
			return nil, fmt.Errorf("cassandra: read schema of %s.%s: %w", c.ks, table, err)
		}
		t := normType(typ)
		if _, ok := cqlTypes[t]; !ok {
			t = ""
		}
		ti.types[name] = t
		ti.exists = true
		if kind == "partition_key" || kind == "clustering" {
			keys = append(keys, keyCol{ColumnSchema{name, t}, kind == "partition_key", pos})
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].partition != keys[j].partition {
			return keys[i].partition
		}
		return keys[i].pos < keys[j].pos
	})
	for _, k := range keys {
		if k.col.Type == "" {
			return nil, fmt.Errorf("cassandra: %s.%s: key column %s has a type the store cannot bind", c.ks, table, k.col.Name)
		}
		ti.pk = append(ti.pk, k.col)
	}
	if ti.exists && len(ti.pk) == 0 {
		return nil, fmt.Errorf("cassandra: %s.%s has no key columns", c.ks, table)
	}
	c.mu.Lock()
	c.tables[table] = ti
	c.mu.Unlock()
	return ti, nil
}

func (c *Cassandra) invalidate(table string) {
	c.mu.Lock()
	delete(c.tables, table)
	c.mu.Unlock()
}

func validColumns(cols []ColumnSchema) error {
	for _, col := range cols {
		if !validColumnName(col.Name) {
			return fmt.Errorf("cassandra: invalid column name %q", col.Name)
		}
		if _, ok := cqlTypes[strings.ToUpper(col.Type)]; !ok {
			return fmt.Errorf("cassandra: column %s: unsupported type %q", col.Name, col.Type)
		}
	}
	return nil
}

// validColumnName accepts entity columns and <fg>__<version>__<col> store columns.
func validColumnName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, p := range strings.Split(s, domain.Separator) {
		if !domain.ValidIdent(p) {
			return false
		}
	}
	return true
}

// CreateTable implements Schema: CREATE TABLE IF NOT EXISTS ks.t (cols, PRIMARY KEY (p, c...)) [WITH
// default_time_to_live = N], then reads the table's schema back and fails when an existing table has another key
// or types.
func (c *Cassandra) CreateTable(ctx context.Context, t TableSchema) error {
	if !domain.ValidIdent(t.Name) {
		return fmt.Errorf("cassandra: invalid table name %q", t.Name)
	}
	if err := validColumns(t.Columns); err != nil {
		return err
	}
	types := map[string]string{}
	defs := make([]string, 0, len(t.Columns)+1)
	for _, col := range t.Columns {
		types[col.Name] = normType(col.Type)
		defs = append(defs, quote(col.Name)+" "+strings.ToUpper(col.Type))
	}
	if len(t.PrimaryKey) == 0 {
		return errors.New("cassandra: a table needs a primary key")
	}
	pk := make([]string, len(t.PrimaryKey))
	for i, p := range t.PrimaryKey {
		if _, ok := types[p]; !ok {
			return fmt.Errorf("cassandra: primary key %s is not a column", p)
		}
		pk[i] = quote(p)
	}
	ttl, err := ttlSeconds(t.TTL)
	if err != nil {
		return err
	}
	defs = append(defs, "PRIMARY KEY ("+strings.Join(pk, ", ")+")")
	q := "CREATE TABLE IF NOT EXISTS " + c.table(t.Name) + " (" + strings.Join(defs, ", ") + ")"
	if ttl > 0 {
		q += " WITH default_time_to_live = " + strconv.Itoa(int(ttl))
	}
	if err := c.s.exec(ctx, c.cl, cqlStatement{CQL: q}); err != nil {
		return fmt.Errorf("cassandra: create table %s.%s: %w", c.ks, t.Name, err)
	}
	ti, err := c.loadSchema(ctx, t.Name)
	if err != nil {
		return err
	}
	if !ti.exists {
		return fmt.Errorf("cassandra: table %s.%s missing after CREATE TABLE", c.ks, t.Name)
	}
	var diffs []string
	if len(ti.pk) != len(t.PrimaryKey) {
		diffs = append(diffs, fmt.Sprintf("primary key has %d columns, want %d", len(ti.pk), len(t.PrimaryKey)))
	} else {
		for i, p := range ti.pk {
			if p.Name != t.PrimaryKey[i] {
				diffs = append(diffs, fmt.Sprintf("primary key column %d is %s, want %s", i+1, p.Name, t.PrimaryKey[i]))
			}
		}
	}
	for _, col := range t.Columns {
		if got, ok := ti.types[col.Name]; !ok || got != normType(col.Type) {
			diffs = append(diffs, fmt.Sprintf("column %s is %q, want %s", col.Name, got, normType(col.Type)))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("cassandra: table %s.%s exists with another schema: %s", c.ks, t.Name, strings.Join(diffs, "; "))
	}
	c.log.Info("cassandra table ready", "keyspace", c.ks, "table", t.Name, "ttl_s", ttl)
	return nil
}

// AddColumns implements Schema: one ALTER TABLE ks.t ADD "col" TYPE per column the table lacks (a column that
// appears concurrently is fine; one of another type is an error).
func (c *Cassandra) AddColumns(ctx context.Context, table string, cols []ColumnSchema) error {
	if !domain.ValidIdent(table) {
		return fmt.Errorf("cassandra: invalid table name %q", table)
	}
	if err := validColumns(cols); err != nil {
		return err
	}
	ti, err := c.loadSchema(ctx, table)
	if err != nil {
		return err
	}
	if !ti.exists {
		return fmt.Errorf("cassandra: table %s.%s does not exist", c.ks, table)
	}
	added := 0
	for _, col := range cols {
		want := normType(col.Type)
		if got, ok := ti.types[col.Name]; ok {
			if got != want {
				return fmt.Errorf("cassandra: %s.%s.%s exists as %q, want %s", c.ks, table, col.Name, got, want)
			}
			continue
		}
		q := "ALTER TABLE " + c.table(table) + " ADD " + quote(col.Name) + " " + strings.ToUpper(col.Type)
		if err := c.s.exec(ctx, c.cl, cqlStatement{CQL: q}); err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("cassandra: add column %s to %s.%s: %w", col.Name, c.ks, table, err)
		}
		added++
	}
	if added > 0 {
		ti, err = c.loadSchema(ctx, table)
		if err != nil {
			return err
		}
		for _, col := range cols {
			if got := ti.types[col.Name]; got != normType(col.Type) {
				return fmt.Errorf("cassandra: %s.%s.%s is %q after ALTER TABLE, want %s", c.ks, table, col.Name, got, normType(col.Type))
			}
		}
		c.log.Info("cassandra columns added", "keyspace", c.ks, "table", table, "columns", added)
	}
	return nil
}

// SetTableTTL implements Schema: ALTER TABLE ks.t WITH default_time_to_live = N.
func (c *Cassandra) SetTableTTL(ctx context.Context, table string, ttl time.Duration) error {
	if !domain.ValidIdent(table) {
		return fmt.Errorf("cassandra: invalid table name %q", table)
	}
	s, err := ttlSeconds(ttl)
	if err != nil {
		return err
	}
	q := "ALTER TABLE " + c.table(table) + " WITH default_time_to_live = " + strconv.Itoa(int(s))
	if err := c.s.exec(ctx, c.cl, cqlStatement{CQL: q}); err != nil {
		return fmt.Errorf("cassandra: set TTL of %s.%s: %w", c.ks, table, err)
	}
	return nil
}
