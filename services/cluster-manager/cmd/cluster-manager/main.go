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
	"io"

	"github.com/darwinml/darwin/pkg/app"
	"github.com/darwinml/darwin/pkg/clock"
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

	var cfg fileConfig
	if err := server.LoadBinaryConfig("cluster-manager", []string{"node head|worker [flags]", "healthcheck [url]"}, args, &cfg, stdout, stderr); err != nil {
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
	return server.Serve(ctx, cfg.Server, logger, reg, svc, server.ServeOptions{Prefix: "/cluster-manager", NotFound: svc.ServeProxy(svc.DashboardProxy())})
}
