// Package featurestore is Darwin's feature store: the original ofs-admin (entity and feature group metadata,
// versions, state, search, TTL) and ofs-app (online feature writes and reads) REST APIs over SQL metadata and an
// online key-value store (embedded Pebble by default, Redis, or Cassandra in the original's §5.2 layout).
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
	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/health"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/services/feature-store/internal/consumer"
	"github.com/darwinml/darwin/services/feature-store/internal/httpapi"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
	"github.com/darwinml/darwin/services/feature-store/internal/populator"
	"github.com/darwinml/darwin/services/feature-store/internal/store"
	"github.com/darwinml/darwin/services/feature-store/migrations"
)

// DBConfig selects the metadata database.
type DBConfig struct {
	DSN         string `yaml:"dsn"`
	AutoMigrate bool   `yaml:"auto_migrate"`
}

// CassandraConfig configures the cassandra online backend (keyspace with one table per entity, §5.2).
type CassandraConfig struct {
	// Hosts is a comma-separated list of contact points (host or host:port).
	Hosts    string `yaml:"hosts"`
	Keyspace string `yaml:"keyspace"`
	// LocalDC makes the driver prefer one datacenter's nodes.
	LocalDC string `yaml:"local_dc"`
	// Replication is the keyspace's replication when it is created: simple:N or network:DC=N[,DC=N...].
	Replication string        `yaml:"replication"`
	Consistency string        `yaml:"consistency"`
	Username    string        `yaml:"username"`
	Password    string        `yaml:"password"`
	Timeout     time.Duration `yaml:"timeout"`
}

// Options returns the online store options of c.
func (c CassandraConfig) Options() online.CassandraOptions {
	var hosts []string
	for _, h := range strings.Split(c.Hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return online.CassandraOptions{Hosts: hosts, Keyspace: c.Keyspace, LocalDC: c.LocalDC, Replication: c.Replication,
		Consistency: c.Consistency, Username: c.Username, Password: c.Password, Timeout: c.Timeout}
}

// OnlineConfig selects the online store.
type OnlineConfig struct {
	// Backend is "pebble" (embedded, default), "redis" or "cassandra".
	Backend string `yaml:"backend"`
	// PebbleDir is the embedded store's directory (default <data-dir>/feature-store-online).
	PebbleDir string `yaml:"pebble_dir"`
	// PebbleNoSync skips the fsync after each write.
	PebbleNoSync bool            `yaml:"pebble_no_sync"`
	RedisURL     string          `yaml:"redis_url"`
	RedisPrefix  string          `yaml:"redis_prefix"`
	Cassandra    CassandraConfig `yaml:"cassandra"`
}

// Config is the feature store's configuration (flags -feature-store.*, YAML section feature_store).
type Config struct {
	DataDir  string        `yaml:"data_dir"`
	DB       DBConfig      `yaml:"db"`
	Online   OnlineConfig  `yaml:"online"`
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// Consumer is the Kafka consumer (ofs-consumer) writing streamed rows to the online store.
	Consumer consumer.Config `yaml:"consumer"`
	// Kafka holds the embedded broker's address.
	Kafka KafkaConfig `yaml:"kafka"`
	// Offline is the history store behind point-in-time retrieval.
	Offline OfflineConfig `yaml:"offline"`
	// Populator restricts Parquet ingestion.
	Populator PopulatorConfig `yaml:"populator"`
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
	f.StringVar(&c.Online.Backend, "feature-store.online.backend", orStr(c.Online.Backend, "pebble"), "online store: pebble (embedded), redis or cassandra")
	f.StringVar(&c.Online.PebbleDir, "feature-store.online.pebble-dir", c.Online.PebbleDir, "embedded online store directory (default <data-dir>/feature-store-online)")
	f.BoolVar(&c.Online.PebbleNoSync, "feature-store.online.pebble-no-sync", c.Online.PebbleNoSync, "do not fsync the embedded store after each write")
	f.StringVar(&c.Online.RedisURL, "feature-store.online.redis-url", orStr(c.Online.RedisURL, "redis://127.0.0.1:6379/0"), "Redis URL of the redis backend")
	f.StringVar(&c.Online.RedisPrefix, "feature-store.online.redis-prefix", orStr(c.Online.RedisPrefix, "ofs:"), "prefix of every Redis key")
	cc := &c.Online.Cassandra
	f.StringVar(&cc.Hosts, "feature-store.online.cassandra-hosts", cc.Hosts, "comma-separated Cassandra contact points (host or host:port) of the cassandra backend")
	f.StringVar(&cc.Keyspace, "feature-store.online.cassandra-keyspace", orStr(cc.Keyspace, online.DefaultCassandraKeyspace), "Cassandra keyspace holding one table per entity")
	f.StringVar(&cc.LocalDC, "feature-store.online.cassandra-local-dc", cc.LocalDC, "prefer this Cassandra datacenter's nodes (DC-aware, token-aware routing)")
	f.StringVar(&cc.Replication, "feature-store.online.cassandra-replication", orStr(cc.Replication, online.DefaultCassandraReplication), "replication of the keyspace when it is created: simple:N or network:DC=N[,DC=N...]")
	f.StringVar(&cc.Consistency, "feature-store.online.cassandra-consistency", orStr(cc.Consistency, online.DefaultCassandraConsistency), "consistency level of Cassandra reads, writes and DDL")
	f.StringVar(&cc.Username, "feature-store.online.cassandra-username", cc.Username, "Cassandra username (password authentication)")
	f.StringVar(&cc.Password, "feature-store.online.cassandra-password", cc.Password, "Cassandra password")
	tdef := cc.Timeout
	if tdef == 0 {
		tdef = online.DefaultCassandraTimeout
	}
	f.DurationVar(&cc.Timeout, "feature-store.online.cassandra-timeout", tdef, "Cassandra connect and request timeout")
	def := c.CacheTTL
	if def == 0 {
		def = 30 * time.Second
	}
	c.registerPipelineFlags(f)
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
	case "cassandra":
		if err := c.Online.Cassandra.Options().Validate(); err != nil {
			return fmt.Errorf("feature-store.online.cassandra-*: %w", err)
		}
	default:
		return fmt.Errorf("feature-store.online.backend: %q must be pebble, redis or cassandra", c.Online.Backend)
	}
	if c.Consumer.Enabled {
		if err := c.Consumer.Validate(); err != nil {
			return fmt.Errorf("feature-store.consumer: %w", err)
		}
	}
	return nil
}

// Deps are the service's collaborators.
type Deps struct {
	Logger *slog.Logger
	Clock  clock.Clock
	// Online replaces the configured online store (tests); the service closes it on Stop.
	Online online.Store
	// Metrics receives the service's Prometheus metrics (nil: a private registry, served at /feature-store/metrics).
	Metrics *prometheus.Registry
}

// Service is a configured feature store.
type Service struct {
	cfg    Config
	log    *slog.Logger
	db     *db.DB
	online online.Store
	http   *httpapi.Handler
	pipe   *pipeline
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
		case "cassandra":
			o := cfg.Online.Cassandra.Options()
			o.Logger = logger
			on, err = online.OpenCassandra(ctx, o)
		default:
			dir := orStr(cfg.Online.PebbleDir, filepath.Join(orStr(cfg.DataDir, "./data"), "feature-store-online"))
			on, err = online.OpenPebble(dir, online.PebbleOptions{NoSync: cfg.Online.PebbleNoSync})
		}
		if err != nil {
			_ = d.Close()
			return nil, fmt.Errorf("feature-store online store: %w", err)
		}
	}
	meta := store.New(d, deps.Clock)
	h := httpapi.New(meta, on, httpapi.Options{CacheTTL: cfg.CacheTTL, Logger: logger, Registry: deps.Metrics})
	var reg prometheus.Registerer
	if deps.Metrics != nil {
		reg = deps.Metrics
	}
	s := &Service{cfg: cfg, log: logger, db: d, online: on, http: h}
	s.pipe, err = newPipeline(&s.cfg, logger, meta, h, populator.NewSQLCheckpoints(d), reg)
	if err != nil {
		_ = on.Close()
		_ = d.Close()
		return nil, err
	}
	return s, nil
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
	if err := s.pipe.start(ctx); err != nil {
		return err
	}
	s.log.Info("feature-store started", "dialect", string(s.db.Dialect), "online", orStr(s.cfg.Online.Backend, "pebble"),
		"consumer", s.cfg.Consumer.Enabled, "offline_history", !s.cfg.Offline.Disabled)
	return nil
}

func (s *Service) stop(context.Context) error {
	return errors.Join(s.pipe.stop(), s.online.Close(), s.db.Close())
}

// KafkaBrokers is the Kafka the service produces to and consumes from: the embedded broker's address once started,
// else the configured brokers.
func (s *Service) KafkaBrokers() []string { return s.pipe.kafkaBrokers() }

// RegisterHTTP registers the ofs-app routes (without the /feature-store prefix) on r.
func (s *Service) RegisterHTTP(r chi.Router) {
	s.http.RegisterApp(r)
	s.pipe.registerApp(r)
}

// RegisterAdminHTTP registers the ofs-admin routes (without the /feature-store-admin prefix) on r.
func (s *Service) RegisterAdminHTTP(r chi.Router) {
	s.http.RegisterAdmin(r)
	s.pipe.registerAdmin(r)
}

// RegisterConsumerHTTP registers the consumer's routes (without the /feature-store-consumer prefix): GET
// /healthcheck and GET /assignments.
func (s *Service) RegisterConsumerHTTP(r chi.Router) { s.pipe.registerConsumer(r) }

// RegisterHealth adds the database readiness check.
func (s *Service) RegisterHealth(h *health.Checker) {
	h.Add("feature-store-db", s.db.PingContext)
	if s.cfg.Consumer.Enabled {
		h.Add("feature-store-consumer", s.pipe.ready)
	}
}
