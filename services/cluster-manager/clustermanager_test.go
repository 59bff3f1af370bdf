package clustermanager_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/config"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	clustermanager "github.com/darwinml/darwin/services/cluster-manager"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver/kube"
	"github.com/darwinml/darwin/services/cluster-manager/internal/testbin"
)

var nodeBin string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &nodeBin)) }

func defaults(t *testing.T) clustermanager.Config {
	t.Helper()
	var cfg clustermanager.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestConfig(t *testing.T) {
	t.Parallel()
	cfg := defaults(t)
	if cfg.Driver != "local" || cfg.DataDir == "" || cfg.HeartbeatInterval != time.Second || cfg.MaxConcurrentJobs != 8 || len(cfg.NodeCommand) != 0 {
		t.Fatalf("defaults %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	yml := "driver: local\ndata_dir: /tmp/x\nnode_command: [/bin/cm, node]\npublic_base_url: http://h\nheartbeat_interval: 250ms\nnode_timeout: 2s\nstop_grace_period: 1s\nmax_concurrent_jobs: 2\n"
	if err := config.DecodeYAML([]byte(yml), &cfg); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	if cfg.DataDir != "/tmp/x" || len(cfg.NodeCommand) != 2 || cfg.HeartbeatInterval != 250*time.Millisecond || cfg.MaxConcurrentJobs != 2 {
		t.Errorf("yaml config %+v", cfg)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var fc clustermanager.Config
	fc.RegisterFlags(fs)
	if err := fs.Parse([]string{"-cluster-manager.node-command", "/bin/cm, node"}); err != nil || len(fc.NodeCommand) != 2 || fc.NodeCommand[1] != "node" {
		t.Errorf("node-command flag: %q %v", fc.NodeCommand, err)
	}
	kyml := "driver: kubernetes\nkubeconfigs: {kind-0: /k/kind0, prod: /k/prod}\ndefault_kube_cluster: prod\nnamespace: ray-prod\nhelm_timeout: 2m\n"
	kc := defaults(t)
	if err := config.DecodeYAML([]byte(kyml), &kc); err != nil {
		t.Fatalf("kubernetes yaml: %v", err)
	}
	if err := kc.Validate(); err != nil || kc.Kubeconfigs["kind-0"] != "/k/kind0" || kc.DefaultKubeCluster != "prod" ||
		kc.Namespace != "ray-prod" || kc.HelmTimeout != 2*time.Minute {
		t.Errorf("kubernetes yaml config %+v: %v", kc, err)
	}
	kc.DataDir = t.TempDir()
	if _, err := clustermanager.New(kc, clustermanager.Deps{}); err == nil || !strings.Contains(err.Error(), "not built into this binary") {
		t.Errorf("New with the kubernetes driver but no constructor: %v", err)
	}
	if _, err := clustermanager.New(kc, clustermanager.Deps{KubernetesDriver: kube.Factory(kc.Kubeconfigs, kc.DefaultKubeCluster, kc.Namespace, kc.HelmTimeout)}); err != nil {
		t.Errorf("New with the kubernetes driver: %v", err)
	}
	if err := fs.Parse([]string{"-cluster-manager.kubeconfigs", "a=/k/a, b=/k/b"}); err != nil || len(fc.Kubeconfigs) != 2 || fc.Kubeconfigs["b"] != "/k/b" {
		t.Errorf("kubeconfigs flag: %v %v", fc.Kubeconfigs, err)
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse([]string{"-cluster-manager.kubeconfigs", "a"}); err == nil {
		t.Error("kubeconfigs flag accepted an entry without a path")
	}
	tests := []struct {
		name   string
		mutate func(*clustermanager.Config)
		want   string
	}{
		{"default kube cluster unknown", func(c *clustermanager.Config) {
			c.Driver, c.Kubeconfigs, c.DefaultKubeCluster = "kubernetes", clustermanager.StringMap{"a": "/k/a"}, "b"
		}, `default_kube_cluster "b"`},
		{"no helm timeout", func(c *clustermanager.Config) { c.Driver, c.HelmTimeout = "kubernetes", 0 }, "helm_timeout"},
		{"unknown driver", func(c *clustermanager.Config) { c.Driver = "nomad" }, "unknown driver"},
		{"no data dir", func(c *clustermanager.Config) { c.DataDir = "" }, "data_dir"},
		{"timeout below heartbeat", func(c *clustermanager.Config) { c.NodeTimeout = c.HeartbeatInterval }, "node_timeout"},
		{"no jobs", func(c *clustermanager.Config) { c.MaxConcurrentJobs = 0 }, "max_concurrent_jobs"},
	}
	for _, tc := range tests {
		c := defaults(t)
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if _, err := clustermanager.New(c, clustermanager.Deps{}); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
}

type harness struct {
	svc   *clustermanager.Service
	grpc  clustermanagerv1.ClusterManagerServiceClient
	http  *httptest.Server
	proxy *httptest.Server
}

func start(t *testing.T, dataDir string, mutate ...func(*clustermanager.Config)) harness {
	t.Helper()
	cfg := defaults(t)
	for _, m := range mutate {
		m(&cfg)
	}
	cfg.DataDir, cfg.NodeCommand = dataDir, []string{nodeBin, "node"}
	cfg.HeartbeatInterval, cfg.NodeTimeout, cfg.StopGracePeriod = 200*time.Millisecond, time.Second, 2*time.Second
	deps := clustermanager.Deps{Logger: slog.New(slog.DiscardHandler), Clock: clock.Real()}
	if cfg.Driver == clustermanager.DriverKubernetes {
		deps.KubernetesDriver = kube.Factory(cfg.Kubeconfigs, cfg.DefaultKubeCluster, cfg.Namespace, cfg.HelmTimeout)
	}
	svc, err := clustermanager.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if mod.Name != clustermanager.ModuleName {
		t.Errorf("module name %q", mod.Name)
	}
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mod.Stop(context.Background()) })

	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	svc.RegisterGRPC(gs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	r := chi.NewRouter()
	r.Route("/cluster-manager", svc.RegisterHTTP)
	hs := httptest.NewServer(r)
	t.Cleanup(hs.Close)
	ps := httptest.NewServer(svc.DashboardProxy())
	t.Cleanup(ps.Close)
	return harness{svc: svc, grpc: clustermanagerv1.NewClusterManagerServiceClient(conn), http: hs, proxy: ps}
}

func waitRunning(t *testing.T, c clustermanagerv1.ClusterManagerServiceClient, id string, pods int) *clustermanagerv1.GetClusterStatusResponse {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last *clustermanagerv1.GetClusterStatusResponse
	for time.Now().Before(deadline) {
		st, err := c.GetClusterStatus(t.Context(), &clustermanagerv1.GetClusterStatusRequest{ClusterName: id})
		if err == nil {
			last = st
			ok := len(st.GetResources()) == pods
			for _, p := range st.GetResources() {
				ok = ok && p.GetStatus() == "Running"
			}
			if ok {
				return st
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("cluster %s not running: %v", id, last)
	return nil
}

func TestServiceEndToEnd(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	h := start(t, dataDir)
	ctx := t.Context()
	id := "id-e2e" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	values := fmt.Sprintf(`{"cluster_id":%q,"head":{"containerEnv":[{"name":"GREETING","value":"hello-from-values"}]},"worker":{"replicas":1}}`, id)
	if _, err := h.grpc.ApplyCluster(ctx, &clustermanagerv1.ApplyClusterRequest{ClusterName: id, ArtifactName: id + "-v1", ValuesJson: []byte(values)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.grpc.StartCluster(ctx, &clustermanagerv1.StartClusterRequest{ClusterName: id, ArtifactName: id + "-v1"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = h.grpc.StopCluster(context.Background(), &clustermanagerv1.StopClusterRequest{ClusterName: id})
	})
	st := waitRunning(t, h.grpc, id, 2)

	// Compute's Jupyter probe hits the internal URL directly.
	resp, err := http.Get(st.GetJupyterUrl())
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("jupyter url %s: %v %v", st.GetJupyterUrl(), resp, err)
	}
	resp.Body.Close()

	// Submit a job through the public dashboard URL.
	base := h.proxy.URL + "/kind-0/" + id + "-dashboard"
	resp, err = http.Post(base+"/api/jobs/", "application/json", strings.NewReader(`{"entrypoint":"echo $GREETING","submission_id":"via-proxy"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("submit via proxy: %v %v", resp, err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err = http.Get(base + "/api/jobs/via-proxy/logs")
		if err != nil {
			t.Fatal(err)
		}
		var logs map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&logs)
		resp.Body.Close()
		if strings.Contains(logs["logs"], "hello-from-values") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job logs via proxy: %q", logs["logs"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err = http.Get(h.proxy.URL + "/kind-0/" + id + "-jupyter/api/status")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("jupyter via proxy: %v %v", resp, err)
	}
	resp.Body.Close()

	// Exec through gRPC on every pod.
	ex, err := h.grpc.Exec(ctx, &clustermanagerv1.ExecRequest{ClusterName: id, Target: "cluster", Command: "echo ran-$DARWIN_NODE_TYPE", ExecutionId: "grpc-exec"})
	if err != nil || len(ex.GetPodNames()) != 2 {
		t.Fatalf("exec: %v %v", ex, err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		es, err := h.grpc.GetExecStatus(ctx, &clustermanagerv1.GetExecStatusRequest{ClusterName: id, ExecutionId: "grpc-exec"})
		if err != nil {
			t.Fatal(err)
		}
		done := len(es.GetPods()) == 2
		for _, p := range es.GetPods() {
			done = done && p.GetStatus() == "success" && strings.Contains(p.GetOutput(), "ran-")
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exec status %v", es)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The service stops (module Stop) but the cluster keeps running; a new
	// service over the same data dir re-attaches.
	h2 := start(t, dataDir)
	waitRunning(t, h2.grpc, id, 2)

	// The DCM REST surface reports and stops it.
	form := url.Values{"cluster_name": {id}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, h2.http.URL+"/cluster-manager/compute/v2/cluster/status", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || strings.Count(string(body), `"Status":"Running"`) != 2 {
		t.Fatalf("DCM status: %d %s", resp.StatusCode, body)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, h2.http.URL+"/cluster-manager/compute/v2/cluster/stop", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DCM stop: %v %v", resp, err)
	}
	resp.Body.Close()
	if left := processesMentioning(id); len(left) > 0 {
		t.Errorf("processes of %s left after stop: %v", id, left)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "artifacts", "mlp", "cluster_manager", id+"-v1.json")); err != nil {
		t.Errorf("artifact not kept: %v", err)
	}
}

func processesMentioning(s string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(data), s) {
			out = append(out, pid)
		}
	}
	return out
}

func TestStopClustersOnShutdown(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	cfg := defaults(t)
	cfg.DataDir, cfg.NodeCommand, cfg.StopClustersOnShutdown = dataDir, []string{nodeBin, "node"}, true
	cfg.HeartbeatInterval, cfg.NodeTimeout, cfg.StopGracePeriod = 200*time.Millisecond, time.Second, 2*time.Second
	svc, err := clustermanager.New(cfg, clustermanager.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Module().Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	svc.RegisterHTTP(r)
	hs := httptest.NewServer(r)
	t.Cleanup(hs.Close)
	id := "id-sos" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	put := func(path string, form url.Values) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, hs.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "artifacts", "mlp", "cluster_manager"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "artifacts", "mlp", "cluster_manager", id+"-v1.json"), []byte(`{"worker":{"replicas":1}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := put("/compute/v2/cluster/start", url.Values{"cluster_name": {id}, "artifact_name": {id + "-v1"}}); code != http.StatusAccepted {
		t.Fatalf("start: %d", code)
	}
	if len(processesMentioning(id)) != 2 {
		t.Fatalf("processes: %v", processesMentioning(id))
	}
	if err := svc.Module().Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if left := processesMentioning(id); len(left) > 0 {
		t.Errorf("clusters survived Module Stop with stop_clusters_on_shutdown: %v", left)
	}
}
