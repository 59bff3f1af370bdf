package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/metrics"
)

type grpcMetrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newGRPCMetrics(reg prometheus.Registerer) *grpcMetrics {
	return &grpcMetrics{
		handled: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "darwin_grpc_server_handled_total",
			Help: "gRPC calls completed on the server by service, method and code.",
		}, []string{"grpc_service", "grpc_method", "grpc_code"})),
		duration: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "darwin_grpc_server_handling_seconds",
			Help:    "gRPC server handling latency by service and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"grpc_service", "grpc_method"})),
	}
}

func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	service, method, ok := strings.Cut(full, "/")
	if !ok {
		return "unknown", full
	}
	return service, method
}

func incomingRequestID(ctx context.Context) context.Context {
	id := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(RequestIDMetadata); len(v) > 0 {
			id = v[0]
		}
	}
	if !validRequestID(id) {
		id = NewRequestID()
	}
	return WithRequestID(ctx, id)
}

// finish maps a handler error to a gRPC status (apierr kinds via apierr.ToGRPC; internal causes logged, never
// sent), records metrics and logs the call.
func finish(ctx context.Context, logger *slog.Logger, m *grpcMetrics, fullMethod string, start time.Time, err error) error {
	if err != nil {
		if e := apierr.From(err); e.Kind == apierr.Internal && e.Cause != nil {
			logger.Error("grpc internal error", "method", fullMethod, "request_id", RequestID(ctx), "err", e.Cause)
		}
		err = apierr.ToGRPC(err)
	}
	code := status.Code(err)
	service, method := splitMethod(fullMethod)
	m.handled.WithLabelValues(service, method, code.String()).Inc()
	m.duration.WithLabelValues(service, method).Observe(time.Since(start).Seconds())
	level := slog.LevelInfo
	if service == "grpc.health.v1.Health" {
		level = slog.LevelDebug
	}
	logger.Log(ctx, level, "grpc request", "method", fullMethod, "code", code.String(),
		"duration", time.Since(start), "request_id", RequestID(ctx))
	return err
}

func panicError(ctx context.Context, logger *slog.Logger, fullMethod string, rec any) error {
	logger.Error("grpc handler panic", "method", fullMethod, "request_id", RequestID(ctx),
		"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}

func unaryServerInterceptor(logger *slog.Logger, m *grpcMetrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		start := time.Now()
		ctx = incomingRequestID(ctx)
		_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDMetadata, RequestID(ctx)))
		defer func() {
			if rec := recover(); rec != nil {
				resp, err = nil, panicError(ctx, logger, info.FullMethod, rec)
			}
			err = finish(ctx, logger, m, info.FullMethod, start, err)
		}()
		return handler(ctx, req)
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

func streamServerInterceptor(logger *slog.Logger, m *grpcMetrics) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		start := time.Now()
		ctx := incomingRequestID(ss.Context())
		defer func() {
			if rec := recover(); rec != nil {
				err = panicError(ctx, logger, info.FullMethod, rec)
			}
			err = finish(ctx, logger, m, info.FullMethod, start, err)
		}()
		return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
}

func outgoingRequestID(ctx context.Context) context.Context {
	if id := RequestID(ctx); id != "" {
		return metadata.AppendToOutgoingContext(ctx, RequestIDMetadata, id)
	}
	return ctx
}

// ClientInterceptors returns the dial options DialLoopback uses (request-id propagation), for callers that
// build their own connections.
func ClientInterceptors() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(outgoingRequestID(ctx), method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(outgoingRequestID(ctx), desc, cc, method, opts...)
		}),
	}
}

// DialLoopback opens a plaintext gRPC client connection to addr ("host:port"; an unspecified host such as
// ":9090" or "[::]:9090" dials 127.0.0.1) with request-id propagation. The connection is lazy: ctx is only
// used to validate the address, and errors surface on the first call.
func DialLoopback(ctx context.Context, addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(strings.TrimPrefix(addr, "dns:///"))
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", addr, err)
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	all := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, ClientInterceptors()...)
	all = append(all, opts...)
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(host, port), all...)
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", addr, err)
	}
	return conn, nil
}
