// Command artifact-builder runs Darwin's artifact-builder service on its own:
//
//	artifact-builder [flags]             serve the REST API at / and /artifact-builder, run the build worker
//	artifact-builder migrate [flags]     apply the database migrations (MySQL/PostgreSQL deployments) and exit
//	artifact-builder healthcheck [url]   probe a running server's /healthz
//
// Configuration: flags (see -help), an optional YAML file (-config.file) with the sections server, log and
// artifact_builder; -print.config shows the effective configuration.
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
	artifactbuilder "github.com/darwinml/darwin/services/artifact-builder"
	"github.com/darwinml/darwin/services/artifact-builder/kaniko"
)

type fileConfig struct {
	Server          server.Config          `yaml:"server"`
	Log             dlog.Config            `yaml:"log"`
	ArtifactBuilder artifactbuilder.Config `yaml:"artifact_builder"`
}

func (c *fileConfig) RegisterFlags(f *flag.FlagSet) {
	c.Server.HTTPAddr, c.Server.GRPCAddr = ":8000", "127.0.0.1:0"
	c.Server.RegisterFlags("server", f)
	c.Log.RegisterFlags(f)
	c.ArtifactBuilder.RegisterFlags(f)
}

func main() { app.Main("artifact-builder", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return app.Healthcheck(ctx, args[1:], "http://127.0.0.1:8000/healthz", stdout)
	}
	migrate := len(args) > 0 && args[0] == "migrate"
	if migrate {
		args = args[1:]
	}
	var cfg fileConfig
	if err := server.LoadBinaryConfig("artifact-builder", []string{"migrate [flags]", "healthcheck [url]"}, args, &cfg, stdout, stderr); err != nil {
		return err
	}
	if err := cfg.ArtifactBuilder.Validate(); err != nil {
		return err
	}
	logger := dlog.New(cfg.Log, stderr)
	if migrate {
		if err := artifactbuilder.Migrate(ctx, cfg.ArtifactBuilder.DSN()); err != nil {
			return err
		}
		logger.Info("artifact-builder migrations applied")
		return nil
	}
	reg := metrics.NewRegistry()
	deps := artifactbuilder.Deps{Logger: logger, Clock: clock.Real()}
	df, err := kaniko.Builder(cfg.ArtifactBuilder)
	if err != nil {
		return err
	}
	if df != nil {
		deps.DockerfileBuilder = df
	}
	svc, err := artifactbuilder.New(cfg.ArtifactBuilder, deps)
	if err != nil {
		return err
	}
	return server.Serve(ctx, cfg.Server, logger, reg, svc, server.ServeOptions{Prefix: "/artifact-builder"})
}
