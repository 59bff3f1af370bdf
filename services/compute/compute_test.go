package compute_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/server"
	computev1 "github.com/darwinml/darwin/proto/darwin/compute/v1"
	"github.com/darwinml/darwin/services/compute"
	"github.com/darwinml/darwin/services/compute/internal/fakes"
)

type env struct {
	svc   *compute.Service
	cm    *fakes.ClusterManager
	probe *fakes.Probe
	clk   *clock.Fake
	url   string
	srv   *server.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	e := &env{cm: fakes.NewClusterManager(), probe: &fakes.Probe{}, clk: clk}
	cfg := compute.Config{DataDir: filepath.Join(t.TempDir(), "data"), PublicURL: "http://localhost:8080", PollInterval: time.Hour}
	svc, err := compute.New(cfg, compute.Deps{Logger: log.Discard(), Clock: clk, ClusterManagerClient: e.cm, Probe: e.probe})
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mod.Stop(t.Context()) })
	srv, err := server.New(server.Config{HTTPAddr: "127.0.0.1:0"}, log.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.RegisterHealth(srv.Health)
	srv.HTTP.Route("/compute", svc.RegisterHTTP)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.WithoutCancel(t.Context())) })
	e.svc, e.url, e.srv = svc, "http://"+srv.HTTPAddr()+"/compute", srv
	return e
}

type reply struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) data() map[string]any { m, _ := r.body["data"].(map[string]any); return m }

func (e *env) do(t *testing.T, method, path, body string, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, header: resp.Header, raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

func seedBody(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/quickstart.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const sdkUser = `{"email": "user@example.com"}`

// TestQuickStartOverHTTP follows the seed README's quick start against the REST API.
func TestQuickStartOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(t, http.MethodPost, "/cluster", seedBody(t), "X-Request-ID", "req-123")
	if r.code != 200 || r.body["status"] != "SUCCESS" || r.body["message"] != "Cluster created successfully" {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	if r.header.Get("X-Request-ID") != "req-123" {
		t.Fatalf("request id not echoed: %v", r.header)
	}
	id, _ := r.data()["cluster_id"].(string)
	if !strings.HasPrefix(id, "id-") {
		t.Fatalf("cluster_id %q", id)
	}
	if pk, ok := r.data()["packages"].([]any); !ok || len(pk) != 0 {
		t.Fatalf("packages: %s", r.raw)
	}

	meta := e.do(t, http.MethodGet, "/cluster/"+id+"/metadata", "")
	if meta.code != 200 || meta.data()["status"] != "creating" || meta.data()["artifact_id"] != id+"-v1" || meta.data()["cluster_name"] != "my-first-cluster" {
		t.Fatalf("metadata: %s", meta.raw)
	}
	for _, k := range []string{"cluster_id", "artifact_id", "status", "active_pods", "available_memory", "active_cluster_runid", "cluster_name", "last_updated_at", "last_picked_at", "last_used_at"} {
		if _, ok := meta.data()[k]; !ok {
			t.Fatalf("metadata lacks %s: %s", k, meta.raw)
		}
	}
	// The SDK's get_info walk: head_node_up → jupyter_up → active.
	var walk []string
	step := func(heads, workers int, jupyter bool) {
		e.cm.SetPods(id, heads, workers)
		e.probe.Set(jupyter, false, false)
		e.clk.Advance(11 * time.Second)
		if _, err := e.svc.PollOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		walk = append(walk, e.do(t, http.MethodGet, "/cluster/"+id+"/metadata", "").data()["status"].(string))
	}
	step(1, 0, false)
	step(1, 0, true)
	step(1, 1, true)
	if strings.Join(walk, ",") != "head_node_up,jupyter_up,active" {
		t.Fatalf("walk %v", walk)
	}

	d := e.do(t, http.MethodGet, "/cluster/"+id+"/dashboards", "")
	if d.code != 200 || d.data()["jupyter_lab_url"] != "http://localhost:8080/kind-0/"+id+"-jupyter" ||
		d.data()["ray_dashboard_url"] != "http://localhost:8080/kind-0/"+id+"-dashboard/" {
		t.Fatalf("dashboards: %s", d.raw)
	}
	g := e.do(t, http.MethodGet, "/cluster/"+id, "")
	if g.code != 200 || g.data()["status"] != "active" || g.data()["name"] != "my-first-cluster" {
		t.Fatalf("get: %s", g.raw)
	}
	pods := e.do(t, http.MethodGet, "/cluster/"+id+"/pods", "")
	if res, _ := pods.data()["Resources"].([]any); len(res) != 2 {
		t.Fatalf("pods: %s", pods.raw)
	}

	del := e.do(t, http.MethodDelete, "/cluster/"+id, "")
	if del.code != 400 || del.body["status"] != "ERROR" || del.body["message"] != "Cluster is not in stop state" {
		t.Fatalf("delete active: %d %s", del.code, del.raw)
	}
	if r := e.do(t, http.MethodPost, "/cluster/stop-cluster/"+id, ""); r.code != 400 || !strings.Contains(r.raw, "msd-user") {
		t.Fatalf("stop without msd-user: %d %s", r.code, r.raw)
	}
	if r := e.do(t, http.MethodPost, "/cluster/stop-cluster/"+id, "", "msd-user", "not json"); r.code != 400 {
		t.Fatalf("stop with malformed msd-user: %d %s", r.code, r.raw)
	}
	stop := e.do(t, http.MethodPost, "/cluster/stop-cluster/"+id, "", "msd-user", sdkUser)
	if stop.code != 202 || stop.body["message"] != "Cluster stopped successfully" || stop.data()["cluster_id"] != id {
		t.Fatalf("stop: %d %s", stop.code, stop.raw)
	}
	if m := e.do(t, http.MethodGet, "/cluster/"+id+"/metadata", ""); m.data()["status"] != "inactive" {
		t.Fatalf("after stop: %s", m.raw)
	}
	start := e.do(t, http.MethodPost, "/cluster/start-cluster/"+id, "", "msd-user", `{"email": "sdk"}`)
	if start.code != 202 || start.body["message"] != "Cluster Start Accepted" || start.data()["ClusterName"] != id {
		t.Fatalf("start: %d %s", start.code, start.raw)
	}
	restart := e.do(t, http.MethodPost, "/cluster/restart-cluster/"+id, "", "msd-user", `{"email": "sdk"}`)
	if restart.code != 202 || restart.body["message"] != "Restart Cluster Accepted" {
		t.Fatalf("restart: %d %s", restart.code, restart.raw)
	}
	e.do(t, http.MethodPost, "/cluster/stop-cluster/"+id, "", "msd-user", sdkUser)
	groups := e.do(t, http.MethodGet, "/cluster/get-action-groups/"+id, "")
	if groups.code != 200 || groups.data()["total"] != float64(3) {
		t.Fatalf("action groups: %s", groups.raw)
	}
	del = e.do(t, http.MethodDelete, "/cluster/"+id, "")
	if del.code != 200 || del.body["status"] != "SUCCESS" || del.data()["cluster_id"] != id {
		t.Fatalf("delete: %d %s", del.code, del.raw)
	}
	if _, hasMsg := del.body["message"]; hasMsg {
		t.Fatalf("delete must answer the bare shape: %s", del.raw)
	}
	if r := e.do(t, http.MethodGet, "/cluster/"+id, ""); r.code != 404 || r.body["status"] != "ERROR" {
		t.Fatalf("deleted cluster: %d %s", r.code, r.raw)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var seed map[string]any
	_ = json.Unmarshal([]byte(seedBody(t)), &seed)
	edit := func(fn func(m map[string]any)) string {
		var m map[string]any
		b, _ := json.Marshal(seed)
		_ = json.Unmarshal(b, &m)
		fn(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	cases := []struct {
		name, method, path, body, field string
	}{
		{"broken json", "POST", "/cluster", `{"cluster_name": `, "body"},
		{"name type", "POST", "/cluster", edit(func(m map[string]any) { m["cluster_name"] = 5 }), "cluster_name"},
		{"min pods", "POST", "/cluster", edit(func(m map[string]any) {
			m["worker_node_configs"].([]any)[0].(map[string]any)["min_pods"] = -1
		}), "worker_node_configs[0].min_pods"},
		{"unknown runtime", "POST", "/cluster", edit(func(m map[string]any) { m["runtime"] = "nope" }), "runtime"},
		{"search page size", "POST", "/search", `{"page_size": 0}`, "page_size"},
		{"search filter type", "POST", "/search", `{"filters": {"status": [1]}}`, "filters.status[0]"},
		{"cluster search sort", "POST", "/cluster/search", `{"sort_order": "up"}`, "sort_order"},
		{"rename missing", "PUT", "/cluster/update-name/id-x", `{}`, "cluster_name"},
		{"running minutes", "GET", "/running-clusters/abc", "", "running_time"},
		{"visit needs user", "POST", "/recently-visited", `{"cluster_id": "x"}`, "msd-user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.method, tc.path, tc.body)
			if r.code != 400 || r.body["status"] != "ERROR" || r.data()["field"] != tc.field {
				t.Fatalf("want 400 naming %s, got %d %s", tc.field, r.code, r.raw)
			}
		})
	}
	if r := e.do(t, "GET", "/cluster/id-missing/metadata", ""); r.code != 404 || r.body["status"] != "ERROR" {
		t.Fatalf("unknown cluster: %d %s", r.code, r.raw)
	}
}

func TestListingsAndUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := strings.Replace(seedBody(t), `"start_cluster": true`, `"start_cluster": false`, 1)
	id := e.do(t, "POST", "/cluster", body).data()["cluster_id"].(string)
	e.clk.Advance(time.Minute)
	second := e.do(t, "POST", "/cluster", body)
	if second.data()["cluster_name"] != "my-first-cluster_"+second.data()["cluster_id"].(string) {
		t.Fatalf("duplicate name: %s", second.raw)
	}
	s := e.do(t, "POST", "/search", `{"query":"","filters":{},"page_size":100,"offset":0,"sort_by":"created_on","sort_order":"desc"}`)
	if s.code != 200 || s.body["status"] != "SUCCESS" || s.body["result_size"] != float64(2) || s.body["page_size"] != float64(100) {
		t.Fatalf("search: %s", s.raw)
	}
	rows := s.body["data"].([]any)
	if rows[0].(map[string]any)["status"] != "inactive" || rows[1].(map[string]any)["cluster_id"] != id ||
		rows[0].(map[string]any)["estimated_cost"] == "" {
		t.Fatalf("search rows: %s", s.raw)
	}
	cs := e.do(t, "POST", "/cluster/search", `{"filters":{"status":{"values":["inactive"]}},"page_size":1}`)
	if cs.code != 200 || cs.data()["pagination"].(map[string]any)["total_matches"] != float64(2) || len(cs.data()["body"].([]any)) != 1 {
		t.Fatalf("cluster search: %s", cs.raw)
	}
	up := e.do(t, "PUT", "/cluster/"+id, strings.Replace(body, `"max_pods": 2`, `"max_pods": 3`, 1))
	if up.code != 200 || up.body["status"] != "SUCCESS" || up.data()["artifact_name"] != id+"-v2" {
		t.Fatalf("update: %s", up.raw)
	}
	if _, hasMsg := up.body["message"]; hasMsg {
		t.Fatalf("update must answer the bare shape: %s", up.raw)
	}
	if m := e.do(t, "GET", "/cluster/"+id+"/metadata", ""); m.data()["status"] != "creating" {
		t.Fatalf("update should start the cluster: %s", m.raw)
	}
	if r := e.do(t, "PUT", "/cluster/force/"+id, ""); r.code != 200 || r.data()["artifact_name"] != id+"-v3" || e.cm.Artifact(id+"-v3") == nil {
		t.Fatalf("force update: %s", r.raw)
	}
	if r := e.do(t, "POST", "/cluster/cost/predict", body); r.code != 200 || r.data()["min"].(float64) >= r.data()["max"].(float64) {
		t.Fatalf("cost: %s", r.raw)
	}
	if r := e.do(t, "GET", "/cluster/job/inactive?days=1", ""); r.code != 404 {
		t.Fatalf("no job clusters: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "PUT", "/cluster/update-name/"+id, `{"cluster_name":"renamed"}`); r.code != 200 || r.data()["cluster_name"] != "renamed" {
		t.Fatalf("rename: %s", r.raw)
	}
	if r := e.do(t, "PUT", "/cluster/update-name/"+second.data()["cluster_id"].(string), `{"cluster_name":"renamed"}`); r.code != 409 {
		t.Fatalf("rename to a taken name: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "PUT", "/cluster/update-tags/"+id, `{"tags":["x","y"]}`); r.code != 200 || len(r.data()["tags"].([]any)) != 2 {
		t.Fatalf("tags: %s", r.raw)
	}
	if r := e.do(t, "PUT", "/cluster/update-tags/"+id, `{"tags":"x"}`); r.code != 400 || r.data()["field"] != "tags" {
		t.Fatalf("tags type: %s", r.raw)
	}
	if r := e.do(t, "PUT", "/cluster/user/"+id, `{"cluster_user":"nobody"}`, "msd-user", sdkUser); r.code != 400 || r.data()["field"] != "cluster_user" {
		t.Fatalf("user: %s", r.raw)
	}
	if r := e.do(t, "PUT", "/cluster/user/"+id, `{"cluster_user":"b@x.io"}`, "msd-user", sdkUser); r.code != 200 || r.data()["user"] != "b@x.io" {
		t.Fatalf("user: %s", r.raw)
	}
	if r := e.do(t, "GET", "/cluster/"+id+"/metadata", ""); r.data()["cluster_name"] != "renamed" {
		t.Fatalf("rename not reflected in metadata: %s", r.raw)
	}
	lim := e.do(t, "GET", "/get-limits", "")
	var want map[string]any
	_ = json.Unmarshal([]byte(`{"head_node_limits":{"cores":{"min":1,"max":90},"memory":{"min":1,"max":736}},
		"worker_node_limits":{"cores":{"min":1,"max":90},"memory":{"min":1,"max":736},"pods":{"min":0}},
		"inactive_time_limits":{"min":10},
		"auto_termination_policy_default_settings":{"time":30,"head_node_threshold":100,"head_node_without_worker_group_threshold":10,
		"worker_group_threshold":5,"active_ray_job":true,"jupyter_activity":{"kernel_activity":true,"terminal_activity":false,"expiry_time":5}}}`), &want)
	gotB, _ := json.Marshal(lim.data())
	wantB, _ := json.Marshal(want)
	if !bytes.Equal(gotB, wantB) {
		t.Fatalf("limits: %s", gotB)
	}
	if r := e.do(t, "POST", "/recently-visited", `{"cluster_id":"`+id+`"}`, "msd-user", sdkUser); r.code != 200 || r.data()["updatedCount"] != float64(1) {
		t.Fatalf("visit: %s", r.raw)
	}
	if r := e.do(t, "GET", "/recently-visited", "", "msd-user", sdkUser); r.code != 200 || !strings.Contains(r.raw, id) {
		t.Fatalf("recently visited: %s", r.raw)
	}
	if r := e.do(t, "GET", "/filters", ""); !strings.Contains(r.raw, "b@x.io") {
		t.Fatalf("filters: %s", r.raw)
	}
	resp, err := http.Get(strings.TrimSuffix(e.url, "/compute") + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(ready), "compute-db") {
		t.Fatalf("readyz: %d %s", resp.StatusCode, ready)
	}
	if r := e.do(t, "GET", "/healthcheck", ""); r.code != 200 || r.body["message"] != "OK" {
		t.Fatalf("healthcheck: %s", r.raw)
	}
	if r := e.do(t, "GET", "/get-runtimes", ""); r.code != 200 || !strings.Contains(r.raw, "0.0") {
		t.Fatalf("runtimes router not mounted: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "PUT", "/init-script-status", `{"cluster_id":"`+id+`","status":"SUCCESS","message":"done","uid":"u1"}`); r.code != 200 || r.raw == "" {
		t.Fatalf("init script: %d %s", r.code, r.raw)
	}
}

// TestComputeGRPC drives ComputeService over a loopback listener.
func TestComputeGRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := grpc.NewServer()
	e.svc.RegisterGRPC(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := computev1.NewComputeServiceClient(conn)
	res, err := c.CreateCluster(t.Context(), &computev1.CreateClusterRequest{ClusterRequestJson: []byte(seedBody(t))})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetCluster(t.Context(), &computev1.GetClusterRequest{ClusterId: res.GetClusterId()})
	if err != nil || got.GetInternalStatus() != "creating" || got.GetStatus() != "creating" || got.GetDashboards()["jupyter_lab_url"] == "" {
		t.Fatalf("get: %v %v", got, err)
	}
	if _, err := c.CreateCluster(t.Context(), &computev1.CreateClusterRequest{ClusterRequestJson: []byte(`{}`)}); err == nil ||
		!strings.Contains(err.Error(), "InvalidArgument") {
		t.Fatalf("bad create: %v", err)
	}
	if _, err := c.StopCluster(t.Context(), &computev1.ClusterActionRequest{ClusterId: res.GetClusterId(), User: "u@x.io"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteCluster(t.Context(), &computev1.ClusterActionRequest{ClusterId: res.GetClusterId()}); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListClusters(t.Context(), &computev1.ListClustersRequest{})
	if err != nil || list.GetTotal() != 0 {
		t.Fatalf("list: %v %v", list, err)
	}
}

// TestCreateWithBadPackagesWritesNothing: a create whose packages (or clone source) are invalid is rejected
// before anything is applied to cluster-manager, stored or published.
func TestCreateWithBadPackagesWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name, edit, field string
	}{
		{"shell in package name", `"packages": [{"source": "pypi", "body": {"name": "x;rm -rf /"}}]`, "packages[0].body.name"},
		{"unknown source", `"packages": [{"source": "ftp", "body": {"name": "x"}}]`, "packages[0].source"},
		{"unknown clone source", `"packages_clone_from": "id-doesnotexist0000"`, "packages_clone_from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(seedBody(t), `"cluster_name"`, tc.edit+`, "cluster_name"`, 1)
			r := e.do(t, http.MethodPost, "/cluster", body)
			if r.code != http.StatusBadRequest || r.body["status"] != "ERROR" {
				t.Fatalf("create = %d %s", r.code, r.raw)
			}
			if !strings.Contains(r.raw, tc.field) {
				t.Errorf("error does not name %s: %s", tc.field, r.raw)
			}
		})
	}
	if calls := e.cm.Calls(); len(calls) != 0 {
		t.Errorf("cluster-manager was called: %v", calls)
	}
	if r := e.do(t, http.MethodPost, "/search", `{"query": "", "filters": {}, "page_size": 10, "offset": 0}`); r.code != http.StatusOK || !strings.Contains(r.raw, `"result_size":0`) {
		t.Errorf("search after rejected creates = %d %s, want no clusters", r.code, r.raw)
	}
	if evs, err := e.svc.Outbox().Recent(t.Context(), "", 100); err != nil || len(evs) != 0 {
		t.Errorf("events after rejected creates: %v (%v)", evs, err)
	}
}
