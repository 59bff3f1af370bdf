package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/darwinml/darwin/pkg/clock"
)

// Main is the entry point of a node process: `node head|worker [flags]`.
// It logs to stderr (the driver points it at the pod's log file), serves
// until SIGTERM/SIGINT or ctx ends, stops its jobs and returns.
func Main(ctx context.Context, args []string, stderr io.Writer) error {
	spec, err := ParseArgs(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("cluster_id", spec.ClusterID)
	if err := os.Chdir(spec.StateDir); err != nil {
		return fmt.Errorf("enter state dir: %w", err)
	}
	n, err := New(spec, Options{Clock: clock.Real(), Logger: logger, Log: stderr})
	if err != nil {
		return err
	}
	if err := n.Run(ctx); err != nil {
		logger.Error("node failed", "err", err)
		return err
	}
	logger.Info("node stopped")
	return nil
}
