package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// mlflowAppPrefix is where `darwin up` serves the MLflow app layer.
const mlflowAppPrefix = "/mlflow-app"

// mlflowClient talks to the MLflow app layer at <base>/mlflow-app, sending the caller as the `email` header
// (the original darwin_mlflow app layer's identity header).
type mlflowClient struct {
	base  string // e.g. http://localhost:8080/mlflow-app
	hc    *http.Client
	email string
}

func newMLflowClient(base string, hc *http.Client, email string) *mlflowClient {
	base = strings.TrimRight(strings.TrimSpace(base), "/")
	base = strings.TrimSuffix(base, "/compute")
	if !strings.HasSuffix(base, mlflowAppPrefix) {
		base += mlflowAppPrefix
	}
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return &mlflowClient{base: base, hc: hc, email: email}
}

// do sends one call. The reply's "data" (or, for replies without one, the whole object) becomes Data and
// "message" becomes Message; a non-2xx reply is an *APIError carrying FastAPI's "detail".
func (c *mlflowClient) do(ctx context.Context, method, path string, query url.Values, body any) (*response, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, u, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "darwin-cli")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("email", c.email)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("read %s %s response: %w", method, u, err)
	}
	out := &response{Status: resp.StatusCode, Raw: raw}
	decoded, derr := decodeJSON(raw)
	if obj, ok := decoded.(map[string]any); ok && derr == nil {
		if m, ok := obj["message"].(string); ok {
			out.Message = m
		}
		if d, ok := obj["data"]; ok {
			out.Data = d
		} else {
			out.Data = obj
		}
	} else if derr == nil {
		out.Data = decoded
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &APIError{Method: method, Path: mlflowAppPrefix + path, StatusCode: resp.StatusCode,
			Message: errorMessage(&response{}, decoded, raw, resp.Status)}
	}
	if derr != nil && len(bytes.TrimSpace(raw)) > 0 {
		return nil, fmt.Errorf("decode %s %s response: %w", method, u, derr)
	}
	return out, nil
}
