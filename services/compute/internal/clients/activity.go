package clients

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/darwinml/darwin/services/compute/internal/domain"
)

// HTTPActivity implements domain.ActivityProbe against a head's Ray-Jobs-compatible API and Jupyter API.
type HTTPActivity struct {
	Client  *http.Client
	Timeout time.Duration // per request (default 3s)
}

var _ domain.ActivityProbe = (*HTTPActivity)(nil)

// NewHTTPActivity returns a probe with a bounded HTTP client.
func NewHTTPActivity(timeout time.Duration) *HTTPActivity {
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	return &HTTPActivity{Client: &http.Client{Timeout: timeout}, Timeout: timeout}
}

func join(base, path string) string { return strings.TrimRight(base, "/") + "/" + path }

func (a *HTTPActivity) get(ctx context.Context, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("get %s: status %d", url, resp.StatusCode)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	return nil
}

// JupyterUp reports whether the Jupyter server answers api/status.
func (a *HTTPActivity) JupyterUp(ctx context.Context, jupyterURL string) bool {
	if jupyterURL == "" {
		return false
	}
	return a.get(ctx, join(jupyterURL, "api/status"), nil) == nil
}

// RayJobRunning reports whether any job listed by api/jobs/ is RUNNING.
func (a *HTTPActivity) RayJobRunning(ctx context.Context, dashboardURL string) (bool, error) {
	var jobs []struct {
		Status string `json:"status"`
	}
	if err := a.get(ctx, join(dashboardURL, "api/jobs/"), &jobs); err != nil {
		return false, err
	}
	for _, j := range jobs {
		if strings.EqualFold(j.Status, "RUNNING") {
			return true, nil
		}
	}
	return false, nil
}

type jupyterItem struct {
	ExecutionState string    `json:"execution_state"`
	LastActivity   time.Time `json:"last_activity"`
}

// JupyterActive reports a busy kernel or kernel/terminal activity since `since`.
func (a *HTTPActivity) JupyterActive(ctx context.Context, jupyterURL string, since time.Time, kernels, terminals bool) (bool, error) {
	if kernels {
		var ks []jupyterItem
		if err := a.get(ctx, join(jupyterURL, "api/kernels"), &ks); err != nil {
			return false, err
		}
		for _, k := range ks {
			if k.ExecutionState == "busy" || !k.LastActivity.Before(since) {
				return true, nil
			}
		}
	}
	if terminals {
		var ts []jupyterItem
		if err := a.get(ctx, join(jupyterURL, "api/terminals"), &ts); err != nil {
			return false, err
		}
		for _, t := range ts {
			if !t.LastActivity.Before(since) {
				return true, nil
			}
		}
	}
	return false, nil
}

// CPUUsage reads nodes?view=summary: {"data":{"summary":[{"raylet":{"isHeadNode":bool},"cpu":pct}]}}.
func (a *HTTPActivity) CPUUsage(ctx context.Context, dashboardURL string) (float64, []float64, error) {
	var body struct {
		Data struct {
			Summary []struct {
				CPU    float64 `json:"cpu"`
				Raylet struct {
					IsHeadNode bool `json:"isHeadNode"`
				} `json:"raylet"`
			} `json:"summary"`
		} `json:"data"`
	}
	if err := a.get(ctx, join(dashboardURL, "nodes?view=summary"), &body); err != nil {
		return 0, nil, err
	}
	var head float64
	var workers []float64
	for _, n := range body.Data.Summary {
		if n.Raylet.IsHeadNode {
			head = n.CPU
		} else {
			workers = append(workers, n.CPU)
		}
	}
	return head, workers, nil
}
