package httpapi_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/ml-serve/internal/deploy"
	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
	"github.com/darwinml/darwin/services/ml-serve/internal/httpapi"
	"github.com/darwinml/darwin/services/ml-serve/migrations"
)

// Seeds shared by every decoder target: valid hermes bodies plus malformed and hostile variants.
var commonSeeds = []string{
	``, `{}`, `null`, `[]`, `"x"`, `{"a":1} {}`, `{`, `{"name":null}`, strings.Repeat(`{"a":`, 50),
	`{"name":"local","environment_configs":{"domain_suffix":".local","cluster_name":"kind","namespace":"serve","ft_redis_url":"","workflow_url":"","security_group":"","subnets":"a,b"}}`,
	`{"namespace":"x","environment_configs":{"subnets":["a"]}}`,
	`{"name":"iris","type":"api","space":"serve","description":"d"}`,
	`{"api_serve_config":{"backend_type":"fastapi","additional_hosts":["h"],"fast_api_config":{"cores":2,"memory":"4","node_capacity_type":"on-demand","min_replicas":1,"max_replicas":2}}}`,
	`{"api_serve_config":{"cores":1,"memory":1,"min_replicas":1,"max_replicas":1}}`,
	`{"workflow_serve_config":{"schedule":"* * * * *","head_node_config":{"cores":1,"memory":1},"worker_node_config":[{"cores_per_pods":1,"memory_per_pods":1,"min_pods":0,"max_pods":1}]}}`,
	`{"serve_name":"iris","version":"v1","github_repo_url":"https://github.com/o/r","branch":"main","file_path":"a.py"}`,
	`{"env":"local","artifact_version":"v1","api_serve_deployment_config":{"deployment_strategy":"rolling","deployment_strategy_config":{"x":[1]},"environment_variables":{"A":1,"B":true,"C":null}}}`,
	`{"env":"local","serve_name":"Iris","artifact_version":"v1","model_uri":"models:/iris/1","storage_strategy":"auto","cores":"2","memory":4.0,"node_capacity":"ondemand","min_replicas":1,"max_replicas":2}`,
	`{"serve_name":"iris","env":"local"}`,
	`{"cores":1e309}`, `{"cores":-1}`, `{"min_replicas":"1.5"}`, "{\"name\":\"\xff\x00\"}",
}

// checkDecoder decodes data into a fresh request, validates it, and checks the error contract: any failure is
// an InvalidArgument naming a field (never a panic or another kind).
func checkDecoder[T any](t *testing.T, data []byte, validate func(*T) error) {
	var req T
	err := httpapi.DecodeBytes(data, &req)
	if err == nil {
		err = validate(&req)
	}
	if err == nil {
		return
	}
	var im *deploy.InvalidModelError
	if errors.As(err, &im) {
		return
	}
	e := apierr.From(err)
	if e.Kind != apierr.InvalidArgument || e.Field == "" || e.Message == "" {
		t.Fatalf("%q: error %v (kind %v, field %q) is not a field InvalidArgument", data, err, e.Kind, e.Field)
	}
}

func seed(f *testing.F, extra ...string) {
	for _, s := range append(commonSeeds, extra...) {
		f.Add([]byte(s))
	}
}

func FuzzCreateEnvironment(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoder(t, data, func(r *domain.CreateEnvironmentRequest) error { _, _, err := r.Validate(); return err })
	})
}

func FuzzUpdateEnvironment(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoder(t, data, func(r *domain.UpdateEnvironmentRequest) error {
			cfg := domain.EnvConfig{ClusterName: "kind", Namespace: "serve"}
			return r.Apply(&cfg)
		})
	})
}

func FuzzCreateServe(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoder(t, data, func(r *domain.CreateServeRequest) error { _, err := r.Validate(); return err })
	})
}

func FuzzServeConfig(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range []string{domain.ServeTypeAPI, domain.ServeTypeWorkflow} {
			checkDecoder(t, data, func(r *domain.ServeConfigRequest) error { _, err := r.Validate(typ); return err })
		}
	})
}

func FuzzCreateArtifact(f *testing.F) {
	seed(f, `{"serve_name":"a","version":"../x"}`, `{"serve_name":"a","version":"v1","branch":"-x"}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoder(t, data, func(r *domain.CreateArtifactRequest) error { _, err := r.Validate(); return err })
	})
}

func FuzzDeploy(f *testing.F) {
	seed(f, `{"env":"local","artifact_version":"v1","api_serve_deployment_config":{"environment_variables":{"1BAD":"x"}}}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoder(t, data, func(r *domain.DeployRequest) error { _, err := r.Validate(); return err })
	})
}

func FuzzDeployModel(f *testing.F) {
	seed(f, `{"env":"local","serve_name":"x","model_uri":"runs:/abc/../m"}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoder(t, data, func(r *domain.DeployModelRequest) error {
			d, err := r.Validate()
			if err != nil {
				return err
			}
			_, err = deploy.ParseModelURI(d.ModelURI)
			return err
		})
	})
}

func FuzzUndeployModel(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoder(t, data, func(r *domain.UndeployModelRequest) error { _, _, err := r.Validate(); return err })
	})
}

func FuzzParseModelURI(f *testing.F) {
	for _, s := range []string{"models:/iris/1", "models:/iris@a", "runs:/r/m", "mlflow-artifacts:/1/r/artifacts/m", "mlflow-artifacts://h/1", "s3://b/k", "gs://b/k", "file:///m", "https://h/m", "x", "s3://%zz/k", "file://h/%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := deploy.ParseModelURI(s)
		if err != nil {
			var im *deploy.InvalidModelError
			if !errors.As(err, &im) {
				t.Fatalf("%q: %v is not an InvalidModelError", s, err)
			}
			return
		}
		if u.Scheme == "" {
			t.Fatalf("%q: parsed without a scheme", s)
		}
	})
}

// FuzzEndpoints posts arbitrary bodies to every body-taking endpoint of a live handler (SQLite): the answer is
// never a 5xx and always an envelope (or the bare one-click reply).
func FuzzEndpoints(f *testing.F) {
	seed(f)
	paths := []struct{ method, path string }{
		{"POST", "/api/v1/environment"}, {"PATCH", "/api/v1/environment/local"}, {"POST", "/api/v1/serve"},
		{"POST", "/api/v1/serve/svc/infra-config/local"}, {"PATCH", "/api/v1/serve/svc/infra-config/local"},
		{"POST", "/api/v1/artifact"}, {"POST", "/api/v1/serve/svc/deploy"}, {"POST", "/api/v1/serve/deploy-model"},
		{"POST", "/api/v1/serve/undeploy-model"},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := dbtest.Open(t, db.SQLite)
		if err := db.Migrate(t.Context(), d, migrations.Component, migrations.FS); err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, d)
		e.must(e.do("POST", "/api/v1/environment", "-", localEnv), http.StatusOK)
		e.must(e.do("POST", "/api/v1/serve", "-", map[string]any{"name": "svc", "type": "api"}), http.StatusCreated)
		for _, p := range paths {
			r := e.do(p.method, p.path, "-", string(data))
			if r.status >= 500 {
				t.Fatalf("%s %s %q: %d %s", p.method, p.path, data, r.status, r.raw)
			}
			if r.body["status"] == nil && r.body["service_url"] == nil {
				t.Fatalf("%s %s %q: not an envelope: %s", p.method, p.path, data, r.raw)
			}
		}
	})
}
