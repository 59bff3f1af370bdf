package httpapi

import "github.com/go-chi/chi/v5"

// mountRegistry registers the model registry endpoints (registered-models/..., model-versions/...).
func (h *Handler) mountRegistry(r chi.Router) {}
