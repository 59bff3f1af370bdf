// Package envelope writes compute's REST envelope {"status","message","data"} and decodes request bodies.
//
// Every compute handler (runtimes, cluster configs, libraries and the cluster API) renders through this
// package so there is exactly one envelope writer and one mapping of apierr kinds to HTTP statuses.
package envelope

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/server"
)

// Status values of the envelope.
const (
	StatusSuccess = "SUCCESS"
	StatusError   = "ERROR"
)

// MaxBodyBytes bounds every decoded request body.
const MaxBodyBytes = 1 << 20

// Body is the envelope shape.
type Body struct {
	Status  string `json:"status"`
	Message any    `json:"message"`
	Data    any    `json:"data"`
}

// OK writes a SUCCESS envelope with the given HTTP status.
func OK(w http.ResponseWriter, status int, message string, data any) {
	Bare(w, status, Body{Status: StatusSuccess, Message: message, Data: data})
}

// Bare writes body as JSON without wrapping it (for the endpoints that answer bare dicts).
func Bare(w http.ResponseWriter, status int, body any) {
	buf, err := json.Marshal(body)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"status":"ERROR","message":"internal error","data":null}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(buf, '\n'))
}

// errorData is the data of an ERROR envelope when the error names a request field.
type errorData struct {
	Field string `json:"field"`
}

// Error renders err as an ERROR envelope. The status comes from the apierr kind; only the caller-safe
// message is sent. Internal errors are logged with their cause; other kinds at debug level.
func Error(w http.ResponseWriter, r *http.Request, err error, logger *slog.Logger) {
	e := apierr.From(err)
	kind := e.Kind
	if kind == 0 {
		kind = apierr.Internal
	}
	status := kind.HTTPStatus()
	if logger != nil {
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status, "kind", kind.String()}
		if id := server.RequestID(r.Context()); id != "" {
			attrs = append(attrs, "request_id", id)
		}
		if e.Cause != nil {
			attrs = append(attrs, "err", e.Cause)
		}
		if status >= http.StatusInternalServerError {
			logger.ErrorContext(r.Context(), "request failed", attrs...)
		} else {
			logger.DebugContext(r.Context(), "request rejected", attrs...)
		}
	}
	msg := e.Message
	if msg == "" {
		msg = kind.String()
	}
	var data any
	if e.Field != "" {
		data = errorData{Field: e.Field}
	}
	Bare(w, status, Body{Status: StatusError, Message: msg, Data: data})
}

// DecodeJSON decodes the request body into dst.
//
// It is strict about what it accepts: the body must be one JSON value (no trailing data), at most
// MaxBodyBytes long, and every value must have the type of its field; a type error names the field
// ("head_node_config.cores"). Unknown keys are ignored, as the original pydantic models did, so clients that
// send extra keys keep working. Errors are apierr InvalidArgument with Field set ("body" when no field
// applies).
func DecodeJSON(r *http.Request, dst any) error {
	if r.Body == nil {
		return apierr.InvalidField("body", "request body is required")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return apierr.Wrap(apierr.InvalidArgument, err, "body: cannot read request body")
	}
	return DecodeBytes(data, dst)
}

// DecodeBytes applies DecodeJSON's rules to an in-memory body.
func DecodeBytes(data []byte, dst any) error {
	if len(data) > MaxBodyBytes {
		return apierr.InvalidField("body", "request body is larger than %d bytes", MaxBodyBytes)
	}
	if strings.TrimSpace(string(data)) == "" {
		return apierr.InvalidField("body", "request body is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierr.InvalidField("body", "request body must be a single JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			return apierr.InvalidField("body", "request body must be a JSON %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		}
		return apierr.InvalidField(field, "invalid value for %q: expected %s, got %s", field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return apierr.InvalidField("body", "malformed JSON at offset %d: %s", syntaxErr.Offset, syntaxErr.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return apierr.InvalidField("body", "malformed JSON: unexpected end of input")
	}
	var fieldErr *FieldError
	if errors.As(err, &fieldErr) {
		return apierr.InvalidField(fieldErr.Field, "%s", fieldErr.Message)
	}
	return apierr.InvalidField("body", "malformed JSON: %s", err.Error())
}

// FieldError lets custom UnmarshalJSON methods report a field-specific problem through DecodeJSON.
type FieldError struct{ Field, Message string }

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	default:
		return goKind
	}
}

// QueryInt reads an integer query parameter, returning def when it is absent and an apierr InvalidArgument
// naming the parameter when it is not an integer.
func QueryInt(r *http.Request, name string, def int) (int, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil {
		return 0, apierr.InvalidField(name, "%s must be an integer", name)
	}
	return v, nil
}
