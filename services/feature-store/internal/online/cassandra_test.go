package online

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// fakeStore returns a store over a recording session that knows tables users (key id BIGINT) and events (key
// user TEXT, ts TIMESTAMP; ts declared at position 0 of the clustering columns).
func fakeStore(t *testing.T, o CassandraOptions) (*Cassandra, *recSession) {
	t.Helper()
	rec := newRec()
	rec.schemas["users"] = []schemaCol{
		{"fg__v1__score", "regular", -1, "double"},
		{"id", "partition_key", 0, "bigint"},
		{"name", "regular", -1, "text"},
		{"fg__v1__tags", "regular", -1, "varchar"},
		{"fg__v1__list", "regular", -1, "list<text>"},
	}
	rec.schemas["events"] = []schemaCol{
		{"ts", "clustering", 0, "timestamp"},
		{"user", "partition_key", 0, "text"},
		{"fg__n", "regular", -1, "int"},
	}
	c, err := newCassandra(rec, o)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func key(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }

func TestCassandraWriteStatements(t *testing.T) {
	c, rec := fakeStore(t, CassandraOptions{})
	ctx := context.Background()
	err := c.Write(ctx, []WriteOp{
		{Table: "users", TTL: 90 * time.Second, Rows: []Row{
			{Key: key(`42`), Cells: []Cell{{"name", []byte(`"Ann"`)}, {"fg__v1__score", []byte(`1.5`)}, {"fg__v1__tags", nil}}},
			{Key: key(`-7`)},
			{Key: key(`8`), Cells: []Cell{{"name", []byte(`"a"`)}, {"fg__v1__score", []byte(`2`)}, {"name", []byte(`"b"`)}}},
		}},
		{Table: "events", TTL: 1500 * time.Millisecond, Rows: []Row{
			{Key: key(`"u\u00001"`, `1700000000000`), Cells: []Cell{{"fg__n", []byte(`3`)}}},
		}},
		{Table: "users"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, rec.take(),
		`batch type=1 cl=LOCAL_QUORUM
  INSERT INTO "ofs"."events" ("user", "ts", "fg__n") VALUES (?, ?, ?) USING TTL ? | "u\x001", int64(1700000000000), int32(3), int32(2)`,
		`batch type=1 cl=LOCAL_QUORUM
  INSERT INTO "ofs"."users" ("id", "name", "fg__v1__score", "fg__v1__tags") VALUES (?, ?, ?, ?) USING TTL ? | int64(42), "Ann", float64(1.5), nil, int32(90)
  INSERT INTO "ofs"."users" ("id") VALUES (?) USING TTL ? | int64(-7), int32(90)
  INSERT INTO "ofs"."users" ("id", "name", "fg__v1__score") VALUES (?, ?, ?) USING TTL ? | int64(8), "b", float64(2), int32(90)`)
}

func TestCassandraWriteBatchesAndConsistency(t *testing.T) {
	c, rec := fakeStore(t, CassandraOptions{BatchRows: 2, Consistency: "one", Keyspace: "Feat"})
	var rows []Row
	for i := range 5 {
		rows = append(rows, Row{Key: key(fmt.Sprint(i))})
	}
	if err := c.Write(context.Background(), []WriteOp{{Table: "users", Rows: rows}}); err != nil {
		t.Fatal(err)
	}
	got := rec.take()
	if len(got) != 3 {
		t.Fatalf("%d batches, want 3 (2+2+1 rows)", len(got))
	}
	n := 0
	for _, b := range got {
		if b.Kind != "batch" || b.Batch != gocql.UnloggedBatch || b.CL != gocql.One {
			t.Fatalf("batch %s", fmtCall(b))
		}
		for _, st := range b.Stmts {
			if st.CQL != `INSERT INTO "Feat"."users" ("id") VALUES (?) USING TTL ?` || st.Values[1] != int32(0) {
				t.Fatalf("statement %s %v", st.CQL, st.Values)
			}
			n++
		}
	}
	if n != 5 {
		t.Fatalf("%d rows written", n)
	}
}

func TestCassandraWriteErrors(t *testing.T) {
	ctx := context.Background()
	cases := map[string][]WriteOp{
		"no such table": {{Table: "nope", Rows: []Row{{Key: key(`1`)}}}},
		"has no column": {{Table: "users", Rows: []Row{{Key: key(`1`), Cells: []Cell{{"zz", []byte(`1`)}}}}}},
		"primary key":   {{Table: "users", Rows: []Row{{Key: key(`1`), Cells: []Cell{{"id", []byte(`1`)}}}}}},
		"cannot write":  {{Table: "users", Rows: []Row{{Key: key(`1`), Cells: []Cell{{"fg__v1__list", []byte(`"x"`)}}}}}},
		"decode key":    {{Table: "users", Rows: []Row{{Key: []byte("k")}}}},
		"key arity":     {{Table: "events", Rows: []Row{{Key: key(`"u"`)}}}},
		"BIGINT value":  {{Table: "users", Rows: []Row{{Key: key(`"x"`)}}}},
		"DOUBLE value":  {{Table: "users", Rows: []Row{{Key: key(`1`), Cells: []Cell{{"fg__v1__score", []byte(`"x"`)}}}}}},
		"TTL":           {{Table: "users", TTL: MaxCassandraTTL + time.Second, Rows: []Row{{Key: key(`1`)}}}},
		"negative TTL":  {{Table: "users", TTL: -time.Second, Rows: []Row{{Key: key(`1`)}}}},
	}
	for name, ops := range cases {
		c, rec := fakeStore(t, CassandraOptions{})
		err := c.Write(ctx, ops)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if got := rec.take(); len(got) != 0 {
			t.Errorf("%s: wrote %v", name, got)
		}
	}
	// A cancelled context writes nothing.
	c, rec := fakeStore(t, CassandraOptions{})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Write(cctx, []WriteOp{{Table: "users", Rows: []Row{{Key: key(`1`)}}}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v", err)
	}
	if len(rec.calls) != 0 {
		t.Fatalf("cancelled write made calls %v", rec.calls)
	}
	// A batch error is returned.
	c, rec = fakeStore(t, CassandraOptions{})
	rec.fail = func(kind string, _ cqlStatement) error {
		if kind == "batch" {
			return cqlErr{0x1100, "Operation timed out"}
		}
		return nil
	}
	if err := c.Write(ctx, []WriteOp{{Table: "users", Rows: []Row{{Key: key(`1`)}}}}); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("batch error: %v", err)
	}
}

func TestCassandraWriteSeesColumnAddedElsewhere(t *testing.T) {
	c, rec := fakeStore(t, CassandraOptions{})
	ctx := context.Background()
	must(t, c.Write(ctx, []WriteOp{{Table: "users", Rows: []Row{{Key: key(`1`)}}}}))
	// Another process adds a column: the cached schema lacks it, the write re-reads system_schema at once.
	rec.schemas["users"] = append(rec.schemas["users"], schemaCol{"fg__v2__x", "regular", -1, "boolean"})
	rec.take()
	must(t, c.Write(ctx, []WriteOp{{Table: "users", Rows: []Row{{Key: key(`1`), Cells: []Cell{{"fg__v2__x", []byte(`true`)}}}}}}))
	checkCalls(t, rec.take(), `batch type=1 cl=LOCAL_QUORUM
  INSERT INTO "ofs"."users" ("id", "fg__v2__x") VALUES (?, ?) USING TTL ? | int64(1), bool(true), int32(0)`)
}

// rowsFor answers SELECTs on users from a map id → name, score.
func usersAnswer(data map[int64][2][]byte) func(st cqlStatement) [][][]byte {
	return func(st cqlStatement) [][][]byte {
		var out [][][]byte
		for _, v := range st.Values[0].([]any) {
			d, ok := data[v.(int64)]
			if !ok {
				continue
			}
			row := [][]byte{mustMarshal("BIGINT", v)}
			// The select list is id, then the requested known columns in first-request order.
			cols := strings.Split(strings.TrimPrefix(strings.Split(st.CQL, " FROM ")[0], "SELECT "), ", ")
			for _, col := range cols[1:] {
				switch col {
				case `"name"`:
					row = append(row, d[0])
				case `"fg__v1__score"`:
					row = append(row, d[1])
				default:
					row = append(row, nil)
				}
			}
			out = append(out, row)
		}
		return out
	}
}

func TestCassandraReadSinglePartitionKey(t *testing.T) {
	c, rec := fakeStore(t, CassandraOptions{})
	rec.answer = usersAnswer(map[int64][2][]byte{
		1: {mustMarshal("TEXT", "Ann"), mustMarshal("DOUBLE", 0.25)},
		2: {nil, nil},
	})
	res, err := c.Read(context.Background(), []ReadOp{{Table: "users",
		Keys:    [][]byte{key(`2`), key(`1`), key(`3`), []byte("junk"), key(`1`)},
		Columns: []string{"fg__v1__score", "zz", "name", "fg__v1__score", "id", "fg__v1__list"}}})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, rec.take(), `query cl=LOCAL_QUORUM
  SELECT "id", "fg__v1__score", "name" FROM "ofs"."users" WHERE "id" IN ? | [int64(2), int64(1), int64(3)]`)
	r := res[0]
	if fmt.Sprint(r.Found) != "[true true false false true]" {
		t.Fatalf("found %v", r.Found)
	}
	if got := fmt.Sprint(vals(r, 1), vals(r, 4), vals(r, 0), vals(r, 2)); got != `[0.25 <nil> "Ann" 0.25 <nil> <nil>] [0.25 <nil> "Ann" 0.25 <nil> <nil>] [<nil> <nil> <nil> <nil> <nil> <nil>] [<nil> <nil> <nil> <nil> <nil> <nil>]` {
		t.Fatalf("values %s", got)
	}
}

func TestCassandraReadChunksAndOps(t *testing.T) {
	c, rec := fakeStore(t, CassandraOptions{InKeys: 2})
	rec.answer = func(st cqlStatement) [][][]byte {
		if strings.Contains(st.CQL, `"events"`) {
			if st.Values[0] == "u" && st.Values[1] == int64(5) {
				return [][][]byte{{mustMarshal("TEXT", "u"), mustMarshal("TIMESTAMP", int64(5)), mustMarshal("INT", int32(-3))}}
			}
			return nil
		}
		return usersAnswer(map[int64][2][]byte{3: {mustMarshal("TEXT", "c"), nil}})(st)
	}
	res, err := c.Read(context.Background(), []ReadOp{
		{Table: "users", Keys: [][]byte{key(`1`), key(`2`), key(`3`)}, Columns: []string{"name"}},
		{Table: "events", Keys: [][]byte{key(`"u"`, `5`), key(`"u"`, `6`), key(`"v"`, `5`)}, Columns: []string{"fg__n"}},
		{Table: "nope", Keys: [][]byte{key(`1`)}, Columns: []string{"a"}},
		{Table: "users"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, rec.take(),
		`query cl=LOCAL_QUORUM
  SELECT "id", "name" FROM "ofs"."users" WHERE "id" IN ? | [int64(1), int64(2)]`,
		`query cl=LOCAL_QUORUM
  SELECT "id", "name" FROM "ofs"."users" WHERE "id" IN ? | [int64(3)]`,
		`query cl=LOCAL_QUORUM
  SELECT "user", "ts", "fg__n" FROM "ofs"."events" WHERE "user" = ? AND "ts" = ? | "u", int64(5)`,
		`query cl=LOCAL_QUORUM
  SELECT "user", "ts", "fg__n" FROM "ofs"."events" WHERE "user" = ? AND "ts" = ? | "u", int64(6)`,
		`query cl=LOCAL_QUORUM
  SELECT "user", "ts", "fg__n" FROM "ofs"."events" WHERE "user" = ? AND "ts" = ? | "v", int64(5)`)
	if fmt.Sprint(res[0].Found, vals(res[0], 2), res[1].Found, vals(res[1], 0), res[2].Found, len(res[3].Found)) !=
		`[false false true] ["c"] [true false false] [-3] [false] 0` {
		t.Fatalf("results %+v", res)
	}
}

func TestCassandraUnknownTableIsCachedBriefly(t *testing.T) {
	c, rec := fakeStore(t, CassandraOptions{})
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	op := []ReadOp{{Table: "later", Keys: [][]byte{key(`1`)}, Columns: []string{"a"}}}
	for range 3 {
		res, err := c.Read(context.Background(), op)
		if err != nil || res[0].Found[0] {
			t.Fatalf("%v %v", res, err)
		}
	}
	if n := rec.schemaReads(); n != 1 {
		t.Fatalf("%d schema reads, want 1", n)
	}
	rec.take()
	rec.schemas["later"] = []schemaCol{{"k", "partition_key", 0, "bigint"}, {"a", "regular", -1, "int"}}
	rec.answer = func(cqlStatement) [][][]byte {
		return [][][]byte{{mustMarshal("BIGINT", int64(1)), mustMarshal("INT", int32(9))}}
	}
	now = now.Add(schemaRecheck)
	res, err := c.Read(context.Background(), op)
	if err != nil || !res[0].Found[0] || string(res[0].Values[0][0]) != "9" {
		t.Fatalf("after recheck: %v %v", res, err)
	}
}

func TestCassandraReadSchemaErrors(t *testing.T) {
	ctx := context.Background()
	op := []ReadOp{{Table: "users", Keys: [][]byte{key(`1`)}, Columns: []string{"name"}}}
	// The table was dropped after it was cached: unconfigured table → re-read schema → empty.
	c, rec := fakeStore(t, CassandraOptions{})
	must(t, c.Write(ctx, []WriteOp{{Table: "users", Rows: []Row{{Key: key(`1`)}}}}))
	delete(rec.schemas, "users")
	rec.fail = func(kind string, st cqlStatement) error {
		if kind == "query" && st.CQL != schemaQuery {
			return cqlErr{gocql.ErrCodeInvalid, "unconfigured table users"}
		}
		return nil
	}
	res, err := c.Read(ctx, op)
	if err != nil || res[0].Found[0] {
		t.Fatalf("dropped table: %v %v", res, err)
	}
	// A column dropped elsewhere: undefined column → re-read schema → retried without it.
	c, rec = fakeStore(t, CassandraOptions{})
	must(t, c.Write(ctx, []WriteOp{{Table: "users", Rows: []Row{{Key: key(`1`)}}}}))
	rec.schemas["users"] = rec.schemas["users"][1:2]
	rec.fail = func(kind string, st cqlStatement) error {
		if strings.Contains(st.CQL, `"name"`) {
			return cqlErr{gocql.ErrCodeInvalid, "Undefined column name name in table ofs.users"}
		}
		return nil
	}
	rec.answer = func(cqlStatement) [][][]byte { return [][][]byte{{mustMarshal("BIGINT", int64(1))}} }
	res, err = c.Read(ctx, op)
	if err != nil || !res[0].Found[0] || res[0].Values[0][0] != nil {
		t.Fatalf("dropped column: %v %v", res, err)
	}
	// Other errors fail the read.
	c, rec = fakeStore(t, CassandraOptions{})
	rec.fail = func(kind string, st cqlStatement) error {
		if st.CQL != schemaQuery {
			return cqlErr{0x1200, "Operation timed out - received only 0 responses"}
		}
		return nil
	}
	if _, err := c.Read(ctx, op); err == nil {
		t.Fatal("read timeout not reported")
	}
	// A row whose value does not decode is an error, not a silent null.
	c, rec = fakeStore(t, CassandraOptions{})
	rec.answer = func(cqlStatement) [][][]byte {
		return [][][]byte{{mustMarshal("BIGINT", int64(1)), {1, 2, 3}}}
	}
	if _, err := c.Read(ctx, []ReadOp{{Table: "users", Keys: [][]byte{key(`1`)}, Columns: []string{"fg__v1__score"}}}); err == nil {
		t.Fatal("corrupt double read without error")
	}
}

func TestCassandraDDLStatements(t *testing.T) {
	ctx := context.Background()
	c, rec := fakeStore(t, CassandraOptions{Consistency: "LOCAL_ONE"})
	// The fake's CREATE TABLE makes the table appear in system_schema.
	rec.onExec = func(st cqlStatement) {
		if strings.HasPrefix(st.CQL, "CREATE TABLE") && strings.Contains(st.CQL, `"orders"`) {
			rec.mu.Lock()
			rec.schemas["orders"] = []schemaCol{{"shop", "partition_key", 0, "text"}, {"id", "clustering", 0, "uuid"}, {"total", "regular", -1, "decimal"}}
			rec.mu.Unlock()
		}
		if strings.HasPrefix(st.CQL, "ALTER TABLE") && strings.Contains(st.CQL, " ADD ") {
			name := strings.Split(st.CQL, `"`)[5]
			typ := strings.ToLower(st.CQL[strings.LastIndex(st.CQL, " ")+1:])
			rec.mu.Lock()
			rec.schemas["orders"] = append(rec.schemas["orders"], schemaCol{name, "regular", -1, typ})
			rec.mu.Unlock()
		}
	}
	must(t, c.EnsureKeyspace(ctx))
	must(t, c.CreateTable(ctx, TableSchema{Name: "orders", Columns: []ColumnSchema{{"shop", "VARCHAR"}, {"id", "uuid"}, {"total", "DECIMAL"}},
		PrimaryKey: []string{"shop", "id"}, TTL: 86400 * time.Second}))
	must(t, c.CreateTable(ctx, TableSchema{Name: "orders", Columns: []ColumnSchema{{"shop", "TEXT"}, {"id", "UUID"}, {"total", "DECIMAL"}},
		PrimaryKey: []string{"shop", "id"}}))
	rec.fail = func(kind string, st cqlStatement) error {
		if strings.Contains(st.CQL, `"fg__v1__b"`) {
			// Another admin added the column concurrently.
			rec.schemas["orders"] = append(rec.schemas["orders"], schemaCol{"fg__v1__b", "regular", -1, "blob"})
			return cqlErr{gocql.ErrCodeInvalid, "Invalid column name fg__v1__b because it conflicts with an existing column"}
		}
		return nil
	}
	must(t, c.AddColumns(ctx, "orders", []ColumnSchema{{"fg__v1__a", "TIMEUUID"}, {"total", "DECIMAL"}, {"fg__v1__b", "BLOB"}}))
	must(t, c.SetTableTTL(ctx, "orders", 0))
	must(t, c.SetTableTTL(ctx, "orders", 1500*time.Millisecond))
	got := rec.take()
	var g []string
	for _, cl := range got {
		g = append(g, fmtCall(cl))
	}
	// DDL is issued in order; take sorts, so compare as a set.
	want := []string{
		`exec cl=LOCAL_ONE
  CREATE KEYSPACE IF NOT EXISTS "ofs" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} | `,
		`exec cl=LOCAL_ONE
  CREATE TABLE IF NOT EXISTS "ofs"."orders" ("shop" VARCHAR, "id" UUID, "total" DECIMAL, PRIMARY KEY ("shop", "id")) WITH default_time_to_live = 86400 | `,
		`exec cl=LOCAL_ONE
  CREATE TABLE IF NOT EXISTS "ofs"."orders" ("shop" TEXT, "id" UUID, "total" DECIMAL, PRIMARY KEY ("shop", "id")) | `,
		`exec cl=LOCAL_ONE
  ALTER TABLE "ofs"."orders" ADD "fg__v1__a" TIMEUUID | `,
		`exec cl=LOCAL_ONE
  ALTER TABLE "ofs"."orders" ADD "fg__v1__b" BLOB | `,
		`exec cl=LOCAL_ONE
  ALTER TABLE "ofs"."orders" WITH default_time_to_live = 0 | `,
		`exec cl=LOCAL_ONE
  ALTER TABLE "ofs"."orders" WITH default_time_to_live = 2 | `,
	}
	for _, w := range want {
		found := false
		for _, x := range g {
			found = found || x == w
		}
		if !found {
			t.Errorf("missing %s\ngot:\n%s", w, strings.Join(g, "\n"))
		}
	}
	if len(g) != len(want) {
		t.Fatalf("%d DDL statements, want %d:\n%s", len(g), len(want), strings.Join(g, "\n"))
	}
	// Adding existing columns again issues no DDL.
	rec.fail = nil
	must(t, c.AddColumns(ctx, "orders", []ColumnSchema{{"fg__v1__b", "BLOB"}, {"fg__v1__a", "TIMEUUID"}}))
	checkCalls(t, rec.take())
	// A conflict error for a column that then does not exist is reported.
	rec.fail = func(kind string, st cqlStatement) error {
		if kind == "exec" {
			return cqlErr{gocql.ErrCodeInvalid, "Invalid column name fg__v1__c because it conflicts with an existing column"}
		}
		return nil
	}
	rec.onExec = nil
	if err := c.AddColumns(ctx, "orders", []ColumnSchema{{"fg__v1__c", "INT"}}); err == nil {
		t.Fatal("column missing after ALTER reported success")
	}
	rec.fail = nil
	// Schema mismatches and bad input are errors.
	for name, err := range map[string]error{
		"other key":     c.CreateTable(ctx, TableSchema{Name: "orders", Columns: []ColumnSchema{{"shop", "TEXT"}, {"id", "UUID"}}, PrimaryKey: []string{"id"}}),
		"other type":    c.CreateTable(ctx, TableSchema{Name: "orders", Columns: []ColumnSchema{{"shop", "TEXT"}, {"id", "TEXT"}}, PrimaryKey: []string{"shop", "id"}}),
		"column type":   c.AddColumns(ctx, "orders", []ColumnSchema{{"total", "DOUBLE"}}),
		"no table":      c.AddColumns(ctx, "nope", []ColumnSchema{{"x", "INT"}}),
		"bad name":      c.CreateTable(ctx, TableSchema{Name: `a"b`, Columns: []ColumnSchema{{"a", "INT"}}, PrimaryKey: []string{"a"}}),
		"bad col":       c.AddColumns(ctx, "orders", []ColumnSchema{{`x" INT, "y`, "INT"}}),
		"bad type":      c.AddColumns(ctx, "orders", []ColumnSchema{{"x", "INT) WITH"}}),
		"no pk":         c.CreateTable(ctx, TableSchema{Name: "t", Columns: []ColumnSchema{{"a", "INT"}}}),
		"pk not column": c.CreateTable(ctx, TableSchema{Name: "t", Columns: []ColumnSchema{{"a", "INT"}}, PrimaryKey: []string{"b"}}),
		"ttl":           c.SetTableTTL(ctx, "orders", MaxCassandraTTL+time.Second),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, cl := range rec.take() {
		if strings.Contains(fmtCall(cl), `a"b`) || strings.Contains(fmtCall(cl), "WITH\"") || strings.Contains(fmtCall(cl), `"y`) {
			t.Fatalf("invalid DDL issued: %s", fmtCall(cl))
		}
	}
	// The failed CREATE leaves an error the caller maps (no retry, no half-state in the store).
	c2, rec2 := fakeStore(t, CassandraOptions{})
	rec2.fail = func(string, cqlStatement) error { return cqlErr{0x1000, "Cannot achieve consistency level"} }
	if err := c2.CreateTable(ctx, TableSchema{Name: "x", Columns: []ColumnSchema{{"a", "INT"}}, PrimaryKey: []string{"a"}}); err == nil {
		t.Fatal("failed CREATE TABLE reported success")
	}
}

func TestCassandraReplicationAndOptions(t *testing.T) {
	for spec, want := range map[string]string{
		"":                           "{'class': 'SimpleStrategy', 'replication_factor': 1}",
		"simple:3":                   "{'class': 'SimpleStrategy', 'replication_factor': 3}",
		"network:us-east-1=3":        "{'class': 'NetworkTopologyStrategy', 'us-east-1': 3}",
		"network:dc1=3, eu_west.2=2": "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'eu_west.2': 2}",
	} {
		got, err := ParseCassandraReplication(spec)
		if err != nil || got != want {
			t.Errorf("%q: %q %v", spec, got, err)
		}
	}
	for _, bad := range []string{"simple", "simple:0", "simple:x", "network:", "network:dc1", "network:dc1=3,dc1=2", "network:d'c=1", "nts:dc=1", "simple:100"} {
		if _, err := ParseCassandraReplication(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	ok := CassandraOptions{Hosts: []string{"10.0.0.1:9042", "cass-2"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]CassandraOptions{
		"no hosts":    {},
		"empty host":  {Hosts: []string{""}},
		"keyspace":    {Hosts: []string{"h"}, Keyspace: "a-b"},
		"replication": {Hosts: []string{"h"}, Replication: "simple:0"},
		"consistency": {Hosts: []string{"h"}, Consistency: "MOST"},
		"serial":      {Hosts: []string{"h"}, Consistency: "LOCAL_SERIAL"},
		"any":         {Hosts: []string{"h"}, Consistency: "ANY"},
		"timeout":     {Hosts: []string{"h"}, Timeout: -time.Second},
		"password":    {Hosts: []string{"h"}, Password: "p"},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCassandraClose(t *testing.T) {
	c, rec := fakeStore(t, CassandraOptions{})
	must(t, c.Close())
	if !rec.closed {
		t.Fatal("session not closed")
	}
}

func TestCassandraReadPartitionStatements(t *testing.T) {
	c, rec := fakeStore(t, CassandraOptions{})
	ctx := context.Background()
	rec.answer = func(st cqlStatement) [][][]byte {
		// Cassandra's clustering order (here descending) is not the key byte order the interface promises.
		return [][][]byte{
			{mustMarshal("TEXT", "u"), mustMarshal("TIMESTAMP", int64(10)), mustMarshal("INT", int32(1))},
			{mustMarshal("TEXT", "u"), mustMarshal("TIMESTAMP", int64(9)), nil},
		}
	}
	rows, err := c.ReadPartition(ctx, "events", key(`"u"`), []string{"fg__n", "zz", "fg__n", "user"}, 11)
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, rec.take(), `query cl=LOCAL_QUORUM
  SELECT "user", "ts", "fg__n" FROM "ofs"."events" WHERE "user" = ? LIMIT ? | "u", int32(11)`)
	if got := fmt.Sprintf("%q", partKeys(rows)); got != `["\"\\\"u\\\"\\x0010\"" "\"\\\"u\\\"\\x009\""]` {
		t.Fatalf("keys %s", got)
	}
	if fmt.Sprint(vals(ReadResult{Values: [][][]byte{rows[0].Values}}, 0), vals(ReadResult{Values: [][][]byte{rows[1].Values}}, 0)) != "[1 <nil> 1 <nil>] [<nil> <nil> <nil> <nil>]" {
		t.Fatalf("values %q %q", rows[0].Values, rows[1].Values)
	}
	// A full key and no limit; prefixes that cannot be keys of the table issue nothing.
	rec.answer = nil
	if _, err := c.ReadPartition(ctx, "events", key(`"u"`, `5`), []string{"fg__n"}, 0); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, rec.take(), `query cl=LOCAL_QUORUM
  SELECT "user", "ts", "fg__n" FROM "ofs"."events" WHERE "user" = ? AND "ts" = ? | "u", int64(5)`)
	for _, prefix := range [][]byte{key(`"u"`, `5`, `1`), key(`5`), []byte("junk"), key(`"u"`, `"x"`)} {
		rows, err := c.ReadPartition(ctx, "events", prefix, []string{"fg__n"}, 0)
		if err != nil || len(rows) != 0 {
			t.Fatalf("prefix %q: %v %v", prefix, rows, err)
		}
	}
	if rows, err := c.ReadPartition(ctx, "nope", key(`1`), []string{"a"}, 0); err != nil || rows == nil || len(rows) != 0 {
		t.Fatalf("unknown table: %v %v", rows, err)
	}
	checkCalls(t, rec.take())
}

func TestCassandraWriteMergesRowsOfOneKey(t *testing.T) {
	ops := mergeSameKeys([]WriteOp{
		{Table: "users", Rows: []Row{
			{Key: []byte("1"), Cells: []Cell{{Column: "a", Value: []byte("1")}, {Column: "b", Value: []byte("1")}}},
			{Key: []byte("2"), Cells: []Cell{{Column: "a", Value: []byte("9")}}},
		}},
		{Table: "users", Rows: []Row{
			{Key: []byte("1"), Cells: []Cell{{Column: "a", Value: []byte("2")}, {Column: "b", Value: nil}}},
		}},
		{Table: "other", Rows: []Row{{Key: []byte("1"), Cells: []Cell{{Column: "a", Value: []byte("3")}}}}},
	})
	if len(ops) != 3 || len(ops[0].Rows) != 2 || len(ops[1].Rows) != 0 || len(ops[2].Rows) != 1 {
		t.Fatalf("merged ops %+v", ops)
	}
	cells := ops[0].Rows[0].Cells
	if len(cells) != 4 || string(cells[2].Value) != "2" || cells[3].Value != nil {
		t.Fatalf("key 1 cells %+v: the later row's cells must follow the earlier ones", cells)
	}
}
