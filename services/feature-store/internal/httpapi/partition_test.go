package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/redis/go-redis/v9"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/pkg/testutil"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
	"github.com/darwinml/darwin/services/feature-store/internal/store"
)

// newEnvWith is newEnv over online store on itself (not wrapped, so its optional interfaces show).
func newEnvWith(t testing.TB, d *db.DB, on online.Store) *env {
	clk := clock.NewFake(time.UnixMilli(1_750_000_000_000))
	h := New(store.New(d, clk), on, Options{CacheTTL: -1})
	admin, app := chi.NewRouter(), chi.NewRouter()
	h.RegisterAdmin(admin)
	h.RegisterApp(app)
	return &env{t: t, h: h, admin: admin, app: app, clk: clk}
}

func pebbleStore(t testing.TB) online.Store {
	p, err := online.OpenPebble("", online.PebbleOptions{InMemory: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func redisStore(t testing.TB) online.Store {
	const addr = "127.0.0.1:6379"
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		testutil.NeedServer(t, "Redis at "+addr, "redis-server --port 6379")
		return nil
	}
	_ = conn.Close()
	c := redis.NewClient(&redis.Options{Addr: addr})
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "darwin-fs-http-test-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for it.Next(ctx) {
			c.Del(ctx, it.Val())
		}
		_ = c.Close()
	})
	return online.NewRedis(c, prefix)
}

func partReq(names []string, values []any, cols ...string) map[string]any {
	return map[string]any{"featureGroupName": "stats", "featureGroupVersion": nil, "featureColumns": cols,
		"partitionKey": map[string]any{"names": names, "values": values}}
}

type partResp struct {
	FeatureGroupName    string
	FeatureGroupVersion string
	Features            [][]json.RawMessage
}

func (p partResp) String() string {
	var rows []string
	for _, r := range p.Features {
		var vals []string
		for _, v := range r {
			vals = append(vals, string(v))
		}
		rows = append(rows, "["+strings.Join(vals, " ")+"]")
	}
	return strings.Join(rows, " ")
}

func TestReadPartition(t *testing.T) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) online.Store
	}{{"pebble", pebbleStore}, {"redis", redisStore}} {
		t.Run(backend.name, func(t *testing.T) {
			on := backend.open(t)
			if on == nil {
				return
			}
			d := dbtest.Open(t, db.SQLite)
			if err := db.Migrate(t.Context(), d, fsMigrations[0].Component, fsMigrations[0].FS); err != nil {
				t.Fatal(err)
			}
			e := newEnvWith(t, d, on)
			e.setup()
			names := []string{"user_id", "region", "clicks", "score"}
			e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, names,
				[]any{1, "us", 10, 1.5}, []any{1, "in", 11, nil}, []any{12, "in", 99, 9.5}, []any{2, "eu", 20, 2.5})).ok(t)

			var got partResp
			e.appDo("GET", "/feature-group/read-partition", partReq([]string{"user_id"}, []any{"1"}, "region", "clicks", "user_id", "score", "label")).ok(t).into(t, &got)
			if got.FeatureGroupName != "stats" || got.FeatureGroupVersion != "v1" || got.String() != `["in" 11 1 null null] ["us" 10 1 1.5 null]` {
				t.Fatalf("partition 1 = %+v %s", got, got)
			}
			// A clustering prefix (any order of names), POST, an empty partition.
			e.appDo("POST", "/feature-group/read-partition", partReq([]string{"region", "user_id"}, []any{"us", 1}, "clicks")).ok(t).into(t, &got)
			if got.String() != `[10]` {
				t.Fatalf("partition 1/us = %s", got)
			}
			e.appDo("GET", "/feature-group/read-partition", partReq([]string{"user_id"}, []any{3}, "clicks")).ok(t).into(t, &got)
			if got.Features == nil || len(got.Features) != 0 {
				t.Fatalf("empty partition = %+v", got)
			}
			// Bad input names the field.
			for _, c := range []struct {
				body any
				code string
				msg  string
			}{
				{`{"featureGroupName":`, "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "invalid JSON"},
				{map[string]any{"featureColumns": []string{"clicks"}}, "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "featureGroupName"},
				{partReq([]string{"user_id"}, []any{1}), "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "featureColumns"},
				{partReq(nil, nil, "clicks"), "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "partitionKey.names"},
				{partReq([]string{"user_id"}, []any{1, 2}, "clicks"), "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "partitionKey.values"},
				{partReq([]string{"region"}, []any{"in"}, "clicks"), "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "partitionKey.names"},
				{partReq([]string{"user_id", "user_id"}, []any{1, 1}, "clicks"), "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "partitionKey.names"},
				{partReq([]string{"user_id"}, []any{"x"}, "clicks"), "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "partitionKey.values[0]"},
				{partReq([]string{"user_id"}, []any{nil}, "clicks"), "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "null"},
				{partReq([]string{"user_id"}, []any{1}, "nope"), "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "nope"},
				{map[string]any{"featureGroupName": "nope", "featureColumns": []string{"a"}, "partitionKey": map[string]any{"names": []string{"a"}, "values": []any{1}}}, "OFS-V2-ADMIN-SERVICE-EXCEPTION", "not found"},
			} {
				r := e.appDo("GET", "/feature-group/read-partition", c.body).fails(t, 400, c.code)
				if !strings.Contains(r.Error.Message, c.msg) {
					t.Errorf("%v: message %q lacks %q", c.body, r.Error.Message, c.msg)
				}
			}
			e.adminDo("PUT", "/feature-group?name=stats", map[string]any{"state": "ARCHIVED"}).ok(t)
			e.appDo("GET", "/feature-group/read-partition", partReq([]string{"user_id"}, []any{1}, "clicks")).fails(t, 400, "FEATURE-GROUP-STATE-EXCEPTION")
		})
	}
}

func TestReadPartitionLimitsAndUnsupported(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	if err := db.Migrate(t.Context(), d, fsMigrations[0].Component, fsMigrations[0].FS); err != nil {
		t.Fatal(err)
	}
	// The counting wrapper hides the Pebble store's PartitionReader: a store without the capability.
	e := newEnv(t, d)
	e.setup()
	e.appDo("GET", "/feature-group/read-partition", partReq([]string{"user_id"}, []any{1}, "clicks")).
		fails(t, 400, "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION").has(t, "not supported by this online store")

	on := pebbleStore(t)
	e2 := newEnvWith(t, d, on)
	var rows [][]any
	for i := range MaxPartitionRows + 1 {
		rows = append(rows, []any{7, fmt.Sprintf("r%05d", i), i})
	}
	e2.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, []string{"user_id", "region", "clicks"}, rows[:MaxPartitionRows]...)).ok(t)
	var got partResp
	e2.appDo("GET", "/feature-group/read-partition", partReq([]string{"user_id"}, []any{7}, "clicks")).ok(t).into(t, &got)
	if len(got.Features) != MaxPartitionRows || string(got.Features[MaxPartitionRows-1][0]) != fmt.Sprint(MaxPartitionRows-1) {
		t.Fatalf("full partition: %d rows", len(got.Features))
	}
	e2.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, []string{"user_id", "region", "clicks"}, rows[MaxPartitionRows:]...)).ok(t)
	e2.appDo("GET", "/feature-group/read-partition", partReq([]string{"user_id"}, []any{7}, "clicks")).
		fails(t, 400, "READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION").has(t, "more than 10000 rows")
}
