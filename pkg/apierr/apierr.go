// Package apierr is the one error vocabulary shared by every Darwin service.
//
// Domain code returns *Error values carrying a Kind, a message that is safe to show to callers, an optional
// field name, and an internal Cause that is only ever logged. HTTP and gRPC edges map the Kind exactly once:
// Kind.HTTPStatus for REST envelopes, ToGRPC / FromGRPC across service boundaries.
//
// gRPC convention: ToGRPC produces a status whose code is Kind.GRPCCode and whose message is Error.Message.
// When Field is set, the status carries a google.rpc.BadRequest detail with one FieldViolation
// {field: Field, description: Message}; FromGRPC reads it back so Field survives the round trip.
// The Cause never crosses the wire.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind classifies an error for callers.
type Kind int

// The error kinds. The zero value is not a valid kind; KindOf reports Internal for it.
const (
	InvalidArgument Kind = iota + 1
	NotFound
	AlreadyExists
	FailedPrecondition
	PermissionDenied
	Unauthenticated
	Unavailable
	Internal
)

var kindNames = map[Kind]string{
	InvalidArgument:    "InvalidArgument",
	NotFound:           "NotFound",
	AlreadyExists:      "AlreadyExists",
	FailedPrecondition: "FailedPrecondition",
	PermissionDenied:   "PermissionDenied",
	Unauthenticated:    "Unauthenticated",
	Unavailable:        "Unavailable",
	Internal:           "Internal",
}

// String returns the kind's name, e.g. "NotFound".
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// HTTPStatus maps the kind to an HTTP status code.
// FailedPrecondition is 400 (the request is not valid for the current state), matching the original services.
func (k Kind) HTTPStatus() int {
	switch k {
	case InvalidArgument, FailedPrecondition:
		return http.StatusBadRequest
	case NotFound:
		return http.StatusNotFound
	case AlreadyExists:
		return http.StatusConflict
	case PermissionDenied:
		return http.StatusForbidden
	case Unauthenticated:
		return http.StatusUnauthorized
	case Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// GRPCCode maps the kind to a gRPC status code.
func (k Kind) GRPCCode() codes.Code {
	switch k {
	case InvalidArgument:
		return codes.InvalidArgument
	case NotFound:
		return codes.NotFound
	case AlreadyExists:
		return codes.AlreadyExists
	case FailedPrecondition:
		return codes.FailedPrecondition
	case PermissionDenied:
		return codes.PermissionDenied
	case Unauthenticated:
		return codes.Unauthenticated
	case Unavailable:
		return codes.Unavailable
	default:
		return codes.Internal
	}
}

// KindFromGRPC maps a gRPC code to a kind. Codes without a direct counterpart map to the closest kind:
// OutOfRange → InvalidArgument, Aborted → FailedPrecondition, ResourceExhausted/DeadlineExceeded/Canceled →
// Unavailable, everything else → Internal.
func KindFromGRPC(c codes.Code) Kind {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange:
		return InvalidArgument
	case codes.NotFound:
		return NotFound
	case codes.AlreadyExists:
		return AlreadyExists
	case codes.FailedPrecondition, codes.Aborted:
		return FailedPrecondition
	case codes.PermissionDenied:
		return PermissionDenied
	case codes.Unauthenticated:
		return Unauthenticated
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Canceled:
		return Unavailable
	default:
		return Internal
	}
}

// Error is an error with a kind, a caller-safe message, an optional field and an internal cause.
type Error struct {
	Kind    Kind
	Message string // safe to return to callers
	Field   string // optional: the request field at fault
	Cause   error  // internal; logged, never sent to callers
}

// Error returns the message, followed by the cause when there is one (for logs; edges use Message).
func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// New returns an error of kind k with a formatted message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: sprintf(format, args...)}
}

// Wrap returns an error of kind k with a formatted message and an internal cause.
func Wrap(k Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Message: sprintf(format, args...), Cause: cause}
}

// InvalidField returns an InvalidArgument error for field. The message names the field: when the formatted
// message does not already contain it, it is prefixed as "<field>: <message>".
func InvalidField(field, format string, args ...any) *Error {
	msg := sprintf(format, args...)
	if field != "" && !strings.Contains(msg, field) {
		msg = field + ": " + msg
	}
	return &Error{Kind: InvalidArgument, Message: msg, Field: field}
}

// From returns err as an *Error. A *Error anywhere in the chain is returned as is; an error carrying a gRPC
// status (e.g. from a downstream client call) is converted as FromGRPC does; anything else becomes Internal
// with Message "internal error" and Cause err. From(nil) is nil.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if st := grpcStatus(err); st != nil && st.Code() != codes.Unknown && st.Code() != codes.OK {
		return fromStatus(st, err)
	}
	return &Error{Kind: Internal, Message: "internal error", Cause: err}
}

// KindOf returns the kind of err (Internal for errors that are not *Error, 0 for nil).
func KindOf(err error) Kind {
	if err == nil {
		return 0
	}
	e := From(err)
	if e.Kind == 0 {
		return Internal
	}
	return e.Kind
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// ToGRPC converts err to a gRPC status error (code from the kind, message from Message, Field as a
// BadRequest detail). Errors that already are gRPC statuses pass through unchanged. ToGRPC(nil) is nil.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		if st := grpcStatus(err); st != nil {
			return st.Err()
		}
		e = From(err)
	}
	k := e.Kind
	if k == 0 {
		k = Internal
	}
	st := status.New(k.GRPCCode(), e.Message)
	if e.Field != "" {
		if withDetails, derr := st.WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: e.Field, Description: e.Message}},
		}); derr == nil {
			st = withDetails
		}
	}
	return st.Err()
}

// FromGRPC converts a gRPC status error back to an *Error (kind from the code, Message from the status
// message, Field from a BadRequest detail). Non-status errors become Internal. FromGRPC(nil) is nil, and so
// is a status with code OK.
func FromGRPC(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	st := grpcStatus(err)
	if st == nil {
		return &Error{Kind: Internal, Message: "internal error", Cause: err}
	}
	if st.Code() == codes.OK {
		return nil
	}
	return fromStatus(st, err)
}

func fromStatus(st *status.Status, cause error) *Error {
	out := &Error{Kind: KindFromGRPC(st.Code()), Message: st.Message(), Cause: cause}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			out.Field = br.GetFieldViolations()[0].GetField()
		}
	}
	if out.Message == "" {
		out.Message = out.Kind.String()
	}
	return out
}

type grpcStatuser interface{ GRPCStatus() *status.Status }

// grpcStatus finds a gRPC status anywhere in err's chain, keeping the status's own message (status.FromError
// would replace it with the whole wrapped error text).
func grpcStatus(err error) *status.Status {
	var gs grpcStatuser
	if errors.As(err, &gs) {
		return gs.GRPCStatus()
	}
	return nil
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
