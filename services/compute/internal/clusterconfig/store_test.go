package clusterconfig_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/compute/internal/clusterconfig"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/migrations"
)

var computeMigrations = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

var _ domain.ConfigGetter = (*clusterconfig.Store)(nil)

func TestStoreContract(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, computeMigrations, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := clusterconfig.NewStore(d)

		// Seeds.
		for key, want := range map[string]string{
			"cloud_env": "kind-0", "cloud_env_job": "kind-0", "cloud_env_remotekernel": "kind-0", "cloud_env_shs": "kind-0",
			"RSS_TOTAL_FSX_NUM": "1", "RSS_PER_FSX_CLAIM_NUM": "1",
		} {
			got, err := s.Get(ctx, key)
			if err != nil || got != want {
				t.Errorf("Get(%q) = %q, %v; want %q", key, got, err, want)
			}
		}
		all, err := s.List(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, len(all))
		for i, e := range all {
			keys[i] = e.Key
		}
		wantKeys := []string{"RSS_PER_FSX_CLAIM_NUM", "RSS_TOTAL_FSX_NUM", "cloud_env", "cloud_env_job", "cloud_env_remotekernel", "cloud_env_shs"}
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("List keys = %v, want %v (binary key order on every dialect)", keys, wantKeys)
		}
		page, err := s.List(ctx, 2, 2)
		if err != nil || len(page) != 2 || page[0].Key != "cloud_env" || page[1].Key != "cloud_env_job" {
			t.Errorf("List(2,2) = %v, %v", page, err)
		}
		if page, err := s.List(ctx, 100, 10); err != nil || len(page) != 0 {
			t.Errorf("List past the end = %v, %v; want empty", page, err)
		}

		// Missing key.
		if _, err := s.Get(ctx, "nope"); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("Get(missing) err = %v, want NotFound", err)
		}
		// Create, duplicate (case-sensitive keys), update.
		if err := s.Create(ctx, "team", "a"); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, "team", "b"); !apierr.Is(err, apierr.AlreadyExists) {
			t.Errorf("duplicate Create err = %v, want AlreadyExists", err)
		}
		if err := s.Create(ctx, "TEAM", "upper"); err != nil {
			t.Errorf("Create(TEAM) err = %v: keys are case-sensitive", err)
		}
		if err := s.Update(ctx, "team", "c"); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(ctx, "team", "c"); err != nil {
			t.Errorf("Update with the same value err = %v", err)
		}
		if v, _ := s.Get(ctx, "team"); v != "c" {
			t.Errorf("after Update Get = %q, want c", v)
		}
		if err := s.Update(ctx, "missing", "x"); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("Update(missing) err = %v, want NotFound", err)
		}
		if v, _ := s.Get(ctx, "TEAM"); v != "upper" {
			t.Errorf("Get(TEAM) = %q, want upper", v)
		}
		// Limits: the largest key and value fit every dialect; one byte more is a 400.
		bigKey, bigValue := strings.Repeat("k", clusterconfig.MaxKeyLen), strings.Repeat("v", clusterconfig.MaxValueLen)
		if err := s.Create(ctx, bigKey, bigValue); err != nil {
			t.Fatalf("Create at the limits: %v", err)
		}
		if v, err := s.Get(ctx, bigKey); err != nil || v != bigValue {
			t.Errorf("Get at the limits = %d bytes, %v", len(v), err)
		}
		if err := s.Create(ctx, bigKey+"k", "x"); apierr.From(err).Field != "key" {
			t.Errorf("Create with a long key err = %v", err)
		}
		if err := s.Update(ctx, "team", bigValue+"v"); apierr.From(err).Field != "value" {
			t.Errorf("Update with a long value err = %v", err)
		}
		// Validation.
		if err := s.Create(ctx, "", "x"); apierr.From(err).Field != "key" {
			t.Errorf("Create(empty key) err = %v, want field key", err)
		}
		if _, err := s.List(ctx, -1, 10); apierr.From(err).Field != "offset" {
			t.Errorf("List(-1) err = %v, want field offset", err)
		}
		if _, err := s.List(ctx, 0, 0); apierr.From(err).Field != "limit" {
			t.Errorf("List(limit 0) err = %v, want field limit", err)
		}
	})
}
