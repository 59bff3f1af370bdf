// Package httpapi serves the original darwin-cluster-manager REST surface
// (spec §2) over a driver: PascalCase success bodies and
// {message,status,error,causes} error bodies; plus the dashboard proxy.
package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/darwinml/darwin/pkg/apierr"
)

// ErrorBody is the DCM error shape.
type ErrorBody struct {
	Message string   `json:"message"`
	Status  int      `json:"status"`
	Error   string   `json:"error"`
	Causes  []string `json:"causes"`
}

func errorName(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusServiceUnavailable:
		return "service_unavailable"
	case http.StatusRequestEntityTooLarge:
		return "request_entity_too_large"
	case http.StatusUnprocessableEntity:
		return "unprocessable_entity"
	case http.StatusBadGateway:
		return "bad_gateway"
	default:
		return "internal_server_error"
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError renders err in the DCM envelope, logging internal causes.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	e := apierr.From(err)
	status := e.Kind.HTTPStatus()
	if status >= 500 || e.Cause != nil {
		logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	causes := []string{}
	if e.Field != "" {
		causes = append(causes, e.Field)
	}
	writeJSON(w, status, ErrorBody{Message: e.Message, Status: status, Error: errorName(status), Causes: causes})
}

func writeStatusError(w http.ResponseWriter, status int, msg string, causes ...string) {
	if causes == nil {
		causes = []string{}
	}
	writeJSON(w, status, ErrorBody{Message: msg, Status: status, Error: errorName(status), Causes: causes})
}
