// Package applayer is Darwin's MLflow app layer served under /mlflow-app (spec §11): the /v1 experiment, run,
// log-data, model and user endpoints, identity from the email header, a bearer token or HTTP Basic, and
// per-user experiment permissions (READ, EDIT, MANAGE).
//
// It fixes the original's bugs (spec §15 item 9): a caller without the needed permission gets 403 (not 402),
// POST /v1/user records the user, and a missing/invalid email is 401/400 (not FastAPI's 422).
package applayer

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/auth"
	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

// Config configures the app layer (flags -mlflow.app.*, YAML section mlflow.app).
type Config struct {
	// DefaultPermission is what a user without an explicit grant may do on an experiment: READ, EDIT (the
	// default: anyone may log runs to a shared experiment, as in the original), MANAGE or NO_PERMISSIONS.
	DefaultPermission string `yaml:"default_permission"`
	// TokensFile maps bearer tokens to emails: a JSON object {"token": "email"} or one "token email" (also
	// "token: email" / "token=email") pair per line; '#' starts a comment.
	TokensFile string `yaml:"tokens_file"`
	// Tokens are bearer tokens given inline (token → email), merged with TokensFile.
	Tokens map[string]string `yaml:"tokens"`
	// Admins (emails) hold MANAGE on every experiment.
	Admins []string `yaml:"admins"`
}

// RegisterFlags registers the -mlflow.app.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.DefaultPermission, "mlflow.app.default-permission", orStr(c.DefaultPermission, PermEdit),
		"permission of users without an explicit grant on an experiment: READ, EDIT, MANAGE or NO_PERMISSIONS")
	f.StringVar(&c.TokensFile, "mlflow.app.tokens-file", c.TokensFile,
		`file mapping bearer tokens to emails for /mlflow-app (JSON {"token":"email"} or "token email" lines)`)
	f.Func("mlflow.app.admin", "email holding MANAGE on every experiment (repeatable, or comma separated)", func(s string) error {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.Admins = append(c.Admins, a)
			}
		}
		return nil
	})
}

func orStr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// Deps are the app layer's collaborators.
type Deps struct {
	DB        *db.DB
	Store     *store.Store
	Artifacts blob.Store // may be nil
	Logger    *slog.Logger
	// Tracking serves the MLflow REST API without the /mlflow-lib prefix (/api/2.0/mlflow/..., /ajax-api/...).
	Tracking http.Handler
}

// Handler serves /mlflow-app.
type Handler struct {
	deps        Deps
	log         *slog.Logger
	defaultPerm Permission
	tokens      auth.StaticTokens
	admins      map[string]bool
	perms       *permStore
}

// New returns the app layer. It fails on an invalid default permission, an unreadable tokens file or an
// invalid email in the tokens or admins.
func New(cfg Config, deps Deps) (*Handler, error) {
	perm, err := ParseDefaultPermission(orStr(strings.TrimSpace(cfg.DefaultPermission), PermEdit))
	if err != nil {
		return nil, fmt.Errorf("mlflow.app.default-permission: %w", err)
	}
	tokens := auth.StaticTokens{}
	if cfg.TokensFile != "" {
		b, err := os.ReadFile(cfg.TokensFile)
		if err != nil {
			return nil, fmt.Errorf("mlflow.app.tokens-file: %w", err)
		}
		parsed, err := ParseTokens(b)
		if err != nil {
			return nil, fmt.Errorf("mlflow.app.tokens-file %s: %w", cfg.TokensFile, err)
		}
		for k, v := range parsed {
			tokens[k] = v
		}
	}
	for k, v := range cfg.Tokens {
		email, err := NormalizeEmail(v)
		if err != nil || k == "" {
			return nil, fmt.Errorf("mlflow.app.tokens: token for %q: invalid email or empty token", v)
		}
		tokens[k] = email
	}
	admins := map[string]bool{}
	for _, a := range cfg.Admins {
		email, err := NormalizeEmail(a)
		if err != nil {
			return nil, fmt.Errorf("mlflow.app.admin %q: %w", a, err)
		}
		admins[email] = true
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{deps: deps, log: logger, defaultPerm: perm, tokens: tokens, admins: admins}
	if deps.DB != nil {
		h.perms = &permStore{db: deps.DB}
	}
	return h, nil
}

// ParseTokens parses a tokens file: a JSON object {"token": "email"}, or lines "token email", "token: email"
// or "token=email" (blank lines and '#' comments ignored). Every email must be valid.
func ParseTokens(b []byte) (map[string]string, error) {
	out := map[string]string{}
	trimmed := strings.TrimSpace(string(b))
	if strings.HasPrefix(trimmed, "{") {
		var m map[string]string
		if err := json.Unmarshal([]byte(trimmed), &m); err != nil {
			return nil, fmt.Errorf("tokens file is not a JSON object of strings: %w", err)
		}
		for k, v := range m {
			if err := addToken(out, k, v); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for i, line := range strings.Split(trimmed, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		tok, email, ok := cutAny(line, ":= \t")
		if !ok {
			return nil, fmt.Errorf("line %d: want \"token email\"", i+1)
		}
		if err := addToken(out, strings.TrimSpace(tok), strings.Trim(strings.TrimSpace(email), `"'`)); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return out, nil
}

func cutAny(s, seps string) (string, string, bool) {
	i := strings.IndexAny(s, seps)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func addToken(out map[string]string, tok, email string) error {
	tok = strings.Trim(tok, `"'`)
	if tok == "" {
		return errors.New("empty token")
	}
	norm, err := NormalizeEmail(email)
	if err != nil {
		return fmt.Errorf("token %.4s…: %w", tok, err)
	}
	if prev, dup := out[tok]; dup && prev != norm {
		return fmt.Errorf("token %.4s… maps to two emails", tok)
	}
	out[tok] = norm
	return nil
}

// Routes registers the app layer's routes (without the /mlflow-app prefix) on r.
func (h *Handler) Routes(r chi.Router) {
	r.Get("/healthcheck", h.healthcheck)
	r.Post("/v1/user", h.wrap(h.createUser))
	r.Post("/v1/experiment", h.wrap(h.createExperiment))
	r.Get("/v1/experiment/{id}", h.wrap(h.getExperiment))
	r.Put("/v1/experiment/{id}", h.wrap(h.updateExperiment))
	r.Delete("/v1/experiment/{id}", h.wrap(h.deleteExperiment))
	r.Get("/v1/experiment/{id}/permissions", h.wrap(h.listPermissions))
	r.Put("/v1/experiment/{id}/permissions", h.wrap(h.grantPermission))
	r.Delete("/v1/experiment/{id}/permissions", h.wrap(h.revokePermission))
	r.Post("/v1/experiment/{id}/run", h.wrap(h.createRun))
	r.Get("/v1/experiment/{id}/run/{rid}", h.wrap(h.getRun))
	r.Delete("/v1/experiment/{id}/run/{rid}", h.wrap(h.deleteRun))
	r.Post("/v1/run/{rid}/log-data", h.wrap(h.logData))
	r.Get("/v1/models", h.wrap(h.listModels))
	r.Get("/v1/models/{name}", h.wrap(h.getModel))
	r.Get("/artifacts/*", h.artifact)
	r.Get("/get-artifact", h.artifact)
	r.Get("/ajax-api/*", h.ajax)
	r.Post("/ajax-api/*", h.ajax)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) { writeDetail(w, http.StatusNotFound, "Not Found") })
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeDetail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	})
}

// ExperimentCreated records the caller of a tracking-API experiment creation as the experiment's owner
// (MANAGE). The caller is taken from HTTP Basic (the darwin_mlflow SDK's MLFLOW_TRACKING_USERNAME), a bearer
// token or the email header; a request without a valid identity leaves the experiment without an owner.
func (h *Handler) ExperimentCreated(ctx context.Context, r *http.Request, experimentID string) error {
	if h.perms == nil {
		return nil
	}
	id, err := h.identify(r)
	if err != nil {
		return nil
	}
	return h.perms.recordCreator(ctx, experimentID, id)
}

// ------------------------------------------------------------------------------------------------ plumbing

type handlerFunc func(w http.ResponseWriter, r *http.Request) (int, any, error)

func (h *Handler) wrap(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.ready(); err != nil {
			h.writeError(r.Context(), w, err)
			return
		}
		code, resp, err := fn(w, r)
		if err != nil {
			h.writeError(r.Context(), w, err)
			return
		}
		writeJSON(w, code, resp)
	}
}

// ready fails (503) when the handler was built without its database or store.
func (h *Handler) ready() error {
	if h.perms == nil || h.deps.Store == nil {
		return apierr.New(apierr.Unavailable, "The MLflow app layer has no database configured")
	}
	return nil
}

func (h *Handler) healthcheck(w http.ResponseWriter, r *http.Request) {
	if h.deps.DB != nil {
		if err := h.deps.DB.PingContext(r.Context()); err != nil {
			h.log.WarnContext(r.Context(), "mlflow app healthcheck", "err", err)
			writeDetail(w, http.StatusServiceUnavailable, "database unavailable")
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "SUCCESS", "message": "OK"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// errorBody is FastAPI's error shape.
type errorBody struct {
	Detail string `json:"detail"`
}

func writeDetail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Detail: msg})
}

// StatusOf maps an error to its HTTP status (apierr kinds; anything else is 500).
func StatusOf(err error) int {
	var br *badRequest
	if errors.As(err, &br) {
		return http.StatusBadRequest
	}
	return apierr.KindOf(err).HTTPStatus()
}

func (h *Handler) writeError(ctx context.Context, w http.ResponseWriter, err error) {
	status := StatusOf(err)
	msg := err.Error()
	var br *badRequest
	if !errors.As(err, &br) {
		msg = apierr.From(err).Message
	}
	if status >= 500 {
		h.log.ErrorContext(ctx, "mlflow app request failed", "err", err)
		if status == http.StatusInternalServerError {
			msg = "Internal server error"
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="mlflow"`)
	}
	writeDetail(w, status, msg)
}

// success is the original's {"status": "SUCCESS", ...} envelope.
func success(data any) map[string]any { return map[string]any{"status": "SUCCESS", "data": data} }

func successMsg(msg string, data any) map[string]any {
	m := map[string]any{"status": "SUCCESS", "message": msg}
	if data != nil {
		m["data"] = data
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
