// Package kubetest (test support, importable by other modules' tests) runs a real Kubernetes API server (kube-apiserver + etcd)
// on loopback for integration tests, with the RayCluster CRD installed. The
// binaries come from $KUBEBUILDER_ASSETS or ~/.cache/darwin/k8s/v1.37.2
// (built by scripts/k8s-test-binaries.sh). There is no kubelet, scheduler
// or controller-manager: tests create pods and write their status
// themselves, and the ServiceAccount admission plugin is off so pods need
// no token.
//
// One server serves a whole test binary:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
//	func TestX(t *testing.T) { srv := kubetest.Shared(t); ... }
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/darwinml/darwin/pkg/testutil"
)

// Version of the binaries looked up under ~/.cache/darwin/k8s.
const Version = "v1.37.2"

//go:embed crds/rayclusters.ray.io.yaml
var rayClusterCRD []byte

// ErrNoBinaries means kube-apiserver or etcd was not found.
var ErrNoBinaries = errors.New("kube-apiserver/etcd binaries not found")

// Server is a running API server.
type Server struct {
	// Kubeconfig is a kubeconfig file for the server (token auth).
	Kubeconfig string
	// Config is the matching client config.
	Config *rest.Config
	// Dir holds the data, certificates and logs.
	Dir string
	// URL of the API server; Token authenticates as a cluster admin.
	URL   string
	Token string
	// StartTime is how long the server took to become ready (with the CRD).
	StartTime time.Duration

	etcd, apiserver *proc
	ownsDir         bool
}

// AssetsDir returns the directory with kube-apiserver and etcd, or
// ErrNoBinaries.
func AssetsDir() (string, error) {
	dirs := []string{os.Getenv("KUBEBUILDER_ASSETS")}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "darwin", "k8s", Version))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if isExec(filepath.Join(d, "kube-apiserver")) && isExec(filepath.Join(d, "etcd")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start launches etcd and kube-apiserver under dir (a new temp dir when
// empty), waits until the server is ready and installs the RayCluster CRD.
func Start(ctx context.Context, dir string) (*Server, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	s := &Server{Dir: dir}
	if dir == "" {
		if s.Dir, err = os.MkdirTemp("", "kubetest-"); err != nil {
			return nil, fmt.Errorf("temp dir: %w", err)
		}
		s.ownsDir = true
	}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	if s.etcd, err = s.launch(filepath.Join(assets, "etcd"), "etcd.log",
		"--name", "default", "--data-dir", filepath.Join(s.Dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL, "--unsafe-no-fsync", "--log-level", "error"); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, http.DefaultClient, etcdURL+"/health", "", 30*time.Second, s.etcd); err != nil {
		return nil, fmt.Errorf("etcd not healthy: %w\n%s", err, logTail(filepath.Join(s.Dir, "etcd.log")))
	}

	keyFile, err := writeServiceAccountKey(filepath.Join(s.Dir, "sa.key"))
	if err != nil {
		return nil, err
	}
	s.Token = randomHex(16)
	tokens := filepath.Join(s.Dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(s.Token+`,admin,admin,"system:masters"`+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write token file: %w", err)
	}
	s.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	if s.apiserver, err = s.launch(filepath.Join(assets, "kube-apiserver"), "apiserver.log",
		"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(ports[2]), "--cert-dir", filepath.Join(s.Dir, "certs"),
		"--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", keyFile,
		"--service-account-signing-key-file", keyFile, "--service-cluster-ip-range", "10.96.0.0/16", // virtual ClusterIPs (never dialled); room for the 1,000-cluster benchmark
		"--endpoint-reconciler-type", "none", "--disable-admission-plugins", "ServiceAccount",
		"--allow-privileged=true", "--enable-priority-and-fairness=false"); err != nil {
		return nil, err
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback test server with a self-signed cert
	if err := waitHTTP(ctx, insecure, s.URL+"/readyz", s.Token, 90*time.Second, s.apiserver); err != nil {
		return nil, fmt.Errorf("kube-apiserver not ready: %w\n%s", err, logTail(filepath.Join(s.Dir, "apiserver.log")))
	}
	s.Config = &rest.Config{Host: s.URL, BearerToken: s.Token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 200, Burst: 400}
	s.Kubeconfig = filepath.Join(s.Dir, "kubeconfig")
	if err := WriteKubeconfig(s.Kubeconfig, s.URL, s.Token); err != nil {
		return nil, err
	}
	if err := s.installCRD(ctx); err != nil {
		return nil, err
	}
	s.StartTime = time.Since(begin)
	ok = true
	return s, nil
}

// proc is a started process; done closes when it has exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (s *Server) launch(bin, logName string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(s.Dir, logName))
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with the test binary even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Stop kills the processes and removes the directory it created.
func (s *Server) Stop() {
	for _, p := range []*proc{s.apiserver, s.etcd} {
		if p == nil {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if s.ownsDir {
		_ = os.RemoveAll(s.Dir)
	}
}

// WriteKubeconfig writes a kubeconfig for server with a bearer token
// (TLS verification off: the test server's certificate is self-signed).
func WriteKubeconfig(path, server, token string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, server, token)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

func (s *Server) installCRD(ctx context.Context) error {
	var obj map[string]any
	if err := yaml.Unmarshal(rayClusterCRD, &obj); err != nil {
		return fmt.Errorf("parse CRD: %w", err)
	}
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := dyn.Resource(gvr).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create RayCluster CRD: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(s.Config)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := disc.ServerResourcesForGroupVersion("ray.io/v1"); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("RayCluster CRD not served after 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitHTTP(ctx context.Context, c *http.Client, url, token string, timeout time.Duration, p *proc) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("process exited: %v", p.err)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s: %d %s", url, resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("timed out after %s: %w", timeout, last)
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func writeServiceAccountKey(path string) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("generate service account key: %w", err)
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("write service account key: %w", err)
	}
	return path, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	shared    *Server
	sharedErr error
)

// Main starts the shared server, runs the tests and stops it. When the
// binaries are missing the tests still run and Shared skips (or fails under
// DARWIN_TEST_REQUIRE_ALL=1) those that need the server.
func Main(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	shared, sharedErr = Start(ctx, "")
	cancel()
	if sharedErr == nil {
		fmt.Fprintf(os.Stderr, "kubetest: kube-apiserver ready at %s in %s\n", shared.URL, shared.StartTime.Round(time.Millisecond))
	}
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}

// Shared returns the server started by Main.
func Shared(t testing.TB) *Server {
	t.Helper()
	switch {
	case errors.Is(sharedErr, ErrNoBinaries):
		testutil.NeedServer(t, "kube-apiserver", "scripts/k8s-test-binaries.sh")
	case sharedErr != nil:
		t.Fatalf("start kube-apiserver: %v", sharedErr)
	case shared == nil:
		t.Fatal("kubetest.Shared called without kubetest.Main in TestMain")
	}
	return shared
}

// logTail returns the end of a log file for error messages (the directory
// is removed when Start fails).
func logTail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}
