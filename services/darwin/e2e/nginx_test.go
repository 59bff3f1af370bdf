package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/pkg/testutil"
)

const nginxBin = "/usr/sbin/nginx"

// repoRoot finds the workspace root (the directory holding go.work).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test directory")
		}
		dir = parent
	}
}

// renderNginx fills the deploy/nginx templates the same way
// scripts/run-distributed.sh does and returns the main config's path.
func renderNginx(t *testing.T, runDir, listen, compute, clusterManager string) string {
	t.Helper()
	root := repoRoot(t)
	read := func(name string) string {
		raw, err := os.ReadFile(filepath.Join(root, "deploy", "nginx", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	server := strings.NewReplacer(
		"${NGINX_LISTEN}", listen,
		"${COMPUTE_UPSTREAM}", compute,
		"${CLUSTER_MANAGER_UPSTREAM}", clusterManager,
		// mlflow, ml-serve, artifact-builder and feature-store are not started by these tests.
		"${MLFLOW_UPSTREAM}", "127.0.0.1:9",
		"${ML_SERVE_UPSTREAM}", "127.0.0.1:9",
		"${ARTIFACT_BUILDER_UPSTREAM}", "127.0.0.1:9",
		"${FEATURE_STORE_UPSTREAM}", "127.0.0.1:9",
	).Replace(read("darwin.conf.template"))
	main := strings.ReplaceAll(read("nginx.conf.template"), "${NGINX_RUNDIR}", runDir)
	for name, text := range map[string]string{"darwin.conf": server, "nginx.conf": main} {
		if strings.Contains(text, "${") {
			t.Fatalf("rendered %s still holds a placeholder:\n%s", name, text)
		}
		if err := os.WriteFile(filepath.Join(runDir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(runDir, "nginx.conf")
}

// startNginx runs Debian's nginx in the foreground on a rendered config and
// waits until it answers /healthz.
func startNginx(t *testing.T, compute, clusterManager string) string {
	t.Helper()
	// Workers drop to an unprivileged user when the test runs as root: the run
	// directory must be reachable for them (t.TempDir's parent is 0700).
	runDir, err := os.MkdirTemp("", "darwin-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runDir) })
	if err := os.Chmod(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := testutil.FreePort(t)
	conf := renderNginx(t, runDir, fmt.Sprintf("127.0.0.1:%d", port), compute, clusterManager)
	if out, err := exec.Command(nginxBin, "-t", "-p", runDir, "-e", filepath.Join(runDir, "error.log"), "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(nginxBin, "-p", runDir, "-e", filepath.Join(runDir, "error.log"), "-c", conf)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
			t.Errorf("nginx did not exit within 10s")
		}
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(runDir, "error.log"))
			accessLog, _ := os.ReadFile(filepath.Join(runDir, "access.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s\naccess.log (tail):\n%s", logs.String(), tail(string(errLog), 60), tail(string(accessLog), 60))
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-waited:
			errLog, _ := os.ReadFile(filepath.Join(runDir, "error.log"))
			t.Fatalf("nginx exited before answering:\n%s\n%s", logs.String(), errLog)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not answering on %s within 20s", base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getRaw(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestE2EQuickStartThroughNginx runs compute and cluster-manager as separate
// binaries on MariaDB behind Debian's nginx configured from deploy/nginx, and
// walks the quick start only through nginx's ingress-style routes.
func TestE2EQuickStartThroughNginx(t *testing.T) {
	if _, err := os.Stat(nginxBin); err != nil {
		testutil.NeedServer(t, "nginx", "apt-get install -y nginx (or scripts/test-nginx.sh)")
		return
	}
	dsn := dbtest.FreshDSN(t, db.MySQL)
	if dsn == "" {
		return
	}
	computeBin := buildBinary(t, "github.com/darwinml/darwin/services/compute/cmd/compute")
	cmBin := buildBinary(t, "github.com/darwinml/darwin/services/cluster-manager/cmd/cluster-manager")
	if out, err := exec.Command(computeBin, "migrate", "-compute.db.dsn="+dsn).CombinedOutput(); err != nil {
		t.Fatalf("compute migrate: %v\n%s", err, out)
	}

	cmHTTP, cmGRPC, compHTTP := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	cmAddr, compAddr := fmt.Sprintf("127.0.0.1:%d", cmHTTP), fmt.Sprintf("127.0.0.1:%d", compHTTP)
	// nginx first: compute's public URL (the base of dashboard links) is nginx.
	base := startNginx(t, compAddr, cmAddr)

	startProcess(t, cmBin, "http://"+cmAddr,
		"-server.http-addr="+cmAddr, fmt.Sprintf("-server.grpc-addr=127.0.0.1:%d", cmGRPC),
		"-cluster-manager.data-dir="+t.TempDir())
	comp := startProcess(t, computeBin, "http://"+compAddr,
		"-server.http-addr="+compAddr, fmt.Sprintf("-server.grpc-addr=127.0.0.1:%d", testutil.FreePort(t)),
		"-compute.db.dsn="+dsn, fmt.Sprintf("-compute.cluster-manager-addr=127.0.0.1:%d", cmGRPC),
		"-compute.poll-interval=300ms", "-compute.public-url="+base)

	// Every call below goes to nginx; comp.waited lets stopOnCleanup skip a dead compute.
	gw := &platform{t: t, base: base, waited: comp.waited}

	// The prefix is stripped: /compute/healthcheck reaches compute's /healthcheck.
	var health map[string]string
	if code := gw.call(http.MethodGet, "/compute/healthcheck", nil, "", &health); code != http.StatusOK || health["status"] != "SUCCESS" {
		t.Fatalf("GET %s/compute/healthcheck = %d %v", base, code, health)
	}
	// compute also serves its routes under /compute itself, so a passing
	// /compute/healthcheck alone does not prove stripping: /compute/compute/healthcheck
	// only reaches a route when nginx removed the first prefix.
	if code, body := getRaw(t, base+"/compute/compute/healthcheck"); code != http.StatusOK {
		t.Errorf("GET /compute/compute/healthcheck through nginx = %d %q: the /compute/ prefix is not stripped", code, body)
	}
	if code, body := getRaw(t, base+"/cluster-manager/cluster-manager/healthcheck"); code != http.StatusOK {
		t.Errorf("GET /cluster-manager/cluster-manager/healthcheck through nginx = %d %q: the prefix is not stripped", code, body)
	}
	// A path no service claims goes to cluster-manager unchanged (deployed models answer at /<serve>/ through
	// its proxy); with no such serve that is cluster-manager's JSON 404, not nginx's page.
	if code, body := getRaw(t, base+"/no-such-service/healthcheck"); code != http.StatusNotFound ||
		strings.Contains(body, "<center>nginx") || !strings.Contains(body, `"not_found"`) {
		t.Errorf("GET /no-such-service/healthcheck = %d %q, want cluster-manager's JSON 404", code, body)
	}
	if code, body := getRaw(t, base+"/cluster-manager/healthcheck"); code != http.StatusOK {
		t.Fatalf("GET /cluster-manager/healthcheck through nginx = %d %q", code, body)
	}

	id := createSeedCluster(t, gw)
	stopOnCleanup(t, gw, id)
	seen := waitStatus(t, gw, id, "active", 90*time.Second)
	t.Logf("cluster %s active through nginx; statuses seen %v", id, seen)

	dash := getDashboards(t, gw, id)
	if want := base + "/kind-0/" + id + "-dashboard/"; dash.Ray != want {
		t.Fatalf("ray dashboard link = %q, want %q (compute's public URL is nginx)", dash.Ray, want)
	}
	if want := base + "/kind-0/" + id + "-jupyter"; !strings.HasPrefix(dash.Jupyter, want) {
		t.Errorf("jupyter link = %q, want prefix %q", dash.Jupyter, want)
	}
	for _, u := range []string{dash.Ray, dash.Jupyter} {
		if code, body := getRaw(t, u); code != http.StatusOK {
			t.Errorf("GET %s through nginx = %d %q", u, code, tail(body, 5))
		}
	}

	job, logs := runJob(t, dash.Ray+"api/jobs/", `{"entrypoint": "echo through $VIA", "runtime_env": {"env_vars": {"VIA": "nginx"}}}`)
	if job.Status != "SUCCEEDED" || !strings.Contains(logs, "through nginx") {
		t.Fatalf("job through nginx: %s (%s), logs %q", job.Status, job.Message, logs)
	}

	if code := gw.call(http.MethodPost, "/compute/cluster/stop-cluster/"+id, map[string]string{"msd-user": seedUser}, "", nil); code != http.StatusAccepted {
		t.Fatalf("stop through nginx = %d", code)
	}
	waitStatus(t, gw, id, "inactive", 30*time.Second)
	testutil.Eventually(t, 15*time.Second, func() bool { return len(processesOf(id)) == 0 }, "no process of %s left", id)

	// The dashboard route of a stopped cluster no longer reaches a Ray head.
	if code, _ := getRaw(t, dash.Ray+"api/jobs/"); code == http.StatusOK {
		t.Errorf("jobs API of a stopped cluster still answers 200 through nginx")
	}
}

// TestRunDistributedScript runs scripts/run-distributed.sh (the `make
// run-distributed` path) on free ports, creates a cluster through the nginx it
// started, and checks that `stop` leaves no process behind.
func TestRunDistributedScript(t *testing.T) {
	if _, err := os.Stat(nginxBin); err != nil {
		testutil.NeedServer(t, "nginx", "apt-get install -y nginx (or scripts/test-nginx.sh)")
		return
	}
	dsn := dbtest.FreshDSN(t, db.MySQL)
	if dsn == "" {
		return
	}
	if _, err := exec.LookPath("mysql"); err != nil {
		testutil.NeedServer(t, "the mysql client", "scripts/test-databases.sh")
		return
	}
	dbName := dsn[strings.LastIndex(dsn, "/")+1:]
	if i := strings.IndexByte(dbName, '?'); i >= 0 {
		dbName = dbName[:i]
	}
	runDir, err := os.MkdirTemp("", "darwin-run-distributed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runDir) })
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)) }
	nginxAddr := addr()
	const adminToken = "e2e-run-distributed-admin-token"
	root := repoRoot(t)
	env := append(os.Environ(),
		"DARWIN_RUN_DIR="+runDir, "BIN="+filepath.Join(runDir, "bin"), "DARWIN_DB="+dbName,
		"DARWIN_NGINX_ADDR="+nginxAddr, "DARWIN_COMPUTE_HTTP="+addr(), "DARWIN_COMPUTE_GRPC="+addr(),
		"DARWIN_CM_HTTP="+addr(), "DARWIN_CM_GRPC="+addr(),
		// mlflow, ml-serve and artifact-builder share the fresh database (their tables and migration records are
		// their own), so nothing is left behind; the admin token is fixed so the test can use it.
		"DARWIN_MLFLOW_HTTP="+addr(), "DARWIN_MLFLOW_DB="+dbName,
		"DARWIN_ML_SERVE_HTTP="+addr(), "DARWIN_ML_SERVE_DB="+dbName,
		"DARWIN_ARTIFACT_BUILDER_HTTP="+addr(), "DARWIN_ARTIFACT_BUILDER_DB="+dbName,
		"DARWIN_ADMIN_TOKEN="+adminToken)
	script := func(arg string) string {
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "run-distributed.sh"), arg)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run-distributed.sh %s: %v\n%s", arg, err, out)
		}
		return string(out)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			script("stop")
		}
		if t.Failed() {
			for _, name := range []string{"compute.log", "cluster-manager.log", "mlflow.log", "ml-serve.log", "artifact-builder.log", "feature-store.log", "nginx/error.log"} {
				raw, _ := os.ReadFile(filepath.Join(runDir, name))
				t.Logf("%s:\n%s", name, tail(string(raw), 40))
			}
		}
	})
	out := script("start")
	base := "http://" + nginxAddr
	for _, want := range []string{base + "/compute/healthcheck", base + "/cluster-manager/healthcheck",
		base + "/mlflow-app/healthcheck", "smoke check ok: POST /mlflow-lib/api/2.0/mlflow/experiments/search",
		base + "/ml-serve/healthcheck", base + "/artifact-builder/healthcheck",
		"smoke check ok: GET /ml-serve/api/v1/serve (admin token)", "smoke check ok: GET /ml-serve/api/v1/serve (no token)",
		"smoke check ok: GET /artifact-builder/healthcheck", "smoke check ok: GET /darwin-smoke-no-such-serve/ (cluster-manager)",
		"smoke check ok: GET /feature-store-admin/entity/all", "smoke check ok: POST /feature-store/feature-group/read-features (empty request)",
		"Stop with:"} {
		if !strings.Contains(out, want) {
			t.Errorf("start output lacks %q:\n%s", want, out)
		}
	}
	if st := script("status"); strings.Count(st, ": running") != 7 {
		t.Fatalf("status after start:\n%s", st)
	}
	if strings.Contains(out, adminToken) {
		t.Errorf("start output shows the admin token:\n%s", out)
	}

	// ml-serve through nginx: the token given in DARWIN_ADMIN_TOKEN is the admin's, a wrong one is refused,
	// and its config points at cluster-manager, mlflow and artifact-builder (it reports them as wired).
	for _, tc := range []struct {
		token string
		code  int
		want  string
	}{
		{adminToken, http.StatusOK, `"status":"SUCCESS"`},
		{"not-" + adminToken, http.StatusForbidden, "Invalid or expired token."},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+"/ml-serve/api/v1/serve", nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(raw), tc.want) {
			t.Errorf("GET /ml-serve/api/v1/serve with token %q: %d %s, want %d %s", tc.token, resp.StatusCode, raw, tc.code, tc.want)
		}
	}
	if cmdline := processesOf(runDir); strings.Contains(strings.Join(cmdline, "\n"), adminToken) {
		t.Errorf("the admin token is in a process's argv")
	}
	if code, body := getRaw(t, base+"/artifact-builder/task?limit=1"); code != http.StatusOK || !strings.Contains(body, `"status":"SUCCESS"`) {
		t.Errorf("GET /artifact-builder/task through nginx: %d %s", code, body)
	}
	// Paths no service claims reach cluster-manager (deployed models at /<serve>/): its JSON 404, not nginx's.
	if code, body := getRaw(t, base+"/no-such-serve/predict"); code != http.StatusNotFound || strings.Contains(body, "<center>nginx") {
		t.Errorf("GET /no-such-serve/predict through nginx: %d %s, want cluster-manager's 404", code, body)
	}

	gw := &platform{t: t, base: base, waited: make(chan struct{})}
	id := createSeedCluster(t, gw)
	waitStatus(t, gw, id, "active", 90*time.Second)
	if dash := getDashboards(t, gw, id); !strings.HasPrefix(dash.Ray, base+"/kind-0/"+id) {
		t.Errorf("dashboard link %q does not point at nginx %s", dash.Ray, base)
	}

	// stop takes the running cluster's node processes down with cluster-manager.
	script("stop")
	stopped = true
	if st := script("status"); strings.Count(st, ": stopped") != 7 {
		t.Errorf("status after stop:\n%s", st)
	}
	testutil.Eventually(t, 15*time.Second, func() bool { return len(processesOf(runDir)) == 0 }, "no process of %s left", runDir)
	if code, err := http.Get(base + "/compute/healthcheck"); err == nil {
		code.Body.Close()
		t.Errorf("nginx still answers after stop: %d", code.StatusCode)
	}
}
