package hermes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// waitReady polls GET /serve/{name}/status/{env} until READY, printing one line per status change on stderr.
// 4xx answers end the wait with that error; network errors and 5xx are retried until the timeout.
func (s *session) waitReady(ctx context.Context, serve, env string, timeout time.Duration) error {
	g := s.g
	start := g.now()
	elapsed := func() string { return fmt.Sprintf("%.1fs", g.now().Sub(start).Seconds()) }
	fmt.Fprintf(s.err, "waiting for serve %q in %q to become READY (timeout %s)\n", serve, env, timeout)
	last, lastErr := "", ""
	for {
		r, err := s.api.do(ctx, http.MethodGet, "/serve/"+seg(serve)+"/status/"+seg(env), nil, nil)
		if err != nil {
			var apiErr *APIError
			if errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 {
				return fmt.Errorf("wait for serve %q in %q: %w", serve, env, err)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("wait for serve %q in %q: %w", serve, env, ctx.Err())
			}
			if msg := err.Error(); msg != lastErr {
				fmt.Fprintf(s.err, "[%6s] status check failed (retrying): %s\n", elapsed(), msg)
				lastErr = msg
			}
		} else {
			lastErr = ""
			st := str(mapOf(r.Data), "status")
			if st == "" {
				st = "UNKNOWN"
			}
			if st != last {
				fmt.Fprintf(s.err, "[%6s] %s\n", elapsed(), st)
				last = st
			}
			if st == "READY" {
				fmt.Fprintf(s.err, "serve %q is READY in %q (%s)\n", serve, env, elapsed())
				return nil
			}
		}
		if g.now().Sub(start) >= timeout {
			if last == "" {
				last = "unknown"
			}
			return fmt.Errorf("serve %q in %q is not READY after %s (last status %s); check it with: hermes status --name %s --env %s", serve, env, timeout, last, serve, env)
		}
		if err := g.sleep(ctx, g.pollInterval()); err != nil {
			return fmt.Errorf("wait for serve %q in %q: %w", serve, env, err)
		}
	}
}
