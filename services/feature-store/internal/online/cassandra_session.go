package online

import (
	"bytes"
	"context"

	"github.com/gocql/gocql"
)

// NewCassandraWithSession returns a store over s without connecting or creating the keyspace (tests; OpenCassandra
// is the production constructor).
func NewCassandraWithSession(s CQLSession, o CassandraOptions) (*Cassandra, error) {
	return newCassandra(s, o)
}

// session wraps a CQLSession with statement-typed calls.
type session struct{ CQLSession }

func (s session) exec(ctx context.Context, cl gocql.Consistency, st cqlStatement) error {
	return s.Exec(ctx, cl, st.CQL, st.Values...)
}

func (s session) query(ctx context.Context, cl gocql.Consistency, st cqlStatement, ncols int) ([][][]byte, error) {
	return s.Query(ctx, cl, ncols, st.CQL, st.Values...)
}

func (s session) batch(ctx context.Context, typ gocql.BatchType, cl gocql.Consistency, sts []cqlStatement) error {
	stmts, values := make([]string, len(sts)), make([][]any, len(sts))
	for i, st := range sts {
		stmts[i], values[i] = st.CQL, st.Values
	}
	return s.Batch(ctx, typ, cl, stmts, values)
}

// cqlStatement is one CQL statement and its bound values.
type cqlStatement struct {
	CQL    string
	Values []any
}

// CQLSession is the narrow CQL surface the Cassandra store uses: OpenCassandra adapts a gocql session; tests pass
// a recorder or the in-memory model (package cassandramodel). Values are the Go values the driver binds (see
// jsonToCQL); a list bound to IN ? is a []any.
type CQLSession interface {
	// Exec runs one statement (DDL) at consistency cl.
	Exec(ctx context.Context, cl gocql.Consistency, stmt string, values ...any) error
	// Query runs a SELECT of ncols columns at consistency cl and returns every row's raw column values as
	// Cassandra sends them (nil: null).
	Query(ctx context.Context, cl gocql.Consistency, ncols int, stmt string, values ...any) ([][][]byte, error)
	// Batch runs stmts[i] with values[i] as one batch of type typ at consistency cl.
	Batch(ctx context.Context, typ gocql.BatchType, cl gocql.Consistency, stmts []string, values [][]any) error
	Close()
}

// CassandraSchemaQuery is the statement the store reads a table's columns with (keyspace_name, table_name bound;
// columns column_name text, kind text, position int, type text).
const CassandraSchemaQuery = schemaQuery

// gocqlSession is cqlSession over a gocql session.
type gocqlSession struct{ s *gocql.Session }

func (g gocqlSession) Exec(ctx context.Context, cl gocql.Consistency, stmt string, values ...any) error {
	return g.s.Query(stmt, values...).WithContext(ctx).Consistency(cl).Exec()
}

// rawValue keeps a column's bytes as received (nil for null).
type rawValue struct{ b []byte }

func (r *rawValue) UnmarshalCQL(_ gocql.TypeInfo, data []byte) error {
	if data == nil {
		r.b = nil
		return nil
	}
	r.b = bytes.Clone(data)
	if r.b == nil {
		r.b = []byte{}
	}
	return nil
}

func (g gocqlSession) Query(ctx context.Context, cl gocql.Consistency, ncols int, stmt string, values ...any) ([][][]byte, error) {
	iter := g.s.Query(stmt, values...).WithContext(ctx).Consistency(cl).Idempotent(true).Iter()
	cells := make([]rawValue, ncols)
	dest := make([]any, ncols)
	for i := range cells {
		dest[i] = &cells[i]
	}
	var out [][][]byte
	for iter.Scan(dest...) {
		row := make([][]byte, ncols)
		for i := range cells {
			row[i] = cells[i].b
		}
		out = append(out, row)
	}
	if err := iter.Close(); err != nil {
		return nil, err
	}
	return out, nil
}

func (g gocqlSession) Batch(ctx context.Context, typ gocql.BatchType, cl gocql.Consistency, stmts []string, values [][]any) error {
	b := g.s.NewBatch(typ).WithContext(ctx)
	b.SetConsistency(cl)
	for i, st := range stmts {
		b.Query(st, values[i]...)
	}
	return g.s.ExecuteBatch(b)
}

func (g gocqlSession) Close() { g.s.Close() }
