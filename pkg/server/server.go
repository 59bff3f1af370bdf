// Package server runs a service's HTTP (chi) and gRPC listeners with the platform's common middleware:
// request ids, panic recovery, access logs, Prometheus metrics, /healthz, /readyz, /metrics and gRPC health.
//
// Mount routes on Server.HTTP before or after Start. HTTP is a sub-router mounted at "/" below the common
// middleware and the built-in /healthz, /readyz and /metrics, so HTTP.Use works until the first route is added
// (chi's rule; afterwards use HTTP.With or HTTP.Group). Register gRPC services on Server.GRPC before Start.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/health"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/metrics"
)

// Config holds the listen addresses. An empty GRPCAddr means no gRPC listener; ":0" picks a free port.
type Config struct {
	HTTPAddr        string        `yaml:"http_addr"`
	GRPCAddr        string        `yaml:"grpc_addr"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// RegisterFlags registers -<prefix>.http-addr, -<prefix>.grpc-addr and -<prefix>.shutdown-timeout
// (prefix "server" when empty) with the given defaults already in c, or ":8080", ":9090" and 30s.
func (c *Config) RegisterFlags(prefix string, f *flag.FlagSet) {
	if prefix == "" {
		prefix = "server"
	}
	f.StringVar(&c.HTTPAddr, prefix+".http-addr", orDefault(c.HTTPAddr, ":8080"), "HTTP listen address")
	f.StringVar(&c.GRPCAddr, prefix+".grpc-addr", orDefault(c.GRPCAddr, ":9090"), "gRPC listen address (empty: no gRPC listener)")
	d := c.ShutdownTimeout
	if d == 0 {
		d = 30 * time.Second
	}
	f.DurationVar(&c.ShutdownTimeout, prefix+".shutdown-timeout", d, "graceful shutdown timeout")
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// Server is an HTTP server plus an optional gRPC server sharing middleware, metrics and health.
type Server struct {
	HTTP   chi.Router   // application routes (mounted at "/" of the root router, which serves /healthz, /readyz, /metrics)
	GRPC   *grpc.Server // register services before Start
	Health *health.Checker

	// GRPCHealth is the standard grpc.health.v1 service; Start marks it SERVING, Shutdown NOT_SERVING.
	GRPCHealth *grpchealth.Server

	cfg    Config
	logger *slog.Logger
	mux    *chi.Mux

	mu       sync.Mutex
	httpSrv  *http.Server
	httpLis  net.Listener
	grpcLis  net.Listener
	started  bool
	stopped  bool
	serveErr chan error
}

// New builds the server. reg may be nil (no metrics) — when it is also a prometheus.Gatherer (as
// *prometheus.Registry is), /metrics serves it.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	logger = log.OrDiscard(logger)
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	hm := newHTTPMetrics(reg)
	gm := newGRPCMetrics(reg)

	// The root mux carries the common middleware and the built-in endpoints; callers get an empty sub-router
	// mounted at "/", so they can still add their own middleware with HTTP.Use before their first route.
	mux := chi.NewRouter()
	mux.Use(requestIDMiddleware, accessLog(logger, hm), recoverMiddleware(logger))
	notFound := func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusNotFound, map[string]string{"status": "ERROR", "message": "not found"})
	}
	methodNotAllowed := func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"status": "ERROR", "message": "method not allowed"})
	}
	mux.NotFound(notFound)
	mux.MethodNotAllowed(methodNotAllowed)

	checker := health.New()
	mux.Method(http.MethodGet, "/healthz", checker.LiveHandler())
	mux.Method(http.MethodGet, "/readyz", checker.ReadyHandler())
	if g, ok := reg.(prometheus.Gatherer); ok {
		mux.Method(http.MethodGet, "/metrics", metrics.GathererHandler(g))
	}
	routes := chi.NewRouter()
	routes.NotFound(notFound)
	routes.MethodNotAllowed(methodNotAllowed)
	mux.Mount("/", routes)

	gsrv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(unaryServerInterceptor(logger, gm)),
		grpc.ChainStreamInterceptor(streamServerInterceptor(logger, gm)),
	)
	hs := grpchealth.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(gsrv, hs)

	return &Server{
		HTTP:       routes,
		GRPC:       gsrv,
		Health:     checker,
		GRPCHealth: hs,
		cfg:        cfg,
		logger:     logger,
		mux:        mux,
		serveErr:   make(chan error, 2),
	}, nil
}

// Start opens the listeners and serves in the background; it returns once both are listening.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server already started")
	}
	httpLis, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen http on %q: %w", s.cfg.HTTPAddr, err)
	}
	var grpcLis net.Listener
	if s.cfg.GRPCAddr != "" {
		grpcLis, err = net.Listen("tcp", s.cfg.GRPCAddr)
		if err != nil {
			_ = httpLis.Close()
			return fmt.Errorf("listen grpc on %q: %w", s.cfg.GRPCAddr, err)
		}
	}
	s.httpLis, s.grpcLis = httpLis, grpcLis
	s.httpSrv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	s.started = true
	go func() {
		if err := s.httpSrv.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "err", err)
			s.serveErr <- err
		}
	}()
	if grpcLis != nil {
		s.GRPCHealth.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		go func() {
			if err := s.GRPC.Serve(grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				s.logger.Error("grpc server stopped", "err", err)
				s.serveErr <- err
			}
		}()
	}
	s.logger.Info("server listening", "http_addr", s.HTTPAddr(), "grpc_addr", s.GRPCAddr())
	return nil
}

// Err delivers an error if a listener stops serving unexpectedly.
func (s *Server) Err() <-chan error { return s.serveErr }

// HTTPAddr returns the dialable HTTP address ("127.0.0.1:port" when listening on all interfaces), or "" before
// Start.
func (s *Server) HTTPAddr() string {
	return dialable(s.httpLis)
}

// GRPCAddr returns the dialable gRPC address, or "" before Start or without a gRPC listener.
func (s *Server) GRPCAddr() string {
	return dialable(s.grpcLis)
}

func dialable(l net.Listener) string {
	if l == nil {
		return ""
	}
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return l.Addr().String()
	}
	if addr.IP == nil || addr.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(addr.Port))
	}
	return addr.String()
}

// Shutdown stops accepting connections and waits for in-flight requests until ctx (or, when ctx has no
// deadline, the configured ShutdownTimeout) expires; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
	}
	s.GRPCHealth.Shutdown()
	var errs []error
	if s.grpcLis != nil {
		done := make(chan struct{})
		go func() {
			s.GRPC.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			s.GRPC.Stop()
			<-done
			errs = append(errs, fmt.Errorf("grpc graceful stop: %w", ctx.Err()))
		}
	}
	if err := s.httpSrv.Shutdown(ctx); err != nil {
		_ = s.httpSrv.Close()
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	return errors.Join(errs...)
}

// Module wraps Start/Shutdown as an app module named name (e.g. "server").
func (s *Server) Module(name string, deps ...string) app.Module {
	return app.Module{
		Name:  name,
		Deps:  deps,
		Start: func(context.Context) error { return s.Start() },
		Stop:  s.Shutdown,
	}
}
