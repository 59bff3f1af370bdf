// Package health runs readiness checks and serves /healthz (liveness) and /readyz (readiness).
//
// /healthz always answers 200 {"status":"ok"} while the process serves HTTP. /readyz runs every check
// concurrently, each bounded by the checker's timeout, and answers 200 {"status":"ready","checks":{...}} or
// 503 {"status":"not ready","checks":{name:"ok"|error text}}.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// DefaultTimeout bounds each check.
const DefaultTimeout = 5 * time.Second

// Checker holds named readiness checks. Safe for concurrent use.
type Checker struct {
	mu      sync.RWMutex
	checks  map[string]func(ctx context.Context) error
	timeout time.Duration
}

// New returns a checker with no checks (always ready).
func New() *Checker {
	return &Checker{checks: map[string]func(ctx context.Context) error{}, timeout: DefaultTimeout}
}

// SetTimeout changes the per-check timeout.
func (c *Checker) SetTimeout(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timeout = d
}

// Add registers (or replaces) a readiness check.
func (c *Checker) Add(name string, check func(ctx context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks[name] = check
}

// Remove drops a check (e.g. when a module stops).
func (c *Checker) Remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.checks, name)
}

// Ready runs every check and returns each one's result (nil = ok).
func (c *Checker) Ready(ctx context.Context) map[string]error {
	c.mu.RLock()
	checks := maps.Clone(c.checks)
	timeout := c.timeout
	c.mu.RUnlock()

	out := make(map[string]error, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Go(func() {
			err := runCheck(ctx, timeout, check)
			mu.Lock()
			out[name] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func runCheck(ctx context.Context, timeout time.Duration, check func(ctx context.Context) error) (err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("check panicked: %v", r)
			}
		}()
		done <- check(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("check timed out: %w", ctx.Err())
	}
}

// LiveHandler answers 200 {"status":"ok"}.
func (c *Checker) LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
}

// ReadyHandler answers 200 when every check passes and 503 otherwise, with per-check state.
func (c *Checker) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results := c.Ready(r.Context())
		checks := make(map[string]string, len(results))
		var failing []string
		for name, err := range results {
			if err != nil {
				checks[name] = err.Error()
				failing = append(failing, name)
				continue
			}
			checks[name] = "ok"
		}
		if len(failing) > 0 {
			slices.Sort(failing)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "checks": checks, "failing": failing})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
