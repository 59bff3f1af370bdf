package values_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/values"
)

// fullInput exercises every handler: GPU head, a spot GPU group and an on-demand group, env, zone, labels,
// remote commands and a long-running cluster.
func fullInput() values.Input {
	return values.Input{
		ClusterID: "id-abcdefghijk23456", ClusterName: "full", User: "ana@example.com", Env: "darwin-local",
		CloudEnv: "kind-0", Namespace: "ray", Image: "registry.example.com:5000/ds/ray:2.53.0", TerminateAfterMinutes: -1,
		Labels: map[string]string{"team": "ds"},
		Head:   values.Node{Cores: 4, MemoryGB: 16, CapacityType: "ondemand", GPU: &values.GPU{Name: "NVIDIA T4", Count: 1}},
		Workers: []values.Worker{
			{Node: values.Node{Cores: 12, MemoryGB: 85, CapacityType: "spot", GPU: &values.GPU{Name: "NVIDIA A10", Count: 2}}, MinPods: 1, MaxPods: 3},
			{Node: values.Node{Cores: 2, MemoryGB: 4, CapacityType: "on-demand"}, MinPods: 0, MaxPods: 5},
		},
		EnvironmentVariables: "A=1\nB = two",
		InitScript:           []string{"echo one", "", "pip install x"},
		ServiceAccountName:   "darwin-ds-role",
		AvailabilityZone:     "us-east-1a",
		ObjectStoreMemoryPct: 25,
		CPUsOnHead:           1,
		SparkConfig:          map[string]string{"spark.executor.cores": "2"},
		RemoteCommands: values.Commands{
			Head:   []values.Command{{ExecutionID: "e1", Command: "pip install y", TimeoutSeconds: 300}},
			Worker: []values.Command{{ExecutionID: "e1", Command: "pip install y", TimeoutSeconds: 300}},
		},
		StatusReportAPI:      "http://compute/compute/cluster/command/pod/status",
		StatusReportInterval: 7,
	}
}

// docBefore runs the chain up to (not including) the handler at index i.
func docBefore(t *testing.T, in values.Input, i int) map[string]any {
	t.Helper()
	doc, err := values.Base()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range values.Chain()[:i] {
		if err := h.Apply(doc, in); err != nil {
			t.Fatalf("%T: %v", h, err)
		}
	}
	return doc
}

// roundTrip copies a document through JSON so that before/after comparisons see no shared maps.
func roundTrip(t *testing.T, doc map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// changed lists the paths whose values differ between a and b (lists are compared whole).
func changed(a, b map[string]any, prefix []string, out *[][]string) {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	for k := range keys {
		p := append(slices.Clone(prefix), k)
		am, aok := a[k].(map[string]any)
		bm, bok := b[k].(map[string]any)
		if aok && bok {
			changed(am, bm, p, out)
			continue
		}
		if !reflect.DeepEqual(a[k], b[k]) {
			*out = append(*out, p)
		}
	}
}

// owned reports whether path lies under one of the patterns ("*" matches any one key).
func owned(path []string, patterns [][]string) bool {
	for _, pat := range patterns {
		if len(path) < len(pat) {
			continue
		}
		ok := true
		for i, s := range pat {
			if s != "*" && s != path[i] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// onPods returns a pattern for the head, the worker group and every additional group.
func onPods(suffix ...string) [][]string {
	return [][]string{append([]string{"head"}, suffix...), append([]string{"worker"}, suffix...), append([]string{"additionalWorkerGroups", "*"}, suffix...)}
}

func pats(ps ...[]string) [][]string { return ps }

func get(doc map[string]any, path ...string) any {
	var v any = doc
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func TestHandlersOwnTheirKeys(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, doc map[string]any)
	want := func(path string, v any) check {
		return func(t *testing.T, doc map[string]any) {
			t.Helper()
			got := get(doc, strings.Split(path, "|")...)
			if fmt.Sprint(got) != fmt.Sprint(v) {
				t.Errorf("%s = %v, want %v", path, got, v)
			}
		}
	}
	cases := []struct {
		handler values.Handler
		owns    [][]string
		checks  []check
	}{
		{values.HeadNode{}, slices.Concat(pats([]string{"head", "rayStartParams"}, []string{"head", "resources", "limits", values.ResourceGPU},
			[]string{"head", "nodeSelector", values.LabelGPUType}, []string{"head", "tolerations"})),
			[]check{want("head|rayStartParams|num-cpus", "1"), want("head|rayStartParams|object-store-memory", "4294967296"),
				want("head|rayStartParams|num-gpus", "0"), want("head|resources|limits|nvidia.com/gpu", "1"),
				want("head|nodeSelector|"+values.LabelGPUType, "nvidia-t4"),
				want("head|tolerations", "[map[effect:NoSchedule key:nvidia.com/gpu operator:Exists]]")}},
		{values.ServiceAccount{}, pats([]string{"head", "serviceAccountName"}, []string{"worker", "serviceAccountName"}),
			[]check{want("head|serviceAccountName", "darwin-ds-role"), want("worker|serviceAccountName", "darwin-ds-role")}},
		{values.WorkerGroups{}, pats([]string{"worker"}, []string{"additionalWorkerGroups"}),
			[]check{want("worker|groupName", "worker"), want("worker|disabled", false), want("worker|replicas", 1), want("worker|minReplicas", 1),
				want("worker|maxReplicas", 3), want("worker|rayStartParams|num-gpus", "2"), want("worker|rayStartParams|num-cpus", "12"),
				want("worker|resources|limits|nvidia.com/gpu", "2"), want("worker|nodeSelector|"+values.LabelGPUType, "nvidia-a10"),
				want("additionalWorkerGroups|wg1|groupName", "wg1"), want("additionalWorkerGroups|wg1|disabled", false),
				want("additionalWorkerGroups|wg1|replicas", 0), want("additionalWorkerGroups|wg1|maxReplicas", 5),
				want("additionalWorkerGroups|wg1|rayStartParams|object-store-memory", "1073741824"),
				want("additionalWorkerGroups|wg1|serviceAccountName", "darwin-ds-role"),
				want("additionalWorkerGroups|wg1|rayStartParams|num-gpus", nil)}},
		{values.Image{}, pats([]string{"image", "repository"}, []string{"image", "tag"}),
			[]check{want("image|repository", "registry.example.com:5000/ds/ray"), want("image|tag", "2.53.0")}},
		{values.Resources{}, slices.Concat(onPods("resources", "limits", "cpu"), onPods("resources", "limits", "memory"),
			onPods("resources", "requests", "cpu"), onPods("resources", "requests", "memory")),
			[]check{want("head|resources|limits|memory", "16G"), want("head|resources|requests|cpu", "4"),
				want("head|resources|limits|nvidia.com/gpu", "1"), want("worker|resources|limits|cpu", "12"),
				want("additionalWorkerGroups|wg1|resources|requests|memory", "4G")}},
		{values.Env{}, onPods("containerEnv"),
			[]check{want("head|containerEnv", "[map[name:A value:1] map[name:B value:two]]"),
				want("additionalWorkerGroups|wg1|containerEnv", "[map[name:A value:1] map[name:B value:two]]")}},
		{values.Additional{}, pats([]string{"env"}, []string{"user"}, []string{"email"}, []string{"cluster_name"}, []string{"cluster_id"},
			[]string{"terminate_after_minutes"}, []string{"kube_cluster_key"}, []string{"cloud_env"}, []string{"namespace"},
			[]string{"cluster_type"}, []string{"commands"}, []string{"sparkConfig"}),
			[]check{want("user", "ana"), want("email", "ana@example.com"), want("kube_cluster_key", "kind-0"), want("cluster_type", "all_purpose_cluster"),
				want("commands", "[echo one pip install x]"), want("terminate_after_minutes", -1), want("env", "darwin-local")}},
		{values.Capacity{}, slices.Concat(onPods("labels", values.LabelCapacityType), onPods("nodeSelector", values.LabelCapacityType), onPods("tolerations")),
			[]check{want("head|labels|node_capacity_type", "ondemand"), want("head|nodeSelector|node_capacity_type", nil),
				want("worker|labels|node_capacity_type", "spot"), want("worker|nodeSelector|node_capacity_type", "spot"),
				want("worker|tolerations", "[map[effect:NoSchedule key:nvidia.com/gpu operator:Exists] map[effect:NoSchedule key:node_capacity_type operator:Equal value:spot]]"),
				want("additionalWorkerGroups|wg1|labels|node_capacity_type", "ondemand"), want("additionalWorkerGroups|wg1|tolerations", "[]")}},
		{values.Zone{}, onPods("nodeSelector", values.LabelZone),
			[]check{want("head|nodeSelector|"+values.LabelZone, "us-east-1a"), want("additionalWorkerGroups|wg1|nodeSelector|"+values.LabelZone, "us-east-1a")}},
		{values.Labels{}, slices.Concat(pats([]string{"labels"}), onPods("labels")),
			[]check{want("labels", "map[darwin_resource:long-running-cluster team:ds]"),
				want("worker|labels", "map[darwin_resource:long-running-cluster node_capacity_type:spot team:ds]")}},
		{values.RemoteCommands{}, pats([]string{"remoteCommand"}),
			[]check{want("remoteCommand|statusReportApi", "http://compute/compute/cluster/command/pod/status"), want("remoteCommand|statusReportInterval", 7),
				want("remoteCommand|commands|head", "[map[command:pip install y execution_id:e1 timeout:300]]")}},
		{values.Ingress{}, pats([]string{"ingress", "paths"}),
			[]check{want("ingress|paths|dashboard", "map[path:/kind-0/id-abcdefghijk23456-dashboard port:8265 serviceName:id-abcdefghijk23456-dashboard]"),
				want("ingress|paths|jupyter|port", 8888), want("ingress|paths|sparkui|port", 4040), want("ingress|paths|metrics|port", 8080),
				want("ingress|paths|vscode|path", "/kind-0/id-abcdefghijk23456-vscode")}},
	}
	chain := values.Chain()
	if len(chain) != len(cases) {
		t.Fatalf("chain has %d handlers, the test knows %d", len(chain), len(cases))
	}
	for i, tc := range cases {
		if reflect.TypeOf(chain[i]) != reflect.TypeOf(tc.handler) {
			t.Fatalf("chain[%d] is %T, want %T (order: head node → service account → worker groups → image → resources → env → "+
				"additional → capacity → zone → labels → remote commands → ingress)", i, chain[i], tc.handler)
		}
		t.Run(fmt.Sprintf("%T", tc.handler), func(t *testing.T) {
			t.Parallel()
			in := fullInput()
			doc := docBefore(t, in, i)
			before := roundTrip(t, doc)
			if err := tc.handler.Apply(doc, in); err != nil {
				t.Fatal(err)
			}
			after := roundTrip(t, doc)
			var diff [][]string
			changed(before, after, nil, &diff)
			if len(diff) == 0 {
				t.Fatal("handler changed nothing")
			}
			for _, p := range diff {
				if !owned(p, tc.owns) {
					t.Errorf("changed %s, which it does not own", strings.Join(p, "."))
				}
			}
			for _, c := range tc.checks {
				c(t, after)
			}
		})
	}
}

func TestBuildWithoutWorkersKeepsWorkerDisabled(t *testing.T) {
	t.Parallel()
	in := fullInput()
	in.Workers = nil
	doc, err := values.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if get(doc, "worker", "disabled") != true || len(get(doc, "additionalWorkerGroups").(map[string]any)) != 0 {
		t.Fatalf("worker %v, additional %v", get(doc, "worker"), get(doc, "additionalWorkerGroups"))
	}
	if get(doc, "head", "containerEnv") == nil || get(doc, "head", "nodeSelector", values.LabelZone) != "us-east-1a" {
		t.Fatalf("head not filled: %v", get(doc, "head"))
	}
}

func TestBuildReturnsIndependentDocuments(t *testing.T) {
	t.Parallel()
	a, err := values.Build(fullInput())
	if err != nil {
		t.Fatal(err)
	}
	get(a, "head", "rayStartParams").(map[string]any)["port"] = "1"
	in := fullInput()
	in.Workers = in.Workers[:1]
	b, err := values.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if get(b, "head", "rayStartParams", "port") != "6379" || len(get(b, "additionalWorkerGroups").(map[string]any)) != 0 {
		t.Fatalf("documents share state: %v", get(b, "head", "rayStartParams"))
	}
}

func TestBuildErrorsNameTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, field string
		edit        func(in *values.Input)
	}{
		{"env line without =", "advance_config.environment_variables", func(in *values.Input) { in.EnvironmentVariables = "A=1\nJUSTAKEY" }},
		{"env bad name", "advance_config.environment_variables", func(in *values.Input) { in.EnvironmentVariables = "1A=x" }},
		{"no image", "runtime", func(in *values.Input) { in.Image = " " }},
		{"cpus on head above cores", "advance_config.ray_params.cpus_on_head", func(in *values.Input) { in.CPUsOnHead = 5 }},
		{"object store above 100", "advance_config.ray_params.object_store_memory", func(in *values.Input) { in.ObjectStoreMemoryPct = 150 }},
		{"head without cores", "head_node_config.cores", func(in *values.Input) { in.Head.Cores, in.CPUsOnHead = 0, 0 }},
		{"worker without memory", "worker_node_configs[1].memory", func(in *values.Input) { in.Workers[1].MemoryGB = 0 }},
		{"max below min", "worker_node_configs[1].max_pods", func(in *values.Input) { in.Workers[1].MinPods, in.Workers[1].MaxPods = 4, 2 }},
		{"negative min", "worker_node_configs[0].min_pods", func(in *values.Input) { in.Workers[0].MinPods = -1 }},
		{"gpu count", "worker_node_configs[0].gpu_pod.gpu_count", func(in *values.Input) { in.Workers[0].GPU.Count = 0 }},
		{"gpu name", "head_node_config.gpu_pod.name", func(in *values.Input) { in.Head.GPU.Name = "!!!" }},
		{"capacity", "worker_node_configs[1].node_capacity_type", func(in *values.Input) { in.Workers[1].CapacityType = "preemptible" }},
		{"zone", "advance_config.availability_zone.id", func(in *values.Input) { in.AvailabilityZone = "us east" }},
		{"label", "labels.team", func(in *values.Input) { in.Labels = map[string]string{"team": "data science"} }},
		{"service account", "advance_config.instance_role.service_account_name", func(in *values.Input) { in.ServiceAccountName = "Bad_Role" }},
		{"init script NUL", "advance_config.init_script[1]", func(in *values.Input) { in.InitScript = []string{"ok", "bad\x00"} }},
		{"remote execution id", "remote_commands.head[0].execution_id", func(in *values.Input) { in.RemoteCommands.Head[0].ExecutionID = "" }},
		{"remote command", "remote_commands.worker[0].command", func(in *values.Input) { in.RemoteCommands.Worker[0].Command = " " }},
		{"cluster id", "cluster_id", func(in *values.Input) { in.ClusterID = "ID_Upper" }},
		{"cloud env", "cloud_env", func(in *values.Input) { in.CloudEnv = "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := fullInput()
			tc.edit(&in)
			_, err := values.Build(in)
			e := apierr.From(err)
			if err == nil || e.Kind != apierr.InvalidArgument || e.Field != tc.field || !strings.Contains(e.Message, tc.field) {
				t.Fatalf("want InvalidArgument naming %q, got %v (field %q)", tc.field, err, e.Field)
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	got, err := values.ParseEnv("f", "# comment\r\nA=1\r\n\n  B = x=y \nC=")
	want := []values.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "x=y"}, {Name: "C", Value: ""}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v %v", got, err)
	}
	_, err = values.ParseEnv("advance_config.env_variables", "A=1\n=2")
	if e := apierr.From(err); e.Field != "advance_config.env_variables" || !strings.Contains(e.Message, "line 2") {
		t.Fatalf("bad line error: %v", err)
	}
}

func TestParseImageAndObjectStore(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]values.ImageRef{
		"localhost:5000/ray:2.37.0": {Repository: "localhost:5000/ray", Tag: "2.37.0"},
		"localhost:5000/ray":        {Repository: "localhost:5000/ray", Tag: "latest"},
		"rayproject/ray:2.9.0-gpu":  {Repository: "rayproject/ray", Tag: "2.9.0-gpu"},
		"ray":                       {Repository: "ray", Tag: "latest"},
	} {
		if got := values.ParseImage(in); got != want {
			t.Errorf("ParseImage(%q) = %+v, want %+v", in, got, want)
		}
	}
	if got := values.ObjectStoreBytes(8, 0); got != 2<<30 {
		t.Errorf("default 25%% of 8G = %d", got)
	}
	if got := values.ObjectStoreBytes(4, 50); got != 2<<30 {
		t.Errorf("50%% of 4G = %d", got)
	}
}

func TestNormalizeCapacity(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "ondemand", "OnDemand": "ondemand", "on-demand": "ondemand", "on_demand": "ondemand", "SPOT": "spot", "preemptible": ""} {
		got, ok := values.NormalizeCapacity(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeCapacity(%q) = %q %v", in, got, ok)
		}
	}
}
