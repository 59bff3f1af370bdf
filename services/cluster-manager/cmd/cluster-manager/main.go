// Command cluster-manager runs darwin-cluster-manager on its own:
//
//	cluster-manager [flags]                      serve HTTP (DCM REST + dashboard proxy) and gRPC
//	cluster-manager node head|worker [flags]     run a cluster node process (started by the local driver)
//
// Configuration: flags (see -help), an optional YAML file (-config.file) with
// the sections server, log and cluster_manager; -print.config shows the
// effective configuration.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/config"
	dlog "github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/metrics"
	"github.com/darwinml/darwin/pkg/server"
	clustermanager "github.com/darwinml/darwin/services/cluster-manager"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver/kube"
)

type fileConfig struct {
	Server         server.Config         `yaml:"server"`
	Log            dlog.Config           `yaml:"log"`
	ClusterManager clustermanager.Config `yaml:"cluster_manager"`
}

func (c *fileConfig) RegisterFlags(f *flag.FlagSet) {
	c.Server.HTTPAddr, c.Server.GRPCAddr = ":8080", ":9091"
	c.Server.RegisterFlags("server", f)
	c.Log.RegisterFlags(f)
	c.ClusterManager.RegisterFlags(f)
}

func main() { app.Main("cluster-manager", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return app.Healthcheck(ctx, args[1:], "http://127.0.0.1:8080/healthz", stdout)
	}
	if len(args) > 0 && args[0] == "node" {
		return clustermanager.RunNode(ctx, args[1:])
	}

	fs := flag.NewFlagSet("cluster-manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  cluster-manager [flags]\n  cluster-manager node head|worker [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var cfg fileConfig
	if err := config.Load(fs, args, &cfg, stdout); err != nil {
		return err
	}
	logger := dlog.New(cfg.Log, stderr)
	reg := metrics.NewRegistry()

	cm := cfg.ClusterManager
	svc, err := clustermanager.New(cm, clustermanager.Deps{Logger: logger, Registerer: reg, Clock: clock.Real(),
		KubernetesDriver: kube.Factory(cm.Kubeconfigs, cm.DefaultKubeCluster, cm.Namespace, cm.HelmTimeout)})
	if err != nil {
		return err
	}
	srv, err := server.New(cfg.Server, logger, reg)
	if err != nil {
		return err
	}
	svc.RegisterGRPC(srv.GRPC)
	srv.HTTP.Route("/cluster-manager", svc.RegisterHTTP)
	svc.RegisterHTTP(srv.HTTP)
	srv.HTTP.NotFound(svc.DashboardProxy().ServeHTTP)

	mgr := app.NewManager(logger)
	mgr.Register(svc.Module())
	mgr.Register(srv.Module("server", clustermanager.ModuleName))
	return mgr.Run(ctx, []string{"all"}, app.RunOptions{
		Failed:          srv.Err(),
		ShutdownTimeout: cfg.Server.ShutdownTimeout,
		Started: func() {
			logger.Info("cluster-manager listening", "http", srv.HTTPAddr(), "grpc", srv.GRPCAddr())
		},
	})
}
