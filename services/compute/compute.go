// Package compute is the Darwin compute service: Ray cluster definitions, the cluster status state machine,
// auto-termination, runtimes, cluster configs and libraries. It runs processes through cluster-manager (gRPC).
package compute

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/auth"
	"github.com/darwinml/darwin/pkg/bus"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/health"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/server"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	computev1 "github.com/darwinml/darwin/proto/darwin/compute/v1"
	"github.com/darwinml/darwin/services/compute/internal/clients"
	"github.com/darwinml/darwin/services/compute/internal/clusterconfig"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/grpcapi"
	"github.com/darwinml/darwin/services/compute/internal/httpapi"
	"github.com/darwinml/darwin/services/compute/internal/libraries"
	"github.com/darwinml/darwin/services/compute/internal/runtimes"
	"github.com/darwinml/darwin/services/compute/internal/store"
	"github.com/darwinml/darwin/services/compute/migrations"
)

// DBConfig selects compute's database.
type DBConfig struct {
	DSN         string `yaml:"dsn"`
	AutoMigrate bool   `yaml:"auto_migrate"`
}

// Config is compute's configuration (flags -compute.*, YAML section compute).
type Config struct {
	DataDir            string        `yaml:"data_dir"`
	DB                 DBConfig      `yaml:"db"`
	ClusterManagerAddr string        `yaml:"cluster_manager_addr"`
	PublicURL          string        `yaml:"public_url"`
	PollInterval       time.Duration `yaml:"poll_interval"`
	PollLease          time.Duration `yaml:"poll_lease"`
	PollBatch          int           `yaml:"poll_batch"`
	ProbeTimeout       time.Duration `yaml:"probe_timeout"`
	RPCTimeout         time.Duration `yaml:"rpc_timeout"`
	// ChronosURL is where lifecycle events are posted (POST <url>/api/v1/event); empty keeps them in the outbox.
	ChronosURL string `yaml:"chronos_url"`
	// ChronosTimeout bounds each event POST to chronos.
	ChronosTimeout time.Duration `yaml:"chronos_timeout"`
	// EventRetention is how long delivered events are kept in the outbox before they are purged.
	EventRetention time.Duration `yaml:"event_retention"`
}

// RegisterFlags registers the -compute.* flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.DataDir, "compute.data-dir", orStr(c.DataDir, "./data"), "directory of the default SQLite database")
	f.StringVar(&c.DB.DSN, "compute.db.dsn", c.DB.DSN, "database DSN (sqlite://PATH, mysql://..., postgres://...); default sqlite://<data-dir>/compute.db")
	f.BoolVar(&c.DB.AutoMigrate, "compute.db.auto-migrate", c.DB.AutoMigrate, "apply migrations on start for MySQL/PostgreSQL (SQLite always migrates)")
	f.StringVar(&c.ClusterManagerAddr, "compute.cluster-manager-addr", orStr(c.ClusterManagerAddr, "127.0.0.1:9091"), "cluster-manager gRPC address")
	f.StringVar(&c.PublicURL, "compute.public-url", orStr(c.PublicURL, "http://localhost:8080"), "public base URL of dashboard links")
	f.DurationVar(&c.PollInterval, "compute.poll-interval", orDur(c.PollInterval, 2*time.Second), "status poller interval")
	f.DurationVar(&c.PollLease, "compute.poll-lease", orDur(c.PollLease, 10*time.Second), "how long a polled cluster is leased to one replica")
	f.IntVar(&c.PollBatch, "compute.poll-batch", orInt(c.PollBatch, 10), "clusters per poll pass")
	f.DurationVar(&c.ProbeTimeout, "compute.probe-timeout", orDur(c.ProbeTimeout, 3*time.Second), "timeout of each activity probe request to a cluster head")
	f.DurationVar(&c.RPCTimeout, "compute.rpc-timeout", orDur(c.RPCTimeout, 30*time.Second), "timeout of each cluster-manager call from the poller")
	f.StringVar(&c.ChronosURL, "compute.chronos-url", c.ChronosURL, "chronos base URL that lifecycle events are posted to (empty: events stay in the outbox)")
	f.DurationVar(&c.ChronosTimeout, "compute.chronos-timeout", orDur(c.ChronosTimeout, defaultChronosTimeout), "timeout of each event POST to chronos")
	f.DurationVar(&c.EventRetention, "compute.event-retention", orDur(c.EventRetention, defaultEventRetention), "how long delivered events stay in the outbox before they are purged")
}

const (
	defaultChronosTimeout = 5 * time.Second
	defaultEventRetention = 7 * 24 * time.Hour
	// eventPurgeInterval is how often delivered events older than the retention are purged.
	eventPurgeInterval = time.Hour
)

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

// DSN returns the configured DSN or the default SQLite file under DataDir.
func (c *Config) DSN() string {
	if c.DB.DSN != "" {
		return c.DB.DSN
	}
	dir := c.DataDir
	if dir == "" {
		dir = "./data"
	}
	return "sqlite://" + filepath.Join(dir, "compute.db")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := db.ParseDialect(c.DSN()); err != nil {
		return fmt.Errorf("compute.db.dsn: %w", err)
	}
	if c.PollInterval < 0 || c.PollLease < 0 || c.ProbeTimeout < 0 || c.RPCTimeout < 0 || c.PollBatch < 0 ||
		c.ChronosTimeout < 0 || c.EventRetention < 0 {
		return errors.New("compute: intervals, timeouts, retention and poll batch must not be negative")
	}
	if c.ChronosURL != "" {
		u, err := url.Parse(c.ChronosURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("compute.chronos-url %q must be an http:// or https:// URL", c.ChronosURL)
		}
	}
	if !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") && c.PublicURL != "" {
		return fmt.Errorf("compute.public-url %q must start with http:// or https://", c.PublicURL)
	}
	return nil
}

// Deps are compute's collaborators.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Clock      clock.Clock
	// ClusterManager is a connection to cluster-manager; when nil compute dials Config.ClusterManagerAddr.
	ClusterManager grpc.ClientConnInterface
	// ClusterManagerClient replaces the gRPC client entirely (tests).
	ClusterManagerClient domain.ClusterManager
	// Probe replaces the HTTP activity probe (tests).
	Probe domain.ActivityProbe
	// LibraryExecutor replaces the cluster-manager Exec client of the library/remote-command API (tests).
	LibraryExecutor libraries.Executor
	// Tokens resolves bearer tokens (optional).
	Tokens auth.TokenResolver
}

// Service is a configured compute service.
type Service struct {
	cfg      Config
	log      *slog.Logger
	clk      clock.Clock
	db       *db.DB
	outbox   *bus.Outbox
	domain   *domain.Service
	cmConn   grpc.ClientConnInterface
	ownsConn *grpc.ClientConn
	tokens   auth.TokenResolver
	http     *httpapi.Handler
	rt       *runtimes.Handler
	cc       *clusterconfig.Handler
	lib      *libraries.Handler
	libs     *libraries.Service
	runtimes *runtimes.Store
	configs  *clusterconfig.Store

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New opens the database handle and wires the service; Module().Start migrates and starts the loops.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := log.OrDiscard(deps.Logger).With("service", "compute")
	clk := deps.Clock
	if clk == nil {
		clk = clock.Real()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, cfg.DSN())
	if err != nil {
		return nil, fmt.Errorf("open compute database: %w", err)
	}
	s := &Service{cfg: cfg, log: logger, clk: clk, db: d, tokens: deps.Tokens}

	cm := deps.ClusterManagerClient
	if cm == nil {
		conn := deps.ClusterManager
		if conn == nil {
			c, err := server.DialLoopback(ctx, cfg.ClusterManagerAddr)
			if err != nil {
				_ = d.Close()
				return nil, fmt.Errorf("dial cluster-manager: %w", err)
			}
			s.ownsConn, conn = c, c
		}
		s.cmConn = conn
		cm = clients.NewClusterManager(conn)
	}
	probe := deps.Probe
	if probe == nil {
		probe = clients.NewHTTPActivity(cfg.ProbeTimeout)
	}
	s.outbox = bus.NewOutbox(d, "compute", clk, logger)
	if deps.Registerer != nil {
		s.outbox.RegisterMetrics(deps.Registerer)
	}
	if cfg.ChronosURL != "" {
		timeout := orDur(cfg.ChronosTimeout, defaultChronosTimeout)
		// The handler deadline and the client timeout agree, so a hanging chronos delays one pass by at most
		// timeout per event; the event stays pending and is retried with backoff.
		s.outbox.SetOptions(bus.Options{HandlerTimeout: timeout})
		s.outbox.Subscribe("chronos", bus.HTTPSink(cfg.ChronosURL, &http.Client{Timeout: timeout}))
	}
	s.runtimes = runtimes.NewStore(d, clk)
	s.configs = clusterconfig.NewStore(d)
	st := store.New(d, s.outbox)
	s.domain = domain.NewService(st, cm, s.runtimes, s.configs, probe, nil, clk, logger, domain.Options{
		PublicURL: cfg.PublicURL, PollLease: cfg.PollLease, PollBatch: cfg.PollBatch, RPCTimeout: cfg.RPCTimeout, Metrics: domain.NewMetrics(deps.Registerer), ProbeLimit: 4 * orDur(cfg.ProbeTimeout, 3*time.Second),
	})
	exec := deps.LibraryExecutor
	if exec == nil {
		if s.cmConn != nil {
			exec = libraries.NewGRPCExecutor(clustermanagerv1.NewClusterManagerServiceClient(s.cmConn))
		} else {
			exec = unavailableExecutor{}
		}
	}
	s.libs, err = libraries.NewService(libraries.Config{}, libraries.Deps{Store: libraries.NewStore(d), Clusters: s.domain,
		Artifacts: s.domain, Executor: exec, Clock: clk, Logger: logger})
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("wire libraries: %w", err)
	}
	s.domain.SetStartHook(s.libs)
	s.domain.SetPackages(packageAdapter{s.libs})
	s.lib = libraries.NewHandler(s.libs, logger)
	s.http = httpapi.New(s.domain, s.outbox, logger)
	s.rt = runtimes.NewHandler(s.runtimes, logger)
	s.cc = clusterconfig.NewHandler(s.configs, logger)
	return s, nil
}

func migrateAll(ctx context.Context, d *db.DB) error {
	if err := db.Migrate(ctx, d, migrations.Component, migrations.FS); err != nil {
		return fmt.Errorf("migrate compute: %w", err)
	}
	if err := db.Migrate(ctx, d, "bus", bus.Migrations); err != nil {
		return fmt.Errorf("migrate bus: %w", err)
	}
	return nil
}

// Migrate applies compute's migrations (and the bus outbox's) to the database at dsn.
func Migrate(ctx context.Context, dsn string) error {
	d, err := db.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("open compute database: %w", err)
	}
	defer d.Close()
	return migrateAll(ctx, d)
}

// Module is compute as an app module: Start migrates (SQLite, or when auto-migrate is set) and starts the
// status poller and the event relay; Stop ends them and closes the database.
func (s *Service) Module() app.Module {
	return app.Module{Name: "compute", Start: s.start, Stop: s.stop}
}

func (s *Service) start(ctx context.Context) error {
	if s.db.Dialect == db.SQLite || s.cfg.DB.AutoMigrate {
		if err := migrateAll(ctx, s.db); err != nil {
			return err
		}
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	s.wg.Add(4)
	go func() { defer s.wg.Done(); s.libs.Run(loopCtx) }()
	go func() { defer s.wg.Done(); s.domain.Run(loopCtx, orDur(s.cfg.PollInterval, 2*time.Second)) }()
	go func() { defer s.wg.Done(); s.outbox.Run(loopCtx) }()
	go func() { defer s.wg.Done(); s.purgeLoop(loopCtx) }()
	s.log.Info("compute started", "dialect", string(s.db.Dialect), "chronos", s.cfg.ChronosURL != "")
	return nil
}

func (s *Service) stop(context.Context) error {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	var errs []error
	if s.ownsConn != nil {
		errs = append(errs, s.ownsConn.Close())
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

// RegisterHTTP registers compute's REST routes (without the /compute prefix) on r.
func (s *Service) RegisterHTTP(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(auth.Middleware(s.tokens))
		s.http.Routes(r)
		s.rt.Routes(r)
		s.cc.Routes(r)
		s.lib.Routes(r)
	})
}

// RegisterGRPC registers ComputeService.
func (s *Service) RegisterGRPC(g *grpc.Server) {
	computev1.RegisterComputeServiceServer(g, grpcapi.New(s.domain))
}

// RegisterHealth adds readiness checks (database, cluster-manager reachable).
func (s *Service) RegisterHealth(h *health.Checker) {
	h.Add("compute-db", s.db.PingContext)
	if s.cmConn != nil {
		hc := healthpb.NewHealthClient(s.cmConn)
		h.Add("compute-cluster-manager", func(ctx context.Context) error {
			_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		})
	}
}

// Outbox is compute's event outbox (subscribe sinks such as chronos to it).
func (s *Service) Outbox() *bus.Outbox { return s.outbox }

// PurgeEvents deletes delivered events created more than the configured retention ago and returns how many
// went. Undelivered events are never purged.
func (s *Service) PurgeEvents(ctx context.Context) (int64, error) {
	cutoff := s.clk.Now().Add(-orDur(s.cfg.EventRetention, defaultEventRetention))
	return s.outbox.Purge(ctx, cutoff)
}

// purgeLoop purges old delivered events now and every eventPurgeInterval until ctx ends.
func (s *Service) purgeLoop(ctx context.Context) {
	clock.Every(ctx, s.clk, eventPurgeInterval, true, func(ctx context.Context) {
		if n, err := s.PurgeEvents(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("purge delivered events", "err", err)
		} else if n > 0 {
			s.log.Debug("purged delivered events", "count", n)
		}
	})
}

// PollOnce runs one status-poller pass (tests and tools).
func (s *Service) PollOnce(ctx context.Context) (int, error) { return s.domain.PollOnce(ctx) }

// packageAdapter lets the domain install request packages through the libraries service.
type packageAdapter struct{ l *libraries.Service }

func toAny[T any](in []T) []any {
	out := make([]any, 0, len(in))
	for _, v := range in {
		out = append(out, v)
	}
	return out
}

func (a packageAdapter) CheckPackages(ctx context.Context, packages []any, cloneFrom string) error {
	return a.l.CheckPackages(ctx, packages, cloneFrom)
}

func (a packageAdapter) InstallPackages(ctx context.Context, clusterID string, packages []any) ([]any, error) {
	libs, err := a.l.InstallPackages(ctx, clusterID, packages)
	return toAny(libs), err
}

func (a packageAdapter) ClonePackages(ctx context.Context, from, to string) ([]any, error) {
	libs, err := a.l.CloneLibraries(ctx, from, to)
	return toAny(libs), err
}

func (a packageAdapter) DeleteCluster(ctx context.Context, clusterID string) error {
	return a.l.DeleteCluster(ctx, clusterID)
}

// unavailableExecutor answers when no cluster-manager connection exists.
type unavailableExecutor struct{}

func (unavailableExecutor) Exec(context.Context, libraries.ExecRequest) ([]string, error) {
	return nil, apierr.New(apierr.Unavailable, "cluster manager is not connected")
}

func (unavailableExecutor) ExecStatus(context.Context, string, string) ([]libraries.PodStatus, error) {
	return nil, apierr.New(apierr.Unavailable, "cluster manager is not connected")
}
