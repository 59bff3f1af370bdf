package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	statusActive   = "active"
	statusInactive = "inactive"
)

// waitSpec says what --wait waits for.
type waitSpec struct {
	clusterID string
	target    string // active or inactive
	timeout   time.Duration
	// needChange requires seeing a status other than target (or a run id
	// different from prevRunID) before target counts, for restart where the
	// cluster is still `active` right after the request.
	needChange bool
	prevRunID  string
}

type clusterState struct {
	status string
	runID  string
}

func getState(ctx context.Context, e *env, id string) (clusterState, error) {
	resp, err := e.api.do(ctx, request{method: http.MethodGet, path: "/cluster/" + url.PathEscape(id) + "/metadata"})
	if err != nil {
		return clusterState{}, err
	}
	obj, _ := resp.Data.(map[string]any)
	st := clusterState{}
	st.status, _ = lookup(obj, "status").(string)
	st.runID, _ = lookup(obj, "active_cluster_runid", "active_run_id").(string)
	return st, nil
}

// waitFor polls the cluster metadata until the target status, printing one
// line per status change to e.err (no spinner, so it reads the same in a log
// file as on a terminal).
func waitFor(ctx context.Context, e *env, w waitSpec) error {
	start := e.clock.Now()
	elapsed := func() string { return fmt.Sprintf("%.1fs", e.clock.Now().Sub(start).Seconds()) }
	fmt.Fprintf(e.err, "waiting for cluster %s to become %s (timeout %s)\n", w.clusterID, w.target, w.timeout)

	var (
		path      []string
		last      string
		lastErr   string
		sawOther  bool
		runChange bool
	)
	for {
		st, err := getState(ctx, e, w.clusterID)
		switch {
		case err != nil:
			var apiErr *APIError
			if errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 {
				return fmt.Errorf("wait for cluster %s: %w", w.clusterID, err)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("wait for cluster %s: %w", w.clusterID, ctx.Err())
			}
			if msg := err.Error(); msg != lastErr {
				fmt.Fprintf(e.err, "[%6s] poll error (retrying): %s\n", elapsed(), msg)
				lastErr = msg
			}
		case st.status == "":
			return fmt.Errorf("wait for cluster %s: metadata has no status", w.clusterID)
		default:
			lastErr = ""
			if st.status != last {
				if last == "" {
					fmt.Fprintf(e.err, "[%6s] %s\n", elapsed(), st.status)
				} else {
					fmt.Fprintf(e.err, "[%6s] %s → %s\n", elapsed(), last, st.status)
				}
				path = append(path, st.status)
				last = st.status
			}
			if st.status != w.target {
				sawOther = true
			}
			if w.prevRunID != "" && st.runID != "" && st.runID != w.prevRunID {
				runChange = true
			}
			if st.status == w.target && (!w.needChange || sawOther || runChange) {
				fmt.Fprintf(e.err, "cluster %s is %s: %s (%s)\n", w.clusterID, w.target, strings.Join(path, " → "), elapsed())
				return nil
			}
			if w.target == statusActive && st.status == statusInactive && sawOther && len(path) > 1 {
				return fmt.Errorf("wait for cluster %s: it became inactive before reaching active (%s)", w.clusterID, strings.Join(path, " → "))
			}
		}
		if e.clock.Now().Sub(start) >= w.timeout {
			lastSeen := last
			if lastSeen == "" {
				lastSeen = "unknown"
			}
			return fmt.Errorf("wait for cluster %s: timed out after %s waiting for %s (last status %s)", w.clusterID, w.timeout, w.target, lastSeen)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for cluster %s: %w", w.clusterID, ctx.Err())
		case <-e.clock.After(e.interval):
		}
	}
}
