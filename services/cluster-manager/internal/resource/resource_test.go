package resource_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
	"github.com/darwinml/darwin/services/cluster-manager/internal/charts"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource/resourcetest"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	in := map[string]any{
		"image":       "registry.local:5000/team/runtime:1.4",
		"env":         map[string]any{"A": "1", "B": "env"},
		"envs":        map[string]any{"B": "envs"},
		"replicas":    map[string]any{"min": 2.0, "max": 5.0},
		"port":        9000.0,
		"healthcheck": "/health",
		"resources":   map[string]any{"cores": 2.5, "memory_gb": 4.0},
		"model":       map[string]any{"uri": "models:/iris/1"},
		"other":       "kept",
	}
	got := resource.Normalize(in)
	want := map[string]any{
		"image":         map[string]any{"repository": "registry.local:5000/team/runtime", "tag": "1.4"},
		"envs":          map[string]any{"A": "1", "B": "envs", "MLFLOW_MODEL_URI": "models:/iris/1"},
		"hpa":           map[string]any{"minReplicas": 2.0, "maxReplicas": 5.0},
		"replicaCount":  2.0,
		"containerPort": 9000.0,
		"healthcheck":   map[string]any{"path": "/health"},
		"resources": map[string]any{"limits": map[string]any{"cpu": "2.5", "memory": "4Gi"},
			"requests": map[string]any{"cpu": "2.5", "memory": "4Gi"}},
		"model": map[string]any{"uri": "models:/iris/1"},
		"other": "kept",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Normalize:\n got %v\nwant %v", got, want)
	}
	if _, changed := in["hpa"]; changed {
		t.Fatal("Normalize modified its input")
	}
	if img := resource.Normalize(map[string]any{"image": "localhost:5000/runtime"})["image"]; !reflect.DeepEqual(img, map[string]any{"repository": "localhost:5000/runtime", "tag": ""}) {
		t.Fatalf("image without tag: %v", img)
	}
}

func TestDeepMerge(t *testing.T) {
	t.Parallel()
	base := map[string]any{"a": map[string]any{"x": 1.0, "y": 2.0}, "b": "keep", "c": []any{1.0}}
	got := resource.DeepMerge(base, map[string]any{"a": map[string]any{"y": 3.0, "z": 4.0}, "b": nil, "c": []any{2.0}})
	want := map[string]any{"a": map[string]any{"x": 1.0, "y": 3.0, "z": 4.0}, "c": []any{2.0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if base["b"] != "keep" || base["a"].(map[string]any)["y"] != 1.0+1.0 {
		t.Fatalf("base modified: %v", base)
	}
}

func TestServeSpecOf(t *testing.T) {
	t.Parallel()
	merged, err := resource.MergeDefaults(charts.FastAPIServe, map[string]any{"name": "iris", "min_replicas": 3.0, "max_replicas": 4.0,
		"envs": map[string]any{"Z": 1.5, "A": true, "MLFLOW_MODEL_URI": "models:/iris/1"}})
	if err != nil {
		t.Fatal(err)
	}
	s := resource.ServeSpecOf("prod-iris", merged)
	want := []driver.EnvVar{{Name: "A", Value: "true"}, {Name: "MLFLOW_MODEL_URI", Value: "models:/iris/1"}, {Name: "Z", Value: "1.5"}}
	if s.Name != "iris" || s.Replicas != 3 || s.HealthPath != "/healthcheck" || !reflect.DeepEqual(s.Env, want) {
		t.Fatalf("spec %+v", s)
	}
	// Without the HPA, replicaCount counts; the local driver caps replicas.
	off := resource.DeepMerge(merged, map[string]any{"hpa": map[string]any{"enabled": false}, "replicaCount": 100.0, "name": ""})
	if s := resource.ServeSpecOf("prod-iris", off); s.Replicas != resource.MaxLocalReplicas || s.Name != "prod-iris" {
		t.Fatalf("spec without hpa %+v", s)
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"iris", "local-iris", "a1", "a"} {
		if err := resource.ValidateResourceID("resource_id", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Iris", "iris_1", "-iris", "iris-", "a/b", "a.b", string(make([]byte, 54))} {
		if err := resource.ValidateResourceID("resource_id", bad); apierr.KindOf(err) != apierr.InvalidArgument {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, bad := range []string{"", "../x", "a/b", ".", "-a"} {
		if err := resource.ValidateArtifactID(bad); apierr.KindOf(err) != apierr.InvalidArgument {
			t.Errorf("artifact %q accepted", bad)
		}
	}
}

func TestServiceStoresAndStarts(t *testing.T) {
	t.Parallel()
	store, err := artifact.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runner := resourcetest.NewRunner()
	svc := resource.New(store, runner, clock.Real())
	d, url, err := svc.Create(t.Context(), "local-iris-1", charts.FastAPIServe, "", map[string]any{"replicas": map[string]any{"min": 2.0}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != "1.0.0" || url != svc.URL(charts.FastAPIServe, "local-iris-1") {
		t.Fatalf("create: %+v %s", d, url)
	}
	if _, err := svc.UpdateValues(t.Context(), "local-iris-1", charts.FastAPIServe, map[string]any{"hpa": map[string]any{"maxReplicas": 0.0}}); apierr.KindOf(err) != apierr.InvalidArgument {
		t.Fatalf("bad patch: %v", err)
	}
	// The rejected patch changed nothing.
	again, err := svc.Load(t.Context(), charts.FastAPIServe, "local-iris-1")
	if err != nil || again.Values["hpa"].(map[string]any)["maxReplicas"] != 3.0 {
		t.Fatalf("after rejected patch: %v %v", again.Values, err)
	}
	if err := svc.Start(t.Context(), "local-iris", "local-iris-1", charts.FastAPIServe); err != nil {
		t.Fatal(err)
	}
	if doc, ok := runner.Running("local-iris"); !ok || doc.Values["hpa"].(map[string]any)["minReplicas"] != 2.0 {
		t.Fatalf("runner got %+v", doc)
	}
	if err := svc.Start(t.Context(), "local-iris", "missing", charts.FastAPIServe); apierr.KindOf(err) != apierr.NotFound {
		t.Fatalf("start of a missing artifact: %v", err)
	}
}

func FuzzMergeValues(f *testing.F) {
	for _, s := range []string{
		`{"replicas":{"min":2,"max":3},"image":"r:1","env":{"A":"b"}}`,
		`{"hpa":{"minReplicas":5,"maxReplicas":1}}`, `{"image":{"repository":""}}`, `{"resources":{"cores":"x"}}`,
		`{"ingress":{"path":"/a/b/"}}`, `{"healthcheck":5}`, `{"name":"Bad Name"}`, `{"a":1e308}`, `{"a":1e999}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := resource.DecodeValues(data)
		if err != nil {
			if apierr.KindOf(err) != apierr.InvalidArgument {
				t.Fatalf("decode error kind %v: %v", apierr.KindOf(err), err)
			}
			return
		}
		merged, err := resource.MergeDefaults(charts.FastAPIServe, vals)
		if err != nil {
			if apierr.KindOf(err) != apierr.InvalidArgument {
				t.Fatalf("merge error kind %v: %v", apierr.KindOf(err), err)
			}
			return
		}
		if _, err := json.Marshal(merged); err != nil {
			t.Fatalf("accepted values cannot be stored: %v", err)
		}
		s := resource.ServeSpecOf("x", merged)
		if s.Replicas < 1 || s.Replicas > resource.MaxLocalReplicas {
			t.Fatalf("replicas %d", s.Replicas)
		}
	})
}

// TestMLServeValues: the values document ml-serve builds (services/ml-serve internal/httpapi/deploy.go) is
// accepted and read the way it means it.
func TestMLServeValues(t *testing.T) {
	t.Parallel()
	var vals map[string]any
	doc := `{"name":"iris","environment":"local","image":"localhost:5000/serve-md-runtime:latest","backend_type":"fastapi",
		"port":8000,"healthcheck":"/healthcheck","resources":{"cores":4,"memory_gb":8},"replicas":{"min":2,"max":3},
		"node_capacity_type":"spot","env":{"MLFLOW_MODEL_URI":"models:/iris/1","MODEL_VERSION":"1","MLFLOW_TRACKING_URI":"http://localhost:8080/mlflow-lib"},
		"ingress":{"path":"/iris/","domain_suffix":"","additional_hosts":[]},
		"cluster":{"name":"kind-0","namespace":"serve","security_group":"","subnets":""},
		"deployment_strategy":"","deployment_strategy_config":{"storage_strategy":"emptydir"},
		"model":{"uri":"models:/iris/1","storage_strategy":"emptydir","pvc_name":"ml-model-cache","cache_path":"/model-cache"}}`
	vals, err := resource.DecodeValues([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := resource.MergeDefaults(charts.FastAPIServe, vals)
	if err != nil {
		t.Fatal(err)
	}
	s := resource.ServeSpecOf("iris", merged)
	env := map[string]string{}
	for _, e := range s.Env {
		env[e.Name] = e.Value
	}
	if s.Replicas != 2 || s.Name != "iris" || env["MLFLOW_MODEL_URI"] != "models:/iris/1" || env["MLFLOW_TRACKING_URI"] == "" || env["MODEL_VERSION"] != "1" {
		t.Fatalf("spec %+v", s)
	}
	lim := merged["resources"].(map[string]any)["limits"].(map[string]any)
	if lim["cpu"] != "4" || lim["memory"] != "8Gi" || merged["containerPort"] != int64(8000) {
		t.Fatalf("resources %v port %v", lim, merged["containerPort"])
	}
}
