package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
	"github.com/darwinml/darwin/services/feature-store/internal/online/cassandramodel"
	"github.com/darwinml/darwin/services/feature-store/internal/store"
)

// schemaStore is a Pebble store that also implements online.Schema, recording each DDL call; fail makes a method
// (create, add, ttl) fail.
type schemaStore struct {
	online.Store
	mu   sync.Mutex
	ddl  []string
	fail map[string]bool
}

func (s *schemaStore) log(kind, line string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail[kind] {
		return errors.New("cassandra: Cannot achieve consistency level QUORUM")
	}
	s.ddl = append(s.ddl, line)
	return nil
}

func (s *schemaStore) CreateTable(_ context.Context, t online.TableSchema) error {
	return s.log("create", fmt.Sprintf("create %s %v pk %v ttl %v", t.Name, t.Columns, t.PrimaryKey, t.TTL))
}

func (s *schemaStore) AddColumns(_ context.Context, table string, cols []online.ColumnSchema) error {
	return s.log("add", fmt.Sprintf("add %s %v", table, cols))
}

func (s *schemaStore) SetTableTTL(_ context.Context, table string, ttl time.Duration) error {
	return s.log("ttl", fmt.Sprintf("ttl %s %v", table, ttl))
}

func (s *schemaStore) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := strings.Join(s.ddl, "\n")
	s.ddl = nil
	return out
}

// newStoreEnv is newEnv over the given online store (not wrapped, so its Schema is visible to the handler).
func newStoreEnv(t testing.TB, d *db.DB, on online.Store, clk *clock.Fake) *env {
	h := New(store.New(d, clk), on, Options{CacheTTL: -1})
	admin, app := chi.NewRouter(), chi.NewRouter()
	h.RegisterAdmin(admin)
	h.RegisterApp(app)
	return &env{t: t, h: h, admin: admin, app: app, st: &countingStore{Store: on}, clk: clk}
}

func TestAdminSchemaHook(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		p, err := online.OpenPebble("", online.PebbleOptions{InMemory: true, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		s := &schemaStore{Store: p, fail: map[string]bool{}}
		e := newStoreEnv(t, d, s, clock.NewFake(time.UnixMilli(1_750_000_000_000)))
		ddl := func(want string) {
			t.Helper()
			if got := s.take(); got != want {
				t.Fatalf("DDL:\n%s\nwant:\n%s", got, want)
			}
		}

		// Entities: CREATE TABLE before the metadata; an existing entity's table is not touched.
		e.adminDo("POST", "/entity", userEntity("users")).ok(t)
		ddl("create users [{user_id BIGINT} {region TEXT} {signup_ts TIMESTAMP}] pk [user_id region] ttl 0s")
		withTTL := userEntity("events")
		withTTL["entity"].(map[string]any)["ttl"] = 3600
		e.adminDo("POST", "/entity", withTTL).ok(t)
		ddl("create events [{user_id BIGINT} {region TEXT} {signup_ts TIMESTAMP}] pk [user_id region] ttl 1h0m0s")
		e.adminDo("POST", "/entity", userEntity("users")).fails(t, 400, "ENTITY-ALREADY-EXISTS-EXCEPTION")
		ddl("")
		tooLong := userEntity("long")
		tooLong["entity"].(map[string]any)["ttl"] = 630720001
		e.adminDo("POST", "/entity", tooLong).fails(t, 400, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		ddl("")
		s.fail["create"] = true
		e.adminDo("POST", "/entity", userEntity("broken")).fails(t, 500, "ENTITY-REGISTRATION-ERROR")
		s.fail["create"] = false
		e.adminDo("GET", "/entity?name=broken", nil).fails(t, 404, "ENTITY-NOT-FOUND-EXCEPTION")
		// Retrying after the failure works (the DDL is idempotent).
		e.adminDo("POST", "/entity", userEntity("broken")).ok(t)
		ddl("create broken [{user_id BIGINT} {region TEXT} {signup_ts TIMESTAMP}] pk [user_id region] ttl 0s")

		// Feature groups: ALTER TABLE ADD of the version's prefixed columns, before the metadata.
		e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("clicks", "int"), col("score", "DOUBLE"))).ok(t)
		ddl("add users [{stats__v1__clicks INT} {stats__v1__score DOUBLE}]")
		e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("clicks", "BIGINT")), "upgrade", "true").ok(t)
		ddl("add users [{stats__v2__clicks BIGINT}]")
		off := false
		e.adminDo("POST", "/feature-group", fgReq("flat", "users", &off, col("x", "TEXT"))).ok(t)
		ddl("add users [{flat__x TEXT}]")
		// Refused registrations run no DDL.
		e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("clicks", "INT"))).fails(t, 400, "FEATURE-GROUP-ALREADY-EXISTS-EXCEPTION")
		e.adminDo("POST", "/feature-group", fgReq("flat", "users", &off, col("x", "TEXT")), "upgrade", "true").fails(t, 400, "VERSIONING-DISABLED-EXCEPTION")
		e.adminDo("POST", "/feature-group", fgReq("g", "users", nil, col("region", "TEXT"))).fails(t, 400, "FEATURE-GROUP-INVALID-COLUMN-NAMES-EXCEPTION")
		r := e.adminDo("POST", "/feature-group", fgReq("g", "nope", nil, col("x", "TEXT")))
		if r.Status != 404 && r.Status != 400 {
			t.Fatalf("unknown entity: %s", r.raw)
		}
		e.adminDo("POST", "/feature-group", fgReq("stats", "events", nil, col("y", "TEXT")), "upgrade", "true").fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		ddl("")
		s.fail["add"] = true
		e.adminDo("POST", "/feature-group", fgReq("g2", "users", nil, col("x", "TEXT"))).fails(t, 500, "FEATURE-GROUP-REGISTRATION-ERROR")
		e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("z", "TEXT")), "upgrade", "true").fails(t, 500, "FEATURE-GROUP-REGISTRATION-ERROR")
		s.fail["add"] = false
		e.adminDo("GET", "/feature-group?name=g2", nil).fails(t, 404, "FEATURE-GROUP-NOT-FOUND-EXCEPTION")
		e.adminDo("GET", "/feature-group?name=stats&version=v3", nil).fails(t, 404, "FEATURE-GROUP-VERSION-NOT-FOUND-EXCEPTION")

		// TTL: ALTER TABLE WITH default_time_to_live before the metadata.
		e.adminDo("PUT", "/feature-group/ttl", map[string]any{"name": "stats", "ttl": 60}).ok(t)
		ddl("ttl users 1m0s")
		s.fail["ttl"] = true
		e.adminDo("PUT", "/feature-group/ttl", map[string]any{"name": "stats", "ttl": 120}).fails(t, 500, "OFS-V2-TTL-UPDATE-EXCEPTION")
		s.fail["ttl"] = false
		e.adminDo("PUT", "/feature-group/ttl", map[string]any{"name": "stats", "ttl": 630720001}).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		ddl("")
		e.adminDo("GET", "/entity?name=users", nil).ok(t).has(t, `"ttl":60`)
	})
}

// TestCassandraEndToEnd runs admin and app requests against the Cassandra store over the in-memory CQL model:
// the admin's DDL creates what the app's writes and reads use, with the entity's real column types.
func TestCassandraEndToEnd(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		clk := clock.NewFake(time.UnixMilli(1_750_000_000_000))
		c, err := online.NewCassandraWithSession(cassandramodel.New(clk.Now), online.CassandraOptions{})
		if err != nil {
			t.Fatal(err)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(c.EnsureKeyspace(t.Context()))
		e := newStoreEnv(t, d, c, clk)
		e.setup()
		var r ReadResponse
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, []string{"region", "user_id", "clicks", "score", "label"},
			[]any{"in", 1, 10, 0.5, "a"}, []any{"us", 2, 20, 1.5, nil}, []any{"in", "3", 30, "2.5", "c"})).ok(t)
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", nil, []string{"label", "clicks", "user_id", "score", "signup_ts"}, []string{"user_id", "region"},
			[]any{1, "in"}, []any{2, "us"}, []any{9, "in"}, []any{1, "us"}, []any{3, "in"})).ok(t).into(t, &r)
		if got := asJSON(r.SuccessfulKeys); got != `[{"key":[1,"in"],"features":["a",10,1,0.5,null]},{"key":[2,"us"],"features":[null,20,2,1.5,null]},{"key":[3,"in"],"features":["c",30,3,2.5,null]}]` {
			t.Fatalf("successful keys %s", got)
		}
		if got := asJSON(r.FailedKeys); got != `[[9,"in"],[1,"us"]]` {
			t.Fatalf("failed keys %s", got)
		}
		// read-partition answers from one SELECT ... WHERE user_id = ? (rows in key order).
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, []string{"region", "user_id", "clicks"}, []any{"eu", 1, 11})).ok(t)
		e.appDo("GET", "/feature-group/read-partition", partReq([]string{"user_id"}, []any{"1"}, "region", "clicks", "label")).ok(t).
			has(t, `"features":[["eu",11,null],["in",10,"a"]]`)
		// v2 columns are added by the upgrade and hold their own values.
		e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("clicks", "BIGINT")), "upgrade", "true").ok(t)
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", "v2", []string{"user_id", "region", "clicks"}, []any{1, "in", 5000000000})).ok(t)
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", "v1", []string{"clicks"}, []string{"user_id", "region"}, []any{1, "in"})).ok(t).into(t, &r)
		if asJSON(r.SuccessfulKeys[0].Features) != `[10]` {
			t.Fatalf("v1 after v2 write %s", asJSON(r.SuccessfulKeys))
		}
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", "v2", []string{"clicks"}, []string{"user_id", "region"}, []any{1, "in"})).ok(t).into(t, &r)
		if asJSON(r.SuccessfulKeys[0].Features) != `[5000000000]` {
			t.Fatalf("v2 read %s", asJSON(r.SuccessfulKeys))
		}
		// A TTL set through the admin applies to later writes.
		e.adminDo("PUT", "/feature-group/ttl", map[string]any{"name": "stats", "version": "v1", "ttl": 10}).ok(t)
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", "v1", []string{"user_id", "region", "clicks"}, []any{7, "eu", 70})).ok(t)
		clk.Advance(11 * time.Second)
		e.appDo("GET", "/feature-group/read-features", readBody2("stats", "v1", []string{"clicks"}, []string{"user_id", "region"}, []any{7, "eu"}, []any{2, "us"})).ok(t).into(t, &r)
		if asJSON(r.FailedKeys) != `[[7,"eu"]]` || asJSON(r.SuccessfulKeys) != `[{"key":[2,"us"],"features":[20]}]` {
			t.Fatalf("after TTL %s %s", asJSON(r.SuccessfulKeys), asJSON(r.FailedKeys))
		}
	})
}
