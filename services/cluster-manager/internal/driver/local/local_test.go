package local_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver/local"
	"github.com/darwinml/darwin/services/cluster-manager/internal/testbin"
)

var nodeBin string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &nodeBin)) }

func newDriver(t *testing.T, dataDir string) *local.Driver {
	t.Helper()
	store, err := artifact.Open(context.Background(), filepath.Join(dataDir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := local.New(local.Config{
		DataDir: dataDir, NodeCommand: []string{nodeBin, "node"},
		HeartbeatInterval: 200 * time.Millisecond, NodeTimeout: time.Second, StopGrace: 2 * time.Second, MaxConcurrentJobs: 4,
	}, store, slog.New(slog.DiscardHandler), clock.Real())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func clusterID(t *testing.T) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "id-" + hex.EncodeToString(b)
}

func values(t *testing.T, doc map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventually polls cond every 100ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last state: %s", timeout, what, last)
}

func waitPods(t *testing.T, d *local.Driver, cluster string, want int) driver.Status {
	t.Helper()
	var st driver.Status
	eventually(t, 20*time.Second, "all pods Running", func() (bool, string) {
		var err error
		st, err = d.Status(t.Context(), cluster)
		if err != nil {
			return false, err.Error()
		}
		if len(st.Pods) != want {
			return false, fmt.Sprintf("%d pods", len(st.Pods))
		}
		for _, p := range st.Pods {
			if p.Status != driver.PodRunning {
				return false, fmt.Sprintf("%+v", st.Pods)
			}
		}
		return true, ""
	})
	return st
}

// pidsWhere lists live processes (not this one) whose /proc/<pid>/<file> satisfies match.
func pidsWhere(file string, match func(string) bool) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), file))
		if err == nil && len(data) > 0 && match(string(data)) {
			out = append(out, pid)
		}
	}
	return out
}

// pidsWithCmdline lists live processes whose command line contains s.
func pidsWithCmdline(s string) []int {
	return pidsWhere("cmdline", func(c string) bool { return strings.Contains(c, s) })
}

// pidsWithEnv lists live processes carrying env var kv.
func pidsWithEnv(kv string) []int {
	return pidsWhere("environ", func(env string) bool { return slices.Contains(strings.Split(env, "\x00"), kv) })
}

type jobsClient struct {
	t    *testing.T
	base string
}

func (c jobsClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

type jobDetails struct {
	Status         string `json:"status"`
	SubmissionID   string `json:"submission_id"`
	EndTime        *int64 `json:"end_time"`
	DriverExitCode *int   `json:"driver_exit_code"`
}

func (c jobsClient) waitJob(id, status string) jobDetails {
	c.t.Helper()
	var d jobDetails
	eventually(c.t, 15*time.Second, "job "+id+" "+status, func() (bool, string) {
		if code := c.do(http.MethodGet, "/api/jobs/"+id, nil, &d); code != http.StatusOK {
			return false, fmt.Sprint(code)
		}
		return d.Status == status, d.Status
	})
	return d
}

func TestLocalClusterLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dataDir := t.TempDir()
	d := newDriver(t, dataDir)
	id := clusterID(t)
	doc := map[string]any{
		"cluster_id": id, "cluster_name": "lifecycle",
		"head":                   map[string]any{"containerEnv": []map[string]string{{"name": "FOO", "value": "head-value"}}},
		"worker":                 map[string]any{"groupName": "worker", "replicas": 2, "minReplicas": 2, "maxReplicas": 3, "containerEnv": []map[string]string{{"name": "FOO", "value": "worker-value"}}},
		"additionalWorkerGroups": map[string]any{"wg1": map[string]any{"disabled": true, "replicas": 3}},
		"commands":               []string{"echo init-ran > init-marker.txt"},
		"remoteCommand":          map[string]any{"commands": map[string]any{"head": []map[string]string{{"execution_id": "rc-head-1", "command": "cat init-marker.txt"}}}},
	}
	url, err := d.Apply(ctx, id, id+"-v1", values(t, doc))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !strings.HasPrefix(url, "file://") || !strings.HasSuffix(url, id+"-v1.json") {
		t.Fatalf("artifact url %q", url)
	}
	if err := d.Start(ctx, id, id+"-v1"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background(), id) })

	st := waitPods(t, d, id, 3)
	if !st.Installed || st.Artifact != id+"-v1" {
		t.Fatalf("status %+v", st)
	}
	var head driver.Pod
	var workers []driver.Pod
	for _, p := range st.Pods {
		if p.NodeType == driver.NodeHead {
			head = p
		} else {
			workers = append(workers, p)
		}
	}
	if !strings.HasPrefix(head.Name, id+"-kuberay-head-") || len(head.Name) != len(id+"-kuberay-head-")+5 {
		t.Errorf("head pod name %q", head.Name)
	}
	if len(workers) != 2 {
		t.Fatalf("workers %+v", workers)
	}
	for _, w := range workers {
		if !strings.HasPrefix(w.Name, id+"-kuberay-worker-worker-") || w.Group != "worker" {
			t.Errorf("worker pod %+v", w)
		}
	}

	// Starting again with the same artifact keeps the running pods.
	if err := d.Start(ctx, id, id+"-v1"); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if st2 := waitPods(t, d, id, 3); st2.Pods[0].Name != st.Pods[0].Name {
		t.Errorf("idempotent start replaced pods: %v vs %v", st2.Pods, st.Pods)
	}

	headURL, err := d.HeadURL(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.DashboardURL != headURL || st.JupyterURL != headURL+"/jupyter" {
		t.Errorf("urls %q %q vs head %q", st.DashboardURL, st.JupyterURL, headURL)
	}
	jobs := jobsClient{t: t, base: headURL}

	t.Run("job with env vars and working_dir", func(t *testing.T) {
		wd := t.TempDir()
		if err := os.WriteFile(filepath.Join(wd, "data.txt"), []byte("from-working-dir"), 0o644); err != nil {
			t.Fatal(err)
		}
		var sub struct {
			JobID        string `json:"job_id"`
			SubmissionID string `json:"submission_id"`
		}
		code := jobs.do(http.MethodPost, "/api/jobs/", map[string]any{
			"entrypoint":  "echo var=$JOB_VAR foo=$FOO; cat data.txt",
			"runtime_env": map[string]any{"env_vars": map[string]string{"JOB_VAR": "job-value-42"}, "working_dir": wd},
			"metadata":    map[string]string{"owner": "test"},
		}, &sub)
		if code != http.StatusOK || !strings.HasPrefix(sub.SubmissionID, "raysubmit_") || sub.JobID == "" {
			t.Fatalf("submit: %d %+v", code, sub)
		}
		det := jobsClient{t: t, base: headURL}.waitJob(sub.SubmissionID, "SUCCEEDED")
		if det.DriverExitCode == nil || *det.DriverExitCode != 0 || det.EndTime == nil {
			t.Errorf("details %+v", det)
		}
		var logs struct {
			Logs string `json:"logs"`
		}
		jobsClient{t: t, base: headURL}.do(http.MethodGet, "/api/jobs/"+sub.JobID+"/logs", nil, &logs)
		for _, want := range []string{"var=job-value-42", "foo=head-value", "from-working-dir"} {
			if !strings.Contains(logs.Logs, want) {
				t.Errorf("logs %q lack %q", logs.Logs, want)
			}
		}
	})

	t.Run("stop a running job", func(t *testing.T) {
		jc := jobsClient{t: t, base: headURL}
		var sub struct {
			SubmissionID string `json:"submission_id"`
		}
		jc.do(http.MethodPost, "/api/jobs/", map[string]any{"entrypoint": "sleep 30", "submission_id": "stop-me-" + id}, &sub)
		jc.waitJob(sub.SubmissionID, "RUNNING")
		var stopped map[string]bool
		if code := jc.do(http.MethodPost, "/api/jobs/"+sub.SubmissionID+"/stop", nil, &stopped); code != http.StatusOK || !stopped["stopped"] {
			t.Fatalf("stop: %d %v", code, stopped)
		}
		det := jc.waitJob(sub.SubmissionID, "STOPPED")
		if det.EndTime == nil {
			t.Errorf("stopped job without end_time: %+v", det)
		}
		// The kill is delivered when the job turns STOPPED; the process may take a moment to go.
		ours := func() []int {
			var out []int
			for _, pid := range pidsWithCmdline("sleep\x0030") {
				env, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
				if strings.Contains(string(env), "DARWIN_CLUSTER_ID="+id) {
					out = append(out, pid)
				}
			}
			return out
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(ours()) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if pids := ours(); len(pids) > 0 {
			t.Errorf("stopped job processes %v still alive 5 s after STOPPED", pids)
		}
	})

	t.Run("exec on head, workers and cluster", func(t *testing.T) {
		tests := []struct {
			target   string
			command  string
			pods     int
			status   string
			exitCode int
			output   string
		}{
			{driver.TargetHead, "echo pod=$DARWIN_POD_NAME foo=$FOO", 1, driver.ExecSuccess, 0, "foo=head-value"},
			{driver.TargetWorker, "echo foo=$FOO; pwd", 2, driver.ExecSuccess, 0, "foo=worker-value"},
			{driver.TargetCluster, "echo failing; exit 7", 3, driver.ExecFailed, 7, "failing"},
		}
		for i, tc := range tests {
			execID := fmt.Sprintf("exec-%d-%s", i, tc.target)
			started, err := d.Exec(ctx, driver.ExecRequest{Cluster: id, Target: tc.target, Command: tc.command, ExecutionID: execID, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatalf("Exec %s: %v", tc.target, err)
			}
			if len(started) != tc.pods {
				t.Fatalf("Exec %s started on %v", tc.target, started)
			}
			var res []driver.PodExec
			eventually(t, 10*time.Second, "exec "+execID, func() (bool, string) {
				res, err = d.ExecStatus(ctx, id, execID)
				if err != nil {
					return false, err.Error()
				}
				for _, p := range res {
					if p.Status == driver.ExecRunning {
						return false, fmt.Sprintf("%+v", res)
					}
				}
				return true, ""
			})
			if len(res) != tc.pods {
				t.Fatalf("%s: %d pod results", tc.target, len(res))
			}
			for _, p := range res {
				if p.Status != tc.status || p.ExitCode != tc.exitCode || !strings.Contains(p.Output, tc.output) {
					t.Errorf("%s: pod result %+v", tc.target, p)
				}
				if tc.target == driver.TargetHead && !strings.Contains(p.Output, "pod="+p.Pod) {
					t.Errorf("head exec did not run in the head pod: %q", p.Output)
				}
				if tc.target == driver.TargetWorker && !strings.Contains(p.Output, filepath.Join("pods", p.Pod)) {
					t.Errorf("worker exec did not run in the pod's working dir: %q", p.Output)
				}
			}
		}
		if _, err := d.ExecStatus(ctx, id, "no-such-exec"); apierr.KindOf(err) != apierr.NotFound {
			t.Errorf("unknown execution: %v", err)
		}
	})

	t.Run("remote command from values ran after init", func(t *testing.T) {
		var res []driver.PodExec
		eventually(t, 10*time.Second, "remote command", func() (bool, string) {
			var err error
			res, err = d.ExecStatus(ctx, id, "rc-head-1")
			return err == nil && len(res) == 1 && res[0].Status != driver.ExecRunning, fmt.Sprintf("%+v %v", res, err)
		})
		if res[0].Status != driver.ExecSuccess || !strings.Contains(res[0].Output, "init-ran") || res[0].Pod != head.Name {
			t.Errorf("remote command %+v", res[0])
		}
	})

	// A long job must not survive Stop either.
	var sub struct {
		SubmissionID string `json:"submission_id"`
	}
	jobs.do(http.MethodPost, "/api/jobs/", map[string]any{"entrypoint": "sleep 300"}, &sub)
	jobs.waitJob(sub.SubmissionID, "RUNNING")

	// Kill one worker: its pod turns Failed, the rest keep running.
	victim := workers[0]
	pids := pidsWithCmdline("--name\x00" + victim.Name + "\x00")
	if len(pids) != 1 {
		t.Fatalf("worker %s pids %v", victim.Name, pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "killed worker reported Failed", func() (bool, string) {
		st, err := d.Status(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range st.Pods {
			if p.Name == victim.Name {
				return p.Status == driver.PodFailed && strings.Contains(p.Message, "signal"), fmt.Sprintf("%+v", p)
			}
		}
		return false, "pod missing"
	})
	st, _ = d.Status(ctx, id)
	for _, p := range st.Pods {
		if p.Name != victim.Name && p.Status != driver.PodRunning {
			t.Errorf("pod %s is %s after another worker died", p.Name, p.Status)
		}
	}
	rels, err := d.List(ctx)
	if err != nil || !slices.ContainsFunc(rels, func(r driver.Release) bool { return r.Name == id && r.Status == driver.PodRunning }) {
		t.Errorf("List: %+v %v", rels, err)
	}

	if err := d.Stop(ctx, id); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if left := pidsWithCmdline(id); len(left) > 0 {
		t.Errorf("processes with the cluster id in their command line survived Stop: %v", left)
	}
	if left := pidsWithEnv("DARWIN_CLUSTER_ID=" + id); len(left) > 0 {
		t.Errorf("processes of the cluster (jobs) survived Stop: %v", left)
	}
	st, err = d.Status(ctx, id)
	if err != nil || st.Installed || len(st.Pods) != 0 {
		t.Errorf("status after stop: %+v %v", st, err)
	}
	if _, err := d.Exec(ctx, driver.ExecRequest{Cluster: id, Command: "true"}); apierr.KindOf(err) != apierr.FailedPrecondition {
		t.Errorf("exec on stopped cluster: %v", err)
	}
	// Stopping again is fine.
	if err := d.Stop(ctx, id); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestReattachAfterRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dataDir := t.TempDir()
	first := newDriver(t, dataDir)
	id := clusterID(t)
	doc := map[string]any{"cluster_id": id, "worker": map[string]any{"replicas": 2}}
	if _, err := first.Apply(ctx, id, id+"-v1", values(t, doc)); err != nil {
		t.Fatal(err)
	}
	if err := first.Start(ctx, id, ""); err != nil { // "" = last applied artifact
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = first.Stop(context.Background(), id)
		for _, pid := range pidsWithCmdline(id) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	st := waitPods(t, first, id, 3)

	// One worker dies while the manager is "down".
	dead := st.Pods[2].Name
	for _, pid := range pidsWithCmdline("--name\x00" + dead + "\x00") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}

	// A new driver instance over the same data dir (the restarted service).
	second := newDriver(t, dataDir)
	if err := second.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	eventually(t, 15*time.Second, "re-attached status", func() (bool, string) {
		st, err := second.Status(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		ok := len(st.Pods) == 3
		for _, p := range st.Pods {
			want := driver.PodRunning
			if p.Name == dead {
				want = driver.PodFailed
			}
			ok = ok && p.Status == want
		}
		return ok, fmt.Sprintf("%+v", st.Pods)
	})
	started, err := second.Exec(ctx, driver.ExecRequest{Cluster: id, Target: driver.TargetHead, Command: "true", ExecutionID: "after-restart"})
	if err != nil || len(started) != 1 {
		t.Fatalf("exec through re-attached driver: %v %v", started, err)
	}
	if err := second.Stop(ctx, id); err != nil {
		t.Fatalf("Stop via re-attached driver: %v", err)
	}
	eventually(t, 5*time.Second, "no processes left", func() (bool, string) {
		left := pidsWithCmdline(id)
		return len(left) == 0, fmt.Sprint(left)
	})
}

func TestDriverErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := newDriver(t, t.TempDir())
	good := values(t, map[string]any{"worker": map[string]any{"replicas": 0}})
	if _, err := d.Apply(ctx, "known", "known-v1", good); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		call  func() error
		kind  apierr.Kind
		field string
	}{
		{"apply bad json", func() error { _, err := d.Apply(ctx, "c1", "c1-v1", []byte("{nope")); return err }, apierr.InvalidArgument, "values"},
		{"apply bad replicas", func() error {
			_, err := d.Apply(ctx, "c1", "c1-v1", []byte(`{"worker":{"replicas":-1}}`))
			return err
		}, apierr.InvalidArgument, "worker.replicas"},
		{"apply bad cluster name", func() error { _, err := d.Apply(ctx, "../x", "a", good); return err }, apierr.InvalidArgument, "cluster_name"},
		{"apply empty artifact", func() error { _, err := d.Apply(ctx, "c1", "", good); return err }, apierr.InvalidArgument, "artifact_name"},
		{"start unknown artifact", func() error { return d.Start(ctx, "known", "known-v9") }, apierr.NotFound, ""},
		{"start without any artifact", func() error { return d.Start(ctx, "fresh", "") }, apierr.InvalidArgument, "artifact_name"},
		{"status unknown", func() error { _, err := d.Status(ctx, "unknown"); return err }, apierr.NotFound, ""},
		{"stop unknown", func() error { return d.Stop(ctx, "unknown") }, apierr.NotFound, ""},
		{"exec not running", func() error { _, err := d.Exec(ctx, driver.ExecRequest{Cluster: "known", Command: "true"}); return err }, apierr.FailedPrecondition, ""},
		{"exec bad target", func() error {
			_, err := d.Exec(ctx, driver.ExecRequest{Cluster: "known", Command: "true", Target: "gpu"})
			return err
		}, apierr.InvalidArgument, "target"},
		{"exec no command", func() error { _, err := d.Exec(ctx, driver.ExecRequest{Cluster: "known"}); return err }, apierr.InvalidArgument, "command"},
		{"head url not running", func() error { _, err := d.HeadURL(ctx, "known"); return err }, apierr.FailedPrecondition, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			e := apierr.From(err)
			if err == nil || e.Kind != tc.kind || e.Field != tc.field {
				t.Fatalf("got %v (kind %v field %q), want kind %v field %q", err, e.Kind, e.Field, tc.kind, tc.field)
			}
		})
	}
	st, err := d.Status(ctx, "known")
	if err != nil || st.Installed || len(st.Pods) != 0 {
		t.Errorf("applied but not started: %+v %v", st, err)
	}
	if err := d.Stop(ctx, "known"); err != nil {
		t.Errorf("stop of a known, stopped cluster: %v", err)
	}
}
