// Package online is the feature store's online key-value store behind one interface, with an embedded Pebble
// implementation (the default) and a Redis one.
//
// # Contract
//
// A Store holds tables (one per entity); a table holds rows addressed by an opaque key (the encoded primary key,
// never empty); a row holds cells: column name → value bytes (canonical JSON, never empty).
//
//   - Write applies every WriteOp of a call (possibly several tables) in one round trip to the backend. Each row is an
//     upsert: the given cells replace those columns, other columns keep their values, and a nil cell value deletes
//     that column (a CQL null). Writing a row makes it exist, even with no cells.
//   - TTL > 0 makes the written cells and the row's existence expire TTL after that write; TTL == 0 never expires.
//     Implementations may expire a whole row TTL after its last write (Redis does: one key per row).
//   - Read answers every ReadOp of a call in one round trip: for each key, whether the row exists (was written and
//     has not expired) and the requested columns' values in order, nil when absent. Unknown tables read as empty.
//
// A Cassandra implementation maps this onto §5.2's layout: keyspace ofs, table = entity table name, primary key
// columns decoded from the key, cells = the <fg>__<version>__<col> columns, Write = one unlogged BATCH of
// INSERT ... USING TTL per table row, Read = SELECT <cols> FROM ofs.<table> WHERE (pk...) IN (...) per ReadOp,
// issued concurrently (a partition-key IN is one coordinator round trip).
package online

import (
	"context"
	"time"
)

// Cell is one column value of a row; a nil Value deletes the column.
type Cell struct {
	Column string
	Value  []byte
}

// Row is a key and the cells written to it.
type Row struct {
	Key   []byte
	Cells []Cell
}

// WriteOp writes rows to one table.
type WriteOp struct {
	Table string
	TTL   time.Duration
	Rows  []Row
}

// ReadOp reads columns of keys from one table.
type ReadOp struct {
	Table   string
	Keys    [][]byte
	Columns []string
}

// ReadResult answers one ReadOp: Found[k] and Values[k][c] (nil when the column is absent).
type ReadResult struct {
	Found  []bool
	Values [][][]byte
}

// Store is an online feature store backend.
type Store interface {
	Write(ctx context.Context, ops []WriteOp) error
	Read(ctx context.Context, ops []ReadOp) ([]ReadResult, error)
	Close() error
}

func newResult(op ReadOp) ReadResult {
	r := ReadResult{Found: make([]bool, len(op.Keys)), Values: make([][][]byte, len(op.Keys))}
	flat := make([][]byte, len(op.Keys)*len(op.Columns))
	for i := range op.Keys {
		r.Values[i] = flat[i*len(op.Columns) : (i+1)*len(op.Columns) : (i+1)*len(op.Columns)]
	}
	return r
}

// ColumnSchema is one typed column of a table; Type is a CQL type name of domain.ColumnTypes (TEXT, BIGINT, ...).
type ColumnSchema struct {
	Name string
	Type string
}

// TableSchema describes an entity table: every entity column, the primary key (the first column is the partition
// key, the rest clustering columns) and the default TTL (0: none).
type TableSchema struct {
	Name       string
	Columns    []ColumnSchema
	PrimaryKey []string
	TTL        time.Duration
}

// Schema is implemented by stores whose tables and columns must exist before they are written (Cassandra). The
// admin API calls it before it records metadata, so a DDL failure leaves no metadata behind; every method is
// idempotent (re-running after a partial failure is safe). Stores without it (Pebble, Redis) are schemaless.
type Schema interface {
	// CreateTable creates the table if it does not exist (and fails when an existing one has another primary key).
	CreateTable(ctx context.Context, t TableSchema) error
	// AddColumns adds the columns the table lacks; existing columns of the same type are kept.
	AddColumns(ctx context.Context, table string, cols []ColumnSchema) error
	// SetTableTTL sets the table's default TTL (0: none).
	SetTableTTL(ctx context.Context, table string, ttl time.Duration) error
}
