package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const createdReply = `{"cluster_id":"id-abc123","packages":[]}`

func TestCreateSendsClusterRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stdin  string
		golden string // expected body, testdata/golden/<golden>
		check  func(t *testing.T, body map[string]any)
	}{
		{
			name:   "sample SDK yaml",
			args:   []string{"compute", "create", "-f", "testdata/cluster.yaml"},
			golden: "create_body_sample.json",
			check: func(t *testing.T, b map[string]any) {
				head := b["head_node_config"].(map[string]any)
				worker := b["worker_node_configs"].([]any)[0].(map[string]any)
				want := map[string]any{
					"cluster_name": "my-first-cluster", "runtime": "0.0", "inactive_time": 30.0,
					"user": "sdk", "start_cluster": true, "is_job_cluster": false, "packages": nil,
					"head.cores": 4.0, "head.memory": 8.0, "head.node_capacity_type": "ondemand",
					"worker.cores_per_pods": 2.0, "worker.memory_per_pods": 4.0,
					"worker.min_pods": 1.0, "worker.max_pods": 2.0, "worker.disk_setting": nil,
				}
				got := map[string]any{
					"cluster_name": b["cluster_name"], "runtime": b["runtime"], "inactive_time": b["inactive_time"],
					"user": b["user"], "start_cluster": b["start_cluster"], "is_job_cluster": b["is_job_cluster"], "packages": b["packages"],
					"head.cores": head["cores"], "head.memory": head["memory"], "head.node_capacity_type": head["node_capacity_type"],
					"worker.cores_per_pods": worker["cores_per_pods"], "worker.memory_per_pods": worker["memory_per_pods"],
					"worker.min_pods": worker["min_pods"], "worker.max_pods": worker["max_pods"], "worker.disk_setting": worker["disk_setting"],
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("%s = %#v, want %#v", k, got[k], v)
					}
				}
				if _, ok := b["packages"]; !ok {
					t.Error("packages must be sent as an explicit null")
				}
			},
		},
		{
			name:   "full SDK yaml with cpu and gpu workers",
			args:   []string{"compute", "create", "-f", "testdata/sdk_full.yaml"},
			golden: "create_body_full.json",
			check: func(t *testing.T, b map[string]any) {
				ws := b["worker_node_configs"].([]any)
				cpu, gpu := ws[0].(map[string]any), ws[1].(map[string]any)
				if cpu["node_type"] != "compute" || cpu["node_capacity_type"] != "spot" || cpu["max_pods"] != 3.0 {
					t.Errorf("cpu worker = %v", cpu)
				}
				if _, has := cpu["gpu_pod"]; has {
					t.Error("cpu worker must not carry gpu_pod")
				}
				if gpu["node_type"] != "gpu" || gpu["cores_per_pods"] != 6.0 {
					t.Errorf("gpu worker = %v", gpu)
				}
				pod := gpu["gpu_pod"].(map[string]any)
				if pod["name"] != "NVIDIA T4" || pod["gpu_count"] != 1.0 || pod["g_ram_type"] != "GDDR6" {
					t.Errorf("gpu_pod = %v", pod)
				}
				if _, has := gpu["node_capacity_type"]; has {
					t.Error("gpu worker must not carry node_capacity_type")
				}
				adv := b["advance_config"].(map[string]any)
				if adv["init_script"] != "pip install mlflow\npip install theano" {
					t.Errorf("init_script = %q", adv["init_script"])
				}
				if adv["environment_variables"] != "cluster_name=darwin-demo-cluster\npurpose=demo\nowner=darwin" {
					t.Errorf("environment_variables = %q", adv["environment_variables"])
				}
				role := adv["instance_role"].(map[string]any)
				if role["id"] != 1.0 || role["display_name"] != "darwin-ds-role" {
					t.Errorf("instance_role = %v", role)
				}
				ray := adv["ray_params"].(map[string]any)
				if ray["object_store_memory"] != 5.0 || ray["cpus_on_head"] != 2.0 {
					t.Errorf("ray_params = %v", ray)
				}
				head := b["head_node_config"].(map[string]any)
				disk := head["disk_setting"].(map[string]any)
				if disk["disk_type"] != "gp2" || disk["storage_size"] != 100.0 {
					t.Errorf("disk_setting = %v", disk)
				}
				if b["user"] != "alice@example.com" || b["inactive_time"] != 15.0 {
					t.Errorf("user/inactive_time = %v/%v", b["user"], b["inactive_time"])
				}
				labels := b["labels"].(map[string]any)
				if len(labels) != 2 || labels["team"] != "ml" {
					t.Errorf("yaml labels must replace the defaults, got %v", labels)
				}
				if _, has := b["cloud_env"]; has {
					t.Error("cloud_env must be dropped like the SDK does")
				}
				pkgs := b["packages"].([]any)
				maven := pkgs[1].(map[string]any)["body"].(map[string]any)
				if maven["metadata"].(map[string]any)["repository"] != "maven" || maven["path"] != nil {
					t.Errorf("maven package body = %v", maven)
				}
			},
		},
		{
			name:   "no-start and user flag",
			args:   []string{"--user", "bob@example.com", "compute", "create", "-f", "testdata/cluster.yaml", "--no-start"},
			golden: "create_body_nostart.json",
			check: func(t *testing.T, b map[string]any) {
				if b["start_cluster"] != false || b["user"] != "bob@example.com" {
					t.Errorf("start_cluster/user = %v/%v", b["start_cluster"], b["user"])
				}
			},
		},
		{
			name:   "REST ClusterRequest passes through",
			args:   []string{"compute", "create", "-f", "testdata/rest_request.json"},
			golden: "create_body_rest.json",
			check: func(t *testing.T, b map[string]any) {
				var want map[string]any
				if err := json.Unmarshal(mustRead(t, "testdata/rest_request.json"), &want); err != nil {
					t.Fatal(err)
				}
				if canonicalJSON(t, mustJSON(t, b)) != canonicalJSON(t, mustJSON(t, want)) {
					t.Errorf("REST body changed in transit:\n%v\nwant\n%v", b, want)
				}
			},
		},
		{
			name:   "REST ClusterRequest from stdin with no-start and default user",
			args:   []string{"compute", "create", "-f", "-", "--no-start"},
			stdin:  "cluster_name: c1\ntags: []\nruntime: '0.0'\ninactive_time: 30\nhead_node_config: {cores: 1, memory: 2}\nworker_node_configs: []\n",
			golden: "create_body_rest_stdin.json",
			check: func(t *testing.T, b map[string]any) {
				if b["start_cluster"] != false || b["user"] != "sdk" {
					t.Errorf("start_cluster/user = %v/%v", b["start_cluster"], b["user"])
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, srv := newFakeAPI(t)
			api.on(http.MethodPost, "/compute/cluster", okMsg(http.StatusOK, "Cluster created successfully", createdReply))
			res := runCLI(t, srv.URL, tc.stdin, tc.args...)
			if res.err != nil {
				t.Fatalf("create: %v\nstderr: %s", res.err, res.stderr)
			}
			reqs := api.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/compute/cluster" {
				t.Errorf("request = %s %s", r.Method, r.Path)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if u := r.Header.Get("msd-user"); u != "" {
				t.Errorf("create must not send msd-user (the SDK does not), got %q", u)
			}
			golden(t, tc.golden, canonicalJSON(t, r.Body))
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			tc.check(t, body)
			if want := "Cluster created successfully\ncluster_id:  id-abc123\n"; !strings.HasPrefix(res.stdout, want) {
				t.Errorf("stdout = %q, want prefix %q", res.stdout, want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCreateRejectsBadDefinitions(t *testing.T) {
	t.Parallel()
	const base = `name: c1
tags: []
runtime: "0.0"
head_node: {node: {cores: 4, memory: 8}}
`
	const worker = "worker_group: [{node: {cores: 2, memory: 4}, min_pods: 1, max_pods: 2}]\n"
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"missing name", "tags: []\nruntime: '0.0'\nhead_node: {node: {cores: 1, memory: 1}}\nworker_group: []\n", "name: is required"},
		{"bad name", strings.Replace(base, "c1", "bad name!", 1) + worker, "name: "},
		{"missing runtime", "name: c1\ntags: []\nhead_node: {node: {cores: 1, memory: 1}}\nworker_group: []\n", "runtime: is required"},
		{"missing head node", "name: c1\ntags: []\nruntime: x\nworker_group: []\n", "head_node.node: is required"},
		{"missing worker group", base, "worker_group: is required"},
		{"unknown field", base + worker + "head_nodes: {}\n", "field head_nodes not found"},
		{"max below min", base + "worker_group: [{node: {cores: 2, memory: 4}, min_pods: 3, max_pods: 2}]\n", "worker_group[0].max_pods: 2 must be >= min_pods (3)"},
		{"negative min", base + "worker_group: [{node: {cores: 2, memory: 4}, min_pods: -1, max_pods: 2}]\n", "worker_group[0].min_pods"},
		{"missing max", base + "worker_group: [{node: {cores: 2, memory: 4}, min_pods: 1}]\n", "worker_group[0].max_pods: is required"},
		{"zero cores", base + "worker_group: [{node: {cores: 0, memory: 4}, min_pods: 1, max_pods: 2}]\n", "worker_group[0].node.cores: must be > 0"},
		{"bad capacity", base + "worker_group: [{node: {cores: 2, memory: 4, node_capacity_type: reserved}, min_pods: 1, max_pods: 2}]\n", "worker_group[0].node.node_capacity_type"},
		{"bad node type", base + "worker_group: [{node_type: huge, node: {cores: 2, memory: 4}, min_pods: 1, max_pods: 2}]\n", "worker_group[0].node_type"},
		{"short terminate", base + worker + "terminate_after_minutes: 3\n", "terminate_after_minutes: 3 must be >= 5 or -1"},
		{"cpus on head above cores", base + worker + "advance_config: {ray_start_params: {num_cpus_on_head: 8}}\n", "advance_config.ray_start_params.num_cpus_on_head"},
		{"object store too small", base + worker + "advance_config: {ray_start_params: {object_store_memory_perc: 1}}\n", "the object store needs at least 100 MB"},
		{"gpus on head", base + worker + "advance_config: {ray_start_params: {num_gpus_on_head: 1}}\n", "num_gpus_on_head: is not supported"},
		{"label too long", base + worker + "labels: {team: abcdefghijklmnopqrstuvwxyz0123}\n", "labels.team: value is longer than 25"},
		{"package without name", base + worker + "packages: [{source: maven, body: {version: '1'}}]\n", "packages[0].body.name: is required"},
		{"package bad source", base + worker + "packages: [{source: npm, body: {name: x}}]\n", "packages[0].source"},
		{"bad user", base + worker + "user: 'a b'\n", "user: "},
		{"not yaml", "name: [unclosed\n", "parse cluster file"},
		{"wrong type", base + worker + "terminate_after_minutes: soon\n", "parse cluster file"},
		{"empty", "", "empty document"},
		{"rest without name", "cluster_name: ''\n", "cluster_name: must be a non-empty string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, srv := newFakeAPI(t)
			res := runCLI(t, srv.URL, tc.yaml, "compute", "create", "-f", "-")
			if res.err == nil {
				t.Fatal("create succeeded, want an error")
			}
			if !strings.Contains(res.err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", res.err, tc.want)
			}
			if n := len(api.requests()); n != 0 {
				t.Errorf("sent %d requests for an invalid file", n)
			}
		})
	}
}

func TestLinesAcceptsStringListAndMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, env, want string
	}{
		{"string", `"A=1\nB=2"`, "A=1\nB=2"},
		{"list", "[A=1, B=2]", "A=1\nB=2"},
		{"mapping sorted", "{B: '2', A: '1'}", "A=1\nB=2"},
		{"null", "null", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc := "name: c\ntags: []\nruntime: r\nhead_node: {node: {cores: 1, memory: 1}}\nworker_group: []\nadvance_config: {env_variables: " + tc.env + "}\n"
			req, err := loadClusterRequest([]byte(doc), "sdk")
			if err != nil {
				t.Fatal(err)
			}
			if got := req.(*clusterRequest).AdvanceConfig.EnvironmentVariables; got != tc.want {
				t.Errorf("environment_variables = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzLoadClusterRequest(f *testing.F) {
	f.Add(string(mustRead(f, "testdata/cluster.yaml")))
	f.Add(string(mustRead(f, "testdata/sdk_full.yaml")))
	f.Add(string(mustRead(f, "testdata/rest_request.json")))
	f.Add("name: c\ntags: []\nruntime: r\nhead_node: {node: {cores: 1, memory: 1}}\nworker_group: [{node: {cores: 1, memory: 1}, min_pods: 0, max_pods: 0}]\n")
	f.Add("advance_config: {env_variables: {A: 1}}")
	f.Fuzz(func(t *testing.T, doc string) {
		req, err := loadClusterRequest([]byte(doc), "sdk")
		if err != nil {
			return
		}
		if _, err := json.Marshal(req); err != nil {
			t.Fatalf("accepted definition does not encode: %v", err)
		}
	})
}
