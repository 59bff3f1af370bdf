package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestKindMappings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind Kind
		http int
		code codes.Code
	}{
		{InvalidArgument, http.StatusBadRequest, codes.InvalidArgument},
		{NotFound, http.StatusNotFound, codes.NotFound},
		{AlreadyExists, http.StatusConflict, codes.AlreadyExists},
		{FailedPrecondition, http.StatusBadRequest, codes.FailedPrecondition},
		{PermissionDenied, http.StatusForbidden, codes.PermissionDenied},
		{Unauthenticated, http.StatusUnauthorized, codes.Unauthenticated},
		{Unavailable, http.StatusServiceUnavailable, codes.Unavailable},
		{Internal, http.StatusInternalServerError, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			t.Parallel()
			if got := tt.kind.HTTPStatus(); got != tt.http {
				t.Errorf("HTTPStatus = %d, want %d", got, tt.http)
			}
			if got := tt.kind.GRPCCode(); got != tt.code {
				t.Errorf("GRPCCode = %v, want %v", got, tt.code)
			}
			if got := KindFromGRPC(tt.code); got != tt.kind {
				t.Errorf("KindFromGRPC = %v, want %v", got, tt.kind)
			}
		})
	}
}

func TestFromAndKindOf(t *testing.T) {
	t.Parallel()
	base := New(NotFound, "cluster %q not found", "c1")
	wrapped := fmt.Errorf("load cluster: %w", base)
	if got := From(wrapped); got != base {
		t.Fatalf("From(wrapped) = %v, want the original *Error", got)
	}
	if KindOf(wrapped) != NotFound {
		t.Fatalf("KindOf = %v", KindOf(wrapped))
	}
	plain := errors.New("disk on fire")
	e := From(plain)
	if e.Kind != Internal || e.Message != "internal error" || !errors.Is(e, plain) {
		t.Fatalf("From(plain) = %+v", e)
	}
	if From(nil) != nil || KindOf(nil) != 0 {
		t.Fatal("nil handling")
	}
	if !Is(wrapped, NotFound) || Is(wrapped, Internal) {
		t.Fatal("Is")
	}
}

func TestWrapKeepsCauseOutOfMessage(t *testing.T) {
	t.Parallel()
	cause := errors.New("secret dsn")
	e := Wrap(Unavailable, cause, "database unavailable")
	if e.Message != "database unavailable" {
		t.Fatalf("Message = %q", e.Message)
	}
	if !errors.Is(e, cause) {
		t.Fatal("Unwrap lost the cause")
	}
}

func TestInvalidFieldNamesField(t *testing.T) {
	t.Parallel()
	e := InvalidField("cluster_name", "must not be empty")
	if e.Kind != InvalidArgument || e.Field != "cluster_name" || e.Message != "cluster_name: must not be empty" {
		t.Fatalf("got %+v", e)
	}
	e = InvalidField("tags", "tags must be a list")
	if e.Message != "tags must be a list" {
		t.Fatalf("message rewritten when already naming the field: %q", e.Message)
	}
}

func TestGRPCRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   error
		want Error
	}{
		{"field", InvalidField("name", "name is required"), Error{Kind: InvalidArgument, Message: "name is required", Field: "name"}},
		{"not found", New(NotFound, "no such cluster"), Error{Kind: NotFound, Message: "no such cluster"}},
		{"internal hides cause", errors.New("password=hunter2"), Error{Kind: Internal, Message: "internal error"}},
		{"wrapped", fmt.Errorf("op: %w", New(FailedPrecondition, "cluster is running")), Error{Kind: FailedPrecondition, Message: "cluster is running"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gerr := ToGRPC(tt.in)
			st, ok := status.FromError(gerr)
			if !ok || st.Code() != tt.want.Kind.GRPCCode() || st.Message() != tt.want.Message {
				t.Fatalf("ToGRPC = %v", gerr)
			}
			back := From(FromGRPC(gerr))
			if back.Kind != tt.want.Kind || back.Message != tt.want.Message || back.Field != tt.want.Field {
				t.Fatalf("FromGRPC = %+v, want %+v", back, tt.want)
			}
		})
	}
	if ToGRPC(nil) != nil || FromGRPC(nil) != nil {
		t.Fatal("nil handling")
	}
}

func TestFromRecognisesGRPCStatus(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("call cluster-manager: %w", status.Error(codes.NotFound, "release not found"))
	e := From(err)
	if e.Kind != NotFound || e.Message != "release not found" {
		t.Fatalf("From = %+v", e)
	}
	if got := From(status.Error(codes.Unknown, "x")).Kind; got != Internal {
		t.Fatalf("unknown code → %v", got)
	}
}
