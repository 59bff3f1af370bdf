// Package up runs every Darwin service in one process: one HTTP listener with
// the original ingress prefixes, one loopback gRPC listener the services use to
// call each other, SQLite files and local cluster processes under a data dir.
package up

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/config"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/metrics"
	"github.com/darwinml/darwin/pkg/server"
	artifactbuilder "github.com/darwinml/darwin/services/artifact-builder"
	clustermanager "github.com/darwinml/darwin/services/cluster-manager"
	"github.com/darwinml/darwin/services/compute"
	featurestore "github.com/darwinml/darwin/services/feature-store"
	mlserve "github.com/darwinml/darwin/services/ml-serve"
	"github.com/darwinml/darwin/services/mlflow"
)

// Module names, usable with -target.
const (
	moduleServer         = "server"
	moduleCompute        = "compute"
	moduleMLflow         = "mlflow"
	moduleMLServe        = "ml-serve"
	moduleBuilder        = "artifact-builder"
	moduleFeatureStore   = "feature-store"
	moduleClusterManager = clustermanager.ModuleName
)

// The services' own defaults for their public URLs, replaced by darwin up's address.
const (
	builderDefaultPublic        = "http://localhost/artifact-builder"
	mlserveBuilderDefaultPublic = "http://localhost/artifact-builder"
)

const (
	defaultHTTPAddr = "127.0.0.1:8080"
	defaultDataDir  = "darwin-data"
	defaultPublic   = "http://localhost:8080"
)

// Config is the all-in-one configuration: the listeners, the data directory,
// a common section inherited by services, and each service's own section.
type Config struct {
	HTTPAddr        string        `yaml:"http_addr"`
	GRPCAddr        string        `yaml:"grpc_addr"`
	DataDir         string        `yaml:"data_dir"`
	Target          string        `yaml:"target"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Log             log.Config    `yaml:"log"`
	Common          Common        `yaml:"common"`

	Compute        compute.Config         `yaml:"compute"`
	ClusterManager clustermanager.Config  `yaml:"cluster_manager"`
	MLflow         mlflow.Config          `yaml:"mlflow"`
	MLServe        mlserve.Config         `yaml:"ml_serve"`
	Builder        artifactbuilder.Config `yaml:"artifact_builder"`
	FeatureStore   featurestore.Config    `yaml:"feature_store"`
}

// Common holds settings every service inherits unless it sets its own.
type Common struct {
	DB struct {
		DSN string `yaml:"dsn"`
	} `yaml:"db"`
	Bus struct {
		ChronosURL string `yaml:"chronos_url"`
	} `yaml:"bus"`
}

// RegisterFlags registers the all-in-one flags and every service's flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.HTTPAddr, "http-addr", defaultHTTPAddr, "HTTP listen address of the whole platform (use :80 to serve the original clients unchanged)")
	f.StringVar(&c.GRPCAddr, "grpc-addr", "127.0.0.1:0", "loopback gRPC address the services use to call each other")
	f.StringVar(&c.DataDir, "data-dir", defaultDataDir, "directory for SQLite files, chart artifacts and local cluster state")
	f.StringVar(&c.Target, "target", "all", "comma-separated modules to run: all, compute, cluster-manager, mlflow, ml-serve, artifact-builder, feature-store")
	f.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "graceful shutdown timeout")
	f.StringVar(&c.Common.DB.DSN, "common.db.dsn", "", "database DSN inherited by every service that sets none (default: one SQLite file per service under -data-dir)")
	f.StringVar(&c.Common.Bus.ChronosURL, "common.bus.chronos-url", "", "chronos base URL every service delivers its lifecycle events to (events wait in each service's outbox until then)")
	c.Log.RegisterFlags(f)
	c.Compute.RegisterFlags(f)
	c.ClusterManager.RegisterFlags(f)
	c.MLflow.RegisterFlags(f)
	c.MLServe.RegisterFlags(f)
	c.Builder.RegisterFlags(f)
	// One process on a laptop: an in-process Kafka broker at the SDK's local address, consumed by the feature
	// store's consumer, so streamed writes work without a Kafka server.
	if c.FeatureStore.Kafka.EmbeddedAddr == "" {
		c.FeatureStore.Kafka.EmbeddedAddr = "127.0.0.1:9092"
	}
	c.FeatureStore.Consumer.Enabled = true
	c.FeatureStore.RegisterFlags(f)
}

// resolve fills what derives from the data directory and the listen address,
// leaving anything the user set explicitly alone.
func (c *Config) resolve(httpAddr string) {
	public := publicURL(httpAddr)
	config.Inherit(&c.Compute.DB.DSN, c.Common.DB.DSN)
	config.Inherit(&c.Compute.ChronosURL, c.Common.Bus.ChronosURL)
	if c.Compute.DB.DSN == "" {
		c.Compute.DB.DSN = "sqlite://" + filepath.Join(c.DataDir, "compute.db")
	}
	config.Inherit(&c.MLflow.DB.DSN, c.Common.DB.DSN)
	if c.MLflow.DB.DSN == "" {
		c.MLflow.DB.DSN = "sqlite://" + filepath.Join(c.DataDir, "mlflow.db")
	}
	if c.MLflow.ArtifactStore == "" {
		c.MLflow.ArtifactStore = filepath.Join(c.DataDir, "mlflow-artifacts")
	}
	if c.ClusterManager.DataDir == filepath.Join(defaultDataDir, "cluster-manager") {
		c.ClusterManager.DataDir = filepath.Join(c.DataDir, "cluster-manager")
	}
	if c.Compute.PublicURL == defaultPublic {
		c.Compute.PublicURL = public
	}
	if c.ClusterManager.PublicBaseURL == defaultPublic {
		c.ClusterManager.PublicBaseURL = public
	}
	config.Inherit(&c.MLServe.DB.DSN, c.Common.DB.DSN)
	if c.MLServe.DB.DSN == "" {
		c.MLServe.DB.DSN = "sqlite://" + filepath.Join(c.DataDir, "ml-serve.db")
	}
	if c.MLServe.PublicURL == defaultPublic {
		c.MLServe.PublicURL = public
	}
	config.Inherit(&c.FeatureStore.DB.DSN, c.Common.DB.DSN)
	if c.FeatureStore.DB.DSN == "" {
		c.FeatureStore.DB.DSN = "sqlite://" + filepath.Join(c.DataDir, "feature-store.db")
	}
	if c.FeatureStore.Online.PebbleDir == "" {
		c.FeatureStore.Online.PebbleDir = filepath.Join(c.DataDir, "feature-store-online")
	}
	if c.FeatureStore.Offline.Dir == "" {
		c.FeatureStore.Offline.Dir = filepath.Join(c.DataDir, "feature-store-offline")
	}
	config.Inherit(&c.Builder.DB.DSN, c.Common.DB.DSN)
	if c.Builder.DB.DSN == "" {
		c.Builder.DB.DSN = "sqlite://" + filepath.Join(c.DataDir, "artifact-builder.db")
	}
	if c.Builder.PublicURL == builderDefaultPublic {
		c.Builder.PublicURL = public + "/artifact-builder"
	}
	if c.MLServe.ArtifactBuilderURL == "" {
		c.MLServe.ArtifactBuilderURL = loopbackURL(httpAddr) + "/artifact-builder"
	}
	if c.MLServe.ArtifactBuilderPublicURL == mlserveBuilderDefaultPublic {
		c.MLServe.ArtifactBuilderPublicURL = public + "/artifact-builder"
	}
	// Model URIs are checked against, and deployed models download from, this process's own MLflow.
	if c.MLServe.MLflowURL == "" {
		c.MLServe.MLflowURL = loopbackURL(httpAddr) + "/mlflow-lib"
	}
}

// loopbackURL is the base URL this process reaches its own HTTP listener at.
func loopbackURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return defaultPublic
	}
	if host == "" || host == "0.0.0.0" || host == "::" || host == "localhost" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// publicURL turns a listen address into the base URL users reach it at.
func publicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return defaultPublic
	}
	if host == "" || host == "0.0.0.0" || host == "::" || host == "127.0.0.1" {
		host = "localhost"
	}
	if port == "80" {
		return "http://" + host
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Run parses args, starts the selected modules and blocks until ctx is done
// or a listener fails.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("darwin up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: darwin up [flags]\n\nStarts every Darwin service in one process on embedded defaults.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := config.Load(fs, args, &cfg, stdout); err != nil {
		if errors.Is(err, config.ErrPrinted) || errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	logger := log.New(cfg.Log, stderr)
	started := time.Now()

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	reg := metrics.NewRegistry()
	srv, err := server.New(server.Config{HTTPAddr: cfg.HTTPAddr, GRPCAddr: cfg.GRPCAddr, ShutdownTimeout: cfg.ShutdownTimeout}, logger, reg)
	if err != nil {
		return err
	}
	cfg.resolve(cfg.HTTPAddr)

	want, err := selectTargets(cfg.Target)
	if err != nil {
		return err
	}
	mgr := app.NewManager(logger)
	clk := clock.Real()
	var serviceModules []string

	if want[moduleClusterManager] {
		cm, err := clustermanager.New(cfg.ClusterManager, clustermanager.Deps{Logger: logger, Registerer: reg, Clock: clk})
		if err != nil {
			return fmt.Errorf("cluster-manager: %w", err)
		}
		cm.RegisterGRPC(srv.GRPC)
		srv.HTTP.Route("/cluster-manager", cm.RegisterHTTP)
		// The ingress-style dashboard paths (/<cloud_env>/<id>-dashboard/...) are
		// whatever no service prefix matched.
		// Model servers answer at /<serve>/... (the local driver's replicas); everything else falls through to
		// the dashboard proxy.
		srv.HTTP.NotFound(cm.ServeProxy(cm.DashboardProxy()).ServeHTTP)
		mgr.Register(cm.Module())
		serviceModules = append(serviceModules, moduleClusterManager)
	}
	if want[moduleCompute] {
		deps := compute.Deps{Logger: logger, Registerer: reg, Clock: clk}
		if want[moduleClusterManager] {
			// compute reaches cluster-manager through the same gRPC path as in the
			// distributed mode, over this process's own loopback listener.
			conn, err := loopbackConn(srv)
			if err != nil {
				return err
			}
			defer conn.Close()
			deps.ClusterManager = conn
		}
		comp, err := compute.New(cfg.Compute, deps)
		if err != nil {
			return fmt.Errorf("compute: %w", err)
		}
		comp.RegisterGRPC(srv.GRPC)
		comp.RegisterHealth(srv.Health)
		srv.HTTP.Route("/compute", func(r chi.Router) { comp.RegisterHTTP(r) })
		mod := comp.Module()
		if want[moduleClusterManager] {
			mod.Deps = append(mod.Deps, moduleClusterManager)
		}
		mgr.Register(mod)
		serviceModules = append(serviceModules, moduleCompute)
	}
	if want[moduleMLflow] {
		ml, err := mlflow.New(cfg.MLflow, mlflow.Deps{Logger: logger, Registerer: reg, Clock: clk})
		if err != nil {
			return fmt.Errorf("mlflow: %w", err)
		}
		ml.RegisterHealth(srv.Health)
		srv.HTTP.Route("/mlflow-lib", ml.RegisterHTTP)
		srv.HTTP.Route("/mlflow-app", ml.RegisterAppHTTP)
		mgr.Register(ml.Module())
		serviceModules = append(serviceModules, moduleMLflow)
	}
	if want[moduleFeatureStore] {
		fs, err := featurestore.New(cfg.FeatureStore, featurestore.Deps{Logger: logger, Clock: clk, Metrics: reg})
		if err != nil {
			return fmt.Errorf("feature-store: %w", err)
		}
		fs.RegisterHealth(srv.Health)
		srv.HTTP.Route("/feature-store", fs.RegisterHTTP)
		srv.HTTP.Route("/feature-store-admin", fs.RegisterAdminHTTP)
		srv.HTTP.Route("/feature-store-consumer", fs.RegisterConsumerHTTP)
		mgr.Register(fs.Module())
		serviceModules = append(serviceModules, moduleFeatureStore)
	}
	if want[moduleBuilder] {
		ab, err := artifactbuilder.New(cfg.Builder, artifactbuilder.Deps{Logger: logger, Clock: clk})
		if err != nil {
			return fmt.Errorf("artifact-builder: %w", err)
		}
		ab.RegisterHealth(srv.Health)
		srv.HTTP.Route("/artifact-builder", ab.RegisterHTTP)
		mgr.Register(ab.Module())
		serviceModules = append(serviceModules, moduleBuilder)
	}
	if want[moduleMLServe] {
		deps := mlserve.Deps{Logger: logger, Clock: clk}
		if want[moduleClusterManager] {
			conn, err := loopbackConn(srv)
			if err != nil {
				return err
			}
			defer conn.Close()
			deps.ClusterManager = conn
		}
		ms, err := mlserve.New(cfg.MLServe, deps)
		if err != nil {
			return fmt.Errorf("ml-serve: %w", err)
		}
		ms.RegisterHealth(srv.Health)
		srv.HTTP.Route("/ml-serve", ms.RegisterHTTP)
		mod := ms.Module()
		if want[moduleClusterManager] {
			mod.Deps = append(mod.Deps, moduleClusterManager)
		}
		mgr.Register(mod)
		serviceModules = append(serviceModules, moduleMLServe)
	}
	srvMod := srv.Module(moduleServer, serviceModules...)
	mgr.Register(srvMod)

	return mgr.Run(ctx, []string{"all"}, app.RunOptions{
		Failed:          srv.Err(),
		ShutdownTimeout: cfg.ShutdownTimeout,
		Started: func() {
			logger.Info("darwin is up", "http", "http://"+srv.HTTPAddr(), "grpc", srv.GRPCAddr(),
				"data_dir", cfg.DataDir, "modules", strings.Join(append(serviceModules, moduleServer), ","),
				"startup", time.Since(started).Round(time.Millisecond).String())
		},
	})
}

// selectTargets expands -target ("all" or a comma list of module names) into
// the set of services to run. Unlike Mimir's targets, naming compute alone does
// not pull cluster-manager in: compute then dials -compute.cluster-manager-addr.
func selectTargets(target string) (map[string]bool, error) {
	known := []string{moduleCompute, moduleClusterManager, moduleMLflow, moduleMLServe, moduleBuilder, moduleFeatureStore}
	want := map[string]bool{}
	for _, t := range strings.Split(target, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == app.All:
			for _, k := range known {
				want[k] = true
			}
		case slices.Contains(known, t):
			want[t] = true
		default:
			return nil, fmt.Errorf("-target: unknown module %q (known: all, %s)", t, strings.Join(known, ", "))
		}
	}
	return want, nil
}

// loopbackConn is a lazy gRPC client of this process's own gRPC listener; the
// address is read when the first connection is made, after Start.
func loopbackConn(srv *server.Server) (*grpc.ClientConn, error) {
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		addr := srv.GRPCAddr()
		if addr == "" {
			return nil, errors.New("grpc listener not started yet")
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
	}, server.ClientInterceptors()...)
	conn, err := grpc.NewClient("passthrough:///darwin-loopback", opts...)
	if err != nil {
		return nil, fmt.Errorf("loopback grpc client: %w", err)
	}
	return conn, nil
}
