// Command hermes is Darwin's model-serving CLI (the original hermes-cli): environments, serves, infra configs,
// artifacts and deployments on ml-serve, one-click deploy-model, and serve repository scaffolding.
// Exit codes: 0 success, 1 server/validation/network error, 2 usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/darwinml/darwin/services/darwin/internal/hermes"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := hermes.Run(ctx, os.Args[1:], hermes.Options{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
