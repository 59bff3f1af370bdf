package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
)

// call sends method path with an optional raw body and returns status and decoded JSON object.
func call(t *testing.T, base, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+"/api/2.0/mlflow/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: response is not a JSON object: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

func mustOK(t *testing.T, base, method, path, body string) map[string]any {
	t.Helper()
	status, out := call(t, base, method, path, body)
	if status != http.StatusOK {
		t.Fatalf("%s %s %s: %d %v", method, path, body, status, out)
	}
	return out
}

// TestRegistryQueryAndBody checks that GET and DELETE take their fields from the query string or a JSON body
// (the body wins), that repeated query fields become lists, and that PATCH takes a JSON body.
func TestRegistryQueryAndBody(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		base := newServer(t, d).URL
		mustOK(t, base, "POST", "registered-models/create", `{"name":"qb","tags":[{"key":"a","value":"1"},{"key":"b","value":"2"}]}`)
		for range 3 {
			mustOK(t, base, "POST", "model-versions/create", `{"name":"qb","source":"s3://qb"}`)
		}
		mustOK(t, base, "POST", "model-versions/transition-stage", `{"name":"qb","version":"2","stage":"Staging"}`)
		mustOK(t, base, "POST", "model-versions/transition-stage", `{"name":"qb","version":"1","stage":"Production"}`)

		// GET with a JSON body instead of a query string.
		out := mustOK(t, base, "GET", "registered-models/get", `{"name":"qb"}`)
		if out["registered_model"].(map[string]any)["name"] != "qb" {
			t.Fatalf("get with body = %v", out)
		}
		// Body fields override query fields.
		out = mustOK(t, base, "GET", "model-versions/get?name=qb&version=1", `{"version":"3"}`)
		if v := out["model_version"].(map[string]any)["version"]; v != "3" {
			t.Fatalf("body did not win: version %v", v)
		}
		// Repeated and single stages in the query string.
		out = mustOK(t, base, "GET", "registered-models/get-latest-versions?name=qb&stages=production&stages=STAGING", "")
		got := fmt.Sprint(out["model_versions"])
		if n := len(out["model_versions"].([]any)); n != 2 || !strings.Contains(got, "Staging") || !strings.Contains(got, "Production") {
			t.Fatalf("latest versions = %v", got)
		}
		out = mustOK(t, base, "GET", "registered-models/get-latest-versions?name=qb&stages=None", "")
		if vs := out["model_versions"].([]any); len(vs) != 1 || vs[0].(map[string]any)["version"] != "3" {
			t.Fatalf("latest None = %v", out)
		}
		// DELETE with query parameters.
		mustOK(t, base, "DELETE", "registered-models/delete-tag?name=qb&key=a", "")
		out = mustOK(t, base, "GET", "registered-models/get?name=qb", "")
		if tags := out["registered_model"].(map[string]any)["tags"].([]any); len(tags) != 1 {
			t.Fatalf("tags after DELETE with query = %v", tags)
		}
		// Repeated order_by in the query string; version_number ascending.
		out = mustOK(t, base, "GET", "model-versions/search?filter="+url.QueryEscape("name = 'qb'")+"&order_by=version_number+ASC&order_by=name", "")
		var versions []string
		for _, v := range out["model_versions"].([]any) {
			versions = append(versions, v.(map[string]any)["version"].(string))
		}
		if strings.Join(versions, ",") != "1,2,3" {
			t.Fatalf("ordered versions = %v", versions)
		}
		// archive_existing_versions moves the old Production version to Archived.
		out = mustOK(t, base, "POST", "model-versions/transition-stage", `{"name":"qb","version":"3","stage":"Production","archive_existing_versions":true}`)
		if out["model_version"].(map[string]any)["current_stage"] != "Production" {
			t.Fatalf("transition = %v", out)
		}
		out = mustOK(t, base, "GET", "model-versions/get?name=qb&version=1", "")
		if out["model_version"].(map[string]any)["current_stage"] != "Archived" {
			t.Fatalf("v1 after archive = %v", out)
		}
		// A query-string field of the wrong shape is a 400.
		status, body := call(t, base, "DELETE", "model-versions/delete?name=qb&version=x", "")
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "version")
		status, body = call(t, base, "GET", "registered-models/search?max_results=ten", "")
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "max_results")
		status, body = call(t, base, "GET", "model-versions/search?order_by=name&order_by=version_number+SIDEWAYS", "")
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "order_by")
	})
}

// TestRegistryLimits checks the length limits of names, descriptions, tags and aliases, and that rejected
// writes leave nothing behind.
func TestRegistryLimits(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		base := newServer(t, d).URL
		long := func(n int) string { return strings.Repeat("x", n) }
		mustOK(t, base, "POST", "registered-models/create", `{"name":"`+long(256)+`"}`)
		status, body := call(t, base, "POST", "registered-models/create", `{"name":"`+long(257)+`"}`)
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "length limit")
		status, body = call(t, base, "POST", "registered-models/create", `{"name":"lim","description":"`+long(5001)+`"}`)
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "description")
		status, body = call(t, base, "GET", "registered-models/get?name=lim", "")
		wantError(t, status, body, 404, "RESOURCE_DOES_NOT_EXIST", "lim")
		mustOK(t, base, "POST", "registered-models/create", `{"name":"lim","description":"`+long(5000)+`"}`)
		status, body = call(t, base, "POST", "registered-models/set-tag", `{"name":"lim","key":"k","value":"`+long(5001)+`"}`)
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "length limit")
		status, body = call(t, base, "POST", "registered-models/set-tag", `{"name":"lim","key":"`+long(251)+`","value":"v"}`)
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "length limit")
		status, body = call(t, base, "POST", "model-versions/create", `{"name":"lim","source":"s3://x","description":"`+long(5001)+`"}`)
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "description")
		status, body = call(t, base, "POST", "model-versions/create", `{"name":"lim","source":"`+long(4001)+`"}`)
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "source")
		out := mustOK(t, base, "POST", "model-versions/create", `{"name":"lim","source":"s3://x"}`)
		if out["model_version"].(map[string]any)["version"] != "1" {
			t.Fatalf("rejected creations consumed version numbers: %v", out)
		}
		status, body = call(t, base, "POST", "registered-models/alias", `{"name":"lim","alias":"`+long(256)+`","version":"1"}`)
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "length limit")
		mustOK(t, base, "POST", "registered-models/alias", `{"name":"lim","alias":"`+long(255)+`","version":"1"}`)
		status, body = call(t, base, "PATCH", "model-versions/update", `{"name":"lim","version":"1","description":"`+long(5001)+`"}`)
		wantError(t, status, body, 400, "INVALID_PARAMETER_VALUE", "description")
	})
}

// TestRegistryHostileInput sends malformed and mistyped requests to every registry endpoint: each answer is a
// 2xx or 4xx JSON object, 4xx ones in MLflow's error envelope, never a 500.
func TestRegistryHostileInput(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		base := newServer(t, d).URL
		mustOK(t, base, "POST", "registered-models/create", `{"name":"h"}`)
		mustOK(t, base, "POST", "model-versions/create", `{"name":"h","source":"s3://h"}`)
		endpoints := []struct{ method, path string }{
			{"POST", "registered-models/create"}, {"GET", "registered-models/get"}, {"POST", "registered-models/rename"},
			{"PATCH", "registered-models/update"}, {"GET", "registered-models/search"},
			{"POST", "registered-models/get-latest-versions"}, {"GET", "registered-models/get-latest-versions"},
			{"POST", "registered-models/set-tag"}, {"DELETE", "registered-models/delete-tag"}, {"POST", "registered-models/alias"},
			{"DELETE", "registered-models/alias"}, {"GET", "registered-models/alias"}, {"POST", "model-versions/create"},
			{"GET", "model-versions/get"}, {"PATCH", "model-versions/update"}, {"GET", "model-versions/search"},
			{"GET", "model-versions/get-download-uri"}, {"POST", "model-versions/transition-stage"}, {"POST", "model-versions/set-tag"},
			{"DELETE", "model-versions/delete-tag"},
		}
		// Deleting endpoints go last: some of the requests below legitimately delete model h.
		deletes := []struct{ method, path string }{{"DELETE", "model-versions/delete"}, {"DELETE", "registered-models/delete"}}
		bodies := []string{`[1]`, `"x"`, `{"name":{}}`, `{"name":"h","version":"99999999999999999999"}`, `{"name":"h","version":-1}`,
			`{"name":"h","version":{"a":1}}`, `{"name":"h\u0000","version":"1"}`, `{"name":"h","stages":[1]}`, `{"name":"h","tags":{"k":"v"}}`,
			`{"name":"h","max_results":"1e400"}`, `{"filter":"tags.` + "`" + `unterminated"}`, `{"order_by":"name"}`, `{"name":"h"} trailing`,
			`{"name":"h","version":"1","stage":null,"key":null,"value":null}`, `{"name":"h","alias":"x@y","version":"1"}`}
		queries := []string{"?name=h&version=1e3", "?max_results=-5", "?filter=%27", "?name=h&version=1&archive_existing_versions=maybe",
			"?order_by=", "?name=%00"}
		hostile := func(endpoints []struct{ method, path string }) {
			for _, ep := range endpoints {
				for _, b := range bodies {
					status, out := call(t, base, ep.method, ep.path, b)
					if status >= 500 || (status >= 400 && (out["error_code"] == nil || out["message"] == nil)) {
						t.Errorf("%s %s %s: %d %v", ep.method, ep.path, b, status, out)
					}
				}
				for _, q := range queries {
					status, out := call(t, base, ep.method, ep.path+q, "")
					if status >= 500 || (status >= 400 && (out["error_code"] == nil || out["message"] == nil)) {
						t.Errorf("%s %s%s: %d %v", ep.method, ep.path, q, status, out)
					}
				}
			}
		}
		hostile(endpoints)
		// The model and its version survived all of that.
		out := mustOK(t, base, "GET", "model-versions/get?name=h&version=1", "")
		if out["model_version"].(map[string]any)["current_stage"] != "None" {
			t.Fatalf("version changed: %v", out)
		}
		hostile(deletes)
	})
}
