package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// exampleFile is the repository's examples/cluster.yaml (the SDK format).
func exampleFile(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..", "examples", "cluster.yaml")
}

// darwinCLI runs the darwin binary against p and returns stdout; stderr is
// returned separately for progress assertions.
func darwinCLI(t *testing.T, p *platform, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(darwinBinary(t), append(args, "--url", p.base)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("darwin %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// TestE2ECLI drives the same lifecycle with the darwin CLI and the SDK-format
// example file from the README.
func TestE2ECLI(t *testing.T) {
	p := startDarwin(t, "")

	out, progress := darwinCLI(t, p, "compute", "create", "-f", exampleFile(t), "--wait", "--timeout", "90s", "-o", "json")
	var created struct {
		ClusterID string `json:"cluster_id"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || !clusterIDRe.MatchString(created.ClusterID) {
		t.Fatalf("create -o json printed %q (%v)", out, err)
	}
	id := created.ClusterID
	stopOnCleanup(t, p, id)
	if !strings.Contains(progress, "active") {
		t.Errorf("create --wait progress on stderr lacks the active status: %q", progress)
	}

	list, _ := darwinCLI(t, p, "compute", "list", "-o", "table")
	if !strings.Contains(list, id) || !strings.Contains(list, "my-first-cluster") || !strings.Contains(list, "active") {
		t.Errorf("list table lacks the cluster:\n%s", list)
	}
	status, _ := darwinCLI(t, p, "compute", "status", id, "-o", "yaml")
	if !strings.Contains(status, "status: active") {
		t.Errorf("status -o yaml = %q", status)
	}

	start := time.Now()
	_, stopProgress := darwinCLI(t, p, "compute", "stop", id, "--wait", "--timeout", "60s")
	if !strings.Contains(stopProgress, "inactive") {
		t.Errorf("stop --wait progress lacks inactive: %q", stopProgress)
	}
	t.Logf("stop --wait took %v", time.Since(start).Round(time.Millisecond))
	if procs := processesOf(id); len(procs) != 0 {
		t.Errorf("processes left after stop --wait: %v", procs)
	}
	darwinCLI(t, p, "compute", "delete", id)
	if code := p.call("GET", "/compute/cluster/"+id, nil, "", nil); code != 404 {
		t.Errorf("GET after CLI delete = %d, want 404", code)
	}
}
