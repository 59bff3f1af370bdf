package applayer

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/auth"
	"github.com/darwinml/darwin/services/mlflow/internal/httpapi"
)

// Guard wraps the tracking API (…/api/2.0/mlflow/… and …/ajax-api/2.0/mlflow/…, with any mount prefix) with
// the app layer's permission checks, as MLflow's basic-auth app guards the original /mlflow-lib: a POST that
// writes to an experiment or run (the calls listed in ajaxGuards) by a caller identified through HTTP Basic
// (the darwin_mlflow SDK), a bearer token or the email header needs the same permission as through
// /mlflow-app/ajax-api, else it is answered 403 PERMISSION_DENIED in MLflow's error envelope. Invalid
// credentials are 401 UNAUTHENTICATED (400 INVALID_PARAMETER_VALUE for an email that is not an address).
// Requests that carry no identity pass unchanged, so unauthenticated MLflow clients keep working; reads are
// never checked.
//
// Wire it around the tracking routes, e.g. r.With(app.Guard).Route(...) or Guard(trackingRouter).
func (h *Handler) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		i := strings.Index(r.URL.Path, "/2.0/mlflow/")
		if i < 0 {
			next.ServeHTTP(w, r)
			return
		}
		rest := strings.TrimSuffix(r.URL.Path[i+1:], "/")
		guard, ok := ajaxGuards[rest]
		if !ok || !hasIdentity(r) || h.ready() != nil {
			next.ServeHTTP(w, r)
			return
		}
		user, err := h.caller(r)
		if err != nil {
			h.writeMLflowError(r, w, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
		if err != nil {
			h.writeMLflowError(r, w, apierr.New(apierr.InvalidArgument, "Could not read the request body"))
			return
		}
		if err := h.checkAjax(r, user, guard, rest == "2.0/mlflow/runs/create", body); err != nil {
			h.writeMLflowError(r, w, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		next.ServeHTTP(w, r)
	})
}

func hasIdentity(r *http.Request) bool {
	return strings.TrimSpace(r.Header.Get(auth.HeaderAuthorization)) != "" || strings.TrimSpace(r.Header.Get(HeaderEmail)) != ""
}

// writeMLflowError answers in MLflow's {"error_code", "message"} envelope (the tracking API's shape).
func (h *Handler) writeMLflowError(r *http.Request, w http.ResponseWriter, err error) {
	code, status := httpapi.ErrorCode(err)
	msg := apierr.From(err).Message
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "mlflow tracking permission check failed", "err", err)
		msg = "Internal server error"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": msg})
}
