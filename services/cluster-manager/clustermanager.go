// Package clustermanager is darwin-cluster-manager: it stores the versioned
// values documents (artifacts) of Ray clusters and runs them through a
// driver: the local process driver (default), which starts one head and N
// worker processes per cluster on this machine, or the Kubernetes driver,
// which installs each cluster as a KubeRay RayCluster through the Helm SDK.
// It serves the
// ClusterManagerService gRPC API (used by compute), the original DCM REST
// surface, and a reverse proxy for the clusters' dashboards.
package clustermanager

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/health"
	"github.com/darwinml/darwin/pkg/log"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver/local"
	"github.com/darwinml/darwin/services/cluster-manager/internal/grpcapi"
	"github.com/darwinml/darwin/services/cluster-manager/internal/httpapi"
	"github.com/darwinml/darwin/services/cluster-manager/internal/node"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

// ModuleName is the name of the service's app module.
const ModuleName = "cluster-manager"

// Drivers.
const (
	DriverLocal      = "local"
	DriverKubernetes = "kubernetes"
)

// Config of the cluster manager. YAML keys are snake_case; flags carry the
// -cluster-manager. prefix.
type Config struct {
	// Driver runs the clusters: "local" (processes on this machine) or
	// "kubernetes" (KubeRay RayClusters installed with Helm).
	Driver string `yaml:"driver"`
	// DataDir holds artifacts (artifacts/, unless ArtifactStore is set) and local driver state (clusters/<id>/).
	DataDir string `yaml:"data_dir"`
	// ArtifactStore is where versioned values documents are kept (under mlp/cluster_manager/): a directory
	// ("file:///dir" or a path) or an S3 API ("s3://bucket/prefix?endpoint=...&region=..."). Empty: <data_dir>/artifacts.
	ArtifactStore string `yaml:"artifact_store"`
	// NodeCommand starts a node process; "head"/"worker" and flags are
	// appended. Default: the current executable followed by "node".
	NodeCommand StringList `yaml:"node_command"`
	// PublicBaseURL is where DashboardProxy is reachable from browsers
	// (e.g. http://localhost:8080); used in log lines and links.
	PublicBaseURL string `yaml:"public_base_url"`
	// HeartbeatInterval of workers to the head.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// NodeTimeout after which a worker without heartbeat is not Running.
	NodeTimeout time.Duration `yaml:"node_timeout"`
	// StopGracePeriod between SIGTERM and SIGKILL when stopping a cluster.
	StopGracePeriod time.Duration `yaml:"stop_grace_period"`
	// MaxConcurrentJobs per head; further jobs wait PENDING.
	MaxConcurrentJobs int `yaml:"max_concurrent_jobs"`
	// StopClustersOnShutdown makes Module Stop stop every cluster. Off by
	// default: clusters outlive the service and are re-attached on start.
	// Tests and throwaway setups turn it on.
	StopClustersOnShutdown bool `yaml:"stop_clusters_on_shutdown"`

	// Kubernetes driver.

	// Kubeconfigs maps kube_cluster names (as compute sends them) to
	// kubeconfig files. Empty: the in-cluster config is used.
	Kubeconfigs StringMap `yaml:"kubeconfigs"`
	// DefaultKubeCluster is used when a request names no kube_cluster.
	DefaultKubeCluster string `yaml:"default_kube_cluster"`
	// Namespace is used when a request names no namespace.
	Namespace string `yaml:"namespace"`
	// HelmTimeout bounds each Helm install/upgrade/uninstall.
	HelmTimeout time.Duration `yaml:"helm_timeout"`

	// Resource instances (model servers) on the local driver.

	// ServeRuntimeCommand starts the model runtime of a darwin-fastapi-serve replica; "--host 127.0.0.1
	// --port P" is appended. Default: /usr/bin/python3 <repo>/runtimes/serve/darwin_serve_runtime.py, the
	// repository found above the working directory or the executable.
	ServeRuntimeCommand StringList `yaml:"serve_runtime_command"`
	// ServeReadyTimeout bounds how long an upgrade waits for its new replicas to answer /ready.
	ServeReadyTimeout time.Duration `yaml:"serve_ready_timeout"`
}

// StringMap is a map[string]string flag ("k=v,k2=v2").
type StringMap map[string]string

func (m *StringMap) String() string {
	parts := make([]string, 0, len(*m))
	for k, v := range *m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Set parses "k=v,k2=v2".
func (m *StringMap) Set(s string) error {
	out := StringMap{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return fmt.Errorf("%q is not name=path", p)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	*m = out
	return nil
}

// StringList is a []string flag (comma-separated).
type StringList []string

func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set parses a comma-separated list.
func (l *StringList) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// RegisterFlags registers the -cluster-manager.* flags with defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Driver, "cluster-manager.driver", DriverLocal, `cluster driver: "local" (processes on this machine) or "kubernetes" (KubeRay via Helm)`)
	f.StringVar(&c.DataDir, "cluster-manager.data-dir", filepath.Join("darwin-data", "cluster-manager"), "directory for artifacts and local cluster state")
	f.StringVar(&c.ArtifactStore, "cluster-manager.artifact-store", c.ArtifactStore, "where artifacts are stored: a directory or s3://bucket/prefix?endpoint=...&region=... (default <data-dir>/artifacts)")
	f.Var(&c.NodeCommand, "cluster-manager.node-command", `comma-separated command that starts a node process (default: this executable + "node")`)
	f.StringVar(&c.PublicBaseURL, "cluster-manager.public-base-url", "http://localhost:8080", "public base URL under which the dashboard proxy is mounted")
	f.DurationVar(&c.HeartbeatInterval, "cluster-manager.heartbeat-interval", node.DefaultHeartbeatInterval, "worker heartbeat interval")
	f.DurationVar(&c.NodeTimeout, "cluster-manager.node-timeout", node.DefaultNodeTimeout, "a worker without heartbeat for this long is not Running")
	f.DurationVar(&c.StopGracePeriod, "cluster-manager.stop-grace-period", node.DefaultStopGrace, "grace period between SIGTERM and SIGKILL when stopping a cluster")
	f.IntVar(&c.MaxConcurrentJobs, "cluster-manager.max-concurrent-jobs", node.DefaultMaxConcurrentJobs, "jobs running at once per head; more wait PENDING")
	f.Var(&c.Kubeconfigs, "cluster-manager.kubeconfigs", "kubernetes driver: kube_cluster=kubeconfig-path pairs, comma-separated (empty: in-cluster config)")
	f.StringVar(&c.DefaultKubeCluster, "cluster-manager.default-kube-cluster", "", "kubernetes driver: kube_cluster used when a request names none")
	f.StringVar(&c.Namespace, "cluster-manager.namespace", driver.DefaultKubeNamespace, "kubernetes driver: namespace used when a request names none")
	f.DurationVar(&c.HelmTimeout, "cluster-manager.helm-timeout", driver.DefaultHelmTimeout, "kubernetes driver: timeout of each Helm install/upgrade/uninstall")
	f.Var(&c.ServeRuntimeCommand, "cluster-manager.serve-runtime-command", "comma-separated command that starts a model runtime replica (default: /usr/bin/python3 <repo>/runtimes/serve/darwin_serve_runtime.py)")
	f.DurationVar(&c.ServeReadyTimeout, "cluster-manager.serve-ready-timeout", 10*time.Minute, "local driver: how long an upgrade waits for new model server replicas to be ready")
	f.BoolVar(&c.StopClustersOnShutdown, "cluster-manager.stop-clusters-on-shutdown", false, "stop every cluster when the service stops (default: leave them running and re-attach on start)")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch c.Driver {
	case DriverLocal:
	case DriverKubernetes:
		if c.DefaultKubeCluster != "" && len(c.Kubeconfigs) > 0 {
			if _, ok := c.Kubeconfigs[c.DefaultKubeCluster]; !ok {
				return fmt.Errorf("cluster-manager.default_kube_cluster %q is not a key of kubeconfigs", c.DefaultKubeCluster)
			}
		}
		for name, path := range c.Kubeconfigs {
			if name == "" || path == "" {
				return errors.New("cluster-manager.kubeconfigs: names and paths must not be empty")
			}
		}
		if c.HelmTimeout <= 0 {
			return errors.New("cluster-manager.helm_timeout must be positive")
		}
	default:
		return fmt.Errorf("cluster-manager.driver: unknown driver %q (supported: local, kubernetes)", c.Driver)
	}
	if c.DataDir == "" {
		return errors.New("cluster-manager.data_dir is required")
	}
	if c.HeartbeatInterval <= 0 || c.NodeTimeout <= 0 || c.StopGracePeriod <= 0 {
		return errors.New("cluster-manager: heartbeat_interval, node_timeout and stop_grace_period must be positive")
	}
	if c.NodeTimeout <= c.HeartbeatInterval {
		return errors.New("cluster-manager.node_timeout must be longer than heartbeat_interval")
	}
	if c.MaxConcurrentJobs <= 0 {
		return errors.New("cluster-manager.max_concurrent_jobs must be positive")
	}
	return nil
}

// Deps are the service's dependencies.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Clock      clock.Clock
	// KubernetesDriver is required when Config.Driver is "kubernetes".
	KubernetesDriver KubernetesDriverFunc
}

// KubernetesDriverFunc builds the Kubernetes driver over the service's artifact store. The cluster-manager
// binary passes kube.Factory(...); darwin up passes nothing, so client-go and Helm are not linked into it.
type KubernetesDriverFunc func(store artifact.Store, logger *slog.Logger, clk clock.Clock) (driver.Driver, error)

// Service is the cluster manager.
type Service struct {
	cfg    Config
	logger *slog.Logger
	drv    driver.Driver
	local  *local.Driver // set for the local driver
	kube   io.Closer     // set for the kubernetes driver
	store  artifact.Store
	grpc   *grpcapi.Server
	http   *httpapi.API
	proxy  *httpapi.DashboardProxy
	serves *local.Serves // resource instances on the local driver
	res    *resource.Service
	resAPI *httpapi.ResourceAPI
}

// New builds the service; nothing runs until Module().Start.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := log.OrDiscard(deps.Logger).With("service", ModuleName)
	clk := deps.Clock
	if clk == nil {
		clk = clock.Real()
	}
	storeDSN := cfg.ArtifactStore
	if storeDSN == "" {
		storeDSN = filepath.Join(cfg.DataDir, "artifacts")
	}
	openCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := artifact.Open(openCtx, storeDSN, blob.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, logger: logger, store: store}
	var drv driver.Driver
	switch cfg.Driver {
	case DriverKubernetes:
		if deps.KubernetesDriver == nil {
			return nil, errors.New(`cluster-manager.driver "kubernetes" is not built into this binary (darwin up runs the local driver); run the cluster-manager binary`)
		}
		kd, err := deps.KubernetesDriver(store, logger, clk)
		if err != nil {
			return nil, fmt.Errorf("kubernetes driver: %w", err)
		}
		drv = kd
		if c, ok := kd.(io.Closer); ok {
			s.kube = c
		}
	default:
		nodeCmd := []string(cfg.NodeCommand)
		if len(nodeCmd) == 0 {
			exe, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("find own executable for node_command: %w", err)
			}
			nodeCmd = []string{exe, "node"}
		}
		ld, err := local.New(local.Config{
			DataDir: cfg.DataDir, NodeCommand: nodeCmd, HeartbeatInterval: cfg.HeartbeatInterval,
			NodeTimeout: cfg.NodeTimeout, StopGrace: cfg.StopGracePeriod, MaxConcurrentJobs: cfg.MaxConcurrentJobs,
		}, store, logger, clk)
		if err != nil {
			return nil, err
		}
		s.local, drv = ld, ld
		runtimeCmd := []string(cfg.ServeRuntimeCommand)
		if len(runtimeCmd) == 0 {
			runtimeCmd = DefaultServeRuntimeCommand()
		}
		sv, err := local.NewServes(local.ServeConfig{DataDir: cfg.DataDir, RuntimeCommand: runtimeCmd,
			StopGrace: cfg.StopGracePeriod, ReadyTimeout: cfg.ServeReadyTimeout}, logger, clk)
		if err != nil {
			return nil, err
		}
		s.serves = sv
	}
	var runner resource.Runner
	if s.serves != nil {
		runner = s.serves
	} else if r, ok := drv.(resource.Runner); ok {
		runner = r
	} else {
		return nil, errors.New("cluster-manager: the driver cannot run resource instances")
	}
	s.res = resource.New(store, runner, clk)
	s.resAPI = httpapi.NewResourceAPI(s.res, logger)
	if deps.Registerer != nil {
		if err := registerMetrics(deps.Registerer, drv); err != nil {
			return nil, err
		}
	}
	s.drv = drv
	s.grpc = grpcapi.New(drv, s.res, logger)
	s.http = httpapi.New(drv, logger, clk)
	s.proxy = httpapi.NewDashboardProxy(drv, logger)
	return s, nil
}

// Module starts the service: Start re-attaches to clusters still running
// from a previous run; Stop leaves cluster processes running (like pods
// when the Kubernetes control plane restarts) unless
// stop_clusters_on_shutdown is set.
func (s *Service) Module() app.Module {
	return app.Module{
		Name: ModuleName,
		Start: func(ctx context.Context) error {
			if s.local != nil {
				if err := s.local.Recover(ctx); err != nil {
					return fmt.Errorf("recover clusters: %w", err)
				}
				if err := s.serves.Recover(ctx); err != nil {
					return fmt.Errorf("recover resource instances: %w", err)
				}
			}
			s.logger.Info("cluster manager started", "driver", s.cfg.Driver, "data_dir", s.cfg.DataDir,
				"dashboards", strings.TrimRight(s.cfg.PublicBaseURL, "/")+"/<cloud_env>/<cluster_id>-dashboard/")
			return nil
		},
		Stop: func(ctx context.Context) error {
			if s.kube != nil {
				// Releases live in the Kubernetes cluster; nothing to stop here.
				return s.kube.Close()
			}
			if s.cfg.StopClustersOnShutdown {
				if err := s.local.StopAll(ctx); err != nil {
					return fmt.Errorf("stop clusters: %w", err)
				}
				if err := s.serves.StopAll(ctx); err != nil {
					return fmt.Errorf("stop resource instances: %w", err)
				}
			}
			return errors.Join(s.serves.Close(), s.local.Close())
		},
	}
}

// RegisterHTTP mounts the DCM REST routes (without the /cluster-manager prefix).
func (s *Service) RegisterHTTP(r chi.Router) {
	s.http.Register(r)
	s.resAPI.Register(r)
}

// ServeProxy reverse-proxies /<resource-id>/... (or the first segment of the instance's ingress.path) to a
// ready replica of a resource instance run by the local driver, round-robin, with the prefix stripped; 503
// in the DCM error envelope when no replica is ready. Requests whose first path segment names no installed
// instance go to next (a 404 when next is nil), so it can wrap the root handler. With the Kubernetes driver
// every request goes to next (the Ingress routes serves there).
func (s *Service) ServeProxy(next http.Handler) http.Handler {
	if s.serves == nil {
		if next == nil {
			return httpapi.NewServeProxy(noRoutes{}, nil, s.logger)
		}
		return next
	}
	return httpapi.NewServeProxy(s.serves, next, s.logger)
}

type noRoutes struct{}

func (noRoutes) Route(string) (string, func(), bool, error) { return "", nil, false, nil }

// ServeURL returns the base URL of a ready replica of resource instance id (local driver; round-robin):
// NotFound when it is not installed, Unavailable when no replica is ready. With the Kubernetes driver it is
// the Service's cluster-internal URL once the release is installed.
func (s *Service) ServeURL(ctx context.Context, id string) (string, error) {
	if s.serves != nil {
		return s.serves.URL(id)
	}
	st, err := s.res.Status(ctx, id)
	if err != nil {
		return "", err
	}
	if !st.Installed || st.URL == "" {
		return "", apierr.New(apierr.NotFound, "resource instance %s not found", id)
	}
	return st.URL, nil
}

// DefaultServeRuntimeCommand is /usr/bin/python3 (else python3 from PATH) with runtimes/serve/darwin_serve_runtime.py
// of the repository found above the working directory or the executable; nil when there is none.
func DefaultServeRuntimeCommand() []string {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			script := filepath.Join(d, "runtimes", "serve", "darwin_serve_runtime.py")
			if _, err := os.Stat(script); err == nil {
				return []string{py, script}
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return nil
}

// RegisterHealth adds the readiness check: the artifact store answers (a missing probe key is fine).
func (s *Service) RegisterHealth(h *health.Checker) {
	h.Add("cluster-manager-artifacts", func(ctx context.Context) error {
		if _, err := s.store.Get(ctx, "readyz-probe"); err != nil && apierr.KindOf(err) != apierr.NotFound {
			return err
		}
		return nil
	})
}

// RegisterGRPC registers ClusterManagerService.
func (s *Service) RegisterGRPC(g *grpc.Server) {
	clustermanagerv1.RegisterClusterManagerServiceServer(g, s.grpc)
}

// DashboardProxy serves /<cloud_env>/<id>-dashboard/... and
// /<cloud_env>/<id>-jupyter/... from the cluster's head; mount it at the root.
func (s *Service) DashboardProxy() http.Handler { return s.proxy }

// RunNode is the entry point of node processes (`<exe> node head|worker ...`):
// binaries that start clusters dispatch their "node" subcommand here.
func RunNode(ctx context.Context, args []string) error {
	return node.Main(ctx, args, os.Stderr)
}

type releaseCollector struct {
	drv  driver.Driver
	desc *prometheus.Desc
}

func (c releaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c releaseCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rels, err := c.drv.List(ctx)
	if err != nil {
		return
	}
	counts := map[string]int{}
	for _, r := range rels {
		counts[r.Status]++
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), status)
	}
}

func registerMetrics(reg prometheus.Registerer, drv driver.Driver) error {
	c := releaseCollector{drv: drv, desc: prometheus.NewDesc("darwin_cluster_manager_clusters",
		"Installed clusters by head status.", []string{"status"}, nil)}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	return nil
}
