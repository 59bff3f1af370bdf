package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

func TestAdminEntities(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		var created struct{ Entity domain.Entity }
		e.adminDo("POST", "/entity", userEntity("users")).ok(t).into(t, &created)
		if created.Entity.TableName != "users" || created.Entity.Features[1].Type != "TEXT" || created.Entity.Features[1].Tags == nil {
			t.Fatalf("created = %+v", created)
		}
		e.adminDo("POST", "/entity/", userEntity("users")).fails(t, 400, "ENTITY-ALREADY-EXISTS-EXCEPTION")
		// Names are case-sensitive on every dialect.
		e.adminDo("POST", "/entity/register", userEntity("Users")).ok(t)

		var got struct{ Entity domain.Entity }
		e.adminDo("GET", "/entity?name=users", nil).ok(t).into(t, &got)
		if fmt.Sprint(got.Entity.PrimaryKeys) != "[user_id region]" {
			t.Fatalf("get = %+v", got)
		}
		var md struct{ Metadata domain.EntityMetadata }
		r := e.adminDo("GET", "/entity/metadata?name=users", nil).ok(t)
		r.into(t, &md)
		r.has(t, `"metadata":{`)
		if md.Metadata.State != "LIVE" || md.Metadata.Owner != "alice@example.com" || md.Metadata.CreatedAt != 1_750_000_000_000 || md.Metadata.Description != "users" {
			t.Fatalf("metadata = %+v", md.Metadata)
		}
		e.adminDo("GET", "/entity/metadata?name=nope", nil).fails(t, 404, "ENTITY-NOT-FOUND-EXCEPTION")
		e.adminDo("GET", "/entity", nil).fails(t, 400, "ENTITY-REGISTRATION-REQUEST-EXCEPTION")
		var all []domain.EntityMetadata
		e.adminDo("GET", "/entity/all", nil).ok(t).into(t, &all)
		if len(all) != 2 || all[0].Name != "Users" || all[1].Name != "users" {
			t.Fatalf("all = %+v", all)
		}
		e.adminDo("GET", "/entity/all-updated?timestamp=1750000000001", nil).ok(t).into(t, &all)
		if len(all) != 0 {
			t.Fatalf("all-updated = %+v", all)
		}
		e.adminDo("GET", "/entity/all-updated?timestamp=x", nil).fails(t, 400, "ENTITY-REGISTRATION-REQUEST-EXCEPTION")

		bad := func(mut func(m map[string]any), code string) {
			t.Helper()
			m := userEntity("t2")
			mut(m)
			e.adminDo("POST", "/entity", m).fails(t, 400, code)
		}
		ent := func(m map[string]any) map[string]any { return m["entity"].(map[string]any) }
		bad(func(m map[string]any) { delete(m, "entity") }, "ENTITY-REGISTRATION-REQUEST-EXCEPTION")
		bad(func(m map[string]any) { m["owner"] = "" }, "ENTITY-REGISTRATION-REQUEST-EXCEPTION")
		bad(func(m map[string]any) { m["owner"] = "not an email" }, "ENTITY-REGISTRATION-REQUEST-EXCEPTION")
		bad(func(m map[string]any) { m["tags"] = "x" }, "ENTITY-REGISTRATION-REQUEST-EXCEPTION")
		bad(func(m map[string]any) { ent(m)["tableName"] = "bad-name" }, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		bad(func(m map[string]any) { ent(m)["tableName"] = "a__b" }, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		bad(func(m map[string]any) { ent(m)["tableName"] = strings.Repeat("a", 49) }, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		bad(func(m map[string]any) { ent(m)["features"] = []any{} }, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		bad(func(m map[string]any) { ent(m)["features"] = []any{col("user_id", "BIGINT"), col("user_id", "TEXT")} }, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		bad(func(m map[string]any) { ent(m)["features"] = []any{col("user_id", "MAP"), col("region", "TEXT")} }, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		bad(func(m map[string]any) { ent(m)["primaryKeys"] = []string{} }, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		bad(func(m map[string]any) { ent(m)["primaryKeys"] = []string{"nope"} }, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		bad(func(m map[string]any) { ent(m)["primaryKeys"] = []string{"region", "region"} }, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		bad(func(m map[string]any) { ent(m)["ttl"] = -1 }, "ENTITY-SCHEMA-VALIDATION-EXCEPTION")
		for _, body := range []string{"", "{", "[]", `{"entity":1}`, `{} {}`, "null"} {
			r := e.adminDo("POST", "/entity", body)
			if r.Status != 400 || !strings.HasPrefix(r.Error.Code, "ENTITY-") {
				t.Fatalf("body %q: %d %s", body, r.Status, r.raw)
			}
		}
		// Nothing above was half-written.
		e.adminDo("GET", "/entity?name=t2", nil).fails(t, 404, "ENTITY-NOT-FOUND-EXCEPTION")
		e.adminDo("DELETE", "/entity", nil).fails(t, 405, "METHOD-NOT-ALLOWED")
		e.adminDo("GET", "/nope", nil).fails(t, 404, "NOT-FOUND")
	})
}

func TestAdminFeatureGroupVersions(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("clicks", "INT"))).fails(t, 404, "ENTITY-NOT-FOUND-EXCEPTION")
		e.adminDo("POST", "/entity", userEntity("users")).ok(t)
		var c struct {
			FeatureGroup domain.FeatureGroup
			Version      string
		}
		e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("clicks", "INT"))).ok(t).into(t, &c)
		if c.Version != "v1" || !c.FeatureGroup.VersionEnabled || c.FeatureGroup.FeatureGroupType != "ONLINE" {
			t.Fatalf("created %+v", c)
		}
		e.adminDo("POST", "/feature-group/", fgReq("stats", "users", nil, col("clicks", "INT"))).fails(t, 400, "FEATURE-GROUP-ALREADY-EXISTS-EXCEPTION")
		e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("clicks", "INT"), col("score", "DOUBLE")), "upgrade", "true").ok(t).into(t, &c)
		if c.Version != "v2" || len(c.FeatureGroup.Features) != 2 {
			t.Fatalf("upgraded %+v", c)
		}
		// upgrade on a new group just creates v1.
		e.adminDo("POST", "/feature-group/register", fgReq("other", "users", nil, col("x", "TEXT")), "upgrade", "true").ok(t).into(t, &c)
		if c.Version != "v1" {
			t.Fatalf("new with upgrade: %+v", c)
		}

		var v struct{ Version domain.VersionInfo }
		e.adminDo("GET", "/feature-group/version?name=stats", nil).ok(t).into(t, &v)
		if v.Version.LatestVersion != "v2" || v.Version.Name != "stats" {
			t.Fatalf("version %+v", v)
		}
		e.adminDo("GET", "/feature-group/version?name=nope", nil).fails(t, 404, "FEATURE-GROUP-NOT-FOUND-EXCEPTION")
		e.adminDo("GET", "/feature-group?name=stats", nil).ok(t).into(t, &c)
		if c.Version != "v2" {
			t.Fatalf("latest get %+v", c)
		}
		e.adminDo("GET", "/feature-group/?name=stats&version=v1", nil).ok(t).into(t, &c)
		if c.Version != "v1" || len(c.FeatureGroup.Features) != 1 {
			t.Fatalf("v1 get %+v", c)
		}
		e.adminDo("GET", "/feature-group?name=stats&version=v3", nil).fails(t, 404, "FEATURE-GROUP-VERSION-NOT-FOUND-EXCEPTION")
		e.adminDo("GET", "/feature-group?name=stats&version=junk", nil).fails(t, 404, "FEATURE-GROUP-VERSION-NOT-FOUND-EXCEPTION")
		e.adminDo("GET", "/feature-group?name=nope", nil).fails(t, 404, "FEATURE-GROUP-NOT-FOUND-EXCEPTION")
		e.adminDo("GET", "/feature-group?name=nope&version=v1", nil).fails(t, 404, "FEATURE-GROUP-NOT-FOUND-EXCEPTION")
		e.adminDo("GET", "/feature-group", nil).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")

		var md struct{ Metadata domain.FeatureGroupMetadata }
		r := e.adminDo("GET", "/feature-group/metadata?name=stats&version=v1", nil).ok(t)
		r.into(t, &md)
		r.has(t, `"tenant":{"read":"default-tenant","write":"default-tenant","consume":"default-tenant"}`)
		r.has(t, `"description":""`)
		if md.Metadata.Version != "v1" || md.Metadata.Owner != "bob@example.com" || md.Metadata.State != "LIVE" || fmt.Sprint(md.Metadata.Tags) != "[fraud]" {
			t.Fatalf("metadata %+v", md.Metadata)
		}
		var schema struct {
			Schema           []domain.FeatureColumn
			PrimaryKeys      []string
			Version          string
			FeatureGroupType string
		}
		e.adminDo("GET", "/feature-group/schema?name=stats", nil).ok(t).into(t, &schema)
		if len(schema.Schema) != 5 || schema.Schema[4].Name != "score" || schema.Version != "v2" || fmt.Sprint(schema.PrimaryKeys) != "[user_id region]" || schema.FeatureGroupType != "ONLINE" {
			t.Fatalf("schema %+v", schema)
		}
		var all []domain.FeatureGroupMetadata
		e.adminDo("GET", "/feature-group/all", nil).ok(t).into(t, &all)
		if len(all) != 3 || all[0].Name != "other" || all[1].Version != "v1" || all[2].Version != "v2" {
			t.Fatalf("all %+v", all)
		}
		var vs []domain.VersionInfo
		e.adminDo("GET", "/feature-group/version/all", nil).ok(t).into(t, &vs)
		if len(vs) != 2 || vs[1].LatestVersion != "v2" {
			t.Fatalf("versions %+v", vs)
		}
		e.adminDo("GET", "/feature-group/version/all-updated?timestamp=-5", nil).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")

		// Versioning disabled: no upgrade.
		off := false
		e.adminDo("POST", "/feature-group", fgReq("flat", "users", &off, col("a", "INT"))).ok(t).into(t, &c)
		if c.Version != "v1" || c.FeatureGroup.VersionEnabled {
			t.Fatalf("flat %+v", c)
		}
		e.adminDo("POST", "/feature-group", fgReq("flat", "users", &off, col("a", "INT")), "upgrade", "true").fails(t, 400, "VERSIONING-DISABLED-EXCEPTION")
		// An upgrade may not move the group to another entity.
		e.adminDo("POST", "/entity", userEntity("devices")).ok(t)
		e.adminDo("POST", "/feature-group", fgReq("stats", "devices", nil, col("a", "INT")), "upgrade", "true").fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")

		bad := func(body any, status int, code string) {
			t.Helper()
			e.adminDo("POST", "/feature-group", body).fails(t, status, code)
		}
		bad(fgReq("g", "users", nil, col("region", "TEXT")), 400, "FEATURE-GROUP-INVALID-COLUMN-NAMES-EXCEPTION")
		bad(fgReq("g", "users", nil, col("a", "INT"), col("a", "TEXT")), 400, "FEATURE-GROUP-INVALID-COLUMN-NAMES-EXCEPTION")
		bad(fgReq("g", "users", nil, col("a b", "INT")), 400, "FEATURE-GROUP-INVALID-COLUMN-NAMES-EXCEPTION")
		bad(fgReq("g", "users", nil, col("a", "LIST")), 400, "FEATURE-GROUP-SCHEMA-VALIDATION-EXCEPTION")
		bad(fgReq("g", "users", nil), 400, "FEATURE-GROUP-SCHEMA-VALIDATION-EXCEPTION")
		bad(fgReq("g__x", "users", nil, col("a", "INT")), 400, "FEATURE-GROUP-SCHEMA-VALIDATION-EXCEPTION")
		bad(fgReq("g", "", nil, col("a", "INT")), 400, "FEATURE-GROUP-SCHEMA-VALIDATION-EXCEPTION")
		m := fgReq("g", "users", nil, col("a", "INT"))
		m["featureGroup"].(map[string]any)["featureGroupType"] = "BATCH"
		bad(m, 400, "FEATURE-GROUP-SCHEMA-VALIDATION-EXCEPTION")
		m = fgReq("g", "users", nil, col("a", "INT"))
		m["owner"] = nil
		bad(m, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		bad(`{"featureGroup":{"features":{}}}`, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		bad(`{}`, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		e.adminDo("GET", "/feature-group?name=g", nil).fails(t, 404, "FEATURE-GROUP-NOT-FOUND-EXCEPTION")
	})
}

func TestAdminStateTTLAndSearch(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.adminDo("GET", "/search/all-entity-owners", nil).fails(t, 404, "OWNERS-NOT-FOUND-EXCEPTION")
		e.adminDo("GET", "/search/all-feature-group-owners", nil).fails(t, 404, "OWNERS-NOT-FOUND-EXCEPTION")
		e.setup()
		e.adminDo("PUT", "/entity?name=users", map[string]string{"state": "ARCHIVED"}).fails(t, 400, "UPDATE-ENTITY-REQUEST-EXCEPTION")
		e.adminDo("PUT", "/entity?name=users", map[string]string{"state": "GONE"}).fails(t, 400, "UPDATE-ENTITY-REQUEST-EXCEPTION")
		e.adminDo("PUT", "/entity?name=nope", map[string]string{"state": "LIVE"}).fails(t, 404, "ENTITY-NOT-FOUND-EXCEPTION")
		e.adminDo("PUT", "/feature-group?name=stats", map[string]string{"state": "PAUSED"}).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		e.adminDo("PUT", "/feature-group?name=stats&version=v9", map[string]string{"state": "ARCHIVED"}).fails(t, 404, "FEATURE-GROUP-VERSION-NOT-FOUND-EXCEPTION")
		var md struct{ Metadata domain.FeatureGroupMetadata }
		e.adminDo("PUT", "/feature-group?name=stats", map[string]string{"state": "ARCHIVED"}).ok(t).into(t, &md)
		if md.Metadata.State != "ARCHIVED" || md.Metadata.Version != "v1" {
			t.Fatalf("archived %+v", md)
		}
		var em struct{ Metadata domain.EntityMetadata }
		e.adminDo("PUT", "/entity/?name=users", map[string]string{"state": "ARCHIVED"}).ok(t).into(t, &em)
		if em.Metadata.State != "ARCHIVED" {
			t.Fatalf("entity %+v", em)
		}
		e.adminDo("POST", "/feature-group", fgReq("more", "users", nil, col("x", "INT"))).fails(t, 400, "ENTITY-STATE-EXCEPTION")
		e.adminDo("PUT", "/feature-group?name=stats", map[string]string{"state": "LIVE"}).fails(t, 400, "ENTITY-STATE-EXCEPTION")
		e.adminDo("PUT", "/entity?name=users", map[string]string{"state": "live"}).ok(t)
		e.adminDo("PUT", "/feature-group?name=stats", map[string]string{"state": "LIVE"}).ok(t)

		// TTL is set on the feature group's entity table.
		e.adminDo("PUT", "/feature-group/ttl", map[string]any{"name": "stats", "ttl": 3600}).ok(t).has(t, `"ttl":3600`)
		var ent struct{ Entity domain.Entity }
		e.adminDo("GET", "/entity?name=users", nil).ok(t).into(t, &ent)
		if ent.Entity.TTL == nil || *ent.Entity.TTL != 3600 {
			t.Fatalf("ttl not stored: %+v", ent.Entity)
		}
		e.adminDo("PUT", "/feature-group/ttl", map[string]any{"name": "stats", "ttl": -1}).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		e.adminDo("PUT", "/feature-group/ttl", map[string]any{"name": "stats"}).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		e.adminDo("PUT", "/feature-group/ttl", map[string]any{"ttl": 1}).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		e.adminDo("PUT", "/feature-group/ttl", map[string]any{"name": "nope", "ttl": 1}).fails(t, 404, "FEATURE-GROUP-NOT-FOUND-EXCEPTION")

		// Search.
		e.adminDo("POST", "/entity", map[string]any{"entity": map[string]any{"tableName": "devices", "features": []any{col("id", "UUID")}, "primaryKeys": []string{"id"}},
			"owner": "carol@example.com", "tags": []string{"iot", "core"}}).ok(t)
		var list []string
		e.adminDo("GET", "/search/all-entity-owners", nil).ok(t).into(t, &list)
		if fmt.Sprint(list) != "[alice@example.com carol@example.com]" {
			t.Fatalf("owners %v", list)
		}
		e.adminDo("GET", "/search/all-entity-tags", nil).ok(t).into(t, &list)
		if fmt.Sprint(list) != "[core iot]" {
			t.Fatalf("tags %v", list)
		}
		e.adminDo("GET", "/search/all-feature-group-owners", nil).ok(t).into(t, &list)
		if fmt.Sprint(list) != "[bob@example.com]" {
			t.Fatalf("fg owners %v", list)
		}
		e.adminDo("GET", "/search/all-feature-group-tags", nil).ok(t).into(t, &list)
		if fmt.Sprint(list) != "[fraud]" {
			t.Fatalf("fg tags %v", list)
		}
		var ents []domain.EntityMetadata
		e.adminDo("GET", "/search/entities", map[string]any{"tags": []string{"iot"}}).ok(t).into(t, &ents)
		if len(ents) != 1 || ents[0].Name != "devices" {
			t.Fatalf("search tags %+v", ents)
		}
		e.adminDo("GET", "/search/entities", map[string]any{"searchPattern": "USE", "owners": []string{"alice@example.com"}}).ok(t).into(t, &ents)
		if len(ents) != 1 || ents[0].Name != "users" {
			t.Fatalf("search pattern %+v", ents)
		}
		e.adminDo("GET", "/search/entities?page-size=1&page-offset=1", nil).ok(t).into(t, &ents)
		if len(ents) != 1 || ents[0].Name != "users" {
			t.Fatalf("paged %+v", ents)
		}
		var fgs []domain.FeatureGroupMetadata
		e.adminDo("POST", "/search/feature-groups", map[string]any{"owners": []string{"nobody@example.com"}}).ok(t).into(t, &fgs)
		if len(fgs) != 0 {
			t.Fatalf("no match %+v", fgs)
		}
		e.adminDo("GET", "/search/feature-groups", map[string]any{"searchPattern": "sta"}).ok(t).into(t, &fgs)
		if len(fgs) != 1 || fgs[0].Name != "stats" {
			t.Fatalf("fg search %+v", fgs)
		}
		e.adminDo("GET", "/search/feature-groups?page-size=0", nil).fails(t, 400, "SEARCH-FEATURE-GROUP-REQUEST-EXCEPTION")
		e.adminDo("GET", "/search/feature-groups?page-offset=-1", nil).fails(t, 400, "SEARCH-FEATURE-GROUP-REQUEST-EXCEPTION")
		e.adminDo("GET", "/search/entities", `{"tags":"x"}`).fails(t, 400, "SEARCH-ENTITY-REQUEST-EXCEPTION")
		if r := e.adminDo("GET", "/healthcheck", nil); r.Status != http.StatusOK {
			t.Fatal(r.raw)
		}
	})
}
