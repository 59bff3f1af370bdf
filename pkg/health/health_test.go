package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestReadyHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		checks   map[string]func(context.Context) error
		wantCode int
		want     map[string]string
	}{
		{"no checks", nil, http.StatusOK, map[string]string{}},
		{"all ok", map[string]func(context.Context) error{"db": func(context.Context) error { return nil }}, http.StatusOK, map[string]string{"db": "ok"}},
		{"one fails", map[string]func(context.Context) error{
			"db":  func(context.Context) error { return nil },
			"bus": func(context.Context) error { return errors.New("down") },
		}, http.StatusServiceUnavailable, map[string]string{"db": "ok", "bus": "down"}},
		{"timeout", map[string]func(context.Context) error{
			"slow": func(ctx context.Context) error { <-ctx.Done(); time.Sleep(time.Second); return nil },
		}, http.StatusServiceUnavailable, map[string]string{"slow": "check timed out: context deadline exceeded"}},
		{"panic", map[string]func(context.Context) error{"bad": func(context.Context) error { panic("x") }},
			http.StatusServiceUnavailable, map[string]string{"bad": "check panicked: x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New()
			c.SetTimeout(50 * time.Millisecond)
			for n, f := range tt.checks {
				c.Add(n, f)
			}
			rec := httptest.NewRecorder()
			c.ReadyHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tt.wantCode {
				t.Fatalf("code = %d", rec.Code)
			}
			var body struct {
				Status string            `json:"status"`
				Checks map[string]string `json:"checks"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			wantStatus := "ready"
			if tt.wantCode != http.StatusOK {
				wantStatus = "not ready"
			}
			if body.Status != wantStatus || len(body.Checks) != len(tt.want) {
				t.Fatalf("body = %+v", body)
			}
			for k, v := range tt.want {
				if body.Checks[k] != v {
					t.Errorf("check %s = %q, want %q", k, body.Checks[k], v)
				}
			}
		})
	}
}

func TestLiveAndRemove(t *testing.T) {
	t.Parallel()
	c := New()
	c.Add("x", func(context.Context) error { return errors.New("bad") })
	c.Remove("x")
	if len(c.Ready(t.Context())) != 0 {
		t.Fatal("Remove did not remove")
	}
	rec := httptest.NewRecorder()
	c.LiveHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != "{\"status\":\"ok\"}\n" {
		t.Fatalf("live = %d %q", rec.Code, rec.Body.String())
	}
}
