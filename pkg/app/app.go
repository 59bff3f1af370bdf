// Package app is a small module manager in the style of Grafana Mimir's modules: each component registers a
// Module with its dependencies; Resolve expands targets ("all" or names) into a dependency-ordered list; Start
// starts modules in that order and Stop stops them in reverse.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/darwinml/darwin/pkg/config"
	"github.com/darwinml/darwin/pkg/log"
)

// All is the target that selects every registered module.
const All = "all"

// Module is one startable component. Start must return once the module runs (loops go in goroutines);
// Stop undoes Start. Either may be nil.
type Module struct {
	Name  string
	Deps  []string
	Start func(ctx context.Context) error
	Stop  func(ctx context.Context) error
}

// Manager starts and stops modules in dependency order. Safe for concurrent use.
type Manager struct {
	logger  *slog.Logger
	mu      sync.Mutex
	modules map[string]Module
	order   []string // registration order, for deterministic resolution
	started []string // modules started by Start, in start order
}

// NewManager returns an empty manager.
func NewManager(logger *slog.Logger) *Manager {
	return &Manager{logger: log.OrDiscard(logger), modules: map[string]Module{}}
}

// Register adds (or replaces) a module.
func (m *Manager) Register(mod Module) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.modules[mod.Name]; !ok {
		m.order = append(m.order, mod.Name)
	}
	m.modules[mod.Name] = mod
}

// Names returns the registered module names in registration order.
func (m *Manager) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.order)
}

// Resolve expands targets — "all", module names, or comma-separated lists of them — into the targets plus
// their transitive dependencies, ordered so every module comes after its dependencies. Unknown modules and
// dependency cycles are errors.
func (m *Manager) Resolve(targets []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var want []string
	for _, t := range targets {
		for name := range strings.SplitSeq(t, ",") {
			name = strings.TrimSpace(name)
			switch name {
			case "":
			case All:
				want = append(want, m.order...)
			default:
				want = append(want, name)
			}
		}
	}
	if len(want) == 0 {
		return nil, errors.New("no modules selected")
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var out []string
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(path, name), " -> "))
		}
		mod, ok := m.modules[name]
		if !ok {
			if len(path) > 0 {
				return fmt.Errorf("unknown module %q (dependency of %q)", name, path[len(path)-1])
			}
			return fmt.Errorf("unknown module %q (known: %s)", name, strings.Join(m.order, ", "))
		}
		state[name] = visiting
		for _, dep := range mod.Deps {
			if err := visit(dep, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = done
		out = append(out, name)
		return nil
	}
	for _, name := range want {
		if err := visit(name, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Start resolves targets and starts the modules in order. If one fails, the modules already started are
// stopped in reverse order and the start error is returned.
func (m *Manager) Start(ctx context.Context, targets []string) error {
	names, err := m.Resolve(targets)
	if err != nil {
		return err
	}
	for _, name := range names {
		m.mu.Lock()
		mod := m.modules[name]
		m.mu.Unlock()
		if mod.Start != nil {
			m.logger.Info("starting module", "module", name)
			if err := mod.Start(ctx); err != nil {
				startErr := fmt.Errorf("start module %s: %w", name, err)
				if stopErr := m.Stop(context.WithoutCancel(ctx)); stopErr != nil {
					return errors.Join(startErr, stopErr)
				}
				return startErr
			}
		}
		m.mu.Lock()
		m.started = append(m.started, name)
		m.mu.Unlock()
	}
	return nil
}

// Stop stops the started modules in reverse start order, continuing past failures and returning them all.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	started := m.started
	m.started = nil
	m.mu.Unlock()
	var errs []error
	for i := len(started) - 1; i >= 0; i-- {
		name := started[i]
		m.mu.Lock()
		mod := m.modules[name]
		m.mu.Unlock()
		if mod.Stop == nil {
			continue
		}
		m.logger.Info("stopping module", "module", name)
		if err := mod.Stop(ctx); err != nil {
			m.logger.Error("stop module", "module", name, "err", err)
			errs = append(errs, fmt.Errorf("stop module %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// RunOptions tune Run.
type RunOptions struct {
	// Failed, when it delivers an error (a listener that stopped serving), ends the run like ctx does.
	Failed <-chan error
	// ShutdownTimeout bounds Stop; 0 leaves it unbounded.
	ShutdownTimeout time.Duration
	// Started is called once every target has started.
	Started func()
}

// Run starts targets, blocks until ctx is done or opts.Failed delivers an error, then stops everything in
// reverse order with a context that is no longer cancelled (bounded by opts.ShutdownTimeout). It returns the
// start error, or the failure joined with the stop errors.
func (m *Manager) Run(ctx context.Context, targets []string, opts RunOptions) error {
	if err := m.Start(ctx, targets); err != nil {
		return err
	}
	if opts.Started != nil {
		opts.Started()
	}
	var failure error
	select {
	case <-ctx.Done():
	case failure = <-opts.Failed:
		m.logger.Error("module failed, shutting down", "err", failure)
	}
	stopCtx := context.WithoutCancel(ctx)
	if opts.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		stopCtx, cancel = context.WithTimeout(stopCtx, opts.ShutdownTimeout)
		defer cancel()
	}
	return errors.Join(failure, m.Stop(stopCtx))
}

// Main is a binary's main: it runs run with the command-line arguments and a context cancelled by SIGINT or
// SIGTERM, treats -help and -print.config as success, and exits 1 with "<name>: <err>" on any other error.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.Is(err, config.ErrPrinted) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Healthcheck is the binaries' `healthcheck [URL]` subcommand, for container health checks in images that
// have no shell or curl: it GETs url (default defaultURL, e.g. http://127.0.0.1:8000/healthz) with a short
// timeout and fails unless the answer is 2xx.
func Healthcheck(ctx context.Context, args []string, defaultURL string, out io.Writer) error {
	url := defaultURL
	if len(args) > 0 && args[0] != "" {
		url = args[0]
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("healthcheck %s: status %d", url, resp.StatusCode)
	}
	fmt.Fprintf(out, "healthy: %s\n", url)
	return nil
}
