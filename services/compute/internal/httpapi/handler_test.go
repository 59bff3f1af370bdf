package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/auth"
	"github.com/darwinml/darwin/pkg/bus"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/fakes"
	"github.com/darwinml/darwin/services/compute/internal/httpapi"
	"github.com/darwinml/darwin/services/compute/internal/store"
	"github.com/darwinml/darwin/services/compute/migrations"
)

var epoch = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	sdkUser   = `{"email": "sdk"}`
	aliceUser = `{"email": "alice@example.com"}`
	// missing stands for a cluster id that does not exist.
	missing = "id-doesnotexist0000"
)

// harness serves the cluster API over a SQLite store, the fake cluster-manager and probe, on a fake clock.
type harness struct {
	svc    *domain.Service
	st     *store.Store
	ob     *bus.Outbox
	cm     *fakes.ClusterManager
	probe  *fakes.Probe
	clk    *clock.Fake
	router http.Handler
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	d := dbtest.Open(t, db.SQLite)
	for _, m := range []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}, {Component: bus.Component, FS: bus.Migrations}} {
		if err := db.Migrate(t.Context(), d, m.Component, m.FS); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{cm: fakes.NewClusterManager(), probe: &fakes.Probe{}, clk: clock.NewFake(epoch)}
	h.ob = bus.NewOutbox(d, "compute", h.clk, log.Discard())
	h.st = store.New(d, h.ob)
	h.svc = domain.NewService(h.st, h.cm, fakes.Runtimes{"0.0": "localhost:5000/ray:2.37.0"}, fakes.Configs{"cloud_env": "kind-0"},
		h.probe, nil, h.clk, log.Discard(), domain.Options{PublicURL: "http://localhost:8080", Owner: "test"})
	r := chi.NewRouter()
	r.Use(auth.Middleware(nil))
	httpapi.New(h.svc, h.ob, log.Discard()).Routes(r)
	h.router = r
	return h
}

type reply struct {
	code int
	body map[string]any
	raw  string
}

func (r reply) data() map[string]any { m, _ := r.body["data"].(map[string]any); return m }
func (r reply) list() []any          { l, _ := r.body["data"].([]any); return l }
func (r reply) field() string        { f, _ := r.data()["field"].(string); return f }

func (h *harness) do(t *testing.T, method, path, body, user string) reply {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.Header.Set(auth.HeaderUser, user)
	}
	rec := httptest.NewRecorder()
	h.router.ServeHTTP(rec, req)
	out := reply{code: rec.Code, raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &out.body); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %q", method, path, rec.Body.String())
	}
	return out
}

func quickstart(t *testing.T, edit func(m map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/quickstart.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["start_cluster"] = false
	if edit != nil {
		edit(m)
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// create makes a cluster and returns its id.
func (h *harness) create(t *testing.T, edit func(m map[string]any)) string {
	t.Helper()
	r := h.do(t, http.MethodPost, "/cluster", quickstart(t, edit), "")
	id, _ := r.data()["cluster_id"].(string)
	if r.code != http.StatusOK || id == "" {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	return id
}

// activate starts a cluster and polls it to active (one head, one worker, Jupyter up).
func (h *harness) activate(t *testing.T, id string) {
	t.Helper()
	if _, err := h.svc.Start(t.Context(), id, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	h.cm.SetPods(id, 1, 1)
	h.probe.Set(true, true, true)
	h.clk.Advance(11 * time.Second)
	if _, err := h.svc.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.svc.Metadata(t.Context(), id); st.Status != domain.StatusActive {
		t.Fatalf("cluster %s is %s, want active", id, st.Status)
	}
}

// Shapes of an answer.
const (
	envelopeShape = "envelope" // {"status","message","data"}
	bareShape     = "bare"     // {"status","data"} without message (spec §1.2 exceptions)
)

func checkShape(t *testing.T, r reply, shape string) {
	t.Helper()
	_, hasMsg := r.body["message"]
	_, hasData := r.body["data"]
	switch shape {
	case envelopeShape:
		if !hasMsg || !hasData || len(r.body) != 3 {
			t.Fatalf("want the envelope {status, message, data}: %s", r.raw)
		}
	case bareShape:
		if hasMsg || !hasData {
			t.Fatalf("want the bare shape {status, data} without message: %s", r.raw)
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hasKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Fatalf("%s lacks %q; has %v", what, k, keys(m))
		}
	}
}

// apiCase is one request against the fixture and what the answer must be.
type apiCase struct {
	name   string
	route  string // the registered route, "METHOD pattern"
	method string
	path   string // {inactive}, {active} and {run} are replaced with fixture ids
	body   string
	user   string
	code   int
	shape  string
	field  string // ERROR answers: data.field
	msg    string // exact message, when set
	check  func(t *testing.T, f *fixture, r reply)
}

// fixture is a harness with an inactive cluster (tags demo, owner user@example.com) and an active one.
type fixture struct {
	*harness
	inactive, active, run string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := newHarness(t)
	f := &fixture{harness: h}
	f.inactive = h.create(t, nil)
	h.clk.Advance(time.Minute)
	f.active = h.create(t, func(m map[string]any) { m["cluster_name"] = "busy"; m["tags"] = []any{"prod", "demo"} })
	h.activate(t, f.active)
	st, _ := h.svc.Metadata(t.Context(), f.active)
	f.run = st.ActiveRunID
	return f
}

func (f *fixture) path(p string) string {
	return strings.NewReplacer("{inactive}", f.inactive, "{active}", f.active, "{run}", f.run).Replace(p)
}

func (f *fixture) run1(t *testing.T, tc apiCase) {
	t.Helper()
	r := f.do(t, tc.method, f.path(tc.path), f.path(tc.body), tc.user)
	if r.code != tc.code {
		t.Fatalf("%s %s: status %d, want %d: %s", tc.method, tc.path, r.code, tc.code, r.raw)
	}
	wantStatus := "SUCCESS"
	if tc.code >= 400 {
		wantStatus = "ERROR"
	}
	if r.body["status"] != wantStatus {
		t.Fatalf("status field %v, want %s: %s", r.body["status"], wantStatus, r.raw)
	}
	checkShape(t, r, tc.shape)
	if tc.code >= 400 && r.field() != tc.field {
		t.Fatalf("error names field %q, want %q: %s", r.field(), tc.field, r.raw)
	}
	if tc.msg != "" && r.body["message"] != tc.msg {
		t.Fatalf("message %v, want %q", r.body["message"], tc.msg)
	}
	if tc.check != nil {
		tc.check(t, f, r)
	}
}

func jsonEqual(t *testing.T, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("got  %s\nwant %s", gb, wb)
	}
}

// readCases do not change the fixture; they run in parallel against one fixture.
var readCases = []apiCase{
	{name: "healthcheck", route: "GET /healthcheck", method: "GET", path: "/healthcheck", code: 200,
		check: func(t *testing.T, _ *fixture, r reply) { jsonEqual(t, r.body, `{"status":"SUCCESS","message":"OK"}`) }},
	{name: "health", route: "GET /health", method: "GET", path: "/health", code: 200,
		check: func(t *testing.T, _ *fixture, r reply) { jsonEqual(t, r.body, `{"status":"SUCCESS","message":"OK"}`) }},
	{name: "limits are the original's", route: "GET /get-limits", method: "GET", path: "/get-limits", code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"head_node_limits":{"cores":{"min":1,"max":90},"memory":{"min":1,"max":736}},
				"worker_node_limits":{"cores":{"min":1,"max":90},"memory":{"min":1,"max":736},"pods":{"min":0}},
				"inactive_time_limits":{"min":10},
				"auto_termination_policy_default_settings":{"time":30,"head_node_threshold":100,"head_node_without_worker_group_threshold":10,
				"worker_group_threshold":5,"active_ray_job":true,"jupyter_activity":{"kernel_activity":true,"terminal_activity":false,"expiry_time":5}}}`)
		}},
	{name: "disk types", route: "GET /get-disk-types", method: "GET", path: "/get-disk-types", code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) { jsonEqual(t, r.body["data"], `["gp2"]`) }},
	{name: "instance roles", route: "GET /get-instance-role", method: "GET", path: "/get-instance-role", code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			jsonEqual(t, r.body["data"], `[{"id":"1","display_name":"darwin-ds-role","service_account_name":"darwin-ds-role"},
				{"id":"2","display_name":"prod-finance-server-role","service_account_name":"prod-finance-server-role"},
				{"id":"3","display_name":"emr-ec2-default-role","service_account_name":"emr-ec2-default-role"},
				{"id":"4","display_name":"d11-prod-dspm-darwin-role","service_account_name":"d11-prod-dspm-darwin-role"}]`)
		}},
	{name: "availability zones", route: "GET /get-az", method: "GET", path: "/get-az", code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			jsonEqual(t, r.body["data"], `[{"az_id":"az_id","display_name":"az_name"}]`)
		}},
	{name: "tags of all clusters", route: "GET /get-tags", method: "GET", path: "/get-tags", code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) { jsonEqual(t, r.body["data"], `["demo","prod"]`) }},
	{name: "node types", route: "GET /node-types", method: "GET", path: "/node-types", code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"general":"General Purpose","compute":"Compute Intensive","memory":"Memory Intensive",
				"gpu":"GPU Accelerator","disk":"Disk Intensive"}`)
		}},
	{name: "gpu pods", route: "GET /gpu-pods", method: "GET", path: "/gpu-pods", code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			if len(r.list()) != 4 {
				t.Fatalf("want 4 GPU specs: %s", r.raw)
			}
			hasKeys(t, "gpu pod", r.list()[0].(map[string]any), "name", "cores", "memory", "gpu_count", "g_ram_memory", "g_ram_type")
		}},
	{name: "filters", route: "GET /filters", method: "GET", path: "/filters", code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"status":["inactive","creating","active"],"users":["user@example.com"]}`)
		}},
	{name: "search (bare, as the SDK's get_all reads it)", route: "POST /search", method: "POST", path: "/search",
		body: `{"query":"","filters":{},"page_size":100,"offset":0,"sort_by":"created_on","sort_order":"desc"}`, code: 200,
		check: func(t *testing.T, f *fixture, r reply) {
			if got := keys(r.body); !slices.Equal(got, []string{"data", "offset", "page_size", "result_size", "status"}) {
				t.Fatalf("keys %v", got)
			}
			rows, _ := r.body["data"].([]any)
			if r.body["result_size"] != float64(2) || len(rows) != 2 {
				t.Fatalf("rows: %s", r.raw)
			}
			first := rows[0].(map[string]any)
			hasKeys(t, "search row", first, "cluster_id", "name", "tags", "status", "runtime", "active_pod", "total_memory",
				"total_cores", "last_used_on", "create_by", "created_on", "estimated_cost")
			// newest first; totals = head + max_pods × worker (4 + 2×2 cores, 8 + 2×4 GB)
			if first["cluster_id"] != f.active || first["status"] != "active" || first["total_cores"] != float64(8) || first["total_memory"] != float64(16) {
				t.Fatalf("first row: %v", first)
			}
		}},
	{name: "search by status filter", route: "POST /search", method: "POST", path: "/search",
		body: `{"filters":{"status":["inactive"]}}`, code: 200,
		check: func(t *testing.T, f *fixture, r reply) {
			rows, _ := r.body["data"].([]any)
			if len(rows) != 1 || rows[0].(map[string]any)["cluster_id"] != f.inactive {
				t.Fatalf("rows: %s", r.raw)
			}
		}},
	{name: "cluster search", route: "POST /cluster/search", method: "POST", path: "/cluster/search",
		body: `{"query":"busy","page_size":5}`, code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			jsonEqual(t, r.data()["pagination"], `{"total_matches":1,"page_size":5,"offset":0}`)
			rows, _ := r.data()["body"].([]any)
			if len(rows) != 1 {
				t.Fatalf("rows: %s", r.raw)
			}
			row := rows[0].(map[string]any)
			hasKeys(t, "cluster search row", row, "cluster_id", "name", "status", "runtime", "tags", "labels", "cpu", "memory",
				"cost", "created_by", "created_on", "last_used_on")
			if row["cluster_id"] != f.active || row["status"] != "active" {
				t.Fatalf("row: %v", row)
			}
		}},
	{name: "cost predict", route: "POST /cluster/cost/predict", method: "POST", path: "/cluster/cost/predict",
		body: "QUICKSTART", code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			// 4 cores + 8 GB head, 1..2 workers of 2 cores + 4 GB: 0.24 + 0.12 per worker.
			jsonEqual(t, r.body["data"], `{"min":0.36,"max":0.48}`)
		}},
	{name: "no inactive job clusters", route: "GET /cluster/job/inactive", method: "GET", path: "/cluster/job/inactive?days=0",
		code: 404, shape: envelopeShape, msg: "No inactive job clusters found"},
	{name: "get cluster", route: "GET /cluster/{id}", method: "GET", path: "/cluster/{active}", code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			d := r.data()
			hasKeys(t, "cluster", d, "cluster_id", "name", "tags", "labels", "runtime", "auto_termination_policies", "inactive_time",
				"status", "user", "head_node_config", "worker_node_configs", "advance_config", "dashboards", "created_on", "is_job_cluster")
			hasKeys(t, "head_node_config", d["head_node_config"].(map[string]any), "head_node_cores", "head_node_memory", "node_type",
				"node_capacity_type", "gpu_pod")
			w := d["worker_node_configs"].([]any)[0].(map[string]any)
			hasKeys(t, "worker", w, "cores", "memory", "min_pods", "max_pods", "disk_setting", "node_type", "node_capacity_type", "gpu_pod")
			hasKeys(t, "advance_config", d["advance_config"].(map[string]any), "environment_variables", "log_path", "init_script",
				"instance_role", "availability_zone", "ray_params", "spark_config")
			dash := d["dashboards"].(map[string]any)
			if d["cluster_id"] != f.active || d["name"] != "busy" || d["status"] != "active" || dash["status"] != "SUCCESS" ||
				dash["data"].(map[string]any)["jupyter_lab_url"] != "http://localhost:8080/kind-0/"+f.active+"-jupyter" {
				t.Fatalf("cluster: %s", r.raw)
			}
			if d["created_on"] != "2026-03-01T10:01:00.000Z" {
				t.Fatalf("created_on %v", d["created_on"])
			}
		}},
	{name: "metadata", route: "GET /cluster/{id}/metadata", method: "GET", path: "/cluster/{active}/metadata", code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			d := r.data()
			hasKeys(t, "metadata", d, "cluster_id", "artifact_id", "status", "active_pods", "available_memory", "active_cluster_runid",
				"cluster_name", "last_updated_at", "last_picked_at", "last_used_at")
			if d["status"] != "active" || d["artifact_id"] != f.active+"-v1" || d["active_cluster_runid"] != f.run || d["active_pods"] != float64(2) {
				t.Fatalf("metadata: %s", r.raw)
			}
		}},
	{name: "metadata of an inactive cluster", route: "GET /cluster/{id}/metadata", method: "GET", path: "/cluster/{inactive}/metadata",
		code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			if d := r.data(); d["status"] != "inactive" || d["active_cluster_runid"] != nil || d["last_picked_at"] != nil {
				t.Fatalf("metadata: %s", r.raw)
			}
		}},
	{name: "dashboards", route: "GET /cluster/{id}/dashboards", method: "GET", path: "/cluster/{inactive}/dashboards", code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			base := "http://localhost:8080/kind-0/" + f.inactive
			jsonEqual(t, r.body["data"], `{"jupyter_lab_url":"`+base+`-jupyter","ray_dashboard_url":"`+base+`-dashboard/",
				"spark_ui_url":"`+base+`-sparkui/","grafana_dashboard_url":"`+base+`-metrics/","code_server_url":"`+base+`-vscode/",
				"resource_utilization_dashboard_url":"`+base+`-metrics/"}`)
		}},
	{name: "internal dashboards", route: "GET /cluster/{id}/dashboards", method: "GET", path: "/cluster/{active}/dashboards?internal=true",
		code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			if d := r.data(); d["jupyter_lab_url"] != "http://127.0.0.1:1/jupyter" || d["ray_dashboard_url"] != "http://127.0.0.1:1/" {
				t.Fatalf("internal urls: %s", r.raw)
			}
		}},
	{name: "pods", route: "GET /cluster/{id}/pods", method: "GET", path: "/cluster/{active}/pods", code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			res, _ := r.data()["Resources"].([]any)
			if len(res) != 2 {
				t.Fatalf("pods: %s", r.raw)
			}
			p := res[0].(map[string]any)
			hasKeys(t, "pod", p, "Name", "Type", "Status", "Message")
			if p["Status"] != "Running" {
				t.Fatalf("pod: %v", p)
			}
		}},
	{name: "resources of an active cluster", route: "GET /cluster/{id}/resources", method: "GET", path: "/cluster/{active}/resources",
		code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"cores_used":6,"memory_used":12}`)
		}},
	{name: "resources of an inactive cluster", route: "GET /cluster/{id}/resources", method: "GET", path: "/cluster/{inactive}/resources",
		code: 200, shape: envelopeShape, msg: "Cluster is not active",
		check: func(t *testing.T, _ *fixture, r reply) {
			if r.body["data"] != nil {
				t.Fatalf("data must be null: %s", r.raw)
			}
		}},
	{name: "action groups", route: "GET /cluster/get-action-groups/{id}", method: "GET", path: "/cluster/get-action-groups/{active}",
		code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			groups, _ := r.data()["action_groups"].([]any)
			if r.data()["total"] != float64(1) || len(groups) != 1 {
				t.Fatalf("groups: %s", r.raw)
			}
			g := groups[0].(map[string]any)
			hasKeys(t, "group", g, "cluster_runtime_id", "cluster_id", "start_time", "end_time", "first_event", "last_event", "artifact_id")
			if g["cluster_runtime_id"] != f.run || g["first_event"] != "Started" || g["last_event"] != "Running" {
				t.Fatalf("group: %v", g)
			}
		}},
	{name: "action group details", route: "GET /cluster/get-action-group-details/{run_id}", method: "GET",
		path: "/cluster/get-action-group-details/{run}?sort_order=asc", code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			var got []string
			for _, a := range r.list() {
				m := a.(map[string]any)
				hasKeys(t, "action", m, "id", "cluster_runid", "action", "message", "updated_at", "cluster_id", "artifact_id")
				got = append(got, m["action"].(string))
			}
			if want := []string{"Started", "Head Node Up", "Jupyter Up", "Worker Nodes Up", "Running"}; !slices.Equal(got, want) {
				t.Fatalf("actions %v, want %v", got, want)
			}
		}},
	{name: "running clusters", route: "GET /running-clusters/{minutes}", method: "GET", path: "/running-clusters/0", code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			cl, _ := r.data()["clusters"].([]any)
			if r.data()["running_time"] != float64(0) || len(cl) != 1 {
				t.Fatalf("running: %s", r.raw)
			}
			hasKeys(t, "running cluster", cl[0].(map[string]any), "cluster_id", "name", "user", "status", "started_at", "running_minutes")
			if cl[0].(map[string]any)["cluster_id"] != f.active {
				t.Fatalf("running: %s", r.raw)
			}
		}},
	{name: "running longer than a day", route: "GET /running-clusters/{minutes}", method: "GET", path: "/running-clusters/1440",
		code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			if cl, _ := r.data()["clusters"].([]any); len(cl) != 0 {
				t.Fatalf("running: %s", r.raw)
			}
		}},
	{name: "recently visited, none yet", route: "GET /recently-visited", method: "GET", path: "/recently-visited", user: aliceUser,
		code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) { jsonEqual(t, r.body["data"], `[]`) }},
	{name: "events", route: "GET /cluster/{id}/events", method: "GET", path: "/cluster/{inactive}/events", code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			// newest first
			jsonEqual(t, r.body["data"], `[
				{"event_type":"CLUSTER_CREATED","timestamp":"2026-03-01T10:00:00.000Z","cluster_id":"`+f.inactive+`",
				 "cluster_name":"my-first-cluster","message":"","metadata":{"artifact_name":"`+f.inactive+`-v1"}},
				{"event_type":"CLUSTER_CREATION_REQUEST_RECEIVED","timestamp":"2026-03-01T10:00:00.000Z","cluster_id":"`+f.inactive+`",
				 "cluster_name":"my-first-cluster","message":"","metadata":{}}]`)
		}},
	{name: "events limited", route: "GET /cluster/{id}/events", method: "GET", path: "/cluster/{active}/events?limit=2", code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			if len(r.list()) != 2 {
				t.Fatalf("want 2 events: %s", r.raw)
			}
			e := r.list()[0].(map[string]any)
			if e["event_type"] != "CLUSTER_READY" || e["metadata"].(map[string]any)["session_id"] != f.run {
				t.Fatalf("newest event: %v", e)
			}
		}},
}

// badCases are rejected; none may change anything (checked by TestRejectedRequestsChangeNothing).
var badCases = []apiCase{
	{name: "search broken json", route: "POST /search", method: "POST", path: "/search", body: `{"query": `, code: 400, field: "body"},
	{name: "search page size", route: "POST /search", method: "POST", path: "/search", body: `{"page_size": 0}`, code: 400, field: "page_size"},
	{name: "search filter type", route: "POST /search", method: "POST", path: "/search", body: `{"filters": {"status": [1]}}`, code: 400, field: "filters.status[0]"},
	{name: "search no body", route: "POST /search", method: "POST", path: "/search", code: 400, field: "body"},
	{name: "cluster search sort", route: "POST /cluster/search", method: "POST", path: "/cluster/search", body: `{"sort_order": "up"}`, code: 400, field: "sort_order"},
	{name: "cluster search query type", route: "POST /cluster/search", method: "POST", path: "/cluster/search", body: `{"query": 3}`, code: 400, field: "query"},
	{name: "create broken json", route: "POST /cluster", method: "POST", path: "/cluster", body: `{"cluster_name": `, code: 400, field: "body"},
	{name: "create name type", route: "POST /cluster", method: "POST", path: "/cluster", body: "QUICKSTART cluster_name=5", code: 400, field: "cluster_name"},
	{name: "create without runtime", route: "POST /cluster", method: "POST", path: "/cluster", body: "QUICKSTART -runtime", code: 400, field: "runtime"},
	{name: "create unknown runtime", route: "POST /cluster", method: "POST", path: "/cluster", body: `QUICKSTART runtime="nope"`, code: 400, field: "runtime"},
	{name: "create inactive time", route: "POST /cluster", method: "POST", path: "/cluster", body: "QUICKSTART inactive_time=2", code: 400, field: "inactive_time"},
	{name: "create not an object", route: "POST /cluster", method: "POST", path: "/cluster", body: `[1]`, code: 400, field: "body"},
	{name: "cost without head", route: "POST /cluster/cost/predict", method: "POST", path: "/cluster/cost/predict", body: "QUICKSTART -head_node_config", code: 400, field: "head_node_config"},
	{name: "update broken json", route: "PUT /cluster/{id}", method: "PUT", path: "/cluster/{inactive}", body: `{`, code: 400, field: "body"},
	{name: "update unknown cluster", route: "PUT /cluster/{id}", method: "PUT", path: "/cluster/" + missing, body: "QUICKSTART", code: 404},
	{name: "update malformed msd-user", route: "PUT /cluster/{id}", method: "PUT", path: "/cluster/{inactive}", body: "QUICKSTART", user: "nope", code: 400, field: "msd-user"},
	{name: "update unknown runtime", route: "PUT /cluster/{id}", method: "PUT", path: "/cluster/{inactive}", body: `QUICKSTART runtime="nope"`, code: 400, field: "runtime"},
	{name: "delete active", route: "DELETE /cluster/{id}", method: "DELETE", path: "/cluster/{active}", code: 400, msg: "Cluster is not in stop state"},
	{name: "delete unknown", route: "DELETE /cluster/{id}", method: "DELETE", path: "/cluster/" + missing, code: 404},
	{name: "get unknown", route: "GET /cluster/{id}", method: "GET", path: "/cluster/" + missing, code: 404},
	{name: "metadata unknown", route: "GET /cluster/{id}/metadata", method: "GET", path: "/cluster/" + missing + "/metadata", code: 404},
	{name: "dashboards unknown", route: "GET /cluster/{id}/dashboards", method: "GET", path: "/cluster/" + missing + "/dashboards", code: 404},
	{name: "dashboards internal flag", route: "GET /cluster/{id}/dashboards", method: "GET", path: "/cluster/{active}/dashboards?internal=maybe", code: 400, field: "internal"},
	{name: "pods unknown", route: "GET /cluster/{id}/pods", method: "GET", path: "/cluster/" + missing + "/pods", code: 404},
	{name: "resources unknown", route: "GET /cluster/{id}/resources", method: "GET", path: "/cluster/" + missing + "/resources", code: 404},
	{name: "events unknown", route: "GET /cluster/{id}/events", method: "GET", path: "/cluster/" + missing + "/events", code: 404},
	{name: "events limit zero", route: "GET /cluster/{id}/events", method: "GET", path: "/cluster/{active}/events?limit=0", code: 400, field: "limit"},
	{name: "events limit too big", route: "GET /cluster/{id}/events", method: "GET", path: "/cluster/{active}/events?limit=501", code: 400, field: "limit"},
	{name: "events limit text", route: "GET /cluster/{id}/events", method: "GET", path: "/cluster/{active}/events?limit=ten", code: 400, field: "limit"},
	{name: "start without msd-user", route: "POST /cluster/start-cluster/{id}", method: "POST", path: "/cluster/start-cluster/{inactive}", code: 400, field: "msd-user"},
	{name: "start malformed msd-user", route: "POST /cluster/start-cluster/{id}", method: "POST", path: "/cluster/start-cluster/{inactive}", user: "not json", code: 400, field: "msd-user"},
	{name: "start empty email", route: "POST /cluster/start-cluster/{id}", method: "POST", path: "/cluster/start-cluster/{inactive}", user: `{"email": ""}`, code: 400, field: "msd-user"},
	{name: "start unknown", route: "POST /cluster/start-cluster/{id}", method: "POST", path: "/cluster/start-cluster/" + missing, user: sdkUser, code: 404},
	{name: "stop without msd-user", route: "POST /cluster/stop-cluster/{id}", method: "POST", path: "/cluster/stop-cluster/{active}", code: 400, field: "msd-user"},
	{name: "stop malformed msd-user", route: "POST /cluster/stop-cluster/{id}", method: "POST", path: "/cluster/stop-cluster/{active}", user: `{"email": 5}`, code: 400, field: "msd-user"},
	{name: "stop unknown", route: "POST /cluster/stop-cluster/{id}", method: "POST", path: "/cluster/stop-cluster/" + missing, user: sdkUser, code: 404},
	{name: "restart without msd-user", route: "POST /cluster/restart-cluster/{id}", method: "POST", path: "/cluster/restart-cluster/{active}", code: 400, field: "msd-user"},
	{name: "restart unknown", route: "POST /cluster/restart-cluster/{id}", method: "POST", path: "/cluster/restart-cluster/" + missing, user: sdkUser, code: 404},
	{name: "force unknown", route: "PUT /cluster/force/{id}", method: "PUT", path: "/cluster/force/" + missing, code: 404},
	{name: "rename missing field", route: "PUT /cluster/update-name/{id}", method: "PUT", path: "/cluster/update-name/{inactive}", body: `{}`, code: 400, field: "cluster_name"},
	{name: "rename null", route: "PUT /cluster/update-name/{id}", method: "PUT", path: "/cluster/update-name/{inactive}", body: `{"cluster_name": null}`, code: 400, field: "cluster_name"},
	{name: "rename type", route: "PUT /cluster/update-name/{id}", method: "PUT", path: "/cluster/update-name/{inactive}", body: `{"cluster_name": 7}`, code: 400, field: "cluster_name"},
	{name: "rename invalid name", route: "PUT /cluster/update-name/{id}", method: "PUT", path: "/cluster/update-name/{inactive}", body: `{"cluster_name": "has space"}`, code: 400, field: "cluster_name"},
	{name: "rename taken", route: "PUT /cluster/update-name/{id}", method: "PUT", path: "/cluster/update-name/{inactive}", body: `{"cluster_name": "busy"}`, code: 409, msg: "Cluster with same name already exist"},
	{name: "rename unknown", route: "PUT /cluster/update-name/{id}", method: "PUT", path: "/cluster/update-name/" + missing, body: `{"cluster_name": "x"}`, code: 404},
	{name: "rename body not object", route: "PUT /cluster/update-name/{id}", method: "PUT", path: "/cluster/update-name/{inactive}", body: `"x"`, code: 400, field: "body"},
	{name: "user without msd-user", route: "PUT /cluster/user/{id}", method: "PUT", path: "/cluster/user/{inactive}", body: `{"cluster_user": "b@x.io"}`, code: 400, field: "msd-user"},
	{name: "user not an email", route: "PUT /cluster/user/{id}", method: "PUT", path: "/cluster/user/{inactive}", body: `{"cluster_user": "nobody"}`, user: aliceUser, code: 400, field: "cluster_user"},
	{name: "user missing", route: "PUT /cluster/user/{id}", method: "PUT", path: "/cluster/user/{inactive}", body: `{}`, user: aliceUser, code: 400, field: "cluster_user"},
	{name: "user unknown cluster", route: "PUT /cluster/user/{id}", method: "PUT", path: "/cluster/user/" + missing, body: `{"cluster_user": "b@x.io"}`, user: aliceUser, code: 404},
	{name: "tags type", route: "PUT /cluster/update-tags/{id}", method: "PUT", path: "/cluster/update-tags/{inactive}", body: `{"tags": "x"}`, code: 400, field: "tags"},
	{name: "tags element type", route: "PUT /cluster/update-tags/{id}", method: "PUT", path: "/cluster/update-tags/{inactive}", body: `{"tags": [1]}`, code: 400, field: "tags"},
	{name: "tags blank", route: "PUT /cluster/update-tags/{id}", method: "PUT", path: "/cluster/update-tags/{inactive}", body: `{"tags": ["a", " "]}`, code: 400, field: "tags[1]"},
	{name: "tags unknown cluster", route: "PUT /cluster/update-tags/{id}", method: "PUT", path: "/cluster/update-tags/" + missing, body: `{"tags": []}`, code: 404},
	{name: "action groups unknown", route: "GET /cluster/get-action-groups/{id}", method: "GET", path: "/cluster/get-action-groups/" + missing, code: 404},
	{name: "action groups page size", route: "GET /cluster/get-action-groups/{id}", method: "GET", path: "/cluster/get-action-groups/{active}?page_size=0", code: 400, field: "page_size"},
	{name: "action groups offset", route: "GET /cluster/get-action-groups/{id}", method: "GET", path: "/cluster/get-action-groups/{active}?offset=-1", code: 400, field: "offset"},
	{name: "action groups sort order", route: "GET /cluster/get-action-groups/{id}", method: "GET", path: "/cluster/get-action-groups/{active}?sort_order=sideways", code: 400, field: "sort_order"},
	{name: "action group details unknown", route: "GET /cluster/get-action-group-details/{run_id}", method: "GET", path: "/cluster/get-action-group-details/run_id-nope", code: 404},
	{name: "action group details sort order", route: "GET /cluster/get-action-group-details/{run_id}", method: "GET", path: "/cluster/get-action-group-details/{run}?sort_order=x", code: 400, field: "sort_order"},
	{name: "inactive job clusters limit", route: "GET /cluster/job/inactive", method: "GET", path: "/cluster/job/inactive?limit=0", code: 400, field: "limit"},
	{name: "inactive job clusters offset", route: "GET /cluster/job/inactive", method: "GET", path: "/cluster/job/inactive?offset=-3", code: 400, field: "offset"},
	{name: "inactive job clusters days", route: "GET /cluster/job/inactive", method: "GET", path: "/cluster/job/inactive?days=many", code: 400, field: "days"},
	{name: "inactive job clusters huge days", route: "GET /cluster/job/inactive", method: "GET", path: "/cluster/job/inactive?days=9999999999999", code: 400, field: "days"},
	{name: "init script missing cluster", route: "PUT /init-script-status", method: "PUT", path: "/init-script-status", body: `{"status": "SUCCESS"}`, code: 400, field: "cluster_id"},
	{name: "init script bad status", route: "PUT /init-script-status", method: "PUT", path: "/init-script-status", body: `{"cluster_id": "{active}", "status": "DONE"}`, code: 400, field: "status"},
	{name: "init script uid type", route: "PUT /init-script-status", method: "PUT", path: "/init-script-status", body: `{"cluster_id": "{active}", "status": "SUCCESS", "uid": 1}`, code: 400, field: "uid"},
	{name: "init script unknown cluster", route: "PUT /init-script-status", method: "PUT", path: "/init-script-status", body: `{"cluster_id": "` + missing + `", "status": "SUCCESS"}`, code: 404},
	{name: "running minutes text", route: "GET /running-clusters/{minutes}", method: "GET", path: "/running-clusters/abc", code: 400, field: "running_time"},
	{name: "running minutes negative", route: "GET /running-clusters/{minutes}", method: "GET", path: "/running-clusters/-5", code: 400, field: "running_time"},
	{name: "running minutes overflow", route: "GET /running-clusters/{minutes}", method: "GET", path: "/running-clusters/9223372036854775807", code: 400, field: "running_time"},
	{name: "visit without msd-user", route: "POST /recently-visited", method: "POST", path: "/recently-visited", body: `{"cluster_id": "{active}"}`, code: 400, field: "msd-user"},
	{name: "visit malformed msd-user", route: "POST /recently-visited", method: "POST", path: "/recently-visited", body: `{"cluster_id": "{active}"}`, user: "{", code: 400, field: "msd-user"},
	{name: "visit missing cluster id", route: "POST /recently-visited", method: "POST", path: "/recently-visited", body: `{}`, user: aliceUser, code: 400, field: "cluster_id"},
	{name: "visit cluster id type", route: "POST /recently-visited", method: "POST", path: "/recently-visited", body: `{"cluster_id": ["x"]}`, user: aliceUser, code: 400, field: "cluster_id"},
	{name: "visit unknown cluster", route: "POST /recently-visited", method: "POST", path: "/recently-visited", body: `{"cluster_id": "` + missing + `"}`, user: aliceUser, code: 404},
	{name: "recently visited without msd-user", route: "GET /recently-visited", method: "GET", path: "/recently-visited", code: 400, field: "msd-user"},
}

// expandBody turns "QUICKSTART [k=json]... [-k]..." into an edited quick-start body.
func expandBody(t *testing.T, body string) string {
	t.Helper()
	if !strings.HasPrefix(body, "QUICKSTART") {
		return body
	}
	edits := strings.Fields(strings.TrimPrefix(body, "QUICKSTART"))
	return quickstart(t, func(m map[string]any) {
		for _, e := range edits {
			if k, ok := strings.CutPrefix(e, "-"); ok {
				delete(m, k)
				continue
			}
			k, v, _ := strings.Cut(e, "=")
			var val any
			if err := json.Unmarshal([]byte(v), &val); err != nil {
				t.Fatalf("edit %s: %v", e, err)
			}
			m[k] = val
		}
	})
}

func TestReadRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range readCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.body = expandBody(t, tc.body)
			f.run1(t, tc)
		})
	}
}

// snapshot is everything a request could change: every cluster with its status, the actions, the events, the
// visits and the cluster-manager calls.
func (f *fixture) snapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	list, total, err := f.svc.Search(t.Context(), domain.SearchQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(&b)
	put := func(v any) {
		if err := enc.Encode(v); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	put(total)
	for _, cs := range list {
		put(cs)
		actions, err := f.st.ListActions(t.Context(), cs.Cluster.ID)
		if err != nil {
			t.Fatal(err)
		}
		put(actions)
	}
	evs, err := f.ob.Recent(t.Context(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	put(len(evs))
	for _, u := range []string{"alice@example.com", "sdk"} {
		v, err := f.st.RecentVisits(t.Context(), u, 100)
		if err != nil {
			t.Fatal(err)
		}
		put(v)
	}
	put(f.cm.Calls())
	return b.String()
}

func TestRejectedRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	before := f.snapshot(t)
	if !strings.Contains(before, f.active) || !strings.Contains(before, "Worker Nodes Up") || !strings.Contains(before, "apply ") {
		t.Fatalf("snapshot misses state: %s", before)
	}
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			tc.shape = envelopeShape
			tc.body = expandBody(t, tc.body)
			f.run1(t, tc)
		})
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("rejected requests changed state:\nbefore %s\nafter  %s", before, after)
	}
}

// mutatingCases change the fixture; TestMutatingRoutes runs them in order, checking each answer and its effect.
var mutatingCases = []apiCase{
	{name: "create", route: "POST /cluster", method: "POST", path: "/cluster", body: `QUICKSTART cluster_name="second" start_cluster=true`,
		code: 200, shape: envelopeShape, msg: "Cluster created successfully",
		check: func(t *testing.T, f *fixture, r reply) {
			if got := keys(r.data()); !slices.Equal(got, []string{"cluster_id", "cluster_name", "packages"}) {
				t.Fatalf("create data keys %v", got)
			}
			id := r.data()["cluster_id"].(string)
			if !strings.HasPrefix(id, "id-") || len(id) != 19 || r.data()["cluster_name"] != "second" {
				t.Fatalf("create: %s", r.raw)
			}
			if st, _ := f.svc.Metadata(t.Context(), id); st.Status != domain.StatusCreating {
				t.Fatalf("start_cluster=true must start it, status %s", st.Status)
			}
		}},
	{name: "create duplicate name", route: "POST /cluster", method: "POST", path: "/cluster", body: `QUICKSTART cluster_name="busy"`,
		code: 200, shape: envelopeShape,
		check: func(t *testing.T, _ *fixture, r reply) {
			if r.data()["cluster_name"] != "busy_"+r.data()["cluster_id"].(string) {
				t.Fatalf("duplicate name must be suffixed: %s", r.raw)
			}
		}},
	{name: "update (bare)", route: "PUT /cluster/{id}", method: "PUT", path: "/cluster/{inactive}", body: "QUICKSTART inactive_time=60",
		code: 200, shape: bareShape,
		check: func(t *testing.T, f *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"cluster_id":"`+f.inactive+`","cluster_name":"my-first-cluster","updated":true,"restarted":false,
					"artifact_name":"`+f.inactive+`-v2"}`)
			if f.cm.Artifact(f.inactive+"-v2") == nil {
				t.Fatal("update must apply the new artifact")
			}
		}},
	{name: "stop", route: "POST /cluster/stop-cluster/{id}", method: "POST", path: "/cluster/stop-cluster/{inactive}", user: sdkUser,
		code: 202, shape: envelopeShape, msg: "Cluster stopped successfully",
		check: func(t *testing.T, f *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"cluster_id":"`+f.inactive+`"}`)
			if st, _ := f.svc.Metadata(t.Context(), f.inactive); st.Status != domain.StatusInactive {
				t.Fatalf("status after stop %s", st.Status)
			}
		}},
	{name: "start", route: "POST /cluster/start-cluster/{id}", method: "POST", path: "/cluster/start-cluster/{inactive}", user: sdkUser,
		code: 202, shape: envelopeShape, msg: "Cluster Start Accepted",
		check: func(t *testing.T, f *fixture, r reply) {
			hasKeys(t, "start data", r.data(), "ClusterName", "Namespace", "KubeCluster")
			if r.data()["ClusterName"] != f.inactive || r.data()["Namespace"] != "ray" {
				t.Fatalf("start: %s", r.raw)
			}
			if st, _ := f.svc.Metadata(t.Context(), f.inactive); st.Status != domain.StatusCreating || st.ActiveRunID == "" {
				t.Fatalf("status after start %+v", st)
			}
		}},
	{name: "restart", route: "POST /cluster/restart-cluster/{id}", method: "POST", path: "/cluster/restart-cluster/{active}", user: sdkUser,
		code: 202, shape: envelopeShape, msg: "Restart Cluster Accepted",
		check: func(t *testing.T, f *fixture, r reply) {
			st, _ := f.svc.Metadata(t.Context(), f.active)
			if r.data()["ClusterName"] != f.active || st.Status != domain.StatusCreating || st.ActiveRunID == f.run {
				t.Fatalf("restart: %s %+v", r.raw, st)
			}
		}},
	{name: "force update", route: "PUT /cluster/force/{id}", method: "PUT", path: "/cluster/force/{inactive}", code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"cluster_id":"`+f.inactive+`","artifact_name":"`+f.inactive+`-v3"}`)
			if f.cm.Artifact(f.inactive+"-v3") == nil {
				t.Fatal("force update must apply a new artifact")
			}
		}},
	{name: "rename", route: "PUT /cluster/update-name/{id}", method: "PUT", path: "/cluster/update-name/{inactive}", body: `{"cluster_name":"renamed"}`,
		code: 200, shape: envelopeShape, msg: "Cluster name updated successfully",
		check: func(t *testing.T, f *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"cluster_id":"`+f.inactive+`","cluster_name":"renamed"}`)
			if st, _ := f.svc.Metadata(t.Context(), f.inactive); st.ClusterName != "renamed" {
				t.Fatalf("metadata name %s", st.ClusterName)
			}
		}},
	{name: "change user", route: "PUT /cluster/user/{id}", method: "PUT", path: "/cluster/user/{inactive}", body: `{"cluster_user":"bob@example.com"}`,
		user: aliceUser, code: 200, shape: envelopeShape, msg: "Cluster user updated successfully",
		check: func(t *testing.T, f *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"cluster_id":"`+f.inactive+`","user":"bob@example.com"}`)
		}},
	{name: "set tags", route: "PUT /cluster/update-tags/{id}", method: "PUT", path: "/cluster/update-tags/{inactive}", body: `{"tags":["x","y"]}`,
		code: 200, shape: envelopeShape, msg: "Cluster tags updated successfully",
		check: func(t *testing.T, f *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"cluster_id":"`+f.inactive+`","tags":["x","y"]}`)
			if cs, _ := f.svc.Get(t.Context(), f.inactive); !slices.Equal(cs.Cluster.Tags, []string{"x", "y"}) {
				t.Fatalf("stored tags %v", cs.Cluster.Tags)
			}
		}},
	{name: "clear tags", route: "PUT /cluster/update-tags/{id}", method: "PUT", path: "/cluster/update-tags/{inactive}", body: `{"tags":[]}`,
		code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			jsonEqual(t, r.body["data"], `{"cluster_id":"`+f.inactive+`","tags":[]}`)
		}},
	{name: "init script status (bare)", route: "PUT /init-script-status", method: "PUT", path: "/init-script-status",
		body: `{"cluster_id":"{inactive}","status":"SUCCESS","message":"done","uid":"u1"}`, code: 200, shape: bareShape,
		check: func(t *testing.T, f *fixture, r reply) {
			jsonEqual(t, r.body, `{"status":"SUCCESS","data":null}`)
			actions, _ := f.st.ListActions(t.Context(), f.inactive)
			last := actions[len(actions)-1]
			if last.Action != domain.ActionInitScript || last.Message != "done##u1.log" {
				t.Fatalf("init script action %+v", last)
			}
			evs, _ := f.ob.Recent(t.Context(), f.inactive, 1)
			if evs[0].Type != "INIT_SCRIPT_EXECUTION_SUCCESS" {
				t.Fatalf("event %s", evs[0].Type)
			}
		}},
	{name: "visit", route: "POST /recently-visited", method: "POST", path: "/recently-visited", body: `{"cluster_id":"{active}"}`,
		user: aliceUser, code: 200, shape: envelopeShape, msg: "Recently visited updated successfully",
		check: func(t *testing.T, _ *fixture, r reply) { jsonEqual(t, r.body["data"], `{"updatedCount":1}`) }},
	{name: "recently visited", route: "GET /recently-visited", method: "GET", path: "/recently-visited", user: aliceUser,
		code: 200, shape: envelopeShape,
		check: func(t *testing.T, f *fixture, r reply) {
			if len(r.list()) != 1 {
				t.Fatalf("visits: %s", r.raw)
			}
			v := r.list()[0].(map[string]any)
			if got := keys(v); !slices.Equal(got, []string{"cluster_id", "cluster_name", "resources", "status"}) {
				t.Fatalf("visit keys %v", got)
			}
			jsonEqual(t, v["resources"], `{"cores":8,"memory":16}`)
			if v["cluster_id"] != f.active || v["cluster_name"] != "busy" {
				t.Fatalf("visit: %v", v)
			}
		}},
	{name: "delete a started cluster", route: "DELETE /cluster/{id}", method: "DELETE", path: "/cluster/{inactive}", user: sdkUser,
		code: 400, shape: envelopeShape, msg: "Cluster is not in stop state"}, // started above, so not deletable yet
	{name: "stop before delete", route: "POST /cluster/stop-cluster/{id}", method: "POST", path: "/cluster/stop-cluster/{inactive}", user: sdkUser,
		code: 202, shape: envelopeShape},
	{name: "delete", route: "DELETE /cluster/{id}", method: "DELETE", path: "/cluster/{inactive}", code: 200, shape: bareShape,
		check: func(t *testing.T, f *fixture, r reply) {
			jsonEqual(t, r.body, `{"status":"SUCCESS","data":{"cluster_id":"`+f.inactive+`"}}`)
			if _, err := f.svc.Metadata(t.Context(), f.inactive); err == nil {
				t.Fatal("deleted cluster still has a status row")
			}
			if r := f.do(t, "GET", "/cluster/"+f.inactive, "", ""); r.code != 404 {
				t.Fatalf("get after delete: %d", r.code)
			}
		}},
}

func TestMutatingRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range mutatingCases {
		tc.body = expandBody(t, tc.body)
		if !t.Run(tc.name, func(t *testing.T) { f.run1(t, tc) }) {
			return
		}
	}
}

// TestInactiveJobClusters lists job clusters unused for longer than days.
func TestInactiveJobClusters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := &fixture{harness: h}
	job := h.create(t, func(m map[string]any) { m["is_job_cluster"] = true; m["cluster_name"] = "job" })
	h.create(t, nil) // not a job cluster
	h.clk.Advance(3 * 24 * time.Hour)
	for _, tc := range []apiCase{
		{name: "older than 2 days", path: "/cluster/job/inactive?days=2", code: 200, shape: envelopeShape,
			check: func(t *testing.T, _ *fixture, r reply) { jsonEqual(t, r.body["data"], `{"cluster_ids":["`+job+`"]}`) }},
		{name: "older than 5 days", path: "/cluster/job/inactive?days=5", code: 404, shape: envelopeShape},
		{name: "past the offset", path: "/cluster/job/inactive?days=2&offset=1", code: 404, shape: envelopeShape},
	} {
		tc.method, tc.route = "GET", "GET /cluster/job/inactive"
		t.Run(tc.name, func(t *testing.T) { f.run1(t, tc) })
	}
}

// TestEveryRouteIsCovered fails when a route is registered without a case in the tables above.
func TestEveryRouteIsCovered(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, tc := range slices.Concat(readCases, badCases, mutatingCases) {
		covered[tc.route] = true
	}
	r := chi.NewRouter()
	httpapi.New(nil, nil, nil).Routes(r)
	n := 0
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		n++
		if !covered[method+" "+route] {
			t.Errorf("route %s %s has no test case", method, route)
		}
		return nil
	})
	if err != nil || n < 30 {
		t.Fatalf("walk: %d routes, %v", n, err)
	}
	for route := range covered {
		if !routeExists(r, route) {
			t.Errorf("test case for %s, which is not a route", route)
		}
	}
}

func routeExists(r chi.Router, route string) bool {
	method, pattern, _ := strings.Cut(route, " ")
	found := false
	_ = chi.Walk(r, func(m, p string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		found = found || (m == method && p == pattern)
		return nil
	})
	return found
}
