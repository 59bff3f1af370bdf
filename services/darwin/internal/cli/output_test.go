package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	searchReply = `{"status":"SUCCESS","result_size":2,"page_size":100,"offset":0,"data":[
 {"cluster_id":"id-abc123","name":"my-first-cluster","tags":["demo"],"status":"active","runtime":"0.0","active_pod":3,
  "total_memory":16,"total_cores":8,"last_used_on":"2026-01-02T03:04:05Z","create_by":"user@example.com",
  "created_on":"2026-01-02T03:00:00Z","estimated_cost":"0.1-0.2"},
 {"cluster_id":"id-def456","name":"gpu-box","tags":[],"status":"inactive","runtime":"0.1","active_pod":0,
  "total_memory":26,"total_cores":6,"last_used_on":"","create_by":"sdk","created_on":"2026-01-01T10:00:00Z","estimated_cost":null}]}`

	clusterReply = `{"cluster_id":"id-abc123","name":"my-first-cluster","tags":["demo"],"labels":{"team":"ml"},"runtime":"0.0",
 "auto_termination_policies":[{"policy_name":"ActiveRayJob","enabled":true,"params":{}}],"inactive_time":30,"status":"active",
 "user":"user@example.com","head_node_config":{"head_node_cores":4,"head_node_memory":8,"node_type":null,"node_capacity_type":"ondemand","gpu_pod":null},
 "worker_node_configs":[{"cores":2,"memory":4,"min_pods":1,"max_pods":2,"disk_setting":null,"node_type":null,"node_capacity_type":"ondemand","gpu_pod":null}],
 "advance_config":{"environment_variables":"A=1","log_path":"","init_script":"pip install x\npip install y","ray_params":{"object_store_memory":25,"cpus_on_head":0}},
 "dashboards":{"status":"SUCCESS","data":{"jupyter_lab_url":"http://localhost:8080/kind-0/id-abc123-jupyter"}},
 "created_on":"2026-01-02T03:00:00Z","is_job_cluster":false}`

	metadataReply = `{"cluster_id":"id-abc123","artifact_id":"id-abc123-v1","status":"jupyter_up","active_pods":2,"available_memory":12.5,
 "active_cluster_runid":"run_id-xyz","cluster_name":"my-first-cluster","last_updated_at":"2026-01-02T03:04:05Z","last_used_at":null}`

	runtimesReply = `{"custom":[{"name":"my-rt","created_by":"alice","image":"localhost:5000/my:1"}],
 "cpu":[{"name":"0.0","created_by":"Darwin","image":"localhost:5000/ray:2.37.0"},{"name":"0.1","created_by":"Darwin","image":"localhost:5000/ray:2.53.0"}],
 "gpu":[]}`

	dashboardsReply = `{"jupyter_lab_url":"http://localhost:8080/kind-0/id-abc123-jupyter","ray_dashboard_url":"http://localhost:8080/kind-0/id-abc123-dashboard/",
 "spark_ui_url":"http://localhost:8080/kind-0/id-abc123-sparkui/","grafana_dashboard_url":"http://localhost:8080/kind-0/id-abc123-metrics/",
 "code_server_url":"http://localhost:8080/kind-0/id-abc123-vscode/","resource_utilization_dashboard_url":""}`

	packagesReply = `{"cluster_id":"id-abc123","result_size":2,"packages":[
 {"id":7,"name":"pandas","version":"2.2.2","type":"pypi","source":"pypi","path":null,"status":"success"},
 {"id":8,"name":"org.apache.commons:commons-csv","version":"1.14.0","type":"maven_jar","source":"maven","path":null,"status":"running"}]}`
)

func TestOutputFormats(t *testing.T) {
	t.Parallel()
	type fixture struct {
		args         []string
		method, path string
		reply        reply
	}
	fixtures := map[string]fixture{
		"list":       {[]string{"compute", "list"}, "POST", "/compute/search", reply{status: 200, body: searchReply}},
		"list_empty": {[]string{"compute", "list"}, "POST", "/compute/search", reply{status: 200, body: `{"status":"SUCCESS","result_size":0,"data":[]}`}},
		"get":        {[]string{"compute", "get", "id-abc123"}, "GET", "/compute/cluster/id-abc123", ok(clusterReply)},
		"status":     {[]string{"compute", "status", "id-abc123"}, "GET", "/compute/cluster/id-abc123/metadata", ok(metadataReply)},
		"runtimes":   {[]string{"compute", "runtimes"}, "GET", "/compute/get-runtimes", ok(runtimesReply)},
		"dashboards": {[]string{"compute", "dashboards", "id-abc123"}, "GET", "/compute/cluster/id-abc123/dashboards", ok(dashboardsReply)},
		"packages":   {[]string{"compute", "packages", "list", "id-abc123"}, "GET", "/compute/cluster/id-abc123/library", ok(packagesReply)},
		"create": {[]string{"compute", "create", "-f", "testdata/cluster.yaml"}, "POST", "/compute/cluster",
			okMsg(200, "Cluster created successfully", `{"cluster_id":"id-abc123","packages":[]}`)},
		"stop": {[]string{"compute", "stop", "id-abc123"}, "POST", "/compute/cluster/stop-cluster/id-abc123",
			okMsg(202, "Cluster stopped successfully", `{"cluster_id":"id-abc123"}`)},
		"delete": {[]string{"compute", "delete", "id-abc123"}, "DELETE", "/compute/cluster/id-abc123",
			reply{status: 200, body: `{"status":"SUCCESS","data":{"cluster_id":"id-abc123"}}`}},
		"command_run": {[]string{"compute", "command", "run", "id-abc123", "--", "ls"}, "POST", "/compute/cluster/id-abc123/command/execute",
			reply{status: 202, body: `{"status":"SUCCESS","message":"Remote command accepted","data":{"execution_id":"3f2a9c0e"}}`}},
	}
	for name, fx := range fixtures {
		for _, format := range []string{"table", "json", "yaml"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				t.Parallel()
				api, srv := newFakeAPI(t)
				api.on(fx.method, fx.path, fx.reply)
				res := runCLI(t, srv.URL, "", append([]string{"-o", format}, fx.args...)...)
				if res.err != nil {
					t.Fatal(res.err)
				}
				golden(t, fmt.Sprintf("out_%s.%s", name, format), res.stdout)
				switch format {
				case "json":
					// -o json is exactly the envelope's data
					var got, want any
					if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
						t.Fatalf("stdout is not JSON: %v", err)
					}
					var env map[string]any
					if err := json.Unmarshal([]byte(fx.reply.body), &env); err != nil {
						t.Fatal(err)
					}
					want = env["data"]
					if canonicalJSON(t, mustJSON(t, got)) != canonicalJSON(t, mustJSON(t, want)) {
						t.Errorf("-o json printed %s, want the data %s", res.stdout, mustJSON(t, want))
					}
				case "yaml":
					var got any
					if err := yaml.Unmarshal([]byte(res.stdout), &got); err != nil {
						t.Fatalf("stdout is not YAML: %v", err)
					}
				}
			})
		}
	}
}

func TestTableListColumns(t *testing.T) {
	t.Parallel()
	api, srv := newFakeAPI(t)
	api.on("POST", "/compute/search", reply{status: 200, body: searchReply})
	res := runCLI(t, srv.URL, "", "compute", "list")
	if res.err != nil {
		t.Fatal(res.err)
	}
	lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want header + 2 rows:\n%s", len(lines), res.stdout)
	}
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "ID NAME STATUS RUNTIME CORES MEMORY USER CREATED" {
		t.Errorf("header = %q", lines[0])
	}
	if got := strings.Fields(lines[1]); strings.Join(got, " ") != "id-abc123 my-first-cluster active 0.0 8 16 user@example.com 2026-01-02T03:00:00Z" {
		t.Errorf("row = %q", lines[1])
	}
	// columns are aligned: every row has STATUS at the header's offset
	col := strings.Index(lines[0], "STATUS")
	for _, l := range lines[1:] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row %q not aligned with STATUS column at %d", l, col)
		}
	}
}
