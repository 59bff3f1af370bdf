package online

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/online/cassandramodel"
)

// EnvCassandraHosts names a Cassandra cluster (host:port[,host:port]) to run the contract suite against. No server
// can be obtained on the build machines, so without it the suite skips even when DARWIN_TEST_REQUIRE_ALL=1.
const EnvCassandraHosts = "DARWIN_TEST_CASSANDRA_HOSTS"

// contractTables are the tables and cell columns the contract suite uses ("zz" and table "nope" stay unknown).
var contractTables = []string{"users", "t", "t1", "t2"}

var contractColumns = []string{"a", "b", "c", "v", "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"}

// createContractTables creates each contract table with one TEXT key column k and TEXT cell columns (added by
// AddColumns, as feature groups are).
func createContractTables(t *testing.T, s Schema) {
	t.Helper()
	ctx := context.Background()
	cols := make([]ColumnSchema, len(contractColumns))
	for i, c := range contractColumns {
		cols[i] = ColumnSchema{c, "TEXT"}
	}
	for _, name := range contractTables {
		must(t, s.CreateTable(ctx, TableSchema{Name: name, Columns: []ColumnSchema{{"k", "TEXT"}}, PrimaryKey: []string{"k"}}))
		must(t, s.AddColumns(ctx, name, cols))
	}
}

// textKeys runs the contract's opaque keys and cell bytes over typed tables: a key becomes the encoded key of one
// TEXT value (unless rawKeys: the partition contract's keys are already encoded BIGINT, TEXT keys), a cell the
// TEXT value of its bytes (nil stays a null).
type textKeys struct {
	Store
	rawKeys bool
}

func (a textKeys) key(k []byte) []byte {
	if a.rawKeys {
		return k
	}
	return domain.EncodeKey([]json.RawMessage{jsonText(k)})
}

// unwrap turns TEXT JSON values back into the contract's bytes.
func unwrap(vals [][]byte) error {
	for c, v := range vals {
		if v != nil {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			vals[c] = []byte(s)
		}
	}
	return nil
}

// ReadPartition runs the partition contract over the store's PartitionReader.
func (a textKeys) ReadPartition(ctx context.Context, table string, prefix []byte, columns []string, limit int) ([]PartitionRow, error) {
	rows, err := a.Store.(PartitionReader).ReadPartition(ctx, table, prefix, columns, limit)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if err := unwrap(r.Values); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

func jsonText(b []byte) []byte {
	out, _ := json.Marshal(string(b))
	return out
}

func (a textKeys) Write(ctx context.Context, ops []WriteOp) error {
	out := make([]WriteOp, len(ops))
	for i, op := range ops {
		out[i] = WriteOp{Table: op.Table, TTL: op.TTL, Rows: make([]Row, len(op.Rows))}
		for j, r := range op.Rows {
			cells := make([]Cell, len(r.Cells))
			for k, c := range r.Cells {
				cells[k] = Cell{Column: c.Column}
				if c.Value != nil {
					cells[k].Value = jsonText(c.Value)
				}
			}
			out[i].Rows[j] = Row{Key: a.key(r.Key), Cells: cells}
		}
	}
	return a.Store.Write(ctx, out)
}

func (a textKeys) Read(ctx context.Context, ops []ReadOp) ([]ReadResult, error) {
	out := make([]ReadOp, len(ops))
	for i, op := range ops {
		out[i] = ReadOp{Table: op.Table, Columns: op.Columns, Keys: make([][]byte, len(op.Keys))}
		for j, k := range op.Keys {
			out[i].Keys[j] = a.key(k)
		}
	}
	res, err := a.Store.Read(ctx, out)
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		for _, vals := range r.Values {
			if err := unwrap(vals); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// cassSetup prepares a store's tables for one suite and returns the store the suite runs against.
type cassSetup func(t *testing.T, c *Cassandra) Store

// contractSetup creates the contract tables (one TEXT key column).
func contractSetup(t *testing.T, c *Cassandra) Store {
	createContractTables(t, c)
	return textKeys{Store: c}
}

// partitionSetup makes the partition contract's tables t and u: key (p BIGINT, c TEXT), cells x, y TEXT; its
// keys are already encoded keys of that table.
func partitionSetup(t *testing.T, c *Cassandra) Store {
	for _, name := range []string{"t", "u"} {
		must(t, c.CreateTable(context.Background(), TableSchema{Name: name, Columns: []ColumnSchema{{"p", "BIGINT"}, {"c", "TEXT"}}, PrimaryKey: []string{"p", "c"}}))
		must(t, c.AddColumns(context.Background(), name, []ColumnSchema{{"x", "TEXT"}, {"y", "TEXT"}}))
	}
	return textKeys{Store: c, rawKeys: true}
}

// simHarness runs the Cassandra store over the in-memory CQL model.
func simHarness(setup cassSetup) func(t *testing.T) harness {
	return func(t *testing.T) harness {
		clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		c, err := newCassandra(cassandramodel.New(clk.Now), CassandraOptions{})
		if err != nil {
			t.Fatal(err)
		}
		must(t, c.EnsureKeyspace(context.Background()))
		return harness{st: setup(t, c), advance: clk.Add, ttlUnit: time.Second}
	}
}

// cassandraHarness runs the store against the cluster in DARWIN_TEST_CASSANDRA_HOSTS, in a fresh keyspace dropped
// afterwards.
func cassandraHarness(setup cassSetup) func(t *testing.T) harness {
	return func(t *testing.T) harness {
		hosts := os.Getenv(EnvCassandraHosts)
		if hosts == "" {
			t.Skipf("%s is not set (no Cassandra server is obtainable here; DARWIN_TEST_REQUIRE_ALL does not cover it)", EnvCassandraHosts)
			return harness{}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ks := "darwin_fs_test_" + randHex()
		c, err := OpenCassandra(ctx, CassandraOptions{Hosts: strings.Split(hosts, ","), Keyspace: ks, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatalf("%s=%s: %v", EnvCassandraHosts, hosts, err)
		}
		t.Cleanup(func() {
			_ = c.s.Exec(context.Background(), c.cl, "DROP KEYSPACE IF EXISTS "+quote(ks))
			_ = c.Close()
		})
		return harness{st: setup(t, c), advance: time.Sleep, ttlUnit: time.Second}
	}
}

func TestModelSchemaQueryMatches(t *testing.T) {
	if cassandramodel.SchemaQuery != CassandraSchemaQuery {
		t.Fatal("cassandramodel answers another system_schema query than the store sends")
	}
}

func TestContractCassandraModel(t *testing.T)  { runContract(t, simHarness(contractSetup)) }
func TestPartitionCassandraModel(t *testing.T) { runPartition(t, simHarness(partitionSetup)) }
func TestContractCassandra(t *testing.T)       { runContract(t, cassandraHarness(contractSetup)) }
func TestPartitionCassandra(t *testing.T)      { runPartition(t, cassandraHarness(partitionSetup)) }
