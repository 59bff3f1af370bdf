// Package cassandramodel is an in-memory model of the CQL the feature store's Cassandra online store issues, for
// tests: no Cassandra server can run on the build machines.
package cassandramodel

import (
	"context"
	"encoding/binary"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"
)

// SchemaQuery is the system_schema statement the store reads table columns with (online.CassandraSchemaQuery).
const SchemaQuery = "SELECT column_name, kind, position, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?"

// Error is a server error as gocql reports it (gocql.RequestError): the model answers unknown tables and columns
// with gocql.ErrCodeInvalid and Cassandra's messages ("unconfigured table t", "Undefined column name c").
type Error struct {
	code int
	msg  string
}

// Code is the CQL error code.
func (e Error) Code() int { return e.code }

// Message is the server's message.
func (e Error) Message() string { return e.msg }

func (e Error) Error() string { return e.msg }

func cqlErr(code int, msg string) error { return Error{code, msg} }

type schemaCol struct {
	name, kind string
	pos        int
	typ        string
}

var types = map[string]gocql.Type{
	"TEXT": gocql.TypeText, "ASCII": gocql.TypeAscii, "BLOB": gocql.TypeBlob,
	"BOOLEAN": gocql.TypeBoolean, "DECIMAL": gocql.TypeDecimal, "DOUBLE": gocql.TypeDouble, "FLOAT": gocql.TypeFloat,
	"INT": gocql.TypeInt, "BIGINT": gocql.TypeBigInt, "TIMESTAMP": gocql.TypeTimestamp, "TIMEUUID": gocql.TypeTimeUUID,
	"UUID": gocql.TypeUUID, "INET": gocql.TypeInet, "VARINT": gocql.TypeVarint,
}

func normType(t string) string {
	t = strings.ToUpper(t)
	if t == "VARCHAR" {
		return "TEXT"
	}
	return t
}

// marshalCQL marshals v as gocql does for a column of type typ (protocol 4).
func marshalCQL(typ string, v any) ([]byte, error) {
	t, ok := types[normType(typ)]
	if !ok {
		return nil, fmt.Errorf("model: type %q", typ)
	}
	return gocql.Marshal(gocql.NewNativeType(4, t, ""), v)
}

func mustMarshal(typ string, v any) []byte {
	b, err := marshalCQL(typ, v)
	if err != nil {
		panic(err)
	}
	return b
}

func keyID(cols [][]byte) string {
	var b []byte
	for _, c := range cols {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return string(b)
}

// Model is an in-memory model of the CQL the Cassandra store issues, with Cassandra's write semantics: an INSERT
// sets the row marker and each named cell with the statement's TTL, a null cell is a tombstone, a row exists while
// its marker or any cell is live, and bound values are marshalled with gocql per the column types (so a value the
// driver would refuse fails here too). It lets the contract suite run against the store without a server; it is
// a model, so the suite also runs against a real cluster when DARWIN_TEST_CASSANDRA_HOSTS is set.
type Model struct {
	mu     sync.Mutex
	now    func() time.Time
	tables map[string]*simTable // keyspace.table
}

type simTable struct {
	ks, name string
	cols     []schemaCol
	types    map[string]string
	pk       []string
	ttl      int
	rows     map[string]*simRow
}

type simRow struct {
	key    [][]byte
	marker int64 // expiry, unix seconds; 0 never; -1 none
	cells  map[string]simCell
}

type simCell struct {
	v      []byte
	expiry int64
}

// New returns an empty model whose TTLs run on now.
func New(now func() time.Time) *Model { return &Model{now: now, tables: map[string]*simTable{}} }

var (
	simIdent   = `"((?:[^"]|"")+)"`
	simInsert  = regexp.MustCompile(`^INSERT INTO ` + simIdent + `\.` + simIdent + ` \((.*)\) VALUES \(([?, ]*)\) USING TTL \?$`)
	simSelect  = regexp.MustCompile(`^SELECT (.*) FROM ` + simIdent + `\.` + simIdent + ` WHERE (.*)$`)
	simCreate  = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS ` + simIdent + `\.` + simIdent + ` \((.*), PRIMARY KEY \((.*)\)\)(?: WITH default_time_to_live = (\d+))?$`)
	simAdd     = regexp.MustCompile(`^ALTER TABLE ` + simIdent + `\.` + simIdent + ` ADD ` + simIdent + ` ([A-Z]+)$`)
	simTTL     = regexp.MustCompile(`^ALTER TABLE ` + simIdent + `\.` + simIdent + ` WITH default_time_to_live = (\d+)$`)
	simDropKS  = regexp.MustCompile(`^DROP KEYSPACE`)
	simQuoted  = regexp.MustCompile(simIdent)
	simCreateK = regexp.MustCompile(`^CREATE KEYSPACE IF NOT EXISTS `)
)

func unq(s string) string { return strings.ReplaceAll(s, `""`, `"`) }

func idents(s string) []string {
	var out []string
	for _, m := range simQuoted.FindAllStringSubmatch(s, -1) {
		out = append(out, unq(m[1]))
	}
	return out
}

// Exec runs DDL: CREATE KEYSPACE/DROP KEYSPACE (no-ops), CREATE TABLE IF NOT EXISTS, ALTER TABLE ADD, ALTER TABLE
// WITH default_time_to_live.
func (s *Model) Exec(ctx context.Context, _ gocql.Consistency, q string, _ ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case simCreateK.MatchString(q), simDropKS.MatchString(q):
		return nil
	case simCreate.MatchString(q):
		m := simCreate.FindStringSubmatch(q)
		id := unq(m[1]) + "." + unq(m[2])
		if s.tables[id] != nil {
			return nil
		}
		t := &simTable{ks: unq(m[1]), name: unq(m[2]), types: map[string]string{}, rows: map[string]*simRow{}, pk: idents(m[4])}
		t.ttl, _ = strconv.Atoi(m[5])
		for _, def := range strings.Split(m[3], ", ") {
			name, typ := unq(strings.Trim(def[:strings.LastIndex(def, " ")], `"`)), def[strings.LastIndex(def, " ")+1:]
			t.types[name] = normType(typ)
			kind := "regular"
			for i, p := range t.pk {
				if p == name {
					kind = "clustering"
					if i == 0 {
						kind = "partition_key"
					}
					t.cols = append(t.cols, schemaCol{name, kind, max(0, i-1), strings.ToLower(normType(typ))})
				}
			}
			if kind == "regular" {
				t.cols = append(t.cols, schemaCol{name, kind, -1, strings.ToLower(normType(typ))})
			}
		}
		s.tables[id] = t
		return nil
	case simAdd.MatchString(q):
		m := simAdd.FindStringSubmatch(q)
		t := s.tables[unq(m[1])+"."+unq(m[2])]
		if t == nil {
			return cqlErr(gocql.ErrCodeInvalid, "unconfigured table "+unq(m[2]))
		}
		col := unq(m[3])
		if _, ok := t.types[col]; ok {
			return cqlErr(gocql.ErrCodeInvalid, "Invalid column name "+col+" because it conflicts with an existing column")
		}
		t.types[col] = normType(m[4])
		t.cols = append(t.cols, schemaCol{col, "regular", -1, strings.ToLower(normType(m[4]))})
		return nil
	case simTTL.MatchString(q):
		m := simTTL.FindStringSubmatch(q)
		t := s.tables[unq(m[1])+"."+unq(m[2])]
		if t == nil {
			return cqlErr(gocql.ErrCodeInvalid, "unconfigured table "+unq(m[2]))
		}
		t.ttl, _ = strconv.Atoi(m[3])
		return nil
	}
	return fmt.Errorf("model: unsupported statement %q", q)
}

// Batch applies an unlogged batch of INSERT ... USING TTL ? statements, all or nothing.
func (s *Model) Batch(ctx context.Context, typ gocql.BatchType, _ gocql.Consistency, stmts []string, values [][]any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if typ != gocql.UnloggedBatch {
		return fmt.Errorf("model: batch type %d", typ)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type applied struct {
		t   *simTable
		key [][]byte
		set map[string][]byte
		ttl int
	}
	// Validate and marshal every statement first: a batch is applied whole or not at all.
	var all []applied
	for i, stmt := range stmts {
		st := struct {
			CQL    string
			Values []any
		}{stmt, values[i]}
		m := simInsert.FindStringSubmatch(st.CQL)
		if m == nil {
			return fmt.Errorf("model: unsupported batch statement %q", st.CQL)
		}
		t := s.tables[unq(m[1])+"."+unq(m[2])]
		if t == nil {
			return cqlErr(gocql.ErrCodeInvalid, "unconfigured table "+unq(m[2]))
		}
		cols := idents(m[3])
		if len(st.Values) != len(cols)+1 || strings.Count(m[4], "?") != len(cols) {
			return fmt.Errorf("model: %d values for %d columns", len(st.Values), len(cols))
		}
		a := applied{t: t, set: map[string][]byte{}}
		ttl, ok := st.Values[len(cols)].(int32)
		if !ok || ttl < 0 {
			return fmt.Errorf("model: TTL %v", st.Values[len(cols)])
		}
		a.ttl = int(ttl)
		for i, col := range cols {
			typ, ok := t.types[col]
			if !ok {
				return cqlErr(gocql.ErrCodeInvalid, "Undefined column name "+col)
			}
			if _, dup := a.set[col]; dup {
				return cqlErr(gocql.ErrCodeInvalid, "Multiple definitions found for column "+col)
			}
			b, err := marshalCQL(typ, st.Values[i])
			if err != nil {
				return err
			}
			a.set[col] = b
		}
		for _, p := range t.pk {
			v, ok := a.set[p]
			if !ok || v == nil {
				return cqlErr(gocql.ErrCodeInvalid, "Some primary key parts are missing or null: "+p)
			}
			a.key = append(a.key, v)
			delete(a.set, p)
		}
		all = append(all, a)
	}
	now := s.now().Unix()
	for _, a := range all {
		exp := int64(0)
		if a.ttl > 0 {
			exp = now + int64(a.ttl)
		}
		id := keyID(a.key)
		r := a.t.rows[id]
		if r == nil {
			r = &simRow{key: a.key, cells: map[string]simCell{}}
			a.t.rows[id] = r
		}
		r.marker = exp
		for col, v := range a.set {
			if v == nil {
				delete(r.cells, col)
				continue
			}
			r.cells[col] = simCell{v: v, expiry: exp}
		}
	}
	return nil
}

func live(exp, now int64) bool { return exp == 0 || exp > now }

// Query answers the system_schema query and SELECT ... WHERE p IN ? / WHERE p = ? AND c = ? ... statements.
func (s *Model) Query(ctx context.Context, _ gocql.Consistency, ncols int, stmt string, values ...any) ([][][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := struct {
		CQL    string
		Values []any
	}{stmt, values}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.CQL == SchemaQuery {
		t := s.tables[st.Values[0].(string)+"."+st.Values[1].(string)]
		if t == nil {
			return nil, nil
		}
		var rows [][][]byte
		for _, c := range t.cols {
			rows = append(rows, [][]byte{mustMarshal("TEXT", c.name), mustMarshal("TEXT", c.kind), mustMarshal("INT", int32(c.pos)), mustMarshal("TEXT", c.typ)})
		}
		return rows, nil
	}
	m := simSelect.FindStringSubmatch(st.CQL)
	if m == nil {
		return nil, fmt.Errorf("model: unsupported query %q", st.CQL)
	}
	t := s.tables[unq(m[2])+"."+unq(m[3])]
	if t == nil {
		return nil, cqlErr(gocql.ErrCodeInvalid, "unconfigured table "+unq(m[3]))
	}
	sel := idents(m[1])
	if len(sel) != ncols {
		return nil, fmt.Errorf("model: %d columns selected, scanning %d", len(sel), ncols)
	}
	for _, c := range sel {
		if _, ok := t.types[c]; !ok {
			return nil, cqlErr(gocql.ErrCodeInvalid, "Undefined column name "+c)
		}
	}
	where := m[4]
	if strings.HasSuffix(where, " LIMIT ?") {
		return s.scan(t, sel, strings.TrimSuffix(where, " LIMIT ?"), st.Values[:len(st.Values)-1], st.Values[len(st.Values)-1])
	}
	if n := strings.Count(where, " = ?"); n < len(t.pk) && !strings.HasSuffix(where, " IN ?") {
		return s.scan(t, sel, where, st.Values, nil)
	}
	var keys [][][]byte
	if strings.HasSuffix(where, " IN ?") {
		if where != `"`+t.pk[0]+`" IN ?` || len(t.pk) != 1 {
			return nil, fmt.Errorf("model: IN on %q", where)
		}
		for _, v := range st.Values[0].([]any) {
			b, err := marshalCQL(t.types[t.pk[0]], v)
			if err != nil {
				return nil, err
			}
			keys = append(keys, [][]byte{b})
		}
	} else {
		conds := strings.Split(where, " AND ")
		if len(conds) != len(t.pk) || len(st.Values) != len(t.pk) {
			return nil, fmt.Errorf("model: where %q", where)
		}
		var k [][]byte
		for i, c := range conds {
			if c != `"`+t.pk[i]+`" = ?` {
				return nil, fmt.Errorf("model: condition %q", c)
			}
			b, err := marshalCQL(t.types[t.pk[i]], st.Values[i])
			if err != nil {
				return nil, err
			}
			k = append(k, b)
		}
		keys = append(keys, k)
	}
	return s.rowsOf(t, sel, keys), nil
}

// rowsOf returns the selected columns of the live rows among keys (each once). Called with s.mu held.
func (s *Model) rowsOf(t *simTable, sel []string, keys [][][]byte) [][][]byte {
	now := s.now().Unix()
	var out [][][]byte
	done := map[string]bool{}
	for _, k := range keys {
		id := keyID(k)
		r := t.rows[id]
		if r == nil || done[id] {
			continue
		}
		done[id] = true
		exists := r.marker >= 0 && live(r.marker, now)
		for _, c := range r.cells {
			exists = exists || live(c.expiry, now)
		}
		if !exists {
			continue
		}
		row := make([][]byte, len(sel))
		for i, col := range sel {
			if j := indexOf(t.pk, col); j >= 0 {
				row[i] = r.key[j]
			} else if c, ok := r.cells[col]; ok && live(c.expiry, now) {
				row[i] = c.v
			}
		}
		out = append(out, row)
	}
	return out
}

// scan answers SELECT ... WHERE <leading key columns> = ? ... [LIMIT ?]: the live rows whose key starts with the
// bound values, in key order (of the encoded key columns), at most limit (an int32) of them. Called with s.mu held.
func (s *Model) scan(t *simTable, sel []string, where string, values []any, limit any) ([][][]byte, error) {
	conds := strings.Split(where, " AND ")
	if len(conds) > len(t.pk) || len(values) != len(conds) {
		return nil, fmt.Errorf("model: where %q", where)
	}
	var prefix [][]byte
	for i, c := range conds {
		if c != `"`+t.pk[i]+`" = ?` {
			return nil, fmt.Errorf("model: condition %q", c)
		}
		b, err := marshalCQL(t.types[t.pk[i]], values[i])
		if err != nil {
			return nil, err
		}
		prefix = append(prefix, b)
	}
	lim := -1
	if limit != nil {
		n, ok := limit.(int32)
		if !ok || n <= 0 {
			return nil, cqlErr(gocql.ErrCodeInvalid, "LIMIT must be strictly positive")
		}
		lim = int(n)
	}
	var ids []string
	for id, r := range t.rows {
		match := true
		for i, p := range prefix {
			match = match && string(r.key[i]) == string(p)
		}
		if match {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var keys [][][]byte
	for _, id := range ids {
		keys = append(keys, t.rows[id].key)
	}
	rows := s.rowsOf(t, sel, keys)
	if lim >= 0 && len(rows) > lim {
		rows = rows[:lim]
	}
	return rows, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// Close does nothing.
func (s *Model) Close() {}

// Table reports table ks.name's column types (TEXT, BIGINT, ...) and primary key, for a wire-protocol front end
// that must describe bind markers and result columns.
func (s *Model) Table(ks, name string) (types map[string]string, pk []string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[ks+"."+name]
	if t == nil {
		return nil, nil, false
	}
	types = make(map[string]string, len(t.types))
	for k, v := range t.types {
		types[k] = v
	}
	return types, append([]string(nil), t.pk...), true
}
