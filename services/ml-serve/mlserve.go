// Package mlserve is Darwin's ml-serve service: environments, serves, infra configs, artifacts, builder jobs
// and deployments behind the original ml-serve-app's REST API (/api/v1/...), with bearer-token users.
//
// Routes are registered without the /ml-serve prefix; the binary serves them at / and under /ml-serve.
// Deployments go through a deploy.Deployer; until the cluster-manager Deployer exists, New uses Deps.Deployer
// or an in-memory recorder (resources are recorded, nothing runs).
package mlserve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/health"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/server"
	"github.com/darwinml/darwin/services/ml-serve/internal/builder"
	"github.com/darwinml/darwin/services/ml-serve/internal/deploy"
	"github.com/darwinml/darwin/services/ml-serve/internal/httpapi"
	"github.com/darwinml/darwin/services/ml-serve/internal/store"
	"github.com/darwinml/darwin/services/ml-serve/migrations"
)

// DefaultAdminToken is the seed README's admin token, used (with a warning) when none is configured.
const DefaultAdminToken = "admin-token-default-change-in-production"

// DBConfig selects ml-serve's database.
type DBConfig struct {
	DSN         string `yaml:"dsn"`
	AutoMigrate bool   `yaml:"auto_migrate"`
}

// Config is ml-serve's configuration (flags -ml-serve.*, YAML section ml_serve).
type Config struct {
	DataDir                string   `yaml:"data_dir"`
	DB                     DBConfig `yaml:"db"`
	BootstrapAdminToken    string   `yaml:"bootstrap_admin_token"`
	BootstrapAdminUsername string   `yaml:"bootstrap_admin_username"`
	PublicURL              string   `yaml:"public_url"`
	// ClusterManagerAddr is cluster-manager's gRPC address; empty records deployments without running them.
	ClusterManagerAddr       string `yaml:"cluster_manager_addr"`
	MLflowURL                string `yaml:"mlflow_url"`
	MLflowTrackingURI        string `yaml:"mlflow_tracking_uri"`
	MLflowUsername           string `yaml:"mlflow_username"`
	MLflowPassword           string `yaml:"mlflow_password"`
	ArtifactBuilderPublicURL string `yaml:"artifact_builder_public_url"`
	// ArtifactBuilderURL is the artifact-builder service that builds artifact images from git; empty leaves
	// builder jobs PENDING.
	ArtifactBuilderURL string `yaml:"artifact_builder_url"`
	// ContainerRegistry and ImageRepository name where built images are pushed: <registry>/<repository>:<serve>_<version>.
	ContainerRegistry string `yaml:"container_registry"`
	ImageRepository   string `yaml:"image_repository"`
	DefaultRuntime    string `yaml:"default_runtime"`
	ModelCachePVC     string `yaml:"model_cache_pvc"`
	ModelCachePath    string `yaml:"model_cache_path"`
}

func orStr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// DefaultRuntimeImage is the model runtime image of one-click deployments when none is configured.
const DefaultRuntimeImage = "docker.io/darwin/serve-md-runtime:latest"

// RegisterFlags registers the -ml-serve.* flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.DataDir, "ml-serve.data-dir", orStr(c.DataDir, "./data"), "directory of the default SQLite database")
	f.StringVar(&c.DB.DSN, "ml-serve.db.dsn", c.DB.DSN, "database DSN (sqlite://PATH, mysql://..., postgres://...); default sqlite://<data-dir>/ml-serve.db")
	f.BoolVar(&c.DB.AutoMigrate, "ml-serve.db.auto-migrate", c.DB.AutoMigrate, "apply migrations on start for MySQL/PostgreSQL (SQLite always migrates)")
	f.StringVar(&c.BootstrapAdminToken, "ml-serve.bootstrap-admin-token", c.BootstrapAdminToken, "bearer token of the admin user, created or rotated on start (default: "+DefaultAdminToken+", with a warning)")
	f.StringVar(&c.BootstrapAdminUsername, "ml-serve.bootstrap-admin-username", orStr(c.BootstrapAdminUsername, "admin"), "username of the bootstrapped admin user")
	f.StringVar(&c.PublicURL, "ml-serve.public-url", orStr(c.PublicURL, "http://localhost:8080"), "base URL of deployed serves (service_url = <public-url>/<serve>/)")
	f.StringVar(&c.ClusterManagerAddr, "ml-serve.cluster-manager-addr", c.ClusterManagerAddr, "cluster-manager gRPC address that runs the deployments (e.g. 127.0.0.1:9091); empty only records them")
	f.StringVar(&c.MLflowURL, "ml-serve.mlflow-url", c.MLflowURL, "MLflow server root used to validate model URIs (e.g. http://localhost:8080/mlflow-lib); empty checks URI syntax only")
	f.StringVar(&c.MLflowTrackingURI, "ml-serve.mlflow-tracking-uri", c.MLflowTrackingURI, "MLFLOW_TRACKING_URI given to deployed models (default: -ml-serve.mlflow-url)")
	f.StringVar(&c.MLflowUsername, "ml-serve.mlflow-username", c.MLflowUsername, "MLflow basic-auth user (resolver and MLFLOW_TRACKING_USERNAME)")
	f.StringVar(&c.MLflowPassword, "ml-serve.mlflow-password", c.MLflowPassword, "MLflow basic-auth password (resolver and MLFLOW_TRACKING_PASSWORD)")
	f.StringVar(&c.ArtifactBuilderURL, "ml-serve.artifact-builder-url", c.ArtifactBuilderURL, "artifact-builder base URL (e.g. http://localhost:8080/artifact-builder); empty leaves builds PENDING")
	f.StringVar(&c.ContainerRegistry, "ml-serve.container-registry", orStr(c.ContainerRegistry, "docker.io"), "registry built artifact images are pushed to")
	f.StringVar(&c.ImageRepository, "ml-serve.image-repository", orStr(c.ImageRepository, "darwin"), "repository of built artifact images (<registry>/<repository>:<serve>_<version>)")
	f.StringVar(&c.ArtifactBuilderPublicURL, "ml-serve.artifact-builder-public-url", orStr(c.ArtifactBuilderPublicURL, "http://localhost/artifact-builder"), "base of builder log URLs (<url>/static/<task_id>.log)")
	f.StringVar(&c.DefaultRuntime, "ml-serve.default-runtime", orStr(c.DefaultRuntime, DefaultRuntimeImage), "image of one-click model deployments")
	f.StringVar(&c.ModelCachePVC, "ml-serve.model-cache-pvc", orStr(c.ModelCachePVC, "ml-model-cache"), "PVC of the pvc storage strategy")
	f.StringVar(&c.ModelCachePath, "ml-serve.model-cache-path", orStr(c.ModelCachePath, "/model-cache"), "mount path of the model cache")
}

// DSN returns the configured DSN or the default SQLite file under DataDir.
func (c *Config) DSN() string {
	if c.DB.DSN != "" {
		return c.DB.DSN
	}
	return "sqlite://" + filepath.Join(orStr(c.DataDir, "./data"), "ml-serve.db")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := db.ParseDialect(c.DSN()); err != nil {
		return fmt.Errorf("ml-serve.db.dsn: %w", err)
	}
	for name, v := range map[string]string{"ml-serve.public-url": c.PublicURL, "ml-serve.mlflow-url": c.MLflowURL} {
		if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			return fmt.Errorf("%s: %q must be an http(s) URL", name, v)
		}
	}
	if strings.TrimSpace(c.BootstrapAdminUsername) == "" && c.BootstrapAdminUsername != "" {
		return errors.New("ml-serve.bootstrap-admin-username must not be blank")
	}
	return nil
}

// Deps are the service's collaborators.
type Deps struct {
	Logger *slog.Logger
	Clock  clock.Clock
	// Deployer runs serve resources. When nil: cluster-manager over ClusterManager, else over a connection to
	// -ml-serve.cluster-manager-addr, else (neither set) an in-memory deploy.Recorder that only records.
	Deployer deploy.Deployer
	// ClusterManager is a connection to cluster-manager's gRPC API (darwin up passes its loopback connection).
	ClusterManager grpc.ClientConnInterface
	// Resolver checks model URIs; nil uses MLflowResolver when -ml-serve.mlflow-url is set, else a syntax check.
	Resolver deploy.ModelResolver
}

// Service is a configured ml-serve.
type Service struct {
	cfg  Config
	log  *slog.Logger
	db   *db.DB
	st   *store.Store
	http *httpapi.Handler
	conn *grpc.ClientConn // owned connection to cluster-manager, closed on Stop

	poller     *builder.Poller // nil without an artifact builder
	stopPoller context.CancelFunc
	pollerDone chan struct{}
}

// New opens the database and wires the service; Module().Start migrates and bootstraps the admin user.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := log.OrDiscard(deps.Logger).With("service", "ml-serve")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, cfg.DSN())
	if err != nil {
		return nil, fmt.Errorf("open ml-serve database: %w", err)
	}
	st := store.New(d, deps.Clock)
	dep := deps.Deployer
	var ownedConn *grpc.ClientConn
	switch {
	case dep != nil:
	case deps.ClusterManager != nil:
		dep = deploy.NewClusterManager(deps.ClusterManager)
	case cfg.ClusterManagerAddr != "":
		conn, err := server.DialLoopback(ctx, cfg.ClusterManagerAddr)
		if err != nil {
			_ = d.Close()
			return nil, fmt.Errorf("ml-serve.cluster-manager-addr: %w", err)
		}
		ownedConn, dep = conn, deploy.NewClusterManager(conn)
	default:
		logger.Warn("no cluster-manager configured (-ml-serve.cluster-manager-addr): deployments are recorded but nothing runs")
		dep = deploy.NewRecorder()
	}
	res := deps.Resolver
	if res == nil {
		if cfg.MLflowURL != "" {
			res = &deploy.MLflowResolver{BaseURL: cfg.MLflowURL, Username: cfg.MLflowUsername, Password: cfg.MLflowPassword}
		} else {
			res = deploy.SyntaxResolver{}
		}
	}
	h := httpapi.New(st, httpapi.Options{
		Deployer: dep, Resolver: res, PublicURL: cfg.PublicURL, ArtifactBuilderPublicURL: cfg.ArtifactBuilderPublicURL,
		DefaultRuntime: orStr(cfg.DefaultRuntime, DefaultRuntimeImage), MLflowTrackingURI: orStr(cfg.MLflowTrackingURI, cfg.MLflowURL),
		MLflowTrackingUsername: cfg.MLflowUsername, MLflowTrackingPassword: cfg.MLflowPassword,
		ModelCachePVC: cfg.ModelCachePVC, ModelCachePath: cfg.ModelCachePath, Logger: logger,
	})
	svc := &Service{cfg: cfg, log: logger, db: d, st: st, http: h, conn: ownedConn}
	if cfg.ArtifactBuilderURL != "" {
		svc.poller = &builder.Poller{Store: st, Client: &builder.HTTP{BaseURL: cfg.ArtifactBuilderURL},
			Image:    strings.TrimRight(orStr(cfg.ContainerRegistry, "docker.io"), "/") + "/" + orStr(cfg.ImageRepository, "darwin"),
			Interval: 2 * time.Second, Lease: 10 * time.Second, Clock: orClock(deps.Clock), Logger: logger}
	}
	return svc, nil
}

// Migrate applies ml-serve's migrations to the database at dsn.
func Migrate(ctx context.Context, dsn string) error {
	return db.MigrateDSN(ctx, dsn, migrations.Component, migrations.FS)
}

// Module is the service as an app module: Start migrates (SQLite, or when auto-migrate is set) and creates or
// rotates the admin user; Stop closes the database.
func (s *Service) Module() app.Module {
	return app.Module{Name: "ml-serve", Start: s.start, Stop: s.stop}
}

func (s *Service) start(ctx context.Context) error {
	if err := db.MigrateOnStart(ctx, s.db, s.cfg.DB.AutoMigrate, migrations.Component, migrations.FS); err != nil {
		return err
	}
	token := s.cfg.BootstrapAdminToken
	if token == "" {
		token = DefaultAdminToken
		s.log.Warn("ml-serve admin token is the public default; set -ml-serve.bootstrap-admin-token", "token", DefaultAdminToken)
	}
	username := orStr(strings.TrimSpace(s.cfg.BootstrapAdminUsername), "admin")
	if _, err := s.st.UpsertUserToken(ctx, username, token); err != nil {
		return fmt.Errorf("bootstrap ml-serve admin user: %w", err)
	}
	if s.poller != nil {
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.stopPoller, s.pollerDone = cancel, make(chan struct{})
		go func() {
			defer close(s.pollerDone)
			s.poller.Run(pctx)
		}()
	} else {
		s.log.Warn("no artifact builder configured (-ml-serve.artifact-builder-url): artifact builds stay PENDING")
	}
	s.log.Info("ml-serve started", "dialect", string(s.db.Dialect), "admin", username)
	return nil
}

func orClock(c clock.Clock) clock.Clock {
	if c == nil {
		return clock.Real()
	}
	return c
}

func (s *Service) stop(context.Context) error {
	if s.stopPoller != nil {
		s.stopPoller()
		<-s.pollerDone
	}
	var err error
	if s.conn != nil {
		err = s.conn.Close()
	}
	return errors.Join(err, s.db.Close())
}

// RegisterHTTP registers the REST routes (without the /ml-serve prefix) on r.
func (s *Service) RegisterHTTP(r chi.Router) { s.http.Routes(r) }

// RegisterHealth adds the database readiness check.
func (s *Service) RegisterHealth(h *health.Checker) { h.Add("ml-serve-db", s.db.PingContext) }
