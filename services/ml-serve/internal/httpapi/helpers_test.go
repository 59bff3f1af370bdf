package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/ml-serve/internal/deploy"
	"github.com/darwinml/darwin/services/ml-serve/internal/httpapi"
	"github.com/darwinml/darwin/services/ml-serve/internal/store"
	"github.com/darwinml/darwin/services/ml-serve/migrations"
)

var migs = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

const (
	adminToken = "admin-token-default-change-in-production"
	otherToken = "second-user-token"
)

// fakeResolver resolves every syntactically valid URI; sizes come from sizes (unknown otherwise) and URIs in
// missing are reported as not existing.
type fakeResolver struct {
	sizes   map[string]int64
	missing map[string]bool
	err     error
}

func (f *fakeResolver) Resolve(ctx context.Context, uri string) (deploy.ModelInfo, error) {
	info, err := deploy.SyntaxResolver{}.Resolve(ctx, uri)
	if err != nil {
		return info, err
	}
	if f.err != nil {
		return info, f.err
	}
	if f.missing[uri] {
		return info, &deploy.InvalidModelError{Reason: "model not found", Hint: "register it"}
	}
	if n, ok := f.sizes[uri]; ok {
		info.SizeBytes, info.SizeKnown = n, true
	}
	return info, nil
}

type env struct {
	t        *testing.T
	srv      *httptest.Server
	st       *store.Store
	d        *db.DB
	deployer *deploy.Recorder
	resolver *fakeResolver
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	st := store.New(d, clock.NewFake(time.UnixMilli(1_700_000_000_000)))
	if _, err := st.UpsertUserToken(t.Context(), "admin", adminToken); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpsertUserToken(t.Context(), "Jane.Doe@example.com", otherToken); err != nil {
		t.Fatal(err)
	}
	rec := deploy.NewRecorder()
	res := &fakeResolver{sizes: map[string]int64{}, missing: map[string]bool{}}
	h := httpapi.New(st, httpapi.Options{
		Deployer: rec, Resolver: res, PublicURL: "http://localhost:8080/", ArtifactBuilderPublicURL: "http://localhost/artifact-builder",
		DefaultRuntime: "docker.io/darwin/serve-md-runtime:latest", MLflowTrackingURI: "http://mlflow.local",
		ModelCachePVC: "ml-model-cache", ModelCachePath: "/model-cache",
	})
	r := chi.NewRouter()
	r.Route("/ml-serve", h.Routes)
	h.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, st: st, d: d, deployer: rec, resolver: res}
}

type resp struct {
	status int
	raw    []byte
	body   map[string]any
}

// do sends a request with the admin token (token "" sends none; "-" sends the admin token).
func (e *env) do(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token == "-" {
		token = adminToken
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (e *env) must(r resp, status int) resp {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// get walks a dotted path ("data.serve.name", "data.data.0.version") in a decoded body.
func get(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func (e *env) count(table, where string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.d.QueryRow(e.t.Context(), "SELECT COUNT(*) FROM "+table+" WHERE "+where, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

var localEnv = map[string]any{"name": "local", "environment_configs": map[string]any{
	"domain_suffix": ".local", "cluster_name": "kind", "namespace": "serve", "security_group": "",
	"ft_redis_url": "redis://localhost:6379", "workflow_url": "http://workflow-service:8080",
}}

func apiConfig(cores, memory, minR, maxR int) map[string]any {
	return map[string]any{"api_serve_config": map[string]any{"backend_type": "fastapi", "additional_hosts": []string{},
		"fast_api_config": map[string]any{"cores": cores, "memory": memory, "node_capacity_type": "spot", "min_replicas": minR, "max_replicas": maxR}}}
}
