// Package applayer is Darwin's MLflow app layer served under /mlflow-app (spec §11): the /v1 experiment, run,
// log-data, model and user endpoints, identity from the email header or a bearer token, and experiment
// permissions.
package applayer

import (
	"context"
	"flag"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

// Config configures the app layer (flags -mlflow.app.*, YAML section mlflow.app).
type Config struct{}

// RegisterFlags registers the -mlflow.app.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {}

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
type Handler struct{ deps Deps }

// New returns the app layer.
func New(cfg Config, deps Deps) (*Handler, error) { return &Handler{deps: deps}, nil }

// Routes registers the app layer's routes (without the /mlflow-app prefix) on r.
func (h *Handler) Routes(r chi.Router) {}

// ExperimentCreated records the caller of a tracking-API experiment creation as the experiment's owner.
func (h *Handler) ExperimentCreated(ctx context.Context, r *http.Request, experimentID string) error {
	return nil
}
