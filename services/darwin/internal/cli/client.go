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

const maxResponseBytes = 32 << 20

// client is a thin REST client for the compute API mounted at <base>/compute.
type client struct {
	base string // e.g. http://localhost:8080/compute
	hc   *http.Client
}

func newClient(base string, hc *http.Client) *client {
	base = strings.TrimRight(base, "/")
	if !strings.HasSuffix(base, "/compute") {
		base += "/compute"
	}
	return &client{base: base, hc: hc}
}

// request describes one REST call.
type request struct {
	method string
	path   string // below /compute, e.g. /cluster/id-1
	query  url.Values
	body   any    // JSON-encoded when non-nil
	user   string // sent as msd-user when non-empty
}

// response is a decoded reply: the envelope's message and data (or, for a
// body that is not an envelope, the whole body as data).
type response struct {
	Status  int
	Message string
	Data    any
	Raw     []byte
}

// APIError is a non-2xx reply. Its text is the envelope message, which is what
// the user needs to see.
type APIError struct {
	Method     string
	Path       string
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d from %s %s)", e.Message, e.StatusCode, e.Method, e.Path)
}

func msdUser(email string) string {
	b, err := json.Marshal(email)
	if err != nil { // a string always marshals
		b = []byte(`""`)
	}
	return `{"email": ` + string(b) + `}`
}

// newJSONRequest builds a CLI request to base+path?query with body (when non-nil) encoded as JSON.
func newJSONRequest(ctx context.Context, method, base, path string, query url.Values, body any) (*http.Request, error) {
	u := base + path
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
	return req, nil
}

func (c *client) do(ctx context.Context, r request) (*response, error) {
	req, err := newJSONRequest(ctx, r.method, c.base, r.path, r.query, r.body)
	if err != nil {
		return nil, err
	}
	u := req.URL.String()
	if r.user != "" {
		req.Header.Set("msd-user", msdUser(r.user))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("read %s %s response: %w", r.method, u, err)
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
		return nil, &APIError{
			Method:     r.method,
			Path:       "/compute" + r.path,
			StatusCode: resp.StatusCode,
			Message:    errorMessage(out, decoded, raw, resp.Status),
		}
	}
	if derr != nil && len(bytes.TrimSpace(raw)) > 0 {
		return nil, fmt.Errorf("decode %s %s response: %w", r.method, u, derr)
	}
	return out, nil
}

// errorMessage picks the most useful text of an error reply: the envelope
// message, a cluster-manager style "error", or the raw body.
func errorMessage(out *response, decoded any, raw []byte, status string) string {
	if out.Message != "" {
		return out.Message
	}
	if obj, ok := decoded.(map[string]any); ok {
		for _, k := range []string{"message", "error", "detail"} {
			if v, ok := obj[k]; ok && v != nil {
				if s, ok := v.(string); ok {
					return s
				}
				b, _ := json.Marshal(v)
				return string(b)
			}
		}
	}
	if s := strings.TrimSpace(string(raw)); s != "" {
		const limit = 500
		if len(s) > limit {
			s = s[:limit] + "…"
		}
		return s
	}
	return status
}

// decodeJSON decodes JSON keeping integers as int64 (so YAML and tables show
// 4, not 4.0 or "4").
func decodeJSON(raw []byte) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return normalizeNumbers(v), nil
}

func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalizeNumbers(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = normalizeNumbers(x)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return t.String()
	default:
		return v
	}
}
