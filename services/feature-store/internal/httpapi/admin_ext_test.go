package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

func TestFeatureGroupTenantAndTopic(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setup()
		// The app caches the group; changing its tenant must invalidate that.
		e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, []string{"user_id", "region", "clicks"}, []any{1, "in", 3})).ok(t)

		var tc struct {
			FeatureGroupName string
			TenantConfig     domain.Tenant
		}
		e.adminDo("GET", "/feature-group/tenant?name=stats", nil).ok(t).into(t, &tc)
		if tc.FeatureGroupName != "stats" || tc.TenantConfig != domain.DefaultTenants() {
			t.Fatalf("default tenant = %+v", tc)
		}
		var topic struct{ Topic string }
		e.adminDo("GET", "/feature-group/stats/topic", nil).ok(t).into(t, &topic)
		if topic.Topic != "default" {
			t.Fatalf("topic = %q", topic.Topic)
		}
		// Bad input names the field; unknown tenants and groups are rejected; nothing changes.
		for _, c := range []struct {
			body any
			code string
			msg  string
		}{
			{`{`, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "invalid JSON"},
			{map[string]any{"tenantConfig": map[string]any{"read": "t1"}}, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "featureGroupName"},
			{map[string]any{"featureGroupName": "stats"}, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "tenantConfig is required"},
			{map[string]any{"featureGroupName": "stats", "tenantConfig": map[string]any{}}, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "tenantConfig must set"},
			{map[string]any{"featureGroupName": "stats", "tenantConfig": map[string]any{"consumerTenant": ""}}, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "tenantConfig.consumerTenant"},
			{map[string]any{"featureGroupName": "stats", "tenantConfig": map[string]any{"writerTenant": 5}}, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "writerTenant"},
			{map[string]any{"featureGroupName": "stats", "tenantConfig": map[string]any{"consumerTenant": "nope"}}, "OFS-V2-TENANT-NOT-FOUND-EXCEPTION", "nope"},
		} {
			r := e.adminDo("POST", "/feature-group/tenant", c.body).fails(t, 400, c.code)
			if !strings.Contains(r.Error.Message, c.msg) {
				t.Errorf("%v: message %q lacks %q", c.body, r.Error.Message, c.msg)
			}
		}
		e.adminDo("POST", "/feature-group/tenant", map[string]any{"featureGroupName": "nope", "tenantConfig": map[string]any{"read": "t1"}}).fails(t, 404, "FEATURE-GROUP-NOT-FOUND-EXCEPTION")
		e.adminDo("GET", "/feature-group/tenant?name=stats", nil).ok(t).into(t, &tc)
		if tc.TenantConfig != domain.DefaultTenants() {
			t.Fatalf("rejected requests changed the tenant: %+v", tc)
		}

		// Both spellings are accepted; absent roles keep their tenant.
		e.adminDo("POST", "/feature-group/tenant", map[string]any{"featureGroupName": "stats", "tenantConfig": map[string]any{"consumerTenant": "t1", "read": "t2"}}).ok(t).into(t, &tc)
		if tc.TenantConfig != (domain.Tenant{Read: "t2", Write: domain.DefaultTenant, Consume: "t1"}) {
			t.Fatalf("tenant = %+v", tc)
		}
		e.adminDo("GET", "/feature-group/topic?name=stats", nil).ok(t).into(t, &topic)
		if topic.Topic != "t1" {
			t.Fatalf("topic after change = %q", topic.Topic)
		}
		var meta struct{ Metadata domain.FeatureGroupMetadata }
		e.adminDo("GET", "/feature-group/metadata?name=stats", nil).ok(t).into(t, &meta)
		if meta.Metadata.Tenant.Consume != "t1" {
			t.Fatalf("metadata tenant = %+v", meta.Metadata.Tenant)
		}
		if e.h.cache.get("stats", "") != nil {
			t.Fatal("tenant change did not invalidate the app cache")
		}
		e.adminDo("GET", "/feature-group/topic", nil).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		e.adminDo("GET", "/feature-group/nope/topic", nil).fails(t, 404, "FEATURE-GROUP-NOT-FOUND-EXCEPTION")
		e.adminDo("GET", "/feature-group/tenant", nil).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
	})
}

func TestRunDataRoutes(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setup()
		run := func(id, status string) map[string]any {
			return map[string]any{"name": "stats", "version": "v1", "runId": id, "timeTaken": 12, "count": 100,
				"sampleData": []any{map[string]any{"clicks": 1}, nil}, "errorMessage": "", "status": status}
		}
		for _, c := range []struct {
			mut  func(m map[string]any)
			code string
			msg  string
		}{
			{func(m map[string]any) { delete(m, "name") }, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "name is required"},
			{func(m map[string]any) { m["runId"] = "" }, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "runId"},
			{func(m map[string]any) { m["status"] = "DONE" }, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "status"},
			{func(m map[string]any) { m["count"] = -1 }, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "count"},
			{func(m map[string]any) { m["timeTaken"] = "x" }, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "timeTaken"},
			{func(m map[string]any) { m["version"] = "1" }, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "version"},
			{func(m map[string]any) { m["sampleData"] = "x" }, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "sampleData"},
		} {
			body := run("r", "SUCCESS")
			c.mut(body)
			r := e.adminDo("POST", "/feature-group/run-data", body).fails(t, 400, c.code)
			if !strings.Contains(r.Error.Message, c.msg) {
				t.Errorf("message %q lacks %q", r.Error.Message, c.msg)
			}
		}
		bad := run("r", "SUCCESS")
		bad["version"] = "v7"
		e.adminDo("POST", "/feature-group/run-data", bad).fails(t, 404, "FEATURE-GROUP-VERSION-NOT-FOUND-EXCEPTION")
		bad["name"] = "nope"
		e.adminDo("POST", "/feature-group/run-data", bad).fails(t, 404, "FEATURE-GROUP-NOT-FOUND-EXCEPTION")
		var list []domain.RunData
		e.adminDo("GET", "/feature-group/run-data?name=stats", nil).ok(t).into(t, &list)
		if len(list) != 0 {
			t.Fatalf("rejected runs were stored: %+v", list)
		}

		var got domain.RunData
		e.adminDo("POST", "/feature-group/run-data", run("r1", "success")).ok(t).into(t, &got)
		if got.Status != "SUCCESS" || got.Version != "v1" || got.Timestamp != e.clk.Now().UnixMilli() || string(got.SampleData[1]) != "null" {
			t.Fatalf("recorded = %+v", got)
		}
		e.clk.Advance(time.Second)
		e.adminDo("POST", "/feature-group/run-data", run("r2", "FAILED")).ok(t)
		e.adminDo("GET", "/feature-group/run-data?name=stats&version=v1", nil).ok(t).into(t, &list)
		if len(list) != 2 || list[0].RunID != "r2" || list[0].Status != "FAILED" || list[1].Count != 100 || list[1].TimeTaken != 12 {
			t.Fatalf("runs = %+v", list)
		}
		e.adminDo("GET", "/feature-group/run-data?name=stats&page-size=1&page-offset=1", nil).ok(t).into(t, &list)
		if len(list) != 1 || list[0].RunID != "r1" {
			t.Fatalf("page = %+v", list)
		}
		e.adminDo("GET", "/feature-group/run-data", nil).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION")
		e.adminDo("GET", "/feature-group/run-data?name=stats&page-size=0", nil).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION").has(t, "page-size")
		e.adminDo("GET", "/feature-group/run-data?name=stats&version=x", nil).fails(t, 400, "FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION").has(t, "version")
		e.adminDo("GET", "/feature-group/run-data?name=nope", nil).fails(t, 404, "FEATURE-GROUP-NOT-FOUND-EXCEPTION")
	})
}

func TestTenantAndConsumerRoutes(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setup()
		e.adminDo("POST", "/feature-group", fgReq("other", "users", nil, col("x", "INT"))).ok(t)
		var names []string
		e.adminDo("GET", "/tenant/list", nil).ok(t).into(t, &names)
		if fmt.Sprint(names) != "[default-tenant t1 t2]" {
			t.Fatalf("tenants = %v", names)
		}
		// Consumers: bad input (nothing written), onboard, duplicate, register, updates.
		for _, c := range []struct {
			method, path string
			body         any
			code, msg    string
		}{
			{"POST", "/consumer/onboard", `[]`, "OFS-V2-TENANT-REQUEST-EXCEPTION", "invalid"},
			{"POST", "/consumer/onboard", map[string]any{"topicName": "x", "numPartitions": 1}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "tenantName"},
			{"POST", "/consumer/onboard", map[string]any{"tenantName": "t9", "numPartitions": 1}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "topicName is required"},
			{"POST", "/consumer/onboard", map[string]any{"tenantName": "t9", "topicName": "a b", "numPartitions": 1}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "topicName"},
			{"POST", "/consumer/onboard", map[string]any{"tenantName": "t9", "topicName": "t9", "numPartitions": 0}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "numPartitions"},
			{"POST", "/consumer/onboard", map[string]any{"tenantName": "t1", "topicName": "t9", "numPartitions": 1}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "already"},
			{"POST", "/consumer/register", map[string]any{"tenantName": "t9", "topicName": "t9", "numPartitions": 1}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "numConsumers is required"},
			{"PUT", "/consumer/topic", map[string]any{"tenantName": "t1", "numConsumers": 2, "topicName": "x"}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "numConsumers is not accepted"},
			{"PUT", "/consumer/count", map[string]any{"tenantName": "t1", "numConsumers": -2}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "numConsumers"},
			{"PUT", "/consumer/count", map[string]any{"tenantName": "nope", "numConsumers": 2}, "OFS-V2-CONSUMER-CONFIG-NOT-FOUND-EXCEPTION", "nope"},
			{"PUT", "/consumer/partitions", map[string]any{"tenantName": "nope", "numPartitions": 2}, "OFS-V2-CONSUMER-CONFIG-NOT-FOUND-EXCEPTION", "nope"},
			{"PUT", "/populator/metadata", map[string]any{"tenantName": "t1"}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "numWorkers"},
			{"PUT", "/populator/metadata", map[string]any{"tenantName": "nope", "numWorkers": 2}, "OFS-V2-TENANT-NOT-FOUND-EXCEPTION", "nope"},
			{"PUT", "/tenant/all", map[string]any{"tenantType": "OWNER", "currentTenant": "t1", "newTenant": "t2"}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "tenantType"},
			{"PUT", "/tenant/all", map[string]any{"tenantType": "ALL", "newTenant": "t2"}, "OFS-V2-TENANT-REQUEST-EXCEPTION", "currentTenant"},
			{"PUT", "/tenant/all", map[string]any{"tenantType": "ALL", "currentTenant": "default-tenant", "newTenant": "nope"}, "OFS-V2-TENANT-NOT-FOUND-EXCEPTION", "nope"},
		} {
			r := e.adminDo(c.method, c.path, c.body).fails(t, 400, c.code)
			if !strings.Contains(r.Error.Message, c.msg) {
				t.Errorf("%s %s: message %q lacks %q", c.method, c.path, r.Error.Message, c.msg)
			}
		}
		var consumers []domain.ConsumerConfig
		e.adminDo("GET", "/consumer/metadata/all", nil).ok(t).into(t, &consumers)
		if len(consumers) != 3 || consumers[1].TopicName != "t1" {
			t.Fatalf("rejected requests changed consumers: %+v", consumers)
		}
		var c domain.ConsumerConfig
		e.adminDo("POST", "/consumer/onboard", map[string]any{"tenantName": "t9", "topicName": "topic.9", "numPartitions": 4}).ok(t).into(t, &c)
		if c.NumConsumers != 1 || c.NumPartitions != 4 {
			t.Fatalf("onboarded = %+v", c)
		}
		e.adminDo("POST", "/consumer/register", map[string]any{"tenantName": "t8", "topicName": "t8", "numPartitions": 2, "numConsumers": 2}).ok(t)
		e.adminDo("PUT", "/consumer/topic", map[string]any{"tenantName": "t9", "topicName": "t9-new"}).ok(t)
		e.adminDo("PUT", "/consumer/count", map[string]any{"tenantName": "t9", "numConsumers": 3}).ok(t)
		e.adminDo("PUT", "/consumer/partitions", map[string]any{"tenantName": "t9", "numPartitions": 2}).fails(t, 400, "OFS-V2-TENANT-REQUEST-EXCEPTION").has(t, "shrink")
		e.adminDo("PUT", "/consumer/partitions", map[string]any{"tenantName": "t9", "numPartitions": 8}).ok(t).into(t, &c)
		if c != (domain.ConsumerConfig{TenantName: "t9", TopicName: "t9-new", NumPartitions: 8, NumConsumers: 3, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}) {
			t.Fatalf("updated = %+v", c)
		}
		e.adminDo("GET", "/tenant/list", nil).ok(t).into(t, &names)
		if fmt.Sprint(names) != "[default-tenant t1 t2 t8 t9]" {
			t.Fatalf("tenants = %v", names)
		}
		// Populators.
		var pops []domain.PopulatorConfig
		e.adminDo("PUT", "/populator/metadata", map[string]any{"tenantName": "t9", "numWorkers": 4}).ok(t)
		e.adminDo("GET", "/populator/metadata/all", nil).ok(t).into(t, &pops)
		if len(pops) != 2 || pops[0].NumWorkers != 8 || pops[1] != (domain.PopulatorConfig{TenantName: "t9", NumWorkers: 4, UpdatedAt: pops[1].UpdatedAt}) {
			t.Fatalf("populators = %+v", pops)
		}

		// Tenant feature groups and moves.
		e.adminDo("POST", "/feature-group/tenant", map[string]any{"featureGroupName": "other", "tenantConfig": map[string]any{"writerTenant": "t9"}}).ok(t)
		var fgs []domain.FeatureGroupMetadata
		e.adminDo("GET", "/tenant/feature-group/all?tenant-name=t9&tenant-type=writer", nil).ok(t).into(t, &fgs)
		if len(fgs) != 1 || fgs[0].Name != "other" {
			t.Fatalf("t9 writers = %+v", fgs)
		}
		e.adminDo("GET", "/tenant/feature-group/all?tenant-name=default-tenant", nil).ok(t).into(t, &fgs)
		if len(fgs) != 2 {
			t.Fatalf("default ALL = %d", len(fgs))
		}
		e.adminDo("GET", "/tenant/feature-group/all?tenant-name=t9&tenant-type=OWNER", nil).fails(t, 400, "OFS-V2-TENANT-REQUEST-EXCEPTION").has(t, "tenant-type")
		e.adminDo("GET", "/tenant/feature-group/all", nil).fails(t, 400, "OFS-V2-TENANT-REQUEST-EXCEPTION").has(t, "tenant-name")
		e.adminDo("GET", "/tenant/feature-group/all?tenant-name=nope", nil).fails(t, 400, "OFS-V2-TENANT-NOT-FOUND-EXCEPTION")

		e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, []string{"user_id", "region", "clicks"}, []any{1, "in", 3})).ok(t)
		var moved struct{ FeatureGroups []string }
		e.adminDo("PUT", "/tenant/all", map[string]any{"tenantType": "consumer", "currentTenant": "default-tenant", "newTenant": "t8"}).ok(t).into(t, &moved)
		if fmt.Sprint(moved.FeatureGroups) != "[other stats]" {
			t.Fatalf("moved = %+v", moved)
		}
		if e.h.cache.get("stats", "") != nil {
			t.Fatal("tenant move did not invalidate the app cache")
		}
		var topic struct{ Topic string }
		e.adminDo("GET", "/feature-group/stats/topic", nil).ok(t).into(t, &topic)
		if topic.Topic != "t8" {
			t.Fatalf("topic = %q", topic.Topic)
		}
	})
}

// TestAdminExtDecoders checks the decoders directly on inputs the route tests do not reach.
func TestAdminExtDecoders(t *testing.T) {
	if _, _, err := parseFeatureGroupTenant([]byte(`{"featureGroupName":"a","tenantConfig":{"read":"x\u0001"}}`)); err == nil {
		t.Error("control character in tenant accepted")
	}
	if _, err := parseRunData([]byte(`{"name":"a","runId":"r","status":"SUCCESS","sampleData":[` + strings.Repeat(`1,`, maxSampleRows) + `1]}`)); err == nil {
		t.Error("oversized sampleData accepted")
	}
	if _, err := parseConsumer([]byte(`{"tenantName":"t","topicName":".."}`), consumerTopic, 0); err == nil {
		t.Error(`topic ".." accepted`)
	}
	rd, err := parseRunData([]byte(`{"name":"a","runId":"r","status":"failed"}`))
	if err != nil || rd.Status != domain.RunFailed || rd.SampleData != nil {
		t.Errorf("minimal run = %+v, %v", rd, err)
	}
}

// extFuzzRoutes are the tenant, topic, run-data, consumer, populator and read-partition routes that decode a body.
var extFuzzRoutes = []struct {
	admin        bool
	method, path string
}{
	{true, "POST", "/feature-group/tenant"},
	{true, "POST", "/feature-group/run-data"},
	{true, "PUT", "/tenant/all"},
	{true, "POST", "/consumer/onboard"},
	{true, "POST", "/consumer/register"},
	{true, "PUT", "/consumer/topic"},
	{true, "PUT", "/consumer/partitions"},
	{true, "PUT", "/consumer/count"},
	{true, "PUT", "/populator/metadata"},
	{false, "GET", "/feature-group/read-partition"},
}

// FuzzAdminExtBodies sends arbitrary bodies to every route of admin_ext.go and to read-partition (over a Pebble
// store): the answer is 200 with data or a 4xx error envelope, never a 5xx or a panic.
func FuzzAdminExtBodies(f *testing.F) {
	d := dbtest.Open(f, db.SQLite)
	if err := db.Migrate(f.Context(), d, fsMigrations[0].Component, fsMigrations[0].FS); err != nil {
		f.Fatal(err)
	}
	e := newEnvWith(f, d, pebbleStore(f))
	e.setup()
	e.appDo("POST", "/feature-group/write-features-v2", writeBody("stats", nil, []string{"user_id", "region", "clicks"}, []any{1, "in", 3})).ok(f)
	seeds := []string{
		`{"featureGroupName":"stats","tenantConfig":{"readerTenant":"t1","consume":"t2"}}`,
		`{"name":"stats","version":"v1","runId":"r1","timeTaken":1,"count":2,"sampleData":[{"a":1},null],"errorMessage":"","status":"SUCCESS"}`,
		`{"tenantType":"ALL","currentTenant":"default-tenant","newTenant":"t1"}`,
		`{"tenantName":"t7","topicName":"t7","numPartitions":2,"numConsumers":1}`,
		`{"tenantName":"t1","topicName":"x.y-z_1"}`, `{"tenantName":"t1","numPartitions":3}`, `{"tenantName":"t1","numConsumers":3}`,
		`{"tenantName":"t1","numWorkers":4}`,
		`{"featureGroupName":"stats","featureColumns":["clicks","region"],"partitionKey":{"names":["user_id"],"values":[1]}}`,
		`{"featureGroupName":"stats","featureColumns":["clicks"],"partitionKey":{"names":["region","user_id"],"values":["in","1"]}}`,
		``, `null`, `{}`, `[]`, `{"tenantName":"\u0000"}`, `{"numPartitions":1e99}`, `{"partitionKey":{"names":["user_id"],"values":[1e999]}}`,
	}
	for i := range extFuzzRoutes {
		for _, s := range seeds {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := extFuzzRoutes[int(route)%len(extFuzzRoutes)]
		h := e.app
		if rt.admin {
			h = e.admin
		}
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out struct {
			Data  json.RawMessage `json:"data"`
			Error *errorBody      `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s %q: non-JSON answer %d %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
		switch {
		case rec.Code == http.StatusOK:
			if out.Data == nil {
				t.Fatalf("200 without data: %s", rec.Body)
			}
		case rec.Code >= 400 && rec.Code < 500:
			if out.Error == nil || out.Error.Code == "" || out.Error.Message == "" {
				t.Fatalf("%d without error envelope: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("%s %s %q: status %d: %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
	})
}
