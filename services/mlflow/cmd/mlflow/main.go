// Command mlflow runs Darwin's MLflow-compatible tracking server on its own:
//
//	mlflow [flags]               serve the MLflow REST API at /api/2.0/mlflow and /mlflow-lib/api/2.0/mlflow,
//	                             and the Darwin app layer at /mlflow-app
//	mlflow migrate [flags]       apply the database migrations (MySQL/PostgreSQL deployments) and exit
//	mlflow healthcheck [url]     probe a running server's /healthz
//
// Configuration: flags (see -help), an optional YAML file (-config.file) with the sections server, log and
// mlflow; -print.config shows the effective configuration.
package main

import (
	"context"
	"flag"
	"io"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/clock"
	dlog "github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/metrics"
	"github.com/darwinml/darwin/pkg/server"
	"github.com/darwinml/darwin/services/mlflow"
)

type fileConfig struct {
	Server server.Config `yaml:"server"`
	Log    dlog.Config   `yaml:"log"`
	MLflow mlflow.Config `yaml:"mlflow"`
}

func (c *fileConfig) RegisterFlags(f *flag.FlagSet) {
	c.Server.HTTPAddr, c.Server.GRPCAddr = ":5000", "127.0.0.1:0"
	c.Server.RegisterFlags("server", f)
	c.Log.RegisterFlags(f)
	c.MLflow.RegisterFlags(f)
}

func main() { app.Main("mlflow", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return app.Healthcheck(ctx, args[1:], "http://127.0.0.1:5000/healthz", stdout)
	}
	migrate := len(args) > 0 && args[0] == "migrate"
	if migrate {
		args = args[1:]
	}
	var cfg fileConfig
	if err := server.LoadBinaryConfig("mlflow", []string{"migrate [flags]", "healthcheck [url]"}, args, &cfg, stdout, stderr); err != nil {
		return err
	}
	if err := cfg.MLflow.Validate(); err != nil {
		return err
	}
	logger := dlog.New(cfg.Log, stderr)
	if migrate {
		if err := mlflow.Migrate(ctx, cfg.MLflow.DSN()); err != nil {
			return err
		}
		logger.Info("mlflow migrations applied")
		return nil
	}
	reg := metrics.NewRegistry()
	svc, err := mlflow.New(cfg.MLflow, mlflow.Deps{Logger: logger, Registerer: reg, Clock: clock.Real()})
	if err != nil {
		return err
	}
	return server.Serve(ctx, cfg.Server, logger, reg, svc, server.ServeOptions{Prefix: "/mlflow-lib", Mounts: map[string]func(chi.Router){"/mlflow-app": svc.RegisterAppHTTP}})
}
