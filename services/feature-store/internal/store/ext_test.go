package store

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/migrations"
)

var fsMigrations = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

func wantCode(t *testing.T, err error, c domain.Code) {
	t.Helper()
	if !domain.Is(err, c) {
		t.Fatalf("want %s, got %v", c.Name, err)
	}
}

// seedGroup registers entity users and feature group name (v1, plus v2 when versions > 1).
func seedGroup(t *testing.T, s *Store, name string, versions int) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.GetEntity(ctx, "users"); err != nil {
		ent := domain.Entity{TableName: "users", Features: []domain.FeatureColumn{{Name: "id", Type: "BIGINT"}}, PrimaryKeys: []string{"id"}}
		if _, err := s.CreateEntity(ctx, domain.EntityMetadata{Name: "users", Entity: ent, Owner: "a@b.co"}); err != nil {
			t.Fatal(err)
		}
	}
	for v := range versions {
		fg := domain.FeatureGroup{FeatureGroupName: name, VersionEnabled: true, FeatureGroupType: domain.TypeOnline, EntityName: "users",
			Features: []domain.FeatureColumn{{Name: "f", Type: "INT"}}}
		m := domain.FeatureGroupMetadata{Name: name, VersionEnabled: true, FeatureGroupType: domain.TypeOnline, FeatureGroup: fg, Owner: "a@b.co", Tenant: domain.DefaultTenants()}
		if _, err := s.CreateFeatureGroup(ctx, m, v > 0); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTenantsConsumersPopulators(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		clk := clock.NewFake(time.UnixMilli(1_750_000_000_000))
		s := New(d, clk)
		// Seeds.
		list, err := s.ListConsumers(ctx)
		if err != nil || len(list) != 3 || list[0].TenantName != "default-tenant" || list[0].TopicName != "default" || list[1].TenantName != "t1" {
			t.Fatalf("seeded consumers = %+v, %v", list, err)
		}
		pops, err := s.ListPopulators(ctx)
		if err != nil || len(pops) != 1 || pops[0] != (domain.PopulatorConfig{TenantName: "default-tenant", NumWorkers: 8}) {
			t.Fatalf("seeded populators = %+v, %v", pops, err)
		}
		// Onboard, duplicate, register (create and replace), update, unknown tenants.
		c, err := s.OnboardTenant(ctx, domain.ConsumerConfig{TenantName: "t3", TopicName: "shared", NumPartitions: 4, NumConsumers: 1})
		if err != nil || c.CreatedAt != clk.Now().UnixMilli() {
			t.Fatalf("onboard = %+v, %v", c, err)
		}
		_, err = s.OnboardTenant(ctx, domain.ConsumerConfig{TenantName: "t3", TopicName: "x", NumPartitions: 1, NumConsumers: 1})
		wantCode(t, err, domain.ErrTenantRequest)
		if _, err := s.RegisterConsumer(ctx, domain.ConsumerConfig{TenantName: "t4", TopicName: "shared", NumPartitions: 2, NumConsumers: 2}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
		c, err = s.RegisterConsumer(ctx, domain.ConsumerConfig{TenantName: "t4", TopicName: "t4", NumPartitions: 3, NumConsumers: 3})
		if err != nil || c.UpdatedAt != c.CreatedAt+1000 {
			t.Fatalf("re-register = %+v, %v", c, err)
		}
		c, err = s.UpdateConsumer(ctx, "t4", func(c *domain.ConsumerConfig) { c.NumConsumers = 7 })
		if err != nil || c.NumConsumers != 7 || c.TopicName != "t4" {
			t.Fatalf("update = %+v, %v", c, err)
		}
		if got, _ := s.GetConsumer(ctx, "t4"); got.NumConsumers != 7 || got.NumPartitions != 3 {
			t.Fatalf("stored = %+v", got)
		}
		_, err = s.UpdateConsumer(ctx, "nope", func(*domain.ConsumerConfig) {})
		wantCode(t, err, domain.ErrConsumerConfigNotFound)
		_, err = s.GetConsumer(ctx, "nope")
		wantCode(t, err, domain.ErrTenantNotFound)
		names, _ := s.ListTenants(ctx)
		topics, err := s.TenantTopics(ctx)
		if fmt.Sprint(names) != "[default-tenant t1 t2 t3 t4]" || fmt.Sprint(topics) != "[default shared t1 t2 t4]" || err != nil {
			t.Fatalf("tenants %v topics %v %v", names, topics, err)
		}
		// Populators: upsert, unknown tenant.
		if p, err := s.SetPopulator(ctx, "t3", 2); err != nil || p.NumWorkers != 2 {
			t.Fatalf("set populator = %+v, %v", p, err)
		}
		if _, err := s.SetPopulator(ctx, "default-tenant", 3); err != nil {
			t.Fatal(err)
		}
		_, err = s.SetPopulator(ctx, "nope", 3)
		wantCode(t, err, domain.ErrTenantNotFound)
		pops, _ = s.ListPopulators(ctx)
		if len(pops) != 2 || pops[0].NumWorkers != 3 || pops[1].TenantName != "t3" {
			t.Fatalf("populators = %+v", pops)
		}

		// Feature group tenants and topics.
		seedGroup(t, s, "fga", 2)
		seedGroup(t, s, "fgb", 1)
		if topic, err := s.FeatureGroupTopic(ctx, "fga"); err != nil || topic != "default" {
			t.Fatalf("topic = %q, %v", topic, err)
		}
		_, err = s.FeatureGroupTopic(ctx, "nope")
		wantCode(t, err, domain.ErrFGNotFound)
		_, err = s.SetFeatureGroupTenant(ctx, "fga", domain.Tenant{Consume: "nope"})
		wantCode(t, err, domain.ErrTenantNotFound)
		m, err := s.SetFeatureGroupTenant(ctx, "fga", domain.Tenant{Consume: "t4"})
		if err != nil || m.Tenant != (domain.Tenant{Read: domain.DefaultTenant, Write: domain.DefaultTenant, Consume: "t4"}) || m.Version != "v2" {
			t.Fatalf("set tenant = %+v, %v", m, err)
		}
		if v1, _ := s.GetFeatureGroup(ctx, "fga", "v1"); v1.Tenant.Consume != "t4" {
			t.Fatalf("v1 tenant not updated: %+v", v1.Tenant)
		}
		if topic, _ := s.FeatureGroupTopic(ctx, "fga"); topic != "t4" {
			t.Fatalf("topic after tenant change = %q", topic)
		}
		got, err := s.TenantFeatureGroups(ctx, "t4", domain.RoleConsumer)
		if err != nil || len(got) != 2 || got[0].Name != "fga" {
			t.Fatalf("tenant t4 consumer groups = %d, %v", len(got), err)
		}
		if got, _ := s.TenantFeatureGroups(ctx, "t4", domain.RoleReader); len(got) != 0 {
			t.Fatalf("tenant t4 reader groups = %d", len(got))
		}
		if got, _ := s.TenantFeatureGroups(ctx, domain.DefaultTenant, domain.RoleAll); len(got) != 3 {
			t.Fatalf("default tenant ALL groups = %d", len(got))
		}
		// Move every READER default-tenant to t1; the new tenant must exist.
		_, err = s.MoveTenant(ctx, domain.RoleReader, domain.DefaultTenant, "nope")
		wantCode(t, err, domain.ErrTenantNotFound)
		moved, err := s.MoveTenant(ctx, domain.RoleReader, domain.DefaultTenant, "t1")
		if err != nil || fmt.Sprint(moved) != "[fga fgb]" {
			t.Fatalf("moved = %v, %v", moved, err)
		}
		if b, _ := s.GetFeatureGroup(ctx, "fgb", ""); b.Tenant != (domain.Tenant{Read: "t1", Write: domain.DefaultTenant, Consume: domain.DefaultTenant}) {
			t.Fatalf("fgb tenant = %+v", b.Tenant)
		}
		if moved, _ := s.MoveTenant(ctx, domain.RoleAll, "t4", "t2"); fmt.Sprint(moved) != "[fga]" {
			t.Fatalf("moved ALL = %v", moved)
		}
		// A new version inherits the group's tenants.
		fg := domain.FeatureGroup{FeatureGroupName: "fga", VersionEnabled: true, FeatureGroupType: domain.TypeOnline, EntityName: "users",
			Features: []domain.FeatureColumn{{Name: "f", Type: "INT"}}}
		v3, err := s.CreateFeatureGroup(ctx, domain.FeatureGroupMetadata{Name: "fga", VersionEnabled: true, FeatureGroupType: domain.TypeOnline,
			FeatureGroup: fg, Owner: "a@b.co", Tenant: domain.DefaultTenants()}, true)
		if err != nil || v3.Version != "v3" || v3.Tenant.Consume != "t2" || v3.Tenant.Read != "t1" {
			t.Fatalf("upgraded = %+v, %v", v3.Tenant, err)
		}
		if topic, _ := s.FeatureGroupTopic(ctx, "fga"); topic != "t2" {
			t.Fatalf("topic after upgrade = %q", topic)
		}
	})
}

func TestRunData(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		clk := clock.NewFake(time.UnixMilli(1_750_000_000_000))
		s := New(d, clk)
		seedGroup(t, s, "fga", 2)
		_, err := s.RecordRunData(ctx, domain.RunData{Name: "nope", RunID: "r", Status: domain.RunSuccess})
		wantCode(t, err, domain.ErrFGNotFound)
		_, err = s.RecordRunData(ctx, domain.RunData{Name: "fga", Version: "v9", RunID: "r", Status: domain.RunSuccess})
		wantCode(t, err, domain.ErrFGVersionNotFound)
		for i := range 5 {
			v := "v1"
			if i%2 == 1 {
				v = ""
			}
			clk.Advance(time.Second)
			r, err := s.RecordRunData(ctx, domain.RunData{Name: "fga", Version: v, RunID: fmt.Sprintf("run-%d", i), Source: "spark", TimeTaken: int64(i),
				Count: int64(10 * i), SampleData: []json.RawMessage{json.RawMessage(`{"f":1}`), json.RawMessage(`12345678901234567890`)}, Status: domain.RunSuccess})
			if err != nil || (v == "" && r.Version != "v2") || r.Timestamp != clk.Now().UnixMilli() {
				t.Fatalf("record %d = %+v, %v", i, r, err)
			}
		}
		// Re-recording a run replaces it.
		if _, err := s.RecordRunData(ctx, domain.RunData{Name: "fga", Version: "v1", RunID: "run-0", Status: domain.RunFailed, ErrorMessage: "boom", Timestamp: 1}); err != nil {
			t.Fatal(err)
		}
		all, err := s.ListRunData(ctx, "fga", "", 100, 0)
		if err != nil || len(all) != 5 {
			t.Fatalf("all = %d, %v", len(all), err)
		}
		var ids []string
		for _, r := range all {
			ids = append(ids, r.RunID)
		}
		if fmt.Sprint(ids) != "[run-4 run-3 run-2 run-1 run-0]" {
			t.Fatalf("newest first = %v", ids)
		}
		if all[4].Status != domain.RunFailed || all[4].ErrorMessage != "boom" || len(all[4].SampleData) != 0 {
			t.Fatalf("replaced run = %+v", all[4])
		}
		if string(all[0].SampleData[1]) != "12345678901234567890" || all[0].Count != 40 || all[0].Source != "spark" {
			t.Fatalf("run-4 = %+v", all[0])
		}
		v1, _ := s.ListRunData(ctx, "fga", "v1", 100, 0)
		page, _ := s.ListRunData(ctx, "fga", "", 2, 1)
		if len(v1) != 3 || len(page) != 2 || page[0].RunID != "run-3" || page[1].RunID != "run-2" {
			t.Fatalf("v1 = %d, page = %+v", len(v1), page)
		}
		if none, err := s.ListRunData(ctx, "nope", "", 10, 0); err != nil || len(none) != 0 {
			t.Fatalf("unknown = %+v, %v", none, err)
		}
	})
}
