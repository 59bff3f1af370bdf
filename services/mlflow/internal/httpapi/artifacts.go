package httpapi

import "github.com/go-chi/chi/v5"

// mountArtifactProxy registers the artifact proxy (artifacts/{path}: upload, download, list, delete).
func (h *Handler) mountArtifactProxy(r chi.Router) {}
