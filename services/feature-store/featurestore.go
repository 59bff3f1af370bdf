// Package featurestore is Darwin's feature store: the original ofs-admin (entity and feature group metadata,
// versions, state, search, TTL) and ofs-app (online feature writes and reads) REST APIs over SQL metadata and an
// online key-value store (embedded Pebble by default, or Redis).
//
// RegisterHTTP registers the app routes (served under /feature-store) and RegisterAdminHTTP the admin routes
// (served under /feature-store-admin); both share one metadata cache, invalidated by admin changes.
package featurestore

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

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/health"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/services/feature-store/internal/httpapi"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
	"github.com/darwinml/darwin/services/feature-store/internal/store"
	"github.com/darwinml/darwin/services/feature-store/migrations"
)

// DBConfig selects the metadata database.
type DBConfig struct {
	DSN         string `yaml:"dsn"`
	AutoMigrate bool   `yaml:"auto_migrate"`
}

// OnlineConfig selects the online store.
type OnlineConfig struct {
	// Backend is "pebble" (embedded, default) or "redis".
	Backend string `yaml:"backend"`
	// PebbleDir is the embedded store's directory (default <data-dir>/feature-store-online).
	PebbleDir string `yaml:"pebble_dir"`
	// PebbleNoSync skips the fsync after each write.
	PebbleNoSync bool   `yaml:"pebble_no_sync"`
	RedisURL     string `yaml:"redis_url"`
	RedisPrefix  string `yaml:"redis_prefix"`
}

// Config is the feature store's configuration (flags -feature-store.*, YAML section feature_store).
type Config struct {
	DataDir  string        `yaml:"data_dir"`
	DB       DBConfig      `yaml:"db"`
	Online   OnlineConfig  `yaml:"online"`
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

func orStr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// RegisterFlags registers the -feature-store.* flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.DataDir, "feature-store.data-dir", orStr(c.DataDir, "./data"), "directory of the default SQLite database and embedded online store")
	f.StringVar(&c.DB.DSN, "feature-store.db.dsn", c.DB.DSN, "metadata database DSN (sqlite://PATH, mysql://..., postgres://...); default sqlite://<data-dir>/feature-store.db")
	f.BoolVar(&c.DB.AutoMigrate, "feature-store.db.auto-migrate", c.DB.AutoMigrate, "apply migrations on start for MySQL/PostgreSQL (SQLite always migrates)")
	f.StringVar(&c.Online.Backend, "feature-store.online.backend", orStr(c.Online.Backend, "pebble"), "online store: pebble (embedded) or redis")
	f.StringVar(&c.Online.PebbleDir, "feature-store.online.pebble-dir", c.Online.PebbleDir, "embedded online store directory (default <data-dir>/feature-store-online)")
	f.BoolVar(&c.Online.PebbleNoSync, "feature-store.online.pebble-no-sync", c.Online.PebbleNoSync, "do not fsync the embedded store after each write")
	f.StringVar(&c.Online.RedisURL, "feature-store.online.redis-url", orStr(c.Online.RedisURL, "redis://127.0.0.1:6379/0"), "Redis URL of the redis backend")
	f.StringVar(&c.Online.RedisPrefix, "feature-store.online.redis-prefix", orStr(c.Online.RedisPrefix, "ofs:"), "prefix of every Redis key")
	def := c.CacheTTL
	if def == 0 {
		def = 30 * time.Second
	}
	f.DurationVar(&c.CacheTTL, "feature-store.cache-ttl", def, "how long the app trusts cached metadata not changed through this process (negative: forever)")
}

// DSN returns the configured DSN or the default SQLite file under DataDir.
func (c *Config) DSN() string {
	if c.DB.DSN != "" {
		return c.DB.DSN
	}
	return "sqlite://" + filepath.Join(orStr(c.DataDir, "./data"), "feature-store.db")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := db.ParseDialect(c.DSN()); err != nil {
		return fmt.Errorf("feature-store.db.dsn: %w", err)
	}
	switch orStr(c.Online.Backend, "pebble") {
	case "pebble":
	case "redis":
		if !strings.HasPrefix(c.Online.RedisURL, "redis://") && !strings.HasPrefix(c.Online.RedisURL, "rediss://") {
			return fmt.Errorf("feature-store.online.redis-url: %q must be a redis:// URL", c.Online.RedisURL)
		}
	default:
		return fmt.Errorf("feature-store.online.backend: %q must be pebble or redis", c.Online.Backend)
	}
	return nil
}

// Deps are the service's collaborators.
type Deps struct {
	Logger *slog.Logger
	Clock  clock.Clock
	// Online replaces the configured online store (tests); the service closes it on Stop.
	Online online.Store
}

// Service is a configured feature store.
type Service struct {
	cfg    Config
	log    *slog.Logger
	db     *db.DB
	online online.Store
	http   *httpapi.Handler
}

// New opens the metadata database and the online store and wires the service; Module().Start migrates.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := log.OrDiscard(deps.Logger).With("service", "feature-store")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, cfg.DSN())
	if err != nil {
		return nil, fmt.Errorf("open feature-store database: %w", err)
	}
	on := deps.Online
	if on == nil {
		switch orStr(cfg.Online.Backend, "pebble") {
		case "redis":
			on, err = online.OpenRedis(ctx, cfg.Online.RedisURL, cfg.Online.RedisPrefix)
		default:
			dir := orStr(cfg.Online.PebbleDir, filepath.Join(orStr(cfg.DataDir, "./data"), "feature-store-online"))
			on, err = online.OpenPebble(dir, online.PebbleOptions{NoSync: cfg.Online.PebbleNoSync})
		}
		if err != nil {
			_ = d.Close()
			return nil, fmt.Errorf("feature-store online store: %w", err)
		}
	}
	h := httpapi.New(store.New(d, deps.Clock), on, httpapi.Options{CacheTTL: cfg.CacheTTL, Logger: logger})
	return &Service{cfg: cfg, log: logger, db: d, online: on, http: h}, nil
}

// Migrate applies the feature store's migrations to the database at dsn.
func Migrate(ctx context.Context, dsn string) error {
	d, err := db.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("open feature-store database: %w", err)
	}
	defer d.Close()
	return migrate(ctx, d)
}

func migrate(ctx context.Context, d *db.DB) error {
	if err := db.Migrate(ctx, d, migrations.Component, migrations.FS); err != nil {
		return fmt.Errorf("migrate feature-store: %w", err)
	}
	return nil
}

// Module is the service as an app module: Start migrates (SQLite, or when auto-migrate is set); Stop closes the
// stores.
func (s *Service) Module() app.Module {
	return app.Module{Name: "feature-store", Start: s.start, Stop: s.stop}
}

func (s *Service) start(ctx context.Context) error {
	if s.db.Dialect == db.SQLite || s.cfg.DB.AutoMigrate {
		if err := migrate(ctx, s.db); err != nil {
			return err
		}
	}
	s.log.Info("feature-store started", "dialect", string(s.db.Dialect), "online", orStr(s.cfg.Online.Backend, "pebble"))
	return nil
}

func (s *Service) stop(context.Context) error {
	return errors.Join(s.online.Close(), s.db.Close())
}

// RegisterHTTP registers the ofs-app routes (without the /feature-store prefix) on r.
func (s *Service) RegisterHTTP(r chi.Router) { s.http.RegisterApp(r) }

// RegisterAdminHTTP registers the ofs-admin routes (without the /feature-store-admin prefix) on r.
func (s *Service) RegisterAdminHTTP(r chi.Router) { s.http.RegisterAdmin(r) }

// RegisterHealth adds the database readiness check.
func (s *Service) RegisterHealth(h *health.Checker) { h.Add("feature-store-db", s.db.PingContext) }
