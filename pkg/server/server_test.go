package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/metrics"
)

// echoService is a hand-written gRPC service: Echo returns the request id seen by the server; Fail returns an
// apierr; Panic panics.
type echoService interface{ echo() }

func unary(fn func(ctx context.Context) (any, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := new(emptypb.Empty)
		if err := dec(in); err != nil {
			return nil, err
		}
		info := &grpc.UnaryServerInfo{Server: srv}
		handler := func(ctx context.Context, _ any) (any, error) { return fn(ctx) }
		if ic == nil {
			return handler(ctx, in)
		}
		info.FullMethod = "/test.Echo/" + "x"
		return ic(ctx, in, info, handler)
	}
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "test.Echo",
	HandlerType: (*echoService)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Echo", Handler: unary(func(ctx context.Context) (any, error) {
			return wrapperspb.String(RequestID(ctx)), nil
		})},
		{MethodName: "Fail", Handler: unary(func(context.Context) (any, error) {
			return nil, apierr.InvalidField("name", "name is required")
		})},
		{MethodName: "Panic", Handler: unary(func(context.Context) (any, error) { panic("boom") })},
	},
}

type echoImpl struct{}

func (echoImpl) echo() {}

func startServer(t *testing.T) *Server {
	t.Helper()
	reg := metrics.NewRegistry()
	s, err := New(Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"}, log.Discard(), reg)
	if err != nil {
		t.Fatal(err)
	}
	s.HTTP.Use(func(next http.Handler) http.Handler { // caller middleware added before any caller route
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Caller-Middleware", "yes")
			next.ServeHTTP(w, r)
		})
	})
	s.HTTP.Route("/compute", func(r chi.Router) {
		r.Get("/cluster/{id}", func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, 200, map[string]string{"id": chi.URLParam(r, "id"), "request_id": RequestID(r.Context())})
		})
		r.Get("/panic", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	})
	s.GRPC.RegisterService(&echoDesc, echoImpl{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	base := "http://" + s.HTTPAddr()
	// A route mounted after Start works too.
	s.HTTP.Get("/late", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })

	t.Run("request id echoed", func(t *testing.T) {
		resp, body := get(t, base+"/compute/cluster/c1", map[string]string{"X-Request-ID": "abc-123"})
		if resp.StatusCode != 200 || resp.Header.Get("X-Request-ID") != "abc-123" || !strings.Contains(body, `"request_id":"abc-123"`) ||
			resp.Header.Get("X-Caller-Middleware") != "yes" {
			t.Fatalf("status=%d hdr=%q body=%s", resp.StatusCode, resp.Header.Get("X-Request-ID"), body)
		}
	})
	t.Run("request id generated", func(t *testing.T) {
		resp, _ := get(t, base+"/compute/cluster/c1", map[string]string{"X-Request-ID": "bad id with spaces"})
		if id := resp.Header.Get("X-Request-ID"); id == "" || strings.Contains(id, " ") {
			t.Fatalf("generated id %q", id)
		}
	})
	t.Run("panic is 500 json", func(t *testing.T) {
		resp, body := get(t, base+"/compute/panic", nil)
		if resp.StatusCode != 500 || strings.TrimSpace(body) != `{"message":"internal server error","status":"ERROR"}` {
			t.Fatalf("status=%d body=%s", resp.StatusCode, body)
		}
	})
	t.Run("late route", func(t *testing.T) {
		if resp, _ := get(t, base+"/late", nil); resp.StatusCode != http.StatusTeapot {
			t.Fatalf("status=%d", resp.StatusCode)
		}
	})
	t.Run("healthz", func(t *testing.T) {
		resp, _ := get(t, base+"/healthz", nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Caller-Middleware") != "" || resp.Header.Get("X-Request-ID") == "" {
			t.Fatalf("status=%d headers=%v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("not found is json", func(t *testing.T) {
		resp, body := get(t, base+"/compute/nope", nil)
		if resp.StatusCode != 404 || !strings.Contains(body, `"message":"not found"`) {
			t.Fatalf("status=%d body=%s", resp.StatusCode, body)
		}
	})
	t.Run("metrics use route patterns", func(t *testing.T) {
		get(t, base+"/compute/cluster/c2", nil)
		get(t, base+"/nope/x1", nil)
		_, body := get(t, base+"/metrics", nil)
		for _, want := range []string{
			`darwin_http_requests_total{code="200",method="GET",route="/compute/cluster/{id}",service="compute"}`,
			`darwin_http_requests_total{code="500",method="GET",route="/compute/panic",service="compute"}`,
			`darwin_http_requests_total{code="404",method="GET",route="unmatched",service=""}`,
			`darwin_http_request_duration_seconds_bucket`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if strings.Contains(body, "c2") || strings.Contains(body, "x1") {
			t.Error("raw path leaked into metric labels")
		}
	})
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.Health.Add("db", func(context.Context) error { return errors.New("connection refused") })
	resp, body := get(t, "http://"+s.HTTPAddr()+"/readyz", nil)
	var got struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	_ = json.Unmarshal([]byte(body), &got)
	if resp.StatusCode != 503 || got.Status != "not ready" || got.Checks["db"] != "connection refused" {
		t.Fatalf("status=%d body=%s", resp.StatusCode, body)
	}
}

func TestGRPC(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	conn, err := DialLoopback(t.Context(), s.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	hc, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", hc, err)
	}

	out := new(wrapperspb.StringValue)
	ctx := WithRequestID(t.Context(), "rid-42")
	if err := conn.Invoke(ctx, "/test.Echo/Echo", &emptypb.Empty{}, out); err != nil {
		t.Fatal(err)
	}
	if out.GetValue() != "rid-42" {
		t.Fatalf("server saw request id %q", out.GetValue())
	}

	err = conn.Invoke(t.Context(), "/test.Echo/Fail", &emptypb.Empty{}, out)
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || st.Message() != "name is required" {
		t.Fatalf("Fail err = %v", err)
	}
	if e := apierr.From(apierr.FromGRPC(err)); e.Field != "name" {
		t.Fatalf("field lost: %+v", e)
	}

	err = conn.Invoke(t.Context(), "/test.Echo/Panic", &emptypb.Empty{}, out)
	if status.Code(err) != codes.Internal {
		t.Fatalf("Panic err = %v", err)
	}
	// The server survives the panic.
	if err := conn.Invoke(ctx, "/test.Echo/Echo", &emptypb.Empty{}, out); err != nil {
		t.Fatalf("after panic: %v", err)
	}
}

func TestNoGRPCListener(t *testing.T) {
	t.Parallel()
	s, err := New(Config{HTTPAddr: ":0"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if s.GRPCAddr() != "" || !strings.HasPrefix(s.HTTPAddr(), "127.0.0.1:") {
		t.Fatalf("addrs http=%q grpc=%q", s.HTTPAddr(), s.GRPCAddr())
	}
	if err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	t.Parallel()
	s, err := New(Config{HTTPAddr: "127.0.0.1:0"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	entered := make(chan struct{})
	s.HTTP.Get("/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		w.WriteHeader(http.StatusAccepted)
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	codeCh := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + s.HTTPAddr() + "/slow")
		if err != nil {
			codeCh <- -1
			return
		}
		resp.Body.Close()
		codeCh <- resp.StatusCode
	}()
	<-entered
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	select {
	case <-done:
		t.Fatal("Shutdown returned before the in-flight request finished")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code := <-codeCh; code != http.StatusAccepted {
		t.Fatalf("in-flight request got %d", code)
	}
}

// TestCatchAllNotFound covers the dashboard-proxy pattern: a NotFound handler on HTTP receives every unrouted
// path with its full URL, while built-in and routed paths keep working.
func TestCatchAllNotFound(t *testing.T) {
	t.Parallel()
	s, err := New(Config{HTTPAddr: "127.0.0.1:0"}, nil, metrics.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s.HTTP.Get("/compute/healthcheck", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("routed")) })
	s.HTTP.NotFound(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("proxy " + r.URL.Path)) })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	base := "http://" + s.HTTPAddr()
	tests := []struct{ path, want string }{
		{"/kind-0/id-1-dashboard/api/jobs/", "proxy /kind-0/id-1-dashboard/api/jobs/"},
		{"/compute/healthcheck", "routed"},
		{"/compute/other", "proxy /compute/other"},
	}
	for _, tt := range tests {
		if _, body := get(t, base+tt.path, nil); body != tt.want {
			t.Errorf("GET %s = %q, want %q", tt.path, body, tt.want)
		}
	}
	if resp, _ := get(t, base+"/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("/healthz = %d", resp.StatusCode)
	}
	if _, body := get(t, base+"/metrics", nil); !strings.Contains(body, "darwin_http_requests_total") {
		t.Error("/metrics not served")
	}
}
