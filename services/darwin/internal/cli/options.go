// Package cli implements the `darwin compute ...` command tree. It talks to the
// platform only over the compute REST API (the same calls the original Python
// SDK `darwin_compute` makes), never by importing the services.
package cli

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Defaults shared by the flags and by GlobalOptions left zero.
const (
	DefaultBaseURL      = "http://localhost:8080"
	DefaultUser         = "sdk"
	DefaultOutput       = outputTable
	DefaultPollInterval = time.Second
	defaultHTTPTimeout  = 60 * time.Second // the SDK allows 60 s per call
)

// Output formats accepted by -o/--output.
const (
	outputJSON  = "json"
	outputYAML  = "yaml"
	outputTable = "table"
)

// Clock is the part of pkg/clock.Clock the CLI needs (pkg/clock.Clock satisfies
// it), so --wait can be driven by a fake clock in tests.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// GlobalOptions carries the persistent flags and the injected dependencies of
// every compute command. Zero fields fall back to defaults at run time.
type GlobalOptions struct {
	// BaseURL is the platform address (`--url`); "/compute" is appended unless
	// it already ends with it.
	BaseURL string
	// Output is json, yaml or table (`-o`).
	Output string
	// Out and Err default to the command's stdout/stderr.
	Out, Err io.Writer
	// HTTPClient defaults to a client with a 60 s timeout.
	HTTPClient *http.Client
	// User is the identity sent as `msd-user: {"email": ...}` and the
	// default `user` of created clusters.
	User string

	// Clock drives --wait polling; nil means the real clock.
	Clock Clock
	// PollInterval between status polls for --wait; zero means 1 s.
	PollInterval time.Duration
}

// AddGlobalFlags registers the persistent flags --url, -o/--output and --user
// on cmd (normally the root `darwin` command). DARWIN_URL and DARWIN_USER
// override the built-in defaults.
func AddGlobalFlags(cmd *cobra.Command, opts *GlobalOptions) {
	addGlobalFlags(cmd, opts, os.Getenv)
}

func addGlobalFlags(cmd *cobra.Command, opts *GlobalOptions, getenv func(string) string) {
	url := DefaultBaseURL
	if v := getenv("DARWIN_URL"); v != "" {
		url = v
	}
	user := DefaultUser
	if v := getenv("DARWIN_USER"); v != "" {
		user = v
	}
	f := cmd.PersistentFlags()
	f.StringVar(&opts.BaseURL, "url", url, "Darwin platform base URL (env DARWIN_URL)")
	f.StringVarP(&opts.Output, "output", "o", DefaultOutput, "output format: json, yaml or table")
	f.StringVar(&opts.User, "user", user, `user (email) sent as the msd-user header and as the cluster owner (env DARWIN_USER)`)
}

// env is the resolved per-invocation environment of a command.
type env struct {
	out, err io.Writer
	output   string
	user     string
	api      *client
	clock    Clock
	interval time.Duration
}

func (o *GlobalOptions) resolve(cmd *cobra.Command) (*env, error) {
	output := strings.ToLower(strings.TrimSpace(o.Output))
	if output == "" {
		output = DefaultOutput
	}
	switch output {
	case outputJSON, outputYAML, outputTable:
	default:
		return nil, fmt.Errorf("invalid --output %q: want json, yaml or table", o.Output)
	}
	base := strings.TrimSpace(o.BaseURL)
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("invalid --url %q: want http:// or https://", o.BaseURL)
	}
	user := strings.TrimSpace(o.User)
	if user == "" {
		user = DefaultUser
	}
	e := &env{
		out:      o.Out,
		err:      o.Err,
		output:   output,
		user:     user,
		clock:    o.Clock,
		interval: o.PollInterval,
	}
	if e.out == nil {
		e.out = cmd.OutOrStdout()
	}
	if e.err == nil {
		e.err = cmd.ErrOrStderr()
	}
	if e.clock == nil {
		e.clock = realClock{}
	}
	if e.interval <= 0 {
		e.interval = DefaultPollInterval
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	e.api = newClient(base, hc)
	return e, nil
}
