package hermes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestNestedCommandTree drives the original command tree end to end and checks the platform after each step.
func TestNestedCommandTree(t *testing.T) {
	p := startPlatform(t)
	c := newCLI(t, p.URL)
	c.env["HERMES_USER_TOKEN"] = adminToken

	// environments
	c.ok("environment", "create", "--name", "uat", "--cluster-name", "eks-uat", "--namespace", "serving", "--subnets", "s-1, s-2")
	_, env := p.get(t, "/environment/uat")
	cfg := env["env_configs"].(map[string]any)
	if cfg["cluster_name"] != "eks-uat" || cfg["namespace"] != "serving" || cfg["domain_suffix"] != ".local" ||
		cfg["ft_redis_url"] != "redis://localhost:6379" || cfg["workflow_url"] != "http://workflow-service:8080" {
		t.Fatalf("env: %v", cfg)
	}
	if subnets, _ := cfg["subnets"].([]any); len(subnets) != 2 || subnets[1] != "s-2" {
		t.Fatalf("subnets: %v", cfg["subnets"])
	}
	r := c.ok("environment", "get", "--name", "uat", "-o", "json")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got["name"] != "uat" {
		t.Fatalf("environment get -o json: %v %q", err, r.stdout)
	}
	c.ok("environment", "update", "--name", "uat", "--namespace", "ns2")
	_, env = p.get(t, "/environment/uat")
	if cfg := env["env_configs"].(map[string]any); cfg["namespace"] != "ns2" || cfg["cluster_name"] != "eks-uat" {
		t.Fatalf("after update: %v", cfg)
	}
	c.fail(2, []string{"nothing to update"}, "environment", "update", "--name", "uat")
	c.fail(1, []string{`environment "nope" not found`}, "environment", "get", "--name", "nope")
	c.ok("environment", "create", "--name", "local")

	// serves
	c.ok("create", "--name", "fraud", "--type", "api", "--space", "risk", "--description", "Fraud model")
	r = c.ok("list")
	if !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "fraud") || !strings.Contains(r.stdout, "risk") {
		t.Fatalf("list table: %q", r.stdout)
	}
	r = c.ok("list", "-o", "yaml")
	var serves []map[string]any
	if err := yaml.Unmarshal([]byte(r.stdout), &serves); err != nil || len(serves) != 1 || serves[0]["name"] != "fraud" {
		t.Fatalf("list -o yaml: %v %q", err, r.stdout)
	}

	// infra config: create, get, partial update (the rest is kept)
	c.ok("config", "create", "--serve-name", "fraud", "--env", "uat", "--cores", "2", "--memory", "4", "--min-replicas", "1", "--max-replicas", "3", "--node-capacity", "on-demand")
	fc := p.data(t, "/serve/fraud/infra-config/uat")["fast_api_config"].(map[string]any)
	if num(fc["cores"]) != 2 || num(fc["max_replicas"]) != 3 {
		t.Fatalf("config: %v", fc)
	}
	c.ok("config", "update", "--serve-name", "fraud", "--env", "uat", "--max-replicas", "5")
	got2 := p.data(t, "/serve/fraud/infra-config/uat")
	fc = got2["fast_api_config"].(map[string]any)
	if num(fc["cores"]) != 2 || num(fc["memory"]) != 4 || num(fc["max_replicas"]) != 5 || got2["backend_type"] != "fastapi" {
		t.Fatalf("config after update: %v", got2)
	}
	r = c.ok("config", "get", "--serve-name", "fraud", "--env", "uat")
	if !strings.Contains(r.stdout, "backend_type:") || !strings.Contains(r.stdout, `"max_replicas":5`) {
		t.Fatalf("config get: %q", r.stdout)
	}
	c.fail(2, []string{"--cores", "--memory"}, "config", "create", "--serve-name", "fraud", "--env", "local")
	r = c.ok("get", "--name", "fraud")
	if !strings.Contains(r.stdout, "Infra configs:") || !strings.Contains(r.stdout, "uat") {
		t.Fatalf("get: %q", r.stdout)
	}

	// artifacts: an api serve gets a PENDING build job
	r = c.ok("artifact", "create", "--serve-name", "fraud", "--version", "v1", "--github-repo-url", "https://github.com/acme/fraud", "--branch", "main", "-o", "json")
	var job map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &job); err != nil || job["job_id"] == nil {
		t.Fatalf("artifact create: %v %q", err, r.stdout)
	}
	jobID := strings.TrimSuffix(strings.TrimSpace(cellJSON(job["job_id"])), "\n")
	r = c.ok("artifact", "jobs", "--serve-name", "fraud")
	if !strings.Contains(r.stdout, "PENDING") || !strings.Contains(r.stdout, "fraud") {
		t.Fatalf("artifact jobs: %q", r.stdout)
	}
	r = c.ok("artifact", "status", "--job-id", jobID)
	if !strings.Contains(r.stdout, "PENDING") || !strings.Contains(r.stdout, "v1") {
		t.Fatalf("artifact status: %q", r.stdout)
	}
	c.ok("get-artifact-status", "--job-id", jobID)
	r = c.ok("artifact", "list", "--serve-name", "fraud")
	if !strings.Contains(r.stdout, "No artifacts.") {
		t.Fatalf("artifact list before the build: %q", r.stdout)
	}
	// a build still pending for v1 is refused
	c.fail(1, []string{"HTTP 400"}, "create-artifact", "--serve-name", "fraud", "--version", "v1")

	// deploy needs an artifact: 404 from the server
	dir := t.TempDir()
	depFile := filepath.Join(dir, "deploy.yaml")
	if err := os.WriteFile(depFile, []byte("env: uat\nartifact_version: v1\napi_serve_deployment_config:\n  environment_variables:\n    A: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.fail(1, []string{"HTTP 404"}, "deploy", "--serve-name", "fraud", "--file", depFile)
	c.fail(2, []string{"--env", "--artifact-version"}, "deploy-artifact", "--serve-name", "fraud")

	// one-click deploy into uat, then status, deployments, undeploy-model
	r = c.ok("deploy-model", "--serve-name", "Scorer", "--model-uri", "models:/scorer/1", "--env", "uat", "--node-capacity", "ondemand")
	if !strings.Contains(r.stderr, `serve "scorer" is READY in "uat"`) {
		t.Fatalf("wait output: %q", r.stderr)
	}
	r = c.ok("status", "--name", "scorer", "--env", "uat")
	if !strings.Contains(r.stdout, "READY") {
		t.Fatalf("status: %q", r.stdout)
	}
	c.ok("get-serve-status", "--serve-name", "scorer", "--env", "uat")
	r = c.ok("deployments", "--serve-name", "scorer")
	if !strings.Contains(r.stdout, "ACTIVE") || !strings.Contains(r.stdout, "uat") {
		t.Fatalf("deployments: %q", r.stdout)
	}
	r = c.ok("undeploy-model", "--serve-name", "scorer", "--env", "uat")
	deps := p.data(t, "/serve/scorer/deployments")["data"].([]any)
	if deps[0].(map[string]any)["status"] != "ENDED" {
		t.Fatalf("after undeploy-model: %v (%q)", deps, r.stdout)
	}
	c.fail(1, []string{"HTTP 404"}, "undeploy-model", "--serve-name", "scorer", "--env", "uat")
	r = c.ok("deploy-model", "--serve-name", "scorer", "--model-uri", "models:/scorer/1", "--env", "uat", "--artifact-version", "v2", "--wait=false")
	if strings.Contains(r.stderr, "waiting for serve") {
		t.Fatalf("--wait=false waited: %q", r.stderr)
	}
	r = c.ok("undeploy", "--name", "scorer", "--env", "uat")
	if p.data(t, "/serve/scorer/deployments")["data"].([]any)[0].(map[string]any)["status"] != "ENDED" {
		t.Fatalf("undeploy left the deployment active: %q", r.stdout)
	}
	// a regular deploy of the one-click artifact from a file, waiting for READY
	if err := os.WriteFile(depFile, []byte("env: uat\nartifact_version: v2\napi_serve_deployment_config:\n  environment_variables:\n    A: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = c.ok("deploy", "--serve-name", "scorer", "--file", depFile)
	if strings.Contains(r.stderr, "waiting for serve") || !strings.Contains(r.stdout, "service_url") {
		t.Fatalf("deploy (no --wait): stdout %q stderr %q", r.stdout, r.stderr)
	}
	top := p.data(t, "/serve/scorer/deployments")["data"].([]any)[0].(map[string]any)
	if top["status"] != "ACTIVE" || top["artifact_version"] != "v2" || top["env"] != "uat" {
		t.Fatalf("after deploy: %v", top)
	}
	c.ok("undeploy", "--name", "scorer", "--env", "uat")
	r = c.ok("deploy-artifact", "--serve-name", "scorer", "--env", "uat", "--artifact-version", "v1", "--wait")
	if !strings.Contains(r.stderr, `serve "scorer" is READY in "uat"`) {
		t.Fatalf("deploy-artifact --wait: %q", r.stderr)
	}
	top = p.data(t, "/serve/scorer/deployments")["data"].([]any)[0].(map[string]any)
	if top["status"] != "ACTIVE" || top["artifact_version"] != "v1" {
		t.Fatalf("after deploy-artifact: %v", top)
	}
	c.ok("undeploy", "--name", "scorer", "--env", "uat")

	// delete: referenced environments are refused, free ones go
	c.fail(1, []string{"HTTP 409"}, "environment", "delete", "--name", "uat")
	c.ok("environment", "delete", "--name", "local")
	if code, body := p.get(t, "/environment/local"); code != 200 || len(body) != 0 {
		t.Fatalf("local still there: %d %v", code, body)
	}
}

func cellJSON(v any) string { return cell(v) }

// TestDeployFromRepoFiles generates a repository and feeds its .hermes files to config create and deploy.
func TestDeployFromRepoFiles(t *testing.T) {
	p := startPlatform(t)
	c := newCLI(t, p.URL)
	c.env["HERMES_USER_TOKEN"] = adminToken
	dir := t.TempDir()
	c.ok("repo", "create", "--name", "churn", "-o", dir, "--github-username", "acme")
	repo := filepath.Join(dir, "churn")
	t.Chdir(repo)
	c.ok("environment", "create", "--name", "local")
	// create reads name/type/space/description from .hermes/serve_config.json
	c.ok("create")
	s := p.data(t, "/serve/churn")["serve"].(map[string]any)
	if s["type"] != "api" || s["space"] != "serve" || !strings.Contains(s["description"].(string), "churn") {
		t.Fatalf("serve from serve_config.json: %v", s)
	}
	c.ok("create-serve-config", "--serve-name", "churn", "--env", "local", "--file", ".hermes/deployment_local.json")
	fc := p.data(t, "/serve/churn/infra-config/local")["fast_api_config"].(map[string]any)
	if num(fc["cores"]) != 1 || num(fc["memory"]) != 2 {
		t.Fatalf("config from deployment_local.json: %v", fc)
	}
	c.ok("update-serve-config", "--serve-name", "churn", "--env", "local", "--file", ".hermes/deployment_uat.json", "--cores", "3")
	fc = p.data(t, "/serve/churn/infra-config/local")["fast_api_config"].(map[string]any)
	if num(fc["cores"]) != 3 || num(fc["memory"]) != 4 || num(fc["max_replicas"]) != 2 {
		t.Fatalf("config after update from file + flag: %v", fc)
	}
	// create-artifact takes serve name and git URL from .hermes/serve_config.json
	c.ok("create-artifact", "--version", "v1")
	jobs := p.data(t, "/artifact_builder_job?serve_name=churn")["data"].([]any)
	if len(jobs) != 1 || jobs[0].(map[string]any)["version"] != "v1" {
		t.Fatalf("jobs: %v", jobs)
	}
}
