// Package artifactbuilder is Darwin's artifact-builder service: an SQL build queue behind the original
// artifact-builder's REST API (POST /build_with_dockerfile, GET /task, /task/status, /task/logs,
// /static/<task_id>.log) plus POST /build_model_image, which packages a model onto a base image without a
// Docker daemon and pushes it to the configured registry.
//
// Routes are registered without the /artifact-builder prefix; the binary serves them at / and under
// /artifact-builder. Every replica runs a worker (unless disabled) that claims tasks with a lease, so replicas
// sharing a MySQL/PostgreSQL database never run a task twice.
package artifactbuilder

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/health"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/services/artifact-builder/internal/builder"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
	"github.com/darwinml/darwin/services/artifact-builder/internal/httpapi"
	"github.com/darwinml/darwin/services/artifact-builder/internal/queue"
	"github.com/darwinml/darwin/services/artifact-builder/internal/store"
	"github.com/darwinml/darwin/services/artifact-builder/migrations"
)

// DBConfig selects the database.
type DBConfig struct {
	DSN         string `yaml:"dsn"`
	AutoMigrate bool   `yaml:"auto_migrate"`
}

// Config is artifact-builder's configuration (flags -artifact-builder.*, YAML section artifact_builder).
type Config struct {
	DataDir          string        `yaml:"data_dir"`
	DB               DBConfig      `yaml:"db"`
	PublicURL        string        `yaml:"public_url"`
	Registry         string        `yaml:"registry"`
	RegistryInsecure bool          `yaml:"registry_insecure"`
	ModelRoot        string        `yaml:"model_root"`
	MaxModelBytes    int64         `yaml:"max_model_bytes"`
	Worker           bool          `yaml:"worker"`
	Concurrency      int           `yaml:"concurrency"`
	PollInterval     time.Duration `yaml:"poll_interval"`
	Lease            time.Duration `yaml:"lease"`
	BuildTimeout     time.Duration `yaml:"build_timeout"`
	// Kubernetes builder of build_with_dockerfile tasks (Kaniko Jobs); see internal/kubebuild.
	KubeConfig     string `yaml:"kube_config"`
	KubeNamespace  string `yaml:"kube_namespace"`
	KanikoImage    string `yaml:"kaniko_image"`
	RegistrySecret string `yaml:"registry_secret"`
}

func orStr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func orDur(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}

func orInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// RegisterFlags registers the -artifact-builder.* flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.DataDir, "artifact-builder.data-dir", orStr(c.DataDir, "./data"), "directory of the default SQLite database")
	f.StringVar(&c.DB.DSN, "artifact-builder.db.dsn", c.DB.DSN, "database DSN (sqlite://PATH, mysql://..., postgres://...); default sqlite://<data-dir>/artifact-builder.db")
	f.BoolVar(&c.DB.AutoMigrate, "artifact-builder.db.auto-migrate", c.DB.AutoMigrate, "apply migrations on start for MySQL/PostgreSQL (SQLite always migrates)")
	f.StringVar(&c.PublicURL, "artifact-builder.public-url", orStr(c.PublicURL, "http://localhost/artifact-builder"), "base of logs_url (<public-url>/static/<task_id>.log)")
	f.StringVar(&c.Registry, "artifact-builder.registry", orStr(c.Registry, "localhost:5000/darwin"), "registry and repository prefix images are pushed to (<registry>/<app_name>:<image_tag>)")
	f.BoolVar(&c.RegistryInsecure, "artifact-builder.registry-insecure", c.RegistryInsecure, "reach registries over plain HTTP (localhost and 127.0.0.1 always are)")
	f.StringVar(&c.ModelRoot, "artifact-builder.model-root", c.ModelRoot, "server directory that model_dir requests may read (empty: model_dir is refused)")
	f.Int64Var(&c.MaxModelBytes, "artifact-builder.max-model-bytes", c.MaxModelBytes, "largest model a build packages (0: 8 GiB)")
	f.BoolVar(&c.Worker, "artifact-builder.worker", true, "run the build worker in this process")
	f.IntVar(&c.Concurrency, "artifact-builder.concurrency", orInt(c.Concurrency, 2), "builds run at once by this replica")
	f.DurationVar(&c.PollInterval, "artifact-builder.poll-interval", orDur(c.PollInterval, 5*time.Second), "how often the worker looks for waiting tasks")
	f.DurationVar(&c.Lease, "artifact-builder.lease", orDur(c.Lease, time.Minute), "task lease; renewed every third of it, re-queued when it expires")
	f.DurationVar(&c.BuildTimeout, "artifact-builder.build-timeout", orDur(c.BuildTimeout, time.Hour), "longest a build may run")
	f.StringVar(&c.KubeConfig, "artifact-builder.kube-config", c.KubeConfig, "kubeconfig of the cluster that runs build_with_dockerfile as Kaniko Jobs (empty: the in-cluster config when running in a pod, else Dockerfile builds fail with \"needs a builder\")")
	f.StringVar(&c.KubeNamespace, "artifact-builder.kube-namespace", orStr(c.KubeNamespace, DefaultKubeNamespace), "namespace of the Kaniko build Jobs")
	f.StringVar(&c.KanikoImage, "artifact-builder.kaniko-image", orStr(c.KanikoImage, DefaultKanikoImage), "Kaniko executor image of the build Jobs")
	f.StringVar(&c.RegistrySecret, "artifact-builder.registry-secret", c.RegistrySecret, "Secret with a Docker config.json (key .dockerconfigjson) mounted at /kaniko/.docker in build Jobs (empty: none)")
}

// DSN returns the configured DSN or the default SQLite file under DataDir.
func (c *Config) DSN() string {
	if c.DB.DSN != "" {
		return c.DB.DSN
	}
	return "sqlite://" + filepath.Join(orStr(c.DataDir, "./data"), "artifact-builder.db")
}

func (c *Config) modelBuilder(tr http.RoundTripper) *builder.ModelImage {
	return &builder.ModelImage{Registry: c.Registry, Insecure: c.RegistryInsecure, Transport: tr,
		ModelRoot: c.ModelRoot, MaxModelBytes: c.MaxModelBytes}
}

// Defaults of the Kaniko Job builder (package kaniko; internal/kubebuild checks they match its own).
const (
	DefaultKubeNamespace = "default"
	DefaultKanikoImage   = "gcr.io/kaniko-project/executor:v1.23.2"
)

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := db.ParseDialect(c.DSN()); err != nil {
		return fmt.Errorf("artifact-builder.db.dsn: %w", err)
	}
	if v := c.PublicURL; v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return fmt.Errorf("artifact-builder.public-url: %q must be an http(s) URL", v)
	}
	if err := c.modelBuilder(nil).ValidateConfig(); err != nil {
		return fmt.Errorf("artifact-builder.registry: %w", err)
	}
	if c.ModelRoot != "" {
		if fi, err := os.Stat(c.ModelRoot); err != nil || !fi.IsDir() {
			return fmt.Errorf("artifact-builder.model-root: %q is not a directory", c.ModelRoot)
		}
	}
	if c.Concurrency < 0 || c.PollInterval < 0 || c.Lease < 0 || c.BuildTimeout < 0 || c.MaxModelBytes < 0 {
		return errors.New("artifact-builder: concurrency, poll-interval, lease, build-timeout and max-model-bytes must not be negative")
	}
	if c.Lease != 0 && c.Lease < 3*time.Millisecond {
		return errors.New("artifact-builder.lease must be at least 3ms")
	}
	return nil
}

// Deps are the service's collaborators.
type Deps struct {
	Logger *slog.Logger
	Clock  clock.Clock
	// RegistryTransport carries registry traffic of model builds (nil: http.DefaultTransport).
	RegistryTransport http.RoundTripper
	// DockerfileBuilder runs build_with_dockerfile tasks; the artifact-builder binary passes the Kaniko Job
	// builder (package kaniko) when -artifact-builder.kube-config is set or it runs in a cluster. When nil,
	// they fail with "needs a builder: no Kubernetes builder is configured (…)".
	DockerfileBuilder builder.Builder
	// Owner names this replica's worker in leases (default: host name + random suffix).
	Owner string
}

// Service is a configured artifact-builder.
type Service struct {
	cfg    Config
	log    *slog.Logger
	db     *db.DB
	st     *store.Store
	http   *httpapi.Handler
	worker *queue.Worker

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New opens the database and wires the service; Module().Start migrates and starts the worker.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := log.OrDiscard(deps.Logger).With("service", "artifact-builder")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, cfg.DSN())
	if err != nil {
		return nil, fmt.Errorf("open artifact-builder database: %w", err)
	}
	st := store.New(d, deps.Clock)
	mb := cfg.modelBuilder(deps.RegistryTransport)
	df := deps.DockerfileBuilder
	if df == nil {
		df = builder.Unconfigured{Reason: builder.NoKubernetesBuilder}
	} else {
		logger.Info("Dockerfile builds run on the configured builder", "namespace", orStr(cfg.KubeNamespace, DefaultKubeNamespace))
	}
	owner := deps.Owner
	if owner == "" {
		host, _ := os.Hostname()
		owner = orStr(host, "artifact-builder") + "-" + domain.NewTaskID()[3:11]
	}
	w := queue.New(st, queue.Options{
		Owner: owner, Builders: map[domain.Kind]builder.Builder{domain.KindModel: mb, domain.KindDockerfile: df},
		Concurrency: orInt(cfg.Concurrency, 2), Poll: cfg.PollInterval, Lease: cfg.Lease, Timeout: cfg.BuildTimeout,
		Clock: deps.Clock, Logger: logger,
	})
	h := httpapi.New(st, httpapi.Options{PublicURL: cfg.PublicURL, CheckModel: mb.Check, Logger: logger})
	return &Service{cfg: cfg, log: logger, db: d, st: st, http: h, worker: w}, nil
}

// Migrate applies artifact-builder's migrations to the database at dsn.
func Migrate(ctx context.Context, dsn string) error {
	return db.MigrateDSN(ctx, dsn, migrations.Component, migrations.FS)
}

// Module is the service as an app module: Start migrates (SQLite, or when auto-migrate is set) and starts the
// worker; Stop stops the worker (running builds are re-queued) and closes the database.
func (s *Service) Module() app.Module {
	return app.Module{Name: "artifact-builder", Start: s.start, Stop: s.stop}
}

func (s *Service) start(ctx context.Context) error {
	if err := db.MigrateOnStart(ctx, s.db, s.cfg.DB.AutoMigrate, migrations.Component, migrations.FS); err != nil {
		return err
	}
	if s.cfg.Worker {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		s.mu.Lock()
		s.cancel, s.done = cancel, done
		s.mu.Unlock()
		go func() {
			defer close(done)
			s.worker.Run(wctx)
		}()
	}
	s.log.Info("artifact-builder started", "dialect", string(s.db.Dialect), "registry", s.cfg.Registry, "worker", s.cfg.Worker)
	return nil
}

func (s *Service) stop(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	return s.db.Close()
}

// RegisterHTTP registers the REST routes (without the /artifact-builder prefix) on r.
func (s *Service) RegisterHTTP(r chi.Router) { s.http.Routes(r) }

// RegisterHealth adds the database readiness check.
func (s *Service) RegisterHealth(h *health.Checker) { h.Add("artifact-builder-db", s.db.PingContext) }
