package server

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/config"
	"github.com/darwinml/darwin/pkg/health"
)

// Service is what a service binary serves: a module plus its HTTP routes and readiness checks; a service with a
// gRPC API also implements RegisterGRPC(*grpc.Server).
type Service interface {
	Module() app.Module
	RegisterHTTP(r chi.Router)
	RegisterHealth(h *health.Checker)
}

// ServeOptions describe how a service binary exposes its service.
type ServeOptions struct {
	// Prefix is the ingress prefix the routes are also served under (e.g. "/compute"), so the binary answers the
	// same paths with or without a stripping ingress in front.
	Prefix string
	// NotFound, when set, serves every path no route matched (cluster-manager's dashboard proxy).
	NotFound http.Handler
	// Mounts are further routers served under their own prefixes (mlflow's /mlflow-app app layer).
	Mounts map[string]func(chi.Router)
}

// Serve runs svc behind a new server built from cfg until ctx ends or a listener fails: routes at / and under
// opts.Prefix, gRPC when svc has it, readiness checks, then the module manager (service first, listeners last,
// stopped in reverse).
func Serve(ctx context.Context, cfg Config, logger *slog.Logger, reg *prometheus.Registry, svc Service, opts ServeOptions) error {
	srv, err := New(cfg, logger, reg)
	if err != nil {
		return err
	}
	if g, ok := svc.(interface{ RegisterGRPC(*grpc.Server) }); ok {
		g.RegisterGRPC(srv.GRPC)
	}
	svc.RegisterHealth(srv.Health)
	if opts.Prefix != "" {
		srv.HTTP.Route(opts.Prefix, svc.RegisterHTTP)
	}
	for prefix, register := range opts.Mounts {
		srv.HTTP.Route(prefix, register)
	}
	svc.RegisterHTTP(srv.HTTP)
	if opts.NotFound != nil {
		srv.HTTP.NotFound(opts.NotFound.ServeHTTP)
	}
	mod := svc.Module()
	mgr := app.NewManager(logger)
	mgr.Register(mod)
	mgr.Register(srv.Module("server", mod.Name))
	return mgr.Run(ctx, []string{app.All}, app.RunOptions{
		Failed:          srv.Err(),
		ShutdownTimeout: cfg.ShutdownTimeout,
		Started: func() {
			logger.Info(mod.Name+" listening", "http", srv.HTTPAddr(), "grpc", srv.GRPCAddr())
		},
	})
}

// LoadBinaryConfig parses a service binary's command line into cfg (flag defaults → -config.file YAML → flags),
// with a usage text listing its subcommands.
func LoadBinaryConfig(name string, subcommands []string, args []string, cfg config.Registerer, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  %s [flags]\n", name)
		for _, s := range subcommands {
			fmt.Fprintf(stderr, "  %s %s\n", name, s)
		}
		fmt.Fprintf(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	return config.Load(fs, args, cfg, stdout)
}
