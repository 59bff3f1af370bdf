// Command feature-store runs Darwin's feature store on its own:
//
//	feature-store [flags]             serve ofs-app at / and /feature-store, ofs-admin at /feature-store-admin
//	feature-store migrate [flags]     apply the metadata migrations (MySQL/PostgreSQL deployments) and exit
//	feature-store healthcheck [url]   probe a running server's /healthz
//
// Configuration: flags (see -help), an optional YAML file (-config.file) with the sections server, log and
// feature_store; -print.config shows the effective configuration.
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
	featurestore "github.com/darwinml/darwin/services/feature-store"
)

type fileConfig struct {
	Server       server.Config       `yaml:"server"`
	Log          dlog.Config         `yaml:"log"`
	FeatureStore featurestore.Config `yaml:"feature_store"`
}

func (c *fileConfig) RegisterFlags(f *flag.FlagSet) {
	c.Server.HTTPAddr, c.Server.GRPCAddr = ":8080", "127.0.0.1:0"
	c.Server.RegisterFlags("server", f)
	c.Log.RegisterFlags(f)
	c.FeatureStore.RegisterFlags(f)
}

func main() { app.Main("feature-store", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return app.Healthcheck(ctx, args[1:], "http://127.0.0.1:8080/healthz", stdout)
	}
	migrate := len(args) > 0 && args[0] == "migrate"
	if migrate {
		args = args[1:]
	}
	var cfg fileConfig
	if err := server.LoadBinaryConfig("feature-store", []string{"migrate [flags]", "healthcheck [url]"}, args, &cfg, stdout, stderr); err != nil {
		return err
	}
	if err := cfg.FeatureStore.Validate(); err != nil {
		return err
	}
	logger := dlog.New(cfg.Log, stderr)
	if migrate {
		if err := featurestore.Migrate(ctx, cfg.FeatureStore.DSN()); err != nil {
			return err
		}
		logger.Info("feature-store migrations applied")
		return nil
	}
	reg := metrics.NewRegistry()
	svc, err := featurestore.New(cfg.FeatureStore, featurestore.Deps{Logger: logger, Clock: clock.Real(), Metrics: reg})
	if err != nil {
		return err
	}
	return server.Serve(ctx, cfg.Server, logger, reg, svc, server.ServeOptions{
		Prefix: "/feature-store",
		Mounts: map[string]func(chi.Router){"/feature-store-admin": svc.RegisterAdminHTTP, "/feature-store-consumer": svc.RegisterConsumerHTTP},
	})
}
