// Command ml-serve runs Darwin's ml-serve service on its own:
//
//	ml-serve [flags]             serve the REST API at /api/v1 and /ml-serve/api/v1
//	ml-serve migrate [flags]     apply the database migrations (MySQL/PostgreSQL deployments) and exit
//	ml-serve healthcheck [url]   probe a running server's /healthz
//
// Configuration: flags (see -help), an optional YAML file (-config.file) with the sections server, log and
// ml_serve; -print.config shows the effective configuration.
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
	mlserve "github.com/darwinml/darwin/services/ml-serve"
)

type fileConfig struct {
	Server  server.Config  `yaml:"server"`
	Log     dlog.Config    `yaml:"log"`
	MLServe mlserve.Config `yaml:"ml_serve"`
}

func (c *fileConfig) RegisterFlags(f *flag.FlagSet) {
	c.Server.HTTPAddr, c.Server.GRPCAddr = ":8000", "127.0.0.1:0"
	c.Server.RegisterFlags("server", f)
	c.Log.RegisterFlags(f)
	c.MLServe.RegisterFlags(f)
}

func main() { app.Main("ml-serve", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return app.Healthcheck(ctx, args[1:], "http://127.0.0.1:8000/healthz", stdout)
	}
	migrate := len(args) > 0 && args[0] == "migrate"
	if migrate {
		args = args[1:]
	}
	var cfg fileConfig
	if err := server.LoadBinaryConfig("ml-serve", []string{"migrate [flags]", "healthcheck [url]"}, args, &cfg, stdout, stderr); err != nil {
		return err
	}
	if err := cfg.MLServe.Validate(); err != nil {
		return err
	}
	logger := dlog.New(cfg.Log, stderr)
	if migrate {
		if err := mlserve.Migrate(ctx, cfg.MLServe.DSN()); err != nil {
			return err
		}
		logger.Info("ml-serve migrations applied")
		return nil
	}
	reg := metrics.NewRegistry()
	svc, err := mlserve.New(cfg.MLServe, mlserve.Deps{Logger: logger, Clock: clock.Real()})
	if err != nil {
		return err
	}
	return server.Serve(ctx, cfg.Server, logger, reg, svc, server.ServeOptions{Prefix: "/ml-serve"})
}
