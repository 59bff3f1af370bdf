package clusterconfig

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/envelope"
)

// Handler serves /cluster-config.
type Handler struct {
	store  *Store
	logger *slog.Logger
}

// NewHandler returns the cluster-config REST handler.
func NewHandler(store *Store, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, logger: logger}
}

// Routes registers the routes (without the /compute prefix).
func (h *Handler) Routes(r chi.Router) {
	r.Get("/cluster-config", h.list)
	r.Post("/cluster-config", h.create)
	r.Get("/cluster-config/{key}", h.get)
	r.Put("/cluster-config/{key}", h.update)
}

// CreateRequest is the body of POST /cluster-config.
type CreateRequest struct {
	Key   *string `json:"key"`
	Value *string `json:"value"`
}

// UpdateRequest is the body of PUT /cluster-config/{key}.
type UpdateRequest struct {
	Value *string `json:"value"`
}

// DecodeCreate decodes and validates a create body.
func DecodeCreate(r *http.Request) (Entry, error) {
	var req CreateRequest
	if err := envelope.DecodeJSON(r, &req); err != nil {
		return Entry{}, err
	}
	if req.Key == nil {
		return Entry{}, apierr.InvalidField("key", "key is required")
	}
	if req.Value == nil {
		return Entry{}, apierr.InvalidField("value", "value is required")
	}
	if err := ValidateKey(*req.Key); err != nil {
		return Entry{}, err
	}
	if err := ValidateValue(*req.Value); err != nil {
		return Entry{}, err
	}
	return Entry{Key: *req.Key, Value: *req.Value}, nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	offset, err := envelope.QueryInt(r, "offset", 0)
	if err != nil {
		envelope.Error(w, r, err, h.logger)
		return
	}
	limit, err := envelope.QueryInt(r, "limit", 100)
	if err != nil {
		envelope.Error(w, r, err, h.logger)
		return
	}
	entries, err := h.store.List(r.Context(), offset, limit)
	if err != nil {
		envelope.Error(w, r, err, h.logger)
		return
	}
	if len(entries) == 0 {
		envelope.Error(w, r, apierr.New(apierr.NotFound, "no cluster configs found"), h.logger)
		return
	}
	envelope.OK(w, http.StatusOK, "Cluster configs fetched successfully", entries)
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	e, err := DecodeCreate(r)
	if err == nil {
		err = h.store.Create(r.Context(), e.Key, e.Value)
	}
	if err != nil {
		envelope.Error(w, r, err, h.logger)
		return
	}
	envelope.OK(w, http.StatusCreated, "Cluster config created successfully", e)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	v, err := h.store.Get(r.Context(), chi.URLParam(r, "key"))
	if err != nil {
		envelope.Error(w, r, err, h.logger)
		return
	}
	envelope.OK(w, http.StatusOK, "Cluster config fetched successfully", map[string]string{"value": v})
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	key := chi.URLParam(r, "key")
	var req UpdateRequest
	err := envelope.DecodeJSON(r, &req)
	if err == nil && req.Value == nil {
		err = apierr.InvalidField("value", "value is required")
	}
	if err == nil {
		err = h.store.Update(r.Context(), key, *req.Value)
	}
	if err != nil {
		envelope.Error(w, r, err, h.logger)
		return
	}
	envelope.OK(w, http.StatusCreated, "Cluster config updated successfully", Entry{Key: key, Value: *req.Value})
}
