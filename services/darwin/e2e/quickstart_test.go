package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/testutil"
)

// seedClusterBody is the original README's quick-start request, verbatim.
const seedClusterBody = `{
    "cluster_name": "my-first-cluster",
    "tags": ["demo"],
    "runtime": "0.0",
    "inactive_time": 30,
    "start_cluster": true,
    "head_node_config": {
        "cores": 4,
        "memory": 8,
        "node_capacity_type": "ondemand"
    },
    "worker_node_configs": [
        {
            "cores_per_pods": 2,
            "memory_per_pods": 4,
            "min_pods": 1,
            "max_pods": 2,
            "disk_setting": null,
            "node_capacity_type": "ondemand"
        }
    ],
    "user": "user@example.com"
}`

const seedUser = `{"email": "user@example.com"}`

var clusterIDRe = regexp.MustCompile(`^id-[23456789abcdefghijkmnopqrstuvwxyz]{16}$`)

type metadata struct {
	ClusterID string `json:"cluster_id"`
	Status    string `json:"status"`
	RunID     string `json:"active_cluster_runid"`
	Artifact  string `json:"artifact_id"`
}

// createSeedCluster posts the seed body and returns the new cluster id.
func createSeedCluster(t *testing.T, p *platform) string {
	t.Helper()
	var env envelope
	if code := p.call(http.MethodPost, "/compute/cluster", nil, seedClusterBody, &env); code != http.StatusOK {
		t.Fatalf("create cluster: status %d, body %+v", code, env)
	}
	var msg string
	_ = json.Unmarshal(env.Message, &msg)
	if env.Status != "SUCCESS" || msg != "Cluster created successfully" {
		t.Fatalf("create cluster envelope = %s / %q", env.Status, msg)
	}
	var data struct {
		ClusterID string `json:"cluster_id"`
		Packages  []any  `json:"packages"`
	}
	if err := json.Unmarshal(env.Data, &data); err != nil {
		t.Fatalf("create data: %v", err)
	}
	if !clusterIDRe.MatchString(data.ClusterID) {
		t.Fatalf("cluster id %q does not look like id-<16 shortuuid chars>", data.ClusterID)
	}
	if data.Packages == nil {
		t.Errorf("create data has no packages list: %s", env.Data)
	}
	return data.ClusterID
}

// waitStatus polls /metadata until the internal status is want, returning
// every distinct status seen on the way.
func waitStatus(t *testing.T, p *platform, id, want string, timeout time.Duration) []string {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(timeout)
	for {
		var env envelope
		code := p.call(http.MethodGet, "/compute/cluster/"+id+"/metadata", nil, "", &env)
		if code != http.StatusOK {
			t.Fatalf("metadata: status %d", code)
		}
		var md metadata
		if err := json.Unmarshal(env.Data, &md); err != nil {
			t.Fatalf("metadata data %s: %v", env.Data, err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != md.Status {
			seen = append(seen, md.Status)
		}
		if md.Status == want {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster %s did not reach %q within %v; statuses seen: %v", id, want, timeout, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type dashboards struct {
	Jupyter string `json:"jupyter_lab_url"`
	Ray     string `json:"ray_dashboard_url"`
	Spark   string `json:"spark_ui_url"`
	Grafana string `json:"grafana_dashboard_url"`
	Code    string `json:"code_server_url"`
}

func getDashboards(t *testing.T, p *platform, id string) dashboards {
	t.Helper()
	var env envelope
	if code := p.call(http.MethodGet, "/compute/cluster/"+id+"/dashboards", nil, "", &env); code != http.StatusOK {
		t.Fatalf("dashboards: status %d", code)
	}
	var d dashboards
	if err := json.Unmarshal(env.Data, &d); err != nil {
		t.Fatalf("dashboards data: %v", err)
	}
	return d
}

type jobDetails struct {
	SubmissionID string `json:"submission_id"`
	JobID        string `json:"job_id"`
	Status       string `json:"status"`
	Message      string `json:"message"`
}

// runJob submits an entrypoint to the cluster's Ray Jobs API and waits for a
// terminal status; it returns the details and the logs.
func runJob(t *testing.T, jobsBase, body string) (jobDetails, string) {
	t.Helper()
	var sub struct {
		JobID        string `json:"job_id"`
		SubmissionID string `json:"submission_id"`
	}
	if code := doJSON(t, http.MethodPost, jobsBase, nil, body, &sub); code != http.StatusOK {
		t.Fatalf("submit job: status %d", code)
	}
	if sub.SubmissionID == "" {
		t.Fatalf("submit job returned no submission_id")
	}
	var job jobDetails
	testutil.Eventually(t, 30*time.Second, func() bool {
		doJSON(t, http.MethodGet, jobsBase+sub.SubmissionID, nil, "", &job)
		switch job.Status {
		case "SUCCEEDED", "FAILED", "STOPPED":
			return true
		}
		return false
	}, "job %s to finish", sub.SubmissionID)
	var logs struct {
		Logs string `json:"logs"`
	}
	doJSON(t, http.MethodGet, jobsBase+sub.SubmissionID+"/logs", nil, "", &logs)
	return job, logs.Logs
}

// TestE2EQuickStart walks the original README's "Create and Use a Ray Cluster"
// recipe against darwin up, then kills a worker, stops and deletes the cluster.
func TestE2EQuickStart(t *testing.T) {
	p := startDarwin(t, "")
	t.Logf("darwin up ready in %v", p.ready)

	var health map[string]string
	if code := p.call(http.MethodGet, "/compute/healthcheck", nil, "", &health); code != http.StatusOK || health["status"] != "SUCCESS" || health["message"] != "OK" {
		t.Fatalf("healthcheck = %d %v", code, health)
	}
	var runtimes envelope
	p.call(http.MethodGet, "/compute/get-runtimes", nil, "", &runtimes)
	for _, want := range []string{`"name":"0.0"`, `"name":"0.1"`, "localhost:5000/ray:2.37.0"} {
		if !strings.Contains(string(runtimes.Data), want) {
			t.Errorf("get-runtimes data %s lacks %s", runtimes.Data, want)
		}
	}

	created := time.Now()
	id := createSeedCluster(t, p)
	stopOnCleanup(t, p, id)
	seen := waitStatus(t, p, id, "active", 90*time.Second)
	t.Logf("cluster %s: create → active in %v; statuses seen %v", id, time.Since(created).Round(time.Millisecond), seen)

	// The cluster's history records the walk through the state machine.
	var groups envelope
	if code := p.call(http.MethodGet, "/compute/cluster/get-action-groups/"+id, nil, "", &groups); code != http.StatusOK {
		t.Errorf("get-action-groups: status %d", code)
	}

	var details envelope
	p.call(http.MethodGet, "/compute/cluster/"+id, nil, "", &details)
	var d struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	_ = json.Unmarshal(details.Data, &d)
	if d.Status != "active" || d.Name != "my-first-cluster" {
		t.Errorf("GET /cluster/{id}: name %q status %q, want my-first-cluster/active", d.Name, d.Status)
	}

	dash := getDashboards(t, p, id)
	// Links use the public host name of the listen address (localhost).
	wantPrefix := strings.Replace(p.base, "127.0.0.1", "localhost", 1) + "/kind-0/" + id
	if dash.Ray != wantPrefix+"-dashboard/" || dash.Jupyter != wantPrefix+"-jupyter" {
		t.Fatalf("dashboards = %+v, want links under %s", dash, wantPrefix)
	}
	// The dashboard and Jupyter links are live endpoints.
	for _, u := range []string{dash.Ray, dash.Jupyter} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", u, resp.StatusCode)
		}
	}

	// Submit a job to the cluster's Ray Jobs API through the dashboard link.
	workDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(workDir, "train.sh"), []byte("echo \"training with $GREETING in $(pwd)\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	jobs := dash.Ray + "api/jobs/"
	job, logs := runJob(t, jobs, fmt.Sprintf(`{"entrypoint": "sh train.sh", "runtime_env": {"env_vars": {"GREETING": "hello-darwin"}, "working_dir": %q}}`, workDir))
	if job.Status != "SUCCEEDED" {
		t.Fatalf("job status %s (%s), logs %q", job.Status, job.Message, logs)
	}
	if want := "training with hello-darwin in " + workDir; !strings.Contains(logs, want) {
		t.Fatalf("job logs %q lack %q", logs, want)
	}
	failed, _ := runJob(t, jobs, `{"entrypoint": "exit 3"}`)
	if failed.Status != "FAILED" {
		t.Errorf("a job exiting 3 ended %s, want FAILED", failed.Status)
	}

	// Pods are real processes: the head and one worker (min_pods 1).
	var pods envelope
	p.call(http.MethodGet, "/compute/cluster/"+id+"/pods", nil, "", &pods)
	var pd struct {
		Resources []struct{ Name, Status string } `json:"Resources"`
	}
	_ = json.Unmarshal(pods.Data, &pd)
	if len(pd.Resources) != 2 {
		t.Fatalf("pods = %s, want head + 1 worker", pods.Data)
	}
	for _, r := range pd.Resources {
		if r.Status != "Running" {
			t.Errorf("pod %s is %s, want Running", r.Name, r.Status)
		}
	}

	// Kill the worker process: the cluster goes to worker_nodes_died (UI: still active).
	workers := processesOf(id + "-kuberay-worker")
	if len(workers) != 1 {
		t.Fatalf("worker processes of %s = %v, want 1", id, workers)
	}
	var pid int
	fmt.Sscanf(workers[0], "%d:", &pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill worker %d: %v", pid, err)
	}
	waitStatus(t, p, id, "worker_nodes_died", 30*time.Second)

	// Stopping needs an identity (the original answered 500 without one; we answer 400).
	var bad envelope
	if code := p.call(http.MethodPost, "/compute/cluster/stop-cluster/"+id, nil, "", &bad); code != http.StatusBadRequest || bad.Status != "ERROR" {
		t.Errorf("stop without msd-user = %d %s, want 400 ERROR", code, bad.Status)
	}
	// An active cluster cannot be deleted.
	if code := p.call(http.MethodDelete, "/compute/cluster/"+id, nil, "", nil); code != http.StatusBadRequest {
		t.Errorf("delete of a running cluster = %d, want 400", code)
	}

	var stopped envelope
	if code := p.call(http.MethodPost, "/compute/cluster/stop-cluster/"+id, map[string]string{"msd-user": seedUser}, "", &stopped); code != http.StatusAccepted {
		t.Fatalf("stop-cluster = %d %+v", code, stopped)
	}
	waitStatus(t, p, id, "inactive", 30*time.Second)
	testutil.Eventually(t, 15*time.Second, func() bool { return len(processesOf(id)) == 0 },
		"no process of cluster %s left after stop", id)

	var deleted map[string]any
	if code := p.call(http.MethodDelete, "/compute/cluster/"+id, nil, "", &deleted); code != http.StatusOK || deleted["status"] != "SUCCESS" {
		t.Fatalf("delete = %d %v", code, deleted)
	}
	if code := p.call(http.MethodGet, "/compute/cluster/"+id, nil, "", nil); code != http.StatusNotFound {
		t.Errorf("GET after delete = %d, want 404", code)
	}
}

// TestE2ERestartReattach restarts darwin up under a running cluster: the
// cluster keeps running, the new process re-attaches to it, and a stop still
// leaves nothing behind.
func TestE2ERestartReattach(t *testing.T) {
	dataDir := t.TempDir()
	port := testutil.FreePort(t)
	p := startDarwinOn(t, dataDir, port)
	id := createSeedCluster(t, p)
	waitStatus(t, p, id, "active", 90*time.Second)
	p.stop()
	t.Cleanup(func() { // never leave processes behind, even on failure
		for _, proc := range processesOf(id) {
			var pid int
			fmt.Sscanf(proc, "%d:", &pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if procs := processesOf(id); len(procs) < 2 {
		t.Fatalf("after darwin up exited, cluster processes = %v; want head and worker still running", procs)
	}

	p2 := startDarwinOn(t, dataDir, port)
	stopOnCleanup(t, p2, id)
	waitStatus(t, p2, id, "active", 30*time.Second)
	job, logs := runJob(t, getDashboards(t, p2, id).Ray+"api/jobs/", `{"entrypoint": "echo reattached"}`)
	if job.Status != "SUCCEEDED" || !strings.Contains(logs, "reattached") {
		t.Fatalf("job after restart: %s %q", job.Status, logs)
	}
	if code := p2.call(http.MethodPost, "/compute/cluster/stop-cluster/"+id, map[string]string{"msd-user": seedUser}, "", nil); code != http.StatusAccepted {
		t.Fatalf("stop after restart = %d", code)
	}
	waitStatus(t, p2, id, "inactive", 30*time.Second)
	testutil.Eventually(t, 15*time.Second, func() bool { return len(processesOf(id)) == 0 },
		"no process of cluster %s left after stop", id)
}

// stopOnCleanup stops the cluster when the test ends, so that a failing test
// leaves no cluster processes behind.
func stopOnCleanup(t *testing.T, p *platform, id string) {
	t.Cleanup(func() {
		select {
		case <-p.waited:
			return
		default:
		}
		p.call(http.MethodPost, "/compute/cluster/stop-cluster/"+id, map[string]string{"msd-user": seedUser}, "", nil)
	})
}
