package featurestore

import (
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/feature-store/internal/online/cassandramodel"
)

func TestCassandraConfigFlagsAndValidate(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-feature-store.online.backend=cassandra"}); err != nil {
		t.Fatal(err)
	}
	cc := c.Online.Cassandra
	if cc.Keyspace != "ofs" || cc.Replication != "simple:1" || cc.Consistency != "LOCAL_QUORUM" || cc.Timeout != 5*time.Second {
		t.Fatalf("defaults %+v", cc)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "host") {
		t.Fatalf("cassandra without hosts: %v", err)
	}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	c = Config{}
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-feature-store.online.backend=cassandra", "-feature-store.online.cassandra-hosts= 10.0.0.1:9042, cass-2 ,",
		"-feature-store.online.cassandra-replication=network:us-east-1=3", "-feature-store.online.cassandra-consistency=local_one",
		"-feature-store.online.cassandra-local-dc=us-east-1", "-feature-store.online.cassandra-username=u", "-feature-store.online.cassandra-password=p",
		"-feature-store.online.cassandra-timeout=2s", "-feature-store.online.cassandra-keyspace=feat"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	o := c.Online.Cassandra.Options()
	if strings.Join(o.Hosts, "|") != "10.0.0.1:9042|cass-2" || o.Keyspace != "feat" || o.LocalDC != "us-east-1" || o.Username != "u" ||
		o.Password != "p" || o.Timeout != 2*time.Second || o.Consistency != "local_one" || o.Replication != "network:us-east-1=3" {
		t.Fatalf("options %+v", o)
	}
	for name, mut := range map[string]func(*CassandraConfig){
		"keyspace":    func(c *CassandraConfig) { c.Keyspace = "bad-name" },
		"replication": func(c *CassandraConfig) { c.Replication = "network:us-east-1" },
		"consistency": func(c *CassandraConfig) { c.Consistency = "SERIAL" },
		"timeout":     func(c *CassandraConfig) { c.Timeout = -1 },
		"hosts":       func(c *CassandraConfig) { c.Hosts = " , " },
		"password":    func(c *CassandraConfig) { c.Username = "" },
	} {
		bad := c
		mut(&bad.Online.Cassandra)
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
}

// TestCassandraUnreachable: New fails (rather than serving without an online store) when no node answers.
func TestCassandraUnreachable(t *testing.T) {
	c := Config{DataDir: t.TempDir(), Online: OnlineConfig{Backend: "cassandra", Cassandra: CassandraConfig{Hosts: "127.0.0.1:1", Timeout: 300 * time.Millisecond}}}
	start := time.Now()
	s, err := New(c, Deps{Logger: slog.New(slog.DiscardHandler), Clock: clock.Real()})
	if err == nil {
		_ = s.stop(t.Context())
		t.Fatal("New connected to a closed port")
	}
	if !strings.Contains(err.Error(), "online store") || time.Since(start) > 20*time.Second {
		t.Fatalf("error %v after %v", err, time.Since(start))
	}
}

// TestCassandraBackendThroughDriver starts the service with -feature-store.online.backend=cassandra against the CQL
// wire model (the real gocql driver, no Cassandra server) and restarts it: the second instance finds the tables
// through system_schema, not through its own DDL.
func TestCassandraBackendThroughDriver(t *testing.T) {
	srv, err := cassandramodel.ServeWire(cassandramodel.New(time.Now), "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	start := func() (*Service, http.Handler) {
		var c Config
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		c.RegisterFlags(fs)
		if err := fs.Parse([]string{"-feature-store.data-dir=" + dir, "-feature-store.online.backend=cassandra",
			"-feature-store.online.cassandra-hosts=" + srv.Addr(), "-feature-store.online.cassandra-consistency=ONE"}); err != nil {
			t.Fatal(err)
		}
		svc, err := New(c, Deps{})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Module().Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		r := chi.NewRouter()
		r.Route("/feature-store", svc.RegisterHTTP)
		r.Route("/feature-store-admin", svc.RegisterAdminHTTP)
		return svc, r
	}
	call := func(h http.Handler, method, path, body, want string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
	svc, h := start()
	call(h, "POST", "/feature-store-admin/entity", `{"entity":{"tableName":"users","features":[{"name":"id","type":"UUID"},{"name":"day","type":"INT"}],"primaryKeys":["id","day"],"ttl":3600},"owner":"a@b.co"}`, "users")
	call(h, "POST", "/feature-store-admin/feature-group", `{"featureGroup":{"featureGroupName":"g","entityName":"users","features":[{"name":"x","type":"DECIMAL"},{"name":"ip","type":"INET"}]},"owner":"a@b.co"}`, `"v1"`)
	call(h, "POST", "/feature-store/feature-group/write-features-v2",
		`{"featureGroupName":"g","features":{"names":["id","day","x","ip"],"values":[["6BA7B810-9DAD-41D1-80B4-00C04FD430C8",1,"2.50","10.0.0.1"]]}}`, "successfulRows")
	if err := svc.Module().Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Lines("QUERY ONE CREATE TABLE IF NOT EXISTS \"ofs\".\"users\"")); n != 1 {
		t.Fatalf("%d CREATE TABLE", n)
	}
	svc, h = start()
	defer func() { _ = svc.Module().Stop(t.Context()) }()
	call(h, "GET", "/feature-store/feature-group/read-features",
		`{"featureGroupName":"g","featureColumns":["ip","x","day"],"primaryKeys":{"names":["day","id"],"values":[[1,"6ba7b810-9dad-41d1-80b4-00c04fd430c8"],[2,"6ba7b810-9dad-41d1-80b4-00c04fd430c8"]]}}`,
		`"successfulKeys":[{"key":[1,"6ba7b810-9dad-41d1-80b4-00c04fd430c8"],"features":["10.0.0.1",2.50,1]}],"failedKeys":[[2,"6ba7b810-9dad-41d1-80b4-00c04fd430c8"]]`)
}
