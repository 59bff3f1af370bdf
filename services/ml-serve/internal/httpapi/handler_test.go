package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/ml-serve/internal/deploy"
	"github.com/darwinml/darwin/services/ml-serve/internal/httpapi"
)

func TestAuth(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		r := e.do("GET", "/api/v1/serve", "", nil)
		if r.status != 400 || r.body["message"] != "Authorization header is required." || r.body["status"] != "ERROR" {
			t.Fatalf("missing header: %d %s", r.status, r.raw)
		}
		for _, hdr := range []string{"Basic abc", "Bearer", "Token x"} {
			req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/serve", nil)
			req.Header.Set("Authorization", hdr)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 401 {
				t.Fatalf("%q: status %d, want 401", hdr, res.StatusCode)
			}
		}
		r = e.do("GET", "/api/v1/serve", "wrong-token", nil)
		if r.status != 403 || r.body["message"] != "Invalid or expired token." {
			t.Fatalf("unknown token: %d %s", r.status, r.raw)
		}
		e.must(e.do("GET", "/api/v1/serve", "-", nil), 200)
		e.must(e.do("GET", "/ml-serve/api/v1/serve", otherToken, nil), 200)
		// Mutations need a token; the original's open reads do not.
		e.must(e.do("POST", "/api/v1/environment", "", localEnv), 400)
		if e.count("environments", "1 = 1") != 0 {
			t.Fatal("unauthenticated create wrote a row")
		}
		e.must(e.do("GET", "/api/v1/environment/nope", "", nil), 200)
		e.must(e.do("GET", "/api/v1/artifact_builder_job", "", nil), 200)
		h := e.must(e.do("GET", "/healthcheck", "", nil), 200)
		if h.body["status"] != "SUCCESS" || h.body["message"] != "OK" {
			t.Fatalf("health: %s", h.raw)
		}
		// Tokens are stored hashed.
		if e.count("users", "token_hash = ?", adminToken) != 0 || e.count("users", "1 = 1") != 2 {
			t.Fatal("token stored in plain text")
		}
	})
}

func TestEnvironments(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		r := e.must(e.do("POST", "/api/v1/environment", "-", localEnv), 200)
		if get(r.body, "data.name") != "local" || get(r.body, "data.id") == nil {
			t.Fatalf("create: %s", r.raw)
		}
		r = e.must(e.do("POST", "/api/v1/environment", "-", localEnv), 409)
		if r.body["status"] != "ERROR" || !strings.Contains(fmt.Sprint(r.body["message"]), "already exists") {
			t.Fatalf("dup: %s", r.raw)
		}
		// Raw object, no envelope; null for a missing one.
		r = e.must(e.do("GET", "/api/v1/environment/local", "-", nil), 200)
		if r.body["name"] != "local" || get(r.body, "env_configs.cluster_name") != "kind" || r.body["status"] != nil {
			t.Fatalf("get: %s", r.raw)
		}
		if subnets, ok := get(r.body, "env_configs.subnets").([]any); !ok || len(subnets) != 0 {
			t.Fatalf("subnets: %s", r.raw)
		}
		if r = e.must(e.do("GET", "/api/v1/environment/missing", "-", nil), 200); strings.TrimSpace(string(r.raw)) != "null" {
			t.Fatalf("missing env: %s", r.raw)
		}
		// PATCH a subset, flat or nested; subnets as a comma-separated string.
		r = e.must(e.do("PATCH", "/api/v1/environment/local", "-", map[string]any{"namespace": "serve2", "subnets": "a, b"}), 200)
		if r.body["message"] != "Environment updated successfully" {
			t.Fatalf("patch: %s", r.raw)
		}
		e.must(e.do("PATCH", "/api/v1/environment/local", "-", map[string]any{"environment_configs": map[string]any{"domain_suffix": ".x"}}), 200)
		r = e.must(e.do("GET", "/api/v1/environment/local", "", nil), 200)
		if get(r.body, "env_configs.namespace") != "serve2" || get(r.body, "env_configs.domain_suffix") != ".x" || get(r.body, "env_configs.subnets.1") != "b" || get(r.body, "env_configs.cluster_name") != "kind" {
			t.Fatalf("after patch: %s", r.raw)
		}
		r = e.must(e.do("PATCH", "/api/v1/environment/local", "-", map[string]any{"namespace": ""}), 400)
		if get(r.body, "data.field") != "namespace" {
			t.Fatalf("empty namespace: %s", r.raw)
		}
		e.must(e.do("PATCH", "/api/v1/environment/nope", "-", map[string]any{"namespace": "x"}), 404)

		// Validation: missing fields are named.
		for field, body := range map[string]any{
			"name":                             map[string]any{"environment_configs": get(localEnv, "environment_configs")},
			"environment_configs":              map[string]any{"name": "x"},
			"environment_configs.cluster_name": map[string]any{"name": "x", "environment_configs": map[string]any{"domain_suffix": "", "security_group": "", "ft_redis_url": "", "workflow_url": "", "namespace": "n"}},
			"environment_configs.namespace":    map[string]any{"name": "x", "environment_configs": map[string]any{"domain_suffix": 1}},
		} {
			r = e.must(e.do("POST", "/api/v1/environment", "-", body), 400)
			if f := get(r.body, "data.field"); field != "environment_configs.namespace" && f != field {
				t.Fatalf("%s: field %v: %s", field, f, r.raw)
			}
		}

		// Delete protection: referenced by an infra config → 409; unreferenced → deleted.
		e.must(e.do("POST", "/api/v1/serve", "-", map[string]any{"name": "svc", "type": "api"}), 201)
		e.must(e.do("POST", "/api/v1/serve/svc/infra-config/local", "-", apiConfig(1, 2, 1, 1)), 201)
		r = e.must(e.do("DELETE", "/api/v1/environment/local", "-", nil), 409)
		if !strings.Contains(fmt.Sprint(r.body["message"]), "api serve configs") {
			t.Fatalf("delete referenced: %s", r.raw)
		}
		other := map[string]any{"name": "other", "environment_configs": get(localEnv, "environment_configs")}
		e.must(e.do("POST", "/api/v1/environment", "-", other), 200)
		if _, err := d.Exec(t.Context(), "UPDATE environments SET is_protected = 1 WHERE name = 'other'"); err != nil {
			t.Fatal(err)
		}
		r = e.must(e.do("DELETE", "/api/v1/environment/other", "-", nil), 409)
		if !strings.Contains(fmt.Sprint(r.body["message"]), "protected") {
			t.Fatalf("delete protected: %s", r.raw)
		}
		if _, err := d.Exec(t.Context(), "UPDATE environments SET is_protected = 0 WHERE name = 'other'"); err != nil {
			t.Fatal(err)
		}
		e.must(e.do("DELETE", "/api/v1/environment/other", "-", nil), 200)
		e.must(e.do("DELETE", "/api/v1/environment/other", "-", nil), 404)
	})
}

func TestServesAndConfigs(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.must(e.do("POST", "/api/v1/environment", "-", localEnv), 200)
		r := e.must(e.do("POST", "/api/v1/serve", "-", map[string]any{"name": "my-model", "type": "api", "space": "serve", "description": "My ML model"}), 201)
		if get(r.body, "data.name") != "my-model" || get(r.body, "data.type") != "api" || get(r.body, "data.space") != "serve" {
			t.Fatalf("create serve: %s", r.raw)
		}
		e.must(e.do("POST", "/api/v1/serve", "-", map[string]any{"name": "my-model", "type": "api"}), 409)
		for _, bad := range []map[string]any{
			{"name": "has_underscore", "type": "api"}, {"name": "x", "type": "batch"}, {"type": "api"},
			{"name": strings.Repeat("a", 51), "type": "api"}, {"name": "deploy-model", "type": "api"}, {"name": "a/b", "type": "api"},
		} {
			r = e.must(e.do("POST", "/api/v1/serve", "-", bad), 400)
			if get(r.body, "data.field") == nil {
				t.Fatalf("%v: no field: %s", bad, r.raw)
			}
		}
		e.must(e.do("POST", "/api/v1/serve", "-", map[string]any{"name": "wf", "type": "workflow"}), 201)
		r = e.must(e.do("GET", "/api/v1/serve", "-", nil), 200)
		if n := len(r.body["data"].([]any)); n != 2 {
			t.Fatalf("list: %s", r.raw)
		}

		// Infra configs: type mismatch 400, missing env/serve 404, dup 409, min > max 400.
		e.must(e.do("POST", "/api/v1/serve/my-model/infra-config/local", "-", map[string]any{"workflow_serve_config": map[string]any{"schedule": "* * * * *"}}), 400)
		e.must(e.do("POST", "/api/v1/serve/wf/infra-config/local", "-", apiConfig(1, 1, 1, 1)), 400)
		e.must(e.do("POST", "/api/v1/serve/my-model/infra-config/nope", "-", apiConfig(1, 1, 1, 1)), 404)
		e.must(e.do("POST", "/api/v1/serve/nope/infra-config/local", "-", apiConfig(1, 1, 1, 1)), 404)
		r = e.must(e.do("POST", "/api/v1/serve/my-model/infra-config/local", "-", apiConfig(1, 1, 3, 2)), 400)
		if get(r.body, "data.field") != "api_serve_config.fast_api_config.min_replicas" {
			t.Fatalf("min>max: %s", r.raw)
		}
		r = e.must(e.do("POST", "/api/v1/serve/my-model/infra-config/local", "-", map[string]any{"api_serve_config": map[string]any{"fast_api_config": map[string]any{"cores": "many", "memory": 1, "min_replicas": 1, "max_replicas": 1}}}), 400)
		if get(r.body, "data.field") != "api_serve_config.fast_api_config.cores" {
			t.Fatalf("type error: %s", r.raw)
		}
		body := apiConfig(2, 4, 1, 3)
		get(body, "api_serve_config").(map[string]any)["additional_hosts"] = []string{"a.example.com"}
		get(body, "api_serve_config.fast_api_config").(map[string]any)["node_capacity_type"] = "on-demand"
		r = e.must(e.do("POST", "/api/v1/serve/my-model/infra-config/local", "-", body), 201)
		if get(r.body, "data.type") != "API" || get(r.body, "data.fast_api_config.max_replicas") != 3.0 || get(r.body, "data.additional_hosts.0") != "a.example.com" || get(r.body, "data.fast_api_config.node_capacity_type") != "on-demand" {
			t.Fatalf("config: %s", r.raw)
		}
		e.must(e.do("POST", "/api/v1/serve/my-model/infra-config/local", "-", body), 409)
		wf := map[string]any{"workflow_serve_config": map[string]any{"schedule": "0 * * * *",
			"head_node_config":   map[string]any{"cores": 2, "memory": 8, "node_capacity_type": "ondemand"},
			"worker_node_config": []any{map[string]any{"cores_per_pods": 1, "memory_per_pods": 2, "min_pods": 0, "max_pods": 2, "node_capacity_type": "spot"}}}}
		e.must(e.do("POST", "/api/v1/serve/wf/infra-config/local", "-", wf), 201)
		r = e.must(e.do("GET", "/api/v1/serve/wf/infra-config/local", "-", nil), 200)
		if get(r.body, "data.type") != "WORKFLOW" || get(r.body, "data.worker_node_config.0.max_pods") != 2.0 {
			t.Fatalf("wf config: %s", r.raw)
		}
		r = e.must(e.do("GET", "/api/v1/serve/my-model", "-", nil), 200)
		if get(r.body, "data.serve.name") != "my-model" || get(r.body, "data.infra_configs.0.env") != "local" || get(r.body, "data.infra_configs.0.backend_type") != "fastapi" {
			t.Fatalf("get serve: %s", r.raw)
		}
		e.must(e.do("GET", "/api/v1/serve/nope", "-", nil), 404)
		// PATCH without an active deployment only saves.
		r = e.must(e.do("PATCH", "/api/v1/serve/my-model/infra-config/local", "-", apiConfig(3, 6, 1, 2)), 200)
		if get(r.body, "data.fast_api_config.cores") != 3.0 || len(e.deployer.Calls()) != 0 {
			t.Fatalf("patch: %s %v", r.raw, e.deployer.Calls())
		}
		e.must(e.do("PATCH", "/api/v1/serve/wf/infra-config/nope", "-", wf), 404)
	})
}

// setupAPIServe creates env local, serve svc (api) with an infra config and artifact v1 (an image).
func setupAPIServe(t *testing.T, e *env) {
	t.Helper()
	e.must(e.do("POST", "/api/v1/environment", "-", localEnv), 200)
	e.must(e.do("POST", "/api/v1/serve", "-", map[string]any{"name": "svc", "type": "api"}), 201)
	e.must(e.do("POST", "/api/v1/serve/svc/infra-config/local", "-", apiConfig(2, 4, 1, 2)), 201)
	for _, v := range []string{"v1", "v2"} {
		if _, err := e.d.Exec(t.Context(), "INSERT INTO artifacts (serve_id, version, github_repo_url, image_url, branch, file_path, created_at) SELECT id, ?, 'https://github.com/o/r', ?, 'main', '', 1 FROM serves WHERE name = 'svc'",
			v, "docker.io/darwin:svc_"+v); err != nil {
			t.Fatal(err)
		}
	}
}

func TestArtifactsAndJobs(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.must(e.do("POST", "/api/v1/serve", "-", map[string]any{"name": "svc", "type": "api"}), 201)
		e.must(e.do("POST", "/api/v1/serve", "-", map[string]any{"name": "wf", "type": "workflow"}), 201)
		r := e.must(e.do("POST", "/api/v1/artifact", "-", map[string]any{"serve_name": "nope", "version": "v1", "github_repo_url": "https://github.com/o/r"}), 400)
		if get(r.body, "data.field") != "serve_name" {
			t.Fatalf("missing serve: %s", r.raw)
		}
		r = e.must(e.do("POST", "/api/v1/artifact", "-", map[string]any{"serve_name": "svc", "version": "v1"}), 400)
		if get(r.body, "data.field") != "github_repo_url" {
			t.Fatalf("first needs url: %s", r.raw)
		}
		e.must(e.do("POST", "/api/v1/artifact", "-", map[string]any{"serve_name": "svc", "version": "v1", "github_repo_url": "not a url"}), 400)
		r = e.must(e.do("POST", "/api/v1/artifact", "-", map[string]any{"serve_name": "svc", "version": "v1", "github_repo_url": "https://github.com/o/r"}), 201)
		jobID := get(r.body, "data.job_id")
		if jobID == nil {
			t.Fatalf("job: %s", r.raw)
		}
		r = e.must(e.do("POST", "/api/v1/artifact", "-", map[string]any{"serve_name": "svc", "version": "v1"}), 400)
		if !strings.Contains(fmt.Sprint(r.body["message"]), "creating state") {
			t.Fatalf("pending job: %s", r.raw)
		}
		// A second version reuses the previous git URL.
		e.must(e.do("POST", "/api/v1/artifact", "-", map[string]any{"serve_name": "svc", "version": "v2", "branch": "dev"}), 201)
		r = e.must(e.do("GET", fmt.Sprintf("/api/v1/artifact_builder_job/%v/status", jobID), "", nil), 200)
		if get(r.body, "data.status") != "PENDING" || get(r.body, "data.version") != "v1" {
			t.Fatalf("status: %s", r.raw)
		}
		e.must(e.do("GET", "/api/v1/artifact_builder_job/999/status", "", nil), 404)
		e.must(e.do("GET", "/api/v1/artifact_builder_job/abc/status", "", nil), 400)
		r = e.must(e.do("GET", "/api/v1/artifact_builder_job?serve_name=svc&status=PENDING", "", nil), 200)
		jobs := get(r.body, "data.data").([]any)
		if len(jobs) != 2 || get(jobs[0], "serve__name") != "svc" || get(jobs[0], "version") != "v2" {
			t.Fatalf("jobs: %s", r.raw)
		}
		if _, err := d.Exec(t.Context(), "UPDATE artifact_builder_job SET status = 'FAILED', task_id = 't1' WHERE version = 'v2'"); err != nil {
			t.Fatal(err)
		}
		r = e.must(e.do("GET", "/api/v1/artifact_builder_job?status=failed", "", nil), 200)
		if n := len(get(r.body, "data.data").([]any)); n != 1 {
			t.Fatalf("failed filter: %s", r.raw)
		}
		e.must(e.do("GET", "/api/v1/artifact_builder_job?status=DONE", "", nil), 400)
		// A FAILED job does not block a retry of that version.
		e.must(e.do("POST", "/api/v1/artifact", "-", map[string]any{"serve_name": "svc", "version": "v2"}), 201)

		// Workflow serves: direct artifact, branch and file_path required.
		r = e.must(e.do("POST", "/api/v1/artifact", "-", map[string]any{"serve_name": "wf", "version": "v1", "github_repo_url": "https://github.com/o/wf", "branch": "main"}), 400)
		if get(r.body, "data.field") != "file_path" {
			t.Fatalf("wf file_path: %s", r.raw)
		}
		r = e.must(e.do("POST", "/api/v1/artifact", "-", map[string]any{"serve_name": "wf", "version": "v1", "github_repo_url": "https://github.com/o/wf", "branch": "main", "file_path": "jobs/run.py"}), 201)
		if get(r.body, "data.version") != "v1" || get(r.body, "data.file_path") != "jobs/run.py" {
			t.Fatalf("wf artifact: %s", r.raw)
		}
		e.must(e.do("POST", "/api/v1/artifact", "-", map[string]any{"serve_name": "wf", "version": "v1", "branch": "main", "file_path": "x"}), 400)
		r = e.must(e.do("GET", "/api/v1/artifact/wf", "", nil), 200)
		if n := len(get(r.body, "data.data").([]any)); n != 1 {
			t.Fatalf("list artifacts: %s", r.raw)
		}
		e.must(e.do("GET", "/api/v1/artifact/nope", "", nil), 404)
	})
}

func TestDeployUndeployAndHistory(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		setupAPIServe(t, e)
		dep := map[string]any{"env": "local", "artifact_version": "v1", "api_serve_deployment_config": map[string]any{"environment_variables": map[string]any{"A": "1", "N": 2}}}
		e.must(e.do("POST", "/api/v1/serve/svc/deploy", "-", map[string]any{"env": "nope", "artifact_version": "v1"}), 400)
		e.must(e.do("POST", "/api/v1/serve/svc/deploy", "-", map[string]any{"env": "local", "artifact_version": "v9"}), 404)
		e.must(e.do("POST", "/api/v1/serve/nope/deploy", "-", dep), 404)
		r := e.must(e.do("POST", "/api/v1/serve/svc/deploy", "-", dep), 200)
		if get(r.body, "data.service_url") != "http://localhost:8080/svc-local/" {
			t.Fatalf("deploy: %s", r.raw)
		}
		res, ok := e.deployer.Running("local-svc")
		if !ok || res.ArtifactID != "local-svc-v1" || res.KubeNamespace != "serve" || res.KubeCluster != "kind" || res.Chart != deploy.FastAPIChart {
			t.Fatalf("resource: %+v", res)
		}
		if get(res.Values, "env.N") != "2" || get(res.Values, "image") != "docker.io/darwin:svc_v1" || get(res.Values, "replicas.max") != int64(2) {
			t.Fatalf("values: %v", res.Values)
		}
		r = e.must(e.do("GET", "/api/v1/serve/svc/status/local", "-", nil), 200)
		if get(r.body, "data.status") != "READY" {
			t.Fatalf("status: %s", r.raw)
		}
		// v2 inherits v1's environment variables and ends v1.
		e.must(e.do("POST", "/api/v1/serve/svc/deploy", "-", map[string]any{"env": "local", "artifact_version": "v2"}), 200)
		res, _ = e.deployer.Running("local-svc")
		if get(res.Values, "env.A") != "1" || res.ArtifactID != "local-svc-v2" {
			t.Fatalf("inherit: %v", res.Values)
		}
		r = e.must(e.do("GET", "/api/v1/serve/svc/deployments?status=ENDED", "", nil), 200)
		if get(r.body, "data.total") != 1.0 || get(r.body, "data.data.0.artifact_version") != "v1" || get(r.body, "data.data.0.ended_at") == nil || get(r.body, "data.data.0.created_by") != "admin" {
			t.Fatalf("ended: %s", r.raw)
		}
		r = e.must(e.do("GET", "/api/v1/serve/svc/deployments?status=active", "", nil), 200)
		if get(r.body, "data.total") != 1.0 || get(r.body, "data.data.0.artifact_version") != "v2" {
			t.Fatalf("active: %s", r.raw)
		}
		r = e.must(e.do("GET", "/api/v1/serve/svc/deployments?limit=1&page=2", "", nil), 200)
		if get(r.body, "data.total") != 2.0 || get(r.body, "data.data.0.artifact_version") != "v1" || get(r.body, "data.page") != 2.0 {
			t.Fatalf("paging: %s", r.raw)
		}
		e.must(e.do("GET", "/api/v1/serve/svc/deployments?limit=201", "", nil), 400)
		e.must(e.do("GET", "/api/v1/serve/svc/deployments?page=0", "", nil), 400)
		e.must(e.do("GET", "/api/v1/serve/svc/deployments?status=BOGUS", "", nil), 400)

		// PATCH infra-config redeploys the active deployment with the new sizing.
		e.must(e.do("PATCH", "/api/v1/serve/svc/infra-config/local", "-", apiConfig(8, 16, 2, 5)), 200)
		res, _ = e.deployer.Running("local-svc")
		if get(res.Values, "resources.cores") != 8.0 || get(res.Values, "replicas.min") != int64(2) || get(res.Values, "env.A") != "1" {
			t.Fatalf("redeploy values: %v", res.Values)
		}
		// PATCH environment redeploys the active deployment in place with the environment's new settings.
		r = e.must(e.do("PATCH", "/api/v1/environment/local", "-", map[string]any{"namespace": "serving-2"}), 200)
		res, _ = e.deployer.Running("local-svc")
		if res.KubeNamespace != "serving-2" || get(res.Values, "cluster.namespace") != "serving-2" || get(res.Values, "resources.cores") != 8.0 ||
			get(r.body, "data.redeployed.0") != "svc" {
			t.Fatalf("environment redeploy: %+v %s", res, r.raw)
		}
		// A backend that refuses the redeploy leaves the environment unchanged.
		e.deployer.FailApply = errors.New("backend down")
		e.must(e.do("PATCH", "/api/v1/environment/local", "-", map[string]any{"namespace": "serving-3"}), 503)
		e.deployer.FailApply = nil
		r = e.must(e.do("GET", "/api/v1/environment/local", "", nil), 200)
		if !strings.Contains(string(r.raw), "serving-2") || strings.Contains(string(r.raw), "serving-3") {
			t.Fatalf("environment after a refused redeploy: %s", r.raw)
		}
		// The environment is in use now.
		e.must(e.do("DELETE", "/api/v1/environment/local", "-", nil), 409)

		r = e.must(e.do("POST", "/api/v1/serve/svc/undeploy/local", "-", nil), 200)
		if _, running := e.deployer.Running("local-svc"); running || get(r.body, "data.serve_name") != "svc" {
			t.Fatalf("undeploy: %s", r.raw)
		}
		if e.count("active_deployments", "1 = 1") != 0 || e.count("deployments", "status = 'ACTIVE'") != 0 {
			t.Fatal("undeploy left active rows")
		}
		r = e.must(e.do("POST", "/api/v1/serve/svc/undeploy/local", "-", nil), 200)
		if r.body["message"] != "No running resource found; nothing to undeploy" {
			t.Fatalf("second undeploy: %s", r.raw)
		}
		r = e.must(e.do("GET", "/api/v1/serve/svc/status/local", "-", nil), 200)
		if get(r.body, "data.status") != "NOT_READY" {
			t.Fatalf("status after undeploy: %s", r.raw)
		}
		e.must(e.do("GET", "/api/v1/serve/nope/deployments", "", nil), 404)
	})
}

func TestDeployFailureWritesNothing(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		setupAPIServe(t, e)
		e.deployer.FailApply = errors.New("cluster down")
		r := e.must(e.do("POST", "/api/v1/serve/svc/deploy", "-", map[string]any{"env": "local", "artifact_version": "v1"}), 503)
		if strings.Contains(string(r.raw), "cluster down") {
			t.Fatalf("internal cause leaked: %s", r.raw)
		}
		e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", map[string]any{"serve_name": "fresh", "model_uri": "models:/m/1", "env": "local"}), 503)
		for _, table := range []string{"deployments", "active_deployments", "app_layer_deployments"} {
			if n := e.count(table, "1 = 1"); n != 0 {
				t.Fatalf("%s has %d rows after a failed deploy", table, n)
			}
		}
		if e.count("serves", "name = 'fresh'") != 0 || e.count("artifacts", "github_repo_url = 'models:/m/1'") != 0 {
			t.Fatal("failed one-click left a serve or artifact")
		}
	})
}

func TestDeployModel(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.must(e.do("POST", "/api/v1/environment", "-", localEnv), 200)
		uri := "mlflow-artifacts:/1/abc123/artifacts/model"
		e.resolver.sizes[uri] = 2 << 30
		body := map[string]any{"env": "local", "serve_name": "Iris-Classifier", "artifact_version": "v1", "model_uri": uri,
			"storage_strategy": "auto", "cores": 2, "memory": 4, "node_capacity": "spot", "min_replicas": 1, "max_replicas": 2}
		r := e.must(e.do("POST", "/api/v1/serve/deploy-model", otherToken, body), 200)
		if string(r.raw) != `{"service_url":"http://localhost:8080/iris-classifier/"}`+"\n" {
			t.Fatalf("bare reply: %s", r.raw)
		}
		res, ok := e.deployer.Running("iris-classifier")
		if !ok || res.ArtifactID != "local-iris-classifier-v1" || get(res.Values, "image") != "docker.io/darwin/serve-md-runtime:latest" {
			t.Fatalf("resource: %+v", res)
		}
		if get(res.Values, "env.MLFLOW_MODEL_URI") != uri || get(res.Values, "env.MODEL_VERSION") != "v1" || get(res.Values, "env.MLFLOW_TRACKING_URI") != "http://mlflow.local" {
			t.Fatalf("env vars: %v", res.Values["env"])
		}
		if get(res.Values, "model.storage_strategy") != "pvc" || get(res.Values, "model.pvc_name") != "ml-model-cache" {
			t.Fatalf("storage for 2 GiB: %v", res.Values["model"])
		}
		r = e.must(e.do("GET", "/api/v1/serve/iris-classifier", "-", nil), 200)
		if get(r.body, "data.serve.space") != "jane-doe-example-com" || get(r.body, "data.serve.description") != "Auto-generated serve for one-click deployments" || get(r.body, "data.infra_configs.0.fast_api_config.cores") != 2.0 {
			t.Fatalf("auto serve: %s", r.raw)
		}
		r = e.must(e.do("GET", "/api/v1/serve/iris-classifier/status/local", "-", nil), 200)
		if get(r.body, "data.status") != "READY" {
			t.Fatalf("status: %s", r.raw)
		}
		// Same active version → 400; a new version ends the old one, small model → emptydir.
		r = e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", body), 400)
		if get(r.body, "data.field") != "artifact_version" {
			t.Fatalf("same version: %s", r.raw)
		}
		body["artifact_version"], body["model_uri"], body["node_capacity"] = "v2", "models:/iris/3", "ondemand"
		e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", body), 200)
		res, _ = e.deployer.Running("iris-classifier")
		if get(res.Values, "model.storage_strategy") != "emptydir" || get(res.Values, "node_capacity_type") != "on-demand" {
			t.Fatalf("v2 values: %v", res.Values)
		}
		if e.count("deployments", "status = 'ENDED'") != 1 || e.count("deployments", "status = 'ACTIVE'") != 1 || e.count("api_serve_configs", "1 = 1") != 1 {
			t.Fatal("history rows")
		}
		// Invalid and missing models.
		body["artifact_version"], body["model_uri"] = "v3", "ftp://x/y"
		r = e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", body), 400)
		if r.body["message"] != "Invalid model URI" || r.body["error"] == nil || r.body["hint"] == nil {
			t.Fatalf("invalid uri: %s", r.raw)
		}
		body["model_uri"] = "models:/ghost/1"
		e.resolver.missing["models:/ghost/1"] = true
		e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", body), 400)
		body["model_uri"] = "models:/iris/3"
		body["env"] = "nope"
		e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", body), 404)
		for field, v := range map[string]any{"cores": 65, "memory": 0, "min_replicas": 101, "storage_strategy": "nfs", "node_capacity": "cheap", "serve_name": "a_b"} {
			b := map[string]any{"env": "local", "serve_name": "x", "model_uri": "models:/iris/3"}
			b[field] = v
			r = e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", b), 400)
			if get(r.body, "data.field") != field {
				t.Fatalf("%s: %s", field, r.raw)
			}
		}
		// Undeploy-model: stops resource <serve>.
		e.must(e.do("POST", "/api/v1/serve/undeploy-model", "-", map[string]any{"serve_name": "iris-classifier", "env": "nope"}), 404)
		e.must(e.do("POST", "/api/v1/serve/undeploy-model", "-", map[string]any{"serve_name": "nope", "env": "local"}), 404)
		r = e.must(e.do("POST", "/api/v1/serve/undeploy-model", "-", map[string]any{"serve_name": "iris-classifier", "env": "local"}), 200)
		if get(r.body, "data.serve_name") != "iris-classifier" || get(r.body, "data.environment") != "local" || e.deployer.RunningIDs() != 0 {
			t.Fatalf("undeploy-model: %s", r.raw)
		}
		e.must(e.do("POST", "/api/v1/serve/undeploy-model", "-", map[string]any{"serve_name": "iris-classifier", "env": "local"}), 404)
		// The resolver being down is a 503, not a 400.
		e.resolver.err = errors.New("connection refused")
		body["env"], body["artifact_version"] = "local", "v4"
		e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", body), 503)
	})
}

func TestBadBodies(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		paths := []string{"/api/v1/environment", "/api/v1/serve", "/api/v1/artifact", "/api/v1/serve/deploy-model", "/api/v1/serve/undeploy-model", "/api/v1/serve/x/deploy", "/api/v1/serve/x/infra-config/y"}
		for _, p := range paths {
			for _, b := range []string{"", "[]", "{", `{"a":1} {}`, "null", `"x"`, strings.Repeat(" ", 10) + "{]"} {
				r := e.do("POST", p, "-", b)
				if r.status != 400 && r.status != 404 {
					t.Fatalf("%s %q: %d %s", p, b, r.status, r.raw)
				}
				if r.body["status"] != "ERROR" {
					t.Fatalf("%s %q: not an error envelope: %s", p, b, r.raw)
				}
			}
		}
	})
}

func TestUnknownRoutesAreEnveloped(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		r := e.must(e.do("GET", "/api/v1/nothing", "-", nil), 404)
		if r.body["status"] != "ERROR" {
			t.Fatalf("404: %s", r.raw)
		}
		r = e.must(e.do("PUT", "/api/v1/serve", "-", nil), 405)
		if r.body["status"] != "ERROR" {
			t.Fatalf("405: %s", r.raw)
		}
	})
}

type blockingResolver struct{}

func (blockingResolver) Resolve(ctx context.Context, uri string) (deploy.ModelInfo, error) {
	<-ctx.Done()
	return deploy.ModelInfo{}, ctx.Err()
}

// TestDeployModelResolveTimeout: a registry that does not answer makes deploy-model fail fast with 503 and
// write nothing, instead of outliving hermes' 30 s request timeout.
func TestDeployModelResolveTimeout(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.must(e.do("POST", "/api/v1/environment", "-", localEnv), 200)
		h := httpapi.New(e.st, httpapi.Options{Deployer: e.deployer, Resolver: blockingResolver{}, ResolveTimeout: 50 * time.Millisecond})
		r := chi.NewRouter()
		h.Routes(r)
		srv := httptest.NewServer(r)
		defer srv.Close()
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/serve/deploy-model", strings.NewReader(`{"env":"local","serve_name":"slow","model_uri":"models:/m/1"}`))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 503 || time.Since(start) > 5*time.Second {
			t.Fatalf("status %d after %v", res.StatusCode, time.Since(start))
		}
		if e.count("serves", "1 = 1") != 0 {
			t.Fatal("serve created")
		}
	})
}

// TestLargeDocuments stores near-limit JSON documents (env vars, strategy config) on every dialect: a body
// under 1 MiB is never a 500 (MySQL keeps JSON in LONGTEXT), and limits are 400s.
func TestLargeDocuments(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		setupAPIServe(t, e)
		vars := map[string]any{}
		for i := range 150 {
			vars[fmt.Sprintf("V%d", i)] = strings.Repeat("x", 3000)
		}
		big := map[string]any{"env": "local", "artifact_version": "v1", "api_serve_deployment_config": map[string]any{
			"environment_variables": vars, "deployment_strategy_config": map[string]any{"blob": strings.Repeat("y", 300_000)}}}
		e.must(e.do("POST", "/api/v1/serve/svc/deploy", "-", big), 200)
		res, _ := e.deployer.Running("local-svc")
		if len(get(res.Values, "env").(map[string]any)) != 150 {
			t.Fatal("env vars lost")
		}
		// Inherited from the stored row on the next deploy.
		e.must(e.do("POST", "/api/v1/serve/svc/deploy", "-", map[string]any{"env": "local", "artifact_version": "v2"}), 200)
		res, _ = e.deployer.Running("local-svc")
		if get(res.Values, "env.V149") != strings.Repeat("x", 3000) || len(fmt.Sprint(get(res.Values, "deployment_strategy_config.blob"))) != 300_000 {
			t.Fatal("stored documents did not round-trip")
		}
		tooBig := map[string]any{"env": "local", "artifact_version": "v1", "api_serve_deployment_config": map[string]any{"deployment_strategy_config": map[string]any{"blob": strings.Repeat("y", 1<<20)}}}
		e.must(e.do("POST", "/api/v1/serve/svc/deploy", "-", tooBig), 400)
		hosts := make([]string, 65)
		for i := range hosts {
			hosts[i] = fmt.Sprintf("h%d.example.com", i)
		}
		cfg := apiConfig(1, 1, 1, 1)
		get(cfg, "api_serve_config").(map[string]any)["additional_hosts"] = hosts
		e.must(e.do("PATCH", "/api/v1/serve/svc/infra-config/local", "-", cfg), 400)
		e.must(e.do("PATCH", "/api/v1/environment/local", "-", map[string]any{"subnets": hosts}), 400)
	})
}

// TestResourceIDCollisions: one-click resources are named <serve> and regular ones <env>-<serve>; ml-serve
// never lets two active deployments share a release, and switching a serve between the two kinds stops the
// old release.
func TestResourceIDCollisions(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		setupAPIServe(t, e)
		uat := map[string]any{"name": "uat", "environment_configs": get(localEnv, "environment_configs")}
		e.must(e.do("POST", "/api/v1/environment", "-", uat), 200)

		// One-click svc in local, then a regular deploy of svc in local: the <serve> release is stopped.
		e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", map[string]any{"env": "local", "serve_name": "svc", "artifact_version": "m1", "model_uri": "models:/m/1"}), 200)
		if _, ok := e.deployer.Running("svc"); !ok {
			t.Fatal("one-click release missing")
		}
		// The same serve one-click in a second environment would share release "svc".
		r := e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", map[string]any{"env": "uat", "serve_name": "svc", "artifact_version": "m2", "model_uri": "models:/m/1"}), 409)
		if !strings.Contains(fmt.Sprint(r.body["message"]), "local") {
			t.Fatalf("collision message: %s", r.raw)
		}
		e.must(e.do("POST", "/api/v1/serve/svc/deploy", "-", map[string]any{"env": "local", "artifact_version": "v1"}), 200)
		if _, ok := e.deployer.Running("svc"); ok {
			t.Fatal("replaced one-click release still running")
		}
		if _, ok := e.deployer.Running("local-svc"); !ok {
			t.Fatal("regular release missing")
		}
		// A serve named like another's regular release cannot take it over.
		e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", map[string]any{"env": "uat", "serve_name": "local-svc", "model_uri": "models:/m/1"}), 409)
		if e.count("serves", "name = 'local-svc'") != 0 {
			t.Fatal("rejected one-click left its serve behind")
		}
		// And back to one-click: the regular release is stopped.
		e.must(e.do("POST", "/api/v1/serve/deploy-model", "-", map[string]any{"env": "local", "serve_name": "svc", "artifact_version": "m3", "model_uri": "models:/m/1"}), 200)
		if _, ok := e.deployer.Running("local-svc"); ok || e.deployer.RunningIDs() != 1 {
			t.Fatalf("regular release still running (%d running)", e.deployer.RunningIDs())
		}
		if e.count("deployments", "status = 'ACTIVE'") != 1 {
			t.Fatal("more than one ACTIVE deployment")
		}
	})
}
