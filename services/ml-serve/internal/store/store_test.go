package store_test

import (
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
	"github.com/darwinml/darwin/services/ml-serve/internal/store"
	"github.com/darwinml/darwin/services/ml-serve/migrations"
)

var migs = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

func TestUsers(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		st := store.New(d, clock.NewFake(time.UnixMilli(1_700_000_000_000)))
		u, err := st.UpsertUserToken(ctx, "admin", "t1")
		if err != nil {
			t.Fatal(err)
		}
		if got, ok, err := st.UserByToken(ctx, "t1"); err != nil || !ok || got.ID != u.ID || got.Username != "admin" {
			t.Fatalf("lookup: %+v %v %v", got, ok, err)
		}
		// Rotation keeps the user and invalidates the old token.
		u2, err := st.UpsertUserToken(ctx, "admin", "t2")
		if err != nil || u2.ID != u.ID {
			t.Fatalf("rotate: %+v %v", u2, err)
		}
		if _, ok, _ := st.UserByToken(ctx, "t1"); ok {
			t.Fatal("old token still valid")
		}
		if _, ok, _ := st.UserByToken(ctx, "t2"); !ok {
			t.Fatal("new token invalid")
		}
		// Only the SHA-256 digest is stored.
		var stored string
		if err := d.QueryRow(ctx, "SELECT token_hash FROM users WHERE username = 'admin'").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != store.HashToken("t2") || len(stored) != 64 || stored == "t2" {
			t.Fatalf("stored %q", stored)
		}
		// Two users cannot share a token.
		if _, err := st.UpsertUserToken(ctx, "other", "t2"); err == nil {
			t.Fatal("duplicate token accepted")
		}
	})
}

func TestEnvironmentsAndTx(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		st := store.New(d, nil)
		cfg := domain.EnvConfig{ClusterName: "kind", Namespace: "serve", Subnets: []string{"a"}}
		env, err := st.CreateEnvironment(ctx, "local", cfg, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateEnvironment(ctx, "local", cfg, false); !apierr.Is(err, apierr.AlreadyExists) {
			t.Fatalf("dup: %v", err)
		}
		got, ok, err := st.Environment(ctx, "local")
		if err != nil || !ok || !got.IsProtected || got.Configs.Subnets[0] != "a" || got.ID != env.ID {
			t.Fatalf("get: %+v %v", got, err)
		}
		// A failed transaction leaves nothing behind.
		err = st.Tx(ctx, func(q *store.Queries) error {
			if _, err := q.CreateServe(ctx, domain.Serve{Name: "s", Type: "api"}); err != nil {
				return err
			}
			return apierr.New(apierr.InvalidArgument, "abort")
		})
		if !apierr.Is(err, apierr.InvalidArgument) {
			t.Fatalf("tx err: %v", err)
		}
		if _, ok, _ := st.Serve(ctx, "s"); ok {
			t.Fatal("rolled-back serve exists")
		}
		if what, err := st.EnvironmentInUse(ctx, env.ID); err != nil || what != "" {
			t.Fatalf("in use: %q %v", what, err)
		}
	})
}
