package cli

import (
	"strings"
	"testing"
)

func meta(status, runID string) reply {
	return ok(`{"cluster_id":"id-abc123","status":"` + status + `","active_cluster_runid":"` + runID + `"}`)
}

func TestWait(t *testing.T) {
	t.Parallel()
	const metaPath = "/compute/cluster/id-abc123/metadata"
	tests := []struct {
		name      string
		args      []string
		action    [2]string // method, path of the action request
		actionRep reply
		statuses  []reply
		wantErr   string
		golden    string   // stderr golden file, when set
		stderrHas []string // substrings of stderr
		polls     int      // metadata GETs expected
	}{
		{
			name:      "create walks to active",
			args:      []string{"compute", "create", "-f", "testdata/cluster.yaml", "--wait"},
			action:    [2]string{"POST", "/compute/cluster"},
			actionRep: okMsg(200, "Cluster created successfully", `{"cluster_id":"id-abc123","packages":[]}`),
			statuses: []reply{meta("creating", "r1"), meta("creating", "r1"), meta("head_node_up", "r1"),
				meta("jupyter_up", "r1"), meta("jupyter_up", "r1"), meta("active", "r1")},
			golden: "wait_create.stderr",
			polls:  6,
		},
		{
			name:      "start from inactive is not a failure",
			args:      []string{"compute", "start", "id-abc123", "--wait"},
			action:    [2]string{"POST", "/compute/cluster/start-cluster/id-abc123"},
			actionRep: okMsg(202, "Cluster Start Accepted", `{}`),
			statuses:  []reply{meta("inactive", ""), meta("creating", "r2"), meta("active", "r2")},
			stderrHas: []string{"inactive → creating", "creating → active", "cluster id-abc123 is active: inactive → creating → active (4.0s)"},
			polls:     3,
		},
		{
			name:      "timeout",
			args:      []string{"compute", "start", "id-abc123", "--wait", "--timeout", "5s"},
			action:    [2]string{"POST", "/compute/cluster/start-cluster/id-abc123"},
			actionRep: okMsg(202, "Cluster Start Accepted", `{}`),
			statuses:  []reply{meta("creating", "r1")},
			wantErr:   "timed out after 5s waiting for active (last status creating)",
			polls:     4, // at 0s, 2s, 4s, 6s
		},
		{
			name:      "stop waits for inactive",
			args:      []string{"compute", "stop", "id-abc123", "--wait"},
			action:    [2]string{"POST", "/compute/cluster/stop-cluster/id-abc123"},
			actionRep: okMsg(202, "Cluster stopped successfully", `{"cluster_id":"id-abc123"}`),
			statuses:  []reply{meta("active", "r1"), meta("inactive", "r1")},
			stderrHas: []string{"to become inactive", "active → inactive", "is inactive"},
			polls:     2,
		},
		{
			name:      "cluster dies back to inactive",
			args:      []string{"compute", "start", "id-abc123", "--wait"},
			action:    [2]string{"POST", "/compute/cluster/start-cluster/id-abc123"},
			actionRep: okMsg(202, "Cluster Start Accepted", `{}`),
			statuses:  []reply{meta("creating", "r1"), meta("head_node_up", "r1"), meta("inactive", "r1")},
			wantErr:   "became inactive before reaching active (creating → head_node_up → inactive)",
			polls:     3,
		},
		{
			name:      "restart waits for the new run",
			args:      []string{"compute", "restart", "id-abc123", "--wait"},
			action:    [2]string{"POST", "/compute/cluster/restart-cluster/id-abc123"},
			actionRep: okMsg(202, "Restart Cluster Accepted", `{}`),
			// first reply answers the pre-restart read
			statuses:  []reply{meta("active", "r1"), meta("active", "r1"), meta("creating", "r2"), meta("active", "r2")},
			stderrHas: []string{"active → creating", "creating → active", "is active: active → creating → active"},
			polls:     4,
		},
		{
			name:      "restart done when the run id changes",
			args:      []string{"compute", "restart", "id-abc123", "--wait"},
			action:    [2]string{"POST", "/compute/cluster/restart-cluster/id-abc123"},
			actionRep: okMsg(202, "Restart Cluster Accepted", `{}`),
			statuses:  []reply{meta("active", "r1"), meta("active", "r2")},
			polls:     2,
		},
		{
			name:      "not found stops the wait",
			args:      []string{"compute", "start", "id-abc123", "--wait"},
			action:    [2]string{"POST", "/compute/cluster/start-cluster/id-abc123"},
			actionRep: okMsg(202, "Cluster Start Accepted", `{}`),
			statuses:  []reply{fail(404, "Cluster id-abc123 not found")},
			wantErr:   "wait for cluster id-abc123: Cluster id-abc123 not found",
			polls:     1,
		},
		{
			name:      "server errors are retried",
			args:      []string{"compute", "start", "id-abc123", "--wait"},
			action:    [2]string{"POST", "/compute/cluster/start-cluster/id-abc123"},
			actionRep: okMsg(202, "Cluster Start Accepted", `{}`),
			statuses:  []reply{fail(503, "database busy"), fail(503, "database busy"), meta("active", "r1")},
			stderrHas: []string{"poll error (retrying): database busy"},
			polls:     3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, srv := newFakeAPI(t)
			api.on(tc.action[0], tc.action[1], tc.actionRep)
			api.on("GET", metaPath, tc.statuses...)
			res := runCLI(t, srv.URL, "", tc.args...)
			switch {
			case tc.wantErr == "" && res.err != nil:
				t.Fatalf("wait failed: %v\nstderr:\n%s", res.err, res.stderr)
			case tc.wantErr != "" && (res.err == nil || !strings.Contains(res.err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want %q\nstderr:\n%s", res.err, tc.wantErr, res.stderr)
			}
			if tc.golden != "" {
				golden(t, tc.golden, res.stderr)
			}
			for _, s := range tc.stderrHas {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, res.stderr)
				}
			}
			if n := api.count("GET", metaPath); n != tc.polls {
				t.Errorf("polled metadata %d times, want %d", n, tc.polls)
			}
			if n := api.count(tc.action[0], tc.action[1]); n != 1 {
				t.Errorf("action sent %d times, want 1", n)
			}
			if strings.Contains(res.stdout, "→") {
				t.Errorf("progress belongs on stderr, stdout = %q", res.stdout)
			}
		})
	}
}

func TestNoWaitDoesNotPoll(t *testing.T) {
	t.Parallel()
	api, srv := newFakeAPI(t)
	api.on("POST", "/compute/cluster/start-cluster/id-1", okMsg(202, "Cluster Start Accepted", `{}`))
	res := runCLI(t, srv.URL, "", "compute", "start", "id-1")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(api.requests()) != 1 || res.stderr != "" {
		t.Errorf("requests = %d, stderr = %q", len(api.requests()), res.stderr)
	}
}
