package online

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/testutil"
	"github.com/darwinml/darwin/services/feature-store/internal/online/cassandramodel"
)

// startWire serves model over the CQL protocol (cassandramodel.ServeWire) until the test ends.
func startWire(t testing.TB, model *cassandramodel.Model, user, pass string) *cassandramodel.WireServer {
	s, err := cassandramodel.ServeWire(model, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// wireHarness runs a suite through OpenCassandra and the real driver against the wire server.
func wireHarness(setup cassSetup) func(t *testing.T) harness {
	return func(t *testing.T) harness {
		clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		srv := startWire(t, cassandramodel.New(clk.Now), "", "")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := OpenCassandra(ctx, CassandraOptions{Hosts: []string{srv.Addr()}, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return harness{st: setup(t, c), advance: clk.Add, ttlUnit: time.Second}
	}
}

func TestContractCassandraWire(t *testing.T)  { runContract(t, wireHarness(contractSetup)) }
func TestPartitionCassandraWire(t *testing.T) { runPartition(t, wireHarness(partitionSetup)) }

// TestCassandraThroughDriver checks, at the wire, what OpenCassandra and the gocql driver send: password
// authentication, keyspace creation, unlogged batches at the configured consistency, prepared bind types for
// every column type (a composite key of TEXT and TIMESTAMP), and server errors mapped to empty reads.
func TestCassandraThroughDriver(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	srv := startWire(t, cassandramodel.New(clk.Now), "darwin", "s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := OpenCassandra(ctx, CassandraOptions{Hosts: []string{srv.Addr()}, Username: "darwin", Password: "wrong", Timeout: 2 * time.Second}); err == nil {
		t.Fatal("wrong password accepted")
	}
	c, err := OpenCassandra(ctx, CassandraOptions{Hosts: []string{srv.Addr()}, Username: "darwin", Password: "s3cret",
		Consistency: "LOCAL_ONE", Keyspace: "feat", Replication: "network:dc1=3", LocalDC: "dc1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if q := srv.Lines("QUERY LOCAL_ONE CREATE KEYSPACE"); len(q) != 1 || !strings.HasSuffix(q[0], `"feat" WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3}`) {
		t.Fatalf("keyspace DDL %q", q)
	}
	cols := []ColumnSchema{{"user", "TEXT"}, {"ts", "TIMESTAMP"}}
	var cells []Cell
	vals := map[string]string{
		"TEXT": `"héllo"`, "ASCII": `"a"`, "VARCHAR": `"v"`, "BLOB": `"b"`, "BOOLEAN": `true`, "DECIMAL": `-1.50`, "DOUBLE": `0.1`,
		"FLOAT": `1.5`, "INT": `-7`, "BIGINT": `9007199254740993`, "TIMESTAMP": `1700000000123`, "TIMEUUID": `"d2177dd0-eaa2-11de-a572-001b779c76e3"`,
		"UUID": `"6ba7b810-9dad-41d1-80b4-00c04fd430c8"`, "INET": `"2001:db8::1"`, "VARINT": `123456789012345678901234567890`,
	}
	var read []string
	for typ, v := range vals {
		name := "f__v1__" + strings.ToLower(typ)
		cols = append(cols, ColumnSchema{name, typ})
		cells = append(cells, Cell{name, []byte(v)})
		read = append(read, name)
	}
	must(t, c.CreateTable(ctx, TableSchema{Name: "events", Columns: cols[:2], PrimaryKey: []string{"user", "ts"}, TTL: time.Hour}))
	must(t, c.AddColumns(ctx, "events", cols[2:]))
	k1, k2 := key(`"u1"`, `1700000000000`), key(`"u1"`, `1700000000001`)
	must(t, c.Write(ctx, []WriteOp{{Table: "events", TTL: time.Minute, Rows: []Row{{Key: k1, Cells: cells}, {Key: k2}}}}))
	if b := srv.Lines("BATCH"); len(b) != 1 || b[0] != "BATCH type=1 LOCAL_ONE 2" {
		t.Fatalf("batches %q", b)
	}
	res, err := c.Read(ctx, []ReadOp{
		{Table: "events", Keys: [][]byte{k2, k1, key(`"u2"`, `1`)}, Columns: append(read, "nope")},
		{Table: "missing", Keys: [][]byte{k1}, Columns: []string{"a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res[0].Found, res[1].Found) != "[true true false] [false]" {
		t.Fatalf("found %v %v", res[0].Found, res[1].Found)
	}
	for i, name := range read {
		typ := strings.ToUpper(strings.TrimPrefix(name, "f__v1__"))
		if got := string(res[0].Values[1][i]); got != vals[typ] {
			t.Errorf("%s read back %s, want %s", typ, got, vals[typ])
		}
		if res[0].Values[0][i] != nil {
			t.Errorf("%s of the empty row is %s", typ, res[0].Values[0][i])
		}
	}
	if e := srv.Lines(`EXECUTE LOCAL_ONE SELECT "user"`); len(e) != 3 {
		t.Fatalf("composite-key reads: %q", e)
	}
	// A TTL expires what was written with it.
	clk.Add(61 * time.Second)
	res, err = c.Read(ctx, []ReadOp{{Table: "events", Keys: [][]byte{k1}, Columns: read[:1]}})
	if err != nil || res[0].Found[0] {
		t.Fatalf("after TTL: %v %v", res, err)
	}
	// A table dropped behind the cache's back (the model forgets it) reads as empty through the driver's error.
	c2, err := OpenCassandra(ctx, CassandraOptions{Hosts: []string{srv.Addr()}, Username: "darwin", Password: "s3cret", Keyspace: "other", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.tables["ghost"] = &tableInfo{exists: true, pk: []ColumnSchema{{"k", "TEXT"}}, types: map[string]string{"k": "TEXT", "a": "INT"}, loaded: time.Now()}
	res, err = c2.Read(ctx, []ReadOp{{Table: "ghost", Keys: [][]byte{key(`"x"`)}, Columns: []string{"a"}}})
	if err != nil || res[0].Found[0] {
		t.Fatalf("ghost table: %v %v", res, err)
	}
	if err := c2.Write(ctx, []WriteOp{{Table: "ghost", Rows: []Row{{Key: key(`"x"`)}}}}); err == nil {
		t.Fatal("write to a missing table succeeded")
	}
}

// TestCassandraEnvHarness runs the env-gated real-cluster harness (keyspace per test, DROP KEYSPACE cleanup, real
// sleeps for TTLs) against the wire server, so the code that only runs with DARWIN_TEST_CASSANDRA_HOSTS is itself
// exercised here.
func TestCassandraEnvHarness(t *testing.T) {
	if testing.Short() {
		if testutil.RequireAll() {
			t.Fatal("-short skips this test, and DARWIN_TEST_REQUIRE_ALL=1")
		}
		t.Skip("sleeps for TTLs")
	}
	srv := startWire(t, cassandramodel.New(time.Now), "", "")
	t.Setenv(EnvCassandraHosts, srv.Addr())
	runContract(t, cassandraHarness(contractSetup))
	t.Run("partition", func(t *testing.T) { runPartition(t, cassandraHarness(partitionSetup)) })
	if n := len(srv.Lines("QUERY LOCAL_QUORUM DROP KEYSPACE IF EXISTS \"darwin_fs_test_")); n != 9 {
		t.Fatalf("%d keyspaces dropped, want 9", n)
	}
}
