package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/pkg/metrics"
)

// RequestIDHeader carries the request id on HTTP; gRPC uses the lower-case metadata key.
const (
	RequestIDHeader   = "X-Request-ID"
	RequestIDMetadata = "x-request-id"
)

type requestIDKey struct{}

// RequestID returns the request id stored in ctx by the HTTP or gRPC middleware, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithRequestID stores id in ctx (outgoing gRPC calls made with DialLoopback clients forward it).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// NewRequestID returns a fresh request id.
func NewRequestID() string { return uuid.NewString() }

// validRequestID accepts caller-supplied ids that are short and printable, so they are safe to log and echo.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func requestIDMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = NewRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(WithRequestID(r.Context(), id)))
	})
}

// WriteJSON writes v as JSON with the given status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// internalErrorBody is the body written when a handler panics.
var internalErrorBody = map[string]string{"status": "ERROR", "message": "internal server error"}

func recoverMiddleware(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				rec := recover()
				if rec == nil {
					return
				}
				if rec == http.ErrAbortHandler { //nolint:errorlint // sentinel compared by identity, as net/http does
					panic(rec)
				}
				logger.Error("http handler panic", "method", r.Method, "path", r.URL.Path,
					"request_id", RequestID(r.Context()), "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
				if ww, ok := w.(middleware.WrapResponseWriter); ok && ww.Status() != 0 {
					return // headers already sent; nothing sensible left to write
				}
				WriteJSON(w, http.StatusInternalServerError, internalErrorBody)
			}()
			next.ServeHTTP(w, r)
		})
	}
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	return &httpMetrics{
		requests: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "darwin_http_requests_total",
			Help: "HTTP requests by service (first route segment), method, route pattern and status code.",
		}, []string{"service", "method", "route", "code"})),
		duration: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "darwin_http_request_duration_seconds",
			Help:    "HTTP request latency by service, method and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"service", "method", "route"})),
	}
}

// routeLabels returns bounded labels for a request: the chi route pattern (or "unmatched") and its first
// segment as the service.
func routeLabels(r *http.Request) (service, route string) {
	route = "unmatched"
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" && p != "/*" {
			route = p
		}
	}
	if route != "unmatched" {
		seg := strings.TrimPrefix(route, "/")
		seg, _, _ = strings.Cut(seg, "/")
		if !strings.ContainsAny(seg, "{*") {
			service = seg
		}
	}
	return service, route
}

func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

var quietPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

func accessLog(logger *slog.Logger, m *httpMetrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			defer func() {
				status := ww.Status()
				if status == 0 {
					status = http.StatusOK
				}
				if rec := recover(); rec != nil {
					status = http.StatusInternalServerError
					defer panic(rec)
				}
				elapsed := time.Since(start)
				service, route := routeLabels(r)
				method := knownMethod(r.Method)
				m.requests.WithLabelValues(service, method, route, strconv.Itoa(status)).Inc()
				m.duration.WithLabelValues(service, method, route).Observe(elapsed.Seconds())
				level := slog.LevelInfo
				if quietPaths[r.URL.Path] {
					level = slog.LevelDebug
				}
				logger.Log(r.Context(), level, "http request",
					"method", r.Method, "path", r.URL.Path, "route", route, "status", status,
					"duration", elapsed, "bytes", ww.BytesWritten(), "request_id", RequestID(r.Context()))
			}()
			next.ServeHTTP(ww, r)
		})
	}
}
