package charts

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden manifests under testdata/")

func readValues(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		chart, release, values, golden string
	}{
		{RayCluster, "id-quick", "quickstart.values.json", "ray-cluster.quickstart.golden.yaml"},
		{RayCluster, "id-gpu", "gpu.values.json", "ray-cluster.gpu.golden.yaml"},
		{RayCluster, "id-multi", "multigroup.values.json", "ray-cluster.multigroup.golden.yaml"},
		{Jupyter, "id-jup-1", "", "darwin-jupyter.default.golden.yaml"},
		{FastAPIServe, "iris", "serve.values.json", "darwin-fastapi-serve.golden.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			var vals map[string]any
			if tc.values != "" {
				vals = readValues(t, tc.values)
			}
			m, err := Render(tc.chart, tc.release, "ray", vals)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			got := Join(m)
			// Every document must be valid YAML with apiVersion and kind.
			for _, doc := range strings.Split(got, "\n---\n") {
				var obj map[string]any
				if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
					t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
				}
				if obj["apiVersion"] == nil || obj["kind"] == nil {
					t.Fatalf("document without apiVersion/kind:\n%s", doc)
				}
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("render differs from %s (run with -update after checking):\n%s", path, got)
			}
		})
	}
}

// rayCluster renders the ray-cluster chart and returns the RayCluster object.
func rayCluster(t *testing.T, vals map[string]any) map[string]any {
	t.Helper()
	m, err := Render(RayCluster, "id-x", "ray", vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(m["ray-cluster/templates/raycluster.yaml"]), &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestRayClusterShape(t *testing.T) {
	t.Parallel()
	obj := rayCluster(t, readValues(t, "multigroup.values.json"))
	spec := obj["spec"].(map[string]any)
	if got := obj["metadata"].(map[string]any)["name"]; got != "id-x-kuberay" {
		t.Errorf("name = %v", got)
	}
	if spec["enableInTreeAutoscaling"] != false {
		t.Errorf("enableInTreeAutoscaling = %v, want false from values", spec["enableInTreeAutoscaling"])
	}
	groups := spec["workerGroupSpecs"].([]any)
	var names []string
	for _, g := range groups {
		gm := g.(map[string]any)
		names = append(names, gm["groupName"].(string))
		labels := gm["template"].(map[string]any)["metadata"].(map[string]any)["labels"].(map[string]any)
		if labels["rayCluster"] != "id-x-kuberay" {
			t.Errorf("group %v: rayCluster label = %v", gm["groupName"], labels["rayCluster"])
		}
	}
	if strings.Join(names, ",") != "worker,wg1,highmem" {
		t.Errorf("groups = %v, want worker,wg1,highmem (wg2 disabled)", names)
	}
	wg1 := groups[1].(map[string]any)
	if wg1["replicas"] != float64(2) || wg1["minReplicas"] != float64(2) || wg1["maxReplicas"] != float64(5) {
		t.Errorf("wg1 replicas = %v/%v/%v", wg1["replicas"], wg1["minReplicas"], wg1["maxReplicas"])
	}
	w := groups[0].(map[string]any)
	if w["maxReplicas"] != float64(3) {
		t.Errorf("worker maxReplicas from string = %v", w["maxReplicas"])
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, chart string
		mutate      func(v map[string]any)
		want        string
	}{
		{"empty image repository", RayCluster, func(v map[string]any) { v["image"] = map[string]any{"repository": ""} }, "repository"},
		{"negative replicas", RayCluster, func(v map[string]any) { v["worker"].(map[string]any)["replicas"] = -1 }, "replicas"},
		{"replicas not a number", RayCluster, func(v map[string]any) { v["worker"].(map[string]any)["maxReplicas"] = "many" }, "maxReplicas"},
		{"min above max", RayCluster, func(v map[string]any) {
			v["worker"].(map[string]any)["minReplicas"] = 5
			v["worker"].(map[string]any)["maxReplicas"] = 2
		}, "worker.minReplicas (5) exceeds worker.maxReplicas (2)"},
		{"env without name", RayCluster, func(v map[string]any) {
			v["head"].(map[string]any)["containerEnv"] = []any{map[string]any{"value": "x"}}
		}, "name"},
		{"nested rayStartParams", RayCluster, func(v map[string]any) {
			v["head"].(map[string]any)["rayStartParams"] = map[string]any{"port": map[string]any{"x": 1}}
		}, "rayStartParams"},
		{"bad memory quantity", RayCluster, func(v map[string]any) {
			v["head"].(map[string]any)["resources"] = map[string]any{"limits": map[string]any{"memory": "lots"}}
		}, "memory"},
		{"label value object", RayCluster, func(v map[string]any) { v["labels"] = map[string]any{"team": map[string]any{}} }, "labels"},
		{"duplicate group name", RayCluster, func(v map[string]any) {
			v["additionalWorkerGroups"] = map[string]any{"wg1": map[string]any{"groupName": "worker", "replicas": 1}}
		}, `worker group name "worker" is used twice`},
		{"bad group name", RayCluster, func(v map[string]any) { v["worker"].(map[string]any)["groupName"] = "Bad_Name" }, "groupName"},
		{"bad remote command id", RayCluster, func(v map[string]any) {
			v["remoteCommand"] = map[string]any{"commands": map[string]any{"head": []any{map[string]any{"execution_id": "../x", "command": "ls"}}}}
		}, "execution_id"},
		{"jupyter bad claim", Jupyter, func(v map[string]any) { v["fsx_claim"] = "Bad Claim" }, "fsx_claim"},
		{"serve hpa min above max", FastAPIServe, func(v map[string]any) {
			v["hpa"] = map[string]any{"enabled": true, "minReplicas": 4, "maxReplicas": 2, "targetCPUUtilizationPercentage": 50}
		}, "hpa.minReplicas (4) exceeds hpa.maxReplicas (2)"},
		{"serve cpu target above 100", FastAPIServe, func(v map[string]any) {
			v["hpa"] = map[string]any{"targetCPUUtilizationPercentage": 150}
		}, "targetCPUUtilizationPercentage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v map[string]any
			switch tc.chart {
			case RayCluster:
				v = readValues(t, "quickstart.values.json")
			case FastAPIServe:
				v = readValues(t, "serve.values.json")
			default:
				v = map[string]any{}
			}
			tc.mutate(v)
			_, err := Render(tc.chart, "rel", "ray", v)
			var ve *ValuesError
			if !errors.As(err, &ve) {
				t.Fatalf("Render error = %v, want a *ValuesError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestChartsLoad(t *testing.T) {
	t.Parallel()
	for _, n := range Names() {
		c, err := Load(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if c.Name() != n || c.Schema == nil || len(c.Templates) == 0 {
			t.Errorf("%s: name %q, schema %v, %d templates", n, c.Name(), c.Schema != nil, len(c.Templates))
		}
	}
	if _, err := Load("nope"); err == nil {
		t.Error("Load(nope) succeeded")
	}
}
