package driver_test

import (
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

const fullValues = `{
  "cluster_id": "id-1", "cluster_name": "my-first-cluster", "user": "user", "email": "user@example.com",
  "terminate_after_minutes": 30, "cluster_type": "all_purpose_cluster",
  "image": {"repository": "localhost:5000/ray", "tag": "2.37.0"},
  "head": {"rayStartParams": {"num-cpus": "0"}, "resources": {"limits": {"cpu": "4", "memory": "8G"}},
           "containerEnv": [{"name": "K", "value": "V"}, {"name": "N", "value": 5}]},
  "worker": {"groupName": "worker", "replicas": 1, "minReplicas": 1, "maxReplicas": 2,
             "resources": {"limits": {"cpu": "500m", "memory": "4Gi"}}, "containerEnv": []},
  "additionalWorkerGroups": {
    "wg10": {"disabled": false, "replicas": "2", "minReplicas": 2, "maxReplicas": 3},
    "wg2": {"disabled": "false", "minReplicas": 1},
    "wg3": {"disabled": true, "replicas": 9}
  },
  "commands": ["echo init line 1", "", "pip install x"],
  "remoteCommand": {"commands": {"head": [{"execution_id": "e-1", "command": "ls"}], "worker": []}}
}`

func TestParseValuesFull(t *testing.T) {
	t.Parallel()
	spec, err := driver.ParseValues([]byte(fullValues))
	if err != nil {
		t.Fatal(err)
	}
	if spec.ClusterID != "id-1" || spec.ClusterName != "my-first-cluster" {
		t.Errorf("ids %+v", spec)
	}
	if spec.Head.CPU != 4 || spec.Head.Memory != 8e9 || len(spec.Head.Env) != 2 || spec.Head.Env[1] != (driver.EnvVar{Name: "N", Value: "5"}) {
		t.Errorf("head %+v", spec.Head)
	}
	want := []struct {
		name     string
		replicas int
	}{{"worker", 1}, {"wg2", 1}, {"wg10", 2}}
	if len(spec.WorkerGroups) != len(want) {
		t.Fatalf("groups %+v", spec.WorkerGroups)
	}
	for i, w := range want {
		if g := spec.WorkerGroups[i]; g.Name != w.name || g.Replicas != w.replicas {
			t.Errorf("group %d = %s/%d, want %s/%d", i, g.Name, g.Replicas, w.name, w.replicas)
		}
	}
	if g := spec.WorkerGroups[0]; g.CPU != 0.5 || g.Memory != 4<<30 {
		t.Errorf("worker resources %+v", g)
	}
	if len(spec.InitCommands) != 2 || spec.InitCommands[1] != "pip install x" {
		t.Errorf("init %q", spec.InitCommands)
	}
	if len(spec.RemoteCommands.Head) != 1 || spec.RemoteCommands.Head[0].ExecutionID != "e-1" {
		t.Errorf("remote %+v", spec.RemoteCommands)
	}
}

func TestParseValuesReplicas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want int
	}{
		{"min only", `{"worker":{"minReplicas":3}}`, 3},
		{"replicas below min", `{"worker":{"replicas":1,"minReplicas":2}}`, 2},
		{"replicas above max", `{"worker":{"replicas":5,"maxReplicas":2}}`, 2},
		{"float replicas", `{"worker":{"replicas":2.0}}`, 2},
		{"none", `{"worker":{}}`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := driver.ParseValues([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if spec.WorkerGroups[0].Replicas != tc.want {
				t.Errorf("replicas %d, want %d", spec.WorkerGroups[0].Replicas, tc.want)
			}
		})
	}
	spec, err := driver.ParseValues([]byte(`{"worker":{"disabled":true,"replicas":2}}`))
	if err != nil || len(spec.WorkerGroups) != 0 {
		t.Errorf("disabled worker group: %+v %v", spec.WorkerGroups, err)
	}
	spec, err = driver.ParseValues([]byte(`{"commands":"a\nb"}`))
	if err != nil || len(spec.InitCommands) != 2 {
		t.Errorf("commands as a string: %q %v", spec.InitCommands, err)
	}
}

func TestParseValuesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		doc   string
		field string
	}{
		{"empty", ``, "values"},
		{"array", `[1]`, "values"},
		{"syntax", `{"head":`, "values"},
		{"replicas text", `{"worker":{"replicas":"many"}}`, "values"},
		{"negative replicas", `{"worker":{"replicas":-2}}`, "worker.replicas"},
		{"min above max", `{"worker":{"minReplicas":3,"maxReplicas":1}}`, "worker.minReplicas"},
		{"too many", `{"worker":{"replicas":1000}}`, "worker.replicas"},
		{"bad env name", `{"head":{"containerEnv":[{"name":"1X","value":"v"}]}}`, "head.containerEnv[0].name"},
		{"env object value", `{"worker":{"containerEnv":[{"name":"X","value":{"a":1}}]}}`, "worker.containerEnv[0].value"},
		{"bad cpu", `{"head":{"resources":{"limits":{"cpu":"lots"}}}}`, "head.resources.limits.cpu"},
		{"bad memory", `{"head":{"resources":{"limits":{"memory":"8X"}}}}`, "head.resources.limits.memory"},
		{"bad group name", `{"additionalWorkerGroups":{"wg1":{"groupName":"Bad_Name"}}}`, "additionalWorkerGroups.wg1.groupName"},
		{"duplicate group", `{"worker":{},"additionalWorkerGroups":{"wg1":{"groupName":"worker"}}}`, "additionalWorkerGroups.wg1.groupName"},
		{"remote without id", `{"remoteCommand":{"commands":{"head":[{"command":"ls"}]}}}`, "remoteCommand.commands.head[0].execution_id"},
		{"remote without command", `{"remoteCommand":{"commands":{"worker":[{"execution_id":"e"}]}}}`, "remoteCommand.commands.worker[0].command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := driver.ParseValues([]byte(tc.doc))
			e := apierr.From(err)
			if err == nil || e.Kind != apierr.InvalidArgument || e.Field != tc.field {
				t.Fatalf("got %v (field %q), want InvalidArgument on %q", err, e.Field, tc.field)
			}
		})
	}
}

func TestQuantities(t *testing.T) {
	t.Parallel()
	cpus := map[string]float64{"2": 2, "0.5": 0.5, "250m": 0.25, "": 0}
	for in, want := range cpus {
		if got, err := driver.ParseCPU(in); err != nil || got != want {
			t.Errorf("ParseCPU(%q) = %v %v", in, got, err)
		}
	}
	mems := map[string]int64{"8G": 8e9, "4Gi": 4 << 30, "512Mi": 512 << 20, "1024": 1024, "1.5G": 15e8}
	for in, want := range mems {
		if got, err := driver.ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"-1", "x", "1Q"} {
		if _, err := driver.ParseMemory(bad); err == nil {
			t.Errorf("ParseMemory(%q) accepted", bad)
		}
	}
}

func FuzzParseValues(f *testing.F) {
	for _, s := range []string{fullValues, `{}`, `{"worker":{"replicas":"3"}}`, `{"commands":"a"}`, `null`, `{"head":{"containerEnv":[{}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := driver.ParseValues(data)
		if err != nil {
			if apierr.KindOf(err) != apierr.InvalidArgument {
				t.Fatalf("error kind %v: %v", apierr.KindOf(err), err)
			}
			return
		}
		for _, g := range spec.WorkerGroups {
			if g.Replicas < 0 || g.Replicas > driver.MaxWorkersPerGroup {
				t.Fatalf("accepted %d replicas", g.Replicas)
			}
		}
	})
}
