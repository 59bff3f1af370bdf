// Package httpapi serves ml-serve's REST API (the original ml-serve-app's /api/v1 routes) with its envelope
// {"status":"SUCCESS"|"ERROR","message"?,"data"?} and bearer-token authentication.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/ml-serve/internal/deploy"
	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
	"github.com/darwinml/darwin/services/ml-serve/internal/store"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// Options configure the handler.
type Options struct {
	Deployer deploy.Deployer
	Resolver deploy.ModelResolver
	// PublicURL is the base of service URLs (one-click: <PublicURL>/<serve>/).
	PublicURL string
	// ArtifactBuilderPublicURL is the base of builder log URLs (<url>/static/<task_id>.log).
	ArtifactBuilderPublicURL string
	// DefaultRuntime is the image one-click deployments run.
	DefaultRuntime string
	// MLflowTrackingURI (and optional credentials) are passed to one-click model pods.
	MLflowTrackingURI      string
	MLflowTrackingUsername string
	MLflowTrackingPassword string
	// ModelCachePVC and ModelCachePath configure the pvc storage strategy.
	ModelCachePVC  string
	ModelCachePath string
	// ResolveTimeout bounds a model URI check (default 15 s), so deploy-model answers within hermes' 30 s.
	ResolveTimeout time.Duration
	Logger         *slog.Logger
}

// Handler serves the API.
type Handler struct {
	st   *store.Store
	opts Options
	log  *slog.Logger
}

// New returns a handler over st.
func New(st *store.Store, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Resolver == nil {
		opts.Resolver = deploy.SyntaxResolver{}
	}
	if opts.ResolveTimeout <= 0 {
		opts.ResolveTimeout = 15 * time.Second
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	opts.ArtifactBuilderPublicURL = strings.TrimRight(opts.ArtifactBuilderPublicURL, "/")
	return &Handler{st: st, opts: opts, log: opts.Logger}
}

// Routes registers the API on r (without the /ml-serve prefix).
func (h *Handler) Routes(r chi.Router) {
	r.Get("/healthcheck", h.health)
	r.Get("/health", h.health)
	r.Route("/api/v1", func(r chi.Router) {
		r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusNotFound, envelope{Status: "ERROR", Message: "Not Found"})
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusMethodNotAllowed, envelope{Status: "ERROR", Message: "Method Not Allowed"})
		})
		r.Post("/environment", h.auth(h.createEnvironment))
		r.Get("/environment/{env}", h.open(h.getEnvironment))
		r.Patch("/environment/{env}", h.auth(h.updateEnvironment))
		r.Delete("/environment/{env}", h.auth(h.deleteEnvironment))

		r.Get("/serve", h.auth(h.listServes))
		r.Post("/serve", h.auth(h.createServe))
		r.Post("/serve/deploy-model", h.auth(h.deployModel))
		r.Post("/serve/undeploy-model", h.auth(h.undeployModel))
		r.Get("/serve/{serve}", h.auth(h.getServe))
		r.Get("/serve/{serve}/infra-config/{env}", h.auth(h.getInfraConfig))
		r.Post("/serve/{serve}/infra-config/{env}", h.auth(h.createInfraConfig))
		r.Patch("/serve/{serve}/infra-config/{env}", h.auth(h.updateInfraConfig))
		r.Get("/serve/{serve}/status/{env}", h.auth(h.status))
		r.Post("/serve/{serve}/undeploy/{env}", h.auth(h.undeploy))
		r.Post("/serve/{serve}/deploy", h.auth(h.deployServe))
		r.Get("/serve/{serve}/deployments", h.open(h.listDeployments))

		r.Post("/artifact", h.auth(h.createArtifact))
		r.Get("/artifact/{serve}", h.open(h.listArtifacts))
		r.Get("/artifact_builder_job", h.open(h.listJobs))
		r.Get("/artifact_builder_job/{id}/status", h.open(h.jobStatus))
	})
}

// ---- envelope ----

type envelope struct {
	Status  string `json:"status"`
	Message any    `json:"message,omitempty"`
	Data    any    `json:"data,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf, err := json.Marshal(v)
	if err != nil {
		buf, status = []byte(`{"status":"ERROR","message":"internal error"}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(buf, '\n'))
}

func ok(w http.ResponseWriter, status int, message string, data any) {
	var msg any
	if message != "" {
		msg = message
	}
	writeJSON(w, status, envelope{Status: "SUCCESS", Message: msg, Data: data})
}

type fieldData struct {
	Field string `json:"field"`
}

type invalidModelBody struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error"`
	Hint    string `json:"hint"`
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var im *deploy.InvalidModelError
	if errors.As(err, &im) {
		writeJSON(w, http.StatusBadRequest, invalidModelBody{Status: "ERROR", Message: "Invalid model URI", Error: im.Reason, Hint: im.Hint})
		return
	}
	e := apierr.From(err)
	kind := e.Kind
	if kind == 0 {
		kind = apierr.Internal
	}
	status := kind.HTTPStatus()
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status}
	if e.Cause != nil {
		attrs = append(attrs, "err", e.Cause)
	}
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "request failed", attrs...)
	} else {
		h.log.DebugContext(r.Context(), "request rejected", attrs...)
	}
	msg := e.Message
	if msg == "" {
		msg = kind.String()
	}
	var data any
	if e.Field != "" {
		data = fieldData{Field: e.Field}
	}
	writeJSON(w, status, envelope{Status: "ERROR", Message: msg, Data: data})
}

func (h *Handler) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, envelope{Status: "SUCCESS", Message: "OK"})
}

// ---- authentication ----

type handlerFunc func(w http.ResponseWriter, r *http.Request, u *domain.User) error

// authError is an authentication failure with the original's status codes.
type authError struct {
	status int
	msg    string
}

// Authenticate checks the Authorization header: missing → 400 "Authorization header is required.", not a
// Bearer token → 401, unknown token → 403 "Invalid or expired token.".
func (h *Handler) Authenticate(r *http.Request) (*domain.User, *authError, error) {
	hdr := strings.TrimSpace(r.Header.Get("Authorization"))
	if hdr == "" {
		return nil, &authError{http.StatusBadRequest, "Authorization header is required."}, nil
	}
	scheme, token, found := strings.Cut(hdr, " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, &authError{http.StatusUnauthorized, "Invalid authentication scheme. Use 'Bearer <token>'."}, nil
	}
	if len(token) > 4096 {
		return nil, &authError{http.StatusForbidden, "Invalid or expired token."}, nil
	}
	u, found, err := h.st.UserByToken(r.Context(), token)
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, &authError{http.StatusForbidden, "Invalid or expired token."}, nil
	}
	return &u, nil, nil
}

func (h *Handler) auth(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ae, err := h.Authenticate(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if ae != nil {
			writeJSON(w, ae.status, envelope{Status: "ERROR", Message: ae.msg})
			return
		}
		if err := fn(w, r, u); err != nil {
			h.fail(w, r, err)
		}
	}
}

func (h *Handler) open(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r, nil); err != nil {
			h.fail(w, r, err)
		}
	}
}

func userID(u *domain.User) *int64 {
	if u == nil {
		return nil
	}
	id := u.ID
	return &id
}

// ---- decoding ----

// Decode reads r's body (at most MaxBodyBytes) into dst with DecodeBytes's rules.
func Decode(r *http.Request, dst any) error {
	if r.Body == nil {
		return apierr.InvalidField("body", "request body is required")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return apierr.Wrap(apierr.InvalidArgument, err, "body: cannot read request body")
	}
	return DecodeBytes(data, dst)
}

// DecodeBytes decodes one JSON object into dst. Unknown keys are ignored (as pydantic did); a value of the
// wrong type is an InvalidArgument naming its field ("api_serve_config.fast_api_config.cores").
func DecodeBytes(data []byte, dst any) error {
	if len(data) > MaxBodyBytes {
		return apierr.InvalidField("body", "request body is larger than %d bytes", MaxBodyBytes)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return apierr.InvalidField("body", "request body is required")
	}
	if trimmed[0] != '{' {
		return apierr.InvalidField("body", "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return apierr.InvalidField("body", "request body has a value of the wrong type")
			}
			return apierr.InvalidField(te.Field, "invalid value for %s: expected %s, got %s", te.Field, typeName(te), te.Value)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return apierr.InvalidField("body", "malformed JSON at offset %d", se.Offset)
		}
		return apierr.InvalidField("body", "malformed JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierr.InvalidField("body", "request body must be a single JSON value")
	}
	return nil
}

func typeName(te *json.UnmarshalTypeError) string {
	if te.Type == nil {
		return "another type"
	}
	switch te.Type.Kind().String() {
	case "int", "int64", "int32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "map", "struct", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return te.Type.String()
}
