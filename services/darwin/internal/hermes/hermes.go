// Package hermes implements the `hermes` command line (also `darwin serve ...`): the original hermes-cli's
// nested command tree (environment, config, artifact, repo sub-commands; create, get, list, status, deploy,
// deploy-model, undeploy, undeploy-model) plus the flat names the seed README and CLI.md use (configure,
// create-environment, create-serve, create-serve-config, deploy-model, get-serve-status, ...).
//
// Every command except configure and repo create talks to ml-serve over REST at <url>/ml-serve/api/v1 with
// `Authorization: Bearer <token>`; the token comes from $HERMES_USER_TOKEN or ~/.hermes/credential.txt.
package hermes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes of Run.
const (
	ExitOK    = 0
	ExitError = 1 // server, validation, network or file errors
	ExitUsage = 2 // bad flags, missing required flags, unknown commands
)

// Defaults.
const (
	DefaultURL          = "http://localhost:8080"
	DefaultToken        = "admin-token-default-change-in-production"
	DefaultPollInterval = 2 * time.Second
	DefaultWaitTimeout  = 10 * time.Minute
	requestTimeout      = 30 * time.Second // the original gives every request 30 s
)

// Options are the injected dependencies of the command tree. Zero fields use the process defaults.
type Options struct {
	// Use is the root command's name: "hermes" (default) or "serve" under `darwin`.
	Use string
	// In, Out and Err default to the command's stdin/stdout/stderr.
	In       io.Reader
	Out, Err io.Writer
	// Getenv reads the environment (HERMES_USER_TOKEN, DARWIN_URL, HOME); nil is os.Getenv.
	Getenv func(string) string
	// HTTPClient defaults to a client with a 30 s timeout per request.
	HTTPClient *http.Client
	// PollInterval between status polls while waiting for a deployment; zero is 2 s.
	PollInterval time.Duration
	// Now and Sleep drive waiting; nil uses the real clock.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// usageError marks an error as a usage problem (exit code 2).
type usageError struct{ err error }

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// IsUsageError reports whether err is a command-line usage error (bad or missing flags, unknown command).
func IsUsageError(err error) bool {
	var u *usageError
	if errors.As(err, &u) {
		return true
	}
	// cobra's own argument and command errors
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "required flag", "invalid argument", "flag needs an argument", "accepts ", "bad flag syntax"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// Run executes the hermes command line with args and returns the process exit code. Errors are printed to
// stderr as "error: <message>".
func Run(ctx context.Context, args []string, opts Options) int {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Err == nil {
		opts.Err = os.Stderr
	}
	if opts.In == nil {
		opts.In = os.Stdin
	}
	root := NewCommand(opts)
	root.SetArgs(args)
	root.SetOut(opts.Out)
	root.SetErr(opts.Err)
	root.SetIn(opts.In)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(opts.Err, "error:", err)
	if IsUsageError(err) {
		fmt.Fprintf(opts.Err, "Run '%s --help' for usage.\n", root.Name())
		return ExitUsage
	}
	return ExitError
}

// NewCommand builds the hermes command tree.
func NewCommand(opts Options) *cobra.Command {
	use := opts.Use
	if use == "" {
		use = "hermes"
	}
	g := &globals{opts: opts}
	root := &cobra.Command{
		Use:   use,
		Short: "Manage model serving and deployment (hermes)",
		Long: `hermes drives Darwin's ml-serve: environments, serves, infra configs, artifacts and deployments,
including the one-click deploy-model of an MLflow model.

Authentication: the token comes from $HERMES_USER_TOKEN or ~/.hermes/credential.txt (written by
'configure'). The platform address comes from --url, $DARWIN_URL or ~/.hermes/config.yaml (url: ...),
default ` + DefaultURL + `; requests go to <url>/ml-serve/api/v1/...`,
		Example: `  export HERMES_USER_TOKEN=` + DefaultToken + `
  hermes configure
  hermes create-environment --name local --domain-suffix .local --cluster-name kind
  hermes create-serve --name my-model --type api --space serve --description "My ML model"
  hermes deploy-model --serve-name my-model --artifact-version v1 --model-uri mlflow-artifacts:/1/abc/artifacts/model`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          groupRun,
	}
	root.SetFlagErrorFunc(flagError)
	f := root.PersistentFlags()
	f.StringVar(&g.url, "url", "", "Darwin platform base URL (env DARWIN_URL, then ~/.hermes/config.yaml; default "+DefaultURL+")")
	f.StringVarP(&g.output, "output", "o", "table", "output format: json, yaml or table")

	addNested(root, g)
	addFlat(root, g)
	prefix := "hermes"
	if use != "hermes" {
		prefix = "darwin " + use
	}
	walk(root, func(c *cobra.Command) {
		c.SetFlagErrorFunc(flagError)
		if prefix != "hermes" {
			c.Example = strings.ReplaceAll(c.Example, "  hermes ", "  "+prefix+" ")
		}
	})
	return root
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, s := range c.Commands() {
		walk(s, fn)
	}
}

func flagError(_ *cobra.Command, err error) error { return &usageError{err} }

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasAvailableSubCommands() {
			return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
		}
		return usagef("%s takes no arguments, got %q (use flags)", cmd.CommandPath(), args)
	}
	return nil
}

// groupRun prints the help of a command group run without a sub-command.
func groupRun(cmd *cobra.Command, _ []string) error { return cmd.Help() }

func group(use, short, example string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Example: example, Args: noArgs, RunE: groupRun}
}
