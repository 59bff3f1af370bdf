package domain

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeQuickStartBody(t *testing.T) {
	t.Parallel()
	r, err := DecodeClusterRequest(readFixture(t, "quickstart.json"))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	c := r.Cluster
	if c.Name != "my-first-cluster" || c.Runtime != "0.0" || c.InactiveTime != 30 || !c.StartCluster || c.User != "user@example.com" {
		t.Fatalf("unexpected cluster: %+v", c)
	}
	if c.HeadNode.Cores != 4 || c.HeadNode.Memory != 8 || c.HeadNode.NodeCapacityType != "ondemand" {
		t.Fatalf("head: %+v", c.HeadNode)
	}
	if len(c.WorkerGroups) != 1 || c.WorkerGroups[0].Cores != 2 || c.WorkerGroups[0].Memory != 4 ||
		c.WorkerGroups[0].MinPods != 1 || c.WorkerGroups[0].MaxPods != 2 || c.WorkerGroups[0].DiskSetting != nil {
		t.Fatalf("workers: %+v", c.WorkerGroups)
	}
	if len(c.AutoTerminationPolicies) != 3 {
		t.Fatalf("default policies not applied: %+v", c.AutoTerminationPolicies)
	}
	if c.Labels["project"] != "darwin" {
		t.Fatalf("default labels not applied: %v", c.Labels)
	}
	if c.AdvanceConfig.InstanceRole.ID != "1" || c.AdvanceConfig.RayParams.ObjectStoreMemoryPct != 25 {
		t.Fatalf("advance defaults: %+v", c.AdvanceConfig)
	}
}

func TestDecodeSDKBody(t *testing.T) {
	t.Parallel()
	r, err := DecodeClusterRequest(readFixture(t, "sdk_yaml.json"))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	c := r.Cluster
	if c.User != "sdk" || c.AdvanceConfig.InstanceRole.ID != "1" || c.WorkerGroups[0].Cores != 2 || c.WorkerGroups[0].NodeCapacityType != "spot" {
		t.Fatalf("unexpected: %+v", c)
	}
	if len(c.Labels) != 2 || c.Labels["team"] != "ds" {
		t.Fatalf("yaml labels must replace defaults: %v", c.Labels)
	}
	if strings.Join(c.AdvanceConfig.InitScript, "|") != "echo one|pip install requests" {
		t.Fatalf("init script: %v", c.AdvanceConfig.InitScript)
	}
	if c.Packages != nil || c.PackagesCloneFrom != nil {
		t.Fatalf("null packages must decode as absent")
	}
}

// mutate applies fn to the quick-start body and re-encodes it.
func mutate(t *testing.T, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readFixture(t, "quickstart.json"), &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func worker(m map[string]any) map[string]any {
	return m["worker_node_configs"].([]any)[0].(map[string]any)
}

func head(m map[string]any) map[string]any { return m["head_node_config"].(map[string]any) }

func TestDecodeClusterRequestValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		body  func(t *testing.T) []byte
		field string // "" = valid
		check func(t *testing.T, r ClusterRequest)
	}{
		{"not json", func(*testing.T) []byte { return []byte(`{"cluster_name":`) }, "body", nil},
		{"array body", func(*testing.T) []byte { return []byte(`[]`) }, "body", nil},
		{"trailing data", func(t *testing.T) []byte { return append(readFixture(t, "quickstart.json"), []byte(" {}")...) }, "body", nil},
		{"missing name", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { delete(m, "cluster_name") }) }, "cluster_name", nil},
		{"bad name", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["cluster_name"] = "-bad name" })
		}, "cluster_name", nil},
		{"name number", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { m["cluster_name"] = 5 }) }, "cluster_name", nil},
		{"tags not list", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { m["tags"] = "x" }) }, "tags", nil},
		{"tag not string", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { m["tags"] = []any{"a", 1} }) }, "tags[1]", nil},
		{"label too long", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["labels"] = map[string]any{"k": strings.Repeat("a", 26)} })
		}, "labels.k", nil},
		{"label bad key", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["labels"] = map[string]any{"bad key": "v"} })
		}, "labels.bad key", nil},
		{"missing runtime", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { delete(m, "runtime") }) }, "runtime", nil},
		{"inactive too low", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { m["inactive_time"] = 4 }) }, "inactive_time", nil},
		{"inactive fraction", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { m["inactive_time"] = 7.5 }) }, "inactive_time", nil},
		{"inactive never", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { m["inactive_time"] = -1 }) }, "", func(t *testing.T, r ClusterRequest) {
			if r.InactiveTime != -1 {
				t.Fatalf("inactive %d", r.InactiveTime)
			}
		}},
		{"job cluster forced 720", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["is_job_cluster"] = true; m["inactive_time"] = 10 })
		}, "", func(t *testing.T, r ClusterRequest) {
			if r.InactiveTime != 720 {
				t.Fatalf("inactive %d", r.InactiveTime)
			}
		}},
		{"missing head", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { delete(m, "head_node_config") }) }, "head_node_config", nil},
		{"head cores string", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { head(m)["cores"] = "4" }) }, "head_node_config.cores", nil},
		{"head cores too many", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { head(m)["cores"] = 91 }) }, "head_node_config.cores", nil},
		{"head bad capacity", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { head(m)["node_capacity_type"] = "reserved" })
		}, "head_node_config.node_capacity_type", nil},
		{"gpu without pod", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { head(m)["node_type"] = "gpu" }) }, "head_node_config.gpu_pod", nil},
		{"workers missing", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { delete(m, "worker_node_configs") })
		}, "worker_node_configs", nil},
		{"workers empty ok", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["worker_node_configs"] = []any{} })
		}, "", nil},
		{"worker not object", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["worker_node_configs"] = []any{1} })
		}, "worker_node_configs[0]", nil},
		{"min pods negative", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { worker(m)["min_pods"] = -1 }) }, "worker_node_configs[0].min_pods", nil},
		{"max below min", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { worker(m)["max_pods"] = 0 }) }, "worker_node_configs[0].max_pods", nil},
		{"worker memory missing", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { delete(worker(m), "memory_per_pods") })
		}, "worker_node_configs[0].memory_per_pods", nil},
		{"worker cores alias", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { w := worker(m); delete(w, "cores_per_pods"); w["cores"] = 3 })
		}, "", func(t *testing.T, r ClusterRequest) {
			if r.WorkerGroups[0].Cores != 3 {
				t.Fatalf("cores %v", r.WorkerGroups[0].Cores)
			}
		}},
		{"disk type", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) {
				worker(m)["disk_setting"] = map[string]any{"disk_type": "io1", "storage_size": 10}
			})
		}, "worker_node_configs[0].disk_setting.disk_type", nil},
		{"cpus on head above cores", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) {
				m["advance_config"] = map[string]any{"ray_params": map[string]any{"cpus_on_head": 5}}
			})
		}, "advance_config.ray_params.cpus_on_head", nil},
		{"gpus on head", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) {
				m["advance_config"] = map[string]any{"ray_params": map[string]any{"num_gpus_on_head": 1}}
			})
		}, "advance_config.ray_params.num_gpus_on_head", nil},
		{"object store too small", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) {
				worker(m)["memory_per_pods"] = 1
				m["advance_config"] = map[string]any{"ray_params": map[string]any{"object_store_memory": 5}}
			})
		}, "advance_config.ray_params.object_store_memory", nil},
		{"instance role string id", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) {
				m["advance_config"] = map[string]any{"instance_role": map[string]any{"id": "3"}}
			})
		}, "", func(t *testing.T, r ClusterRequest) {
			if r.AdvanceConfig.InstanceRole.DisplayName != "emr-ec2-default-role" {
				t.Fatalf("role %+v", r.AdvanceConfig.InstanceRole)
			}
		}},
		{"instance role unknown", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["advance_config"] = map[string]any{"instance_role": map[string]any{"id": 9}} })
		}, "advance_config.instance_role.id", nil},
		{"env var line", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["advance_config"] = map[string]any{"environment_variables": "A=1\n=oops"} })
		}, "advance_config.environment_variables", nil},
		{"bad user", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { m["user"] = "a b" }) }, "user", nil},
		{"policy unknown", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) { m["auto_termination_policies"] = []any{map[string]any{"policy_name": "Nope"}} })
		}, "auto_termination_policies[0].policy_name", nil},
		{"package bad source", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) {
				m["packages"] = []any{map[string]any{"source": "npm", "body": map[string]any{}}}
			})
		}, "packages[0].source", nil},
		{"start_cluster not bool", func(t *testing.T) []byte { return mutate(t, func(m map[string]any) { m["start_cluster"] = 3 }) }, "start_cluster", nil},
		{"explicit nulls", func(t *testing.T) []byte {
			return mutate(t, func(m map[string]any) {
				m["labels"], m["auto_termination_policies"], m["advance_config"], m["packages"] = nil, nil, nil, nil
				head(m)["node_type"], head(m)["disk_setting"] = nil, nil
			})
		}, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := DecodeClusterRequest(tc.body(t))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.check != nil {
					tc.check(t, r)
				}
				return
			}
			e := apierr.From(err)
			if err == nil || e.Kind != apierr.InvalidArgument || e.Field != tc.field {
				t.Fatalf("want InvalidArgument on %q, got %v (field %q)", tc.field, err, e.Field)
			}
			if !strings.Contains(e.Message, strings.Split(tc.field, "[")[0]) && tc.field != "body" && !strings.HasPrefix(tc.field, "labels.") {
				t.Fatalf("message %q does not name field %q", e.Message, tc.field)
			}
		})
	}
}

func TestValuesDocument(t *testing.T) {
	t.Parallel()
	r, err := DecodeClusterRequest(readFixture(t, "sdk_yaml.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := r.Cluster
	c.ID, c.ArtifactVersion, c.CloudEnv = "id-abc", 1, "kind-0"
	v, err := BuildValues(&c, "localhost:5000/ray:2.37.0", "ray", ValuesEnv{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	var got struct {
		ClusterID string `json:"cluster_id"`
		User      string `json:"user"`
		Email     string `json:"email"`
		Image     struct{ Repository, Tag string }
		Head      struct {
			RayStartParams map[string]string              `json:"rayStartParams"`
			Resources      map[string]map[string]string   `json:"resources"`
			ContainerEnv   []struct{ Name, Value string } `json:"containerEnv"`
		}
		Worker struct {
			Replicas    int `json:"replicas"`
			MinReplicas int `json:"minReplicas"`
			MaxReplicas int `json:"maxReplicas"`
		}
		Commands  []string `json:"commands"`
		Terminate int      `json:"terminate_after_minutes"`
		Type      string   `json:"cluster_type"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.ClusterID != "id-abc" || got.User != "sdk" || got.Email != "sdk" || got.Image.Repository != "localhost:5000/ray" || got.Image.Tag != "2.37.0" {
		t.Fatalf("values: %s", b)
	}
	if got.Head.RayStartParams["num-cpus"] != "0" || got.Head.RayStartParams["object-store-memory"] != "2147483648" {
		t.Fatalf("rayStartParams: %v", got.Head.RayStartParams)
	}
	if got.Head.Resources["limits"]["cpu"] != "4" || got.Head.Resources["limits"]["memory"] != "8G" {
		t.Fatalf("resources: %v", got.Head.Resources)
	}
	if len(got.Head.ContainerEnv) != 2 || got.Head.ContainerEnv[1].Name != "B" || got.Head.ContainerEnv[1].Value != "two" {
		t.Fatalf("env: %v", got.Head.ContainerEnv)
	}
	if got.Worker.Replicas != 1 || got.Worker.MinReplicas != 1 || got.Worker.MaxReplicas != 3 {
		t.Fatalf("worker: %+v", got.Worker)
	}
	if len(got.Commands) != 2 || got.Terminate != 60 || got.Type != "all_purpose_cluster" {
		t.Fatalf("commands/terminate/type: %s", b)
	}
}

func FuzzDecodeClusterRequest(f *testing.F) {
	for _, name := range []string{"quickstart.json", "sdk_yaml.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"cluster_name":"a","tags":[],"runtime":"0.0","inactive_time":-1,"head_node_config":{"cores":1e308,"memory":1},"worker_node_configs":[],"user":"u"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeClusterRequest(body)
		if err != nil {
			if apierr.KindOf(err) != apierr.InvalidArgument || apierr.From(err).Field == "" {
				t.Fatalf("error must be InvalidArgument with a field: %v", err)
			}
			return
		}
		c := r.Cluster
		c.ID, c.ArtifactVersion, c.CloudEnv = "id-x", 1, "kind-0"
		doc, err := BuildValues(&c, "img:1", "ns", ValuesEnv{})
		if err != nil {
			// The chain is the last validator (e.g. GPU model names): its errors must still name a field.
			if apierr.KindOf(err) != apierr.InvalidArgument || apierr.From(err).Field == "" {
				t.Fatalf("values error must be InvalidArgument with a field: %v", err)
			}
			return
		}
		if _, err := json.Marshal(doc); err != nil {
			t.Fatalf("values of a valid request must encode: %v", err)
		}
	})
}
