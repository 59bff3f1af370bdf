// Package mlflow is Darwin's MLflow-compatible tracking server: MLflow's REST API 2.0 for experiments, runs,
// params, tags and metric series, stored in SQL (SQLite, MySQL, PostgreSQL).
//
// Routes are registered without the /mlflow-lib prefix: RegisterHTTP adds /api/2.0/mlflow/... and
// /ajax-api/2.0/mlflow/....
package mlflow

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/health"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/services/mlflow/internal/applayer"
	"github.com/darwinml/darwin/services/mlflow/internal/httpapi"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
	"github.com/darwinml/darwin/services/mlflow/migrations"
)

// DBConfig selects the tracking database.
type DBConfig struct {
	DSN         string `yaml:"dsn"`
	AutoMigrate bool   `yaml:"auto_migrate"`
}

// Config is the tracking server's configuration (flags -mlflow.*, YAML section mlflow).
type Config struct {
	DataDir string   `yaml:"data_dir"`
	DB      DBConfig `yaml:"db"`
	// DefaultArtifactRoot prefixes the artifact location of experiments created without one
	// (<root>/<experiment_id>); empty means DefaultArtifactRootValue (see ArtifactRoot).
	DefaultArtifactRoot string `yaml:"default_artifact_root"`
	// ArtifactStore is the pkg/blob DSN behind the artifact proxy (a directory, file:///dir or
	// s3://bucket/prefix?...); empty means <data-dir>/artifacts.
	ArtifactStore string `yaml:"artifact_store"`
	// App configures the Darwin app layer served under /mlflow-app.
	App applayer.Config `yaml:"app"`
}

// RegisterFlags registers the -mlflow.* flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.DataDir, "mlflow.data-dir", orStr(c.DataDir, "./data"), "directory of the default SQLite database and artifact root")
	f.StringVar(&c.DB.DSN, "mlflow.db.dsn", c.DB.DSN, "database DSN (sqlite://PATH, mysql://..., postgres://...); default sqlite://<data-dir>/mlflow.db")
	f.BoolVar(&c.DB.AutoMigrate, "mlflow.db.auto-migrate", c.DB.AutoMigrate, "apply migrations on start for MySQL/PostgreSQL (SQLite always migrates)")
	f.StringVar(&c.DefaultArtifactRoot, "mlflow.default-artifact-root", c.DefaultArtifactRoot, "artifact root of new experiments (default mlflow-artifacts:/ , served by the artifact proxy)")
	f.StringVar(&c.ArtifactStore, "mlflow.artifact-store", c.ArtifactStore, "where the artifact proxy keeps artifacts: a directory, file:///dir or s3://bucket/prefix?endpoint=... (default <data-dir>/artifacts)")
	c.App.RegisterFlags(f)
}

// DefaultArtifactRootValue is the artifact root when none is configured: MLflow's proxied-artifact scheme, so
// clients upload through the server's artifact proxy.
const DefaultArtifactRootValue = "mlflow-artifacts:"

func orStr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// DSN returns the configured DSN or the default SQLite file under DataDir.
func (c *Config) DSN() string {
	if c.DB.DSN != "" {
		return c.DB.DSN
	}
	return "sqlite://" + filepath.Join(orStr(c.DataDir, "./data"), "mlflow.db")
}

// ArtifactStoreDSN returns the configured artifact store or <data-dir>/artifacts.
func (c *Config) ArtifactStoreDSN() string {
	if c.ArtifactStore != "" {
		return c.ArtifactStore
	}
	return filepath.Join(orStr(c.DataDir, "./data"), "artifacts")
}

// ArtifactRoot returns the configured default artifact root or DefaultArtifactRootValue.
func (c *Config) ArtifactRoot() string { return orStr(c.DefaultArtifactRoot, DefaultArtifactRootValue) }

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := db.ParseDialect(c.DSN()); err != nil {
		return fmt.Errorf("mlflow.db.dsn: %w", err)
	}
	return nil
}

// Deps are the server's collaborators.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Clock      clock.Clock
}

// Service is a configured tracking server.
type Service struct {
	cfg       Config
	log       *slog.Logger
	db        *db.DB
	artifacts blob.Store
	http      *httpapi.Handler
	app       *applayer.Handler
}

// New opens the database handle and wires the service; Module().Start migrates.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := log.OrDiscard(deps.Logger).With("service", "mlflow")
	clk := deps.Clock
	if clk == nil {
		clk = clock.Real()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, cfg.DSN())
	if err != nil {
		return nil, fmt.Errorf("open mlflow database: %w", err)
	}
	arts, err := blob.Open(ctx, cfg.ArtifactStoreDSN(), blob.WithLogger(logger))
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("mlflow.artifact-store: %w", err)
	}
	st := store.New(d, clk, cfg.ArtifactRoot())
	s := &Service{cfg: cfg, log: logger, db: d, artifacts: arts}
	tracking := chi.NewRouter()
	s.app, err = applayer.New(cfg.App, applayer.Deps{DB: d, Store: st, Artifacts: arts, Logger: logger, Tracking: tracking})
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("mlflow app layer: %w", err)
	}
	s.http = httpapi.New(st, logger, httpapi.Options{Artifacts: arts, ExperimentCreated: s.app.ExperimentCreated})
	s.http.Routes(tracking)
	return s, nil
}

// Migrate applies the tracking migrations to the database at dsn.
func Migrate(ctx context.Context, dsn string) error {
	return db.MigrateDSN(ctx, dsn, migrations.Component, migrations.FS)
}

// Module is the server as an app module: Start migrates (SQLite, or when auto-migrate is set); Stop closes the
// database.
func (s *Service) Module() app.Module {
	return app.Module{Name: "mlflow", Start: s.start, Stop: s.stop}
}

func (s *Service) start(ctx context.Context) error {
	if err := db.MigrateOnStart(ctx, s.db, s.cfg.DB.AutoMigrate, migrations.Component, migrations.FS); err != nil {
		return err
	}
	s.log.Info("mlflow started", "dialect", string(s.db.Dialect))
	return nil
}

func (s *Service) stop(context.Context) error { return errors.Join(s.db.Close()) }

// RegisterHTTP registers the MLflow REST routes and the artifact proxy (without the /mlflow-lib prefix) on r.
//
// Writes by an identified caller (HTTP Basic as the darwin_mlflow SDK sends, a bearer token or the email header)
// pass the app layer's experiment permissions first, as MLflow's basic-auth app guards the original; callers
// without an identity are let through, so stock clients with no credentials keep working.
func (s *Service) RegisterHTTP(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(s.app.Guard)
		s.http.Routes(r)
	})
}

// RegisterAppHTTP registers the Darwin app layer (without the /mlflow-app prefix) on r.
func (s *Service) RegisterAppHTTP(r chi.Router) { s.app.Routes(r) }

// RegisterHealth adds the database readiness check.
func (s *Service) RegisterHealth(h *health.Checker) { h.Add("mlflow-db", s.db.PingContext) }
