// Package envelopetest drives compute handlers in tests and decodes their envelopes.
package envelopetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Response is a decoded envelope with its HTTP status.
type Response struct {
	Code    int
	Status  string
	Message string
	Data    json.RawMessage
	// Field is data.field of an ERROR envelope ("" when absent).
	Field string
}

// Do sends one request to h and decodes the envelope, failing the test when the body is not one.
func Do(t testing.TB, h http.Handler, method, path, body string, header map[string]string) Response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env struct {
		Status  string          `json:"status"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%s %s: body %q is not an envelope: %v", method, path, rec.Body.String(), err)
	}
	out := Response{Code: rec.Code, Status: env.Status, Message: env.Message, Data: env.Data}
	if env.Status == "ERROR" {
		var d struct {
			Field string `json:"field"`
		}
		_ = json.Unmarshal(env.Data, &d)
		out.Field = d.Field
	}
	return out
}
