// Package httpapi serves artifact-builder's REST API (the original's routes): build submission, the task list,
// status and log endpoints, and the raw logs under /static. Successful answers keep the original envelope
// ({"status":"SUCCESS",…}); errors are {"status":"FAILED","message":…,"field"?} with a 4xx/5xx code (the
// original answered some failures with HTTP 200).
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
	"github.com/darwinml/darwin/services/artifact-builder/internal/store"
)

// MaxBodyBytes bounds every request body (a Dockerfile upload included).
const MaxBodyBytes = 1 << 20

// Page sizes of GET /task.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Options configure the handler.
type Options struct {
	// PublicURL is the base of logs_url (<PublicURL>/static/<task_id>.log).
	PublicURL string
	// CheckModel validates a model build request against the builder's configuration (base image reference,
	// model_dir allowed); nil accepts every request that passes ModelRequest.Validate.
	CheckModel func(domain.ModelRequest) error
	Logger     *slog.Logger
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
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	return &Handler{st: st, opts: opts, log: opts.Logger}
}

// Routes registers the API on r (without the /artifact-builder prefix).
func (h *Handler) Routes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusNotFound, errBody{Status: "FAILED", Message: "Not Found"})
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusMethodNotAllowed, errBody{Status: "FAILED", Message: "Method Not Allowed"})
		})
		r.Get("/healthcheck", h.health)
		r.Get("/health", h.health)
		r.Post("/build_with_dockerfile", h.wrap(h.buildWithDockerfile))
		r.Post("/build_model_image", h.wrap(h.buildModelImage))
		r.Get("/task", h.wrap(h.listTasks))
		r.Get("/task/status", h.wrap(h.taskStatus))
		r.Get("/task/logs", h.wrap(h.taskLogs))
		r.Get("/static/{file}", h.wrap(h.staticLog))
	})
}

// ---- envelope ----

type errBody struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf, err := json.Marshal(v)
	if err != nil {
		buf, status = []byte(`{"status":"FAILED","message":"internal error"}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(buf, '\n'))
}

func (h *Handler) wrap(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.fail(w, r, err)
		}
	}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := apierr.From(err)
	kind := e.Kind
	if kind == 0 {
		kind = apierr.Internal
	}
	status := kind.HTTPStatus()
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	msg := e.Message
	if msg == "" || status >= 500 && kind == apierr.Internal {
		msg = "internal error"
	}
	writeJSON(w, status, errBody{Status: "FAILED", Message: msg, Field: e.Field})
}

func (h *Handler) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "SUCCESS", "message": "OK"})
}

// ---- decoding ----

// DecodeModelRequest parses and validates the JSON body of POST /build_model_image. Every failure is an
// InvalidArgument naming a field.
func DecodeModelRequest(data []byte) (domain.ModelRequest, error) {
	var req domain.ModelRequest
	if len(data) > MaxBodyBytes {
		return req, apierr.InvalidField("body", "request body is larger than %d bytes", MaxBodyBytes)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return req, apierr.InvalidField("body", "request body is required")
	}
	if trimmed[0] != '{' {
		return req, apierr.InvalidField("body", "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return req, apierr.InvalidField(te.Field, "invalid value for %s: expected %s", te.Field, te.Type.String())
		}
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			f := strings.ToValidUTF8(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "?")
			field := f
			if field == "" || len(field) > 64 {
				field = "body"
			}
			return req, apierr.InvalidField(field, "unknown field %q", f)
		}
		return req, apierr.InvalidField("body", "malformed JSON body")
	}
	if dec.More() {
		return req, apierr.InvalidField("body", "request body must hold one JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, apierr.InvalidField("body", "request body must hold one JSON object")
	}
	if err := req.Validate(); err != nil {
		return req, err
	}
	return req, nil
}

// DecodeDockerfileRequest parses and validates the form of POST /build_with_dockerfile (multipart or
// URL-encoded; the optional file field "dockerfile" is read into the request).
func DecodeDockerfileRequest(r *http.Request) (domain.DockerfileRequest, error) {
	var req domain.DockerfileRequest
	r.Body = http.MaxBytesReader(nil, r.Body, MaxBodyBytes)
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return req, apierr.InvalidField("body", "Content-Type must be multipart/form-data or application/x-www-form-urlencoded")
	}
	var dockerfile string
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(MaxBodyBytes); err != nil {
			return req, formErr(err)
		}
		defer r.MultipartForm.RemoveAll()
		if fhs := r.MultipartForm.File["dockerfile"]; len(fhs) > 0 {
			if dockerfile, err = readUpload(fhs[0]); err != nil {
				return req, err
			}
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return req, formErr(err)
		}
	default:
		return req, apierr.InvalidField("body", "Content-Type must be multipart/form-data or application/x-www-form-urlencoded")
	}
	req = domain.DockerfileRequest{
		AppName: r.PostFormValue("app_name"), ImageTag: r.PostFormValue("image_tag"), GitRepo: r.PostFormValue("git_repo"),
		Branch: r.PostFormValue("branch"), AppDir: r.PostFormValue("app_dir"), Dockerfile: dockerfile,
	}
	if req.Dockerfile == "" {
		req.Dockerfile = r.PostFormValue("dockerfile") // a Dockerfile sent as a plain field
	}
	if err := req.Validate(); err != nil {
		return req, err
	}
	return req, nil
}

func formErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apierr.InvalidField("body", "request body is larger than %d bytes", MaxBodyBytes)
	}
	return apierr.InvalidField("body", "malformed form body")
}

func readUpload(fh *multipart.FileHeader) (string, error) {
	if fh.Size > domain.MaxDockerfileBytes {
		return "", apierr.InvalidField("dockerfile", "dockerfile is larger than %d bytes", domain.MaxDockerfileBytes)
	}
	f, err := fh.Open()
	if err != nil {
		return "", apierr.InvalidField("dockerfile", "cannot read the uploaded dockerfile")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, domain.MaxDockerfileBytes+1))
	if err != nil {
		return "", apierr.InvalidField("dockerfile", "cannot read the uploaded dockerfile")
	}
	if len(b) == 0 {
		return "", apierr.InvalidField("dockerfile", "the uploaded dockerfile is empty")
	}
	return string(b), nil
}

// ParsePage reads limit and offset (defaults 100 and 0; limit at most 1000).
func ParsePage(limitS, offsetS string) (limit, offset int, err error) {
	limit = DefaultPageSize
	if limitS != "" {
		n, err := strconv.Atoi(limitS)
		if err != nil || n < 1 || n > MaxPageSize {
			return 0, 0, apierr.InvalidField("limit", "limit must be an integer from 1 to %d", MaxPageSize)
		}
		limit = n
	}
	if offsetS != "" {
		n, err := strconv.Atoi(offsetS)
		if err != nil || n < 0 || n > 1<<30 {
			return 0, 0, apierr.InvalidField("offset", "offset must be a non-negative integer")
		}
		offset = n
	}
	return limit, offset, nil
}
