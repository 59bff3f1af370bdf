// Command compute runs the Darwin compute service on its own:
//
//	compute [flags]            serve REST (at / and /compute) and gRPC (ComputeService)
//	compute migrate [flags]    apply the database migrations (MySQL/PostgreSQL deployments) and exit
//
// Configuration: flags (see -help), an optional YAML file (-config.file) with the sections server, log and
// compute; -print.config shows the effective configuration. compute talks to cluster-manager over gRPC at
// -compute.cluster-manager-addr.
package main

import (
	"context"
	"flag"
	"io"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/clock"
	dlog "github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/metrics"
	"github.com/darwinml/darwin/pkg/server"
	"github.com/darwinml/darwin/services/compute"
)

type fileConfig struct {
	Server  server.Config  `yaml:"server"`
	Log     dlog.Config    `yaml:"log"`
	Compute compute.Config `yaml:"compute"`
}

func (c *fileConfig) RegisterFlags(f *flag.FlagSet) {
	c.Server.HTTPAddr, c.Server.GRPCAddr = ":8000", ":9092"
	c.Server.RegisterFlags("server", f)
	c.Log.RegisterFlags(f)
	c.Compute.RegisterFlags(f)
}

func main() { app.Main("compute", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return app.Healthcheck(ctx, args[1:], "http://127.0.0.1:8000/healthz", stdout)
	}
	migrate := len(args) > 0 && args[0] == "migrate"
	if migrate {
		args = args[1:]
	}
	var cfg fileConfig
	if err := server.LoadBinaryConfig("compute", []string{"migrate [flags]", "healthcheck [url]"}, args, &cfg, stdout, stderr); err != nil {
		return err
	}
	if err := cfg.Compute.Validate(); err != nil {
		return err
	}
	logger := dlog.New(cfg.Log, stderr)
	if migrate {
		if err := compute.Migrate(ctx, cfg.Compute.DSN()); err != nil {
			return err
		}
		logger.Info("compute migrations applied")
		return nil
	}
	reg := metrics.NewRegistry()
	svc, err := compute.New(cfg.Compute, compute.Deps{Logger: logger, Registerer: reg, Clock: clock.Real()})
	if err != nil {
		return err
	}
	return server.Serve(ctx, cfg.Server, logger, reg, svc, server.ServeOptions{Prefix: "/compute"})
}
