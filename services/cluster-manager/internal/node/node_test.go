package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/node"
)

type running struct {
	base string
	done chan error
	stop context.CancelFunc
}

// startNode serves a node on a loopback listener until the test ends.
func startNode(t *testing.T, spec node.Spec, clk clock.Clock) running {
	t.Helper()
	if spec.StateDir == "" {
		spec.StateDir = t.TempDir()
	}
	if spec.ClusterID == "" {
		spec.ClusterID = "id-test"
	}
	if spec.PodName == "" {
		spec.PodName = spec.ClusterID + "-kuberay-" + spec.NodeType + "-abcde"
	}
	if spec.StopGraceMS == 0 {
		spec.StopGraceMS = 400
	}
	n, err := node.New(spec, node.Options{Clock: clk, Env: append(os.Environ(), "NODE_MARK="+spec.PodName)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := running{base: "http://" + ln.Addr().String(), done: make(chan error, 1), stop: cancel}
	go func() { r.done <- n.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("node did not stop")
		}
	})
	return r
}

func call(t *testing.T, method, url string, body any, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, data, err)
		}
	}
	return resp.StatusCode, data
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func waitReady(t *testing.T, base string) node.NodeStatus {
	t.Helper()
	var st node.NodeStatus
	waitFor(t, 10*time.Second, "node ready", func() (bool, string) {
		code, body := call(t, http.MethodGet, base+"/internal/status", nil, nil)
		if code != http.StatusOK {
			return false, string(body)
		}
		_ = json.Unmarshal(body, &st)
		return st.Ready, string(body)
	})
	return st
}

func waitJob(t *testing.T, base, id, status string) node.JobDetails {
	t.Helper()
	var d node.JobDetails
	waitFor(t, 10*time.Second, "job "+id+" "+status, func() (bool, string) {
		d = node.JobDetails{}
		code, body := call(t, http.MethodGet, base+"/api/jobs/"+id, nil, nil)
		if code != http.StatusOK {
			return false, string(body)
		}
		_ = json.Unmarshal(body, &d)
		return d.Status == status, d.Status
	})
	return d
}

func TestHeadInitGatesReadiness(t *testing.T) {
	t.Parallel()
	gate := filepath.Join(t.TempDir(), "gate")
	r := startNode(t, node.Spec{NodeType: driver.NodeHead, InitCommands: []string{
		"while [ ! -e " + gate + " ]; do sleep 0.02; done", "echo second; exit 3", "echo third",
	}}, clock.Real())
	waitFor(t, 5*time.Second, "init started", func() (bool, string) {
		var st node.NodeStatus
		code, _ := call(t, http.MethodGet, r.base+"/internal/status", nil, &st)
		return code == http.StatusOK && len(st.Init) == 3 && st.Init[0].Status == node.InitStarted, fmt.Sprint(st)
	})
	for _, p := range []string{"/api/version", "/api/jobs/", "/nodes?view=summary", "/jupyter/api/status", "/"} {
		if code, body := call(t, http.MethodGet, r.base+p, nil, nil); code != http.StatusServiceUnavailable {
			t.Errorf("%s before init finished: %d %s", p, code, body)
		}
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st := waitReady(t, r.base)
	want := []string{node.InitSuccess, node.InitFailed, node.InitSuccess}
	for i, c := range st.Init {
		if c.Status != want[i] {
			t.Errorf("init %d: %+v, want %s", i, c, want[i])
		}
	}
	if st.Init[1].ExitCode != 3 || !strings.Contains(st.Message, "init command 2 failed (exit code 3)") {
		t.Errorf("failure not reported: %+v", st)
	}
	var v map[string]any
	if code, _ := call(t, http.MethodGet, r.base+"/api/version", nil, &v); code != http.StatusOK || v["ray_version"] != node.RayVersion {
		t.Errorf("version: %d %v", code, v)
	}
}

func TestJobsAPI(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	r := startNode(t, node.Spec{NodeType: driver.NodeHead, StateDir: stateDir, MaxConcurrentJobs: 1}, clock.Real())
	waitReady(t, r.base)
	jobs := r.base + "/api/jobs/"

	t.Run("bad submissions", func(t *testing.T) {
		wd := t.TempDir()
		tests := []struct {
			name  string
			body  string
			field string
		}{
			{"empty body", ``, "entrypoint"},
			{"not an object", `[1,2]`, ""},
			{"no entrypoint", `{"runtime_env":{}}`, "entrypoint"},
			{"entrypoint wrong type", `{"entrypoint":5}`, "entrypoint"},
			{"env var not a string", `{"entrypoint":"true","runtime_env":{"env_vars":{"A":1}}}`, "runtime_env.env_vars"},
			{"bad env var name", `{"entrypoint":"true","runtime_env":{"env_vars":{"A-B":"x"}}}`, "runtime_env.env_vars"},
			{"missing working dir", `{"entrypoint":"true","runtime_env":{"working_dir":"` + wd + `/nope"}}`, "runtime_env.working_dir"},
			{"remote working dir", `{"entrypoint":"true","runtime_env":{"working_dir":"s3://bucket/x.zip"}}`, "runtime_env.working_dir"},
			{"runtime_env not object", `{"entrypoint":"true","runtime_env":"x"}`, "runtime_env"},
			{"negative cpus", `{"entrypoint":"true","entrypoint_num_cpus":-1}`, "entrypoint_num_cpus"},
			{"bad submission id", `{"entrypoint":"true","submission_id":"a/b"}`, "submission_id"},
			{"metadata wrong type", `{"entrypoint":"true","metadata":{"a":1}}`, "metadata"},
		}
		for _, tc := range tests {
			var e node.ErrorBody
			code, body := call(t, http.MethodPost, jobs, tc.body, nil)
			_ = json.Unmarshal(body, &e)
			if code != http.StatusBadRequest || e.Field != tc.field || e.Error != "bad_request" {
				t.Errorf("%s: %d %s", tc.name, code, body)
			}
		}
	})

	t.Run("unknown ids are 404", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "nope"}, {http.MethodGet, "nope/logs"}, {http.MethodPost, "nope/stop"}, {http.MethodDelete, "nope"},
		} {
			var e node.ErrorBody
			if code, _ := call(t, c.method, jobs+c.path, nil, &e); code != http.StatusNotFound || e.Error != "not_found" {
				t.Errorf("%s %s: %d %+v", c.method, c.path, code, e)
			}
		}
	})

	// Serial part: one slot, so the second job waits PENDING behind the first.
	var first, second map[string]string
	call(t, http.MethodPost, jobs, map[string]any{"entrypoint": "sleep 20", "submission_id": "blocker"}, &first)
	waitJob(t, r.base, "blocker", node.JobRunning)
	call(t, http.MethodPost, jobs, map[string]any{"entrypoint": "echo queued-ran"}, &second)
	time.Sleep(200 * time.Millisecond)
	if d := waitJob(t, r.base, second["submission_id"], node.JobPending); d.EndTime != nil {
		t.Errorf("pending job has end time: %+v", d)
	}
	if code, _ := call(t, http.MethodPost, jobs, map[string]any{"entrypoint": "true", "submission_id": "blocker"}, nil); code != http.StatusBadRequest {
		t.Errorf("duplicate submission id: %d", code)
	}
	var del map[string]any
	if code, body := call(t, http.MethodDelete, jobs+"blocker", nil, &del); code != http.StatusBadRequest {
		t.Errorf("delete running job: %d %s", code, body)
	}
	var stopped map[string]bool
	call(t, http.MethodPost, jobs+first["job_id"]+"/stop", nil, &stopped) // by job_id
	if !stopped["stopped"] {
		t.Errorf("stop: %v", stopped)
	}
	d := waitJob(t, r.base, "blocker", node.JobStopped)
	if d.EndTime == nil || d.Message != "Job was intentionally stopped." {
		t.Errorf("stopped job %+v", d)
	}
	waitJob(t, r.base, second["submission_id"], node.JobSucceeded)
	call(t, http.MethodPost, jobs+"blocker/stop", nil, &stopped)
	if stopped["stopped"] {
		t.Error("stopping a stopped job reported true")
	}

	call(t, http.MethodPost, jobs, map[string]any{"entrypoint": "echo oops >&2; exit 3", "submission_id": "failing", "metadata": map[string]string{"k": "v"}}, nil)
	d = waitJob(t, r.base, "failing", node.JobFailed)
	if d.DriverExitCode == nil || *d.DriverExitCode != 3 || d.ErrorType == nil || *d.ErrorType != "JOB_ENTRYPOINT_COMMAND_ERROR" ||
		!strings.Contains(d.Message, "exit code 3") || !strings.Contains(d.Message, "oops") || d.Metadata["k"] != "v" || d.Type != "SUBMISSION" {
		t.Errorf("failed job %+v", d)
	}
	var logs map[string]string
	call(t, http.MethodGet, jobs+"failing/logs", nil, &logs)
	if !strings.Contains(logs["logs"], "oops") {
		t.Errorf("logs %q", logs["logs"])
	}
	var list []node.JobDetails
	call(t, http.MethodGet, r.base+"/api/jobs", nil, &list)
	if len(list) != 3 || list[0].SubmissionID != "blocker" {
		t.Errorf("list: %+v", list)
	}
	if code, _ := call(t, http.MethodDelete, jobs+"failing", nil, &del); code != http.StatusOK || del["deleted"] != true {
		t.Errorf("delete finished job: %d %v", code, del)
	}
	if code, _ := call(t, http.MethodGet, jobs+"failing", nil, nil); code != http.StatusNotFound {
		t.Errorf("deleted job still there: %d", code)
	}
	// Relative working_dir resolves against the head's state dir.
	if err := os.Mkdir(filepath.Join(stateDir, "proj"), 0o755); err != nil {
		t.Fatal(err)
	}
	call(t, http.MethodPost, jobs, map[string]any{"entrypoint": "pwd", "submission_id": "rel", "runtime_env": map[string]any{"working_dir": "proj"}}, nil)
	waitJob(t, r.base, "rel", node.JobSucceeded)
	call(t, http.MethodGet, jobs+"rel/logs", nil, &logs)
	if !strings.Contains(logs["logs"], filepath.Join(stateDir, "proj")) {
		t.Errorf("relative working dir: %q", logs["logs"])
	}
}

func TestShutdownStopsJobs(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "pid")
	r := startNode(t, node.Spec{NodeType: driver.NodeHead}, clock.Real())
	waitReady(t, r.base)
	call(t, http.MethodPost, r.base+"/api/jobs/", map[string]any{"entrypoint": "sh -c 'echo $$ > " + marker + "; exec sleep 60'", "submission_id": "long"}, nil)
	var pid int
	waitFor(t, 5*time.Second, "job pid", func() (bool, string) {
		data, err := os.ReadFile(marker)
		_, scanErr := fmt.Sscan(string(data), &pid)
		return err == nil && scanErr == nil && pid > 0, string(data)
	})
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("node did not stop")
	}
	r.done <- nil // for the cleanup
	// The group was signalled before Serve returned; give the kernel a moment to finish it.
	waitFor(t, 3*time.Second, "job process gone", func() (bool, string) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(stat), ") Z"), string(stat)
	})
}

func TestHeartbeatsAndNodeSummary(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := startNode(t, node.Spec{NodeType: driver.NodeHead, NodeTimeoutMS: 1000, CPU: 4, Memory: 8e9}, clk)
	waitReady(t, r.base)
	summary := func() map[string]node.NodeSummary {
		var resp node.NodesResponse
		call(t, http.MethodGet, r.base+"/nodes?view=summary", nil, &resp)
		out := map[string]node.NodeSummary{}
		for _, n := range resp.Data.Summary {
			out[n.PodName] = n
		}
		return out
	}
	if code, _ := call(t, http.MethodPost, r.base+"/internal/heartbeat", `{"group":"x"}`, nil); code != http.StatusBadRequest {
		t.Errorf("heartbeat without pod_name: %d", code)
	}
	call(t, http.MethodPost, r.base+"/internal/heartbeat", node.Heartbeat{PodName: "w1", Group: "worker", Ready: true, CPU: 2}, nil)
	call(t, http.MethodPost, r.base+"/internal/heartbeat", node.Heartbeat{PodName: "w2", Group: "wg1", Ready: false}, nil)
	s := summary()
	head := s["id-test-kuberay-head-abcde"]
	if !head.Raylet.IsHeadNode || head.Raylet.State != "ALIVE" || head.Raylet.ResourcesTotal["CPU"] != 4 {
		t.Errorf("head summary %+v", head)
	}
	if s["w1"].Raylet.State != "ALIVE" || s["w1"].Group != "worker" || s["w1"].Raylet.ResourcesTotal["CPU"] != 2 {
		t.Errorf("w1 %+v", s["w1"])
	}
	if s["w2"].Raylet.State != "PENDING" {
		t.Errorf("w2 %+v", s["w2"])
	}
	clk.Advance(2 * time.Second)
	call(t, http.MethodPost, r.base+"/internal/heartbeat", node.Heartbeat{PodName: "w2", Group: "wg1", Ready: true}, nil)
	s = summary()
	if s["w1"].Raylet.State != "DEAD" || s["w2"].Raylet.State != "ALIVE" {
		t.Errorf("after timeout: w1 %s w2 %s", s["w1"].Raylet.State, s["w2"].Raylet.State)
	}

	// Jupyter activity: status, empty kernels/terminals, lab visits bump last_activity.
	var js1, js2 node.JupyterStatus
	call(t, http.MethodGet, r.base+"/jupyter/api/status", nil, &js1)
	clk.Advance(time.Minute)
	if code, body := call(t, http.MethodGet, r.base+"/jupyter/lab", nil, nil); code != http.StatusOK || !strings.Contains(string(body), "JupyterLab") {
		t.Errorf("lab: %d", code)
	}
	call(t, http.MethodGet, r.base+"/jupyter/api/status", nil, &js2)
	if js1.Started != "2026-01-01T00:00:00.000000Z" || js2.LastActivity != "2026-01-01T00:01:02.000000Z" || js2.Kernels != 0 {
		t.Errorf("jupyter status %+v then %+v", js1, js2)
	}
	for _, p := range []string{"/jupyter/api/kernels", "/jupyter/api/terminals"} {
		if code, body := call(t, http.MethodGet, r.base+p, nil, nil); code != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	if code, body := call(t, http.MethodGet, r.base+"/", nil, nil); code != http.StatusOK || !strings.Contains(string(body), "w1") {
		t.Errorf("dashboard: %d %s", code, body)
	}
}

func TestWorkerHeartbeatsToHead(t *testing.T) {
	t.Parallel()
	head := startNode(t, node.Spec{NodeType: driver.NodeHead, NodeTimeoutMS: 1000}, clock.Real())
	waitReady(t, head.base)
	w := startNode(t, node.Spec{NodeType: driver.NodeWorker, PodName: "wk-1", Group: "worker", HeadURL: head.base, HeartbeatIntervalMS: 50,
		InitCommands: []string{"true"}}, clock.Real())
	st := waitReady(t, w.base)
	waitFor(t, 5*time.Second, "worker ALIVE at head", func() (bool, string) {
		var resp node.NodesResponse
		call(t, http.MethodGet, head.base+"/nodes?view=summary", nil, &resp)
		for _, n := range resp.Data.Summary {
			if n.PodName == "wk-1" {
				return n.Raylet.State == "ALIVE" && n.ExecAddress == strings.TrimPrefix(w.base, "http://"), n.Raylet.State
			}
		}
		return false, "absent"
	})
	if st.NodeType != driver.NodeWorker || st.Group != "worker" {
		t.Errorf("worker status %+v", st)
	}
	// Workers serve only the internal API.
	if code, _ := call(t, http.MethodGet, w.base+"/api/jobs/", nil, nil); code != http.StatusNotFound {
		t.Errorf("worker jobs API: %d", code)
	}
}

func TestExecEndpoint(t *testing.T) {
	t.Parallel()
	r := startNode(t, node.Spec{NodeType: driver.NodeWorker, PodName: "ex-1", HeadURL: "http://127.0.0.1:1", HeartbeatIntervalMS: 1000}, clock.Real())
	waitReady(t, r.base)
	bad := []struct{ body, field string }{
		{`{"command":"true"}`, "execution_id"},
		{`{"execution_id":"../x","command":"true"}`, "execution_id"},
		{`{"execution_id":"e1"}`, "command"},
		{`{"execution_id":"e1","command":"true","timeout_seconds":-1}`, "timeout_seconds"},
		{`nope`, ""},
	}
	for _, b := range bad {
		var e node.ErrorBody
		if code, _ := call(t, http.MethodPost, r.base+"/internal/exec", b.body, &e); code != http.StatusBadRequest || e.Field != b.field {
			t.Errorf("%s: %d %+v", b.body, code, e)
		}
	}
	get := func(id string) node.ExecStatus {
		var st node.ExecStatus
		waitFor(t, 10*time.Second, "exec "+id+" done", func() (bool, string) {
			st = node.ExecStatus{}
			call(t, http.MethodGet, r.base+"/internal/exec/"+id, nil, &st)
			return st.Status != "" && st.Status != driver.ExecRunning, st.Status
		})
		return st
	}
	if code, _ := call(t, http.MethodPost, r.base+"/internal/exec", node.ExecRequest{ExecutionID: "ok-1", Command: "echo mark=$NODE_MARK; pwd"}, nil); code != http.StatusAccepted {
		t.Fatalf("exec: %d", code)
	}
	st := get("ok-1")
	if st.Status != driver.ExecSuccess || st.ExitCode != 0 || !strings.Contains(st.Output, "mark=ex-1") || st.PodName != "ex-1" {
		t.Errorf("ok-1 %+v", st)
	}
	// Same id again: the existing execution, not a second run.
	var again node.ExecStatus
	call(t, http.MethodPost, r.base+"/internal/exec", node.ExecRequest{ExecutionID: "ok-1", Command: "exit 9"}, &again)
	if again.Status != driver.ExecSuccess || again.Command != st.Command {
		t.Errorf("retry with the same id re-ran: %+v", again)
	}
	call(t, http.MethodPost, r.base+"/internal/exec", node.ExecRequest{ExecutionID: "slow", Command: "echo started; sleep 30", TimeoutSeconds: 1}, nil)
	st = get("slow")
	if st.Status != driver.ExecFailed || !strings.Contains(st.Message, "timed out") || !strings.Contains(st.Output, "started") {
		t.Errorf("timeout %+v", st)
	}
	if code, _ := call(t, http.MethodGet, r.base+"/internal/exec/unknown", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown exec: %d", code)
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	specPath := filepath.Join(t.TempDir(), "spec.json")
	data, _ := json.Marshal(node.Spec{ClusterID: "from-spec", PodName: "p", StateDir: "/tmp/x", Port: 1234, InitCommands: []string{"a"}})
	if err := os.WriteFile(specPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(node.Spec) bool
	}{
		{"no kind", nil, "usage", nil},
		{"bad kind", []string{"gpu"}, "usage", nil},
		{"head flags", []string{"head", "--cluster-id", "c1", "--port", "80", "--state-dir", "/s", "--name", "n"}, "",
			func(s node.Spec) bool { return s.ClusterID == "c1" && s.Port == 80 && s.NodeType == "head" }},
		{"worker needs head", []string{"worker", "--cluster-id", "c1", "--state-dir", "/s", "--name", "n"}, "--head", nil},
		{"spec file with override", []string{"head", "--spec", specPath, "--cluster-id", "c2"}, "",
			func(s node.Spec) bool { return s.ClusterID == "c2" && s.Port == 1234 && len(s.InitCommands) == 1 }},
		{"missing cluster id", []string{"head", "--state-dir", "/s", "--name", "n"}, "--cluster-id", nil},
		{"bad port", []string{"head", "--cluster-id", "c", "--state-dir", "/s", "--name", "n", "--port", "70000"}, "out of range", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := node.ParseArgs(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(s) {
				t.Fatalf("%+v %v", s, err)
			}
		})
	}
}

func TestNodeExitsWhenStateDirRemoved(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	dir := filepath.Join(t.TempDir(), "pod")
	r := startNode(t, node.Spec{NodeType: driver.NodeHead, StateDir: dir}, clk)
	waitReady(t, r.base)
	clk.Advance(node.StateDirCheckInterval)
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-r.done:
		t.Fatalf("node stopped while its state dir exists: %v", err)
	default:
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// The watcher's ticker may need several fake ticks to observe the removal.
	deadline := time.Now().Add(5 * time.Second)
	for {
		clk.Advance(node.StateDirCheckInterval)
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
			r.done <- nil // for the cleanup
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("node kept running after its state dir was removed")
		}
	}
}
