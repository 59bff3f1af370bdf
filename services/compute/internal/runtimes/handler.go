package runtimes

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/auth"
	"github.com/darwinml/darwin/services/compute/internal/envelope"
)

// Handler serves /get-runtimes, /custom-runtime and /runtime/v2/*.
type Handler struct {
	store  *Store
	logger *slog.Logger
}

// NewHandler returns the runtimes REST handler.
func NewHandler(store *Store, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, logger: logger}
}

// Routes registers the routes (without the /compute prefix). POST /runtime/v2/get-all needs the msd-user
// identity, which pkg/auth.Middleware puts in the request context; the caller installs that middleware.
func (h *Handler) Routes(r chi.Router) {
	r.Get("/get-runtimes", h.listV1)
	r.Post("/custom-runtime", h.createV1)
	r.Post("/runtime/v2/create", h.createV2)
	r.Post("/runtime/v2/get-all", h.listV2)
	r.Get("/runtime/v2/get-details/{runtime}", h.getV2)
	r.Post("/runtime/v2/update", h.updateV2)
	r.Delete("/runtime/v2/soft-delete/{runtime}", h.softDeleteV2)
}

// DecodeV2 decodes and validates a v2 create/update body.
func DecodeV2(r *http.Request) (V2Spec, error) {
	var req V2Request
	if err := envelope.DecodeJSON(r, &req); err != nil {
		return V2Spec{}, err
	}
	return req.Validate()
}

// DecodeV1 decodes and validates a custom-runtime body.
func DecodeV1(r *http.Request) (V1, error) {
	var req V1Request
	if err := envelope.DecodeJSON(r, &req); err != nil {
		return V1{}, err
	}
	return req.Validate()
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	envelope.Error(w, r, err, h.logger)
}

func (h *Handler) listV1(w http.ResponseWriter, r *http.Request) {
	out, err := h.store.ListV1(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Runtimes fetched successfully", out)
}

func (h *Handler) createV1(w http.ResponseWriter, r *http.Request) {
	rt, err := DecodeV1(r)
	if err == nil {
		err = h.store.CreateV1(r.Context(), rt)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusCreated, "Custom runtime created successfully", rt)
}

func (h *Handler) createV2(w http.ResponseWriter, r *http.Request) {
	spec, err := DecodeV2(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rt, err := h.store.CreateV2(r.Context(), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusCreated, "Runtime created successfully", rt)
}

func (h *Handler) updateV2(w http.ResponseWriter, r *http.Request) {
	spec, err := DecodeV2(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rt, err := h.store.UpdateV2(r.Context(), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Runtime updated successfully", rt)
}

func (h *Handler) listV2(w http.ResponseWriter, r *http.Request) {
	id, err := auth.Require(r.Context())
	if err != nil && r.Header.Get(auth.HeaderUser) != "" {
		// The caller's router may not run auth.Middleware: read the header directly.
		id, err = auth.ParseUserHeader(r.Header.Get(auth.HeaderUser))
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var f ListFilter
	if err := envelope.DecodeJSON(r, &f); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.store.ListV2(r.Context(), f, id.Email)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Runtimes fetched successfully", out)
}

func (h *Handler) getV2(w http.ResponseWriter, r *http.Request) {
	rt, err := h.store.GetV2(r.Context(), chi.URLParam(r, "runtime"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Runtime fetched successfully", rt)
}

func (h *Handler) softDeleteV2(w http.ResponseWriter, r *http.Request) {
	user := DefaultUser
	if id, ok := auth.FromContext(r.Context()); ok && id.Email != "" {
		user = id.Email
	}
	name := chi.URLParam(r, "runtime")
	if err := h.store.SoftDeleteV2(r.Context(), name, user); err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Runtime deleted successfully", map[string]string{"runtime": name})
}
