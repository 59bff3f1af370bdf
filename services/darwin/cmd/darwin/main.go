// Command darwin is the all-in-one Darwin server (`darwin up`) and the
// platform's command-line client (`darwin compute ...`).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/darwinml/darwin/pkg/app"
	clustermanager "github.com/darwinml/darwin/services/cluster-manager"
	"github.com/darwinml/darwin/services/darwin/internal/cli"
	"github.com/darwinml/darwin/services/darwin/internal/hermes"
	"github.com/darwinml/darwin/services/darwin/internal/initcmd"
	"github.com/darwinml/darwin/services/darwin/internal/up"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		if hermes.IsUsageError(err) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errSilent = errors.New("already reported")

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "darwin",
		Short: "Darwin ML platform: the all-in-one server and the command-line client",
		Long: `darwin runs the whole Darwin platform in one process (darwin up) and drives it
from the command line (darwin compute ...), mirroring the original SDKs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	opts := &cli.GlobalOptions{Out: os.Stdout, Err: os.Stderr}
	cli.AddGlobalFlags(root, opts)

	root.AddCommand(&cobra.Command{
		Use:   "up [flags]",
		Short: "Start every Darwin service in one process on embedded defaults",
		Long: `Starts compute and cluster-manager in one process: REST on --http-addr under the
original prefixes (/compute, /cluster-manager), gRPC between the services on a
loopback port, SQLite files and local cluster processes under --data-dir.
Flags use Go flag syntax (-flag=value or --flag value); run 'darwin up -help' for all of them.`,
		Example: `  darwin up
  darwin up --http-addr :80 --data-dir /var/lib/darwin
  darwin up -config.file=darwin.yaml -print.config`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "--help" || a == "-h" {
					args = []string{"-help"}
				}
			}
			return up.Run(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	})
	root.AddCommand(&cobra.Command{
		Use:                "node head|worker [flags]",
		Short:              "Run a local cluster node (started by cluster-manager's local driver)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return clustermanager.RunNode(cmd.Context(), args)
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "healthcheck [URL]",
		Short: "Exit 0 when the platform answers /healthz (for container health checks)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return app.Healthcheck(cmd.Context(), args, "http://127.0.0.1:8080/healthz", cmd.OutOrStdout())
		},
	})
	root.AddCommand(cli.NewComputeCommand(opts))
	root.AddCommand(cli.NewMLflowCommand(opts))
	root.AddCommand(cli.NewFeatureStoreCommand(opts))
	root.AddCommand(hermes.NewCommand(hermes.Options{Use: "serve"})) // spec §10.2: darwin serve … = hermes
	root.AddCommand(initcmd.NewCommand(os.Stdout, os.Stderr, os.Stdin))
	return root
}
