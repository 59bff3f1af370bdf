package hermes

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

const maxResponseBytes = 16 << 20

// client calls ml-serve at <base>/ml-serve/api/v1 with a bearer token.
type client struct {
	base  string // e.g. http://localhost:8080/ml-serve/api/v1
	token string
	hc    *http.Client
}

func newClient(base, token string, hc *http.Client) *client {
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, "/api/v1")
	if !strings.HasSuffix(base, "/ml-serve") {
		base += "/ml-serve"
	}
	return &client{base: base + "/api/v1", token: token, hc: hc}
}

// reply is a decoded answer: the envelope's message and data, or the whole body as data when it is not an
// envelope (GET /environment/{name}, POST /serve/deploy-model).
type reply struct {
	Status  int
	Message string
	Data    any
}

// APIError is a non-2xx answer; its text is the server's message.
type APIError struct {
	Method, Path string
	StatusCode   int
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d from %s %s)", e.Message, e.StatusCode, e.Method, e.Path)
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

func (c *client) do(ctx context.Context, method, path string, query url.Values, body any) (*reply, error) {
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
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hermes-go")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("read %s %s response: %w", method, u, err)
	}
	decoded, derr := decodeJSON(raw)
	out := &reply{Status: resp.StatusCode}
	obj, isObj := decoded.(map[string]any)
	envelope := false
	if isObj {
		if s, ok := obj["status"].(string); ok && (s == "SUCCESS" || s == "ERROR") {
			envelope = true
		}
	}
	if envelope {
		out.Message = messageText(obj["message"])
		out.Data = obj["data"]
	} else {
		out.Data = decoded
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &APIError{Method: method, Path: "/ml-serve/api/v1" + path, StatusCode: resp.StatusCode, Message: errorText(obj, raw, resp.Status)}
	}
	if derr != nil {
		return nil, fmt.Errorf("decode %s %s response: %w", method, u, derr)
	}
	return out, nil
}

// messageText renders an envelope message, which validation errors send as a list.
func messageText(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}

// errorText picks the server's explanation: message (+ error and hint for an invalid model URI), detail, or
// the raw body.
func errorText(obj map[string]any, raw []byte, status string) string {
	if obj != nil {
		parts := []string{}
		for _, k := range []string{"message", "detail", "error"} {
			if s := messageText(obj[k]); s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			msg := strings.Join(parts, ": ")
			if d, ok := obj["data"].(map[string]any); ok {
				if f, ok := d["field"].(string); ok && f != "" && !strings.Contains(msg, f) {
					msg += " (field " + f + ")"
				}
			}
			if h := messageText(obj["hint"]); h != "" {
				msg += " (hint: " + h + ")"
			}
			return msg
		}
	}
	if s := strings.TrimSpace(string(raw)); s != "" {
		if len(s) > 500 {
			s = s[:500] + "…"
		}
		return s
	}
	return status
}

// decodeJSON decodes a body keeping integers as int64.
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
	return normalize(v), nil
}

func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return t.String()
	}
	return v
}
