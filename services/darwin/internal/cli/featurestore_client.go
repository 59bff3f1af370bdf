package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Where the feature store is served below the platform URL (spec §5.7: darwin-local uses
// http://localhost/feature-store and http://localhost/feature-store-admin).
const (
	featureStoreAppPrefix   = "/feature-store"
	featureStoreAdminPrefix = "/feature-store-admin"
)

// Environment variables that point the feature-store commands at app and admin hosts of their own (the
// original deploys them as separate services); by default both hang off --url.
const (
	EnvFeatureStoreURL      = "DARWIN_FEATURE_STORE_URL"
	EnvFeatureStoreAdminURL = "DARWIN_FEATURE_STORE_ADMIN_URL"
)

// FeatureStoreError is an error reply of the feature store: the `{"error": {"message", "cause", "code"}}`
// envelope of the original ofs-app and ofs-admin, with the HTTP status.
type FeatureStoreError struct {
	Method     string
	Path       string
	StatusCode int
	Message    string
	Cause      string
	// Code is the original's error code, e.g. FEATURE-GROUP-NOT-FOUND-EXCEPTION; empty when the reply was not
	// an error envelope (a proxy's error page, say).
	Code string
}

func (e *FeatureStoreError) Error() string {
	msg := e.Message
	if e.Cause != "" && e.Cause != e.Message && !strings.Contains(e.Message, e.Cause) {
		msg += ": " + e.Cause
	}
	if e.Code != "" {
		msg += " [" + e.Code + "]"
	}
	return fmt.Sprintf("%s (HTTP %d from %s %s)", msg, e.StatusCode, e.Method, e.Path)
}

// fsClient calls the feature store's app (<url>/feature-store) and admin (<url>/feature-store-admin) APIs.
type fsClient struct {
	app, admin string // absolute base URLs without a trailing slash
	hc         *http.Client
}

// newFSClient derives the app and admin base URLs from the platform URL (any known service prefix on it is
// dropped), unless app or admin, when non-empty, name them outright.
func newFSClient(base, app, admin string, hc *http.Client) *fsClient {
	root := strings.TrimRight(strings.TrimSpace(base), "/")
	for _, suffix := range []string{"/compute", featureStoreAdminPrefix, featureStoreAppPrefix, mlflowAppPrefix} {
		root = strings.TrimSuffix(root, suffix)
	}
	c := &fsClient{app: root + featureStoreAppPrefix, admin: root + featureStoreAdminPrefix, hc: hc}
	if v := strings.TrimRight(strings.TrimSpace(app), "/"); v != "" {
		c.app = v
	}
	if v := strings.TrimRight(strings.TrimSpace(admin), "/"); v != "" {
		c.admin = v
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return c
}

// fsCall is one feature-store request.
type fsCall struct {
	admin   bool // admin API, else app API
	method  string
	path    string // below the prefix, e.g. /feature-group/schema
	query   url.Values
	body    any // JSON-encoded when non-nil (also on GET: read-features carries its request as a GET body)
	headers map[string]string
	// raw keeps a successful reply's body undecoded in Raw (a Parquet training set).
	raw bool
}

// do sends c and returns the reply's "data" as Data; a non-2xx reply is a *FeatureStoreError.
func (c *fsClient) do(ctx context.Context, call fsCall) (*response, error) {
	base, prefix := c.app, featureStoreAppPrefix
	if call.admin {
		base, prefix = c.admin, featureStoreAdminPrefix
	}
	req, err := newJSONRequest(ctx, call.method, base, call.path, call.query, call.body)
	if err != nil {
		return nil, err
	}
	u := req.URL.String()
	for k, v := range call.headers {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", call.method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("read %s %s response: %w", call.method, u, err)
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	if ok && call.raw {
		return &response{Status: resp.StatusCode, Raw: raw}, nil
	}
	decoded, derr := decodeJSON(raw)
	obj, _ := decoded.(map[string]any)
	if !ok {
		fe := &FeatureStoreError{Method: call.method, Path: prefix + call.path, StatusCode: resp.StatusCode}
		if env, ok := obj["error"].(map[string]any); ok && derr == nil {
			fe.Message, _ = env["message"].(string)
			fe.Cause, _ = env["cause"].(string)
			fe.Code, _ = env["code"].(string)
		}
		if fe.Message == "" {
			fe.Message = errorMessage(&response{}, decoded, raw, resp.Status)
		}
		return nil, fe
	}
	if derr != nil && len(bytes.TrimSpace(raw)) > 0 {
		return nil, fmt.Errorf("decode %s %s response: %w", call.method, u, derr)
	}
	out := &response{Status: resp.StatusCode, Raw: raw, Data: decoded}
	if d, ok := obj["data"]; ok {
		out.Data = d
	}
	return out, nil
}
