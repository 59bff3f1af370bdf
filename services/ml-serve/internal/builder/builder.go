// Package builder drives image builds for ml-serve's artifacts: the Poller takes PENDING artifact-builder jobs,
// submits them to the artifact-builder service and follows them until they complete (an artifact row with the
// image is recorded) or fail, as the original ml-serve's 2-second poller did.
package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Build states reported by the artifact-builder service.
const (
	StateWaiting   = "waiting"
	StateRunning   = "running"
	StateCompleted = "completed"
	StateFailed    = "failed"
)

// Request is one image build from a git repository.
type Request struct {
	AppName  string // the serve name
	ImageTag string // "<serve>_<version>"
	GitRepo  string
	Branch   string
	AppDir   string // the job's file path (the directory holding the Dockerfile), optional
}

// Client is the artifact-builder service as the poller needs it.
type Client interface {
	// Submit queues a build and returns its task id.
	Submit(ctx context.Context, r Request) (string, error)
	// State returns the build's state (StateWaiting, StateRunning, StateCompleted or StateFailed) and, once
	// completed, the image it pushed when the builder reports one.
	State(ctx context.Context, taskID string) (state, image string, err error)
}

// HTTP is the Client over the artifact-builder REST API (spec §4): POST /build_with_dockerfile (multipart form)
// and GET /task/status?task_id=.
type HTTP struct {
	BaseURL string // e.g. http://localhost:8080/artifact-builder
	Client  *http.Client
}

type envelope struct {
	Status      string `json:"status"`
	TaskID      string `json:"task_id"`
	BuildStatus string `json:"build_status"`
	ImageURL    string `json:"image_url"`
	Message     string `json:"message"`
}

func (h *HTTP) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (h *HTTP) do(req *http.Request) (envelope, error) {
	var env envelope
	resp, err := h.client().Do(req)
	if err != nil {
		return env, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return env, err
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return env, fmt.Errorf("artifact-builder %s: HTTP %d, unreadable body %q", req.URL.Path, resp.StatusCode, truncate(string(body)))
	}
	if resp.StatusCode != http.StatusOK || env.Status != "SUCCESS" {
		return env, fmt.Errorf("artifact-builder %s: HTTP %d: %s", req.URL.Path, resp.StatusCode, orStr(env.Message, truncate(string(body))))
	}
	return env, nil
}

// Submit implements Client.
func (h *HTTP) Submit(ctx context.Context, r Request) (string, error) {
	form := url.Values{"app_name": {r.AppName}, "image_tag": {r.ImageTag}, "git_repo": {r.GitRepo}}
	if r.Branch != "" {
		form.Set("branch", r.Branch)
	}
	if r.AppDir != "" {
		form.Set("app_dir", r.AppDir)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(h.BaseURL, "/")+"/build_with_dockerfile", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	env, err := h.do(req)
	if err != nil {
		return "", err
	}
	if env.TaskID == "" {
		return "", fmt.Errorf("artifact-builder accepted the build but returned no task_id")
	}
	return env.TaskID, nil
}

// State implements Client.
func (h *HTTP) State(ctx context.Context, taskID string) (string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(h.BaseURL, "/")+"/task/status?task_id="+url.QueryEscape(taskID), nil)
	if err != nil {
		return "", "", err
	}
	env, err := h.do(req)
	if err != nil {
		return "", "", err
	}
	switch env.BuildStatus {
	case StateWaiting, StateRunning, StateCompleted, StateFailed:
		return env.BuildStatus, env.ImageURL, nil
	}
	return "", "", fmt.Errorf("artifact-builder reported unknown build status %q for task %s", env.BuildStatus, taskID)
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func orStr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
